/*
 * table_func.c — graph and vector table functions: neighbors, traverse, shortest_path, similar,
 * neighbor_stats, hybrid.
 *
 * The planner (sql/plan.c) normalizes each call's positional and named arguments into a fixed
 * argument vector (plan->fargs, order documented per function below; absent optional arguments
 * are NULL constants), so these functions only evaluate, validate and run.
 *
 * Vector functions rank by cosine similarity (1 − cosine distance), always computed exactly over
 * their candidates; ties are broken by lower id. The candidates are every vector (exact scan)
 * unless the planner chose the HNSW index (plan->method, when the database's index is a cosine
 * index and enable_hnsw is on): then similar() and neighbor_stats() take the index's nearest ids
 * plus the session's uncommitted vectors (engine/vector/vindex.h), and similar() with a threshold
 * asks for 64, 256, … neighbours until one falls below the threshold (an approximate range search).
 * hybrid() first collects the traversal into a candidate set; a small set is ranked exactly, a
 * large one (hnsw_filter_exact's cost model) by a filtered HNSW search restricted to it. The
 * path taken is recorded in plan->vector_path for EXPLAIN ANALYZE.
 *
 * Weighted and multi-path searches and the whole-graph algorithms (pagerank … jaccard_similarity)
 * run over a snapshot of the graph restricted to the given kinds (engine/store/graph_algo.h),
 * built in the statement's arena, so statement_mem_limit and the cancel flag bound them; their
 * rows come in ascending id order (jaccard_similarity: most similar first).
 */
#include "graph.h"
#include "graph_algo.h"
#include "plan.h"
#include "vindex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Argument vectors (plan->fargs):
 *   neighbors      start, depth, kind, direction
 *   traverse       start, depth, order, kind, direction
 *   shortest_path  start, target, depth_max, kind, direction, weighted
 *   k_shortest_paths   start, target, k, weighted, kind, direction
 *   all_shortest_paths start, target, weighted, kind, direction
 *   pagerank       damping, iterations, kind
 *   communities    iterations, kind
 *   betweenness_centrality samples, seed, kind
 *   jaccard_similarity     id, kind
 *   connected_components, strongly_connected_components, degree_centrality, triangle_count: kind
 *   similar        id, k, threshold
 *   neighbor_stats id, k
 *   hybrid         id, depth, top_k, kind, direction
 */

enum {
    TFUNC_ARGS_MAX = 6,
    SIMILAR_K_DEFAULT = 10,
    SIMILAR_RANGE_FIRST = 64, /* similar(…, threshold): first index request, then ×4 */
    SHORTEST_PATH_DEPTH_DEFAULT = 100,
    PAGERANK_ITERATIONS_DEFAULT = 20,
    COMMUNITIES_ITERATIONS_DEFAULT = 100,
    K_PATHS_DEFAULT = 3,
    BETWEENNESS_SEED_DEFAULT = 42
};

typedef struct targs {
    value_t v[TFUNC_ARGS_MAX];
} targs_t;

static int eval_args(const plan_t *plan, exec_ctx_t *ctx, targs_t *a, ctx_err_t *err) {
    CTX_ASSERT(plan->nfargs <= TFUNC_ARGS_MAX);
    for (int i = 0; i < plan->nfargs; i++) {
        int rc = eval_expr(plan->fargs[i], NULL, &ctx->eval, &a->v[i], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

/* Integer argument with a default for NULL and an inclusive range. */
static int arg_int(const value_t *v, const char *fname, const char *what, int64_t dflt, int64_t min,
                   int64_t max, int64_t *out, ctx_err_t *err) {
    if (v->kind == VAL_NULL) {
        *out = dflt;
    } else if (v->kind == VAL_INT) {
        *out = v->u.i;
    } else if (v->kind == VAL_FLOAT && v->u.f == floor(v->u.f)) {
        *out = (int64_t)v->u.f;
    } else {
        return ctx_err_set(err, CTX_ETYPE, "%s: %s must be an integer", fname, what);
    }
    if (*out < min || *out > max) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "%s: %s must be between %lld and %lld", fname, what,
                           (long long)min, (long long)max);
    }
    return CTX_OK;
}

static int arg_direction(const value_t *v, const char *fname, store_dir_t *dir, ctx_err_t *err) {
    *dir = STORE_DIR_OUT;
    if (v->kind == VAL_NULL) {
        return CTX_OK;
    }
    const char *s = v->u.str.ptr;
    uint32_t n = v->u.str.len;
    if (n == 3 && strncasecmp(s, "out", 3) == 0) {
        *dir = STORE_DIR_OUT;
    } else if (n == 2 && strncasecmp(s, "in", 2) == 0) {
        *dir = STORE_DIR_IN;
    } else if (n == 4 && strncasecmp(s, "both", 4) == 0) {
        *dir = STORE_DIR_BOTH;
    } else {
        ctx_err_set(err, CTX_EBAD_PARAM, "%s: invalid direction \"%.*s\"", fname, (int)n, s);
        ctx_err_hint(err, "Valid directions are 'out', 'in' and 'both'.");
        return err->code;
    }
    return CTX_OK;
}

/* Builds a graph query from (start, depth, kind, direction) values. *empty is set when the kind
 * does not exist (no edge can match). */
static int graph_args(exec_ctx_t *ctx, const char *fname, const value_t *start,
                      const value_t *depth, const value_t *kind, const value_t *dir,
                      graph_query_t *q, bool *empty, ctx_err_t *err) {
    memset(q, 0, sizeof(*q));
    *empty = start->kind == VAL_NULL;
    int64_t d = 0;
    int rc = arg_int(depth, fname, "depth", 1, 0, GRAPH_DEPTH_MAX, &d, err);
    if (rc == CTX_OK) {
        rc = arg_direction(dir, fname, &q->dir, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    if (start->kind != VAL_NULL && start->kind != VAL_INT) {
        return ctx_err_set(err, CTX_ETYPE, "%s: start node id must be bigint", fname);
    }
    q->start = start->kind == VAL_INT ? start->u.i : 0;
    q->depth_max = (int32_t)d;
    q->kind = STORE_KIND_ANY;
    q->cancel = ctx->eval.env != NULL ? ctx->eval.env->cancel : NULL;
    if (kind->kind != VAL_NULL) {
        q->kind = store_kind_lookup(ctx->store, kind->u.str.ptr, kind->u.str.len);
        *empty = *empty || q->kind < 0;
    }
    return CTX_OK;
}

static value_t node_label(const store_t *store, int64_t id) {
    node_view_t n;
    if (!store_node_get(store, id, &n)) {
        return value_null();
    }
    return value_text(n.label, n.label_len);
}

static value_t *push_row(exec_ctx_t *ctx, rowset_t *out, uint64_t *cap, ctx_err_t *err) {
    if (ctx->rows_max != 0 && out->nrows >= ctx->rows_max) {
        ctx_err_set(err, CTX_ELIMIT, "table function result exceeds %llu rows",
                    (unsigned long long)ctx->rows_max);
        return NULL;
    }
    if (out->nrows == *cap) {
        uint64_t ncap = *cap == 0 ? 64 : *cap * 2;
        value_t *rows =
            arena_try_calloc(ctx->eval.arena, ncap * (size_t)out->ncols, sizeof(value_t));
        if (rows == NULL) {
            exec_nomem(ctx, err);
            return NULL;
        }
        if (out->nrows > 0) {
            ctx_memcpy(rows, out->rows, sizeof(value_t) * out->nrows * (size_t)out->ncols);
        }
        out->rows = rows;
        *cap = ncap;
    }
    return out->rows + out->nrows++ * (uint64_t)out->ncols;
}

/* ---------------------------------------------------------------- graph functions */

static int run_traversal(const plan_t *plan, exec_ctx_t *ctx, const targs_t *a, rowset_t *out,
                         ctx_err_t *err) {
    bool traverse = plan->tfunc == TFUNC_TRAVERSE;
    const char *fname = traverse ? "traverse" : "neighbors";
    const value_t *kind = &a->v[traverse ? 3 : 2];
    const value_t *dir = &a->v[traverse ? 4 : 3];
    graph_query_t q;
    bool empty;
    int rc = graph_args(ctx, fname, &a->v[0], &a->v[1], kind, dir, &q, &empty, err);
    bool dfs = false;
    if (rc == CTX_OK && traverse && a->v[2].kind != VAL_NULL) {
        const value_t *o = &a->v[2];
        dfs = o->u.str.len == 3 && strncasecmp(o->u.str.ptr, "dfs", 3) == 0;
        if (!dfs && !(o->u.str.len == 3 && strncasecmp(o->u.str.ptr, "bfs", 3) == 0)) {
            rc = ctx_err_set(err, CTX_EBAD_PARAM, "traverse: invalid order \"%.*s\"",
                             (int)o->u.str.len, o->u.str.ptr);
            ctx_err_hint(err, "Valid orders are 'bfs' and 'dfs'.");
        }
    }
    if (rc != CTX_OK || empty) {
        return rc;
    }
    q.visits_max = ctx->rows_max;
    graph_visit_t *visits;
    size_t count;
    rc = dfs ? graph_dfs(ctx->store, &q, ctx->eval.arena, &visits, &count, err)
             : graph_bfs(ctx->store, &q, ctx->eval.arena, &visits, &count, err);
    uint64_t cap = 0;
    for (size_t i = 0; rc == CTX_OK && i < count; i++) {
        value_t *row = push_row(ctx, out, &cap, err);
        if (row == NULL) {
            return err->code;
        }
        row[0] = value_int(visits[i].id);
        row[1] = node_label(ctx->store, visits[i].id);
        row[2] = value_int(visits[i].depth);
        if (traverse) {
            row[3] = value_int(visits[i].parent);
        }
    }
    return rc;
}

static const char *tfunc_algo_name(tfunc_kind_t kind) {
    switch (kind) {
    case TFUNC_PAGERANK:
        return "pagerank";
    case TFUNC_CONNECTED_COMPONENTS:
        return "connected_components";
    case TFUNC_STRONG_COMPONENTS:
        return "strongly_connected_components";
    case TFUNC_COMMUNITIES:
        return "communities";
    case TFUNC_DEGREE_CENTRALITY:
        return "degree_centrality";
    case TFUNC_BETWEENNESS:
        return "betweenness_centrality";
    case TFUNC_TRIANGLE_COUNT:
        return "triangle_count";
    default:
        return "jaccard_similarity";
    }
}

/* ---------------------------------------------------------------- graph algorithms */

enum { KINDS_MAX = 64 };

/* kind => 'a' or an array ('{a,b}' / ARRAY['a','b']): kind ids into kinds; names the store does
 * not know match no edge. NULL: every kind (*nkinds = 0). */
static int arg_kinds(exec_ctx_t *ctx, const value_t *v, const char *fname, int32_t *kinds,
                     uint32_t *nkinds, ctx_err_t *err) {
    *nkinds = 0;
    if (v->kind == VAL_NULL) {
        return CTX_OK;
    }
    const char *s = v->u.str.ptr;
    uint32_t len = v->u.str.len;
    bool array = len >= 2 && s[0] == '{' && s[len - 1] == '}';
    uint32_t i = array ? 1 : 0, end = array ? len - 1 : len;
    kinds[(*nkinds)++] = -2; /* no edge has kind -2: an all-unknown list matches nothing */
    while (i < end || (!array && i == 0 && end == 0)) {
        uint32_t j = i;
        while (array && j < end && s[j] != ',') {
            j++;
        }
        if (!array) {
            j = end;
        }
        uint32_t a = i, b = j;
        if (b - a >= 2 && s[a] == '"' && s[b - 1] == '"') {
            a++;
            b--;
        }
        if (*nkinds == KINDS_MAX) {
            return ctx_err_set(err, CTX_EBAD_PARAM, "%s: at most %d kinds", fname, KINDS_MAX - 1);
        }
        int32_t k = store_kind_lookup(ctx->store, s + a, b - a);
        if (k >= 0) {
            kinds[(*nkinds)++] = k;
        }
        i = j + 1;
        if (!array) {
            break;
        }
    }
    return CTX_OK;
}

static int algo_graph(exec_ctx_t *ctx, const value_t *kind, const char *fname, galgo_t *g,
                      ctx_err_t *err) {
    int32_t kinds[KINDS_MAX];
    uint32_t nkinds;
    int rc = arg_kinds(ctx, kind, fname, kinds, &nkinds, err);
    const atomic_bool *cancel = ctx->eval.env != NULL ? ctx->eval.env->cancel : NULL;
    return rc == CTX_OK ? galgo_build(ctx->store, kinds, nkinds, ctx->eval.arena, cancel, g, err)
                        : rc;
}

/* Emits the paths as (path, step, id, label) rows, or (step, id, label) for shortest_path. */
static int emit_paths(exec_ctx_t *ctx, const galgo_t *g, const galgo_path_t *p, uint64_t n,
                      bool numbered, rowset_t *out, ctx_err_t *err) {
    uint64_t cap = 0;
    for (uint64_t k = 0; k < n; k++) {
        for (uint32_t i = 0; i < p[k].len; i++) {
            value_t *row = push_row(ctx, out, &cap, err);
            if (row == NULL) {
                return err->code;
            }
            int c = 0;
            if (numbered) {
                row[c++] = value_int((int64_t)k + 1);
            }
            row[c++] = value_int(i);
            row[c++] = value_int(g->ids[p[k].nodes[i]]);
            row[c] = node_label(ctx->store, g->ids[p[k].nodes[i]]);
        }
    }
    return CTX_OK;
}

/* shortest_path(weighted => true), k_shortest_paths, all_shortest_paths. */
static int run_paths(exec_ctx_t *ctx, const targs_t *a, tfunc_kind_t which, rowset_t *out,
                     ctx_err_t *err) {
    const char *fname =
        which == TFUNC_SHORTEST_PATH
            ? "shortest_path"
            : (which == TFUNC_K_SHORTEST_PATHS ? "k_shortest_paths" : "all_shortest_paths");
    int base = which == TFUNC_SHORTEST_PATH ? 3 : (which == TFUNC_K_SHORTEST_PATHS ? 4 : 3);
    const value_t *weighted = &a->v[which == TFUNC_SHORTEST_PATH ? 5 : base - 1];
    galgo_paths_query_t q = {.weighted = weighted->kind == VAL_BOOL && weighted->u.b,
                             .max_paths = which == TFUNC_SHORTEST_PATH ? 1 : UINT64_MAX};
    int64_t k = 0;
    int rc = arg_direction(&a->v[base + 1], fname, &q.dir, err);
    if (rc == CTX_OK && which == TFUNC_K_SHORTEST_PATHS) {
        rc = arg_int(&a->v[2], fname, "k", K_PATHS_DEFAULT, 1, GALGO_K_MAX, &k, err);
        q.max_paths = (uint64_t)k;
    }
    for (int i = 0; rc == CTX_OK && i < 2; i++) {
        if (a->v[i].kind != VAL_INT && a->v[i].kind != VAL_NULL) {
            rc = ctx_err_set(err, CTX_ETYPE, "%s: node ids must be bigint", fname);
        }
    }
    if (rc != CTX_OK || a->v[0].kind == VAL_NULL || a->v[1].kind == VAL_NULL) {
        return rc;
    }
    galgo_t g;
    rc = algo_graph(ctx, &a->v[base], fname, &g, err);
    int64_t s = rc == CTX_OK ? galgo_index(&g, a->v[0].u.i) : -1;
    int64_t t = rc == CTX_OK ? galgo_index(&g, a->v[1].u.i) : -1;
    if (rc != CTX_OK || s < 0 || t < 0) {
        return rc;
    }
    q.start = (uint32_t)s;
    q.target = (uint32_t)t;
    galgo_path_t *paths;
    uint64_t n;
    rc = which == TFUNC_K_SHORTEST_PATHS ? galgo_k_shortest_paths(&g, &q, &paths, &n, err)
                                         : galgo_shortest_paths(&g, &q, &paths, &n, err);
    return rc == CTX_OK ? emit_paths(ctx, &g, paths, n, which != TFUNC_SHORTEST_PATH, out, err)
                        : rc;
}

typedef struct algo_out {
    int64_t *ints;  /* per position, or NULL */
    double *floats; /* per position, or NULL */
} algo_out_t;

static int emit_per_node(exec_ctx_t *ctx, const galgo_t *g, const algo_out_t *r, rowset_t *out,
                         ctx_err_t *err) {
    uint64_t cap = 0;
    for (uint32_t v = 0; v < g->n; v++) {
        value_t *row = push_row(ctx, out, &cap, err);
        if (row == NULL) {
            return err->code;
        }
        row[0] = value_int(g->ids[v]);
        row[1] = r->ints != NULL ? value_int(r->ints[v]) : value_float(r->floats[v]);
    }
    return CTX_OK;
}

static int run_degree(exec_ctx_t *ctx, const galgo_t *g, rowset_t *out, ctx_err_t *err) {
    uint64_t cap = 0;
    for (uint32_t v = 0; v < g->n; v++) {
        value_t *row = push_row(ctx, out, &cap, err);
        if (row == NULL) {
            return err->code;
        }
        int64_t in = (int64_t)(g->in_off[v + 1] - g->in_off[v]);
        int64_t outd = (int64_t)(g->out_off[v + 1] - g->out_off[v]);
        row[0] = value_int(g->ids[v]);
        /* networkx: degree / (n - 1), and 1 for every node of a one-node graph */
        row[1] = value_float(g->n <= 1 ? 1.0 : (double)(in + outd) / (double)(g->n - 1));
        row[2] = value_int(in);
        row[3] = value_int(outd);
        row[4] = value_int(in + outd);
    }
    return CTX_OK;
}

typedef struct scored_id {
    int64_t id;
    double v;
} scored_id_t;

static int scored_id_cmp(const void *x, const void *y) {
    const scored_id_t *a = x;
    const scored_id_t *b = y;
    if (a->v != b->v) {
        return a->v > b->v ? -1 : 1;
    }
    return (a->id > b->id) - (a->id < b->id);
}

/* jaccard_similarity(id): every other node sharing a neighbour, most similar first. */
static int run_jaccard(exec_ctx_t *ctx, galgo_t *g, const value_t *id, rowset_t *out,
                       ctx_err_t *err) {
    if (id->kind != VAL_INT) {
        return id->kind == VAL_NULL
                   ? CTX_OK
                   : ctx_err_set(err, CTX_ETYPE, "jaccard_similarity: id must be bigint");
    }
    int64_t u = galgo_index(g, id->u.i);
    double *sim;
    int rc = u < 0 ? CTX_OK : galgo_jaccard(g, (uint32_t)u, &sim, err);
    if (rc != CTX_OK || u < 0) {
        return rc;
    }
    scored_id_t *s = arena_try_alloc(ctx->eval.arena, sizeof(scored_id_t) * ((size_t)g->n + 1));
    if (s == NULL) {
        return exec_nomem(ctx, err);
    }
    uint32_t n = 0;
    for (uint32_t v = 0; v < g->n; v++) {
        if (sim[v] > 0) {
            s[n++] = (scored_id_t){g->ids[v], sim[v]};
        }
    }
    ctx_qsort(s, n, sizeof(scored_id_t), scored_id_cmp);
    uint64_t cap = 0;
    for (uint32_t i = 0; i < n; i++) {
        value_t *row = push_row(ctx, out, &cap, err);
        if (row == NULL) {
            return err->code;
        }
        row[0] = value_int(s[i].id);
        row[1] = value_float(s[i].v);
    }
    return CTX_OK;
}

/* The per-node algorithms: their options, then the kind argument (last). */
static int run_algorithm(const plan_t *plan, exec_ctx_t *ctx, const targs_t *a, rowset_t *out,
                         ctx_err_t *err) {
    const char *fname = tfunc_algo_name(plan->tfunc);
    galgo_t g;
    int rc = algo_graph(ctx, &a->v[plan->nfargs - 1], fname, &g, err);
    algo_out_t r = {0};
    int64_t iters = 0, samples = 0, seed = 0;
    switch (plan->tfunc) {
    case TFUNC_PAGERANK: {
        double d = a->v[0].kind == VAL_NULL
                       ? 0.85
                       : (a->v[0].kind == VAL_INT ? (double)a->v[0].u.i : a->v[0].u.f);
        if (rc == CTX_OK && !(d >= 0 && d <= 1)) {
            rc = ctx_err_set(err, CTX_EBAD_PARAM, "pagerank: damping must be between 0 and 1");
        }
        if (rc == CTX_OK) {
            rc = arg_int(&a->v[1], fname, "iterations", PAGERANK_ITERATIONS_DEFAULT, 0,
                         GALGO_ITERATIONS_MAX, &iters, err);
        }
        rc = rc == CTX_OK ? galgo_pagerank(&g, d, (uint32_t)iters, &r.floats, err) : rc;
        break;
    }
    case TFUNC_CONNECTED_COMPONENTS:
        rc = rc == CTX_OK ? galgo_wcc(&g, &r.ints, err) : rc;
        break;
    case TFUNC_STRONG_COMPONENTS:
        rc = rc == CTX_OK ? galgo_scc(&g, &r.ints, err) : rc;
        break;
    case TFUNC_COMMUNITIES:
        if (rc == CTX_OK) {
            rc = arg_int(&a->v[0], fname, "iterations", COMMUNITIES_ITERATIONS_DEFAULT, 0,
                         GALGO_ITERATIONS_MAX, &iters, err);
        }
        rc = rc == CTX_OK ? galgo_communities(&g, (uint32_t)iters, &r.ints, err) : rc;
        break;
    case TFUNC_BETWEENNESS:
        if (rc == CTX_OK && a->v[0].kind != VAL_NULL) {
            rc = arg_int(&a->v[0], fname, "samples", 0, 1, UINT32_MAX, &samples, err);
        }
        if (rc == CTX_OK) {
            rc = arg_int(&a->v[1], fname, "seed", BETWEENNESS_SEED_DEFAULT, INT64_MIN, INT64_MAX,
                         &seed, err);
        }
        rc = rc == CTX_OK ? galgo_betweenness(&g, (uint32_t)samples, (uint64_t)seed, &r.floats, err)
                          : rc;
        break;
    case TFUNC_TRIANGLE_COUNT:
        rc = rc == CTX_OK ? galgo_triangles(&g, &r.ints, err) : rc;
        break;
    case TFUNC_DEGREE_CENTRALITY:
        return rc == CTX_OK ? run_degree(ctx, &g, out, err) : rc;
    case TFUNC_JACCARD:
        return rc == CTX_OK ? run_jaccard(ctx, &g, &a->v[0], out, err) : rc;
    default:
        CTX_ASSERT(!"not a graph algorithm");
    }
    return rc == CTX_OK ? emit_per_node(ctx, &g, &r, out, err) : rc;
}

static int run_shortest_path(exec_ctx_t *ctx, const targs_t *a, rowset_t *out, ctx_err_t *err) {
    graph_query_t q;
    bool empty;
    value_t depth = a->v[2];
    if (depth.kind == VAL_NULL) {
        depth = value_int(SHORTEST_PATH_DEPTH_DEFAULT);
    }
    int rc =
        graph_args(ctx, "shortest_path", &a->v[0], &depth, &a->v[3], &a->v[4], &q, &empty, err);
    if (rc == CTX_OK && a->v[1].kind != VAL_INT && a->v[1].kind != VAL_NULL) {
        rc = ctx_err_set(err, CTX_ETYPE, "shortest_path: target node id must be bigint");
    }
    const value_t *kind = &a->v[3];
    bool kind_list = kind->kind == VAL_TEXT && kind->u.str.len >= 2 && kind->u.str.ptr[0] == '{';
    if (rc == CTX_OK && ((a->v[5].kind == VAL_BOOL && a->v[5].u.b) || kind_list)) {
        if (a->v[2].kind != VAL_NULL) {
            return ctx_err_set(err, CTX_EBAD_PARAM,
                               "shortest_path: max_depth cannot be combined with weighted => "
                               "true or a list of kinds");
        }
        return run_paths(ctx, a, TFUNC_SHORTEST_PATH, out, err);
    }
    if (rc != CTX_OK || empty || a->v[1].kind == VAL_NULL) {
        return rc;
    }
    int64_t *path;
    size_t len;
    rc = graph_shortest_path(ctx->store, &q, a->v[1].u.i, ctx->eval.arena, &path, &len, err);
    uint64_t cap = 0;
    for (size_t i = 0; rc == CTX_OK && i < len; i++) {
        value_t *row = push_row(ctx, out, &cap, err);
        if (row == NULL) {
            return err->code;
        }
        row[0] = value_int((int64_t)i);
        row[1] = value_int(path[i]);
        row[2] = node_label(ctx->store, path[i]);
    }
    return rc;
}

/* ---------------------------------------------------------------- vector functions */

typedef struct scored {
    int64_t id;
    double similarity;
    int32_t depth;
} scored_t;

static int scored_cmp(const void *x, const void *y) {
    const scored_t *a = x;
    const scored_t *b = y;
    /* NaN similarities (zero vectors) rank last. */
    bool na = isnan(a->similarity);
    bool nb = isnan(b->similarity);
    if (na != nb) {
        return na ? 1 : -1;
    }
    if (!na && a->similarity != b->similarity) {
        return a->similarity > b->similarity ? -1 : 1;
    }
    return (a->id > b->id) - (a->id < b->id);
}

static double similarity(const float *a, const float *b, uint32_t dim) {
    return 1.0 - vec_distance(METRIC_COSINE, a, b, dim);
}

/* Sorts scored candidates best first and keeps those whose similarity is defined: cosine
 * similarity with a zero vector (the query's or the candidate's) is NaN, and such a vector is
 * no candidate, for similar(), neighbor_stats() and hybrid() alike. Returns the count kept. */
static uint64_t sort_defined(scored_t *s, uint64_t n) {
    ctx_qsort(s, n, sizeof(scored_t), scored_cmp);
    while (n > 0 && isnan(s[n - 1].similarity)) {
        n--;
    }
    return n;
}

/* Scores every stored vector (except `self`) against query; sorted best first. */
static int score_all(exec_ctx_t *ctx, int64_t self, const float *query, scored_t **out,
                     uint64_t *count, ctx_err_t *err) {
    uint64_t total = store_vector_count(ctx->store);
    scored_t *s = arena_try_alloc(ctx->eval.arena, sizeof(scored_t) * (total + 1));
    if (s == NULL) {
        return exec_nomem(ctx, err);
    }
    uint32_t dim = store_vector_dims(ctx->store);
    store_cursor_t cursor = {0};
    int64_t id;
    const float *v;
    uint64_t n = 0;
    while (store_vector_next(ctx->store, &cursor, &id, &v)) {
        if (id == self) {
            continue;
        }
        if (n % EXEC_CANCEL_POLL == 0 && ctx->eval.env != NULL && ctx->eval.env->cancel != NULL &&
            atomic_load(ctx->eval.env->cancel)) {
            return ctx_err_set(err, CTX_ECANCELED, "canceling statement due to user request");
        }
        CTX_ASSERT(n < total);
        s[n].id = id;
        s[n].similarity = similarity(query, v, dim);
        s[n].depth = 0;
        n++;
    }
    *out = s;
    *count = sort_defined(s, n);
    return CTX_OK;
}

/* The plan node is the statement's own (exec_plan takes it mutable); only the EXPLAIN ANALYZE
 * note is written. */
static void note_path(const plan_t *plan, hnsw_path_t path) {
    ((plan_t *)plan)->vector_path = vindex_path_name(path);
}

static const cmd_batch_t *pending_of(const exec_ctx_t *ctx) {
    const eval_env_t *env = ctx->eval.env;
    return env->pending_writes != NULL ? env->pending_writes(env->session) : NULL;
}

/* Scores ids (except self) against query, sorted best first; ids the store lacks are skipped. */
static void score_ids(exec_ctx_t *ctx, int64_t self, const float *query, const int64_t *ids,
                      uint64_t n, scored_t *s, uint64_t *count) {
    uint32_t dim = store_vector_dims(ctx->store);
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++) {
        const float *v = store_vector_get(ctx->store, ids[i]);
        if (v != NULL && ids[i] != self) {
            s[m++] = (scored_t){ids[i], similarity(query, v, dim), 0};
        }
    }
    *count = sort_defined(s, m);
}

/* The `want` most similar vectors to query (excluding self): through the index when the plan
 * chose it and want fits its candidate list, else every vector (score_all). */
static int score_nearest(const plan_t *plan, exec_ctx_t *ctx, int64_t self, const float *query,
                         uint64_t want, scored_t **out, uint64_t *count, ctx_err_t *err) {
    if (plan->method != EXEC_VECTOR_HNSW || want + 1 > HNSW_EF_MAX) {
        return score_all(ctx, self, query, out, count, err);
    }
    const eval_env_t *env = ctx->eval.env;
    CTX_ASSERT(env != NULL && env->vindex != NULL);
    int64_t *ids;
    uint64_t n;
    hnsw_search_stats_t st;
    int rc = vindex_candidates(env->vindex, query, store_vector_dims(ctx->store),
                               (uint32_t)want + 1, plan->ef_search, NULL, pending_of(ctx),
                               ctx->eval.arena, &ids, &n, &st, err);
    if (rc != CTX_OK) {
        return rc;
    }
    note_path(plan, st.path);
    *out = arena_try_alloc(ctx->eval.arena, sizeof(scored_t) * (n + 1)); /* n: all, when stale */
    if (*out == NULL) {
        return exec_nomem(ctx, err);
    }
    score_ids(ctx, self, query, ids, n, *out, count);
    if (*count > want) {
        *count = want;
    }
    return CTX_OK;
}

static int vector_of(exec_ctx_t *ctx, const value_t *id, const char *fname, const float **vec,
                     ctx_err_t *err) {
    *vec = NULL;
    if (id->kind == VAL_NULL) {
        return CTX_OK;
    }
    if (id->kind != VAL_INT) {
        return ctx_err_set(err, CTX_ETYPE, "%s: id must be bigint", fname);
    }
    *vec = store_vector_get(ctx->store, id->u.i);
    return CTX_OK;
}

static int run_similar(const plan_t *plan, exec_ctx_t *ctx, const targs_t *a, rowset_t *out,
                       ctx_err_t *err) {
    const float *query;
    int rc = vector_of(ctx, &a->v[0], "similar", &query, err);
    bool by_threshold = a->v[2].kind != VAL_NULL;
    int64_t k = INT64_MAX;
    if (rc == CTX_OK && (!by_threshold || a->v[1].kind != VAL_NULL)) {
        rc = arg_int(&a->v[1], "similar", "k", SIMILAR_K_DEFAULT, 0, INT32_MAX, &k, err);
    }
    double threshold = -INFINITY;
    if (rc == CTX_OK && by_threshold) {
        if (a->v[2].kind != VAL_FLOAT && a->v[2].kind != VAL_INT) {
            return ctx_err_set(err, CTX_ETYPE, "similar: threshold must be a number");
        }
        threshold = a->v[2].kind == VAL_FLOAT ? a->v[2].u.f : (double)a->v[2].u.i;
    }
    if (rc != CTX_OK || query == NULL) {
        return rc;
    }
    scored_t *s;
    uint64_t n;
    uint64_t want = k == INT64_MAX ? SIMILAR_RANGE_FIRST : (uint64_t)k;
    for (;;) {
        rc = score_nearest(plan, ctx, a->v[0].u.i, query, want, &s, &n, err);
        if (rc != CTX_OK || !by_threshold || n < want || !(s[n - 1].similarity >= threshold) ||
            want >= (uint64_t)k || want >= HNSW_EF_MAX) {
            break;
        }
        want *= 4; /* every candidate passed: the range may extend further */
    }
    uint64_t cap = 0;
    for (uint64_t i = 0; rc == CTX_OK && i < n && (int64_t)i < k; i++) {
        if (!(s[i].similarity >= threshold)) {
            break;
        }
        value_t *row = push_row(ctx, out, &cap, err);
        if (row == NULL) {
            return err->code;
        }
        row[0] = value_int(s[i].id);
        row[1] = value_float(s[i].similarity);
    }
    return rc;
}

static void stats_row(const scored_t *s, uint64_t n, value_t *row) {
    double sum = 0, min = INFINITY, max = -INFINITY;
    for (uint64_t i = 0; i < n; i++) {
        sum += s[i].similarity;
        min = fmin(min, s[i].similarity);
        max = fmax(max, s[i].similarity);
    }
    row[0] = value_int((int64_t)n);
    row[1] = n == 0 ? value_null() : value_float(min);
    row[2] = n == 0 ? value_null() : value_float(max);
    row[3] = n == 0 ? value_null() : value_float(sum / (double)n);
    row[4] = value_null();
    if (n >= 2) {
        double mean = sum / (double)n, ss = 0;
        for (uint64_t i = 0; i < n; i++) {
            ss += (s[i].similarity - mean) * (s[i].similarity - mean);
        }
        row[4] = value_float(sqrt(ss / (double)(n - 1))); /* sample stddev, as stddev() */
    }
}

static int run_neighbor_stats(const plan_t *plan, exec_ctx_t *ctx, const targs_t *a, rowset_t *out,
                              ctx_err_t *err) {
    const float *query;
    int64_t k = 0;
    int rc = vector_of(ctx, &a->v[0], "neighbor_stats", &query, err);
    if (rc == CTX_OK) {
        rc = arg_int(&a->v[1], "neighbor_stats", "k", SIMILAR_K_DEFAULT, 0, INT32_MAX, &k, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    scored_t *s = NULL;
    uint64_t n = 0;
    if (query != NULL) {
        rc = score_nearest(plan, ctx, a->v[0].u.i, query, (uint64_t)k, &s, &n, err);
    }
    if (n > (uint64_t)k) {
        n = (uint64_t)k;
    }
    uint64_t cap = 0;
    value_t *row = rc == CTX_OK ? push_row(ctx, out, &cap, err) : NULL;
    if (row == NULL) {
        return err->code;
    }
    stats_row(s, n, row);
    return CTX_OK;
}

static int visit_cmp(const void *x, const void *y) {
    const graph_visit_t *a = x;
    const graph_visit_t *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

/* hybrid over a large candidate set: filtered HNSW search restricted to the visited ids; the
 * hits get their exact similarity and traversal depth. */
static int hybrid_indexed(const plan_t *plan, exec_ctx_t *ctx, const float *query, int64_t k,
                          graph_visit_t *visits, size_t count, scored_t *s, uint64_t *n,
                          ctx_err_t *err) {
    int64_t *allowed = arena_try_alloc(ctx->eval.arena, sizeof(int64_t) * (count + 1));
    if (allowed == NULL) {
        return exec_nomem(ctx, err);
    }
    for (size_t i = 0; i < count; i++) {
        allowed[i] = visits[i].id;
    }
    hnsw_filter_t filter = {allowed, count};
    int64_t *ids;
    uint64_t nids;
    hnsw_search_stats_t st;
    int rc = vindex_candidates(ctx->eval.env->vindex, query, store_vector_dims(ctx->store),
                               (uint32_t)k, plan->ef_search, &filter, pending_of(ctx),
                               ctx->eval.arena, &ids, &nids, &st, err);
    if (rc != CTX_OK) {
        return rc;
    }
    note_path(plan, st.path);
    score_ids(ctx, INT64_MIN, query, ids, nids, s, n);
    ctx_qsort(visits, count, sizeof(graph_visit_t), visit_cmp);
    for (uint64_t i = 0; i < *n; i++) {
        graph_visit_t key = {.id = s[i].id};
        const graph_visit_t *v = bsearch(&key, visits, count, sizeof(graph_visit_t), visit_cmp);
        CTX_ASSERT(v != NULL);
        s[i].depth = v->depth;
    }
    return CTX_OK;
}

/* hybrid: traversal into a candidate set, then the most similar candidates: exact similarity
 * over all of them when the set is small, a filtered index search when it is large. */
static int run_hybrid(const plan_t *plan, exec_ctx_t *ctx, const targs_t *a, rowset_t *out,
                      ctx_err_t *err) {
    graph_query_t q;
    bool empty;
    const float *query;
    int64_t k = 0;
    int rc = graph_args(ctx, "hybrid", &a->v[0], &a->v[1], &a->v[3], &a->v[4], &q, &empty, err);
    if (rc == CTX_OK) {
        rc = arg_int(&a->v[2], "hybrid", "top_k", SIMILAR_K_DEFAULT, 0, INT32_MAX, &k, err);
    }
    if (rc == CTX_OK) {
        rc = vector_of(ctx, &a->v[0], "hybrid", &query, err);
    }
    if (rc != CTX_OK || empty || query == NULL) {
        return rc;
    }
    graph_visit_t *visits;
    size_t count;
    rc = graph_bfs(ctx->store, &q, ctx->eval.arena, &visits, &count, err);
    if (rc != CTX_OK) {
        return rc;
    }
    scored_t *s = arena_try_alloc(ctx->eval.arena, sizeof(scored_t) * (count + 1));
    if (s == NULL) {
        return exec_nomem(ctx, err);
    }
    uint64_t n = 0;
    uint32_t dim = store_vector_dims(ctx->store);
    const vindex_t *vi = ctx->eval.env != NULL ? ctx->eval.env->vindex : NULL;
    uint32_t ef = plan->ef_search > (uint64_t)k ? plan->ef_search : (uint32_t)k;
    if (rc == CTX_OK && plan->method == EXEC_VECTOR_HNSW && k <= HNSW_EF_MAX &&
        !hnsw_filter_exact(vindex_hnsw(vi), count, ef)) {
        rc = hybrid_indexed(plan, ctx, query, k, visits, count, s, &n, err);
    } else {
        for (size_t i = 0; rc == CTX_OK && i < count; i++) {
            const float *v = store_vector_get(ctx->store, visits[i].id);
            if (v != NULL) {
                s[n++] = (scored_t){visits[i].id, similarity(query, v, dim), visits[i].depth};
            }
        }
        n = sort_defined(s, n);
        if (plan->method == EXEC_VECTOR_HNSW) {
            note_path(plan, HNSW_PATH_EXACT);
        }
    }
    uint64_t cap = 0;
    for (uint64_t i = 0; rc == CTX_OK && i < n && (int64_t)i < k; i++) {
        value_t *row = push_row(ctx, out, &cap, err);
        if (row == NULL) {
            return err->code;
        }
        row[0] = value_int(s[i].id);
        row[1] = node_label(ctx->store, s[i].id);
        row[2] = value_int(s[i].depth);
        row[3] = value_float(s[i].similarity);
    }
    return rc;
}

int exec_table_function(const plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    out->rows = NULL;
    out->nrows = 0;
    out->ncols = plan->ncols;
    targs_t a;
    int rc = eval_args(plan, ctx, &a, err);
    if (rc != CTX_OK) {
        return rc;
    }
    switch (plan->tfunc) {
    case TFUNC_NEIGHBORS:
    case TFUNC_TRAVERSE:
        return run_traversal(plan, ctx, &a, out, err);
    case TFUNC_SHORTEST_PATH:
        return run_shortest_path(ctx, &a, out, err);
    case TFUNC_SIMILAR:
        return run_similar(plan, ctx, &a, out, err);
    case TFUNC_NEIGHBOR_STATS:
        return run_neighbor_stats(plan, ctx, &a, out, err);
    case TFUNC_HYBRID:
        return run_hybrid(plan, ctx, &a, out, err);
    case TFUNC_K_SHORTEST_PATHS:
    case TFUNC_ALL_SHORTEST_PATHS:
        return run_paths(ctx, &a, plan->tfunc, out, err);
    case TFUNC_PAGERANK:
    case TFUNC_CONNECTED_COMPONENTS:
    case TFUNC_STRONG_COMPONENTS:
    case TFUNC_COMMUNITIES:
    case TFUNC_DEGREE_CENTRALITY:
    case TFUNC_BETWEENNESS:
    case TFUNC_TRIANGLE_COUNT:
    case TFUNC_JACCARD:
        return run_algorithm(plan, ctx, &a, out, err);
    }
    CTX_ASSERT(!"unknown table function");
    return CTX_EINTERNAL;
}

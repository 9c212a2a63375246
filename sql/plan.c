/*
 * plan.c — the SELECT planner: AST (sql/ast.h) to plan tree (engine/exec/plan.h).
 *
 * Shape of every plan, bottom up:
 *   FROM      scan | key lookup | table function | join tree | subquery
 *   WHERE     filter (and, for a single base table, `id = k` / `id IN (…)` / `src = k` /
 *             `dst = k` conjuncts become key lookups; the filter stays for correctness)
 *   SELECT    project, or aggregate (grouping + HAVING + outputs evaluated per group)
 *             the outputs are the select list followed by hidden ORDER BY keys
 *   DISTINCT  distinct over the visible columns
 *   ORDER BY  sort, or top-k when a LIMIT follows (a vector top-k when the key is a pgvector
 *             distance over vectors.embedding: the slot where the HNSW index plugs in)
 *   LIMIT     offset/limit
 *   trim      drops hidden ORDER BY columns
 * Estimates are coarse (row counts from the store, fixed selectivities) and exist for EXPLAIN.
 */
#include "catalog.h"
#include "plan_int.h"
#include "stack.h"
#include "sql.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void plan_error_at(const planner_t *p, ctx_err_t *err, int location) {
    if (location >= 0 && p->query_text != NULL) {
        ctx_err_position(err, eval_char_position(p->query_text, location));
    }
}

plan_t *plan_new(planner_t *p, plan_kind_t kind, plan_t *child) {
    plan_t *plan = arena_calloc(p->arena, 1, sizeof(plan_t));
    plan->kind = kind;
    plan->child = child;
    plan->lookup_left_col = -1;
    plan->hash_left_col = -1;
    plan->hash_right_col = -1;
    if (child != NULL) {
        plan->ncols = child->ncols;
        plan->cols = child->cols;
        plan->est_rows = child->est_rows;
        plan->est_cost = child->est_cost;
    }
    return plan;
}

int plan_bind(planner_t *p, expr_t *e, const bind_scope_t *scope, bool allow_aggregates,
              ctx_err_t *err) {
    bind_ctx_t ctx = {
        .scope = scope,
        .env = p->env,
        .param_types = p->param_types,
        .nparams = p->nparams,
        .allow_aggregates = allow_aggregates,
        .arena = p->arena,
        .query_text = p->query_text,
        .outer = p->outer,
        .plan_subquery = plan_subquery_cb,
        .planner = p,
        .outer_refs = p->outer_refs,
    };
    return bind_expr(e, &ctx, err);
}

int bind_in(planner_t *p, expr_t *e, const scope_t *s, bool allow_agg, ctx_err_t *err) {
    bind_scope_t scope = {s->cols, s->ncols};
    return plan_bind(p, e, &scope, allow_agg, err);
}

/* Copies columns giving them a new qualifier (alias). */
bind_column_t *requalify(planner_t *p, const bind_column_t *cols, int n, const char *q) {
    bind_column_t *out = arena_alloc(p->arena, sizeof(bind_column_t) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        out[i] = cols[i];
        out[i].qualifier = q;
    }
    return out;
}

/* ---------------------------------------------------------------- table functions */

typedef struct tfunc_spec {
    const char *name;
    tfunc_kind_t kind;
    int required;
    const char *params[6]; /* parameter names; alternatives separated by '|' */
    ctype_t types[6];
    bind_column_t out[5];
    int nout;
} tfunc_spec_t;

static const tfunc_spec_t tfunc_specs[] = {
    {"neighbors",
     TFUNC_NEIGHBORS,
     1,
     {"start|id|source", "depth|max_depth", "kind", "direction"},
     {CT_INT8, CT_INT8, CT_TEXT, CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "label", CT_TEXT, 0, 0}, {NULL, "depth", CT_INT4, 0, 0}},
     3},
    {"traverse",
     TFUNC_TRAVERSE,
     1,
     {"start|id|source", "depth|max_depth", "order", "kind", "direction"},
     {CT_INT8, CT_INT8, CT_TEXT, CT_TEXT, CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0},
      {NULL, "label", CT_TEXT, 0, 0},
      {NULL, "depth", CT_INT4, 0, 0},
      {NULL, "parent", CT_INT8, 0, 0}},
     4},
    {"shortest_path",
     TFUNC_SHORTEST_PATH,
     2,
     {"start|from|source", "target|to", "max_depth|depth", "kind", "direction", "weighted"},
     {CT_INT8, CT_INT8, CT_INT8, CT_TEXT, CT_TEXT, CT_BOOL},
     {{NULL, "step", CT_INT4, 0, 0}, {NULL, "id", CT_INT8, 0, 0}, {NULL, "label", CT_TEXT, 0, 0}},
     3},
    {"similar",
     TFUNC_SIMILAR,
     1,
     {"id", "k|top_k", "threshold"},
     {CT_INT8, CT_INT8, CT_FLOAT8},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "similarity", CT_FLOAT8, 0, 0}},
     2},
    {"neighbor_stats",
     TFUNC_NEIGHBOR_STATS,
     1,
     {"id", "k|top_k"},
     {CT_INT8, CT_INT8},
     {{NULL, "count", CT_INT8, 0, 0},
      {NULL, "min", CT_FLOAT8, 0, 0},
      {NULL, "max", CT_FLOAT8, 0, 0},
      {NULL, "mean", CT_FLOAT8, 0, 0},
      {NULL, "stddev", CT_FLOAT8, 0, 0}},
     5},
    {"hybrid",
     TFUNC_HYBRID,
     1,
     {"id|start", "depth|max_depth", "top_k|k", "kind", "direction"},
     {CT_INT8, CT_INT8, CT_INT8, CT_TEXT, CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0},
      {NULL, "label", CT_TEXT, 0, 0},
      {NULL, "depth", CT_INT4, 0, 0},
      {NULL, "similarity", CT_FLOAT8, 0, 0}},
     4},
    {"k_shortest_paths",
     TFUNC_K_SHORTEST_PATHS,
     3,
     {"start|from|source", "target|to", "k", "weighted", "kind", "direction"},
     {CT_INT8, CT_INT8, CT_INT8, CT_BOOL, CT_TEXT, CT_TEXT},
     {{NULL, "path", CT_INT4, 0, 0},
      {NULL, "step", CT_INT4, 0, 0},
      {NULL, "id", CT_INT8, 0, 0},
      {NULL, "label", CT_TEXT, 0, 0}},
     4},
    {"all_shortest_paths",
     TFUNC_ALL_SHORTEST_PATHS,
     2,
     {"start|from|source", "target|to", "weighted", "kind", "direction"},
     {CT_INT8, CT_INT8, CT_BOOL, CT_TEXT, CT_TEXT},
     {{NULL, "path", CT_INT4, 0, 0},
      {NULL, "step", CT_INT4, 0, 0},
      {NULL, "id", CT_INT8, 0, 0},
      {NULL, "label", CT_TEXT, 0, 0}},
     4},
    {"pagerank",
     TFUNC_PAGERANK,
     0,
     {"damping", "iterations", "kind"},
     {CT_FLOAT8, CT_INT8, CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "rank", CT_FLOAT8, 0, 0}},
     2},
    {"connected_components",
     TFUNC_CONNECTED_COMPONENTS,
     0,
     {"kind"},
     {CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "component", CT_INT8, 0, 0}},
     2},
    {"strongly_connected_components",
     TFUNC_STRONG_COMPONENTS,
     0,
     {"kind"},
     {CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "component", CT_INT8, 0, 0}},
     2},
    {"communities",
     TFUNC_COMMUNITIES,
     0,
     {"iterations", "kind"},
     {CT_INT8, CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "community", CT_INT8, 0, 0}},
     2},
    {"degree_centrality",
     TFUNC_DEGREE_CENTRALITY,
     0,
     {"kind"},
     {CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0},
      {NULL, "centrality", CT_FLOAT8, 0, 0},
      {NULL, "in_degree", CT_INT8, 0, 0},
      {NULL, "out_degree", CT_INT8, 0, 0},
      {NULL, "degree", CT_INT8, 0, 0}},
     5},
    {"betweenness_centrality",
     TFUNC_BETWEENNESS,
     0,
     {"samples", "seed", "kind"},
     {CT_INT8, CT_INT8, CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "centrality", CT_FLOAT8, 0, 0}},
     2},
    {"triangle_count",
     TFUNC_TRIANGLE_COUNT,
     0,
     {"kind"},
     {CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "triangles", CT_INT8, 0, 0}},
     2},
    {"jaccard_similarity",
     TFUNC_JACCARD,
     1,
     {"id|start|source", "kind"},
     {CT_INT8, CT_TEXT},
     {{NULL, "id", CT_INT8, 0, 0}, {NULL, "similarity", CT_FLOAT8, 0, 0}},
     2},
};

static int spec_param_count(const tfunc_spec_t *spec) {
    int n = 0;
    while (n < 6 && spec->params[n] != NULL) {
        n++;
    }
    return n;
}

static bool param_matches(const char *alternatives, const char *name) {
    size_t len = strlen(name);
    const char *s = alternatives;
    while (*s != '\0') {
        const char *bar = strchr(s, '|');
        size_t n = bar == NULL ? strlen(s) : (size_t)(bar - s);
        if (n == len && strncmp(s, name, n) == 0) {
            return true;
        }
        s = bar == NULL ? s + n : bar + 1;
    }
    return false;
}

/* Places the call's arguments into the spec's parameter slots. */
static int tfunc_slot_args(planner_t *p, const tfunc_spec_t *spec, const from_item_t *f,
                           expr_t **slots, ctx_err_t *err) {
    int nparams = spec_param_count(spec);
    if (f->nargs > nparams) {
        ctx_err_set(err, CTX_EUNDEF_FUNCTION, "function %s takes at most %d arguments", spec->name,
                    nparams);
        plan_error_at(p, err, f->location);
        return err->code;
    }
    for (int i = 0; i < f->nargs; i++) {
        expr_t *arg = f->args[i];
        int slot = i;
        if (arg->arg_name != NULL) {
            for (slot = 0; slot < nparams; slot++) {
                if (param_matches(spec->params[slot], arg->arg_name)) {
                    break;
                }
            }
            if (slot == nparams) {
                ctx_err_set(err, CTX_EUNDEF_FUNCTION, "function %s has no parameter named \"%s\"",
                            spec->name, arg->arg_name);
                plan_error_at(p, err, arg->location);
                return err->code;
            }
        }
        slots[slot] = arg;
    }
    return CTX_OK;
}

static int plan_tfunc_args(planner_t *p, const tfunc_spec_t *spec, const from_item_t *f,
                           plan_t *plan, ctx_err_t *err) {
    int nparams = spec_param_count(spec);
    expr_t **slots = arena_calloc(p->arena, (size_t)nparams, sizeof(expr_t *));
    int rc = tfunc_slot_args(p, spec, f, slots, err);
    bind_scope_t empty = {NULL, 0};
    bind_ctx_t bctx = {.scope = &empty,
                       .env = p->env,
                       .param_types = p->param_types,
                       .nparams = p->nparams,
                       .arena = p->arena,
                       .query_text = p->query_text};
    for (int i = 0; rc == CTX_OK && i < nparams; i++) {
        if (slots[i] == NULL) {
            if (i < spec->required) {
                ctx_err_set(err, CTX_EUNDEF_FUNCTION, "function %s requires argument \"%.*s\"",
                            spec->name, (int)strcspn(spec->params[i], "|"), spec->params[i]);
                plan_error_at(p, err, f->location);
                return err->code;
            }
            slots[i] = expr_new(p->arena, EXPR_CONST, -1);
            slots[i]->value = value_null();
            continue;
        }
        rc = bind_expr(slots[i], &bctx, err);
        /* the graph algorithms' kind => takes one kind or a text[] of kinds */
        bool kinds = (spec->kind >= TFUNC_K_SHORTEST_PATHS || spec->kind == TFUNC_SHORTEST_PATH) &&
                     strcmp(spec->params[i], "kind") == 0 && slots[i]->type == CT_TEXT_ARRAY;
        if (rc == CTX_OK && !kinds) {
            rc = bind_coerce(slots[i], spec->types[i], spec->params[i], &bctx, err);
        }
    }
    plan->fargs = slots;
    plan->nfargs = nparams;
    return rc;
}

/* A scalar or set-returning function in FROM: SELECT f(args) [, ordinality]. */
static int plan_srf_from(planner_t *p, const from_item_t *f, plan_t **out, ctx_err_t *err) {
    expr_t *call = expr_new(p->arena, EXPR_FUNC, f->location);
    call->name = f->name;
    call->args = f->args;
    call->nargs = f->nargs;
    plan_t *input = plan_new(p, PLAN_RESULT, NULL);
    input->est_rows = 1;
    scope_t empty = {NULL, 0};
    int rc = bind_in(p, call, &empty, false, err);
    if (rc != CTX_OK) {
        return rc;
    }
    plan_t *project = plan_new(p, PLAN_PROJECT, input);
    int n = f->ordinality ? 2 : 1;
    project->exprs = arena_calloc(p->arena, 2, sizeof(expr_t *));
    project->exprs[0] = call;
    if (f->ordinality) {
        expr_t *ord = expr_new(p->arena, EXPR_FUNC, f->location);
        ord->name = "__srf_ordinality";
        rc = bind_in(p, ord, &empty, false, err);
        project->exprs[1] = ord;
    }
    project->nexprs = n;
    project->has_srf = true;
    project->ncols = n;
    project->cols = arena_calloc(p->arena, 3, sizeof(bind_column_t));
    /* PostgreSQL names a scalar function's column after the alias when one is given */
    project->cols[0] = (bind_column_t){f->alias != NULL ? f->alias : f->name,
                                       f->alias != NULL ? f->alias : f->name, call->type, 0, 0};
    project->cols[1] =
        (bind_column_t){f->alias != NULL ? f->alias : f->name, "ordinality", CT_INT8, 0, 0};
    project->est_rows = 10;
    *out = project;
    return rc;
}

static int plan_function(planner_t *p, const from_item_t *f, plan_t **out, ctx_err_t *err) {
    const tfunc_spec_t *spec = NULL;
    for (size_t i = 0; i < sizeof(tfunc_specs) / sizeof(tfunc_specs[0]); i++) {
        if (strcmp(tfunc_specs[i].name, f->name) == 0) {
            spec = &tfunc_specs[i];
        }
    }
    if (spec == NULL && catalog_plan(p, NULL, f->name, out) == CTX_OK) {
        (*out)->cols =
            requalify(p, (*out)->cols, (*out)->ncols, f->alias != NULL ? f->alias : f->name);
        return CTX_OK;
    }
    if (spec == NULL) {
        return plan_srf_from(p, f, out, err);
    }
    if (spec == NULL) {
        ctx_err_set(err, CTX_EUNDEF_FUNCTION, "function %s does not exist", f->name);
        ctx_err_hint(err, "Table functions are listed in the README's graph section.");
        plan_error_at(p, err, f->location);
        return err->code;
    }
    plan_t *plan = plan_new(p, PLAN_FUNCTION, NULL);
    plan->tfunc = spec->kind;
    plan->ncols = spec->nout;
    plan->cols = requalify(p, spec->out, spec->nout, f->alias != NULL ? f->alias : f->name);
    plan->est_rows = 100;
    plan->est_cost = 100;
    *out = plan;
    return plan_tfunc_args(p, spec, f, plan, err);
}

/* ---------------------------------------------------------------- FROM */

static uint64_t table_rows(const store_t *store, table_id_t t) {
    return t == TABLE_NODES
               ? store_node_count(store)
               : (t == TABLE_EDGES ? store_edge_count(store) : store_vector_count(store));
}

/* SELECT … FROM snapshots: the completed snapshots as constant rows (sql_snapshot_hooks_t.list). */
static int plan_snapshots_table(planner_t *p, const from_item_t *f, plan_t **out, ctx_err_t *err) {
    static const bind_column_t cols[] = {
        {NULL, "id", CT_INT8, 0, 0},          {NULL, "at", CT_TEXT, 0, 0},
        {NULL, "raft_index", CT_INT8, 0, 0},  {NULL, "nodes", CT_INT8, 0, 0},
        {NULL, "edges", CT_INT8, 0, 0},       {NULL, "vectors", CT_INT8, 0, 0},
        {NULL, "files", CT_INT8, 0, 0},       {NULL, "bytes", CT_INT8, 0, 0},
        {NULL, "uploaded", CT_BOOL, 0, 0},    {NULL, "upload_bytes", CT_INT8, 0, 0},
        {NULL, "upload_error", CT_TEXT, 0, 0}};
    enum { NCOLS = sizeof(cols) / sizeof(cols[0]) };
    sql_snapshot_info_t *list = NULL;
    int n = 0;
    int rc = p->snapshots->list(p->snapshots->ctx, p->arena, &list, &n, err);
    if (rc != CTX_OK) {
        return rc;
    }
    value_t *rows = arena_alloc(p->arena, sizeof(value_t) * NCOLS * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        const sql_snapshot_info_t *si = &list[i];
        value_t *row = rows + (size_t)i * NCOLS;
        time_t secs = (time_t)(si->timestamp_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char at[64];
        size_t len = strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S", &tm);
        len += (size_t)snprintf(at + len, sizeof(at) - len, ".%03d+00",
                                (int)(si->timestamp_ms % 1000));
        row[0] = value_int((int64_t)si->id);
        row[1] = value_text(arena_strndup(p->arena, at, len), (uint32_t)len);
        row[2] = value_int((int64_t)si->raft_index);
        row[3] = value_int((int64_t)si->nodes);
        row[4] = value_int((int64_t)si->edges);
        row[5] = value_int((int64_t)si->vectors);
        row[6] = value_int((int64_t)si->files);
        row[7] = value_int((int64_t)si->bytes);
        row[8] = value_bool(si->uploaded);
        row[9] = value_int((int64_t)si->upload_bytes);
        row[10] = si->upload_error != NULL
                      ? value_text(si->upload_error, (uint32_t)strlen(si->upload_error))
                      : value_null();
    }
    plan_t *plan = plan_new(p, PLAN_VALUES, NULL);
    plan->ncols = NCOLS;
    plan->cols = requalify(p, cols, NCOLS, f->alias != NULL ? f->alias : f->name);
    plan->const_rows = rows;
    plan->nconst_rows = (uint64_t)n;
    plan->label = "snapshots";
    plan->est_rows = n;
    plan->est_cost = n;
    *out = plan;
    return CTX_OK;
}

/* SELECT … FROM cluster_members: the members as this server sees them (sql_cluster_hooks_t). */
static int plan_members_table(planner_t *p, const from_item_t *f, plan_t **out, ctx_err_t *err) {
    static const bind_column_t cols[] = {{NULL, "id", CT_INT8, 0, 0},
                                         {NULL, "address", CT_TEXT, 0, 0},
                                         {NULL, "pgwire", CT_TEXT, 0, 0},
                                         {NULL, "role", CT_TEXT, 0, 0},
                                         {NULL, "term", CT_INT8, 0, 0},
                                         {NULL, "commit_index", CT_INT8, 0, 0},
                                         {NULL, "applied_index", CT_INT8, 0, 0},
                                         {NULL, "last_contact_ms", CT_INT8, 0, 0},
                                         {NULL, "lag", CT_INT8, 0, 0},
                                         {NULL, "is_self", CT_BOOL, 0, 0}};
    enum { NCOLS = sizeof(cols) / sizeof(cols[0]) };
    sql_member_info_t *list = NULL;
    int n = 0;
    int rc = p->cluster->members(p->cluster->ctx, p->arena, &list, &n, err);
    if (rc != CTX_OK) {
        return rc;
    }
    value_t *rows = arena_alloc(p->arena, sizeof(value_t) * NCOLS * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        const sql_member_info_t *m = &list[i];
        value_t *row = rows + (size_t)i * NCOLS;
        const int64_t nums[] = {m->term, m->commit_index, m->applied_index, m->last_contact_ms,
                                m->lag};
        row[0] = value_int((int64_t)m->id);
        row[1] = value_text(arena_strdup(p->arena, m->address), (uint32_t)strlen(m->address));
        row[2] = value_text(arena_strdup(p->arena, m->pgwire), (uint32_t)strlen(m->pgwire));
        row[3] = value_text(m->role, (uint32_t)strlen(m->role));
        for (int k = 0; k < 5; k++) {
            row[4 + k] = nums[k] < 0 ? value_null() : value_int(nums[k]);
        }
        row[9] = value_bool(m->is_self);
    }
    plan_t *plan = plan_new(p, PLAN_VALUES, NULL);
    plan->ncols = NCOLS;
    plan->cols = requalify(p, cols, NCOLS, f->alias != NULL ? f->alias : f->name);
    plan->const_rows = rows;
    plan->nconst_rows = (uint64_t)n;
    plan->label = "cluster_members";
    plan->est_rows = n;
    plan->est_cost = n;
    *out = plan;
    return CTX_OK;
}

static int plan_table(planner_t *p, const from_item_t *f, plan_t **out, ctx_err_t *err) {
    int t = -1;
    for (const plan_cte_t *c = p->ctes; f->schema == NULL && c != NULL; c = c->next) {
        if (strcmp(c->name, f->name) == 0) {
            return plan_cte_ref(p, c, f, out, err);
        }
    }
    if (f->schema == NULL || strcmp(f->schema, "public") == 0) {
        t = table_lookup(f->name);
    }
    if (t < 0 && f->schema == NULL && strcmp(f->name, "snapshots") == 0 && p->snapshots != NULL &&
        p->snapshots->list != NULL) {
        return plan_snapshots_table(p, f, out, err);
    }
    if (t < 0 && f->schema == NULL && strcmp(f->name, "cluster_members") == 0 &&
        p->cluster != NULL && p->cluster->members != NULL) {
        return plan_members_table(p, f, out, err);
    }
    if (t < 0 && catalog_plan(p, f->schema, f->name, out) == CTX_OK) {
        (*out)->cols =
            requalify(p, (*out)->cols, (*out)->ncols, f->alias != NULL ? f->alias : f->name);
        return CTX_OK;
    }
    if (t < 0) {
        if (f->schema != NULL) {
            ctx_err_set(err, CTX_EUNDEF_TABLE, "relation \"%s.%s\" does not exist", f->schema,
                        f->name);
        } else {
            ctx_err_set(err, CTX_EUNDEF_TABLE, "relation \"%s\" does not exist", f->name);
        }
        plan_error_at(p, err, f->location);
        return err->code;
    }
    plan_t *plan = plan_new(p, PLAN_SCAN, NULL);
    plan->table = (table_id_t)t;
    plan->ncols = table_column_count(plan->table);
    plan->cols = requalify(p, table_columns(plan->table), plan->ncols,
                           f->alias != NULL ? f->alias : f->name);
    for (int c = 0; c < plan->ncols; c++) {
        plan->cols[c].table_oid = table_oid(plan->table);
        plan->cols[c].attnum = (int16_t)(c + 1);
    }
    plan->est_rows = (double)table_rows(p->store, plan->table);
    plan->est_cost = plan->est_rows;
    *out = plan;
    return CTX_OK;
}

/* Concatenates the column lists of two inputs. */
static bind_column_t *concat_cols(planner_t *p, const plan_t *l, const plan_t *r) {
    bind_column_t *cols =
        arena_alloc(p->arena, sizeof(bind_column_t) * (size_t)(l->ncols + r->ncols + 1));
    memcpy(cols, l->cols, sizeof(bind_column_t) * (size_t)l->ncols);
    memcpy(cols + l->ncols, r->cols, sizeof(bind_column_t) * (size_t)r->ncols);
    return cols;
}

/* ON l.col = r.id with r a bare nodes/vectors scan → probe the right table by id. */
static void detect_lookup_join(plan_t *join, const plan_t *l, const plan_t *r) {
    const expr_t *on = join->predicate;
    if (on == NULL || r->kind != PLAN_SCAN || r->lookup != LOOKUP_NONE || r->source != NULL ||
        r->table == TABLE_EDGES || on->kind != EXPR_BINARY || on->op != OP_EQ) {
        return;
    }
    const expr_t *a = on->left;
    const expr_t *b = on->right;
    if (a->kind != EXPR_COLUMN || b->kind != EXPR_COLUMN) {
        return;
    }
    if (a->column_index >= l->ncols) {
        const expr_t *t = a;
        a = b;
        b = t;
    }
    if (a->column_index < l->ncols && b->column_index == l->ncols && a->type == CT_INT8) {
        join->lookup_left_col = a->column_index;
        join->lookup_table = r->table;
    }
}

/* An equality conjunct of ON between a left and a right column → hash join keys. */
static void detect_hash_join(plan_t *join, const expr_t *on, int lcols) {
    if (on == NULL || join->lookup_left_col >= 0 || join->hash_left_col >= 0 ||
        ctx_stack_exceeded()) {
        return;
    }
    if (on->kind == EXPR_BINARY && on->op == OP_AND) {
        detect_hash_join(join, on->left, lcols);
        detect_hash_join(join, on->right, lcols);
        return;
    }
    if (on->kind != EXPR_BINARY || on->op != OP_EQ || on->left->kind != EXPR_COLUMN ||
        on->right->kind != EXPR_COLUMN || on->left->outer_level != 0 ||
        on->right->outer_level != 0) {
        return;
    }
    int a = on->left->column_index, b = on->right->column_index;
    if (a >= lcols && b < lcols) {
        int t = a;
        a = b;
        b = t;
    }
    bool same_family = (ctype_is_integer(on->left->type) && ctype_is_integer(on->right->type)) ||
                       on->left->type == on->right->type ||
                       (ctype_is_textual(on->left->type) && ctype_is_textual(on->right->type));
    if (a < lcols && b >= lcols && same_family) {
        join->hash_left_col = a;
        join->hash_right_col = b;
    }
}

/* JOIN … USING (cols) → ON l.c = r.c AND …. */
static expr_t *using_condition(planner_t *p, const from_item_t *f, const plan_t *l,
                               const plan_t *r) {
    expr_t *on = NULL;
    for (int i = 0; i < f->nusing; i++) {
        const char *lq = NULL, *rq = NULL;
        for (int c = 0; c < l->ncols; c++) {
            lq = strcmp(l->cols[c].name, f->using_cols[i]) == 0 ? l->cols[c].qualifier : lq;
        }
        for (int c = 0; c < r->ncols; c++) {
            rq = strcmp(r->cols[c].name, f->using_cols[i]) == 0 ? r->cols[c].qualifier : rq;
        }
        expr_t *a = expr_new(p->arena, EXPR_COLUMN, f->location);
        expr_t *b = expr_new(p->arena, EXPR_COLUMN, f->location);
        a->name = b->name = f->using_cols[i];
        a->qualifier = lq;
        b->qualifier = rq;
        expr_t *eq = expr_new(p->arena, EXPR_BINARY, f->location);
        eq->op = OP_EQ;
        eq->left = a;
        eq->right = b;
        if (on == NULL) {
            on = eq;
        } else {
            expr_t *and = expr_new(p->arena, EXPR_BINARY, f->location);
            and->op = OP_AND;
            and->left = on;
            and->right = eq;
            on = and;
        }
    }
    return on;
}

/* A LATERAL item: planned with the left side's columns as an enclosing scope, so its references
 * to them bind as outer references (*refs counts them; none: an ordinary join). */
static int plan_lateral(planner_t *p, from_item_t *f, const plan_t *left, plan_t **out, int *refs,
                        ctx_err_t *err) {
    bind_scope_t scope = {left->cols, left->ncols};
    bind_outer_t outer = {&scope, p->outer};
    planner_t sub = *p;
    sub.outer = &outer;
    sub.outer_refs = refs;
    int rc = plan_from(&sub, f, out, err);
    if (*refs > 0 && p->outer_refs != NULL) {
        *p->outer_refs += *refs; /* conservative, as for subqueries */
    }
    return rc;
}

static int plan_join(planner_t *p, from_item_t *f, plan_t **out, ctx_err_t *err) {
    plan_t *l, *r;
    int rc = plan_from(p, f->left, &l, err);
    int lateral_refs = 0;
    if (rc == CTX_OK && f->right->lateral) {
        rc = plan_lateral(p, f->right, l, &r, &lateral_refs, err);
    } else if (rc == CTX_OK) {
        rc = plan_from(p, f->right, &r, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    if (f->nusing > 0 && f->on == NULL) {
        f->on = using_condition(p, f, l, r);
    }
    plan_t *join = plan_new(p, PLAN_JOIN, l);
    join->right = r;
    join->left_join = f->join_type == JOIN_LEFT;
    join->lateral = lateral_refs > 0;
    join->ncols = l->ncols + r->ncols;
    join->cols = concat_cols(p, l, r);
    join->predicate = f->on;
    join->est_rows = f->on == NULL ? l->est_rows * r->est_rows : l->est_rows;
    join->est_cost = l->est_cost + l->est_rows * (r->est_rows > 1 ? r->est_rows : 1);
    if (f->on != NULL) {
        scope_t s = {join->cols, join->ncols};
        rc = bind_in(p, f->on, &s, false, err);
    }
    if (rc == CTX_OK && !join->lateral) {
        detect_lookup_join(join, l, r);
        if (join->lookup_left_col >= 0) {
            join->est_cost = l->est_cost + l->est_rows;
        }
        detect_hash_join(join, f->on, l->ncols);
        if (join->hash_left_col >= 0) {
            join->est_cost = l->est_cost + r->est_cost + l->est_rows + r->est_rows;
        }
    }
    *out = join;
    return rc;
}

static int plan_from_item(planner_t *p, from_item_t *f, plan_t **out, ctx_err_t *err);

int plan_from(planner_t *p, from_item_t *f, plan_t **out, ctx_err_t *err) {
    int rc = ctx_stack_check(err);
    if (rc != CTX_OK) {
        return rc;
    }
    rc = plan_from_item(p, f, out, err);
    if (rc == CTX_OK && f->ncol_aliases > 0) {
        const char *q =
            f->alias != NULL ? f->alias : ((*out)->ncols > 0 ? (*out)->cols[0].qualifier : NULL);
        bind_column_t *cols = requalify(p, (*out)->cols, (*out)->ncols, q);
        for (int i = 0; i < f->ncol_aliases && i < (*out)->ncols; i++) {
            cols[i].name = f->col_aliases[i];
        }
        (*out)->cols = cols;
    }
    if (rc == CTX_OK && f->filter != NULL) {
        rc = plan_where(p, out, f->filter, err); /* conjuncts pushed down from WHERE */
    }
    return rc;
}

/* … AS OF SNAPSHOT n: plans the table or table function against snapshot n's store (opened
 * through sql_snapshot_hooks_t.open) and marks the leaf to read it. n is a constant. */
static int plan_as_of(planner_t *p, from_item_t *f, plan_t **out, ctx_err_t *err) {
    scope_t empty = {NULL, 0};
    int rc = bind_in(p, f->as_of, &empty, false, err);
    value_t v = value_null();
    if (rc == CTX_OK && expr_is_constant(f->as_of)) {
        eval_ctx_t ectx;
        memset(&ectx, 0, sizeof(ectx));
        ectx.env = p->env;
        ectx.arena = p->arena;
        ectx.query_text = p->query_text;
        rc = eval_expr(f->as_of, NULL, &ectx, &v, err);
    }
    if (rc == CTX_OK && (v.kind != VAL_INT || v.u.i < 1)) {
        rc = ctx_err_set(err, CTX_EBAD_PARAM, "AS OF SNAPSHOT needs a positive integer constant");
    }
    if (rc == CTX_OK && (p->snapshots == NULL || p->snapshots->open == NULL)) {
        rc = ctx_err_set(err, CTX_EFEATURE, "snapshots are not enabled on this server");
    }
    if (rc == CTX_OK && f->kind != FROM_FUNCTION &&
        (f->kind != FROM_TABLE || (f->schema != NULL && strcmp(f->schema, "public") != 0) ||
         table_lookup(f->name) < 0)) {
        rc = ctx_err_set(err, CTX_EFEATURE,
                         "AS OF SNAPSHOT applies to nodes, edges, vectors "
                         "and table functions");
    }
    const store_t *store = NULL;
    if (rc == CTX_OK) {
        rc = p->snapshots->open(p->snapshots->ctx, (uint64_t)v.u.i, &store, err);
    }
    if (rc != CTX_OK) {
        plan_error_at(p, err, f->as_of->location);
        return rc;
    }
    planner_t inner = *p;
    inner.store = store;
    from_item_t plain = *f;
    plain.as_of = NULL;
    rc = plan_from_item(&inner, &plain, out, err);
    if (rc == CTX_OK) {
        CTX_ASSERT((*out)->kind == PLAN_SCAN || (*out)->kind == PLAN_FUNCTION);
        (*out)->source = store;
    }
    return rc;
}

static int plan_from_item(planner_t *p, from_item_t *f, plan_t **out, ctx_err_t *err) {
    if (f->as_of != NULL) {
        return plan_as_of(p, f, out, err);
    }
    switch (f->kind) {
    case FROM_TABLE:
        return plan_table(p, f, out, err);
    case FROM_FUNCTION:
        return plan_function(p, f, out, err);
    case FROM_JOIN:
        return plan_join(p, f, out, err);
    case FROM_SUBQUERY: {
        plan_t *sub;
        int rc = plan_select(p, f->subquery, &sub, err);
        if (rc == CTX_OK) {
            const char *q = f->alias != NULL ? f->alias : "unnamed_subquery";
            sub->cols = requalify(p, sub->cols, sub->ncols, q);
        }
        *out = sub;
        return rc;
    }
    }
    CTX_ASSERT(!"unknown FROM item");
    return CTX_EINTERNAL;
}

/* ---------------------------------------------------------------- WHERE → key lookups */

bool expr_is_constant(const expr_t *e) {
    if (e == NULL) {
        return true;
    }
    if (ctx_stack_exceeded()) {
        return false; /* too deep to tell: evaluated per row, where eval's check reports it */
    }
    if (e->kind == EXPR_COLUMN || e->kind == EXPR_STAR || e->kind == EXPR_SUBQUERY ||
        e->kind == EXPR_WINDOW || (e->kind == EXPR_FUNC && (e->agg_index >= 0 || e->srf))) {
        return false;
    }
    if (!expr_is_constant(e->left) || !expr_is_constant(e->right)) {
        return false;
    }
    for (int i = 0; i < e->nargs; i++) {
        if (!expr_is_constant(e->args[i])) {
            return false;
        }
    }
    return true;
}

static lookup_kind_t lookup_for_column(table_id_t table, int column) {
    if (table == TABLE_EDGES) {
        return column == 0 ? LOOKUP_EDGE_SRC : (column == 1 ? LOOKUP_EDGE_DST : LOOKUP_NONE);
    }
    return column == 0 ? LOOKUP_ID : LOOKUP_NONE;
}

/* Tries one conjunct `col = k` or `col IN (k…)`; sets scan->lookup on success. */
static bool try_lookup(plan_t *scan, expr_t *c) {
    if (c->kind == EXPR_BINARY && c->op == OP_EQ) {
        expr_t *col = c->left->kind == EXPR_COLUMN ? c->left : c->right;
        expr_t *key = col == c->left ? c->right : c->left;
        lookup_kind_t kind = col->kind == EXPR_COLUMN
                                 ? lookup_for_column(scan->table, col->column_index)
                                 : LOOKUP_NONE;
        if (kind == LOOKUP_NONE || !expr_is_constant(key) ||
            (key->type != CT_INT8 && key->type != CT_INT4)) {
            return false;
        }
        scan->lookup = kind;
        scan->keys = col == c->left ? &c->right : &c->left;
        scan->nkeys = 1;
        return true;
    }
    if (c->kind == EXPR_IN_LIST && !c->negated && c->left->kind == EXPR_COLUMN) {
        lookup_kind_t kind = lookup_for_column(scan->table, c->left->column_index);
        for (int i = 0; i < c->nargs; i++) {
            if (!expr_is_constant(c->args[i]) ||
                (c->args[i]->type != CT_INT8 && c->args[i]->type != CT_INT4)) {
                return false;
            }
        }
        if (kind == LOOKUP_NONE) {
            return false;
        }
        scan->lookup = kind;
        scan->keys = c->args;
        scan->nkeys = c->nargs;
        return true;
    }
    return false;
}

/* Optimization only: gives up (false) when the AND tree is too deep for the stack. */
static bool find_lookup(plan_t *scan, expr_t *where) {
    if (ctx_stack_exceeded()) {
        return false;
    }
    if (where->kind == EXPR_BINARY && where->op == OP_AND) {
        return find_lookup(scan, where->left) || find_lookup(scan, where->right);
    }
    return try_lookup(scan, where);
}

int plan_where(planner_t *p, plan_t **input, expr_t *where, ctx_err_t *err) {
    scope_t s = {(*input)->cols, (*input)->ncols};
    int rc = bind_in(p, where, &s, false, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if ((*input)->kind == PLAN_SCAN && find_lookup(*input, where)) {
        (*input)->est_rows = (*input)->nkeys * ((*input)->table == TABLE_EDGES ? 10.0 : 1.0);
        (*input)->est_cost = (*input)->est_rows + 1;
    }
    plan_t *filter = plan_new(p, PLAN_FILTER, *input);
    filter->predicate = where;
    filter->est_rows = (*input)->est_rows * ((*input)->lookup != LOOKUP_NONE ? 1.0 : 0.33);
    filter->est_cost += (*input)->est_rows * 0.01;
    *input = filter;
    return CTX_OK;
}

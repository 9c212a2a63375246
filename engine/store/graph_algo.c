/*
 * graph_algo.c — the whole-graph algorithms of graph_algo.h over a compressed adjacency snapshot.
 *
 * The snapshot is built by one scan of the node table (ids sorted into positions) and one walk
 * of every node's out-adjacency (already ascending by neighbour id and kind), binary-searching
 * each neighbour's position; the in-adjacency is the transpose, filled by a counting pass in
 * source order, so it is ascending as well. Undirected algorithms derive a simple undirected
 * adjacency (und_build: the merged out and in lists, self and duplicates dropped).
 *
 * Everything is iterative (Tarjan keeps an explicit call stack; path enumeration an explicit
 * DFS stack) and allocates from the statement arena: a refused allocation becomes 53200 through
 * arena_limit_error. Work is counted in galgo_t.work and the cancel flag is polled whenever it
 * crosses a multiple of GALGO_CANCEL_POLL.
 *
 * Paths: Dijkstra (binary heap keyed by (distance, position)) runs backwards from the target, so
 * dist[v] is v's least cost to the target. A least-cost path is then any walk from the start
 * along edges u→v with dist[v] + w(u,v) == dist[u]; walking those edges in ascending neighbour
 * order with backtracking (and an on-path mark, which matters only around zero-weight cycles)
 * yields the least-cost simple paths in lexicographic order. Yen's algorithm reuses the same two
 * steps for each spur path, with the root path's nodes and the already-used next edges banned.
 */
#include "graph_algo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int galgo_nomem(const galgo_t *g, ctx_err_t *err) {
    return arena_limit_error(g->arena, "statement_mem_limit", err);
}

static void *galgo_alloc(galgo_t *g, size_t count, size_t size) {
    return arena_try_calloc(g->arena, count == 0 ? 1 : count, size);
}

/* Counts units of work; 57014 when the cancel flag is set at a poll point. */
static int galgo_tick(galgo_t *g, uint64_t units, ctx_err_t *err) {
    uint64_t before = g->work / GALGO_CANCEL_POLL;
    g->work += units;
    if (g->work / GALGO_CANCEL_POLL != before && g->cancel != NULL && atomic_load(g->cancel)) {
        return ctx_err_set(err, CTX_ECANCELED, "canceling statement due to user request");
    }
    return CTX_OK;
}

static int id_cmp(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x;
    int64_t b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

int64_t galgo_index(const galgo_t *g, int64_t id) {
    const int64_t *p = bsearch(&id, g->ids, g->n, sizeof(int64_t), id_cmp);
    return p == NULL ? -1 : (int64_t)(p - g->ids);
}

static bool kind_wanted(const int32_t *kinds, uint32_t nkinds, int32_t kind) {
    for (uint32_t i = 0; i < nkinds; i++) {
        if (kinds[i] == kind) {
            return true;
        }
    }
    return nkinds == 0;
}

static int build_nodes(const store_t *store, galgo_t *g, ctx_err_t *err) {
    uint64_t count = store_node_count(store);
    if (count > UINT32_MAX - 1) {
        return ctx_err_set(err, CTX_ELIMIT, "graph algorithms support at most %u nodes",
                           UINT32_MAX - 1);
    }
    g->ids = galgo_alloc(g, count, sizeof(int64_t));
    if (g->ids == NULL) {
        return galgo_nomem(g, err);
    }
    store_cursor_t cur = {0};
    node_view_t nv;
    uint32_t n = 0;
    while (n < count && store_node_next(store, &cur, &nv)) {
        g->ids[n++] = nv.id;
    }
    g->n = n;
    ctx_qsort(g->ids, n, sizeof(int64_t), id_cmp);
    return galgo_tick(g, n, err);
}

/* One pass over every node's out-adjacency: counts (fill false) or fills the out arrays. */
static int build_out_pass(const store_t *store, const int32_t *kinds, uint32_t nkinds, galgo_t *g,
                          bool fill, ctx_err_t *err) {
    uint64_t e = 0;
    for (uint32_t u = 0; u < g->n; u++) {
        if (!fill) {
            g->out_off[u] = e;
        }
        store_adj_iter_t it;
        store_adj_begin(store, g->ids[u], STORE_DIR_OUT, STORE_KIND_ANY, &it);
        edge_view_t ev;
        int64_t nb;
        while (store_adj_next(&it, &ev, &nb)) {
            int64_t v = kind_wanted(kinds, nkinds, ev.kind) ? galgo_index(g, nb) : -1;
            if (v < 0) {
                continue;
            }
            if (fill) {
                g->out_to[e] = (uint32_t)v;
                g->out_w[e] = ev.weight;
                g->min_weight = e == 0 ? ev.weight : fmin(g->min_weight, ev.weight);
            }
            e++;
        }
        int rc = galgo_tick(g, 1 + e - g->out_off[u], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    if (!fill) {
        g->out_off[g->n] = e;
        g->m = e;
    }
    return CTX_OK;
}

static int build_in(galgo_t *g, ctx_err_t *err) {
    g->in_off = galgo_alloc(g, (size_t)g->n + 1, sizeof(uint64_t));
    g->in_from = galgo_alloc(g, g->m, sizeof(uint32_t));
    g->in_w = galgo_alloc(g, g->m, sizeof(double));
    uint64_t *fillpos = galgo_alloc(g, (size_t)g->n + 1, sizeof(uint64_t));
    if (g->in_off == NULL || g->in_from == NULL || g->in_w == NULL || fillpos == NULL) {
        return galgo_nomem(g, err);
    }
    for (uint64_t e = 0; e < g->m; e++) {
        g->in_off[g->out_to[e] + 1]++;
    }
    for (uint32_t v = 0; v < g->n; v++) {
        g->in_off[v + 1] += g->in_off[v];
        fillpos[v] = g->in_off[v];
    }
    for (uint32_t u = 0; u < g->n; u++) {
        for (uint64_t e = g->out_off[u]; e < g->out_off[u + 1]; e++) {
            uint64_t at = fillpos[g->out_to[e]]++;
            g->in_from[at] = u;
            g->in_w[at] = g->out_w[e];
        }
    }
    return galgo_tick(g, g->m, err);
}

int galgo_build(const store_t *store, const int32_t *kinds, uint32_t nkinds, arena_t *arena,
                const atomic_bool *cancel, galgo_t *g, ctx_err_t *err) {
    memset(g, 0, sizeof(*g));
    g->arena = arena;
    g->cancel = cancel;
    int rc = build_nodes(store, g, err);
    if (rc != CTX_OK) {
        return rc;
    }
    g->out_off = galgo_alloc(g, (size_t)g->n + 1, sizeof(uint64_t));
    if (g->out_off == NULL) {
        return galgo_nomem(g, err);
    }
    rc = build_out_pass(store, kinds, nkinds, g, false, err);
    if (rc != CTX_OK) {
        return rc;
    }
    g->out_to = galgo_alloc(g, g->m, sizeof(uint32_t));
    g->out_w = galgo_alloc(g, g->m, sizeof(double));
    if (g->out_to == NULL || g->out_w == NULL) {
        return galgo_nomem(g, err);
    }
    rc = build_out_pass(store, kinds, nkinds, g, true, err);
    return rc == CTX_OK ? build_in(g, err) : rc;
}

/* ---------------------------------------------------------------- undirected simple graph */

typedef struct und {
    uint64_t *off; /* [n+1] */
    uint32_t *nb;  /* ascending, distinct, never the node itself */
} und_t;

/* Merges u's out and in lists (both ascending) into dst without duplicates or u; returns the
 * count written. */
static uint64_t und_merge(const galgo_t *g, uint32_t u, uint32_t *dst) {
    uint64_t i = g->out_off[u], ie = g->out_off[u + 1];
    uint64_t j = g->in_off[u], je = g->in_off[u + 1];
    uint64_t k = 0;
    while (i < ie || j < je) {
        uint32_t v;
        if (j >= je || (i < ie && g->out_to[i] <= g->in_from[j])) {
            v = g->out_to[i++];
        } else {
            v = g->in_from[j++];
        }
        if (v != u && (k == 0 || dst[k - 1] != v)) {
            dst[k++] = v;
        }
    }
    return k;
}

static int und_build(galgo_t *g, und_t *u, ctx_err_t *err) {
    u->off = galgo_alloc(g, (size_t)g->n + 1, sizeof(uint64_t));
    uint32_t *tmp = galgo_alloc(g, 2 * g->m, sizeof(uint32_t));
    if (u->off == NULL || tmp == NULL) {
        return galgo_nomem(g, err);
    }
    uint64_t total = 0;
    for (uint32_t x = 0; x < g->n; x++) {
        u->off[x] = total;
        total += und_merge(g, x, tmp + total);
    }
    u->off[g->n] = total;
    u->nb = tmp;
    return galgo_tick(g, 2 * g->m, err);
}

/* ---------------------------------------------------------------- PageRank */

int galgo_pagerank(galgo_t *g, double damping, uint32_t iterations, double **rank, ctx_err_t *err) {
    uint32_t n = g->n;
    double *x = galgo_alloc(g, n, sizeof(double));
    double *next = galgo_alloc(g, n, sizeof(double));
    if (x == NULL || next == NULL) {
        return galgo_nomem(g, err);
    }
    for (uint32_t v = 0; v < n; v++) {
        x[v] = 1.0 / n;
    }
    for (uint32_t it = 0; it < iterations && n > 0; it++) {
        double dangling = 0;
        for (uint32_t u = 0; u < n; u++) {
            if (g->out_off[u + 1] == g->out_off[u]) {
                dangling += x[u];
            }
        }
        double base = (1.0 - damping) / n + damping * dangling / n;
        for (uint32_t v = 0; v < n; v++) {
            double s = 0;
            for (uint64_t e = g->in_off[v]; e < g->in_off[v + 1]; e++) {
                uint32_t u = g->in_from[e];
                s += x[u] / (double)(g->out_off[u + 1] - g->out_off[u]);
            }
            next[v] = base + damping * s;
        }
        double *t = x;
        x = next;
        next = t;
        int rc = galgo_tick(g, n + g->m, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    *rank = x;
    return CTX_OK;
}

/* ---------------------------------------------------------------- components */

static uint32_t uf_find(uint32_t *parent, uint32_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* comp[i] = ids[smallest position with the same root]: roots are kept at the smallest member. */
static int label_by_root(galgo_t *g, const uint32_t *root_of, int64_t **comp, ctx_err_t *err) {
    int64_t *c = galgo_alloc(g, g->n, sizeof(int64_t));
    uint32_t *first = galgo_alloc(g, g->n, sizeof(uint32_t));
    if (c == NULL || first == NULL) {
        return galgo_nomem(g, err);
    }
    for (uint32_t v = 0; v < g->n; v++) {
        first[v] = UINT32_MAX;
    }
    for (uint32_t v = 0; v < g->n; v++) { /* ascending: the first member seen is the smallest */
        if (first[root_of[v]] == UINT32_MAX) {
            first[root_of[v]] = v;
        }
        c[v] = g->ids[first[root_of[v]]];
    }
    *comp = c;
    return CTX_OK;
}

int galgo_wcc(galgo_t *g, int64_t **comp, ctx_err_t *err) {
    uint32_t *parent = galgo_alloc(g, g->n, sizeof(uint32_t));
    if (parent == NULL) {
        return galgo_nomem(g, err);
    }
    for (uint32_t v = 0; v < g->n; v++) {
        parent[v] = v;
    }
    for (uint32_t u = 0; u < g->n; u++) {
        for (uint64_t e = g->out_off[u]; e < g->out_off[u + 1]; e++) {
            uint32_t a = uf_find(parent, u);
            uint32_t b = uf_find(parent, g->out_to[e]);
            if (a != b) {
                parent[a > b ? a : b] = a < b ? a : b;
            }
        }
        int rc = galgo_tick(g, 1 + g->out_off[u + 1] - g->out_off[u], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    for (uint32_t v = 0; v < g->n; v++) {
        parent[v] = uf_find(parent, v);
    }
    return label_by_root(g, parent, comp, err);
}

typedef struct tarjan {
    uint32_t *index, *low, *stack, *call_node;
    uint64_t *call_edge;
    bool *on_stack;
    uint32_t *root_of;
    uint32_t next_index, sp, csp;
} tarjan_t;

/* Pops one strongly connected component rooted at v off Tarjan's stack. */
static void tarjan_pop(tarjan_t *t, uint32_t v) {
    uint32_t w;
    do {
        w = t->stack[--t->sp];
        t->on_stack[w] = false;
        t->root_of[w] = v;
    } while (w != v);
}

/* Tarjan from root with an explicit call stack (call_node, call_edge: the next edge to try). */
static int tarjan_from(galgo_t *g, tarjan_t *t, uint32_t root, ctx_err_t *err) {
    t->csp = 0;
    t->call_node[t->csp] = root;
    t->call_edge[t->csp++] = g->out_off[root];
    t->index[root] = t->low[root] = ++t->next_index;
    t->stack[t->sp++] = root;
    t->on_stack[root] = true;
    while (t->csp > 0) {
        uint32_t v = t->call_node[t->csp - 1];
        uint64_t e = t->call_edge[t->csp - 1];
        if (e < g->out_off[v + 1]) {
            t->call_edge[t->csp - 1] = e + 1;
            uint32_t w = g->out_to[e];
            if (t->index[w] == 0) {
                t->index[w] = t->low[w] = ++t->next_index;
                t->stack[t->sp++] = w;
                t->on_stack[w] = true;
                t->call_node[t->csp] = w;
                t->call_edge[t->csp++] = g->out_off[w];
            } else if (t->on_stack[w] && t->index[w] < t->low[v]) {
                t->low[v] = t->index[w];
            }
            int rc = galgo_tick(g, 1, err);
            if (rc != CTX_OK) {
                return rc;
            }
            continue;
        }
        if (t->low[v] == t->index[v]) {
            tarjan_pop(t, v);
        }
        t->csp--;
        if (t->csp > 0) {
            uint32_t parent = t->call_node[t->csp - 1];
            if (t->low[v] < t->low[parent]) {
                t->low[parent] = t->low[v];
            }
        }
    }
    return CTX_OK;
}

int galgo_scc(galgo_t *g, int64_t **comp, ctx_err_t *err) {
    tarjan_t t = {0};
    t.index = galgo_alloc(g, g->n, sizeof(uint32_t));
    t.low = galgo_alloc(g, g->n, sizeof(uint32_t));
    t.stack = galgo_alloc(g, g->n, sizeof(uint32_t));
    t.call_node = galgo_alloc(g, g->n, sizeof(uint32_t));
    t.call_edge = galgo_alloc(g, g->n, sizeof(uint64_t));
    t.on_stack = galgo_alloc(g, g->n, sizeof(bool));
    t.root_of = galgo_alloc(g, g->n, sizeof(uint32_t));
    if (t.index == NULL || t.low == NULL || t.stack == NULL || t.call_node == NULL ||
        t.call_edge == NULL || t.on_stack == NULL || t.root_of == NULL) {
        return galgo_nomem(g, err);
    }
    for (uint32_t v = 0; v < g->n; v++) {
        if (t.index[v] == 0) {
            int rc = tarjan_from(g, &t, v, err);
            if (rc != CTX_OK) {
                return rc;
            }
        }
    }
    return label_by_root(g, t.root_of, comp, err);
}

/* ---------------------------------------------------------------- communities */

/* The label v takes: most frequent among its neighbours; its own on a tie it is part of, else
 * the smallest. count[] is all zero on entry and on return. */
static uint32_t lpa_choose(const und_t *u, const uint32_t *label, uint32_t v, uint32_t *count) {
    uint32_t best = label[v], best_count = 0;
    for (uint64_t e = u->off[v]; e < u->off[v + 1]; e++) {
        count[label[u->nb[e]]]++;
    }
    if (u->off[v] == u->off[v + 1]) {
        return best;
    }
    best_count = count[label[v]];
    for (uint64_t e = u->off[v]; e < u->off[v + 1]; e++) {
        uint32_t l = label[u->nb[e]];
        if (count[l] > best_count || (count[l] == best_count && l < best && best != label[v])) {
            best = l;
            best_count = count[l];
        }
    }
    for (uint64_t e = u->off[v]; e < u->off[v + 1]; e++) {
        count[label[u->nb[e]]] = 0;
    }
    return best;
}

int galgo_communities(galgo_t *g, uint32_t iterations, int64_t **comm, ctx_err_t *err) {
    und_t u;
    int rc = und_build(g, &u, err);
    uint32_t *label = galgo_alloc(g, g->n, sizeof(uint32_t));
    uint32_t *count = galgo_alloc(g, g->n, sizeof(uint32_t));
    if (rc != CTX_OK || label == NULL || count == NULL) {
        return rc != CTX_OK ? rc : galgo_nomem(g, err);
    }
    for (uint32_t v = 0; v < g->n; v++) {
        label[v] = v;
    }
    bool changed = true;
    for (uint32_t it = 0; it < iterations && changed; it++) {
        changed = false;
        for (uint32_t v = 0; v < g->n; v++) {
            uint32_t l = lpa_choose(&u, label, v, count);
            changed = changed || l != label[v];
            label[v] = l;
        }
        rc = galgo_tick(g, g->n + 2 * g->m, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return label_by_root(g, label, comm, err);
}

/* ---------------------------------------------------------------- betweenness */

typedef struct brandes {
    int64_t *dist;
    double *sigma, *delta;
    uint32_t *order; /* BFS order (a queue, then read backwards as the stack) */
} brandes_t;

/* Accumulates source s's dependencies into bc (Brandes 2001, unweighted, simple graph). */
static void brandes_source(const galgo_t *g, brandes_t *b, uint32_t s, double *bc) {
    for (uint32_t v = 0; v < g->n; v++) {
        b->dist[v] = -1;
        b->sigma[v] = 0;
        b->delta[v] = 0;
    }
    b->dist[s] = 0;
    b->sigma[s] = 1;
    uint32_t head = 0, tail = 0;
    b->order[tail++] = s;
    while (head < tail) {
        uint32_t v = b->order[head++];
        for (uint64_t e = g->out_off[v]; e < g->out_off[v + 1]; e++) {
            uint32_t w = g->out_to[e];
            if (e > g->out_off[v] && g->out_to[e - 1] == w) {
                continue; /* parallel edge: one neighbour */
            }
            if (b->dist[w] < 0) {
                b->dist[w] = b->dist[v] + 1;
                b->order[tail++] = w;
            }
            if (b->dist[w] == b->dist[v] + 1) {
                b->sigma[w] += b->sigma[v];
            }
        }
    }
    for (uint32_t i = tail; i-- > 0;) {
        uint32_t w = b->order[i];
        for (uint64_t e = g->in_off[w]; e < g->in_off[w + 1]; e++) {
            uint32_t v = g->in_from[e];
            if (e > g->in_off[w] && g->in_from[e - 1] == v) {
                continue;
            }
            if (b->dist[v] >= 0 && b->dist[v] + 1 == b->dist[w]) {
                b->delta[v] += b->sigma[v] / b->sigma[w] * (1.0 + b->delta[w]);
            }
        }
        if (w != s) {
            bc[w] += b->delta[w];
        }
    }
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int galgo_betweenness(galgo_t *g, uint32_t samples, uint64_t seed, double **bc, ctx_err_t *err) {
    uint32_t n = g->n;
    brandes_t b;
    b.dist = galgo_alloc(g, n, sizeof(int64_t));
    b.sigma = galgo_alloc(g, n, sizeof(double));
    b.delta = galgo_alloc(g, n, sizeof(double));
    b.order = galgo_alloc(g, n, sizeof(uint32_t));
    uint32_t *sources = galgo_alloc(g, n, sizeof(uint32_t));
    double *out = galgo_alloc(g, n, sizeof(double));
    if (b.dist == NULL || b.sigma == NULL || b.delta == NULL || b.order == NULL ||
        sources == NULL || out == NULL) {
        return galgo_nomem(g, err);
    }
    uint32_t k = samples == 0 || samples > n ? n : samples;
    for (uint32_t v = 0; v < n; v++) {
        sources[v] = v;
    }
    uint64_t state = seed;
    for (uint32_t i = 0; samples != 0 && i < k; i++) { /* partial Fisher-Yates */
        uint32_t j = i + (uint32_t)(splitmix64(&state) % (n - i));
        uint32_t t = sources[i];
        sources[i] = sources[j];
        sources[j] = t;
    }
    for (uint32_t i = 0; i < k; i++) {
        brandes_source(g, &b, sources[i], out);
        int rc = galgo_tick(g, n + g->m, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    double scale = n > 2 ? 1.0 / ((double)(n - 1) * (double)(n - 2)) : 1.0;
    if (k < n && k > 0) {
        scale *= (double)n / (double)k;
    }
    for (uint32_t v = 0; v < n; v++) {
        out[v] *= scale;
    }
    *bc = out;
    return CTX_OK;
}

/* ---------------------------------------------------------------- triangles, Jaccard */

/* |a ∩ b| of two ascending lists, counting only elements greater than `above`; each common
 * element w is also credited to tri[w] when tri is not NULL. */
static uint64_t intersect_above(const uint32_t *a, uint64_t na, const uint32_t *b, uint64_t nb,
                                int64_t above, int64_t *tri) {
    uint64_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j]) {
            i++;
        } else if (a[i] > b[j]) {
            j++;
        } else {
            if ((int64_t)a[i] > above) {
                c++;
                if (tri != NULL) {
                    tri[a[i]]++;
                }
            }
            i++;
            j++;
        }
    }
    return c;
}

int galgo_triangles(galgo_t *g, int64_t **tri, ctx_err_t *err) {
    und_t u;
    int rc = und_build(g, &u, err);
    int64_t *t = galgo_alloc(g, g->n, sizeof(int64_t));
    if (rc != CTX_OK || t == NULL) {
        return rc != CTX_OK ? rc : galgo_nomem(g, err);
    }
    for (uint32_t a = 0; a < g->n; a++) {
        for (uint64_t e = u.off[a]; e < u.off[a + 1]; e++) {
            uint32_t b = u.nb[e];
            if (b <= a) {
                continue;
            }
            uint64_t c = intersect_above(u.nb + u.off[a], u.off[a + 1] - u.off[a], u.nb + u.off[b],
                                         u.off[b + 1] - u.off[b], b, t);
            t[a] += (int64_t)c;
            t[b] += (int64_t)c;
            rc = galgo_tick(g, u.off[a + 1] - u.off[a] + u.off[b + 1] - u.off[b], err);
            if (rc != CTX_OK) {
                return rc;
            }
        }
    }
    *tri = t;
    return CTX_OK;
}

int galgo_jaccard(galgo_t *g, uint32_t a, double **sim, ctx_err_t *err) {
    und_t u;
    int rc = und_build(g, &u, err);
    double *s = galgo_alloc(g, g->n, sizeof(double));
    if (rc != CTX_OK || s == NULL) {
        return rc != CTX_OK ? rc : galgo_nomem(g, err);
    }
    uint64_t na = u.off[a + 1] - u.off[a];
    for (uint32_t b = 0; b < g->n; b++) {
        uint64_t nb = u.off[b + 1] - u.off[b];
        if (b == a || na + nb == 0) {
            continue;
        }
        uint64_t common = intersect_above(u.nb + u.off[a], na, u.nb + u.off[b], nb, -1, NULL);
        s[b] = (double)common / (double)(na + nb - common);
        rc = galgo_tick(g, na + nb, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    *sim = s;
    return CTX_OK;
}

/* ---------------------------------------------------------------- paths */

/* Steps u→v in a direction: the out list, the in list, or both merged ascending. */
typedef struct step_iter {
    const galgo_t *g;
    uint64_t i, ie, j, je;
} step_iter_t;

static void step_begin(const galgo_t *g, uint32_t u, store_dir_t dir, step_iter_t *it) {
    it->g = g;
    it->i = it->ie = it->j = it->je = 0;
    if (dir & STORE_DIR_OUT) {
        it->i = g->out_off[u];
        it->ie = g->out_off[u + 1];
    }
    if (dir & STORE_DIR_IN) {
        it->j = g->in_off[u];
        it->je = g->in_off[u + 1];
    }
}

static bool step_next(step_iter_t *it, uint32_t *v, double *w) {
    const galgo_t *g = it->g;
    if (it->i < it->ie && (it->j >= it->je || g->out_to[it->i] <= g->in_from[it->j])) {
        *v = g->out_to[it->i];
        *w = g->out_w[it->i++];
        return true;
    }
    if (it->j < it->je) {
        *v = g->in_from[it->j];
        *w = g->in_w[it->j++];
        return true;
    }
    return false;
}

static store_dir_t dir_reverse(store_dir_t d) {
    return d == STORE_DIR_OUT ? STORE_DIR_IN : (d == STORE_DIR_IN ? STORE_DIR_OUT : d);
}

typedef struct heap_item {
    double d;
    uint32_t v;
} heap_item_t;

typedef struct dfs_frame {
    step_iter_t it;
    uint32_t node;
    uint32_t last; /* last successor tried (UINT32_MAX: none): parallel edges give one step */
} dfs_frame_t;

typedef struct plist {
    galgo_path_t *p;
    uint64_t n, cap;
} plist_t;

/* Scratch shared by every Dijkstra run and walk of one query. */
typedef struct sp {
    galgo_t *g;
    const galgo_paths_query_t *q;
    double *dist;
    bool *done, *banned, *on_path;
    heap_item_t *heap;
    uint64_t nheap;
    uint32_t *ban_from, *ban_to; /* banned edges, path direction */
    uint64_t nban;
    dfs_frame_t *stack;
    uint32_t *nodes;
} sp_t;

static int sp_init(galgo_t *g, const galgo_paths_query_t *q, sp_t *s, ctx_err_t *err) {
    memset(s, 0, sizeof(*s));
    s->g = g;
    s->q = q;
    s->dist = galgo_alloc(g, g->n, sizeof(double));
    s->done = galgo_alloc(g, g->n, sizeof(bool));
    s->banned = galgo_alloc(g, g->n, sizeof(bool));
    s->on_path = galgo_alloc(g, g->n, sizeof(bool));
    s->heap = galgo_alloc(g, 2 * g->m + 2, sizeof(heap_item_t));
    s->stack = galgo_alloc(g, g->n, sizeof(dfs_frame_t));
    s->nodes = galgo_alloc(g, g->n, sizeof(uint32_t));
    if (s->dist == NULL || s->done == NULL || s->banned == NULL || s->on_path == NULL ||
        s->heap == NULL || s->stack == NULL || s->nodes == NULL) {
        return galgo_nomem(g, err);
    }
    if (q->weighted && g->min_weight < 0) {
        ctx_err_set(err, CTX_EBAD_PARAM, "weighted paths need non-negative edge weights");
        ctx_err_detail(err, "An edge of the graph searched has weight %g.", g->min_weight);
        ctx_err_hint(err, "Restrict kind => to edges with weights >= 0, or use weighted => false.");
        return err->code;
    }
    return CTX_OK;
}

static bool heap_less(const heap_item_t *a, const heap_item_t *b) {
    return a->d < b->d || (a->d == b->d && a->v < b->v);
}

static void heap_push(sp_t *s, double d, uint32_t v) {
    uint64_t i = s->nheap++;
    s->heap[i] = (heap_item_t){d, v};
    while (i > 0 && heap_less(&s->heap[i], &s->heap[(i - 1) / 2])) {
        heap_item_t t = s->heap[i];
        s->heap[i] = s->heap[(i - 1) / 2];
        s->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static heap_item_t heap_pop(sp_t *s) {
    heap_item_t top = s->heap[0];
    s->heap[0] = s->heap[--s->nheap];
    for (uint64_t i = 0;;) {
        uint64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->nheap && heap_less(&s->heap[l], &s->heap[m])) {
            m = l;
        }
        if (r < s->nheap && heap_less(&s->heap[r], &s->heap[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        heap_item_t t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
    return top;
}

static bool edge_banned(const sp_t *s, uint32_t u, uint32_t v) {
    for (uint64_t i = 0; i < s->nban; i++) {
        if (s->ban_from[i] == u && s->ban_to[i] == v) {
            return true;
        }
    }
    return false;
}

static double step_cost(const sp_t *s, double w) {
    return s->q->weighted ? w : 1.0;
}

/* dist[v] = least cost from v to the target (path direction), avoiding banned nodes and edges.
 * Each edge is pushed at most once (when it improves a distance), so the heap holds ≤ 2m + 1. */
static int sp_dijkstra(sp_t *s, ctx_err_t *err) {
    galgo_t *g = s->g;
    for (uint32_t v = 0; v < g->n; v++) {
        s->dist[v] = INFINITY;
        s->done[v] = false;
    }
    s->nheap = 0;
    s->dist[s->q->target] = 0;
    heap_push(s, 0, s->q->target);
    store_dir_t back = dir_reverse(s->q->dir);
    while (s->nheap > 0) {
        heap_item_t top = heap_pop(s);
        if (s->done[top.v]) {
            continue;
        }
        s->done[top.v] = true;
        step_iter_t it;
        step_begin(g, top.v, back, &it);
        uint32_t p;
        double w;
        while (step_next(&it, &p, &w)) {
            double nd = top.d + step_cost(s, w);
            if (!s->banned[p] && !s->done[p] && nd < s->dist[p] && !edge_banned(s, p, top.v)) {
                s->dist[p] = nd;
                heap_push(s, nd, p);
            }
        }
        int rc = galgo_tick(g, 1 + it.ie + it.je - it.i - it.j, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int plist_add(galgo_t *g, plist_t *l, const uint32_t *nodes, uint32_t len, double cost,
                     ctx_err_t *err) {
    if (l->n == l->cap) {
        uint64_t cap = l->cap == 0 ? 8 : l->cap * 2;
        galgo_path_t *p = galgo_alloc(g, cap, sizeof(galgo_path_t));
        if (p == NULL) {
            return galgo_nomem(g, err);
        }
        if (l->n > 0) {
            memcpy(p, l->p, l->n * sizeof(galgo_path_t));
        }
        l->p = p;
        l->cap = cap;
    }
    uint32_t *copy = galgo_alloc(g, len, sizeof(uint32_t));
    if (copy == NULL) {
        return galgo_nomem(g, err);
    }
    memcpy(copy, nodes, len * sizeof(uint32_t));
    l->p[l->n++] = (galgo_path_t){copy, len, cost};
    return CTX_OK;
}

/* The next step of the top frame along a least-cost edge, or UINT32_MAX when none is left. */
static uint32_t walk_next(sp_t *s, dfs_frame_t *f) {
    uint32_t v;
    double w;
    while (step_next(&f->it, &v, &w)) {
        if (v == f->last || s->on_path[v] || s->banned[v] || isinf(s->dist[v]) ||
            s->dist[v] + step_cost(s, w) != s->dist[f->node] || edge_banned(s, f->node, v)) {
            continue;
        }
        f->last = v;
        return v;
    }
    return UINT32_MAX;
}

/* Depth-first walk from `from` along least-cost edges (dist from sp_dijkstra), appending up to
 * max paths to out in lexicographic order; each path is prefix[0..nprefix) + the walk. */
static int sp_walk(sp_t *s, uint32_t from, const uint32_t *prefix, uint32_t nprefix,
                   double prefix_cost, uint64_t max, plist_t *out, ctx_err_t *err) {
    galgo_t *g = s->g;
    uint64_t found = 0;
    if (nprefix > 0) {
        memcpy(s->nodes, prefix, nprefix * sizeof(uint32_t));
    }
    uint32_t depth = 0;
    s->stack[0] = (dfs_frame_t){.node = from, .last = UINT32_MAX};
    step_begin(g, from, s->q->dir, &s->stack[0].it);
    s->on_path[from] = true;
    s->nodes[nprefix] = from;
    int rc = CTX_OK;
    if (from == s->q->target) {
        rc = plist_add(g, out, s->nodes, nprefix + 1, prefix_cost + s->dist[from], err);
        found = max;
    }
    while (rc == CTX_OK && found < max) {
        dfs_frame_t *f = &s->stack[depth];
        uint32_t v = walk_next(s, f);
        rc = galgo_tick(g, 1, err);
        if (rc != CTX_OK) {
            break;
        }
        if (v == UINT32_MAX) {
            s->on_path[f->node] = false;
            if (depth == 0) {
                break;
            }
            depth--;
        } else if (v == s->q->target) {
            s->nodes[nprefix + depth + 1] = v;
            rc = plist_add(g, out, s->nodes, nprefix + depth + 2, prefix_cost + s->dist[from], err);
            found++;
        } else {
            depth++;
            s->stack[depth] = (dfs_frame_t){.node = v, .last = UINT32_MAX};
            step_begin(g, v, s->q->dir, &s->stack[depth].it);
            s->on_path[v] = true;
            s->nodes[nprefix + depth] = v;
        }
    }
    for (uint32_t i = 0; i <= depth; i++) {
        s->on_path[s->stack[i].node] = false;
    }
    return rc;
}

int galgo_shortest_paths(galgo_t *g, const galgo_paths_query_t *q, galgo_path_t **paths,
                         uint64_t *count, ctx_err_t *err) {
    sp_t s;
    plist_t out = {0};
    *paths = NULL;
    *count = 0;
    int rc = sp_init(g, q, &s, err);
    if (rc == CTX_OK) {
        rc = sp_dijkstra(&s, err);
    }
    if (rc == CTX_OK && !isinf(s.dist[q->start])) {
        rc = sp_walk(&s, q->start, NULL, 0, 0, q->max_paths, &out, err);
    }
    *paths = out.p;
    *count = rc == CTX_OK ? out.n : 0;
    return rc;
}

/* Least cost of a step u→v (parallel edges: the cheapest). */
static double edge_cost(const sp_t *s, uint32_t u, uint32_t v) {
    step_iter_t it;
    step_begin(s->g, u, s->q->dir, &it);
    uint32_t x;
    double w, best = INFINITY;
    while (step_next(&it, &x, &w)) {
        if (x == v && step_cost(s, w) < best) {
            best = step_cost(s, w);
        }
    }
    return best;
}

static int path_cmp(const galgo_path_t *a, const galgo_path_t *b) {
    if (a->cost != b->cost) {
        return a->cost < b->cost ? -1 : 1;
    }
    for (uint32_t i = 0; i < a->len && i < b->len; i++) {
        if (a->nodes[i] != b->nodes[i]) {
            return a->nodes[i] < b->nodes[i] ? -1 : 1;
        }
    }
    return (a->len > b->len) - (a->len < b->len);
}

static bool plist_has(const plist_t *l, const galgo_path_t *p) {
    for (uint64_t i = 0; i < l->n; i++) {
        if (l->p[i].len == p->len && memcmp(l->p[i].nodes, p->nodes, p->len * 4) == 0) {
            return true;
        }
    }
    return false;
}

/* Yen's spur step at position i of the last accepted path: candidates go to b. */
static int yen_spur(sp_t *s, const plist_t *a, uint32_t i, double root_cost, plist_t *b,
                    ctx_err_t *err) {
    const galgo_path_t *prev = &a->p[a->n - 1];
    uint32_t spur = prev->nodes[i];
    s->nban = 0;
    for (uint64_t k = 0; k < a->n; k++) {
        const galgo_path_t *p = &a->p[k];
        if (p->len > i + 1 && memcmp(p->nodes, prev->nodes, (i + 1) * 4) == 0) {
            s->ban_from[s->nban] = p->nodes[i];
            s->ban_to[s->nban++] = p->nodes[i + 1];
        }
    }
    for (uint32_t j = 0; j < i; j++) {
        s->banned[prev->nodes[j]] = true;
    }
    int rc = sp_dijkstra(s, err);
    plist_t spur_path = {0};
    if (rc == CTX_OK && !isinf(s->dist[spur])) {
        rc = sp_walk(s, spur, prev->nodes, i, root_cost, 1, &spur_path, err);
    }
    for (uint32_t j = 0; j < i; j++) {
        s->banned[prev->nodes[j]] = false;
    }
    if (rc == CTX_OK && spur_path.n == 1 && !plist_has(b, &spur_path.p[0])) {
        rc = plist_add(s->g, b, spur_path.p[0].nodes, spur_path.p[0].len, spur_path.p[0].cost, err);
    }
    return rc;
}

int galgo_k_shortest_paths(galgo_t *g, const galgo_paths_query_t *q, galgo_path_t **paths,
                           uint64_t *count, ctx_err_t *err) {
    sp_t s;
    plist_t a = {0}, b = {0};
    *paths = NULL;
    *count = 0;
    int rc = sp_init(g, q, &s, err);
    s.ban_from = galgo_alloc(g, q->max_paths + 1, sizeof(uint32_t));
    s.ban_to = galgo_alloc(g, q->max_paths + 1, sizeof(uint32_t));
    if (rc == CTX_OK && (s.ban_from == NULL || s.ban_to == NULL)) {
        rc = galgo_nomem(g, err);
    }
    if (rc == CTX_OK) {
        rc = sp_dijkstra(&s, err);
    }
    if (rc == CTX_OK && !isinf(s.dist[q->start])) {
        rc = sp_walk(&s, q->start, NULL, 0, 0, 1, &a, err);
    }
    while (rc == CTX_OK && a.n > 0 && a.n < q->max_paths) {
        const galgo_path_t *prev = &a.p[a.n - 1];
        double root_cost = 0;
        for (uint32_t i = 0; rc == CTX_OK && i + 1 < prev->len; i++) {
            rc = yen_spur(&s, &a, i, root_cost, &b, err);
            root_cost += edge_cost(&s, prev->nodes[i], prev->nodes[i + 1]);
            prev = &a.p[a.n - 1];
        }
        uint64_t best = UINT64_MAX;
        for (uint64_t k = 0; k < b.n; k++) {
            if (!plist_has(&a, &b.p[k]) &&
                (best == UINT64_MAX || path_cmp(&b.p[k], &b.p[best]) < 0)) {
                best = k;
            }
        }
        if (rc != CTX_OK || best == UINT64_MAX) {
            break;
        }
        rc = plist_add(g, &a, b.p[best].nodes, b.p[best].len, b.p[best].cost, err);
        b.p[best] = b.p[--b.n];
    }
    *paths = a.p;
    *count = rc == CTX_OK ? a.n : 0;
    return rc;
}

/*
 * graph_algo.h — whole-graph algorithms over a compact snapshot of the store's graph: weighted
 * and multi-path shortest paths, PageRank, weak and strong components, label-propagation
 * communities, degree and betweenness centrality, triangle counts, Jaccard similarity.
 *
 * galgo_build() copies the graph (every node, and the edges of the given kinds) into compressed
 * adjacency arrays indexed by node position: positions follow ascending node id, neighbour lists
 * ascending (neighbour position, kind). Every algorithm walks those arrays in that fixed order, so
 * results are deterministic and ties go to the lower id. All memory comes from the caller's arena
 * with arena_try_alloc (the statement's statement_mem_limit: 53200 when it is reached); the cancel
 * flag is polled every GALGO_CANCEL_POLL units of work (57014). Cost: O(nodes + edges) to build,
 * then per algorithm as documented below.
 *
 * Directed algorithms (PageRank, strong components, betweenness, degree) see the edges as stored,
 * parallel edges counted as networkx counts them on a MultiDiGraph (PageRank and degree with
 * multiplicity, betweenness over the simple graph). Undirected ones (weak components,
 * communities, triangles, Jaccard) see each pair of distinct adjacent nodes once.
 */
#ifndef CTX_GRAPH_ALGO_H
#define CTX_GRAPH_ALGO_H

#include "store.h"

#include <stdatomic.h>

enum {
    GALGO_CANCEL_POLL = 1 << 16,
    GALGO_ITERATIONS_MAX = 100000,
    GALGO_K_MAX = 10000 /* k_shortest_paths */
};

typedef struct galgo {
    uint32_t n;        /* nodes */
    int64_t *ids;      /* [n] ascending node ids */
    uint64_t m;        /* directed edges in the snapshot (parallel edges and self-loops kept) */
    uint64_t *out_off; /* [n+1] into out_to / out_w */
    uint32_t *out_to;
    double *out_w;
    uint64_t *in_off; /* [n+1] into in_from / in_w */
    uint32_t *in_from;
    double *in_w;
    double min_weight; /* smallest edge weight (0 when there are no edges) */
    arena_t *arena;
    const atomic_bool *cancel;
    uint64_t work; /* units of work since build, for the cancel poll */
} galgo_t;

/* Snapshot of every node and the edges whose kind is in kinds[0..nkinds) (nkinds 0: every
 * kind). cancel may be NULL. */
int galgo_build(const store_t *store, const int32_t *kinds, uint32_t nkinds, arena_t *arena,
                const atomic_bool *cancel, galgo_t *g, ctx_err_t *err);
/* Position of a node id, or -1 when it is not a node. */
int64_t galgo_index(const galgo_t *g, int64_t id);

/* PageRank by power iteration, exactly `iterations` rounds from the uniform vector; dangling
 * nodes spread their rank uniformly (networkx's definition). rank[n] sums to 1. */
int galgo_pagerank(galgo_t *g, double damping, uint32_t iterations, double **rank, ctx_err_t *err);
/* Weak (undirected) and strong components; comp[i] = the smallest node id in i's component.
 * Strong components: iterative Tarjan, O(n + m). */
int galgo_wcc(galgo_t *g, int64_t **comp, ctx_err_t *err);
int galgo_scc(galgo_t *g, int64_t **comp, ctx_err_t *err);
/* Asynchronous label propagation over the undirected simple graph, nodes visited in ascending
 * id: each takes the most frequent label among its neighbours, keeping its own on a tie when
 * its own is among the most frequent, else the smallest. Stops when a round changes nothing or
 * after `iterations` rounds; comm[i] = the smallest node id carrying i's final label. */
int galgo_communities(galgo_t *g, uint32_t iterations, int64_t **comm, ctx_err_t *err);
/* Brandes' betweenness over the directed simple graph, normalised as networkx does
 * (1 / ((n-1)(n-2))). samples 0: exact, every source; else `samples` distinct sources drawn by
 * a splitmix64 generator seeded with seed, scaled by n / samples. O(sources × (n + m)). */
int galgo_betweenness(galgo_t *g, uint32_t samples, uint64_t seed, double **bc, ctx_err_t *err);
/* Triangles through each node in the undirected simple graph (self-loops ignored). */
int galgo_triangles(galgo_t *g, int64_t **tri, ctx_err_t *err);
/* Jaccard similarity of node u's undirected neighbour set (self excluded) with every node's:
 * sim[v] = |N(u) ∩ N(v)| / |N(u) ∪ N(v)| (0 when the union is empty); sim[u] = 0. */
int galgo_jaccard(galgo_t *g, uint32_t u, double **sim, ctx_err_t *err);

/* ---------------------------------------------------------------- paths */

typedef struct galgo_path {
    uint32_t *nodes; /* positions, nodes[0] = start, nodes[len-1] = target */
    uint32_t len;
    double cost;
} galgo_path_t;

typedef struct galgo_paths_query {
    uint32_t start, target;
    store_dir_t dir; /* STORE_DIR_BOTH: edges in either direction */
    bool weighted;   /* edge weights (refused when negative: 22023), else 1 per edge */
    uint64_t max_paths;
} galgo_paths_query_t;

/* The least-cost simple paths from start to target in ascending lexicographic order of their
 * id sequences, at most max_paths of them (all_shortest_paths; max_paths 1 is shortest_path).
 * Dijkstra with a binary heap from the target, then a depth-first walk from the start along
 * edges whose cost matches the distance labels exactly. *count = 0 when unreachable. */
int galgo_shortest_paths(galgo_t *g, const galgo_paths_query_t *q, galgo_path_t **paths,
                         uint64_t *count, ctx_err_t *err);
/* Yen's k shortest simple paths, ascending cost, ties by lexicographic id sequence; up to
 * q->max_paths (≤ GALGO_K_MAX) paths. */
int galgo_k_shortest_paths(galgo_t *g, const galgo_paths_query_t *q, galgo_path_t **paths,
                           uint64_t *count, ctx_err_t *err);

#endif

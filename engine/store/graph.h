/*
 * graph.h — traversals over the store: BFS, DFS, shortest path, with depth and visit limits.
 *
 * Cost is proportional to what is visited (a hash set of visited ids sized to the frontier,
 * never to the table). Deterministic: adjacency is walked in ascending (neighbour id, kind)
 * order. A cancel flag, when given, is polled every GRAPH_CANCEL_POLL visits.
 */
#ifndef CTX_GRAPH_H
#define CTX_GRAPH_H

#include "store.h"

#include <stdatomic.h>

enum { GRAPH_DEPTH_MAX = 1000, GRAPH_CANCEL_POLL = 4096 };

typedef struct graph_visit {
    int64_t id;
    int32_t depth;  /* hops from start (start itself is depth 0 and is not reported) */
    int64_t parent; /* node it was reached from */
} graph_visit_t;

typedef struct graph_query {
    int64_t start;
    int32_t depth_max; /* 0..GRAPH_DEPTH_MAX */
    int32_t kind;      /* STORE_KIND_ANY or a kind id */
    store_dir_t dir;
    uint64_t visits_max;       /* CTX_ELIMIT (54000) when more nodes would be reported; 0 = none */
    const atomic_bool *cancel; /* may be NULL; CTX_ECANCELED when it becomes true */
} graph_query_t;

/* Breadth-first: every node reachable within depth_max hops, start excluded, in BFS order,
 * depth = shortest hop count. A missing start node yields zero rows (not an error). Output array
 * from arena. */
int graph_bfs(const store_t *store, const graph_query_t *query, arena_t *arena, graph_visit_t **out,
              size_t *count, ctx_err_t *err);
/* Depth-first preorder (iterative, explicit stack), start excluded, each node once; depth is the
 * depth along the DFS tree. */
int graph_dfs(const store_t *store, const graph_query_t *query, arena_t *arena, graph_visit_t **out,
              size_t *count, ctx_err_t *err);
/* Shortest path from query->start to target within depth_max hops: fewest hops, and among
 * those the lexicographically smallest id sequence. path[0] = start, path[len-1] = target;
 * *len = 0 when unreachable (or either node missing). start == target → path of one node. */
int graph_shortest_path(const store_t *store, const graph_query_t *query, int64_t target,
                        arena_t *arena, int64_t **path, size_t *len, ctx_err_t *err);

#endif

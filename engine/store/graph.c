/*
 * graph.c — BFS, DFS and shortest path over the store's adjacency lists.
 *
 * All three are iterative. The visited set is a small open-addressing hash (id → depth) that
 * starts at 64 buckets and doubles with what is actually visited, so a 2-hop query on a huge
 * graph costs what it touches, never O(table). Neighbours come from store_adj_next in ascending
 * (neighbour id, kind) order (out-edges before in-edges for BOTH), which makes every result
 * deterministic.
 *
 * Shortest path: a BFS backwards from the target (reverse direction) labels nodes with their hop
 * distance to the target and stops as soon as the start is labelled (at distance D ≤ depth_max);
 * every node at distance < D is labelled by then. Walking forward from the start, each step takes
 * the smallest neighbour id whose distance is one less, which yields the fewest hops and, among
 * those, the lexicographically smallest id sequence.
 *
 * Work is bounded by depth_max (≤ GRAPH_DEPTH_MAX), visits_max and the cancel flag, which is
 * polled every GRAPH_CANCEL_POLL edges examined. Scratch (visited set, visit list, queue, DFS
 * stack) is malloc'ed through the fallible allocator, and the result is copied into the
 * statement's arena with arena_try_alloc: when memory runs out the traversal fails with 53200,
 * having freed its scratch.
 */
#include "graph.h"

#include "store_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- visited set */

typedef struct visit_slot {
    int64_t id;
    int32_t depth;
    int32_t used;
} visit_slot_t;

typedef struct visit_set {
    visit_slot_t *slots;
    size_t mask;
    size_t count;
} visit_set_t;

static size_t visit_hash(int64_t id) {
    uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x ^ (x >> 32));
}

/* 53200 for traversal scratch that could not grow. */
static int graph_oom(ctx_err_t *err, const char *what) {
    ctx_err_set(err, CTX_ENOMEM, "out of memory");
    ctx_err_detail(err, "Failed to grow the traversal's %s.", what);
    return CTX_ENOMEM;
}

static int visit_init(visit_set_t *set, ctx_err_t *err) {
    set->mask = 63;
    set->count = 0;
    set->slots = ctx_try_calloc(set->mask + 1, sizeof(visit_slot_t));
    return set->slots != NULL ? CTX_OK : graph_oom(err, "visited set");
}

static void visit_free(visit_set_t *set) {
    free(set->slots);
    set->slots = NULL;
}

static visit_slot_t *visit_lookup(const visit_set_t *set, int64_t id) {
    for (size_t i = visit_hash(id) & set->mask;; i = (i + 1) & set->mask) {
        visit_slot_t *s = &set->slots[i];
        if (!s->used || s->id == id) {
            return s;
        }
    }
}

/* Depth of a visited id, or -1. */
static int32_t visit_get(const visit_set_t *set, int64_t id) {
    const visit_slot_t *s = visit_lookup(set, id);
    return s->used ? s->depth : -1;
}

/* Adds id: CTX_OK, 1 when it was already present, or CTX_ENOMEM (set unchanged). */
static int visit_add(visit_set_t *set, int64_t id, int32_t depth, ctx_err_t *err) {
    if ((set->count + 1) * 2 > set->mask + 1) {
        visit_set_t grown = {.mask = set->mask * 2 + 1, .count = set->count};
        grown.slots = ctx_try_calloc(grown.mask + 1, sizeof(visit_slot_t));
        if (grown.slots == NULL) {
            return graph_oom(err, "visited set");
        }
        for (size_t i = 0; i <= set->mask; i++) {
            if (set->slots[i].used) {
                *visit_lookup(&grown, set->slots[i].id) = set->slots[i];
            }
        }
        free(set->slots);
        *set = grown;
    }
    visit_slot_t *s = visit_lookup(set, id);
    if (s->used) {
        return 1;
    }
    *s = (visit_slot_t){.id = id, .depth = depth, .used = 1};
    set->count++;
    return CTX_OK;
}

/* ---------------------------------------------------------------- common checks */

typedef struct visit_list {
    graph_visit_t *items;
    size_t count;
    size_t cap;
} visit_list_t;

static int visit_list_push(visit_list_t *list, graph_visit_t visit, ctx_err_t *err) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        graph_visit_t *items = ctx_try_realloc(list->items, cap * sizeof(graph_visit_t));
        if (items == NULL) {
            return graph_oom(err, "visit list");
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = visit;
    return CTX_OK;
}

static int check_query(const graph_query_t *query, ctx_err_t *err) {
    if (query->depth_max < 0 || query->depth_max > GRAPH_DEPTH_MAX) {
        ctx_err_set(err, CTX_EBAD_PARAM, "depth must be between 0 and %d", GRAPH_DEPTH_MAX);
        return CTX_EBAD_PARAM;
    }
    if (query->dir < STORE_DIR_OUT || query->dir > STORE_DIR_BOTH) {
        ctx_err_set(err, CTX_EBAD_PARAM, "invalid traversal direction %d", (int)query->dir);
        return CTX_EBAD_PARAM;
    }
    return CTX_OK;
}

/* Counts one examined edge; CTX_ECANCELED when the flag is set at a poll point. */
static int poll_cancel(const graph_query_t *query, uint64_t *examined, ctx_err_t *err) {
    (*examined)++;
    if ((*examined % GRAPH_CANCEL_POLL) == 0 && query->cancel != NULL &&
        atomic_load_explicit(query->cancel, memory_order_relaxed)) {
        ctx_err_set(err, CTX_ECANCELED, "canceling statement due to user request");
        return CTX_ECANCELED;
    }
    return CTX_OK;
}

static int too_many_visits(const graph_query_t *query, ctx_err_t *err) {
    ctx_err_set(err, CTX_ELIMIT, "traversal visits more than %" PRIu64 " nodes", query->visits_max);
    return CTX_ELIMIT;
}

/* Copies the list into arena memory (NULL for zero rows) and frees it; 53200 when the arena
 * refuses (its limit, or malloc). */
static int visit_list_finish(visit_list_t *list, arena_t *arena, graph_visit_t **out, size_t *count,
                             ctx_err_t *err) {
    int rc = CTX_OK;
    *count = 0;
    *out = NULL;
    if (list->count > 0) {
        *out = arena_try_alloc(arena, list->count * sizeof(graph_visit_t));
        if (*out == NULL) {
            rc = arena_limit_error(arena, "statement_mem_limit", err);
        } else {
            memcpy(*out, list->items, list->count * sizeof(graph_visit_t));
            *count = list->count;
        }
    }
    free(list->items);
    list->items = NULL;
    return rc;
}

/* ---------------------------------------------------------------- BFS */

int graph_bfs(const store_t *store, const graph_query_t *query, arena_t *arena, graph_visit_t **out,
              size_t *count, ctx_err_t *err) {
    CTX_ASSERT(store != NULL && query != NULL && out != NULL && count != NULL);
    *out = NULL;
    *count = 0;
    int rc = check_query(query, err);
    if (rc != CTX_OK || !store_node_exists(store, query->start)) {
        return rc;
    }
    visit_set_t seen;
    if (visit_init(&seen, err) != CTX_OK) {
        return CTX_ENOMEM;
    }
    visit_list_t list = {0};
    uint64_t examined = 0;
    visit_add(&seen, query->start, 0, err); /* the first of 64 buckets: never grows */
    /* Queue = start, then list.items in order (the output doubles as the BFS queue). */
    for (size_t head = 0; head <= list.count; head++) {
        int64_t id = head == 0 ? query->start : list.items[head - 1].id;
        int32_t depth = head == 0 ? 0 : list.items[head - 1].depth;
        if (depth >= query->depth_max) {
            continue;
        }
        store_adj_iter_t it;
        edge_view_t edge;
        int64_t next;
        store_adj_begin(store, id, query->dir, query->kind, &it);
        while (store_adj_next(&it, &edge, &next)) {
            rc = poll_cancel(query, &examined, err);
            if (rc != CTX_OK) {
                goto fail;
            }
            rc = visit_add(&seen, next, depth + 1, err);
            if (rc != CTX_OK) {
                if (rc < 0) {
                    goto fail;
                }
                rc = CTX_OK;
                continue;
            }
            if (query->visits_max != 0 && list.count >= query->visits_max) {
                rc = too_many_visits(query, err);
                goto fail;
            }
            rc = visit_list_push(
                &list, (graph_visit_t){.id = next, .depth = depth + 1, .parent = id}, err);
            if (rc != CTX_OK) {
                goto fail;
            }
        }
    }
    visit_free(&seen);
    return visit_list_finish(&list, arena, out, count, err);
fail:
    visit_free(&seen);
    free(list.items);
    return rc;
}

/* ---------------------------------------------------------------- DFS */

typedef struct dfs_frame {
    store_adj_iter_t it;
    int64_t id;
    int32_t depth;
} dfs_frame_t;

int graph_dfs(const store_t *store, const graph_query_t *query, arena_t *arena, graph_visit_t **out,
              size_t *count, ctx_err_t *err) {
    CTX_ASSERT(store != NULL && query != NULL && out != NULL && count != NULL);
    *out = NULL;
    *count = 0;
    int rc = check_query(query, err);
    if (rc != CTX_OK || !store_node_exists(store, query->start)) {
        return rc;
    }
    visit_set_t seen;
    if (visit_init(&seen, err) != CTX_OK) {
        return CTX_ENOMEM;
    }
    visit_list_t list = {0};
    uint64_t examined = 0;
    size_t top = 0;
    /* Depth never exceeds depth_max, so the stack has at most depth_max + 1 frames. */
    dfs_frame_t *stack = ctx_try_malloc(((size_t)query->depth_max + 1) * sizeof(dfs_frame_t));
    if (stack == NULL) {
        rc = graph_oom(err, "stack");
        goto fail;
    }
    visit_add(&seen, query->start, 0, err); /* the first of 64 buckets: never grows */
    stack[top] = (dfs_frame_t){.id = query->start, .depth = 0};
    store_adj_begin(store, query->start, query->dir, query->kind, &stack[top].it);
    top++;
    while (top > 0) {
        dfs_frame_t *f = &stack[top - 1];
        edge_view_t edge;
        int64_t next;
        if (f->depth >= query->depth_max || !store_adj_next(&f->it, &edge, &next)) {
            top--;
            continue;
        }
        rc = poll_cancel(query, &examined, err);
        if (rc != CTX_OK) {
            goto fail;
        }
        rc = visit_add(&seen, next, f->depth + 1, err);
        if (rc != CTX_OK) {
            if (rc < 0) {
                goto fail;
            }
            rc = CTX_OK;
            continue;
        }
        if (query->visits_max != 0 && list.count >= query->visits_max) {
            rc = too_many_visits(query, err);
            goto fail;
        }
        rc = visit_list_push(
            &list, (graph_visit_t){.id = next, .depth = f->depth + 1, .parent = f->id}, err);
        if (rc != CTX_OK) {
            goto fail;
        }
        CTX_ASSERT(top <= (size_t)query->depth_max);
        stack[top] = (dfs_frame_t){.id = next, .depth = f->depth + 1};
        store_adj_begin(store, next, query->dir, query->kind, &stack[top].it);
        top++;
    }
    free(stack);
    visit_free(&seen);
    return visit_list_finish(&list, arena, out, count, err);
fail:
    free(stack);
    visit_free(&seen);
    free(list.items);
    return rc;
}

/* ---------------------------------------------------------------- shortest path */

static store_dir_t reverse_dir(store_dir_t dir) {
    return dir == STORE_DIR_OUT ? STORE_DIR_IN : dir == STORE_DIR_IN ? STORE_DIR_OUT : dir;
}

/* Backward BFS from target labelling distances in `dist` until start is labelled. Returns
 * start's distance, -1 when not within depth_max, or a negative error code via *rc. */
static int32_t distances_to_target(const store_t *store, const graph_query_t *query, int64_t target,
                                   visit_set_t *dist, int *rc, ctx_err_t *err) {
    int64_t *queue = ctx_try_malloc(64 * sizeof(int64_t));
    if (queue == NULL) {
        *rc = graph_oom(err, "queue");
        return -1;
    }
    size_t cap = 64;
    size_t len = 1;
    uint64_t examined = 0;
    int32_t found = -1;
    queue[0] = target;
    visit_add(dist, target, 0, err); /* the first of 64 buckets: never grows */
    for (size_t head = 0; head < len && found < 0; head++) {
        int32_t depth = visit_get(dist, queue[head]);
        if (depth >= query->depth_max) {
            break; /* BFS order: every later node is at least this deep */
        }
        store_adj_iter_t it;
        edge_view_t edge;
        int64_t next;
        store_adj_begin(store, queue[head], reverse_dir(query->dir), query->kind, &it);
        while (store_adj_next(&it, &edge, &next)) {
            *rc = poll_cancel(query, &examined, err);
            if (*rc != CTX_OK) {
                goto done;
            }
            *rc = visit_add(dist, next, depth + 1, err);
            if (*rc != CTX_OK) {
                if (*rc < 0) {
                    goto done;
                }
                *rc = CTX_OK;
                continue;
            }
            if (next == query->start) {
                found = depth + 1;
                break;
            }
            if (len == cap) {
                int64_t *grown = ctx_try_realloc(queue, cap * 2 * sizeof(int64_t));
                if (grown == NULL) {
                    *rc = graph_oom(err, "queue");
                    goto done;
                }
                queue = grown;
                cap *= 2;
            }
            queue[len++] = next;
        }
    }
done:
    free(queue);
    return *rc == CTX_OK ? found : -1;
}

int graph_shortest_path(const store_t *store, const graph_query_t *query, int64_t target,
                        arena_t *arena, int64_t **path, size_t *len, ctx_err_t *err) {
    CTX_ASSERT(store != NULL && query != NULL && path != NULL && len != NULL);
    *path = NULL;
    *len = 0;
    int rc = check_query(query, err);
    if (rc != CTX_OK || !store_node_exists(store, query->start) ||
        !store_node_exists(store, target)) {
        return rc;
    }
    if (query->start == target) {
        *path = arena_alloc(arena, sizeof(int64_t));
        (*path)[0] = target;
        *len = 1;
        return CTX_OK;
    }
    visit_set_t dist;
    if (visit_init(&dist, err) != CTX_OK) {
        return CTX_ENOMEM;
    }
    int32_t hops = distances_to_target(store, query, target, &dist, &rc, err);
    if (rc != CTX_OK || hops < 0) {
        goto done;
    }
    int64_t *ids = arena_alloc(arena, ((size_t)hops + 1) * sizeof(int64_t)); /* ≤ depth_max */
    ids[0] = query->start;
    for (int32_t step = 1; step <= hops; step++) {
        int32_t want = hops - step;
        bool have = false;
        int64_t best = 0;
        store_adj_iter_t it;
        edge_view_t edge;
        int64_t next;
        store_adj_begin(store, ids[step - 1], query->dir, query->kind, &it);
        while (store_adj_next(&it, &edge, &next)) {
            if ((!have || next < best) && visit_get(&dist, next) == want) {
                best = next;
                have = true;
            }
        }
        CTX_ASSERT(have);
        ids[step] = best;
    }
    CTX_ASSERT(ids[hops] == target);
    *path = ids;
    *len = (size_t)hops + 1;
done:
    visit_free(&dist);
    return rc;
}

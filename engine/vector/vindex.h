/*
 * vindex.h — "the vector index of the database": an HNSW index (engine/vector/hnsw.h) over the
 * store's COMMITTED vectors, kept current through the SQL layer's commit hook, and the reader
 * side that turns index hits into exact, transaction-correct candidates.
 *
 * Why committed vectors only: sessions apply their uncommitted writes to the store speculatively
 * and roll them back when another session runs (sql/session.c); an index that followed those
 * applies would need undo of graph edits. Instead vindex_applied() runs for every batch that
 * becomes permanent, in commit order (sql_commit_hooks_t.applied), and readers add the ids of
 * their own session's uncommitted vector writes (its pending batch) as extra candidates. Every
 * candidate is re-read from the store and re-ranked with the exact pgvector distance, so ids the
 * store no longer has (deleted, or another session's rolled-back work) drop out and replaced
 * vectors rank by their current value. Replicas that apply the same batches build identical
 * indexes (hnsw.h: determinism).
 */
#ifndef CTX_VINDEX_H
#define CTX_VINDEX_H

#include "arena.h"
#include "command.h"
#include "expr.h"
#include "hnsw.h"
#include "store.h"

typedef struct vindex vindex_t;

/* Creates the index for store (config->dims must equal store_vector_dims) and inserts the
 * vectors the store already holds (in scan order). The store must outlive the index. Errors as
 * hnsw_create, and CTX_EDATA when the dimensions disagree. */
int vindex_create(const store_t *store, const hnsw_config_t *config, vindex_t **out,
                  ctx_err_t *err);
/* Same, adopting an index loaded from a snapshot (hnsw_load) instead of building one; takes
 * ownership of index. */
vindex_t *vindex_adopt(const store_t *store, hnsw_t *index);
void vindex_destroy(vindex_t *vi);

const hnsw_t *vindex_hnsw(const vindex_t *vi);
metric_t vindex_metric(const vindex_t *vi);

/* Figures for monitoring, readable from any thread while the owner updates and searches the
 * index: searches (vindex_candidates calls since creation) and the vectors the index held after
 * its last update. */
typedef struct vindex_stats {
    uint64_t searches;
    uint64_t vectors;
} vindex_stats_t;
void vindex_stats(const vindex_t *vi, vindex_stats_t *out);

/* The commit hook (sql_commit_hooks_t.applied, ctx = the vindex): for every vector id the batch
 * touches (vector insert/upsert/delete, node delete), in op order, makes the index agree with
 * the store's now-committed state: insert or replace when the store has the vector, delete when
 * it does not. Never fails: an update refused for want of memory is retried at the next call,
 * and the index is stale meanwhile (vindex.c). */
void vindex_applied(void *ctx, const cmd_batch_t *batch);
/* True while some committed change is not in the index (vindex_applied ran out of memory);
 * vindex_candidates then returns every allowed id / every vector, so answers stay exact. */
bool vindex_stale(const vindex_t *vi);

/* Candidate ids for "the k nearest to query" under a metric: the index's hits (ef, optional
 * filter) plus the ids of vector writes in `pending` (a session's uncommitted batch; may be
 * NULL) that pass the filter, de-duplicated, restricted to ids the store holds now, and ordered
 * by the store's scan order (so exact re-ranking breaks ties as a full scan would). Callers
 * compute exact distances over the candidates. *ids comes from arena. stats may be NULL.
 * Errors: CTX_EDATA on a dimension mismatch ("different vector dimensions …"). */
int vindex_candidates(const vindex_t *vi, const float *query, uint32_t dim, uint32_t k, uint32_t ef,
                      const hnsw_filter_t *filter, const cmd_batch_t *pending, arena_t *arena,
                      int64_t **ids, uint64_t *count, hnsw_search_stats_t *stats, ctx_err_t *err);

/* For a distance key `embedding <op> q` or `q <op> embedding` (embedding = input column 1 of a
 * vectors scan, q free of column references: a constant, $n, or casts of them): the q side, to be
 * evaluated once per statement. NULL when the key has another shape. */
const expr_t *vindex_query_side(const expr_t *key);
/* Same with the embedding at input column `column` (e.g. the vectors side of a join). */
const expr_t *vindex_query_side_at(const expr_t *key, int column);

/* True for a setting's text that means on (on, true, yes, 1; case-insensitive). */
bool vindex_setting_on(const char *value);

/* Text for EXPLAIN of a search path ("hnsw", "filtered hnsw", "exact scan of allowed ids"). */
const char *vindex_path_name(hnsw_path_t path);

#endif

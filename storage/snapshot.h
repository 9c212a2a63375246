/*
 * snapshot.h — Iceberg-style snapshots of the store (DESIGN §6): immutable column files plus one
 * metadata JSON per snapshot naming them, and `metadata/current` naming the newest complete one.
 *
 * Tree under a snapshot root (the data directory's snapshots/; the object store mirrors it):
 *   metadata/snapshot-000007.json   {snapshot_id, parent_id, raft_index, raft_term, timestamp,
 *                                    format_version, files:[{path, kind, rows, bytes, crc32c,
 *                                    codec}], counts:{nodes, edges, vectors},
 *                                    config:{dims, metric, hnsw}}
 *   metadata/current                "snapshot-000007.json\n", replaced atomically (rename)
 *   nodes/nodes-000007-0.col        slot, id, label (id into labels), props
 *   nodes/labels-000007-0.col       the label dictionary in id order
 *   edges/edges-000007-0.col        source, target, kind (id into kinds), weight; edge-scan order
 *   edges/kinds-000007-0.col        the edge kind dictionary in id order
 *   vectors/vec-000007-0.col        slot, id, embedding
 *   hnsw/hnsw-000007-0.idx          the vector index (see snap_index_hook_t)
 * Slots are recorded so that a restored store is slot-for-slot the saved one (store.h).
 * Nothing here reads the clock: the caller passes the timestamp.
 */
#ifndef CTX_SNAPSHOT_H
#define CTX_SNAPSHOT_H

#include "buf.h"
#include "colfile.h"
#include "ctx.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

enum {
    SNAP_FORMAT_VERSION = 1,
    SNAP_FILES_MAX = 16,
    SNAP_PATH_BYTES = 128, /* relative path inside the root */
    SNAP_ID_MAX = 999999999,
};

typedef struct snap_file {
    char path[SNAP_PATH_BYTES]; /* relative to the root, e.g. "nodes/nodes-000007-0.col" */
    char kind[16];              /* col_kind_name(): nodes, labels, edges, kinds, vectors, hnsw */
    uint64_t rows;
    uint64_t bytes;
    uint32_t crc32c; /* of the whole file */
    char codec[8];
} snap_file_t;

typedef struct snap_meta {
    uint64_t snapshot_id;
    uint64_t parent_id;  /* 0 = none */
    uint64_t raft_index; /* the last WAL record the snapshot contains */
    uint64_t raft_term;
    int64_t timestamp_ms; /* wall clock, milliseconds since the Unix epoch */
    uint32_t format_version;
    snap_file_t files[SNAP_FILES_MAX];
    int nfiles;
    uint64_t nodes, edges, vectors;
    uint32_t dims;
    char metric[16]; /* "cosine" */
} snap_meta_t;

/* The vector index plugs in here: save appends the serialized index of `store` to out and
 * reports its entries (rows); the writer stores it as a file of kind "hnsw", compressed with the
 * snapshot codec after a byte shuffle (storage/blobcodec.h; as it is with codec none). load gets
 * the decoded bytes back after the store is restored (files written before compression existed
 * are taken as they are). Both run in the snapshot writer / loader; either may be NULL. */
typedef struct snap_index_hook {
    int (*save)(void *ctx, const store_t *store, buf_t *out, uint64_t *rows, ctx_err_t *err);
    int (*load)(void *ctx, store_t *store, const uint8_t *data, size_t len, ctx_err_t *err);
    void *ctx;
} snap_index_hook_t;

typedef struct snap_write_opts {
    uint64_t snapshot_id;
    uint64_t parent_id;
    uint64_t raft_index;
    uint64_t raft_term;
    int64_t timestamp_ms;
    col_codec_t codec;
    const snap_index_hook_t *index_hook; /* may be NULL */
} snap_write_opts_t;

/* Writes every column file of `store` (which must not change meanwhile: a forked child's frozen
 * copy, or a store nobody writes) and the metadata JSON under root; does NOT switch `current`
 * (snap_set_current does, once the WAL is durable up to raft_index). Files are fsynced before
 * the metadata is written. On failure every file it wrote is removed again (snap_discard). */
int snap_write(const store_t *store, const char *root, const snap_write_opts_t *opts,
               snap_meta_t *meta_out, ctx_err_t *err);

/* Atomically makes snapshot id the current one (write temp, fsync, rename, fsync dir). */
int snap_set_current(const char *root, uint64_t id, ctx_err_t *err);
/* The current snapshot id; CTX_EUNDEF_OBJECT when there is none. */
int snap_get_current(const char *root, uint64_t *id, ctx_err_t *err);

/* Snapshot ids with a metadata file under root, ascending; *ids malloc'd (caller frees). */
int snap_list(const char *root, uint64_t **ids, size_t *count, ctx_err_t *err);
/* Reads and validates metadata/snapshot-<id>.json. */
int snap_meta_load(const char *root, uint64_t id, snap_meta_t *out, ctx_err_t *err);
/* JSON text of meta (malloc'd, caller frees) and its parser (CTX_ECORRUPT on bad input). */
char *snap_meta_to_json(const snap_meta_t *meta);
int snap_meta_parse(const char *json, size_t len, snap_meta_t *out, ctx_err_t *err);
/* Relative path of metadata for id: "metadata/snapshot-000007.json". */
void snap_meta_path(uint64_t id, char *out, size_t out_len);

/* Loads a snapshot into a new store: every file's CRC (whole file and every chunk) is checked and
 * the store is restored slot for slot. CTX_ECORRUPT (with file and offset) on any damage, and
 * CTX_ECONFIG when the snapshot's vector dimension differs from config's. */
int snap_load(const char *root, const snap_meta_t *meta, const store_config_t *config,
              const snap_index_hook_t *index_hook, store_t **out, ctx_err_t *err);

/* Checks every file of a snapshot (sizes, whole-file CRCs, chunk CRCs) without building a store.
 * Calls report (may be NULL) once per file with its per-column statistics. */
typedef void (*snap_file_report_fn)(void *ctx, const snap_file_t *file, const col_reader_t *r,
                                    const uint64_t *stored_bytes, const uint64_t *raw_bytes);
int snap_verify(const char *root, const snap_meta_t *meta, snap_file_report_fn report, void *ctx,
                ctx_err_t *err);

/* Called once per row group by snap_file_scan: r->data[c], r->data_bytes[c] and r->stats[c] hold
 * the current group (valid until the callback returns). A non-zero return stops the scan and
 * becomes its result. */
typedef int (*snap_group_fn)(void *ctx, col_reader_t *r, ctx_err_t *err);
/* Streams one file of snapshot meta (file points into meta->files) through fn (may be NULL),
 * checking what snap_load checks: kind and columns as the metadata and format expect, every
 * chunk CRC, and the file's size and whole-file CRC against the metadata. A file of kind "hnsw"
 * has no column layout: only its size and whole-file CRC are checked and fn is never called.
 * CTX_ECORRUPT naming the file (and the byte offset where the format allows) on any damage,
 * CTX_EIO when it cannot be read. For contextdb-inspect. */
int snap_file_scan(const char *root, const snap_meta_t *meta, const snap_file_t *file,
                   snap_group_fn fn, void *ctx, ctx_err_t *err);

/* Adopts a complete snapshot laid out under stage as snap_write lays it out (one received from
 * another cluster member, already checked with snap_file_scan) into root as snapshot new_id:
 * each file is renamed (durably) to the name snap_write gives its kind for new_id, then the
 * metadata -- meta's, with the new id and paths and no parent -- is written last. `current` is
 * not switched (snap_set_current does). *out is the adopted metadata. On failure what was moved
 * is removed again (snap_discard of new_id); the staged files left are the caller's. */
int snap_adopt(const char *stage, const snap_meta_t *meta, const char *root, uint64_t new_id,
               snap_meta_t *out, ctx_err_t *err);

/* Removes every file the writer of snapshot id may have created under root (column files, the
 * vector index, the metadata and their temporaries), whether or not it finished: for a writer
 * that failed or was killed. Missing files are fine; the first removal error is returned. */
int snap_discard(const char *root, uint64_t id, ctx_err_t *err);

/* Deletes the files of snapshot `meta` that none of keep[0..nkeep) names, then its metadata.
 * Returns the number of files removed. */
int snap_remove(const char *root, const snap_meta_t *meta, const snap_meta_t *keep, size_t nkeep,
                uint64_t *removed, ctx_err_t *err);

#endif

/*
 * durability.h — the server's durability service: recovery at start-up, the WAL behind the SQL
 * layer's commit hook, replies held until durable, snapshots written by a forked child, time
 * travel reads, snapshot retention and the object-store upload (DESIGN §6; storage/ formats).
 *
 * Threads and processes. Everything here is called on the event-loop thread except the
 * snapshot waiter thread, which waits for the forked writer, makes its snapshot current once the
 * WAL is durable up to the snapshot's index, uploads it, trims the WAL, and reports back through
 * the same eventfd the WAL writer uses (durability_notify_fd); the loop then calls
 * durability_on_notify and retries the connections whose replies are held.
 */
#ifndef CTX_DURABILITY_H
#define CTX_DURABILITY_H

#include "ctx.h"
#include "hnsw.h"
#include "objstore_s3.h"
#include "sql.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct durability durability_t;

typedef struct durability_config {
    const char *data_dir;
    uint32_t vector_dims;
    bool synchronous_commit;
    uint64_t snapshot_interval_records; /* 0 = only CREATE SNAPSHOT */
    int snapshot_codec;                 /* col_codec_t */
    uint64_t wal_segment_bytes;
    /* The vector index (engine/vector/vindex.h) and its parameters; NULL: none. Each snapshot
     * carries the index (kind "hnsw"), and start-up loads the chosen snapshot's index instead of
     * rebuilding it (a rebuild, logged, when the file is damaged or its parameters differ), then
     * feeds it the replayed WAL tail. */
    const hnsw_config_t *vector_index;
    /* The object store: S3 with this configuration (credentials resolved), or NULL for
     * file://<data_dir>/objstore. With S3, an empty data directory (no snapshot, no WAL) is
     * first restored from the store: snapshot restore_snapshot, or the newest when 0. */
    const objstore_s3_config_t *s3;
    uint64_t restore_snapshot;
} durability_config_t;

/* Recovers the store from <data_dir>/snapshots and <data_dir>/wal, opens the WAL and installs
 * db->store, db->hooks.log and db->snapshots, and with config->vector_index also db->vindex and
 * db->hooks.applied (the caller destroys db->vindex after db->store's last use, as the store).
 * On error nothing is installed. */

int durability_open(const durability_config_t *config, sql_db_t *db, durability_t **out,
                    ctx_err_t *err);
/* Waits for a running snapshot, flushes and closes the WAL, frees cached snapshot stores. The
 * store itself stays with db (the caller destroys it). NULL is a no-op. */
void durability_close(durability_t *d);

/* The eventfd to watch (readable when the WAL became more durable or a snapshot finished). */
int durability_notify_fd(const durability_t *d);
/* Drains the eventfd, finishes completed snapshots, starts an interval snapshot when due. */
void durability_on_notify(void *durability);
/* The outcome of snapshot snapshot_id once it finished (durability_reply_ready said so): 0, or
 * its error (SQLSTATE 53100 disk full, 58030 io error, …) with the cause in err; its partial
 * files have been removed by then. Failures are remembered for the DUR_FAILURES_MAX most recent
 * ids, longer than any reply waits (conn_server_t.snapshot_result). */
int durability_snapshot_result(void *ctx, uint64_t snapshot_id, ctx_err_t *err);
/* True once snapshot snapshot_id (0: none) has finished, ok or failed. */
bool durability_snapshot_done(const durability_t *d, uint64_t snapshot_id);
/* <data_dir>/snapshots. */
const char *durability_snapshot_root(const durability_t *d);
/* An unused snapshot id for a snapshot this module does not write (one received from another
 * cluster member, server/snapship.h); CTX_ELIMIT while a snapshot of its own is running or
 * queued (retry once it finished). */
int durability_reserve_snapshot_id(durability_t *d, uint64_t *id);
/* What recovery read after the snapshot (info->entries, the newest hard state in info->wal) and
 * the snapshot's term, for the Raft log; valid until durability_recovered_free. */
struct recovery_info;
const struct recovery_info *durability_recovered(const durability_t *d, uint64_t *snapshot_term);
void durability_recovered_free(durability_t *d);
/* The WAL recovery opened (the Raft log, server/cluster.c). */
struct wal *durability_wal(durability_t *d);

/* What the replicated log tells snapshots (server/cluster.c): the applied position, and the
 * brackets around the fork that take uncommitted proposals out of the store and put them back;
 * compact runs once a snapshot completed, with the index the log must still reach back to. */
typedef struct dur_replica {
    void (*position)(const void *ctx, uint64_t *index, uint64_t *term);
    void (*settle)(void *ctx);
    void (*unsettle)(void *ctx);
    void (*compact)(void *ctx, uint64_t index);
    void *ctx;
} dur_replica_t;
void durability_set_replica(durability_t *d, const dur_replica_t *replica);
/* Whether this member uploads snapshots to (and deletes from) the object store: in a cluster one
 * designated member does, so one numbering of snapshots lives there. Default: yes. */
void durability_set_uploader(durability_t *d, bool uploads);

#endif

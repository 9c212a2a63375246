/*
 * recovery.h — start-up: the newest valid snapshot, then the WAL after it (DESIGN §6).
 *
 * Snapshots are tried newest first among those `metadata/current` vouches for (ids ≤ current;
 * newer ones never became current — the WAL may not cover them — and are deleted). A snapshot
 * that fails to load (bad CRC, missing file) is logged and the previous one is tried; WAL
 * segments are kept back to the previous snapshot for exactly this case. The WAL is then opened
 * with the chosen snapshot's index: records after it are decoded (engine/store/command.h) and
 * applied with store_apply; the log's torn tail is truncated, and damage in the middle of the log
 * stops start-up (wal.h).
 */
#ifndef CTX_RECOVERY_H
#define CTX_RECOVERY_H

#include "snapshot.h"
#include "store.h"
#include "wal.h"

struct cmd_batch;

typedef struct recovery_opts {
    const char *snapshot_root; /* <data dir>/snapshots */
    store_config_t store_config;
    wal_options_t wal;                   /* wal.dir = <data dir>/wal */
    const snap_index_hook_t *index_hook; /* may be NULL */
    /* Optional (the vector index): `restored` runs once the store exists (the chosen
     * snapshot's, or a new empty one; snapshot_id 0 then) and before the WAL tail is replayed,
     * and a failure stops start-up; `replayed` runs after each replayed batch has been applied to
     * the store, in log order. Both get hook_ctx. */
    int (*restored)(void *ctx, store_t *store, uint64_t snapshot_id, ctx_err_t *err);
    void (*replayed)(void *ctx, const struct cmd_batch *batch);
    void *hook_ctx;
} recovery_opts_t;

typedef struct recovery_info {
    uint64_t snapshot_id;       /* 0: started from an empty store */
    uint64_t snapshot_index;    /* WAL index the snapshot contains */
    uint64_t snapshots_skipped; /* damaged snapshots passed over */
    uint64_t next_snapshot_id;  /* 1 + the highest id ever used */
    wal_recovery_t wal;
    double snapshot_ms;
    double replay_ms;
} recovery_info_t;

/* Rebuilds the store and opens the WAL for appending. On success the caller owns *store and
 * *wal. Errors: CTX_ECORRUPT (middle-of-log damage, a record that does not apply, WAL missing
 * records after the snapshot), CTX_EIO, CTX_ECONFIG (vector dimension differs from the data). */
int recovery_run(const recovery_opts_t *opts, store_t **store, wal_t **wal, recovery_info_t *info,
                 ctx_err_t *err);

#endif

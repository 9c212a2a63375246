/*
 * recovery.h — start-up: the newest valid snapshot, then the WAL after it (DESIGN §6).
 *
 * Snapshots are tried newest first among those `metadata/current` vouches for (ids ≤ current;
 * newer ones never became current — the WAL may not cover them — and are deleted). A snapshot
 * that fails to load (bad CRC, missing file) is logged and the previous one is tried; WAL
 * segments are kept back to the previous snapshot for exactly this case. The WAL is then opened
 * with the chosen snapshot's index: BATCH entries after it, up to opts->apply_through, are decoded
 * (engine/store/command.h) and applied with store_apply; the log's torn tail is truncated, and
 * damage in the middle of the log stops start-up (wal.h). The entries not applied (every entry
 * after the snapshot when keep_applied is set, for raft_restore_t) are copied into info, with the
 * newest hard state and the last entry's term in info->wal.
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
    wal_options_t wal;      /* wal.dir = <data dir>/wal */
    uint64_t apply_through; /* apply BATCH entries with index <= this (UINT64_MAX: all) */
    bool keep_applied;      /* info->entries holds the applied entries too */
    const snap_index_hook_t *index_hook; /* may be NULL */
    /* Optional (the vector index): `restored` runs once the store exists (the chosen
     * snapshot's, or a new empty one; snapshot_id 0 then) and before the WAL tail is replayed,
     * and a failure stops start-up; `replayed` runs after each replayed batch has been applied to
     * the store, in log order. Both get hook_ctx. */
    int (*restored)(void *ctx, store_t *store, uint64_t snapshot_id, ctx_err_t *err);
    void (*replayed)(void *ctx, const struct cmd_batch *batch);
    void *hook_ctx;
} recovery_opts_t;

/* One log entry handed back by recovery. */
typedef struct recovery_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type; /* WAL_TYPE_BATCH, _NOOP or _CONF */
    uint32_t len;
    const uint8_t *payload; /* inside info->entry_bytes */
} recovery_entry_t;

typedef struct recovery_info {
    uint64_t snapshot_id;       /* 0: started from an empty store */
    uint64_t snapshot_index;    /* WAL index the snapshot contains */
    uint64_t snapshots_skipped; /* damaged snapshots passed over */
    uint64_t next_snapshot_id;  /* 1 + the highest id ever used */
    wal_recovery_t wal;         /* includes the newest hard state and the last entry's term */
    uint64_t applied_index;     /* last entry applied to the store (snapshot_index: none) */
    recovery_entry_t *entries;  /* ascending, contiguous: the entries after the snapshot with
                                   index > apply_through, or all of them with keep_applied;
                                   NULL when none; freed by recovery_info_free */
    size_t entries_count;
    uint8_t *entry_bytes; /* the payloads */
    double snapshot_ms;
    double replay_ms;
} recovery_info_t;

/* Rebuilds the store and opens the WAL for appending. On success the caller owns *store and
 * *wal, and info->entries until recovery_info_free. Errors: CTX_ECORRUPT (middle-of-log damage, a
 * record that does not apply, an unknown record type, WAL missing records after the snapshot),
 * CTX_EIO, CTX_ECONFIG (vector dimension differs from the data), CTX_ENOMEM (the entries to hand
 * back do not fit in memory). */
int recovery_run(const recovery_opts_t *opts, store_t **store, wal_t **wal, recovery_info_t *info,
                 ctx_err_t *err);
/* Frees info->entries and info->entry_bytes (after a failed run too; NULL-safe fields). */
void recovery_info_free(recovery_info_t *info);

#endif

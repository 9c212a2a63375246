/*
 * recovery.c — snapshot selection with fallback, then WAL replay (contract in recovery.h).
 *
 * Replay applies each BATCH entry up to apply_through exactly as the live server did
 * (store_apply is deterministic), so the rebuilt store is the one that existed before the crash,
 * slot layout included. A record that fails to apply is a divergence, not a torn write, and stops
 * start-up. NOOP and CONF entries change nothing in the store; they, and the BATCH entries beyond
 * apply_through (not committed yet, as far as this node knows), are copied for the caller: one
 * array of entries whose payloads point into one growing byte buffer, fixed up at the end.
 * Hard-state records are left to wal_recovery_t, which keeps the newest.
 */
#include "recovery.h"

#include "command.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Loads the newest loadable snapshot with id ≤ current; removes never-completed newer ones. */
static int load_snapshot(const recovery_opts_t *o, store_t **store, recovery_info_t *info,
                         ctx_err_t *err) {
    uint64_t *ids = NULL;
    size_t n = 0;
    uint64_t current = 0;
    int rc = snap_list(o->snapshot_root, &ids, &n, err);
    if (rc == CTX_OK && n > 0) {
        ctx_err_t cerr;
        ctx_err_clear(&cerr);
        if (snap_get_current(o->snapshot_root, &current, &cerr) != CTX_OK) {
            CTX_WARN("snapshots: %s; ignoring %zu snapshot(s) never made current", cerr.message, n);
        }
        info->next_snapshot_id = ids[n - 1] + 1;
    }
    for (size_t i = n; rc == CTX_OK && i-- > 0 && *store == NULL;) {
        snap_meta_t meta;
        ctx_err_t serr;
        ctx_err_clear(&serr);
        if (ids[i] > current) {
            continue; /* never became current: incomplete, or the WAL may not cover it */
        }
        int lrc = snap_meta_load(o->snapshot_root, ids[i], &meta, &serr);
        if (lrc == CTX_OK) {
            lrc = snap_load(o->snapshot_root, &meta, &o->store_config, o->index_hook, store, &serr);
        }
        if (lrc == CTX_ECONFIG) {
            rc = ctx_err_set(err, lrc, "%s", serr.message);
        } else if (lrc != CTX_OK) {
            CTX_WARN("snapshot %" PRIu64 " cannot be used: %s %s; trying the previous one", ids[i],
                     serr.message, serr.detail);
            info->snapshots_skipped++;
        } else {
            info->snapshot_id = meta.snapshot_id;
            info->snapshot_index = meta.raft_index;
        }
    }
    free(ids);
    if (info->next_snapshot_id == 0) {
        info->next_snapshot_id = 1;
    }
    return rc;
}

typedef struct replay_ctx {
    store_t *store;
    arena_t arena;
    const recovery_opts_t *opts;
    recovery_info_t *info;
    buf_t bytes; /* payloads of the entries kept */
    size_t cap;  /* of info->entries */
    bool out_of_memory;
} replay_ctx_t;

/* Keeps a copy of the entry for the caller (payload recorded as an offset until the end). */
static int keep_entry(replay_ctx_t *rc, const wal_record_t *rec, ctx_err_t *err) {
    recovery_info_t *info = rc->info;
    if (info->entries_count == rc->cap) {
        rc->cap = rc->cap != 0 ? rc->cap * 2 : 64;
        info->entries = ctx_realloc(info->entries, rc->cap * sizeof(recovery_entry_t));
    }
    size_t at = buf_size(&rc->bytes);
    buf_append(&rc->bytes, rec->payload, rec->len);
    if (buf_failed(&rc->bytes)) {
        return ctx_err_set(err, CTX_ENOMEM,
                           "WAL entries after index %" PRIu64 " do not fit in memory",
                           info->applied_index);
    }
    info->entries[info->entries_count++] = (recovery_entry_t){
        .term = rec->term,
        .index = rec->index,
        .type = rec->type,
        .len = rec->len,
        .payload = (const uint8_t *)(uintptr_t)at, /* an offset until fix_payloads */
    };
    return CTX_OK;
}

static int apply_batch(replay_ctx_t *rc, const wal_record_t *rec, ctx_err_t *err) {
    arena_reset(&rc->arena);
    cmd_batch_t batch;
    ctx_err_t inner;
    ctx_err_clear(&inner);
    int r = cmd_decode(rec->payload, rec->len, &rc->arena, &batch, &inner);
    if (r == CTX_OK) {
        r = store_apply_logged(rc->store, &batch, &rc->arena, &inner);
    }
    if (r != CTX_OK) {
        return ctx_err_set(err, CTX_ECORRUPT, "WAL record %" PRIu64 " cannot be replayed: %s",
                           rec->index, inner.message);
    }
    rc->info->applied_index = rec->index;
    if (rc->opts->replayed != NULL) {
        rc->opts->replayed(rc->opts->hook_ctx, &batch);
    }
    return CTX_OK;
}

static int replay_record(void *ctx, const wal_record_t *rec, ctx_err_t *err) {
    replay_ctx_t *rc = ctx;
    if (rec->type == WAL_TYPE_HARD_STATE) {
        return CTX_OK;
    }
    if (!wal_type_is_entry(rec->type)) {
        return ctx_err_set(err, CTX_ECORRUPT, "WAL record %" PRIu64 " has unknown type %u",
                           rec->index, rec->type);
    }
    bool apply = rec->index <= rc->opts->apply_through;
    if (apply && rec->type == WAL_TYPE_BATCH) {
        int r = apply_batch(rc, rec, err);
        if (r != CTX_OK) {
            return r;
        }
    }
    return !apply || rc->opts->keep_applied ? keep_entry(rc, rec, err) : CTX_OK;
}

/* Turns the kept entries' payload offsets into pointers and hands the bytes to info. */
static void fix_payloads(replay_ctx_t *rc) {
    recovery_info_t *info = rc->info;
    info->entry_bytes = rc->bytes.data; /* never consumed: start is 0 */
    CTX_ASSERT(rc->bytes.start == 0);
    for (size_t i = 0; i < info->entries_count; i++) {
        size_t at = (size_t)(uintptr_t)info->entries[i].payload;
        info->entries[i].payload = info->entry_bytes != NULL ? info->entry_bytes + at : NULL;
    }
    buf_init(&rc->bytes);
}

void recovery_info_free(recovery_info_t *info) {
    free(info->entries);
    free(info->entry_bytes);
    info->entries = NULL;
    info->entry_bytes = NULL;
    info->entries_count = 0;
}

int recovery_run(const recovery_opts_t *o, store_t **store, wal_t **wal, recovery_info_t *info,
                 ctx_err_t *err) {
    CTX_ASSERT(o != NULL && store != NULL && wal != NULL && info != NULL);
    memset(info, 0, sizeof(*info));
    *store = NULL;
    *wal = NULL;
    double started = now_ms();
    int rc = load_snapshot(o, store, info, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (*store == NULL) {
        *store = store_create(&o->store_config);
    }
    info->snapshot_ms = now_ms() - started;
    if (o->restored != NULL) {
        rc = o->restored(o->hook_ctx, *store, info->snapshot_id, err);
        if (rc != CTX_OK) {
            store_destroy(*store);
            *store = NULL;
            return rc;
        }
    }
    started = now_ms();
    replay_ctx_t rctx = {.store = *store, .opts = o, .info = info};
    arena_init(&rctx.arena);
    buf_init(&rctx.bytes);
    info->applied_index = info->snapshot_index;
    rc = wal_open(&o->wal, info->snapshot_index, replay_record, &rctx, &info->wal, wal, err);
    arena_destroy(&rctx.arena);
    fix_payloads(&rctx);
    info->replay_ms = now_ms() - started;
    if (rc != CTX_OK) {
        recovery_info_free(info);
        store_destroy(*store);
        *store = NULL;
    }
    return rc;
}

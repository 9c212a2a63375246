/*
 * durability.c — recovery, the WAL, snapshots by fork, time travel and retention (contract in
 * durability.h; formats in storage/).
 *
 * Recovery loads the newest valid snapshot and opens the WAL, applying nothing after the
 * snapshot: the log's entries and hard state go to the Raft node (server/cluster.c), which hands
 * the committed ones to the one apply path every member uses. The commit path (propose, persist,
 * replicate, apply, reply) lives there too; this module only tells it when a snapshot finished.
 *
 * Snapshots: the store is plain memory owned by the loop thread, so a consistent frozen view is
 * one fork() away (as Redis does): after rolling back any session's speculative changes
 * (sql_db_settle) and the leader's uncommitted proposals (dur_replica_t.settle; put back after
 * the fork) the store holds exactly the applied log up to dur_replica_t.position, the child writes
 * the column files and metadata and exits, and the parent keeps serving while copy-on-write keeps
 * the child's view intact. The child closes every inherited descriptor (so the data-directory lock
 * and client sockets stay with the parent alone) and dies with the parent (PDEATHSIG). A waiter
 * thread reaps it, waits until the WAL is durable up to the snapshot's index (a snapshot must
 * never be ahead of the log it replaces), switches metadata/current, queues the snapshot for the
 * uploader thread, and removes WAL segments wholly before the *previous* snapshot, so recovery
 * can fall back one snapshot when the newest is damaged. A writer that fails puts
 * its error (code and message) into a small shared mapping made before the fork; the waiter
 * removes whatever it wrote (snap_discard, also after a signal) and remembers the failure by id,
 * and the connection whose CREATE SNAPSHOT waits for it gets that error instead of the id
 * (durability_snapshot_result, via conn_server_t).
 *
 * Object store: the uploader thread copies each completed snapshot to the object store (S3 when
 * configured, else file://<data_dir>/objstore), files first, then its metadata, then `current`,
 * so a reader of the store never sees a snapshot with missing files; CREATE SNAPSHOT does not
 * wait for it. VACUUM SNAPSHOTS hands it the keys to delete (metadata before files, for the same
 * reason), so no statement waits for the network either. Its progress and outcome (uploaded,
 * upload_bytes, upload_error) are kept in memory for SELECT * FROM snapshots, seeded at open from
 * the store's listing, so listing never touches the network. With S3 and an empty data directory,
 * open first restores a snapshot from the store (storage/restore.h) and recovery then loads it as a
 * local one.
 *
 * Vector index: the child also writes the HNSW index (kind "hnsw"); the index holds
 * committed vectors only, so at the fork point it is exactly the snapshot's. Start-up maps the
 * chosen snapshot's index file (hnsw_load checks its CRC and every link), adopts it and feeds it
 * the replayed WAL tail through vindex_applied, as live commits would, so it ends byte-identical
 * to the index of a server that never stopped; a damaged file or other hnsw_* parameters make it
 * rebuild the index from the store instead (logged).
 *
 * Time travel: AS OF SNAPSHOT n loads snapshot n into a read-only store, cached (the
 * DUR_CACHE_MAX most recently used), since one statement may read the same snapshot repeatedly.
 * A snapshot that is no longer on local disk but in the object store (a node restored from S3
 * holds only the snapshot it restored) is fetched by the uploader thread, since the loop thread
 * never waits for the network: opening it asks the thread for it and fails with CTX_ENOT_READY,
 * which parks a Query (server/conn.c) until the eventfd says the fetch ended (55000 "fetching
 * it, retry" reaches only a statement that cannot be parked: inside a transaction block, not
 * the first of its Query, the extended protocol). The thread downloads it into
 * <data_dir>/fetched (one snapshot at a time, replacing the previous one), and the statement
 * run again loads it from there into the cache and removes the files again. A failed fetch
 * reaches the next statement that asks, with S3's message.
 */
#include "durability.h"

#include "colfile.h"
#include "command.h"
#include "crc32c.h"
#include "fsutil.h"
#include "metrics.h"
#include "objstore.h"
#include "recovery.h"
#include "restore.h"
#include "snapshot.h"
#include "vindex.h"
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    DUR_CACHE_MAX = 4,
    DUR_FAILURES_MAX = 16, /* failed snapshots remembered for the replies waiting on them */
    DUR_UPLOADS_MAX = 64,  /* upload states remembered, by id (ring) */
    DUR_PENDING_MAX = 8,   /* snapshots waiting for the uploader; beyond, the oldest is dropped */
};

/* What SELECT * FROM snapshots shows of a snapshot's upload (under mu). */
typedef struct dur_upload {
    uint64_t id; /* 0: free slot */
    bool done;
    uint64_t bytes;                  /* uploaded so far */
    char error[CTX_ERR_MESSAGE_MAX]; /* "" unless the upload failed */
} dur_upload_t;

/* What the snapshot writer reports to its parent, in a shared anonymous mapping made before the
 * fork (the child closes every descriptor, so no pipe survives). */
typedef struct dur_child_report {
    int code; /* CTX_OK until the child fails */
    char message[CTX_ERR_MESSAGE_MAX];
} dur_child_report_t;

typedef struct dur_failure {
    uint64_t id; /* 0: free slot */
    int code;
    char message[CTX_ERR_MESSAGE_MAX];
} dur_failure_t;

typedef struct dur_cache_entry {
    uint64_t id;
    store_t *store;
    uint64_t used; /* LRU tick */
} dur_cache_entry_t;

struct durability {
    durability_config_t cfg;
    char snap_root[FSU_PATH_MAX];
    char wal_dir[FSU_PATH_MAX];
    char obj_url[FSU_PATH_MAX];
    sql_db_t *db;
    wal_t *wal;
    objstore_t *objstore;
    int efd;
    buf_t enc;
    uint64_t next_snapshot_id;
    uint64_t current_id;     /* newest completed snapshot (metadata/current) */
    uint64_t current_index;  /* its WAL index */
    uint64_t previous_index; /* the one before (WAL kept back to it) */
    dur_replica_t replica;
    atomic_bool not_uploader;  /* another cluster member uploads to the object store */
    recovery_info_t recovered; /* the log after the snapshot, until durability_recovered_free */
    uint64_t snapshot_term;
    /* the running snapshot */
    bool running;
    uint64_t run_term;
    pid_t pid;
    uint64_t run_id;
    uint64_t run_index;
    pthread_t waiter;
    pthread_mutex_t mu;
    bool run_done; /* set by the waiter */
    bool run_ok;
    uint64_t queued_id;              /* CREATE SNAPSHOT while one runs: started next (0: none) */
    _Atomic uint64_t snapshots_done; /* highest id finished (ok or failed) */
    dur_child_report_t *report;      /* shared with the running writer */
    dur_failure_t failures[DUR_FAILURES_MAX]; /* under mu; ring by id */
    dur_upload_t uploads[DUR_UPLOADS_MAX];    /* under mu; ring by id */
    /* the uploader thread and its queue (under mu) */
    pthread_t uploader;
    bool uploader_running;
    pthread_cond_t upload_cv;
    uint64_t pending[DUR_PENDING_MAX]; /* ids in completion order */
    int npending;
    _Atomic bool upload_stop; /* set by durability_close: stop after the current file */
    char **deletes;           /* object keys VACUUM removed locally, for the uploader to delete */
    size_t ndeletes, deletes_cap;
    dur_cache_entry_t cache[DUR_CACHE_MAX];
    uint64_t tick;
    /* AS OF a snapshot only the object store holds (under mu; 0: none) */
    char fetch_root[FSU_PATH_MAX];
    uint64_t fetch_want;   /* asked for, not started */
    uint64_t fetch_busy;   /* being downloaded */
    uint64_t fetch_done;   /* complete in fetch_root, not loaded yet */
    uint64_t fetch_failed; /* its error in fetch_error */
    ctx_err_t fetch_error;
    /* the vector index during start-up (cfg.vector_index != NULL) */
    hnsw_config_t hnsw;
    hnsw_t *loaded;              /* read from a snapshot, not yet adopted */
    const store_t *loaded_store; /* the store it was read for */
    double loaded_ms;
    vindex_t *vindex;
};

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void notify(durability_t *d) {
    uint64_t one = 1;
    ssize_t n = write(d->efd, &one, sizeof(one));
    (void)n;
}

/* ---------------------------------------------------------------- replies */

bool durability_snapshot_done(const durability_t *d, uint64_t snapshot_id) {
    return atomic_load(&d->snapshots_done) >= snapshot_id;
}

wal_t *durability_wal(durability_t *d) {
    return d->wal;
}

const char *durability_snapshot_root(const durability_t *d) {
    return d->snap_root;
}

int durability_reserve_snapshot_id(durability_t *d, uint64_t *id) {
    if (d->running || d->queued_id != 0) {
        return CTX_ELIMIT;
    }
    *id = d->next_snapshot_id++;
    return CTX_OK;
}

const recovery_info_t *durability_recovered(const durability_t *d, uint64_t *snapshot_term) {
    *snapshot_term = d->snapshot_term;
    return &d->recovered;
}

void durability_recovered_free(durability_t *d) {
    recovery_info_free(&d->recovered);
    memset(&d->recovered, 0, sizeof(d->recovered));
}

void durability_set_uploader(durability_t *d, bool uploads) {
    atomic_store(&d->not_uploader, !uploads);
}

void durability_set_replica(durability_t *d, const dur_replica_t *replica) {
    d->replica = *replica;
}

/* The applied position a snapshot taken now contains. */
static void d_position(const durability_t *d, uint64_t *index, uint64_t *term) {
    if (d->replica.position != NULL) {
        d->replica.position(d->replica.ctx, index, term);
    } else {
        *index = wal_last_index(d->wal);
        *term = 0;
    }
}

int durability_snapshot_result(void *ctx, uint64_t snapshot_id, ctx_err_t *err) {
    durability_t *d = ctx;
    CTX_ASSERT(snapshot_id > 0);
    pthread_mutex_lock(&d->mu);
    const dur_failure_t *f = &d->failures[snapshot_id % DUR_FAILURES_MAX];
    int rc = CTX_OK;
    if (f->id == snapshot_id) {
        rc = ctx_err_set(err, f->code, "snapshot %" PRIu64 " failed: %s", snapshot_id, f->message);
        ctx_err_detail(err, "Its partial files were removed; no snapshot was made.");
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int durability_notify_fd(const durability_t *d) {
    return d->efd;
}

/* ---------------------------------------------------------------- the vector index */

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* snap_index_hook_t.save, in the snapshot writer (the forked child). The index holds exactly the
 * committed vectors, which at the fork point (after sql_db_settle) are the store's: its bytes
 * correspond to the snapshot's WAL index. */
static int idx_save(void *ctx, const store_t *store, buf_t *out, uint64_t *rows, ctx_err_t *err) {
    durability_t *d = ctx;
    (void)err;
    CTX_ASSERT(d->db->vindex != NULL && store != NULL);
    const hnsw_t *h = vindex_hnsw(d->db->vindex);
    hnsw_serialize(h, out);
    *rows = hnsw_count(h);
    return CTX_OK;
}

/* False (with the reason in err) when a loaded index cannot stand for the one this server would
 * build over store: other parameters, or not the same number of vectors. */
static bool idx_fits(const durability_t *d, const hnsw_t *h, const store_t *store, ctx_err_t *err) {
    const hnsw_config_t *c = hnsw_get_config(h);
    const hnsw_config_t *want = &d->hnsw;
    if (c->dims != want->dims || c->metric != want->metric || c->m != want->m ||
        c->ef_construction != want->ef_construction || c->seed != want->seed) {
        ctx_err_set(err, CTX_ECONFIG,
                    "built with m=%u ef_construction=%u metric=%d dims=%u, "
                    "the server wants m=%u ef_construction=%u metric=%d dims=%u",
                    c->m, c->ef_construction, (int)c->metric, c->dims, want->m,
                    want->ef_construction, (int)want->metric, want->dims);
        return false;
    }
    if (hnsw_count(h) != store_vector_count(store)) {
        ctx_err_set(err, CTX_ECORRUPT, "holds %llu vectors, the snapshot %llu",
                    (unsigned long long)hnsw_count(h),
                    (unsigned long long)store_vector_count(store));
        return false;
    }
    return true;
}

/* snap_index_hook_t.load: keeps the index for idx_restored. A damaged or unfitting file is not a
 * damaged snapshot (the index is derived state): it is logged and the index rebuilt. */
static int idx_load(void *ctx, store_t *store, const uint8_t *data, size_t len, ctx_err_t *err) {
    durability_t *d = ctx;
    CTX_ASSERT(store != NULL && data != NULL);
    (void)err;
    double started = mono_ms();
    hnsw_t *h = NULL;
    ctx_err_t inner;
    ctx_err_clear(&inner);
    int rc = hnsw_load(data, len, &h, &inner);
    if (rc == CTX_OK && !idx_fits(d, h, store, &inner)) {
        hnsw_destroy(h);
        rc = inner.code;
    }
    if (rc != CTX_OK) {
        CTX_WARN("vector index not used: %s; rebuilding it", inner.message);
        return CTX_OK;
    }
    hnsw_destroy(d->loaded);
    d->loaded = h;
    d->loaded_store = store;
    d->loaded_ms = mono_ms() - started;
    return CTX_OK;
}

/* recovery_opts_t.restored: adopts the snapshot's index, or builds one over the store. */
static int idx_restored(void *ctx, store_t *store, uint64_t snapshot_id, ctx_err_t *err) {
    durability_t *d = ctx;
    CTX_ASSERT(d->vindex == NULL);
    if (d->loaded != NULL && d->loaded_store == store) {
        d->vindex = vindex_adopt(store, d->loaded);
        d->loaded = NULL;
        CTX_INFO("vector index: loaded from snapshot %" PRIu64 " (%" PRIu64 " vectors) in "
                 "%.0f ms, not rebuilt",
                 snapshot_id, store_vector_count(store), d->loaded_ms);
        return CTX_OK;
    }
    hnsw_destroy(d->loaded);
    d->loaded = NULL;
    double started = mono_ms();
    int rc = vindex_create(store, &d->hnsw, &d->vindex, err);
    if (rc == CTX_OK && snapshot_id > 0) {
        CTX_INFO("vector index: rebuilt from the %" PRIu64 " vectors of snapshot %" PRIu64
                 " in %.0f ms",
                 store_vector_count(store), snapshot_id, mono_ms() - started);
    }
    return rc;
}

/* recovery_opts_t.replayed: the WAL tail reaches the index as live commits did. */
static void idx_replayed(void *ctx, const cmd_batch_t *batch) {
    durability_t *d = ctx;
    CTX_ASSERT(d->vindex != NULL);
    vindex_applied(d->vindex, batch);
}

/* ---------------------------------------------------------------- snapshot writer */

_Noreturn static void child_main(durability_t *d, uint64_t id, uint64_t index, uint64_t term,
                                 pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(1);
    }
    /* the data-directory lock (an flock this child shares until here), sockets, the WAL: the
     * parent's alone */
    close_range(3, ~0U, 0);
    snap_index_hook_t hook = {.save = idx_save, .ctx = d};
    snap_write_opts_t opts = {.snapshot_id = id,
                              .parent_id = d->current_id,
                              .raft_index = index,
                              .raft_term = term,
                              .timestamp_ms = wall_ms(),
                              .codec = (col_codec_t)d->cfg.snapshot_codec,
                              .index_hook = d->db->vindex != NULL ? &hook : NULL};
    snap_meta_t meta;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (snap_write(d->db->store, d->snap_root, &opts, &meta, &err) != CTX_OK) {
        CTX_ERROR("snapshot %" PRIu64 " failed: %s", id, err.message);
        snprintf(d->report->message, sizeof(d->report->message), "%s", err.message);
        d->report->code = err.code;
        _exit(1);
    }
    _exit(0);
}

/* Updates the upload state of snapshot id (under mu); error NULL while it runs or succeeded. */
static void upload_state(durability_t *d, uint64_t id, bool done, uint64_t bytes,
                         const char *error) {
    pthread_mutex_lock(&d->mu);
    dur_upload_t *u = &d->uploads[id % DUR_UPLOADS_MAX];
    if (u->id != id) {
        memset(u, 0, sizeof(*u));
        u->id = id;
    }
    u->done = done;
    u->bytes = bytes;
    snprintf(u->error, sizeof(u->error), "%s", error != NULL ? error : "");
    pthread_mutex_unlock(&d->mu);
}

/* Uploads a completed snapshot: files, then its metadata, then `current`, so a reader of the
 * store never sees metadata naming a missing file. Progress goes to the log and to
 * d->uploads (SELECT * FROM snapshots); requests retry on their own (objstore_s3.h). */
static void upload(durability_t *d, uint64_t id) {
    snap_meta_t meta;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = snap_meta_load(d->snap_root, id, &meta, &err);
    char path[FSU_PATH_MAX], key[128];
    snap_meta_path(id, key, sizeof(key));
    const char *keys[SNAP_FILES_MAX + 2];
    int nkeys = 0;
    for (int i = 0; rc == CTX_OK && i < meta.nfiles; i++) {
        keys[nkeys++] = meta.files[i].path;
    }
    keys[nkeys++] = key;
    keys[nkeys++] = "metadata/current";
    double started = mono_ms();
    uint64_t bytes = 0;
    upload_state(d, id, false, 0, NULL);
    for (int i = 0; rc == CTX_OK && i < nkeys; i++) {
        struct stat st;
        if (atomic_load(&d->upload_stop)) {
            rc = ctx_err_set(&err, CTX_ESHUTDOWN, "the server is stopping");
            break;
        }
        rc = fsu_path(path, &err, "%s/%s", d->snap_root, keys[i]);
        if (rc == CTX_OK) {
            rc = objstore_put_file(d->objstore, keys[i], path, &err);
        }
        if (rc == CTX_OK && stat(path, &st) == 0) {
            bytes += (uint64_t)st.st_size;
            upload_state(d, id, false, bytes, NULL);
            double secs = (mono_ms() - started) / 1e3;
            CTX_INFO("snapshot %" PRIu64 ": uploaded %s (%d of %d files, %.1f MB, %.1f MB/s)", id,
                     keys[i], i + 1, nkeys, (double)bytes / 1e6,
                     secs > 0 ? (double)bytes / 1e6 / secs : 0.0);
        }
    }
    upload_state(d, id, rc == CTX_OK, bytes, rc == CTX_OK ? NULL : err.message);
    if (rc != CTX_OK && atomic_load(&d->upload_stop)) {
        CTX_INFO("snapshot %" PRIu64 ": upload stopped with the server (%s); it resumes at the "
                 "next start",
                 id, err.message);
    } else if (rc != CTX_OK) {
        CTX_WARN("snapshot %" PRIu64 ": upload to %s failed: %s", id, d->obj_url, err.message);
    } else {
        CTX_INFO("snapshot %" PRIu64 ": upload to %s complete (%.1f MB in %.1f s)", id, d->obj_url,
                 (double)bytes / 1e6, (mono_ms() - started) / 1e3);
    }
}

/* Deletes the queued keys from the object store (uploader thread, mu held on entry and exit). */
static void delete_queued(durability_t *d) {
    char **keys = d->deletes;
    size_t n = d->ndeletes;
    d->deletes = NULL;
    d->ndeletes = d->deletes_cap = 0;
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        ctx_err_t err;
        ctx_err_clear(&err);
        if (!atomic_load(&d->upload_stop) &&
            objstore_delete(d->objstore, keys[i], &err) != CTX_OK) {
            CTX_WARN("VACUUM SNAPSHOTS: %s not deleted from %s: %s", keys[i], d->obj_url,
                     err.message);
        }
        free(keys[i]);
    }
    free(keys);
    pthread_mutex_lock(&d->mu);
}

/* Removes the snapshot a previous fetch left in fetch_root (its files and metadata). */
static void fetch_clear(durability_t *d) {
    uint64_t id = 0;
    snap_meta_t meta;
    ctx_err_t err;
    ctx_err_clear(&err);
    uint64_t removed = 0;
    if (snap_get_current(d->fetch_root, &id, &err) == CTX_OK &&
        snap_meta_load(d->fetch_root, id, &meta, &err) == CTX_OK &&
        snap_remove(d->fetch_root, &meta, NULL, 0, &removed, &err) != CTX_OK) {
        CTX_WARN("AS OF SNAPSHOT: %s", err.message);
    }
}

/* Downloads d->fetch_want into fetch_root (uploader thread, mu held on entry and exit). */
static void fetch_wanted(durability_t *d) {
    uint64_t id = d->fetch_want;
    d->fetch_want = 0;
    d->fetch_busy = id;
    d->fetch_done = 0;
    pthread_mutex_unlock(&d->mu);
    fetch_clear(d);
    double started = mono_ms();
    restore_info_t info;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = restore_snapshot(d->objstore, d->fetch_root, id, &info, &err);
    if (rc == CTX_OK) {
        CTX_INFO("AS OF SNAPSHOT: fetched snapshot %" PRIu64 " from %s: %" PRIu64
                 " files, %.1f MB in %.2f s",
                 id, d->obj_url, info.files, (double)info.bytes / 1e6, (mono_ms() - started) / 1e3);
    } else {
        CTX_WARN("AS OF SNAPSHOT: snapshot %" PRIu64 " not fetched from %s: %s", id, d->obj_url,
                 err.message);
    }
    pthread_mutex_lock(&d->mu);
    d->fetch_busy = 0;
    if (rc == CTX_OK) {
        d->fetch_done = id;
    } else {
        d->fetch_failed = id;
        d->fetch_error = err;
    }
    notify(d); /* the statements parked for it run again */
}

/* The uploader thread: uploads queued snapshots one at a time, oldest first, until
 * durability_close asks it to stop (what is left is picked up at the next start:
 * upload_resume). */
static void *uploader_main(void *arg) {
    durability_t *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (d->npending == 0 && d->ndeletes == 0 && d->fetch_want == 0 &&
               !atomic_load(&d->upload_stop)) {
            pthread_cond_wait(&d->upload_cv, &d->mu);
        }
        if (atomic_load(&d->upload_stop)) {
            break;
        }
        if (d->fetch_want != 0) { /* a statement is waiting for it */
            fetch_wanted(d);
            continue;
        }
        if (d->ndeletes > 0) {
            delete_queued(d);
            continue;
        }
        uint64_t id = d->pending[0];
        memmove(d->pending, d->pending + 1, (size_t)(d->npending - 1) * sizeof(uint64_t));
        d->npending--;
        pthread_mutex_unlock(&d->mu);
        upload(d, id);
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* Queues completed snapshot id for the uploader (waiter thread); the snapshot is complete
 * locally whether or not its upload succeeds. */
static void upload_enqueue(durability_t *d, uint64_t id) {
    if (atomic_load(&d->not_uploader)) {
        CTX_DEBUG("snapshot %" PRIu64 ": not uploaded, another member uploads", id);
        return;
    }
    upload_state(d, id, false, 0, NULL);
    pthread_mutex_lock(&d->mu);
    if (d->npending == DUR_PENDING_MAX) { /* a newer snapshot supersedes the oldest waiting */
        CTX_WARN("snapshot %" PRIu64 ": not uploaded, %d newer snapshots were waiting",
                 d->pending[0], DUR_PENDING_MAX);
        memmove(d->pending, d->pending + 1, (DUR_PENDING_MAX - 1) * sizeof(uint64_t));
        d->npending--;
    }
    d->pending[d->npending++] = id;
    pthread_cond_signal(&d->upload_cv);
    pthread_mutex_unlock(&d->mu);
}

/* Queues key for deletion from the object store by the uploader thread (VACUUM SNAPSHOTS runs
 * on the loop thread, which must not wait for the network). */
static void delete_enqueue(durability_t *d, const char *key) {
    if (atomic_load(&d->not_uploader)) {
        return; /* the uploading member owns the object store's contents */
    }
    pthread_mutex_lock(&d->mu);
    if (d->ndeletes == d->deletes_cap) {
        d->deletes_cap = d->deletes_cap ? d->deletes_cap * 2 : 16;
        d->deletes = ctx_realloc(d->deletes, d->deletes_cap * sizeof(char *));
    }
    d->deletes[d->ndeletes++] = ctx_strdup(key);
    pthread_cond_signal(&d->upload_cv);
    pthread_mutex_unlock(&d->mu);
}

/* Remembers that snapshot id failed (under mu), for durability_snapshot_result. */
static void record_failure(durability_t *d, uint64_t id, int code, const char *message) {
    CTX_ASSERT(id > 0 && code != CTX_OK);
    pthread_mutex_lock(&d->mu);
    dur_failure_t *f = &d->failures[id % DUR_FAILURES_MAX];
    f->id = id;
    f->code = code;
    snprintf(f->message, sizeof(f->message), "%s", message);
    pthread_mutex_unlock(&d->mu);
}

/* After the writer of snapshot id failed or died: removes what it wrote, records why. */
static void snapshot_failed(durability_t *d, uint64_t id, int status) {
    int code = d->report->code;
    char message[CTX_ERR_MESSAGE_MAX];
    if (code != CTX_OK) {
        snprintf(message, sizeof(message), "%s", d->report->message);
    } else if (WIFSIGNALED(status)) {
        code = CTX_EIO;
        snprintf(message, sizeof(message), "the snapshot writer was killed by signal %d",
                 WTERMSIG(status));
    } else {
        code = CTX_EIO;
        snprintf(message, sizeof(message), "the snapshot writer failed (exit status %d)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    if (snap_discard(d->snap_root, id, &err) != CTX_OK) {
        CTX_ERROR("snapshot %" PRIu64 ": partial files not removed: %s", id, err.message);
    }
    CTX_ERROR("snapshot %" PRIu64 " failed (SQLSTATE %s): %s; its partial files were removed", id,
              ctx_sqlstate(code), message);
    record_failure(d, id, code, message);
}

static void *waiter_main(void *arg) {
    durability_t *d = arg;
    int status = 0;
    pid_t got;
    do {
        got = waitpid(d->pid, &status, 0);
    } while (got < 0 && errno == EINTR);
    bool ok = got == d->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok) {
        wal_wait_durable(d->wal, d->run_index);
        ctx_err_t err;
        ctx_err_clear(&err);
        ok = snap_set_current(d->snap_root, d->run_id, &err) == CTX_OK;
        if (!ok) { /* the child's report is clean: record this error as the cause */
            d->report->code = err.code;
            snprintf(d->report->message, sizeof(d->report->message), "%s", err.message);
        }
    }
    if (ok) {
        upload_enqueue(d, d->run_id);
        uint32_t removed = wal_remove_through(d->wal, d->current_index);
        CTX_INFO("snapshot %" PRIu64 " complete at WAL index %" PRIu64
                 "; %u WAL segment(s) before the previous snapshot removed",
                 d->run_id, d->run_index, removed);
    } else {
        snapshot_failed(d, d->run_id, status);
    }
    pthread_mutex_lock(&d->mu);
    d->run_done = true;
    d->run_ok = ok;
    pthread_mutex_unlock(&d->mu);
    notify(d);
    return NULL;
}

/* Forks the writer for snapshot id (loop thread, between statements). */
static int snapshot_start(durability_t *d, uint64_t id, ctx_err_t *err) {
    CTX_ASSERT(!d->running);
    /* the store must hold exactly the applied state: no session's open transaction and no
     * uncommitted proposal (both are put back after the fork) */
    sql_db_settle(d->db);
    if (d->replica.settle != NULL) {
        d->replica.settle(d->replica.ctx);
    }
    uint64_t index = 0, term = 0;
    d_position(d, &index, &term);
    pid_t parent = getpid();
    d->report->code = CTX_OK;
    d->report->message[0] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        child_main(d, id, index, term, parent);
    }
    if (d->replica.unsettle != NULL) {
        d->replica.unsettle(d->replica.ctx);
    }
    if (pid < 0) {
        return ctx_err_set(err, CTX_EIO, "could not start the snapshot writer: %s",
                           strerror(errno));
    }
    d->running = true;
    d->pid = pid;
    d->run_id = id;
    d->run_index = index;
    d->run_term = term;
    d->run_done = false;
    if (pthread_create(&d->waiter, NULL, waiter_main, d) != 0) {
        CTX_ASSERT(!"could not start the snapshot waiter thread");
    }
    CTX_INFO("snapshot %" PRIu64 " started at WAL index %" PRIu64 " (writer pid %d)", id, index,
             (int)pid);
    return CTX_OK;
}

static void snapshot_finish(durability_t *d) {
    pthread_join(d->waiter, NULL);
    d->running = false;
    if (d->run_ok) {
        d->previous_index = d->current_index;
        d->current_index = d->run_index;
        d->current_id = d->run_id;
        if (d->replica.compact != NULL) {
            d->replica.compact(d->replica.ctx, d->previous_index); /* log kept as the WAL is */
        }
    }
    atomic_store(&d->snapshots_done, d->run_id);
}

static uint64_t d_applied(const durability_t *d) {
    uint64_t index = 0, term = 0;
    d_position(d, &index, &term);
    return index > d->current_index ? index : d->current_index;
}

void durability_on_notify(void *durability) {
    durability_t *d = durability;
    uint64_t value;
    while (read(d->efd, &value, sizeof(value)) == (ssize_t)sizeof(value)) {
    }
    pthread_mutex_lock(&d->mu);
    bool done = d->running && d->run_done;
    pthread_mutex_unlock(&d->mu);
    if (done) {
        snapshot_finish(d);
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    if (!d->running && d->queued_id != 0) {
        uint64_t id = d->queued_id;
        d->queued_id = 0;
        if (snapshot_start(d, id, &err) != CTX_OK) {
            CTX_ERROR("%s", err.message);
            record_failure(d, id, err.code, err.message);
            atomic_store(&d->snapshots_done, id);
        }
    } else if (!d->running && d->cfg.snapshot_interval_records > 0 &&
               d_applied(d) - d->current_index >= d->cfg.snapshot_interval_records) {
        if (snapshot_start(d, d->next_snapshot_id++, &err) != CTX_OK) {
            CTX_ERROR("%s", err.message);
        }
    }
}

/* ---------------------------------------------------------------- SQL hooks */

static int h_create(void *ctx, uint64_t *id, ctx_err_t *err) {
    durability_t *d = ctx;
    if (d->running) {
        if (d->queued_id == 0) {
            d->queued_id = d->next_snapshot_id++;
        }
        *id = d->queued_id; /* requests made while one runs share the next snapshot */
        return CTX_OK;
    }
    *id = d->next_snapshot_id++;
    return snapshot_start(d, *id, err);
}

static void cache_drop(durability_t *d, uint64_t id) {
    for (int i = 0; i < DUR_CACHE_MAX; i++) {
        if (d->cache[i].store != NULL && (id == 0 || d->cache[i].id == id)) {
            store_destroy(d->cache[i].store);
            memset(&d->cache[i], 0, sizeof(d->cache[i]));
        }
    }
}

/* For a snapshot not on local disk (loop thread): its metadata in fetch_root once the uploader
 * thread fetched it; until then asks for the fetch and fails with CTX_ENOT_READY (the statement
 * is parked until notify, or told to retry), or with the fetch's own error once, when it
 * failed. */
static int fetched_meta(durability_t *d, uint64_t id, snap_meta_t *meta, ctx_err_t *err) {
    pthread_mutex_lock(&d->mu);
    bool ready = d->fetch_done == id && d->fetch_busy == 0 && d->fetch_want == 0;
    if (ready) {
        d->fetch_done = 0;
    }
    if (d->fetch_failed == id) {
        d->fetch_failed = 0;
        int code = d->fetch_error.code;
        ctx_err_set(err, code == CTX_EUNDEF_OBJECT ? code : CTX_EIO,
                    "snapshot %" PRIu64 " is not on local disk and could not be fetched: %s", id,
                    d->fetch_error.message);
        pthread_mutex_unlock(&d->mu);
        return err->code;
    }
    if (!ready && d->fetch_busy != id && d->fetch_want != id) {
        d->fetch_want = id;
        pthread_cond_signal(&d->upload_cv);
    }
    pthread_mutex_unlock(&d->mu);
    ctx_err_t inner;
    ctx_err_clear(&inner);
    if (ready && snap_meta_load(d->fetch_root, id, meta, &inner) == CTX_OK) {
        return CTX_OK;
    }
    return ctx_err_set(err, CTX_ENOT_READY,
                       "snapshot %" PRIu64 " is only in the object store %s; fetching it, "
                       "retry in a moment",
                       id, d->obj_url);
}

static int h_open(void *ctx, uint64_t id, const store_t **out, ctx_err_t *err) {
    durability_t *d = ctx;
    int victim = 0;
    for (int i = 0; i < DUR_CACHE_MAX; i++) {
        if (d->cache[i].store != NULL && d->cache[i].id == id) {
            d->cache[i].used = ++d->tick;
            *out = d->cache[i].store;
            return CTX_OK;
        }
        if (d->cache[i].used < d->cache[victim].used) {
            victim = i;
        }
    }
    snap_meta_t meta;
    ctx_err_t inner;
    ctx_err_clear(&inner);
    if (id == 0 || id > d->current_id) {
        return ctx_err_set(err, CTX_EUNDEF_OBJECT, "snapshot %" PRIu64 " does not exist", id);
    }
    const char *root = d->snap_root;
    if (snap_meta_load(root, id, &meta, &inner) != CTX_OK) {
        int rc = fetched_meta(d, id, &meta, err);
        if (rc != CTX_OK) {
            return rc;
        }
        root = d->fetch_root;
    }
    store_t *store = NULL;
    store_config_t config = {.vector_dims = d->cfg.vector_dims};
    int rc = snap_load(root, &meta, &config, NULL, &store, &inner);
    if (root == d->fetch_root) {
        fetch_clear(d); /* the store is cached; fetched again once evicted */
    }
    if (rc != CTX_OK) {
        return ctx_err_set(err, rc, "snapshot %" PRIu64 " cannot be read: %s", id, inner.message);
    }
    cache_drop(d, d->cache[victim].store != NULL ? d->cache[victim].id : UINT64_MAX);
    d->cache[victim] = (dur_cache_entry_t){id, store, ++d->tick};
    *out = store;
    return CTX_OK;
}

/* The upload state of snapshot id into s (under mu): no network on the loop thread. */
static void upload_info(durability_t *d, uint64_t id, arena_t *arena, sql_snapshot_info_t *s) {
    pthread_mutex_lock(&d->mu);
    const dur_upload_t *u = &d->uploads[id % DUR_UPLOADS_MAX];
    if (u->id == id) {
        s->uploaded = u->done;
        s->upload_bytes = u->bytes;
        s->upload_error = u->error[0] ? arena_strndup(arena, u->error, strlen(u->error)) : NULL;
    }
    pthread_mutex_unlock(&d->mu);
}

/* At open: every snapshot whose metadata the object store holds counts as uploaded. */
static int seen_uploaded(void *ctx, const char *key, uint64_t size_bytes, ctx_err_t *err) {
    durability_t *d = ctx;
    (void)err;
    unsigned long long id = 0;
    snap_meta_t meta;
    ctx_err_t inner;
    ctx_err_clear(&inner);
    if (sscanf(key, "metadata/snapshot-%llu", &id) == 1 && id > 0 &&
        snap_meta_load(d->snap_root, (uint64_t)id, &meta, &inner) == CTX_OK) {
        uint64_t bytes = size_bytes;
        for (int f = 0; f < meta.nfiles; f++) {
            bytes += meta.files[f].bytes;
        }
        upload_state(d, (uint64_t)id, true, bytes, NULL);
    }
    return CTX_OK;
}

static int h_list(void *ctx, arena_t *arena, sql_snapshot_info_t **out, int *count,
                  ctx_err_t *err) {
    durability_t *d = ctx;
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc = snap_list(d->snap_root, &ids, &n, err);
    *out = arena_calloc(arena, n + 1, sizeof(sql_snapshot_info_t));
    *count = 0;
    for (size_t i = 0; rc == CTX_OK && i < n; i++) {
        snap_meta_t m;
        ctx_err_t inner;
        ctx_err_clear(&inner);
        if (ids[i] > d->current_id || snap_meta_load(d->snap_root, ids[i], &m, &inner) != 0) {
            continue;
        }
        sql_snapshot_info_t *s = &(*out)[(*count)++];
        s->id = m.snapshot_id;
        s->timestamp_ms = m.timestamp_ms;
        s->raft_index = m.raft_index;
        s->nodes = m.nodes;
        s->edges = m.edges;
        s->vectors = m.vectors;
        s->files = (uint64_t)m.nfiles;
        for (int f = 0; f < m.nfiles; f++) {
            s->bytes += m.files[f].bytes;
        }
        upload_info(d, m.snapshot_id, arena, s);
    }
    free(ids);
    return rc;
}

/* True when one of kept[0..n) names the file path (its object must stay). */
static bool kept_names(const snap_meta_t *kept, size_t n, const char *path) {
    for (size_t k = 0; k < n; k++) {
        for (int f = 0; f < kept[k].nfiles; f++) {
            if (strcmp(kept[k].files[f].path, path) == 0) {
                return true;
            }
        }
    }
    return false;
}

static int h_vacuum(void *ctx, int64_t keep, uint64_t *removed, ctx_err_t *err) {
    durability_t *d = ctx;
    if (keep < 1) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "VACUUM SNAPSHOTS KEEP must be at least 1");
    }
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc = snap_list(d->snap_root, &ids, &n, err);
    size_t complete = 0;
    while (complete < n && ids[complete] <= d->current_id) {
        complete++;
    }
    /* keep may be up to INT64_MAX: everything sized by it is bounded by what exists */
    size_t first_kept = (uint64_t)keep < complete ? complete - (size_t)keep : 0;
    snap_meta_t *kept = ctx_calloc(complete - first_kept + 1, sizeof(snap_meta_t));
    size_t nkept = 0;
    for (size_t i = first_kept; rc == CTX_OK && i < complete; i++) {
        rc = snap_meta_load(d->snap_root, ids[i], &kept[nkept++], err);
    }
    *removed = 0;
    for (size_t i = 0; rc == CTX_OK && i < first_kept; i++) {
        snap_meta_t m;
        uint64_t files = 0;
        rc = snap_meta_load(d->snap_root, ids[i], &m, err);
        if (rc == CTX_OK) {
            rc = snap_remove(d->snap_root, &m, kept, nkept, &files, err);
        }
        /* in the store: metadata first, so no reader finds metadata naming a deleted file */
        char key[128];
        snap_meta_path(ids[i], key, sizeof(key));
        if (rc == CTX_OK) {
            delete_enqueue(d, key);
        }
        for (int f = 0; rc == CTX_OK && f < m.nfiles; f++) {
            if (!kept_names(kept, nkept, m.files[f].path)) {
                delete_enqueue(d, m.files[f].path);
            }
        }
        cache_drop(d, ids[i]);
        *removed += rc == CTX_OK;
    }
    free(kept);
    free(ids);
    return rc;
}

/* ---------------------------------------------------------------- open / close */

static int d_recover(durability_t *d, sql_db_t *db, ctx_err_t *err) {
    recovery_opts_t ro = {
        .snapshot_root = d->snap_root,
        .store_config = {.vector_dims = d->cfg.vector_dims},
        .wal = {.dir = d->wal_dir,
                .segment_bytes = d->cfg.wal_segment_bytes,
                .sync_commit = d->cfg.synchronous_commit,
                .sync_delay_ms = WAL_SYNC_DELAY_MS_DEFAULT,
                .notify_fd = d->efd,
                .fsync_observer = metrics_wal_fsync},
        .apply_through = UINT64_MAX,
    };
    snap_index_hook_t hook = {.load = idx_load, .ctx = d};
    if (d->cfg.vector_index != NULL) {
        ro.index_hook = &hook;
        ro.restored = idx_restored;
        ro.replayed = idx_replayed;
        ro.hook_ctx = d;
    }
    /* nothing after the snapshot is applied here: the log goes to Raft, which hands the
     * committed entries to the one apply path (server/cluster.c) */
    ro.apply_through = 0;
    recovery_info_t *info_out = &d->recovered;
    recovery_info_t info;
    store_t *store = NULL;
    int rc = recovery_run(&ro, &store, &d->wal, info_out, err);
    if (rc != CTX_OK) {
        recovery_info_free(info_out);
        return rc;
    }
    info = *info_out;
    d->snapshot_term = 0;
    if (info.snapshot_id != 0) {
        snap_meta_t meta;
        ctx_err_t merr;
        ctx_err_clear(&merr);
        if (snap_meta_load(d->snap_root, info.snapshot_id, &meta, &merr) == CTX_OK) {
            d->snapshot_term = meta.raft_term;
        }
    }
    ctx_err_t cerr;
    ctx_err_clear(&cerr);
    if (snap_get_current(d->snap_root, &d->current_id, &cerr) != CTX_OK) {
        d->current_id = 0;
    }
    d->current_index = info.snapshot_index;
    d->previous_index = info.snapshot_index;
    d->next_snapshot_id = info.next_snapshot_id;
    atomic_store(&d->snapshots_done, d->next_snapshot_id - 1);
    CTX_INFO("recovery: snapshot %" PRIu64 " (WAL index %" PRIu64 ", %" PRIu64 " nodes) loaded "
             "in %.0f ms; %zu log entries after it read in %.0f ms; log now ends at %" PRIu64
             "%s%s",
             info.snapshot_id, info.snapshot_index, store_node_count(store), info.snapshot_ms,
             info.entries_count, info.replay_ms, wal_last_index(d->wal),
             info.wal.truncated_at[0] ? "; torn tail cut at " : "", info.wal.truncated_at);
    db->store = store;
    return CTX_OK;
}

/* At open: marks the snapshots the object store holds as uploaded, and queues the current one
 * when the store lacks it (an upload cut short by a stop, or one that failed). */
static void upload_resume(durability_t *d) {
    ctx_err_t err;
    ctx_err_clear(&err);
    if (objstore_list(d->objstore, "metadata/snapshot-", seen_uploaded, d, &err) != CTX_OK) {
        CTX_WARN("object store %s could not be listed: %s", d->obj_url, err.message);
    }
    const dur_upload_t *u = &d->uploads[d->current_id % DUR_UPLOADS_MAX];
    if (d->current_id > 0 && (u->id != d->current_id || !u->done)) {
        CTX_INFO("snapshot %" PRIu64 " is not in %s yet: uploading it", d->current_id, d->obj_url);
        upload_enqueue(d, d->current_id);
    }
}

/* True when dir has no entry but "." and "..". */
static bool dir_empty(const char *dir) {
    DIR *dd = opendir(dir);
    if (dd == NULL) {
        return true;
    }
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(dd)) != NULL) {
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    }
    closedir(dd);
    return empty;
}

/* With S3 and nothing local (no current snapshot, no WAL): restores a snapshot from the store. */
static int d_restore(durability_t *d, ctx_err_t *err) {
    uint64_t current = 0;
    ctx_err_t inner;
    ctx_err_clear(&inner);
    if (snap_get_current(d->snap_root, &current, &inner) == CTX_OK || !dir_empty(d->wal_dir)) {
        if (d->cfg.restore_snapshot != 0) {
            CTX_WARN("--restore-snapshot ignored: the data directory is not empty");
        }
        return CTX_OK;
    }
    double started = mono_ms();
    uint64_t received = atomic_load(&d->objstore->received_bytes);
    restore_info_t info;
    int rc = restore_snapshot(d->objstore, d->snap_root, d->cfg.restore_snapshot, &info, err);
    if (rc == CTX_EUNDEF_OBJECT && d->cfg.restore_snapshot == 0) {
        CTX_INFO("restore: %s; starting empty", err->message);
        ctx_err_clear(err);
        return CTX_OK;
    }
    if (rc != CTX_OK) {
        return rc;
    }
    double secs = (mono_ms() - started) / 1e3;
    double mb = (double)(atomic_load(&d->objstore->received_bytes) - received) / 1e6;
    CTX_INFO("restore: snapshot %" PRIu64 " from %s: %" PRIu64 " files, %.1f MB in %.2f s "
             "(%.1f MB/s)",
             info.snapshot_id, d->obj_url, info.files, mb, secs, secs > 0 ? mb / secs : 0.0);
    return CTX_OK;
}

int durability_open(const durability_config_t *config, sql_db_t *db, durability_t **out,
                    ctx_err_t *err) {
    CTX_ASSERT(config != NULL && db != NULL && out != NULL);
    CTX_ASSERT(config->snapshot_codec >= COL_CODEC_NONE &&
               config->snapshot_codec <= COL_CODEC_ZSTD);
    durability_t *d = ctx_calloc(1, sizeof(*d));
    d->cfg = *config;
    d->db = db;
    if (config->vector_index != NULL) {
        d->hnsw = *config->vector_index;
        d->cfg.vector_index = &d->hnsw;
    }
    buf_init(&d->enc);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->upload_cv, NULL);
    char abs[PATH_MAX];
    const char *base = realpath(config->data_dir, abs) != NULL ? abs : config->data_dir;
    int rc = fsu_path(d->snap_root, err, "%s/snapshots", config->data_dir);
    if (rc == CTX_OK) {
        rc = fsu_path(d->wal_dir, err, "%s/wal", config->data_dir);
    }
    if (rc == CTX_OK) {
        rc = fsu_path(d->obj_url, err, "file://%s/objstore", base);
    }
    if (rc == CTX_OK) {
        rc = fsu_path(d->fetch_root, err, "%s/fetched", config->data_dir);
    }
    d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (rc == CTX_OK && d->efd < 0) {
        rc = ctx_err_set(err, CTX_EIO, "eventfd: %s", strerror(errno));
    }
    void *shared = mmap(NULL, sizeof(dur_child_report_t), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    d->report = shared != MAP_FAILED ? shared : NULL;
    if (rc == CTX_OK && d->report == NULL) {
        rc = ctx_err_set(err, CTX_ENOMEM, "could not map the snapshot report: %s", strerror(errno));
    }
    if (rc == CTX_OK && config->s3 != NULL) {
        rc = objstore_s3_open(config->s3, &d->objstore, err);
        snprintf(d->obj_url, sizeof(d->obj_url), "%s", rc == CTX_OK ? d->objstore->url : "s3");
    } else if (rc == CTX_OK) {
        rc = objstore_open(d->obj_url, &d->objstore, err);
    }
    if (rc == CTX_OK && config->s3 != NULL) {
        rc = d_restore(d, err);
    }
    if (rc == CTX_OK) {
        rc = d_recover(d, db, err);
    }
    if (rc == CTX_OK) {
        upload_resume(d);
    }
    hnsw_destroy(d->loaded);
    d->loaded = NULL;
    if (rc != CTX_OK) {
        vindex_destroy(d->vindex);
        durability_close(d);
        return rc;
    }
    if (d->vindex != NULL) {
        db->vindex = d->vindex;
        db->hooks.applied = vindex_applied;
        db->hooks.applied_ctx = d->vindex;
    }
    if (pthread_create(&d->uploader, NULL, uploader_main, d) != 0) {
        CTX_ASSERT(!"could not start the snapshot uploader thread");
    }
    d->uploader_running = true;
    db->snapshots = (sql_snapshot_hooks_t){h_create, h_vacuum, h_list, h_open, d};
    *out = d;
    return CTX_OK;
}

void durability_close(durability_t *d) {
    if (d == NULL) {
        return;
    }
    if (d->running) {
        snapshot_finish(d); /* joins the waiter, which reaps the writer */
    }
    if (d->uploader_running) { /* ends the current upload after its current file */
        pthread_mutex_lock(&d->mu);
        atomic_store(&d->upload_stop, true);
        objstore_cancel(d->objstore);
        pthread_cond_signal(&d->upload_cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->uploader, NULL);
    }
    wal_close(d->wal);
    recovery_info_free(&d->recovered);
    cache_drop(d, 0);
    objstore_close(d->objstore);
    if (d->efd >= 0) {
        close(d->efd);
    }
    buf_free(&d->enc);
    if (d->report != NULL) {
        munmap(d->report, sizeof(dur_child_report_t));
    }
    for (size_t i = 0; i < d->ndeletes; i++) {
        free(d->deletes[i]);
    }
    free(d->deletes);
    pthread_cond_destroy(&d->upload_cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/*
 * snapship.c — snapshot shipping (contract in snapship.h).
 *
 * Frames. Every frame is the header, the op's fields and a CRC32C trailer over everything before
 * it; integers are big-endian. A frame whose version or CRC is wrong is refused whole.
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     version (SHIP_VERSION)
 *   1       1     op (ship_op_t)
 *   2       8     seq: the puller's request counter, echoed in the reply
 *   10      ...   META     min_index 8
 *                 CHUNK    snapshot_id 8, file 2 (index into the metadata's files), offset 8,
 *                          length 4
 *                 META_OK  snapshot_id 8, raft_index 8, length 4, the metadata JSON (length)
 *                 DATA     snapshot_id 8, file 2, offset 8, length 4, the bytes (length)
 *                 GONE     snapshot_id 8
 *                 BUSY     (nothing)
 *   end-4   4     CRC32C of bytes 0 .. end-4
 *
 * The puller's state machine: IDLE -> META (asked for the leader's current snapshot) -> FETCH
 * (file `file`, bytes [0, written) verified and written, requests sent up to `requested`) ->
 * INSTALL (every file there; verified, adopted, made current) -> IDLE after hooks.restart. The
 * staging directory holds the partial files at their relative paths, `meta.json` (the leader's
 * metadata bytes) and `progress` ("FILE OFFSET\n", written atomically after the data it vouches
 * for was fsynced). DATA is accepted only for the exact (snapshot, file, offset) expected next,
 * so duplicates from a re-requested window are harmless; the window is re-requested from
 * `written` after a refused chunk and after SHIP_STALL_MS without progress (a dropped
 * connection loses the frames queued on it).
 *
 * Serving keeps the metadata of the snapshot it serves cached by id; a CHUNK reopens the file
 * every time, so a snapshot VACUUM removed is answered GONE at the next chunk.
 */
#include "snapship.h"

#include "buf.h"
#include "crc32c.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum { SHIP_IDLE, SHIP_ASK, SHIP_FETCH, SHIP_INSTALL } ship_state_t;

typedef struct ship_slot {
    uint32_t peer; /* 0: free */
    uint64_t last_ms;
} ship_slot_t;

struct ship {
    ship_config_t cfg;
    char root[FSU_PATH_MAX];
    char stage[FSU_PATH_MAX];
    /* pulling */
    ship_state_t state;
    uint32_t leader;
    uint64_t min_index;
    uint64_t seq;
    snap_meta_t meta;
    int file;
    int fd;
    uint64_t written, synced, requested;
    uint64_t sent_ms, progress_ms, retry_at_ms, started_ms;
    uint64_t paced_bytes; /* requested since started_ms, for the rate bound */
    /* serving */
    ship_slot_t slots[SHIP_SERVE_MAX];
    snap_meta_t served; /* cached metadata of the snapshot last served (snapshot_id 0: none) */
    buf_t out;
    ship_stats_t stats;
};

/* ---------------------------------------------------------------- frames */

void ship_frame_encode(const ship_frame_t *f, buf_t *out) {
    size_t start = buf_size(out);
    buf_append_u8(out, SHIP_VERSION);
    buf_append_u8(out, f->op);
    buf_append_u64be(out, f->seq);
    switch (f->op) {
    case SHIP_OP_META:
        buf_append_u64be(out, f->min_index);
        break;
    case SHIP_OP_CHUNK:
    case SHIP_OP_DATA:
        buf_append_u64be(out, f->snapshot_id);
        buf_append_u16be(out, f->file);
        buf_append_u64be(out, f->offset);
        buf_append_u32be(out, f->length);
        if (f->op == SHIP_OP_DATA) {
            buf_append(out, f->bytes, f->length);
        }
        break;
    case SHIP_OP_META_OK:
        buf_append_u64be(out, f->snapshot_id);
        buf_append_u64be(out, f->raft_index);
        buf_append_u32be(out, f->length);
        buf_append(out, f->bytes, f->length);
        break;
    case SHIP_OP_GONE:
        buf_append_u64be(out, f->snapshot_id);
        break;
    default:
        CTX_ASSERT(f->op == SHIP_OP_BUSY);
        break;
    }
    if (!buf_failed(out)) {
        buf_append_u32be(out, crc32c(0, buf_peek(out) + start, buf_size(out) - start));
    }
}

/* The fixed size of op's fields after the header; -1 for an unknown op. */
static int ship_fields_bytes(uint8_t op) {
    switch (op) {
    case SHIP_OP_META:
    case SHIP_OP_GONE:
        return 8;
    case SHIP_OP_CHUNK:
    case SHIP_OP_DATA:
        return 22;
    case SHIP_OP_META_OK:
        return 20;
    case SHIP_OP_BUSY:
        return 0;
    default:
        return -1;
    }
}

int ship_frame_decode(const uint8_t *bytes, size_t len, ship_frame_t *out, ctx_err_t *err) {
    memset(out, 0, sizeof(*out));
    if (len < SHIP_HEADER_BYTES + SHIP_CRC_BYTES || bytes[0] != SHIP_VERSION) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot frame of %zu bytes with version %u", len,
                           len > 0 ? bytes[0] : 0u);
    }
    size_t body = len - SHIP_CRC_BYTES;
    if (crc32c(0, bytes, body) != ctx_read_u32be(bytes + body)) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot frame of %zu bytes fails its CRC32C", len);
    }
    out->op = bytes[1];
    out->seq = ctx_read_u64be(bytes + 2);
    int fields = ship_fields_bytes(out->op);
    const uint8_t *p = bytes + SHIP_HEADER_BYTES;
    if (fields < 0 || body < SHIP_HEADER_BYTES + (size_t)fields) {
        return ctx_err_set(err, CTX_EPROTOCOL, "snapshot frame op %u of %zu bytes", out->op, len);
    }
    size_t payload = body - SHIP_HEADER_BYTES - (size_t)fields;
    if (out->op == SHIP_OP_META) {
        out->min_index = ctx_read_u64be(p);
    } else if (out->op == SHIP_OP_CHUNK || out->op == SHIP_OP_DATA) {
        out->snapshot_id = ctx_read_u64be(p);
        out->file = ctx_read_u16be(p + 8);
        out->offset = ctx_read_u64be(p + 10);
        out->length = ctx_read_u32be(p + 18);
    } else if (out->op == SHIP_OP_META_OK) {
        out->snapshot_id = ctx_read_u64be(p);
        out->raft_index = ctx_read_u64be(p + 8);
        out->length = ctx_read_u32be(p + 16);
    } else if (out->op == SHIP_OP_GONE) {
        out->snapshot_id = ctx_read_u64be(p);
    }
    bool carries = out->op == SHIP_OP_DATA || out->op == SHIP_OP_META_OK;
    if (payload != (carries ? out->length : 0)) {
        return ctx_err_set(err, CTX_EPROTOCOL, "snapshot frame op %u: %zu payload bytes, %u named",
                           out->op, payload, carries ? out->length : 0u);
    }
    out->bytes = carries ? p + fields : NULL;
    return CTX_OK;
}

/* ---------------------------------------------------------------- helpers */

static uint64_t ship_now(const ship_t *s) {
    if (s->cfg.hooks.now_ms != NULL) {
        return s->cfg.hooks.now_ms(s->cfg.hooks.ctx);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void ship_send(ship_t *s, uint32_t to, const ship_frame_t *f) {
    buf_reset(&s->out);
    ship_frame_encode(f, &s->out);
    if (buf_failed(&s->out)) {
        CTX_WARN("snapship: out of memory encoding a frame for node %u", to);
        buf_free(&s->out);
        buf_init(&s->out);
        return;
    }
    (void)s->cfg.hooks.send(s->cfg.hooks.ctx, to, buf_peek(&s->out), buf_size(&s->out));
    if (buf_size(&s->out) > 2 * (size_t)SHIP_CHUNK_BYTES_MAX) {
        buf_free(&s->out);
        buf_init(&s->out);
    }
}

static int ship_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        CTX_WARN("snapship: could not remove \"%s\": %s", path, strerror(errno));
    }
    return 0;
}

/* Empties the staging directory (and removes it). */
static void ship_wipe_stage(ship_t *s) {
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    if (access(s->stage, F_OK) == 0) {
        (void)nftw(s->stage, ship_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static int ship_stage_path(const ship_t *s, const char *rel, char out[FSU_PATH_MAX],
                           ctx_err_t *err) {
    return fsu_path(out, err, "%s/%s", s->stage, rel);
}

/* Records the verified position (file, offset) once the data before it is durable. */
static int ship_save_progress(ship_t *s, ctx_err_t *err) {
    char path[FSU_PATH_MAX], text[64];
    int rc = ship_stage_path(s, "progress", path, err);
    if (rc != CTX_OK) {
        return rc;
    }
    int n = snprintf(text, sizeof(text), "%d %" PRIu64 "\n", s->file, s->written);
    return fsu_write_atomic(path, text, (size_t)n, err);
}

/* ---------------------------------------------------------------- pulling */

static void ship_ask(ship_t *s) {
    s->state = SHIP_ASK;
    s->sent_ms = ship_now(s);
    ship_frame_t f = {.op = SHIP_OP_META, .seq = ++s->seq, .min_index = s->min_index};
    ship_send(s, s->leader, &f);
}

/* Gives up on what is staged and asks again (GONE mid-transfer, failed verification). */
static void ship_start_over(ship_t *s, const char *why) {
    CTX_WARN("snapship: %s; starting the transfer over", why);
    s->stats.restarts++;
    ship_wipe_stage(s);
    ship_ask(s);
}

/* A local failure (disk): asks again after SHIP_STALL_MS rather than at once. */
static void ship_start_over_later(ship_t *s, const char *why) {
    CTX_WARN("snapship: %s; starting the transfer over in %d ms", why, SHIP_STALL_MS);
    s->stats.restarts++;
    ship_wipe_stage(s);
    s->state = SHIP_ASK;
    s->retry_at_ms = ship_now(s) + SHIP_STALL_MS;
}

/* Opens the current file for writing from `written` (cutting any unverified tail). */
static int ship_open_file(ship_t *s, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    int rc = ship_stage_path(s, s->meta.files[s->file].path, path, err);
    if (rc == CTX_OK) {
        rc = fsu_mkdirs_for(path, 0755, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->fd < 0 || ftruncate(s->fd, (off_t)s->written) != 0) {
        return ctx_err_set(err, fsu_errno_code(errno), "\"%s\": %s", path, strerror(errno));
    }
    s->synced = s->written;
    s->requested = s->written;
    return CTX_OK;
}

static bool ship_paced(ship_t *s, uint64_t now) {
    if (s->cfg.rate_bytes_per_s == 0) {
        return false;
    }
    /* a request goes out while the bytes requested so far are within the budget */
    return s->paced_bytes > s->cfg.rate_bytes_per_s * (now - s->started_ms) / 1000;
}

/* Keeps SHIP_WINDOW chunk requests of the current file in flight. */
static void ship_fill(ship_t *s) {
    const snap_file_t *f = &s->meta.files[s->file];
    uint64_t now = ship_now(s);
    while (s->requested < f->bytes &&
           s->requested - s->written < (uint64_t)SHIP_WINDOW * s->cfg.chunk_bytes &&
           !ship_paced(s, now)) {
        uint64_t left = f->bytes - s->requested;
        uint32_t len = left < s->cfg.chunk_bytes ? (uint32_t)left : s->cfg.chunk_bytes;
        ship_frame_t req = {.op = SHIP_OP_CHUNK,
                            .seq = ++s->seq,
                            .snapshot_id = s->meta.snapshot_id,
                            .file = (uint16_t)s->file,
                            .offset = s->requested,
                            .length = len};
        ship_send(s, s->leader, &req);
        s->requested += len;
        s->paced_bytes += len;
    }
}

static void ship_install(ship_t *s);

/* Moves on past complete files (an empty one, or one a resumed run finished). */
static void ship_advance_files(ship_t *s) {
    ctx_err_t err;
    ctx_err_clear(&err);
    while (s->file < s->meta.nfiles && s->written == s->meta.files[s->file].bytes) {
        if (s->fd >= 0) {
            int rc = fdatasync(s->fd) == 0 ? CTX_OK : fsu_errno_code(errno);
            close(s->fd);
            s->fd = -1;
            if (rc != CTX_OK) {
                ship_start_over_later(s, "a received file could not be synced");
                return;
            }
        }
        s->file++;
        s->written = 0;
        if (ship_save_progress(s, &err) != CTX_OK) {
            CTX_WARN("snapship: %s", err.message);
        }
        if (s->file < s->meta.nfiles && ship_open_file(s, &err) != CTX_OK) {
            ship_start_over_later(s, err.message);
            return;
        }
    }
    if (s->file == s->meta.nfiles) {
        ship_install(s);
        return;
    }
    ship_fill(s);
}

/* Reads progress of a staged transfer of the same snapshot: the position to resume at. */
static void ship_load_progress(ship_t *s) {
    char path[FSU_PATH_MAX];
    uint8_t *text = NULL;
    size_t len = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    int file = 0;
    uint64_t offset = 0;
    if (ship_stage_path(s, "progress", path, &err) == CTX_OK &&
        fsu_read_all(path, 64, &text, &len, &err) == CTX_OK &&
        sscanf((const char *)text, "%d %" SCNu64, &file, &offset) == 2 && file >= 0 &&
        file <= s->meta.nfiles && (file == s->meta.nfiles || offset <= s->meta.files[file].bytes)) {
        s->file = file;
        s->written = offset;
        for (int i = 0; i < file; i++) {
            s->stats.resumed_bytes += s->meta.files[i].bytes;
        }
        s->stats.resumed_bytes += offset;
    }
    free(text);
}

/* META_OK: starts (or resumes) fetching the files it names. */
static void ship_on_meta(ship_t *s, const ship_frame_t *f) {
    ctx_err_t err;
    ctx_err_clear(&err);
    snap_meta_t meta;
    if (f->raft_index < s->min_index ||
        snap_meta_parse((const char *)f->bytes, f->length, &meta, &err) != CTX_OK ||
        meta.snapshot_id != f->snapshot_id || meta.raft_index != f->raft_index) {
        CTX_WARN("snapship: node %u offered unusable snapshot metadata (%s)", s->leader,
                 err.message[0] ? err.message : "not the snapshot it names");
        s->retry_at_ms = ship_now(s) + SHIP_RETRY_MS;
        return;
    }
    char path[FSU_PATH_MAX];
    uint8_t *staged = NULL;
    size_t staged_len = 0;
    int rc = ship_stage_path(s, "meta.json", path, &err);
    bool same = rc == CTX_OK &&
                fsu_read_all(path, SHIP_META_BYTES_MAX, &staged, &staged_len, &err) == CTX_OK &&
                staged_len == f->length && memcmp(staged, f->bytes, staged_len) == 0;
    free(staged);
    s->meta = meta;
    s->file = 0;
    s->written = 0;
    if (same) {
        ship_load_progress(s);
    } else {
        ship_wipe_stage(s);
        rc = fsu_mkdirs(s->stage, 0755, &err);
        rc = rc == CTX_OK ? fsu_write_atomic(path, f->bytes, f->length, &err) : rc;
        if (rc != CTX_OK) {
            CTX_ERROR("snapship: cannot stage snapshot %" PRIu64 ": %s", meta.snapshot_id,
                      err.message);
            s->retry_at_ms = ship_now(s) + SHIP_STALL_MS;
            return;
        }
    }
    CTX_INFO("snapship: pulling snapshot %" PRIu64 " (raft index %" PRIu64 ", %d files) from "
             "node %u%s, file %d offset %" PRIu64,
             meta.snapshot_id, meta.raft_index, meta.nfiles, s->leader, same ? ", resuming" : "",
             s->file, s->written);
    s->state = SHIP_FETCH;
    s->progress_ms = ship_now(s);
    if (s->file < s->meta.nfiles && ship_open_file(s, &err) != CTX_OK) {
        ship_start_over_later(s, err.message);
        return;
    }
    ship_advance_files(s);
}

/* DATA: written when it is exactly the next chunk of the current file. */
static void ship_on_data(ship_t *s, const ship_frame_t *f) {
    if (s->state != SHIP_FETCH || f->snapshot_id != s->meta.snapshot_id || f->file != s->file ||
        f->offset != s->written || f->length == 0 ||
        f->offset + f->length > s->meta.files[s->file].bytes) {
        s->stats.chunks_stale++;
        return;
    }
    ssize_t n = pwrite(s->fd, f->bytes, f->length, (off_t)f->offset);
    if (n != (ssize_t)f->length) {
        CTX_ERROR("snapship: writing \"%s\" failed: %s", s->meta.files[s->file].path,
                  n < 0 ? strerror(errno) : "short write");
        s->requested = s->written; /* re-requested after SHIP_STALL_MS */
        s->retry_at_ms = ship_now(s) + SHIP_STALL_MS;
        return;
    }
    s->written += f->length;
    s->stats.chunks_ok++;
    s->stats.bytes_pulled += f->length;
    s->progress_ms = ship_now(s);
    if (s->written - s->synced >= SHIP_SYNC_BYTES && s->written < s->meta.files[s->file].bytes) {
        ctx_err_t err;
        ctx_err_clear(&err);
        if (fdatasync(s->fd) == 0) {
            s->synced = s->written;
            if (ship_save_progress(s, &err) != CTX_OK) {
                CTX_WARN("snapship: %s", err.message);
            }
        }
    }
    ship_advance_files(s);
}

/* Checks every staged file whole, adopts the snapshot and hands it to hooks.restart. */
static void ship_install(ship_t *s) {
    if (s->state != SHIP_INSTALL) {
        s->stats.pull_ms = (double)(ship_now(s) - s->started_ms);
    }
    s->state = SHIP_INSTALL;
    ctx_err_t err;
    ctx_err_clear(&err);
    for (int i = 0; i < s->meta.nfiles; i++) {
        if (snap_file_scan(s->stage, &s->meta, &s->meta.files[i], NULL, NULL, &err) != CTX_OK) {
            char why[CTX_ERR_MESSAGE_MAX + 64];
            snprintf(why, sizeof(why), "the received snapshot failed verification: %.*s",
                     CTX_ERR_MESSAGE_MAX, err.message);
            ship_start_over_later(s, why); /* the leader's copy may be damaged: not at once */
            return;
        }
    }
    uint64_t id = 0;
    if (s->cfg.hooks.reserve_id(s->cfg.hooks.ctx, &id) != CTX_OK) {
        s->retry_at_ms = ship_now(s) + SHIP_RETRY_MS; /* a local snapshot is being written */
        return;
    }
    snap_meta_t adopted;
    int rc = snap_adopt(s->stage, &s->meta, s->root, id, &adopted, &err);
    rc = rc == CTX_OK ? snap_set_current(s->root, id, &err) : rc;
    if (rc != CTX_OK) {
        CTX_ERROR("snapship: cannot install the received snapshot: %s", err.message);
        ship_start_over_later(s, "installing failed");
        return;
    }
    s->stats.transfer_ms = (double)(ship_now(s) - s->started_ms);
    s->stats.installed++;
    s->stats.install_index = adopted.raft_index;
    uint64_t total = 0;
    for (int i = 0; i < adopted.nfiles; i++) {
        total += adopted.files[i].bytes;
    }
    double pull_ms = s->stats.pull_ms > 0 ? s->stats.pull_ms : 1.0;
    CTX_INFO("snapship: installed snapshot %" PRIu64 " of node %u as local snapshot %" PRIu64
             " (raft index %" PRIu64 ", %" PRIu64 " bytes, %" PRIu64 " pulled in %.0f ms, %.1f "
             "MB/s; verified and installed after %.0f ms; %" PRIu64 " chunks refused)",
             s->meta.snapshot_id, s->leader, id, adopted.raft_index, total, s->stats.bytes_pulled,
             s->stats.pull_ms, (double)s->stats.bytes_pulled / 1e3 / pull_ms, s->stats.transfer_ms,
             s->stats.chunks_refused);
    ship_wipe_stage(s);
    s->state = SHIP_IDLE;
    s->cfg.hooks.restart(s->cfg.hooks.ctx, &adopted);
}

void ship_begin(ship_t *s, uint32_t leader, uint64_t index) {
    if (s->state != SHIP_IDLE) {
        s->leader = leader;
        return;
    }
    CTX_INFO("snapship: node %u needs a snapshot covering raft index %" PRIu64
             " (its log was compacted on the leader); pulling it from node %u",
             leader, index, leader);
    s->leader = leader;
    s->min_index = index;
    s->started_ms = ship_now(s);
    s->progress_ms = s->started_ms;
    s->paced_bytes = 0;
    s->retry_at_ms = 0;
    ship_ask(s);
}

bool ship_active(const ship_t *s) {
    return s->state != SHIP_IDLE;
}

/* ---------------------------------------------------------------- serving */

/* A slot for peer (its own, a free one or one idle long enough); false: BUSY. */
static bool ship_slot(ship_t *s, uint32_t peer) {
    uint64_t now = ship_now(s);
    ship_slot_t *free_slot = NULL;
    for (int i = 0; i < SHIP_SERVE_MAX; i++) {
        ship_slot_t *slot = &s->slots[i];
        if (slot->peer == peer) {
            slot->last_ms = now;
            return true;
        }
        if (free_slot == NULL && (slot->peer == 0 || now - slot->last_ms >= SHIP_SERVE_IDLE_MS)) {
            free_slot = slot;
        }
    }
    if (free_slot == NULL) {
        s->stats.served_busy++;
        return false;
    }
    *free_slot = (ship_slot_t){.peer = peer, .last_ms = now};
    return true;
}

static void ship_serve_meta(ship_t *s, uint32_t from, const ship_frame_t *req) {
    ctx_err_t err;
    ctx_err_clear(&err);
    uint64_t id = 0;
    snap_meta_t meta;
    ship_frame_t rep = {.op = SHIP_OP_GONE, .seq = req->seq};
    char rel[128], path[FSU_PATH_MAX];
    uint8_t *json = NULL;
    size_t len = 0;
    if (snap_get_current(s->root, &id, &err) == CTX_OK &&
        snap_meta_load(s->root, id, &meta, &err) == CTX_OK && meta.raft_index >= req->min_index) {
        snap_meta_path(id, rel, sizeof(rel));
        if (fsu_path(path, &err, "%s/%s", s->root, rel) == CTX_OK &&
            fsu_read_all(path, SHIP_META_BYTES_MAX, &json, &len, &err) == CTX_OK) {
            s->served = meta;
            rep = (ship_frame_t){.op = SHIP_OP_META_OK,
                                 .seq = req->seq,
                                 .snapshot_id = id,
                                 .raft_index = meta.raft_index,
                                 .length = (uint32_t)len,
                                 .bytes = json};
            CTX_INFO("snapship: offering snapshot %" PRIu64 " (raft index %" PRIu64 ") to node %u",
                     id, meta.raft_index, from);
        }
    }
    rep.snapshot_id = rep.op == SHIP_OP_GONE ? id : rep.snapshot_id;
    ship_send(s, from, &rep);
    free(json);
}

/* Reads [offset, offset + length) of the file; false when the snapshot or file is gone. */
static bool ship_read_chunk(ship_t *s, const ship_frame_t *req, uint8_t *data) {
    ctx_err_t err;
    ctx_err_clear(&err);
    if (s->served.snapshot_id != req->snapshot_id &&
        snap_meta_load(s->root, req->snapshot_id, &s->served, &err) != CTX_OK) {
        s->served.snapshot_id = 0;
        return false;
    }
    if (req->file >= s->served.nfiles || req->length == 0 || req->length > SHIP_CHUNK_BYTES_MAX ||
        req->offset + req->length > s->served.files[req->file].bytes) {
        return false;
    }
    char path[FSU_PATH_MAX];
    if (fsu_path(path, &err, "%s/%s", s->root, s->served.files[req->file].path) != CTX_OK) {
        return false;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s->served.snapshot_id = 0; /* removed (VACUUM): the metadata is reloaded next time */
        return false;
    }
    ssize_t n = pread(fd, data, req->length, (off_t)req->offset);
    close(fd);
    return n == (ssize_t)req->length;
}

static void ship_serve_chunk(ship_t *s, uint32_t from, const ship_frame_t *req) {
    uint8_t *data =
        req->length <= SHIP_CHUNK_BYTES_MAX ? malloc(req->length ? req->length : 1) : NULL;
    ship_frame_t rep = {.op = SHIP_OP_GONE, .seq = req->seq, .snapshot_id = req->snapshot_id};
    if (data != NULL && ship_read_chunk(s, req, data)) {
        rep = (ship_frame_t){.op = SHIP_OP_DATA,
                             .seq = req->seq,
                             .snapshot_id = req->snapshot_id,
                             .file = req->file,
                             .offset = req->offset,
                             .length = req->length,
                             .bytes = data};
        s->stats.served_chunks++;
    } else {
        CTX_WARN("snapship: node %u asked for snapshot %" PRIu64 " file %u offset %" PRIu64
                 ", which this member no longer has",
                 from, req->snapshot_id, req->file, req->offset);
    }
    ship_send(s, from, &rep);
    free(data);
}

/* ---------------------------------------------------------------- frames in, timers */

static void ship_on_reply(ship_t *s, uint32_t from, const ship_frame_t *f) {
    if (s->state == SHIP_IDLE || from != s->leader) {
        s->stats.chunks_stale++;
        return;
    }
    switch (f->op) {
    case SHIP_OP_META_OK:
        if (s->state == SHIP_ASK && f->seq == s->seq) {
            ship_on_meta(s, f);
        }
        break;
    case SHIP_OP_DATA:
        ship_on_data(s, f);
        break;
    case SHIP_OP_GONE:
        if (s->state == SHIP_FETCH && f->snapshot_id == s->meta.snapshot_id) {
            ship_start_over(s, "the leader no longer has the snapshot being pulled");
        } else if (s->state == SHIP_ASK && f->seq == s->seq) {
            s->retry_at_ms = ship_now(s) + SHIP_RETRY_MS; /* none covering min_index yet */
        }
        break;
    default: /* BUSY */
        s->requested = s->written;
        s->retry_at_ms = ship_now(s) + SHIP_RETRY_MS;
        break;
    }
}

void ship_on_frame(ship_t *s, uint32_t from, const uint8_t *bytes, size_t len) {
    ctx_err_t err;
    ctx_err_clear(&err);
    ship_frame_t f;
    if (ship_frame_decode(bytes, len, &f, &err) != CTX_OK) {
        s->stats.chunks_refused++;
        CTX_WARN("snapship: refused a frame from node %u: %s", from, err.message);
        if (s->state == SHIP_FETCH && from == s->leader) {
            s->requested = s->written; /* ask again for what it may have been */
            ship_fill(s);
        }
        return;
    }
    if (f.op == SHIP_OP_META || f.op == SHIP_OP_CHUNK) {
        if (!ship_slot(s, from)) {
            ship_frame_t busy = {.op = SHIP_OP_BUSY, .seq = f.seq};
            ship_send(s, from, &busy);
        } else if (f.op == SHIP_OP_META) {
            ship_serve_meta(s, from, &f);
        } else {
            ship_serve_chunk(s, from, &f);
        }
        return;
    }
    ship_on_reply(s, from, &f);
}

void ship_poll(ship_t *s) {
    if (s->state == SHIP_IDLE) {
        return;
    }
    uint64_t now = ship_now(s);
    if (now - s->progress_ms >= SHIP_ABANDON_MS) {
        CTX_ERROR("snapship: no progress from node %u in %d ms; abandoning the transfer "
                  "(the staged part is kept)",
                  s->leader, SHIP_ABANDON_MS);
        if (s->fd >= 0) {
            close(s->fd);
            s->fd = -1;
        }
        s->state = SHIP_IDLE;
        s->cfg.hooks.restart(s->cfg.hooks.ctx, NULL);
        return;
    }
    if (s->retry_at_ms != 0) {
        if (now < s->retry_at_ms) {
            return;
        }
        s->retry_at_ms = 0;
        if (s->state == SHIP_ASK) {
            ship_ask(s);
        } else if (s->state == SHIP_INSTALL) {
            ship_install(s);
        } else {
            ship_fill(s);
        }
        return;
    }
    if (s->state == SHIP_ASK && now - s->sent_ms >= SHIP_STALL_MS) {
        ship_ask(s);
    } else if (s->state == SHIP_FETCH) {
        if (now - s->progress_ms >= SHIP_STALL_MS && s->requested > s->written) {
            CTX_WARN("snapship: no chunk from node %u for %d ms; re-requesting file %d from "
                     "offset %" PRIu64,
                     s->leader, SHIP_STALL_MS, s->file, s->written);
            s->requested = s->written;
            s->progress_ms = now;
        }
        ship_fill(s);
    }
}

/* ---------------------------------------------------------------- open / close */

int ship_open(const ship_config_t *cfg, ship_t **out, ctx_err_t *err) {
    uint32_t chunk = cfg->chunk_bytes != 0 ? cfg->chunk_bytes : SHIP_CHUNK_BYTES;
    if (chunk > SHIP_CHUNK_BYTES_MAX || cfg->hooks.send == NULL || cfg->hooks.reserve_id == NULL ||
        cfg->hooks.restart == NULL || cfg->snap_root == NULL) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "snapship: bad configuration");
    }
    ship_t *s = ctx_calloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->cfg.chunk_bytes = chunk;
    int rc = fsu_path(s->root, err, "%s", cfg->snap_root);
    if (rc == CTX_OK && cfg->stage_dir != NULL) {
        rc = fsu_path(s->stage, err, "%s", cfg->stage_dir);
    } else if (rc == CTX_OK) {
        rc = fsu_path(s->stage, err, "%s.incoming", cfg->snap_root);
    }
    const char *rate = getenv("CTX_SNAPSHIP_RATE_KB");
    if (s->cfg.rate_bytes_per_s == 0 && rate != NULL) {
        s->cfg.rate_bytes_per_s = strtoull(rate, NULL, 10) * 1024;
    }
    if (rc != CTX_OK) {
        free(s);
        return rc;
    }
    s->cfg.snap_root = s->root;
    s->cfg.stage_dir = s->stage;
    s->fd = -1;
    buf_init(&s->out);
    *out = s;
    return CTX_OK;
}

void ship_close(ship_t *s) {
    if (s == NULL) {
        return;
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    buf_free(&s->out);
    free(s);
}

void ship_stats(const ship_t *s, ship_stats_t *out) {
    *out = s->stats;
}

/* ---------------------------------------------------------------- restarting into it */

enum { SHIP_ARGS_MAX = 256, SHIP_CMDLINE_BYTES_MAX = 1 << 20 };

void ship_restart(wal_t *wal, const snap_meta_t *installed) {
    if (installed != NULL && wal != NULL) {
        /* the log continues after the snapshot: later entries come from the leader */
        uint64_t ticket = wal_truncate_after(wal, installed->raft_index);
        if (ticket != 0) {
            wal_wait_ticket(wal, ticket);
        }
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    uint8_t *cmdline = NULL;
    size_t len = 0;
    char *argv[SHIP_ARGS_MAX + 1];
    int argc = 0;
    /* /proc files report size 0: read with a loop rather than fsu_read_all */
    FILE *f = fopen("/proc/self/cmdline", "re");
    if (f != NULL) {
        cmdline = ctx_malloc(SHIP_CMDLINE_BYTES_MAX + 1);
        len = fread(cmdline, 1, SHIP_CMDLINE_BYTES_MAX, f);
        fclose(f);
        cmdline[len] = '\0';
        for (size_t at = 0; at < len && argc < SHIP_ARGS_MAX;
             at += strlen((char *)cmdline + at) + 1) {
            argv[argc++] = (char *)cmdline + at;
        }
    }
    argv[argc] = NULL;
    CTX_INFO("snapship: restarting this member (pid %d) %s", (int)getpid(),
             installed != NULL ? "into the installed snapshot" : "to rejoin the cluster");
    fflush(NULL);
    if (argc > 0) {
        (void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        execv("/proc/self/exe", argv);
    }
    CTX_ERROR("snapship: could not re-execute this server (%s); exiting so that it is "
              "restarted",
              strerror(errno));
    free(cmdline);
    fflush(NULL);
    _exit(70);
}

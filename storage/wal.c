/*
 * wal.c — WAL segments, the group-commit writer thread, and recovery (contract in wal.h).
 *
 * Segment file wal/<first index, 12 digits>.seg:
 *   OFFSET SIZE DESCRIPTION
 *   0      8    magic "CTXDBWAL"
 *   8      4    format version (WAL_VERSION), big-endian
 *   12     4    crc32c of bytes 0..12 and 16..24
 *   16     8    index of the segment's first record
 *   24     …    records
 * Record:
 *   0      4    payload length n
 *   4      4    crc32c of bytes 0..4 and 8..25+n
 *   8      8    term
 *   16     8    index
 *   24     1    type (wal_type_t, never 0)
 *   25     n    payload
 *
 * Recovery reads each segment whole (segments are bounded by segment_bytes plus one batch),
 * walks its records and stops at the first that is short or fails its CRC. Before truncating
 * there it looks for any intact record further on — at every byte offset after the damage in
 * that segment (a flipped length bit would otherwise hide them) and at the start of every later
 * segment; a cheap index-range filter keeps that scan linear. Finding one means the damage is
 * not a torn tail but a hole in the middle of the log, which is reported, never truncated away.
 *
 * Control file wal/wal.ctl (layout in wal.h): the newest segment's first index, rewritten
 * durably (fsutil: temporary file, fsync, rename, directory fsync) each time a segment is
 * created, after the segment's header and directory entry are durable. Recovery compares it
 * with the newest segment present before reading anything: a log whose newest segment was lost
 * looks exactly like a shorter intact log, so only a record kept outside the segments can tell
 * them apart. Gaps between segments show in the indexes themselves, and a log that starts after
 * the snapshot it continues shows against the snapshot's index.
 *
 * Writer thread: see wal.h. The pending buffer is swapped out under the mutex and written
 * without it, so wal_append never waits for the disk unless WAL_PENDING_BYTES_MAX is exceeded.
 */
#include "wal.h"

#include "crc32c.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    WAL_PENDING_BYTES_MAX = 256 * 1024 * 1024,
    WAL_SEGMENTS_MAX = 1 << 20,
    WAL_NAME_BYTES = 32, /* "%012llu.seg": at most 20 digits + ".seg" */
};
_Static_assert(WAL_RECORD_HEADER_BYTES == 4 + 4 + 8 + 8 + 1, "record header layout");
_Static_assert(WAL_SEGMENT_HEADER_BYTES == 8 + 4 + 4 + 8, "segment header layout");

static const char WAL_MAGIC[8] = {'C', 'T', 'X', 'D', 'B', 'W', 'A', 'L'};

typedef struct wal_segment {
    uint64_t first_index;
} wal_segment_t;

struct wal {
    char dir[FSU_PATH_MAX];
    wal_options_t opts;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* writer: pending data or stop */
    pthread_cond_t durable_cond;
    buf_t pending;
    uint64_t pending_first; /* index of the first record in pending (0 = empty) */
    uint64_t last_index;    /* highest appended */
    _Atomic uint64_t durable;
    bool stop;
    bool thread_started;
    pthread_t thread;
    int fd; /* active segment, O_APPEND */
    uint64_t active_bytes;
    uint64_t ctl_newest;     /* newest segment recorded in wal.ctl (0: no control file) */
    wal_segment_t *segments; /* ascending; the last is the active one */
    uint32_t nsegments;
    uint32_t cap_segments;
};

/* ---------------------------------------------------------------- codec */

static void put_u32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64be(uint8_t *p, uint64_t v) {
    put_u32be(p, (uint32_t)(v >> 32));
    put_u32be(p + 4, (uint32_t)v);
}

void wal_record_encode(buf_t *out, uint64_t term, uint64_t index, uint8_t type, const void *payload,
                       uint32_t len) {
    CTX_ASSERT(type != 0);
    CTX_ASSERT(len <= WAL_PAYLOAD_BYTES_MAX);
    uint8_t *p = buf_reserve(out, WAL_RECORD_HEADER_BYTES + (size_t)len);
    put_u32be(p, len);
    put_u64be(p + 8, term);
    put_u64be(p + 16, index);
    p[24] = type;
    if (len > 0) {
        memcpy(p + WAL_RECORD_HEADER_BYTES, payload, len);
    }
    uint32_t crc = crc32c(0, p, 4);
    crc = crc32c(crc, p + 8, WAL_RECORD_HEADER_BYTES - 8 + (size_t)len);
    put_u32be(p + 4, crc);
    buf_commit(out, WAL_RECORD_HEADER_BYTES + (size_t)len);
}

wal_decode_t wal_record_decode(const uint8_t *data, size_t avail, wal_record_t *rec,
                               size_t *consumed) {
    if (avail < WAL_RECORD_HEADER_BYTES) {
        return WAL_DECODE_SHORT;
    }
    uint32_t len = ctx_read_u32be(data);
    if (len > WAL_PAYLOAD_BYTES_MAX) {
        return WAL_DECODE_CORRUPT;
    }
    if (avail - WAL_RECORD_HEADER_BYTES < len) {
        return WAL_DECODE_SHORT;
    }
    uint32_t crc = crc32c(0, data, 4);
    crc = crc32c(crc, data + 8, WAL_RECORD_HEADER_BYTES - 8 + (size_t)len);
    if (crc != ctx_read_u32be(data + 4) || data[24] == 0) {
        *consumed = WAL_RECORD_HEADER_BYTES + (size_t)len; /* the damaged record's extent */
        return WAL_DECODE_CORRUPT;
    }
    rec->len = len;
    rec->term = ctx_read_u64be(data + 8);
    rec->index = ctx_read_u64be(data + 16);
    rec->type = data[24];
    rec->payload = data + WAL_RECORD_HEADER_BYTES;
    *consumed = WAL_RECORD_HEADER_BYTES + (size_t)len;
    return WAL_DECODE_OK;
}

static uint32_t segment_header_crc(const uint8_t *p) {
    return crc32c(crc32c(0, p, 12), p + 16, 8);
}

void wal_segment_header_encode(uint8_t out[WAL_SEGMENT_HEADER_BYTES], uint64_t first_index) {
    memcpy(out, WAL_MAGIC, 8);
    put_u32be(out + 8, WAL_VERSION);
    put_u64be(out + 16, first_index);
    put_u32be(out + 12, segment_header_crc(out));
}

int wal_segment_header_decode(const uint8_t *data, size_t avail, uint64_t *first_index) {
    if (avail < WAL_SEGMENT_HEADER_BYTES || memcmp(data, WAL_MAGIC, 8) != 0 ||
        ctx_read_u32be(data + 8) != WAL_VERSION ||
        ctx_read_u32be(data + 12) != segment_header_crc(data)) {
        return CTX_ECORRUPT;
    }
    *first_index = ctx_read_u64be(data + 16);
    return CTX_OK;
}

void wal_segment_name(uint64_t first_index, char *out, size_t out_len) {
    snprintf(out, out_len, "%012" PRIu64 ".seg", first_index);
}

/* ---------------------------------------------------------------- control file */

static const char WAL_CONTROL_MAGIC[8] = {'C', 'T', 'X', 'D', 'B', 'W', 'C', 'T'};

void wal_control_encode(uint8_t out[WAL_CONTROL_BYTES], uint64_t newest_first_index) {
    CTX_ASSERT(newest_first_index > 0);
    memcpy(out, WAL_CONTROL_MAGIC, 8);
    put_u32be(out + 8, WAL_CONTROL_VERSION);
    put_u64be(out + 16, newest_first_index);
    put_u32be(out + 12, segment_header_crc(out));
}

int wal_control_decode(const uint8_t *data, size_t avail, uint64_t *newest_first_index) {
    if (avail != WAL_CONTROL_BYTES || memcmp(data, WAL_CONTROL_MAGIC, 8) != 0 ||
        ctx_read_u32be(data + 8) != WAL_CONTROL_VERSION ||
        ctx_read_u32be(data + 12) != segment_header_crc(data) || ctx_read_u64be(data + 16) == 0) {
        return CTX_ECORRUPT;
    }
    *newest_first_index = ctx_read_u64be(data + 16);
    return CTX_OK;
}

int wal_control_read(const char *dir, uint64_t *newest_first_index, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0;
    *newest_first_index = 0;
    int rc = fsu_path(path, err, "%s/%s", dir, WAL_CONTROL_FILE);
    if (rc == CTX_OK) {
        rc = fsu_read_all(path, WAL_CONTROL_BYTES, &data, &len, err);
    }
    if (rc == CTX_ELIMIT ||
        (rc == CTX_OK && wal_control_decode(data, len, newest_first_index) != CTX_OK)) {
        ctx_err_clear(err);
        rc = ctx_err_set(err, CTX_ECORRUPT, "WAL control file \"%s\" is damaged", path);
        ctx_err_hint(err, "It records the newest WAL segment, so that a missing segment is "
                          "detected. Check the segments with contextdb-inspect verify.");
    }
    free(data);
    return rc;
}

int wal_check_newest(const char *dir, uint64_t ctl_newest, uint64_t newest_present,
                     ctx_err_t *err) {
    if (ctl_newest == 0 || newest_present >= ctl_newest) {
        return CTX_OK;
    }
    char want[WAL_NAME_BYTES], have[WAL_NAME_BYTES] = "none";
    wal_segment_name(ctl_newest, want, sizeof(want));
    if (newest_present > 0) {
        wal_segment_name(newest_present, have, sizeof(have));
    }
    ctx_err_set(err, CTX_ECORRUPT,
                "WAL segment %s/%s (records from index %" PRIu64 " on) is missing: %s records "
                "it as the newest segment, but the newest one present is %s",
                dir, want, ctl_newest, WAL_CONTROL_FILE, have);
    ctx_err_detail(err, "Records from index %" PRIu64 " on may have been acknowledged to clients.",
                   newest_present > 0 ? newest_present : ctl_newest);
    ctx_err_hint(err, "Restore the missing segment. Starting without it would silently lose "
                      "committed transactions; nothing was changed.");
    return err != NULL ? err->code : CTX_ECORRUPT;
}

/* ---------------------------------------------------------------- file helpers */

/* The path of a segment. wal_open checked that the longest segment path fits FSU_PATH_MAX. */
static void wal_path(const wal_t *wal, uint64_t first_index, char out[FSU_PATH_MAX]) {
    char name[WAL_NAME_BYTES];
    wal_segment_name(first_index, name, sizeof(name));
    int rc = fsu_path(out, NULL, "%s/%s", wal->dir, name);
    CTX_ASSERT(rc == CTX_OK);
}

/* A segment is at most segment_bytes plus one batch: a generous bound for whole-file reads. */
static size_t wal_read_max(const wal_t *wal) {
    return (size_t)wal->opts.segment_bytes + WAL_PENDING_BYTES_MAX + WAL_PAYLOAD_BYTES_MAX;
}

static void segments_push(wal_t *wal, uint64_t first_index) {
    if (wal->nsegments == wal->cap_segments) {
        wal->cap_segments = wal->cap_segments ? wal->cap_segments * 2 : 16;
        wal->segments = ctx_realloc(wal->segments, wal->cap_segments * sizeof(wal_segment_t));
    }
    CTX_ASSERT(wal->nsegments == 0 || wal->segments[wal->nsegments - 1].first_index < first_index);
    wal->segments[wal->nsegments++].first_index = first_index;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int wal_list_segments(const char *dir, uint64_t **firsts, size_t *count, ctx_err_t *err) {
    *firsts = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT
                   ? ctx_err_set(err, CTX_EUNDEF_OBJECT, "WAL directory \"%s\" does not exist", dir)
                   : ctx_err_set(err, CTX_EIO, "could not open WAL directory \"%s\": %s", dir,
                                 strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char *end = NULL;
        if (len < 5 || strcmp(de->d_name + len - 4, ".seg") != 0) {
            continue;
        }
        uint64_t first = strtoull(de->d_name, &end, 10);
        if (end != de->d_name + len - 4 || first == 0 || *count >= WAL_SEGMENTS_MAX) {
            continue;
        }
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            *firsts = ctx_realloc(*firsts, cap * sizeof(uint64_t));
        }
        (*firsts)[(*count)++] = first;
    }
    closedir(d);
    if (*count > 1) { /* qsort's base must not be NULL, even for 0 elements */
        ctx_qsort(*firsts, *count, sizeof(uint64_t), cmp_u64);
    }
    return CTX_OK;
}

/* Loads the segment list of wal->dir into wal->segments. */
static int list_segments(wal_t *wal, ctx_err_t *err) {
    uint64_t *firsts = NULL;
    size_t n = 0;
    int rc = wal_list_segments(wal->dir, &firsts, &n, err);
    for (size_t i = 0; rc == CTX_OK && i < n; i++) {
        segments_push(wal, firsts[i]);
    }
    free(firsts);
    return rc;
}

/* ---------------------------------------------------------------- recovery */

/* True when an intact record with index in (after, after + 2^40) starts at or after `from`. */
static bool intact_record_after(const uint8_t *data, size_t len, size_t from, uint64_t after) {
    for (size_t off = from; off + WAL_RECORD_HEADER_BYTES <= len; off++) {
        uint64_t index = ctx_read_u64be(data + off + 16);
        if (index <= after || index - after > ((uint64_t)1 << 40)) {
            continue;
        }
        wal_record_t rec;
        size_t used;
        if (wal_record_decode(data + off, len - off, &rec, &used) == WAL_DECODE_OK) {
            return true;
        }
    }
    return false;
}

typedef struct scan_state {
    wal_replay_fn replay;
    void *ctx;
    uint64_t after_index;
    uint64_t expect; /* index the next record must have (0: not known yet) */
    wal_recovery_t *info;
    bool damaged; /* stopped at damage: the rest of the log must be empty */
    uint32_t damaged_segment;
    size_t damaged_offset;
    uint64_t damaged_file_bytes;
} scan_state_t;

/* Walks one segment's records. Sets st->damaged at the first bad record. */
static int scan_segment(wal_t *wal, uint32_t seg, const uint8_t *data, size_t len, scan_state_t *st,
                        ctx_err_t *err) {
    uint64_t first;
    char path[FSU_PATH_MAX];
    wal_path(wal, wal->segments[seg].first_index, path);
    if (wal_segment_header_decode(data, len, &first) != CTX_OK ||
        first != wal->segments[seg].first_index) {
        st->damaged = true;
        st->damaged_segment = seg;
        st->damaged_offset = 0;
        return CTX_OK;
    }
    if (st->expect != 0 && first < st->expect) {
        return ctx_err_set(err, CTX_ECORRUPT,
                           "WAL segment \"%s\" starts at index %" PRIu64 ", before index %" PRIu64
                           " where the previous segment ended",
                           path, first, st->expect);
    }
    if (st->expect != 0 && first > st->expect && first <= st->after_index + 1) {
        st->expect = first; /* the records skipped are all in the snapshot: nothing is lost */
    }
    if (st->expect != 0 && first != st->expect) {
        char missing[WAL_NAME_BYTES];
        wal_segment_name(st->expect, missing, sizeof(missing));
        return ctx_err_set(err, CTX_ECORRUPT,
                           "WAL segment \"%s\" starts at index %" PRIu64 " but index %" PRIu64
                           " was expected (a segment is missing: records %" PRIu64 "..%" PRIu64
                           ", which %s held)",
                           path, first, st->expect, st->expect, first - 1, missing);
    }
    st->expect = first;
    size_t off = WAL_SEGMENT_HEADER_BYTES;
    while (off < len) {
        wal_record_t rec;
        size_t used = 0;
        wal_decode_t d = wal_record_decode(data + off, len - off, &rec, &used);
        if (d != WAL_DECODE_OK || rec.index != st->expect) {
            st->damaged = true;
            st->damaged_segment = seg;
            st->damaged_offset = off;
            return CTX_OK;
        }
        if (st->info->first_index == 0) {
            st->info->first_index = rec.index;
        }
        st->info->last_index = rec.index;
        if (rec.index > st->after_index && st->replay != NULL) {
            int rc = st->replay(st->ctx, &rec, err);
            if (rc != CTX_OK) {
                return rc;
            }
            st->info->replayed++;
        }
        st->expect++;
        off += used;
    }
    return CTX_OK;
}

/* After damage at (segment, offset): error if any intact record follows. */
static int check_nothing_follows(wal_t *wal, const uint8_t *data, size_t len, scan_state_t *st,
                                 ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    wal_path(wal, wal->segments[st->damaged_segment].first_index, path);
    uint64_t after = st->expect > 0 ? st->expect - 1 : 0;
    bool follows = intact_record_after(data, len, st->damaged_offset + 1, after);
    for (uint32_t s = st->damaged_segment + 1; !follows && s < wal->nsegments; s++) {
        char other[FSU_PATH_MAX];
        wal_path(wal, wal->segments[s].first_index, other);
        uint8_t *odata = NULL;
        size_t olen = 0;
        if (fsu_read_all(other, wal_read_max(wal), &odata, &olen, err) != CTX_OK) {
            return err->code;
        }
        follows = intact_record_after(odata, olen, WAL_SEGMENT_HEADER_BYTES, after);
        free(odata);
    }
    if (follows) {
        ctx_err_set(err, CTX_ECORRUPT,
                    "WAL is corrupt in the middle: record at \"%s\" offset %zu (index %" PRIu64
                    ") is damaged but intact records follow it",
                    path, st->damaged_offset, st->expect);
        ctx_err_hint(err, "This is not a torn write at the end of the log. Inspect it with "
                          "contextdb-inspect; restore from a snapshot or remove the damaged "
                          "segments by hand.");
        return err->code;
    }
    return CTX_OK;
}

/* CTX_ECORRUPT when cutting the log at segment index `keep_last` (the newest segment left; -1:
 * none) would remove a segment that wal.ctl records as created: a segment is recorded only
 * after its predecessor was fsynced whole, so damage before it is not a torn tail. */
static int check_cut_keeps_newest(const wal_t *wal, int64_t keep_last, const scan_state_t *st,
                                  ctx_err_t *err) {
    uint64_t kept = keep_last >= 0 ? wal->segments[keep_last].first_index : 0;
    if (wal->ctl_newest == 0 || kept >= wal->ctl_newest) {
        return CTX_OK;
    }
    char name[WAL_NAME_BYTES], newest[WAL_NAME_BYTES];
    wal_segment_name(wal->segments[st->damaged_segment].first_index, name, sizeof(name));
    wal_segment_name(wal->ctl_newest, newest, sizeof(newest));
    ctx_err_set(err, CTX_ECORRUPT,
                "WAL is damaged at %s offset %zu (index %" PRIu64 "), but segment %s, which %s "
                "records as created after that one was complete, follows it: not a torn tail",
                name, st->damaged_offset, st->expect, newest, WAL_CONTROL_FILE);
    ctx_err_hint(err, "Inspect the directory with contextdb-inspect verify; nothing was changed.");
    return err->code;
}

/* Cuts the log at the damage: truncate that segment (or remove it when its header is bad) and
 * remove every later segment. */
static int truncate_tail(wal_t *wal, scan_state_t *st, size_t seg_len, ctx_err_t *err) {
    uint32_t seg = st->damaged_segment;
    int rc = check_cut_keeps_newest(wal, st->damaged_offset == 0 ? (int64_t)seg - 1 : seg, st, err);
    if (rc != CTX_OK) {
        return rc;
    }
    char path[FSU_PATH_MAX];
    wal_path(wal, wal->segments[seg].first_index, path);
    uint64_t dropped = seg_len - st->damaged_offset;
    char name[WAL_NAME_BYTES];
    wal_segment_name(wal->segments[seg].first_index, name, sizeof(name));
    snprintf(st->info->truncated_at, sizeof(st->info->truncated_at), "%s offset %zu", name,
             st->damaged_offset);
    for (uint32_t s = seg + 1; s < wal->nsegments; s++) {
        char other[FSU_PATH_MAX];
        struct stat sb;
        wal_path(wal, wal->segments[s].first_index, other);
        if (stat(other, &sb) == 0) {
            dropped += (uint64_t)sb.st_size;
        }
        if (!wal->opts.read_only && unlink(other) < 0) {
            return ctx_err_set(err, CTX_EIO, "could not remove \"%s\": %s", other, strerror(errno));
        }
    }
    wal->nsegments = seg + 1;
    st->info->truncated_bytes = dropped;
    if (wal->opts.read_only) {
        return CTX_OK;
    }
    if (st->damaged_offset == 0) {
        if (unlink(path) < 0) {
            return ctx_err_set(err, CTX_EIO, "could not remove \"%s\": %s", path, strerror(errno));
        }
        wal->nsegments = seg;
    } else if (truncate(path, (off_t)st->damaged_offset) < 0) {
        return ctx_err_set(err, CTX_EIO, "could not truncate \"%s\": %s", path, strerror(errno));
    }
    /* The writer publishes an index as durable (and replies to its commit may go out) only
     * after an fdatasync that covered every byte of it returned; a record with missing bytes
     * was never covered by one. */
    CTX_WARN("WAL: dropped a torn tail of %" PRIu64 " bytes at %s: the record with index %" PRIu64
             " (and anything after it) was incomplete on disk, so no completed fsync covered it; "
             "with synchronous_commit = on its commit was never acknowledged, with "
             "synchronous_commit = off (replies before the fsync) it may have been and is lost",
             dropped, st->info->truncated_at, st->expect);
    return fsu_fsync_dir(wal->dir, err);
}

/* Reads wal.ctl into wal->ctl_newest (0 when the file does not exist). */
static int read_control(wal_t *wal, ctx_err_t *err) {
    int rc = wal_control_read(wal->dir, &wal->ctl_newest, err);
    if (rc == CTX_EUNDEF_OBJECT) {
        ctx_err_clear(err);
        wal->ctl_newest = 0;
        return CTX_OK;
    }
    return rc;
}

static int wal_recover(wal_t *wal, uint64_t after_index, wal_replay_fn replay, void *ctx,
                       wal_recovery_t *info, ctx_err_t *err) {
    scan_state_t st = {.replay = replay, .ctx = ctx, .after_index = after_index, .info = info};
    int rc = list_segments(wal, err);
    if (rc == CTX_OK) {
        rc = read_control(wal, err);
    }
    if (rc == CTX_OK) {
        rc = wal_check_newest(
            wal->dir, wal->ctl_newest,
            wal->nsegments > 0 ? wal->segments[wal->nsegments - 1].first_index : 0, err);
    }
    for (uint32_t s = 0; rc == CTX_OK && s < wal->nsegments && !st.damaged; s++) {
        char path[FSU_PATH_MAX];
        wal_path(wal, wal->segments[s].first_index, path);
        uint8_t *data = NULL;
        size_t len = 0;
        rc = fsu_read_all(path, wal_read_max(wal), &data, &len, err);
        if (rc == CTX_OK) {
            rc = scan_segment(wal, s, data, len, &st, err);
        }
        if (rc == CTX_OK && st.damaged) {
            rc = check_nothing_follows(wal, data, len, &st, err);
            if (rc == CTX_OK) {
                rc = truncate_tail(wal, &st, len, err);
            }
        }
        free(data);
    }
    info->segments = wal->nsegments;
    if (rc == CTX_OK && info->first_index > after_index + 1) {
        char name[WAL_NAME_BYTES];
        wal_segment_name(wal->segments[0].first_index, name, sizeof(name));
        rc = ctx_err_set(
            err, CTX_ECORRUPT,
            "WAL starts at index %" PRIu64 " (segment %s) but the snapshot it "
            "continues ends at index %" PRIu64 ": records %" PRIu64 "..%" PRIu64 " are missing",
            info->first_index, name, after_index, after_index + 1, info->first_index - 1);
    }
    return rc;
}

/* Records first_index as the newest segment in wal.ctl (durably: write, fsync, rename, fsync). */
static int write_control(wal_t *wal, uint64_t first_index, ctx_err_t *err) {
    uint8_t ctl[WAL_CONTROL_BYTES];
    wal_control_encode(ctl, first_index);
    char path[FSU_PATH_MAX];
    int rc = fsu_path(path, err, "%s/%s", wal->dir, WAL_CONTROL_FILE);
    if (rc == CTX_OK) {
        rc = fsu_write_atomic(path, ctl, sizeof(ctl), err);
    }
    if (rc == CTX_OK) {
        wal->ctl_newest = first_index;
    }
    return rc;
}

/* Creates a new active segment whose first record will be first_index: the header is made
 * durable (file and directory fsync) before wal.ctl records the segment. */
static int open_new_segment(wal_t *wal, uint64_t first_index, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    wal_path(wal, first_index, path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    uint8_t header[WAL_SEGMENT_HEADER_BYTES];
    wal_segment_header_encode(header, first_index);
    if (fd < 0 || write(fd, header, sizeof(header)) != (ssize_t)sizeof(header) ||
        fdatasync(fd) < 0) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        return ctx_err_set(err, fsu_errno_code(saved), "could not create WAL segment \"%s\": %s",
                           path, strerror(saved));
    }
    int rc = fsu_fsync_dir(wal->dir, err);
    if (rc == CTX_OK) {
        rc = write_control(wal, first_index, err);
    }
    if (rc != CTX_OK) {
        close(fd);
        return rc;
    }
    if (wal->fd >= 0) {
        close(wal->fd);
    }
    wal->fd = fd;
    wal->active_bytes = sizeof(header);
    pthread_mutex_lock(&wal->mu);
    segments_push(wal, first_index);
    pthread_mutex_unlock(&wal->mu);
    return CTX_OK;
}

/* The snapshot is ahead of the durable log, so every segment is covered by it: starts the log
 * afresh at after_index + 1. The new segment (and wal.ctl naming it) is made durable before the
 * old ones are removed, so a crash in between never leaves wal.ctl naming a removed segment. */
static int restart_after_snapshot(wal_t *wal, uint64_t last_index, uint64_t after_index,
                                  ctx_err_t *err) {
    uint32_t old = wal->nsegments;
    uint64_t *firsts = ctx_calloc(old + 1, sizeof(uint64_t));
    for (uint32_t s = 0; s < old; s++) {
        firsts[s] = wal->segments[s].first_index;
    }
    wal->nsegments = 0;
    int rc = open_new_segment(wal, after_index + 1, err);
    for (uint32_t s = 0; rc == CTX_OK && s < old; s++) {
        char path[FSU_PATH_MAX];
        wal_path(wal, firsts[s], path);
        if (firsts[s] != after_index + 1 && unlink(path) < 0) {
            rc = ctx_err_set(err, CTX_EIO, "could not remove \"%s\": %s", path, strerror(errno));
        }
    }
    free(firsts);
    if (rc == CTX_OK && old > 0) {
        CTX_INFO("WAL: log ended at index %" PRIu64 " before the snapshot at %" PRIu64
                 "; continuing at %" PRIu64,
                 last_index, after_index, after_index + 1);
    }
    return rc;
}

/* Opens the last segment for appending, or starts one at next_index. */
static int open_active(wal_t *wal, uint64_t last_index, uint64_t after_index, ctx_err_t *err) {
    if (last_index < after_index) {
        wal->last_index = after_index;
        atomic_store(&wal->durable, after_index);
        return restart_after_snapshot(wal, last_index, after_index, err);
    }
    wal->last_index = last_index;
    atomic_store(&wal->durable, last_index);
    if (wal->nsegments == 0) {
        return open_new_segment(wal, last_index + 1, err);
    }
    uint64_t newest = wal->segments[wal->nsegments - 1].first_index;
    char path[FSU_PATH_MAX];
    wal_path(wal, newest, path);
    wal->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    struct stat sb;
    if (wal->fd < 0 || fstat(wal->fd, &sb) < 0) {
        return ctx_err_set(err, CTX_EIO, "could not open \"%s\": %s", path, strerror(errno));
    }
    wal->active_bytes = (uint64_t)sb.st_size;
    /* A crash between creating a segment and recording it leaves wal.ctl one segment behind. */
    return wal->ctl_newest == newest ? CTX_OK : write_control(wal, newest, err);
}

static void *wal_writer_main(void *arg);

int wal_open(const wal_options_t *opts, uint64_t after_index, wal_replay_fn replay, void *ctx,
             wal_recovery_t *info, wal_t **out, ctx_err_t *err) {
    CTX_ASSERT(opts != NULL && opts->dir != NULL && out != NULL);
    CTX_ASSERT(opts->segment_bytes >= WAL_SEGMENT_HEADER_BYTES);
    wal_recovery_t local;
    if (info == NULL) {
        info = &local;
    }
    memset(info, 0, sizeof(*info));
    wal_t *wal = ctx_calloc(1, sizeof(*wal));
    char longest[FSU_PATH_MAX]; /* every segment and temporary path must fit */
    int rc = fsu_path(longest, err, "%s/%020" PRIu64 ".seg.tmp", opts->dir, UINT64_MAX);
    if (rc != CTX_OK) {
        free(wal);
        return rc;
    }
    rc = fsu_path(wal->dir, err, "%s", opts->dir);
    CTX_ASSERT(rc == CTX_OK);
    wal->opts = *opts;
    wal->opts.dir = wal->dir;
    wal->fd = -1;
    pthread_mutex_init(&wal->mu, NULL);
    pthread_cond_init(&wal->wake, NULL);
    pthread_cond_init(&wal->durable_cond, NULL);
    buf_init(&wal->pending);
    rc = opts->read_only ? CTX_OK : fsu_mkdirs(wal->dir, 0700, err);
    if (rc == CTX_OK) {
        rc = wal_recover(wal, after_index, replay, ctx, info, err);
    }
    if (rc == CTX_OK && !opts->read_only) {
        rc = open_active(wal, info->last_index, after_index, err);
    }
    if (rc == CTX_OK && !opts->read_only) {
        if (pthread_create(&wal->thread, NULL, wal_writer_main, wal) != 0) {
            rc = ctx_err_set(err, CTX_EIO, "could not start the WAL writer thread");
        } else {
            wal->thread_started = true;
        }
    }
    if (rc != CTX_OK) {
        wal_close(wal);
        return rc;
    }
    *out = wal;
    return CTX_OK;
}

/* ---------------------------------------------------------------- writer thread */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

_Noreturn static void wal_panic(const char *what, const char *path) {
    CTX_ERROR("PANIC: WAL %s failed on \"%s\": %s", what, path, strerror(errno));
    abort();
}

static void write_all(wal_t *wal, const uint8_t *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(wal->fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            wal_panic("write", wal->dir);
        }
        data += n;
        len -= (size_t)n;
    }
}

/* Writes one batch taken from pending (records first..last), rotating first if needed. */
static void writer_write(wal_t *wal, const buf_t *batch, uint64_t first) {
    if (wal->active_bytes >= wal->opts.segment_bytes) {
        if (fdatasync(wal->fd) < 0) {
            wal_panic("fsync", wal->dir);
        }
        ctx_err_t err;
        ctx_err_clear(&err);
        if (open_new_segment(wal, first, &err) != CTX_OK) {
            CTX_ERROR("PANIC: %s", err.message);
            abort();
        }
    }
    write_all(wal, buf_peek(batch), buf_size(batch));
    wal->active_bytes += buf_size(batch);
}

static void writer_publish(wal_t *wal, uint64_t index) {
    pthread_mutex_lock(&wal->mu);
    atomic_store(&wal->durable, index);
    pthread_cond_broadcast(&wal->durable_cond);
    pthread_mutex_unlock(&wal->mu);
    if (wal->opts.notify_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(wal->opts.notify_fd, &one, sizeof(one));
        (void)n; /* eventfd: only fails when the counter would overflow */
    }
}

static void *wal_writer_main(void *arg) {
    wal_t *wal = arg;
    buf_t batch;
    buf_init(&batch);
    uint64_t written = atomic_load(&wal->durable);
    uint64_t last_sync_ms = now_ms();
    pthread_mutex_lock(&wal->mu);
    for (;;) {
        bool unsynced = written > atomic_load(&wal->durable);
        while (!wal->stop && buf_size(&wal->pending) == 0) {
            if (!unsynced) {
                pthread_cond_wait(&wal->wake, &wal->mu);
                continue;
            }
            uint64_t deadline = last_sync_ms + wal->opts.sync_delay_ms;
            if (now_ms() >= deadline) {
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait_ms = deadline - now_ms();
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&wal->wake, &wal->mu, &ts);
        }
        bool stop = wal->stop;
        uint64_t first = wal->pending_first;
        uint64_t last = wal->last_index;
        buf_t tmp = wal->pending;
        wal->pending = batch;
        batch = tmp;
        buf_reset(&wal->pending);
        wal->pending_first = 0;
        pthread_cond_broadcast(&wal->durable_cond); /* wakes appenders blocked on the bound */
        pthread_mutex_unlock(&wal->mu);
        if (buf_size(&batch) > 0) {
            writer_write(wal, &batch, first);
            written = last;
            buf_reset(&batch);
        }
        bool sync_now =
            wal->opts.sync_commit || stop || now_ms() >= last_sync_ms + wal->opts.sync_delay_ms;
        if (sync_now && written > atomic_load(&wal->durable)) {
            if (fdatasync(wal->fd) < 0) {
                wal_panic("fsync", wal->dir);
            }
            last_sync_ms = now_ms();
            writer_publish(wal, written);
        }
        pthread_mutex_lock(&wal->mu);
        if (stop && buf_size(&wal->pending) == 0) {
            break;
        }
    }
    pthread_mutex_unlock(&wal->mu);
    buf_free(&batch);
    return NULL;
}

/* ---------------------------------------------------------------- API */

uint64_t wal_append(wal_t *wal, uint64_t term, uint8_t type, const void *payload, uint32_t len) {
    CTX_ASSERT(wal != NULL && !wal->opts.read_only);
    CTX_ASSERT(len <= WAL_PAYLOAD_BYTES_MAX);
    pthread_mutex_lock(&wal->mu);
    while (buf_size(&wal->pending) > WAL_PENDING_BYTES_MAX) {
        pthread_cond_wait(&wal->durable_cond, &wal->mu);
    }
    uint64_t index = ++wal->last_index;
    if (wal->pending_first == 0) {
        wal->pending_first = index;
    }
    wal_record_encode(&wal->pending, term, index, type, payload, len);
    pthread_cond_signal(&wal->wake);
    pthread_mutex_unlock(&wal->mu);
    return index;
}

uint64_t wal_last_index(const wal_t *wal) {
    pthread_mutex_lock((pthread_mutex_t *)&wal->mu);
    uint64_t v = wal->last_index;
    pthread_mutex_unlock((pthread_mutex_t *)&wal->mu);
    return v;
}

uint64_t wal_durable_index(const wal_t *wal) {
    return atomic_load(&wal->durable);
}

void wal_wait_durable(wal_t *wal, uint64_t index) {
    pthread_mutex_lock(&wal->mu);
    CTX_ASSERT(index <= wal->last_index);
    while (atomic_load(&wal->durable) < index) {
        pthread_cond_wait(&wal->durable_cond, &wal->mu);
    }
    pthread_mutex_unlock(&wal->mu);
}

uint32_t wal_remove_through(wal_t *wal, uint64_t index) {
    pthread_mutex_lock(&wal->mu);
    uint32_t n = 0;
    /* Segment s holds [first(s), first(s+1) - 1]; the active (last) one is never removed. */
    while (n + 1 < wal->nsegments && wal->segments[n + 1].first_index <= index + 1) {
        n++;
    }
    for (uint32_t s = 0; s < n; s++) {
        char path[FSU_PATH_MAX];
        wal_path(wal, wal->segments[s].first_index, path);
        if (unlink(path) < 0) {
            CTX_WARN("could not remove WAL segment \"%s\": %s", path, strerror(errno));
        }
    }
    memmove(wal->segments, wal->segments + n, (wal->nsegments - n) * sizeof(wal_segment_t));
    wal->nsegments -= n;
    pthread_mutex_unlock(&wal->mu);
    return n;
}

uint32_t wal_segment_count(wal_t *wal) {
    pthread_mutex_lock(&wal->mu);
    uint32_t n = wal->nsegments;
    pthread_mutex_unlock(&wal->mu);
    return n;
}

void wal_close(wal_t *wal) {
    if (wal == NULL) {
        return;
    }
    if (wal->thread_started) {
        pthread_mutex_lock(&wal->mu);
        wal->stop = true;
        pthread_cond_signal(&wal->wake);
        pthread_mutex_unlock(&wal->mu);
        pthread_join(wal->thread, NULL);
    }
    if (wal->fd >= 0) {
        close(wal->fd);
    }
    buf_free(&wal->pending);
    free(wal->segments);
    pthread_mutex_destroy(&wal->mu);
    pthread_cond_destroy(&wal->wake);
    pthread_cond_destroy(&wal->durable_cond);
    free(wal);
}

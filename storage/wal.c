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
 * A hard-state record has term 0, the index of the entry before it, and a 28-byte payload.
 * Hard-state file wal/hardstate:
 *   0      8    magic "CTXDBWHS"
 *   8      4    format version (WAL_HS_FILE_VERSION), big-endian
 *   12     4    crc32c of bytes 0..12 and 16..60
 *   16     8    first index of the segment holding the position
 *   24     8    byte offset of the position in that segment
 *   32     28   hard state
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
 * without it, so an append never waits for the disk unless WAL_PENDING_BYTES_MAX is exceeded.
 *
 * Truncation. Records in pending are dropped by the appender, which walks the pending buffer's
 * headers; a cut of records already handed to the writer is queued (the lowest cut wins) and
 * done by the writer before it writes the pending buffer that came with it, so file order stays
 * time order. The cut's steps are each durable before the next (writer_cut), so a crash leaves
 * the old log or one of its prefixes, never a gap.
 *
 * Hard state. wal/hardstate pairs a hard state with a log position: records before the position
 * are older, records at or after it newer, so recovery needs no ordering of hard-state contents.
 * It is written with the newest hard state written to the files around a cut (first as of the
 * end of the old log, so that records the cut has not yet removed count as older; once the cut
 * is durable, as of the cut point), before wal_remove_through removes segments (the newest fsynced
 * one; position: the end of what was fsynced, which every removed segment precedes), and when a
 * snapshot ahead of the log restarts it (position: the new segment's start). hs_mu serializes those
 * writes with the cuts, so no position is stale by the time its file is durable.
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

/* A byte position in the log: (first index of a segment, offset in it), ordered as a pair. */
typedef struct wal_pos {
    uint64_t segment;
    uint64_t offset;
} wal_pos_t;

static bool pos_before(wal_pos_t a, wal_pos_t b) {
    return a.segment < b.segment || (a.segment == b.segment && a.offset < b.offset);
}

/* The newest hard state and whether there is one. */
typedef struct wal_hs {
    bool present;
    uint8_t bytes[WAL_HARD_STATE_BYTES];
} wal_hs_t;

struct wal {
    char dir[FSU_PATH_MAX];
    wal_options_t opts;
    pthread_mutex_t hs_mu; /* serializes wal/hardstate writes with cuts and removals; before mu */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* writer: pending data or stop */
    pthread_cond_t durable_cond;
    /* Appender side, under mu. */
    buf_t pending;
    uint64_t pending_first;  /* index of the first entry in pending (0 = none) */
    uint64_t pending_ticket; /* ticket of the newest call not yet taken by the writer (0 = none) */
    wal_hs_t pending_hs;     /* the newest hard-state record in pending */
    bool cut_pending;        /* the writer must cut the files after cut_after first */
    uint64_t cut_after;
    uint64_t last_index; /* highest entry appended */
    uint64_t ticket;     /* last ticket handed out */
    _Atomic uint64_t durable;
    _Atomic uint64_t durable_ticket;
    /* Writer side; the synced_* pair is also read by wal_remove_through under mu. */
    wal_hs_t written_hs; /* newest hard-state record written to the files */
    wal_hs_t synced_hs;  /* newest hard-state record at positions before synced_pos */
    wal_pos_t synced_pos;
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
    if (p == NULL) {
        return;
    }
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

bool wal_type_is_entry(uint8_t type) {
    return type == WAL_TYPE_BATCH || type == WAL_TYPE_NOOP || type == WAL_TYPE_CONF ||
           type == WAL_TYPE_MEMBER;
}

/* ---------------------------------------------------------------- hard-state file */

static const char WAL_HS_MAGIC[8] = {'C', 'T', 'X', 'D', 'B', 'W', 'H', 'S'};
_Static_assert(WAL_HS_FILE_BYTES == 8 + 4 + 4 + 8 + 8 + WAL_HARD_STATE_BYTES, "hs file layout");

static uint32_t hs_file_crc(const uint8_t *p) {
    return crc32c(crc32c(0, p, 12), p + 16, WAL_HS_FILE_BYTES - 16);
}

void wal_hs_file_encode(uint8_t out[WAL_HS_FILE_BYTES], const wal_hs_file_t *hs) {
    memcpy(out, WAL_HS_MAGIC, 8);
    put_u32be(out + 8, WAL_HS_FILE_VERSION);
    put_u64be(out + 16, hs->segment);
    put_u64be(out + 24, hs->offset);
    memcpy(out + 32, hs->hard_state, WAL_HARD_STATE_BYTES);
    put_u32be(out + 12, hs_file_crc(out));
}

int wal_hs_file_decode(const uint8_t *data, size_t avail, wal_hs_file_t *hs) {
    if (avail != WAL_HS_FILE_BYTES || memcmp(data, WAL_HS_MAGIC, 8) != 0 ||
        ctx_read_u32be(data + 8) != WAL_HS_FILE_VERSION ||
        ctx_read_u32be(data + 12) != hs_file_crc(data)) {
        return CTX_ECORRUPT;
    }
    hs->segment = ctx_read_u64be(data + 16);
    hs->offset = ctx_read_u64be(data + 24);
    memcpy(hs->hard_state, data + 32, WAL_HARD_STATE_BYTES);
    return CTX_OK;
}

int wal_hs_file_read(const char *dir, wal_hs_file_t *hs, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = fsu_path(path, err, "%s/%s", dir, WAL_HARD_STATE_FILE);
    if (rc == CTX_OK) {
        rc = fsu_read_all(path, WAL_HS_FILE_BYTES, &data, &len, err);
    }
    if (rc == CTX_ELIMIT || (rc == CTX_OK && wal_hs_file_decode(data, len, hs) != CTX_OK)) {
        ctx_err_clear(err);
        rc = ctx_err_set(err, CTX_ECORRUPT, "WAL hard-state file \"%s\" is damaged", path);
        ctx_err_hint(err, "It holds the Raft term and vote as of the last log truncation; "
                          "nothing was changed.");
    }
    free(data);
    return rc;
}

/* Durably records hs as the newest hard state as of position pos (wal/hardstate). */
static int write_hs_file(wal_t *wal, const wal_hs_t *hs, wal_pos_t pos, ctx_err_t *err) {
    CTX_ASSERT(hs->present);
    wal_hs_file_t f = {.segment = pos.segment, .offset = pos.offset};
    memcpy(f.hard_state, hs->bytes, WAL_HARD_STATE_BYTES);
    uint8_t out[WAL_HS_FILE_BYTES];
    wal_hs_file_encode(out, &f);
    char path[FSU_PATH_MAX];
    int rc = fsu_path(path, err, "%s/%s", wal->dir, WAL_HARD_STATE_FILE);
    if (rc == CTX_OK) {
        rc = fsu_write_atomic(path, out, sizeof(out), err);
    }
    return rc;
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

/* True when an intact record with index in [after, after + 2^40] starts at or after `from`. */
static bool intact_record_after(const uint8_t *data, size_t len, size_t from, uint64_t after) {
    for (size_t off = from; off + WAL_RECORD_HEADER_BYTES <= len; off++) {
        uint64_t index = ctx_read_u64be(data + off + 16);
        if (index < after || index - after > ((uint64_t)1 << 40)) { /* hard state: = after */
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
    uint64_t expect; /* index the next entry must have (0: not known yet) */
    wal_recovery_t *info;
    wal_pos_t hs_pos; /* hard-state records before this position are older than hs_file */
    wal_hs_t hs_file; /* wal/hardstate, when present */
    bool damaged;     /* stopped at damage: the rest of the log must be empty */
    uint32_t damaged_segment;
    size_t damaged_offset;
    uint64_t damaged_file_bytes;
} scan_state_t;

/* An entry must have the next index; a hard-state record the last entry's, and its size. */
static bool record_fits(const wal_record_t *rec, uint64_t expect) {
    if (rec->type == WAL_TYPE_HARD_STATE) {
        return rec->len == WAL_HARD_STATE_BYTES && rec->index + 1 == expect;
    }
    return rec->index == expect;
}

/* Accounts for one intact record found at pos and hands it to the replay callback. */
static int scan_record(scan_state_t *st, const wal_record_t *rec, wal_pos_t pos, ctx_err_t *err) {
    wal_recovery_t *info = st->info;
    bool replay = true;
    if (rec->type == WAL_TYPE_HARD_STATE) {
        info->hard_states++;
        if (!pos_before(pos, st->hs_pos)) {
            info->has_hard_state = true;
            memcpy(info->last_hard_state, rec->payload, WAL_HARD_STATE_BYTES);
        }
    } else {
        if (info->first_index == 0) {
            info->first_index = rec->index;
        }
        info->last_index = rec->index;
        info->last_term = rec->term;
        replay = rec->index > st->after_index;
        st->expect++;
    }
    if (replay && st->replay != NULL) {
        int rc = st->replay(st->ctx, rec, err);
        if (rc != CTX_OK) {
            return rc;
        }
        info->replayed++;
    }
    return CTX_OK;
}

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
        if (d != WAL_DECODE_OK || !record_fits(&rec, st->expect)) {
            st->damaged = true;
            st->damaged_segment = seg;
            st->damaged_offset = off;
            return CTX_OK;
        }
        int rc = scan_record(st, &rec, (wal_pos_t){.segment = first, .offset = off}, err);
        if (rc != CTX_OK) {
            return rc;
        }
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

/* Reads wal/hardstate into st (nothing when the file does not exist). */
static int read_hs_file(wal_t *wal, scan_state_t *st, ctx_err_t *err) {
    wal_hs_file_t f;
    int rc = wal_hs_file_read(wal->dir, &f, err);
    if (rc == CTX_EUNDEF_OBJECT) {
        ctx_err_clear(err);
        return CTX_OK;
    }
    if (rc == CTX_OK) {
        st->hs_pos = (wal_pos_t){.segment = f.segment, .offset = f.offset};
        st->hs_file.present = true;
        memcpy(st->hs_file.bytes, f.hard_state, WAL_HARD_STATE_BYTES);
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
        rc = read_hs_file(wal, &st, err);
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
    if (!info->has_hard_state && st.hs_file.present) {
        info->has_hard_state = true;
        memcpy(info->last_hard_state, st.hs_file.bytes, WAL_HARD_STATE_BYTES);
    }
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
    if (rc == CTX_OK && wal->written_hs.present) { /* the old segments may hold it */
        rc = write_hs_file(
            wal, &wal->written_hs,
            (wal_pos_t){.segment = after_index + 1, .offset = WAL_SEGMENT_HEADER_BYTES}, err);
    }
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
static int open_active_segment(wal_t *wal, uint64_t last_index, uint64_t after_index,
                               ctx_err_t *err) {
    /* A newest segment without entries (only hard state, or nothing yet) continues the log at
     * its first index: reopening it must not restart, and so rewrite, the log. */
    uint64_t newest_first = wal->nsegments > 0 ? wal->segments[wal->nsegments - 1].first_index : 0;
    if (newest_first > last_index + 1) {
        last_index = newest_first - 1;
    }
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

static void mark_synced(wal_t *wal);

/* Opens the last segment for appending, or starts one at next_index; the newest hard state
 * recovered is the one before the end of the log. */
static int open_active(wal_t *wal, const wal_recovery_t *info, uint64_t after_index,
                       ctx_err_t *err) {
    wal->written_hs.present = info->has_hard_state;
    memcpy(wal->written_hs.bytes, info->last_hard_state, WAL_HARD_STATE_BYTES);
    int rc = open_active_segment(wal, info->last_index, after_index, err);
    if (rc == CTX_OK) {
        mark_synced(wal);
    }
    return rc;
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
    pthread_mutex_init(&wal->hs_mu, NULL);
    pthread_cond_init(&wal->wake, NULL);
    pthread_cond_init(&wal->durable_cond, NULL);
    buf_init(&wal->pending);
    rc = opts->read_only ? CTX_OK : fsu_mkdirs(wal->dir, 0700, err);
    if (rc == CTX_OK) {
        rc = wal_recover(wal, after_index, replay, ctx, info, err);
    }
    if (rc == CTX_OK && !opts->read_only) {
        rc = open_active(wal, info, after_index, err);
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

/* fdatasync of the active segment, timed for opts.fsync_observer; a failure is fatal (file
 * comment). Every fsync of the active segment goes through here. */
static void sync_active(wal_t *wal) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (fdatasync(wal->fd) < 0) {
        wal_panic("fsync", wal->dir);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (wal->opts.fsync_observer != NULL) {
        int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
        wal->opts.fsync_observer(ns > 0 ? (uint64_t)ns : 0);
    }
}

/* Records (mu taken) that everything written is fsynced: the newest hard state written is the
 * newest before the end of the active segment. */
static void mark_synced(wal_t *wal) {
    pthread_mutex_lock(&wal->mu);
    wal->synced_hs = wal->written_hs;
    wal->synced_pos = (wal_pos_t){.segment = wal->segments[wal->nsegments - 1].first_index,
                                  .offset = wal->active_bytes};
    pthread_mutex_unlock(&wal->mu);
}

/* Writes one batch taken from pending, rotating first if needed (a new segment is named after
 * next_index, the batch's first entry or the next entry to come). */
static void writer_write(wal_t *wal, const buf_t *batch, uint64_t next_index) {
    if (wal->active_bytes >= wal->opts.segment_bytes) {
        sync_active(wal);
        mark_synced(wal);
        ctx_err_t err;
        ctx_err_clear(&err);
        if (open_new_segment(wal, next_index, &err) != CTX_OK) {
            CTX_ERROR("PANIC: %s", err.message);
            abort();
        }
    }
    write_all(wal, buf_peek(batch), buf_size(batch));
    wal->active_bytes += buf_size(batch);
}

/* Offset in the segment data[0..len) of the first record with index > after (len: none). */
static size_t cut_offset(const wal_t *wal, const uint8_t *data, size_t len, uint64_t after) {
    size_t off = WAL_SEGMENT_HEADER_BYTES;
    while (off < len) {
        wal_record_t rec;
        size_t used = 0;
        if (wal_record_decode(data + off, len - off, &rec, &used) != WAL_DECODE_OK) {
            CTX_ERROR("PANIC: WAL record at offset %zu unreadable while truncating in \"%s\"", off,
                      wal->dir);
            abort();
        }
        if (rec.index > after) {
            return off;
        }
        off += used;
    }
    return len;
}

_Noreturn static void cut_panic(const ctx_err_t *err) {
    CTX_ERROR("PANIC: WAL truncation failed: %s", err->message);
    abort();
}

/* Saves the newest hard state written (if any) in wal/hardstate as of pos; panics on failure. */
static void cut_save_hs(wal_t *wal, wal_pos_t pos) {
    ctx_err_t err;
    ctx_err_clear(&err);
    if (wal->written_hs.present && write_hs_file(wal, &wal->written_hs, pos, &err) != CTX_OK) {
        cut_panic(&err);
    }
}

/* Removes the segments after segment s (newest first; wal.ctl names s before), durably. */
static void cut_later_segments(wal_t *wal, uint32_t s) {
    ctx_err_t err;
    ctx_err_clear(&err);
    if (s + 1 < wal->nsegments && write_control(wal, wal->segments[s].first_index, &err) != 0) {
        cut_panic(&err);
    }
    for (uint32_t k = wal->nsegments - 1; k > s; k--) {
        char later[FSU_PATH_MAX];
        wal_path(wal, wal->segments[k].first_index, later);
        if (unlink(later) < 0) {
            wal_panic("unlink", later);
        }
    }
    if (fsu_fsync_dir(wal->dir, &err) != CTX_OK) {
        cut_panic(&err);
    }
}

/*
 * Cuts every record with index > after out of the files. Each step is durable before the next:
 *   1. wal/hardstate := the newest hard state written, as of the end of the log, so that while
 *      the cut is under way every hard-state record still on disk counts as older;
 *   2. wal.ctl names the segment holding after + 1 (or the last before it); later segments are
 *      removed, newest first;
 *   3. that segment is truncated at the first record with index > after;
 *   4. wal/hardstate := the same hard state, as of the cut point, where new records will follow.
 * A crash leaves the old log or one of its prefixes, and the newest hard state.
 */
static void writer_cut(wal_t *wal, uint64_t after) {
    ctx_err_t err;
    ctx_err_clear(&err);
    pthread_mutex_lock(&wal->hs_mu); /* no segment removal meanwhile */
    sync_active(wal);
    uint32_t s = wal->nsegments - 1;
    while (s > 0 && wal->segments[s].first_index > after + 1) {
        s--;
    }
    uint64_t first = wal->segments[s].first_index;
    CTX_ASSERT(first <= after + 1);
    char path[FSU_PATH_MAX];
    wal_path(wal, first, path);
    uint8_t *data = NULL;
    size_t len = 0;
    if (fsu_read_all(path, wal_read_max(wal), &data, &len, &err) != CTX_OK) {
        cut_panic(&err);
    }
    wal_pos_t pos = {.segment = first, .offset = cut_offset(wal, data, len, after)};
    free(data);
    cut_save_hs(wal, (wal_pos_t){.segment = wal->segments[wal->nsegments - 1].first_index,
                                 .offset = wal->active_bytes});
    cut_later_segments(wal, s);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)pos.offset) < 0 || fdatasync(fd) < 0) {
        wal_panic("truncate", path);
    }
    cut_save_hs(wal, pos);
    close(wal->fd);
    wal->fd = fd;
    wal->active_bytes = pos.offset;
    pthread_mutex_lock(&wal->mu);
    wal->nsegments = s + 1;
    wal->synced_pos = pos;
    wal->synced_hs = wal->written_hs;
    if (atomic_load(&wal->durable) > after) {
        atomic_store(&wal->durable, after);
    }
    pthread_mutex_unlock(&wal->mu);
    pthread_mutex_unlock(&wal->hs_mu);
}

static void writer_notify(wal_t *wal) {
    if (wal->opts.notify_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(wal->opts.notify_fd, &one, sizeof(one));
        (void)n; /* eventfd: only fails when the counter would overflow */
    }
}

/* Publishes what is durable: the ticket, and when synced also the entry index and the newest
 * hard state before the end of the active segment. */
static void writer_publish(wal_t *wal, bool synced, uint64_t index, uint64_t ticket) {
    if (synced) {
        mark_synced(wal);
    }
    pthread_mutex_lock(&wal->mu);
    if (synced) {
        atomic_store(&wal->durable, index);
    }
    atomic_store(&wal->durable_ticket, ticket);
    pthread_cond_broadcast(&wal->durable_cond);
    pthread_mutex_unlock(&wal->mu);
    writer_notify(wal);
}

/* What the writer took from the appender side in one round. */
typedef struct writer_take {
    bool stop;
    bool cut;
    uint64_t cut_after;
    uint64_t next_index; /* names a segment created for this batch */
    uint64_t last_index; /* last entry index once the batch is written */
    uint64_t ticket;     /* 0: nothing taken */
    wal_hs_t hs;         /* the newest hard state in the batch */
} writer_take_t;

/* Waits (mu held) for work, or for the sync_commit-off fsync deadline when unsynced. */
static void writer_wait(wal_t *wal, bool unsynced, uint64_t last_sync_ms) {
    while (!wal->stop && wal->pending_ticket == 0) {
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
}

/* Takes the pending buffer (swapped with batch) and the pending cut (mu held). */
static writer_take_t writer_take(wal_t *wal, buf_t *batch) {
    writer_take_t t = {.stop = wal->stop,
                       .cut = wal->cut_pending,
                       .cut_after = wal->cut_after,
                       .next_index =
                           wal->pending_first != 0 ? wal->pending_first : wal->last_index + 1,
                       .last_index = wal->last_index,
                       .ticket = wal->pending_ticket,
                       .hs = wal->pending_hs};
    buf_t tmp = wal->pending;
    wal->pending = *batch;
    *batch = tmp;
    buf_reset(&wal->pending);
    wal->pending_first = 0;
    wal->pending_ticket = 0;
    wal->pending_hs.present = false;
    wal->cut_pending = false;
    pthread_cond_broadcast(&wal->durable_cond); /* wakes appenders blocked on the bound */
    return t;
}

static void *wal_writer_main(void *arg) {
    wal_t *wal = arg;
    buf_t batch;
    buf_init(&batch);
    uint64_t written_index = atomic_load(&wal->durable);
    uint64_t written_ticket = 0, synced_ticket = 0;
    uint64_t last_sync_ms = now_ms();
    pthread_mutex_lock(&wal->mu);
    for (;;) {
        writer_wait(wal, written_ticket > synced_ticket, last_sync_ms);
        writer_take_t t = writer_take(wal, &batch);
        pthread_mutex_unlock(&wal->mu);
        if (t.cut) {
            writer_cut(wal, t.cut_after);
        }
        if (buf_size(&batch) > 0) {
            writer_write(wal, &batch, t.next_index);
            buf_reset(&batch);
        }
        if (t.ticket != 0) {
            written_index = t.last_index;
            written_ticket = t.ticket;
            if (t.hs.present) {
                wal->written_hs = t.hs;
            }
            if (!wal->opts.sync_commit) {
                writer_publish(wal, false, 0, written_ticket);
            }
        }
        bool sync_now =
            wal->opts.sync_commit || t.stop || now_ms() >= last_sync_ms + wal->opts.sync_delay_ms;
        if (sync_now && written_ticket > synced_ticket) {
            sync_active(wal);
            last_sync_ms = now_ms();
            synced_ticket = written_ticket;
            writer_publish(wal, true, written_index, written_ticket);
        }
        pthread_mutex_lock(&wal->mu);
        if (t.stop && wal->pending_ticket == 0) {
            break;
        }
    }
    pthread_mutex_unlock(&wal->mu);
    buf_free(&batch);
    return NULL;
}

/* ---------------------------------------------------------------- API */

/* Waits (mu held) while the pending buffer is over its bound. */
static void wait_pending_bound(wal_t *wal) {
    while (buf_size(&wal->pending) > WAL_PENDING_BYTES_MAX) {
        pthread_cond_wait(&wal->durable_cond, &wal->mu);
    }
}

/* Drops the pending records with index > after (mu held). A hard state among them is the newest
 * one (hard state follows the entries it was saved after), so it is appended again, re-indexed
 * to after: the space it took guarantees the room. */
static void pending_cut(wal_t *wal, uint64_t after) {
    const uint8_t *p = buf_peek(&wal->pending);
    size_t n = buf_size(&wal->pending);
    size_t cut = n;
    bool hs_dropped = false;
    for (size_t off = 0; off < n; off += WAL_RECORD_HEADER_BYTES + ctx_read_u32be(p + off)) {
        if (cut == n && ctx_read_u64be(p + off + 16) > after) {
            cut = off;
        }
        hs_dropped = hs_dropped || (off >= cut && p[off + 24] == WAL_TYPE_HARD_STATE);
    }
    buf_rewind(&wal->pending, cut);
    if (wal->pending_first > after) {
        wal->pending_first = 0;
    }
    if (hs_dropped) {
        CTX_ASSERT(wal->pending_hs.present);
        wal_record_encode(&wal->pending, 0, after, WAL_TYPE_HARD_STATE, wal->pending_hs.bytes,
                          WAL_HARD_STATE_BYTES);
        CTX_ASSERT(!buf_failed(&wal->pending));
    }
}

/* Truncates after `after` < last_index (mu held): pending records at once, the files through
 * the writer when entries after `after` were already handed to it. */
static void truncate_locked(wal_t *wal, uint64_t after) {
    CTX_ASSERT(after < wal->last_index);
    uint64_t handed_last = wal->pending_first != 0 ? wal->pending_first - 1 : wal->last_index;
    pending_cut(wal, after);
    if (after < handed_last) {
        wal->cut_after = wal->cut_pending && wal->cut_after < after ? wal->cut_after : after;
        wal->cut_pending = true;
    }
    wal->last_index = after;
}

/* Hands out the next ticket for a call that changed pending (mu held) and wakes the writer. */
static uint64_t take_ticket(wal_t *wal) {
    wal->pending_ticket = ++wal->ticket;
    pthread_cond_signal(&wal->wake);
    return wal->ticket;
}

/* The log's first possible entry index (mu held): the first segment's. */
static uint64_t first_possible_index(const wal_t *wal) {
    return wal->segments[0].first_index;
}

uint64_t wal_append_entry(wal_t *wal, uint64_t term, uint64_t index, uint8_t type,
                          const void *payload, uint32_t len) {
    CTX_ASSERT(wal != NULL && !wal->opts.read_only);
    CTX_ASSERT(wal_type_is_entry(type));
    CTX_ASSERT(len <= WAL_PAYLOAD_BYTES_MAX);
    pthread_mutex_lock(&wal->mu);
    wait_pending_bound(wal);
    if (index > wal->last_index + 1 || index < first_possible_index(wal)) {
        uint64_t last = wal->last_index;
        pthread_mutex_unlock(&wal->mu);
        CTX_WARN("WAL: entry index %" PRIu64 " refused: the log holds entries up to %" PRIu64,
                 index, last);
        return 0;
    }
    /* Room first, so that a refused allocation leaves the log untruncated. */
    if (buf_reserve(&wal->pending, WAL_RECORD_HEADER_BYTES + (size_t)len) == NULL) {
        buf_rewind(&wal->pending, buf_size(&wal->pending)); /* the records before stay */
        pthread_mutex_unlock(&wal->mu);
        return 0;
    }
    if (index <= wal->last_index) {
        truncate_locked(wal, index - 1);
    }
    wal_record_encode(&wal->pending, term, index, type, payload, len);
    CTX_ASSERT(!buf_failed(&wal->pending));
    wal->last_index = index;
    if (wal->pending_first == 0) {
        wal->pending_first = index;
    }
    uint64_t ticket = take_ticket(wal);
    pthread_mutex_unlock(&wal->mu);
    return ticket;
}

uint64_t wal_save_hard_state(wal_t *wal, const uint8_t hs[WAL_HARD_STATE_BYTES]) {
    CTX_ASSERT(wal != NULL && !wal->opts.read_only && hs != NULL);
    pthread_mutex_lock(&wal->mu);
    wait_pending_bound(wal);
    wal_record_encode(&wal->pending, 0, wal->last_index, WAL_TYPE_HARD_STATE, hs,
                      WAL_HARD_STATE_BYTES);
    if (buf_failed(&wal->pending)) {
        buf_rewind(&wal->pending, buf_size(&wal->pending));
        pthread_mutex_unlock(&wal->mu);
        return 0;
    }
    wal->pending_hs.present = true;
    memcpy(wal->pending_hs.bytes, hs, WAL_HARD_STATE_BYTES);
    uint64_t ticket = take_ticket(wal);
    pthread_mutex_unlock(&wal->mu);
    return ticket;
}

uint64_t wal_truncate_after(wal_t *wal, uint64_t index) {
    CTX_ASSERT(wal != NULL && !wal->opts.read_only);
    pthread_mutex_lock(&wal->mu);
    if (index + 1 < first_possible_index(wal)) {
        pthread_mutex_unlock(&wal->mu);
        CTX_WARN("WAL: truncation after index %" PRIu64 " refused: the log starts later", index);
        return 0;
    }
    if (index < wal->last_index) {
        truncate_locked(wal, index);
    }
    uint64_t ticket = take_ticket(wal);
    pthread_mutex_unlock(&wal->mu);
    return ticket;
}

uint64_t wal_append(wal_t *wal, uint64_t term, uint8_t type, const void *payload, uint32_t len) {
    uint64_t index = wal_last_index(wal) + 1; /* one appending thread: nobody else moves it */
    return wal_append_entry(wal, term, index, type, payload, len) != 0 ? index : 0;
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

uint64_t wal_durable_ticket(const wal_t *wal) {
    return atomic_load(&wal->durable_ticket);
}

void wal_wait_durable(wal_t *wal, uint64_t index) {
    pthread_mutex_lock(&wal->mu);
    CTX_ASSERT(index <= wal->last_index);
    while (atomic_load(&wal->durable) < index) {
        pthread_cond_wait(&wal->durable_cond, &wal->mu);
    }
    pthread_mutex_unlock(&wal->mu);
}

void wal_wait_ticket(wal_t *wal, uint64_t ticket) {
    pthread_mutex_lock(&wal->mu);
    CTX_ASSERT(ticket <= wal->ticket);
    while (atomic_load(&wal->durable_ticket) < ticket) {
        pthread_cond_wait(&wal->durable_cond, &wal->mu);
    }
    pthread_mutex_unlock(&wal->mu);
}

uint32_t wal_remove_through(wal_t *wal, uint64_t index) {
    pthread_mutex_lock(&wal->hs_mu); /* no truncation meanwhile; rotation only appends */
    pthread_mutex_lock(&wal->mu);
    uint32_t n = 0;
    /* Segment s holds [first(s), first(s+1) - 1]; the active (last) one is never removed. */
    while (n + 1 < wal->nsegments && wal->segments[n + 1].first_index <= index + 1) {
        n++;
    }
    wal_hs_t hs = wal->synced_hs;
    wal_pos_t pos = wal->synced_pos;
    pthread_mutex_unlock(&wal->mu);
    /* The removed segments may hold the newest hard-state record; each was fsynced whole
     * before the next segment was created, so none of their records is after synced_pos. */
    ctx_err_t err;
    ctx_err_clear(&err);
    if (n > 0 && hs.present && write_hs_file(wal, &hs, pos, &err) != CTX_OK) {
        CTX_WARN("WAL segments kept: %s", err.message);
        n = 0;
    }
    pthread_mutex_lock(&wal->mu);
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
    pthread_mutex_unlock(&wal->hs_mu);
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
    pthread_mutex_destroy(&wal->hs_mu);
    pthread_cond_destroy(&wal->wake);
    pthread_cond_destroy(&wal->durable_cond);
    free(wal);
}

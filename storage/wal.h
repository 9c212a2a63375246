/*
 * wal.h — the write-ahead log: segment files of CRC-protected records, group commit on a
 * dedicated writer thread, recovery with torn-tail truncation (DESIGN §6).
 *
 * Records are laid out as a Raft log's entries: every record carries (term, index) and indexes
 * are contiguous from the first record of the first segment to the last record of the last one.
 * A single-node server writes term 0.
 *
 * Threads. wal_append() is called by one thread (the event loop); it copies the record into an
 * in-memory pending buffer and returns the record's index at once. The writer thread takes the
 * whole pending buffer, write()s it and fdatasync()s it, so every record appended while an fsync
 * was in flight shares the next one (group commit), then publishes the durable index and writes
 * to notify_fd (an eventfd) so the loop can release the replies waiting for it. With
 * sync_commit off the writer still write()s promptly but fsyncs at most every sync_delay_ms.
 * A failed write or fsync is fatal (the process aborts, as PostgreSQL PANICs): after a failed
 * fsync the kernel may have dropped the dirty pages, so no later fsync can be trusted.
 */
#ifndef CTX_WAL_H
#define CTX_WAL_H

#include "buf.h"
#include "ctx.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct wal wal_t;

enum {
    WAL_RECORD_HEADER_BYTES = 25,  /* len 4, crc 4, term 8, index 8, type 1 */
    WAL_SEGMENT_HEADER_BYTES = 24, /* magic 8, version 4, crc 4, first index 8 */
    WAL_VERSION = 1,
    WAL_PAYLOAD_BYTES_MAX = 1 << 30,
    WAL_SYNC_DELAY_MS_DEFAULT = 200,
};

typedef enum {
    WAL_TYPE_BATCH = 1, /* payload: cmd_encode() of one committed batch (engine/store/command.h) */
} wal_type_t;

typedef struct wal_record {
    uint64_t term;
    uint64_t index;
    uint8_t type;
    const uint8_t *payload; /* points into the buffer given to wal_record_decode */
    uint32_t len;
} wal_record_t;

/* ---- record codec (pure) ----
 * Appends one record to out: u32 len (payload bytes), u32 crc32c, u64 term, u64 index, u8 type,
 * payload; integers big-endian; the CRC covers len and every byte after the crc field. */
void wal_record_encode(buf_t *out, uint64_t term, uint64_t index, uint8_t type, const void *payload,
                       uint32_t len);

typedef enum { WAL_DECODE_OK = 0, WAL_DECODE_SHORT = 1, WAL_DECODE_CORRUPT = 2 } wal_decode_t;
/* Decodes the record at data[0..avail): OK (rec filled, *consumed = its bytes), SHORT (fewer
 * bytes than the header or the declared length), CORRUPT (CRC mismatch, type 0, or a length
 * above WAL_PAYLOAD_BYTES_MAX). Never reads past avail. On a CRC mismatch or type 0, *consumed
 * is the damaged record's extent by its (possibly damaged) length field, which always fits in
 * avail; on SHORT and on a bad length it is left unchanged. */
wal_decode_t wal_record_decode(const uint8_t *data, size_t avail, wal_record_t *rec,
                               size_t *consumed);

/* Segment header for a segment whose first record has index first_index. */
void wal_segment_header_encode(uint8_t out[WAL_SEGMENT_HEADER_BYTES], uint64_t first_index);
/* 0 and *first_index when the header is intact, CTX_ECORRUPT otherwise. */
int wal_segment_header_decode(const uint8_t *data, size_t avail, uint64_t *first_index);

/* ---- the log ---- */
typedef struct wal_options {
    const char *dir;        /* the wal/ directory (created if missing); copied */
    uint64_t segment_bytes; /* a new segment starts once the current one reaches this */
    bool sync_commit;       /* synchronous_commit: fsync before the durable index advances */
    uint32_t sync_delay_ms; /* with sync_commit off: longest time between fsyncs */
    int notify_fd;          /* eventfd written (value 1) when the durable index advances; -1 */
    bool read_only;         /* inspect: scan and replay only, never truncate, no writer */
} wal_options_t;

/* Called for every intact record with index > after_index, in order. A non-zero return stops
 * recovery and wal_open fails with that code. */
typedef int (*wal_replay_fn)(void *ctx, const wal_record_t *rec, ctx_err_t *err);

typedef struct wal_recovery {
    uint64_t first_index;     /* first record kept in the log (0 when empty) */
    uint64_t last_index;      /* last intact record (0 when empty) */
    uint64_t replayed;        /* records handed to the callback */
    uint64_t truncated_bytes; /* torn tail cut off */
    char truncated_at[256];   /* "wal/000000000042.seg offset 1234" or "" */
    uint32_t segments;
} wal_recovery_t;

/*
 * Opens (creating if needed) the log in opts->dir: reads every segment in index order, checks
 * every record's CRC and that indexes are contiguous, calls replay for records after
 * after_index, and truncates the log at the first short or corrupt record (logging what was
 * dropped) — unless an intact record follows the damage anywhere later in the log, which means
 * the middle of the log is damaged: then CTX_ECORRUPT with the file and offset, and nothing is
 * changed on disk. If the log ends before after_index (a snapshot newer than the durable log),
 * the old segments are removed and the log continues at after_index + 1. If the log starts after
 * after_index + 1, or its newest segment is older than wal.ctl records (see below), records are
 * missing: CTX_ECORRUPT naming the files and index range, and nothing is changed on disk; damage
 * followed by a segment wal.ctl records is not a torn tail either (CTX_ECORRUPT). Starts the writer
 * thread (unless read_only). Returns 0 and *out, or an error (nothing to free).
 */
int wal_open(const wal_options_t *opts, uint64_t after_index, wal_replay_fn replay, void *ctx,
             wal_recovery_t *info, wal_t **out, ctx_err_t *err);
/* Flushes and fsyncs everything appended, stops the writer thread, frees. NULL is a no-op. */
void wal_close(wal_t *wal);

/* Appends a record with the next index (returned). The payload is copied. Blocks only when the
 * pending buffer exceeds its bound (the disk cannot keep up). */
uint64_t wal_append(wal_t *wal, uint64_t term, uint8_t type, const void *payload, uint32_t len);
/* Highest index appended / known durable (thread-safe). */
uint64_t wal_last_index(const wal_t *wal);
uint64_t wal_durable_index(const wal_t *wal);
/* Blocks until durable ≥ index (never call on the event loop). */
void wal_wait_durable(wal_t *wal, uint64_t index);
/* Deletes closed segments all of whose records have index ≤ index (never the active one).
 * Returns the number of segments removed. */
uint32_t wal_remove_through(wal_t *wal, uint64_t index);
/* Number of segment files currently in the log. */
uint32_t wal_segment_count(wal_t *wal);

/* Segment file name for first index i: "%012llu.seg". */
void wal_segment_name(uint64_t first_index, char *out, size_t out_len);

/* The segment files of dir by first index, ascending (*firsts malloc'd, the caller frees; NULL
 * when none). CTX_EUNDEF_OBJECT when dir does not exist, CTX_EIO when it cannot be read. */
int wal_list_segments(const char *dir, uint64_t **firsts, size_t *count, ctx_err_t *err);

/* ---- control file wal/wal.ctl ----
 * Records the first index of the newest segment created, written durably (temporary file,
 * fsync, rename, directory fsync) right after each new segment's header is durable. A segment
 * list whose newest file is older than that record has lost its newest segment, which the
 * segments alone cannot show. Layout: magic "CTXDBWCT" 8, version 4, crc32c of bytes 0..12 and
 * 16..24 4, newest segment's first index 8 (integers big-endian). No control file (a log
 * created before its first segment was recorded) checks nothing; wal_open then writes it. */
#define WAL_CONTROL_FILE "wal.ctl"
enum { WAL_CONTROL_BYTES = 24, WAL_CONTROL_VERSION = 1 };
void wal_control_encode(uint8_t out[WAL_CONTROL_BYTES], uint64_t newest_first_index);
/* 0 and *newest_first_index when intact, CTX_ECORRUPT otherwise. */
int wal_control_decode(const uint8_t *data, size_t avail, uint64_t *newest_first_index);
/* Reads dir/wal.ctl: 0, CTX_EUNDEF_OBJECT when it does not exist (*newest 0), CTX_ECORRUPT
 * when damaged, CTX_EIO. */
int wal_control_read(const char *dir, uint64_t *newest_first_index, ctx_err_t *err);
/* CTX_ECORRUPT naming the missing file and index range when the newest segment present
 * (first index newest_present, 0: none) is older than the control file's ctl_newest (0: no
 * control file, always 0 returned). */
int wal_check_newest(const char *dir, uint64_t ctl_newest, uint64_t newest_present, ctx_err_t *err);

#endif

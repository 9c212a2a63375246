/*
 * wal.h — the write-ahead log, which is also the Raft log: segment files of CRC-protected
 * records, group commit on a dedicated writer thread, recovery with torn-tail truncation
 * (DESIGN §6, §7).
 *
 * Entries. Records of type BATCH, NOOP and CONF are Raft log entries: every one carries the
 * (term, index) the caller gives, and their indexes are contiguous from the first entry of the
 * first segment to the last entry of the last one. wal_append_entry() appends at a given index;
 * an index at or below the last one first truncates the conflicting suffix (in the pending
 * buffer and, through the writer, in the files). Logs written by a single-node server before
 * Raft hold BATCH entries of term 0; they open unchanged and report term 0 (Raft terms start at
 * 1, so every term-0 entry is older than any entry a leader writes; the caller decides how a
 * term-0 log joins a cluster).
 *
 * Hard state. A HARD_STATE record (Raft's term, vote and commit, raft_hard_state_encode) is not
 * an entry: it is stored with index = the last entry index at the time and takes no part in
 * index contiguity. Recovery reports the last one in file order. Truncating the log cuts
 * records out of the files, hard-state records among them, so before a cut, and before
 * segments holding hard state are removed, the newest hard state written is first saved
 * durably in wal/hardstate together with the file position it is current at (layout below);
 * recovery takes the last hard-state record at or after that position, or else the file's.
 *
 * Threads. Appends (wal_append_entry, wal_save_hard_state, wal_truncate_after) are called by one
 * thread (the event loop); each copies its record into an in-memory pending buffer and returns
 * a ticket at once. The writer thread takes the whole pending buffer (and a pending file
 * truncation, done first and made durable on its own), write()s it and fdatasync()s it, so
 * every record appended while an fsync was in flight shares the next one (group commit), then
 * publishes the durable ticket and index and writes to notify_fd (an eventfd) so the loop can
 * release what was waiting for them. With sync_commit off the writer still write()s promptly
 * and publishes the ticket once written, but fsyncs at most every sync_delay_ms.
 * A failed write, fsync or truncation is fatal (the process aborts, as PostgreSQL PANICs):
 * after a failed fsync the kernel may have dropped the dirty pages, so no later fsync can be
 * trusted.
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
    WAL_TYPE_BATCH = 1,      /* entry (Raft NORMAL): cmd_encode() of one batch (command.h) */
    WAL_TYPE_NOOP = 2,       /* entry (Raft NOOP): empty payload */
    WAL_TYPE_CONF = 3,       /* entry (Raft CONF): raft_conf_change_encode() */
    WAL_TYPE_HARD_STATE = 4, /* not an entry: raft_hard_state_encode(), WAL_HARD_STATE_BYTES */
    WAL_TYPE_MEMBER = 5,     /* entry (Raft NORMAL): a member's address (server/membership.h);
                                not a batch: replay keeps it for the cluster and applies nothing */
} wal_type_t;

enum { WAL_HARD_STATE_BYTES = 28 }; /* RAFT_HARD_STATE_SIZE (raft.h; storage does not see raft/) */

/* True for the types that are log entries (BATCH, NOOP, CONF). */
bool wal_type_is_entry(uint8_t type);

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
/* (When out cannot grow, nothing is appended and out is marked failed, buf.h.) */

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
    /* Told how long each fdatasync of the active segment took (writer thread); NULL: nobody. */
    void (*fsync_observer)(uint64_t duration_ns);
} wal_options_t;

/* Called in file order for every intact entry with index > after_index and for every intact
 * hard-state record (rec->type tells). A non-zero return stops recovery and wal_open fails with
 * that code. */
typedef int (*wal_replay_fn)(void *ctx, const wal_record_t *rec, ctx_err_t *err);

typedef struct wal_recovery {
    uint64_t first_index; /* first entry kept in the log (0 when empty) */
    uint64_t last_index;  /* last intact entry (0 when empty) */
    uint64_t last_term;   /* its term (0 when empty, or written before Raft) */
    bool has_hard_state;  /* a hard state was found (record or wal/hardstate) */
    uint8_t last_hard_state[WAL_HARD_STATE_BYTES]; /* the newest one, when has_hard_state */
    uint64_t hard_states;                          /* hard-state records read */
    uint64_t replayed;                             /* records handed to the callback */
    uint64_t truncated_bytes;                      /* torn tail cut off */
    char truncated_at[256];                        /* "wal/000000000042.seg offset 1234" or "" */
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
 * followed by a segment wal.ctl records is not a torn tail either (CTX_ECORRUPT). An intact
 * hard-state record whose payload is not WAL_HARD_STATE_BYTES long, or whose index is not the
 * last entry's, is damage like a bad CRC. Starts the writer
 * thread (unless read_only). Returns 0 and *out, or an error (nothing to free).
 */
int wal_open(const wal_options_t *opts, uint64_t after_index, wal_replay_fn replay, void *ctx,
             wal_recovery_t *info, wal_t **out, ctx_err_t *err);
/* Flushes and fsyncs everything appended, stops the writer thread, frees. NULL is a no-op. */
void wal_close(wal_t *wal);

/*
 * Appends the entry (term, index, type BATCH/NOOP/CONF, payload copied) and returns its ticket:
 * a per-process counter that increases with every append, hard-state save and truncation. The
 * entry is durable once wal_durable_ticket() reaches the ticket. index must be at most
 * wal_last_index() + 1 and at least the log's first index; when it is at most wal_last_index()
 * the log is first truncated after index - 1, as by wal_truncate_after. Blocks only when the
 * pending buffer exceeds its bound (the disk cannot keep up). Returns 0 when nothing was done:
 * memory for the record was refused, or index is out of range (a caller bug, logged).
 */
uint64_t wal_append_entry(wal_t *wal, uint64_t term, uint64_t index, uint8_t type,
                          const void *payload, uint32_t len);
/* Appends a hard-state record (index = wal_last_index()) and returns its ticket (0: out of
 * memory, nothing appended). */
uint64_t wal_save_hard_state(wal_t *wal, const uint8_t hs[WAL_HARD_STATE_BYTES]);
/*
 * Drops every entry with index > index and returns the truncation's ticket (0: index below the
 * log's first index - 1, a caller bug, logged; nothing done). Entries still pending are dropped
 * at once (a hard state pending behind them is kept, re-indexed); entries already handed to the
 * writer are cut from the files by the writer before it writes anything appended later: the
 * segment holding index + 1 is truncated, later segments are deleted, wal.ctl is rewritten, the
 * newest hard state is kept in wal/hardstate, and all of it is made durable (fsync of the files
 * and the directory, also with sync_commit off) before any later record is written, so records
 * after a truncation never reappear after a crash. An index at or above
 * wal_last_index() is a no-op that still takes a ticket.
 */
uint64_t wal_truncate_after(wal_t *wal, uint64_t index);
/* Highest ticket whose record (and everything appended before it) is durable: fsynced, or with
 * sync_commit off written to the file (thread-safe). A dropped record's ticket is covered once
 * the truncation that dropped it is. */
uint64_t wal_durable_ticket(const wal_t *wal);

/* Appends a BATCH/NOOP/CONF entry at wal_last_index() + 1 and returns that index (0: out of
 * memory, nothing appended). The single-node server's call until it drives Raft. */
uint64_t wal_append(wal_t *wal, uint64_t term, uint8_t type, const void *payload, uint32_t len);
/* Highest entry index appended / known fsynced (thread-safe). A truncation lowers the durable
 * index to the truncation point when the writer has cut the files (wal_durable_ticket is the
 * exact measure for callers that truncate). */
uint64_t wal_last_index(const wal_t *wal);
uint64_t wal_durable_index(const wal_t *wal);
/* Blocks until durable ≥ index (never call on the event loop). */
void wal_wait_durable(wal_t *wal, uint64_t index);
/* Blocks until the durable ticket ≥ ticket (never call on the event loop). */
void wal_wait_ticket(wal_t *wal, uint64_t ticket);
/* Deletes closed segments all of whose entries have index ≤ index (never the active one),
 * saving the newest durable hard state in wal/hardstate first when there is one. Returns the
 * number of segments removed. */
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

/* ---- hard-state file wal/hardstate ----
 * The newest hard state as of a file position: every hard-state record before that position is
 * older, every one at or after it newer. Written durably (temporary file, fsync, rename,
 * directory fsync) before a truncation or a segment removal could take the newest hard-state
 * record with it. Layout: magic "CTXDBWHS" 8, version 4, crc32c of bytes 0..12 and 16..60 4,
 * first index of the position's segment 8, byte offset in it 8, hard state 28 (big-endian). */
#define WAL_HARD_STATE_FILE "hardstate"
enum { WAL_HS_FILE_BYTES = 60, WAL_HS_FILE_VERSION = 1 };
typedef struct wal_hs_file {
    uint64_t segment; /* first index of the segment holding the position */
    uint64_t offset;  /* byte offset of the position in that segment */
    uint8_t hard_state[WAL_HARD_STATE_BYTES];
} wal_hs_file_t;
void wal_hs_file_encode(uint8_t out[WAL_HS_FILE_BYTES], const wal_hs_file_t *hs);
/* 0 and *hs when intact, CTX_ECORRUPT otherwise. */
int wal_hs_file_decode(const uint8_t *data, size_t avail, wal_hs_file_t *hs);
/* Reads dir/hardstate: 0, CTX_EUNDEF_OBJECT when it does not exist, CTX_ECORRUPT, CTX_EIO. */
int wal_hs_file_read(const char *dir, wal_hs_file_t *hs, ctx_err_t *err);

#endif

/*
 * raft_log.c — the in-memory Raft log between the last snapshot and the newest entry.
 *
 * Two flat arrays: `recs` (term, type, length, offset) indexed by index - snap_index - 1, and
 * `data`, the payload bytes of all entries back to back. Appends copy the payload to the end of
 * `data`; truncating after an index cuts both arrays at that entry; compaction memmoves the
 * surviving tail to the front and rebases offsets. Arrays grow geometrically and are never
 * shrunk, so a node in steady state (compacting regularly) stops calling malloc. The log knows
 * four marks: stable (handed out for persistence), persisted (reported durable by the caller,
 * raft_persisted; at most last, cut back by truncation), commit and applied (handed out for
 * application); invariants applied <= commit <= last and snap_index <= applied are asserted.
 */
#include "raft_int.h"

#include "ctx.h"

#include <stdlib.h>
#include <string.h>

/* An empty log after a snapshot at (snap_index, snap_term); no allocation until the first append.
 */
void raft_log_init(raft_log_t *log, uint64_t snap_index, uint64_t snap_term) {
    memset(log, 0, sizeof(*log));
    log->snap_index = snap_index;
    log->snap_term = snap_term;
    log->stable = snap_index;
    log->persisted = snap_index;
    log->commit = snap_index;
    log->applied = snap_index;
}

/* Frees both arrays; the log may be initialized again. */
void raft_log_free(raft_log_t *log) {
    free(log->recs);
    free(log->data);
    memset(log, 0, sizeof(*log));
}

/* Index of the newest entry (the snapshot index when empty). */
uint64_t raft_log_last_index(const raft_log_t *log) {
    return log->snap_index + log->count;
}

/* Term of the newest entry (the snapshot term when empty). */
uint64_t raft_log_last_term(const raft_log_t *log) {
    return log->count == 0 ? log->snap_term : log->recs[log->count - 1].term;
}

/* Term of index when it is the snapshot index or in the log; false otherwise. */
bool raft_log_term(const raft_log_t *log, uint64_t index, uint64_t *term) {
    if (index == log->snap_index) {
        *term = log->snap_term;
        return true;
    }
    if (index < log->snap_index || index > raft_log_last_index(log)) {
        *term = 0;
        return false;
    }
    *term = log->recs[index - log->snap_index - 1].term;
    return true;
}

/* True when the log holds index with exactly that term. */
bool raft_log_match_term(const raft_log_t *log, uint64_t index, uint64_t term) {
    uint64_t t;
    return raft_log_term(log, index, &t) && t == term;
}

/* See raft_int.h. */
int raft_log_reserve(raft_log_t *log, uint32_t len) {
    if (log->count == log->recs_cap) {
        size_t cap = log->recs_cap == 0 ? 64 : log->recs_cap * 2;
        raft_log_rec_t *recs = ctx_try_realloc(log->recs, cap * sizeof(log->recs[0]));
        if (recs == NULL) {
            return CTX_ENOMEM;
        }
        log->recs = recs;
        log->recs_cap = cap;
    }
    if (log->data == NULL || log->data_cap - log->data_len < len) {
        size_t cap = log->data_cap == 0 ? 4096 : log->data_cap;
        while (cap - log->data_len < len) {
            cap *= 2;
        }
        uint8_t *data = ctx_try_realloc(log->data, cap);
        if (data == NULL) {
            return CTX_ENOMEM;
        }
        log->data = data;
        log->data_cap = cap;
    }
    return CTX_OK;
}

/* Appends one entry (payload copied) and returns its index. Precondition: term >= last term. */
uint64_t raft_log_append(raft_log_t *log, uint64_t term, uint8_t type, const uint8_t *data,
                         uint32_t len) {
    CTX_ASSERT(term >= raft_log_last_term(log));
    CTX_ASSERT(len <= RAFT_ENTRY_BYTES_MAX);
    if (log->count == log->recs_cap) {
        log->recs_cap = log->recs_cap == 0 ? 64 : log->recs_cap * 2;
        log->recs = ctx_realloc(log->recs, log->recs_cap * sizeof(log->recs[0]));
    }
    if (log->data == NULL || log->data_cap - log->data_len < len) {
        size_t cap = log->data_cap == 0 ? 4096 : log->data_cap;
        while (cap - log->data_len < len) {
            cap *= 2;
        }
        log->data = ctx_realloc(log->data, cap);
        log->data_cap = cap;
    }
    if (len > 0) {
        ctx_memcpy(log->data + log->data_len, data, len);
    }
    log->recs[log->count] =
        (raft_log_rec_t){.term = term, .data_off = log->data_len, .len = len, .type = type};
    log->data_len += len;
    log->count++;
    return raft_log_last_index(log);
}

/* Drops every entry after index. Committed entries are never dropped (asserted). */
void raft_log_truncate_after(raft_log_t *log, uint64_t index) {
    CTX_ASSERT(index >= log->commit);
    CTX_ASSERT(index >= log->snap_index);
    if (index >= raft_log_last_index(log)) {
        return;
    }
    size_t keep = (size_t)(index - log->snap_index);
    log->data_len = log->recs[keep].data_off;
    log->count = keep;
    if (log->stable > index) {
        log->stable = index;
    }
    if (log->persisted > index) {
        log->persisted = index;
    }
}

/* Fills *out with the entry at index (snap_index < index <= last). out->data points into the
 * log and is valid until the next append, truncation, compaction or reset. */
void raft_log_entry(const raft_log_t *log, uint64_t index, raft_entry_t *out) {
    CTX_ASSERT(index > log->snap_index);
    CTX_ASSERT(index <= raft_log_last_index(log));
    const raft_log_rec_t *rec = &log->recs[index - log->snap_index - 1];
    out->term = rec->term;
    out->index = index;
    out->type = rec->type;
    out->len = rec->len;
    out->data = log->data + rec->data_off;
}

/* Forgets entries up to and including index, which becomes the snapshot index. */
void raft_log_compact(raft_log_t *log, uint64_t index) {
    CTX_ASSERT(index > log->snap_index);
    CTX_ASSERT(index <= log->applied);
    uint64_t term = 0;
    bool ok = raft_log_term(log, index, &term);
    CTX_ASSERT(ok);
    size_t drop = (size_t)(index - log->snap_index);
    size_t base = drop < log->count ? log->recs[drop].data_off : log->data_len;
    memmove(log->recs, log->recs + drop, (log->count - drop) * sizeof(log->recs[0]));
    log->count -= drop;
    for (size_t i = 0; i < log->count; i++) {
        log->recs[i].data_off -= base;
    }
    memmove(log->data, log->data + base, log->data_len - base);
    log->data_len -= base;
    log->snap_index = index;
    log->snap_term = term;
    if (log->stable < index) {
        log->stable = index;
    }
    if (log->persisted < index) {
        log->persisted = index; /* applied entries are committed: a majority holds them */
    }
}

/* Discards the whole log; it restarts after a snapshot at (snap_index, snap_term). */
void raft_log_reset(raft_log_t *log, uint64_t snap_index, uint64_t snap_term) {
    log->count = 0;
    log->data_len = 0;
    log->snap_index = snap_index;
    log->snap_term = snap_term;
    log->stable = snap_index;
    log->persisted = snap_index;
    log->commit = snap_index;
    log->applied = snap_index;
}

/* The largest i <= index whose term is <= term, never below the snapshot index (fast
 * backtracking: every entry above it conflicts with a log whose entry at index has `term`). */
uint64_t raft_log_find_conflict_by_term(const raft_log_t *log, uint64_t index, uint64_t term) {
    uint64_t last = raft_log_last_index(log);
    if (index > last) {
        return index;
    }
    while (index > log->snap_index) {
        uint64_t t = log->recs[index - log->snap_index - 1].term;
        if (t <= term) {
            break;
        }
        index--;
    }
    return index;
}

/* True when a log ending at (last_term, last_index) is at least as up to date as ours. */
bool raft_log_up_to_date(const raft_log_t *log, uint64_t last_term, uint64_t last_index) {
    uint64_t our_term = raft_log_last_term(log);
    return last_term > our_term ||
           (last_term == our_term && last_index >= raft_log_last_index(log));
}

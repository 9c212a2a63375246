/*
 * raft_int.h — private layout of the Raft core, shared by raft.c, raft_leader.c and raft_log.c.
 * Nothing here is part of the contract (raft.h is).
 */
#ifndef CTX_RAFT_INT_H
#define CTX_RAFT_INT_H

#include "raft.h"

#include "buf.h"

/* One stored entry; its data lives in raft_log_t.data at data_off. */
typedef struct raft_log_rec {
    uint64_t term;
    uint64_t data_off;
    uint32_t len;
    uint8_t type;
} raft_log_rec_t;

/* The in-memory log: entries (snap_index, snap_index + count]. */
typedef struct raft_log {
    uint64_t snap_index;
    uint64_t snap_term;
    raft_log_rec_t *recs;
    size_t count;
    size_t recs_cap;
    uint8_t *data;
    size_t data_len;
    size_t data_cap;
    uint64_t stable;    /* entries <= stable were handed out for persistence */
    uint64_t persisted; /* entries <= persisted are durable on this node (raft_persisted) */
    uint64_t commit;    /* highest index known committed */
    uint64_t applied;   /* highest index handed out for application */
} raft_log_t;

typedef enum {
    RAFT_PR_PROBE = 0,     /* one append at a time until the match point is found */
    RAFT_PR_REPLICATE = 1, /* pipelined appends, optimistic next */
    RAFT_PR_SNAPSHOT = 2,  /* a snapshot is on its way; appends paused */
} raft_pr_state_t;

/* Leader's view of one member (self included, so quorum counting is uniform). */
typedef struct raft_progress {
    uint32_t id;
    uint8_t state; /* raft_pr_state_t */
    bool probe_sent;
    bool recent_active;
    uint64_t match;
    uint64_t next;
    uint64_t pending_snapshot;
    uint32_t snapshot_ticks;
    uint32_t inflight_start;
    uint32_t inflight_count;
    uint64_t inflight[RAFT_INFLIGHT_MAX]; /* last index of each unacknowledged append */
} raft_progress_t;

/* A ReadIndex request waiting on the leader for its heartbeat quorum. */
typedef struct raft_read_req {
    uint64_t ctx;
    uint64_t index;
    uint64_t seq;  /* heartbeat round that confirms it; 0 until index is known */
    uint32_t from; /* node that asked (self for local reads) */
    uint32_t acks; /* bit i: prs[i] answered a heartbeat with ctx >= seq */
} raft_read_req_t;

typedef struct raft_out {
    uint32_t to;
    uint8_t type;
    bool early; /* raft_envelope_t.early, before the batch's own term/vote check */
    size_t off;
    size_t len;
} raft_out_t;

struct raft {
    raft_config_t cfg;
    raft_role_t role;
    uint64_t term;
    uint32_t vote;
    uint32_t leader;
    raft_log_t log;
    raft_conf_t conf;      /* membership as of the last log entry */
    raft_conf_t snap_conf; /* membership as of log.snap_index */
    uint64_t pending_conf_index;
    uint8_t *snap_data; /* state machine bytes of the snapshot at log.snap_index */
    uint64_t snap_len;
    bool snap_install;   /* a received snapshot awaits the next ready */
    bool append_refused; /* this raft_step's entries did not all fit in the log (CTX_ENOMEM) */
    raft_snapshot_t ready_snapshot;

    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t randomized_timeout;

    raft_progress_t prs[RAFT_MEMBERS_MAX];
    int prs_count;
    uint32_t votes_from[RAFT_MEMBERS_MAX];
    bool votes_granted[RAFT_MEMBERS_MAX];
    int votes_count;
    uint32_t transferee;
    uint64_t term_start_index; /* leader: index of its first own-term entry */
    bool pending_bcast;        /* leader: new entries not yet offered to followers */

    raft_read_req_t reads[RAFT_READS_MAX];
    int reads_count;
    uint64_t read_seq;
    raft_read_state_t read_states[RAFT_READS_MAX];
    int read_states_count;

    raft_hard_state_t prev_hs; /* as handed out by the last ready */
    buf_t out;
    raft_out_t *outs;
    size_t outs_count;
    size_t outs_cap;
    raft_envelope_t *envelopes;
    size_t envelopes_cap;
    raft_entry_t *scratch; /* ready entries + committed */
    size_t scratch_cap;
    raft_entry_t msg_entries[RAFT_MSG_ENTRIES_MAX];  /* decoding scratch (raft_step) */
    raft_entry_t send_entries[RAFT_MSG_ENTRIES_MAX]; /* encoding scratch (appends) */
    bool in_ready;
};

/* raft_log.c */
void raft_log_init(raft_log_t *log, uint64_t snap_index, uint64_t snap_term);
void raft_log_free(raft_log_t *log);
uint64_t raft_log_last_index(const raft_log_t *log);
uint64_t raft_log_last_term(const raft_log_t *log);
bool raft_log_term(const raft_log_t *log, uint64_t index, uint64_t *term);
bool raft_log_match_term(const raft_log_t *log, uint64_t index, uint64_t term);
/* Room for one more entry of len bytes, so that raft_log_append does not allocate; CTX_ENOMEM
 * leaves the log as it was (the leader's proposal path uses it: a write fails with 53200). */
int raft_log_reserve(raft_log_t *log, uint32_t len);
uint64_t raft_log_append(raft_log_t *log, uint64_t term, uint8_t type, const uint8_t *data,
                         uint32_t len);
void raft_log_truncate_after(raft_log_t *log, uint64_t index);
void raft_log_entry(const raft_log_t *log, uint64_t index, raft_entry_t *out);
void raft_log_compact(raft_log_t *log, uint64_t index);
void raft_log_reset(raft_log_t *log, uint64_t snap_index, uint64_t snap_term);
uint64_t raft_log_find_conflict_by_term(const raft_log_t *log, uint64_t index, uint64_t term);
bool raft_log_up_to_date(const raft_log_t *log, uint64_t last_term, uint64_t last_index);

/* raft.c, used by raft_leader.c */
void raft_send(raft_t *r, raft_msg_t *m);
void raft_become_follower(raft_t *r, uint64_t term, uint32_t leader);
raft_progress_t *raft_progress_get(raft_t *r, uint32_t id);
int raft_quorum(const raft_t *r);
void raft_conf_appended(raft_t *r, uint64_t index, const raft_entry_t *e);
void raft_conf_reload(raft_t *r);
void raft_campaign_now(raft_t *r, bool transfer);

/* raft_leader.c */
void raft_become_leader(raft_t *r);
void raft_leader_tick(raft_t *r);
void raft_leader_step(raft_t *r, const raft_msg_t *m);
void raft_leader_sync_progress(raft_t *r);
bool raft_send_append(raft_t *r, raft_progress_t *pr);
void raft_bcast_append(raft_t *r);
void raft_flush_append(raft_t *r);
bool raft_maybe_commit(raft_t *r);
void raft_leader_read(raft_t *r, uint64_t ctx, uint32_t from);
void raft_reads_clear(raft_t *r);

#endif

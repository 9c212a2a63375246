/*
 * raft.h — the Raft consensus core as a pure, deterministic state machine (DESIGN §7).
 *
 * No sockets, no clock, no disk, no random source: time enters through raft_tick(), randomness
 * through a raft_rng_t the caller owns, network input through raft_step() (encoded bytes) and
 * client input through raft_propose()/raft_read_index(). Everything the core wants done comes
 * out as a raft_ready_t batch, which the caller handles in this order:
 *
 *   1. snapshot   — install it in the state machine and persist it (replaces the whole log);
 *   2. entries    — persist them, first truncating the stored log after entries[0].index - 1;
 *      hard_state — persist it (after the entries: it is the last record of the batch);
 *      if must_sync, fsync before going on (votes and acknowledged entries must be durable
 *      before any message that reveals them leaves the node); without must_sync the batch only
 *      moved the commit index, which may be written lazily (a leader re-teaches it);
 *   3. messages   — send each encoded message to its target (best effort, any order); those
 *                   marked `early` may be sent before step 2 is durable (a leader's appends go
 *                   out while it writes the same entries, Raft thesis §10.2.1), provided the
 *                   term and vote of every earlier batch are durable (a batch that changes them
 *                   marks none early);
 *   4. committed  — apply to the state machine, in order;
 *   5. reads      — answer ReadIndex requests once the applied index reaches read.index;
 *   6. raft_advance().
 * Once the entries of a batch are durable (step 2 done), raft_persisted() says so: a leader counts
 * its own log towards the commit quorum only up to there. A caller that handles the steps in
 * order calls it right after raft_advance(); one that pipelines (advances first, fsyncs in the
 * background) calls it when the fsync returns, with any later batches in between.
 *
 * Timing: with raft_tick() every 10 ms, election_ticks = 15 gives the 150-300 ms randomized
 * election timeout of DESIGN §7 (heartbeat_ticks = 3: 30 ms); the simulator runs exactly that.
 *
 * Between raft_ready() and raft_advance() no other raft_* call may be made on that raft (the batch
 * points into the core's memory). The core keeps the log (since the last snapshot) in memory;
 * it allocates only when its arrays grow, and the caller bounds growth with raft_compact().
 *
 * Errors: functions return 0 or a negative ctx_code_t (common/ctx.h):
 *   CTX_EREAD_ONLY — this node is not the leader (raft_leader() names the one it knows, if any)
 *                    or leadership is being transferred;
 *   CTX_ELIMIT     — a bounded queue is full or a change is already in progress; retry later;
 *   CTX_EBAD_PARAM — invalid argument (caller bug or invalid membership change);
 *   CTX_ECORRUPT   — bytes failed their CRC or version check;
 *   CTX_EPROTOCOL  — bytes are well-checksummed but malformed.
 * A failing call leaves the raft unchanged.
 */
#ifndef CTX_RAFT_H
#define CTX_RAFT_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    RAFT_NONE = 0,         /* "no node": node ids are >= 1 */
    RAFT_VOTERS_MAX = 7,   /* DESIGN: clusters of 1-7 servers */
    RAFT_LEARNERS_MAX = 4, /* non-voting members catching up */
    RAFT_MEMBERS_MAX = RAFT_VOTERS_MAX + RAFT_LEARNERS_MAX,
    RAFT_MSG_ENTRIES_MAX = 256,   /* entries in one append message */
    RAFT_INFLIGHT_MAX = 64,       /* pipelined appends per follower */
    RAFT_READS_MAX = 256,         /* ReadIndex requests pending on a leader */
    RAFT_UNCOMMITTED_MAX = 16384, /* entries a leader accepts beyond its commit index */
    RAFT_APPLY_BATCH_MAX = 1024,  /* committed entries in one ready batch */
    RAFT_HARD_STATE_SIZE = 28,    /* encoded raft_hard_state_t, see raft_codec.c */
    RAFT_MSG_HEADER_SIZE = 72,    /* fixed part of an encoded message */
    RAFT_ENTRY_HEADER_SIZE = 21,  /* per-entry header inside a message */
    RAFT_CONF_SIZE_MAX = 2 + 4 * RAFT_MEMBERS_MAX,
    RAFT_CONF_CHANGE_SIZE = 6, /* payload of a RAFT_ENTRY_CONF entry */
    RAFT_VERSION = 1,          /* version byte of every encoding */
};
#define RAFT_ENTRY_BYTES_MAX                                                                       \
    (((uint32_t)1 << 30) - ((uint32_t)1 << 20))     /* one proposal: a WAL                         \
                                                    record's bound, less room                      \
                                                    for a message header */
#define RAFT_SNAPSHOT_BYTES_MAX ((uint64_t)1 << 30) /* snapshot data carried by one message */
#define RAFT_CAMPAIGN_TRANSFER ((uint64_t)1)        /* vote ctx: leader transfer, skip lease */

typedef enum {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
} raft_role_t;

typedef enum {
    RAFT_ENTRY_NORMAL = 1, /* application command */
    RAFT_ENTRY_NOOP = 2,   /* appended by every new leader; delivered in `committed` (so the
                              applied index advances) but carries no command */
    RAFT_ENTRY_CONF = 3,   /* membership change, data = raft_conf_change_encode() */
} raft_entry_type_t;

typedef enum {
    RAFT_MSG_PRE_VOTE = 1,
    RAFT_MSG_PRE_VOTE_RESP = 2,
    RAFT_MSG_VOTE = 3,
    RAFT_MSG_VOTE_RESP = 4,
    RAFT_MSG_APPEND = 5,
    RAFT_MSG_APPEND_RESP = 6,
    RAFT_MSG_HEARTBEAT = 7,
    RAFT_MSG_HEARTBEAT_RESP = 8,
    RAFT_MSG_SNAPSHOT = 9,
    RAFT_MSG_TIMEOUT_NOW = 10,
    RAFT_MSG_READ_INDEX = 11,
    RAFT_MSG_READ_INDEX_RESP = 12,
    RAFT_MSG_TYPE_MAX = 12,
} raft_msg_type_t;

typedef enum {
    RAFT_CONF_ADD_LEARNER = 1, /* a new non-voting member */
    RAFT_CONF_PROMOTE = 2,     /* learner -> voter; refused until the learner has caught up */
    RAFT_CONF_REMOVE = 3,      /* remove a voter or learner (may be the leader itself) */
    RAFT_CONF_BOOTSTRAP = 4,   /* a voter of the initial cluster; only in bootstrap entries */
} raft_conf_op_t;

/* Deterministic generator (splitmix64). Owned by the caller, shared by nobody else. */
typedef struct raft_rng {
    uint64_t state;
} raft_rng_t;

/* Membership. Ids are unique, non-zero, each in at most one list. */
typedef struct raft_conf {
    uint32_t voters[RAFT_VOTERS_MAX];
    uint32_t learners[RAFT_LEARNERS_MAX];
    uint8_t voters_count;
    uint8_t learners_count;
} raft_conf_t;

/* One log entry. data is borrowed: see the function that hands it out for its lifetime. */
typedef struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type; /* raft_entry_type_t */
    uint32_t len;
    const uint8_t *data;
} raft_entry_t;

/* Persistent state: written before any message that depends on it is sent. */
typedef struct raft_hard_state {
    uint64_t term;
    uint32_t vote; /* RAFT_NONE when no vote was cast in term */
    uint64_t commit;
} raft_hard_state_t;

/* A state machine snapshot covering the log up to and including index. The core moves `data`
 * whole, inside one message: it is meant to be a small descriptor (for ContextDB, the snapshot
 * metadata naming its column files, which the receiver fetches from the object store or from the
 * leader by streaming, outside this core), not the data set itself. */
typedef struct raft_snapshot {
    uint64_t index;
    uint64_t term;
    raft_conf_t conf; /* membership as of index */
    const uint8_t *data;
    uint64_t len;
} raft_snapshot_t;

/* A decoded message (see raft_codec.c for the wire layout). */
typedef struct raft_msg {
    uint8_t type; /* raft_msg_type_t */
    bool reject;
    uint32_t from;
    uint32_t to;
    uint64_t term;
    uint64_t log_term;   /* append: term of entry `index`; vote: last log term */
    uint64_t index;      /* append: index before entries; vote: last log index; resp: match */
    uint64_t commit;     /* sender's commit index */
    uint64_t hint_index; /* append reject: follower's guess of the last matching index */
    uint64_t hint_term;  /* append reject: term of hint_index in the follower's log */
    uint64_t ctx;        /* heartbeat/read: ReadIndex sequence or request ctx; vote: flags */
    const raft_entry_t *entries;
    uint32_t entries_count;
    raft_snapshot_t snapshot; /* RAFT_MSG_SNAPSHOT only */
} raft_msg_t;

/* An encoded message to send. bytes are valid until raft_advance(). */
typedef struct raft_envelope {
    uint32_t to;
    uint8_t type;
    bool early; /* may leave before this batch's entries and hard state are durable */
    const uint8_t *bytes;
    size_t len;
} raft_envelope_t;

/* A confirmed ReadIndex request: answer it once the applied index reaches index. */
typedef struct raft_read_state {
    uint64_t ctx;
    uint64_t index;
} raft_read_state_t;

typedef struct raft_ready {
    raft_role_t role; /* soft state, informational: not persisted */
    uint32_t leader;
    uint64_t term;
    bool hard_state_changed;
    raft_hard_state_t hard_state;
    const raft_snapshot_t *snapshot; /* NULL or the snapshot to install (step 1) */
    const raft_entry_t *entries;     /* step 2; contiguous, ascending */
    size_t entries_count;
    bool must_sync;
    const raft_envelope_t *messages; /* step 3 */
    size_t messages_count;
    const raft_entry_t *committed; /* step 4; contiguous from applied + 1 */
    size_t committed_count;
    const raft_read_state_t *reads; /* step 5 */
    size_t reads_count;
} raft_ready_t;

typedef struct raft_config {
    uint32_t id;              /* this node, >= 1 */
    uint32_t election_ticks;  /* election timeout is random in [election_ticks, 2*election_ticks) */
    uint32_t heartbeat_ticks; /* leader heartbeat interval, < election_ticks */
    uint32_t inflight_max;    /* pipelined appends per follower, 1..RAFT_INFLIGHT_MAX */
    uint32_t msg_entries_max; /* entries per append, 1..RAFT_MSG_ENTRIES_MAX */
    uint64_t msg_bytes_max;   /* entry payload bytes per append (one entry always fits) */
    bool pre_vote;
    bool check_quorum;
    raft_rng_t *rng; /* caller-owned; must outlive the raft */
} raft_config_t;

/* What a node recovered from its disk (all borrowed for the duration of raft_new only). */
typedef struct raft_restore {
    raft_hard_state_t hard_state;
    const raft_snapshot_t *snapshot; /* NULL when the node never had one */
    const raft_conf_t *bootstrap;    /* initial voters (learners ignored), used only when there is
                                        neither snapshot nor log: the log then starts with one
                                        committed RAFT_CONF_BOOTSTRAP entry per voter at term 1,
                                        identical on every initial node, so nodes that join later
                                        learn the membership by replication. NULL for a joiner */
    const raft_entry_t *entries;     /* the log after the snapshot, contiguous */
    size_t entries_count;
} raft_restore_t;

typedef struct raft raft_t;

/* Seeds the generator; every seed (including 0) is valid. */
void raft_rng_seed(raft_rng_t *rng, uint64_t seed);
/* Next 64 pseudo-random bits. */
uint64_t raft_rng_next(raft_rng_t *rng);
/* Uniform in [0, bound) for bound >= 1 (tiny modulo bias is fine for simulation). */
uint64_t raft_rng_below(raft_rng_t *rng, uint64_t bound);

/* Creates a node from its configuration and recovered state, as a follower of no leader. Copies
 * everything it keeps. Returns CTX_EBAD_PARAM for an invalid config, CTX_ECORRUPT when the
 * restored state is inconsistent (entries not contiguous, commit beyond the log); *out is set
 * only on success and owned by the caller (raft_free). */
int raft_new(const raft_config_t *config, const raft_restore_t *restore, raft_t **out);
/* Frees a raft and everything it owns; NULL is fine. Borrowed ready pointers die with it. */
void raft_free(raft_t *raft);

/* Advances logical time by one tick: elections, heartbeats, check-quorum. Never fails. */
void raft_tick(raft_t *raft);
/* Feeds one encoded message received from the network. Messages for another node, from an older
 * term or otherwise irrelevant are dropped and return 0. Returns CTX_ECORRUPT / CTX_EPROTOCOL
 * for bad bytes (the message is ignored), and CTX_ENOMEM when the log could not grow to hold an
 * AppendEntries' entries: those that fit are appended and acknowledged, the leader sends the
 * rest again. bytes are borrowed for the call only. */
int raft_step(raft_t *raft, const uint8_t *bytes, size_t len);
/* Leader only: appends a normal entry (data copied, len <= RAFT_ENTRY_BYTES_MAX). Sets *index
 * (may be NULL) to its log index; the entry is committed only if it later appears in
 * `committed` with the same index and term. Fails with CTX_EREAD_ONLY / CTX_ELIMIT, or
 * CTX_ENOMEM when the log cannot grow (nothing appended). */
int raft_propose(raft_t *raft, const void *data, uint32_t len, uint64_t *index);
/* Leader only: proposes one membership change. Refused (CTX_ELIMIT) while another change is
 * uncommitted or before the leader has committed an entry of its own term; CTX_EBAD_PARAM when
 * the change is invalid (unknown node, limits, promoting a learner that has not caught up). */
int raft_propose_conf(raft_t *raft, raft_conf_op_t op, uint32_t node, uint64_t *index);
/* Requests a linearizable read tagged ctx. On the leader it is confirmed by a heartbeat round;
 * a follower forwards it to its leader. The answer arrives in a later ready's `reads`; requests
 * may be lost (leader change, message loss) and the caller retries on its own timeout.
 * CTX_EREAD_ONLY when no leader is known, CTX_ELIMIT when the leader's queue is full. */
int raft_read_index(raft_t *raft, uint64_t ctx);
/* Leader only: hands leadership to voter target once it has the whole log (TimeoutNow); new
 * proposals are refused meanwhile. Abandoned after an election timeout. */
int raft_transfer_leader(raft_t *raft, uint32_t target);
/* Starts an election now (pre-vote first when configured) if this node is a voter. Tests and
 * operators use it; normal operation relies on the election timeout. */
void raft_campaign(raft_t *raft);
/* Replaces the log up to index (<= applied index, > current snapshot index) by a snapshot whose
 * state machine bytes are data (copied). CTX_EBAD_PARAM for an invalid index. */
int raft_compact(raft_t *raft, uint64_t index, const void *data, uint64_t len);

/* True when raft_ready() would return a non-empty batch. */
bool raft_has_ready(const raft_t *raft);
/* Fills *ready (see the top of this file). All pointers stay valid until raft_advance(). */
void raft_ready(raft_t *raft, raft_ready_t *ready);
/* Acknowledges that the batch from the last raft_ready() was handled (see the top of this file
 * for the one step that may lag: durability, reported by raft_persisted). */
void raft_advance(raft_t *raft, const raft_ready_t *ready);
/* The log through index, whose entry has term, is durable on this node (index and term are the
 * last entry of a batch whose step 2 completed). Reports for entries since truncated or replaced
 * (another term at index) are ignored, so a stale report is harmless. A leader may commit more
 * (the next ready). Not between raft_ready() and raft_advance(). */
void raft_persisted(raft_t *raft, uint64_t index, uint64_t term);

/* Introspection (never fail). */
uint32_t raft_id(const raft_t *raft);
raft_role_t raft_role(const raft_t *raft);
uint32_t raft_leader(const raft_t *raft);
uint64_t raft_term(const raft_t *raft);
uint64_t raft_commit_index(const raft_t *raft);
uint64_t raft_applied_index(const raft_t *raft);
uint64_t raft_first_index(const raft_t *raft); /* snapshot index + 1 */
uint64_t raft_last_index(const raft_t *raft);
/* Term of the entry at index (snapshot index included); CTX_EBAD_PARAM outside the log. */
int raft_term_at(const raft_t *raft, uint64_t index, uint64_t *term);
/* Leader only: the highest index known to be replicated on member id (*match) and whether it
 * answered recently; CTX_EREAD_ONLY on a non-leader, CTX_EBAD_PARAM for an unknown id. */
int raft_member_match(const raft_t *raft, uint32_t id, uint64_t *match, bool *recent);
/* The entry at index (after the snapshot, at most the last index); its data is borrowed until the
 * next mutating call. CTX_EBAD_PARAM outside the log. */
int raft_entry_at(const raft_t *raft, uint64_t index, raft_entry_t *out);
/* Membership as of the last log entry; valid until the next mutating call. */
const raft_conf_t *raft_conf(const raft_t *raft);
bool raft_conf_is_voter(const raft_conf_t *conf, uint32_t id);
bool raft_conf_is_learner(const raft_conf_t *conf, uint32_t id);

/* Encodings (raft_codec.c). */
/* Appends the encoded msg (version, fields, entries, snapshot, CRC32C) to out. msg is trusted:
 * the caller guarantees the limits (asserted). */
void raft_msg_encode(const raft_msg_t *msg, buf_t *out);
/* Decodes bytes into *msg. Entry headers go into entries[entries_max]; entry and snapshot data
 * point into bytes (borrowed). CTX_ECORRUPT on bad CRC/version, CTX_EPROTOCOL when malformed or
 * when there are more than entries_max entries. */
int raft_msg_decode(const uint8_t *bytes, size_t len, raft_msg_t *msg, raft_entry_t *entries,
                    size_t entries_max);
void raft_hard_state_encode(const raft_hard_state_t *hs, uint8_t out[RAFT_HARD_STATE_SIZE]);
int raft_hard_state_decode(const uint8_t *bytes, size_t len, raft_hard_state_t *hs);
/* Membership change payloads (data of RAFT_ENTRY_CONF entries). */
void raft_conf_change_encode(raft_conf_op_t op, uint32_t node, uint8_t out[RAFT_CONF_CHANGE_SIZE]);
int raft_conf_change_decode(const uint8_t *bytes, size_t len, raft_conf_op_t *op, uint32_t *node);
/* Applies a change to conf; CTX_EBAD_PARAM (conf unchanged) when it does not apply.
 * RAFT_CONF_BOOTSTRAP adds a voter directly. */
int raft_conf_apply(raft_conf_t *conf, raft_conf_op_t op, uint32_t node);

/* Names for traces; static storage. */
const char *raft_role_name(raft_role_t role);
const char *raft_msg_type_name(uint8_t type);

#endif

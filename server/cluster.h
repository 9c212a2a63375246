/*
 * cluster.h — the replicated state machine: the Raft core (raft/raft.h) driven by the event loop,
 * the WAL (storage/wal.h) as its log, the transport (raft/transport.h) to the other members, and
 * the one path every member applies committed entries through (DESIGN §7).
 *
 * A single-node server is a one-member cluster on the same path: its writes are proposed,
 * persisted, committed and applied exactly as a leader's are, only with no one to send to.
 *
 * Writes. A statement runs speculatively on the leader's store (sql/session.c): that produces its
 * RETURNING rows, its errors and the batch of commands, checked against the state every earlier
 * entry leaves. The log hook (sql_commit_hooks_t.log) proposes the encoded batch and keeps the
 * batch's undo records with the proposed entry; the client's reply waits until the entry is
 * committed (cluster_reply_ready). The leader's store is therefore the applied state plus its
 * proposed entries in log order ("pending"); a committed entry of its own releases its undo
 * records, and losing leadership rolls every pending entry back, newest first, so the store is
 * exactly the applied state again. Followers (and a restarted node, from its own log) apply
 * committed entries with store_apply_logged: the leader decided every version check once, and the
 * batch carries the outcome. Every committed batch reaches the vector index (hooks.applied) in log
 * order on every member, the leader included.
 *
 * Outcomes. Each waiting reply names a log index (its commit, or the newest entry its statement
 * could have seen). When the index is applied and the entry there is the one this node proposed
 * (same term), the reply goes out; when another entry was committed at that index the proposal
 * was lost (40001, safe to retry); when nothing is learned within commit_timeout_ms the outcome
 * is unknown (40003).
 *
 * Reads. In a multi-member cluster a statement waits before it runs for a ReadIndex barrier
 * (raft_read_index: the leader confirms its leadership with a heartbeat round, and this member
 * waits until it has applied that commit index), so it sees every write acknowledged before it
 * started, on any member; `SET read_consistency = 'local'` skips the barrier (possibly stale).
 *
 * Membership (membership.h). ALTER CLUSTER ADD NODE id 'host:port' (leader only; a follower
 * forwards it like a write) proposes RAFT_CONF_ADD_LEARNER and a member record carrying the
 * address; the reply waits until both are applied. The leader promotes a learner once it has
 * caught up (mb_promote_check). REMOVE NODE proposes RAFT_CONF_REMOVE; a removed leader steps
 * down when the change commits (the Raft core), and a member that applies (or holds in its log)
 * its own removal stops ticking and stepping, refuses statements that need the cluster and shows
 * itself as "removed" in SHOW CLUSTER. A joiner (join) starts with an empty membership and waits
 * for the leader's appends.
 *
 * Threads. Everything runs on the event-loop thread except a ticker thread that only writes to
 * the notify eventfd every tick; the WAL writer and the transport thread wake the loop through
 * the same eventfd.
 */
#ifndef CTX_CLUSTER_H
#define CTX_CLUSTER_H

#include "ctx.h"
#include "durability.h"
#include "membership.h"
#include "sql.h"

#include <stdbool.h>
#include <stdint.h>

enum {
    CLUSTER_HOST_BYTES_MAX = 256,
    CLUSTER_MEMBERS_MAX = 11,
    CLUSTER_TICK_MS = 10,
    CLUSTER_ELECTION_TICKS = 15, /* 150-300 ms randomized election timeout */
    CLUSTER_HEARTBEAT_TICKS = 3, /* 30 ms */
    CLUSTER_COMMIT_TIMEOUT_MS = 10000,
};

typedef mb_member_t cluster_member_t;

typedef struct cluster_config {
    uint32_t node_id;                /* >= 1 */
    const cluster_member_t *members; /* the initial voters; none: this node alone. With join,
                                        members to contact (this node included) */
    int members_count;
    bool join; /* cluster_join: never bootstrap; learn the membership from the leader once an
                  existing member runs ALTER CLUSTER ADD NODE for this node */
    const char *raft_host; /* where the transport listens (this member's entry) */
    uint16_t raft_port;
    const char *secret;         /* cluster_secret; required with more than one member */
    bool synchronous_commit;    /* off: a write's reply does not wait for its commit */
    uint32_t commit_timeout_ms; /* 0: CLUSTER_COMMIT_TIMEOUT_MS */
    int notify_fd;              /* the loop's eventfd (durability_notify_fd) */
    const char *data_dir;       /* holds cluster-membership (membership.h); NULL: not kept */
} cluster_config_t;

typedef struct cluster cluster_t;

/* Parses cluster_nodes ("1=127.0.0.1:7001,2=127.0.0.1:7002"): ids 1..2^31, unique, at most
 * CLUSTER_MEMBERS_MAX entries. CTX_ECONFIG naming the bad entry. */
int cluster_parse_members(const char *text, cluster_member_t *out, int *count, ctx_err_t *err);

/* Builds the Raft node from what durability recovered (hard state, log after the snapshot),
 * installs db->hooks (log, visible_lsn, write_check,
 * applied through this module) and db->cluster, and -- alone in its cluster -- becomes leader
 * and applies its whole committed log before returning. */
int cluster_open(const cluster_config_t *config, sql_db_t *db, durability_t *dur, cluster_t **out,
                 ctx_err_t *err);
/* Starts the transport and the ticker (several members), advertising this member's pgwire
 * "host:port" to the others; called once the pgwire port is bound. */
int cluster_start(cluster_t *c, const char *advertise, ctx_err_t *err);
/* Hands leadership to a caught-up voter when this node leads (bounded wait), stops the transport
 * and the ticker, frees. NULL is a no-op. */
void cluster_close(cluster_t *c);

/* Loop callbacks (server/loop.h): on every notify (after durability_on_notify); whether a reply
 * held for lsn (and snapshot_id) since held_ms may go out, and its outcome. */
void cluster_on_notify(cluster_t *c);
void cluster_loop_notify(void *ctx); /* durability_on_notify, then cluster_on_notify */
int cluster_snapshot_result(void *ctx, uint64_t snapshot_id, ctx_err_t *err);
bool cluster_reply_ready(void *ctx, uint64_t lsn, uint64_t snapshot_id, uint64_t held_ms);
int cluster_commit_result(void *ctx, uint64_t lsn, uint64_t held_ms, ctx_err_t *err);
/* The read barrier before a statement runs: *token 0 starts one. True when the statement may
 * run; false with err set when it must fail (no leader within the timeout); false with err
 * clear to wait (the loop asks again on the next notify). */
bool cluster_read_ready(void *ctx, uint64_t *token, uint64_t since_ms, ctx_err_t *err);
/* Whether statements need the barrier at all (a multi-member cluster). */
bool cluster_reads_need_barrier(const cluster_t *c);

/* Forwarding (server/forward.h): the leader's pgwire "host:port" when this member is a follower
 * that knows it; a token for user (false without a cluster secret). */
bool cluster_leader_pgwire(void *ctx, char *out, size_t out_len);
bool cluster_forward_token(void *ctx, const char *user, char *out);
const char *cluster_secret(const cluster_t *c);

/* sql_cluster_hooks_t.change: ALTER CLUSTER ADD NODE (add, address "host:port") / REMOVE NODE.
 * *lsn is the position the reply waits for (cluster_reply_ready). */
int cluster_change(void *ctx, bool add, int64_t id, const char *address, bool forward,
                   uint64_t *lsn, ctx_err_t *err);

/* Snapshots: the applied index and its term (what a snapshot taken now contains), and the
 * brackets around the fork that take the pending entries out of the store and put them back. */
void cluster_applied_position(const cluster_t *c, uint64_t *index, uint64_t *term);
void cluster_settle(cluster_t *c);
void cluster_unsettle(cluster_t *c);
/* A snapshot at index completed: the in-memory log before it may be dropped. */
void cluster_compact(cluster_t *c, uint64_t index);

#endif

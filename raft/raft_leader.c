/*
 * raft_leader.c — the leader side of the Raft core: progress tracking, replication, commit,
 * ReadIndex, check-quorum and leader transfer.
 *
 * The leader keeps one raft_progress_t per member (itself included). A follower is in one of
 * three states, as in etcd/raft:
 *   PROBE     — the match point is unknown; one append (possibly empty) is outstanding at a
 *               time, and each rejection moves `next` back using the follower's hint
 *               (index, term): the leader jumps to the last entry of its own log whose term is
 *               <= the hinted term, skipping a whole conflicting term per round trip;
 *   REPLICATE — the match point is known; appends are pipelined: `next` advances optimistically
 *               and up to inflight_max unacknowledged appends are outstanding (a ring of their
 *               last indexes, freed by acknowledgements or a heartbeat response when full);
 *   SNAPSHOT  — `next` fell below the first log index, so the snapshot is sent; appends pause
 *               until the follower acknowledges it, or the leader gives up after two election
 *               timeouts and probes again (so a lost snapshot cannot stall a follower forever).
 * Commit: the quorum index (the largest index a majority of voters has) commits only when its
 * entry is of the leader's current term (Raft §5.4.2, figure 8); earlier entries commit with it.
 * The leader's own match is its durable log (raft_persisted), not its log: its appends leave
 * before its own write completes (thesis §10.2.1), and a majority must hold an entry on disk.
 * Building with -DRAFT_TEST_BUG_COMMIT_OLD_TERM removes that term check, for the planted-bug
 * test that proves the simulator notices.
 * ReadIndex (thesis §6.4): a read is registered at the current commit index once the leader has
 * committed an entry of its term, stamped with a sequence number carried by the next heartbeat;
 * when a majority of voters answered a heartbeat carrying a sequence >= the read's, leadership
 * at a time after the read arrived is proven and the read (and all earlier ones) is released.
 */
#include "raft_int.h"

#include "ctx.h"

#include <string.h>

_Static_assert(RAFT_MEMBERS_MAX <= 32, "ReadIndex acks are a 32-bit mask over prs[]");
_Static_assert(RAFT_INFLIGHT_MAX >= 1, "pipelining needs at least one slot");

/* Back to probing: next restarts after the match (or after a snapshot that was sent). */
static void pr_become_probe(raft_progress_t *pr) {
    if (pr->state == RAFT_PR_SNAPSHOT) {
        uint64_t after = pr->pending_snapshot + 1;
        pr->next = pr->match + 1 > after ? pr->match + 1 : after;
    } else {
        pr->next = pr->match + 1;
    }
    pr->state = RAFT_PR_PROBE;
    pr->probe_sent = false;
    pr->pending_snapshot = 0;
    pr->inflight_count = 0;
    pr->inflight_start = 0;
}

/* The match point is known: pipeline from match + 1 with an empty inflight ring. */
static void pr_become_replicate(raft_progress_t *pr) {
    pr->state = RAFT_PR_REPLICATE;
    pr->next = pr->match + 1;
    pr->probe_sent = false;
    pr->pending_snapshot = 0;
    pr->inflight_count = 0;
    pr->inflight_start = 0;
}

/* True when no append may be sent to pr now (probe outstanding, ring full, snapshot). */
static bool pr_paused(const raft_t *r, const raft_progress_t *pr) {
    switch (pr->state) {
    case RAFT_PR_PROBE:
        return pr->probe_sent;
    case RAFT_PR_REPLICATE:
        return pr->inflight_count >= r->cfg.inflight_max;
    default:
        return true;
    }
}

/* Records an append ending at last; the caller checked the ring is not full. */
static void pr_inflight_add(raft_progress_t *pr, uint64_t last) {
    CTX_ASSERT(pr->inflight_count < RAFT_INFLIGHT_MAX);
    pr->inflight[(pr->inflight_start + pr->inflight_count) % RAFT_INFLIGHT_MAX] = last;
    pr->inflight_count++;
}

/* Frees every inflight append whose last index is <= index. */
static void pr_inflight_free_to(raft_progress_t *pr, uint64_t index) {
    while (pr->inflight_count > 0 && pr->inflight[pr->inflight_start] <= index) {
        pr->inflight_start = (pr->inflight_start + 1) % RAFT_INFLIGHT_MAX;
        pr->inflight_count--;
    }
}

/* Adds progress for new members and drops it for removed ones (self always kept). */
void raft_leader_sync_progress(raft_t *r) {
    uint64_t last = raft_log_last_index(&r->log);
    bool changed = false;
    for (int i = 0; i < r->prs_count;) {
        uint32_t id = r->prs[i].id;
        if (id != r->cfg.id && !raft_conf_is_voter(&r->conf, id) &&
            !raft_conf_is_learner(&r->conf, id)) {
            r->prs[i] = r->prs[r->prs_count - 1];
            r->prs_count--;
            changed = true;
            continue;
        }
        i++;
    }
    uint32_t ids[RAFT_MEMBERS_MAX + 1];
    int n = 0;
    ids[n++] = r->cfg.id;
    for (int i = 0; i < r->conf.voters_count; i++) {
        ids[n++] = r->conf.voters[i];
    }
    for (int i = 0; i < r->conf.learners_count; i++) {
        ids[n++] = r->conf.learners[i];
    }
    for (int i = 0; i < n; i++) {
        if (raft_progress_get(r, ids[i]) != NULL) {
            continue;
        }
        CTX_ASSERT(r->prs_count < RAFT_MEMBERS_MAX);
        raft_progress_t *pr = &r->prs[r->prs_count++];
        memset(pr, 0, sizeof(*pr));
        pr->id = ids[i];
        pr->next = last + 1;
        pr->recent_active = true;
        changed = true;
    }
    if (changed) {
        raft_reads_clear(r); /* ack bitmaps index prs[]; pending reads will be retried */
    }
}

/* Precondition: a candidate that won its election. Resets progress for every member and
 * appends the no-op of the new term (broadcast at the next ready). Never fails. */
void raft_become_leader(raft_t *r) {
    CTX_ASSERT(r->role == RAFT_CANDIDATE);
    r->role = RAFT_LEADER;
    r->leader = r->cfg.id;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    r->transferee = RAFT_NONE;
    r->votes_count = 0;
    raft_reads_clear(r);
    r->prs_count = 0;
    raft_leader_sync_progress(r);
    for (int i = 0; i < r->prs_count; i++) {
        r->prs[i].next = raft_log_last_index(&r->log) + 1;
    }
    /* An entry of our own term: committing it commits every earlier entry (figure 8). */
    r->term_start_index = raft_log_append(&r->log, r->term, RAFT_ENTRY_NOOP, NULL, 0);
    raft_progress_t *self = raft_progress_get(r, r->cfg.id);
    self->match = r->log.persisted; /* the no-op counts once raft_persisted reports it */
    self->next = r->term_start_index + 1;
    r->pending_bcast = true;
    (void)raft_maybe_commit(r);
}

/* Sends the snapshot to pr; false when there is none to send. */
static bool raft_send_snapshot(raft_t *r, raft_progress_t *pr) {
    raft_msg_t m = {.type = RAFT_MSG_SNAPSHOT, .to = pr->id, .commit = r->log.commit};
    m.snapshot = (raft_snapshot_t){.index = r->log.snap_index,
                                   .term = r->log.snap_term,
                                   .conf = r->snap_conf,
                                   .data = r->snap_data,
                                   .len = r->snap_len};
    raft_send(r, &m);
    pr->state = RAFT_PR_SNAPSHOT;
    pr->pending_snapshot = r->log.snap_index;
    pr->snapshot_ticks = 0;
    return true;
}

/* Sends pr the next batch of entries (an empty append only when send_if_empty). Returns true
 * when a message was sent. */
static bool raft_send_append_to(raft_t *r, raft_progress_t *pr, bool send_if_empty) {
    if (pr->id == r->cfg.id || pr_paused(r, pr)) {
        return false;
    }
    uint64_t prev = pr->next - 1;
    uint64_t prev_term = 0;
    if (!raft_log_term(&r->log, prev, &prev_term)) {
        return raft_send_snapshot(r, pr);
    }
    raft_entry_t *entries = r->send_entries;
    uint64_t last = raft_log_last_index(&r->log);
    uint32_t n = 0;
    uint64_t bytes = 0;
    while (pr->next + n <= last && n < r->cfg.msg_entries_max) {
        raft_log_entry(&r->log, pr->next + n, &entries[n]);
        if (n > 0 && bytes + entries[n].len > r->cfg.msg_bytes_max) {
            break;
        }
        bytes += entries[n].len;
        n++;
    }
    if (n == 0 && !send_if_empty) {
        return false;
    }
    raft_msg_t m = {.type = RAFT_MSG_APPEND,
                    .to = pr->id,
                    .index = prev,
                    .log_term = prev_term,
                    .commit = r->log.commit,
                    .entries = entries,
                    .entries_count = n};
    raft_send(r, &m);
    if (pr->state == RAFT_PR_REPLICATE && n > 0) {
        pr->next = prev + n + 1;
        pr_inflight_add(pr, prev + n);
    } else if (pr->state == RAFT_PR_PROBE) {
        pr->probe_sent = true;
    }
    return true;
}

/* Sends pr its next append even when empty (a probe); true when a message was sent. */
bool raft_send_append(raft_t *r, raft_progress_t *pr) {
    return raft_send_append_to(r, pr, true);
}

/* Sends every follower an append (empty ones carry the commit index). */
void raft_bcast_append(raft_t *r) {
    for (int i = 0; i < r->prs_count; i++) {
        raft_send_append_to(r, &r->prs[i], true);
    }
    r->pending_bcast = false;
}

/* Offers new entries to every follower that is not paused (the batched form of bcast). */
void raft_flush_append(raft_t *r) {
    for (int i = 0; i < r->prs_count; i++) {
        while (raft_send_append_to(r, &r->prs[i], false)) {
        }
    }
    r->pending_bcast = false;
}

/* Heartbeats carry the newest ReadIndex sequence and a commit capped at the follower's match. */
static void raft_bcast_heartbeat(raft_t *r) {
    for (int i = 0; i < r->prs_count; i++) {
        raft_progress_t *pr = &r->prs[i];
        if (pr->id == r->cfg.id) {
            continue;
        }
        raft_msg_t m = {.type = RAFT_MSG_HEARTBEAT,
                        .to = pr->id,
                        .commit = pr->match < r->log.commit ? pr->match : r->log.commit,
                        .ctx = r->read_seq};
        raft_send(r, &m);
    }
}

/* ---- ReadIndex -------------------------------------------------------------------------- */

/* Drops pending ReadIndex requests (leadership or membership changed); requesters retry. */
void raft_reads_clear(raft_t *r) {
    r->reads_count = 0;
}

/* Number of voters whose bit is set in acks. */
static int raft_read_acks(const raft_t *r, uint32_t acks) {
    int n = 0;
    for (int i = 0; i < r->prs_count; i++) {
        if ((acks & (1u << i)) != 0 && raft_conf_is_voter(&r->conf, r->prs[i].id)) {
            n++;
        }
    }
    return n;
}

/* Releases every read up to the newest one a quorum has confirmed. */
static void raft_reads_release(raft_t *r) {
    int k = -1;
    for (int i = 0; i < r->reads_count; i++) {
        if (r->reads[i].seq != 0 && raft_read_acks(r, r->reads[i].acks) >= raft_quorum(r)) {
            k = i;
        }
    }
    for (int i = 0; i <= k; i++) {
        const raft_read_req_t *q = &r->reads[i];
        if (q->from == r->cfg.id) {
            if (r->read_states_count < RAFT_READS_MAX) {
                r->read_states[r->read_states_count++] =
                    (raft_read_state_t){.ctx = q->ctx, .index = q->index};
            }
        } else {
            raft_msg_t m = {
                .type = RAFT_MSG_READ_INDEX_RESP, .to = q->from, .ctx = q->ctx, .index = q->index};
            raft_send(r, &m);
        }
    }
    int left = r->reads_count - (k + 1);
    memmove(r->reads, r->reads + k + 1, (size_t)left * sizeof(r->reads[0]));
    r->reads_count = left;
}

/* Stamps reads waiting for an own-term commit and starts their heartbeat round. */
static void raft_reads_stamp(raft_t *r) {
    int self = (int)(raft_progress_get(r, r->cfg.id) - r->prs);
    bool stamped = false;
    for (int i = 0; i < r->reads_count; i++) {
        if (r->reads[i].seq == 0) {
            r->reads[i].index = r->log.commit;
            r->reads[i].seq = ++r->read_seq;
            r->reads[i].acks = 1u << self;
            stamped = true;
        }
    }
    if (stamped) {
        raft_reads_release(r);
        if (r->reads_count > 0) {
            raft_bcast_heartbeat(r);
        }
    }
}

/* Registers a read from `from` (self or a follower); silently dropped when the queue is full
 * (the public entry point checks that first for local reads). */
void raft_leader_read(raft_t *r, uint64_t ctx, uint32_t from) {
    if (r->reads_count >= RAFT_READS_MAX) {
        return; /* dropped: the requester retries on its own timeout */
    }
    r->reads[r->reads_count++] = (raft_read_req_t){.ctx = ctx, .from = from};
    if (r->log.commit >= r->term_start_index) {
        raft_reads_stamp(r);
    }
}

/* ---- commit ----------------------------------------------------------------------------- */

/* After the commit index moved: stamp waiting reads; step down if we were removed. */
static void raft_leader_committed(raft_t *r) {
    if (r->log.commit >= r->term_start_index) {
        raft_reads_stamp(r);
    }
    if (!raft_conf_is_voter(&r->conf, r->cfg.id) && r->pending_conf_index <= r->log.commit) {
        /* Our removal is committed: tell everyone, hand over to the most caught-up voter. */
        raft_bcast_append(r);
        raft_progress_t *best = NULL;
        for (int i = 0; i < r->prs_count; i++) {
            raft_progress_t *pr = &r->prs[i];
            if (pr->id != r->cfg.id && raft_conf_is_voter(&r->conf, pr->id) &&
                (best == NULL || pr->match > best->match)) {
                best = pr;
            }
        }
        if (best != NULL && best->match == raft_log_last_index(&r->log)) {
            raft_msg_t m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = best->id};
            raft_send(r, &m);
        }
        raft_become_follower(r, r->term, RAFT_NONE);
    }
}

/* Advances the commit index to the quorum index if that entry is of the current term; true when
 * it moved. May step down when the change removing this leader commits. */
bool raft_maybe_commit(raft_t *r) {
    uint64_t matches[RAFT_VOTERS_MAX];
    int n = 0;
    for (int i = 0; i < r->conf.voters_count; i++) {
        raft_progress_t *pr = raft_progress_get(r, r->conf.voters[i]);
        matches[n++] = pr == NULL ? 0 : pr->match;
    }
    /* insertion sort, descending (n <= 7) */
    for (int i = 1; i < n; i++) {
        uint64_t v = matches[i];
        int j = i - 1;
        while (j >= 0 && matches[j] < v) {
            matches[j + 1] = matches[j];
            j--;
        }
        matches[j + 1] = v;
    }
    uint64_t index = matches[raft_quorum(r) - 1];
    if (index <= r->log.commit) {
        return false;
    }
#ifndef RAFT_TEST_BUG_COMMIT_OLD_TERM
    uint64_t term = 0;
    if (!raft_log_term(&r->log, index, &term) || term != r->term) {
        return false; /* figure 8: never commit an older term's entry by counting */
    }
#endif
    CTX_ASSERT(index <= raft_log_last_index(&r->log));
    r->log.commit = index;
    raft_leader_committed(r);
    return true;
}

/* ---- ticks and messages ----------------------------------------------------------------- */

/* True when a quorum of voters was heard from since the last check (self counts). */
static bool raft_quorum_active(raft_t *r) {
    int active = 0;
    for (int i = 0; i < r->prs_count; i++) {
        raft_progress_t *pr = &r->prs[i];
        bool heard = pr->id == r->cfg.id || pr->recent_active;
        if (heard && raft_conf_is_voter(&r->conf, pr->id)) {
            active++;
        }
        pr->recent_active = false;
    }
    return active >= raft_quorum(r);
}

/* Leader clock: snapshot retry, check-quorum every election timeout, transfer timeout, heartbeats.
 */
void raft_leader_tick(raft_t *r) {
    r->election_elapsed++;
    r->heartbeat_elapsed++;
    for (int i = 0; i < r->prs_count; i++) {
        raft_progress_t *pr = &r->prs[i];
        if (pr->state == RAFT_PR_SNAPSHOT && ++pr->snapshot_ticks >= 2 * r->cfg.election_ticks) {
            pr_become_probe(pr); /* the snapshot was probably lost: start over */
        }
    }
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        if (r->cfg.check_quorum && !raft_quorum_active(r)) {
            raft_become_follower(r, r->term, RAFT_NONE);
            return;
        }
        r->transferee = RAFT_NONE; /* a transfer that took an election timeout failed */
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        raft_bcast_heartbeat(r);
    }
}

/* Handles a rejected append: move next back using the follower's hint. */
static void raft_append_rejected(raft_t *r, raft_progress_t *pr, const raft_msg_t *m) {
    uint64_t hint = m->hint_index;
    if (m->hint_term > 0) {
        hint = raft_log_find_conflict_by_term(&r->log, m->hint_index, m->hint_term);
    }
    if (pr->state == RAFT_PR_REPLICATE) {
        if (m->index <= pr->match) {
            return; /* stale */
        }
        pr_become_probe(pr);
    } else if (pr->next - 1 != m->index) {
        return; /* stale: not the probe we sent */
    }
    uint64_t next = m->index < hint + 1 ? m->index : hint + 1;
    pr->next = next > pr->match + 1 ? next : pr->match + 1;
    pr->probe_sent = false;
    raft_send_append(r, pr);
}

/* Handles an accepted append: update match/next, change state, commit, keep the pipeline full
 * and finish a pending leader transfer. */
static void raft_append_accepted(raft_t *r, raft_progress_t *pr, const raft_msg_t *m) {
    bool update = m->index > pr->match;
    bool probe_ack = m->index == pr->match && pr->state == RAFT_PR_PROBE;
    if (!update && !probe_ack && pr->state != RAFT_PR_SNAPSHOT) {
        return; /* stale or duplicate */
    }
    bool was_paused = pr_paused(r, pr);
    if (m->index > pr->match) {
        pr->match = m->index;
    }
    if (pr->next < pr->match + 1) {
        pr->next = pr->match + 1;
    }
    pr->probe_sent = false;
    if (pr->state == RAFT_PR_PROBE) {
        pr_become_replicate(pr);
    } else if (pr->state == RAFT_PR_SNAPSHOT) {
        if (pr->match < pr->pending_snapshot) {
            return;
        }
        pr_become_replicate(pr);
    } else {
        pr_inflight_free_to(pr, m->index);
    }
    if (raft_maybe_commit(r)) {
        if (r->role != RAFT_LEADER) {
            return;
        }
        raft_bcast_append(r);
    } else if (was_paused) {
        raft_send_append(r, pr);
    }
    while (raft_send_append_to(r, pr, false)) {
    }
    if (pr->id == r->transferee && pr->match == raft_log_last_index(&r->log)) {
        raft_msg_t tn = {.type = RAFT_MSG_TIMEOUT_NOW, .to = pr->id};
        raft_send(r, &tn);
    }
}

/* Heartbeat answer: unblock probing, free a ring slot, resend if behind, count ReadIndex acks. */
static void raft_heartbeat_acked(raft_t *r, raft_progress_t *pr, const raft_msg_t *m) {
    pr->probe_sent = false;
    if (pr->state == RAFT_PR_REPLICATE && pr->inflight_count >= r->cfg.inflight_max) {
        pr->inflight_start = (pr->inflight_start + 1) % RAFT_INFLIGHT_MAX;
        pr->inflight_count--;
    }
    if (pr->match < raft_log_last_index(&r->log)) {
        raft_send_append(r, pr);
    }
    if (m->ctx == 0 || r->reads_count == 0) {
        return;
    }
    int slot = (int)(pr - r->prs);
    for (int i = 0; i < r->reads_count; i++) {
        if (r->reads[i].seq != 0 && r->reads[i].seq <= m->ctx) {
            r->reads[i].acks |= 1u << slot;
        }
    }
    raft_reads_release(r);
}

/* Dispatches a message of the current term to the leader handlers; others are ignored. */
void raft_leader_step(raft_t *r, const raft_msg_t *m) {
    raft_progress_t *pr = raft_progress_get(r, m->from);
    switch (m->type) {
    case RAFT_MSG_APPEND_RESP:
        if (pr == NULL) {
            return;
        }
        pr->recent_active = true;
        if (m->index > raft_log_last_index(&r->log)) {
            return; /* acknowledges entries we never sent: a confused peer */
        }
        if (m->reject) {
            raft_append_rejected(r, pr, m);
        } else {
            raft_append_accepted(r, pr, m);
        }
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        if (pr == NULL) {
            return;
        }
        pr->recent_active = true;
        raft_heartbeat_acked(r, pr, m);
        break;
    case RAFT_MSG_READ_INDEX:
        raft_leader_read(r, m->ctx, m->from);
        break;
    default:
        break;
    }
}

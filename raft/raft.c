/*
 * raft.c — the Raft core: roles, elections, the follower side of replication, snapshots,
 * membership bookkeeping and the ready/advance batch.
 *
 * The shape is etcd/raft's: a deterministic state machine driven by tick(), step() and the
 * proposal calls, whose every effect is queued and handed out by raft_ready(). Messages are
 * encoded into one outbox buffer as they are produced (raft_send), so the batch never points
 * into a log that may change before the caller sends it. The leader side (progress tracking,
 * pipelining, commit, ReadIndex, leader transfer) lives in raft_leader.c; the log arrays in
 * raft_log.c; the encodings in raft_codec.c.
 *
 * Election rules implemented here (Raft thesis §3.4, §9.6): a follower whose randomized election
 * timeout (in [election_ticks, 2*election_ticks)) expires becomes a pre-candidate when pre_vote
 * is on and asks for votes at term+1 without changing its term; only a pre-vote majority lets it
 * become a candidate, so a partitioned node rejoining cannot disrupt a healthy leader. With
 * check_quorum a node that heard from a leader within the election timeout ignores (pre-)vote
 * requests (the leader lease), except those of a leader transfer. A node with a higher term that
 * receives a stale pre-vote answers with a rejection carrying its term, so stale pre-candidates
 * catch up (etcd #8243). The election timer restarts only on hearing from the leader or granting
 * a vote (§5.2) — not on merely seeing a higher term — so candidates with stale logs cannot keep
 * the up-to-date nodes from campaigning (the simulator found that livelock). Nodes that may not
 * campaign (learners, removed nodes) keep counting, so their lease check stays meaningful.
 * Membership changes take effect when appended, not when committed (thesis §4.1), so the
 * configuration is recomputed when the log is truncated. An initial cluster starts from one
 * committed RAFT_CONF_BOOTSTRAP entry per voter at term 1 (identical on every initial node), so
 * nodes that join later learn the membership by plain replication.
 */
#include "raft_int.h"

#include "ctx.h"

#include <stdlib.h>
#include <string.h>

/* See raft.h. */
void raft_rng_seed(raft_rng_t *rng, uint64_t seed) {
    rng->state = seed;
}

/* splitmix64: full period, every seed valid. */
uint64_t raft_rng_next(raft_rng_t *rng) {
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* See raft.h; bound >= 1 asserted. */
uint64_t raft_rng_below(raft_rng_t *rng, uint64_t bound) {
    CTX_ASSERT(bound >= 1);
    return raft_rng_next(rng) % bound;
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* The progress of member id, NULL when it has none (not a member). */
raft_progress_t *raft_progress_get(raft_t *r, uint32_t id) {
    for (int i = 0; i < r->prs_count; i++) {
        if (r->prs[i].id == id) {
            return &r->prs[i];
        }
    }
    return NULL;
}

/* Votes or matches needed among the current voters. */
int raft_quorum(const raft_t *r) {
    return r->conf.voters_count / 2 + 1;
}

/* May this node campaign? Only voters, and not while a received snapshot awaits installation. */
static bool raft_promotable(const raft_t *r) {
    return raft_conf_is_voter(&r->conf, r->cfg.id) && !r->snap_install;
}

/* Draws the next election timeout in [election_ticks, 2 * election_ticks). */
static void raft_reset_randomized_timeout(raft_t *r) {
    r->randomized_timeout =
        r->cfg.election_ticks + (uint32_t)raft_rng_below(r->cfg.rng, r->cfg.election_ticks);
}

/* Messages that reveal nothing this node has yet to make durable (raft_envelope_t.early): a
 * leader's appends, snapshots and heartbeats (its term and vote were durable before it could win,
 * its commit index counts its own entries only once persisted: thesis §10.2.1), heartbeat answers
 * and ReadIndex traffic. Append answers and votes acknowledge durable state: they wait. */
static bool raft_msg_early(uint8_t type) {
    switch (type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_HEARTBEAT_RESP:
    case RAFT_MSG_SNAPSHOT:
    case RAFT_MSG_READ_INDEX:
    case RAFT_MSG_READ_INDEX_RESP:
        return true;
    default:
        return false;
    }
}

/* Encodes m (from and, when zero, term filled in) into the outbox. */
void raft_send(raft_t *r, raft_msg_t *m) {
    CTX_ASSERT(m->to != RAFT_NONE);
    CTX_ASSERT(m->to != r->cfg.id);
    m->from = r->cfg.id;
    if (m->term == 0) {
        m->term = r->term;
    }
    if (r->outs_count == r->outs_cap) {
        r->outs_cap = r->outs_cap == 0 ? 32 : r->outs_cap * 2;
        r->outs = ctx_realloc(r->outs, r->outs_cap * sizeof(r->outs[0]));
    }
    size_t off = buf_size(&r->out);
    raft_msg_encode(m, &r->out);
    r->outs[r->outs_count++] = (raft_out_t){.to = m->to,
                                            .type = m->type,
                                            .early = raft_msg_early(m->type),
                                            .off = off,
                                            .len = buf_size(&r->out) - off};
}

/* Common part of every role change: new term clears the vote; timers and votes restart. */
static void raft_reset(raft_t *r, uint64_t term) {
    if (r->term != term) {
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->leader = RAFT_NONE;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    raft_reset_randomized_timeout(r);
    r->votes_count = 0;
    r->transferee = RAFT_NONE;
    r->pending_bcast = false;
    raft_reads_clear(r);
}

/* Follows leader (RAFT_NONE if unknown) in term >= the current term. */
void raft_become_follower(raft_t *r, uint64_t term, uint32_t leader) {
    CTX_ASSERT(term >= r->term);
    raft_reset(r, term);
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
}

/* ---- membership ------------------------------------------------------------------------- */

/* Applies the conf entry e (just appended at index) to the current membership. */
void raft_conf_appended(raft_t *r, uint64_t index, const raft_entry_t *e) {
    if (e->type != RAFT_ENTRY_CONF) {
        return;
    }
    raft_conf_op_t op;
    uint32_t node;
    r->pending_conf_index = index;
    /* Invalid changes were refused at proposal; a bad one here is a deterministic no-op. */
    if (raft_conf_change_decode(e->data, e->len, &op, &node) == 0) {
        (void)raft_conf_apply(&r->conf, op, node);
    }
    if (r->role == RAFT_LEADER) {
        raft_leader_sync_progress(r);
    }
}

/* Membership as of index: the snapshot's, plus the conf entries up to index. */
static void raft_conf_at(const raft_t *r, uint64_t index, raft_conf_t *conf, uint64_t *conf_index) {
    *conf = r->snap_conf;
    *conf_index = 0;
    for (uint64_t i = r->log.snap_index + 1; i <= index; i++) {
        const raft_log_rec_t *rec = &r->log.recs[i - r->log.snap_index - 1];
        if (rec->type != RAFT_ENTRY_CONF) {
            continue;
        }
        raft_conf_op_t op;
        uint32_t node;
        *conf_index = i;
        if (raft_conf_change_decode(r->log.data + rec->data_off, rec->len, &op, &node) == 0) {
            (void)raft_conf_apply(conf, op, node);
        }
    }
}

/* Recomputes the membership from the snapshot and the whole log (after truncation/restore). */
void raft_conf_reload(raft_t *r) {
    raft_conf_at(r, raft_log_last_index(&r->log), &r->conf, &r->pending_conf_index);
    if (r->role == RAFT_LEADER) {
        raft_leader_sync_progress(r);
    }
}

/* ---- construction ----------------------------------------------------------------------- */

/* True when every limit of the config is within range. */
static bool raft_config_valid(const raft_config_t *c) {
    return c->id != RAFT_NONE && c->election_ticks >= 2 && c->heartbeat_ticks >= 1 &&
           c->heartbeat_ticks < c->election_ticks && c->inflight_max >= 1 &&
           c->inflight_max <= RAFT_INFLIGHT_MAX && c->msg_entries_max >= 1 &&
           c->msg_entries_max <= RAFT_MSG_ENTRIES_MAX && c->msg_bytes_max >= 1 && c->rng != NULL;
}

/* Loads the recovered log into r; false when it is not contiguous after the snapshot. */
static bool raft_load_entries(raft_t *r, const raft_restore_t *restore) {
    for (size_t i = 0; i < restore->entries_count; i++) {
        const raft_entry_t *e = &restore->entries[i];
        if (e->index != raft_log_last_index(&r->log) + 1 || e->term < raft_log_last_term(&r->log) ||
            e->len > RAFT_ENTRY_BYTES_MAX) {
            return false;
        }
        raft_log_append(&r->log, e->term, e->type, e->data, e->len);
    }
    return true;
}

/* Starts (or completes) the log of an initial node: one committed bootstrap entry per voter at
 * term 1, identical on every initial node. A crash while persisting them may have kept only a
 * prefix: the rest is appended again and handed out for persistence by the next ready. Returns
 * false when the stored log contradicts the bootstrap. */
static bool raft_bootstrap(raft_t *r, const raft_conf_t *conf) {
    CTX_ASSERT(conf->voters_count >= 1);
    for (int i = 0; i < conf->voters_count; i++) {
        uint64_t index = (uint64_t)i + 1;
        uint8_t payload[RAFT_CONF_CHANGE_SIZE];
        raft_conf_change_encode(RAFT_CONF_BOOTSTRAP, conf->voters[i], payload);
        if (index <= raft_log_last_index(&r->log)) {
            raft_entry_t e;
            raft_log_entry(&r->log, index, &e);
            if (e.term != 1 || e.type != RAFT_ENTRY_CONF || e.len != sizeof(payload) ||
                memcmp(e.data, payload, sizeof(payload)) != 0) {
                return false;
            }
            continue;
        }
        raft_log_append(&r->log, 1, RAFT_ENTRY_CONF, payload, sizeof(payload));
    }
    if (r->term < 1) {
        r->term = 1;
    }
    if (r->log.commit < conf->voters_count) {
        r->log.commit = conf->voters_count;
    }
    return true;
}

/* See raft.h. On failure everything allocated is released and *out is untouched. */
int raft_new(const raft_config_t *config, const raft_restore_t *restore, raft_t **out) {
    CTX_ASSERT(config != NULL && restore != NULL && out != NULL);
    if (!raft_config_valid(config)) {
        return CTX_EBAD_PARAM;
    }
    raft_t *r = ctx_calloc(1, sizeof(*r));
    int rc = CTX_ECORRUPT;
    r->cfg = *config;
    buf_init(&r->out);
    const raft_snapshot_t *snap = restore->snapshot;
    raft_log_init(&r->log, snap ? snap->index : 0, snap ? snap->term : 0);
    if (snap != NULL) {
        r->snap_conf = snap->conf;
        r->snap_len = snap->len;
        r->snap_data = ctx_malloc(snap->len > 0 ? (size_t)snap->len : 1);
        if (snap->len > 0) {
            ctx_memcpy(r->snap_data, snap->data, (size_t)snap->len);
        }
    }
    if (!raft_load_entries(r, restore)) {
        goto fail;
    }
    bool bootstrap = snap == NULL && restore->bootstrap != NULL;
    const raft_hard_state_t *hs = &restore->hard_state;
    uint64_t last = raft_log_last_index(&r->log);
    if (hs->commit > last) {
        goto fail;
    }
    r->term = hs->term;
    r->vote = hs->vote;
    /* A torn batch may leave entries of a term whose hard state never reached the disk: then
     * this node never acted in that term, so adopting it with no vote is safe. */
    if (raft_log_last_term(&r->log) > r->term) {
        r->term = raft_log_last_term(&r->log);
        r->vote = RAFT_NONE;
    }
    r->log.commit = hs->commit > r->log.snap_index ? hs->commit : r->log.snap_index;
    r->log.stable = last;
    r->log.persisted = last; /* restored from the disk */
    if (bootstrap && !raft_bootstrap(r, restore->bootstrap)) {
        goto fail;
    }
    r->prev_hs = (raft_hard_state_t){.term = r->term, .vote = r->vote, .commit = r->log.commit};
    raft_conf_reload(r);
    raft_become_follower(r, r->term, RAFT_NONE);
    *out = r;
    return 0;
fail:
    raft_free(r);
    return rc;
}

/* See raft.h. */
void raft_free(raft_t *raft) {
    if (raft == NULL) {
        return;
    }
    raft_log_free(&raft->log);
    buf_free(&raft->out);
    free(raft->outs);
    free(raft->envelopes);
    free(raft->scratch);
    free(raft->snap_data);
    free(raft);
}

/* ---- elections -------------------------------------------------------------------------- */

/* Pre-candidate: asks for pre-votes at term + 1 while keeping its term and vote. */
static void raft_become_pre_candidate(raft_t *r) {
    CTX_ASSERT(r->role != RAFT_LEADER);
    /* The term is not changed: a pre-vote must not disturb anyone. */
    r->role = RAFT_PRE_CANDIDATE;
    r->leader = RAFT_NONE;
    r->votes_count = 0;
    r->election_elapsed = 0;
    raft_reset_randomized_timeout(r);
}

/* Candidate: new term, votes for itself. */
static void raft_become_candidate(raft_t *r) {
    CTX_ASSERT(r->role != RAFT_LEADER);
    raft_reset(r, r->term + 1);
    r->vote = r->cfg.id;
    r->role = RAFT_CANDIDATE;
}

/* Records a (pre-)vote answer; returns +1 won, -1 lost, 0 pending. */
static int raft_poll(raft_t *r, uint32_t from, bool granted) {
    bool seen = false;
    for (int i = 0; i < r->votes_count; i++) {
        seen = seen || r->votes_from[i] == from;
    }
    if (!seen && r->votes_count < RAFT_MEMBERS_MAX) {
        r->votes_from[r->votes_count] = from;
        r->votes_granted[r->votes_count] = granted;
        r->votes_count++;
    }
    int yes = 0;
    int no = 0;
    for (int i = 0; i < r->votes_count; i++) {
        if (raft_conf_is_voter(&r->conf, r->votes_from[i])) {
            yes += r->votes_granted[i] ? 1 : 0;
            no += r->votes_granted[i] ? 0 : 1;
        }
    }
    int q = raft_quorum(r);
    if (yes >= q) {
        return 1;
    }
    return no > r->conf.voters_count - q ? -1 : 0;
}

/* Starts a pre-vote (pre) or a real election; transfer elections skip the leader lease. */
static void raft_campaign_as(raft_t *r, bool pre, bool transfer) {
    if (pre) {
        raft_become_pre_candidate(r);
    } else {
        raft_become_candidate(r);
    }
    uint64_t term = pre ? r->term + 1 : r->term;
    if (raft_poll(r, r->cfg.id, true) > 0) {
        if (pre) {
            raft_campaign_as(r, false, transfer);
        } else {
            raft_become_leader(r);
        }
        return;
    }
    for (int i = 0; i < r->conf.voters_count; i++) {
        uint32_t id = r->conf.voters[i];
        if (id == r->cfg.id) {
            continue;
        }
        raft_msg_t m = {.type = pre ? RAFT_MSG_PRE_VOTE : RAFT_MSG_VOTE,
                        .to = id,
                        .term = term,
                        .index = raft_log_last_index(&r->log),
                        .log_term = raft_log_last_term(&r->log),
                        .ctx = transfer ? RAFT_CAMPAIGN_TRANSFER : 0};
        raft_send(r, &m);
    }
}

/* Starts an election if this node may: pre-vote first unless disabled or a transfer. */
void raft_campaign_now(raft_t *r, bool transfer) {
    if (!raft_promotable(r) || r->role == RAFT_LEADER) {
        return;
    }
    raft_campaign_as(r, r->cfg.pre_vote && !transfer, transfer);
}

/* See raft.h. */
void raft_campaign(raft_t *raft) {
    CTX_ASSERT(!raft->in_ready);
    raft_campaign_now(raft, false);
}

/* See raft.h. */
void raft_tick(raft_t *raft) {
    CTX_ASSERT(!raft->in_ready);
    if (raft->role == RAFT_LEADER) {
        raft_leader_tick(raft);
        return;
    }
    if (raft->election_elapsed < UINT32_MAX / 2) {
        raft->election_elapsed++;
    }
    /* A node that may not campaign keeps counting: election_elapsed then measures the time since
     * it last heard from a leader, which is what the check-quorum lease looks at. */
    if (raft_promotable(raft) && raft->election_elapsed >= raft->randomized_timeout) {
        raft->election_elapsed = 0;
        raft_campaign_now(raft, false);
    }
}

/* Answers a (pre-)vote request (term handling already done by raft_step_term). */
static void raft_handle_vote(raft_t *r, const raft_msg_t *m) {
    bool pre = m->type == RAFT_MSG_PRE_VOTE;
    bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
                    (pre && m->term > r->term);
    bool grant = can_vote && raft_log_up_to_date(&r->log, m->log_term, m->index);
    raft_msg_t resp = {.type = pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP,
                       .to = m->from,
                       .term = grant ? m->term : r->term,
                       .reject = !grant};
    if (grant && !pre) {
        r->election_elapsed = 0;
        r->vote = m->from;
    }
    raft_send(r, &resp);
}

/* Term rules common to all roles; returns false when m must be dropped. */
static bool raft_step_term(raft_t *r, const raft_msg_t *m) {
    bool vote_req = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
    if (m->term > r->term) {
        if (vote_req) {
            bool force = m->ctx == RAFT_CAMPAIGN_TRANSFER;
            bool in_lease = r->cfg.check_quorum && r->leader != RAFT_NONE &&
                            r->election_elapsed < r->cfg.election_ticks;
            if (in_lease && !force) {
                return false;
            }
        }
        if (m->type == RAFT_MSG_PRE_VOTE || (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject)) {
            return true; /* pre-votes never change terms */
        }
        bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
                           m->type == RAFT_MSG_SNAPSHOT;
        uint32_t elapsed = r->election_elapsed;
        raft_become_follower(r, m->term, from_leader ? m->from : RAFT_NONE);
        if (m->type == RAFT_MSG_VOTE) {
            /* Only granting a vote resets the election timer (Raft §5.2): otherwise candidates
             * with stale logs could keep the up-to-date nodes from ever campaigning. */
            r->election_elapsed = elapsed;
        }
        return true;
    }
    if (m->term < r->term) {
        if ((r->cfg.check_quorum || r->cfg.pre_vote) &&
            (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT)) {
            /* Tell a stale leader about the new term so it steps down. */
            raft_msg_t resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
            raft_send(r, &resp);
        } else if (m->type == RAFT_MSG_PRE_VOTE) {
            raft_msg_t resp = {.type = RAFT_MSG_PRE_VOTE_RESP, .to = m->from, .reject = true};
            raft_send(r, &resp);
        }
        return false;
    }
    return true;
}

/* ---- follower side ---------------------------------------------------------------------- */

/* Raises the commit index (never lowers it); index must be in the log. */
static void raft_commit_to(raft_t *r, uint64_t index) {
    if (index > r->log.commit) {
        CTX_ASSERT(index <= raft_log_last_index(&r->log));
        r->log.commit = index;
    }
}

/* Appends m's entries after the matching point, truncating a conflicting suffix; returns the
 * last index the log now shares with the leader. When the log cannot grow, the entries that fit
 * stay appended, the rest are left for the leader to send again (it learns the shorter index
 * from the reply), and r->append_refused tells raft_step to report CTX_ENOMEM. */
static uint64_t raft_append_entries(raft_t *r, const raft_msg_t *m) {
    uint64_t last_new = m->index + m->entries_count;
    uint32_t i = 0;
    while (i < m->entries_count &&
           raft_log_match_term(&r->log, m->entries[i].index, m->entries[i].term)) {
        i++;
    }
    if (i == m->entries_count) {
        return last_new;
    }
    const raft_entry_t *first = &m->entries[i];
    if (first->index <= raft_log_last_index(&r->log)) {
        CTX_ASSERT(first->index > r->log.commit); /* never truncate committed entries */
        bool had_conf = r->pending_conf_index >= first->index;
        raft_log_truncate_after(&r->log, first->index - 1);
        if (had_conf) {
            raft_conf_reload(r);
        }
    }
    for (; i < m->entries_count; i++) {
        const raft_entry_t *e = &m->entries[i];
        if (raft_log_reserve(&r->log, e->len) != CTX_OK) {
            r->append_refused = true;
            return raft_log_last_index(&r->log);
        }
        raft_log_append(&r->log, e->term, e->type, e->data, e->len);
        raft_conf_appended(r, e->index, e);
    }
    return last_new;
}

/* Follower side of AppendEntries: accept and append, or reject with a backtracking hint. */
static void raft_handle_append(raft_t *r, const raft_msg_t *m) {
    raft_msg_t resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
    if (m->index < r->log.commit) {
        resp.index = r->log.commit;
        raft_send(r, &resp);
        return;
    }
    if (raft_log_match_term(&r->log, m->index, m->log_term)) {
        uint64_t last_new = raft_append_entries(r, m);
        raft_commit_to(r, m->commit < last_new ? m->commit : last_new);
        resp.index = last_new;
        raft_send(r, &resp);
        return;
    }
    /* Fast backtracking: point the leader at the last index that can possibly match. */
    uint64_t last = raft_log_last_index(&r->log);
    uint64_t hint =
        raft_log_find_conflict_by_term(&r->log, m->index < last ? m->index : last, m->log_term);
    uint64_t hint_term = 0;
    (void)raft_log_term(&r->log, hint, &hint_term);
    resp.reject = true;
    resp.index = m->index;
    resp.hint_index = hint;
    resp.hint_term = hint_term;
    raft_send(r, &resp);
}

/* Follower side of InstallSnapshot: fast-forward if we hold the prefix, else replace the log. */
static void raft_handle_snapshot(raft_t *r, const raft_msg_t *m) {
    const raft_snapshot_t *s = &m->snapshot;
    raft_msg_t resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
    if (s->index <= r->log.commit) {
        resp.index = r->log.commit;
    } else if (raft_log_match_term(&r->log, s->index, s->term)) {
        /* We already hold that prefix: just learn it is committed. */
        raft_commit_to(r, s->index);
        resp.index = r->log.commit;
    } else {
        /* Replace everything: the receiver must drop its log when installing (LESSONS). */
        raft_log_reset(&r->log, s->index, s->term);
        r->snap_len = s->len;
        r->snap_data = ctx_realloc(r->snap_data, s->len > 0 ? (size_t)s->len : 1);
        if (s->len > 0) {
            ctx_memcpy(r->snap_data, s->data, (size_t)s->len);
        }
        r->snap_conf = s->conf;
        r->snap_install = true;
        raft_conf_reload(r);
        resp.index = s->index;
    }
    raft_send(r, &resp);
}

/* Messages of the current term while following. */
static void raft_step_follower(raft_t *r, const raft_msg_t *m) {
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        r->election_elapsed = 0;
        r->leader = m->from;
        if (m->type == RAFT_MSG_APPEND) {
            raft_handle_append(r, m);
        } else if (m->type == RAFT_MSG_SNAPSHOT) {
            raft_handle_snapshot(r, m);
        } else {
            uint64_t last = raft_log_last_index(&r->log);
            raft_commit_to(r, m->commit < last ? m->commit : last);
            raft_msg_t resp = {.type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .ctx = m->ctx};
            raft_send(r, &resp);
        }
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        raft_campaign_now(r, true);
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        if (m->from == r->leader && r->read_states_count < RAFT_READS_MAX) {
            r->read_states[r->read_states_count++] =
                (raft_read_state_t){.ctx = m->ctx, .index = m->index};
        }
        break;
    default:
        break;
    }
}

/* Messages of the current term while (pre-)campaigning. */
static void raft_step_candidate(raft_t *r, const raft_msg_t *m) {
    uint8_t want = r->role == RAFT_PRE_CANDIDATE ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        raft_become_follower(r, m->term, m->from);
        raft_step_follower(r, m);
        break;
    default:
        if (m->type != want) {
            break;
        }
        int result = raft_poll(r, m->from, !m->reject);
        if (result > 0 && r->role == RAFT_PRE_CANDIDATE) {
            raft_campaign_as(r, false, false);
        } else if (result > 0) {
            raft_become_leader(r);
        } else if (result < 0) {
            raft_become_follower(r, r->term, RAFT_NONE);
        }
        break;
    }
}

/* Semantic checks the decoder cannot make: terms in a message must be consistent, so that a
 * corrupt-but-checksummed or hostile message is refused instead of tripping an assertion. */
static bool raft_msg_sane(const raft_msg_t *m) {
    uint64_t prev = m->log_term;
    for (uint32_t i = 0; i < m->entries_count; i++) {
        if (m->entries[i].term < prev || m->entries[i].term > m->term) {
            return false;
        }
        prev = m->entries[i].term;
    }
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PRE_VOTE:
        return m->log_term <= m->term;
    case RAFT_MSG_SNAPSHOT:
        return m->snapshot.term <= m->term && m->snapshot.conf.voters_count >= 1;
    default:
        return m->entries_count == 0;
    }
}

/* See raft.h. */
int raft_step(raft_t *raft, const uint8_t *bytes, size_t len) {
    CTX_ASSERT(!raft->in_ready);
    raft_msg_t m;
    int rc = raft_msg_decode(bytes, len, &m, raft->msg_entries, RAFT_MSG_ENTRIES_MAX);
    if (rc != 0) {
        return rc;
    }
    if (!raft_msg_sane(&m)) {
        return CTX_EPROTOCOL;
    }
    if (m.to != raft->cfg.id || m.from == raft->cfg.id || !raft_step_term(raft, &m)) {
        return 0;
    }
    if (m.type == RAFT_MSG_PRE_VOTE || m.type == RAFT_MSG_VOTE) {
        raft_handle_vote(raft, &m);
        return 0;
    }
    raft->append_refused = false;
    switch (raft->role) {
    case RAFT_LEADER:
        raft_leader_step(raft, &m);
        break;
    case RAFT_PRE_CANDIDATE:
    case RAFT_CANDIDATE:
        raft_step_candidate(raft, &m);
        break;
    case RAFT_FOLLOWER:
        raft_step_follower(raft, &m);
        break;
    }
    return raft->append_refused ? CTX_ENOMEM : 0;
}

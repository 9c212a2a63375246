/*
 * raft_api.c — the caller-facing half of the Raft core: proposals, membership changes, reads,
 * leader transfer, compaction, the ready/advance batch and introspection.
 *
 * raft_ready() assembles the batch from the core's state without copying payloads: `entries`
 * and `committed` point into the log (a scratch array of raft_entry_t is filled on demand),
 * `messages` point into the outbox buffer that raft_send() encoded them into. Nothing may
 * mutate the core until raft_advance() (asserted through in_ready), so those pointers stay
 * valid. must_sync is set when the batch carries entries, a snapshot, or a new term or vote —
 * the things another node may rely on once a message from this batch is received; a commit
 * index alone is recoverable from the leader and need not be synced. Messages that depend on
 * none of that are marked early (raft.c, raft_msg_early) unless the batch changes the term or
 * vote: so a leader's appends leave while it persists the same entries, and its own match —
 * hence the commit index — moves only with raft_persisted().
 */
#include "raft_int.h"

#include "ctx.h"

#include <stdlib.h>
#include <string.h>

/* Leaders take proposals unless a leadership transfer is under way. */
static bool raft_accepts_proposals(const raft_t *r) {
    return r->role == RAFT_LEADER && r->transferee == RAFT_NONE;
}

/* Appends an entry as leader and marks it for broadcast at the next ready. The leader's own
 * match moves only when the entry is durable (raft_persisted). */
static uint64_t raft_leader_append(raft_t *r, uint8_t type, const uint8_t *data, uint32_t len) {
    uint64_t index = raft_log_append(&r->log, r->term, type, data, len);
    raft_progress_t *self = raft_progress_get(r, r->cfg.id);
    CTX_ASSERT(self != NULL);
    self->next = index + 1;
    r->pending_bcast = true;
    return index;
}

/* See raft.h. */
int raft_propose(raft_t *raft, const void *data, uint32_t len, uint64_t *index) {
    CTX_ASSERT(!raft->in_ready);
    CTX_ASSERT(data != NULL || len == 0);
    if (!raft_accepts_proposals(raft)) {
        return CTX_EREAD_ONLY;
    }
    if (len > RAFT_ENTRY_BYTES_MAX ||
        raft_log_last_index(&raft->log) - raft->log.commit >= RAFT_UNCOMMITTED_MAX) {
        return CTX_ELIMIT;
    }
    if (raft_log_reserve(&raft->log, len) != CTX_OK) {
        return CTX_ENOMEM;
    }
    uint64_t at = raft_leader_append(raft, RAFT_ENTRY_NORMAL, data, len);
    if (index != NULL) {
        *index = at;
    }
    return 0;
}

/* See raft.h. */
int raft_propose_conf(raft_t *raft, raft_conf_op_t op, uint32_t node, uint64_t *index) {
    CTX_ASSERT(!raft->in_ready);
    if (!raft_accepts_proposals(raft)) {
        return CTX_EREAD_ONLY;
    }
    /* One change at a time, and only after an entry of our term committed (the classic
     * single-server change bug: an old leader's uncommitted change could otherwise overlap). */
    if (raft->pending_conf_index > raft->log.commit || raft->log.commit < raft->term_start_index) {
        return CTX_ELIMIT;
    }
    raft_conf_t next = raft->conf;
    if (op == RAFT_CONF_BOOTSTRAP || raft_conf_apply(&next, op, node) != 0) {
        return CTX_EBAD_PARAM;
    }
    if (op == RAFT_CONF_PROMOTE) {
        raft_progress_t *pr = raft_progress_get(raft, node);
        if (pr == NULL || pr->match < raft->log.commit) {
            return CTX_EBAD_PARAM; /* the learner must catch up before it may vote */
        }
    }
    uint8_t payload[RAFT_CONF_CHANGE_SIZE];
    raft_conf_change_encode(op, node, payload);
    uint64_t at = raft_leader_append(raft, RAFT_ENTRY_CONF, payload, sizeof(payload));
    raft_entry_t e;
    raft_log_entry(&raft->log, at, &e);
    raft_conf_appended(raft, at, &e);
    if (index != NULL) {
        *index = at;
    }
    if (raft->role == RAFT_LEADER) {
        (void)raft_maybe_commit(raft);
    }
    return 0;
}

/* See raft.h. */
int raft_read_index(raft_t *raft, uint64_t ctx) {
    CTX_ASSERT(!raft->in_ready);
    if (raft->role == RAFT_LEADER) {
        if (raft->reads_count >= RAFT_READS_MAX) {
            return CTX_ELIMIT;
        }
        raft_leader_read(raft, ctx, raft->cfg.id);
        return 0;
    }
    if (raft->leader == RAFT_NONE) {
        return CTX_EREAD_ONLY;
    }
    raft_msg_t m = {.type = RAFT_MSG_READ_INDEX, .to = raft->leader, .ctx = ctx};
    raft_send(raft, &m);
    return 0;
}

/* See raft.h. */
int raft_transfer_leader(raft_t *raft, uint32_t target) {
    CTX_ASSERT(!raft->in_ready);
    if (raft->role != RAFT_LEADER) {
        return CTX_EREAD_ONLY;
    }
    if (target == raft->cfg.id || !raft_conf_is_voter(&raft->conf, target)) {
        return CTX_EBAD_PARAM;
    }
    raft_progress_t *pr = raft_progress_get(raft, target);
    CTX_ASSERT(pr != NULL);
    raft->transferee = target;
    raft->election_elapsed = 0;
    if (pr->match == raft_log_last_index(&raft->log)) {
        raft_msg_t m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = target};
        raft_send(raft, &m);
    } else {
        raft_send_append(raft, pr);
    }
    return 0;
}

/* See raft.h. The membership recorded with the snapshot is the one as of index. */
int raft_compact(raft_t *raft, uint64_t index, const void *data, uint64_t len) {
    CTX_ASSERT(!raft->in_ready);
    CTX_ASSERT(data != NULL || len == 0);
    if (index <= raft->log.snap_index || index > raft->log.applied ||
        len > RAFT_SNAPSHOT_BYTES_MAX) {
        return CTX_EBAD_PARAM;
    }
    /* Membership as of index: fold the conf entries being compacted away. */
    for (uint64_t i = raft->log.snap_index + 1; i <= index; i++) {
        raft_entry_t e;
        raft_log_entry(&raft->log, i, &e);
        raft_conf_op_t op;
        uint32_t node;
        if (e.type == RAFT_ENTRY_CONF && raft_conf_change_decode(e.data, e.len, &op, &node) == 0) {
            (void)raft_conf_apply(&raft->snap_conf, op, node);
        }
    }
    raft_log_compact(&raft->log, index);
    raft->snap_len = len;
    raft->snap_data = ctx_realloc(raft->snap_data, len > 0 ? (size_t)len : 1);
    if (len > 0) {
        memcpy(raft->snap_data, data, (size_t)len);
    }
    return 0;
}

/* ---- ready / advance -------------------------------------------------------------------- */

/* The current persistent state. */
static raft_hard_state_t raft_hard_state(const raft_t *r) {
    return (raft_hard_state_t){.term = r->term, .vote = r->vote, .commit = r->log.commit};
}

/* See raft.h. */
bool raft_has_ready(const raft_t *raft) {
    raft_hard_state_t hs = raft_hard_state(raft);
    return hs.term != raft->prev_hs.term || hs.vote != raft->prev_hs.vote ||
           hs.commit != raft->prev_hs.commit || raft->snap_install || raft->outs_count > 0 ||
           raft_log_last_index(&raft->log) > raft->log.stable ||
           raft->log.commit > raft->log.applied || raft->read_states_count > 0 ||
           raft->pending_bcast;
}

/* The scratch array, grown to hold count entries (valid until the next call). */
static raft_entry_t *raft_scratch(raft_t *r, size_t count) {
    if (count > r->scratch_cap) {
        size_t cap = r->scratch_cap == 0 ? 256 : r->scratch_cap;
        while (cap < count) {
            cap *= 2;
        }
        r->scratch = ctx_realloc(r->scratch, cap * sizeof(r->scratch[0]));
        r->scratch_cap = cap;
    }
    return r->scratch;
}

/* Fills the entry arrays of the batch: unstable entries, then committed ones, in scratch. */
static void raft_ready_entries(raft_t *r, raft_ready_t *rd) {
    uint64_t last = raft_log_last_index(&r->log);
    uint64_t first_unstable = r->log.stable + 1;
    size_t unstable = (size_t)(last - r->log.stable);
    uint64_t commit_end = r->log.commit;
    if (commit_end - r->log.applied > RAFT_APPLY_BATCH_MAX) {
        commit_end = r->log.applied + RAFT_APPLY_BATCH_MAX;
    }
    size_t committed = (size_t)(commit_end - r->log.applied);
    raft_entry_t *scratch = raft_scratch(r, unstable + committed);
    for (size_t i = 0; i < unstable; i++) {
        raft_log_entry(&r->log, first_unstable + i, &scratch[i]);
    }
    for (size_t i = 0; i < committed; i++) {
        raft_log_entry(&r->log, r->log.applied + 1 + i, &scratch[unstable + i]);
    }
    rd->entries = unstable > 0 ? scratch : NULL;
    rd->entries_count = unstable;
    rd->committed = committed > 0 ? scratch + unstable : NULL;
    rd->committed_count = committed;
}

/* See raft.h. */
void raft_ready(raft_t *raft, raft_ready_t *ready) {
    CTX_ASSERT(!raft->in_ready);
    if (raft->pending_bcast && raft->role == RAFT_LEADER) {
        raft_flush_append(raft);
    }
    raft->pending_bcast = false;
    memset(ready, 0, sizeof(*ready));
    ready->role = raft->role;
    ready->leader = raft->leader;
    ready->term = raft->term;
    ready->hard_state = raft_hard_state(raft);
    const raft_hard_state_t *prev = &raft->prev_hs;
    ready->hard_state_changed = ready->hard_state.term != prev->term ||
                                ready->hard_state.vote != prev->vote ||
                                ready->hard_state.commit != prev->commit;
    if (raft->snap_install) {
        raft->ready_snapshot = (raft_snapshot_t){.index = raft->log.snap_index,
                                                 .term = raft->log.snap_term,
                                                 .conf = raft->snap_conf,
                                                 .data = raft->snap_data,
                                                 .len = raft->snap_len};
        ready->snapshot = &raft->ready_snapshot;
    }
    raft_ready_entries(raft, ready);
    bool votes_changed =
        ready->hard_state.term != prev->term || ready->hard_state.vote != prev->vote;
    ready->must_sync = ready->entries_count > 0 || ready->snapshot != NULL || votes_changed;
    if (raft->outs_count > raft->envelopes_cap) {
        raft->envelopes_cap = raft->outs_cap;
        raft->envelopes =
            ctx_realloc(raft->envelopes, raft->envelopes_cap * sizeof(raft->envelopes[0]));
    }
    for (size_t i = 0; i < raft->outs_count; i++) {
        const raft_out_t *o = &raft->outs[i];
        raft->envelopes[i] = (raft_envelope_t){.to = o->to,
                                               .type = o->type,
                                               .early = o->early && !votes_changed,
                                               .bytes = buf_peek(&raft->out) + o->off,
                                               .len = o->len};
    }
    ready->messages = raft->outs_count > 0 ? raft->envelopes : NULL;
    ready->messages_count = raft->outs_count;
    ready->reads = raft->read_states_count > 0 ? raft->read_states : NULL;
    ready->reads_count = (size_t)raft->read_states_count;
    raft->in_ready = true;
}

/* See raft.h. Marks the batch's entries stable and its committed entries applied. */
void raft_advance(raft_t *raft, const raft_ready_t *ready) {
    CTX_ASSERT(raft->in_ready);
    raft->in_ready = false;
    raft->prev_hs = ready->hard_state;
    if (ready->entries_count > 0) {
        raft->log.stable = ready->entries[ready->entries_count - 1].index;
    }
    if (ready->committed_count > 0) {
        uint64_t applied = ready->committed[ready->committed_count - 1].index;
        CTX_ASSERT(applied <= raft->log.commit);
        raft->log.applied = applied;
    }
    raft->snap_install = false;
    raft->outs_count = 0;
    buf_reset(&raft->out);
    raft->read_states_count = 0;
}

/* See raft.h. A leader's own match follows its durable log, so it counts towards a quorum only
 * what a crash cannot take back. */
void raft_persisted(raft_t *raft, uint64_t index, uint64_t term) {
    CTX_ASSERT(!raft->in_ready);
    if (index <= raft->log.persisted || index > raft->log.stable ||
        !raft_log_match_term(&raft->log, index, term)) {
        return; /* already known, or the entry was truncated or replaced since */
    }
    raft->log.persisted = index;
    if (raft->role != RAFT_LEADER) {
        return;
    }
    raft_progress_t *self = raft_progress_get(raft, raft->cfg.id);
    CTX_ASSERT(self != NULL);
    if (index <= self->match) {
        return;
    }
    self->match = index;
    if (raft_maybe_commit(raft) && raft->role == RAFT_LEADER) {
        raft_bcast_append(raft); /* followers learn the new commit index */
    }
}

/* ---- introspection ---------------------------------------------------------------------- */

/* Introspection accessors: see raft.h. */
uint32_t raft_id(const raft_t *raft) {
    return raft->cfg.id;
}

raft_role_t raft_role(const raft_t *raft) {
    return raft->role;
}

uint32_t raft_leader(const raft_t *raft) {
    return raft->leader;
}

uint64_t raft_term(const raft_t *raft) {
    return raft->term;
}

uint64_t raft_commit_index(const raft_t *raft) {
    return raft->log.commit;
}

uint64_t raft_applied_index(const raft_t *raft) {
    return raft->log.applied;
}

uint64_t raft_first_index(const raft_t *raft) {
    return raft->log.snap_index + 1;
}

uint64_t raft_last_index(const raft_t *raft) {
    return raft_log_last_index(&raft->log);
}

int raft_term_at(const raft_t *raft, uint64_t index, uint64_t *term) {
    return raft_log_term(&raft->log, index, term) ? 0 : CTX_EBAD_PARAM;
}

const raft_conf_t *raft_conf(const raft_t *raft) {
    return &raft->conf;
}

/* See raft.h. */
int raft_entry_at(const raft_t *raft, uint64_t index, raft_entry_t *out) {
    if (index <= raft->log.snap_index || index > raft_log_last_index(&raft->log)) {
        return CTX_EBAD_PARAM;
    }
    raft_log_entry(&raft->log, index, out);
    return CTX_OK;
}

/* See raft.h. */
int raft_member_match(const raft_t *raft, uint32_t id, uint64_t *match, bool *recent) {
    if (raft->role != RAFT_LEADER) {
        return CTX_EREAD_ONLY;
    }
    const raft_progress_t *pr = raft_progress_get((raft_t *)raft, id);
    if (pr == NULL) {
        return CTX_EBAD_PARAM;
    }
    *match = pr->match;
    *recent = pr->recent_active;
    return CTX_OK;
}

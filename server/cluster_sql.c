/*
 * cluster_sql.c — the cluster's face to the SQL layer (contract in cluster.h): the write check
 * and the commit hook that turns a statement's batch into a Raft proposal (cl_log), the reply
 * gate that holds a client's answer until its entry is committed and applied, ALTER CLUSTER,
 * the ReadIndex barrier of linearizable reads, and the cluster_members relation (SHOW CLUSTER).
 * State and helpers are cluster.c's (cluster_int.h); everything here runs on the event loop.
 */
#include "cluster_int.h"

/* ---------------------------------------------------------------- SQL hooks */

static int cl_not_leader(cluster_t *c, ctx_err_t *err) {
    if (c->removed) {
        ctx_err_set(err, CTX_ENO_LEADER, "node %u was removed from the cluster", c->cfg.node_id);
        ctx_err_hint(err, "Connect to a current member (SHOW CLUSTER on one of them).");
        return err->code;
    }
    if (c->leader == RAFT_NONE) {
        ctx_err_set(err, CTX_ENO_LEADER, "no cluster leader is available");
        ctx_err_detail(err, "Node %u is %s in term %" PRIu64 " and knows no leader.",
                       c->cfg.node_id, raft_role_name(c->role), c->term);
        ctx_err_hint(err, "Retry once an election has completed; a majority of the members "
                          "must be running and reachable.");
        return err->code;
    }
    ctx_err_set(err, CTX_EREAD_ONLY, "cannot execute a write on a follower");
    rt_peer_status_t st;
    memset(&st, 0, sizeof(st));
    if (c->rt != NULL && rt_peer_status(c->rt, c->leader, &st) == CTX_OK && st.advertise[0]) {
        ctx_err_detail(err, "The leader is node %u at pgwire %s.", c->leader, st.advertise);
    } else {
        ctx_err_detail(err, "The leader is node %u.", c->leader);
    }
    ctx_err_hint(err, "Connect to the leader to write.");
    return err->code;
}

bool cluster_leader_pgwire(void *ctx, char *out, size_t out_len) {
    cluster_t *c = ctx;
    rt_peer_status_t st;
    if (c->rt == NULL || c->role == RAFT_LEADER || c->leader == RAFT_NONE ||
        rt_peer_status(c->rt, c->leader, &st) != CTX_OK || st.advertise[0] == '\0') {
        return false;
    }
    snprintf(out, out_len, "%s", st.advertise);
    return true;
}

bool cluster_forward_token(void *ctx, const char *user, char *out) {
    cluster_t *c = ctx;
    return forward_token_make(c->secret, user, out);
}

/* sql_commit_hooks_t.write_check: may a statement change the store now? On a follower that
 * knows its leader's pgwire address, a forwarding session gets CTX_EFORWARD. */
int cl_write_check(void *ctx, bool forward, ctx_err_t *err) {
    cluster_t *c = ctx;
    if (c->role != RAFT_LEADER || c->removed) {
        int rc = cl_not_leader(c, err);
        char leader[FORWARD_ADDRESS_BYTES];
        if (rc == CTX_EREAD_ONLY && forward && cluster_leader_pgwire(c, leader, sizeof(leader))) {
            err->code = CTX_EFORWARD;
            return CTX_EFORWARD;
        }
        return rc;
    }
    if (c->applied < c->term_start) {
        ctx_err_set(err, CTX_ENO_LEADER, "the cluster leader is not ready yet");
        ctx_err_detail(err,
                       "Node %u became leader in term %" PRIu64
                       " and is applying the entries of earlier terms.",
                       c->cfg.node_id, c->term);
        ctx_err_hint(err, "Retry in a moment.");
        return err->code;
    }
    return CTX_OK;
}

/* sql_commit_hooks_t.log: proposes a batch already applied to the store; keeps its undo. */
int cl_log(void *ctx, const cmd_batch_t *batch, store_undo_t **undo, uint64_t *lsn,
           ctx_err_t *err) {
    cluster_t *c = ctx;
    int rc = cl_write_check(c, false, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (c->pending_count >= CL_PENDING_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "too many uncommitted writes (%d); retry",
                           CL_PENDING_MAX);
    }
    buf_reset(&c->enc);
    cmd_encode(batch, &c->enc);
    if (buf_failed(&c->enc)) {
        buf_reset(&c->enc);
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "The system could not provide memory for the log entry.");
        return CTX_ENOMEM;
    }
    if (buf_size(&c->enc) > RAFT_ENTRY_BYTES_MAX) {
        return ctx_err_set(err, CTX_ELIMIT,
                           "transaction too large for one log entry (%zu bytes, "
                           "at most %u)",
                           buf_size(&c->enc), (unsigned)RAFT_ENTRY_BYTES_MAX);
    }
    uint64_t index = 0;
    rc = raft_propose(c->raft, buf_peek(&c->enc), (uint32_t)buf_size(&c->enc), &index);
    if (buf_size(&c->enc) > CL_ENC_KEEP_BYTES) {
        buf_free(&c->enc); /* a huge transaction's encoding is not kept around */
        buf_init(&c->enc);
    }
    if (rc == CTX_ENOMEM) {
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "Failed to grow the Raft log.");
        return CTX_ENOMEM;
    }
    if (rc != CTX_OK) {
        return rc == CTX_ELIMIT ? ctx_err_set(err, CTX_ELIMIT, "too many uncommitted writes; retry")
                                : cl_not_leader(c, err);
    }
    if (index >= (UINT64_C(1) << CL_POS_INDEX_BITS) || c->term >= (UINT64_C(1) << 23)) {
        CTX_ERROR("cluster: log index %" PRIu64 " or term %" PRIu64 " out of range", index,
                  c->term);
        abort(); /* 2^40 entries or 2^23 elections: beyond any real log */
    }
    cl_pending_t *p = cl_pending_at(c, c->pending_count++);
    *p = (cl_pending_t){.index = index, .term = c->term, .undo = *undo};
    *undo = store_undo_create();
    *lsn = c->cfg.synchronous_commit ? cl_position(c->term, index) : 0;
    cl_wake(c); /* the proposals of this loop iteration go out in one ready batch */
    return CTX_OK;
}

/* The membership change itself; *index: the newest entry it proposed. */
static int cl_change_propose(cluster_t *c, bool add, const mb_member_t *m, uint64_t *index,
                             ctx_err_t *err) {
    int rc =
        raft_propose_conf(c->raft, add ? RAFT_CONF_ADD_LEARNER : RAFT_CONF_REMOVE, m->id, index);
    if (rc == CTX_ELIMIT) {
        ctx_err_set(err, CTX_EIN_USE, "a membership change is already in progress");
        ctx_err_hint(err, "Retry once it has committed (SHOW CLUSTER).");
        return err->code;
    }
    if (rc != CTX_OK) {
        return rc == CTX_EREAD_ONLY
                   ? cl_not_leader(c, err)
                   : ctx_err_set(err, CTX_EBAD_PARAM, "the membership change is not valid now");
    }
    if (!add) {
        CTX_INFO("cluster: proposed the removal of member %u (entry %" PRIu64 ")", m->id, *index);
        return CTX_OK;
    }
    buf_reset(&c->enc);
    mb_record_encode(m, &c->enc);
    rc = buf_failed(&c->enc)
             ? CTX_ENOMEM
             : raft_propose(c->raft, buf_peek(&c->enc), (uint32_t)buf_size(&c->enc), index);
    if (rc != CTX_OK) {
        ctx_err_set(err, rc, "node %u was added but its address could not be logged", m->id);
        ctx_err_hint(err, "Remove the node and add it again.");
        return err->code;
    }
    (void)mb_book_set(&c->book, m); /* the leader reaches the learner at once */
    CTX_INFO("cluster: proposed member %u at %s:%u as a learner (entry %" PRIu64 ")", m->id,
             m->host, m->raft_port, *index);
    return CTX_OK;
}

int cluster_change(void *ctx, bool add, int64_t id, const char *address, bool forward,
                   uint64_t *lsn, ctx_err_t *err) {
    cluster_t *c = ctx;
    mb_member_t m = {.id = (uint32_t)id};
    if (id < 1 || id > INT32_MAX) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "node id must be between 1 and %d", INT32_MAX);
    }
    if (add && (address == NULL || mb_parse_address(address, &m, err) != CTX_OK)) {
        return address == NULL ? ctx_err_set(err, CTX_EBAD_PARAM, "ADD NODE needs an address")
                               : err->code;
    }
    if (c->rt == NULL) {
        ctx_err_set(err, CTX_EFEATURE,
                    "a server started without cluster_nodes cannot change "
                    "its membership");
        ctx_err_hint(err, "Start the members with cluster_nodes (tools/cluster start).");
        return err->code;
    }
    int rc = cl_write_check(c, forward, err);
    if (rc == CTX_OK) {
        rc = mb_change_check(raft_conf(c->raft), add, m.id, err);
    }
    uint64_t index = 0;
    if (rc == CTX_OK) {
        rc = cl_change_propose(c, add, &m, &index, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    memset(&c->conf_seen, 0, sizeof(c->conf_seen));
    cl_membership_changed(c);
    *lsn = cl_position(c->term, index);
    cl_wake(c);
    return CTX_OK;
}

/* sql_commit_hooks_t.visible_lsn: the newest proposal the store reflects (0 when the store is
 * the applied state, which is committed). */
uint64_t cl_visible_lsn(void *ctx) {
    cluster_t *c = ctx;
    if (c->pending_count == 0) {
        return 0;
    }
    const cl_pending_t *p = cl_pending_at(c, c->pending_count - 1);
    return cl_position(p->term, p->index);
}

bool cluster_reply_ready(void *ctx, uint64_t lsn, uint64_t snapshot_id, uint64_t held_ms) {
    cluster_t *c = ctx;
    if (!durability_snapshot_done(c->dur, snapshot_id)) {
        return false;
    }
    if (cl_pos_index(lsn) <= c->applied) {
        return true;
    }
    uint32_t timeout =
        c->cfg.commit_timeout_ms ? c->cfg.commit_timeout_ms : CLUSTER_COMMIT_TIMEOUT_MS;
    return cl_now_ms() >= held_ms + timeout;
}

int cluster_commit_result(void *ctx, uint64_t lsn, uint64_t held_ms, ctx_err_t *err) {
    (void)held_ms;
    cluster_t *c = ctx;
    if (lsn == 0) {
        return CTX_OK;
    }
    uint64_t index = cl_pos_index(lsn), term = cl_pos_term(lsn);
    if (index > c->applied) {
        ctx_err_set(err, CTX_EUNKNOWN_COMMIT, "the outcome of the write is unknown");
        ctx_err_detail(
            err,
            "Log entry %" PRIu64 " was not committed within %u ms (node %u is %s "
            "in term %" PRIu64 ").",
            index, c->cfg.commit_timeout_ms ? c->cfg.commit_timeout_ms : CLUSTER_COMMIT_TIMEOUT_MS,
            c->cfg.node_id, raft_role_name(c->role), c->term);
        ctx_err_hint(err, "The write may still take effect; read before retrying.");
        return err->code;
    }
    uint64_t committed = 0;
    if (!cl_marked(c->committed, index, &committed) &&
        raft_term_at(c->raft, index, &committed) != CTX_OK) {
        ctx_err_set(err, CTX_EUNKNOWN_COMMIT, "the outcome of the write is unknown");
        ctx_err_detail(err, "Log entry %" PRIu64 " was applied too long ago to tell.", index);
        return err->code;
    }
    if (committed != term) {
        ctx_err_set(err, CTX_ESERIALIZATION,
                    "could not serialize access: the cluster leader changed");
        ctx_err_detail(err,
                       "Log entry %" PRIu64 " proposed in term %" PRIu64
                       " was replaced by an entry of term %" PRIu64 "; nothing was committed.",
                       index, term, committed);
        ctx_err_hint(err, "Retry the transaction.");
        return err->code;
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- reads */

bool cluster_reads_need_barrier(const cluster_t *c) {
    return c->cfg.members_count > 1;
}

/* Issues a ReadIndex request unless one issued after the waiter's token is in flight. */
static int cl_issue_read(cluster_t *c) {
    if (c->read_issued > c->read_confirmed &&
        cl_now_ms() < c->read_issued_ms + 2 * CLUSTER_TICK_MS * CLUSTER_ELECTION_TICKS) {
        return CTX_OK; /* in flight and not yet given up on */
    }
    int rc = raft_read_index(c->raft, c->read_issued + 1);
    if (rc == CTX_OK) {
        c->read_issued++;
        c->read_issued_ms = cl_now_ms();
        cl_wake(c);
    }
    return rc;
}

bool cluster_read_ready(void *ctx, uint64_t *token, uint64_t since_ms, ctx_err_t *err) {
    cluster_t *c = ctx;
    if (c->rt == NULL) {
        return true;
    }
    if (c->removed) {
        (void)cl_not_leader(c, err);
        return false;
    }
    if (*token == 0 || c->read_issued < *token) {
        /* a request issued from now on confirms a state at least as new as this statement */
        *token = c->read_issued + 1;
    }
    if (c->read_confirmed >= *token && c->applied >= c->read_index) {
        return true;
    }
    int rc = c->read_confirmed >= *token ? CTX_OK : cl_issue_read(c);
    uint32_t timeout =
        c->cfg.commit_timeout_ms ? c->cfg.commit_timeout_ms : CLUSTER_COMMIT_TIMEOUT_MS;
    if (cl_now_ms() >= since_ms + timeout) {
        if (rc != CTX_OK || c->leader == RAFT_NONE) {
            (void)cl_not_leader(c, err);
            return false;
        }
        ctx_err_set(err, CTX_ENO_LEADER, "the cluster leader did not confirm a read in time");
        ctx_err_detail(err, "Node %u waited %u ms for leader %u.", c->cfg.node_id, timeout,
                       c->leader);
        return false;
    }
    return false;
}

/* ---------------------------------------------------------------- SHOW CLUSTER */

static void cl_member_row(cluster_t *c, uint32_t id, sql_member_info_t *row) {
    memset(row, 0, sizeof(*row));
    row->id = id;
    const mb_member_t *m = mb_book_find(&c->book, id);
    if (m != NULL) {
        snprintf(row->address, sizeof(row->address), "%s:%u", m->host, m->raft_port);
    }
    row->term = row->commit_index = row->applied_index = row->lag = -1;
    row->is_self = id == c->cfg.node_id;
    const raft_conf_t *conf = raft_conf(c->raft);
    bool learner = raft_conf_is_learner(conf, id);
    if (row->is_self) {
        snprintf(row->pgwire, sizeof(row->pgwire), "%s", c->advertise);
        row->role = c->removed               ? "removed"
                    : !mb_conf_has(conf, id) ? "joining"
                    : learner                ? "learner"
                                             : raft_role_name(c->role);
        row->term = (int64_t)c->term;
        row->commit_index = (int64_t)raft_commit_index(c->raft);
        row->applied_index = (int64_t)c->applied;
        row->lag = c->role == RAFT_LEADER ? 0 : -1;
        return;
    }
    rt_peer_status_t st;
    memset(&st, 0, sizeof(st));
    bool known = c->rt != NULL && rt_peer_status(c->rt, id, &st) == CTX_OK;
    snprintf(row->pgwire, sizeof(row->pgwire), "%s", known ? st.advertise : "");
    row->last_contact_ms =
        known && st.last_recv_ms > 0 ? (int64_t)(cl_now_ms() - st.last_recv_ms) : -1;
    bool alive = row->last_contact_ms >= 0 &&
                 row->last_contact_ms < 2 * CLUSTER_TICK_MS * CLUSTER_ELECTION_TICKS;
    row->role = id == c->leader ? "leader" : !alive ? "unknown" : learner ? "learner" : "follower";
    uint64_t match = 0;
    bool recent = false;
    if (raft_member_match(c->raft, id, &match, &recent) == CTX_OK) {
        row->lag = (int64_t)(raft_last_index(c->raft) - match);
    }
}

int cl_members(void *ctx, arena_t *arena, sql_member_info_t **out, int *count, ctx_err_t *err) {
    (void)err;
    cluster_t *c = ctx;
    const raft_conf_t *conf = raft_conf(c->raft);
    uint32_t ids[RAFT_MEMBERS_MAX + 1];
    int n = 0;
    for (int i = 0; i < conf->voters_count; i++) {
        ids[n++] = conf->voters[i];
    }
    for (int i = 0; i < conf->learners_count; i++) {
        ids[n++] = conf->learners[i];
    }
    if (!mb_conf_has(conf, c->cfg.node_id)) {
        ids[n++] = c->cfg.node_id; /* joining, or removed */
    }
    sql_member_info_t *rows = arena_alloc(arena, sizeof(sql_member_info_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        cl_member_row(c, ids[i], &rows[i]);
    }
    *out = rows;
    *count = n;
    return CTX_OK;
}

/*
 * cluster.c — the replicated state machine (contract and design in cluster.h).
 *
 * The ready pipeline. Each raft_ready() batch is handed over at once: its entries and hard state
 * are appended to the WAL (which returns a ticket per record), and raft_advance() is called right
 * away, so the core keeps accepting proposals and messages while the WAL writer fsyncs. What must
 * wait goes into stages, which run strictly in order: first the batch's committed entries and
 * confirmed reads (a stage that waits for nothing but the stages before it: a committed entry is
 * on a majority's disk whether or not this node's newest writes are on its own), then its
 * messages, in a stage tagged with the newest ticket handed to the WAL so far, which runs once
 * the WAL's durable ticket reaches it. So no message reveals an entry or a vote before it is on
 * disk, and entries are applied in log order. Messages the core marks early (a leader's appends
 * and heartbeats, heartbeat answers, ReadIndex traffic) skip the stages and leave at once, unless
 * a stage holding a new term or vote still waits (c->votes_stages): a leader's followers write
 * its entries while it does. The WAL's progress reaches the core through raft_persisted (the
 * persist ring, in ticket order), and only then does the leader count itself towards a commit.
 * Empty stages are not queued, so entries two followers committed are applied and answered
 * without waiting for the leader's own fsync. A hard state that only moved the commit index is
 * not written on its own (cl_persist).
 *
 * Pending entries (the leader's proposals not yet applied) sit in a ring in index order, each
 * with its undo records and encoded batch. A step-down queues a rollback stage at that point of
 * the pipeline: earlier stages may still commit some of them; the rollback then undoes the rest
 * newest first. Their indexes and terms stay in the proposal ring, so a client waiting for one
 * learns whether the entry committed after all (the new leader had it) or was replaced.
 */
#include "cluster_int.h"

/* ---------------------------------------------------------------- configuration */

static int cl_parse_member(const char *item, size_t len, cluster_member_t *m, ctx_err_t *err) {
    char text[CLUSTER_HOST_BYTES_MAX + 32];
    if (len == 0 || len >= sizeof(text)) {
        return ctx_err_set(err, CTX_ECONFIG, "cluster_nodes: bad entry \"%.*s\"", (int)len, item);
    }
    memcpy(text, item, len);
    text[len] = '\0';
    char *eq = strchr(text, '=');
    char *colon = strrchr(text, ':');
    if (eq == NULL || colon == NULL || colon < eq || eq == text || colon == eq + 1) {
        return ctx_err_set(err, CTX_ECONFIG, "cluster_nodes: entry \"%s\" is not ID=HOST:PORT",
                           text);
    }
    *eq = '\0';
    *colon = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long id = strtoul(text, &end, 10);
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || id < 1 || id > INT32_MAX || port < 1 || port > 65535 || *end != '\0' ||
        strspn(text, "0123456789") != strlen(text)) {
        return ctx_err_set(err, CTX_ECONFIG, "cluster_nodes: bad id or port in \"%.*s\"", (int)len,
                           item);
    }
    m->id = (uint32_t)id;
    m->raft_port = (uint16_t)port;
    snprintf(m->host, sizeof(m->host), "%s", eq + 1);
    return CTX_OK;
}

int cluster_parse_members(const char *text, cluster_member_t *out, int *count, ctx_err_t *err) {
    *count = 0;
    const char *p = text;
    while (*p != '\0') {
        p += strspn(p, " ");
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == ' ') {
            trimmed--;
        }
        if (*count >= CLUSTER_MEMBERS_MAX) {
            return ctx_err_set(err, CTX_ECONFIG, "cluster_nodes: more than %d members",
                               CLUSTER_MEMBERS_MAX);
        }
        int rc = cl_parse_member(p, trimmed, &out[*count], err);
        if (rc != CTX_OK) {
            return rc;
        }
        for (int i = 0; i < *count; i++) {
            if (out[i].id == out[*count].id) {
                return ctx_err_set(err, CTX_ECONFIG, "cluster_nodes: node id %u appears twice",
                                   out[i].id);
            }
        }
        (*count)++;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- rings */

static void cl_pending_free(cl_pending_t *p) {
    store_undo_destroy(p->undo);
    memset(p, 0, sizeof(*p));
}

/* The encoded batch of a pending proposal, from the Raft log (borrowed until the next raft call).
 */
static void cl_pending_batch(cluster_t *c, const cl_pending_t *p, const uint8_t **bytes,
                             uint32_t *len) {
    raft_entry_t e;
    int rc = raft_entry_at(c->raft, p->index, &e);
    CTX_ASSERT(rc == CTX_OK && e.term == p->term); /* uncommitted entries are never compacted */
    *bytes = e.data;
    *len = e.len;
}

/* ---------------------------------------------------------------- applying */

/* Decodes an entry's batch into the scratch arena; CTX_ECORRUPT is a divergence. */
static int cl_decode(cluster_t *c, const uint8_t *bytes, uint32_t len, cmd_batch_t *batch,
                     ctx_err_t *err) {
    arena_reset(&c->scratch);
    return cmd_decode(bytes, len, &c->scratch, batch, err);
}

/* Ops decoded at a time when a committed batch is fed to the index. */
enum { CL_FEED_PIECE_OPS = 4096 };

/* Feeds the index piece by piece, so the scratch holds one piece rather than the whole batch. */
static void cl_feed_index(cluster_t *c, const uint8_t *bytes, uint32_t len) {
    const sql_commit_hooks_t *h = &c->db->hooks;
    if (h->applied == NULL) {
        return;
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    if (cmd_decode_pieces(bytes, len, &c->scratch, CL_FEED_PIECE_OPS, h->applied, h->applied_ctx,
                          &err) != CTX_OK) {
        CTX_WARN("cluster: committed batch not fed to the vector index: %s", err.message);
    }
}

/* A committed batch this node did not propose (or no longer holds): applied as recovery does. */
static void cl_apply_foreign(cluster_t *c, const uint8_t *bytes, uint32_t len, uint64_t index) {
    sql_db_settle(c->db);
    cmd_batch_t batch;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = cl_decode(c, bytes, len, &batch, &err);
    if (rc == CTX_OK) {
        rc = store_apply_logged(c->db->store, &batch, &c->scratch, &err);
    }
    if (rc != CTX_OK) {
        /* every member applies the same batches to the same state: a failure here means this
         * replica diverged, and serving on would spread the damage */
        CTX_ERROR("cluster: committed entry %" PRIu64 " does not apply (%s): this member's state "
                  "diverged; stopping",
                  index, err.message);
        abort();
    }
    if (c->db->hooks.applied != NULL) {
        c->db->hooks.applied(c->db->hooks.applied_ctx, &batch);
    }
}

static void cl_rollback_pending(cluster_t *c);

/* This node's removal reached it (applied, or appended to its log): it stops taking part. */
static void cl_note_removed(cluster_t *c, const char *how) {
    if (c->removed) {
        return;
    }
    c->removed = true;
    for (int i = 0; c->rt != NULL && i < c->peers.count; i++) { /* the others refuse it now */
        (void)rt_remove_peer(c->rt, c->peers.ids[i]);
    }
    c->peers.count = 0;
    CTX_WARN("cluster: node %u was removed from the cluster (%s); it no longer takes part: "
             "stop this process",
             c->cfg.node_id, how);
}

/* Keeps the history and the book on disk (membership.h, Surviving snapshots). */
static void cl_save_membership(cluster_t *c) {
    ctx_err_t err;
    ctx_err_clear(&err);
    if (c->state_path[0] != '\0' &&
        mb_state_save(c->state_path, &c->history, &c->book, &err) != CTX_OK) {
        CTX_ERROR("cluster: could not save the membership (%s); a restart from a snapshot may "
                  "start with an old membership",
                  err.message);
    }
}

/* A committed membership entry or member record (membership.h). */
static void cl_apply_membership(cluster_t *c, const cl_entry_t *e, const uint8_t *data) {
    if (e->type == RAFT_ENTRY_CONF) {
        raft_conf_op_t op;
        uint32_t node = 0;
        if (raft_conf_change_decode(data, e->len, &op, &node) == CTX_OK) {
            (void)raft_conf_apply(&c->applied_conf, op, node);
            if (mb_history_add(&c->history, e->index, &c->applied_conf)) {
                cl_save_membership(c);
            }
            c->was_member |= node == c->cfg.node_id && op != RAFT_CONF_REMOVE;
            if (op == RAFT_CONF_REMOVE && node == c->cfg.node_id) {
                cl_note_removed(c, "its removal committed");
            } else if (op == RAFT_CONF_REMOVE && c->rt != NULL) {
                /* the Raft core no longer replicates to it: tell it (membership.h, Leaving) */
                uint8_t notice[8];
                for (int i = 0; i < 8; i++) {
                    notice[i] = (uint8_t)(e->index >> (56 - 8 * i));
                }
                (void)rt_send(c->rt, node, MB_KIND_REMOVED, notice, sizeof(notice));
            }
        }
        return;
    }
    mb_member_t m;
    if (mb_record_decode(data, e->len, &m) != CTX_OK) {
        CTX_WARN("cluster: entry %" PRIu64 " is a malformed member record; ignored", e->index);
        return;
    }
    const mb_member_t *known = mb_book_find(&c->book, m.id);
    bool same = known != NULL && known->raft_port == m.raft_port && !strcmp(known->host, m.host);
    if (mb_book_set(&c->book, &m) != CTX_OK) {
        CTX_WARN("cluster: no room for the address of member %u", m.id);
    } else if (!same) {
        cl_save_membership(c);
    }
    memset(&c->conf_seen, 0, sizeof(c->conf_seen)); /* peers are synced again */
}

static void cl_apply_entry(cluster_t *c, const cl_entry_t *e, const uint8_t *data) {
    cl_mark(c->committed, e->index, e->term);
    bool own = false;
    if (c->pending_count > 0) {
        cl_pending_t *p = cl_pending_at(c, 0);
        if (p->index == e->index && p->term == e->term) {
            own = true;
            const uint8_t *bytes = NULL;
            uint32_t len = 0;
            cl_pending_batch(c, p, &bytes, &len);
            cl_feed_index(c, bytes, len);
            cl_pending_free(p);
            c->pending_head = (c->pending_head + 1) % CL_PENDING_MAX;
            c->pending_count--;
        } else if (p->index <= e->index) {
            CTX_ERROR("cluster: entry %" PRIu64 " committed in term %" PRIu64
                      " while this node still held its own proposal; rolling back",
                      e->index, e->term);
            cl_rollback_pending(c);
        }
    }
    if (!own && e->type == RAFT_ENTRY_NORMAL && mb_record_is(data, e->len)) {
        cl_apply_membership(c, e, data);
    } else if (!own && e->type == RAFT_ENTRY_NORMAL) {
        cl_apply_foreign(c, data, e->len, e->index);
    } else if (e->type == RAFT_ENTRY_CONF) {
        cl_apply_membership(c, e, data);
    }
    c->applied = e->index;
    c->applied_term = e->term;
}

/* Undoes every pending proposal, newest first (the store is then exactly the applied state). */
static void cl_rollback_pending(cluster_t *c) {
    if (c->pending_count == 0) {
        return;
    }
    sql_db_settle(c->db);
    for (size_t i = c->pending_count; i-- > 0;) {
        cl_pending_t *p = cl_pending_at(c, i);
        store_undo_rollback(c->db->store, p->undo);
        cl_pending_free(p);
    }
    CTX_WARN("cluster: leadership lost with %zu uncommitted entries; they were rolled back",
             c->pending_count);
    c->pending_count = 0;
    c->pending_head = 0;
}

/* ---------------------------------------------------------------- the ready pipeline */

static void cl_stage_free(cl_stage_t *st) {
    buf_free(&st->bytes);
    free(st->msgs);
    free(st->entries);
    free(st->reads);
    free(st);
}

static void cl_stage_push(cluster_t *c, cl_stage_t *st) {
    if (c->tail != NULL) {
        c->tail->next = st;
    } else {
        c->head = st;
    }
    c->tail = st;
}

/* Is the committed entry e one of this node's pending proposals (applied already)? */
static bool cl_is_own(cluster_t *c, const raft_entry_t *e) {
    if (c->pending_count == 0 || c->rollback_queued) {
        return false;
    }
    /* ascending indexes, not always contiguous: membership entries sit between proposals */
    size_t lo = 0, hi = c->pending_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const cl_pending_t *p = cl_pending_at(c, mid);
        if (p->index == e->index) {
            return p->term == e->term;
        }
        if (p->index < e->index) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* Copies the messages that must wait for the batch's durability (the early ones are sent now
 * instead when send_early). */
static cl_stage_t *cl_stage_msgs(cluster_t *c, const raft_ready_t *rd, uint64_t ticket,
                                 bool send_early) {
    cl_stage_t *st = ctx_calloc(1, sizeof(*st));
    st->kind = CL_STAGE_READY;
    st->ticket = ticket;
    buf_init(&st->bytes);
    if (rd->messages_count > 0) {
        st->msgs = ctx_malloc(sizeof(cl_msg_t) * rd->messages_count);
        for (size_t i = 0; i < rd->messages_count; i++) {
            const raft_envelope_t *m = &rd->messages[i];
            if (send_early && m->early) {
                if (c->rt != NULL) {
                    (void)rt_send(c->rt, m->to, RT_KIND_RAFT, m->bytes, m->len);
                }
                continue;
            }
            st->msgs[st->nmsgs++] =
                (cl_msg_t){.to = m->to, .off = buf_size(&st->bytes), .len = m->len};
            buf_append(&st->bytes, m->bytes, m->len);
        }
    }
    if (buf_failed(&st->bytes)) {
        CTX_ERROR("cluster: out of memory copying a ready batch");
        abort(); /* the core already moved on: losing this batch would stall the member */
    }
    return st;
}

/* Copies the committed entries (without the data of this node's own proposals, which are applied
 * already) and the confirmed reads. They wait only for the stages before them: a committed entry
 * is on a majority's disk whether or not this batch's writes are on ours. */
static cl_stage_t *cl_stage_apply(cluster_t *c, const raft_ready_t *rd) {
    cl_stage_t *st = ctx_calloc(1, sizeof(*st));
    st->kind = CL_STAGE_READY;
    buf_init(&st->bytes);
    if (rd->committed_count > 0) {
        st->entries = ctx_malloc(sizeof(cl_entry_t) * rd->committed_count);
        for (size_t i = 0; i < rd->committed_count; i++) {
            const raft_entry_t *e = &rd->committed[i];
            st->entries[i] = (cl_entry_t){.term = e->term,
                                          .index = e->index,
                                          .type = e->type,
                                          .off = buf_size(&st->bytes),
                                          .len = e->len};
            if (!cl_is_own(c, e)) {
                buf_append(&st->bytes, e->data, e->len);
            }
        }
        st->nentries = rd->committed_count;
    }
    if (rd->reads_count > 0) {
        st->reads = ctx_malloc(sizeof(raft_read_state_t) * rd->reads_count);
        memcpy(st->reads, rd->reads, sizeof(raft_read_state_t) * rd->reads_count);
        st->nreads = rd->reads_count;
    }
    if (buf_failed(&st->bytes)) {
        CTX_ERROR("cluster: out of memory copying a ready batch");
        abort(); /* the core already moved on: losing this batch would stall the member */
    }
    return st;
}

static uint8_t cl_wal_type(const raft_entry_t *e) {
    if (e->type == RAFT_ENTRY_NORMAL && mb_record_is(e->data, e->len)) {
        return WAL_TYPE_MEMBER;
    }
    switch (e->type) {
    case RAFT_ENTRY_NOOP:
        return WAL_TYPE_NOOP;
    case RAFT_ENTRY_CONF:
        return WAL_TYPE_CONF;
    default:
        return WAL_TYPE_BATCH;
    }
}

/* Step 2 of raft.h: entries (truncating a conflicting suffix) and the hard state into the WAL.
 * A hard state that only moved the commit index (no must_sync) is not written on its own: every
 * record the WAL writes is fsynced, and a commit index is only a lower bound the leader teaches
 * again; it goes with the next batch that syncs anyway (a follower's next entries, a vote). */
static uint64_t cl_persist(cluster_t *c, const raft_ready_t *rd) {
    uint64_t ticket = 0;
    for (size_t i = 0; i < rd->entries_count; i++) {
        const raft_entry_t *e = &rd->entries[i];
        ticket = wal_append_entry(c->wal, e->term, e->index, cl_wal_type(e), e->data, e->len);
        if (ticket == 0) {
            CTX_ERROR("cluster: could not append entry %" PRIu64 " to the WAL", e->index);
            abort(); /* the core counts it as persisted from here on */
        }
    }
    const raft_hard_state_t *h = &rd->hard_state;
    if (rd->must_sync && (h->term != c->hs_written.term || h->vote != c->hs_written.vote ||
                          h->commit != c->hs_written.commit)) {
        c->hs_written = *h;
        uint8_t hs[RAFT_HARD_STATE_SIZE];
        raft_hard_state_encode(&rd->hard_state, hs);
        uint64_t t = wal_save_hard_state(c->wal, hs);
        if (t == 0) {
            CTX_ERROR("cluster: could not append the hard state to the WAL");
            abort();
        }
        ticket = t;
    }
    if (ticket != 0) {
        c->wal_ticket = ticket;
    }
    return ticket;
}

/* Notes role changes; a lost leadership queues the rollback of the pending proposals. */
static void cl_soft_state(cluster_t *c, const raft_ready_t *rd) {
    if (rd->role != c->role || rd->term != c->term || rd->leader != c->leader) {
        CTX_INFO("cluster: node %u is %s in term %" PRIu64 " (leader %u)", c->cfg.node_id,
                 raft_role_name(rd->role), rd->term, rd->leader);
    }
    if (c->role == RAFT_LEADER && (rd->role != RAFT_LEADER || rd->term != c->term)) {
        cl_stage_t *st = ctx_calloc(1, sizeof(*st));
        st->kind = CL_STAGE_ROLLBACK;
        buf_init(&st->bytes);
        cl_stage_push(c, st);
        c->rollback_queued = true;
    }
    if (rd->role == RAFT_LEADER && (c->role != RAFT_LEADER || rd->term != c->term)) {
        c->term_start = raft_last_index(c->raft); /* the no-op this leadership began with */
    }
    c->role = rd->role;
    c->term = rd->term;
    c->leader = rd->leader;
}

static void cl_run_stage(cluster_t *c, cl_stage_t *st) {
    if (st->kind == CL_STAGE_ROLLBACK) {
        cl_rollback_pending(c);
        c->rollback_queued = false;
        return;
    }
    const uint8_t *base = buf_peek(&st->bytes);
    for (size_t i = 0; i < st->nmsgs && c->rt != NULL; i++) {
        (void)rt_send(c->rt, st->msgs[i].to, RT_KIND_RAFT, base + st->msgs[i].off, st->msgs[i].len);
    }
    for (size_t i = 0; i < st->nentries; i++) {
        cl_apply_entry(c, &st->entries[i], base + st->entries[i].off);
    }
    for (size_t i = 0; i < st->nreads; i++) {
        if (st->reads[i].ctx >= c->read_confirmed) {
            c->read_confirmed = st->reads[i].ctx;
            c->read_index = st->reads[i].index;
        }
    }
}

/* A one-member cluster has no follower to catch up: its in-memory log keeps only the newest
 * entries (the WAL keeps them all until a snapshot). A cluster compacts after snapshots. */
static void cl_compact_alone(cluster_t *c) {
    if (c->rt != NULL || c->applied < raft_first_index(c->raft) + 2 * CL_ALONE_LOG_KEEP) {
        return;
    }
    cluster_compact(c, c->applied - CL_ALONE_LOG_KEEP);
}

static void cl_publish(cluster_t *c) {
    atomic_store(&c->pub_role, (uint64_t)c->role);
    atomic_store(&c->pub_term, c->term);
    atomic_store(&c->pub_commit, raft_commit_index(c->raft));
    atomic_store(&c->pub_applied, c->applied);
    atomic_store(&c->pub_leader, c->leader);
}

/* metrics_raft_fn (an HTTP thread): the values the loop published. */
static void cl_metrics(void *ctx, metrics_raft_t *out) {
    cluster_t *c = ctx;
    raft_role_t role = (raft_role_t)atomic_load(&c->pub_role);
    out->role = c->cfg.members_count <= 1 ? "standalone" /* a one-member cluster */
                : role == RAFT_LEADER     ? "leader"
                : role == RAFT_FOLLOWER   ? "follower"
                                          : "candidate";
    out->node_id = c->cfg.node_id;
    out->term = atomic_load(&c->pub_term);
    out->commit_index = atomic_load(&c->pub_commit);
    out->applied_index = atomic_load(&c->pub_applied);
    out->leader_id = atomic_load(&c->pub_leader);
    rt_peer_status_t st; /* the transport's status is safe from any thread */
    if (out->leader_id == c->cfg.node_id) {
        snprintf(out->leader_address, sizeof(out->leader_address), "%s", c->advertise);
    } else if (out->leader_id != RAFT_NONE && c->rt != NULL &&
               rt_peer_status(c->rt, (uint32_t)out->leader_id, &st) == CTX_OK) {
        snprintf(out->leader_address, sizeof(out->leader_address), "%s", st.advertise);
    }
    out->ready = out->leader_id != RAFT_NONE && out->applied_index >= out->commit_index;
}

/* Remembers that the batch's last entry (index, term) is durable once ticket is. A full ring
 * folds the report into its newest one: a later ticket covers the earlier write, and an index
 * the later batch truncated is gone anyway. */
static void cl_persist_note(cluster_t *c, uint64_t ticket, uint64_t index, uint64_t term) {
    cl_persist_t p = {.ticket = ticket, .index = index, .term = term};
    if (c->persist_count == CL_PERSIST_MAX) {
        c->persist[(c->persist_head + c->persist_count - 1) % CL_PERSIST_MAX] = p;
        return;
    }
    c->persist[(c->persist_head + c->persist_count) % CL_PERSIST_MAX] = p;
    c->persist_count++;
}

/* Tells the core which batches the WAL made durable. True when any was reported. */
static bool cl_report_persisted(cluster_t *c) {
    uint64_t durable = wal_durable_ticket(c->wal);
    bool any = false;
    while (c->persist_count > 0 && c->persist[c->persist_head].ticket <= durable) {
        const cl_persist_t *p = &c->persist[c->persist_head];
        raft_persisted(c->raft, p->index, p->term);
        c->persist_head = (c->persist_head + 1) % CL_PERSIST_MAX;
        c->persist_count--;
        any = true;
    }
    return any;
}

/* Runs the stages whose WAL records are durable, in order. True when any ran. */
static bool cl_run_stages(cluster_t *c) {
    bool ran = cl_report_persisted(c);
    while (c->head != NULL) {
        cl_stage_t *st = c->head;
        if (st->ticket != 0 && wal_durable_ticket(c->wal) < st->ticket) {
            break;
        }
        c->head = st->next;
        if (c->head == NULL) {
            c->tail = NULL;
        }
        if (st->votes) {
            c->votes_stages--;
        }
        cl_run_stage(c, st);
        cl_stage_free(st);
        ran = true;
    }
    if (ran) {
        cl_compact_alone(c);
    }
    cl_publish(c);
    return ran;
}

/* After the membership of the newest entry changed: the transport's peers follow it, and a node
 * whose log holds its own removal stops. */
void cl_membership_changed(cluster_t *c) {
    const raft_conf_t *conf = raft_conf(c->raft);
    if (memcmp(conf, &c->conf_seen, sizeof(*conf)) == 0) {
        return;
    }
    c->conf_seen = *conf;
    bool member = mb_conf_has(conf, c->cfg.node_id);
    c->was_member |= member;
    if (c->was_member && !member && conf->voters_count > 0 && c->role != RAFT_LEADER) {
        /* a leader goes on until its own removal commits (then the Raft core steps it down) */
        cl_note_removed(c, "its log holds its removal");
    }
    if (c->removed) {
        return;
    }
    mb_sync_peers(c->rt, &c->peers, &c->book, conf, c->cfg.node_id, cl_now_ms());
}

/* Hands one ready batch over: WAL, early messages, the stage for the rest, advance. True when
 * the batch carried a snapshot to install: snapship takes over and the core waits for it. */
static bool cl_hand_over(cluster_t *c) {
    raft_ready_t rd;
    raft_ready(c->raft, &rd);
    cl_soft_state(c, &rd);
    if (rd.snapshot != NULL) {
        /* Step 1: snapship pulls the leader's snapshot, installs it and restarts this member
         * into it. Until then the core is frozen (cluster_on_notify) and nothing of this
         * batch goes out: its acknowledgement would claim the snapshot is installed. */
        uint64_t index = rd.snapshot->index;
        c->hs_term = rd.hard_state.term;
        c->hs_vote = rd.hard_state.vote;
        (void)cl_persist(c, &rd);
        raft_advance(c->raft, &rd);
        ship_begin(c->ship, rd.leader, index);
        return true;
    }
    bool votes = rd.hard_state.term != c->hs_term || rd.hard_state.vote != c->hs_vote;
    c->hs_term = rd.hard_state.term;
    c->hs_vote = rd.hard_state.vote;
    uint64_t ticket = cl_persist(c, &rd);
    if (rd.entries_count > 0) {
        const raft_entry_t *last = &rd.entries[rd.entries_count - 1];
        cl_persist_note(c, ticket, last->index, last->term);
    }
    cl_stage_t *apply = cl_stage_apply(c, &rd);
    /* What waits does so for every record written so far, not only this batch's: an earlier
     * batch's entries may have had no stage of their own (a leader's, all early). */
    cl_stage_t *msgs = cl_stage_msgs(c, &rd, c->wal_ticket, c->votes_stages == 0);
    raft_advance(c->raft, &rd);
    if (apply->nentries > 0 || apply->nreads > 0) {
        cl_stage_push(c, apply);
    } else {
        cl_stage_free(apply);
    }
    msgs->votes = votes;
    if (msgs->nmsgs > 0 || votes) {
        c->votes_stages += votes ? 1 : 0;
        cl_stage_push(c, msgs);
    } else {
        cl_stage_free(msgs); /* nothing waits for this batch's durability but the persist ring */
    }
    return false;
}

/* Hands every ready batch over to the pipeline and runs what is durable, until neither yields
 * more (a durable report can let the leader commit, which is another batch). */
static bool cl_process(cluster_t *c) {
    bool any = false;
    for (int round = 0; round < 64; round++) {
        bool moved = false;
        for (int n = 0; n < 64 && raft_has_ready(c->raft); n++) {
            moved = true;
            if (cl_hand_over(c)) { /* installing a snapshot: the core waits for it */
                cl_membership_changed(c);
                return true;
            }
        }
        moved = cl_run_stages(c) || moved;
        any = any || moved;
        if (!moved || !raft_has_ready(c->raft)) {
            break;
        }
    }
    cl_membership_changed(c);
    return any;
}

/* ---------------------------------------------------------------- events */

static void *cl_ticker_main(void *arg) {
    cluster_t *c = arg;
    struct timespec interval = {.tv_sec = 0, .tv_nsec = CLUSTER_TICK_MS * 1000000L};
    while (!atomic_load(&c->stop)) {
        nanosleep(&interval, NULL);
        cl_wake(c);
    }
    return NULL;
}

/* Leader, once per tick: proposes the promotion of a learner that has caught up. */
static void cl_promote(cluster_t *c) {
    if (c->role != RAFT_LEADER || raft_conf(c->raft)->learners_count == 0) {
        return;
    }
    uint32_t id = mb_promote_check(&c->promoter, c->raft);
    uint64_t index = 0;
    if (id != RAFT_NONE && raft_propose_conf(c->raft, RAFT_CONF_PROMOTE, id, &index) == CTX_OK) {
        CTX_INFO("cluster: learner %u caught up; promoting it to voter (entry %" PRIu64 ")", id,
                 index);
        memset(&c->promoter, 0, sizeof(c->promoter));
    }
}

static void cl_tick(cluster_t *c) {
    uint64_t now = cl_now_ms();
    uint64_t ticks = (now - c->last_tick_ms) / CLUSTER_TICK_MS;
    if (ticks == 0) {
        return;
    }
    c->last_tick_ms += ticks * CLUSTER_TICK_MS;
    if (ticks > CL_TICKS_CATCH_UP_MAX) {
        ticks = CL_TICKS_CATCH_UP_MAX; /* a stalled loop does not trigger a burst of elections */
    }
    for (uint64_t i = 0; i < ticks && !c->removed; i++) {
        raft_tick(c->raft);
        cl_promote(c);
    }
    if (!c->removed) {
        mb_sync_peers(c->rt, &c->peers, &c->book, raft_conf(c->raft), c->cfg.node_id, now);
    }
}

static void cl_receive(cluster_t *c) {
    if (c->rt == NULL) {
        return;
    }
    rt_frame_t frames[CL_RECV_MAX];
    size_t n = rt_recv(c->rt, frames, CL_RECV_MAX);
    for (size_t i = 0; i < n; i++) {
        if (frames[i].kind == MB_KIND_REMOVED && frames[i].len == 8) {
            cl_note_removed(c, "a member applied its removal"); /* an authenticated member */
        }
        if (frames[i].kind == RT_KIND_SNAPSHOT) {
            ship_on_frame(c->ship, frames[i].from, frames[i].bytes, frames[i].len);
        }
        if (frames[i].kind != RT_KIND_RAFT || c->removed || ship_active(c->ship)) {
            continue; /* while a snapshot is pulled the core is frozen: Raft retries */
        }
        int rc = raft_step(c->raft, frames[i].bytes, frames[i].len);
        if (rc == CTX_ENOMEM) {
            CTX_WARN("cluster: out of memory for entries from node %u; they come again",
                     frames[i].from);
        } else if (rc != CTX_OK) {
            CTX_WARN("cluster: dropped a bad message from node %u (%s)", frames[i].from,
                     ctx_sqlstate(rc));
        }
    }
    if (n == CL_RECV_MAX) {
        cl_wake(c); /* more are queued */
    }
}

void cluster_on_notify(cluster_t *c) {
    if (ship_active(c->ship)) {
        cl_receive(c);
        ship_poll(c->ship);
        return;
    }
    cl_tick(c);
    cl_receive(c);
    (void)cl_process(c);
}

/* ---------------------------------------------------------------- snapshots */

void cluster_applied_position(const cluster_t *c, uint64_t *index, uint64_t *term) {
    *index = c->applied;
    *term = c->applied_term;
}

/* Takes the pending proposals out of the store (newest first) before a snapshot fork. */
void cluster_settle(cluster_t *c) {
    sql_db_settle(c->db);
    for (size_t i = c->pending_count; i-- > 0;) {
        store_undo_rollback(c->db->store, cl_pending_at(c, i)->undo);
    }
}

/* Puts them back, oldest first, exactly as they were applied. */
void cluster_unsettle(cluster_t *c) {
    for (size_t i = 0; i < c->pending_count; i++) {
        cl_pending_t *p = cl_pending_at(c, i);
        cmd_batch_t batch;
        ctx_err_t err;
        ctx_err_clear(&err);
        const uint8_t *bytes = NULL;
        uint32_t len = 0;
        cl_pending_batch(c, p, &bytes, &len);
        int rc = cl_decode(c, bytes, len, &batch, &err);
        if (rc == CTX_OK) {
            rc = store_apply(c->db->store, &batch, p->undo, &c->scratch, NULL, &err);
        }
        if (rc != CTX_OK) {
            CTX_ERROR("cluster: pending entry %" PRIu64 " no longer applies (%s)", p->index,
                      err.message);
            abort(); /* the same batches on the same state: cannot fail */
        }
    }
}

void cluster_compact(cluster_t *c, uint64_t index) {
    if (index <= raft_first_index(c->raft) || index > c->applied) {
        return;
    }
    uint64_t term = 0;
    if (raft_term_at(c->raft, index, &term) != CTX_OK) {
        return;
    }
    uint8_t desc[16]; /* what a snapshot message carries: the index and term it covers */
    for (int i = 0; i < 8; i++) {
        desc[i] = (uint8_t)(index >> (56 - 8 * i));
        desc[8 + i] = (uint8_t)(term >> (56 - 8 * i));
    }
    if (raft_compact(c->raft, index, desc, sizeof(desc)) != CTX_OK) {
        CTX_WARN("cluster: could not compact the in-memory log through %" PRIu64, index);
    }
}

/* ---------------------------------------------------------------- open / close */

static uint8_t cl_raft_type(uint8_t wal_type) {
    return wal_type == WAL_TYPE_NOOP   ? RAFT_ENTRY_NOOP
           : wal_type == WAL_TYPE_CONF ? RAFT_ENTRY_CONF
                                       : RAFT_ENTRY_NORMAL; /* BATCH and MEMBER */
}

static void cl_conf(const cluster_t *c, raft_conf_t *conf) {
    memset(conf, 0, sizeof(*conf));
    for (int i = 0; i < c->cfg.members_count && conf->voters_count < RAFT_VOTERS_MAX; i++) {
        conf->voters[conf->voters_count++] = c->members[i].id;
    }
    if (conf->voters_count == 0) {
        conf->voters[conf->voters_count++] = c->cfg.node_id;
    }
}

/* The Raft node from what recovery read: the snapshot (its membership is the configured one),
 * the newest hard state and the entries after the snapshot. A log that starts with the
 * bootstrap entries (or an empty one) bootstraps; an older single-node log (term 0, no
 * bootstrap entries) starts as if from a snapshot at the entry before its first. */
static int cl_raft_new(cluster_t *c, ctx_err_t *err) {
    uint64_t snap_term = 0;
    const recovery_info_t *ri = durability_recovered(c->dur, &snap_term);
    raft_conf_t conf;
    cl_conf(c, &conf);
    raft_restore_t restore;
    memset(&restore, 0, sizeof(restore));
    if (ri->wal.has_hard_state &&
        raft_hard_state_decode(ri->wal.last_hard_state, RAFT_HARD_STATE_SIZE,
                               &restore.hard_state) != CTX_OK) {
        return ctx_err_set(err, CTX_ECORRUPT, "the WAL's Raft hard state is damaged");
    }
    raft_entry_t *entries =
        ri->entries_count > 0 ? ctx_calloc(ri->entries_count, sizeof(raft_entry_t)) : NULL;
    for (size_t i = 0; i < ri->entries_count; i++) {
        const recovery_entry_t *e = &ri->entries[i];
        entries[i] = (raft_entry_t){.term = e->term,
                                    .index = e->index,
                                    .type = cl_raft_type(e->type),
                                    .len = e->len,
                                    .data = e->payload};
    }
    restore.entries = entries;
    restore.entries_count = ri->entries_count;
    uint64_t last =
        ri->entries_count > 0 ? entries[ri->entries_count - 1].index : ri->snapshot_index;
    if (restore.hard_state.commit > last) {
        restore.hard_state.commit = last; /* a lower bound is always safe */
    }
    c->hs_written = restore.hard_state;
    c->hs_term = restore.hard_state.term;
    c->hs_vote = restore.hard_state.vote;
    raft_snapshot_t snap = {.index = ri->snapshot_index, .term = snap_term, .conf = conf};
    (void)mb_history_at(&c->history, snap.index, &snap.conf); /* else the configured voters */
    bool bootstrap_log =
        ri->entries_count == 0 || (entries[0].index == 1 && entries[0].type == RAFT_ENTRY_CONF);
    if (ri->snapshot_id != 0 || !bootstrap_log) {
        if (ri->snapshot_id == 0) {
            snap.index = entries[0].index - 1;
        }
        restore.snapshot = &snap;
        c->applied_conf = snap.conf;
    } else if (!c->cfg.join) {
        restore.bootstrap = &conf; /* a joiner learns the bootstrap entries from the leader */
    }
    raft_rng_seed(&c->rng, (uint64_t)cl_now_ms() * 0x9e3779b97f4a7c15ULL ^ c->cfg.node_id);
    raft_config_t rc_cfg = {.id = c->cfg.node_id,
                            .election_ticks = CLUSTER_ELECTION_TICKS,
                            .heartbeat_ticks = CLUSTER_HEARTBEAT_TICKS,
                            .inflight_max = RAFT_INFLIGHT_MAX,
                            .msg_entries_max = RAFT_MSG_ENTRIES_MAX,
                            .msg_bytes_max = 4u << 20,
                            .pre_vote = true,
                            .check_quorum = true,
                            .rng = &c->rng};
    int rc = raft_new(&rc_cfg, &restore, &c->raft);
    free(entries);
    if (rc != CTX_OK) {
        return ctx_err_set(err, rc == CTX_EBAD_PARAM ? CTX_ECONFIG : CTX_ECORRUPT,
                           "the Raft log in the WAL is inconsistent with the configuration (node "
                           "%u, %d members)",
                           c->cfg.node_id, conf.voters_count);
    }
    c->applied = ri->snapshot_index;
    c->applied_term = snap_term;
    durability_recovered_free(c->dur);
    return CTX_OK;
}

int cluster_start(cluster_t *c, const char *advertise, ctx_err_t *err) {
    snprintf(c->advertise, sizeof(c->advertise), "%s", advertise);
    cl_publish(c);
    metrics_set_raft_source(cl_metrics, c);
    if (c->cfg.members_count <= 1) {
        return CTX_OK;
    }
    rt_peer_t peers[CLUSTER_MEMBERS_MAX];
    size_t n = 0;
    for (int i = 0; i < c->cfg.members_count; i++) {
        if (c->members[i].id == c->cfg.node_id) {
            continue;
        }
        peers[n].id = c->members[i].id;
        snprintf(peers[n].host, sizeof(peers[n].host), "%s", c->members[i].host);
        peers[n].port = c->members[i].raft_port;
        c->peers.ids[c->peers.count++] = c->members[i].id;
        n++;
    }
    rt_config_t rc = {.self_id = c->cfg.node_id,
                      .listen_host = c->cfg.raft_host,
                      .listen_port = c->cfg.raft_port,
                      .peers = peers,
                      .peers_count = n,
                      .secret = c->secret,
                      .advertise = c->advertise,
                      .queue_bytes_max = 0,
                      .notify_fd = c->efd};
    if (rt_start(&rc, &c->rt, err) != CTX_OK) {
        return err->code != CTX_OK ? err->code : CTX_EIO;
    }
    if (pthread_create(&c->ticker, NULL, cl_ticker_main, c) != 0) {
        return ctx_err_set(err, CTX_EIO, "could not start the Raft ticker thread");
    }
    c->ticker_started = true;
    CTX_INFO("cluster: node %u of %d%s, Raft on %s:%u", c->cfg.node_id, c->cfg.members_count,
             c->cfg.join ? " (joining: waits for ALTER CLUSTER ADD NODE on the leader)" : "",
             c->cfg.raft_host, rt_listen_port(c->rt));
    memset(&c->conf_seen, 0, sizeof(c->conf_seen));
    cl_membership_changed(c); /* member records applied before the transport existed */
    return CTX_OK;
}

/* Alone in its cluster: campaign at once and apply the whole committed log before serving. */
static void cl_lead_alone(cluster_t *c) {
    raft_campaign(c->raft);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 200000};
    for (;;) {
        (void)cl_process(c);
        if (c->role == RAFT_LEADER && c->head == NULL && !raft_has_ready(c->raft) &&
            c->applied >= raft_commit_index(c->raft) && c->applied >= c->term_start) {
            return;
        }
        nanosleep(&pause, NULL);
    }
}

static void cl_position_cb(const void *ctx, uint64_t *index, uint64_t *term) {
    cluster_applied_position(ctx, index, term);
}
static void cl_settle_cb(void *ctx) {
    cluster_settle(ctx);
}
static void cl_unsettle_cb(void *ctx) {
    cluster_unsettle(ctx);
}
static void cl_compact_cb(void *ctx, uint64_t index) {
    cluster_compact(ctx, index);
}

static int cl_ship_send(void *ctx, uint32_t to, const void *bytes, size_t len) {
    cluster_t *c = ctx;
    return c->rt != NULL ? rt_send(c->rt, to, RT_KIND_SNAPSHOT, bytes, len) : CTX_EIO;
}
static int cl_ship_reserve(void *ctx, uint64_t *id) {
    return durability_reserve_snapshot_id(((cluster_t *)ctx)->dur, id);
}
static void cl_ship_restart(void *ctx, const snap_meta_t *installed) {
    ship_restart(((cluster_t *)ctx)->wal, installed);
}
/* Snapshot shipping (snapship.h) from and into <data_dir>/snapshots. */
static int cl_ship_open(cluster_t *c, ctx_err_t *err) {
    ship_config_t sc = {.snap_root = durability_snapshot_root(c->dur),
                        .hooks = {cl_ship_send, cl_ship_reserve, cl_ship_restart, NULL, c}};
    return ship_open(&sc, &c->ship, err);
}

int cluster_open(const cluster_config_t *config, sql_db_t *db, durability_t *dur, cluster_t **out,
                 ctx_err_t *err) {
    cluster_t *c = ctx_calloc(1, sizeof(*c));
    c->cfg = *config;
    for (int i = 0; i < config->members_count && i < CLUSTER_MEMBERS_MAX; i++) {
        c->members[i] = config->members[i];
    }
    c->cfg.members = c->members;
    int rc = CTX_OK;
    if (config->data_dir != NULL) {
        snprintf(c->state_path, sizeof(c->state_path), "%s/cluster-membership", config->data_dir);
        rc = mb_state_load(c->state_path, &c->history, &c->book, err);
    }
    for (int i = 0; i < c->cfg.members_count; i++) {
        (void)mb_book_set(&c->book, &c->members[i]);
    }
    mb_member_t self = {.id = config->node_id, .raft_port = config->raft_port};
    snprintf(self.host, sizeof(self.host), "%s", config->raft_host ? config->raft_host : "");
    (void)mb_book_set(&c->book, &self);
    snprintf(c->secret, sizeof(c->secret), "%s", config->secret ? config->secret : "");
    c->cfg.secret = c->secret;
    c->db = db;
    c->dur = dur;
    c->wal = durability_wal(dur);
    c->efd = config->notify_fd;
    c->pending = ctx_calloc(CL_PENDING_MAX, sizeof(cl_pending_t));
    c->committed = ctx_calloc(CL_RING, sizeof(cl_mark_t));
    buf_init(&c->enc);
    arena_init(&c->scratch);
    c->last_tick_ms = cl_now_ms();
    rc = rc != CTX_OK ? rc
         : config->members_count > 1 && c->secret[0] == '\0'
             ? ctx_err_set(err, CTX_ECONFIG,
                           "cluster_secret must be set when cluster_nodes lists several members")
             : cl_raft_new(c, err);
    rc = rc == CTX_OK ? cl_ship_open(c, err) : rc;
    if (rc != CTX_OK) {
        cluster_close(c);
        return rc;
    }
    db->hooks.log = cl_log;
    db->hooks.log_ctx = c;
    db->hooks.visible_lsn = cl_visible_lsn;
    db->hooks.write_check = cl_write_check;
    db->cluster = (sql_cluster_hooks_t){.members = cl_members, .change = cluster_change, .ctx = c};
    dur_replica_t replica = {cl_position_cb, cl_settle_cb, cl_unsettle_cb, cl_compact_cb, c};
    durability_set_replica(dur, &replica);
    uint32_t lowest = c->cfg.node_id; /* the designated uploader: the lowest member id */
    for (int i = 0; i < c->cfg.members_count; i++) {
        lowest = c->members[i].id < lowest ? c->members[i].id : lowest;
    }
    durability_set_uploader(dur, lowest == c->cfg.node_id);
    if (config->members_count <= 1) {
        cl_lead_alone(c);
    }
    *out = c;
    return CTX_OK;
}

/* Graceful shutdown of a leader: hands leadership to a connected voter (bounded wait). */
static void cl_transfer_away(cluster_t *c) {
    if (c->rt == NULL || c->role != RAFT_LEADER) {
        return;
    }
    raft_conf_t conf = *raft_conf(c->raft);
    for (int i = 0; i < conf.voters_count; i++) {
        rt_peer_status_t st;
        uint32_t id = conf.voters[i];
        if (id == c->cfg.node_id || rt_peer_status(c->rt, id, &st) != CTX_OK || !st.connected ||
            raft_transfer_leader(c->raft, id) != CTX_OK) {
            continue;
        }
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 2000000};
        for (int t = 0; t < 250 && c->role == RAFT_LEADER; t++) {
            cluster_on_notify(c);
            nanosleep(&pause, NULL);
        }
        CTX_INFO("cluster: leadership %s node %u on shutdown",
                 c->role == RAFT_LEADER ? "could not be handed to" : "handed to", id);
        return;
    }
}

void cluster_close(cluster_t *c) {
    if (c == NULL) {
        return;
    }
    metrics_set_raft_source(NULL, NULL);
    if (c->raft != NULL) {
        cl_transfer_away(c);
    }
    atomic_store(&c->stop, true);
    if (c->ticker_started) {
        pthread_join(c->ticker, NULL);
    }
    rt_stop(c->rt);
    ship_close(c->ship);
    while (c->head != NULL) {
        cl_stage_t *st = c->head;
        c->head = st->next;
        cl_stage_free(st);
    }
    for (size_t i = 0; c->pending != NULL && i < c->pending_count; i++) {
        cl_pending_free(cl_pending_at(c, i));
    }
    free(c->pending);
    free(c->committed);
    raft_free(c->raft);
    buf_free(&c->enc);
    arena_destroy(&c->scratch);
    free(c);
}

void cluster_loop_notify(void *ctx) {
    cluster_t *c = ctx;
    durability_on_notify(c->dur);
    cluster_on_notify(c);
}

int cluster_snapshot_result(void *ctx, uint64_t snapshot_id, ctx_err_t *err) {
    cluster_t *c = ctx;
    return durability_snapshot_result(c->dur, snapshot_id, err);
}

const char *cluster_secret(const cluster_t *c) {
    return c->secret;
}

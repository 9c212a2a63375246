/*
 * test_raft.c — scenario tests of the Raft core, written as stories (step, then assert), after
 * the cases of the Raft paper: figure 7 log shapes, figure 8, a stale leader in a minority
 * partition, a node rejoining with a divergent log, snapshot install to a far-behind node,
 * removing the leader, learner promotion, leader transfer, ReadIndex and pre-vote.
 *
 * A small harness drives real raft_t instances: each node has a "disk" (hard state, snapshot,
 * entries) fed by its ready batches, so it can be crashed and restarted; messages go through a
 * FIFO queue of encoded bytes with per-link cuts. Delivery is explicit, so each story controls
 * exactly which messages arrive.
 */
#include "buf.h"
#include "ctx.h"
#include "raft.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TC_NODES_MAX = 8, TC_READS_MAX = 64, TC_SETTLE_MAX = 200000 };

typedef struct tc_stored {
    uint64_t term;
    uint8_t type;
    uint32_t len;
    uint8_t *data;
} tc_stored_t;

typedef struct tc_node {
    raft_t *r;
    raft_rng_t rng;
    bool up;
    bool initial;
    raft_hard_state_t hs;
    bool has_snap;
    raft_snapshot_t snap; /* data owned in snap_data */
    uint8_t *snap_data;
    tc_stored_t *ents; /* index = snap.index + 1 + i */
    size_t count;
    uint64_t applied;
    uint64_t applied_normal;
    char last_normal[64];
    raft_read_state_t reads[TC_READS_MAX];
    int reads_count;
    int snapshots_installed;
    bool slow_disk;      /* batches are written but their durability is not reported yet */
    uint64_t unreported; /* with slow_disk: last entry written and not reported (0: none) */
    uint64_t unreported_term;
    int early_sent;        /* messages marked early, all batches */
    bool probe;            /* record the next batch that sends something: */
    uint8_t probe_type;    /* its first message's type */
    bool probe_early;      /* and mark */
    bool probe_term_moved; /* the batch changed the term */
} tc_node_t;

typedef struct tc_msg {
    uint32_t from;
    uint32_t to;
    uint8_t *bytes;
    size_t len;
} tc_msg_t;

typedef struct tc {
    int n; /* node slots in use: ids 1..n */
    tc_node_t nodes[TC_NODES_MAX + 1];
    raft_conf_t bootstrap;
    raft_config_t cfg;
    tc_msg_t *q;
    size_t head, count, cap;
    bool cut[TC_NODES_MAX + 1][TC_NODES_MAX + 1];
    int append_rejects; /* rejected appends delivered so far */
} tc_t;

static tc_t tc; /* one cluster per test (check forks each test) */

/* ---- disk and ready handling ------------------------------------------------------------ */

/* Disk: drops stored entries after index. */
static void tc_store_truncate(tc_node_t *n, uint64_t index) {
    uint64_t base = n->has_snap ? n->snap.index : 0;
    while (n->count > 0 && base + n->count > index) {
        free(n->ents[--n->count].data);
    }
}

/* Disk: appends a copy of e (must follow the last stored entry). */
static void tc_store_append(tc_node_t *n, const raft_entry_t *e) {
    uint64_t base = n->has_snap ? n->snap.index : 0;
    ck_assert_uint_eq(e->index, base + n->count + 1);
    n->ents = realloc(n->ents, (n->count + 1) * sizeof(tc_stored_t));
    tc_stored_t *s = &n->ents[n->count++];
    s->term = e->term;
    s->type = e->type;
    s->len = e->len;
    s->data = malloc(e->len + 1);
    if (e->len > 0) {
        memcpy(s->data, e->data, e->len);
    }
}

/* Disk: stores a snapshot; keep_tail keeps later entries (local compaction). */
static void tc_store_snapshot(tc_node_t *n, const raft_snapshot_t *snap, bool keep_tail) {
    uint64_t base = n->has_snap ? n->snap.index : 0;
    if (!keep_tail || snap->index >= base + n->count) {
        tc_store_truncate(n, base);
    } else {
        size_t drop = (size_t)(snap->index - base);
        for (size_t i = 0; i < drop; i++) {
            free(n->ents[i].data);
        }
        memmove(n->ents, n->ents + drop, (n->count - drop) * sizeof(tc_stored_t));
        n->count -= drop;
    }
    free(n->snap_data);
    n->snap_data = malloc(snap->len + 1);
    if (snap->len > 0) {
        memcpy(n->snap_data, snap->data, snap->len);
    }
    n->snap = *snap;
    n->snap.data = n->snap_data;
    n->has_snap = true;
}

/* Queues a copy of an encoded message: the queue is q[head, count). */
static void tc_send(uint32_t from, const raft_envelope_t *env) {
    if (tc.count == tc.cap) {
        tc.cap = tc.cap == 0 ? 256 : tc.cap * 2;
        tc.q = realloc(tc.q, tc.cap * sizeof(tc_msg_t));
    }
    tc_msg_t *m = &tc.q[tc.count++];
    m->from = from;
    m->to = env->to;
    m->len = env->len;
    m->bytes = malloc(env->len);
    memcpy(m->bytes, env->bytes, env->len);
}

/* State machine: applies e in order, remembering the last normal payload. */
static void tc_apply(tc_node_t *n, const raft_entry_t *e) {
    ck_assert_uint_eq(e->index, n->applied + 1);
    n->applied = e->index;
    if (e->type == RAFT_ENTRY_NORMAL) {
        n->applied_normal++;
        size_t len = e->len < sizeof(n->last_normal) - 1 ? e->len : sizeof(n->last_normal) - 1;
        if (len > 0) {
            memcpy(n->last_normal, e->data, len);
        }
        n->last_normal[len] = '\0';
    }
}

/* Handles every ready batch of node id: persist, send, apply, collect reads. */
static void tc_process(uint32_t id) {
    tc_node_t *n = &tc.nodes[id];
    while (n->up && raft_has_ready(n->r)) {
        raft_ready_t rd;
        raft_ready(n->r, &rd);
        if (rd.snapshot != NULL) {
            tc_store_snapshot(n, rd.snapshot, false);
            n->applied = rd.snapshot->index;
            n->snapshots_installed++;
        }
        if (rd.entries_count > 0) {
            tc_store_truncate(n, rd.entries[0].index - 1);
            for (size_t i = 0; i < rd.entries_count; i++) {
                tc_store_append(n, &rd.entries[i]);
            }
        }
        if (n->probe && rd.messages_count > 0) {
            n->probe = false;
            n->probe_type = rd.messages[0].type;
            n->probe_early = rd.messages[0].early;
            n->probe_term_moved = rd.hard_state.term != n->hs.term;
        }
        n->hs = rd.hard_state;
        for (size_t i = 0; i < rd.messages_count; i++) {
            tc_send(id, &rd.messages[i]);
        }
        for (size_t i = 0; i < rd.committed_count; i++) {
            tc_apply(n, &rd.committed[i]);
        }
        for (size_t i = 0; i < rd.reads_count && n->reads_count < TC_READS_MAX; i++) {
            n->reads[n->reads_count++] = rd.reads[i];
        }
        for (size_t i = 0; i < rd.messages_count; i++) {
            n->early_sent += rd.messages[i].early ? 1 : 0;
        }
        if (rd.entries_count > 0) {
            n->unreported = rd.entries[rd.entries_count - 1].index;
            n->unreported_term = rd.entries[rd.entries_count - 1].term;
        }
        raft_advance(n->r, &rd);
        if (!n->slow_disk && n->unreported != 0) {
            raft_persisted(n->r, n->unreported, n->unreported_term);
            n->unreported = 0;
        }
    }
}

/* A slow disk finishes: reports the entries written so far as durable, handles the result. */
static void tc_disk_done(uint32_t id) {
    tc_node_t *n = &tc.nodes[id];
    if (n->unreported != 0) {
        raft_persisted(n->r, n->unreported, n->unreported_term);
        n->unreported = 0;
    }
    tc_process(id);
}

/* ---- cluster lifecycle ------------------------------------------------------------------ */

/* Starts node id from its disk (bootstrap membership for initial nodes), as after a restart. */
static void tc_boot(uint32_t id) {
    tc_node_t *n = &tc.nodes[id];
    raft_entry_t *ents = calloc(n->count + 1, sizeof(raft_entry_t));
    uint64_t base = n->has_snap ? n->snap.index : 0;
    for (size_t i = 0; i < n->count; i++) {
        ents[i] = (raft_entry_t){.term = n->ents[i].term,
                                 .index = base + 1 + i,
                                 .type = n->ents[i].type,
                                 .len = n->ents[i].len,
                                 .data = n->ents[i].data};
    }
    raft_restore_t restore = {.hard_state = n->hs,
                              .snapshot = n->has_snap ? &n->snap : NULL,
                              .bootstrap = n->initial ? &tc.bootstrap : NULL,
                              .entries = ents,
                              .entries_count = n->count};
    raft_config_t cfg = tc.cfg;
    cfg.id = id;
    cfg.rng = &n->rng;
    raft_rng_seed(&n->rng, id * 7919u);
    ck_assert_int_eq(raft_new(&cfg, &restore, &n->r), 0);
    free(ents);
    n->up = true;
    n->applied = n->has_snap ? n->snap.index : 0;
    n->applied_normal = 0; /* the state machine restarts from the snapshot and replays */
    n->reads_count = 0;
    tc_process(id);
}

/* Default core configuration: 10-tick elections, 2-tick heartbeats, pre-vote and check-quorum. */
static void tc_config_default(void) {
    tc.cfg = (raft_config_t){.election_ticks = 10,
                             .heartbeat_ticks = 2,
                             .inflight_max = 4,
                             .msg_entries_max = 64,
                             .msg_bytes_max = 1 << 20,
                             .pre_vote = true,
                             .check_quorum = true};
}

/* A cluster of `voters` bootstrapped voters; slots up to `slots` exist for joiners. */
static void tc_init(int voters, int slots) {
    memset(&tc, 0, sizeof(tc));
    tc_config_default();
    tc.n = slots;
    tc.bootstrap.voters_count = (uint8_t)voters;
    for (int i = 0; i < voters; i++) {
        tc.bootstrap.voters[i] = (uint32_t)i + 1;
    }
    for (int i = 1; i <= voters; i++) {
        tc.nodes[i].initial = true;
    }
}

/* Boots every initial voter. */
static void tc_start_all(void) {
    for (uint32_t i = 1; i <= tc.bootstrap.voters_count; i++) {
        tc_boot(i);
    }
}

/* Kills node id; its disk survives. */
static void tc_crash(uint32_t id) {
    raft_free(tc.nodes[id].r);
    tc.nodes[id].r = NULL;
    tc.nodes[id].up = false;
}

/* Cuts (or restores) every link of node id, both ways. */
static void tc_isolate(uint32_t id, bool cut) {
    for (int j = 1; j <= TC_NODES_MAX; j++) {
        if ((uint32_t)j != id) {
            tc.cut[id][j] = cut;
            tc.cut[j][id] = cut;
        }
    }
}

/* Restores every link. */
static void tc_heal(void) {
    memset(tc.cut, 0, sizeof(tc.cut));
}

/* Delivers the oldest queued message (dropped if its link is cut or its target is down). */
static bool tc_deliver_one(void) {
    if (tc.head == tc.count) {
        tc.head = 0;
        tc.count = 0;
        return false;
    }
    tc_msg_t m = tc.q[tc.head++];
    tc_node_t *n = &tc.nodes[m.to];
    if (n->up && !tc.cut[m.from][m.to]) {
        raft_msg_t decoded;
        raft_entry_t ents[RAFT_MSG_ENTRIES_MAX];
        ck_assert_int_eq(raft_msg_decode(m.bytes, m.len, &decoded, ents, RAFT_MSG_ENTRIES_MAX), 0);
        if (decoded.type == RAFT_MSG_APPEND_RESP && decoded.reject) {
            tc.append_rejects++;
        }
        ck_assert_int_eq(raft_step(n->r, m.bytes, m.len), 0);
        tc_process(m.to);
    }
    free(m.bytes);
    return true;
}

/* Delivers until the queue is empty (bounded). */
static void tc_settle(void) {
    for (int i = 0; i < TC_SETTLE_MAX && tc_deliver_one(); i++) {
    }
    ck_assert_uint_eq(tc.count, tc.head);
}

/* k rounds of: tick every live node, then deliver everything. */
static void tc_ticks(int k) {
    for (int t = 0; t < k; t++) {
        for (int i = 1; i <= tc.n; i++) {
            if (tc.nodes[i].up) {
                raft_tick(tc.nodes[i].r);
                tc_process((uint32_t)i);
            }
        }
        tc_settle();
    }
}

/* The live leader with the highest term, 0 if none. */
static uint32_t tc_leader(void) {
    uint32_t best = 0;
    for (int i = 1; i <= tc.n; i++) {
        tc_node_t *n = &tc.nodes[i];
        if (n->up && raft_role(n->r) == RAFT_LEADER &&
            (best == 0 || raft_term(n->r) > raft_term(tc.nodes[best].r))) {
            best = (uint32_t)i;
        }
    }
    return best;
}

/* Frees the cluster. */
static void tc_free(void) {
    for (int i = 0; i <= TC_NODES_MAX; i++) {
        tc_node_t *n = &tc.nodes[i];
        raft_free(n->r);
        for (size_t j = 0; j < n->count; j++) {
            free(n->ents[j].data);
        }
        free(n->ents);
        free(n->snap_data);
    }
    for (size_t i = tc.head; i < tc.count; i++) {
        free(tc.q[i].bytes);
    }
    free(tc.q);
}

/* The core of live node id. */
static raft_t *R(uint32_t id) {
    ck_assert(tc.nodes[id].up);
    return tc.nodes[id].r;
}

/* Proposes text on node id and handles the resulting batch; returns raft_propose()'s code. */
static int tc_propose(uint32_t id, const char *text) {
    int rc = raft_propose(R(id), text, (uint32_t)strlen(text), NULL);
    tc_process(id);
    return rc;
}

/* Term of index in node id's log (asserted present). */
static uint64_t tc_term_at(uint32_t id, uint64_t index) {
    uint64_t term = 0;
    ck_assert_int_eq(raft_term_at(R(id), index, &term), 0);
    return term;
}

/* Same last index and the same term at every index both still hold. */
static void tc_assert_logs_equal(uint32_t a, uint32_t b) {
    ck_assert_uint_eq(raft_last_index(R(a)), raft_last_index(R(b)));
    uint64_t first = raft_first_index(R(a)) > raft_first_index(R(b)) ? raft_first_index(R(a))
                                                                     : raft_first_index(R(b));
    for (uint64_t i = first; i <= raft_last_index(R(a)); i++) {
        ck_assert_uint_eq(tc_term_at(a, i), tc_term_at(b, i));
    }
}

/* Gives node id a log of the given terms (data "e<index>") under a snapshot at index 0 that
 * holds the membership, and a hard state at hs_term. */
static void tc_preset_log(uint32_t id, const uint64_t *terms, size_t count, uint64_t hs_term) {
    tc_node_t *n = &tc.nodes[id];
    n->initial = false;
    raft_snapshot_t snap = {.index = 0, .term = 0, .conf = tc.bootstrap, .data = NULL, .len = 0};
    tc_store_snapshot(n, &snap, false);
    for (size_t i = 0; i < count; i++) {
        char text[32];
        snprintf(text, sizeof(text), "e%zu", i + 1);
        raft_entry_t e = {.term = terms[i],
                          .index = i + 1,
                          .type = RAFT_ENTRY_NORMAL,
                          .len = (uint32_t)strlen(text),
                          .data = (const uint8_t *)text};
        tc_store_append(n, &e);
    }
    n->hs = (raft_hard_state_t){.term = hs_term};
}

/* Elects id through its own campaign (pre-vote included) and returns the term. */
static uint64_t tc_elect(uint32_t id) {
    raft_campaign(R(id));
    tc_process(id);
    tc_settle();
    ck_assert_int_eq(raft_role(R(id)), RAFT_LEADER);
    return raft_term(R(id));
}

/* ---- stories ---------------------------------------------------------------------------- */

START_TEST(test_election_and_replication) {
    tc_init(3, 3);
    tc_start_all();
    /* Bootstrap: three committed membership entries at term 1, applied everywhere. */
    for (uint32_t i = 1; i <= 3; i++) {
        ck_assert_uint_eq(raft_commit_index(R(i)), 3);
        ck_assert_uint_eq(tc.nodes[i].applied, 3);
        ck_assert_uint_eq(raft_conf(R(i))->voters_count, 3);
    }
    tc_ticks(40);
    uint32_t l = tc_leader();
    ck_assert_uint_ne(l, 0);
    int leaders = 0;
    for (uint32_t i = 1; i <= 3; i++) {
        leaders += raft_role(R(i)) == RAFT_LEADER ? 1 : 0;
        ck_assert_uint_eq(raft_leader(R(i)), l);
    }
    ck_assert_int_eq(leaders, 1);
    ck_assert_int_eq(tc_propose(l == 1 ? 2 : 1, "x"), CTX_EREAD_ONLY); /* followers refuse */
    for (int i = 0; i < 20; i++) {
        char text[16];
        snprintf(text, sizeof(text), "w%d", i);
        ck_assert_int_eq(tc_propose(l, text), 0);
    }
    tc_settle();
    tc_ticks(2);
    for (uint32_t i = 1; i <= 3; i++) {
        ck_assert_uint_eq(tc.nodes[i].applied_normal, 20);
        ck_assert_str_eq(tc.nodes[i].last_normal, "w19");
        tc_assert_logs_equal(l, i);
    }
    tc_free();
}
END_TEST

/* Figure 7: the leader of term 8 and followers (a)-(f) with missing and extraneous entries. */
START_TEST(test_figure7_log_shapes) {
    static const uint64_t leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
    static const uint64_t a[] = {1, 1, 1, 4, 4, 5, 5, 6, 6};
    static const uint64_t b[] = {1, 1, 1, 4};
    static const uint64_t c[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6};
    static const uint64_t d[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7};
    static const uint64_t e[] = {1, 1, 1, 4, 4, 4, 4};
    static const uint64_t f[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
    const uint64_t *logs[] = {leader, a, b, c, d, e, f};
    size_t counts[] = {10, 9, 4, 11, 12, 7, 11};
    tc_init(7, 7);
    tc.cfg.pre_vote = false;
    for (uint32_t i = 1; i <= 7; i++) {
        tc_preset_log(i, logs[i - 1], counts[i - 1], 7);
        tc_boot(i);
    }
    /* Node 1 wins term 8 with a, b, e, f (c and d hold more up-to-date logs and refuse). */
    ck_assert_uint_eq(tc_elect(1), 8);
    tc_ticks(3);
    for (uint32_t i = 2; i <= 7; i++) {
        tc_assert_logs_equal(1, i); /* missing entries filled, extraneous ones (c, d) dropped */
        ck_assert_uint_eq(raft_commit_index(R(i)), 11);
    }
    ck_assert_uint_eq(tc_term_at(5, 11), 8); /* d's term-7 entries were replaced */
    /* Fast backtracking: each follower needs at most two rejections (one per conflicting
     * term of f), not one per entry. */
    ck_assert_int_le(tc.append_rejects, 2 * 6);
    tc_free();
}
END_TEST

/* Figure 8: an entry of an older term replicated on a majority must not be committed by
 * counting; a later leader may legitimately overwrite it. (Leaders here also append a no-op of
 * their term, so the story cuts each leader off at the moment the paper does.) */
START_TEST(test_figure8_old_term_not_committed) {
    tc_init(5, 5);
    tc.cfg.msg_entries_max = 1; /* so index 3 can reach S3 without S1's term-4 no-op */
    tc.cfg.pre_vote = false;
    tc.cfg.check_quorum = false;
    static const uint64_t base[] = {1};
    for (uint32_t i = 1; i <= 5; i++) {
        tc_preset_log(i, base, 1, 1);
        tc_boot(i);
    }
    /* (a) S1 leads term 2 (its no-op, index 2, commits everywhere); index 3 reaches S2 only. */
    ck_assert_uint_eq(tc_elect(1), 2);
    tc_ticks(1);
    ck_assert_uint_eq(raft_commit_index(R(1)), 2);
    tc_isolate(1, true);
    tc.cut[1][2] = tc.cut[2][1] = false;
    ck_assert_int_eq(tc_propose(1, "from-term-2"), 0);
    tc_settle();
    ck_assert_uint_eq(tc_term_at(2, 3), 2);
    /* (b) S1 crashes; S5 wins term 3 with S3 and S4 but is cut off before replicating. */
    tc_crash(1);
    tc_heal();
    tc_isolate(2, true);
    raft_campaign(R(5));
    tc_process(5);
    while (raft_role(R(5)) != RAFT_LEADER && tc_deliver_one()) {
    }
    ck_assert_uint_eq(raft_term(R(5)), 3);
    tc_isolate(5, true);
    ck_assert_int_eq(tc_propose(5, "from-term-3"), 0);
    tc_settle();
    ck_assert_uint_eq(raft_last_index(R(3)), 2);
    tc_crash(5);
    /* (c) S1 restarts and leads term 4 with S2 and S3; S3 receives index 3 (term 2) but not the
     * term-4 no-op. Index 3 is then on S1, S2, S3 — a majority — and must not commit. */
    tc_heal();
    tc_isolate(4, true);
    tc_boot(1);
    raft_campaign(R(1)); /* term 3: S3 already voted for S5 */
    tc_process(1);
    tc_settle();
    raft_campaign(R(1)); /* term 4 */
    tc_process(1);
    while (raft_role(R(1)) != RAFT_LEADER && tc_deliver_one()) {
    }
    ck_assert_uint_eq(raft_term(R(1)), 4);
    while (raft_last_index(R(3)) < 3 && tc_deliver_one()) {
    }
    ck_assert_uint_eq(tc_term_at(3, 3), 2);
    tc.cut[1][3] = true; /* S3's acknowledgement still reaches S1 */
    tc_settle();
    ck_assert_uint_eq(raft_last_index(R(3)), 3);
    ck_assert_uint_eq(raft_commit_index(R(1)), 2); /* figure 8: not committed by counting */
    /* (d) S1 crashes; S5 returns and wins term 5 with S3 and S4 (its last term 3 beats their 2),
     * replacing index 3 — safe, precisely because it was never committed. */
    tc_crash(1);
    tc_heal();
    tc_isolate(2, true);
    tc_boot(5);
    raft_campaign(R(5)); /* term 4: S3 already voted for S1 */
    tc_process(5);
    tc_settle();
    raft_campaign(R(5)); /* term 5 */
    tc_process(5);
    tc_settle();
    ck_assert_int_eq(raft_role(R(5)), RAFT_LEADER);
    ck_assert_uint_eq(raft_term(R(5)), 5);
    tc_heal();
    tc_ticks(5);
    for (uint32_t i = 2; i <= 5; i++) {
        ck_assert_uint_eq(tc_term_at(i, 3), 3);
        ck_assert_uint_eq(raft_commit_index(R(i)), raft_last_index(R(5)));
        ck_assert_str_eq(tc.nodes[i].last_normal, "from-term-3");
    }
    tc_free();
}
END_TEST

START_TEST(test_stale_leader_in_minority) {
    tc_init(5, 5);
    tc_start_all();
    ck_assert_uint_eq(tc_elect(1), 2);
    tc_ticks(2);
    uint64_t commit = raft_commit_index(R(1));
    /* Partition {1, 2} | {3, 4, 5}. */
    for (uint32_t a = 1; a <= 2; a++) {
        for (uint32_t b = 3; b <= 5; b++) {
            tc.cut[a][b] = tc.cut[b][a] = true;
        }
    }
    ck_assert_int_eq(tc_propose(1, "lost"), 0);
    ck_assert_int_eq(raft_read_index(R(1), 99), 0);
    tc_process(1);
    tc_ticks(8);
    ck_assert_uint_eq(raft_commit_index(R(1)), commit); /* no quorum: nothing commits */
    ck_assert_int_eq(tc.nodes[1].reads_count, 0);       /* and no read is confirmed */
    tc_ticks(40);
    /* Check-quorum: the old leader stepped down; the majority elected a leader. */
    ck_assert_int_ne(raft_role(R(1)), RAFT_LEADER);
    uint32_t l = tc_leader();
    ck_assert(l >= 3);
    ck_assert_uint_gt(raft_term(R(l)), 2);
    ck_assert_int_eq(tc_propose(l, "kept"), 0);
    tc_settle();
    tc_ticks(2);
    ck_assert_str_eq(tc.nodes[3].last_normal, "kept");
    /* Heal: the stale entry is replaced on 1 and 2; everyone applies the same sequence. */
    tc_heal();
    tc_ticks(30);
    for (uint32_t i = 1; i <= 5; i++) {
        tc_assert_logs_equal(l, i);
        ck_assert_str_eq(tc.nodes[i].last_normal, "kept");
        ck_assert_uint_eq(tc.nodes[i].applied_normal, 1);
    }
    tc_free();
}
END_TEST

START_TEST(test_rejoin_with_divergent_log) {
    tc_init(3, 3);
    tc_start_all();
    tc_elect(1);
    tc_ticks(2);
    tc_isolate(1, true);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tc_propose(1, "divergent"), 0);
    }
    tc_ticks(40);
    uint32_t l = tc_leader();
    ck_assert(l == 2 || l == 3);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(tc_propose(l, "majority"), 0);
    }
    tc_settle();
    uint64_t last_before = raft_last_index(R(1));
    tc_heal();
    tc_ticks(30);
    ck_assert_int_ne(raft_role(R(1)), RAFT_LEADER);
    tc_assert_logs_equal(l, 1);
    ck_assert_uint_eq(tc.nodes[1].applied_normal, 5);
    ck_assert_str_eq(tc.nodes[1].last_normal, "majority");
    ck_assert_uint_ne(raft_last_index(R(1)), last_before);
    tc_free();
}
END_TEST

/* A follower whose log cannot grow for an AppendEntries keeps what fit, answers with the index
 * it holds, and reports CTX_ENOMEM instead of aborting; the leader sends the rest again. */
START_TEST(test_follower_log_growth_refused) {
    tc_init(3, 3);
    tc_start_all();
    tc_elect(1);
    tc_ticks(2);
    char big[6001]; /* more than the log's first data block: appending it must grow the log */
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(tc_propose(1, big), 0);
    ck_assert_int_eq(tc_propose(1, big), 0);
    raft_msg_t m;
    raft_entry_t ents[RAFT_MSG_ENTRIES_MAX];
    for (;;) { /* deliver up to the first AppendEntries with entries for node 2 */
        ck_assert_uint_lt(tc.head, tc.count);
        const tc_msg_t *next = &tc.q[tc.head];
        ck_assert_int_eq(raft_msg_decode(next->bytes, next->len, &m, ents, RAFT_MSG_ENTRIES_MAX),
                         0);
        if (next->to == 2 && m.type == RAFT_MSG_APPEND && m.entries_count > 0) {
            break;
        }
        tc_deliver_one();
    }
    uint64_t before = raft_last_index(R(2));
    tc_msg_t append = tc.q[tc.head++];
    ctx_alloc_fail_at(1); /* the log's growth is the follower's first allocation */
    ck_assert_int_eq(raft_step(R(2), append.bytes, append.len), CTX_ENOMEM);
    ctx_alloc_fail_at(0);
    free(append.bytes);
    ck_assert_uint_lt(raft_last_index(R(2)), before + m.entries_count);
    tc_process(2);
    tc_settle();
    tc_ticks(5);
    tc_assert_logs_equal(1, 2);
    ck_assert_uint_eq(tc.nodes[2].applied_normal, 2);
    ck_assert_int_eq(strncmp(tc.nodes[2].last_normal, big, sizeof(tc.nodes[2].last_normal) - 1), 0);
    tc_free();
}
END_TEST

START_TEST(test_snapshot_to_far_behind_node) {
    tc_init(3, 3);
    tc_start_all();
    tc_elect(1);
    tc_ticks(2);
    tc_crash(3);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(tc_propose(1, "bulk"), 0);
        tc_settle();
    }
    tc_ticks(2);
    /* Leader and node 2 compact everything they applied. */
    for (uint32_t i = 1; i <= 2; i++) {
        char state[32];
        snprintf(state, sizeof(state), "state@%llu", (unsigned long long)tc.nodes[i].applied);
        uint64_t index = tc.nodes[i].applied;
        ck_assert_int_eq(raft_compact(R(i), index, state, strlen(state)), 0);
        raft_snapshot_t snap = {.index = index,
                                .term = tc_term_at(i, index),
                                .conf = *raft_conf(R(i)),
                                .data = (const uint8_t *)state,
                                .len = strlen(state)};
        tc_store_snapshot(&tc.nodes[i], &snap, true);
        ck_assert_uint_eq(raft_first_index(R(i)), index + 1);
    }
    ck_assert_int_eq(raft_compact(R(1), 5, "x", 1), CTX_EBAD_PARAM); /* below the snapshot */
    uint64_t snap_index = tc.nodes[1].applied;
    tc_boot(3);
    tc_ticks(10);
    ck_assert_int_eq(tc.nodes[3].snapshots_installed, 1);
    ck_assert_uint_eq(tc.nodes[3].snap.index, snap_index);
    ck_assert(memcmp(tc.nodes[3].snap_data, "state@", 6) == 0);
    ck_assert_int_eq(tc_propose(1, "after"), 0);
    tc_settle();
    tc_ticks(2);
    tc_assert_logs_equal(1, 3);
    ck_assert_uint_eq(tc.nodes[3].applied, tc.nodes[1].applied);
    ck_assert_str_eq(tc.nodes[3].last_normal, "after");
    /* It survives a restart from its own disk: snapshot plus the entries after it. */
    tc_crash(3);
    tc_boot(3);
    tc_ticks(3);
    ck_assert_uint_eq(tc.nodes[3].applied, tc.nodes[1].applied);
    tc_free();
}
END_TEST

START_TEST(test_remove_the_leader) {
    tc_init(3, 3);
    tc_start_all();
    tc_elect(1);
    tc_ticks(2);
    ck_assert_int_eq(raft_propose_conf(R(1), RAFT_CONF_REMOVE, 1, NULL), 0);
    tc_process(1);
    /* Only one change at a time. */
    ck_assert_int_eq(raft_propose_conf(R(1), RAFT_CONF_REMOVE, 2, NULL), CTX_ELIMIT);
    tc_settle();
    tc_ticks(30);
    ck_assert_int_ne(raft_role(R(1)), RAFT_LEADER);
    uint32_t l = tc_leader();
    ck_assert(l == 2 || l == 3);
    ck_assert_uint_eq(raft_conf(R(l))->voters_count, 2);
    ck_assert(!raft_conf_is_voter(raft_conf(R(l)), 1));
    ck_assert_int_eq(tc_propose(l, "two-node"), 0);
    tc_settle();
    tc_ticks(2);
    ck_assert_str_eq(tc.nodes[2].last_normal, "two-node");
    ck_assert_str_eq(tc.nodes[3].last_normal, "two-node");
    /* The removed node never campaigns again. */
    uint64_t term = raft_term(R(1));
    tc_isolate(1, true);
    tc_ticks(60);
    ck_assert_uint_eq(raft_term(R(1)), term);
    ck_assert_int_eq(raft_role(R(1)), RAFT_FOLLOWER);
    tc_free();
}
END_TEST

START_TEST(test_learner_catches_up_before_voting) {
    tc_init(3, 4);
    tc_start_all();
    tc_elect(1);
    /* A new leader must commit an entry of its term before any membership change. */
    tc_ticks(0);
    for (int i = 0; i < 30; i++) {
        ck_assert_int_eq(tc_propose(1, "before"), 0);
    }
    tc_settle();
    tc_ticks(2);
    ck_assert_int_eq(raft_propose_conf(R(1), RAFT_CONF_PROMOTE, 4, NULL), CTX_EBAD_PARAM);
    ck_assert_int_eq(raft_propose_conf(R(1), RAFT_CONF_ADD_LEARNER, 4, NULL), 0);
    tc_process(1);
    tc_boot(4); /* joins with an empty disk and no bootstrap */
    tc_isolate(4, true);
    tc_ticks(3);
    ck_assert(raft_conf_is_learner(raft_conf(R(1)), 4));
    /* Committed, but node 4 has nothing yet: promotion is refused. */
    ck_assert_int_eq(raft_propose_conf(R(1), RAFT_CONF_PROMOTE, 4, NULL), CTX_EBAD_PARAM);
    tc_heal();
    tc_ticks(5);
    tc_assert_logs_equal(1, 4);
    ck_assert_uint_eq(raft_conf(R(4))->voters_count, 3); /* learned by replication */
    ck_assert_int_eq(raft_propose_conf(R(1), RAFT_CONF_PROMOTE, 4, NULL), 0);
    tc_process(1);
    tc_settle();
    tc_ticks(3);
    ck_assert(raft_conf_is_voter(raft_conf(R(4)), 4));
    ck_assert_uint_eq(raft_conf(R(1))->voters_count, 4);
    /* With 4 voters a quorum is 3: nodes 1 and 2 alone cannot commit. */
    tc_isolate(3, true);
    tc_isolate(4, true);
    uint64_t commit = raft_commit_index(R(1));
    ck_assert_int_eq(tc_propose(1, "needs-three"), 0);
    tc_settle();
    ck_assert_uint_eq(raft_commit_index(R(1)), commit);
    tc_heal();
    tc_ticks(3);
    ck_assert_str_eq(tc.nodes[4].last_normal, "needs-three");
    tc_free();
}
END_TEST

START_TEST(test_new_leader_commits_before_conf_change) {
    tc_init(3, 4);
    tc_start_all();
    raft_campaign(R(1));
    tc_process(1);
    while (raft_role(R(1)) != RAFT_LEADER && tc_deliver_one()) {
    }
    /* Leader, but its no-op is not committed yet. */
    ck_assert_uint_lt(raft_commit_index(R(1)), raft_last_index(R(1)));
    ck_assert_int_eq(raft_propose_conf(R(1), RAFT_CONF_ADD_LEARNER, 4, NULL), CTX_ELIMIT);
    tc_settle();
    ck_assert_uint_eq(raft_commit_index(R(1)), raft_last_index(R(1)));
    ck_assert_int_eq(raft_propose_conf(R(1), RAFT_CONF_ADD_LEARNER, 4, NULL), 0);
    tc_process(1);
    tc_free();
}
END_TEST

START_TEST(test_leader_transfer) {
    tc_init(3, 3);
    tc_start_all();
    uint64_t term = tc_elect(1);
    tc_ticks(2);
    tc_isolate(3, true);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(tc_propose(1, "pending"), 0);
    }
    ck_assert_int_eq(raft_transfer_leader(R(1), 3), 0);
    ck_assert_int_eq(tc_propose(1, "refused"), CTX_EREAD_ONLY); /* transfer in progress */
    ck_assert_int_eq(raft_transfer_leader(R(2), 3), CTX_EREAD_ONLY);
    ck_assert_int_eq(raft_transfer_leader(R(1), 9), CTX_EBAD_PARAM);
    tc_settle();
    tc_heal();
    /* Node 3 catches up, receives TimeoutNow and wins at once (no election timeout). */
    tc_ticks(3);
    ck_assert_int_eq(raft_role(R(3)), RAFT_LEADER);
    ck_assert_uint_eq(raft_term(R(3)), term + 1);
    ck_assert_int_eq(raft_role(R(1)), RAFT_FOLLOWER);
    ck_assert_int_eq(tc_propose(3, "new-leader"), 0);
    tc_settle();
    tc_ticks(2);
    for (uint32_t i = 1; i <= 3; i++) {
        ck_assert_uint_eq(tc.nodes[i].applied_normal, 6);
    }
    tc_free();
}
END_TEST

START_TEST(test_read_index) {
    tc_init(3, 3);
    tc_start_all();
    tc_elect(1);
    tc_ticks(2);
    ck_assert_int_eq(tc_propose(1, "w1"), 0);
    tc_settle();
    uint64_t commit = raft_commit_index(R(1));
    /* On the leader: confirmed by a heartbeat round, at the commit index. */
    ck_assert_int_eq(raft_read_index(R(1), 7), 0);
    tc_process(1);
    ck_assert_int_eq(tc.nodes[1].reads_count, 0); /* not before the round */
    tc_settle();
    ck_assert_int_eq(tc.nodes[1].reads_count, 1);
    ck_assert_uint_eq(tc.nodes[1].reads[0].ctx, 7);
    ck_assert_uint_eq(tc.nodes[1].reads[0].index, commit);
    /* On a follower: forwarded to the leader, answered to the follower. */
    ck_assert_int_eq(raft_read_index(R(2), 8), 0);
    tc_process(2);
    tc_settle();
    ck_assert_int_eq(tc.nodes[2].reads_count, 1);
    ck_assert_uint_eq(tc.nodes[2].reads[0].ctx, 8);
    ck_assert_uint_ge(tc.nodes[2].reads[0].index, commit);
    /* A leader cut off from everyone confirms nothing. */
    tc_isolate(1, true);
    ck_assert_int_eq(raft_read_index(R(1), 9), 0);
    tc_process(1);
    tc_ticks(5);
    ck_assert_int_eq(tc.nodes[1].reads_count, 1);
    tc_free();
}
END_TEST

START_TEST(test_prevote_keeps_partitioned_node_harmless) {
    tc_init(3, 3);
    tc_start_all();
    uint64_t term = tc_elect(1);
    tc_ticks(2);
    tc_isolate(3, true);
    tc_ticks(100);                            /* ten election timeouts alone */
    ck_assert_uint_eq(raft_term(R(3)), term); /* pre-vote never succeeded: no term inflation */
    ck_assert_int_eq(raft_role(R(3)), RAFT_PRE_CANDIDATE);
    tc_heal();
    tc_ticks(5);
    ck_assert_int_eq(raft_role(R(1)), RAFT_LEADER); /* the healthy leader was not disrupted */
    ck_assert_uint_eq(raft_term(R(1)), term);
    ck_assert_uint_eq(raft_leader(R(3)), 1);
    tc_free();
}
END_TEST

START_TEST(test_restart_keeps_committed_log) {
    tc_init(3, 3);
    tc_start_all();
    tc_elect(2);
    tc_ticks(2);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(tc_propose(2, "durable"), 0);
    }
    tc_settle();
    tc_ticks(2);
    uint64_t last = raft_last_index(R(2));
    for (uint32_t i = 1; i <= 3; i++) {
        tc_crash(i);
    }
    for (uint32_t i = 1; i <= 3; i++) {
        tc_boot(i);
        ck_assert_uint_eq(raft_last_index(R(i)), last);
    }
    tc_ticks(40);
    uint32_t l = tc_leader();
    ck_assert_uint_ne(l, 0);
    for (uint32_t i = 1; i <= 3; i++) {
        ck_assert_uint_eq(tc.nodes[i].applied_normal, 10);
    }
    tc_free();
}
END_TEST

/* Checksummed but inconsistent messages are refused (CTX_EPROTOCOL) or ignored, never trusted. */
START_TEST(test_inconsistent_messages_refused) {
    tc_init(3, 3);
    tc_start_all();
    tc_elect(1);
    tc_ticks(2);
    buf_t b;
    buf_init(&b);
    raft_entry_t ents[2] = {
        {.term = 5, .index = 11, .type = RAFT_ENTRY_NORMAL, .len = 1, .data = (const uint8_t *)"a"},
        {.term = 4,
         .index = 12,
         .type = RAFT_ENTRY_NORMAL,
         .len = 1,
         .data = (const uint8_t *)"b"}};
    /* Entry terms going down. */
    raft_msg_t m = {.type = RAFT_MSG_APPEND,
                    .from = 1,
                    .to = 2,
                    .term = 9,
                    .log_term = 2,
                    .index = 10,
                    .entries = ents,
                    .entries_count = 2};
    raft_msg_encode(&m, &b);
    ck_assert_int_eq(raft_step(R(2), buf_peek(&b), buf_size(&b)), CTX_EPROTOCOL);
    /* An entry from a term later than the message's. */
    buf_reset(&b);
    m.term = 4;
    m.entries_count = 1;
    raft_msg_encode(&m, &b);
    ck_assert_int_eq(raft_step(R(2), buf_peek(&b), buf_size(&b)), CTX_EPROTOCOL);
    /* A response without entries must not carry any. */
    buf_reset(&b);
    m = (raft_msg_t){.type = RAFT_MSG_HEARTBEAT_RESP,
                     .from = 2,
                     .to = 1,
                     .term = 2,
                     .entries = ents,
                     .entries_count = 1};
    ents[0].index = 1;
    raft_msg_encode(&m, &b);
    ck_assert_int_eq(raft_step(R(1), buf_peek(&b), buf_size(&b)), CTX_EPROTOCOL);
    /* An acknowledgement beyond the leader's log is ignored (no commit of unknown entries). */
    buf_reset(&b);
    uint64_t commit = raft_commit_index(R(1));
    m = (raft_msg_t){.type = RAFT_MSG_APPEND_RESP,
                     .from = 2,
                     .to = 1,
                     .term = raft_term(R(1)),
                     .index = raft_last_index(R(1)) + 100};
    raft_msg_encode(&m, &b);
    ck_assert_int_eq(raft_step(R(1), buf_peek(&b), buf_size(&b)), 0);
    tc_process(1);
    ck_assert_uint_eq(raft_commit_index(R(1)), commit);
    ck_assert_int_eq(raft_role(R(1)), RAFT_LEADER);
    buf_free(&b);
    tc_settle();
    tc_free();
}
END_TEST

/* A leader sends its appends while its own write is in flight, but counts itself towards the
 * quorum only once the write is durable: one follower's acknowledgement of 3 is not a majority. */
START_TEST(test_leader_counts_itself_once_durable) {
    tc_init(3, 3);
    tc_start_all();
    uint32_t l = 1;
    tc_elect(l);
    tc_settle();
    uint64_t commit = raft_commit_index(R(l));
    tc.nodes[l].slow_disk = true;
    tc_isolate(3, true); /* only follower 2 answers */
    int early = tc.nodes[l].early_sent;
    ck_assert_int_eq(tc_propose(l, "w"), 0);
    ck_assert_int_gt(tc.nodes[l].early_sent, early); /* the append may leave before the fsync */
    uint64_t index = raft_last_index(R(l));
    tc_settle();
    uint64_t match = 0;
    bool recent = false;
    ck_assert_int_eq(raft_member_match(R(l), 2, &match, &recent), 0);
    ck_assert_uint_eq(match, index);
    ck_assert_uint_eq(raft_commit_index(R(l)), commit); /* 2 has it, the leader not yet */
    ck_assert_uint_eq(tc.nodes[l].applied_normal, 0);
    tc_disk_done(l);
    ck_assert_uint_eq(raft_commit_index(R(l)), index);
    ck_assert_uint_eq(tc.nodes[l].applied_normal, 1);
    tc_settle();
    ck_assert_uint_eq(raft_commit_index(R(2)), index); /* told at once, not at a heartbeat */
    tc_free();
}
END_TEST

/* Two followers of 3 are a majority without the leader's disk; a report for an entry truncated
 * away is ignored. */
START_TEST(test_followers_commit_without_leader_disk) {
    tc_init(3, 3);
    tc_start_all();
    uint32_t l = 1;
    tc_elect(l);
    tc_settle();
    tc.nodes[l].slow_disk = true;
    ck_assert_int_eq(tc_propose(l, "a"), 0);
    ck_assert_int_eq(tc_propose(l, "b"), 0);
    tc_settle();
    ck_assert_uint_eq(raft_commit_index(R(l)), raft_last_index(R(l)));
    ck_assert_uint_eq(tc.nodes[l].applied_normal, 2);
    ck_assert_str_eq(tc.nodes[l].last_normal, "b");
    /* A stale report (wrong term) changes nothing; the real one is accepted. */
    raft_persisted(R(l), raft_last_index(R(l)), raft_term(R(l)) + 1);
    tc_disk_done(l);
    tc_free();
}
END_TEST

/* A lone voter commits nothing before its own write is durable. */
START_TEST(test_single_voter_waits_for_its_disk) {
    tc_init(1, 1);
    tc_start_all();
    tc_ticks(40);
    ck_assert_uint_eq(tc_leader(), 1);
    tc.nodes[1].slow_disk = true;
    uint64_t commit = raft_commit_index(R(1));
    ck_assert_int_eq(tc_propose(1, "w"), 0);
    ck_assert_uint_eq(raft_commit_index(R(1)), commit);
    ck_assert_uint_eq(tc.nodes[1].applied_normal, 0);
    tc_disk_done(1);
    ck_assert_uint_eq(raft_commit_index(R(1)), commit + 1);
    ck_assert_uint_eq(tc.nodes[1].applied_normal, 1);
    tc_free();
}
END_TEST

/* Delivers the first queued message for node id out of order (the rest stay queued) and
 * returns the type of the first message node id sends in reply; *early and *term_moved describe
 * it and its batch. */
static uint8_t tc_step_by_hand(uint32_t id, bool *early, bool *term_moved) {
    tc_node_t *n = &tc.nodes[id];
    bool found = false;
    for (size_t i = tc.head; i < tc.count && !found; i++) {
        if (tc.q[i].to == id) {
            tc_msg_t m = tc.q[i];
            memmove(&tc.q[i], &tc.q[i + 1], (tc.count - i - 1) * sizeof(tc_msg_t));
            tc.count--;
            n->probe = true;
            ck_assert_int_eq(raft_step(R(id), m.bytes, m.len), 0);
            tc_process(id);
            free(m.bytes);
            found = true;
        }
    }
    ck_assert(found && !n->probe);
    *early = n->probe_early;
    *term_moved = n->probe_term_moved;
    return n->probe_type;
}

/* Append answers and votes wait for the disk; heartbeat answers need not, unless the batch also
 * changes the term (which must be durable first). */
START_TEST(test_early_marks) {
    tc_init(3, 3);
    tc_start_all();
    tc_isolate(3, true);
    uint64_t term = tc_elect(1);
    tc_settle();
    ck_assert_uint_lt(raft_term(R(3)), term);
    int early_before = tc.nodes[1].early_sent;
    ck_assert_int_eq(raft_propose(R(1), "w", 1, NULL), 0);
    tc_process(1);
    ck_assert_int_gt(tc.nodes[1].early_sent, early_before); /* the append to 2 */
    bool early = false;
    bool changed = false;
    ck_assert_uint_eq(tc_step_by_hand(2, &early, &changed), RAFT_MSG_APPEND_RESP);
    ck_assert(!early);
    tc_settle();
    tc_heal();
    for (uint64_t i = 0; i < tc.cfg.heartbeat_ticks; i++) {
        raft_tick(R(1));
    }
    tc_process(1); /* heartbeats to 2 and 3 */
    ck_assert_uint_eq(tc_step_by_hand(3, &early, &changed), RAFT_MSG_HEARTBEAT_RESP);
    ck_assert(!early && changed); /* 3 learns the term from this heartbeat */
    ck_assert_uint_eq(tc_step_by_hand(2, &early, &changed), RAFT_MSG_HEARTBEAT_RESP);
    ck_assert(early && !changed);
    tc_settle();
    tc_free();
}
END_TEST

int main(void) {
    Suite *suite = suite_create("raft");
    TCase *tc_case = tcase_create("scenarios");
    tcase_add_test(tc_case, test_election_and_replication);
    tcase_add_test(tc_case, test_figure7_log_shapes);
    tcase_add_test(tc_case, test_stale_leader_in_minority);
    tcase_add_test(tc_case, test_rejoin_with_divergent_log);
    tcase_add_test(tc_case, test_snapshot_to_far_behind_node);
    tcase_add_test(tc_case, test_remove_the_leader);
    tcase_add_test(tc_case, test_learner_catches_up_before_voting);
    tcase_add_test(tc_case, test_new_leader_commits_before_conf_change);
    tcase_add_test(tc_case, test_leader_transfer);
    tcase_add_test(tc_case, test_read_index);
    tcase_add_test(tc_case, test_prevote_keeps_partitioned_node_harmless);
    tcase_add_test(tc_case, test_restart_keeps_committed_log);
    tcase_add_test(tc_case, test_inconsistent_messages_refused);
    tcase_add_test(tc_case, test_follower_log_growth_refused);
    tcase_add_test(tc_case, test_leader_counts_itself_once_durable);
    tcase_add_test(tc_case, test_followers_commit_without_leader_disk);
    tcase_add_test(tc_case, test_single_voter_waits_for_its_disk);
    tcase_add_test(tc_case, test_early_marks);
    suite_add_tcase(suite, tc_case);
    /* Its own case, so the planted-bug build can run just this story (CK_RUN_CASE=figure8). */
    TCase *figure8 = tcase_create("figure8");
    tcase_add_test(figure8, test_figure8_old_term_not_committed);
    suite_add_tcase(suite, figure8);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * sim.c — the deterministic cluster simulator for the Raft core (in the spirit of TigerBeetle's
 * VOPR): one seed drives the clock, the network, the disks, the faults and the clients. This file
 * runs the cluster; sim_check.c holds the checks, the trace and the disk model (sim_int.h).
 *
 * Time is a tick counter (SIM_TICK_MS of virtual time each). Per tick: inject faults, let the
 * clients act, tick every live node, deliver the packets due at this tick in a seeded random
 * order, restart nodes whose downtime is over. After every single step (tick, delivered
 * message, client call) the node's ready batch is handled exactly as a server would: persist
 * (snapshot, entries, hard state; fsync when must_sync), send, apply, answer reads, advance.
 *
 * Disk model. A node's disk holds the hard state (encoded, CRC-checked on load), a snapshot and
 * the log after it, each entry with its CRC32C. A batch with must_sync is durable when handled
 * (then reported through raft_persisted);
 * a batch without it only updates the commit index in the hard state lazily (lost on crash).
 * A crash in the middle of a must_sync batch ("torn") keeps a random prefix of its entries, a
 * partially written next entry (bad CRC, cut by recovery) and not the hard state — the hard
 * state record is written last, as in our WAL; the batch's messages marked early have left
 * already (a leader's appends of entries it then loses). Restart loads only what is durable.
 *
 * Network model. Each message may be dropped, duplicated, corrupted (one flipped byte: the core
 * must refuse it through its CRC) and delayed by 0..delay_max ticks, which reorders messages.
 * Links can be cut both ways (partitions: a random minority/majority split) or one way.
 *
 * Checks, after every step: at most one leader per term; log matching (an (index, term) pair is
 * always preceded by the same log, tracked as a hash chain over the prefix); a committed entry
 * never changes and every node applies the same sequence (apply order and content against the
 * first application of each index); a new leader holds every committed entry (leader
 * completeness); a ReadIndex read is never below the log index of a write acknowledged before
 * the read began. After the fault phase the network heals and every member restarts: a leader
 * must be recognized by all members within SIM_ELECT_BOUND ticks, every write must commit within
 * SIM_WRITE_BOUND ticks, and at the end every member must have applied the same index. Then the
 * leader is killed once more to measure re-election time.
 */
#include "sim_int.h"

#include "crc32c.h"
#include "ctx.h"
#include "raft.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- node lifecycle --------------------------------------------------------------------- */

/* The state machine's snapshot: applied index and prefix hash, big-endian. */
static void sim_app_snapshot(const sim_node_t *n, uint8_t out[SIM_SNAP_BYTES]) {
    memset(out, 0, SIM_SNAP_BYTES);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(n->applied >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(n->chain >> (56 - 8 * i));
    }
}

/* Starts node n from its durable disk only (recovery cuts torn entries); fails the run if the
 * core refuses its own durable state. */
static int sim_boot(sim_t *s, sim_node_t *n, const raft_conf_t *bootstrap) {
    sim_disk_t *d = &n->disk;
    sim_disk_recover(d);
    raft_restore_t restore = {.bootstrap = bootstrap};
    if (d->hs_written && raft_hard_state_decode(d->hs, sizeof(d->hs), &restore.hard_state) != 0) {
        sim_fail(s, "node %u: durable hard state does not decode", n->id);
        return CTX_ECORRUPT;
    }
    raft_snapshot_t snap;
    if (d->has_snap) {
        snap = (raft_snapshot_t){.index = d->snap_index,
                                 .term = d->snap_term,
                                 .conf = d->snap_conf,
                                 .data = d->snap_data,
                                 .len = SIM_SNAP_BYTES};
        restore.snapshot = &snap;
    }
    raft_entry_t *ents = ctx_calloc(d->count + 1, sizeof(raft_entry_t));
    for (size_t i = 0; i < d->count; i++) {
        const sim_dentry_t *de = &d->ents[i];
        ents[i] = (raft_entry_t){.term = de->term,
                                 .index = d->snap_index + 1 + i,
                                 .type = de->type,
                                 .len = de->len,
                                 .data = de->data};
    }
    restore.entries = ents;
    restore.entries_count = d->count;
    raft_rng_seed(&n->rng, sim_mix(s->opt.seed * 1000003 + n->id * 7919 + n->boots));
    n->boots++;
    raft_config_t cfg = {.id = n->id,
                         .election_ticks = SIM_ELECTION_TICKS,
                         .heartbeat_ticks = SIM_HEARTBEAT_TICKS,
                         .inflight_max = s->inflight_max,
                         .msg_entries_max = s->entries_max,
                         .msg_bytes_max = 4096,
                         .pre_vote = s->pre_vote,
                         .check_quorum = s->check_quorum,
                         .rng = &n->rng};
    int rc = raft_new(&cfg, &restore, &n->raft);
    free(ents);
    if (rc != 0) {
        sim_fail(s, "node %u: raft_new failed on its own durable state (%d)", n->id, rc);
        return rc;
    }
    n->app_conf = d->has_snap ? d->snap_conf : (raft_conf_t){0};
    n->applied = d->has_snap ? d->snap_index : 0;
    n->chain = d->has_snap ? ctx_read_u64be(d->snap_data + 8) : 0;
    n->hs_lazy = restore.hard_state;
    n->reads_count = 0;
    n->led_term = 0;
    n->up = true;
    return 0;
}

/* Kills node n: memory, pending reads and unsynced state are lost. */
static void sim_crash(sim_t *s, sim_node_t *n, uint32_t kind) {
    CTX_ASSERT(n->up);
    /* Entries written without a sync are lost (the core never asks for that, see must_sync). */
    sim_disk_truncate(&n->disk, n->disk.snap_index + n->disk.synced);
    raft_free(n->raft);
    n->raft = NULL;
    n->up = false;
    n->reads_count = 0;
    n->crash_at = 0;
    n->down_until = s->now + s->down_min + raft_rng_below(&s->rng, s->down_span);
    s->st->crashes++;
    s->st->faults++;
    sim_event(s, kind, n->id, n->down_until, 0);
}

/* ---- network ---------------------------------------------------------------------------- */

/* Puts a copy of the message in flight with a random delay (and maybe a flipped byte). */
static void sim_enqueue(sim_t *s, uint32_t from, const raft_envelope_t *env, bool corrupt) {
    s->packets = sim_grow(s->packets, &s->packets_cap, s->packets_count + 1, sizeof(sim_packet_t));
    sim_packet_t *p = &s->packets[s->packets_count++];
    /* Long delays are a fault too: once healed, the network is a LAN again (10-20 ms). */
    uint32_t delay_max = sim_faulty(s) || s->delay_max < 2 ? s->delay_max : 2;
    p->at = s->now + 1 + raft_rng_below(&s->rng, delay_max);
    p->order = raft_rng_next(&s->rng);
    p->from = from;
    p->to = env->to;
    p->len = env->len;
    p->bytes = ctx_malloc(env->len);
    memcpy(p->bytes, env->bytes, env->len);
    if (corrupt) {
        size_t at = (size_t)raft_rng_below(&s->rng, env->len);
        p->bytes[at] ^= (uint8_t)(1 + raft_rng_below(&s->rng, 255));
        p->order |= 1; /* odd order marks a corrupted packet */
    } else {
        p->order &= ~(uint64_t)1;
    }
}

/* The network: drop, duplicate or corrupt during the fault phase, then delay. */
static void sim_send(sim_t *s, uint32_t from, const raft_envelope_t *env) {
    CTX_ASSERT(env->to >= 1 && env->to <= (uint32_t)s->slots);
    s->st->messages++;
    bool faulty = sim_faulty(s);
    if (faulty && sim_chance(s, s->drop_pm, 1000)) {
        s->st->dropped++;
        s->st->faults++;
        return;
    }
    int copies = 1;
    if (faulty && sim_chance(s, s->dup_pm, 1000)) {
        copies = 2;
        s->st->duplicated++;
        s->st->faults++;
    }
    for (int i = 0; i < copies; i++) {
        bool corrupt = faulty && sim_chance(s, s->corrupt_pm, 1000);
        if (corrupt) {
            s->st->corrupted++;
            s->st->faults++;
        }
        sim_enqueue(s, from, env, corrupt);
    }
}

/* Delivery order: due tick, then a random key. */
static int sim_packet_cmp(const void *a, const void *b) {
    const sim_packet_t *x = a;
    const sim_packet_t *y = b;
    if (x->at != y->at) {
        return x->at < y->at ? -1 : 1;
    }
    return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

static void sim_process(sim_t *s, sim_node_t *n);

/* Prints a delivered message (--trace-messages). */
static void sim_trace_message(const sim_t *s, const sim_packet_t *p) {
    raft_msg_t m;
    raft_entry_t ents[RAFT_MSG_ENTRIES_MAX];
    if (raft_msg_decode(p->bytes, p->len, &m, ents, RAFT_MSG_ENTRIES_MAX) != 0) {
        fprintf(s->opt.out, "  t=%-6llu msg %u->%u corrupted\n", (unsigned long long)s->now,
                p->from, p->to);
        return;
    }
    fprintf(s->opt.out,
            "  t=%-6llu msg %u->%u %s term=%llu index=%llu log_term=%llu "
            "commit=%llu n=%u%s hint=%llu/%llu ctx=%llu\n",
            (unsigned long long)s->now, m.from, m.to, raft_msg_type_name(m.type),
            (unsigned long long)m.term, (unsigned long long)m.index, (unsigned long long)m.log_term,
            (unsigned long long)m.commit, m.entries_count, m.reject ? " reject" : "",
            (unsigned long long)m.hint_index, (unsigned long long)m.hint_term,
            (unsigned long long)m.ctx);
}

/* Delivers every packet due now, in a seeded random order (reordering). */
static void sim_deliver(sim_t *s) {
    size_t due = 0;
    for (size_t i = 0; i < s->packets_count; i++) {
        if (s->packets[i].at <= s->now) {
            sim_packet_t tmp = s->packets[due];
            s->packets[due] = s->packets[i];
            s->packets[i] = tmp;
            due++;
        }
    }
    if (due == 0) {
        return;
    }
    sim_packet_t *batch = ctx_malloc(due * sizeof(sim_packet_t));
    memcpy(batch, s->packets, due * sizeof(sim_packet_t));
    memmove(s->packets, s->packets + due, (s->packets_count - due) * sizeof(sim_packet_t));
    s->packets_count -= due;
    ctx_qsort(batch, due, sizeof(sim_packet_t), sim_packet_cmp);
    for (size_t i = 0; i < due; i++) {
        sim_packet_t *p = &batch[i];
        sim_node_t *n = sim_node(s, p->to);
        if (s->failed || !n->up || s->blocked[p->from][p->to]) {
            s->st->lost++;
        } else {
            if (s->opt.trace_messages) {
                sim_trace_message(s, p);
            }
            int rc = raft_step(n->raft, p->bytes, p->len);
            bool corrupt = (p->order & 1) != 0;
            if (corrupt ? rc == 0 : rc != 0) {
                sim_fail(s, "node %u: raft_step returned %d for a %s message", n->id, rc,
                         corrupt ? "corrupted" : "valid");
            }
            sim_process(s, n);
        }
        free(p->bytes);
    }
    free(batch);
}

/* ---- ready handling --------------------------------------------------------------------- */

/* Crash in the middle of writing a batch: a prefix of its entries and a torn one survive. */
static void sim_torn(sim_t *s, sim_node_t *n, const raft_ready_t *rd) {
    sim_disk_t *d = &n->disk;
    bool snap_written = rd->snapshot == NULL || raft_rng_below(&s->rng, 2) == 0;
    if (rd->snapshot != NULL && snap_written) {
        sim_disk_snapshot(d, rd->snapshot->index, rd->snapshot->term, &rd->snapshot->conf,
                          rd->snapshot->data, false);
    }
    if (snap_written && rd->entries_count > 0) {
        size_t k = (size_t)raft_rng_below(&s->rng, rd->entries_count + 1);
        sim_disk_truncate(d, rd->entries[0].index - 1);
        for (size_t i = 0; i < k; i++) {
            sim_disk_append(s, n, &rd->entries[i], false);
        }
        if (k < rd->entries_count) {
            sim_disk_append(s, n, &rd->entries[k], true);
        }
        d->synced = d->count; /* on the platter; recovery cuts the torn one by its CRC */
    }
    for (size_t i = 0; i < rd->messages_count; i++) {
        if (rd->messages[i].early) {
            sim_send(s, n->id, &rd->messages[i]); /* left before the write, as a server may */
        }
    }
    s->st->torn++;
    raft_advance(n->raft, rd);
    sim_crash(s, n, EV_TORN);
}

/* A received snapshot: persist it, restore the state machine, check it against history. */
static void sim_install_snapshot(sim_t *s, sim_node_t *n, const raft_snapshot_t *snap) {
    sim_disk_snapshot(&n->disk, snap->index, snap->term, &snap->conf, snap->data, false);
    if (snap->len != SIM_SNAP_BYTES || ctx_read_u64be(snap->data) != snap->index) {
        sim_fail(s, "node %u: snapshot %llu carries wrong state", n->id,
                 (unsigned long long)snap->index);
        return;
    }
    uint64_t chain = ctx_read_u64be(snap->data + 8);
    sim_check_chain(s, snap->index, snap->term, chain);
    if (snap->index <= s->commit_max && s->commits[snap->index].set &&
        s->commits[snap->index].chain != chain) {
        sim_fail(s, "node %u: snapshot %llu differs from the committed state", n->id,
                 (unsigned long long)snap->index);
    }
    n->applied = snap->index;
    n->chain = chain;
    n->app_conf = snap->conf;
    s->st->snapshots_sent++;
    sim_event(s, EV_SNAPSHOT, n->id, snap->index, snap->term);
}

/* Persists a batch: snapshot, entries (truncating first), then the hard state if syncing. */
static void sim_persist(sim_t *s, sim_node_t *n, const raft_ready_t *rd) {
    if (rd->snapshot != NULL) {
        sim_install_snapshot(s, n, rd->snapshot);
    }
    if (rd->entries_count > 0) {
        sim_disk_truncate(&n->disk, rd->entries[0].index - 1);
        for (size_t i = 0; i < rd->entries_count; i++) {
            sim_disk_append(s, n, &rd->entries[i], false);
        }
    }
    n->hs_lazy = rd->hard_state;
    if (rd->must_sync) {
        sim_check_vote(s, n, &n->hs_lazy);
        sim_disk_write_hs(&n->disk, &n->hs_lazy); /* written last, then fsync */
        n->disk.synced = n->disk.count;
    }
}

/* A write applied for the first time is acknowledged to its client. */
static void sim_ack_write(sim_t *s, const raft_entry_t *e) {
    if (e->len < 8) {
        sim_fail(s, "entry %llu has a short payload", (unsigned long long)e->index);
        return;
    }
    uint64_t id = ctx_read_u64be(e->data);
    if (id == 0 || id > s->writes_count) {
        sim_fail(s, "entry %llu names unknown write %llu", (unsigned long long)e->index,
                 (unsigned long long)id);
        return;
    }
    sim_write_t *w = &s->writes[id - 1];
    if (w->acked) {
        return; /* a retried duplicate */
    }
    w->acked = true;
    w->index = e->index;
    if (e->index > s->max_acked_index) {
        s->max_acked_index = e->index;
    }
    s->st->writes_acked++;
    for (int i = 0; i < s->outstanding_count; i++) {
        if (s->outstanding[i] == id) {
            s->outstanding[i] = s->outstanding[--s->outstanding_count];
            break;
        }
    }
    sim_event(s, EV_ACK, 0, id, e->index);
}

/* Applies a committed entry (checked against every other node's application). */
static void sim_apply(sim_t *s, sim_node_t *n, const raft_entry_t *e) {
    sim_check_apply(s, n, e);
    if (e->type == RAFT_ENTRY_NORMAL) {
        sim_ack_write(s, e);
    } else if (e->type == RAFT_ENTRY_CONF) {
        raft_conf_op_t op;
        uint32_t node;
        if (raft_conf_change_decode(e->data, e->len, &op, &node) != 0) {
            sim_fail(s, "conf entry %llu does not decode", (unsigned long long)e->index);
            return;
        }
        (void)raft_conf_apply(&n->app_conf, op, node);
        if (op == RAFT_CONF_REMOVE && s->retire_count < SIM_SLOTS_MAX) {
            s->retire[s->retire_count++] = node;
        }
    }
}

/* ReadIndex answers: the read index must cover every write acknowledged before the read. */
static void sim_reads_confirmed(sim_t *s, sim_node_t *n, const raft_ready_t *rd) {
    for (size_t i = 0; i < rd->reads_count; i++) {
        const raft_read_state_t *rs = &rd->reads[i];
        for (int j = 0; j < n->reads_count; j++) {
            sim_read_t *r = &n->reads[j];
            if (r->ctx != rs->ctx || r->index != 0) {
                continue;
            }
            if (rs->index < r->floor) {
                sim_fail(s,
                         "stale read on node %u: read index %llu below write acknowledged at "
                         "%llu before the read began",
                         n->id, (unsigned long long)rs->index, (unsigned long long)r->floor);
                return;
            }
            r->index = rs->index > 0 ? rs->index : 1;
        }
    }
}

/* Compacts the log behind the applied index every compact_every entries. */
static void sim_maybe_compact(sim_t *s, sim_node_t *n) {
    if (s->compact_every == 0 || n->applied < raft_first_index(n->raft) + s->compact_every) {
        return;
    }
    uint8_t data[SIM_SNAP_BYTES];
    sim_app_snapshot(n, data);
    int rc = raft_compact(n->raft, n->applied, data, sizeof(data));
    if (rc != 0) {
        sim_fail(s, "node %u: raft_compact(%llu) failed: %d", n->id, (unsigned long long)n->applied,
                 rc);
        return;
    }
    uint64_t term = 0;
    (void)raft_term_at(n->raft, n->applied, &term);
    sim_disk_snapshot(&n->disk, n->applied, term, &n->app_conf, data, true);
    sim_event(s, EV_COMPACT, n->id, n->applied, term);
}

/* Handles every ready batch of n, exactly as a server would. */
static void sim_process(sim_t *s, sim_node_t *n) {
    while (n->up && !s->failed && raft_has_ready(n->raft)) {
        raft_ready_t rd;
        raft_ready(n->raft, &rd);
        if (rd.must_sync && sim_faulty(s) && sim_chance(s, s->torn_pk, 100000)) {
            sim_torn(s, n, &rd);
            return;
        }
        sim_persist(s, n, &rd);
        for (size_t i = 0; i < rd.messages_count; i++) {
            sim_send(s, n->id, &rd.messages[i]);
        }
        for (size_t i = 0; i < rd.committed_count && !s->failed; i++) {
            sim_apply(s, n, &rd.committed[i]);
        }
        sim_reads_confirmed(s, n, &rd);
        if (rd.role == RAFT_LEADER && n->led_term != rd.term) {
            sim_check_new_leader(s, n);
        }
        raft_entry_t last = {0};
        if (rd.entries_count > 0) {
            last = rd.entries[rd.entries_count - 1];
        }
        raft_advance(n->raft, &rd);
        if (last.index != 0) {
            raft_persisted(n->raft, last.index, last.term);
        }
        sim_maybe_compact(s, n);
    }
}

/* ---- clients ---------------------------------------------------------------------------- */

/* A random live node, NULL if none. */
static sim_node_t *sim_random_up(sim_t *s) {
    uint32_t start = (uint32_t)raft_rng_below(&s->rng, (uint64_t)s->slots);
    for (int i = 0; i < s->slots; i++) {
        sim_node_t *n = &s->nodes[(start + (uint32_t)i) % (uint32_t)s->slots];
        if (n->up) {
            return n;
        }
    }
    return NULL;
}

/* The up node with role leader and the highest term, or NULL. */
static sim_node_t *sim_leader(sim_t *s) {
    sim_node_t *best = NULL;
    for (int i = 0; i < s->slots; i++) {
        sim_node_t *n = &s->nodes[i];
        if (n->up && raft_role(n->raft) == RAFT_LEADER &&
            (best == NULL || raft_term(n->raft) > raft_term(best->raft))) {
            best = n;
        }
    }
    return best;
}

/* Proposes write id through the node the client believes leads (following redirects). */
static void sim_propose(sim_t *s, uint64_t id) {
    sim_node_t *n = NULL;
    if (s->client_leader != 0 && sim_node(s, s->client_leader)->up) {
        n = sim_node(s, s->client_leader);
    } else {
        n = sim_random_up(s);
    }
    if (n == NULL) {
        return;
    }
    uint8_t *buf = s->scratch;
    uint32_t pad = (uint32_t)raft_rng_below(&s->rng, SIM_PAD_MAX + 1);
    for (int i = 0; i < 8; i++) {
        buf[i] = (uint8_t)(id >> (56 - 8 * i));
    }
    buf[8] = (uint8_t)pad;
    for (uint32_t i = 0; i < pad; i++) {
        buf[9 + i] = (uint8_t)raft_rng_next(&s->rng);
    }
    s->writes[id - 1].last_try = s->now;
    uint64_t index = 0;
    int rc = raft_propose(n->raft, buf, 9 + pad, &index);
    if (rc == CTX_EREAD_ONLY || rc == CTX_ELIMIT) {
        s->client_leader = raft_leader(n->raft);
        return;
    }
    if (rc != 0) {
        sim_fail(s, "node %u: raft_propose failed: %d", n->id, rc);
        return;
    }
    s->client_leader = n->id;
    sim_event(s, EV_PROPOSE, n->id, id, index);
    sim_process(s, n);
}

/* The writing client: new writes (up to 8 outstanding) and retries of unacknowledged ones. */
static void sim_client_writes(sim_t *s) {
    bool quiet = s->now + SIM_QUIET_TICKS >= s->end_at;
    if (!quiet && s->outstanding_count < SIM_WRITES_INFLIGHT_MAX &&
        sim_chance(s, s->propose_pk, 100000)) {
        s->writes = sim_grow(s->writes, &s->writes_cap, s->writes_count + 1, sizeof(sim_write_t));
        uint64_t id = ++s->writes_count;
        s->writes[id - 1] = (sim_write_t){.proposed = s->now};
        s->outstanding[s->outstanding_count++] = (uint32_t)id;
        sim_propose(s, id);
    }
    bool settle = s->now + SIM_QUIET_TICKS - 50 >= s->end_at; /* let the cluster converge */
    for (int i = 0; i < s->outstanding_count && !s->failed && !settle; i++) {
        sim_write_t *w = &s->writes[s->outstanding[i] - 1];
        if (!w->acked && w->last_try + SIM_RETRY_TICKS <= s->now) {
            sim_propose(s, s->outstanding[i]);
        }
    }
}

/* The reading client: start reads on random nodes, complete or time out pending ones. */
static void sim_client_reads(sim_t *s) {
    if (sim_chance(s, s->read_pk, 100000)) {
        sim_node_t *n = sim_random_up(s);
        if (n != NULL && n->reads_count < SIM_READS_MAX) {
            uint64_t ctx = ++s->next_read_ctx;
            if (raft_read_index(n->raft, ctx) == 0) {
                n->reads[n->reads_count++] =
                    (sim_read_t){.ctx = ctx, .start = s->now, .floor = s->max_acked_index};
                sim_event(s, EV_READ, n->id, ctx, s->max_acked_index);
                sim_process(s, n);
            }
        }
    }
    for (int i = 0; i < s->slots; i++) {
        sim_node_t *n = &s->nodes[i];
        for (int j = 0; j < n->reads_count;) {
            sim_read_t *r = &n->reads[j];
            bool done = r->index != 0 && n->applied >= r->index;
            if (done) {
                s->st->reads_ok++;
                sim_event(s, EV_READ_OK, n->id, r->ctx, r->index);
            }
            if (done || r->start + SIM_READ_TIMEOUT <= s->now) {
                *r = n->reads[--n->reads_count];
                continue;
            }
            j++;
        }
    }
}

/* ---- faults ----------------------------------------------------------------------------- */

/* Cuts the cluster in two random sides, both ways or one way. */
static void sim_partition(sim_t *s) {
    memset(s->blocked, 0, sizeof(s->blocked));
    bool one_way = raft_rng_below(&s->rng, 2) == 0;
    uint64_t side = raft_rng_next(&s->rng); /* bit i: node i+1 on side A */
    for (int a = 1; a <= s->slots; a++) {
        for (int b = 1; b <= s->slots; b++) {
            bool cut = ((side >> (a - 1)) & 1) != ((side >> (b - 1)) & 1);
            if (cut && (!one_way || ((side >> (a - 1)) & 1) != 0)) {
                s->blocked[a][b] = true; /* one-way: only A -> B is cut */
            }
        }
    }
    s->partition_until = s->now + 30 + raft_rng_below(&s->rng, 400);
    s->st->partitions++;
    s->st->faults++;
    sim_event(s, one_way ? EV_ONEWAY : EV_PARTITION, 0, side & ((1u << s->slots) - 1),
              s->partition_until);
}

/* Restores every link. */
static void sim_heal_partition(sim_t *s) {
    memset(s->blocked, 0, sizeof(s->blocked));
    s->partition_until = 0;
    sim_event(s, EV_HEAL, 0, 0, 0);
}

/* One step of the membership driver: promote a learner, add one, or remove a voter. */
static void sim_conf_step(sim_t *s) {
    sim_node_t *l = sim_leader(s);
    if (l == NULL) {
        return;
    }
    const raft_conf_t *conf = raft_conf(l->raft);
    raft_conf_op_t op;
    uint32_t target;
    if (conf->learners_count > 0) {
        op = RAFT_CONF_PROMOTE;
        target = conf->learners[0];
    } else if (conf->voters_count <= s->opt.nodes && s->slots < SIM_SLOTS_MAX) {
        op = RAFT_CONF_ADD_LEARNER;
        target = (uint32_t)s->slots + 1;
    } else if (conf->voters_count > 3) {
        op = RAFT_CONF_REMOVE;
        target = conf->voters[raft_rng_below(&s->rng, conf->voters_count)];
    } else {
        return;
    }
    uint64_t index = 0;
    int rc = raft_propose_conf(l->raft, op, target, &index);
    if (rc != 0) {
        return; /* refused for now (pending change, learner behind): retried later */
    }
    if (op == RAFT_CONF_ADD_LEARNER) {
        sim_node_t *n = &s->nodes[s->slots++];
        memset(n, 0, sizeof(*n));
        n->id = target;
        n->started = true;
        (void)sim_boot(s, n, NULL);
    }
    s->st->conf_changes++;
    sim_event(s, EV_CONF, l->id, op, target);
    sim_process(s, l);
}

/* Asks the leader to hand over to a random voter. */
static void sim_transfer(sim_t *s) {
    sim_node_t *l = sim_leader(s);
    if (l == NULL) {
        return;
    }
    const raft_conf_t *conf = raft_conf(l->raft);
    uint32_t target = conf->voters[raft_rng_below(&s->rng, conf->voters_count)];
    if (target != l->id && raft_transfer_leader(l->raft, target) == 0) {
        s->st->transfers++;
        sim_event(s, EV_TRANSFER, l->id, target, 0);
        sim_process(s, l);
    }
}

/* Fault injection for one tick of the fault phase. */
static void sim_faults(sim_t *s) {
    if (sim_chance(s, s->crash_pk, 100000)) {
        sim_node_t *n = sim_random_up(s);
        if (n != NULL) {
            sim_crash(s, n, EV_CRASH);
        }
    }
    if (sim_chance(s, s->leader_crash_pk, 100000)) {
        sim_node_t *n = sim_leader(s);
        if (n != NULL) {
            sim_crash(s, n, EV_CRASH);
        }
    }
    for (int i = 0; i < s->slots; i++) {
        sim_node_t *n = &s->nodes[i];
        if (n->up && n->crash_at != 0 && n->crash_at <= s->now) {
            sim_crash(s, n, EV_CRASH);
        }
    }
    if (s->partition_until != 0 && s->now >= s->partition_until) {
        sim_heal_partition(s);
    } else if (s->partition_until == 0 && sim_chance(s, s->partition_pk, 100000)) {
        sim_partition(s);
    }
    if (s->opt.membership && sim_chance(s, s->conf_pk, 100000)) {
        sim_conf_step(s);
    }
    if (sim_chance(s, s->transfer_pk, 100000)) {
        sim_transfer(s);
    }
}

/* Restarts crashed nodes whose downtime is over. */
static void sim_restarts(sim_t *s) {
    for (int i = 0; i < s->slots && !s->failed; i++) {
        sim_node_t *n = &s->nodes[i];
        if (n->started && !n->up && !n->retired && n->down_until <= s->now) {
            if (sim_boot(s, n, n->initial ? &s->bootstrap : NULL) == 0) {
                sim_event(s, EV_RESTART, n->id, n->boots, raft_last_index(n->raft));
                sim_process(s, n);
            }
        }
    }
}

/* Shuts down nodes whose removal was applied somewhere (so it is committed). */
static void sim_retire(sim_t *s) {
    for (int i = 0; i < s->retire_count; i++) {
        sim_node_t *n = sim_node(s, s->retire[i]);
        if (n->retired) {
            continue;
        }
        if (n->up) {
            raft_free(n->raft);
            n->raft = NULL;
            n->up = false;
        }
        n->retired = true;
        sim_event(s, EV_RETIRE, n->id, 0, 0);
    }
    s->retire_count = 0;
}

/* ---- liveness --------------------------------------------------------------------------- */

/* True when id is a voter or learner of conf. */
static bool sim_is_member(const raft_conf_t *conf, uint32_t id) {
    return raft_conf_is_voter(conf, id) || raft_conf_is_learner(conf, id);
}

/* A leader every up member of its configuration follows, in its term; 0 if none. */
static uint32_t sim_stable_leader(sim_t *s) {
    sim_node_t *l = sim_leader(s);
    if (l == NULL) {
        return 0;
    }
    const raft_conf_t *conf = raft_conf(l->raft);
    for (int i = 0; i < s->slots; i++) {
        sim_node_t *n = &s->nodes[i];
        if (!sim_is_member(conf, n->id) || !n->up) {
            continue; /* down members (only the probe victim after heal) do not count */
        }
        if (raft_leader(n->raft) != l->id || raft_term(n->raft) != raft_term(l->raft)) {
            return 0;
        }
    }
    return l->id;
}

/* Heal: reliable network, every member back up. */
static void sim_heal_all(sim_t *s) {
    sim_heal_partition(s);
    for (int i = 0; i < s->slots; i++) {
        s->nodes[i].down_until = s->now;
    }
    s->last_stable = s->now;
    s->disturbed_at = s->now;
    sim_event(s, EV_HEAL_ALL, 0, 0, 0);
}

/* Kills a stable leader once after the heal, to measure re-election time. */
static void sim_probe(sim_t *s) {
    sim_node_t *l = sim_leader(s);
    if (l == NULL || s->stable_leader != l->id) {
        return;
    }
    s->probe_victim = l->id;
    s->probe_term = raft_term(l->raft);
    sim_crash(s, l, EV_PROBE);
    s->st->crashes--; /* the probe is a measurement, not a fault of the run */
    s->st->faults--;
    l->down_until = s->now + 150;
    s->probe_killed_at = s->now;
    s->disturbed_at = s->now;
}

/* After the heal: a stable leader within SIM_ELECT_BOUND, every write within the write bound. */
static void sim_liveness(sim_t *s) {
    uint32_t leader = sim_stable_leader(s);
    if (leader != 0) {
        s->last_stable = s->now;
        if (s->probe_killed_at != 0 && raft_term(sim_node(s, leader)->raft) > s->probe_term) {
            s->st->probe_elect_ticks += s->now - s->probe_killed_at;
            s->st->probes++;
            s->probe_killed_at = 0;
        }
    } else if (s->now - s->last_stable > SIM_ELECT_BOUND) {
        sim_fail(s, "liveness: no stable leader for %d ticks after the faults healed",
                 SIM_ELECT_BOUND);
        return;
    }
    s->stable_leader = leader;
    for (int i = 0; i < s->outstanding_count; i++) {
        const sim_write_t *w = &s->writes[s->outstanding[i] - 1];
        uint64_t from = w->proposed > s->disturbed_at ? w->proposed : s->disturbed_at;
        if (!w->acked && s->now > from + SIM_ELECT_BOUND + SIM_WRITE_BOUND) {
            sim_fail(s, "liveness: write %u proposed at tick %llu not committed", s->outstanding[i],
                     (unsigned long long)w->proposed);
            return;
        }
    }
}

/* One tick of virtual time (see the top of this file). */
static void sim_tick(sim_t *s);

/* True when every live member of the leader's configuration applied every committed entry. */
static bool sim_converged(sim_t *s, char *why, size_t why_len) {
    sim_node_t *l = sim_leader(s);
    if (l == NULL) {
        snprintf(why, why_len, "no leader");
        return false;
    }
    const raft_conf_t *conf = raft_conf(l->raft);
    for (int i = 0; i < s->slots; i++) {
        sim_node_t *n = &s->nodes[i];
        if (sim_is_member(conf, n->id) && (!n->up || n->applied != s->commit_max)) {
            snprintf(why, why_len, "member %u applied %llu of %llu committed entries", n->id,
                     (unsigned long long)n->applied, (unsigned long long)s->commit_max);
            return false;
        }
    }
    return true;
}

/* At the end (no client activity for SIM_QUIET_TICKS): every member must catch up within
 * SIM_CONVERGE_BOUND more ticks — slow configurations (one entry per append) get that long. */
static void sim_check_converged(sim_t *s) {
    char why[128];
    uint64_t deadline = s->now + SIM_CONVERGE_BOUND;
    while (!s->failed && !sim_converged(s, why, sizeof(why))) {
        if (s->now >= deadline) {
            sim_fail(s, "liveness: not converged %d ticks after the end: %s", SIM_CONVERGE_BOUND,
                     why);
            return;
        }
        sim_tick(s);
        s->now++;
    }
}

/* ---- the run ---------------------------------------------------------------------------- */

/* Per-seed fault intensities, so seeds cover calm and stormy clusters. */
static void sim_configure_mixed(sim_t *s) {
    raft_rng_t *g = &s->rng;
    s->drop_pm = (uint32_t)raft_rng_below(g, 4) == 0 ? 0 : (uint32_t)raft_rng_below(g, 200);
    s->dup_pm = (uint32_t)raft_rng_below(g, 50);
    s->corrupt_pm = (uint32_t)raft_rng_below(g, 10);
    s->delay_max = 1 + (uint32_t)raft_rng_below(g, 8);
    s->crash_pk = (uint32_t)raft_rng_below(g, 800);
    s->torn_pk = (uint32_t)raft_rng_below(g, 300);
    s->partition_pk = (uint32_t)raft_rng_below(g, 600);
    s->conf_pk = 200 + (uint32_t)raft_rng_below(g, 1500);
    s->transfer_pk = (uint32_t)raft_rng_below(g, 200);
    s->leader_crash_pk = (uint32_t)raft_rng_below(g, 3) == 0 ? 0 : (uint32_t)raft_rng_below(g, 800);
    s->fresh_crash_pm = (uint32_t)raft_rng_below(g, 3) == 0 ? 0 : (uint32_t)raft_rng_below(g, 500);
    s->propose_pk = 5000 + (uint32_t)raft_rng_below(g, 40000);
    s->read_pk = 1000 + (uint32_t)raft_rng_below(g, 10000);
    s->compact_every = raft_rng_below(g, 4) == 0 ? 0 : 5 + (uint32_t)raft_rng_below(g, 100);
    s->inflight_max = 2 + (uint32_t)raft_rng_below(g, 7);
    s->entries_max = 2 + (uint32_t)raft_rng_below(g, 15);
    s->pre_vote = raft_rng_below(g, 5) != 0;
    s->check_quorum = raft_rng_below(g, 5) != 0;
    s->down_min = 5;
    s->down_span = 100;
    s->skew_pm = (uint32_t)raft_rng_below(g, 150);
}

/* The churn profile (see sim.h). */
static void sim_configure_churn(sim_t *s) {
    raft_rng_t *g = &s->rng;
    s->drop_pm = 100 + (uint32_t)raft_rng_below(g, 250);
    s->dup_pm = (uint32_t)raft_rng_below(g, 30);
    s->corrupt_pm = (uint32_t)raft_rng_below(g, 5);
    s->delay_max = 1 + (uint32_t)raft_rng_below(g, 4);
    s->crash_pk = (uint32_t)raft_rng_below(g, 500);
    s->torn_pk = (uint32_t)raft_rng_below(g, 300);
    s->partition_pk = (uint32_t)raft_rng_below(g, 300);
    s->conf_pk = 200 + (uint32_t)raft_rng_below(g, 1000);
    s->transfer_pk = (uint32_t)raft_rng_below(g, 100);
    s->leader_crash_pk = 200 + (uint32_t)raft_rng_below(g, 1500);
    s->fresh_crash_pm = 200 + (uint32_t)raft_rng_below(g, 600);
    s->propose_pk = 5000 + (uint32_t)raft_rng_below(g, 30000);
    s->read_pk = 1000 + (uint32_t)raft_rng_below(g, 5000);
    s->compact_every = raft_rng_below(g, 2) == 0 ? 0 : 20 + (uint32_t)raft_rng_below(g, 100);
    s->inflight_max = 1 + (uint32_t)raft_rng_below(g, 2);
    s->entries_max = 1;
    s->pre_vote = false;
    s->check_quorum = false;
    s->down_min = 3;
    s->down_span = 40;
    s->skew_pm = (uint32_t)raft_rng_below(g, 150);
}

/* The calm profile: no faults but crashes of the probe; for debugging and baselines. */
static void sim_configure_calm(sim_t *s) {
    raft_rng_t *g = &s->rng;
    s->delay_max = 1 + (uint32_t)raft_rng_below(g, 3);
    s->conf_pk = 500;
    s->propose_pk = 20000;
    s->read_pk = 5000;
    s->compact_every = 50;
    s->inflight_max = 4;
    s->entries_max = 16;
    s->pre_vote = true;
    s->check_quorum = true;
    s->down_min = 5;
    s->down_span = 100;
}

/* Draws the run's fault intensities from the seed. */
static void sim_configure(sim_t *s) {
    int profile = s->opt.profile;
    if (profile == SIM_PROFILE_MIXED && raft_rng_below(&s->rng, 4) == 0) {
        profile = SIM_PROFILE_CHURN;
    }
    if (profile == SIM_PROFILE_CHURN) {
        sim_configure_churn(s);
    } else if (profile == SIM_PROFILE_CALM) {
        sim_configure_calm(s);
    } else {
        sim_configure_mixed(s);
    }
}

/* Initializes a run from its options. */
static void sim_init(sim_t *s, const sim_options_t *opt, sim_stats_t *stats, char *violation) {
    memset(s, 0, sizeof(*s));
    s->opt = *opt;
    if (s->opt.out == NULL) {
        s->opt.out = stderr;
    }
    if (s->opt.fault_ticks == 0) {
        s->opt.fault_ticks = SIM_FAULT_TICKS_DEFAULT;
    }
    s->st = stats;
    s->violation = violation;
    raft_rng_seed(&s->rng, sim_mix(opt->seed ^ 0x5eed5eed5eedull));
    sim_configure(s);
    s->heal_at = s->opt.fault_ticks;
    s->end_at = s->heal_at + SIM_HEAL_TICKS;
    s->slots = opt->nodes;
    s->bootstrap.voters_count = (uint8_t)opt->nodes;
    for (int i = 0; i < opt->nodes; i++) {
        s->bootstrap.voters[i] = (uint32_t)i + 1;
    }
    for (int i = 0; i < opt->nodes; i++) {
        sim_node_t *n = &s->nodes[i];
        n->id = (uint32_t)i + 1;
        n->started = true;
        n->initial = true;
    }
}

/* Frees everything a run allocated. */
static void sim_free(sim_t *s) {
    for (int i = 0; i < SIM_SLOTS_MAX; i++) {
        raft_free(s->nodes[i].raft);
        sim_disk_free(&s->nodes[i].disk);
    }
    for (size_t i = 0; i < s->packets_count; i++) {
        free(s->packets[i].bytes);
    }
    free(s->packets);
    free(s->leaders);
    free(s->commits);
    free(s->chains);
    free(s->writes);
}

/* One tick of virtual time (see the top of this file). */
static void sim_tick(sim_t *s) {
    if (s->now < s->heal_at) {
        sim_faults(s);
    } else if (s->now == s->heal_at) {
        sim_heal_all(s);
    } else if (s->now == s->heal_at + SIM_PROBE_AFTER) {
        sim_probe(s);
    }
    sim_client_writes(s);
    sim_client_reads(s);
    for (int i = 0; i < s->slots && !s->failed; i++) {
        sim_node_t *n = &s->nodes[i];
        if (!n->up) {
            continue;
        }
        /* Clock skew: a node's tick may be lost or doubled (timers are not synchronized). */
        int ticks = 1;
        if (sim_faulty(s) && sim_chance(s, s->skew_pm, 1000)) {
            ticks = raft_rng_below(&s->rng, 2) == 0 ? 0 : 2;
        }
        for (int t = 0; t < ticks && n->up; t++) {
            raft_tick(n->raft);
            sim_process(s, n);
        }
    }
    sim_deliver(s);
    sim_retire(s);
    sim_restarts(s);
    if (s->now >= s->heal_at && !s->failed) {
        sim_liveness(s);
    }
}

/* See sim.h. */
int sim_run(const sim_options_t *options, sim_stats_t *stats, char violation[SIM_VIOLATION_MAX]) {
    CTX_ASSERT(options->nodes >= 1 && options->nodes <= 5);
    memset(stats, 0, sizeof(*stats));
    violation[0] = '\0';
    sim_t *s = ctx_malloc(sizeof(*s));
    sim_init(s, options, stats, violation);
    for (int i = 0; i < s->opt.nodes && !s->failed; i++) {
        (void)sim_boot(s, &s->nodes[i], &s->bootstrap);
    }
    for (s->now = 0; s->now < s->end_at && !s->failed; s->now++) {
        sim_tick(s);
    }
    if (!s->failed) {
        sim_check_converged(s);
    }
    stats->ticks = s->now;
    int rc = 0;
    if (s->failed) {
        stats->liveness_violations = strstr(violation, "liveness:") != NULL ? 1 : 0;
        sim_trace_dump(s);
        rc = CTX_EINTERNAL;
    }
    sim_free(s);
    free(s);
    return rc;
}

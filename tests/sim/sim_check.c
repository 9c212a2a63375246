/*
 * sim_check.c — the simulator's bookkeeping: utilities, the event trace, the safety checks and
 * the disk model (see sim.c for the whole design).
 *
 * Safety checks keep the cluster's history outside any node: leaders by term, the first
 * application of every index (term and prefix hash), and an (index, term) -> prefix-hash table
 * for log matching. Each node's disk stores its entries with a CRC32C and the hash of the log
 * prefix they end, so the log-matching check costs one table probe per written entry.
 */
#include "sim_int.h"

#include "crc32c.h"
#include "ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- utilities -------------------------------------------------------------------------- */

/* A 64-bit finalizer (murmur3) for hashes and seeds. */
uint64_t sim_mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

uint64_t sim_chain_next(uint64_t prev, uint64_t term, uint8_t type, const uint8_t *data,
                        uint32_t len) {
    uint64_t h = crc32c(0, data, len);
    return sim_mix(prev ^ sim_mix(term * 0x9E3779B97F4A7C15ull ^ (h << 8) ^ type));
}

/* True with probability per / scale, drawn from the run's generator. */
bool sim_chance(sim_t *s, uint32_t per, uint32_t scale) {
    return per > 0 && raft_rng_below(&s->rng, scale) < per;
}

/* Appends an event to the trace ring (and prints it when tracing). */

/* Records the first violation (later ones are consequences) and stops the run. */
__attribute__((format(printf, 2, 3))) void sim_fail(sim_t *s, const char *fmt, ...) {
    if (s->failed) {
        return;
    }
    s->failed = true;
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(s->violation, SIM_VIOLATION_MAX, "tick %llu: ", (unsigned long long)s->now);
    vsnprintf(s->violation + n, (size_t)(SIM_VIOLATION_MAX - n), fmt, ap);
    va_end(ap);
}

/* Grows a zero-filled array to hold need elements; never fails (ctx_realloc aborts). */
void *sim_grow(void *ptr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) {
        return ptr;
    }
    size_t old = *cap;
    size_t next = old == 0 ? 64 : old;
    while (next < need) {
        next *= 2;
    }
    ptr = ctx_realloc(ptr, next * elem);
    memset((uint8_t *)ptr + old * elem, 0, (next - old) * elem);
    *cap = next;
    return ptr;
}

/* The node with id (1-based). */
sim_node_t *sim_node(sim_t *s, uint32_t id) {
    CTX_ASSERT(id >= 1 && id <= (uint32_t)s->slots);
    return &s->nodes[id - 1];
}

/* ---- trace ------------------------------------------------------------------------------ */

/* Trace names of event kinds. */
static const char *sim_event_name(uint32_t kind) {
    static const char *names[] = {"?",        "crash",   "torn-crash", "restart",   "partition",
                                  "one-way",  "heal",    "leader",     "propose",   "ack",
                                  "read",     "read-ok", "snapshot",   "compact",   "conf",
                                  "transfer", "retire",  "heal-all",   "probe-kill"};
    return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

/* Prints one trace event. */
static void sim_event_print(const sim_t *s, const sim_event_t *e) {
    fprintf(s->opt.out, "  t=%-6llu %-10s node=%u a=%llu b=%llu\n", (unsigned long long)e->tick,
            sim_event_name(e->kind), e->node, (unsigned long long)e->a, (unsigned long long)e->b);
}

/* Appends an event to the trace ring (and prints it when tracing). */
void sim_event(sim_t *s, uint32_t kind, uint32_t node, uint64_t a, uint64_t b) {
    sim_event_t *e = &s->trace[s->trace_count % SIM_TRACE_MAX];
    *e = (sim_event_t){.tick = s->now, .kind = kind, .node = node, .a = a, .b = b};
    s->trace_count++;
    if (s->opt.trace) {
        sim_event_print(s, e);
    }
}

/* Prints the trace ring and every node's state (after a violation). */
void sim_trace_dump(const sim_t *s) {
    uint64_t first = s->trace_count > SIM_TRACE_MAX ? s->trace_count - SIM_TRACE_MAX : 0;
    fprintf(s->opt.out, "last %llu events:\n", (unsigned long long)(s->trace_count - first));
    for (uint64_t i = first; i < s->trace_count; i++) {
        sim_event_print(s, &s->trace[i % SIM_TRACE_MAX]);
    }
    for (int i = 0; i < s->slots; i++) {
        const sim_node_t *n = &s->nodes[i];
        if (n->raft == NULL) {
            fprintf(s->opt.out, "  node %u: %s\n", n->id, n->retired ? "retired" : "down");
            continue;
        }
        fprintf(s->opt.out,
                "  node %u: %s term=%llu leader=%u commit=%llu applied=%llu "
                "log=[%llu..%llu]\n",
                n->id, raft_role_name(raft_role(n->raft)), (unsigned long long)raft_term(n->raft),
                raft_leader(n->raft), (unsigned long long)raft_commit_index(n->raft),
                (unsigned long long)n->applied, (unsigned long long)raft_first_index(n->raft),
                (unsigned long long)raft_last_index(n->raft));
    }
}

/* True during the fault phase. */
bool sim_faulty(const sim_t *s) {
    return s->now < s->heal_at;
}

/* ---- safety checks ---------------------------------------------------------------------- */

/* Log matching: the same (index, term) must always end the same prefix. */
void sim_check_chain(sim_t *s, uint64_t index, uint64_t term, uint64_t chain) {
    if (s->chains_count * 2 >= s->chains_cap) {
        size_t old_cap = s->chains_cap;
        sim_chain_t *old = s->chains;
        s->chains_cap = old_cap == 0 ? 1024 : old_cap * 2;
        s->chains = ctx_calloc(s->chains_cap, sizeof(sim_chain_t));
        s->chains_count = 0;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].index != 0) {
                sim_check_chain(s, old[i].index, old[i].term, old[i].chain);
            }
        }
        free(old);
    }
    size_t mask = s->chains_cap - 1;
    size_t at = (size_t)sim_mix(index * 31 + term) & mask;
    while (s->chains[at].index != 0) {
        if (s->chains[at].index == index && s->chains[at].term == term) {
            if (s->chains[at].chain != chain) {
                sim_fail(s, "log matching violated at index %llu term %llu",
                         (unsigned long long)index, (unsigned long long)term);
            }
            return;
        }
        at = (at + 1) & mask;
    }
    s->chains[at] = (sim_chain_t){.index = index, .term = term, .chain = chain};
    s->chains_count++;
}

/* The application of entry e by node n: same sequence everywhere, committed never changes. */
void sim_check_apply(sim_t *s, sim_node_t *n, const raft_entry_t *e) {
    if (e->index != n->applied + 1) {
        sim_fail(s, "node %u applied index %llu after %llu", n->id, (unsigned long long)e->index,
                 (unsigned long long)n->applied);
        return;
    }
    n->chain = sim_chain_next(n->chain, e->term, e->type, e->data, e->len);
    n->applied = e->index;
    s->commits = sim_grow(s->commits, &s->commits_cap, (size_t)e->index + 1, sizeof(sim_commit_t));
    sim_commit_t *c = &s->commits[e->index];
    if (!c->set) {
        *c = (sim_commit_t){.term = e->term, .chain = n->chain, .set = true};
        if (e->index > s->commit_max) {
            s->commit_max = e->index;
        }
        return;
    }
    if (c->term != e->term || c->chain != n->chain) {
        sim_fail(s,
                 "committed entry %llu changed: node %u applied term %llu, first applied "
                 "term %llu",
                 (unsigned long long)e->index, n->id, (unsigned long long)e->term,
                 (unsigned long long)c->term);
    }
}

/* Durable terms never go back, and a durable vote never changes within its term (so no node
 * votes twice in a term, whatever crashes and torn writes happen in between). */
void sim_check_vote(sim_t *s, const sim_node_t *n, const raft_hard_state_t *next) {
    raft_hard_state_t prev;
    if (!n->disk.hs_written || raft_hard_state_decode(n->disk.hs, sizeof(n->disk.hs), &prev) != 0) {
        return;
    }
    if (next->term < prev.term) {
        sim_fail(s, "node %u: durable term went back from %llu to %llu", n->id,
                 (unsigned long long)prev.term, (unsigned long long)next->term);
    } else if (next->term == prev.term && prev.vote != RAFT_NONE && next->vote != prev.vote) {
        sim_fail(s, "node %u voted for %u and then %u in term %llu", n->id, prev.vote, next->vote,
                 (unsigned long long)next->term);
    }
}

/* Leader completeness: a new leader's log holds every entry known committed. */
void sim_check_new_leader(sim_t *s, sim_node_t *n) {
    uint64_t term = raft_term(n->raft);
    s->leaders = sim_grow(s->leaders, &s->leaders_cap, (size_t)term + 1, sizeof(uint32_t));
    if (s->leaders[term] != 0 && s->leaders[term] != n->id) {
        sim_fail(s, "two leaders in term %llu: %u and %u", (unsigned long long)term,
                 s->leaders[term], n->id);
        return;
    }
    if (s->leaders[term] == 0) {
        s->st->elections++;
        sim_event(s, EV_LEADER, n->id, term, raft_last_index(n->raft));
    }
    s->leaders[term] = n->id;
    n->led_term = term;
    if (sim_faulty(s) && sim_chance(s, s->fresh_crash_pm, 1000)) {
        n->crash_at = s->now + 1 + raft_rng_below(&s->rng, 12);
    }
    uint64_t first = raft_first_index(n->raft);
    for (uint64_t i = first; i <= s->commit_max; i++) {
        uint64_t t = 0;
        if (!s->commits[i].set) {
            continue;
        }
        if (raft_term_at(n->raft, i, &t) != 0 || t != s->commits[i].term) {
            sim_fail(s, "leader %u of term %llu lacks committed entry %llu", n->id,
                     (unsigned long long)term, (unsigned long long)i);
            return;
        }
    }
}

/* ---- disk ------------------------------------------------------------------------------- */

/* CRC32C of a stored entry: term, index, type and payload. */
static uint32_t sim_dentry_crc(uint64_t index, const sim_dentry_t *d) {
    uint8_t head[17];
    for (int i = 0; i < 8; i++) {
        head[i] = (uint8_t)(d->term >> (8 * i));
        head[8 + i] = (uint8_t)(index >> (8 * i));
    }
    head[16] = d->type;
    return crc32c(crc32c(0, head, sizeof(head)), d->data, d->len);
}

/* Index of the last stored entry. */
uint64_t sim_disk_last(const sim_disk_t *d) {
    return d->snap_index + d->count;
}

/* The prefix hash at index (the snapshot's when index is the snapshot index). */
uint64_t sim_disk_chain_at(const sim_disk_t *d, uint64_t index) {
    if (index == d->snap_index) {
        return d->has_snap ? ctx_read_u64be(d->snap_data + 8) : 0;
    }
    CTX_ASSERT(index > d->snap_index && index <= sim_disk_last(d));
    return d->ents[index - d->snap_index - 1].chain;
}

/* Drops every stored entry after index. */
void sim_disk_truncate(sim_disk_t *d, uint64_t index) {
    while (sim_disk_last(d) > index && d->count > 0) {
        d->count--;
        free(d->ents[d->count].data);
    }
    if (d->synced > d->count) {
        d->synced = d->count;
    }
}

/* Writes one entry at the end of the log (torn: its CRC will not verify). */
void sim_disk_append(sim_t *s, sim_node_t *n, const raft_entry_t *e, bool torn) {
    sim_disk_t *d = &n->disk;
    CTX_ASSERT(e->index == sim_disk_last(d) + 1);
    d->ents = sim_grow(d->ents, &d->cap, d->count + 1, sizeof(sim_dentry_t));
    sim_dentry_t *de = &d->ents[d->count++];
    de->term = e->term;
    de->type = e->type;
    de->len = e->len;
    de->data = ctx_malloc(e->len > 0 ? e->len : 1);
    if (e->len > 0) {
        memcpy(de->data, e->data, e->len);
    }
    de->chain =
        sim_chain_next(sim_disk_chain_at(d, e->index - 1), e->term, e->type, e->data, e->len);
    de->crc = sim_dentry_crc(e->index, de) ^ (torn ? 0x5a5a5a5au : 0);
    if (!torn) {
        sim_check_chain(s, e->index, e->term, de->chain);
    }
}

/* Writes the hard state in its encoded, checksummed form. */
void sim_disk_write_hs(sim_disk_t *d, const raft_hard_state_t *hs) {
    raft_hard_state_encode(hs, d->hs);
    d->hs_written = true;
}

/* Installs a snapshot (always durable: written aside and renamed into place). keep_tail keeps
 * the entries after index (local compaction); a received snapshot replaces the whole log. */
void sim_disk_snapshot(sim_disk_t *d, uint64_t index, uint64_t term, const raft_conf_t *conf,
                       const uint8_t *data, bool keep_tail) {
    if (!keep_tail || index >= sim_disk_last(d)) {
        sim_disk_truncate(d, d->snap_index);
        d->count = 0;
        d->synced = 0;
    } else {
        size_t drop = (size_t)(index - d->snap_index);
        for (size_t i = 0; i < drop; i++) {
            free(d->ents[i].data);
        }
        memmove(d->ents, d->ents + drop, (d->count - drop) * sizeof(d->ents[0]));
        d->count -= drop;
        d->synced = d->synced > drop ? d->synced - drop : 0;
    }
    d->has_snap = true;
    d->snap_index = index;
    d->snap_term = term;
    d->snap_conf = *conf;
    memcpy(d->snap_data, data, SIM_SNAP_BYTES);
}

/* Frees a disk. */
void sim_disk_free(sim_disk_t *d) {
    sim_disk_truncate(d, d->snap_index);
    free(d->ents);
    memset(d, 0, sizeof(*d));
}

/* Recovery: cut the log at the first entry whose CRC does not verify. */
void sim_disk_recover(sim_disk_t *d) {
    for (size_t i = 0; i < d->count; i++) {
        uint64_t index = d->snap_index + 1 + i;
        if (sim_dentry_crc(index, &d->ents[i]) != d->ents[i].crc) {
            sim_disk_truncate(d, index - 1);
            return;
        }
    }
}

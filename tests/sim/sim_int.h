/*
 * sim_int.h — private types of the simulator shared by sim.c (the run: nodes, network, clients,
 * faults, liveness) and sim_check.c (utilities, trace, safety checks, the disk model).
 */
#ifndef CTX_SIM_INT_H
#define CTX_SIM_INT_H

#include "sim.h"

#include "raft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SIM_SLOTS_MAX = 8,
    SIM_TICK_MS = 10,
    SIM_ELECTION_TICKS = 15, /* 150..300 ms election timeout */
    SIM_HEARTBEAT_TICKS = 3,
    SIM_FAULT_TICKS_DEFAULT = 1000,
    SIM_ELECT_BOUND = 300,
    SIM_WRITE_BOUND = 300,
    SIM_PROBE_AFTER = 400,     /* ticks after heal: kill the leader */
    SIM_HEAL_TICKS = 1000,     /* length of the healed phase */
    SIM_QUIET_TICKS = 350,     /* no new writes at the end: convergence check */
    SIM_CONVERGE_BOUND = 2000, /* extra ticks allowed for the last member to catch up */
    SIM_TRACE_MAX = 512,
    SIM_WRITES_INFLIGHT_MAX = 8,
    SIM_READS_MAX = 16,
    SIM_RETRY_TICKS = 80,
    SIM_READ_TIMEOUT = 200,
    SIM_SNAP_BYTES = 24,
    SIM_PAD_MAX = 48,
};

typedef enum {
    EV_CRASH = 1,
    EV_TORN,
    EV_RESTART,
    EV_PARTITION,
    EV_ONEWAY,
    EV_HEAL,
    EV_LEADER,
    EV_PROPOSE,
    EV_ACK,
    EV_READ,
    EV_READ_OK,
    EV_SNAPSHOT,
    EV_COMPACT,
    EV_CONF,
    EV_TRANSFER,
    EV_RETIRE,
    EV_HEAL_ALL,
    EV_PROBE,
} sim_event_kind_t;

typedef struct sim_event {
    uint64_t tick;
    uint32_t kind;
    uint32_t node;
    uint64_t a;
    uint64_t b;
} sim_event_t;

typedef struct sim_dentry {
    uint64_t term;
    uint64_t chain; /* hash of the log prefix ending here */
    uint8_t *data;
    uint32_t len;
    uint32_t crc;
    uint8_t type;
} sim_dentry_t;

typedef struct sim_disk {
    uint8_t hs[RAFT_HARD_STATE_SIZE];
    bool hs_written;
    bool has_snap;
    uint64_t snap_index;
    uint64_t snap_term;
    raft_conf_t snap_conf;
    uint8_t snap_data[SIM_SNAP_BYTES];
    sim_dentry_t *ents; /* index = snap_index + 1 + i */
    size_t count;
    size_t synced; /* ents[0, synced) are durable; the rest is lost in a crash */
    size_t cap;
} sim_disk_t;

typedef struct sim_read {
    uint64_t ctx;
    uint64_t start;
    uint64_t floor; /* highest index of a write acknowledged before the read began */
    uint64_t index; /* confirmed read index, 0 until confirmed */
} sim_read_t;

typedef struct sim_node {
    uint32_t id;
    bool started; /* slot in use */
    bool up;
    bool retired; /* removed from the cluster and shut down for good */
    raft_t *raft;
    raft_rng_t rng;
    uint32_t boots;
    sim_disk_t disk;
    uint64_t applied; /* state machine: applied index and hash chain */
    uint64_t chain;
    uint64_t down_until;
    uint64_t crash_at;    /* scheduled crash (fresh leader), 0 = none */
    uint64_t led_term;    /* last term this node was seen leading */
    bool initial;         /* bootstrapped with the initial membership (else joined later) */
    raft_conf_t app_conf; /* membership as of the applied index (for local snapshots) */
    raft_hard_state_t hs_lazy;
    sim_read_t reads[SIM_READS_MAX];
    int reads_count;
} sim_node_t;

typedef struct sim_packet {
    uint64_t at;
    uint64_t order;
    uint32_t from;
    uint32_t to;
    uint8_t *bytes;
    size_t len;
} sim_packet_t;

typedef struct sim_write {
    uint64_t proposed;
    uint64_t last_try;
    uint64_t index;
    bool acked;
} sim_write_t;

typedef struct sim_commit {
    uint64_t term;
    uint64_t chain;
    uint32_t removes; /* node id removed by this conf entry, 0 if none */
    bool set;
} sim_commit_t;

typedef struct sim_chain {
    uint64_t index;
    uint64_t term;
    uint64_t chain;
} sim_chain_t;

typedef struct sim {
    sim_options_t opt;
    sim_stats_t *st;
    raft_rng_t rng;
    uint64_t now;
    int slots;
    sim_node_t nodes[SIM_SLOTS_MAX];
    bool blocked[SIM_SLOTS_MAX + 1][SIM_SLOTS_MAX + 1];
    uint64_t partition_until;
    uint32_t drop_pm, dup_pm, corrupt_pm, delay_max;   /* per mille per message */
    uint32_t crash_pk, torn_pk, partition_pk, conf_pk; /* per 100k per tick */
    uint32_t transfer_pk, propose_pk, read_pk;
    uint32_t leader_crash_pk;     /* per 100k per tick: crash whoever leads */
    uint32_t fresh_crash_pm;      /* per mille: a new leader crashes within a few ticks */
    uint32_t down_min, down_span; /* a crashed node stays down [min, min + span) ticks */
    uint32_t skew_pm;             /* per mille per node per tick: its clock skips or doubles */
    uint32_t compact_every, inflight_max, entries_max;
    bool pre_vote, check_quorum;
    sim_packet_t *packets;
    size_t packets_count, packets_cap;
    uint64_t packet_order;
    uint32_t *leaders; /* by term */
    size_t leaders_cap;
    sim_commit_t *commits; /* by index */
    size_t commits_cap;
    uint64_t commit_max;
    sim_chain_t *chains; /* open addressing on (index, term) */
    size_t chains_cap, chains_count;
    sim_write_t *writes; /* by write id - 1 */
    size_t writes_count, writes_cap;
    uint64_t max_acked_index;
    uint64_t next_read_ctx;
    uint32_t client_leader;
    uint64_t heal_at, end_at;
    uint64_t stable_since;
    uint32_t stable_leader;
    uint64_t last_stable;  /* last tick a stable leader was seen (after heal) */
    uint64_t disturbed_at; /* heal or the last probe kill: liveness deadlines count from it */
    raft_conf_t bootstrap;
    uint32_t retire[SIM_SLOTS_MAX];
    int retire_count;
    uint32_t outstanding[SIM_WRITES_INFLIGHT_MAX]; /* unacknowledged write ids */
    int outstanding_count;
    uint64_t probe_killed_at;
    uint64_t probe_term;
    uint32_t probe_victim;
    bool failed;
    char *violation;
    sim_event_t trace[SIM_TRACE_MAX];
    uint64_t trace_count;
    uint8_t scratch[8 + 1 + SIM_PAD_MAX];
} sim_t;

/* sim_check.c */
uint64_t sim_mix(uint64_t x);
uint64_t sim_chain_next(uint64_t prev, uint64_t term, uint8_t type, const uint8_t *data,
                        uint32_t len);
bool sim_chance(sim_t *s, uint32_t per, uint32_t scale);
__attribute__((format(printf, 2, 3))) void sim_fail(sim_t *s, const char *fmt, ...);
void *sim_grow(void *ptr, size_t *cap, size_t need, size_t elem);
sim_node_t *sim_node(sim_t *s, uint32_t id);
void sim_event(sim_t *s, uint32_t kind, uint32_t node, uint64_t a, uint64_t b);
void sim_trace_dump(const sim_t *s);
bool sim_faulty(const sim_t *s);
void sim_check_chain(sim_t *s, uint64_t index, uint64_t term, uint64_t chain);
void sim_check_apply(sim_t *s, sim_node_t *n, const raft_entry_t *e);
void sim_check_vote(sim_t *s, const sim_node_t *n, const raft_hard_state_t *next);
void sim_check_new_leader(sim_t *s, sim_node_t *n);
uint64_t sim_disk_last(const sim_disk_t *d);
uint64_t sim_disk_chain_at(const sim_disk_t *d, uint64_t index);
void sim_disk_truncate(sim_disk_t *d, uint64_t index);
void sim_disk_append(sim_t *s, sim_node_t *n, const raft_entry_t *e, bool torn);
void sim_disk_write_hs(sim_disk_t *d, const raft_hard_state_t *hs);
void sim_disk_snapshot(sim_disk_t *d, uint64_t index, uint64_t term, const raft_conf_t *conf,
                       const uint8_t *data, bool keep_tail);
void sim_disk_free(sim_disk_t *d);
void sim_disk_recover(sim_disk_t *d);

#endif

/*
 * sim.h — deterministic simulator for the Raft core (tests/sim, tools/sim).
 *
 * One call runs one seeded cluster: a virtual clock, a network that drops, duplicates, delays,
 * reorders and corrupts messages and partitions nodes (symmetric and one-way), skewed node
 * clocks (ticks lost or doubled), nodes that crash (also in the middle of writing a batch: the
 * unsynced tail is lost or torn) and restart from their fsynced state only, membership changes,
 * leader transfers, and clients that propose writes and read through ReadIndex. Safety properties
 * are checked after every step; liveness after the faults heal. Everything is derived from the
 * seed, so a failing seed replays exactly.
 */
#ifndef CTX_SIM_H
#define CTX_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { SIM_VIOLATION_MAX = 512 };

/* Fault profiles. MIXED draws every intensity from the seed and makes one seed in four a CHURN
 * seed; CHURN is leader churn: one entry per append, lossy links, leaders that crash soon after
 * election, short downtimes, no pre-vote or check-quorum — the conditions of Raft's figure 8. */
enum { SIM_PROFILE_MIXED = 0, SIM_PROFILE_CHURN = 1, SIM_PROFILE_CALM = 2 };

typedef struct sim_options {
    uint64_t seed;
    int nodes;            /* initial voters: 1..5 */
    uint32_t fault_ticks; /* length of the fault phase (0: default 1000) */
    bool membership;      /* add/promote/remove members during the fault phase */
    int profile;          /* SIM_PROFILE_*: how fault intensities are drawn from the seed */
    bool trace;           /* print every event as it happens (else the tail on failure) */
    bool trace_messages;  /* also print every delivered message (very verbose) */
    FILE *out;            /* where traces and reports go; NULL = stderr */
} sim_options_t;

/* What one run did (summed by the caller over seeds). */
typedef struct sim_stats {
    uint64_t ticks;
    uint64_t messages; /* sent */
    uint64_t dropped;  /* injected drops */
    uint64_t lost;     /* not delivered because of a partition or a dead target */
    uint64_t duplicated;
    uint64_t corrupted; /* delivered with a flipped byte (must be refused by the CRC) */
    uint64_t crashes;
    uint64_t torn;       /* crashes in the middle of a batch write */
    uint64_t partitions; /* symmetric + one-way */
    uint64_t conf_changes;
    uint64_t transfers;
    uint64_t faults; /* crashes + torn + partitions + drops + dups + corruptions */
    uint64_t writes_acked;
    uint64_t reads_ok;
    uint64_t snapshots_sent;
    uint64_t elections;           /* terms that had a leader */
    uint64_t probe_elect_ticks;   /* ticks from killing the leader to a new stable leader */
    uint64_t probes;              /* leader-kill probes measured */
    uint64_t liveness_violations; /* 1 when the run failed a liveness (not safety) check */
} sim_stats_t;

/* Runs one cluster. Returns 0 when every check held; CTX_EINTERNAL on a violation, with a
 * one-line description in violation (NUL-terminated) and the event trace printed to out.
 * stats is filled in both cases. */
int sim_run(const sim_options_t *options, sim_stats_t *stats, char violation[SIM_VIOLATION_MAX]);

#endif

/*
 * tools/sim — command line driver of the Raft cluster simulator (tests/sim/sim.c).
 *
 *   sim [--seed N] [--seeds K] [--nodes 3|5|mix] [--profile mixed|churn|calm] [--ticks T]
 *       [--no-membership] [--trace] [--trace-messages] [--expect-violation]
 *
 * Runs seeds N, N+1, ..., N+K-1 (with --nodes mix, even seeds get 3 nodes and odd ones 5) and
 * prints a summary: seeds per second, faults injected per seed, mean ticks (and milliseconds)
 * to elect a new leader after the leader is killed. The first failing seed stops the run: its
 * violation, event trace and the exact command reproducing it are printed and the exit status
 * is 1. --expect-violation inverts the verdict for the planted-bug test: exit 0 when some seed
 * within the range breaks a safety property (printing which), 1 when all pass or the first
 * failure is only a liveness one.
 */
#include "ctx.h"
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { SIM_TICK_MS = 10 };

typedef struct cli {
    uint64_t seed;
    uint64_t seeds;
    int nodes; /* 0 = mix */
    uint32_t ticks;
    bool membership;
    int profile;
    bool trace;
    bool trace_messages;
    bool expect_violation;
} cli_t;

/* Prints usage; returns the exit status 2. */
static int cli_usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--seed N] [--seeds K] [--nodes 3|5|mix] [--profile mixed|churn|calm]\n"
            "          [--ticks T] [--no-membership]\n"
            "          [--trace] [--trace-messages] [--expect-violation]\n",
            argv0);
    return 2;
}

/* Parses argv into cli; CTX_EBAD_PARAM on an unknown or malformed option. */
static int cli_parse(int argc, char **argv, cli_t *cli) {
    *cli = (cli_t){.seed = 1, .seeds = 1, .nodes = 0, .membership = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seed") == 0 && v != NULL) {
            cli->seed = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--seeds") == 0 && v != NULL) {
            cli->seeds = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--nodes") == 0 && v != NULL) {
            cli->nodes = strcmp(v, "mix") == 0 ? 0 : atoi(v);
            i++;
            if (cli->nodes < 0 || cli->nodes > 5) {
                return CTX_EBAD_PARAM;
            }
        } else if (strcmp(a, "--ticks") == 0 && v != NULL) {
            cli->ticks = (uint32_t)strtoul(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--profile") == 0 && v != NULL) {
            i++;
            if (strcmp(v, "mixed") == 0) {
                cli->profile = SIM_PROFILE_MIXED;
            } else if (strcmp(v, "churn") == 0) {
                cli->profile = SIM_PROFILE_CHURN;
            } else if (strcmp(v, "calm") == 0) {
                cli->profile = SIM_PROFILE_CALM;
            } else {
                return CTX_EBAD_PARAM;
            }
        } else if (strcmp(a, "--no-membership") == 0) {
            cli->membership = false;
        } else if (strcmp(a, "--trace") == 0) {
            cli->trace = true;
        } else if (strcmp(a, "--trace-messages") == 0) {
            cli->trace = true;
            cli->trace_messages = true;
        } else if (strcmp(a, "--expect-violation") == 0) {
            cli->expect_violation = true;
        } else {
            return CTX_EBAD_PARAM;
        }
    }
    /* An environment override lets slow builds (sanitizers) run fewer seeds. */
    const char *env = getenv("CONTEXTDB_SIM_SEEDS");
    if (env != NULL && *env != '\0') {
        cli->seeds = strtoull(env, NULL, 10);
    }
    return cli->seeds == 0 ? CTX_EBAD_PARAM : 0;
}

/* Adds every counter of s to sum (the struct is all uint64_t). */
static void stats_add(sim_stats_t *sum, const sim_stats_t *s) {
    uint64_t *a = (uint64_t *)sum;
    const uint64_t *b = (const uint64_t *)s;
    for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++) {
        a[i] += b[i];
    }
}

/* Prints the exact command that replays one seed with its trace. */
static void print_repro(const char *argv0, const cli_t *cli, uint64_t seed, int nodes) {
    static const char *profiles[] = {"mixed", "churn", "calm"};
    fprintf(stderr, "reproduce: %s --seed %llu --nodes %d --profile %s%s", argv0,
            (unsigned long long)seed, nodes, profiles[cli->profile],
            cli->membership ? "" : " --no-membership");
    if (cli->ticks != 0) {
        fprintf(stderr, " --ticks %u", cli->ticks);
    }
    fprintf(stderr, " --trace\n");
}

/* CPU seconds used by this process so far (the machine may be shared). */
static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Prints throughput, faults per seed and the re-election measurement. */
static void print_summary(const cli_t *cli, const sim_stats_t *sum, uint64_t runs, double secs) {
    double n = runs > 0 ? (double)runs : 1;
    double cpu = cpu_seconds();
    double elect = sum->probes > 0 ? (double)sum->probe_elect_ticks / (double)sum->probes : 0;
    fprintf(stderr,
            "seeds %llu..%llu: %llu runs in %.2fs (%.1f seeds/s; %.1f per cpu-second), "
            "%llu ticks\n"
            "faults/seed %.1f (drops %.1f, dups %.1f, corrupt %.1f, crashes %.2f, torn %.2f, "
            "partitions %.2f); conf changes/seed %.2f, transfers/seed %.2f\n"
            "per seed: %.0f messages (%.0f lost to partitions or dead nodes), %.1f writes acked, "
            "%.1f reads ok, %.2f snapshots sent, %.1f elections\n"
            "leader-kill probe: %llu measured, mean %.1f ticks (%.0f ms) to a new stable leader\n",
            (unsigned long long)cli->seed, (unsigned long long)(cli->seed + runs - 1),
            (unsigned long long)runs, secs, (double)runs / (secs > 0 ? secs : 1e-9),
            (double)runs / (cpu > 0 ? cpu : 1e-9), (unsigned long long)sum->ticks,
            (double)sum->faults / n, (double)sum->dropped / n, (double)sum->duplicated / n,
            (double)sum->corrupted / n, (double)sum->crashes / n, (double)sum->torn / n,
            (double)sum->partitions / n, (double)sum->conf_changes / n, (double)sum->transfers / n,
            (double)sum->messages / n, (double)sum->lost / n, (double)sum->writes_acked / n,
            (double)sum->reads_ok / n, (double)sum->snapshots_sent / n, (double)sum->elections / n,
            (unsigned long long)sum->probes, elect, elect * SIM_TICK_MS);
}

/* Runs the seeds; exit status 0 = all passed (or, with --expect-violation, one failed). */
int main(int argc, char **argv) {
    cli_t cli;
    if (cli_parse(argc, argv, &cli) != 0) {
        return cli_usage(argv[0]);
    }
    sim_stats_t sum;
    memset(&sum, 0, sizeof(sum));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t runs = 0;
    int status = cli.expect_violation ? 1 : 0;
    for (uint64_t i = 0; i < cli.seeds; i++) {
        uint64_t seed = cli.seed + i;
        int nodes = cli.nodes != 0 ? cli.nodes : (seed % 2 == 0 ? 3 : 5);
        sim_options_t opt = {.seed = seed,
                             .nodes = nodes,
                             .fault_ticks = cli.ticks,
                             .membership = cli.membership,
                             .profile = cli.profile,
                             .trace = cli.trace,
                             .trace_messages = cli.trace_messages,
                             .out = stderr};
        sim_stats_t st;
        char violation[SIM_VIOLATION_MAX];
        int rc = sim_run(&opt, &st, violation);
        stats_add(&sum, &st);
        runs++;
        if (runs % 10000 == 0 && runs < cli.seeds) {
            fprintf(stderr, "progress: %llu seeds passed (%.1f per cpu-second)\n",
                    (unsigned long long)runs, (double)runs / cpu_seconds());
        }
        if (rc != 0) {
            fprintf(stderr, "VIOLATION seed %llu (%d nodes): %s\n", (unsigned long long)seed, nodes,
                    violation);
            print_repro(argv[0], &cli, seed, nodes);
            if (cli.expect_violation && st.liveness_violations > 0) {
                fprintf(stderr, "(a liveness failure, not the safety violation expected)\n");
                status = 1;
            } else {
                status = cli.expect_violation ? 0 : 1;
            }
            break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_summary(&cli, &sum, runs, secs);
    if (cli.expect_violation) {
        fprintf(stderr,
                status == 0 ? "expected violation found after %llu seeds\n"
                            : "no violation found in %llu seeds\n",
                (unsigned long long)runs);
    }
    return status;
}

/*
 * main.c — the contextdb executable: configuration, data directory lock, store, event loop.
 *
 * Start-up order: parse flags (remembering them), apply defaults → config file → CONTEXTDB_*
 * environment → flags, so the most specific source wins; create and lock the data directory
 * (fsu_lock_dir: an flock on the directory itself, so removing <data_dir>/contextdb.pid, which
 * records our pid, cannot let a second server in, and a crashed server's lock disappears with
 * it); create the store and the SQL
 * database; bind; print the ready line `contextdb: listening on HOST:PORT` on stdout (scripts and
 * tests wait for it); run the loop until SIGINT/SIGTERM. Exit status 0 after a clean shutdown,
 * 1 for configuration or start-up errors.
 *
 * Threads and processes (nothing else runs concurrently):
 *   - event loop — the main thread (server/loop.c). It does recovery at start-up, then owns every
 *     socket, connection, session, the store, the vector index and all SQL execution; it appends
 *     to the WAL, forks snapshot writers, and receives SIGINT/SIGTERM through a signalfd.
 *   - WAL writer (storage/wal.c, started by durability_open) — owns the active segment's writes
 *     and fsyncs: it takes the loop's pending records, writes and fsyncs them (group commit) and
 *     publishes the durable index through an eventfd the loop watches.
 *   - cancel watcher (server/cancel.c, started with the loop) — while the loop is busy in one
 *     connection it accepts new connections, serves CancelRequests (under the lock the loop
 *     releases only while busy) and parks other sockets for the loop; it also fires
 *     statement_timeout. Of a session it touches only the atomic cancel flag; never the store.
 *   - snapshot writer child process (server/durability.c, fork per CREATE SNAPSHOT or interval)
 *     — a copy-on-write image of the store: writes the snapshot's column files, HNSW index and
 *     metadata, then exits; it keeps no inherited descriptor and dies with the parent.
 *   - snapshot waiter (server/durability.c, one thread per running snapshot) — reaps that child,
 *     waits until the WAL is durable up to the snapshot, switches metadata/current, uploads to
 *     the object store, removes old WAL segments and wakes the loop through an eventfd.
 *   - HTTP threads (server/http.c, libmicrohttpd's pool of http_threads) — the REST API,
 *     /metrics, /healthz, /readyz. They never touch the store: each request runs as SQL over a
 *     socketpair the loop adopted as a session (loop_adopt), like any pgwire client. Started
 *     after the loop is created (its port printed before the pgwire ready line) and stopped
 *     after loop_run returns, before the loop is destroyed. A port that cannot be bound is
 *     logged and the server runs without HTTP.
 *   - Raft transport (raft/transport.c, several members only) — one I/O thread owning the
 *     sockets to the other members; it queues received frames and wakes the loop through the
 *     same eventfd. The Raft node itself (server/cluster.c) runs on the loop thread.
 *   - Raft ticker (server/cluster.c, several members only) — writes that eventfd every 10 ms.
 *   - forwarders (server/forward.c, one detached thread per client connection a follower handed
 *     to the leader) — relay bytes between that client's socket and the leader; they touch no
 *     session and no store.
 *
 * Signals: SIGINT/SIGTERM reach the loop's signalfd; SIGHUP's handler only asks the logger to
 * reopen log_file before its next line (logrotate).
 */
#include "cluster.h"
#include "config.h"
#include "durability.h"
#include "fsutil.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "stack.h"
#include "sql.h"
#include "store.h"
#include "vindex.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAIN_SERVER_VERSION "15.0 (ContextDB " CTX_VERSION ")"
#define MAIN_LOCK_FILE "contextdb.pid"
enum { MAIN_FLAGS_MAX = 16 };
static const uint64_t MAIN_DB_SEED = UINT64_C(0x436f6e7465787444); /* "ContextD" */

typedef struct main_flag {
    const char *key;
    const char *value;
} main_flag_t;

static void main_usage(FILE *out) {
    fprintf(out,
            "contextdb " CTX_VERSION " — graph + vector database speaking the PostgreSQL protocol\n"
            "\n"
            "Usage: contextdb [--host ADDR] [--port N] [--data-dir DIR] [--config FILE]\n"
            "\n"
            "  --host ADDR      address to listen on (default 127.0.0.1)\n"
            "  --port N         pgwire port (default 5433; 0 = any free port)\n"
            "  --data-dir DIR   data directory (default ./contextdb-data)\n"
            "  --config FILE    configuration file of `key = value` lines\n"
            "  --node-id N      this member's id in cluster_nodes (default 1)\n"
            "  --raft-port N    Raft TCP port of this member (default 7001)\n"
            "  --cluster-nodes ID=HOST:PORT,...\n"
            "                   initial members of the cluster (default: this node alone)\n"
            "  --join           join a running cluster named by cluster_nodes (cluster_join)\n"
            "  --restore-snapshot N\n"
            "                   with S3 and an empty data directory, restore snapshot N\n"
            "  --help           show this help and exit\n"
            "  --version        show the version and exit\n"
            "  --scram-secret PASSWORD\n"
            "                   print a SCRAM-SHA-256 verifier for `user.NAME = ...` and exit\n"
            "\n"
            "Configuration keys (file; environment CONTEXTDB_<KEY> overrides the file, flags\n"
            "override both):\n");
    config_print_keys(out);
}

/* --scram-secret PASSWORD: prints a verifier for the configuration file. */
static int main_scram_secret(const char *password) {
    char verifier[AUTH_VERIFIER_BYTES_MAX];
    ctx_err_t err;
    ctx_err_clear(&err);
    if (auth_scram_verifier(password, AUTH_SCRAM_ITERATIONS, verifier, &err) < 0) {
        fprintf(stderr, "contextdb: %s\n", err.message);
        return -1;
    }
    printf("%s\n", verifier);
    return 1;
}

/* Returns 0 to continue, 1 to exit successfully (help/version), -1 on a usage error. */
static int main_parse_args(int argc, char **argv, const char **config_path, main_flag_t *flags,
                           int *flag_count) {
    static const struct option options[] = {{"host", required_argument, NULL, 'h'},
                                            {"port", required_argument, NULL, 'p'},
                                            {"data-dir", required_argument, NULL, 'D'},
                                            {"config", required_argument, NULL, 'c'},
                                            {"help", no_argument, NULL, '?' + 256},
                                            {"version", no_argument, NULL, 'V'},
                                            {"scram-secret", required_argument, NULL, 'S'},
                                            {"node-id", required_argument, NULL, 'N'},
                                            {"raft-port", required_argument, NULL, 'R'},
                                            {"cluster-nodes", required_argument, NULL, 'C'},
                                            {"join", no_argument, NULL, 'J'},
                                            {"restore-snapshot", required_argument, NULL, 'r'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        const char *key = NULL;
        switch (opt) {
        case 'h':
            key = "host";
            break;
        case 'p':
            key = "port";
            break;
        case 'D':
            key = "data_dir";
            break;
        case 'N':
            key = "node_id";
            break;
        case 'R':
            key = "raft_port";
            break;
        case 'C':
            key = "cluster_nodes";
            break;
        case 'J':
            key = "cluster_join";
            break;
        case 'r':
            key = "s3_restore_snapshot";
            break;
        case 'c':
            *config_path = optarg;
            continue;
        case '?' + 256:
            main_usage(stdout);
            return 1;
        case 'V':
            printf("contextdb %s\n", CTX_VERSION);
            return 1;
        case 'S':
            return main_scram_secret(optarg);
        default:
            fprintf(stderr, "contextdb: invalid option \"%s\"\nTry \"contextdb --help\".\n",
                    argv[optind - 1]);
            return -1;
        }
        if (*flag_count >= MAIN_FLAGS_MAX) {
            fprintf(stderr, "contextdb: more than %d options\n", MAIN_FLAGS_MAX);
            return -1;
        }
        flags[*flag_count].key = key;
        flags[*flag_count].value = opt == 'J' ? "on" : optarg; /* --join takes no value */
        (*flag_count)++;
    }
    if (optind < argc) {
        fprintf(stderr, "contextdb: unexpected argument \"%s\"\nTry \"contextdb --help\".\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

static int main_configure(int argc, char **argv, config_t *cfg, ctx_err_t *err) {
    const char *config_path = NULL;
    main_flag_t flags[MAIN_FLAGS_MAX];
    int flag_count = 0;
    int rc = main_parse_args(argc, argv, &config_path, flags, &flag_count);
    if (rc != 0) {
        return rc;
    }
    config_defaults(cfg);
    if (config_path != NULL && config_load_file(cfg, config_path, err) < 0) {
        return -1;
    }
    if (config_load_env(cfg, err) < 0) {
        return -1;
    }
    for (int i = 0; i < flag_count; i++) {
        char source[64];
        snprintf(source, sizeof(source), "command-line option for %s", flags[i].key);
        if (config_set(cfg, flags[i].key, flags[i].value, source, err) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Creates and locks the data directory (fsu_lock_dir); returns the lock fd (kept open) or -1. */
static int main_lock_data_dir(const char *dir, ctx_err_t *err) {
    int fd = -1;
    if (fsu_mkdirs(dir, 0700, err) != CTX_OK || fsu_lock_dir(dir, MAIN_LOCK_FILE, &fd, err) != 0) {
        return -1;
    }
    return fd;
}

static void main_on_sighup(int signo) {
    (void)signo;
    ctx_log_request_reopen();
}

/* SIGPIPE ignored (send uses MSG_NOSIGNAL anyway); SIGINT/SIGTERM blocked for the signalfd;
 * SIGHUP reopens the log file; descriptor limit raised so hundreds of clients fit. */
static void main_setup_process(void) {
    signal(SIGPIPE, SIG_IGN);
    struct sigaction hup;
    memset(&hup, 0, sizeof(hup));
    hup.sa_handler = main_on_sighup;
    hup.sa_flags = SA_RESTART;
    sigemptyset(&hup.sa_mask);
    sigaction(SIGHUP, &hup, NULL);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

/* metrics_vector_fn over db->vindex (installed by durability_open, destroyed after the source is
 * removed); vindex_stats is safe on the HTTP thread. */
static bool main_vector_metrics(void *ctx, metrics_vector_t *out) {
    const sql_db_t *db = ctx;
    if (db->vindex == NULL) {
        return false;
    }
    vindex_stats_t st;
    vindex_stats(db->vindex, &st);
    out->searches = st.searches;
    out->vectors = st.vectors;
    return true;
}

static int main_adopt(void *ctx, int fd) {
    return loop_adopt(ctx, fd);
}

/* The HTTP server on http_port; prints `contextdb: HTTP API on HOST:PORT` (before the
 * pgwire ready line, so whoever waits for that line can read this one). NULL with http_port =
 * off, or when it could not start: logged, and the server goes on without HTTP. */
static http_server_t *main_start_http(const config_t *cfg, loop_t *loop) {
    http_config_t config = {.host = cfg->host,
                            .port = cfg->http_port,
                            .auth_token = cfg->http_auth_token,
                            .auth_required = cfg->auth.method != AUTH_TRUST,
                            .body_bytes_max = cfg->http_body_bytes_max,
                            .threads = cfg->http_threads,
                            .tls_cert_file = cfg->ssl_cert_file,
                            .tls_key_file = cfg->ssl_key_file,
                            .version = MAIN_SERVER_VERSION,
                            .ui_dir = cfg->http_ui_dir,
                            .adopt = main_adopt,
                            .adopt_ctx = loop};
    http_server_t *http = NULL;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (cfg->http_off) {
        return NULL;
    }
    if (http_start(&config, &http, &err) != 0) {
        CTX_ERROR("HTTP API disabled: %s", err.message);
        return NULL;
    }
    printf("contextdb: HTTP API on %s:%u\n", cfg->host, http_port(http));
    return http;
}

/* Starts HTTP, prints the ready line, serves until SIGINT/SIGTERM, stops HTTP (its SQL sessions
 * ended with the loop's shutdown; the loop itself is destroyed by the caller, after this). */
static int main_run(const config_t *cfg, loop_t *loop, ctx_err_t *err) {
    http_server_t *http = main_start_http(cfg, loop);
    printf("contextdb: listening on %s:%u\n", cfg->host, loop_port(loop));
    fflush(stdout);
    CTX_INFO("ready: host=%s port=%u http_port=%u data_dir=%s max_connections=%u "
             "vector_dimensions=%u",
             cfg->host, loop_port(loop), http != NULL ? http_port(http) : 0, cfg->data_dir,
             cfg->max_connections, cfg->vector_dimensions);
    metrics_set_ready(true);
    int rc = loop_run(loop, err);
    metrics_set_ready(false);
    http_stop(http);
    return rc;
}

/* The replicated log over durability's WAL (server/cluster.h): cluster_nodes' members, this
 * node's listen address from its own entry (raft_port when it is not listed). */
static int main_open_cluster(const config_t *cfg, sql_db_t *db, durability_t *dur, cluster_t **out,
                             ctx_err_t *err) {
    static cluster_member_t members[CLUSTER_MEMBERS_MAX];
    int count = 0;
    if (cluster_parse_members(cfg->cluster_nodes, members, &count, err) != CTX_OK) {
        return -1;
    }
    cluster_config_t cc = {.node_id = cfg->node_id,
                           .members = members,
                           .members_count = count,
                           .raft_host = cfg->host,
                           .raft_port = (uint16_t)cfg->raft_port,
                           .secret = cfg->cluster_secret,
                           .synchronous_commit = cfg->synchronous_commit,
                           .commit_timeout_ms = cfg->cluster_commit_timeout_ms,
                           .join = cfg->cluster_join,
                           .data_dir = cfg->data_dir,
                           .notify_fd = durability_notify_fd(dur)};
    bool listed = count == 0;
    for (int i = 0; i < count; i++) {
        if (members[i].id == cfg->node_id) {
            cc.raft_host = members[i].host;
            cc.raft_port = members[i].raft_port;
            listed = true;
        }
    }
    if (!listed) {
        ctx_err_set(err, CTX_ECONFIG, "node_id %u is not one of cluster_nodes \"%s\"", cfg->node_id,
                    cfg->cluster_nodes);
        return -1;
    }
    if (cfg->cluster_join && count < 2) {
        ctx_err_set(err, CTX_ECONFIG,
                    "cluster_join needs cluster_nodes naming a running member and this one");
        return -1;
    }
    return cluster_open(&cc, db, dur, out, err) == CTX_OK ? 0 : -1;
}

static int main_serve(const config_t *cfg, ctx_err_t *err) {
    store_config_t store_config = {.vector_dims = cfg->vector_dimensions};
    sql_db_t db;
    memset(&db, 0, sizeof(db));
    /* Durability first: recovery rebuilds the store from the snapshot and the WAL. */
    durability_config_t dur_config = {.data_dir = cfg->data_dir,
                                      .vector_dims = store_config.vector_dims,
                                      .synchronous_commit = cfg->synchronous_commit,
                                      .snapshot_interval_records = cfg->snapshot_interval_records,
                                      .snapshot_codec = cfg->snapshot_codec,
                                      .wal_segment_bytes = cfg->wal_segment_bytes,
                                      .restore_snapshot = cfg->s3_restore_snapshot};
    objstore_s3_config_t s3 = cfg->s3;
    if (s3.bucket[0] != '\0') { /* DESIGN §8: S3 once a bucket is configured */
        objstore_s3_config_env(&s3);
        s3.path_style = cfg->s3_addressing == 1 || (cfg->s3_addressing == 0 && s3.endpoint[0]);
        s3.jitter_seed = (uint64_t)getpid();
        dur_config.s3 = &s3;
    }
    db.server_version = MAIN_SERVER_VERSION;
    db.seed = MAIN_DB_SEED;
    char mem_limit[32];
    arena_format_size((size_t)cfg->statement_mem_limit, mem_limit, sizeof(mem_limit));
    db.statement_mem_limit = mem_limit;
    size_t stack_depth_bytes = (size_t)cfg->max_stack_depth * CTX_STACK_FRAME_SCALE;
    if (stack_depth_bytes > ctx_stack_depth_allowed_bytes()) {
        ctx_err_set(err, CTX_ECONFIG,
                    "max_stack_depth %" PRIu64 "kB exceeds the %zukB the "
                    "stack allows; raise \"ulimit -s\"",
                    cfg->max_stack_depth / 1024,
                    ctx_stack_depth_allowed_bytes() / CTX_STACK_FRAME_SCALE / 1024);
        return -1;
    }
    ctx_stack_set_max_depth(stack_depth_bytes);
    if (!ctx_mem_reserve(CTX_MEM_RESERVE_BYTES)) {
        return ctx_err_set(err, CTX_ENOMEM, "out of memory setting aside the memory reserve");
    }
    char stack_depth[32];
    arena_format_size((size_t)cfg->max_stack_depth, stack_depth, sizeof(stack_depth));
    db.max_stack_depth = stack_depth;
    /* The vector index follows committed batches (engine/vector/vindex.h); durability loads it from
     * the snapshot (or builds it) and installs db.vindex and db.hooks.applied. */
    hnsw_config_t hnsw_config;
    hnsw_config_default(&hnsw_config, cfg->vector_dimensions, db.seed);
    hnsw_config.metric = (metric_t)cfg->hnsw_metric;
    hnsw_config.m = cfg->hnsw_m;
    hnsw_config.ef_construction = cfg->hnsw_ef_construction;
    dur_config.vector_index = &hnsw_config;
    durability_t *dur = NULL;
    if (durability_open(&dur_config, &db, &dur, err) != CTX_OK) {
        return -1;
    }
    metrics_set_vector_source(main_vector_metrics, &db);
    cluster_t *cl = NULL;
    if (main_open_cluster(cfg, &db, dur, &cl, err) != 0) {
        metrics_set_vector_source(NULL, NULL);
        durability_close(dur);
        vindex_destroy(db.vindex);
        store_destroy(db.store);
        return -1;
    }
    loop_config_t loop_config = {.host = cfg->host,
                                 .port = cfg->port,
                                 .sessions_max = cfg->max_connections,
                                 .message_bytes_max = cfg->message_bytes_max};
    loop_config.auth = &cfg->auth;
    loop_config.ssl_cert_file = cfg->ssl_cert_file;
    loop_config.authentication_timeout_ms = cfg->authentication_timeout_ms;
    loop_config.ssl_key_file = cfg->ssl_key_file;
    loop_config.notify_fd = durability_notify_fd(dur);
    loop_config.on_notify = cluster_loop_notify;
    loop_config.reply_ready = cluster_reply_ready;
    loop_config.commit_result = cluster_commit_result;
    loop_config.snapshot_result = cluster_snapshot_result;
    loop_config.read_ready = cluster_read_ready;
    loop_config.reads_barrier = cluster_reads_need_barrier(cl);
    if (cluster_reads_need_barrier(cl)) { /* several members: writes forward to the leader */
        loop_config.leader_pgwire = cluster_leader_pgwire;
        loop_config.forward_token = cluster_forward_token;
        loop_config.forward_secret = cluster_secret(cl);
    }
    loop_config.durability_ctx = cl;
    loop_t *loop = NULL;
    int rc = loop_create(&loop_config, &db, &loop, err);
    if (rc == 0) {
        char advertise[CONFIG_HOST_BYTES_MAX + 8];
        snprintf(advertise, sizeof(advertise), "%s:%u", cfg->host, loop_port(loop));
        rc = cluster_start(cl, advertise, err) == CTX_OK ? 0 : -1;
    }
    if (rc == 0) {
        rc = main_run(cfg, loop, err);
    }
    cluster_close(cl);     /* hands leadership over; nothing proposes after this */
    durability_close(dur); /* flushes the WAL; the loop no longer appends */
    loop_destroy(loop);
    metrics_set_vector_source(NULL, NULL);
    vindex_destroy(db.vindex);
    store_destroy(db.store);
    return rc;
}

int main(int argc, char **argv) {
    config_t cfg;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = main_configure(argc, argv, &cfg, &err);
    if (rc != 0) {
        if (err.code != CTX_OK) {
            fprintf(stderr, "contextdb: %s\n", err.message);
            if (err.hint[0] != '\0') {
                fprintf(stderr, "HINT: %s\n", err.hint);
            }
        }
        return rc > 0 ? 0 : 1;
    }
    ctx_log_set_level(cfg.log_level);
    ctx_log_set_format(cfg.log_format);
    ctx_log_set_min_duration_ms(cfg.log_min_duration_statement_ms);
    if (cfg.log_file[0] != '\0' && ctx_log_open_file(cfg.log_file, &err) < 0) {
        fprintf(stderr, "contextdb: %s\n", err.message);
        return 1;
    }
    metrics_init(cfg.data_dir);
    main_setup_process();
    int lock_fd = main_lock_data_dir(cfg.data_dir, &err);
    if (lock_fd < 0) {
        fprintf(stderr, "contextdb: %s\n", err.message);
        return 1;
    }
    rc = main_serve(&cfg, &err);
    if (rc < 0) {
        fprintf(stderr, "contextdb: %s\n", err.message);
    }
    char pid_path[FSU_PATH_MAX];
    if (fsu_path(pid_path, NULL, "%s/%s", cfg.data_dir, MAIN_LOCK_FILE) == CTX_OK &&
        unlink(pid_path) < 0) {
        CTX_WARN("could not remove \"%s\": %s", pid_path, strerror(errno));
    }
    close(lock_fd); /* after the pid file is gone: the next server finds no stale pid */
    return rc < 0 ? 1 : 0;
}

/*
 * metrics.c — process-wide counters and the Prometheus text exposition (format 0.0.4).
 *
 * Connection and statement counters are relaxed atomics bumped by the event loop; HTTP request
 * counters sit in a small table under a mutex (HTTP threads only, a handful of routes). Latency
 * histograms keep cumulative-ready per-bucket counts plus a sum in nanoseconds; rendering turns
 * them into Prometheus' cumulative `le` buckets. Statements are classified from the reply the
 * server produced (CommandComplete tags, ErrorResponses), so the simple and the extended
 * protocol, multi-statement queries and COPY are counted by the same code without the SQL layer
 * knowing about metrics.
 *
 * What the exposition reads besides the counters: the WAL segment files and snapshot metadata
 * files in the data directory (stat only, never the live structures), /proc/self for process
 * metrics, the Raft source, and row counts the caller obtained over SQL.
 */
#include "metrics.h"

#include "ctx.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { METRICS_ROUTES_MAX = 64, METRICS_PATH_BYTES_MAX = 4096 };

/* Bucket upper bounds in seconds; the last implicit bucket is +Inf. */
static const double METRICS_BOUNDS_S[METRICS_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0};

typedef struct metrics_hist {
    atomic_uint_fast64_t buckets[METRICS_LATENCY_BUCKETS + 1];
    atomic_uint_fast64_t sum_ns;
} metrics_hist_t;

typedef struct metrics_route {
    char method[8];
    char route[METRICS_HTTP_ROUTE_BYTES_MAX];
    uint64_t by_class[6]; /* index status / 100 (1xx..5xx) */
} metrics_route_t;

static const char *const METRICS_CONN_NAMES[METRICS_CONN_STATES] = {"startup", "idle", "active"};
static const char *const METRICS_KIND_NAMES[METRICS_STMT_KINDS] = {
    "select", "insert", "update", "delete", "copy", "transaction", "snapshot", "other"};

static struct {
    atomic_int_fast64_t conns[METRICS_CONN_STATES];
    atomic_uint_fast64_t conns_total;
    atomic_uint_fast64_t stmts[METRICS_STMT_KINDS][2]; /* [kind][0 ok, 1 error] */
    atomic_uint_fast64_t slow;
    metrics_hist_t query;
    metrics_hist_t durable;
    metrics_hist_t http;
    metrics_hist_t wal_fsync;
    pthread_mutex_t mu; /* routes, raft and vector sources */
    metrics_route_t routes[METRICS_ROUTES_MAX];
    size_t nroutes;
    metrics_raft_fn raft_fn;
    void *raft_ctx;
    metrics_vector_fn vector_fn;
    void *vector_ctx;
    atomic_bool ready;
    uint64_t start_ns;
    double start_unix_s;
    char data_dir[METRICS_PATH_BYTES_MAX];
} metrics = {.mu = PTHREAD_MUTEX_INITIALIZER};

uint64_t metrics_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_init(const char *data_dir) {
    CTX_ASSERT(data_dir != NULL);
    metrics.start_ns = metrics_now_ns();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    metrics.start_unix_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    snprintf(metrics.data_dir, sizeof(metrics.data_dir), "%s", data_dir);
}

void metrics_set_raft_source(metrics_raft_fn fn, void *ctx) {
    pthread_mutex_lock(&metrics.mu);
    metrics.raft_fn = fn;
    metrics.raft_ctx = ctx;
    pthread_mutex_unlock(&metrics.mu);
}

void metrics_set_vector_source(metrics_vector_fn fn, void *ctx) {
    pthread_mutex_lock(&metrics.mu);
    metrics.vector_fn = fn;
    metrics.vector_ctx = ctx;
    pthread_mutex_unlock(&metrics.mu);
}

/* The vector source's figures (under mu, so a source is never removed while it runs); false
 * when there is no source or no index. */
static bool metrics_vector(metrics_vector_t *out) {
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&metrics.mu);
    bool ok = metrics.vector_fn != NULL && metrics.vector_fn(metrics.vector_ctx, out);
    pthread_mutex_unlock(&metrics.mu);
    return ok;
}

void metrics_raft(metrics_raft_t *out) {
    CTX_ASSERT(out != NULL);
    memset(out, 0, sizeof(*out));
    out->role = "standalone";
    out->ready = metrics_ready();
    pthread_mutex_lock(&metrics.mu);
    metrics_raft_fn fn = metrics.raft_fn;
    void *ctx = metrics.raft_ctx;
    pthread_mutex_unlock(&metrics.mu);
    if (fn != NULL) {
        fn(ctx, out);
        out->ready = out->ready && metrics_ready();
    }
    CTX_ASSERT(out->role != NULL);
}

void metrics_set_ready(bool ready) {
    atomic_store(&metrics.ready, ready);
}

bool metrics_ready(void) {
    return atomic_load(&metrics.ready);
}

double metrics_uptime_seconds(void) {
    return (double)(metrics_now_ns() - metrics.start_ns) / 1e9;
}

void metrics_conn_move(int from, int to) {
    CTX_ASSERT(from >= 0 && from <= METRICS_CONN_STATES);
    CTX_ASSERT(to >= 0 && to <= METRICS_CONN_STATES);
    if (from < METRICS_CONN_STATES) {
        atomic_fetch_sub_explicit(&metrics.conns[from], 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&metrics.conns_total, 1, memory_order_relaxed);
    }
    if (to < METRICS_CONN_STATES) {
        atomic_fetch_add_explicit(&metrics.conns[to], 1, memory_order_relaxed);
    }
}

static void metrics_hist_add(metrics_hist_t *hist, uint64_t duration_ns) {
    double seconds = (double)duration_ns / 1e9;
    size_t bucket = 0;
    while (bucket < METRICS_LATENCY_BUCKETS && seconds > METRICS_BOUNDS_S[bucket]) {
        bucket++;
    }
    atomic_fetch_add_explicit(&hist->buckets[bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hist->sum_ns, duration_ns, memory_order_relaxed);
}

/* The kind of a statement from the first word of its tag or text (case-insensitive). */
static metrics_stmt_kind_t metrics_kind(const char *word, size_t len) {
    static const struct {
        const char *word;
        metrics_stmt_kind_t kind;
    } words[] = {{"SELECT", METRICS_STMT_SELECT},   {"INSERT", METRICS_STMT_INSERT},
                 {"UPDATE", METRICS_STMT_UPDATE},   {"DELETE", METRICS_STMT_DELETE},
                 {"COPY", METRICS_STMT_COPY},       {"BEGIN", METRICS_STMT_TXN},
                 {"START", METRICS_STMT_TXN},       {"COMMIT", METRICS_STMT_TXN},
                 {"END", METRICS_STMT_TXN},         {"ROLLBACK", METRICS_STMT_TXN},
                 {"CREATE", METRICS_STMT_SNAPSHOT}, {"WITH", METRICS_STMT_SELECT}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) == len && strncasecmp(words[i].word, word, len) == 0) {
            return words[i].kind;
        }
    }
    return METRICS_STMT_OTHER;
}

static size_t metrics_word_len(const char *s, size_t max) {
    size_t n = 0;
    while (n < max && ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z'))) {
        n++;
    }
    return n;
}

static void metrics_count(metrics_stmt_kind_t kind, int outcome) {
    atomic_fetch_add_explicit(&metrics.stmts[kind][outcome], 1, memory_order_relaxed);
}

void metrics_statements(const uint8_t *reply, size_t len, const char *query_text,
                        uint64_t duration_ns) {
    size_t at = 0;
    bool any = false;
    while (len - at >= 5) {
        uint8_t type = reply[at];
        uint32_t body = ctx_read_u32be(reply + at + 1);
        if (body < 4 || body - 4 > len - at - 5) {
            break; /* not whole messages: count nothing more */
        }
        const char *payload = (const char *)reply + at + 5;
        if (type == 'C') {
            metrics_count(metrics_kind(payload, metrics_word_len(payload, body - 4)), 0);
            any = true;
        } else if (type == 'E') {
            metrics_stmt_kind_t kind = METRICS_STMT_OTHER;
            if (query_text != NULL) {
                const char *s = query_text + strspn(query_text, " \t\r\n(");
                kind = metrics_kind(s, metrics_word_len(s, strlen(s)));
            }
            metrics_count(kind, 1);
            any = true;
        }
        at += 1 + (size_t)body;
    }
    if (any) {
        metrics_hist_add(&metrics.query, duration_ns);
    }
}

void metrics_durability_wait(uint64_t duration_ns) {
    metrics_hist_add(&metrics.durable, duration_ns);
}

void metrics_wal_fsync(uint64_t duration_ns) {
    metrics_hist_add(&metrics.wal_fsync, duration_ns);
}

void metrics_slow_statement(void) {
    atomic_fetch_add_explicit(&metrics.slow, 1, memory_order_relaxed);
}

void metrics_http_request(const char *method, const char *route, int status, uint64_t duration_ns) {
    CTX_ASSERT(method != NULL && route != NULL);
    metrics_hist_add(&metrics.http, duration_ns);
    int cls = status / 100;
    if (cls < 1 || cls > 5) {
        cls = 5;
    }
    pthread_mutex_lock(&metrics.mu);
    metrics_route_t *slot = NULL;
    for (size_t i = 0; i < metrics.nroutes && slot == NULL; i++) {
        if (strcmp(metrics.routes[i].method, method) == 0 &&
            strncmp(metrics.routes[i].route, route, METRICS_HTTP_ROUTE_BYTES_MAX - 1) == 0) {
            slot = &metrics.routes[i];
        }
    }
    if (slot == NULL && metrics.nroutes < METRICS_ROUTES_MAX) {
        slot = &metrics.routes[metrics.nroutes++];
        snprintf(slot->method, sizeof(slot->method), "%s", method);
        snprintf(slot->route, sizeof(slot->route), "%s", route);
    }
    if (slot != NULL) {
        slot->by_class[cls]++;
    }
    pthread_mutex_unlock(&metrics.mu);
}

static void metrics_render_hist(buf_t *out, const char *name, const char *help,
                                const metrics_hist_t *hist) {
    buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= METRICS_LATENCY_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&hist->buckets[i], memory_order_relaxed);
        if (i < METRICS_LATENCY_BUCKETS) {
            buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, METRICS_BOUNDS_S[i],
                       (unsigned long long)cumulative);
        } else {
            buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
        }
    }
    double sum = (double)atomic_load_explicit(&hist->sum_ns, memory_order_relaxed) / 1e9;
    buf_printf(out, "%s_sum %.9f\n%s_count %llu\n", name, sum, name,
               (unsigned long long)cumulative);
}

static void metrics_gauge(buf_t *out, const char *name, const char *type, const char *help,
                          double value) {
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}

static void metrics_render_conns(buf_t *out) {
    buf_printf(out, "# HELP contextdb_connections Client connections by state.\n"
                    "# TYPE contextdb_connections gauge\n");
    for (int s = 0; s < METRICS_CONN_STATES; s++) {
        long long n = (long long)atomic_load_explicit(&metrics.conns[s], memory_order_relaxed);
        buf_printf(out, "contextdb_connections{state=\"%s\"} %lld\n", METRICS_CONN_NAMES[s], n);
    }
    metrics_gauge(out, "contextdb_connections_accepted_total", "counter",
                  "Connections accepted since start.",
                  (double)atomic_load_explicit(&metrics.conns_total, memory_order_relaxed));
    buf_printf(out, "# HELP contextdb_statements_total Statements by kind and outcome.\n"
                    "# TYPE contextdb_statements_total counter\n");
    for (int k = 0; k < METRICS_STMT_KINDS; k++) {
        for (int o = 0; o < 2; o++) {
            buf_printf(out, "contextdb_statements_total{kind=\"%s\",outcome=\"%s\"} %llu\n",
                       METRICS_KIND_NAMES[k], o == 0 ? "ok" : "error",
                       (unsigned long long)atomic_load_explicit(&metrics.stmts[k][o],
                                                                memory_order_relaxed));
        }
    }
    metrics_gauge(out, "contextdb_slow_statements_total", "counter",
                  "Statements logged for exceeding log_min_duration_statement.",
                  (double)atomic_load_explicit(&metrics.slow, memory_order_relaxed));
    metrics_render_hist(out, "contextdb_statement_duration_seconds",
                        "Time to run one frontend message's statements.", &metrics.query);
    metrics_render_hist(out, "contextdb_durability_wait_seconds",
                        "Time replies waited for their work to commit (WAL fsync, Raft majority) "
                        "or their snapshot to finish.",
                        &metrics.durable);
}

static void metrics_render_http(buf_t *out) {
    static const char *const classes[6] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    buf_printf(out, "# HELP contextdb_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE contextdb_http_requests_total counter\n");
    pthread_mutex_lock(&metrics.mu);
    for (size_t i = 0; i < metrics.nroutes; i++) {
        const metrics_route_t *r = &metrics.routes[i];
        for (int c = 1; c <= 5; c++) {
            if (r->by_class[c] > 0) {
                buf_printf(out,
                           "contextdb_http_requests_total{method=\"%s\",route=\"%s\","
                           "status=\"%s\"} %llu\n",
                           r->method, r->route, classes[c], (unsigned long long)r->by_class[c]);
            }
        }
    }
    pthread_mutex_unlock(&metrics.mu);
    metrics_render_hist(out, "contextdb_http_request_duration_seconds",
                        "Time to answer one HTTP request.", &metrics.http);
}

/* Files in data_dir/sub whose names end with suffix: count and total bytes. */
static void metrics_scan_dir(const char *sub, const char *suffix, uint64_t *count,
                             uint64_t *bytes) {
    *count = 0;
    *bytes = 0;
    char path[METRICS_PATH_BYTES_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", metrics.data_dir, sub);
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return;
    }
    size_t suffix_len = strlen(suffix);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        struct stat st;
        if (len < suffix_len || strcmp(entry->d_name + len - suffix_len, suffix) != 0 ||
            fstatat(dirfd(dir), entry->d_name, &st, 0) != 0) {
            continue;
        }
        (*count)++;
        *bytes += (uint64_t)st.st_size;
    }
    closedir(dir);
}

static void metrics_render_storage(buf_t *out, const metrics_db_counts_t *counts) {
    uint64_t segments = 0;
    uint64_t wal_bytes = 0;
    metrics_scan_dir("wal", ".seg", &segments, &wal_bytes);
    metrics_gauge(out, "contextdb_wal_segments", "gauge", "WAL segment files on disk.",
                  (double)segments);
    metrics_gauge(out, "contextdb_wal_bytes", "gauge", "Bytes of WAL segment files on disk.",
                  (double)wal_bytes);
    metrics_render_hist(out, "contextdb_wal_fsync_duration_seconds",
                        "Time one WAL fdatasync took (the count is the number of fsyncs).",
                        &metrics.wal_fsync);
    uint64_t snap_files = 0;
    uint64_t snap_bytes = 0;
    metrics_scan_dir("snapshots/metadata", ".json", &snap_files, &snap_bytes);
    metrics_gauge(out, "contextdb_snapshots_on_disk", "gauge",
                  "Completed snapshots whose metadata file exists.", (double)snap_files);
    uint64_t total = 0;
    static const char *const kinds[] = {"snapshots/nodes", "snapshots/edges", "snapshots/vectors",
                                        "snapshots/hnsw"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        metrics_scan_dir(kinds[i], "", &snap_files, &snap_bytes);
        total += snap_bytes;
    }
    metrics_gauge(out, "contextdb_snapshot_bytes", "gauge",
                  "Bytes of snapshot column and index files on disk.", (double)total);
    metrics_scan_dir("objstore/metadata", ".json", &snap_files, &snap_bytes);
    metrics_gauge(out, "contextdb_snapshots_uploaded", "gauge",
                  "Snapshots whose metadata reached the object store (file:// backend).",
                  (double)snap_files);
    if (counts != NULL && counts->valid) {
        buf_printf(out,
                   "# HELP contextdb_rows Committed rows by table.\n"
                   "# TYPE contextdb_rows gauge\n"
                   "contextdb_rows{table=\"nodes\"} %llu\n"
                   "contextdb_rows{table=\"edges\"} %llu\n"
                   "contextdb_rows{table=\"vectors\"} %llu\n",
                   (unsigned long long)counts->nodes, (unsigned long long)counts->edges,
                   (unsigned long long)counts->vectors);
        metrics_gauge(out, "contextdb_snapshots", "gauge", "Snapshots listed by the server.",
                      (double)counts->snapshots);
    }
}

/* The vector index: left out when the server has none (vector_dimensions = 0). */
static void metrics_render_vector(buf_t *out) {
    metrics_vector_t v;
    if (!metrics_vector(&v)) {
        return;
    }
    metrics_gauge(out, "contextdb_hnsw_vectors", "gauge", "Vectors in the HNSW index.",
                  (double)v.vectors);
    metrics_gauge(out, "contextdb_hnsw_searches_total", "counter",
                  "Searches of the HNSW index (one per nearest-neighbour query it answered).",
                  (double)v.searches);
}

static void metrics_render_raft(buf_t *out) {
    metrics_raft_t raft;
    metrics_raft(&raft);
    metrics_gauge(out, "raft_term", "gauge", "Current Raft term.", (double)raft.term);
    metrics_gauge(out, "raft_commit_index", "gauge", "Highest committed log index.",
                  (double)raft.commit_index);
    metrics_gauge(out, "raft_applied_index", "gauge", "Highest applied log index.",
                  (double)raft.applied_index);
    metrics_gauge(out, "raft_leader_id", "gauge", "Node id of the known leader (0: none).",
                  (double)raft.leader_id);
    buf_printf(out,
               "# HELP raft_role This node's Raft role (1 for the current one).\n"
               "# TYPE raft_role gauge\nraft_role{role=\"%s\"} 1\n",
               raft.role);
    metrics_gauge(out, "contextdb_ready", "gauge", "1 when the server is ready to serve.",
                  raft.ready ? 1.0 : 0.0);
}

/* process_* metrics from /proc/self (the names the Prometheus client libraries use). */
static void metrics_render_process(buf_t *out) {
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    unsigned long long vsize = 0;
    long long rss_pages = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f != NULL) {
        char line[1024];
        if (fgets(line, sizeof(line), f) != NULL) {
            const char *p = strrchr(line, ')'); /* the command name may hold spaces */
            if (p == NULL ||
                sscanf(p + 2,
                       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                       "%*d %*d %*d %*u %llu %lld",
                       &utime, &stime, &vsize, &rss_pages) != 4) {
                utime = stime = vsize = 0;
                rss_pages = 0;
            }
        }
        fclose(f);
    }
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    metrics_gauge(out, "process_cpu_seconds_total", "counter", "User and system CPU time.",
                  (double)(utime + stime) / ticks);
    metrics_gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory.",
                  (double)rss_pages * page);
    metrics_gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory.", (double)vsize);
    metrics_gauge(out, "process_start_time_seconds", "gauge", "Start time, Unix seconds.",
                  metrics.start_unix_s);
    uint64_t fds = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (dir != NULL) {
        for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
            fds += entry->d_name[0] != '.';
        }
        closedir(dir);
    }
    metrics_gauge(out, "process_open_fds", "gauge", "Open file descriptors.", (double)fds);
    metrics_gauge(out, "contextdb_uptime_seconds", "gauge", "Seconds since the server started.",
                  metrics_uptime_seconds());
    metrics_gauge(out, "contextdb_memory_emergencies_total", "counter",
                  "Times the memory reserve was spent.", (double)ctx_mem_emergencies());
}

void metrics_render(buf_t *out, const metrics_db_counts_t *counts) {
    CTX_ASSERT(out != NULL);
    metrics_render_conns(out);
    metrics_render_http(out);
    metrics_render_storage(out, counts);
    metrics_render_vector(out);
    metrics_render_raft(out);
    metrics_render_process(out);
}

/*
 * metrics.h — the server's counters and their Prometheus text exposition.
 *
 * Counters are process-wide relaxed atomics: any thread bumps them (the event loop for
 * connections and statements, the HTTP threads for requests), and metrics_render() reads them
 * from an HTTP thread without stopping anyone. Nothing here touches the store: counts of rows
 * are passed in by the caller (the HTTP server asks for them over its own SQL connection).
 *
 * Raft state comes from a source the cluster code registers (metrics_set_raft_source); until one
 * is registered the server reports itself as a single node that is its own leader. The vector
 * index's figures come the same way from a source main registers (metrics_set_vector_source).
 */
#ifndef CTX_METRICS_H
#define CTX_METRICS_H

#include "buf.h"

#include <stdbool.h>
#include <stdint.h>

/* Connection states reported by contextdb_connections{state=…}. */
typedef enum {
    METRICS_CONN_STARTUP, /* accepted, no session yet (startup / authentication) */
    METRICS_CONN_IDLE,    /* session established, no statement running */
    METRICS_CONN_ACTIVE,  /* a statement is running */
    METRICS_CONN_STATES
} metrics_conn_state_t;

/* Statement kinds (the first word of the CommandComplete tag, or of the text for errors). */
typedef enum {
    METRICS_STMT_SELECT,
    METRICS_STMT_INSERT,
    METRICS_STMT_UPDATE,
    METRICS_STMT_DELETE,
    METRICS_STMT_COPY,
    METRICS_STMT_TXN, /* BEGIN, COMMIT, ROLLBACK */
    METRICS_STMT_SNAPSHOT,
    METRICS_STMT_OTHER,
    METRICS_STMT_KINDS
} metrics_stmt_kind_t;

enum {
    METRICS_LATENCY_BUCKETS = 14, /* 100 µs … 10 s, then +Inf */
    METRICS_HTTP_ROUTE_BYTES_MAX = 48,
    METRICS_ADDRESS_BYTES = 272, /* "host:port" with its NUL */
};

/* The Raft state the cluster code reports (read on an HTTP thread: the source must be
 * thread-safe). role: "leader", "follower", "candidate" or "standalone". leader_id 0: none
 * known. ready: recovered, a leader is known and this node's applied index has caught up. */
typedef struct metrics_raft {
    const char *role;
    uint64_t node_id;
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t leader_id;
    char leader_address[METRICS_ADDRESS_BYTES]; /* the leader's pgwire "host:port"; "" unknown */
    bool ready;
} metrics_raft_t;

typedef void (*metrics_raft_fn)(void *ctx, metrics_raft_t *out);

/* The vector index's figures (read on an HTTP thread: the source must be thread-safe). */
typedef struct metrics_vector {
    uint64_t searches; /* index searches since start */
    uint64_t vectors;  /* vectors in the index */
} metrics_vector_t;

/* Fills *out; false when there is no index. */
typedef bool (*metrics_vector_fn)(void *ctx, metrics_vector_t *out);

/* Process start (uptime) and the data directory whose WAL and snapshots are measured on disk. */
void metrics_init(const char *data_dir);
/* Registers (or with fn NULL removes) the Raft state source. Thread-safe. */
void metrics_set_raft_source(metrics_raft_fn fn, void *ctx);
/* Registers (or with fn NULL removes) the vector index source. Thread-safe. */
void metrics_set_vector_source(metrics_vector_fn fn, void *ctx);
/* Fills *out from the source, or the single-node defaults (role "standalone", term 0). */
void metrics_raft(metrics_raft_t *out);
/* Whether the server finished recovery and serves (set by main before the loop runs). */
void metrics_set_ready(bool ready);
bool metrics_ready(void);
double metrics_uptime_seconds(void);

/* A connection moved from state `from` to `to`; METRICS_CONN_STATES means none (created or
 * destroyed). */
void metrics_conn_move(int from, int to);
/* Classifies the backend messages in reply[0..len) (whole messages as the server sent them for
 * one frontend message): each CommandComplete counts a statement of its tag's kind as ok, each
 * ErrorResponse one as error (kind from query_text's first word, or other). duration_ns goes to
 * the statement latency histogram once. */
void metrics_statements(const uint8_t *reply, size_t len, const char *query_text,
                        uint64_t duration_ns);
/* Replies were held duration_ns until their work committed (WAL fsync, Raft majority) or their
 * snapshot finished: the commit latency clients see beyond execution. */
void metrics_durability_wait(uint64_t duration_ns);
/* One WAL fdatasync took duration_ns (wal_options_t.fsync_observer). */
void metrics_wal_fsync(uint64_t duration_ns);
/* A statement slower than log_min_duration_statement was logged. */
void metrics_slow_statement(void);
/* One HTTP request answered with status after duration_ns; route is the pattern
 * ("/api/v1/nodes/{id}"), copied and cut to METRICS_HTTP_ROUTE_BYTES_MAX. */
void metrics_http_request(const char *method, const char *route, int status, uint64_t duration_ns);

/* Counts the HTTP server reads over SQL to include in the exposition. */
typedef struct metrics_db_counts {
    bool valid; /* false: the query failed, the gauges are left out */
    uint64_t nodes;
    uint64_t edges;
    uint64_t vectors;
    uint64_t snapshots;
} metrics_db_counts_t;

/* Appends the whole Prometheus text exposition (format 0.0.4) to out. */
void metrics_render(buf_t *out, const metrics_db_counts_t *counts);

/* Monotonic clock in nanoseconds. */
uint64_t metrics_now_ns(void);

#endif

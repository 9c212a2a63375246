/*
 * config.h — server configuration: defaults, a PostgreSQL-style config file, CONTEXTDB_<KEY>
 * environment variables and command-line flags, applied in that order (later wins).
 *
 * Every key is listed once in CONFIG_KEY_LIST with its type and bounds, so the file parser, the
 * environment scan, --help and the README table agree. Unknown keys and bad values are errors
 * (CTX_ECONFIG with a message naming the source, line and key); the server then exits 1.
 */
#ifndef CTX_CONFIG_H
#define CTX_CONFIG_H

#include "auth.h"
#include "ctx.h"
#include "objstore_s3.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
    CONFIG_HOST_BYTES_MAX = 256,
    CONFIG_PATH_BYTES_MAX = 4096,
    CONFIG_LINE_BYTES_MAX = 8192,
    CONFIG_CONNECTIONS_MAX = 100000,
    CONFIG_TOKEN_BYTES_MAX = 256,
    CONFIG_CLUSTER_BYTES_MAX = 4096,
    CONFIG_SECRET_BYTES_MAX = 256,
};

typedef struct config {
    char host[CONFIG_HOST_BYTES_MAX];     /* listen address (IPv4/IPv6 literal or name) */
    uint32_t port;                        /* pgwire port; 0 = any free port */
    char data_dir[CONFIG_PATH_BYTES_MAX]; /* created if missing; locked while running */
    bool synchronous_commit;              /* on: reply after fsync; off: fsync within ~200 ms */
    uint64_t snapshot_interval_records;   /* WAL records between automatic snapshots (0: off) */
    int snapshot_codec;                   /* col_codec_t: none | lz4 | zstd */
    uint64_t wal_segment_bytes;           /* a new WAL segment starts past this size */
    uint32_t max_connections;             /* authenticated sessions; extra ones get 53300 */
    uint32_t message_bytes_max;           /* bound of one frontend message (length field) */
    uint64_t statement_mem_limit;         /* default of the statement_mem_limit setting */
    uint64_t max_stack_depth;             /* default of the max_stack_depth setting (bytes) */
    uint32_t vector_dimensions;           /* database-wide vector dimension */
    ctx_log_level_t log_level;            /* debug | info | warn | error */
    int hnsw_metric;                      /* metric_t of the vector index (cosine by default) */
    uint32_t hnsw_m;                      /* HNSW links per node */
    uint32_t hnsw_ef_construction;        /* HNSW insert candidate list */
    auth_config_t auth;                   /* auth_method and the user.NAME = verifier keys */
    char ssl_cert_file[CONFIG_PATH_BYTES_MAX]; /* "" = no TLS */
    char ssl_key_file[CONFIG_PATH_BYTES_MAX];
    uint32_t authentication_timeout_ms; /* startup + authentication must finish within this */
    uint32_t http_port;                 /* HTTP API and /metrics; 0 = any free port */
    bool http_off;                      /* http_port = off: no HTTP server */
    char http_auth_token[CONFIG_TOKEN_BYTES_MAX]; /* "" = no bearer token */
    char http_ui_dir[CONFIG_PATH_BYTES_MAX];      /* graph browser files; "" = none */
    uint64_t http_body_bytes_max;                 /* larger request bodies get 413 */
    uint32_t http_threads;                        /* HTTP worker threads = SQL connections */
    ctx_log_format_t log_format;                  /* text | json */
    char log_file[CONFIG_PATH_BYTES_MAX];         /* "" = stderr; reopened on SIGHUP */
    int64_t log_min_duration_statement_ms;        /* -1 = off */
    /* The s3_* keys: snapshots go to S3 when s3.bucket is set (DESIGN §8). Credentials left
     * empty come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. */
    objstore_s3_config_t s3;
    int s3_addressing;            /* 0 auto (path-style with an endpoint), 1 path, 2 virtual */
    uint64_t s3_restore_snapshot; /* 0: an empty data directory restores the newest */
    uint32_t node_id;             /* this member (server/cluster.h) */
    uint32_t raft_port;
    char cluster_nodes[CONFIG_CLUSTER_BYTES_MAX]; /* "1=host:port,..." or "" (alone) */
    char cluster_secret[CONFIG_SECRET_BYTES_MAX];
    uint32_t cluster_commit_timeout_ms;
    bool cluster_join; /* start as a joiner: no bootstrap, wait for ALTER CLUSTER ADD NODE */
} config_t;

/* Fills cfg with the defaults: 127.0.0.1, 5433, ./contextdb-data, 200, 1 GiB, 128, info. */
void config_defaults(config_t *cfg);

/* Sets one key from its text form. source names where the value came from (for messages, e.g.
 * "contextdb.conf:12" or "CONTEXTDB_PORT"). Returns 0, or CTX_ECONFIG for an unknown key or a
 * value that does not parse / is out of range (cfg is then unchanged for that key). */
int config_set(config_t *cfg, const char *key, const char *value, const char *source,
               ctx_err_t *err);

/* Reads `key = value` lines (# comments, blank lines, optional single quotes around the value as
 * in postgresql.conf). Returns 0, CTX_EIO if the file cannot be read, CTX_ECONFIG on a bad line,
 * unknown key or bad value. */
int config_load_file(config_t *cfg, const char *path, ctx_err_t *err);

/* Applies every CONTEXTDB_<KEY> variable (KEY = upper-case key) of the environment. Variables
 * with that prefix that name no key are ignored with a warning (unlike the file, the
 * environment is shared with other programs); bad values are CTX_ECONFIG. */
int config_load_env(config_t *cfg, ctx_err_t *err);

/* Writes the key table (key, default, description) for --help and the README. */
void config_print_keys(FILE *out);

#endif

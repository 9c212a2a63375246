/*
 * config.c — configuration keys, their parsing and the three sources (file, environment, flags).
 *
 * One table (CONFIG_KEYS) describes every key: name, kind (string, unsigned integer, byte size,
 * log level), bounds, default text and a one-line description. config_defaults() parses the
 * default texts through the same path as user input, so a default can never disagree with the
 * table. Values are validated completely before being stored: a failed config_set() leaves the
 * key untouched and explains the problem PostgreSQL-style ("invalid value for parameter
 * \"port\": \"abc\""). Byte sizes accept PostgreSQL's units (B, kB, MB, GB; 1024-based), durations
 * its time units (ms, s, min, h, d; a bare number is seconds).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef CTX_UI_DIR /* set by the build: the source tree's web/dist */
#define CTX_UI_DIR ""
#endif

extern char **environ;

typedef enum { CK_STRING, CK_UINT, CK_BYTES, CK_DURATION, CK_LOGLEVEL, CK_METRIC } config_kind_t;

typedef struct config_key {
    const char *name;
    config_kind_t kind;
    uint64_t min;
    uint64_t max;
    const char *default_text;
    const char *description;
} config_key_t;

static const config_key_t CONFIG_KEYS[] = {
    {"host", CK_STRING, 1, CONFIG_HOST_BYTES_MAX - 1, "127.0.0.1", "address to listen on"},
    {"port", CK_UINT, 0, 65535, "5433", "pgwire TCP port (0 = any free port)"},
    {"data_dir", CK_STRING, 1, CONFIG_PATH_BYTES_MAX - 1, "./contextdb-data",
     "data directory (created if missing, locked while the server runs)"},
    {"synchronous_commit", CK_STRING, 2, 3, "on",
     "on: a write's reply waits for its WAL fsync; off: reply at once, fsync within ~200 ms"},
    {"snapshot_interval_records", CK_UINT, 0, UINT64_C(1) << 40, "100000",
     "WAL records between automatic snapshots (0 = only CREATE SNAPSHOT)"},
    {"snapshot_codec", CK_STRING, 3, 4, "lz4",
     "compression of snapshot column chunks: lz4, zstd "
     "or none"},
    {"wal_segment_bytes", CK_BYTES, 64 * 1024, UINT64_C(1) << 32, "64MB",
     "size at which the WAL starts a new segment file"},
    {"max_connections", CK_UINT, 1, CONFIG_CONNECTIONS_MAX, "200",
     "concurrent client sessions; one more gets 53300 too many clients"},
    {"message_bytes_max", CK_BYTES, 1024, UINT64_C(1) << 30, "1GB",
     "largest frontend message accepted; larger ones get 08P01 and the connection closes"},
    {"statement_mem_limit", CK_BYTES, 64 * 1024, UINT64_C(1) << 40, "1GB",
     "default of the statement_mem_limit setting: memory one statement may use"},
    {"max_stack_depth", CK_BYTES, 100 * 1024, UINT64_C(1) << 31, "2MB",
     "default of the max_stack_depth setting: stack a statement's recursion may use"},
    {"vector_dimensions", CK_UINT, 1, 4096, "128", "dimension of every vector in the database"},
    {"log_level", CK_LOGLEVEL, 0, 0, "info", "debug, info, warn or error"},
    {"hnsw_metric", CK_METRIC, 0, 0, "cosine",
     "metric of the HNSW vector index: cosine, l2 or ip (queries with another operator scan)"},
    {"hnsw_m", CK_UINT, 2, 100, "16", "HNSW links per node (2 x hnsw_m on the bottom layer)"},
    {"hnsw_ef_construction", CK_UINT, 2, 4096, "200",
     "HNSW candidate list while inserting (at least hnsw_m)"},
    {"auth_method", CK_STRING, 3, 13, "trust",
     "client authentication: trust, scram-sha-256 or md5 (passwords from user.NAME keys)"},
    {"ssl_cert_file", CK_STRING, 0, CONFIG_PATH_BYTES_MAX - 1, "",
     "TLS certificate chain (PEM); with ssl_key_file, SSLRequest is answered S"},
    {"ssl_key_file", CK_STRING, 0, CONFIG_PATH_BYTES_MAX - 1, "", "TLS private key (PEM)"},
    {"authentication_timeout", CK_DURATION, 1000, 600000, "1min",
     "a client that has not finished startup and authentication by then is disconnected"},
    {"http_port", CK_UINT, 0, 65535, "8080",
     "HTTP REST API, /metrics, /healthz, /readyz port on host (0 = any free port, off = none)"},
    {"http_auth_token", CK_STRING, 0, CONFIG_TOKEN_BYTES_MAX - 1, "",
     "bearer token HTTP requests must send (Authorization: Bearer ...); empty = none"},
    {"http_body_bytes_max", CK_BYTES, 1024, UINT64_C(1) << 30, "16MB",
     "largest HTTP request body accepted; larger ones get 413"},
    {"http_threads", CK_UINT, 1, 64, "4", "HTTP worker threads, each with its own SQL session"},
    {"http_ui_dir", CK_STRING, 0, CONFIG_PATH_BYTES_MAX - 1, CTX_UI_DIR,
     "the graph browser's built files, served at / ('' = no page)"},
    {"log_format", CK_STRING, 4, 4, "text", "text or json (one JSON object per line)"},
    {"log_file", CK_STRING, 0, CONFIG_PATH_BYTES_MAX - 1, "",
     "log to this file instead of stderr (appended; reopened on SIGHUP)"},
    {"log_min_duration_statement", CK_STRING, 1, 32, "-1",
     "log statements running at least this long (ms, s, min; bare = ms; -1 = off, 0 = all)"},
    {"s3_bucket", CK_STRING, 0, S3_BUCKET_BYTES - 1, "",
     "S3 bucket for snapshots (set: snapshots go to S3 instead of <data_dir>/objstore)"},
    {"s3_prefix", CK_STRING, 0, S3_PREFIX_BYTES - 1, "", "key prefix inside the bucket"},
    {"s3_endpoint", CK_STRING, 0, S3_ENDPOINT_BYTES - 1, "",
     "S3-compatible endpoint, http(s)://host[:port] (empty: https://s3.REGION.amazonaws.com)"},
    {"s3_region", CK_STRING, 1, S3_REGION_BYTES - 1, "us-east-1", "region requests are signed for"},
    {"s3_addressing", CK_STRING, 4, 7, "auto",
     "path (endpoint/bucket/key), virtual (bucket.endpoint/key) or auto (path with s3_endpoint)"},
    {"s3_access_key_id", CK_STRING, 0, S3_KEY_ID_BYTES - 1, "",
     "S3 access key (empty: AWS_ACCESS_KEY_ID from the environment)"},
    {"s3_secret_access_key", CK_STRING, 0, S3_SECRET_BYTES - 1, "",
     "S3 secret key (empty: AWS_SECRET_ACCESS_KEY)"},
    {"s3_session_token", CK_STRING, 0, S3_TOKEN_BYTES - 1, "",
     "temporary-credential session token (empty: AWS_SESSION_TOKEN)"},
    {"s3_verify_tls", CK_STRING, 2, 3, "on", "check the endpoint's TLS certificate (on or off)"},
    {"s3_multipart_bytes", CK_BYTES, S3_PART_BYTES_MIN, UINT64_C(5) << 30, "64MB",
     "objects larger than this are uploaded in parts"},
    {"s3_parallel", CK_UINT, 1, S3_PARALLEL_MAX, "4",
     "parts (uploads) and ranges (downloads) transferred at once"},
    {"s3_retries", CK_UINT, 0, S3_RETRIES_MAX, "10",
     "retries of a request after a timeout, connection error, HTTP 5xx or 429 (backoff + jitter)"},
    {"s3_restore_snapshot", CK_UINT, 0, 999999999, "0",
     "snapshot an empty data directory restores from S3 (0: the newest; --restore-snapshot)"},
    {"node_id", CK_UINT, 1, INT32_MAX, "1", "this member's id in cluster_nodes"},
    {"raft_port", CK_UINT, 0, 65535, "7001",
     "Raft TCP port of this member (its cluster_nodes entry wins when listed)"},
    {"cluster_nodes", CK_STRING, 0, CONFIG_CLUSTER_BYTES_MAX - 1, "",
     "initial members ID=HOST:RAFT_PORT,...; empty: a one-member cluster"},
    {"cluster_secret", CK_STRING, 0, CONFIG_SECRET_BYTES_MAX - 1, "",
     "shared secret the members prove to each other (required with several members)"},
    {"cluster_join", CK_STRING, 2, 3, "off",
     "on: join a running cluster (cluster_nodes names its members and this one) instead of "
     "bootstrapping; a member runs ALTER CLUSTER ADD NODE for it (--join)"},
    {"cluster_commit_timeout", CK_DURATION, 100, 3600000, "10s",
     "a write not committed by then is answered 40003 (outcome unknown)"},
};

enum { CONFIG_KEY_COUNT = sizeof(CONFIG_KEYS) / sizeof(CONFIG_KEYS[0]) };

static const config_key_t *config_key_find(const char *name) {
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        if (strcasecmp(CONFIG_KEYS[i].name, name) == 0) {
            return &CONFIG_KEYS[i];
        }
    }
    return NULL;
}

typedef struct config_unit {
    const char *suffix;
    uint64_t scale;
} config_unit_t;

static const config_unit_t CONFIG_BYTE_UNITS[] = {
    {"B", 1}, {"kB", 1024}, {"MB", 1024 * 1024}, {"GB", 1024 * 1024 * 1024}};
/* Durations are stored in milliseconds; a bare number is seconds, as PostgreSQL's
 * authentication_timeout. */
static const config_unit_t CONFIG_TIME_UNITS[] = {
    {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};

/* Parses a non-negative integer with an optional unit suffix (byte sizes and durations). */
static int config_parse_uint(const config_key_t *key, const char *value, uint64_t *out) {
    char *end = NULL;
    if (value[0] < '0' || value[0] > '9') {
        return -1;
    }
    errno = 0;
    unsigned long long n = strtoull(value, &end, 10);
    if (errno != 0) {
        return -1;
    }
    while (*end == ' ') {
        end++;
    }
    uint64_t unit = key->kind == CK_DURATION ? 1000 : 1;
    if ((key->kind == CK_BYTES || key->kind == CK_DURATION) && *end != '\0') {
        const config_unit_t *units = key->kind == CK_BYTES ? CONFIG_BYTE_UNITS : CONFIG_TIME_UNITS;
        size_t count = key->kind == CK_BYTES ? 4 : 5;
        unit = 0;
        for (size_t i = 0; i < count; i++) {
            if (strcmp(end, units[i].suffix) == 0) {
                unit = units[i].scale;
            }
        }
        if (unit == 0) {
            return -1;
        }
        end += strlen(end);
    }
    if (*end != '\0' || n > UINT64_MAX / unit) {
        return -1;
    }
    *out = (uint64_t)n * unit;
    return 0;
}

static int config_parse_level(const char *value, ctx_log_level_t *out) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            *out = (ctx_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(value, "warning") == 0) {
        *out = CTX_LOG_WARN;
        return 0;
    }
    return -1;
}

/* log_format (text | json), log_min_duration_statement (-1, or a duration: bare = ms, as in
 * PostgreSQL) and http_port's "off" (numbers take the generic path). Returns 1 when not handled
 * here, 0 when set, -1 for a bad value. */
static int config_set_log(config_t *cfg, const char *name, const char *value) {
    if (strcmp(name, "http_port") == 0) {
        cfg->http_off = strcasecmp(value, "off") == 0;
        return cfg->http_off ? 0 : 1;
    }
    if (strcmp(name, "log_format") == 0) {
        bool json = strcasecmp(value, "json") == 0;
        if (!json && strcasecmp(value, "text") != 0) {
            return -1;
        }
        cfg->log_format = json ? CTX_LOG_JSON : CTX_LOG_TEXT;
        return 0;
    }
    if (strcmp(name, "log_min_duration_statement") != 0) {
        return 1;
    }
    if (strcmp(value, "-1") == 0) {
        cfg->log_min_duration_statement_ms = -1;
        return 0;
    }
    static const config_key_t ms_key = {"", CK_DURATION, 0, 0, "", ""};
    char text[48];
    size_t len = strlen(value);
    bool bare = len > 0 && strspn(value, "0123456789") == len; /* milliseconds */
    snprintf(text, sizeof(text), "%s%s", value, bare ? "ms" : "");
    uint64_t n = 0;
    if (config_parse_uint(&ms_key, text, &n) < 0 || n > INT64_MAX) {
        return -1;
    }
    cfg->log_min_duration_statement_ms = (int64_t)n;
    return 0;
}

/* synchronous_commit and cluster_join (on | off), snapshot_codec (none | lz4 | zstd). */
static int config_set_choice(config_t *cfg, const char *name, const char *value) {
    static const char *codecs[] = {"none", "lz4", "zstd"}; /* indexed by col_codec_t */
    if (strcmp(name, "synchronous_commit") == 0 || strcmp(name, "cluster_join") == 0) {
        bool on = strcasecmp(value, "on") == 0;
        if (!on && strcasecmp(value, "off") != 0) {
            return -1;
        }
        *(strcmp(name, "cluster_join") == 0 ? &cfg->cluster_join : &cfg->synchronous_commit) = on;
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(value, codecs[i]) == 0) {
            cfg->snapshot_codec = i;
            return 0;
        }
    }
    return -1;
}

/* The s3_* keys (objstore_s3_config_t in cfg->s3): 1 when name is one and value was stored,
 * 0 when name is not an s3_* key, -1 for a bad value. Numbers arrive parsed in n. */
static int config_set_s3(config_t *cfg, const char *name, const char *value, uint64_t n) {
    objstore_s3_config_t *c = &cfg->s3;
    struct {
        const char *name;
        char *dest;
    } strings[] = {{"s3_bucket", c->bucket},
                   {"s3_prefix", c->prefix},
                   {"s3_endpoint", c->endpoint},
                   {"s3_region", c->region},
                   {"s3_access_key_id", c->access_key_id},
                   {"s3_secret_access_key", c->secret_access_key},
                   {"s3_session_token", c->session_token}};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (strcmp(name, strings[i].name) == 0) {
            memcpy(strings[i].dest, value, strlen(value) + 1); /* length checked by the table */
            return 1;
        }
    }
    if (strcmp(name, "s3_addressing") == 0 || strcmp(name, "s3_verify_tls") == 0) {
        bool path = strcasecmp(value, "path") == 0, on = strcasecmp(value, "on") == 0;
        if (name[3] == 'a' &&
            (path || strcasecmp(value, "virtual") == 0 || strcasecmp(value, "auto") == 0)) {
            cfg->s3_addressing = path ? 1 : (strcasecmp(value, "auto") == 0 ? 0 : 2);
            return 1;
        }
        if (name[3] == 'v' && (on || strcasecmp(value, "off") == 0)) {
            c->verify_tls = on;
            return 1;
        }
        return -1;
    }
    if (strcmp(name, "s3_multipart_bytes") == 0) {
        c->multipart_bytes = n;
    } else if (strcmp(name, "s3_parallel") == 0) {
        c->parallel = (uint32_t)n;
    } else if (strcmp(name, "s3_retries") == 0) {
        c->retries = (uint32_t)n;
    } else if (strcmp(name, "s3_restore_snapshot") == 0) {
        cfg->s3_restore_snapshot = n;
    } else {
        return 0;
    }
    return 1;
}

static void config_store_uint(config_t *cfg, const char *name, uint64_t n) {
    if (config_set_s3(cfg, name, "", n) == 1) {
        return;
    }
    if (strcmp(name, "snapshot_interval_records") == 0) {
        cfg->snapshot_interval_records = n;
    } else if (strcmp(name, "wal_segment_bytes") == 0) {
        cfg->wal_segment_bytes = n;
    } else if (strcmp(name, "port") == 0) {
        cfg->port = (uint32_t)n;
    } else if (strcmp(name, "max_connections") == 0) {
        cfg->max_connections = (uint32_t)n;
    } else if (strcmp(name, "message_bytes_max") == 0) {
        cfg->message_bytes_max = (uint32_t)n;
    } else if (strcmp(name, "statement_mem_limit") == 0) {
        cfg->statement_mem_limit = n;
    } else if (strcmp(name, "max_stack_depth") == 0) {
        cfg->max_stack_depth = n;
    } else if (strcmp(name, "hnsw_m") == 0) {
        cfg->hnsw_m = (uint32_t)n;
    } else if (strcmp(name, "hnsw_ef_construction") == 0) {
        cfg->hnsw_ef_construction = (uint32_t)n;
    } else if (strcmp(name, "authentication_timeout") == 0) {
        cfg->authentication_timeout_ms = (uint32_t)n;
    } else if (strcmp(name, "http_port") == 0) {
        cfg->http_port = (uint32_t)n;
    } else if (strcmp(name, "http_body_bytes_max") == 0) {
        cfg->http_body_bytes_max = n;
    } else if (strcmp(name, "http_threads") == 0) {
        cfg->http_threads = (uint32_t)n;
    } else if (strcmp(name, "node_id") == 0) {
        cfg->node_id = (uint32_t)n;
    } else if (strcmp(name, "raft_port") == 0) {
        cfg->raft_port = (uint32_t)n;
    } else if (strcmp(name, "cluster_commit_timeout") == 0) {
        cfg->cluster_commit_timeout_ms = (uint32_t)n;
    } else {
        CTX_ASSERT(strcmp(name, "vector_dimensions") == 0);
        cfg->vector_dimensions = (uint32_t)n;
    }
}

/* A CK_STRING key: length within bounds, auth_method parsed, the rest copied. -1: bad value. */
static int config_set_string(config_t *cfg, const config_key_t *key, const char *value) {
    size_t len = strlen(value);
    if (len < key->min || len > key->max) {
        return -1;
    }
    int s3 = config_set_s3(cfg, key->name, value, 0);
    if (s3 != 0) {
        return s3 < 0 ? -1 : 0;
    }
    if (strcmp(key->name, "auth_method") == 0) {
        auth_method_t method;
        if (auth_parse_method(value, &method, NULL) < 0) {
            return -1;
        }
        cfg->auth.method = method;
        return 0;
    }
    char *dest = strcmp(key->name, "host") == 0              ? cfg->host
                 : strcmp(key->name, "ssl_cert_file") == 0   ? cfg->ssl_cert_file
                 : strcmp(key->name, "ssl_key_file") == 0    ? cfg->ssl_key_file
                 : strcmp(key->name, "http_auth_token") == 0 ? cfg->http_auth_token
                 : strcmp(key->name, "log_file") == 0        ? cfg->log_file
                 : strcmp(key->name, "http_ui_dir") == 0     ? cfg->http_ui_dir
                 : strcmp(key->name, "cluster_nodes") == 0   ? cfg->cluster_nodes
                 : strcmp(key->name, "cluster_secret") == 0  ? cfg->cluster_secret
                                                             : cfg->data_dir;
    memcpy(dest, value, len + 1);
    return 0;
}

int config_set(config_t *cfg, const char *key_name, const char *value, const char *source,
               ctx_err_t *err) {
    CTX_ASSERT(cfg != NULL);
    CTX_ASSERT(key_name != NULL && value != NULL && source != NULL);
    if (strncasecmp(key_name, "user.", 5) == 0) { /* user.NAME = SCRAM or md5 verifier */
        ctx_err_t inner;
        ctx_err_clear(&inner);
        if (auth_add_user(&cfg->auth, key_name + 5, value, &inner) < 0) {
            return ctx_err_set(err, CTX_ECONFIG, "%s: %s", source, inner.message);
        }
        return 0;
    }
    const config_key_t *key = config_key_find(key_name);
    if (key == NULL) {
        return ctx_err_set(err, CTX_ECONFIG, "%s: unrecognized configuration parameter \"%s\"",
                           source, key_name);
    }
    if (strcmp(key->name, "synchronous_commit") == 0 || strcmp(key->name, "snapshot_codec") == 0 ||
        strcmp(key->name, "cluster_join") == 0) {
        if (config_set_choice(cfg, key->name, value) < 0) {
            goto invalid;
        }
        return 0;
    }
    int special = config_set_log(cfg, key->name, value);
    if (special <= 0) {
        if (special < 0) {
            goto invalid;
        }
        return 0;
    }
    if (key->kind == CK_STRING) {
        if (config_set_string(cfg, key, value) < 0) {
            goto invalid;
        }
        return 0;
    }
    if (key->kind == CK_METRIC) {
        static const char *names[] = {"l2", "cosine", "ip"}; /* indexed by metric_t */
        for (int i = 0; i < 3; i++) {
            if (strcasecmp(value, names[i]) == 0) {
                cfg->hnsw_metric = i;
                return 0;
            }
        }
        goto invalid;
    }
    if (key->kind == CK_LOGLEVEL) {
        if (config_parse_level(value, &cfg->log_level) < 0) {
            goto invalid;
        }
        return 0;
    }
    uint64_t n = 0;
    if (config_parse_uint(key, value, &n) < 0 || n < key->min || n > key->max) {
        goto invalid;
    }
    config_store_uint(cfg, key->name, n);
    return 0;
invalid:
    ctx_err_set(err, CTX_ECONFIG, "%s: invalid value for parameter \"%s\": \"%s\"", source,
                key->name, value);
    if (key->kind == CK_UINT || key->kind == CK_BYTES) {
        ctx_err_hint(err, "allowed range is %llu .. %llu%s", (unsigned long long)key->min,
                     (unsigned long long)key->max, key->kind == CK_BYTES ? " bytes" : "");
    } else if (key->kind == CK_DURATION) {
        ctx_err_hint(err, "allowed range is %llus .. %llus; units ms, s, min, h, d (default s)",
                     (unsigned long long)key->min / 1000, (unsigned long long)key->max / 1000);
    }
    return CTX_ECONFIG;
}

void config_defaults(config_t *cfg) {
    CTX_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof(*cfg));
    objstore_s3_config_defaults(&cfg->s3);
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        ctx_err_t err;
        ctx_err_clear(&err);
        int rc = config_set(cfg, CONFIG_KEYS[i].name, CONFIG_KEYS[i].default_text, "default", &err);
        CTX_ASSERT(rc == 0);
    }
}

static char *config_trim(char *s) {
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t len = strlen(s);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n')) {
        s[--len] = '\0';
    }
    return s;
}

/* Splits one line into key and value; returns 1 for a setting, 0 for blank/comment, -1 bad. */
static int config_split_line(char *line, char **key, char **value) {
    char *hash = strchr(line, '#');
    char *quote = strchr(line, '\'');
    if (hash != NULL && (quote == NULL || hash < quote)) {
        *hash = '\0';
    }
    char *s = config_trim(line);
    if (*s == '\0') {
        return 0;
    }
    size_t key_len = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.");
    if (key_len == 0) {
        return -1;
    }
    char *rest = s + key_len;
    rest += strspn(rest, " \t");
    if (*rest == '=') {
        rest++;
    }
    s[key_len] = '\0';
    *key = s;
    char *v = config_trim(rest);
    size_t vlen = strlen(v);
    if (v[0] == '\'') {
        char *close = strchr(v + 1, '\'');
        if (close == NULL || config_trim(close + 1)[0] != '\0') {
            return -1;
        }
        *close = '\0';
        v++;
    } else if (vlen == 0 || strpbrk(v, " \t") != NULL) {
        return -1;
    }
    *value = v;
    return 1;
}

int config_load_file(config_t *cfg, const char *path, ctx_err_t *err) {
    CTX_ASSERT(cfg != NULL && path != NULL);
    int rc = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return ctx_err_set(err, CTX_EIO, "could not open configuration file \"%s\": %s", path,
                           strerror(errno));
    }
    char line[CONFIG_LINE_BYTES_MAX];
    char source[CONFIG_PATH_BYTES_MAX + 32];
    for (int lineno = 1; fgets(line, sizeof(line), f) != NULL; lineno++) {
        snprintf(source, sizeof(source), "%s:%d", path, lineno);
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = ctx_err_set(err, CTX_ECONFIG, "%s: line too long", source);
            goto fail;
        }
        char *key = NULL;
        char *value = NULL;
        int kind = config_split_line(line, &key, &value);
        if (kind < 0) {
            rc = ctx_err_set(err, CTX_ECONFIG, "%s: syntax error (expected key = value)", source);
            goto fail;
        }
        if (kind == 1) {
            rc = config_set(cfg, key, value, source, err);
            if (rc < 0) {
                goto fail;
            }
        }
    }
fail:
    fclose(f);
    return rc;
}

int config_load_env(config_t *cfg, ctx_err_t *err) {
    CTX_ASSERT(cfg != NULL);
    static const char prefix[] = "CONTEXTDB_";
    for (char **env = environ; env != NULL && *env != NULL; env++) {
        if (strncmp(*env, prefix, sizeof(prefix) - 1) != 0) {
            continue;
        }
        const char *name = *env + sizeof(prefix) - 1;
        const char *eq = strchr(name, '=');
        if (eq == NULL || (size_t)(eq - name) >= 64) {
            continue;
        }
        char key[64];
        char source[80];
        size_t len = (size_t)(eq - name);
        for (size_t i = 0; i < len; i++) {
            key[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
        }
        key[len] = '\0';
        snprintf(source, sizeof(source), "environment variable %s%.*s", prefix, (int)len, name);
        if (config_key_find(key) == NULL) {
            CTX_WARN("%s: not a configuration parameter, ignored", source);
            continue;
        }
        int rc = config_set(cfg, key, eq + 1, source, err);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

void config_print_keys(FILE *out) {
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        fprintf(out, "  %-18s %-17s %s\n", CONFIG_KEYS[i].name, CONFIG_KEYS[i].default_text,
                CONFIG_KEYS[i].description);
    }
}

/*
 * bench_vector.c — the C side of tools/bench-vector: seeded data sets, exact ground truth, and
 * ContextDB's HNSW index measured in-process through the engine API (engine/vector/hnsw.h); with
 * `pgwire`, the same queries through a running server with a prepared statement (libpq).
 *
 *   bench_vector gen   DIR N DIMS QUERIES uniform|mixture SEED   data + ground truth files
 *   bench_vector index DIR M EF_CONSTRUCTION EF,EF,… REPEATS      build, sweep, one JSON line per
 * ef bench_vector pgwire DIR CONNINFO EF,EF,… REPEATS [LOAD]      same sweep through pgwire
 *
 * Files in DIR (little-endian): base.f32 (N × DIMS float32), query.f32 (QUERIES × DIMS),
 * gt.i32 (QUERIES × 10 int32: exact cosine top-10 ids, id = row number), meta.txt
 * ("N DIMS QUERIES"). Data: `uniform` draws every coordinate from U[0,1); `mixture` draws 100
 * centres from U[0,1)^D and points as centre + N(0, 0.1²) per coordinate. Queries come from the
 * same distribution. The metric is cosine (the server's default), as for hnswlib's 'cosine'.
 *
 * Timing: single thread, wall clock (CLOCK_MONOTONIC); QPS = queries / time of one pass over all
 * queries, the median of REPEATS passes. Memory: resident set growth across the build (VmRSS),
 * the same measure the hnswlib script takes.
 */
#include "fsutil.h"
#include "hnsw.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GT_K = 10, CLUSTERS = 100, EFS_MAX = 32, REPEATS_MAX = 15 };

typedef struct dataset {
    uint32_t n, dims, nq;
    float *base;
    float *query;
    int32_t *gt;
} dataset_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = (*s += UINT64_C(0x9E3779B97F4A7C15));
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

static double rng_unit(uint64_t *s) {
    return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_gauss(uint64_t *s) {
    return sqrt(-2.0 * log(rng_unit(s))) * cos(6.283185307179586 * rng_unit(s));
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

/* dir/name, or exit with the reason (fsutil.h: never a truncated path). */
static void bench_path(char path[FSU_PATH_MAX], const char *dir, const char *name) {
    ctx_err_t err;
    ctx_err_clear(&err);
    if (fsu_path(path, &err, "%s/%s", dir, name) != CTX_OK) {
        fprintf(stderr, "bench_vector: %s\n", err.message);
        exit(1);
    }
}

static void *read_file(const char *dir, const char *name, size_t bytes) {
    char path[FSU_PATH_MAX];
    bench_path(path, dir, name);
    uint8_t *data = NULL;
    size_t len = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (fsu_read_all(path, bytes, &data, &len, &err) != CTX_OK || len != bytes) {
        fprintf(stderr, "bench_vector: cannot read %zu bytes of %s: %s\n", bytes, path,
                err.code != CTX_OK ? err.message : "file too short");
        exit(1);
    }
    return data;
}

static void write_file(const char *dir, const char *name, const void *data, size_t bytes) {
    char path[FSU_PATH_MAX];
    bench_path(path, dir, name);
    ctx_err_t err;
    ctx_err_clear(&err);
    if (fsu_write_atomic(path, data, bytes, &err) != CTX_OK) {
        fprintf(stderr, "bench_vector: %s\n", err.message);
        exit(1);
    }
}

static void load_dataset(const char *dir, dataset_t *d) {
    char path[FSU_PATH_MAX];
    bench_path(path, dir, "meta.txt");
    FILE *f = fopen(path, "r");
    if (f == NULL || fscanf(f, "%u %u %u", &d->n, &d->dims, &d->nq) != 3) {
        fprintf(stderr, "bench_vector: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    d->base = read_file(dir, "base.f32", sizeof(float) * (size_t)d->n * d->dims);
    d->query = read_file(dir, "query.f32", sizeof(float) * (size_t)d->nq * d->dims);
    d->gt = read_file(dir, "gt.i32", sizeof(int32_t) * (size_t)d->nq * GT_K);
}

/* ---------------------------------------------------------------- gen */

static void gen_points(uint64_t *s, bool mixture, const float *centres, float *out, uint32_t n,
                       uint32_t dims) {
    for (uint32_t i = 0; i < n; i++) {
        const float *c = mixture ? centres + (rng_next(s) % CLUSTERS) * dims : NULL;
        for (uint32_t j = 0; j < dims; j++) {
            out[(size_t)i * dims + j] =
                mixture ? c[j] + (float)(0.1 * rng_gauss(s)) : (float)rng_unit(s);
        }
    }
}

static void normalize(float *v, uint32_t dims, uint32_t padded, float *out) {
    double ss = 0;
    for (uint32_t j = 0; j < dims; j++) {
        ss += (double)v[j] * v[j];
    }
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
    for (uint32_t j = 0; j < padded; j++) {
        out[j] = j < dims ? (float)(v[j] * inv) : 0.0f;
    }
}

/* Exact cosine top-10 of every query (normalized dot products; ties by lower id). */
static void ground_truth(dataset_t *d) {
    uint32_t padded = (d->dims + HNSW_DIST_LANES - 1) / HNSW_DIST_LANES * HNSW_DIST_LANES;
    float *nb = malloc(sizeof(float) * (size_t)d->n * padded);
    float *nq = malloc(sizeof(float) * padded);
    for (uint32_t i = 0; i < d->n; i++) {
        normalize(d->base + (size_t)i * d->dims, d->dims, padded, nb + (size_t)i * padded);
    }
    hnsw_dist_fn dot = hnsw_kernel_dot(hnsw_kernel_best());
    d->gt = malloc(sizeof(int32_t) * (size_t)d->nq * GT_K);
    for (uint32_t q = 0; q < d->nq; q++) {
        normalize(d->query + (size_t)q * d->dims, d->dims, padded, nq);
        float best_d[GT_K];
        int32_t best_id[GT_K];
        int have = 0;
        for (uint32_t i = 0; i < d->n; i++) {
            float s = -dot(nq, nb + (size_t)i * padded, padded);
            if (have == GT_K && s >= best_d[GT_K - 1]) {
                continue;
            }
            int pos = have < GT_K ? have++ : GT_K - 1;
            while (pos > 0 && best_d[pos - 1] > s) {
                best_d[pos] = best_d[pos - 1];
                best_id[pos] = best_id[pos - 1];
                pos--;
            }
            best_d[pos] = s;
            best_id[pos] = (int32_t)i;
        }
        memcpy(d->gt + (size_t)q * GT_K, best_id, sizeof(best_id));
    }
    free(nb);
    free(nq);
}

static int cmd_gen(char **argv) {
    const char *dir = argv[0];
    dataset_t d = {.n = (uint32_t)atol(argv[1]),
                   .dims = (uint32_t)atol(argv[2]),
                   .nq = (uint32_t)atol(argv[3])};
    bool mixture = strcmp(argv[4], "mixture") == 0;
    uint64_t seed = strtoull(argv[5], NULL, 0);
    uint64_t s = seed;
    float *centres = malloc(sizeof(float) * CLUSTERS * d.dims);
    for (uint32_t i = 0; i < CLUSTERS * d.dims; i++) {
        centres[i] = (float)rng_unit(&s);
    }
    d.base = malloc(sizeof(float) * (size_t)d.n * d.dims);
    d.query = malloc(sizeof(float) * (size_t)d.nq * d.dims);
    gen_points(&s, mixture, centres, d.base, d.n, d.dims);
    gen_points(&s, mixture, centres, d.query, d.nq, d.dims);
    double t0 = now_s();
    ground_truth(&d);
    fprintf(stderr, "bench_vector: %s %u x %u, %u queries, ground truth in %.1f s\n", argv[4], d.n,
            d.dims, d.nq, now_s() - t0);
    write_file(dir, "base.f32", d.base, sizeof(float) * (size_t)d.n * d.dims);
    write_file(dir, "query.f32", d.query, sizeof(float) * (size_t)d.nq * d.dims);
    write_file(dir, "gt.i32", d.gt, sizeof(int32_t) * (size_t)d.nq * GT_K);
    char meta[128];
    int len = snprintf(meta, sizeof(meta), "%u %u %u\n", d.n, d.dims, d.nq);
    write_file(dir, "meta.txt", meta, (size_t)len);
    free(centres);
    free(d.base);
    free(d.query);
    free(d.gt);
    return 0;
}

/* ---------------------------------------------------------------- sweeps */

static int parse_list(const char *text, uint32_t *out, int max) {
    int n = 0;
    for (const char *p = text; *p != '\0' && n < max;) {
        out[n++] = (uint32_t)strtoul(p, (char **)&p, 10);
        if (*p == ',') {
            p++;
        }
    }
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double recall_of(const dataset_t *d, uint32_t q, const int64_t *ids, uint32_t n) {
    uint32_t hit = 0;
    for (uint32_t i = 0; i < n; i++) {
        for (int j = 0; j < GT_K; j++) {
            hit += ids[i] == d->gt[(size_t)q * GT_K + j];
        }
    }
    return (double)hit / GT_K;
}

typedef int (*query_fn)(void *ctx, const dataset_t *d, uint32_t q, uint32_t ef, int64_t *ids,
                        uint32_t *n);

/* One pass per repeat over all queries; prints the JSON line for this ef. */
static void sweep_one(const char *system, const dataset_t *d, uint32_t ef, int repeats, query_fn fn,
                      void *ctx) {
    double qps[REPEATS_MAX], qps_cpu[REPEATS_MAX];
    double recall = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_s(), c0 = cpu_s(), sum = 0;
        for (uint32_t q = 0; q < d->nq; q++) {
            int64_t ids[GT_K];
            uint32_t n = 0;
            if (fn(ctx, d, q, ef, ids, &n) != 0) {
                exit(1);
            }
            sum += recall_of(d, q, ids, n);
        }
        qps[r] = d->nq / (now_s() - t0);
        qps_cpu[r] = d->nq / (cpu_s() - c0);
        recall = sum / d->nq;
    }
    qsort(qps, (size_t)repeats, sizeof(double), cmp_double);
    qsort(qps_cpu, (size_t)repeats, sizeof(double), cmp_double);
    printf("{\"system\": \"%s\", \"ef\": %u, \"recall\": %.4f, \"qps\": %.1f, "
           "\"qps_cpu\": %.1f}\n",
           system, ef, recall, qps[repeats / 2], qps_cpu[repeats / 2]);
    fflush(stdout);
}

static int index_query(void *ctx, const dataset_t *d, uint32_t q, uint32_t ef, int64_t *ids,
                       uint32_t *n) {
    hnsw_hit_t hits[GT_K];
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = hnsw_search(ctx, d->query + (size_t)q * d->dims, d->dims, GT_K, ef, NULL, hits, n,
                         NULL, &err);
    for (uint32_t i = 0; i < *n; i++) {
        ids[i] = hits[i].id;
    }
    if (rc != CTX_OK) {
        fprintf(stderr, "bench_vector: %s\n", err.message);
    }
    return rc;
}

static int cmd_index(char **argv) {
    dataset_t d;
    load_dataset(argv[0], &d);
    hnsw_config_t config;
    hnsw_config_default(&config, d.dims, UINT64_C(0x436f6e7465787444));
    config.m = (uint32_t)atol(argv[1]);
    config.ef_construction = (uint32_t)atol(argv[2]);
    uint32_t efs[EFS_MAX];
    int nef = parse_list(argv[3], efs, EFS_MAX);
    int repeats = atoi(argv[4]);
    repeats = repeats < 1 ? 1 : (repeats > REPEATS_MAX ? REPEATS_MAX : repeats);
    ctx_err_t err;
    ctx_err_clear(&err);
    hnsw_t *h;
    long rss0 = rss_kb();
    double t0 = now_s(), c0 = cpu_s();
    if (hnsw_create(&config, &h, &err) != CTX_OK) {
        fprintf(stderr, "bench_vector: %s\n", err.message);
        return 1;
    }
    (void)hnsw_reserve(h, d.n);
    for (uint32_t i = 0; i < d.n; i++) {
        if (hnsw_insert(h, i, d.base + (size_t)i * d.dims, d.dims, &err) != CTX_OK) {
            fprintf(stderr, "bench_vector: %s\n", err.message);
            return 1;
        }
    }
    double build_s = now_s() - t0, build_cpu_s = cpu_s() - c0;
    printf("{\"system\": \"contextdb\", \"build_s\": %.2f, \"build_cpu_s\": %.2f, "
           "\"memory_mb\": %.1f, \"index_bytes_mb\": %.1f, \"kernel\": \"%s\"}\n",
           build_s, build_cpu_s, (double)(rss_kb() - rss0) / 1024.0,
           (double)hnsw_memory_bytes(h) / 1048576.0, hnsw_kernel_name(hnsw_kernel_best()));
    fflush(stdout);
    /* Restart without rebuild: serialize (what a snapshot stores) and load back. */
    buf_t bytes;
    buf_init(&bytes);
    double s0 = now_s();
    hnsw_serialize(h, &bytes);
    double l0 = now_s();
    hnsw_t *loaded = NULL;
    if (hnsw_load(buf_peek(&bytes), buf_size(&bytes), &loaded, &err) != CTX_OK) {
        fprintf(stderr, "bench_vector: %s\n", err.message);
        return 1;
    }
    printf("{\"system\": \"contextdb\", \"serialize_s\": %.3f, \"load_s\": %.3f, "
           "\"index_file_mb\": %.1f}\n",
           l0 - s0, now_s() - l0, (double)buf_size(&bytes) / 1048576.0);
    hnsw_destroy(loaded);
    buf_free(&bytes);
    for (int i = 0; i < nef; i++) {
        sweep_one("contextdb", &d, efs[i], repeats, index_query, h);
    }
    hnsw_destroy(h);
    return 0;
}

/* ---------------------------------------------------------------- pgwire */

typedef struct pg_bench {
    PGconn *conn;
    bool prepared; /* extended protocol available */
    char *text;    /* query text / parameter buffer */
    size_t text_cap;
} pg_bench_t;

static void vector_text(const float *v, uint32_t dims, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "[");
    for (uint32_t j = 0; j < dims && n < cap; j++) {
        n += (size_t)snprintf(out + n, cap - n, "%s%.9g", j > 0 ? "," : "", v[j]);
    }
    snprintf(out + n, cap - n, "]");
}

static bool pg_ok(PGresult *r, const char *what) {
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_vector: %s: %s", what, PQresultErrorMessage(r));
        PQclear(r);
        return false;
    }
    PQclear(r);
    return true;
}

static int pg_load(pg_bench_t *b, const dataset_t *d) {
    enum { BATCH = 500 };
    size_t row_cap = (size_t)d->dims * 18 + 64;
    char *sql = malloc(row_cap * BATCH + 128);
    for (uint32_t first = 0; first < d->n; first += BATCH) {
        size_t n = (size_t)sprintf(sql, "INSERT INTO vectors (id, embedding) VALUES ");
        for (uint32_t i = first; i < d->n && i < first + BATCH; i++) {
            n += (size_t)sprintf(sql + n, "%s(%u, '", i > first ? "," : "", i);
            vector_text(d->base + (size_t)i * d->dims, d->dims, sql + n, row_cap);
            n += strlen(sql + n);
            n += (size_t)sprintf(sql + n, "')");
        }
        if (!pg_ok(PQexec(b->conn, sql), "insert")) {
            free(sql);
            return 1;
        }
    }
    free(sql);
    return 0;
}

static int pg_query(void *ctx, const dataset_t *d, uint32_t q, uint32_t ef, int64_t *ids,
                    uint32_t *n) {
    (void)ef;
    pg_bench_t *b = ctx;
    size_t vec_cap = (size_t)d->dims * 18 + 64;
    if (b->text_cap < vec_cap + 256) {
        b->text_cap = vec_cap + 256;
        b->text = realloc(b->text, b->text_cap);
    }
    PGresult *r;
    if (b->prepared) {
        vector_text(d->query + (size_t)q * d->dims, d->dims, b->text, vec_cap);
        const char *params[1] = {b->text};
        r = PQexecPrepared(b->conn, "knn", 1, params, NULL, NULL, 0);
    } else {
        int len = sprintf(b->text, "SELECT id FROM vectors ORDER BY embedding <=> '");
        vector_text(d->query + (size_t)q * d->dims, d->dims, b->text + len, vec_cap);
        strcat(b->text, "' LIMIT 10");
        r = PQexec(b->conn, b->text);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_vector: query: %s", PQresultErrorMessage(r));
        PQclear(r);
        return 1;
    }
    *n = (uint32_t)PQntuples(r);
    for (uint32_t i = 0; i < *n && i < GT_K; i++) {
        ids[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    }
    PQclear(r);
    return 0;
}

static int cmd_pgwire(char **argv, int argc) {
    dataset_t d;
    load_dataset(argv[0], &d);
    pg_bench_t b = {.conn = PQconnectdb(argv[1])};
    if (PQstatus(b.conn) != CONNECTION_OK) {
        fprintf(stderr, "bench_vector: connect: %s", PQerrorMessage(b.conn));
        return 1;
    }
    uint32_t efs[EFS_MAX];
    int nef = parse_list(argv[2], efs, EFS_MAX);
    int repeats = atoi(argv[3]);
    repeats = repeats < 1 ? 1 : (repeats > REPEATS_MAX ? REPEATS_MAX : repeats);
    if (argc > 4 && strcmp(argv[4], "load") == 0) {
        double t0 = now_s();
        if (pg_load(&b, &d) != 0) {
            return 1;
        }
        printf("{\"system\": \"contextdb-pgwire\", \"load_s\": %.2f}\n", now_s() - t0);
    }
    PGresult *r = PQprepare(b.conn, "knn",
                            "SELECT id FROM vectors ORDER BY embedding <=> $1 LIMIT 10", 1, NULL);
    b.prepared = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    printf("{\"system\": \"contextdb-pgwire\", \"protocol\": \"%s\"}\n",
           b.prepared ? "extended (PQprepare/PQexecPrepared)" : "simple query (no extended)");
    for (int i = 0; i < nef; i++) {
        char set[64];
        snprintf(set, sizeof(set), "SET hnsw.ef_search = %u", efs[i]);
        if (!pg_ok(PQexec(b.conn, set), "set")) {
            return 1;
        }
        sweep_one("contextdb-pgwire", &d, efs[i], repeats, pg_query, &b);
    }
    free(b.text);
    PQfinish(b.conn);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 8 && strcmp(argv[1], "gen") == 0) {
        return cmd_gen(argv + 2);
    }
    if (argc >= 7 && strcmp(argv[1], "index") == 0) {
        return cmd_index(argv + 2);
    }
    if (argc >= 6 && strcmp(argv[1], "pgwire") == 0) {
        return cmd_pgwire(argv + 2, argc - 2);
    }
    fprintf(stderr, "usage: bench_vector gen DIR N DIMS QUERIES uniform|mixture SEED\n"
                    "       bench_vector index DIR M EF_CONSTRUCTION EF,EF,... REPEATS\n"
                    "       bench_vector pgwire DIR CONNINFO EF,EF,... REPEATS [load]\n");
    return 2;
}

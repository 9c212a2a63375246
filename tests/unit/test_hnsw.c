/*
 * test_hnsw.c — the HNSW index (engine/vector/hnsw.h) against exact results.
 *
 * Data: a seeded mixture of Gaussian clusters (20,000 × 64 by default, 4,000 × 64 with
 * CTX_SKIP_SLOW=1 for sanitizer builds), queries drawn from the same mixture, exact ground truth
 * by a full scan with vec_distance(). The seed is printed and taken from CTX_TEST_SEED.
 * Covers: bit-identical distance kernels, recall@10 at default settings, recall after deleting
 * 30% with slot reuse, filtered search (exact path = exact results; graph path keeps recall),
 * replacement, identical bytes from identical commands, serialize/load round trip and corrupt
 * input, dimension errors, out of memory in every allocation of insert, delete and search, and
 * the vector index going stale (exact candidates) while a refused update waits for its retry. Then
 * the SQL level through sql_parse/sql_execute (as test_sql.c): the planner picks the HNSW operator,
 * EXPLAIN names it, results equal `SET enable_hnsw = off`, filters, transactions (own uncommitted
 * vectors visible, others' not; the index follows commits), similar()/neighbor_stats(), neighbors()
 * JOIN vectors and id lists as allowed sets (exact when few, filtered HNSW when many) and dimension
 * errors.
 */
#include "hnsw.h"
#include "sql.h"
#include "vindex.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DIMS = 64, CLUSTERS = 40, QUERIES = 200, K = 10 };

static uint64_t g_seed;
static uint32_t g_n;     /* vectors in the data set */
static float *g_data;    /* g_n × DIMS, id i ↔ row i */
static float *g_queries; /* QUERIES × DIMS */
static hnsw_t *g_index;  /* built once over g_data (unchecked fixture) */

/* ---------------------------------------------------------------- data */

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

/* Mixture of CLUSTERS Gaussians (centres uniform in [-1,1]^d, sigma 0.35). */
static void gen_mixture(uint64_t seed, float *out, uint32_t n) {
    uint64_t s = seed;
    static float centres[CLUSTERS][DIMS];
    for (int c = 0; c < CLUSTERS; c++) {
        for (int d = 0; d < DIMS; d++) {
            centres[c][d] = (float)(2.0 * rng_unit(&s) - 1.0);
        }
    }
    uint64_t t = seed ^ UINT64_C(0x5eed);
    for (uint32_t i = 0; i < n; i++) {
        int c = (int)(rng_next(&t) % CLUSTERS);
        for (int d = 0; d < DIMS; d++) {
            out[(size_t)i * DIMS + d] = centres[c][d] + (float)(0.35 * rng_gauss(&t));
        }
    }
}

static void seed_fixture(void) {
    const char *env = getenv("CTX_TEST_SEED");
    g_seed = env != NULL ? strtoull(env, NULL, 0) : UINT64_C(20240605);
}

static void build_fixture(void) {
    seed_fixture();
    g_n = getenv("CTX_SKIP_SLOW") != NULL ? 4000 : 20000;
    printf("test_hnsw: seed %llu (CTX_TEST_SEED), %u x %d vectors, kernel %s\n",
           (unsigned long long)g_seed, g_n, DIMS, hnsw_kernel_name(hnsw_kernel_best()));
    g_data = malloc(sizeof(float) * (size_t)g_n * DIMS);
    g_queries = malloc(sizeof(float) * QUERIES * DIMS);
    gen_mixture(g_seed, g_data, g_n);
    float *q = malloc(sizeof(float) * (size_t)(g_n + QUERIES) * DIMS);
    gen_mixture(g_seed, q, g_n + QUERIES); /* same centres; take rows past the data */
    memcpy(g_queries, q + (size_t)g_n * DIMS, sizeof(float) * QUERIES * DIMS);
    free(q);
    hnsw_config_t config;
    hnsw_config_default(&config, DIMS, g_seed);
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(hnsw_create(&config, &g_index, &err), CTX_OK);
    for (uint32_t i = 0; i < g_n; i++) {
        ck_assert_int_eq(hnsw_insert(g_index, i, g_data + (size_t)i * DIMS, DIMS, &err), CTX_OK);
    }
}

static void free_fixture(void) {
    hnsw_destroy(g_index);
    free(g_data);
    free(g_queries);
}

/* Exact top-k ids by metric over ids where allowed(id) (NULL = all live in `live`). */
typedef struct exact_hit {
    int64_t id;
    double d;
} exact_hit_t;

static int exact_cmp(const void *x, const void *y) {
    const exact_hit_t *a = x;
    const exact_hit_t *b = y;
    if (a->d != b->d) {
        return a->d < b->d ? -1 : 1;
    }
    return (a->id > b->id) - (a->id < b->id);
}

static uint32_t exact_topk(metric_t metric, const float *query, const bool *live, uint32_t k,
                           int64_t *out) {
    exact_hit_t *all = malloc(sizeof(exact_hit_t) * g_n);
    uint32_t n = 0;
    for (uint32_t i = 0; i < g_n; i++) {
        if (live == NULL || live[i]) {
            all[n].id = i;
            all[n].d = vec_distance(metric, query, g_data + (size_t)i * DIMS, DIMS);
            n++;
        }
    }
    ctx_qsort(all, n, sizeof(exact_hit_t), exact_cmp);
    uint32_t m = n < k ? n : k;
    for (uint32_t i = 0; i < m; i++) {
        out[i] = all[i].id;
    }
    free(all);
    return m;
}

/* Mean recall@K of index searches (ef) against exact results over `live`. */
static double recall_at_k(const hnsw_t *index, uint32_t ef, const bool *live) {
    uint64_t found = 0, total = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    for (int q = 0; q < QUERIES; q++) {
        const float *query = g_queries + (size_t)q * DIMS;
        int64_t truth[K];
        uint32_t nt = exact_topk(METRIC_COSINE, query, live, K, truth);
        hnsw_hit_t hits[K];
        uint32_t nh;
        ck_assert_int_eq(hnsw_search(index, query, DIMS, K, ef, NULL, hits, &nh, NULL, &err),
                         CTX_OK);
        for (uint32_t i = 0; i < nh; i++) {
            ck_assert_msg(live == NULL || live[hits[i].id], "deleted id %lld returned",
                          (long long)hits[i].id);
            for (uint32_t j = 0; j < nt; j++) {
                found += hits[i].id == truth[j];
            }
        }
        total += nt;
    }
    return (double)found / (double)total;
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_kernels_bit_identical) {
    uint64_t s = g_seed;
    hnsw_kernel_t best = hnsw_kernel_best();
    for (uint32_t dims = HNSW_DIST_STEP; dims <= 8 * HNSW_DIST_LANES; dims += HNSW_DIST_STEP) {
        float a[8 * HNSW_DIST_LANES], b[8 * HNSW_DIST_LANES];
        for (int rep = 0; rep < 50; rep++) {
            double ref_dot = 0, ref_l2 = 0;
            for (uint32_t i = 0; i < dims; i++) {
                a[i] = (float)rng_gauss(&s);
                b[i] = (float)rng_gauss(&s);
                ref_dot += (double)a[i] * b[i];
                ref_l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            }
            float dot0 = hnsw_kernel_dot(HNSW_KERNEL_SCALAR)(a, b, dims);
            float l20 = hnsw_kernel_l2sq(HNSW_KERNEL_SCALAR)(a, b, dims);
            /* a vector padded to HNSW_DIST_STEP scores as when padded to a whole round of lanes */
            uint32_t round = (dims + HNSW_DIST_LANES - 1) / HNSW_DIST_LANES * HNSW_DIST_LANES;
            for (uint32_t i = dims; i < round; i++) {
                a[i] = b[i] = 0.0f;
            }
            ck_assert(hnsw_kernel_dot(HNSW_KERNEL_SCALAR)(a, b, round) == dot0);
            ck_assert(hnsw_kernel_l2sq(HNSW_KERNEL_SCALAR)(a, b, round) == l20);
            ck_assert(fabs(dot0 - ref_dot) < 1e-3 * (1 + fabs(ref_dot)));
            ck_assert(fabs(l20 - ref_l2) < 1e-3 * (1 + ref_l2));
            for (int k = 1; k <= (int)best; k++) {
                float dot = hnsw_kernel_dot((hnsw_kernel_t)k)(a, b, dims);
                float l2 = hnsw_kernel_l2sq((hnsw_kernel_t)k)(a, b, dims);
                ck_assert_msg(memcmp(&dot, &dot0, sizeof(float)) == 0, "dot %s differs",
                              hnsw_kernel_name((hnsw_kernel_t)k));
                ck_assert_msg(memcmp(&l2, &l20, sizeof(float)) == 0, "l2 %s differs",
                              hnsw_kernel_name((hnsw_kernel_t)k));
            }
        }
    }
}
END_TEST

START_TEST(test_recall_default_settings) {
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_msg(hnsw_check(g_index, &err), "%s", err.message);
    ck_assert_uint_eq(hnsw_count(g_index), g_n);
    double recall = recall_at_k(g_index, HNSW_EF_SEARCH_DEFAULT, NULL);
    printf("test_hnsw: recall@10 at ef_search=40: %.4f\n", recall);
    ck_assert_msg(recall >= 0.95, "recall@10 %.4f < 0.95", recall);
    ck_assert(recall_at_k(g_index, 200, NULL) >= recall - 0.001);
}
END_TEST

static bool deleted_id(uint64_t id) {
    uint64_t x = id * UINT64_C(0x9E3779B97F4A7C15) ^ g_seed;
    return (x >> 17) % 10 < 3;
}

START_TEST(test_recall_after_deletes) {
    bool *live = malloc(sizeof(bool) * g_n);
    uint64_t removed = 0;
    uint64_t full_bytes = hnsw_memory_bytes(g_index);
    for (uint32_t i = 0; i < g_n; i++) {
        live[i] = !deleted_id(i);
        if (!live[i]) {
            ck_assert(hnsw_delete(g_index, i));
            removed++;
        }
    }
    ck_assert(!hnsw_delete(g_index, -777)); /* absent: no-op */
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_msg(hnsw_check(g_index, &err), "%s", err.message);
    ck_assert_uint_eq(hnsw_count(g_index), g_n - removed);
    double recall = recall_at_k(g_index, HNSW_EF_SEARCH_DEFAULT, live);
    printf("test_hnsw: recall@10 after deleting %llu of %u: %.4f\n", (unsigned long long)removed,
           g_n, recall);
    ck_assert_msg(recall >= 0.93, "recall@10 after deletes %.4f < 0.93", recall);
    /* Re-inserting reuses the freed slots: memory does not grow. */
    for (uint32_t i = 0; i < g_n; i++) {
        if (!live[i]) {
            ck_assert_int_eq(hnsw_insert(g_index, i, g_data + (size_t)i * DIMS, DIMS, &err),
                             CTX_OK);
        }
    }
    /* (only the free-slot stack, 4 bytes per freed slot, stays allocated) */
    ck_assert_uint_le(hnsw_memory_bytes(g_index), full_bytes + sizeof(uint32_t) * 2 * removed);
    ck_assert_msg(hnsw_check(g_index, &err), "%s", err.message);
    double again = recall_at_k(g_index, HNSW_EF_SEARCH_DEFAULT, NULL);
    printf("test_hnsw: recall@10 after re-inserting: %.4f\n", again);
    ck_assert(again >= 0.93);
    free(live);
}
END_TEST

/* Filtered search with `percent` of ids allowed: the path follows the cost model, the exact
 * path returns exactly the exact scan's result, the graph path keeps recall ≥ 0.93. Returns
 * whether the exact path ran. */
static bool check_filtered(uint32_t percent) {
    bool *allowed = calloc(g_n, sizeof(bool));
    int64_t *ids = malloc(sizeof(int64_t) * g_n);
    uint64_t n = 0, s = g_seed ^ percent;
    for (uint32_t i = 0; i < g_n; i++) {
        if (rng_next(&s) % 100 < percent) {
            allowed[i] = true;
            ids[n++] = i;
        }
    }
    bool expect_exact = hnsw_filter_exact(g_index, n, HNSW_EF_SEARCH_DEFAULT);
    ids[n++] = -12345; /* unknown ids are ignored */
    hnsw_filter_t filter = {ids, n};
    uint64_t found = 0, total = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    for (int q = 0; q < QUERIES; q++) {
        const float *query = g_queries + (size_t)q * DIMS;
        int64_t truth[K];
        uint32_t nt = exact_topk(METRIC_COSINE, query, allowed, K, truth);
        hnsw_hit_t hits[K];
        uint32_t nh;
        hnsw_search_stats_t st;
        ck_assert_int_eq(hnsw_search(g_index, query, DIMS, K, HNSW_EF_SEARCH_DEFAULT, &filter, hits,
                                     &nh, &st, &err),
                         CTX_OK);
        ck_assert_int_eq(st.path == HNSW_PATH_EXACT, expect_exact);
        for (uint32_t i = 0; i < nh; i++) {
            ck_assert(allowed[hits[i].id]);
            if (expect_exact) {
                ck_assert_int_eq(hits[i].id, truth[i]);
            }
            for (uint32_t j = 0; j < nt; j++) {
                found += hits[i].id == truth[j];
            }
        }
        ck_assert(!expect_exact || nh == nt);
        total += nt;
    }
    double recall = (double)found / (double)total;
    printf("test_hnsw: filtered search, %u%% allowed: recall@10 %.4f (%s)\n", percent, recall,
           expect_exact ? "exact path" : "graph path");
    ck_assert(recall >= (expect_exact ? 1.0 : 0.93));
    free(allowed);
    free(ids);
    return expect_exact;
}

START_TEST(test_filtered_one_percent_is_exact) {
    ck_assert(check_filtered(1));
}
END_TEST

START_TEST(test_filtered_graph_path) {
    ck_assert(!check_filtered(60));
    check_filtered(30); /* graph with two-hop expansion at 20,000 vectors, exact at 4,000 */
    check_filtered(10);
}
END_TEST

START_TEST(test_replace_vector) {
    ctx_err_t err;
    ctx_err_clear(&err);
    const float *target = g_queries; /* move id 7 onto query 0 */
    ck_assert_int_eq(hnsw_insert(g_index, 7, target, DIMS, &err), CTX_OK);
    ck_assert_uint_eq(hnsw_count(g_index), g_n);
    ck_assert(hnsw_same_vector(g_index, 7, target, DIMS));
    hnsw_hit_t hits[K];
    uint32_t nh;
    ck_assert_int_eq(hnsw_search(g_index, target, DIMS, K, 40, NULL, hits, &nh, NULL, &err),
                     CTX_OK);
    ck_assert_int_eq(hits[0].id, 7);
    ck_assert(fabsf(hits[0].distance) < 1e-5f);
    ck_assert_msg(hnsw_check(g_index, &err), "%s", err.message);
}
END_TEST

/* Feeds the same inserts, replacements and deletes to an index. */
static hnsw_t *replay(uint64_t seed, metric_t metric, uint32_t n) {
    hnsw_config_t config;
    hnsw_config_default(&config, DIMS, seed);
    config.metric = metric;
    config.m = 8;
    config.ef_construction = 64;
    hnsw_t *h;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(hnsw_create(&config, &h, &err), CTX_OK);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_int_eq(hnsw_insert(h, i * 3, g_data + (size_t)i * DIMS, DIMS, &err), CTX_OK);
        if (i % 7 == 3) {
            hnsw_delete(h, (i / 2) * 3);
        }
        if (i % 11 == 5) {
            hnsw_insert(h, (i / 3) * 3, g_data + (size_t)(i + 1) * DIMS, DIMS, &err);
        }
    }
    return h;
}

START_TEST(test_identical_bytes_from_identical_commands) {
    uint32_t n = g_n < 3000 ? g_n : 3000;
    hnsw_t *a = replay(g_seed, METRIC_COSINE, n);
    hnsw_t *b = replay(g_seed, METRIC_COSINE, n);
    hnsw_t *c = replay(g_seed + 1, METRIC_COSINE, n);
    buf_t ba, bb, bc;
    buf_init(&ba);
    buf_init(&bb);
    buf_init(&bc);
    hnsw_serialize(a, &ba);
    hnsw_serialize(b, &bb);
    hnsw_serialize(c, &bc);
    ck_assert_uint_eq(buf_size(&ba), buf_size(&bb));
    ck_assert(memcmp(buf_peek(&ba), buf_peek(&bb), buf_size(&ba)) == 0);
    ck_assert(buf_size(&ba) != buf_size(&bc) ||
              memcmp(buf_peek(&ba), buf_peek(&bc), buf_size(&ba)) != 0);
    buf_free(&ba);
    buf_free(&bb);
    buf_free(&bc);
    hnsw_destroy(a);
    hnsw_destroy(b);
    hnsw_destroy(c);
}
END_TEST

START_TEST(test_serialize_load_round_trip) {
    metric_t metrics[] = {METRIC_COSINE, METRIC_L2, METRIC_INNER};
    for (int mi = 0; mi < 3; mi++) {
        hnsw_t *a = replay(g_seed, metrics[mi], 1500);
        buf_t b1, b2;
        buf_init(&b1);
        buf_init(&b2);
        hnsw_serialize(a, &b1);
        hnsw_t *loaded;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(hnsw_load(buf_peek(&b1), buf_size(&b1), &loaded, &err), CTX_OK);
        hnsw_serialize(loaded, &b2);
        ck_assert_uint_eq(buf_size(&b1), buf_size(&b2));
        ck_assert(memcmp(buf_peek(&b1), buf_peek(&b2), buf_size(&b1)) == 0);
        for (int q = 0; q < 20; q++) {
            hnsw_hit_t h1[K], h2[K];
            uint32_t n1, n2;
            const float *query = g_queries + (size_t)q * DIMS;
            ck_assert_int_eq(hnsw_search(a, query, DIMS, K, 40, NULL, h1, &n1, NULL, &err), 0);
            ck_assert_int_eq(hnsw_search(loaded, query, DIMS, K, 40, NULL, h2, &n2, NULL, &err), 0);
            ck_assert_uint_eq(n1, n2);
            for (uint32_t i = 0; i < n1; i++) {
                ck_assert_int_eq(h1[i].id, h2[i].id);
                ck_assert(h1[i].distance == h2[i].distance);
            }
        }
        /* Corruption: a flipped byte fails the CRC; truncation fails the length checks. */
        uint8_t *copy = malloc(buf_size(&b1));
        memcpy(copy, buf_peek(&b1), buf_size(&b1));
        copy[buf_size(&b1) / 2] ^= 0x40;
        hnsw_t *bad = NULL;
        ck_assert_int_eq(hnsw_load(copy, buf_size(&b1), &bad, &err), CTX_ECORRUPT);
        ck_assert_ptr_null(bad);
        ctx_err_clear(&err);
        ck_assert_int_eq(hnsw_load(copy, 20, &bad, &err), CTX_ECORRUPT);
        free(copy);
        buf_free(&b1);
        buf_free(&b2);
        hnsw_destroy(a);
        hnsw_destroy(loaded);
    }
}
END_TEST

START_TEST(test_dimension_mismatch) {
    ctx_err_t err;
    ctx_err_clear(&err);
    float v[DIMS + 1] = {1};
    ck_assert_int_eq(hnsw_insert(g_index, 999999, v, DIMS + 1, &err), CTX_EDATA);
    ck_assert_str_eq(ctx_sqlstate(err.code), "22000");
    ck_assert_ptr_nonnull(strstr(err.message, "different vector dimensions"));
    ck_assert(!hnsw_contains(g_index, 999999));
    ctx_err_clear(&err);
    hnsw_hit_t hits[K];
    uint32_t nh = 99;
    ck_assert_int_eq(hnsw_search(g_index, v, 3, K, 40, NULL, hits, &nh, NULL, &err), CTX_EDATA);
    ck_assert_uint_eq(nh, 0);
    v[1] = NAN;
    ctx_err_clear(&err);
    ck_assert_int_eq(hnsw_insert(g_index, 999999, v, DIMS, &err), CTX_EDATA);
}
END_TEST

START_TEST(test_small_exact_l2_and_empty) {
    hnsw_config_t config;
    hnsw_config_default(&config, 3, 1);
    config.metric = METRIC_L2;
    hnsw_t *h;
    ctx_err_t err;
    ctx_err_clear(&err);
    hnsw_hit_t hits[4];
    uint32_t nh = 9;
    ck_assert_int_eq(hnsw_create(&config, &h, &err), CTX_OK);
    float q[3] = {0, 0, 0};
    ck_assert_int_eq(hnsw_search(h, q, 3, 4, 40, NULL, hits, &nh, NULL, &err), CTX_OK);
    ck_assert_uint_eq(nh, 0);
    for (int i = 0; i < 5; i++) {
        float v[3] = {(float)i, 0, 0};
        ck_assert_int_eq(hnsw_insert(h, 100 + i, v, 3, &err), CTX_OK);
    }
    ck_assert(hnsw_delete(h, 100));
    ck_assert_int_eq(hnsw_search(h, q, 3, 4, 40, NULL, hits, &nh, NULL, &err), CTX_OK);
    ck_assert_uint_eq(nh, 4);
    for (uint32_t i = 0; i < nh; i++) {
        ck_assert_int_eq(hits[i].id, 101 + (int64_t)i);
        ck_assert(hits[i].distance == (float)((i + 1) * (i + 1)));
    }
    config.m = 1;
    hnsw_t *other = NULL;
    ck_assert_int_eq(hnsw_create(&config, &other, &err), CTX_EBAD_PARAM);
    ck_assert_ptr_null(other);
    hnsw_destroy(h);
}
END_TEST

/* ---------------------------------------------------------------- SQL level */

enum { SQL_DIMS = 8, SQL_ROWS = 600 };

typedef struct sql_fixture {
    store_t *store;
    sql_db_t db;
    sql_session_t *a;
    sql_session_t *b;
    arena_t arena;
    char out[65536];
    char copy[65536];
    ctx_err_t err;
} sql_fixture_t;

static sql_fixture_t sx;

static const char *run(sql_session_t *s, const char *sql) {
    sx.out[0] = '\0';
    ctx_err_clear(&sx.err);
    stmt_t **stmts;
    int count;
    int rc = sql_parse(sql, strlen(sql), &sx.arena, &stmts, &count, &sx.err);
    if (rc != CTX_OK) {
        sql_query_failed(s);
    } else {
        sql_query_begin(s, count);
        for (int i = 0; i < count && rc == CTX_OK; i++) {
            sql_result_t r;
            rc = sql_execute(s, stmts[i], sql, &sx.arena, &r, &sx.err);
            size_t n = strlen(sx.out);
            for (uint64_t row = 0; rc == CTX_OK && r.has_rows && row < r.nrows; row++) {
                for (int c = 0; c < r.ncols; c++) {
                    const value_t *v = &r.rows[row * (uint64_t)r.ncols + (uint64_t)c];
                    uint32_t len = 0;
                    const char *t = value_is_null(v) ? "NULL" : value_to_text(v, &sx.arena, &len);
                    n += (size_t)snprintf(sx.out + n, sizeof(sx.out) - n, "%s%s", c ? "|" : "", t);
                }
                n += (size_t)snprintf(sx.out + n, sizeof(sx.out) - n, "\n");
            }
            if (rc == CTX_OK) {
                snprintf(sx.out + n, sizeof(sx.out) - n, "%s\n", r.tag);
            }
        }
        ctx_err_t end_err;
        ctx_err_clear(&end_err);
        int end = sql_query_end(s, &sx.arena, &end_err);
        if (rc == CTX_OK && end != CTX_OK) {
            sx.err = end_err;
            rc = end;
        }
    }
    if (rc != CTX_OK) {
        snprintf(sx.out, sizeof(sx.out), "ERROR %s: %s", ctx_sqlstate(sx.err.code), sx.err.message);
    }
    return sx.out;
}

/* run() into a private copy (the next run() overwrites sx.out). */
static const char *run_copy(sql_session_t *s, const char *sql) {
    snprintf(sx.copy, sizeof(sx.copy), "%s", run(s, sql));
    return sx.copy;
}

static void vec_literal(uint64_t *rng, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "'[");
    for (int d = 0; d < SQL_DIMS; d++) {
        n += (size_t)snprintf(out + n, cap - n, "%s%.4f", d ? "," : "", rng_gauss(rng));
    }
    snprintf(out + n, cap - n, "]'");
}

static void sql_setup(void) {
    store_config_t config = {.vector_dims = SQL_DIMS};
    sx.store = store_create(&config);
    hnsw_config_t hc;
    hnsw_config_default(&hc, SQL_DIMS, 7);
    ctx_err_t err;
    ctx_err_clear(&err);
    sx.db = (sql_db_t){.store = sx.store, .server_version = "15.0 (ContextDB test)", .seed = 7};
    ck_assert_int_eq(vindex_create(sx.store, &hc, &sx.db.vindex, &err), CTX_OK);
    sx.db.hooks.applied = vindex_applied;
    sx.db.hooks.applied_ctx = sx.db.vindex;
    sql_startup_t startup = {.user = "tester", .database = "db"};
    sx.a = sql_session_create(&sx.db, &startup, &err);
    sx.b = sql_session_create(&sx.db, &startup, &err);
    ck_assert(sx.a != NULL && sx.b != NULL);
    arena_init(&sx.arena);
    uint64_t rng = g_seed ^ 99;
    char *sql = malloc(200 * SQL_ROWS);
    size_t n = (size_t)sprintf(sql, "INSERT INTO vectors (id, embedding) VALUES ");
    for (int i = 0; i < SQL_ROWS; i++) {
        char lit[256];
        vec_literal(&rng, lit, sizeof(lit));
        n += (size_t)sprintf(sql + n, "%s(%d, %s)", i ? "," : "", i + 1, lit);
    }
    ck_assert_str_eq(run(sx.a, sql), "INSERT 0 600\n");
    free(sql);
    ck_assert_uint_eq(hnsw_count(vindex_hnsw(sx.db.vindex)), SQL_ROWS);
}

static void sql_teardown(void) {
    sql_session_destroy(sx.a);
    sql_session_destroy(sx.b);
    vindex_destroy(sx.db.vindex);
    store_destroy(sx.store);
    arena_destroy(&sx.arena);
}

/* The same query with the index and without must give identical text. */
static void same_both_ways(const char *sql) {
    ck_assert_str_eq(run(sx.a, "SET enable_hnsw = on"), "SET\n");
    run_copy(sx.a, sql);
    ck_assert_str_eq(run(sx.a, "SET enable_hnsw = off"), "SET\n");
    ck_assert_str_eq(run(sx.a, sql), sx.copy);
    ck_assert_str_eq(run(sx.a, "SET enable_hnsw = on"), "SET\n");
}

START_TEST(test_sql_explain_names_hnsw) {
    const char *q = "EXPLAIN SELECT id FROM vectors ORDER BY embedding <=> "
                    "'[1,2,3,4,5,6,7,8]' LIMIT 5";
    ck_assert_ptr_nonnull(strstr(run(sx.a, q), "Vector Top-K (hnsw, cosine)"));
    ck_assert_ptr_nonnull(strstr(sx.out, "ef_search=40"));
    run(sx.a, "SET hnsw.ef_search = 100");
    ck_assert_ptr_nonnull(strstr(run(sx.a, q), "ef_search=100"));
    run(sx.a, "SET enable_hnsw = off");
    ck_assert_ptr_nonnull(strstr(run(sx.a, q), "Vector Top-K (exact scan, cosine)"));
    run(sx.a, "SET enable_hnsw = on");
    /* Another metric than the index's: exact scan. */
    ck_assert_ptr_nonnull(strstr(run(sx.a, "EXPLAIN SELECT id FROM vectors ORDER BY embedding "
                                           "<-> '[1,2,3,4,5,6,7,8]' LIMIT 5"),
                                 "Vector Top-K (exact scan, l2)"));
    /* A filter becomes the allowed set; ANALYZE shows the path taken. */
    ck_assert_ptr_nonnull(strstr(run(sx.a, "EXPLAIN ANALYZE SELECT id FROM vectors WHERE id < 30 "
                                           "ORDER BY embedding <=> '[1,2,3,4,5,6,7,8]' LIMIT 5"),
                                 "path: exact scan of allowed ids"));
    ck_assert_ptr_nonnull(strstr(run(sx.a, "EXPLAIN ANALYZE SELECT id FROM vectors "
                                           "ORDER BY embedding <=> '[1,2,3,4,5,6,7,8]' LIMIT 5"),
                                 "path: hnsw"));
}
END_TEST

START_TEST(test_sql_results_equal_exact) {
    uint64_t rng = g_seed ^ 1234;
    for (int i = 0; i < 25; i++) {
        char lit[256], sql[512];
        vec_literal(&rng, lit, sizeof(lit));
        snprintf(sql, sizeof(sql),
                 "SELECT id, embedding <=> %s AS d FROM vectors ORDER BY d LIMIT %d", lit,
                 1 + i % 10);
        same_both_ways(sql);
        snprintf(sql, sizeof(sql),
                 "SELECT id FROM vectors WHERE id %% 3 = 1 ORDER BY embedding <=> %s "
                 "LIMIT 4 OFFSET 1",
                 lit);
        same_both_ways(sql);
    }
    same_both_ways("SELECT * FROM similar(5, 7)");
    same_both_ways("SELECT * FROM similar(5, threshold => 0.5)");
    same_both_ways("SELECT * FROM neighbor_stats(9, 10)");
}
END_TEST

START_TEST(test_sql_transactions) {
    const char *q = "SELECT id FROM vectors ORDER BY embedding <=> '[9,9,9,9,9,9,9,-9]' LIMIT 1";
    ck_assert_str_eq(run(sx.a, "BEGIN"), "BEGIN\n");
    ck_assert_str_eq(run(sx.a, "INSERT INTO vectors VALUES (7777, '[9,9,9,9,9,9,9,-9]')"),
                     "INSERT 0 1\n");
    ck_assert_str_eq(run(sx.a, q), "7777\nSELECT 1\n"); /* own uncommitted vector */
    ck_assert_str_ne(run(sx.b, q), "7777\nSELECT 1\n"); /* invisible to others */
    ck_assert(!hnsw_contains(vindex_hnsw(sx.db.vindex), 7777));
    ck_assert_str_eq(run(sx.a, "COMMIT"), "COMMIT\n");
    ck_assert(hnsw_contains(vindex_hnsw(sx.db.vindex), 7777)); /* the commit hook */
    ck_assert_str_eq(run(sx.b, q), "7777\nSELECT 1\n");
    /* An uncommitted delete hides the id from its session only; rollback restores it. */
    ck_assert_str_eq(run(sx.b, "BEGIN; DELETE FROM vectors WHERE id = 7777"), "BEGIN\nDELETE 1\n");
    ck_assert_str_ne(run(sx.b, q), "7777\nSELECT 1\n");
    ck_assert_str_eq(run(sx.a, q), "7777\nSELECT 1\n");
    ck_assert_str_eq(run(sx.b, "ROLLBACK"), "ROLLBACK\n");
    ck_assert_str_eq(run(sx.b, q), "7777\nSELECT 1\n");
    /* Autocommit delete and upsert keep the index in step with the store. */
    ck_assert_str_eq(run(sx.a, "DELETE FROM vectors WHERE id = 7777"), "DELETE 1\n");
    ck_assert(!hnsw_contains(vindex_hnsw(sx.db.vindex), 7777));
    ck_assert_str_eq(run(sx.a, "INSERT INTO vectors VALUES (3, '[9,9,9,9,9,9,9,-9]') "
                               "ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding"),
                     "INSERT 0 1\n");
    ck_assert_str_eq(run(sx.a, q), "3\nSELECT 1\n");
    float v[SQL_DIMS] = {9, 9, 9, 9, 9, 9, 9, -9};
    ck_assert(hnsw_same_vector(vindex_hnsw(sx.db.vindex), 3, v, SQL_DIMS));
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_msg(hnsw_check(vindex_hnsw(sx.db.vindex), &err), "%s", err.message);
}
END_TEST

START_TEST(test_sql_dimension_mismatch) {
    ck_assert_str_eq(run(sx.a, "SELECT id FROM vectors ORDER BY embedding <=> '[1,2]' LIMIT 3"),
                     "ERROR 22000: different vector dimensions 8 and 2");
    run(sx.a, "SET enable_hnsw = off");
    ck_assert_str_eq(run(sx.a, "SELECT id FROM vectors ORDER BY embedding <=> '[1,2]' LIMIT 3"),
                     "ERROR 22000: different vector dimensions 8 and 2");
}
END_TEST

/* Adds vectors up to id `upto`, nodes 1..upto and a star of edges 1 -> 2..star (one hop). */
static void add_graph(int upto, int star) {
    uint64_t rng = g_seed ^ 4321;
    size_t cap = 220 * (size_t)upto + 100;
    char *sql = malloc(cap);
    size_t n = (size_t)sprintf(sql, "INSERT INTO vectors (id, embedding) VALUES ");
    for (int i = SQL_ROWS + 1; i <= upto; i++) {
        char lit[256];
        vec_literal(&rng, lit, sizeof(lit));
        n += (size_t)sprintf(sql + n, "%s(%d, %s)", i > SQL_ROWS + 1 ? "," : "", i, lit);
    }
    ck_assert_str_ne(run(sx.a, sql), "");
    ck_assert_ptr_nonnull(strstr(sx.out, "INSERT 0"));
    n = (size_t)sprintf(sql, "INSERT INTO nodes (id, label) VALUES ");
    for (int i = 1; i <= upto; i++) {
        n += (size_t)sprintf(sql + n, "%s(%d, 'n')", i > 1 ? "," : "", i);
    }
    ck_assert_ptr_nonnull(strstr(run(sx.a, sql), "INSERT 0"));
    n = (size_t)sprintf(sql, "INSERT INTO edges (src, dst, kind) VALUES ");
    for (int i = 2; i <= star; i++) {
        n += (size_t)sprintf(sql + n, "%s(1, %d, 'k')", i > 2 ? "," : "", i);
    }
    n += (size_t)sprintf(sql + n, ", (2, 3, 'k'), (3, 4, 'k')");
    ck_assert_ptr_nonnull(strstr(run(sx.a, sql), "INSERT 0"));
    free(sql);
}

/* EXPLAIN [ANALYZE] of sql contains needle. */
static void plan_has(const char *prefix, const char *sql, const char *needle) {
    char *text = malloc(strlen(sql) + 32);
    sprintf(text, "%s %s", prefix, sql);
    ck_assert_msg(strstr(run(sx.a, text), needle) != NULL, "%s\n%s", needle, sx.out);
    free(text);
}

/* neighbors() JOIN vectors and WHERE id IN (...) with ORDER BY distance LIMIT k: the ids are the
 * allowed set; a small set is ranked exactly, a large one by filtered HNSW; results as exact. */
START_TEST(test_sql_filtered_join_and_id_list) {
    enum { UPTO = 4000, STAR = 3900 };
    add_graph(UPTO, STAR);
    ck_assert_str_eq(run(sx.a, "SET hnsw.ef_search = 100"), "SET\n");
    uint64_t rng = g_seed ^ 555;
    char *in_list = malloc(8 * STAR);
    size_t n = 0;
    for (int i = 2; i <= STAR; i++) {
        n += (size_t)sprintf(in_list + n, "%s%d", i > 2 ? "," : "", i);
    }
    char *sql = malloc(8 * STAR + 512);
    for (int i = 0; i < 8; i++) {
        char lit[256];
        vec_literal(&rng, lit, sizeof(lit));
        int k = 1 + i % 5;
        /* Large allowed set: the star's 3,899 neighbours. */
        snprintf(sql, 512,
                 "SELECT n.id, v.embedding <=> %s AS d FROM neighbors(1, 1) n JOIN "
                 "vectors v ON v.id = n.id ORDER BY d LIMIT %d",
                 lit, k);
        plan_has("EXPLAIN", sql, "Vector Top-K (hnsw, cosine)");
        plan_has("EXPLAIN", sql, "the join's ids are the allowed set");
        plan_has("EXPLAIN ANALYZE", sql, "path: filtered hnsw");
        same_both_ways(sql);
        /* Small allowed set (nodes 3 and 4 from node 2): exact scan of those ids. */
        snprintf(sql, 512,
                 "SELECT n.id, v.embedding <=> %s AS d FROM neighbors(2, 2) n JOIN "
                 "vectors v ON v.id = n.id ORDER BY d LIMIT %d",
                 lit, k);
        plan_has("EXPLAIN ANALYZE", sql, "path: exact scan of allowed ids");
        same_both_ways(sql);
        /* Id lists: a long one searches the index, a short one is an exact plan. */
        sprintf(sql,
                "SELECT id FROM vectors WHERE id IN (%s) ORDER BY embedding <-> %s "
                "LIMIT %d",
                in_list, lit, k);
        plan_has("EXPLAIN", sql, "Vector Top-K (exact scan, l2)"); /* a cosine index */
        sprintf(sql,
                "SELECT id, embedding <=> %s FROM vectors WHERE id IN (%s) ORDER BY "
                "embedding <=> %s LIMIT %d",
                lit, in_list, lit, k);
        plan_has("EXPLAIN", sql, "Vector Top-K (hnsw, cosine)");
        plan_has("EXPLAIN", sql, "the 3899 listed ids are the allowed set");
        plan_has("EXPLAIN ANALYZE", sql, "path: filtered hnsw");
        same_both_ways(sql);
        snprintf(sql, 512,
                 "SELECT id FROM vectors WHERE id IN (5, 17, 3999, 250) ORDER BY "
                 "embedding <=> %s LIMIT %d",
                 lit, k);
        plan_has("EXPLAIN", sql, "Vector Top-K (exact scan, cosine)");
        same_both_ways(sql);
    }
    /* The session's uncommitted vector joins the candidates; others do not see it. */
    const char *q = "SELECT n.id FROM neighbors(1, 1) n JOIN vectors v ON v.id = n.id "
                    "ORDER BY v.embedding <=> '[9,9,9,9,9,9,9,-9]' LIMIT 1";
    ck_assert_str_eq(run(sx.a, "BEGIN; INSERT INTO vectors VALUES (3950, '[9,9,9,9,9,9,9,-9]') "
                               "ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding"),
                     "BEGIN\nINSERT 0 1\n");
    ck_assert_str_eq(run(sx.a, "INSERT INTO edges (src, dst, kind) VALUES (1, 3950, 'k')"),
                     "INSERT 0 1\n");
    ck_assert_str_eq(run(sx.a, q), "3950\nSELECT 1\n");
    ck_assert_str_ne(run(sx.b, q), "3950\nSELECT 1\n");
    ck_assert_str_eq(run(sx.a, "ROLLBACK"), "ROLLBACK\n");
    free(sql);
    free(in_list);
}
END_TEST

/* ---------------------------------------------------------------- out of memory */

enum { OOM_N = 1536, OOM_DIMS = 16 }; /* OOM_N fills the slot arrays: one more grows them */

static void oom_vector(uint64_t i, float *v) {
    uint64_t s = g_seed ^ (i * 7919);
    for (int d = 0; d < OOM_DIMS; d++) {
        v[d] = (float)rng_gauss(&s);
    }
}

static void serialize_to(const hnsw_t *h, buf_t *b) {
    buf_reset(b);
    hnsw_serialize(h, b);
    ck_assert(!buf_failed(b));
}

/* Every allocation of an insert (new id, and replacing an id), a delete and a search (plain and
 * filtered) is refused in turn: each fails with 53200 and a new-id insert leaves the index's
 * bytes unchanged; then the operation succeeds and the index is valid. */
START_TEST(test_index_out_of_memory) {
    hnsw_config_t config;
    hnsw_config_default(&config, OOM_DIMS, g_seed);
    ctx_err_t err;
    ctx_err_clear(&err);
    hnsw_t *h;
    ck_assert_int_eq(hnsw_create(&config, &h, &err), CTX_OK);
    float v[OOM_DIMS];
    for (uint64_t i = 0; i < OOM_N; i++) {
        oom_vector(i, v);
        ck_assert_int_eq(hnsw_insert(h, (int64_t)i, v, OOM_DIMS, &err), CTX_OK);
    }
    buf_t before, now;
    buf_init(&before);
    buf_init(&now);
    int64_t allowed[300];
    for (int i = 0; i < 300; i++) {
        allowed[i] = i * 5;
    }
    hnsw_filter_t filter = {allowed, 300};
    for (int op = 0; op < 5; op++) {
        int failures = 0;
        serialize_to(h, &before);
        for (long n = 1;; n++) {
            hnsw_hit_t hits[K];
            uint32_t nh = 0;
            ctx_err_clear(&err);
            oom_vector(OOM_N + (uint64_t)op, v);
            ctx_alloc_fail_at(n);
            int rc = op == 0   ? hnsw_insert(h, OOM_N, v, OOM_DIMS, &err)
                     : op == 1 ? hnsw_insert(h, 3, v, OOM_DIMS, &err)
                     : op == 2 ? hnsw_remove(h, 4, &err)
                               : hnsw_search(h, v, OOM_DIMS, K, 64, op == 3 ? NULL : &filter, hits,
                                             &nh, NULL, &err);
            ctx_alloc_fail_at(0);
            if (rc == CTX_OK) {
                break;
            }
            failures++;
            ck_assert_int_eq(rc, CTX_ENOMEM);
            ck_assert_str_eq(ctx_sqlstate(err.code), "53200");
            if (op == 0 || op >= 3) {
                serialize_to(h, &now);
                ck_assert_uint_eq(buf_size(&now), buf_size(&before));
                ck_assert(memcmp(buf_peek(&now), buf_peek(&before), buf_size(&now)) == 0);
            }
        }
        /* an unfiltered search allocates nothing once the scratch pool holds enough */
        ck_assert_msg(failures > 0 || op == 3, "op %d never allocated", op);
        ck_assert_msg(hnsw_check(h, &err), "%s", err.message);
    }
    ck_assert(hnsw_contains(h, OOM_N) && hnsw_contains(h, 3) && !hnsw_contains(h, 4));
    ck_assert_uint_eq(hnsw_count(h), OOM_N);
    buf_free(&before);
    buf_free(&now);
    hnsw_destroy(h);
}
END_TEST

/* The commit hook cannot fail a durable batch: an index update refused for memory makes the
 * index stale -- candidates are then every vector, so answers stay exact -- until the next hook
 * call retries it. */
START_TEST(test_vindex_stale_until_retried) {
    store_config_t sc = {.vector_dims = OOM_DIMS};
    store_t *store = store_create(&sc);
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    static float data[1025][OOM_DIMS];
    for (int64_t i = 0; i < 1025; i++) {
        oom_vector((uint64_t)i, data[i]);
        cmd_op_t op = {
            .kind = CMD_VECTOR_INSERT, .id = i, .vector = data[i], .vector_dim = OOM_DIMS};
        if (i < 1024) {
            ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
        }
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(store_apply(store, &batch, NULL, &arena, NULL, &err), CTX_OK);
    hnsw_config_t config;
    hnsw_config_default(&config, OOM_DIMS, g_seed);
    vindex_t *vi;
    ck_assert_int_eq(vindex_create(store, &config, &vi, &err), CTX_OK);
    /* the 1,025th vector: the index's slot arrays (sized for 1,024) must grow */
    cmd_batch_init(&batch, &arena);
    cmd_op_t op = {
        .kind = CMD_VECTOR_INSERT, .id = 1024, .vector = data[1024], .vector_dim = OOM_DIMS};
    ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
    ck_assert_int_eq(store_apply(store, &batch, NULL, &arena, NULL, &err), CTX_OK);
    ctx_alloc_fail_at(1);
    vindex_applied(vi, &batch);
    ctx_alloc_fail_at(0);
    ck_assert(vindex_stale(vi));
    ck_assert(!hnsw_contains(vindex_hnsw(vi), 1024));
    int64_t *ids;
    uint64_t count;
    ck_assert_int_eq(vindex_candidates(vi, data[1024], OOM_DIMS, K, 40, NULL, NULL, &arena, &ids,
                                       &count, NULL, &err),
                     CTX_OK);
    ck_assert_uint_eq(count, 1025); /* every vector, the missing one included */
    ck_assert_int_eq(ids[1024], 1024);
    cmd_batch_init(&batch, &arena);
    vindex_applied(vi, &batch); /* nothing new: the retry alone */
    ck_assert(!vindex_stale(vi));
    ck_assert(hnsw_contains(vindex_hnsw(vi), 1024));
    ck_assert_int_eq(vindex_candidates(vi, data[1024], OOM_DIMS, K, 40, NULL, NULL, &arena, &ids,
                                       &count, NULL, &err),
                     CTX_OK);
    ck_assert_uint_le(count, K);
    ck_assert_int_eq(ids[0] == 1024 || count > 0, 1);
    vindex_destroy(vi);
    arena_destroy(&arena);
    store_destroy(store);
}
END_TEST

static Suite *hnsw_suite(void) {
    Suite *s = suite_create("hnsw");
    TCase *tc = tcase_create("index");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, build_fixture, free_fixture);
    tcase_add_test(tc, test_kernels_bit_identical);
    tcase_add_test(tc, test_recall_default_settings);
    tcase_add_test(tc, test_recall_after_deletes);
    tcase_add_test(tc, test_filtered_one_percent_is_exact);
    tcase_add_test(tc, test_filtered_graph_path);
    tcase_add_test(tc, test_replace_vector);
    tcase_add_test(tc, test_identical_bytes_from_identical_commands);
    tcase_add_test(tc, test_serialize_load_round_trip);
    tcase_add_test(tc, test_dimension_mismatch);
    tcase_add_test(tc, test_small_exact_l2_and_empty);
    suite_add_tcase(s, tc);
    TCase *mem = tcase_create("memory");
    tcase_set_timeout(mem, 300);
    tcase_add_unchecked_fixture(mem, seed_fixture, NULL);
    tcase_add_test(mem, test_index_out_of_memory);
    tcase_add_test(mem, test_vindex_stale_until_retried);
    suite_add_tcase(s, mem);
    TCase *sq = tcase_create("sql");
    tcase_set_timeout(sq, 120);
    tcase_add_unchecked_fixture(sq, seed_fixture, NULL);
    tcase_add_checked_fixture(sq, sql_setup, sql_teardown);
    tcase_add_test(sq, test_sql_explain_names_hnsw);
    tcase_add_test(sq, test_sql_results_equal_exact);
    tcase_add_test(sq, test_sql_transactions);
    tcase_add_test(sq, test_sql_dimension_mismatch);
    tcase_add_test(sq, test_sql_filtered_join_and_id_list);
    suite_add_tcase(s, sq);
    return s;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    SRunner *sr = srunner_create(hnsw_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

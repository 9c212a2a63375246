/*
 * test_pgtypes.c — the list of PostgreSQL types (common/pgtypes.h) and what is generated from it:
 * every OID unique and in pg_type order, array types and their elements pointing at each other,
 * each ctype_t owning one row and round-tripping through its OID, pgwire's typlen agreeing, and
 * the binary send/receive pair of each format (engine/types/binary.h) reading back what it wrote.
 */
#include "binary.h"
#include "pgtypes.h"
#include "pgwire.h"
#include "value.h"

#include <check.h>
#include <math.h>
#include <string.h>

#define CT_NONE CT_TYPE_COUNT

typedef struct row {
    const char *id;
    const char *typname;
    uint32_t oid, array, elem;
    int16_t typlen;
    char category;
    const char *sqlname;
    ctype_t ctype, io;
    const char *send, *recv;
} row_t;

static const row_t rows[] = {
#define ROW(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io, send, recv)  \
    {#id, typname, oid, array, elem, typlen, category, sqlname, CT_##ctype, CT_##io, #send, #recv},
    PGTYPES_LIST(ROW)
#undef ROW
};
enum { NROWS = sizeof(rows) / sizeof(rows[0]) };

static const row_t *row_of(uint32_t oid) {
    for (int i = 0; i < NROWS; i++) {
        if (rows[i].oid == oid) {
            return &rows[i];
        }
    }
    return NULL;
}

static arena_t arena;

static void setup(void) {
    arena_init(&arena);
}

static void teardown(void) {
    arena_destroy(&arena);
}

/* Strictly increasing OIDs: unique, and pg_type lists them in OID order. */
START_TEST(oids_unique_in_order) {
    ck_assert_int_eq(NROWS, PGTYPES_COUNT);
    for (int i = 1; i < NROWS; i++) {
        ck_assert_msg(rows[i - 1].oid < rows[i].oid, "%s before %s", rows[i - 1].id, rows[i].id);
    }
    for (int i = 0; i < NROWS; i++) {
        ck_assert_msg(rows[i].array != rows[i].oid && rows[i].elem != rows[i].oid, "%s",
                      rows[i].id);
        ck_assert(rows[i].typlen == -2 || rows[i].typlen == -1 || rows[i].typlen > 0);
        ck_assert(strchr("ABDNPSTUXZ", rows[i].category) != NULL);
    }
}
END_TEST

/* An element's listed array type names it as element; every typelem is a listed type; only
 * int2vector and oidvector have an element without being that element's array. */
START_TEST(arrays_map_back_to_elements) {
    int arrays = 0;
    for (int i = 0; i < NROWS; i++) {
        const row_t *r = &rows[i];
        const row_t *array = r->array != 0 ? row_of(r->array) : NULL;
        if (array != NULL) {
            ck_assert_msg(array->elem == r->oid, "%s[] is %s", r->id, array->id);
            ck_assert_int_eq(array->category, 'A');
            ck_assert_int_eq(array->array, 0);
            ck_assert(array->typname[0] == '_' && strcmp(array->typname + 1, r->typname) == 0);
            arrays++;
        }
        if (r->elem != 0) {
            const row_t *elem = row_of(r->elem);
            ck_assert_msg(elem != NULL, "element of %s is listed", r->id);
            ck_assert_int_eq(r->category, 'A');
            ck_assert_msg(elem->array == r->oid || strcmp(r->id, "INT2VECTOR") == 0 ||
                              strcmp(r->id, "OIDVECTOR") == 0,
                          "%s is the array of %s", r->id, elem->id);
        }
    }
    ck_assert_int_eq(arrays, 11); /* the listed array types */
}
END_TEST

/* Each ctype_t owns one row: value_type_oid goes there and the row names it back. */
START_TEST(ctype_round_trips) {
    for (int t = 0; t < CT_TYPE_COUNT; t++) {
        const row_t *r = row_of(value_type_oid((ctype_t)t));
        ck_assert_msg(r != NULL, "ctype %d has a listed OID", t);
        ck_assert_int_eq(r->ctype, t);
        ck_assert_str_eq(value_type_name((ctype_t)t), r->typname);
        ck_assert_str_eq(value_type_sql_name((ctype_t)t), r->sqlname);
        int owners = 0;
        for (int i = 0; i < NROWS; i++) {
            owners += rows[i].ctype == (ctype_t)t;
        }
        ck_assert_int_eq(owners, 1);
        /* A type the engine reads as itself comes back from its OID. */
        if (r->io == (ctype_t)t && t != CT_UNKNOWN) {
            ck_assert_int_eq(value_type_from_oid(r->oid), t);
        }
    }
    for (int i = 0; i < NROWS; i++) {
        ck_assert_int_eq(value_type_from_oid(rows[i].oid), rows[i].io);
        ck_assert(rows[i].io != CT_NONE);
    }
    ck_assert_int_eq(value_type_from_oid(0), CT_UNKNOWN);
    ck_assert_int_eq(value_type_from_oid(99999), CT_UNKNOWN);
    ck_assert_int_eq(value_type_from_oid(PGT_OID_INT2), CT_INT4); /* parameters widen */
}
END_TEST

/* The wire protocol's constants are the list's. */
START_TEST(pgwire_agrees) {
    for (int i = 0; i < NROWS; i++) {
        ck_assert_int_eq(pgw_type_len(rows[i].oid), rows[i].typlen);
    }
    ck_assert_int_eq(pgw_type_len(99999), -1);
    ck_assert_uint_eq(PGW_OID_VECTOR, value_type_oid(CT_VECTOR));
    ck_assert_uint_eq(PGW_OID_JSONB, value_type_oid(CT_JSONB));
    ck_assert_int_eq(PGW_TYPLEN_NAME, 64);
}
END_TEST

static value_t sample(const char *format) {
    static const float vec[] = {1.0f, -2.5f, 3.25f};
    if (strcmp(format, "BOOL") == 0) {
        return value_bool(true);
    }
    if (strcmp(format, "INT2") == 0) {
        return value_int(-12345);
    }
    if (strcmp(format, "INT4") == 0) {
        return value_int(-2000000000);
    }
    if (strcmp(format, "OID") == 0) {
        return value_int(4000000000);
    }
    if (strcmp(format, "INT8") == 0) {
        return value_int(-((int64_t)1 << 50));
    }
    if (strcmp(format, "FLOAT4") == 0) {
        return value_float(-1.5);
    }
    if (strcmp(format, "FLOAT8") == 0) {
        return value_float(0.1);
    }
    if (strcmp(format, "VECTOR") == 0) {
        return value_vector(vec, 3);
    }
    return value_text("{\"a\": 1}", 8); /* JSONB and TEXT: received as text */
}

/* Every row's receive reads back what its send wrote (regclass is sent as an oid, received as
 * bytes: its pair differs). */
START_TEST(send_then_recv_reads_back) {
    for (int i = 0; i < NROWS; i++) {
        const row_t *r = &rows[i];
        if (strcmp(r->send, r->recv) != 0) {
            ck_assert_str_eq(r->id, "REGCLASS");
            continue;
        }
        if (r->category == 'A' && r->array == 0) {
            continue; /* arrays: recv_arrays */
        }
        value_t v = sample(r->send);
        buf_t out;
        buf_init(&out);
        binary_send(&out, &arena, &v, r->oid);
        if (strcmp(r->send, "TEXT") != 0 && r->typlen > 0) {
            ck_assert_uint_eq(buf_size(&out), (size_t)r->typlen); /* fixed width is typlen */
        }
        value_t back;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(binary_recv(r->oid, buf_peek(&out), buf_size(&out), &arena, &back, &err),
                         0);
        ck_assert_msg(value_compare(&v, &back) == 0, "%s reads back", r->id);
        buf_free(&out);
    }
}
END_TEST

START_TEST(send_converts_to_the_column_type) {
    buf_t out;
    buf_init(&out);
    value_t f = value_float(2.6);
    binary_send(&out, &arena, &f, PGT_OID_INT8); /* rounds */
    ck_assert_uint_eq(buf_size(&out), 8);
    ck_assert_uint_eq(ctx_read_u64be(buf_peek(&out)), 3);
    buf_consume(&out, buf_size(&out));
    value_t i = value_int(7);
    binary_send(&out, &arena, &i, PGT_OID_FLOAT8);
    double d;
    uint64_t bits = ctx_read_u64be(buf_peek(&out));
    memcpy(&d, &bits, sizeof(d));
    ck_assert(d == 7.0);
    buf_consume(&out, buf_size(&out));
    binary_send(&out, &arena, &i, 99999); /* unlisted OID: text form */
    ck_assert_uint_eq(buf_size(&out), 1);
    ck_assert_int_eq(buf_peek(&out)[0], '7');
    buf_free(&out);
}
END_TEST

/* Malformed bytes: CTX_EBINARY_FORMAT, a message only where the type has its own. */
START_TEST(recv_rejects_malformed) {
    static const uint8_t bytes[16] = {2};
    static const uint32_t fixed[] = {PGT_OID_BOOL, PGT_OID_INT2,   PGT_OID_INT4,  PGT_OID_OID,
                                     PGT_OID_INT8, PGT_OID_FLOAT4, PGT_OID_FLOAT8};
    value_t v;
    ctx_err_t err;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        ctx_err_clear(&err);
        size_t len = (size_t)pgw_type_len(fixed[i]) + 1;
        ck_assert_int_eq(binary_recv(fixed[i], bytes, len, &arena, &v, &err), CTX_EBINARY_FORMAT);
        ck_assert_int_eq(err.code, CTX_OK);
    }
    ctx_err_clear(&err);
    ck_assert_int_eq(binary_recv(PGT_OID_VECTOR, bytes, 8, &arena, &v, &err), CTX_EBINARY_FORMAT);
    ck_assert_int_eq(err.code, CTX_OK);
    ck_assert_int_eq(binary_recv(PGT_OID_JSONB, bytes, 3, &arena, &v, &err), CTX_EBINARY_FORMAT);
    ck_assert_int_eq(err.code, CTX_EBINARY_FORMAT);
    ck_assert_str_eq(err.message, "unsupported jsonb version number 2");
}
END_TEST

/* One-dimensional arrays in array_recv's layout (asyncpg sends `$1::oid[]` so) read back as their
 * text form; truncated or trailing bytes and nested arrays are refused. */
START_TEST(recv_arrays) {
    static const uint8_t int8s[] = {0, 0, 0, 1, 0,    0,    0,    1,    0,    0,    0,    20,
                                    0, 0, 0, 3, 0,    0,    0,    1,    0,    0,    0,    8,
                                    0, 0, 0, 0, 0,    0,    0,    7,    0xff, 0xff, 0xff, 0xff,
                                    0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    static const uint8_t texts[] = {0, 0, 0, 1, 0, 0, 0, 0, 0,   0,   0,   25, 0, 0, 0, 2,
                                    0, 0, 0, 1, 0, 0, 0, 3, 'a', ' ', 'b', 0,  0, 0, 0};
    static const uint8_t empty[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 26};
    static const uint8_t nested[] = {0,    0,    0, 1, 0, 0, 0, 0, 0, 0,
                                     0x03, 0xf8, 0, 0, 0, 0, 0, 0, 0, 1};
    value_t v;
    ctx_err_t err;
    ctx_err_clear(&err);
    uint32_t len;
    ck_assert_int_eq(binary_recv(PGT_OID_INT8_ARRAY, int8s, sizeof(int8s), &arena, &v, &err), 0);
    ck_assert_str_eq(value_to_text(&v, &arena, &len), "{7,NULL,-2}");
    ck_assert_int_eq(binary_recv(PGT_OID_TEXT_ARRAY, texts, sizeof(texts), &arena, &v, &err), 0);
    ck_assert_str_eq(value_to_text(&v, &arena, &len), "{\"a b\",\"\"}");
    ck_assert_int_eq(binary_recv(PGT_OID_OID_ARRAY, empty, sizeof(empty), &arena, &v, &err), 0);
    ck_assert_str_eq(value_to_text(&v, &arena, &len), "{}");
    ck_assert_int_eq(binary_recv(PGT_OID_INT8_ARRAY, int8s, sizeof(int8s) - 1, &arena, &v, &err),
                     CTX_EBINARY_FORMAT);
    ck_assert_int_eq(binary_recv(PGT_OID_INT8_ARRAY, texts, sizeof(texts), &arena, &v, &err),
                     CTX_EBINARY_FORMAT); /* a 3-byte element where int8 has 8 */
    ck_assert_int_eq(binary_recv(PGT_OID_OID_ARRAY, nested, sizeof(nested), &arena, &v, &err),
                     CTX_EBINARY_FORMAT);
    /* what send writes, recv reads back */
    const uint32_t types[] = {PGT_OID_INT8_ARRAY, PGT_OID_TEXT_ARRAY, PGT_OID_FLOAT8_ARRAY,
                              PGT_OID_BOOL_ARRAY, PGT_OID_OID_ARRAY};
    const char *texts_in[] = {"{7,NULL,-2}", "{\"a b\",\"\",NULL}", "{1.5,-0.25}", "{t,f}", "{}"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        value_t a = value_text(texts_in[i], (uint32_t)strlen(texts_in[i]));
        buf_t out;
        buf_init(&out);
        binary_send(&out, &arena, &a, types[i]);
        ck_assert_int_eq(binary_recv(types[i], buf_peek(&out), buf_size(&out), &arena, &v, &err),
                         0);
        ck_assert_str_eq(value_to_text(&v, &arena, &len), texts_in[i]);
        buf_free(&out);
    }
    ck_assert_int_eq(binary_recv(PGT_OID_INT8_ARRAY, empty, sizeof(empty), &arena, &v, &err),
                     CTX_EBINARY_FORMAT); /* oid elements where int8 ones are declared */
}
END_TEST

static Suite *pgtypes_suite(void) {
    Suite *s = suite_create("pgtypes");
    TCase *tc = tcase_create("pgtypes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, oids_unique_in_order);
    tcase_add_test(tc, arrays_map_back_to_elements);
    tcase_add_test(tc, ctype_round_trips);
    tcase_add_test(tc, pgwire_agrees);
    tcase_add_test(tc, send_then_recv_reads_back);
    tcase_add_test(tc, send_converts_to_the_column_type);
    tcase_add_test(tc, recv_rejects_malformed);
    tcase_add_test(tc, recv_arrays);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(pgtypes_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

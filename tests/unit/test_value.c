/*
 * test_value.c — value input/output functions against PostgreSQL 15's exact text, jsonb
 * canonicalization, and the compare/hash contract. Expected strings were checked against a real
 * PostgreSQL 15 server (psql -c "select ..."); vector forms follow pgvector's float4 output.
 */
#include "value.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static arena_t arena;

static void setup(void) {
    arena_init(&arena);
}

static void teardown(void) {
    arena_destroy(&arena);
}

static const char *out_text(value_t v) {
    uint32_t len = 0;
    const char *s = value_to_text(&v, &arena, &len);
    return arena_strndup(&arena, s, len);
}

/* Parses text as type; returns rc and fills err. */
static int in(ctype_t t, const char *text, uint32_t dims, value_t *v, ctx_err_t *err) {
    ctx_err_clear(err);
    return value_from_text(t, text, (uint32_t)strlen(text), dims, &arena, v, err);
}

/* Round trip: input then output. */
static const char *io(ctype_t t, const char *text) {
    value_t v;
    ctx_err_t err;
    int rc = in(t, text, 0, &v, &err);
    ck_assert_msg(rc == 0, "%s: %s", text, err.message);
    return out_text(v);
}

static void expect_error(ctype_t t, const char *text, uint32_t dims, int code, const char *msg) {
    value_t v;
    ctx_err_t err;
    int rc = in(t, text, dims, &v, &err);
    ck_assert_int_eq(rc, code);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.message, msg);
}

START_TEST(float8_output_matches_postgres) {
    static const struct {
        double d;
        const char *pg;
    } cases[] = {
        {1, "1"},
        {0.1, "0.1"},
        {1e20, "1e+20"},
        {1.5e-7, "1.5e-07"},
        {1e15, "1e+15"},
        {1e14, "100000000000000"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1.0 / 3, "0.3333333333333333"},
        {1e-310, "1e-310"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {100, "100"},
        {2.5, "2.5"},
        {-1.5, "-1.5"},
        {1152921504606846976.0, "1.152921504606847e+18"},
        {0.3, "0.3"},
        {123.456, "123.456"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_str_eq(out_text(value_float(cases[i].d)), cases[i].pg);
    }
    ck_assert_str_eq(out_text(value_float(-0.0)), "-0");
    ck_assert_str_eq(out_text(value_float(INFINITY)), "Infinity");
    ck_assert_str_eq(out_text(value_float(-INFINITY)), "-Infinity");
    ck_assert_str_eq(out_text(value_float(NAN)), "NaN");
}
END_TEST

START_TEST(float8_input) {
    ck_assert_str_eq(io(CT_FLOAT8, " 1.5 "), "1.5");
    ck_assert_str_eq(io(CT_FLOAT8, "NaN"), "NaN");
    ck_assert_str_eq(io(CT_FLOAT8, "nan"), "NaN");
    ck_assert_str_eq(io(CT_FLOAT8, "Infinity"), "Infinity");
    ck_assert_str_eq(io(CT_FLOAT8, "-inf"), "-Infinity");
    ck_assert_str_eq(io(CT_FLOAT8, "1e-310"), "1e-310");
    ck_assert_str_eq(io(CT_FLOAT8, "-0"), "-0");
    expect_error(CT_FLOAT8, "1.5x", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type double precision: \"1.5x\"");
    expect_error(CT_FLOAT8, "", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type double precision: \"\"");
    expect_error(CT_FLOAT8, "1e400", 0, CTX_ERANGE,
                 "\"1e400\" is out of range for type double precision");
}
END_TEST

START_TEST(int_input) {
    ck_assert_str_eq(io(CT_INT4, "  42 "), "42");
    ck_assert_str_eq(io(CT_INT8, "+12"), "12");
    ck_assert_str_eq(io(CT_INT4, "-2147483648"), "-2147483648");
    ck_assert_str_eq(io(CT_INT8, "9223372036854775807"), "9223372036854775807");
    ck_assert_str_eq(io(CT_INT8, "-9223372036854775808"), "-9223372036854775808");
    expect_error(CT_INT4, "99999999999", 0, CTX_ERANGE,
                 "value \"99999999999\" is out of range for type integer");
    expect_error(CT_INT4, "2147483648", 0, CTX_ERANGE,
                 "value \"2147483648\" is out of range for type integer");
    expect_error(CT_INT8, "9223372036854775808", 0, CTX_ERANGE,
                 "value \"9223372036854775808\" is out of range for type bigint");
    expect_error(CT_INT8, "123456789012345678901234567890", 0, CTX_ERANGE,
                 "value \"123456789012345678901234567890\" is out of range for type bigint");
    expect_error(CT_INT8, "abc", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type bigint: \"abc\"");
    expect_error(CT_INT4, "", 0, CTX_EBAD_LITERAL, "invalid input syntax for type integer: \"\"");
    expect_error(CT_INT4, "1e3", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type integer: \"1e3\"");
    expect_error(CT_INT4, "- 1", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type integer: \"- 1\"");
    ck_assert_str_eq(ctx_sqlstate(CTX_ERANGE), "22003");
    ck_assert_str_eq(ctx_sqlstate(CTX_EBAD_LITERAL), "22P02");
}
END_TEST

/* int2vector / oidvector: PostgreSQL's "1 2 3" text form, read from it or from an array's; every
 * array operation splits both forms; their subscripts start at 0. */
START_TEST(int2vector_oidvector) {
    ck_assert_str_eq(io(CT_INT2VECTOR, "1 2 3"), "1 2 3");
    ck_assert_str_eq(io(CT_INT2VECTOR, "  4   5 "), "4 5");
    ck_assert_str_eq(io(CT_INT2VECTOR, "{6,7}"), "6 7");
    ck_assert_str_eq(io(CT_OIDVECTOR, ""), "");
    ck_assert_str_eq(io(CT_OIDVECTOR, "2275 26 23"), "2275 26 23");
    expect_error(CT_INT2VECTOR, "1 x", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type bigint: \"x\"");
    expect_error(CT_INT_ARRAY, "1 2", 0, CTX_EBAD_LITERAL, "malformed array literal: \"1 2\"");
    ck_assert_int_eq(value_type_oid(CT_INT2VECTOR), 22);
    ck_assert_int_eq(value_type_oid(CT_OIDVECTOR), 30);
    ck_assert_int_eq(value_type_parse("int2vector"), CT_INT2VECTOR);
    ck_assert(ctype_is_array(CT_OIDVECTOR));
    ck_assert_int_eq(ctype_array_elem(CT_INT2VECTOR), CT_INT2);
    ck_assert_int_eq(ctype_array_lower(CT_INT2VECTOR), 0);
    ck_assert_int_eq(ctype_array_lower(CT_INT_ARRAY), 1);
    const char **elems;
    int n;
    ctx_err_t err;
    ck_assert_int_eq(value_array_split("1 2 3", 5, &arena, &elems, &n, &err), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(elems[2], "3");
    ck_assert_int_eq(value_array_split("", 0, &arena, &elems, &n, &err), 0);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(bool_input_output) {
    static const char *const yes[] = {"t", "true", "TRUE", "yes", "y", "on", "1", " true ", "TR"};
    static const char *const no[] = {"f", "false", "no", "n", "off", "of", "0", "FALSE"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        ck_assert_str_eq(io(CT_BOOL, yes[i]), "t");
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        ck_assert_str_eq(io(CT_BOOL, no[i]), "f");
    }
    expect_error(CT_BOOL, "o", 0, CTX_EBAD_LITERAL, "invalid input syntax for type boolean: \"o\"");
    expect_error(CT_BOOL, "truex", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type boolean: \"truex\"");
    expect_error(CT_BOOL, "2", 0, CTX_EBAD_LITERAL, "invalid input syntax for type boolean: \"2\"");
}
END_TEST

START_TEST(vector_input_output) {
    ck_assert_str_eq(io(CT_VECTOR, "[1,2.5,-3]"), "[1,2.5,-3]");
    ck_assert_str_eq(io(CT_VECTOR, " [ 1 , 2 ,3 ] "), "[1,2,3]");
    ck_assert_str_eq(io(CT_VECTOR, "[0.1,1e6,123456,16777216,0.00001]"),
                     "[0.1,1e+06,123456,1.6777216e+07,1e-05]");
    ck_assert_str_eq(io(CT_VECTOR, "[1.5e-7]"), "[1.5e-07]");
    expect_error(CT_VECTOR, "[]", 0, CTX_EDATA, "vector must have at least 1 dimension");
    expect_error(CT_VECTOR, "abc", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type vector: \"abc\"");
    expect_error(CT_VECTOR, "[1,2", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type vector: \"[1,2\"");
    expect_error(CT_VECTOR, "[1,,2]", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type vector: \"[1,,2]\"");
    expect_error(CT_VECTOR, "[1,2] x", 0, CTX_EBAD_LITERAL,
                 "invalid input syntax for type vector: \"[1,2] x\"");
    expect_error(CT_VECTOR, "[1,2,3]", 128, CTX_EDATA, "expected 128 dimensions, not 3");
    expect_error(CT_VECTOR, "[1,NaN]", 0, CTX_EDATA, "NaN not allowed in vector");
    expect_error(CT_VECTOR, "[1,Infinity]", 0, CTX_EDATA, "infinite value not allowed in vector");
    expect_error(CT_VECTOR, "[1e39]", 0, CTX_ERANGE, "\"1e39\" is out of range for type vector");
    ck_assert_str_eq(io(CT_VECTOR, "[1,2,3]"), "[1,2,3]");

    size_t cap = (VECTOR_DIMS_MAX + 1) * 2 + 3;
    char *big = malloc(cap);
    size_t n = 0;
    big[n++] = '[';
    for (int i = 0; i <= VECTOR_DIMS_MAX; i++) {
        n += (size_t)sprintf(big + n, i > 0 ? ",1" : "1");
    }
    big[n++] = ']';
    big[n] = '\0';
    expect_error(CT_VECTOR, big, 0, CTX_ELIMIT, "vector cannot have more than 4096 dimensions");
    ck_assert_str_eq(ctx_sqlstate(CTX_ELIMIT), "54000");
    big[n - 3] = ']';
    big[n - 2] = '\0';
    value_t v;
    ctx_err_t err;
    ck_assert_int_eq(in(CT_VECTOR, big, VECTOR_DIMS_MAX, &v, &err), 0);
    ck_assert_uint_eq(v.u.vec.dim, VECTOR_DIMS_MAX);
    free(big);
}
END_TEST

static const char *json(const char *text) {
    return io(CT_JSONB, text);
}

static void json_error(const char *text, const char *detail) {
    value_t v;
    ctx_err_t err;
    int rc = in(CT_JSONB, text, 0, &v, &err);
    ck_assert_int_eq(rc, CTX_EINVALID_JSON);
    ck_assert_str_eq(ctx_sqlstate(rc), "22P02");
    ck_assert_str_eq(err.message, "invalid input syntax for type json");
    ck_assert_str_eq(err.detail, detail);
}

START_TEST(jsonb_canonical) {
    ck_assert_str_eq(json("{\"bb\":[1,2],\"a\":1,\"a\":2.50}"), "{\"a\": 2.50, \"bb\": [1, 2]}");
    ck_assert_str_eq(json("{\"a\":1e3, \"c\": \"x\\u0041\"}"), "{\"a\": 1000, \"c\": \"xA\"}");
    ck_assert_str_eq(json("[1, 1.0, 1.00e2, -0]"), "[1, 1.0, 100, 0]");
    ck_assert_str_eq(json("{\"a\":1.5e-3,\"b\":12e-1,\"c\":-0.0,\"d\":0.000, \"e\":1E+2, "
                          "\"f\":-1.23e5, \"g\": 5e-10}"),
                     "{\"a\": 0.0015, \"b\": 1.2, \"c\": 0.0, \"d\": 0.000, \"e\": 100, "
                     "\"f\": -123000, \"g\": 0.0000000005}");
    ck_assert_str_eq(json("\"a\\tb\\u001f\\u00e9\\/\""), "\"a\\tb\\u001f\xc3\xa9/\"");
    ck_assert_str_eq(json("{\"aa\":1,\"b\":2,\"B\":3,\"\":4}"),
                     "{\"\": 4, \"B\": 3, \"b\": 2, \"aa\": 1}");
    ck_assert_str_eq(json("  [ ]  "), "[]");
    ck_assert_str_eq(json("{}"), "{}");
    ck_assert_str_eq(json("\"\\ud83d\\ude00\""), "\"\xf0\x9f\x98\x80\"");
    ck_assert_str_eq(json("{\"a\":{\"z\":null,\"y\":[true,false]}}"),
                     "{\"a\": {\"y\": [true, false], \"z\": null}}");
    ck_assert_str_eq(json("-12.5"), "-12.5");
    ck_assert_str_eq(json("{\"k\":1,\"k\":2,\"k\":3}"), "{\"k\": 3}");
}
END_TEST

START_TEST(jsonb_errors) {
    json_error("{", "The input string ended unexpectedly.");
    json_error("", "The input string ended unexpectedly.");
    json_error("[1,", "The input string ended unexpectedly.");
    json_error("{\"a\" 1}", "Expected \":\", but found \"1\".");
    json_error("x", "Token \"x\" is invalid.");
    json_error("[1,2] x", "Token \"x\" is invalid.");
    json_error("[1] 2", "Expected end of input, but found \"2\".");
    json_error("01", "Token \"01\" is invalid.");
    json_error("1.", "Token \"1.\" is invalid.");
    json_error("tru", "Token \"tru\" is invalid.");
    json_error("\"ab", "Token \"\"ab\" is invalid.");
    json_error("[1 2]", "Expected \",\" or \"]\", but found \"2\".");
    json_error("{1:2}", "Expected string or \"}\", but found \"1\".");
    value_t v;
    ctx_err_t err;
    ck_assert_int_eq(in(CT_JSONB, "\"\\u0000\"", 0, &v, &err), CTX_EBAD_LITERAL);
    ck_assert_str_eq(err.message, "unsupported Unicode escape sequence");
    /* deep nesting is bounded, not a stack overflow */
    size_t depth = 100000;
    char *deep = malloc(depth + 1);
    memset(deep, '[', depth);
    deep[depth] = '\0';
    ck_assert_int_eq(in(CT_JSONB, deep, 0, &v, &err), CTX_ELIMIT);
    free(deep);
}
END_TEST

START_TEST(compare_and_hash) {
    value_t one_i = value_int(1);
    value_t one_f = value_float(1.0);
    value_t half = value_float(1.5);
    value_t nan = value_float(NAN);
    value_t null = value_null();
    value_t big = value_int(INT64_MAX);
    ck_assert_int_eq(value_compare(&one_i, &one_f), 0);
    ck_assert_uint_eq(value_hash(&one_i), value_hash(&one_f));
    ck_assert_int_lt(value_compare(&one_i, &half), 0);
    ck_assert_int_gt(value_compare(&half, &one_i), 0);
    ck_assert_int_gt(value_compare(&nan, &half), 0);
    ck_assert_int_eq(value_compare(&nan, &nan), 0);
    ck_assert_int_gt(value_compare(&null, &one_i), 0);
    ck_assert_int_lt(value_compare(&one_i, &null), 0);
    ck_assert_int_eq(value_compare(&null, &null), 0);
    value_t bigf = value_float(9223372036854775808.0);
    ck_assert_int_lt(value_compare(&big, &bigf), 0);
    value_t z = value_float(0.0);
    value_t nz = value_float(-0.0);
    value_t zi = value_int(0);
    ck_assert_int_eq(value_compare(&z, &nz), 0);
    ck_assert_uint_eq(value_hash(&z), value_hash(&nz));
    ck_assert_uint_eq(value_hash(&zi), value_hash(&nz));
    value_t a = value_text("abc", 3);
    value_t ab = value_text("ab", 2);
    value_t b = value_text("b", 1);
    ck_assert_int_gt(value_compare(&a, &ab), 0);
    ck_assert_int_lt(value_compare(&a, &b), 0);
    value_t a2 = value_text("abcdef", 3);
    ck_assert_int_eq(value_compare(&a, &a2), 0);
    ck_assert_uint_eq(value_hash(&a), value_hash(&a2));
    value_t f = value_bool(false);
    value_t t = value_bool(true);
    ck_assert_int_lt(value_compare(&f, &t), 0);
    float v1[] = {1, 2};
    float v2[] = {1, 3};
    float v3[] = {1, 2, 0};
    value_t x1 = value_vector(v1, 2);
    value_t x2 = value_vector(v2, 2);
    value_t x3 = value_vector(v3, 3);
    ck_assert_int_lt(value_compare(&x1, &x2), 0);
    ck_assert_int_lt(value_compare(&x1, &x3), 0);
    value_t c = value_copy(&x1, &arena);
    ck_assert_ptr_ne(c.u.vec.data, v1);
    ck_assert_int_eq(value_compare(&c, &x1), 0);
    ck_assert_uint_eq(value_hash(&c), value_hash(&x1));
    value_t tc = value_copy(&a2, &arena);
    ck_assert_int_eq(value_compare(&tc, &a), 0);
}
END_TEST

START_TEST(type_names) {
    ck_assert_uint_eq(value_type_oid(CT_INT8), 20);
    ck_assert_uint_eq(value_type_oid(CT_INT4), 23);
    ck_assert_uint_eq(value_type_oid(CT_FLOAT8), 701);
    ck_assert_uint_eq(value_type_oid(CT_JSONB), 3802);
    ck_assert_uint_eq(value_type_oid(CT_BOOL), 16);
    ck_assert_uint_eq(value_type_oid(CT_TEXT), 25);
    ck_assert_str_eq(value_type_name(CT_INT8), "int8");
    ck_assert_str_eq(value_type_sql_name(CT_FLOAT8), "double precision");
    ck_assert_int_eq(value_type_parse("INTEGER"), CT_INT4);
    ck_assert_int_eq(value_type_parse("double precision"), CT_FLOAT8);
    ck_assert_int_eq(value_type_parse("real"), CT_FLOAT8);
    ck_assert_int_eq(value_type_parse("vector(3)"), CT_VECTOR);
    ck_assert_int_eq(value_type_parse("varchar(10)"), CT_TEXT);
    ck_assert_int_eq(value_type_parse("pg_catalog.int8"), CT_INT8);
    ck_assert_int_eq(value_type_parse("json"), CT_JSONB);
    ck_assert_int_eq(value_type_parse("boolean"), CT_BOOL);
    ck_assert_int_eq(value_type_parse("regclass"), CT_REGCLASS);
    ck_assert_int_eq(value_type_parse("nosuchtype"), CT_UNKNOWN);
}
END_TEST

START_TEST(text_input_copies) {
    char buf[] = "hello";
    value_t v;
    ctx_err_t err;
    ck_assert_int_eq(in(CT_TEXT, buf, 0, &v, &err), 0);
    buf[0] = 'j';
    ck_assert_str_eq(out_text(v), "hello");
    ck_assert_str_eq(out_text(value_bool(true)), "t");
    ck_assert_str_eq(out_text(value_int(-42)), "-42");
}
END_TEST

static Suite *value_suite(void) {
    Suite *s = suite_create("value");
    TCase *tc = tcase_create("value");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, float8_output_matches_postgres);
    tcase_add_test(tc, float8_input);
    tcase_add_test(tc, int_input);
    tcase_add_test(tc, bool_input_output);
    tcase_add_test(tc, vector_input_output);
    tcase_add_test(tc, jsonb_canonical);
    tcase_add_test(tc, jsonb_errors);
    tcase_add_test(tc, compare_and_hash);
    tcase_add_test(tc, type_names);
    tcase_add_test(tc, text_input_copies);
    tcase_add_test(tc, int2vector_oidvector);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(value_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

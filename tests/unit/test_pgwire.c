/*
 * test_pgwire.c — unit tests of protocol/pgwire: framing, decoding and encoding as data.
 *
 * Inputs are the bytes real clients send (psql 15, node pg, pgjdbc, psycopg); expected outputs are
 * the bytes PostgreSQL 15 sends for the same exchange where ours must match. Malformed inputs are
 * tables of (bytes, expected error substring). A seeded random test throws >= 100,000 random and
 * mutated inputs at every decoder: they may only succeed or fail with CTX_EPROTOCOL, and every
 * pointer they return is read back so AddressSanitizer catches out-of-bounds results. The seed is
 * printed; replay with `test_pgwire --seed N` (or CTX_TEST_SEED=N).
 */
#include "arena.h"
#include "buf.h"
#include "ctx.h"
#include "pgwire.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A byte-vector literal: C string with embedded NULs, minus the implicit terminator. */
#define BYTES(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

static uint64_t test_seed;

enum { TEST_MAX = PGW_MESSAGE_BYTES_DEFAULT };

/* ---- Helpers --------------------------------------------------------------------------------- */

static void test_dump(const char *label, const uint8_t *p, size_t n) {
    fprintf(stderr, "%s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, " %02x", p[i]);
    }
    fprintf(stderr, "\n");
}

/* Asserts buf holds exactly the expected bytes, then empties it. */
static void test_expect(buf_t *buf, const uint8_t *expected, size_t n) {
    if (buf_size(buf) != n || memcmp(buf_peek(buf), expected, n) != 0) {
        test_dump("expected", expected, n);
        test_dump("actual  ", buf_peek(buf), buf_size(buf));
        ck_abort_msg("encoded bytes differ");
    }
    /* A backend message literal must itself be consistent: length field = size - 1. */
    if (n >= 5) {
        ck_assert_uint_eq(ctx_read_u32be(expected + 1), n - 1);
    }
    buf_reset(buf);
}

/* Frames data (which must be exactly one frame) and returns it. */
static pgw_frame_t test_frame_one(const uint8_t *data, size_t len, bool startup) {
    pgw_frame_t frame;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = pgw_frame(data, len, startup, TEST_MAX, &frame, &err);
    ck_assert_msg(rc == 1, "pgw_frame rc=%d: %s", rc, err.message);
    ck_assert_uint_eq(frame.frame_bytes, len);
    return frame;
}

static pgw_msg_t test_decode_one(arena_t *arena, const uint8_t *data, size_t len) {
    pgw_frame_t frame = test_frame_one(data, len, false);
    pgw_msg_t msg;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = pgw_decode(&frame, arena, &msg, &err);
    ck_assert_msg(rc == 0, "pgw_decode rc=%d: %s", rc, err.message);
    return msg;
}

static int test_decode_startup(arena_t *arena, const uint8_t *data, size_t len, pgw_startup_t *out,
                               ctx_err_t *err) {
    pgw_frame_t frame = test_frame_one(data, len, true);
    ctx_err_clear(err);
    return pgw_decode_startup(frame.body, frame.body_len, arena, out, err);
}

/* ---- Real client bytes ----------------------------------------------------------------------- */

static const char SSL_REQUEST[] = "\x00\x00\x00\x08\x04\xd2\x16\x2f";
static const char GSSENC_REQUEST[] = "\x00\x00\x00\x08\x04\xd2\x16\x30";
static const char CANCEL_REQUEST[] = "\x00\x00\x00\x10\x04\xd2\x16\x2e"
                                     "\x00\x00\x30\x39"  /* pid 12345 */
                                     "\xde\xad\xbe\xef"; /* secret */
/* psql 15: `psql -h 127.0.0.1 -U postgres postgres` (client_encoding resolved from "auto"). */
static const char STARTUP_PSQL[] = "\x00\x00\x00\x54"
                                   "\x00\x03\x00\x00"
                                   "user\0postgres\0"
                                   "database\0postgres\0"
                                   "application_name\0psql\0"
                                   "client_encoding\0UTF8\0"
                                   "\0";
static const char QUERY_SELECT_1[] = "Q\x00\x00\x00\x0e"
                                     "SELECT 1;\0";
/* node pg `client.query('SELECT $1::int AS n', ['42'])`: Parse, Bind, Describe P, Execute, Sync. */
static const char NODE_PG_EXTENDED[] = "P\x00\x00\x00\x1b"
                                       "\0SELECT $1::int AS n\0\x00\x00"
                                       "B\x00\x00\x00\x12"
                                       "\0\0\x00\x00\x00\x01\x00\x00\x00\x02"
                                       "42\x00\x00"
                                       "D\x00\x00\x00\x06P\0"
                                       "E\x00\x00\x00\x09\0\x00\x00\x00\x00"
                                       "S\x00\x00\x00\x04";

/* ---- Startup phase --------------------------------------------------------------------------- */

START_TEST(test_ssl_gssenc_cancel) {
    arena_t arena;
    arena_init(&arena);
    pgw_startup_t st;
    ctx_err_t err;
    ck_assert_int_eq(test_decode_startup(&arena, BYTES(SSL_REQUEST), &st, &err), 0);
    ck_assert_int_eq(st.kind, PGW_STARTUP_SSL);
    ck_assert_int_eq(test_decode_startup(&arena, BYTES(GSSENC_REQUEST), &st, &err), 0);
    ck_assert_int_eq(st.kind, PGW_STARTUP_GSSENC);
    ck_assert_int_eq(test_decode_startup(&arena, BYTES(CANCEL_REQUEST), &st, &err), 0);
    ck_assert_int_eq(st.kind, PGW_STARTUP_CANCEL);
    ck_assert_int_eq(st.cancel_pid, 12345);
    ck_assert_int_eq(st.cancel_secret, (int32_t)0xdeadbeef);
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_startup_psql) {
    arena_t arena;
    arena_init(&arena);
    pgw_startup_t st;
    ctx_err_t err;
    ck_assert_int_eq(test_decode_startup(&arena, BYTES(STARTUP_PSQL), &st, &err), 0);
    ck_assert_int_eq(st.kind, PGW_STARTUP_MESSAGE);
    ck_assert_int_eq(st.protocol_major, 3);
    ck_assert_int_eq(st.protocol_minor, 0);
    ck_assert_str_eq(st.user, "postgres");
    ck_assert_str_eq(st.database, "postgres");
    ck_assert_str_eq(st.application_name, "psql");
    ck_assert_ptr_null(st.options);
    ck_assert_uint_eq(st.params_count, 1);
    ck_assert_str_eq(st.params[0].name, "client_encoding");
    ck_assert_str_eq(st.params[0].value, "UTF8");
    ck_assert_uint_eq(st.unrecognized_count, 0);
    arena_destroy(&arena);
}
END_TEST

/* pgjdbc-like startup asking for protocol 3.2 with a _pq_ option, plus options and a GUC. */
START_TEST(test_startup_minor_version_negotiation) {
    static const char startup[] = "\x00\x00\x00\x5f"
                                  "\x00\x03\x00\x02"
                                  "user\0alice\0"
                                  "options\0-c search_path=x\0"
                                  "extra_float_digits\0"
                                  "3\0"
                                  "_pq_.compression\0on\0"
                                  "user\0bob\0"
                                  "\0";
    arena_t arena;
    arena_init(&arena);
    pgw_startup_t st;
    ctx_err_t err;
    ck_assert_int_eq(sizeof(startup) - 1, 0x5f);
    ck_assert_int_eq(test_decode_startup(&arena, BYTES(startup), &st, &err), 0);
    ck_assert_int_eq(st.protocol_minor, 2);
    ck_assert_str_eq(st.user, "bob"); /* the later duplicate wins, as in PostgreSQL */
    ck_assert_ptr_null(st.database);
    ck_assert_str_eq(st.options, "-c search_path=x");
    ck_assert_uint_eq(st.params_count, 1);
    ck_assert_str_eq(st.params[0].name, "extra_float_digits");
    ck_assert_str_eq(st.params[0].value, "3");
    ck_assert_uint_eq(st.unrecognized_count, 1);
    ck_assert_str_eq(st.unrecognized[0], "_pq_.compression");

    buf_t buf;
    buf_init(&buf);
    ck_assert_int_eq(pgw_encode_negotiate_protocol_version(&buf, PGW_PROTOCOL_MINOR,
                                                           st.unrecognized, st.unrecognized_count),
                     0);
    test_expect(&buf, BYTES("v\x00\x00\x00\x1d"
                            "\x00\x00\x00\x00"
                            "\x00\x00\x00\x01"
                            "_pq_.compression\0"));
    buf_free(&buf);
    arena_destroy(&arena);
}
END_TEST

typedef struct test_bad {
    const char *name;
    const char *bytes;
    size_t len;
    const char *message; /* substring of err.message */
} test_bad_t;

#define BAD(name, lit, msg)                                                                        \
    { name, lit, sizeof(lit) - 1, msg }

static const test_bad_t BAD_STARTUP[] = {
    BAD("protocol 2.0", "\x00\x00\x00\x09\x00\x02\x00\x00\0", "unsupported frontend protocol 2.0"),
    BAD("protocol 4.0", "\x00\x00\x00\x09\x00\x04\x00\x00\0", "unsupported frontend protocol 4.0"),
    BAD("1234.1234", "\x00\x00\x00\x08\x04\xd2\x04\xd2", "unsupported frontend protocol 1234.1234"),
    BAD("no user",
        "\x00\x00\x00\x14\x00\x03\x00\x00"
        "database\0x\0\0",
        "no PostgreSQL user name"),
    BAD("empty user",
        "\x00\x00\x00\x0f\x00\x03\x00\x00"
        "user\0\0\0",
        "no PostgreSQL user name"),
    BAD("empty body", "\x00\x00\x00\x08\x00\x03\x00\x00", "expected terminator"),
    BAD("no terminator",
        "\x00\x00\x00\x0f\x00\x03\x00\x00"
        "user\0u\0",
        "expected terminator"),
    BAD("missing value NUL",
        "\x00\x00\x00\x0f\x00\x03\x00\x00"
        "user\0uu",
        "missing value"),
    BAD("missing name NUL",
        "\x00\x00\x00\x0c\x00\x03\x00\x00"
        "user",
        "expected terminator"),
    BAD("bytes after terminator",
        "\x00\x00\x00\x11\x00\x03\x00\x00"
        "user\0u\0\0X",
        "expected terminator"),
    BAD("ssl too long", "\x00\x00\x00\x09\x04\xd2\x16\x2f\0", "invalid length of SSL request"),
    BAD("gssenc too long", "\x00\x00\x00\x0c\x04\xd2\x16\x30\0\0\0\0",
        "invalid length of GSSENC request"),
    BAD("cancel short", "\x00\x00\x00\x0c\x04\xd2\x16\x2e\0\0\0\1", "invalid length of cancel"),
};

START_TEST(test_startup_malformed) {
    const test_bad_t *bad = &BAD_STARTUP[_i];
    arena_t arena;
    arena_init(&arena);
    pgw_startup_t st;
    ctx_err_t err;
    int rc = test_decode_startup(&arena, (const uint8_t *)bad->bytes, bad->len, &st, &err);
    ck_assert_msg(rc == CTX_EPROTOCOL, "%s: rc=%d", bad->name, rc);
    ck_assert_int_eq(err.code, CTX_EPROTOCOL);
    ck_assert_msg(strstr(err.message, bad->message) != NULL, "%s: got \"%s\"", bad->name,
                  err.message);
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_startup_frame_lengths) {
    pgw_frame_t frame;
    ctx_err_t err;
    static const char too_short[] = "\x00\x00\x00\x07\x00\x03\x00";
    static const char zero[] = "\x00\x00\x00\x00";
    static const char too_long[] = "\x00\x00\x27\x11"; /* 10001 */
    static const char huge[] = "\xff\xff\xff\xff";
    static const char max_ok[] = "\x00\x00\x27\x10"; /* 10000: valid, but needs the bytes */
    ctx_err_clear(&err);
    ck_assert_int_eq(pgw_frame(BYTES(too_short), true, TEST_MAX, &frame, &err), CTX_EPROTOCOL);
    ck_assert_msg(strstr(err.message, "invalid length of startup packet") != NULL, "%s",
                  err.message);
    ctx_err_clear(&err);
    ck_assert_int_eq(pgw_frame(BYTES(zero), true, TEST_MAX, &frame, &err), CTX_EPROTOCOL);
    ctx_err_clear(&err);
    ck_assert_int_eq(pgw_frame(BYTES(too_long), true, TEST_MAX, &frame, &err), CTX_EPROTOCOL);
    ctx_err_clear(&err);
    ck_assert_int_eq(pgw_frame(BYTES(huge), true, TEST_MAX, &frame, &err), CTX_EPROTOCOL);
    ctx_err_clear(&err);
    ck_assert_int_eq(pgw_frame(BYTES(max_ok), true, TEST_MAX, &frame, &err), 0);
    ck_assert_int_eq(pgw_frame(NULL, 0, true, TEST_MAX, &frame, &err), 0);
    ck_assert_int_eq(err.code, CTX_OK);
}
END_TEST

/* ---- Framing of streams ---------------------------------------------------------------------- */

/* Every proper prefix needs more bytes; the whole frame is found; nothing else is consumed. */
static void test_byte_at_a_time(const uint8_t *data, size_t len, bool startup) {
    pgw_frame_t frame;
    ctx_err_t err;
    ctx_err_clear(&err);
    for (size_t n = 0; n < len; n++) {
        uint8_t *prefix = malloc(n + 1); /* exact-size copy so ASan sees over-reads */
        memcpy(prefix, data, n);
        ck_assert_int_eq(pgw_frame(n > 0 ? prefix : NULL, n, startup, TEST_MAX, &frame, &err), 0);
        free(prefix);
    }
    ck_assert_int_eq(pgw_frame(data, len, startup, TEST_MAX, &frame, &err), 1);
    ck_assert_uint_eq(frame.frame_bytes, len);
    ck_assert_int_eq(err.code, CTX_OK);
}

START_TEST(test_split_reads) {
    test_byte_at_a_time(BYTES(SSL_REQUEST), true);
    test_byte_at_a_time(BYTES(STARTUP_PSQL), true);
    test_byte_at_a_time(BYTES(CANCEL_REQUEST), true);
    test_byte_at_a_time(BYTES(QUERY_SELECT_1), false);
    test_byte_at_a_time(BYTES("S\x00\x00\x00\x04"), false);
}
END_TEST

/* A stream fed through a buf_t in 3-byte reads, as the server loop would. */
START_TEST(test_stream_through_buf) {
    const uint8_t *stream = (const uint8_t *)NODE_PG_EXTENDED;
    size_t stream_len = sizeof(NODE_PG_EXTENDED) - 1;
    static const char expected_types[] = "PBDES";
    buf_t in;
    buf_init(&in);
    arena_t arena;
    arena_init(&arena);
    size_t fed = 0;
    size_t decoded = 0;
    while (decoded < 5) {
        pgw_frame_t frame;
        ctx_err_t err;
        ctx_err_clear(&err);
        int rc = pgw_frame(buf_peek(&in), buf_size(&in), false, TEST_MAX, &frame, &err);
        ck_assert_int_ge(rc, 0);
        if (rc == 0) {
            ck_assert_uint_lt(fed, stream_len);
            size_t n = stream_len - fed < 3 ? stream_len - fed : 3;
            buf_append(&in, stream + fed, n);
            fed += n;
            continue;
        }
        pgw_msg_t msg;
        ck_assert_int_eq(pgw_decode(&frame, &arena, &msg, &err), 0);
        ck_assert_int_eq(msg.type, expected_types[decoded]);
        decoded++;
        buf_consume(&in, frame.frame_bytes);
    }
    ck_assert_uint_eq(fed, stream_len);
    ck_assert_uint_eq(buf_size(&in), 0);
    buf_free(&in);
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_two_messages_one_buffer) {
    static const char two[] = "Q\x00\x00\x00\x0e"
                              "SELECT 1;\0"
                              "X\x00\x00\x00\x04";
    const uint8_t *p = (const uint8_t *)two;
    size_t len = sizeof(two) - 1;
    pgw_frame_t frame;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(pgw_frame(p, len, false, TEST_MAX, &frame, &err), 1);
    ck_assert_int_eq(frame.type, 'Q');
    ck_assert_uint_eq(frame.frame_bytes, 15);
    ck_assert_uint_eq(frame.body_len, 10);
    ck_assert_int_eq(pgw_frame(p + 15, len - 15, false, TEST_MAX, &frame, &err), 1);
    ck_assert_int_eq(frame.type, 'X');
    ck_assert_uint_eq(frame.frame_bytes, 5);
    ck_assert_uint_eq(frame.body_len, 0);
}
END_TEST

/* ---- Regular messages ------------------------------------------------------------------------ */

START_TEST(test_query) {
    arena_t arena;
    arena_init(&arena);
    pgw_msg_t msg = test_decode_one(&arena, BYTES(QUERY_SELECT_1));
    ck_assert_int_eq(msg.type, PGW_MSG_QUERY);
    ck_assert_str_eq(msg.query.sql, "SELECT 1;");
    ck_assert_uint_eq(msg.query.sql_len, 9);
    msg = test_decode_one(&arena, BYTES("Q\x00\x00\x00\x05\0"));
    ck_assert_str_eq(msg.query.sql, "");
    msg = test_decode_one(&arena, BYTES("X\x00\x00\x00\x04"));
    ck_assert_int_eq(msg.type, PGW_MSG_TERMINATE);
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_extended_node_pg) {
    arena_t arena;
    arena_init(&arena);
    const uint8_t *p = (const uint8_t *)NODE_PG_EXTENDED;
    pgw_msg_t msg = test_decode_one(&arena, p, 28);
    ck_assert_int_eq(msg.type, PGW_MSG_PARSE);
    ck_assert_str_eq(msg.parse.statement, "");
    ck_assert_str_eq(msg.parse.query, "SELECT $1::int AS n");
    ck_assert_uint_eq(msg.parse.query_len, 19);
    ck_assert_uint_eq(msg.parse.param_count, 0);
    ck_assert_ptr_null(msg.parse.param_oids);
    p += 28;
    msg = test_decode_one(&arena, p, 19);
    ck_assert_int_eq(msg.type, PGW_MSG_BIND);
    ck_assert_str_eq(msg.bind.portal, "");
    ck_assert_str_eq(msg.bind.statement, "");
    ck_assert_uint_eq(msg.bind.param_format_count, 0);
    ck_assert_uint_eq(msg.bind.param_count, 1);
    ck_assert_int_eq(msg.bind.params[0].len, 2);
    ck_assert_int_eq(memcmp(msg.bind.params[0].data, "42", 2), 0);
    ck_assert_int_eq(pgw_bind_param_format(&msg.bind, 0), PGW_FORMAT_TEXT);
    ck_assert_uint_eq(msg.bind.result_format_count, 0);
    ck_assert_int_eq(pgw_bind_result_format(&msg.bind, 3), PGW_FORMAT_TEXT);
    p += 19;
    msg = test_decode_one(&arena, p, 7);
    ck_assert_int_eq(msg.type, PGW_MSG_DESCRIBE);
    ck_assert_int_eq(msg.describe.kind, 'P');
    ck_assert_str_eq(msg.describe.name, "");
    p += 7;
    msg = test_decode_one(&arena, p, 10);
    ck_assert_int_eq(msg.type, PGW_MSG_EXECUTE);
    ck_assert_str_eq(msg.execute.portal, "");
    ck_assert_uint_eq(msg.execute.rows_max, 0);
    p += 10;
    msg = test_decode_one(&arena, p, 5);
    ck_assert_int_eq(msg.type, PGW_MSG_SYNC);
    ck_assert_ptr_eq(p + 5, (const uint8_t *)NODE_PG_EXTENDED + sizeof(NODE_PG_EXTENDED) - 1);
    arena_destroy(&arena);
}
END_TEST

/* pgjdbc after 5 executions: named S_1 with OIDs, binary int4 parameter and a NULL, binary
 * results for column 0 and text for column 1. */
START_TEST(test_extended_pgjdbc_binary) {
    static const char parse[] = "P\x00\x00\x00\x3c"
                                "S_1\0"
                                "SELECT a, b FROM t WHERE a = $1 OR b = $2\0"
                                "\x00\x02\x00\x00\x00\x17\x00\x00\x00\x19";
    static const char bind[] = "B\x00\x00\x00\x26"
                               "C_2\0S_1\0"
                               "\x00\x02\x00\x01\x00\x00"
                               "\x00\x02\x00\x00\x00\x04\x00\x00\x00\x2a\xff\xff\xff\xff"
                               "\x00\x02\x00\x01\x00\x00";
    static const char execute[] = "E\x00\x00\x00\x0c"
                                  "C_2\0\x00\x00\x00\x80";
    static const char close[] = "C\x00\x00\x00\x09S"
                                "S_1\0";
    arena_t arena;
    arena_init(&arena);
    pgw_msg_t msg = test_decode_one(&arena, BYTES(parse));
    ck_assert_str_eq(msg.parse.statement, "S_1");
    ck_assert_uint_eq(msg.parse.param_count, 2);
    ck_assert_uint_eq(msg.parse.param_oids[0], PGW_OID_INT4);
    ck_assert_uint_eq(msg.parse.param_oids[1], PGW_OID_TEXT);
    msg = test_decode_one(&arena, BYTES(bind));
    ck_assert_str_eq(msg.bind.portal, "C_2");
    ck_assert_str_eq(msg.bind.statement, "S_1");
    ck_assert_uint_eq(msg.bind.param_count, 2);
    ck_assert_int_eq(pgw_bind_param_format(&msg.bind, 0), PGW_FORMAT_BINARY);
    ck_assert_int_eq(pgw_bind_param_format(&msg.bind, 1), PGW_FORMAT_TEXT);
    ck_assert_int_eq(msg.bind.params[0].len, 4);
    ck_assert_uint_eq(ctx_read_u32be(msg.bind.params[0].data), 42);
    ck_assert_int_eq(msg.bind.params[1].len, -1);
    ck_assert_ptr_null(msg.bind.params[1].data);
    ck_assert_int_eq(pgw_bind_result_format(&msg.bind, 0), PGW_FORMAT_BINARY);
    ck_assert_int_eq(pgw_bind_result_format(&msg.bind, 1), PGW_FORMAT_TEXT);
    msg = test_decode_one(&arena, BYTES(execute));
    ck_assert_str_eq(msg.execute.portal, "C_2");
    ck_assert_uint_eq(msg.execute.rows_max, 128);
    msg = test_decode_one(&arena, BYTES(close));
    ck_assert_int_eq(msg.type, PGW_MSG_CLOSE);
    ck_assert_int_eq(msg.close.kind, 'S');
    ck_assert_str_eq(msg.close.name, "S_1");
    msg = test_decode_one(&arena, BYTES("H\x00\x00\x00\x04"));
    ck_assert_int_eq(msg.type, PGW_MSG_FLUSH);
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_copy_and_password) {
    arena_t arena;
    arena_init(&arena);
    pgw_msg_t msg = test_decode_one(&arena, BYTES("d\x00\x00\x00\x0a"
                                                  "1\tabc\n"));
    ck_assert_int_eq(msg.type, PGW_MSG_COPY_DATA);
    ck_assert_uint_eq(msg.copy_data.len, 6);
    ck_assert_int_eq(memcmp(msg.copy_data.data, "1\tabc\n", 6), 0);
    msg = test_decode_one(&arena, BYTES("d\x00\x00\x00\x04"));
    ck_assert_uint_eq(msg.copy_data.len, 0);
    msg = test_decode_one(&arena, BYTES("c\x00\x00\x00\x04"));
    ck_assert_int_eq(msg.type, PGW_MSG_COPY_DONE);
    msg = test_decode_one(&arena, BYTES("f\x00\x00\x00\x0a"
                                        "abort\0"));
    ck_assert_int_eq(msg.type, PGW_MSG_COPY_FAIL);
    ck_assert_str_eq(msg.copy_fail, "abort");

    ctx_err_t err;
    ctx_err_clear(&err);
    const char *password = NULL;
    msg = test_decode_one(&arena, BYTES("p\x00\x00\x00\x0a"
                                        "hello\0"));
    ck_assert_int_eq(msg.type, PGW_MSG_PASSWORD);
    ck_assert_int_eq(pgw_decode_password(&msg.password, &password, &err), 0);
    ck_assert_str_eq(password, "hello");

    /* psql's SCRAM SASLInitialResponse (client-first-message). */
    static const char sasl[] = "p\x00\x00\x00\x36"
                               "SCRAM-SHA-256\0"
                               "\x00\x00\x00\x20"
                               "n,,n=,r=rOprNGfwEbeRWgbNEkqO%hYS";
    const char *mechanism = NULL;
    pgw_value_t data;
    msg = test_decode_one(&arena, BYTES(sasl));
    ck_assert_int_eq(pgw_decode_sasl_initial(&msg.password, &mechanism, &data, &err), 0);
    ck_assert_str_eq(mechanism, "SCRAM-SHA-256");
    ck_assert_int_eq(data.len, 32);
    ck_assert_int_eq(memcmp(data.data, "n,,n=,r=", 8), 0);

    pgw_bytes_t bad = {(const uint8_t *)"SCRAM-SHA-256\0\x00\x00\x00\x21n", 19};
    ck_assert_int_eq(pgw_decode_sasl_initial(&bad, &mechanism, &data, &err), CTX_EPROTOCOL);
    ctx_err_clear(&err);
    pgw_bytes_t neg = {(const uint8_t *)"X\0\xff\xff\xff\xfe", 6};
    ck_assert_int_eq(pgw_decode_sasl_initial(&neg, &mechanism, &data, &err), CTX_EPROTOCOL);
    ctx_err_clear(&err);
    pgw_bytes_t none = {(const uint8_t *)"X\0\xff\xff\xff\xff", 6};
    ck_assert_int_eq(pgw_decode_sasl_initial(&none, &mechanism, &data, &err), 0);
    ck_assert_int_eq(data.len, -1);
    pgw_bytes_t trailing = {(const uint8_t *)"pw\0x", 4};
    ck_assert_int_eq(pgw_decode_password(&trailing, &password, &err), CTX_EPROTOCOL);
    arena_destroy(&arena);
}
END_TEST

/* Frames that pgw_frame itself rejects (regular phase). */
static const test_bad_t BAD_FRAMES[] = {
    BAD("length 3", "Q\x00\x00\x00\x03", "invalid message length 3"),
    BAD("length 0", "S\x00\x00\x00\x00", "invalid message length 0"),
    BAD("negative length", "Q\xff\xff\xff\xff", "invalid message length"),
    BAD("over max", "Q\x40\x00\x00\x01", "invalid message length 1073741825"),
    BAD("sync over small limit", "S\x00\x00\x27\x11", "limit 10000"),
    BAD("password over auth limit", "p\x00\x01\x00\x00", "limit 65535"),
    BAD("unknown type F", "F", "invalid frontend message type 70"),
    BAD("unknown type NUL", "\0\x00\x00\x00\x08", "invalid frontend message type 0"),
    BAD("backend type Z", "Z\x00\x00\x00\x05I", "invalid frontend message type 90"),
};

START_TEST(test_frame_malformed) {
    const test_bad_t *bad = &BAD_FRAMES[_i];
    pgw_frame_t frame;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = pgw_frame((const uint8_t *)bad->bytes, bad->len, false, TEST_MAX, &frame, &err);
    ck_assert_msg(rc == CTX_EPROTOCOL, "%s: rc=%d", bad->name, rc);
    ck_assert_msg(strstr(err.message, bad->message) != NULL, "%s: got \"%s\"", bad->name,
                  err.message);
}
END_TEST

/* Frames that are well delimited but whose body is malformed. */
static const test_bad_t BAD_BODIES[] = {
    BAD("query missing NUL", "Q\x00\x00\x00\x0dSELECT 1;", "invalid string"),
    BAD("query trailing garbage", "Q\x00\x00\x00\x0fSELECT 1;\0x", "unexpected data after"),
    BAD("query empty body", "Q\x00\x00\x00\x04", "invalid string"),
    BAD("terminate with body", "X\x00\x00\x00\x05x", "unexpected data after"),
    BAD("sync with body", "S\x00\x00\x00\x05\0", "invalid Sync message"),
    BAD("flush with body", "H\x00\x00\x00\x05\0", "invalid Flush message"),
    BAD("copydone with body", "c\x00\x00\x00\x05\0", "invalid CopyDone message"),
    BAD("parse no query", "P\x00\x00\x00\x05\0", "invalid string"),
    BAD("parse no count", "P\x00\x00\x00\x07\0x\0", "insufficient data"),
    BAD("parse count > bytes", "P\x00\x00\x00\x0d\0x\0\x00\x02\x00\x00\x00\x17",
        "insufficient data"),
    BAD("parse count 65535", "P\x00\x00\x00\x09\0x\0\xff\xff", "insufficient data"),
    BAD("parse trailing", "P\x00\x00\x00\x0a\0x\0\x00\x00\x01", "unexpected data after"),
    BAD("bind no statement", "B\x00\x00\x00\x05\0", "invalid string"),
    BAD("bind formats > bytes", "B\x00\x00\x00\x0a\0\0\x00\x03\x00\x01", "insufficient data"),
    BAD("bind param len -2", "B\x00\x00\x00\x10\0\0\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x00",
        "invalid parameter length"),
    BAD("bind param len > rest", "B\x00\x00\x00\x12\0\0\x00\x00\x00\x01\x00\x00\x00\x05xy\x00\x00",
        "insufficient data"),
    BAD("bind param INT32_MIN", "B\x00\x00\x00\x10\0\0\x00\x00\x00\x01\x80\x00\x00\x00\x00\x00",
        "invalid parameter length"),
    BAD("bind param count > bytes", "B\x00\x00\x00\x0c\0\0\x00\x00\xff\xff\x00\x00",
        "insufficient data"),
    BAD("bind 2 formats 1 param",
        "B\x00\x00\x00\x14\0\0\x00\x02\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00",
        "2 parameter formats but 1 parameters"),
    BAD("bind no result formats", "B\x00\x00\x00\x0a\0\0\x00\x00\x00\x00", "insufficient data"),
    BAD("bind result formats > bytes", "B\x00\x00\x00\x0e\0\0\x00\x00\x00\x00\x00\x02\x00\x01",
        "insufficient data"),
    BAD("bind trailing", "B\x00\x00\x00\x0d\0\0\x00\x00\x00\x00\x00\x00!", "unexpected data"),
    BAD("describe subtype X", "D\x00\x00\x00\x06X\0", "invalid Describe message subtype 88"),
    BAD("describe no name", "D\x00\x00\x00\x05S", "invalid string"),
    BAD("describe empty", "D\x00\x00\x00\x04", "insufficient data"),
    BAD("close subtype", "C\x00\x00\x00\x06s\0", "invalid Close message subtype 115"),
    BAD("close trailing", "C\x00\x00\x00\x07S\0\0", "unexpected data"),
    BAD("execute short", "E\x00\x00\x00\x07\0\x00\x00", "insufficient data"),
    BAD("execute trailing", "E\x00\x00\x00\x0a\0\x00\x00\x00\x00\0", "unexpected data"),
    BAD("copyfail no NUL", "f\x00\x00\x00\x06xy", "invalid string"),
};

START_TEST(test_body_malformed) {
    const test_bad_t *bad = &BAD_BODIES[_i];
    arena_t arena;
    arena_init(&arena);
    pgw_frame_t frame = test_frame_one((const uint8_t *)bad->bytes, bad->len, false);
    pgw_msg_t msg;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = pgw_decode(&frame, &arena, &msg, &err);
    ck_assert_msg(rc == CTX_EPROTOCOL, "%s: rc=%d", bad->name, rc);
    ck_assert_msg(strstr(err.message, bad->message) != NULL, "%s: got \"%s\"", bad->name,
                  err.message);
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_decode_unknown_type) {
    arena_t arena;
    arena_init(&arena);
    pgw_frame_t frame = {.type = 'F', .body = NULL, .body_len = 0, .frame_bytes = 5};
    pgw_msg_t msg;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(pgw_decode(&frame, &arena, &msg, &err), CTX_EPROTOCOL);
    ck_assert_str_eq(err.message, "invalid frontend message type 70");
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_limits_configurable) {
    pgw_frame_t frame;
    ctx_err_t err;
    ctx_err_clear(&err);
    /* With a 16-byte limit, a 15-byte Query frame (length 14) passes and a 17-byte one fails. */
    ck_assert_int_eq(pgw_frame(BYTES(QUERY_SELECT_1), false, 16, &frame, &err), 1);
    ck_assert_int_eq(pgw_frame(BYTES("Q\x00\x00\x00\x11"), false, 16, &frame, &err), CTX_EPROTOCOL);
    /* Control messages keep the small limit whatever the caller's maximum. */
    ctx_err_clear(&err);
    ck_assert_int_eq(pgw_frame(BYTES("E\x00\x00\x27\x10"), false, TEST_MAX, &frame, &err), 0);
    ck_assert_int_eq(pgw_frame(BYTES("E\x00\x00\x27\x11"), false, TEST_MAX, &frame, &err),
                     CTX_EPROTOCOL);
}
END_TEST

/* ---- Encoders -------------------------------------------------------------------------------- */

START_TEST(test_encode_handshake) {
    buf_t buf;
    buf_init(&buf);
    pgw_encode_ssl_answer(&buf, false);
    ck_assert_uint_eq(buf_size(&buf), 1);
    ck_assert_int_eq(buf_peek(&buf)[0], 'N');
    buf_reset(&buf);
    pgw_encode_ssl_answer(&buf, true);
    ck_assert_int_eq(buf_peek(&buf)[0], 'S');
    buf_reset(&buf);
    pgw_encode_auth_ok(&buf);
    test_expect(&buf, BYTES("R\x00\x00\x00\x08\x00\x00\x00\x00"));
    pgw_encode_auth_cleartext(&buf);
    test_expect(&buf, BYTES("R\x00\x00\x00\x08\x00\x00\x00\x03"));
    static const uint8_t salt[4] = {0x01, 0x02, 0x03, 0x04};
    pgw_encode_auth_md5(&buf, salt);
    test_expect(&buf, BYTES("R\x00\x00\x00\x0c\x00\x00\x00\x05\x01\x02\x03\x04"));
    const char *mechanisms[] = {"SCRAM-SHA-256"};
    ck_assert_int_eq(pgw_encode_auth_sasl(&buf, mechanisms, 1), 0);
    test_expect(&buf, BYTES("R\x00\x00\x00\x17\x00\x00\x00\x0a"
                            "SCRAM-SHA-256\0\0"));
    ck_assert_int_eq(pgw_encode_auth_sasl_continue(&buf, (const uint8_t *)"r=abc", 5), 0);
    test_expect(&buf, BYTES("R\x00\x00\x00\x0d\x00\x00\x00\x0b"
                            "r=abc"));
    ck_assert_int_eq(pgw_encode_auth_sasl_final(&buf, (const uint8_t *)"v=xyz", 5), 0);
    test_expect(&buf, BYTES("R\x00\x00\x00\x0d\x00\x00\x00\x0c"
                            "v=xyz"));
    ck_assert_int_eq(pgw_encode_parameter_status(&buf, "client_encoding", "UTF8"), 0);
    test_expect(&buf, BYTES("S\x00\x00\x00\x19"
                            "client_encoding\0UTF8\0"));
    pgw_encode_backend_key_data(&buf, 12345, (int32_t)0xdeadbeef);
    test_expect(&buf, BYTES("K\x00\x00\x00\x0c\x00\x00\x30\x39\xde\xad\xbe\xef"));
    pgw_encode_ready_for_query(&buf, PGW_TXN_IDLE);
    test_expect(&buf, BYTES("\x5a\x00\x00\x00\x05\x49"));
    pgw_encode_ready_for_query(&buf, PGW_TXN_BLOCK);
    test_expect(&buf, BYTES("Z\x00\x00\x00\x05T"));
    pgw_encode_ready_for_query(&buf, PGW_TXN_FAILED);
    test_expect(&buf, BYTES("Z\x00\x00\x00\x05"
                            "E"));
    buf_free(&buf);
}
END_TEST

/* `SELECT 1` exactly as PostgreSQL 15 answers it: T, D, C, Z. */
START_TEST(test_encode_select_1) {
    buf_t buf;
    buf_init(&buf);
    pgw_field_t field = {.name = "?column?",
                         .type_oid = PGW_OID_INT4,
                         .type_len = pgw_type_len(PGW_OID_INT4),
                         .type_mod = -1,
                         .format = PGW_FORMAT_TEXT};
    ck_assert_int_eq(pgw_encode_row_description(&buf, &field, 1), 0);
    pgw_value_t one = {(const uint8_t *)"1", 1};
    ck_assert_int_eq(pgw_encode_data_row(&buf, &one, 1), 0);
    ck_assert_int_eq(pgw_encode_command_complete(&buf, "SELECT 1"), 0);
    pgw_encode_ready_for_query(&buf, PGW_TXN_IDLE);
    static const char expected[] = "T\x00\x00\x00\x21\x00\x01"
                                   "?column?\0"
                                   "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04"
                                   "\xff\xff\xff\xff\x00\x00"
                                   "D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x01"
                                   "1"
                                   "C\x00\x00\x00\x0dSELECT 1\0"
                                   "Z\x00\x00\x00\x05I";
    ck_assert_uint_eq(buf_size(&buf), sizeof(expected) - 1);
    ck_assert_int_eq(memcmp(buf_peek(&buf), expected, sizeof(expected) - 1), 0);
    buf_reset(&buf);

    /* A table column in binary: table oid and attnum are carried. */
    pgw_field_t col = {.name = "id",
                       .table_oid = 16384,
                       .column_attnum = 1,
                       .type_oid = PGW_OID_INT8,
                       .type_len = PGW_TYPLEN_INT8,
                       .type_mod = -1,
                       .format = PGW_FORMAT_BINARY};
    ck_assert_int_eq(pgw_encode_row_description(&buf, &col, 1), 0);
    test_expect(&buf, BYTES("T\x00\x00\x00\x1b\x00\x01"
                            "id\0"
                            "\x00\x00\x40\x00\x00\x01\x00\x00\x00\x14\x00\x08"
                            "\xff\xff\xff\xff\x00\x01"));
    ck_assert_int_eq(pgw_encode_row_description(&buf, NULL, 0), 0);
    test_expect(&buf, BYTES("T\x00\x00\x00\x06\x00\x00"));
    buf_free(&buf);
}
END_TEST

START_TEST(test_encode_data_rows) {
    buf_t buf;
    buf_init(&buf);
    pgw_value_t values[] = {{(const uint8_t *)"", 0}, {NULL, -1}, {(const uint8_t *)"ab", 2}};
    ck_assert_int_eq(pgw_encode_data_row(&buf, values, 3), 0);
    static const char expected[] = "D\x00\x00\x00\x14\x00\x03"
                                   "\x00\x00\x00\x00"
                                   "\xff\xff\xff\xff"
                                   "\x00\x00\x00\x02"
                                   "ab";
    /* The streamed API produces the same bytes without a value array. */
    size_t mark = pgw_data_row_begin(&buf, 3);
    pgw_data_row_value(&buf, "", 0);
    pgw_data_row_null(&buf);
    size_t value_mark = pgw_data_row_value_begin(&buf);
    buf_printf(&buf, "%c%c", 'a', 'b');
    pgw_data_row_value_end(&buf, value_mark);
    ck_assert_int_eq(pgw_msg_end(&buf, mark), 0);
    ck_assert_uint_eq(buf_size(&buf), 2 * (sizeof(expected) - 1));
    ck_assert_int_eq(memcmp(buf_peek(&buf), expected, sizeof(expected) - 1), 0);
    buf_consume(&buf, sizeof(expected) - 1);
    test_expect(&buf, BYTES(expected));
    ck_assert_int_eq(pgw_encode_data_row(&buf, NULL, 0), 0);
    test_expect(&buf, BYTES("D\x00\x00\x00\x06\x00\x00"));
    buf_free(&buf);
}
END_TEST

/* The begin/end mark must survive buf's lazy compaction (start > 0 moves data on growth). */
START_TEST(test_encode_mark_survives_compaction) {
    buf_t buf;
    buf_init(&buf);
    buf_append(&buf, "0123456789", 10);
    buf_consume(&buf, 6); /* start = 6: the next growth compacts */
    size_t mark = pgw_data_row_begin(&buf, 1);
    size_t big_len = 100000;
    char *big = malloc(big_len);
    memset(big, 'x', big_len);
    size_t value_mark = pgw_data_row_value_begin(&buf);
    buf_append(&buf, big, big_len);
    pgw_data_row_value_end(&buf, value_mark);
    ck_assert_int_eq(pgw_msg_end(&buf, mark), 0);
    const uint8_t *p = buf_peek(&buf);
    ck_assert_uint_eq(buf_size(&buf), 4 + 1 + 4 + 2 + 4 + big_len);
    ck_assert_int_eq(memcmp(p, "6789", 4), 0);
    ck_assert_int_eq(p[4], 'D');
    ck_assert_uint_eq(ctx_read_u32be(p + 5), 4 + 2 + 4 + big_len);
    ck_assert_uint_eq(ctx_read_u16be(p + 9), 1);
    ck_assert_uint_eq(ctx_read_u32be(p + 11), big_len);
    free(big);
    buf_free(&buf);
}
END_TEST

START_TEST(test_encode_error_response) {
    buf_t buf;
    buf_init(&buf);
    pgw_error_t e = {.severity = "ERROR",
                     .sqlstate = "42601",
                     .message = "syntax error at or near \"SELEC\"",
                     .position = 1};
    ck_assert_int_eq(pgw_encode_error(&buf, &e), 0);
    test_expect(&buf, BYTES("E\x00\x00\x00\x3e"
                            "SERROR\0"
                            "VERROR\0"
                            "C42601\0"
                            "Msyntax error at or near \"SELEC\"\0"
                            "P1\0"
                            "\0"));

    ctx_err_t err;
    ctx_err_clear(&err);
    ctx_err_set(&err, CTX_EUNIQUE, "duplicate key");
    ctx_err_detail(&err, "Key (id)=(1) already exists.");
    ctx_err_hint(&err, "h");
    ck_assert_int_eq(pgw_encode_error_ctx(&buf, "FATAL", &err), 0);
    test_expect(&buf, BYTES("E\x00\x00\x00\x4a"
                            "SFATAL\0"
                            "VFATAL\0"
                            "C23505\0"
                            "Mduplicate key\0"
                            "DKey (id)=(1) already exists.\0"
                            "Hh\0"
                            "\0"));

    ctx_err_clear(&err);
    err.code = CTX_EFEATURE; /* no message set: falls back to the code's description */
    ck_assert_int_eq(pgw_encode_notice_ctx(&buf, "WARNING", &err), 0);
    test_expect(&buf, BYTES("N\x00\x00\x00\x35"
                            "SWARNING\0"
                            "VWARNING\0"
                            "C0A000\0"
                            "Mfeature not supported\0"
                            "\0"));

    pgw_error_t notice = {.severity = "AVIS",
                          .severity_nonlocal = "NOTICE",
                          .sqlstate = "00000",
                          .message = "m",
                          .detail = "",
                          .hint = NULL,
                          .position = 0};
    ck_assert_int_eq(pgw_encode_notice(&buf, &notice), 0);
    test_expect(&buf, BYTES("N\x00\x00\x00\x1d"
                            "SAVIS\0"
                            "VNOTICE\0"
                            "C00000\0"
                            "Mm\0"
                            "\0"));
    buf_free(&buf);
}
END_TEST

START_TEST(test_encode_extended_and_copy) {
    buf_t buf;
    buf_init(&buf);
    pgw_encode_parse_complete(&buf);
    test_expect(&buf, BYTES("1\x00\x00\x00\x04"));
    pgw_encode_bind_complete(&buf);
    test_expect(&buf, BYTES("2\x00\x00\x00\x04"));
    pgw_encode_close_complete(&buf);
    test_expect(&buf, BYTES("3\x00\x00\x00\x04"));
    pgw_encode_no_data(&buf);
    test_expect(&buf, BYTES("n\x00\x00\x00\x04"));
    pgw_encode_portal_suspended(&buf);
    test_expect(&buf, BYTES("s\x00\x00\x00\x04"));
    pgw_encode_empty_query(&buf);
    test_expect(&buf, BYTES("I\x00\x00\x00\x04"));
    static const uint32_t oids[] = {PGW_OID_INT4, PGW_OID_TEXT};
    ck_assert_int_eq(pgw_encode_parameter_description(&buf, oids, 2), 0);
    test_expect(&buf, BYTES("t\x00\x00\x00\x0e\x00\x02\x00\x00\x00\x17\x00\x00\x00\x19"));
    ck_assert_int_eq(pgw_encode_parameter_description(&buf, NULL, 0), 0);
    test_expect(&buf, BYTES("t\x00\x00\x00\x06\x00\x00"));
    static const int16_t formats[] = {0, 0};
    ck_assert_int_eq(pgw_encode_copy_in_response(&buf, PGW_FORMAT_TEXT, formats, 2), 0);
    test_expect(&buf, BYTES("G\x00\x00\x00\x0b\x00\x00\x02\x00\x00\x00\x00"));
    ck_assert_int_eq(pgw_encode_copy_out_response(&buf, PGW_FORMAT_TEXT, formats, 2), 0);
    test_expect(&buf, BYTES("H\x00\x00\x00\x0b\x00\x00\x02\x00\x00\x00\x00"));
    ck_assert_int_eq(pgw_encode_copy_data(&buf, "1\tx\n", 4), 0);
    test_expect(&buf, BYTES("d\x00\x00\x00\x08"
                            "1\tx\n"));
    pgw_encode_copy_done(&buf);
    test_expect(&buf, BYTES("c\x00\x00\x00\x04"));
    buf_free(&buf);
}
END_TEST

START_TEST(test_encode_limits) {
    buf_t buf;
    buf_init(&buf);
    buf_append(&buf, "keep", 4);
    size_t count = PGW_FIELDS_MAX + 1;
    pgw_field_t *fields = calloc(count, sizeof(*fields));
    pgw_value_t *values = calloc(count, sizeof(*values));
    for (size_t i = 0; i < count; i++) {
        fields[i] =
            (pgw_field_t){.name = "c", .type_oid = PGW_OID_TEXT, .type_len = -1, .type_mod = -1};
        values[i] = (pgw_value_t){NULL, -1};
    }
    ck_assert_int_eq(pgw_encode_row_description(&buf, fields, count), CTX_ELIMIT);
    ck_assert_int_eq(pgw_encode_data_row(&buf, values, count), CTX_ELIMIT);
    ck_assert_uint_eq(buf_size(&buf), 4); /* left exactly as before */
    ck_assert_int_eq(pgw_encode_row_description(&buf, fields, count - 1), 0);
    ck_assert_uint_eq(ctx_read_u16be(buf_peek(&buf) + 4 + 5), PGW_FIELDS_MAX);
    free(fields);
    free(values);
    buf_free(&buf);
}
END_TEST

START_TEST(test_type_lengths) {
    ck_assert_int_eq(pgw_type_len(PGW_OID_BOOL), 1);
    ck_assert_int_eq(pgw_type_len(PGW_OID_INT2), 2);
    ck_assert_int_eq(pgw_type_len(PGW_OID_INT4), 4);
    ck_assert_int_eq(pgw_type_len(PGW_OID_INT8), 8);
    ck_assert_int_eq(pgw_type_len(PGW_OID_FLOAT4), 4);
    ck_assert_int_eq(pgw_type_len(PGW_OID_FLOAT8), 8);
    ck_assert_int_eq(pgw_type_len(PGW_OID_NAME), 64);
    ck_assert_int_eq(pgw_type_len(PGW_OID_UNKNOWN), -2);
    ck_assert_int_eq(pgw_type_len(PGW_OID_TEXT), -1);
    ck_assert_int_eq(pgw_type_len(PGW_OID_JSONB), -1);
    ck_assert_int_eq(pgw_type_len(PGW_OID_VECTOR), -1);
    ck_assert_int_eq(pgw_type_len(PGW_OID_REGCLASS), 4);
    ck_assert_int_eq(PGW_OID_VECTOR, 16390);
}
END_TEST

/* ---- Seeded random inputs -------------------------------------------------------------------- */

static uint64_t test_rng_next(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Reads every byte a successful decode points at, so ASan flags any pointer outside the input. */
static size_t test_touch_msg(const pgw_msg_t *msg) {
    size_t sum = 0;
    switch (msg->type) {
    case PGW_MSG_QUERY:
        sum += strlen(msg->query.sql);
        break;
    case PGW_MSG_PARSE:
        sum += strlen(msg->parse.statement) + strlen(msg->parse.query);
        for (uint16_t i = 0; i < msg->parse.param_count; i++) {
            sum += msg->parse.param_oids[i];
        }
        break;
    case PGW_MSG_BIND:
        sum += strlen(msg->bind.portal) + strlen(msg->bind.statement);
        for (uint16_t i = 0; i < msg->bind.param_count; i++) {
            for (int32_t j = 0; j < msg->bind.params[i].len; j++) {
                sum += msg->bind.params[i].data[j];
            }
            sum += (size_t)pgw_bind_param_format(&msg->bind, i);
        }
        for (uint16_t i = 0; i < msg->bind.result_format_count; i++) {
            sum += (size_t)msg->bind.result_formats[i];
        }
        break;
    case PGW_MSG_DESCRIBE:
        sum += strlen(msg->describe.name);
        break;
    case PGW_MSG_CLOSE:
        sum += strlen(msg->close.name);
        break;
    case PGW_MSG_EXECUTE:
        sum += strlen(msg->execute.portal);
        break;
    case PGW_MSG_COPY_FAIL:
        sum += strlen(msg->copy_fail);
        break;
    default:
        break;
    }
    return sum;
}

static size_t test_touch_startup(const pgw_startup_t *st) {
    size_t sum = 0;
    if (st->kind != PGW_STARTUP_MESSAGE) {
        return 0;
    }
    ck_assert_ptr_nonnull(st->user);
    ck_assert_uint_gt(strlen(st->user), 0);
    for (size_t i = 0; i < st->params_count; i++) {
        sum += strlen(st->params[i].name) + strlen(st->params[i].value);
    }
    for (size_t i = 0; i < st->unrecognized_count; i++) {
        sum += strlen(st->unrecognized[i]);
    }
    return sum;
}

static const char *const TEST_CORPUS[] = {SSL_REQUEST, CANCEL_REQUEST, STARTUP_PSQL, QUERY_SELECT_1,
                                          NODE_PG_EXTENDED};
static const size_t TEST_CORPUS_LEN[] = {sizeof(SSL_REQUEST) - 1, sizeof(CANCEL_REQUEST) - 1,
                                         sizeof(STARTUP_PSQL) - 1, sizeof(QUERY_SELECT_1) - 1,
                                         sizeof(NODE_PG_EXTENDED) - 1};

/* One input: random bytes, or a real message with a few bytes mutated / truncated. */
static size_t test_random_input(uint64_t *rng, uint8_t *out, size_t cap) {
    uint64_t r = test_rng_next(rng);
    size_t len = 0;
    if (r % 2 == 0) {
        len = (size_t)(test_rng_next(rng) % 64);
        for (size_t i = 0; i < len; i++) {
            out[i] = (uint8_t)test_rng_next(rng);
        }
        return len;
    }
    size_t which = (size_t)(test_rng_next(rng) % 5);
    len = TEST_CORPUS_LEN[which];
    CTX_ASSERT(len <= cap);
    memcpy(out, TEST_CORPUS[which], len);
    size_t flips = 1 + (size_t)(test_rng_next(rng) % 4);
    for (size_t i = 0; i < flips; i++) {
        uint64_t v = test_rng_next(rng);
        out[v % len] = (uint8_t)(v >> 32);
    }
    if (test_rng_next(rng) % 4 == 0) {
        len = (size_t)(test_rng_next(rng) % (len + 1));
    }
    return len;
}

static const uint8_t TEST_TYPES[] = "QPBDECSHXcdfp";

/* Feeds one input to every decoder; returns how many decodes succeeded. */
static size_t test_random_one(arena_t *arena, const uint8_t *in, size_t len, uint64_t r,
                              size_t *sink) {
    size_t ok = 0;
    ctx_err_t err;
    pgw_frame_t frame;
    pgw_startup_t st;
    pgw_msg_t msg;
    for (int startup = 0; startup < 2; startup++) {
        ctx_err_clear(&err);
        int rc = pgw_frame(len > 0 ? in : NULL, len, startup == 1, 1 << 20, &frame, &err);
        ck_assert_msg(rc == 0 || rc == 1 || rc == CTX_EPROTOCOL, "pgw_frame rc=%d", rc);
        ck_assert(rc != CTX_EPROTOCOL || (err.code == rc && err.message[0] != '\0'));
        if (rc != 1) {
            continue;
        }
        ck_assert_uint_le(frame.frame_bytes, len);
        ctx_err_clear(&err);
        rc = startup == 1 ? pgw_decode_startup(frame.body, frame.body_len, arena, &st, &err)
                          : pgw_decode(&frame, arena, &msg, &err);
        ck_assert_msg(rc == 0 || rc == CTX_EPROTOCOL, "decode rc=%d", rc);
        ok += rc == 0;
    }
    /* The whole input as a startup body and as the body of a random message type. */
    ctx_err_clear(&err);
    int rc = pgw_decode_startup(len > 0 ? in : NULL, len, arena, &st, &err);
    ck_assert_msg(rc == 0 || rc == CTX_EPROTOCOL, "pgw_decode_startup rc=%d", rc);
    *sink += rc == 0 ? test_touch_startup(&st) : 0;
    ok += rc == 0;
    frame = (pgw_frame_t){.type = TEST_TYPES[r % (sizeof(TEST_TYPES) - 1)],
                          .body = len > 0 ? in : NULL,
                          .body_len = len,
                          .frame_bytes = len + 5};
    ctx_err_clear(&err);
    rc = pgw_decode(&frame, arena, &msg, &err);
    ck_assert_msg(rc == 0 || rc == CTX_EPROTOCOL, "pgw_decode rc=%d", rc);
    *sink += rc == 0 ? test_touch_msg(&msg) : 0;
    ok += rc == 0;
    return ok;
}

START_TEST(test_random_inputs) {
    enum { ITERATIONS = 200000, INPUT_MAX = 256 };
    uint64_t rng = test_seed;
    arena_t arena;
    arena_init(&arena);
    uint8_t scratch[INPUT_MAX];
    size_t ok = 0;
    size_t sink = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        size_t len = test_random_input(&rng, scratch, sizeof(scratch));
        uint8_t *in = malloc(len > 0 ? len : 1); /* exact size: ASan catches over-reads */
        memcpy(in, scratch, len);
        ok += test_random_one(&arena, in, len, test_rng_next(&rng), &sink);
        free(in);
        arena_reset(&arena);
    }
    fprintf(stderr, "test_random_inputs: seed=%" PRIu64 " inputs=%d successful decodes=%zu (%zu)\n",
            test_seed, ITERATIONS, ok, sink % 10);
    ck_assert_uint_gt(ok, 0);
    arena_destroy(&arena);
}
END_TEST

/* ---- Runner ---------------------------------------------------------------------------------- */

static Suite *test_pgwire_suite(void) {
    Suite *s = suite_create("pgwire");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_ssl_gssenc_cancel);
    tcase_add_test(tc, test_startup_psql);
    tcase_add_test(tc, test_startup_minor_version_negotiation);
    tcase_add_loop_test(tc, test_startup_malformed, 0,
                        (int)(sizeof(BAD_STARTUP) / sizeof(BAD_STARTUP[0])));
    tcase_add_test(tc, test_startup_frame_lengths);
    tcase_add_test(tc, test_split_reads);
    tcase_add_test(tc, test_stream_through_buf);
    tcase_add_test(tc, test_two_messages_one_buffer);
    tcase_add_test(tc, test_query);
    tcase_add_test(tc, test_extended_node_pg);
    tcase_add_test(tc, test_extended_pgjdbc_binary);
    tcase_add_test(tc, test_copy_and_password);
    tcase_add_loop_test(tc, test_frame_malformed, 0,
                        (int)(sizeof(BAD_FRAMES) / sizeof(BAD_FRAMES[0])));
    tcase_add_loop_test(tc, test_body_malformed, 0,
                        (int)(sizeof(BAD_BODIES) / sizeof(BAD_BODIES[0])));
    tcase_add_test(tc, test_decode_unknown_type);
    tcase_add_test(tc, test_limits_configurable);
    tcase_add_test(tc, test_encode_handshake);
    tcase_add_test(tc, test_encode_select_1);
    tcase_add_test(tc, test_encode_data_rows);
    tcase_add_test(tc, test_encode_mark_survives_compaction);
    tcase_add_test(tc, test_encode_error_response);
    tcase_add_test(tc, test_encode_extended_and_copy);
    tcase_add_test(tc, test_encode_limits);
    tcase_add_test(tc, test_type_lengths);
    suite_add_tcase(s, tc);
    /* Slow under sanitizers: its own case with a timeout independent of CK_DEFAULT_TIMEOUT. */
    TCase *random = tcase_create("random");
    tcase_set_timeout(random, 300);
    tcase_add_test(random, test_random_inputs);
    suite_add_tcase(s, random);
    return s;
}

int main(int argc, char **argv) {
    const char *seed_text = getenv("CTX_TEST_SEED");
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0) {
            seed_text = argv[i + 1];
        }
    }
    test_seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                  : (uint64_t)time(NULL) ^ (uint64_t)clock();
    printf("test_pgwire: seed=%" PRIu64 " (replay with --seed %" PRIu64 ")\n", test_seed,
           test_seed);
    fflush(stdout);
    SRunner *sr = srunner_create(test_pgwire_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * test_common.c — unit tests of common/: error table, error buffer, arena, byte buffer.
 */
#include "arena.h"
#include "buf.h"
#include "ctx.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_sqlstates) {
    ck_assert_str_eq(ctx_sqlstate(CTX_ESYNTAX), "42601");
    ck_assert_str_eq(ctx_sqlstate(CTX_EUNIQUE), "23505");
    ck_assert_str_eq(ctx_sqlstate(CTX_EPROTOCOL), "08P01");
    ck_assert_str_eq(ctx_sqlstate(12345), "XX000");
}
END_TEST

START_TEST(test_err_first_wins) {
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(ctx_err_set(&err, CTX_EDATA, "first %d", 1), CTX_EDATA);
    ck_assert_int_eq(ctx_err_set(&err, CTX_ESYNTAX, "second"), CTX_EDATA);
    ck_assert_str_eq(err.message, "first 1");
    ctx_err_position(&err, 7);
    ctx_err_position(&err, 9);
    ck_assert_int_eq(err.position, 7);
}
END_TEST

START_TEST(test_arena_alignment_and_reset) {
    arena_t arena;
    arena_init(&arena);
    for (int i = 1; i < 5000; i++) {
        unsigned char *p = arena_alloc(&arena, (size_t)i);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i);
    }
    char *big = arena_alloc(&arena, 1 << 20);
    memset(big, 1, 1 << 20);
    ck_assert_uint_gt(arena_used_bytes(&arena), 1 << 20);
    arena_reset(&arena);
    ck_assert_uint_eq(arena_used_bytes(&arena), 0);
    ck_assert_str_eq(arena_sprintf(&arena, "%s-%d", "x", 42), "x-42");
    arena_destroy(&arena);
}
END_TEST

/* Past its limit an arena refuses growing allocations and marks itself exhausted; small
 * allocations still succeed (bounded overshoot); a reset clears the mark and keeps the limit. */
START_TEST(test_arena_limit) {
    arena_t arena;
    arena_init(&arena);
    arena_set_limit(&arena, 1 << 20);
    ck_assert_ptr_nonnull(arena_try_alloc(&arena, 512 * 1024));
    ck_assert(!arena_exhausted(&arena));
    ck_assert_ptr_null(arena_try_alloc(&arena, 600 * 1024));
    ck_assert(arena_exhausted(&arena));
    ck_assert_uint_lt(arena_used_bytes(&arena), 1 << 20); /* the refused request took nothing */
    ck_assert_ptr_null(arena_try_calloc(&arena, SIZE_MAX / 2, 4)); /* overflow */
    ck_assert_ptr_nonnull(arena_alloc(&arena, 64));
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(arena_limit_error(&arena, "statement_mem_limit", &err), CTX_ENOMEM);
    ck_assert_str_eq(ctx_sqlstate(err.code), "53200");
    ck_assert_str_eq(err.message, "out of memory");
    ck_assert_ptr_nonnull(strstr(err.detail, "statement_mem_limit (1MB)"));
    arena_reset(&arena);
    ck_assert(!arena_exhausted(&arena));
    ck_assert_ptr_nonnull(arena_try_alloc(&arena, 900 * 1024));
    ck_assert_ptr_null(arena_try_alloc(&arena, 200 * 1024));
    arena_set_limit(&arena, 0);
    ck_assert_ptr_nonnull(arena_try_alloc(&arena, 4 << 20));
    arena_destroy(&arena);
}
END_TEST

/* Memory sizes as PostgreSQL's memory settings take them; a bare number is kB. */
START_TEST(test_arena_parse_size) {
    size_t n;
    ck_assert_int_eq(arena_parse_size("64MB", &n), 0);
    ck_assert_uint_eq(n, (size_t)64 << 20);
    ck_assert_int_eq(arena_parse_size(" 1 GB ", &n), 0);
    ck_assert_uint_eq(n, (size_t)1 << 30);
    ck_assert_int_eq(arena_parse_size("2048", &n), 0);
    ck_assert_uint_eq(n, (size_t)2 << 20);
    ck_assert_int_eq(arena_parse_size("65536B", &n), 0);
    ck_assert_int_eq(arena_parse_size("1TB", &n), 0);
    ck_assert_int_eq(arena_parse_size("0", &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(arena_parse_size("1kB", &n), -1);  /* below ARENA_LIMIT_MIN_BYTES */
    ck_assert_int_eq(arena_parse_size("12mb", &n), -1); /* units are case-sensitive */
    ck_assert_int_eq(arena_parse_size("-1MB", &n), -1);
    ck_assert_int_eq(arena_parse_size("MB", &n), -1);
    ck_assert_int_eq(arena_parse_size("99999999999999999999GB", &n), -1);
    char text[32];
    arena_format_size((size_t)64 << 20, text, sizeof(text));
    ck_assert_str_eq(text, "64MB");
    arena_format_size((size_t)1536 << 10, text, sizeof(text));
    ck_assert_str_eq(text, "1536kB");
    arena_format_size(0, text, sizeof(text));
    ck_assert_str_eq(text, "0");
}
END_TEST

START_TEST(test_buf_stream) {
    buf_t buf;
    buf_init(&buf);
    buf_append_u32be(&buf, 0x01020304);
    buf_append_u16be(&buf, 0xa0b0);
    buf_append_cstr(&buf, "hi");
    ck_assert_uint_eq(buf_size(&buf), 9);
    ck_assert_uint_eq(ctx_read_u32be(buf_peek(&buf)), 0x01020304);
    buf_consume(&buf, 4);
    ck_assert_uint_eq(ctx_read_u16be(buf_peek(&buf)), 0xa0b0);
    buf_consume(&buf, 2);
    ck_assert_str_eq((const char *)buf_peek(&buf), "hi");
    for (int i = 0; i < 10000; i++) {
        buf_append_u8(&buf, (uint8_t)i);
    }
    ck_assert_uint_eq(buf_size(&buf), 10003);
    buf_patch_u32be(&buf, buf.start, 0xdeadbeef);
    ck_assert_uint_eq(ctx_read_u32be(buf_peek(&buf)), 0xdeadbeef);
    buf_free(&buf);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sqlstates);
    tcase_add_test(tc, test_err_first_wins);
    tcase_add_test(tc, test_arena_alignment_and_reset);
    tcase_add_test(tc, test_arena_limit);
    tcase_add_test(tc, test_arena_parse_size);
    tcase_add_test(tc, test_buf_stream);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

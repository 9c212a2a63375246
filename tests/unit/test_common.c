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
    tcase_add_test(tc, test_buf_stream);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

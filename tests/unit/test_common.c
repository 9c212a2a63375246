/*
 * test_common.c — unit tests of common/: error table, error buffer, arena, byte buffer, stack
 * depth guard.
 */
#include "arena.h"
#include "buf.h"
#include "ctx.h"
#include "stack.h"

#include <stdint.h>
#include <stdio.h>

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

/* An allocation that fails (injected: malloc's first answer is a refusal) marks the buffer
 * failed: the append and every later one are no-ops, what was there stays, and rewinding to a
 * mark clears the failure. Without the reserve, ctx_try_malloc returns NULL. */
START_TEST(test_buf_fails_sticky_on_exhaustion) {
    ck_assert(ctx_mem_reserve(0));
    ctx_alloc_fail_at(1);
    ck_assert_ptr_null(ctx_try_malloc(100));
    void *ok = ctx_try_malloc(100); /* only the n-th fails */
    ck_assert_ptr_nonnull(ok);
    free(ok);

    buf_t buf;
    buf_init(&buf);
    buf_append_cstr(&buf, "kept");
    size_t mark = buf_size(&buf);
    ck_assert(!buf_failed(&buf));
    static uint8_t big[4096];
    ctx_alloc_fail_at(1); /* the growth to hold big */
    buf_append(&buf, big, sizeof(big));
    ck_assert(buf_failed(&buf));
    ck_assert_uint_eq(buf_size(&buf), mark);
    buf_append_u32be(&buf, 7); /* fits, but the buffer has failed: a no-op */
    buf_printf(&buf, "%d", 42);
    ck_assert_ptr_null(buf_reserve(&buf, 1));
    ck_assert_uint_eq(buf_size(&buf), mark);
    buf_rewind(&buf, mark);
    ck_assert(!buf_failed(&buf));
    buf_append(&buf, big, sizeof(big));
    ck_assert(!buf_failed(&buf));
    ck_assert_uint_eq(buf_size(&buf), mark + sizeof(big));
    ck_assert_str_eq((const char *)buf_peek(&buf), "kept");
    buf_rewind(&buf, mark);
    ck_assert_uint_eq(buf_size(&buf), mark);
    buf_free(&buf);
}
END_TEST

/* When malloc refuses, the reserve is spent and the request served: arena_alloc returns memory,
 * the arena reads as exhausted (53200 with the system's detail, not the limit's), ctx_malloc does
 * not abort, and a reset gives memory back and re-arms the reserve. */
START_TEST(test_arena_survives_exhaustion_with_reserve) {
    ck_assert(ctx_mem_reserve(1 << 20));
    ck_assert(!ctx_mem_emergency());
    arena_t arena;
    arena_init(&arena);
    arena_set_limit(&arena, (size_t)1 << 30);
    ck_assert_ptr_nonnull(arena_alloc(&arena, 100));
    ck_assert(!arena_exhausted(&arena));
    ctx_alloc_fail_at(1);
    char *piece = arena_alloc(&arena, 64 * 1024); /* needs a new chunk: malloc refuses */
    ck_assert_ptr_nonnull(piece);
    memset(piece, 'x', 64 * 1024);
    ck_assert(ctx_mem_emergency());
    ck_assert(arena_exhausted(&arena));
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(arena_limit_error(&arena, "statement_mem_limit", &err), CTX_ENOMEM);
    ck_assert_str_eq(ctx_sqlstate(err.code), "53200");
    ck_assert_str_eq(err.message, "out of memory");
    ck_assert_str_eq(err.detail, "The system could not provide memory for the statement.");
    /* with the reserve spent, a fallible allocation that malloc refuses gets NULL */
    ctx_alloc_fail_at(1);
    ck_assert_ptr_null(arena_try_alloc(&arena, 1 << 20));
    arena_reset(&arena);
    ck_assert(!ctx_mem_emergency());
    ck_assert(!arena_exhausted(&arena));
    ck_assert_ptr_nonnull(arena_alloc(&arena, 10)); /* a statement in progress */
    /* ctx_malloc draws on the reserve rather than aborting */
    ctx_alloc_fail_at(1);
    void *p = ctx_malloc(1000);
    ck_assert_ptr_nonnull(p);
    ck_assert(ctx_mem_emergency());
    /* the emergency fails what was running then (this arena), not what starts afterwards */
    ck_assert(arena_exhausted(&arena));
    arena_t later;
    arena_init(&later); /* idle through the emergency: not failed by it */
    ck_assert(!arena_exhausted(&later));
    ck_assert_ptr_nonnull(arena_alloc(&later, 10));
    ck_assert(!arena_exhausted(&later));
    arena_destroy(&later);
    free(p);
    ctx_mem_rearm();
    ck_assert(!ctx_mem_emergency());
    arena_destroy(&arena);
    ck_assert(ctx_mem_reserve(0));
}
END_TEST

/* Recurses until the guard refuses; returns the depth in bytes below the first frame then. */
static __attribute__((noinline)) size_t recurse_until_refused(uintptr_t top, ctx_err_t *err) {
    volatile char pad[256]; /* a frame of some size, as a walk's would be */
    pad[0] = 1;
    if (ctx_stack_check(err) != CTX_OK) {
        return (size_t)(top - (uintptr_t)__builtin_frame_address(0)) + pad[0] - 1;
    }
    size_t depth = recurse_until_refused(top, err);
    return depth + pad[0] - 1;
}

START_TEST(test_stack_guard_measures_bytes) {
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(ctx_stack_check(&err), CTX_OK);
    ck_assert(!ctx_stack_exceeded());
    size_t limit = ctx_stack_limit_bytes();
    ck_assert_uint_le(limit, CTX_STACK_DEPTH_DEFAULT_BYTES);
    ck_assert_uint_ge(limit, CTX_STACK_DEPTH_MIN_BYTES);
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    size_t depth = recurse_until_refused(here, &err);
    ck_assert_int_eq(err.code, CTX_ESTACK_DEPTH);
    ck_assert_str_eq(ctx_sqlstate(err.code), "54001");
    ck_assert_str_eq(err.message, "stack depth limit exceeded");
    char currently[64];
    snprintf(currently, sizeof(currently), "\"max_stack_depth\" (currently %dkB)",
             CTX_STACK_DEPTH_DEFAULT_BYTES / CTX_STACK_FRAME_SCALE / 1024);
    ck_assert_ptr_nonnull(strstr(err.hint, currently));
    ck_assert_uint_le(depth, limit); /* refused within the limit, never past it */
    ck_assert_uint_gt(depth, limit / 2);
    /* a lower max_stack_depth takes effect at the next check */
    ctx_stack_set_max_depth(256 * 1024);
    ck_assert_uint_eq(ctx_stack_limit_bytes(), 256 * 1024);
    ctx_err_clear(&err);
    depth = recurse_until_refused(here, &err);
    ck_assert_int_eq(err.code, CTX_ESTACK_DEPTH);
    ck_assert_uint_le(depth, 256 * 1024);
    ctx_stack_set_max_depth(1); /* clamped to the minimum */
    ck_assert_uint_eq(ctx_stack_max_depth(), CTX_STACK_DEPTH_MIN_BYTES);
    ctx_stack_set_max_depth(CTX_STACK_DEPTH_DEFAULT_BYTES);
    /* a thread's own value (a session's SET) wins over the server-wide one until cleared */
    ctx_stack_use_max_depth(300 * 1024);
    ck_assert_uint_eq(ctx_stack_max_depth(), 300 * 1024);
    ck_assert_uint_eq(ctx_stack_limit_bytes(), 300 * 1024);
    ctx_err_clear(&err);
    depth = recurse_until_refused(here, &err);
    ck_assert_int_eq(err.code, CTX_ESTACK_DEPTH);
    ck_assert_uint_le(depth, 300 * 1024 + 4096); /* counted from a frame just below here */
    ck_assert_uint_gt(depth, 300 * 1024);
    snprintf(currently, sizeof(currently), "(currently %dkB)", 300 / CTX_STACK_FRAME_SCALE);
    ck_assert_ptr_nonnull(strstr(err.hint, currently));
    ctx_stack_use_max_depth(0);
    ck_assert_uint_eq(ctx_stack_max_depth(), CTX_STACK_DEPTH_DEFAULT_BYTES);
    /* the real stack bounds what may be asked for: it is below the thread's size */
    ck_assert_uint_ge(ctx_stack_depth_allowed_bytes(), ctx_stack_limit_bytes());
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
    tcase_add_test(tc, test_buf_fails_sticky_on_exhaustion);
    tcase_add_test(tc, test_arena_survives_exhaustion_with_reserve);
    tcase_add_test(tc, test_stack_guard_measures_bytes);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

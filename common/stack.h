/*
 * stack.h — the stack-depth guard every recursive walk calls (PostgreSQL's check_stack_depth).
 *
 * Recursion over input-shaped trees (expressions, set operations, plans, JSON) is bounded in
 * BYTES of stack, not in levels, because what one level costs depends on the walk, the compiler
 * and the sanitizers. Each thread learns its own stack bounds on its first check (from the
 * thread's attributes, so the main thread's rlimit stack and pthread stacks are both measured as
 * they really are); a check compares the caller's frame address against a limit of
 * min(max_stack_depth, stack size - reserve) below the top of the stack. A walk that calls
 * ctx_stack_check() once per level therefore fails with 54001 long before the thread's guard page,
 * whatever a level costs, and the statement fails alone.
 */
#ifndef CTX_STACK_H
#define CTX_STACK_H

#include "ctx.h"

#include <stdbool.h>
#include <stddef.h>

/* AddressSanitizer's frames hold redzones and run about three times PostgreSQL's frame sizes, so
 * its builds allow three times the depth in bytes: the same queries pass and fail in both builds
 * (the thread's real stack still bounds the limit). */
#if defined(__SANITIZE_ADDRESS__)
#define CTX_STACK_FRAME_SCALE 3
#else
#define CTX_STACK_FRAME_SCALE 1
#endif

enum {
    /* max_stack_depth default: PostgreSQL's 2 MB (scaled under ASan) */
    CTX_STACK_DEPTH_DEFAULT_BYTES = 2 * 1024 * 1024 * CTX_STACK_FRAME_SCALE,
    CTX_STACK_DEPTH_MIN_BYTES = 100 * 1024,   /* smallest max_stack_depth accepted */
    CTX_STACK_RESERVE_MIN_BYTES = 256 * 1024, /* stack always left below the limit */
    CTX_STACK_SLOP_BYTES = 512 * 1024,        /* PostgreSQL's STACK_DEPTH_SLOP (SET's bound) */
};

/* Sets the server-wide max_stack_depth (bytes, clamped to at least CTX_STACK_DEPTH_MIN_BYTES),
 * in force on every thread that has no value of its own (ctx_stack_use_max_depth). Each thread
 * still keeps at least max(stack size / 4, CTX_STACK_RESERVE_MIN_BYTES) of its real stack free
 * below the limit. Thread-safe; takes effect at each thread's next check. */
void ctx_stack_set_max_depth(size_t bytes);
/* Sets the calling thread's own max_stack_depth (bytes, clamped as above; 0 = the server-wide
 * value again), counted from the caller's frame rather than the top of the stack. The event loop
 * sets the session's setting before it handles that session's message, so every check of the
 * statement reads the session's value and counts only the statement's own depth. */
void ctx_stack_use_max_depth(size_t bytes);
/* The max_stack_depth in force for the calling thread, in bytes. */
size_t ctx_stack_max_depth(void);
/* The largest max_stack_depth (bytes) SET accepts for the calling thread: its stack size less
 * CTX_STACK_SLOP_BYTES, as PostgreSQL bounds it by the rlimit (22023 past it). The guard still
 * keeps its reserve free, so a value near this bound is cut to the stack less the reserve. */
size_t ctx_stack_depth_allowed_bytes(void);
/* The limit in force for the calling thread, in bytes below where its depth is counted from. */
size_t ctx_stack_limit_bytes(void);

/* True when the caller's frame is deeper than the calling thread's limit. For walks that have
 * no error path and can stop early without changing a result's meaning (optimizations). */
bool ctx_stack_exceeded(void);
/* CTX_OK, or sets err to CTX_ESTACK_DEPTH "stack depth limit exceeded" with PostgreSQL's hint
 * and returns that code. Call once per level of every recursion on input-controlled depth. */
int ctx_stack_check(ctx_err_t *err);

#endif

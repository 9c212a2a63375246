/*
 * stack.c — per-thread stack bounds and the depth check (see stack.h).
 *
 * A thread's first check reads its stack's lowest address and size with pthread_getattr_np
 * (glibc derives the main thread's from RLIMIT_STACK and the mappings, a pthread's from its
 * attributes) and caches the top of the stack in thread-local storage; when that call fails, the
 * first checking frame is taken as the top and RLIMIT_STACK (or 8 MB) as the size. The limit
 * address is recomputed when the max_stack_depth in force changes (a thread's own value, set per
 * session message, or else the server-wide one). A thread's own value counts depth from the
 * frame that set it (the event loop's, as PostgreSQL counts from its main loop), so the frames
 * below the loop do not eat into a small setting; the server-wide one counts from the top. The
 * check itself is one thread-local load and one compare against __builtin_frame_address (the real
 * frame even under ASan's fake stacks), so it is cheap enough for every level of every walk.
 */
#include "stack.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>

static atomic_size_t stack_max_depth = CTX_STACK_DEPTH_DEFAULT_BYTES;

typedef struct stack_state {
    uintptr_t top;        /* highest address of the thread's stack; 0 = not yet known */
    size_t size;          /* bytes of stack the thread has */
    size_t max_depth;     /* max_stack_depth the limit was computed for */
    uintptr_t base;       /* where depth is counted from, the limit was computed for */
    size_t limit_bytes;   /* allowed depth from base */
    uintptr_t limit_addr; /* frames below this address are too deep */
} stack_state_t;

static _Thread_local stack_state_t stack_state;
static _Thread_local size_t stack_thread_depth;   /* this thread's max_stack_depth; 0 = global */
static _Thread_local uintptr_t stack_thread_base; /* with it: depth counted from here; 0 = top */

enum { STACK_FALLBACK_BYTES = 8 * 1024 * 1024 };

static void stack_learn_bounds(stack_state_t *s, uintptr_t frame) {
    pthread_attr_t attr;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &low, &size) != 0) {
            size = 0;
        }
        pthread_attr_destroy(&attr);
    }
    uintptr_t top = (uintptr_t)low + size;
    if (size == 0 || frame < (uintptr_t)low || frame >= top) {
        struct rlimit rl;
        size = STACK_FALLBACK_BYTES;
        if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < size) {
            size = (size_t)rl.rlim_cur;
        }
        top = frame;
    }
    s->top = top;
    s->size = size;
}

/* Bytes of the thread's stack a walk may use: its size less the reserve. */
static size_t stack_usable(const stack_state_t *s) {
    size_t reserve = s->size / 4;
    if (reserve < CTX_STACK_RESERVE_MIN_BYTES) {
        reserve = CTX_STACK_RESERVE_MIN_BYTES;
    }
    return s->size > reserve ? s->size - reserve : s->size / 2;
}

static size_t stack_depth_in_force(void) {
    size_t own = stack_thread_depth;
    return own != 0 ? own : atomic_load_explicit(&stack_max_depth, memory_order_relaxed);
}

/* The limit is max_depth below base, but never deeper than the usable part of the stack. */
static void stack_compute_limit(stack_state_t *s, size_t max_depth, uintptr_t base) {
    CTX_ASSERT(base <= s->top);
    uintptr_t usable_addr = s->top - stack_usable(s);
    uintptr_t depth_addr = base > max_depth ? base - max_depth : 0;
    s->limit_addr = depth_addr > usable_addr ? depth_addr : usable_addr;
    s->limit_bytes = base > s->limit_addr ? base - s->limit_addr : 0;
    s->max_depth = max_depth;
    s->base = base;
}

static stack_state_t *stack_current(uintptr_t frame) {
    stack_state_t *s = &stack_state;
    if (s->top == 0) {
        stack_learn_bounds(s, frame);
    }
    size_t max_depth = stack_depth_in_force();
    uintptr_t base =
        stack_thread_base != 0 && stack_thread_base < s->top ? stack_thread_base : s->top;
    if (s->max_depth != max_depth || s->base != base) {
        stack_compute_limit(s, max_depth, base);
    }
    return s;
}

void ctx_stack_set_max_depth(size_t bytes) {
    if (bytes < CTX_STACK_DEPTH_MIN_BYTES) {
        bytes = CTX_STACK_DEPTH_MIN_BYTES;
    }
    atomic_store_explicit(&stack_max_depth, bytes, memory_order_relaxed);
}

void ctx_stack_use_max_depth(size_t bytes) {
    if (bytes != 0 && bytes < CTX_STACK_DEPTH_MIN_BYTES) {
        bytes = CTX_STACK_DEPTH_MIN_BYTES;
    }
    stack_thread_depth = bytes;
    stack_thread_base = bytes != 0 ? (uintptr_t)__builtin_frame_address(0) : 0;
}

size_t ctx_stack_max_depth(void) {
    return stack_depth_in_force();
}

size_t ctx_stack_depth_allowed_bytes(void) {
    const stack_state_t *s = stack_current((uintptr_t)__builtin_frame_address(0));
    return s->size > CTX_STACK_SLOP_BYTES ? s->size - CTX_STACK_SLOP_BYTES : 0;
}

size_t ctx_stack_limit_bytes(void) {
    return stack_current((uintptr_t)__builtin_frame_address(0))->limit_bytes;
}

bool ctx_stack_exceeded(void) {
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    return frame < stack_current(frame)->limit_addr;
}

int ctx_stack_check(ctx_err_t *err) {
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    if (__builtin_expect(frame >= stack_current(frame)->limit_addr, 1)) {
        return CTX_OK;
    }
    int rc = ctx_err_set(err, CTX_ESTACK_DEPTH, "stack depth limit exceeded");
    ctx_err_hint(err,
                 "Increase the configuration parameter \"max_stack_depth\" (currently %zukB), "
                 "after ensuring the platform's stack depth limit is adequate.",
                 ctx_stack_max_depth() / CTX_STACK_FRAME_SCALE / 1024);
    return rc;
}

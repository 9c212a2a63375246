/*
 * ctx.c — error table lookups, the error buffer, logging and the assertion handler.
 *
 * Logging formats each line into a stack buffer and emits it with one write(2), so lines from
 * the event loop and background threads never interleave mid-line.
 *
 * Allocation (ctx.h, "Memory exhaustion"): one fallible path, ctx_try_realloc, under which the
 * test hook and the reserve sit; the reserve is a malloc'ed block whose pages are never touched,
 * so it costs address space (what RLIMIT_AS and strict overcommit count) but no resident memory.
 */
#include "ctx.h"

#include <stdatomic.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct {
    int code;
    const char *state;
    const char *text;
} error_table[] = {
#define CTX_X_ROW(name, value, state, text) {value, state, text},
    CTX_ERROR_LIST(CTX_X_ROW)
#undef CTX_X_ROW
};

enum { ERROR_TABLE_COUNT = sizeof(error_table) / sizeof(error_table[0]) };

static ctx_log_level_t log_level = CTX_LOG_INFO;

const char *ctx_sqlstate(int code) {
    for (int i = 0; i < ERROR_TABLE_COUNT; i++) {
        if (error_table[i].code == code) {
            return error_table[i].state;
        }
    }
    return "XX000";
}

const char *ctx_strerror(int code) {
    for (int i = 0; i < ERROR_TABLE_COUNT; i++) {
        if (error_table[i].code == code) {
            return error_table[i].text;
        }
    }
    return "unknown error";
}

int ctx_err_set(ctx_err_t *err, int code, const char *fmt, ...) {
    CTX_ASSERT(code != CTX_OK);
    if (err == NULL || err->code != CTX_OK) {
        return err == NULL ? code : err->code;
    }
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

void ctx_err_detail(ctx_err_t *err, const char *fmt, ...) {
    if (err == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
}

void ctx_err_hint(ctx_err_t *err, const char *fmt, ...) {
    if (err == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
    va_end(ap);
}

void ctx_err_context(ctx_err_t *err, const char *fmt, ...) {
    if (err == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->context, sizeof(err->context), fmt, ap);
    va_end(ap);
}

void ctx_err_position(ctx_err_t *err, int position) {
    if (err != NULL && err->position == 0) {
        err->position = position;
    }
}

void ctx_err_clear(ctx_err_t *err) {
    memset(err, 0, sizeof(*err));
}

void ctx_log_set_level(ctx_log_level_t level) {
    log_level = level;
}

void ctx_log(ctx_log_level_t level, const char *fmt, ...) {
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < log_level) {
        return;
    }
    char line[2048];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02d %02d:%02d:%02d.%03ldZ [%d] %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, (int)getpid(), names[level]);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2) {
        n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
    (void)ignored;
}

void ctx_assert_fail(const char *expr, const char *file, int line, const char *func) {
    ctx_log(CTX_LOG_ERROR, "assertion failed: %s (%s:%d in %s)", expr, file, line, func);
    abort();
}

/* ---- Allocation and the reserve (ctx.h) ----------------------------------------------------- */

static void *_Atomic mem_reserve_block;          /* the reserve; NULL while spent or never set */
static _Atomic size_t mem_reserve_bytes;         /* its size, kept for re-arming */
static atomic_bool mem_emergency_flag;           /* the reserve was spent */
static atomic_uint_fast64_t mem_emergency_count; /* times the reserve was spent */
static atomic_long alloc_fail_countdown; /* test hook: allocations until one fails; 0 = off */

void ctx_alloc_fail_at(long n) {
    atomic_store(&alloc_fail_countdown, n < 0 ? 0 : n);
}

/* True when the test hook says this allocation fails. */
static bool alloc_injected_failure(void) {
    long n = atomic_load_explicit(&alloc_fail_countdown, memory_order_relaxed);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&alloc_fail_countdown, &n, n - 1)) {
            return n == 1;
        }
    }
    return false;
}

/* Frees the reserve, if there is one, and enters the emergency. True when memory was freed. */
static bool mem_spend_reserve(void) {
    void *block = atomic_exchange(&mem_reserve_block, NULL);
    if (block == NULL) {
        return false;
    }
    free(block);
    atomic_store(&mem_emergency_flag, true);
    atomic_fetch_add(&mem_emergency_count, 1);
    ctx_log(CTX_LOG_WARN, "out of memory: spent the %zu-byte reserve; the running statement fails",
            atomic_load(&mem_reserve_bytes));
    return true;
}

bool ctx_mem_reserve(size_t bytes) {
#ifdef __GLIBC__
    if (bytes > 0) {
        /* A fixed threshold: blocks from 1 MB up are always mmap'ed, so freeing them gives their
         * address space back and the reserve can be re-armed after a big statement fails (the
         * dynamic threshold would move such blocks to the heap, which free() rarely shrinks). */
        mallopt(M_MMAP_THRESHOLD, CTX_MEM_MMAP_THRESHOLD_BYTES);
    }
#endif
    void *block = bytes > 0 ? malloc(bytes) : NULL;
    if (bytes > 0 && block == NULL) {
        return false;
    }
    atomic_store(&mem_reserve_bytes, bytes);
    free(atomic_exchange(&mem_reserve_block, block));
    atomic_store(&mem_emergency_flag, false);
    return true;
}

void ctx_mem_rearm(void) {
    if (!atomic_load_explicit(&mem_emergency_flag, memory_order_relaxed)) {
        return;
    }
    size_t bytes = atomic_load(&mem_reserve_bytes);
    void *block = malloc(bytes);
#ifdef __GLIBC__
    if (block == NULL) {
        malloc_trim(0); /* free heap at the top goes back, then try once more */
        block = malloc(bytes);
    }
#endif
    if (block == NULL) {
        return; /* still short: stay in the emergency */
    }
    void *expected = NULL;
    if (!atomic_compare_exchange_strong(&mem_reserve_block, &expected, block)) {
        free(block); /* another thread re-armed first */
    }
    atomic_store(&mem_emergency_flag, false);
}

bool ctx_mem_emergency(void) {
    return atomic_load_explicit(&mem_emergency_flag, memory_order_relaxed);
}

uint64_t ctx_mem_emergencies(void) {
    return atomic_load_explicit(&mem_emergency_count, memory_order_relaxed);
}

void *ctx_try_realloc(void *ptr, size_t size) {
    size_t bytes = size == 0 ? 1 : size;
    void *out = alloc_injected_failure() ? NULL : realloc(ptr, bytes);
    if (out == NULL && mem_spend_reserve()) {
        out = realloc(ptr, bytes);
    }
    return out;
}

void *ctx_try_malloc(size_t size) {
    return ctx_try_realloc(NULL, size);
}

void *ctx_try_calloc(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) {
        return NULL;
    }
    void *out = ctx_try_malloc(count * size);
    if (out != NULL) {
        memset(out, 0, count == 0 || size == 0 ? 1 : count * size);
    }
    return out;
}

static void *check_alloc(void *ptr, size_t size) {
    if (ptr == NULL) {
        ctx_log(CTX_LOG_ERROR, "out of memory allocating %zu bytes", size);
        abort();
    }
    return ptr;
}

void *ctx_malloc(size_t size) {
    return check_alloc(ctx_try_malloc(size), size);
}

void *ctx_calloc(size_t count, size_t size) {
    return check_alloc(ctx_try_calloc(count, size), count * size);
}

void *ctx_realloc(void *ptr, size_t size) {
    return check_alloc(ctx_try_realloc(ptr, size), size);
}

char *ctx_strdup(const char *s) {
    size_t len = strlen(s);
    char *copy = ctx_malloc(len + 1);
    memcpy(copy, s, len + 1);
    return copy;
}

/*
 * ctx.c — error table lookups, the error buffer, logging and the assertion handler.
 *
 * Logging formats each line into a stack buffer and emits it with one write(2), so lines from
 * the event loop and background threads never interleave mid-line.
 */
#include "ctx.h"

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

static void *check_alloc(void *ptr, size_t size) {
    if (ptr == NULL && size != 0) {
        ctx_log(CTX_LOG_ERROR, "out of memory allocating %zu bytes", size);
        abort();
    }
    return ptr;
}

void *ctx_malloc(size_t size) {
    return check_alloc(malloc(size == 0 ? 1 : size), size);
}

void *ctx_calloc(size_t count, size_t size) {
    return check_alloc(calloc(count == 0 ? 1 : count, size == 0 ? 1 : size), count * size);
}

void *ctx_realloc(void *ptr, size_t size) {
    return check_alloc(realloc(ptr, size == 0 ? 1 : size), size);
}

char *ctx_strdup(const char *s) {
    size_t len = strlen(s);
    char *copy = ctx_malloc(len + 1);
    memcpy(copy, s, len + 1);
    return copy;
}

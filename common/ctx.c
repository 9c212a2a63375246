/*
 * ctx.c — error table lookups, the error buffer, logging and the assertion handler.
 *
 * Logging formats each line into a stack buffer and emits it with one write(2), so lines from
 * the event loop and background threads never interleave mid-line. A log file replaces stderr
 * (dup2 onto descriptor 2, atomic against concurrent writes); a SIGHUP handler only sets a flag,
 * and the next line reopens the file under a mutex before it is written, so logrotate's move
 * takes effect without the handler doing anything unsafe.
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
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/prctl.h>
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
static ctx_log_format_t log_format = CTX_LOG_TEXT;
static atomic_int_fast64_t log_min_duration_ms = -1;
static atomic_bool log_reopen_wanted;
static pthread_mutex_t log_file_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_file_path[4096];

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

void ctx_log_set_format(ctx_log_format_t format) {
    log_format = format;
}

void ctx_log_set_min_duration_ms(int64_t ms) {
    atomic_store(&log_min_duration_ms, ms < 0 ? -1 : ms);
}

int64_t ctx_log_min_duration_ms(void) {
    return (int64_t)atomic_load_explicit(&log_min_duration_ms, memory_order_relaxed);
}

/* Opens path and puts it on descriptor 2; -1 with errno when it cannot be opened. */
static int ctx_log_install(const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    int rc = dup2(fd, STDERR_FILENO) < 0 ? -1 : 0;
    close(fd);
    return rc;
}

int ctx_log_open_file(const char *path, ctx_err_t *err) {
    CTX_ASSERT(path != NULL && path[0] != '\0');
    pthread_mutex_lock(&log_file_mu);
    int rc = 0;
    if (strlen(path) >= sizeof(log_file_path) || ctx_log_install(path) < 0) {
        rc = ctx_err_set(err, CTX_EIO, "could not open log file \"%s\": %s", path,
                         strlen(path) >= sizeof(log_file_path) ? "path too long" : strerror(errno));
    } else {
        snprintf(log_file_path, sizeof(log_file_path), "%s", path);
    }
    pthread_mutex_unlock(&log_file_mu);
    return rc;
}

void ctx_log_request_reopen(void) {
    atomic_store(&log_reopen_wanted, true);
}

/* Reopens the log file when a SIGHUP asked for it (before this line is written). */
static void ctx_log_maybe_reopen(void) {
    if (!atomic_load_explicit(&log_reopen_wanted, memory_order_relaxed) ||
        !atomic_exchange(&log_reopen_wanted, false)) {
        return;
    }
    pthread_mutex_lock(&log_file_mu);
    int saved = 0;
    bool have = log_file_path[0] != '\0';
    if (have && ctx_log_install(log_file_path) < 0) {
        saved = errno;
    }
    pthread_mutex_unlock(&log_file_mu);
    if (have && saved != 0) {
        ctx_log(CTX_LOG_WARN, "could not reopen log file \"%s\": %s; logging on", log_file_path,
                strerror(saved));
    } else if (have) {
        ctx_log(CTX_LOG_INFO, "received SIGHUP: reopened log file \"%s\"", log_file_path);
    }
}

/* Appends text as a JSON string body (no quotes) to line[*n..cap), escaping as RFC 8259 asks. */
static void ctx_json_escape(char *line, int *n, int cap, const char *text, size_t len) {
    for (size_t i = 0; i < len && *n < cap - 8; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            line[(*n)++] = '\\';
            line[(*n)++] = (char)c;
        } else if (c < 0x20) {
            *n += snprintf(line + *n, (size_t)(cap - *n), "\\u%04x", c);
        } else {
            line[(*n)++] = (char)c;
        }
    }
}

/* "fields": every word key=value of message (key: [a-z_]+), value up to the next blank. */
static void ctx_json_fields(char *line, int *n, int cap, const char *message) {
    *n += snprintf(line + *n, (size_t)(cap - *n), ",\"fields\":{");
    bool first = true;
    for (const char *p = message; *p != '\0' && *n < cap - 16;) {
        size_t word = strcspn(p, " \t,;()");
        const char *eq = memchr(p, '=', word);
        size_t key_len = eq != NULL ? (size_t)(eq - p) : 0;
        bool is_key = key_len > 0 && strspn(p, "abcdefghijklmnopqrstuvwxyz_") == key_len;
        if (is_key) {
            line[(*n)++] = first ? '"' : ',';
            if (!first) {
                line[(*n)++] = '"';
            }
            ctx_json_escape(line, n, cap, p, key_len);
            *n += snprintf(line + *n, (size_t)(cap - *n), "\":\"");
            ctx_json_escape(line, n, cap, eq + 1, word - key_len - 1);
            line[(*n)++] = '"';
            first = false;
        }
        p += word;
        p += *p != '\0';
    }
    *n += snprintf(line + *n, (size_t)(cap - *n), "}}");
}

static int ctx_log_json(char *line, int cap, const struct tm *tm, long ms, const char *level,
                        const char *message) {
    char component[17] = "contextdb";
    prctl(PR_GET_NAME, component, 0, 0, 0);
    component[16] = '\0';
    int n = snprintf(line, (size_t)cap,
                     "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                     "\"component\":\"",
                     tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min,
                     tm->tm_sec, ms, level);
    ctx_json_escape(line, &n, cap, component, strlen(component));
    n += snprintf(line + n, (size_t)(cap - n), "\",\"pid\":%d,\"message\":\"", (int)getpid());
    ctx_json_escape(line, &n, cap, message, strlen(message));
    line[n++] = '"';
    ctx_json_fields(line, &n, cap, message);
    return n;
}

void ctx_log(ctx_log_level_t level, const char *fmt, ...) {
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < log_level) {
        return;
    }
    ctx_log_maybe_reopen();
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    char line[2 * 6 * 2048 + 512]; /* message and fields, each escaped at worst 6x */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    int n = 0;
    if (log_format == CTX_LOG_JSON) {
        n = ctx_log_json(line, (int)sizeof(line) - 1, &tm, now.tv_nsec / 1000000, names[level],
                         message);
    } else {
        n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03ldZ [%d] %s: %s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, (int)getpid(), names[level], message);
    }
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

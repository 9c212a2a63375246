/*
 * ctx.h — project-wide error codes, error buffer, assertions and logging.
 *
 * Every fallible function in ContextDB returns int: 0 (CTX_OK) on success, a negative
 * ctx_code from CTX_ERROR_LIST otherwise. Detail goes into a ctx_err_t that the caller owns and
 * passes down; the first error set wins the message, so callees can be called in sequence and the
 * caller reports the root cause. Codes map to PostgreSQL SQLSTATEs (what clients see) through the
 * X-macro table below, so adding an error is one line.
 */
#ifndef CTX_H
#define CTX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* X(name, value, sqlstate, description) */
#define CTX_ERROR_LIST(X)                                                                          \
    X(CTX_OK, 0, "00000", "success")                                                               \
    X(CTX_ENOMEM, -1, "53200", "out of memory")                                                    \
    X(CTX_ESYNTAX, -2, "42601", "syntax error")                                                    \
    X(CTX_EUNDEF_TABLE, -3, "42P01", "undefined table")                                            \
    X(CTX_EUNDEF_COLUMN, -4, "42703", "undefined column")                                          \
    X(CTX_EUNDEF_FUNCTION, -5, "42883", "undefined function")                                      \
    X(CTX_EBAD_LITERAL, -6, "22P02", "invalid text representation")                                \
    X(CTX_EDATA, -7, "22000", "data exception")                                                    \
    X(CTX_ERANGE, -8, "22003", "numeric value out of range")                                       \
    X(CTX_EDIV_ZERO, -9, "22012", "division by zero")                                              \
    X(CTX_ETOO_LONG, -10, "22001", "string data right truncation")                                 \
    X(CTX_EBAD_PARAM, -11, "22023", "invalid parameter value")                                     \
    X(CTX_ENOT_NULL, -12, "23502", "not null violation")                                           \
    X(CTX_EUNIQUE, -13, "23505", "unique violation")                                               \
    X(CTX_EFOREIGN_KEY, -14, "23503", "foreign key violation")                                     \
    X(CTX_EREAD_ONLY, -15, "25006", "read only sql transaction")                                   \
    X(CTX_ETXN_ABORTED, -16, "25P02", "in failed sql transaction")                                 \
    X(CTX_ETYPE, -17, "42804", "datatype mismatch")                                                \
    X(CTX_EGROUPING, -18, "42803", "grouping error")                                               \
    X(CTX_EAMBIGUOUS, -19, "42702", "ambiguous column")                                            \
    X(CTX_EFEATURE, -20, "0A000", "feature not supported")                                         \
    X(CTX_ECANCELED, -21, "57014", "query canceled")                                               \
    X(CTX_ETOO_MANY_CONN, -22, "53300", "too many connections")                                    \
    X(CTX_EPROTOCOL, -23, "08P01", "protocol violation")                                           \
    X(CTX_EAUTH, -24, "28P01", "invalid password")                                                 \
    X(CTX_ELIMIT, -25, "54000", "program limit exceeded")                                          \
    X(CTX_EIO, -26, "58030", "io error")                                                           \
    X(CTX_EINTERNAL, -27, "XX000", "internal error")                                               \
    X(CTX_EUNDEF_OBJECT, -28, "42704", "undefined object")                                         \
    X(CTX_ECONFIG, -29, "F0000", "configuration error")                                            \
    X(CTX_ENO_TXN, -30, "25P01", "no active sql transaction")                                      \
    X(CTX_EACTIVE_TXN, -31, "25001", "active sql transaction")                                     \
    X(CTX_ECORRUPT, -32, "XX001", "data corrupted")                                                \
    X(CTX_EWRONG_ARGS, -33, "42809", "wrong object type")                                          \
    X(CTX_EINVALID_JSON, -34, "22P02", "invalid input syntax for type json")                       \
    X(CTX_ECARDINALITY, -35, "21000", "cardinality violation")                                     \
    X(CTX_EROW_COUNT, -36, "2201W", "invalid row count in limit clause")                           \
    X(CTX_ECOLUMN_REF, -37, "42P10", "invalid column reference")                                   \
    X(CTX_ESHUTDOWN, -38, "57P01", "admin shutdown")                                               \
    X(CTX_ECANT_CHANGE, -39, "55P02", "cant change runtime param")                                 \
    X(CTX_EDUP_COLUMN, -40, "42701", "duplicate column")                                           \
    X(CTX_ESERIALIZATION, -41, "40001", "serialization failure")                                   \
    X(CTX_ESTACK_DEPTH, -42, "54001", "statement too complex")                                     \
    X(CTX_EDUP_PREPARED, -70, "42P05", "duplicate prepared statement")                             \
    X(CTX_EUNDEF_PREPARED, -71, "26000", "invalid sql statement name")                             \
    X(CTX_EDUP_CURSOR, -72, "42P03", "duplicate cursor")                                           \
    X(CTX_EUNDEF_CURSOR, -73, "34000", "invalid cursor name")                                      \
    X(CTX_EBINARY_FORMAT, -74, "22P03", "invalid binary representation")                           \
    X(CTX_EBAD_COPY, -75, "22P04", "bad copy file format")                                         \
    X(CTX_EAUTH_SPEC, -76, "28000", "invalid authorization specification")                         \
    X(CTX_EDISK_FULL, -77, "53100", "disk full")                                                   \
    X(CTX_EUNKNOWN_COMMIT, -78, "40003", "statement completion unknown")                           \
    X(CTX_ENO_LEADER, -79, "57P03", "cannot connect now")                                          \
    X(CTX_EFORWARD, -80, "25006", "read only sql transaction")                                     \
    X(CTX_EDUP_OBJECT, -81, "42710", "duplicate object")                                           \
    X(CTX_EPREREQ, -82, "55000", "object not in prerequisite state")                               \
    X(CTX_EIN_USE, -83, "55006", "object in use")                                                  \
    X(CTX_ENOT_READY, -84, "55000", "object not in prerequisite state")                            \
    X(CTX_EBAD_ENCODING, -90, "22021", "character not in repertoire")                              \
    X(CTX_ESAVEPOINT, -91, "3B001", "invalid savepoint specification")

typedef enum {
#define CTX_X_ENUM(name, value, state, text) name = value,
    CTX_ERROR_LIST(CTX_X_ENUM)
#undef CTX_X_ENUM
} ctx_code_t;

enum {
    CTX_ERR_MESSAGE_MAX = 512,
    CTX_ERR_DETAIL_MAX = 512,
    CTX_ERR_HINT_MAX = 256,
    CTX_ERR_CONTEXT_MAX = 256,
};

/* Error buffer: owned by the caller, filled by the first failing callee. */
typedef struct ctx_err {
    int code;                          /* ctx_code_t; CTX_OK when no error was set */
    int position;                      /* 1-based character offset into the query, 0 = none */
    char message[CTX_ERR_MESSAGE_MAX]; /* primary message, PostgreSQL style (lower case) */
    char detail[CTX_ERR_DETAIL_MAX];   /* optional, "" when absent */
    char hint[CTX_ERR_HINT_MAX];       /* optional, "" when absent */
    char context[CTX_ERR_CONTEXT_MAX]; /* optional where-it-happened line ("COPY nodes, line 3"),
                                          "" when absent; sent as the 'W' field */
} ctx_err_t;

/* Sets code and message (printf format) unless an error is already set; returns err->code so
 * callers can write `return ctx_err_set(err, CTX_EDATA, "...")`. err may be NULL (then just
 * returns code). */
int ctx_err_set(ctx_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets detail / hint of the current error (overwrites). */
void ctx_err_detail(ctx_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctx_err_hint(ctx_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the context line of the current error (overwrites). */
void ctx_err_context(ctx_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the 1-based position if none is set yet. */
void ctx_err_position(ctx_err_t *err, int position);
/* Clears err to CTX_OK. */
void ctx_err_clear(ctx_err_t *err);
/* The 5-character SQLSTATE of a code ("XX000" for unknown codes). Static storage. */
const char *ctx_sqlstate(int code);
/* A short description of a code. Static storage. */
const char *ctx_strerror(int code);

/* Logging to stderr with a timestamp and level. Thread-safe (one write(2) per line).
 * Text lines: `2026-12-07 01:02:03.456Z [pid] INFO: message`. JSON lines (log_format = json):
 * one object per line, {"time", "level", "component" (the thread's name), "pid", "message",
 * "fields": {every `key=value` word of the message}}. */
typedef enum { CTX_LOG_DEBUG, CTX_LOG_INFO, CTX_LOG_WARN, CTX_LOG_ERROR } ctx_log_level_t;
typedef enum { CTX_LOG_TEXT, CTX_LOG_JSON } ctx_log_format_t;
void ctx_log_set_level(ctx_log_level_t level);
void ctx_log_set_format(ctx_log_format_t format);
/* Sends stderr (the log, and anything else written there) to path, opened for appending and
 * created 0600 if missing. Returns 0, or CTX_EIO with err (stderr unchanged). The path is kept
 * for ctx_log_reopen. */
int ctx_log_open_file(const char *path, ctx_err_t *err);
/* Async-signal-safe (SIGHUP handler): the next log line first reopens the log file (logrotate
 * moved it away). No effect without ctx_log_open_file. */
void ctx_log_request_reopen(void);
/* log_min_duration_statement in milliseconds: statements running at least this long are logged
 * with their duration; -1 (the default) logs none. */
void ctx_log_set_min_duration_ms(int64_t ms);
int64_t ctx_log_min_duration_ms(void);
void ctx_log(ctx_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CTX_DEBUG(...) ctx_log(CTX_LOG_DEBUG, __VA_ARGS__)
#define CTX_INFO(...) ctx_log(CTX_LOG_INFO, __VA_ARGS__)
#define CTX_WARN(...) ctx_log(CTX_LOG_WARN, __VA_ARGS__)
#define CTX_ERROR(...) ctx_log(CTX_LOG_ERROR, __VA_ARGS__)

/* Assertions stay on in release builds: they guard invariants whose violation corrupts data. */
_Noreturn void ctx_assert_fail(const char *expr, const char *file, int line, const char *func);
#define CTX_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            ctx_assert_fail(#cond, __FILE__, __LINE__, __func__);                                  \
        }                                                                                          \
    } while (0)

/* Memory exhaustion.
 *
 * Every allocation goes through one path (ctx_try_*), which draws on a process-wide reserve when
 * malloc refuses: a block set aside at start-up (ctx_mem_reserve) is freed and the request tried
 * again, and the process enters the memory emergency: ctx_mem_emergency() is true until the
 * reserve is taken back (ctx_mem_rearm, called when statement memory is released), and
 * ctx_mem_emergencies() counts the times one began. Code that loops over rows treats an
 * emergency that began while its arena was in use like the arena's own limit (arena_exhausted()
 * includes it), so the statement running when memory ran out fails with 53200 at its next check
 * while the reserve lets it unwind; later statements run, and re-arm the reserve when they can.
 *
 * ctx_try_malloc / ctx_try_calloc / ctx_try_realloc return NULL when even the reserve cannot
 * satisfy the request (realloc: the old block is untouched then); every path a statement reaches
 * uses them, directly or through arena.h / buf.h. ctx_malloc & co. never return NULL: they log
 * and abort on exhaustion, and are for the server's own start-up structures and for small
 * long-lived state that the reserve covers. */
void *ctx_try_malloc(size_t size);
void *ctx_try_calloc(size_t count, size_t size);
void *ctx_try_realloc(void *ptr, size_t size);
void *ctx_malloc(size_t size);
void *ctx_calloc(size_t count, size_t size);
void *ctx_realloc(void *ptr, size_t size);
char *ctx_strdup(const char *s);
/* The server's reserve: what a statement may still allocate after malloc first refuses, until
 * its next check fails it. Address space only (never touched). */
enum { CTX_MEM_RESERVE_BYTES = 64 * 1024 * 1024 };
/* With a reserve set, blocks from this size up are always mmap'ed (glibc), so freeing them gives
 * their address space back. */
enum { CTX_MEM_MMAP_THRESHOLD_BYTES = 1024 * 1024 };
/* Sets aside bytes as the reserve (replacing an earlier one); false when malloc refuses. */
bool ctx_mem_reserve(size_t bytes);
/* Takes the reserve back after an emergency; ends the emergency when it could. Cheap when there
 * is no emergency. */
void ctx_mem_rearm(void);
/* True from when the reserve was spent until it is re-armed. Thread-safe. */
bool ctx_mem_emergency(void);
/* How many times the reserve has been spent since start-up. Thread-safe. */
uint64_t ctx_mem_emergencies(void);
/* Test hook: in the n-th allocation from now through ctx_try_* (1 = the next), malloc's first
 * answer is a refusal, so the reserve is spent as on real exhaustion (and without a reserve the
 * allocation fails); 0 turns it off. Thread-safe. */
void ctx_alloc_fail_at(long n);

/* qsort, memcpy, memmove, memcmp and memset declare their pointers nonnull even for a count of 0
 * (C11 7.24.1), and an empty array is often NULL; these take (NULL, 0) and do nothing then. Use
 * them wherever the pointer can be NULL. */
static inline void ctx_qsort(void *base, size_t n, size_t size,
                             int (*cmp)(const void *, const void *)) {
    if (n > 1) {
        qsort(base, n, size, cmp);
    }
}
static inline void ctx_memcpy(void *dst, const void *src, size_t n) {
    if (n > 0) {
        memcpy(dst, src, n);
    }
}
static inline void ctx_memmove(void *dst, const void *src, size_t n) {
    if (n > 0) {
        memmove(dst, src, n);
    }
}
static inline int ctx_memcmp(const void *a, const void *b, size_t n) {
    return n > 0 ? memcmp(a, b, n) : 0;
}
static inline void ctx_memset(void *dst, int c, size_t n) {
    if (n > 0) {
        memset(dst, c, n);
    }
}

#endif

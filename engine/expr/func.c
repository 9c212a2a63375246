/*
 * func.c — the scalar function library: one table row per function name with its arity,
 * argument signature, result type and implementation.
 *
 * The signature is a string with one letter per argument (the last letter repeats for variadic
 * functions): T text, I integer (int4/int8), N any numeric (result may follow it), F numeric read
 * as float8, J jsonb, V vector, B boolean, A any type. An untyped literal argument is parsed as the
 * letter's type (A: text), so lower('X') and vector_dims('[1,2]') work as in PostgreSQL; any other
 * mismatch is PostgreSQL's 42883 "function lower(integer) does not exist" with its hint.
 * COALESCE, GREATEST, LEAST and NULLIF unify their argument types as CASE does.
 *
 * Strict functions (most) return NULL when an argument is NULL without being called. Text
 * functions count characters in UTF-8 (length, substr, left, right); lower/upper fold ASCII.
 * now() reads the real clock: determinism applies to stored state, and now() is not stored
 * unless a client writes its text.
 */
#include "eval_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum {
    RET_ARG0 = -1,  /* the first argument's type */
    RET_UNIFY = -2, /* the unified type of all arguments */
    RET_ROUND = -3, /* round(int) → int, else float8 */
    RET_SRF = -4,   /* set-returning: type from the arguments (see srf_type) */
    ARGS_VARIADIC = -1,
    FUNC_ARGS_INLINE = 8,
};

typedef struct func_def {
    const char *name;
    int nargs_min;
    int nargs_max; /* ARGS_VARIADIC: last signature letter repeats */
    const char *sig;
    int ret; /* ctype_t or RET_* */
    bool strict;
    eval_func_fn fn;
} func_def_t;

/* ---- helpers ---------------------------------------------------------------------------- */

static value_t text_value(arena_t *arena, const char *s, size_t len) {
    return value_text(arena_strndup(arena, s, len), (uint32_t)len);
}

static value_t cstr_value(const char *s) {
    return value_text(s, (uint32_t)strlen(s));
}

static json_slice_t text_of(const value_t *v, const eval_ctx_t *ctx) {
    json_slice_t s;
    eval_text_of(v, ctx->arena, &s);
    return s;
}

static uint32_t utf8_chars(const char *s, uint32_t len) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len; i++) {
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return n;
}

/* Byte offset of character k (0-based, clamped to len). */
static uint32_t utf8_offset(const char *s, uint32_t len, int64_t k) {
    uint32_t i = 0;
    for (; i < len && k > 0; k--) {
        for (i++; i < len && ((unsigned char)s[i] & 0xC0) == 0x80; i++) {
        }
    }
    return i;
}

/* Characters [from, to) (0-based, clamped) of a text value. */
static value_t text_slice(const eval_ctx_t *ctx, json_slice_t s, int64_t from, int64_t to) {
    uint32_t n = utf8_chars(s.ptr, s.len);
    from = from < 0 ? 0 : from;
    to = to > (int64_t)n ? (int64_t)n : to;
    if (to <= from) {
        return value_text("", 0);
    }
    uint32_t a = utf8_offset(s.ptr, s.len, from);
    uint32_t b = utf8_offset(s.ptr, s.len, to);
    return text_value(ctx->arena, s.ptr + a, b - a);
}

static double num_of(const value_t *v) {
    return v->kind == VAL_INT ? (double)v->u.i : v->u.f;
}

/* ---- session information ---------------------------------------------------------------- */

static int f_version(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                     ctx_err_t *err) {
    (void)e, (void)a, (void)err;
    const char *v = ctx->env != NULL ? ctx->env->server_version : NULL;
    *out = cstr_value(v != NULL ? v : "PostgreSQL 15.0 (ContextDB " CTX_VERSION ")");
    return 0;
}

static int f_session(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                     ctx_err_t *err) {
    (void)a, (void)err;
    const eval_env_t *env = ctx->env;
    const char *v = NULL;
    if (strcmp(e->name, "current_database") == 0 || strcmp(e->name, "current_catalog") == 0) {
        v = env != NULL && env->database != NULL ? env->database : "contextdb";
    } else if (strcmp(e->name, "current_schema") == 0) {
        v = "public";
    } else {
        v = env != NULL && env->user != NULL ? env->user : "contextdb";
    }
    *out = cstr_value(v);
    return 0;
}

static int f_current_setting(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                             ctx_err_t *err) {
    (void)e;
    const eval_env_t *env = ctx->env;
    const char *v = NULL;
    if (a[0].kind == VAL_NULL) {
        *out = value_null();
        return 0;
    }
    char *name = arena_strndup(ctx->arena, a[0].u.str.ptr, a[0].u.str.len);
    if (env != NULL && env->setting != NULL) {
        v = env->setting(env->session, name);
    }
    if (v != NULL) {
        *out = text_value(ctx->arena, v, strlen(v));
        return 0;
    }
    if (e->nargs > 1 && a[1].kind == VAL_BOOL && a[1].u.b) {
        *out = value_null();
        return 0;
    }
    return ctx_err_set(err, CTX_EUNDEF_OBJECT, "unrecognized configuration parameter \"%s\"", name);
}

static int f_now(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                 ctx_err_t *err) {
    (void)e, (void)a, (void)err;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char *s = arena_sprintf(ctx->arena, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00", tm.tm_year + 1900,
                            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                            (long)(ts.tv_nsec / 1000));
    *out = cstr_value(s);
    return 0;
}

/* ---- text ------------------------------------------------------------------------------- */

static int f_case(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                  ctx_err_t *err) {
    (void)err;
    bool upper = strcmp(e->name, "upper") == 0;
    char *s = arena_strndup(ctx->arena, a[0].u.str.ptr, a[0].u.str.len);
    for (uint32_t i = 0; i < a[0].u.str.len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            s[i] = (char)(upper ? toupper(c) : tolower(c));
        }
    }
    *out = value_text(s, a[0].u.str.len);
    return 0;
}

static int f_length(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                    ctx_err_t *err) {
    (void)ctx, (void)err;
    uint32_t n = strcmp(e->name, "octet_length") == 0 ? a[0].u.str.len
                                                      : utf8_chars(a[0].u.str.ptr, a[0].u.str.len);
    *out = value_int(n);
    return 0;
}

static int f_substr(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                    ctx_err_t *err) {
    json_slice_t s = {a[0].u.str.ptr, a[0].u.str.len};
    int64_t from = a[1].u.i - 1;
    int64_t to = INT64_MAX;
    if (e->nargs > 2) {
        if (a[2].u.i < 0) {
            return ctx_err_set(err, CTX_EDATA, "negative substring length not allowed");
        }
        to = from > INT64_MAX - a[2].u.i ? INT64_MAX : from + a[2].u.i;
    }
    *out = text_slice(ctx, s, from, to);
    return 0;
}

static int f_left_right(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                        ctx_err_t *err) {
    (void)err;
    json_slice_t s = {a[0].u.str.ptr, a[0].u.str.len};
    int64_t n = utf8_chars(s.ptr, s.len);
    int64_t k = a[1].u.i;
    if (strcmp(e->name, "left") == 0) {
        *out = text_slice(ctx, s, 0, k >= 0 ? k : n + k);
    } else {
        *out = text_slice(ctx, s, k >= 0 ? n - k : -k, n);
    }
    return 0;
}

static int f_replace(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                     ctx_err_t *err) {
    (void)e;
    const char *s = a[0].u.str.ptr;
    uint32_t len = a[0].u.str.len;
    uint32_t flen = a[1].u.str.len;
    buf_t b;
    if (flen == 0 || flen > len) {
        *out = a[0];
        return 0;
    }
    uint64_t matches = 0; /* the result's length is known before anything is built */
    for (uint32_t i = 0; i + flen <= len;) {
        bool hit = ctx_memcmp(s + i, a[1].u.str.ptr, flen) == 0;
        matches += hit;
        i += hit ? flen : 1;
    }
    if ((uint64_t)len - matches * flen + matches * a[2].u.str.len > EVAL_TEXT_BYTES_MAX) {
        return eval_text_too_long(err);
    }
    buf_init(&b);
    for (uint32_t i = 0; i < len;) {
        if (i + flen <= len && ctx_memcmp(s + i, a[1].u.str.ptr, flen) == 0) {
            buf_append(&b, a[2].u.str.ptr, a[2].u.str.len);
            i += flen;
        } else {
            buf_append_u8(&b, (uint8_t)s[i++]);
        }
    }
    *out = text_value(ctx->arena, (const char *)buf_peek(&b), buf_size(&b));
    buf_free(&b);
    return 0;
}

static int f_trim(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                  ctx_err_t *err) {
    (void)err;
    const char *set = e->nargs > 1 ? a[1].u.str.ptr : " ";
    uint32_t set_len = e->nargs > 1 ? a[1].u.str.len : 1;
    const char *s = a[0].u.str.ptr;
    uint32_t lo = 0;
    uint32_t hi = a[0].u.str.len;
    bool left = strcmp(e->name, "rtrim") != 0;
    bool right = strcmp(e->name, "ltrim") != 0;
    while (left && lo < hi && set_len > 0 && memchr(set, s[lo], set_len) != NULL) {
        lo++;
    }
    while (right && hi > lo && set_len > 0 && memchr(set, s[hi - 1], set_len) != NULL) {
        hi--;
    }
    (void)ctx;
    *out = value_text(s + lo, hi - lo);
    return 0;
}

static int f_concat(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                    ctx_err_t *err) {
    (void)err;
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < e->nargs; i++) {
        if (a[i].kind != VAL_NULL) {
            json_slice_t s = text_of(&a[i], ctx);
            buf_append(&b, s.ptr, s.len);
        }
    }
    *out = text_value(ctx->arena, (const char *)buf_peek(&b), buf_size(&b));
    buf_free(&b);
    return 0;
}

/* ---- math ------------------------------------------------------------------------------- */

static int f_abs(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                 ctx_err_t *err) {
    (void)ctx;
    if (a[0].kind == VAL_FLOAT) {
        *out = value_float(fabs(a[0].u.f));
        return 0;
    }
    if (a[0].u.i == INT64_MIN || (e->type == CT_INT4 && a[0].u.i == INT32_MIN)) {
        return ctx_err_set(err, CTX_ERANGE, "%s out of range",
                           e->type == CT_INT4 ? "integer" : "bigint");
    }
    *out = value_int(a[0].u.i < 0 ? -a[0].u.i : a[0].u.i);
    return 0;
}

static int f_round(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                   ctx_err_t *err) {
    (void)ctx, (void)err;
    if (e->type != CT_FLOAT8) {
        *out = a[0];
        return 0;
    }
    double x = num_of(&a[0]);
    if (e->nargs > 1 && isfinite(x)) {
        int64_t n = a[1].u.i < -400 ? -400 : (a[1].u.i > 400 ? 400 : a[1].u.i);
        double scale = pow(10.0, (double)n);
        double r = round(x * scale) / scale;
        *out = value_float(isfinite(r) ? r : x);
        return 0;
    }
    *out = value_float(round(x));
    return 0;
}

static int f_floor_ceil(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                        ctx_err_t *err) {
    (void)ctx, (void)err;
    if (a[0].kind == VAL_INT) {
        *out = a[0];
        return 0;
    }
    *out = value_float(strcmp(e->name, "floor") == 0 ? floor(a[0].u.f) : ceil(a[0].u.f));
    return 0;
}

/* pg_sleep(seconds): sleeps in slices of at most 10 ms and stops with 57014 as soon as the
 * statement's cancel flag is set (CancelRequest, statement_timeout). Returns void (empty text). */
static int f_pg_sleep(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                      ctx_err_t *err) {
    (void)e;
    double seconds = num_of(&a[0]);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (ctx->env != NULL && ctx->env->cancel != NULL && atomic_load(ctx->env->cancel)) {
            return ctx_err_set(err, CTX_ECANCELED, "canceling statement due to user request");
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = seconds - ((double)(now.tv_sec - start.tv_sec) +
                                 (double)(now.tv_nsec - start.tv_nsec) / 1e9);
        if (!(left > 0)) {
            break;
        }
        double slice = left < 0.01 ? left : 0.01;
        struct timespec ts = {0, (long)(slice * 1e9)};
        nanosleep(&ts, NULL);
    }
    *out = value_text("", 0);
    return 0;
}

static int f_sqrt(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                  ctx_err_t *err) {
    (void)e, (void)ctx;
    double x = num_of(&a[0]);
    if (x < 0) {
        return ctx_err_set(err, CTX_EDATA, "cannot take square root of a negative number");
    }
    *out = value_float(sqrt(x));
    return 0;
}

/* ---- conditional ------------------------------------------------------------------------ */

static int f_nullif(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                    ctx_err_t *err) {
    (void)e, (void)ctx, (void)err;
    bool same =
        a[0].kind != VAL_NULL && a[1].kind != VAL_NULL && eval_compare_values(&a[0], &a[1]) == 0;
    *out = same ? value_null() : a[0];
    return 0;
}

static int f_greatest(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                      ctx_err_t *err) {
    (void)ctx, (void)err;
    int sign = strcmp(e->name, "greatest") == 0 ? 1 : -1;
    *out = value_null();
    for (int i = 0; i < e->nargs; i++) {
        if (a[i].kind == VAL_NULL) {
            continue;
        }
        if (out->kind == VAL_NULL || sign * eval_compare_values(&a[i], out) > 0) {
            *out = a[i];
        }
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static int f_jsonb_typeof(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    (void)e, (void)ctx, (void)err;
    *out = cstr_value(jsonb_typeof((json_slice_t){a[0].u.str.ptr, a[0].u.str.len}));
    return 0;
}

static int f_jsonb_array_length(const expr_t *e, const value_t *a, const eval_ctx_t *ctx,
                                value_t *out, ctx_err_t *err) {
    (void)e, (void)ctx;
    json_slice_t doc = {a[0].u.str.ptr, a[0].u.str.len};
    int64_t n = json_array_length(doc);
    if (n < 0) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "cannot get array length of a %s",
                           doc.ptr[0] == '{' ? "non-array" : "scalar");
    }
    *out = value_int(n);
    return 0;
}

static void json_append_value(buf_t *b, const value_t *v, const eval_ctx_t *ctx) {
    json_slice_t s;
    switch (v->kind) {
    case VAL_NULL:
        json_append_raw(b, "null");
        return;
    case VAL_BOOL:
        json_append_raw(b, v->u.b ? "true" : "false");
        return;
    case VAL_JSON:
        buf_append(b, v->u.str.ptr, v->u.str.len);
        return;
    case VAL_INT:
        s = text_of(v, ctx);
        buf_append(b, s.ptr, s.len);
        return;
    case VAL_VECTOR: /* its text form is a JSON array of numbers */
        s = text_of(v, ctx);
        buf_append(b, s.ptr, s.len);
        return;
    case VAL_FLOAT:
        s = text_of(v, ctx);
        if (isfinite(v->u.f)) {
            buf_append(b, s.ptr, s.len);
        } else {
            json_append_string(b, s.ptr, s.len);
        }
        return;
    default:
        s = text_of(v, ctx);
        json_append_string(b, s.ptr, s.len);
        return;
    }
}

static int f_jsonb_build_object(const expr_t *e, const value_t *a, const eval_ctx_t *ctx,
                                value_t *out, ctx_err_t *err) {
    buf_t b;
    int rc = 0;
    if (e->nargs % 2 != 0) {
        rc = ctx_err_set(err, CTX_EBAD_PARAM, "argument list must have even number of elements");
        ctx_err_hint(err, "The arguments of %s() must consist of alternating keys and values.",
                     e->name);
        return rc;
    }
    buf_init(&b);
    buf_append_u8(&b, '{');
    for (int i = 0; i < e->nargs; i += 2) {
        if (a[i].kind == VAL_NULL) {
            rc = ctx_err_set(err, CTX_EDATA, "argument %d: key must not be null", i + 1);
            goto done;
        }
        json_slice_t key = text_of(&a[i], ctx);
        json_append_raw(&b, i > 0 ? ", " : "");
        json_append_string(&b, key.ptr, key.len);
        json_append_raw(&b, ": ");
        json_append_value(&b, &a[i + 1], ctx);
    }
    buf_append_u8(&b, '}');
    rc = value_json_canonical((const char *)buf_peek(&b), (uint32_t)buf_size(&b), ctx->arena, out,
                              err);
done:
    buf_free(&b);
    return rc;
}

int eval_to_json(const value_t *v, const eval_ctx_t *ctx, value_t *out, ctx_err_t *err) {
    buf_t b;
    buf_init(&b);
    json_append_value(&b, v, ctx);
    int rc = value_json_canonical((const char *)buf_peek(&b), (uint32_t)buf_size(&b), ctx->arena,
                                  out, err);
    buf_free(&b);
    return rc;
}

/* to_json / to_jsonb (eval_to_json). json results are jsonb's canonical text here. */
static int f_to_json(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                     ctx_err_t *err) {
    (void)e;
    return eval_to_json(&a[0], ctx, out, err);
}

/* ---- vectors ---------------------------------------------------------------------------- */

static int f_vector_dims(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                         ctx_err_t *err) {
    (void)e, (void)ctx, (void)err;
    *out = value_int(a[0].u.vec.dim);
    return 0;
}

static int f_vector_norm(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                         ctx_err_t *err) {
    (void)e, (void)ctx, (void)err;
    double sum = 0;
    for (uint32_t i = 0; i < a[0].u.vec.dim; i++) {
        sum += (double)a[0].u.vec.data[i] * a[0].u.vec.data[i];
    }
    *out = value_float(sqrt(sum));
    return 0;
}

static int f_distance(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                      ctx_err_t *err) {
    (void)ctx;
    const char *n = e->name;
    metric_t m = strcmp(n, "l2_distance") == 0 ? METRIC_L2
                 : (strcmp(n, "cosine_distance") == 0 || strcmp(n, "cosine_similarity") == 0)
                     ? METRIC_COSINE
                     : METRIC_INNER;
    double d = 0;
    int rc = eval_vector_distance(m, &a[0], &a[1], &d, err);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(n, "inner_product") == 0) {
        d = -d;
    } else if (strcmp(n, "cosine_similarity") == 0) {
        d = 1.0 - d;
    }
    *out = value_float(d);
    return 0;
}

/* ---- arrays and identifiers ------------------------------------------------------------ */

static int split_arg(const value_t *v, const eval_ctx_t *ctx, const char ***elems, int *n,
                     ctx_err_t *err) {
    return value_array_split(v->u.str.ptr, v->u.str.len, ctx->arena, elems, n, err);
}

static int f_array_to_string(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                             ctx_err_t *err) {
    const char **elems;
    int n;
    int rc = split_arg(&a[0], ctx, &elems, &n, err);
    if (rc != 0) {
        return rc;
    }
    buf_t b;
    buf_init(&b);
    bool first = true;
    for (int i = 0; i < n; i++) {
        const char *el = elems[i];
        if (el == NULL && (e->nargs < 3 || a[2].kind == VAL_NULL)) {
            continue;
        }
        if (!first) {
            buf_append(&b, a[1].u.str.ptr, a[1].u.str.len);
        }
        first = false;
        if (el == NULL) {
            buf_append(&b, a[2].u.str.ptr, a[2].u.str.len);
        } else {
            buf_append(&b, el, strlen(el));
        }
    }
    *out = text_value(ctx->arena, (const char *)buf_peek(&b), buf_size(&b));
    buf_free(&b);
    return 0;
}

static int f_string_to_array(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                             ctx_err_t *err) {
    (void)e, (void)err;
    json_slice_t s = {a[0].u.str.ptr, a[0].u.str.len};
    const char **elems = arena_alloc(ctx->arena, sizeof(char *) * ((size_t)s.len + 2));
    int n = 0;
    uint32_t start = 0;
    uint32_t dlen = a[1].kind == VAL_NULL ? 0 : a[1].u.str.len;
    for (uint32_t i = 0; s.len > 0 && i <= s.len; i++) {
        bool at_end = i == s.len;
        bool at_delim =
            dlen == 0 ? !at_end
                      : (i + dlen <= s.len && ctx_memcmp(s.ptr + i, a[1].u.str.ptr, dlen) == 0);
        if (at_end || (at_delim && dlen > 0)) {
            elems[n++] = arena_strndup(ctx->arena, s.ptr + start, i - start);
            start = i + dlen;
            i += dlen > 0 ? dlen - 1 : 0;
        } else if (dlen == 0) {
            elems[n++] = arena_strndup(ctx->arena, s.ptr + i, 1);
            start = i + 1;
        }
    }
    *out = value_array_build(elems, n, ctx->arena);
    return 0;
}

/* array_remove(array, x): the array without the elements equal to x (NULL removes NULLs). */
static int f_array_remove(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    (void)e;
    if (a[0].kind == VAL_NULL) {
        *out = value_null();
        return 0;
    }
    const char **elems;
    int n;
    int rc = split_arg(&a[0], ctx, &elems, &n, err);
    if (rc != 0) {
        return rc;
    }
    uint32_t len = 0;
    const char *x = a[1].kind == VAL_NULL ? NULL : value_to_text(&a[1], ctx->arena, &len);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        bool match = x == NULL ? elems[i] == NULL : elems[i] != NULL && strcmp(elems[i], x) == 0;
        if (!match) {
            elems[kept++] = elems[i];
        }
    }
    *out = value_array_build(elems, kept, ctx->arena);
    return 0;
}

static int f_array_bounds(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    const char **elems;
    int n;
    int rc = split_arg(&a[0], ctx, &elems, &n, err);
    if (rc != 0) {
        return rc;
    }
    bool dim1 = e->nargs < 2 || a[1].u.i == 1;
    if (n == 0 || !dim1) {
        *out = strcmp(e->name, "cardinality") == 0 ? value_int(0) : value_null();
        return 0;
    }
    int lower = ctype_array_lower(e->args[0]->type); /* int2vector / oidvector: 0 */
    if (strcmp(e->name, "array_lower") == 0 || strcmp(e->name, "array_upper") == 0) {
        *out = value_int(strcmp(e->name, "array_lower") == 0 ? lower : lower + n - 1);
        return 0;
    }
    *out = value_int(n);
    return 0;
}

static bool ident_needs_quotes(const char *s, uint32_t len) {
    if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
        return true;
    }
    for (uint32_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return true;
        }
    }
    return false;
}

static int f_quote_ident(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                         ctx_err_t *err) {
    (void)err;
    bool literal = strcmp(e->name, "quote_literal") == 0;
    json_slice_t s = text_of(&a[0], ctx);
    char q = literal ? '\'' : '"';
    if (!literal && !ident_needs_quotes(s.ptr, s.len)) {
        *out = a[0];
        return 0;
    }
    buf_t b;
    buf_init(&b);
    buf_append_u8(&b, (uint8_t)q);
    for (uint32_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == q) {
            buf_append_u8(&b, (uint8_t)q);
        }
        buf_append_u8(&b, (uint8_t)s.ptr[i]);
    }
    buf_append_u8(&b, (uint8_t)q);
    *out = text_value(ctx->arena, (const char *)buf_peek(&b), buf_size(&b));
    buf_free(&b);
    return 0;
}

/* parse_ident('a."B".c') → {a,B,c}: unquoted parts fold to lower case. */
static int f_parse_ident(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                         ctx_err_t *err) {
    (void)e;
    const char *s = a[0].u.str.ptr;
    uint32_t len = a[0].u.str.len;
    const char **parts = arena_alloc(ctx->arena, sizeof(char *) * ((size_t)len + 1));
    int n = 0;
    for (uint32_t i = 0; i <= len;) {
        buf_t b;
        buf_init(&b);
        if (i < len && s[i] == '"') {
            for (i++; i < len && !(s[i] == '"' && (i + 1 >= len || s[i + 1] != '"')); i++) {
                i += s[i] == '"' ? 1 : 0;
                buf_append_u8(&b, (uint8_t)s[i]);
            }
            i++;
        } else {
            for (; i < len && s[i] != '.'; i++) {
                buf_append_u8(&b, (uint8_t)tolower((unsigned char)s[i]));
            }
        }
        parts[n++] = arena_strndup(ctx->arena, (const char *)buf_peek(&b), buf_size(&b));
        buf_free(&b);
        if (i < len && s[i] != '.') {
            return ctx_err_set(err, CTX_EBAD_PARAM, "string is not a valid identifier: \"%.*s\"",
                               (int)len, s);
        }
        i++;
    }
    *out = value_array_build(parts, n, ctx->arena);
    return 0;
}

static int f_current_schemas(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                             ctx_err_t *err) {
    (void)e, (void)err;
    static const char *const implicit[] = {"pg_catalog", "public"};
    *out = value_array_build(a[0].u.b ? implicit : implicit + 1, a[0].u.b ? 2 : 1, ctx->arena);
    return 0;
}

static int f_encoding(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                      ctx_err_t *err) {
    (void)a, (void)ctx, (void)err;
    if (strcmp(e->name, "pg_char_to_encoding") == 0) {
        *out = value_int(6);
        return 0;
    }
    *out = cstr_value(a[0].u.i == 6 ? "UTF8" : (a[0].u.i == 0 ? "SQL_ASCII" : ""));
    return 0;
}

static int f_const_bool(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                        ctx_err_t *err) {
    (void)a, (void)ctx, (void)err;
    /* privilege checks: one superuser-like role owns everything; visibility: one schema */
    *out = value_bool(strstr(e->name, "publishable") == NULL &&
                      strstr(e->name, "in_recovery") == NULL);
    return 0;
}

static int f_srf_ordinality(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                            ctx_err_t *err) {
    (void)e, (void)a, (void)err;
    *out = value_int(ctx->srf_index + 1);
    return 0;
}

/* ---- table ------------------------------------------------------------------------------ */

static const func_def_t FUNCS[] = {
    {"version", 0, 0, "", CT_TEXT, true, f_version},
    {"current_database", 0, 0, "", CT_TEXT, true, f_session},
    {"current_catalog", 0, 0, "", CT_TEXT, true, f_session},
    {"current_schema", 0, 0, "", CT_TEXT, true, f_session},
    {"current_user", 0, 0, "", CT_TEXT, true, f_session},
    {"session_user", 0, 0, "", CT_TEXT, true, f_session},
    {"current_role", 0, 0, "", CT_TEXT, true, f_session},
    {"user", 0, 0, "", CT_TEXT, true, f_session},
    {"current_setting", 1, 2, "TB", CT_TEXT, false, f_current_setting},
    {"now", 0, 0, "", CT_TEXT, true, f_now},
    {"current_timestamp", 0, 0, "", CT_TEXT, true, f_now},
    {"statement_timestamp", 0, 0, "", CT_TEXT, true, f_now},
    {"transaction_timestamp", 0, 0, "", CT_TEXT, true, f_now},
    {"lower", 1, 1, "T", CT_TEXT, true, f_case},
    {"upper", 1, 1, "T", CT_TEXT, true, f_case},
    {"length", 1, 1, "T", CT_INT4, true, f_length},
    {"char_length", 1, 1, "T", CT_INT4, true, f_length},
    {"character_length", 1, 1, "T", CT_INT4, true, f_length},
    {"octet_length", 1, 1, "T", CT_INT4, true, f_length},
    {"substr", 2, 3, "TII", CT_TEXT, true, f_substr},
    {"substring", 2, 3, "TII", CT_TEXT, true, f_substr},
    {"left", 2, 2, "TI", CT_TEXT, true, f_left_right},
    {"right", 2, 2, "TI", CT_TEXT, true, f_left_right},
    {"replace", 3, 3, "TTT", CT_TEXT, true, f_replace},
    {"trim", 1, 2, "TT", CT_TEXT, true, f_trim},
    {"btrim", 1, 2, "TT", CT_TEXT, true, f_trim},
    {"ltrim", 1, 2, "TT", CT_TEXT, true, f_trim},
    {"rtrim", 1, 2, "TT", CT_TEXT, true, f_trim},
    {"concat", 0, ARGS_VARIADIC, "A", CT_TEXT, false, f_concat},
    {"abs", 1, 1, "N", RET_ARG0, true, f_abs},
    {"round", 1, 2, "NI", RET_ROUND, true, f_round},
    {"floor", 1, 1, "N", RET_ARG0, true, f_floor_ceil},
    {"ceil", 1, 1, "N", RET_ARG0, true, f_floor_ceil},
    {"ceiling", 1, 1, "N", RET_ARG0, true, f_floor_ceil},
    {"sqrt", 1, 1, "F", CT_FLOAT8, true, f_sqrt},
    {"pg_sleep", 1, 1, "F", CT_TEXT, true, f_pg_sleep},
    {"coalesce", 1, ARGS_VARIADIC, "A", RET_UNIFY, false, NULL},
    {"nullif", 2, 2, "AA", RET_ARG0, false, f_nullif},
    {"greatest", 1, ARGS_VARIADIC, "A", RET_UNIFY, false, f_greatest},
    {"least", 1, ARGS_VARIADIC, "A", RET_UNIFY, false, f_greatest},
    {"jsonb_typeof", 1, 1, "J", CT_TEXT, true, f_jsonb_typeof},
    {"jsonb_array_length", 1, 1, "J", CT_INT4, true, f_jsonb_array_length},
    {"jsonb_build_object", 0, ARGS_VARIADIC, "A", CT_JSONB, false, f_jsonb_build_object},
    {"json_build_object", 0, ARGS_VARIADIC, "A", CT_JSONB, false, f_jsonb_build_object},
    {"to_json", 1, 1, "A", CT_JSONB, true, f_to_json},
    {"to_jsonb", 1, 1, "A", CT_JSONB, true, f_to_json},
    {"vector_dims", 1, 1, "V", CT_INT4, true, f_vector_dims},
    {"vector_norm", 1, 1, "V", CT_FLOAT8, true, f_vector_norm},
    {"l2_norm", 1, 1, "V", CT_FLOAT8, true, f_vector_norm},
    {"l2_distance", 2, 2, "VV", CT_FLOAT8, true, f_distance},
    {"cosine_distance", 2, 2, "VV", CT_FLOAT8, true, f_distance},
    {"inner_product", 2, 2, "VV", CT_FLOAT8, true, f_distance},
    {"negative_inner_product", 2, 2, "VV", CT_FLOAT8, true, f_distance},
    {"cosine_similarity", 2, 2, "VV", CT_FLOAT8, true, f_distance},
    {"array_to_string", 2, 3, "RTT", CT_TEXT, true, f_array_to_string},
    {"string_to_array", 2, 2, "TT", CT_TEXT_ARRAY, false, f_string_to_array},
    {"array_remove", 2, 2, "RA", RET_ARG0, false, f_array_remove},
    {"array_upper", 2, 2, "RI", CT_INT4, true, f_array_bounds},
    {"array_lower", 2, 2, "RI", CT_INT4, true, f_array_bounds},
    {"array_length", 2, 2, "RI", CT_INT4, true, f_array_bounds},
    {"cardinality", 1, 1, "R", CT_INT4, true, f_array_bounds},
    {"quote_ident", 1, 1, "T", CT_TEXT, true, f_quote_ident},
    {"quote_literal", 1, 1, "A", CT_TEXT, true, f_quote_ident},
    {"parse_ident", 1, 2, "TB", CT_TEXT_ARRAY, true, f_parse_ident},
    {"current_schemas", 1, 1, "B", CT_TEXT_ARRAY, true, f_current_schemas},
    {"pg_encoding_to_char", 1, 1, "O", CT_NAME, true, f_encoding},
    {"pg_char_to_encoding", 1, 1, "T", CT_INT4, true, f_encoding},
    {"has_table_privilege", 2, 3, "AAA", CT_BOOL, true, f_const_bool},
    {"has_schema_privilege", 2, 3, "AAA", CT_BOOL, true, f_const_bool},
    {"has_database_privilege", 2, 3, "AAA", CT_BOOL, true, f_const_bool},
    {"has_any_column_privilege", 2, 3, "AAA", CT_BOOL, true, f_const_bool},
    {"has_column_privilege", 3, 4, "AAAA", CT_BOOL, true, f_const_bool},
    {"has_function_privilege", 2, 3, "AAA", CT_BOOL, true, f_const_bool},
    {"has_sequence_privilege", 2, 3, "AAA", CT_BOOL, true, f_const_bool},
    {"pg_has_role", 2, 3, "AAA", CT_BOOL, true, f_const_bool},
    {"pg_table_is_visible", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_type_is_visible", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_function_is_visible", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_operator_is_visible", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_opclass_is_visible", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_collation_is_visible", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_conversion_is_visible", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_ts_config_is_visible", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_relation_is_publishable", 1, 1, "O", CT_BOOL, true, f_const_bool},
    {"pg_is_in_recovery", 0, 0, "", CT_BOOL, true, f_const_bool},
    {"unnest", 1, 1, "R", RET_SRF, true, eval_srf},
    {"__srf_ordinality", 0, 0, "", CT_INT8, false, f_srf_ordinality},
    {"generate_series", 2, 3, "III", RET_SRF, true, eval_srf},
    {"generate_subscripts", 2, 3, "RIB", RET_SRF, true, eval_srf},
    {"_pg_expandarray", 1, 1, "R", RET_SRF, true, eval_srf},
    {"pg_partition_ancestors", 1, 1, "O", RET_SRF, true, eval_srf},
};

/* Built-in first, then the environment's extra functions (copied into *tmp). */
static const func_def_t *func_lookup(const char *name, const eval_env_t *env, func_def_t *tmp) {
    for (size_t i = 0; i < sizeof(FUNCS) / sizeof(FUNCS[0]); i++) {
        if (strcmp(FUNCS[i].name, name) == 0) {
            return &FUNCS[i];
        }
    }
    for (int i = 0; env != NULL && i < env->next_funcs; i++) {
        const eval_func_ext_t *x = &env->ext_funcs[i];
        if (strcmp(x->name, name) == 0) {
            *tmp = (func_def_t){x->name,     x->nargs_min, x->nargs_max, x->sig,
                                (int)x->ret, x->strict,    x->fn};
            return tmp;
        }
    }
    return NULL;
}

static ctype_t srf_type(const expr_t *e) {
    if (strcmp(e->name, "generate_series") == 0) {
        return e->args[0]->type == CT_INT8 || e->args[1]->type == CT_INT8 ? CT_INT8 : CT_INT4;
    }
    if (strcmp(e->name, "generate_subscripts") == 0) {
        return CT_INT4;
    }
    if (strcmp(e->name, "_pg_expandarray") == 0) {
        return CT_RECORD;
    }
    if (strcmp(e->name, "pg_partition_ancestors") == 0) {
        return CT_REGCLASS;
    }
    return ctype_array_elem(e->args[0]->type);
}

static char sig_letter(const func_def_t *f, int i) {
    size_t n = strlen(f->sig);
    CTX_ASSERT(n > 0);
    return f->sig[(size_t)i < n ? (size_t)i : n - 1];
}

static ctype_t letter_type(char c) {
    switch (c) {
    case 'I':
        return CT_INT4;
    case 'N':
    case 'F':
        return CT_FLOAT8;
    case 'J':
        return CT_JSONB;
    case 'V':
        return CT_VECTOR;
    case 'B':
        return CT_BOOL;
    case 'O':
        return CT_OID;
    case 'C':
        return CT_REGCLASS;
    case 'R':
        return CT_TEXT_ARRAY;
    default:
        return CT_TEXT;
    }
}

static bool letter_accepts(char c, ctype_t t) {
    switch (c) {
    case 'A':
        return true;
    case 'I':
        return t == CT_INT4 || t == CT_INT8;
    case 'N':
    case 'F':
        return ctype_is_numeric(t);
    case 'O':
    case 'C':
        return ctype_is_integer(t);
    case 'R':
        return ctype_is_array(t);
    case 'T':
        return ctype_is_textual(t);
    default:
        return t == letter_type(c);
    }
}

int bind_func_not_found(const expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    char sig[256];
    size_t n = 0;
    sig[0] = '\0';
    for (int i = 0; i < e->nargs && n < sizeof(sig) - 40; i++) {
        n += (size_t)snprintf(sig + n, sizeof(sig) - n, "%s%s", i > 0 ? ", " : "",
                              value_type_sql_name(e->args[i]->type));
    }
    int rc = ctx_err_set(err, CTX_EUNDEF_FUNCTION, "function %s(%s) does not exist", e->name, sig);
    ctx_err_hint(err, "No function matches the given name and argument types. You might need to "
                      "add explicit type casts.");
    eval_set_position(err, ctx->query_text, e->location);
    return rc;
}

int bind_func_scalar(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    func_def_t tmp;
    const func_def_t *f = func_lookup(e->name, ctx->env, &tmp);
    int rc = 0;
    CTX_ASSERT(e->kind == EXPR_FUNC);
    if (f == NULL || e->star || e->nargs < f->nargs_min ||
        (f->nargs_max != ARGS_VARIADIC && e->nargs > f->nargs_max)) {
        return bind_func_not_found(e, ctx, err);
    }
    if (f->ret == RET_UNIFY || f->fn == f_nullif) {
        rc = bind_unify(e->args, e->nargs, f->fn == f_nullif ? "NULLIF" : e->name, ctx, &e->type,
                        err);
        return rc;
    }
    for (int i = 0; i < e->nargs; i++) {
        expr_t *arg = e->args[i];
        char c = sig_letter(f, i);
        if (arg->type == CT_UNKNOWN) {
            rc = bind_coerce_unknown(arg, letter_type(c), ctx, err);
            if (rc != 0) {
                return rc;
            }
        }
        if (!letter_accepts(c, arg->type)) {
            return bind_func_not_found(e, ctx, err);
        }
    }
    if (f->ret == RET_ARG0) {
        e->type = e->args[0]->type;
    } else if (f->ret == RET_SRF) {
        e->srf = true;
        e->type = srf_type(e);
    } else if (f->ret == RET_ROUND) {
        e->type = e->nargs == 1 && e->args[0]->type != CT_FLOAT8 ? e->args[0]->type : CT_FLOAT8;
    } else {
        e->type = (ctype_t)f->ret;
    }
    return 0;
}

static int eval_coalesce(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                         ctx_err_t *err) {
    for (int i = 0; i < e->nargs; i++) {
        int rc = eval_expr(e->args[i], row, ctx, out, err);
        if (rc != 0 || out->kind != VAL_NULL) {
            return rc;
        }
    }
    *out = value_null();
    return 0;
}

int eval_func_scalar(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                     ctx_err_t *err) {
    func_def_t tmp;
    const func_def_t *f = func_lookup(e->name, ctx->env, &tmp);
    value_t inline_args[FUNC_ARGS_INLINE];
    value_t *args = inline_args;
    int rc = 0;
    if (f == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_FUNCTION, "function %s does not exist", e->name);
    }
    if (f->fn == NULL) {
        return eval_coalesce(e, row, ctx, out, err);
    }
    if (e->nargs > FUNC_ARGS_INLINE) {
        args = arena_alloc(ctx->arena, sizeof(value_t) * (size_t)e->nargs);
    }
    for (int i = 0; i < e->nargs; i++) {
        rc = eval_expr(e->args[i], row, ctx, &args[i], err);
        if (rc != 0) {
            return rc;
        }
        if (f->strict && args[i].kind == VAL_NULL) {
            *out = value_null();
            return 0;
        }
    }
    return f->fn(e, args, ctx, out, err); /* run-time errors carry no position, as in PG */
}

/*
 * eval_array.c — evaluation of the compound expression forms catalog queries need: subqueries
 * (through the executor's callback), ARRAY[…], op ANY/ALL (array), subscripts, record fields, POSIX
 * regular expressions, IS [NOT] DISTINCT FROM, bitwise & and |, and the set-returning functions of
 * a select list (unnest, generate_series, _pg_expandarray, pg_partition_ancestors).
 *
 * Arrays are values of an array type holding PostgreSQL's text form ("{a,b}"), so output needs
 * no conversion; operations split the text (value_array_split) when they need elements. That is
 * slower than a binary array but arrays here are catalog-sized.
 *
 * Regular expressions: PostgreSQL's ARE syntax is translated to POSIX ERE for regcomp
 * (REG_EXTENDED | REG_NOSUB): the class escapes \d \s \w (and negations) become bracket
 * expressions, other backslash escapes of punctuation stay. Compiled patterns are cached per
 * statement in eval_ctx_t.regex_cache (freed by eval_regex_cache_free when the statement ends);
 * without a cache a pattern is compiled and freed per call.
 *
 * Set-returning functions evaluate to element eval_ctx_t.srf_index of their set (NULL past its
 * end) and report the set's size through srf_rows; the projection repeats the row for each index.
 */
#include "eval_int.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

enum { REGEX_PATTERN_BYTES_MAX = 65536 };

typedef struct regex_entry {
    struct regex_entry *next;
    char *pattern;
    bool icase;
    regex_t re;
} regex_entry_t;

void eval_regex_cache_free(void **cache) {
    if (cache == NULL) {
        return;
    }
    regex_entry_t *e = *cache;
    while (e != NULL) {
        regex_entry_t *next = e->next;
        regfree(&e->re);
        free(e->pattern);
        free(e);
        e = next;
    }
    *cache = NULL;
}

/* PostgreSQL ARE → POSIX ERE (the subset clients send). Returns 0 or CTX_EBAD_LITERAL. */
static int regex_translate(const char *p, uint32_t len, buf_t *out) {
    for (uint32_t i = 0; i < len; i++) {
        char c = p[i];
        if (c != '\\' || i + 1 == len) {
            buf_append_u8(out, (uint8_t)c);
            continue;
        }
        char n = p[++i];
        const char *cls = NULL;
        switch (n) {
        case 'd':
            cls = "[[:digit:]]";
            break;
        case 'D':
            cls = "[^[:digit:]]";
            break;
        case 's':
            cls = "[[:space:]]";
            break;
        case 'S':
            cls = "[^[:space:]]";
            break;
        case 'w':
            cls = "[[:alnum:]_]";
            break;
        case 'W':
            cls = "[^[:alnum:]_]";
            break;
        default:
            break;
        }
        if (cls != NULL) {
            buf_append(out, cls, strlen(cls));
        } else {
            buf_append_u8(out, '\\');
            buf_append_u8(out, (uint8_t)n);
        }
    }
    buf_append_u8(out, '\0');
    return 0;
}

enum { REGEX_WEIGHT_MAX = 100000, REGEX_NEST_MAX = 64, REGEX_DUP_MAX = 255 };

/* Index just past the bracket expression that starts at p[i] == '[' (POSIX classes inside). */
static size_t regex_skip_bracket(const char *p, size_t i, size_t n) {
    i++;
    if (i < n && p[i] == '^') {
        i++;
    }
    if (i < n && p[i] == ']') {
        i++;
    }
    while (i < n && p[i] != ']') {
        if (p[i] == '[' && i + 1 < n && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
            char close = p[i + 1];
            i += 2;
            while (i + 1 < n && !(p[i] == close && p[i + 1] == ']')) {
                i++;
            }
            i += 2;
            continue;
        }
        i++;
    }
    return i < n ? i + 1 : n;
}

/* The largest count of a {m} / {m,} / {m,n} bound at p[i] == '{' (*end past it), or -1 when it
 * is not a bound. */
static long regex_bound(const char *p, size_t i, size_t n, size_t *end) {
    long best = -1, v = -1;
    for (i++; i < n && p[i] != '}'; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            v = (v < 0 ? 0 : v) * 10 + (p[i] - '0');
            v = v > 100000 ? 100000 : v;
        } else if (p[i] != ',') {
            return -1;
        }
        best = v > best ? v : best;
    }
    *end = i + 1;
    return i < n ? best : -1;
}

/* What glibc's regcomp would build from the translated ERE: repetitions copy their operand, so a
 * quantifier on a quantifier or nested large counts grow exponentially in memory. Estimates the
 * nodes (each {m,n} copies its operand max(m,n) times, + once) and refuses, as PostgreSQL does,
 * a quantifier on a quantifier ("quantifier operand invalid"), counts over 255 and patterns
 * over REGEX_WEIGHT_MAX nodes or REGEX_NEST_MAX nested groups. */
static int regex_check(const char *p, size_t n, ctx_err_t *err) {
    uint64_t sum[REGEX_NEST_MAX + 1] = {0}, last = 0;
    int depth = 0;
    int quantified = 0; /* 1: after a quantifier, 2: after a non-greedy one */
    for (size_t i = 0; i < n;) {
        size_t next = i + 1;
        char c = p[i];
        if (c == '?' && quantified == 1) {
            quantified = 2; /* PostgreSQL's non-greedy `*?`, `+?`, `{m,n}?`: no new copies */
        } else if (c == '*' || c == '?' || c == '+' ||
                   (c == '{' && regex_bound(p, i, n, &next) >= 0)) {
            if (quantified || last == 0) {
                return ctx_err_set(err, CTX_EBAD_LITERAL,
                                   "invalid regular expression: quantifier operand invalid");
            }
            long bound = c == '{' ? regex_bound(p, i, n, &next) : (c == '+' ? 1 : 0);
            if (bound > REGEX_DUP_MAX) {
                return ctx_err_set(err, CTX_EBAD_LITERAL,
                                   "invalid regular expression: invalid repetition count(s)");
            }
            quantified = 1;
            sum[depth] += last * (uint64_t)bound;
        } else if (c == '(') {
            if (++depth > REGEX_NEST_MAX) {
                return ctx_err_set(err, CTX_EBAD_LITERAL,
                                   "invalid regular expression: regular expression is too complex");
            }
            sum[depth] = 0;
            last = 0;
        } else {
            uint64_t w = 1;
            if (c == ')' && depth > 0) {
                w = sum[depth--] + 1;
            } else if (c == '[') {
                next = regex_skip_bracket(p, i, n);
            } else if (c == '\\') {
                next = i + 2 <= n ? i + 2 : n;
            }
            last = c == '|' ? 0 : w;
            sum[depth] += w;
            quantified = 0;
        }
        if (sum[depth] > REGEX_WEIGHT_MAX) {
            return ctx_err_set(err, CTX_EBAD_LITERAL,
                               "invalid regular expression: regular expression is too complex");
        }
        i = next;
    }
    return CTX_OK;
}

static int regex_compile(const char *pattern, uint32_t len, bool icase, regex_t *re,
                         ctx_err_t *err) {
    buf_t b;
    buf_init(&b);
    regex_translate(pattern, len, &b);
    int check = regex_check((const char *)buf_peek(&b), buf_size(&b) - 1, err);
    if (check != CTX_OK) {
        buf_free(&b);
        return check;
    }
    int flags = REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0);
    int rc = regcomp(re, (const char *)buf_peek(&b), flags);
    buf_free(&b);
    if (rc != 0) {
        char msg[128];
        regerror(rc, re, msg, sizeof(msg));
        return ctx_err_set(err, CTX_EBAD_LITERAL, "invalid regular expression: %s", msg);
    }
    return 0;
}

static int eval_regex(const expr_t *e, const value_t *l, const value_t *r, const eval_ctx_t *ctx,
                      value_t *out, ctx_err_t *err) {
    json_slice_t s, p;
    eval_text_of(l, ctx->arena, &s);
    eval_text_of(r, ctx->arena, &p);
    bool icase = e->op == OP_REGEX_ICASE;
    if (p.len > REGEX_PATTERN_BYTES_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "regular expression is too long");
    }
    regex_entry_t *hit = NULL;
    regex_t local;
    for (hit = ctx->regex_cache != NULL ? *ctx->regex_cache : NULL; hit != NULL; hit = hit->next) {
        if (hit->icase == icase && strlen(hit->pattern) == p.len &&
            ctx_memcmp(hit->pattern, p.ptr, p.len) == 0) {
            break;
        }
    }
    /* the cache entry and its pattern copy are fallible: without them the pattern is compiled
     * for this row only */
    char *pattern = NULL;
    if (hit == NULL && ctx->regex_cache != NULL) {
        hit = ctx_try_calloc(1, sizeof(*hit));
        pattern = hit != NULL ? ctx_try_malloc((size_t)p.len + 1) : NULL;
        if (pattern == NULL) {
            free(hit);
            hit = NULL;
        }
    }
    if (hit != NULL && pattern != NULL) {
        int rc = regex_compile(p.ptr, p.len, icase, &hit->re, err);
        if (rc != 0) {
            free(pattern);
            free(hit);
            return rc;
        }
        hit->pattern = pattern;
        ctx_memcpy(hit->pattern, p.ptr, p.len);
        hit->pattern[p.len] = '\0';
        hit->icase = icase;
        hit->next = *ctx->regex_cache;
        *ctx->regex_cache = hit;
    } else if (hit == NULL) {
        int rc = regex_compile(p.ptr, p.len, icase, &local, err);
        if (rc != 0) {
            return rc;
        }
    }
    char *subject = arena_try_alloc(ctx->arena, (size_t)s.len + 1);
    if (subject == NULL) {
        if (hit == NULL) {
            regfree(&local);
        }
        return arena_limit_error(ctx->arena, "statement_mem_limit", err);
    }
    ctx_memcpy(subject, s.ptr, s.len);
    subject[s.len] = '\0';
    bool m = regexec(hit != NULL ? &hit->re : &local, subject, 0, NULL, 0) == 0;
    if (hit == NULL) {
        regfree(&local);
    }
    *out = value_bool(e->negated ? !m : m);
    return 0;
}

/* ---- arrays ----------------------------------------------------------------------------- */

/* Element k of an array value as a value of the element type; NULL when absent. */
static int array_element_value(const char *elem, ctype_t elem_type, const eval_ctx_t *ctx,
                               value_t *out, ctx_err_t *err) {
    if (elem == NULL) {
        *out = value_null();
        return 0;
    }
    return value_from_text(elem_type, elem, (uint32_t)strlen(elem), 0, ctx->arena, out, err);
}

static int array_elems(const value_t *arr, const eval_ctx_t *ctx, const char ***elems, int *n,
                       ctx_err_t *err) {
    CTX_ASSERT(arr->kind == VAL_TEXT);
    return value_array_split(arr->u.str.ptr, arr->u.str.len, ctx->arena, elems, n, err);
}

static int eval_array_ctor(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                           ctx_err_t *err) {
    const char **elems = arena_alloc(ctx->arena, sizeof(char *) * (size_t)(e->nargs + 1));
    for (int i = 0; i < e->nargs; i++) {
        value_t v;
        int rc = eval_expr(e->args[i], row, ctx, &v, err);
        if (rc != 0) {
            return rc;
        }
        uint32_t len;
        elems[i] = v.kind == VAL_NULL ? NULL : value_to_text(&v, ctx->arena, &len);
    }
    *out = value_array_build(elems, e->nargs, ctx->arena);
    return 0;
}

/* x op ANY(array) (or ALL when negated): SQL's three-valued rules. */
static int eval_any(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                    ctx_err_t *err) {
    value_t l, arr;
    int rc = eval_expr(e->left, row, ctx, &l, err);
    if (rc == 0) {
        rc = eval_expr(e->right, row, ctx, &arr, err);
    }
    if (rc != 0 || l.kind == VAL_NULL || arr.kind == VAL_NULL) {
        *out = value_null();
        return rc;
    }
    const char **elems;
    int n;
    rc = array_elems(&arr, ctx, &elems, &n, err);
    bool all = e->negated;
    bool saw_null = false;
    for (int i = 0; rc == 0 && i < n; i++) {
        value_t v = value_null();
        rc = array_element_value(elems[i], ctype_array_elem(e->right->type), ctx, &v, err);
        if (rc != 0 || v.kind == VAL_NULL) {
            saw_null = saw_null || v.kind == VAL_NULL;
            continue;
        }
        bool hit = eval_compare_holds(e->op, eval_compare_values(&l, &v));
        if (hit != all) {
            *out = value_bool(!all);
            return 0;
        }
    }
    *out = saw_null ? value_null() : value_bool(all);
    return rc;
}

static int eval_subscript(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    value_t arr, idx;
    int rc = eval_expr(e->left, row, ctx, &arr, err);
    if (rc == 0) {
        rc = eval_expr(e->right, row, ctx, &idx, err);
    }
    *out = value_null();
    if (rc != 0 || arr.kind == VAL_NULL || idx.kind != VAL_INT) {
        return rc;
    }
    if (e->left->type == CT_NAME) { /* bytes from 0; past the end the NUL byte: "" */
        bool inside = idx.u.i >= 0 && idx.u.i < (int64_t)arr.u.str.len;
        *out = value_text(inside ? arr.u.str.ptr + idx.u.i : "", inside ? 1 : 0);
        return 0;
    }
    const char **elems;
    int n;
    rc = array_elems(&arr, ctx, &elems, &n, err);
    int64_t k = idx.u.i - ctype_array_lower(e->left->type); /* int2vector / oidvector: 0-based */
    if (rc == 0 && k >= 0 && k < n) {
        rc = array_element_value(elems[k], e->type, ctx, out, err);
    }
    return rc;
}

/* (record).field — records are _pg_expandarray's (x, n). */
static int eval_field(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                      ctx_err_t *err) {
    value_t rec;
    int rc = eval_expr(e->left, row, ctx, &rec, err);
    *out = value_null();
    if (rc != 0 || rec.kind == VAL_NULL) {
        return rc;
    }
    const char **elems;
    int n;
    rc = array_elems(&rec, ctx, &elems, &n, err);
    int k = strcmp(e->name, "n") == 0 ? 1 : 0;
    if (rc == 0 && k < n) {
        rc = array_element_value(elems[k], CT_INT4, ctx, out, err);
    }
    return rc;
}

/* ---- set-returning functions ------------------------------------------------------------ */

static void srf_report(const eval_ctx_t *ctx, int64_t rows) {
    if (ctx->srf_rows != NULL && rows > *ctx->srf_rows) {
        *ctx->srf_rows = rows;
    }
}

int eval_srf(const expr_t *e, const value_t *args, const eval_ctx_t *ctx, value_t *out,
             ctx_err_t *err) {
    int64_t k = ctx->srf_index;
    *out = value_null();
    if (strcmp(e->name, "generate_series") == 0) {
        int64_t step = e->nargs > 2 ? args[2].u.i : 1;
        if (step == 0) {
            return ctx_err_set(err, CTX_EBAD_PARAM, "step size cannot equal zero");
        }
        /* 128-bit arithmetic: the full int8 range has more than INT64_MAX members */
        __int128 span = ((__int128)args[1].u.i - args[0].u.i) / step + 1;
        int64_t count = span < 0 ? 0 : (span > INT64_MAX ? INT64_MAX : (int64_t)span);
        srf_report(ctx, count);
        if (k < count) {
            *out = value_int((int64_t)((__int128)args[0].u.i + (__int128)k * step));
        }
        return 0;
    }
    if (strcmp(e->name, "pg_partition_ancestors") == 0) {
        srf_report(ctx, 0);
        return 0;
    }
    const char **elems;
    int n;
    int rc = array_elems(&args[0], ctx, &elems, &n, err);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(e->name, "generate_subscripts") == 0) {
        bool dim1 = args[1].u.i == 1;
        bool reverse = e->nargs > 2 && args[2].kind == VAL_BOOL && args[2].u.b;
        int64_t lower = ctype_array_lower(e->args[0]->type);
        srf_report(ctx, dim1 ? n : 0);
        *out = dim1 && k < n ? value_int(lower + (reverse ? n - 1 - k : k)) : value_null();
        return 0;
    }
    srf_report(ctx, n);
    if (k >= n) {
        return 0;
    }
    if (strcmp(e->name, "_pg_expandarray") == 0) {
        const char *rec = arena_sprintf(ctx->arena, "(%s,%lld)", elems[k] != NULL ? elems[k] : "",
                                        (long long)k + 1);
        *out = value_text(rec, (uint32_t)strlen(rec));
        return 0;
    }
    return array_element_value(elems[k], e->type, ctx, out, err); /* unnest */
}

/* ---- dispatch --------------------------------------------------------------------------- */

static int eval_bitop(const expr_t *e, const value_t *l, const value_t *r, value_t *out) {
    *out = value_int(e->op == OP_BIT_AND ? (l->u.i & r->u.i) : (l->u.i | r->u.i));
    return 0;
}

int eval_binary_ext(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                    ctx_err_t *err) {
    value_t l, r;
    int rc = eval_expr(e->left, row, ctx, &l, err);
    if (rc == 0) {
        rc = eval_expr(e->right, row, ctx, &r, err);
    }
    if (rc != 0) {
        return rc;
    }
    if (e->op == OP_IS_DISTINCT) {
        bool nl = l.kind == VAL_NULL, nr = r.kind == VAL_NULL;
        bool distinct = nl != nr || (!nl && eval_compare_values(&l, &r) != 0);
        *out = value_bool(e->negated ? !distinct : distinct);
        return 0;
    }
    if (l.kind == VAL_NULL || r.kind == VAL_NULL) {
        *out = value_null();
        return 0;
    }
    if (e->op == OP_BIT_AND || e->op == OP_BIT_OR) {
        return eval_bitop(e, &l, &r, out);
    }
    CTX_ASSERT(e->op == OP_REGEX || e->op == OP_REGEX_ICASE);
    return eval_regex(e, &l, &r, ctx, out, err);
}

int eval_expr_ext(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                  ctx_err_t *err) {
    CTX_ASSERT(e != NULL && out != NULL);
    switch (e->kind) {
    case EXPR_SUBQUERY:
        if (ctx->run_subquery == NULL) {
            return ctx_err_set(err, CTX_EFEATURE, "subqueries are not supported here");
        }
        return ctx->run_subquery(e, row, ctx, out, err);
    case EXPR_ARRAY:
        return eval_array_ctor(e, row, ctx, out, err);
    case EXPR_ANY:
        return eval_any(e, row, ctx, out, err);
    case EXPR_SUBSCRIPT:
        return eval_subscript(e, row, ctx, out, err);
    case EXPR_FIELD:
        return eval_field(e, row, ctx, out, err);
    default:
        break;
    }
    return ctx_err_set(err, CTX_EFEATURE, "window functions are not supported here");
}

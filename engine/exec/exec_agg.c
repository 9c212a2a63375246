/*
 * exec_agg.c — PLAN_AGGREGATE: grouping and aggregate functions over the child's rows.
 *
 * Input rows are grouped by their GROUP BY keys in a row table (first-seen group order); each
 * group folds every aggregate call's inputs into its own state, and after the last row each
 * group's results are computed, HAVING is applied and the outputs are projected. Without GROUP
 * BY, no input still gives one row (count 0, other aggregates NULL). Aggregates with a FILTER
 * skip the rows it rejects; ORDER BY inside the call orders the inputs of the order-dependent
 * aggregates (array_agg, string_agg, json_agg, jsonb_agg, json_object_agg, jsonb_object_agg)
 * stably, ties in input order. Results and collected inputs live in the statement arena
 * (statement_mem_limit).
 */
#include "exec_int.h"

#include "buf.h"

#include <stdlib.h>
#include <string.h>

/* Aggregates fold each input row into an agg_state_t (count, sums, the best value of min/max,
 * the running result of bool_and/bool_or/every), or collect their input rows in `seen` when the
 * result needs all of them: DISTINCT (sorted and deduplicated at the end, then folded),
 * array_agg / json_agg / jsonb_agg (all inputs, NULLs included, in input order) and string_agg
 * (value and delimiter pairs). A collected row is agg_width() values wide. */
typedef struct agg_state {
    int64_t count;
    int64_t isum;
    double fsum;
    double fsumsq;
    bool overflow;
    bool any;
    value_t best;  /* min / max; bool_and / bool_or / every */
    value_t *seen; /* collected input rows, agg_width() values each */
    uint64_t nseen, capseen;
} agg_state_t;

typedef struct agg_group {
    const value_t *rep; /* first input row of the group (grouped columns read from it) */
    agg_state_t *states;
} agg_group_t;

static bool agg_named(const expr_t *agg, const char *name) {
    return strcmp(agg->name, name) == 0;
}

/* json_object_agg, jsonb_object_agg: (key, value) rows into one JSON object. */
static bool agg_is_object(const expr_t *agg) {
    return agg_named(agg, "json_object_agg") || agg_named(agg, "jsonb_object_agg");
}

/* array_agg, json_agg, jsonb_agg, the object aggregates: every input row is an element of the
 * result, NULLs included. */
static bool agg_is_list(const expr_t *agg) {
    return agg_named(agg, "array_agg") || agg_named(agg, "json_agg") ||
           agg_named(agg, "jsonb_agg") || agg_is_object(agg);
}

/* Only these aggregates' results depend on the order of their inputs. */
static bool agg_order_free(const expr_t *agg) {
    return !agg_is_list(agg) && !agg_named(agg, "string_agg");
}

/* Values per collected row: string_agg keeps each value with its delimiter, the object
 * aggregates each key with its value. */
static int agg_width(const expr_t *agg) {
    return agg_named(agg, "string_agg") || agg_is_object(agg) ? 2 : 1;
}

static bool agg_collects(const expr_t *agg) {
    return !agg_order_free(agg) || agg->distinct;
}

/* Values per collected row: the inputs, then (order-dependent aggregates) the ORDER BY keys and the
 * row's input position, which makes the final sort stable. */
static int agg_stride(const expr_t *agg) {
    bool ordered = agg->agg_norder > 0 && !agg_order_free(agg);
    return agg_width(agg) + (ordered ? agg->agg_norder + 1 : 0);
}

/* Appends one input row (agg_width values) to s->seen; false at the statement's memory limit. */
static bool agg_collect(agg_state_t *s, const value_t *v, int width, arena_t *arena) {
    if (s->nseen == s->capseen) {
        uint64_t cap = s->capseen == 0 ? 16 : s->capseen * 2;
        value_t *seen = arena_try_alloc(arena, sizeof(value_t) * cap * (uint64_t)width);
        if (seen == NULL) {
            return false;
        }
        ctx_memcpy(seen, s->seen, sizeof(value_t) * s->nseen * (uint64_t)width);
        s->seen = seen;
        s->capseen = cap;
    }
    ctx_memcpy(&s->seen[s->nseen * (uint64_t)width], v, sizeof(value_t) * (size_t)width);
    s->nseen++;
    return true;
}

/* Folds one (non-NULL unless count(*)) value into an aggregate's state. */
static int agg_step(const expr_t *agg, agg_state_t *s, const value_t *v, ctx_err_t *err) {
    const char *name = agg->name;
    s->count++;
    if (strcmp(name, "count") == 0) {
        return CTX_OK;
    }
    if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0) {
        int c = s->any ? value_compare(v, &s->best) : 0;
        if (!s->any || (name[1] == 'i' ? c < 0 : c > 0)) {
            s->best = *v;
        }
        s->any = true;
        return CTX_OK;
    }
    if (agg->type == CT_BOOL) { /* bool_and, every: all true; bool_or: any true */
        bool b = v->u.b;
        if (s->any) {
            b = strcmp(name, "bool_or") == 0 ? (s->best.u.b || b) : (s->best.u.b && b);
        }
        s->best = value_bool(b);
        s->any = true;
        return CTX_OK;
    }
    double f = v->kind == VAL_INT ? (double)v->u.i : v->u.f;
    if (v->kind != VAL_INT && v->kind != VAL_FLOAT) {
        return ctx_err_set(err, CTX_EUNDEF_FUNCTION, "function %s does not accept this type", name);
    }
    if (v->kind == VAL_INT && __builtin_add_overflow(s->isum, v->u.i, &s->isum)) {
        s->overflow = true;
    }
    s->fsum += f;
    s->fsumsq += f * f;
    s->any = true;
    return CTX_OK;
}

/* Evaluates one aggregate's inputs for a row into v (agg_stride values); *skip when its FILTER
 * rejects the row. */
static int agg_inputs(const expr_t *agg, const value_t *row, exec_ctx_t *ctx, value_t *v,
                      bool *skip, ctx_err_t *err) {
    *skip = false;
    int rc = CTX_OK;
    if (agg->agg_filter) {
        bool keep = false;
        rc = eval_predicate(agg->args[agg->nargs - 1], row, &ctx->eval, &keep, err);
        *skip = !keep;
    }
    int width = agg_width(agg);
    int own = expr_agg_nargs(agg);
    for (int k = 0; rc == CTX_OK && !*skip && k < width; k++) {
        v[k] = value_null();
        if (!agg->star && k < own) {
            rc = eval_expr(agg->args[k], row, &ctx->eval, &v[k], err);
        }
    }
    int stride = agg_stride(agg);
    for (int k = width; rc == CTX_OK && !*skip && k < stride - 1; k++) {
        rc = eval_expr(agg->args[own + (k - width)], row, &ctx->eval, &v[k], err);
    }
    return rc;
}

static int agg_accumulate(const plan_t *plan, agg_group_t *g, const value_t *row, exec_ctx_t *ctx,
                          ctx_err_t *err) {
    for (int a = 0; a < plan->naggs; a++) {
        const expr_t *agg = plan->aggs[a];
        value_t v[2 + EXPR_AGG_ORDER_MAX + 1];
        bool skip = false;
        int rc = agg_inputs(agg, row, ctx, v, &skip, err);
        if (rc != CTX_OK) {
            return rc;
        }
        int own = expr_agg_nargs(agg);
        if (skip || (!agg->star && own > 0 && value_is_null(&v[0]) && !agg_is_list(agg))) {
            continue; /* aggregates skip NULL inputs; list aggregates keep them as elements */
        }
        int stride = agg_stride(agg);
        if (stride > agg_width(agg)) {
            v[stride - 1] = value_int((int64_t)g->states[a].nseen);
        }
        if (agg_collects(agg)) {
            if (!agg_collect(&g->states[a], v, stride, ctx->eval.arena)) {
                return exec_nomem(ctx, err);
            }
            continue;
        }
        rc = agg_step(agg, &g->states[a], &v[0], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

/* Collected rows compared on `nkeys` values from `first` (desc per key; NULLs sort last
 * ascending, first descending, as PostgreSQL's defaults), then by the input position that
 * ends an ordered row (agg_stride). */
typedef struct agg_sort {
    int first;
    int nkeys;
    const bool *desc; /* NULL: all ascending */
} agg_sort_t;

static int agg_sort_cmp(const void *x, const void *y, void *arg) {
    const agg_sort_t *env = arg;
    const value_t *a = (const value_t *)x + env->first;
    const value_t *b = (const value_t *)y + env->first;
    for (int k = 0; k < env->nkeys; k++) {
        bool an = value_is_null(&a[k]), bn = value_is_null(&b[k]);
        int c = an || bn ? (an == bn ? 0 : (an ? 1 : -1)) : value_compare(&a[k], &b[k]);
        if (c != 0) {
            return env->desc != NULL && env->desc[k] ? -c : c;
        }
    }
    if (env->desc == NULL) {
        return 0; /* DISTINCT: the dedupe keeps the first of equal rows, whichever it is */
    }
    int64_t pa = a[env->nkeys].u.i, pb = b[env->nkeys].u.i; /* input positions */
    return pa < pb ? -1 : (pa > pb ? 1 : 0);
}

static int value_qsort_cmp(const void *a, const void *b) {
    return value_compare(a, b);
}

static int value_pair_qsort_cmp(const void *a, const void *b) {
    int c = value_compare(a, b);
    return c != 0 ? c : value_compare((const value_t *)a + 1, (const value_t *)b + 1);
}

/* DISTINCT: sorts the collected rows and drops repeats (NULLs are equal to each other here).
 * Rows are stride values wide; the first width of them are compared. */
static void agg_dedupe(agg_state_t *s, int width, int stride) {
    if (s->nseen == 0) {
        return;
    }
    if (stride == width) {
        ctx_qsort(s->seen, s->nseen, sizeof(value_t) * (size_t)width,
                  width == 1 ? value_qsort_cmp : value_pair_qsort_cmp);
    } else {
        agg_sort_t env = {0, width, NULL}; /* by the values, ties by input position */
        qsort_r(s->seen, s->nseen, sizeof(value_t) * (size_t)stride, agg_sort_cmp, &env);
    }
    uint64_t kept = 0;
    for (uint64_t i = 0; i < s->nseen; i++) {
        const value_t *row = &s->seen[i * (uint64_t)stride];
        const value_t *last = kept > 0 ? &s->seen[(kept - 1) * (uint64_t)stride] : NULL;
        if (last != NULL && value_compare(last, row) == 0 &&
            (width == 1 || value_compare(last + 1, row + 1) == 0)) {
            continue;
        }
        ctx_memmove(&s->seen[kept * (uint64_t)stride], row, sizeof(value_t) * (size_t)stride);
        kept++;
    }
    s->nseen = kept;
}

/* Order-dependent aggregates (… ORDER BY keys): the collected rows in key order, ties (and then
 * everything) in input order. */
static void agg_order(const expr_t *agg, agg_state_t *s) {
    if (s->nseen == 0) {
        return; /* no rows: nothing collected (s->seen is NULL) */
    }
    int width = agg_width(agg);
    agg_sort_t env = {width, agg->agg_norder, agg->agg_desc};
    qsort_r(s->seen, s->nseen, sizeof(value_t) * (size_t)agg_stride(agg), agg_sort_cmp, &env);
}

/* array_agg: the collected inputs as an array in its text form; NULL over no rows. */
static int agg_array(const agg_state_t *s, int stride, arena_t *arena, value_t *out,
                     ctx_err_t *err) {
    *out = value_null();
    if (s->nseen == 0) {
        return CTX_OK;
    }
    if (s->nseen > INT32_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "array_agg result has too many elements");
    }
    const char **elems = arena_try_alloc(arena, sizeof(char *) * s->nseen);
    for (uint64_t i = 0; elems != NULL && i < s->nseen; i++) {
        uint32_t len;
        const value_t *v = &s->seen[i * (uint64_t)stride];
        elems[i] = value_is_null(v) ? NULL : value_to_text(v, arena, &len);
    }
    if (elems != NULL) {
        *out = value_array_build(elems, (int)s->nseen, arena);
    }
    return arena_exhausted(arena) ? arena_limit_error(arena, EXEC_MEM_SETTING, err) : CTX_OK;
}

/* string_agg: the values joined, each after its own row's delimiter except the first (a NULL
 * delimiter joins with nothing); NULL over no rows. */
static int agg_string(const agg_state_t *s, int stride, arena_t *arena, value_t *out,
                      ctx_err_t *err) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < s->nseen; i++) {
        const value_t *d = &s->seen[stride * i + 1];
        total += s->seen[stride * i].u.str.len + (i > 0 && !value_is_null(d) ? d->u.str.len : 0);
    }
    if (s->nseen == 0) {
        *out = value_null();
        return CTX_OK;
    }
    char *text = total < UINT32_MAX ? arena_try_alloc(arena, total + 1) : NULL;
    if (text == NULL) {
        return total < UINT32_MAX ? arena_limit_error(arena, EXEC_MEM_SETTING, err)
                                  : ctx_err_set(err, CTX_ELIMIT, "string_agg result too long");
    }
    uint64_t n = 0;
    for (uint64_t i = 0; i < s->nseen; i++) {
        const value_t *v = &s->seen[stride * i];
        if (i > 0 && !value_is_null(v + 1)) {
            ctx_memcpy(text + n, v[1].u.str.ptr, v[1].u.str.len);
            n += v[1].u.str.len;
        }
        ctx_memcpy(text + n, v->u.str.ptr, v->u.str.len);
        n += v->u.str.len;
    }
    text[n] = '\0';
    *out = value_text(text, (uint32_t)n);
    return CTX_OK;
}

/* Appends one collected row to a JSON array (its value) or object (key: value; 22023 for a
 * NULL key, PostgreSQL's "field name must not be null"). */
static int agg_json_member(const value_t *row, bool object, const eval_ctx_t *ev, buf_t *b,
                           ctx_err_t *err) {
    value_t j;
    if (object) {
        if (value_is_null(&row[0])) {
            return ctx_err_set(err, CTX_EBAD_PARAM, "field name must not be null");
        }
        uint32_t len = 0;
        const char *key = value_to_text(&row[0], ev->arena, &len);
        value_t text = value_text(key != NULL ? key : "", key != NULL ? len : 0);
        int rc = eval_to_json(&text, ev, &j, err); /* the key's text form as a JSON string */
        if (rc != CTX_OK) {
            return rc;
        }
        buf_append(b, j.u.str.ptr, j.u.str.len);
        buf_append(b, ": ", 2);
        row++;
    }
    int rc = eval_to_json(row, ev, &j, err);
    if (rc == CTX_OK) {
        buf_append(b, j.u.str.ptr, j.u.str.len);
    }
    return rc;
}

/* json_agg / jsonb_agg: the collected inputs, each as to_json converts it (NULL as null), as a
 * JSON array; json_object_agg / jsonb_object_agg: the (key, value) rows as a JSON object (a
 * repeated key keeps its last value, as jsonb does). NULL over no rows. */
static int agg_json(const expr_t *agg, const agg_state_t *s, int stride, const eval_ctx_t *ev,
                    value_t *out, ctx_err_t *err) {
    *out = value_null();
    if (s->nseen == 0) {
        return CTX_OK;
    }
    bool object = agg_is_object(agg);
    buf_t b;
    buf_init(&b);
    buf_append_u8(&b, object ? '{' : '[');
    int rc = CTX_OK;
    for (uint64_t i = 0; rc == CTX_OK && i < s->nseen; i++) {
        if (i > 0) {
            buf_append(&b, ", ", 2);
        }
        rc = agg_json_member(&s->seen[i * (uint64_t)stride], object, ev, &b, err);
    }
    buf_append_u8(&b, object ? '}' : ']');
    if (rc == CTX_OK && buf_failed(&b)) {
        rc = ctx_err_set(err, CTX_ENOMEM, "out of memory building json_agg result");
    } else if (rc == CTX_OK && buf_size(&b) >= UINT32_MAX) {
        rc = ctx_err_set(err, CTX_ELIMIT, "json_agg result too long");
    }
    if (rc == CTX_OK) {
        rc = value_json_canonical((const char *)buf_peek(&b), (uint32_t)buf_size(&b), ev->arena,
                                  out, err);
    }
    buf_free(&b);
    if (rc == CTX_OK && arena_exhausted(ev->arena)) {
        rc = arena_limit_error(ev->arena, EXEC_MEM_SETTING, err);
    }
    return rc;
}

/* Folds the collected (deduplicated) values of a DISTINCT aggregate into a fresh state. */
static int agg_finish_distinct(const expr_t *agg, agg_state_t *s, ctx_err_t *err) {
    agg_state_t fresh;
    memset(&fresh, 0, sizeof(fresh));
    for (uint64_t i = 0; i < s->nseen; i++) {
        int rc = agg_step(agg, &fresh, &s->seen[i], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    *s = fresh;
    return CTX_OK;
}

static int agg_result(const expr_t *agg, agg_state_t *s, const eval_ctx_t *ev, value_t *out,
                      ctx_err_t *err) {
    arena_t *arena = ev->arena;
    int stride = agg_stride(agg);
    if (agg->distinct) {
        agg_dedupe(s, agg_width(agg), stride);
    }
    if (stride > agg_width(agg)) {
        agg_order(agg, s);
    }
    if (agg_named(agg, "array_agg")) {
        return agg_array(s, stride, arena, out, err);
    }
    if (agg_named(agg, "string_agg")) {
        return agg_string(s, stride, arena, out, err);
    }
    if (agg_is_list(agg)) {
        return agg_json(agg, s, stride, ev, out, err);
    }
    if (agg->distinct) {
        int rc = agg_finish_distinct(agg, s, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    const char *name = agg->name;
    if (strcmp(name, "count") == 0) {
        *out = value_int(s->count);
    } else if (!s->any) {
        *out = value_null();
    } else if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0 || agg->type == CT_BOOL) {
        *out = s->best;
    } else if (strcmp(name, "avg") == 0) {
        *out = value_float(s->fsum / (double)s->count);
    } else if (agg->type == CT_INT8) {
        if (s->overflow) {
            return ctx_err_set(err, CTX_ERANGE, "bigint out of range");
        }
        *out = value_int(s->isum);
    } else {
        *out = value_float(s->fsum);
    }
    return CTX_OK;
}

/* Appends group n (first row rep) to *groups, doubling *cap when full; false when the
 * statement's memory limit is reached. */
static bool agg_group_add(const plan_t *plan, arena_t *arena, agg_group_t **groups, uint64_t *cap,
                          uint64_t n, const value_t *rep) {
    if (n == *cap) {
        agg_group_t *bigger = arena_try_alloc(arena, sizeof(agg_group_t) * *cap * 2);
        if (bigger == NULL) {
            return false;
        }
        ctx_memcpy(bigger, *groups, sizeof(agg_group_t) * *cap);
        *groups = bigger;
        *cap *= 2;
    }
    (*groups)[n].rep = rep;
    (*groups)[n].states = arena_calloc(arena, (size_t)plan->naggs + 1, sizeof(agg_state_t));
    return true;
}

/* Groups the input, then evaluates the outputs (and HAVING) once per group. */
static int agg_group_rows(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx,
                          agg_group_t **groups_out, uint64_t *ngroups, ctx_err_t *err) {
    arena_t *arena = ctx->eval.arena;
    row_table_t table;
    uint64_t cap = 16;
    agg_group_t *groups = arena_try_alloc(arena, sizeof(agg_group_t) * cap);
    if (groups == NULL || !row_table_init(&table, plan->ngroup, arena)) {
        return exec_nomem(ctx, err);
    }
    value_t *keys = arena_alloc(arena, sizeof(value_t) * (size_t)(plan->ngroup + 1) * 2);
    uint64_t n = 0;
    for (uint64_t r = 0; r < in->nrows; r++) {
        int rc = exec_project_row(plan->group_keys, plan->ngroup, rs_row(in, r), ctx, keys, err);
        bool inserted = false;
        uint32_t g = 0;
        if (rc == CTX_OK && !row_table_upsert(&table, keys, &g, &inserted)) {
            rc = exec_nomem(ctx, err);
        }
        if (rc == CTX_OK && inserted) {
            if (!agg_group_add(plan, arena, &groups, &cap, n, rs_row(in, r))) {
                return exec_nomem(ctx, err);
            }
            n++;
            keys = arena_alloc(arena, sizeof(value_t) * (size_t)(plan->ngroup + 1));
        }
        if (rc == CTX_OK) {
            rc = agg_accumulate(plan, &groups[g], rs_row(in, r), ctx, err);
        }
        if (rc == CTX_OK) {
            rc = exec_check_cancel(ctx, r + 1, err);
        }
        if (rc != CTX_OK) {
            return rc;
        }
    }
    *groups_out = groups;
    *ngroups = n;
    return CTX_OK;
}

static int agg_emit_group(const plan_t *plan, agg_group_t *g, const value_t *null_row,
                          exec_ctx_t *ctx, rs_builder_t *b, ctx_err_t *err) {
    value_t *results = arena_alloc(ctx->eval.arena, sizeof(value_t) * (size_t)(plan->naggs + 1));
    for (int a = 0; a < plan->naggs; a++) {
        int rc = agg_result(plan->aggs[a], &g->states[a], &ctx->eval, &results[a], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    eval_ctx_t saved = ctx->eval;
    ctx->eval.agg_values = results;
    const value_t *rep = g->rep != NULL ? g->rep : null_row;
    bool keep = true;
    int rc = CTX_OK;
    if (plan->predicate != NULL) {
        rc = eval_predicate(plan->predicate, rep, &ctx->eval, &keep, err);
    }
    if (rc == CTX_OK && keep) {
        value_t *row = rs_push(b, err);
        rc = row == NULL ? err->code
                         : exec_project_row(plan->exprs, plan->nexprs, rep, ctx, row, err);
    }
    ctx->eval = saved;
    return rc;
}

int exec_aggregate(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                   ctx_err_t *err) {
    agg_group_t *groups = NULL;
    uint64_t ngroups = 0;
    int rc = agg_group_rows(plan, in, ctx, &groups, &ngroups, err);
    if (rc != CTX_OK) {
        return rc;
    }
    value_t *null_row = arena_alloc(ctx->eval.arena, sizeof(value_t) * (size_t)(in->ncols + 1));
    for (int c = 0; c < in->ncols; c++) {
        null_row[c] = value_null();
    }
    agg_group_t empty = {
        NULL, arena_calloc(ctx->eval.arena, (size_t)plan->naggs + 1, sizeof(agg_state_t))};
    if (ngroups == 0 && plan->ngroup == 0) {
        groups = &empty; /* aggregates without GROUP BY return one row over no input */
        ngroups = 1;
    }
    rs_builder_t b;
    rs_init(&b, out, plan->nexprs, ctx);
    for (uint64_t g = 0; g < ngroups && rc == CTX_OK; g++) {
        rc = agg_emit_group(plan, &groups[g], null_row, ctx, &b, err);
    }
    return rc;
}

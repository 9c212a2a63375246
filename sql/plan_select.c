/*
 * plan_select.c — the SELECT list, aggregation, DISTINCT, ORDER BY and LIMIT parts of the planner
 * (see plan.c for the overall plan shape).
 *
 * Output expressions are the select list followed by "hidden" ORDER BY keys that are not in the
 * select list; a final trim removes the hidden ones. Aggregation evaluates the output expressions
 * once per group over the group's first input row, with aggregate calls reading their results
 * from slots (expr->agg_index); the grouping check guarantees that every column read outside an
 * aggregate is a grouping key, so the first row is as good as any.
 */
#include "plan_int.h"
#include "stack.h"
#include "vindex.h"

#include <stdlib.h>
#include <string.h>

typedef struct outputs {
    expr_t **exprs;
    const char **names;
    int count; /* visible + hidden */
    int visible;
    int cap;
} outputs_t;

static void outputs_add(planner_t *p, outputs_t *o, expr_t *e, const char *name) {
    if (o->count == o->cap) {
        int cap = o->cap == 0 ? 16 : o->cap * 2;
        expr_t **exprs = arena_alloc(p->arena, sizeof(expr_t *) * (size_t)cap);
        const char **names = arena_alloc(p->arena, sizeof(char *) * (size_t)cap);
        if (o->count > 0) {
            memcpy(exprs, o->exprs, sizeof(expr_t *) * (size_t)o->count);
            memcpy(names, o->names, sizeof(char *) * (size_t)o->count);
        }
        o->exprs = exprs;
        o->names = names;
        o->cap = cap;
    }
    o->exprs[o->count] = e;
    o->names[o->count] = name;
    o->count++;
}

/* PostgreSQL's FigureColname: the name a select item gets without an alias. A column or
 * function name wins through any casts; otherwise the outermost cast names the column. Iterative,
 * so a chain of any length of casts costs no stack. */
static const char *derive_name(const expr_t *e) {
    const expr_t *base = e;
    while (base->kind == EXPR_CAST && base->left != NULL) {
        base = base->left;
    }
    if (base->kind == EXPR_COLUMN || base->kind == EXPR_FUNC) {
        return base->name;
    }
    if (e->kind == EXPR_CAST) {
        return value_type_name(e->cast_type);
    }
    return base->kind == EXPR_CASE ? "case" : "?column?";
}

/* Expands `*` / `t.*` into column references over the input. */
static int expand_star(planner_t *p, const plan_t *input, const select_item_t *item, outputs_t *o,
                       ctx_err_t *err) {
    const char *q = item->expr->qualifier;
    int added = 0;
    for (int c = 0; c < input->ncols; c++) {
        const bind_column_t *col = &input->cols[c];
        if (q != NULL && (col->qualifier == NULL || strcmp(col->qualifier, q) != 0)) {
            continue;
        }
        if (col->attnum < 0) { /* system columns (tableoid) are named, never expanded */
            continue;
        }
        expr_t *ref = expr_new(p->arena, EXPR_COLUMN, item->location);
        ref->qualifier = col->qualifier;
        ref->name = col->name;
        outputs_add(p, o, ref, col->name);
        added++;
    }
    if (q != NULL && added == 0) {
        ctx_err_set(err, CTX_EUNDEF_TABLE, "missing FROM-clause entry for table \"%s\"", q);
        plan_error_at(p, err, item->location);
        return err->code;
    }
    if (q == NULL && input->kind == PLAN_RESULT) {
        ctx_err_set(err, CTX_ESYNTAX, "SELECT * with no tables specified is not valid");
        plan_error_at(p, err, item->location);
        return err->code;
    }
    return CTX_OK;
}

static int build_outputs(planner_t *p, const select_stmt_t *s, const plan_t *input, outputs_t *o,
                         ctx_err_t *err) {
    scope_t scope = {input->cols, input->ncols};
    for (int i = 0; i < s->nitems; i++) {
        const select_item_t *item = &s->items[i];
        if (item->expr->kind == EXPR_STAR) {
            int first = o->count;
            int rc = expand_star(p, input, item, o, err);
            for (int j = first; rc == CTX_OK && j < o->count; j++) {
                rc = bind_in(p, o->exprs[j], &scope, true, err);
            }
            if (rc != CTX_OK) {
                return rc;
            }
            continue;
        }
        int rc = bind_in(p, item->expr, &scope, true, err);
        if (rc != CTX_OK) {
            return rc;
        }
        outputs_add(p, o, item->expr, item->alias != NULL ? item->alias : derive_name(item->expr));
    }
    o->visible = o->count;
    return CTX_OK;
}

/* ---------------------------------------------------------------- expression utilities */

/* Structural equality of bound trees; false (not provably equal) when the trees are too deep
 * for the stack, which the caller's own stack check then reports. */
static bool expr_equal(const expr_t *a, const expr_t *b) {
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (ctx_stack_exceeded()) {
        return false;
    }
    if (a->kind != b->kind || a->op != b->op || a->negated != b->negated || a->star != b->star ||
        a->distinct != b->distinct || a->nargs != b->nargs) {
        return false;
    }
    switch (a->kind) {
    case EXPR_COLUMN:
        return a->column_index == b->column_index;
    case EXPR_CONST:
        return a->value.kind == b->value.kind &&
               (a->value.kind == VAL_NULL || value_compare(&a->value, &b->value) == 0);
    case EXPR_PARAM:
        return a->param_index == b->param_index;
    case EXPR_FUNC:
        if (strcmp(a->name, b->name) != 0) {
            return false;
        }
        break;
    case EXPR_CAST:
        if (a->cast_type != b->cast_type) {
            return false;
        }
        break;
    default:
        break;
    }
    if (!expr_equal(a->left, b->left) || !expr_equal(a->right, b->right)) {
        return false;
    }
    for (int i = 0; i < a->nargs; i++) {
        if (!expr_equal(a->args[i], b->args[i])) {
            return false;
        }
    }
    return true;
}

static bool is_aggregate(const expr_t *e) {
    return e->kind == EXPR_FUNC && expr_is_aggregate_name(e->name);
}

typedef struct agg_list {
    expr_t **items;
    int count;
    int cap;
} agg_list_t;

/* Collects aggregate calls, numbering them; nested aggregates are an error. */
static int collect_aggs(planner_t *p, expr_t *e, bool inside, agg_list_t *l, ctx_err_t *err) {
    if (e == NULL) {
        return CTX_OK;
    }
    if (ctx_stack_check(err) != CTX_OK) {
        plan_error_at(p, err, e->location);
        return err->code;
    }
    if (is_aggregate(e)) {
        if (inside) {
            ctx_err_set(err, CTX_EGROUPING, "aggregate function calls cannot be nested");
            plan_error_at(p, err, e->location);
            return err->code;
        }
        if (l->count == l->cap) {
            int cap = l->cap == 0 ? 8 : l->cap * 2;
            expr_t **items = arena_alloc(p->arena, sizeof(expr_t *) * (size_t)cap);
            if (l->count > 0) {
                memcpy(items, l->items, sizeof(expr_t *) * (size_t)l->count);
            }
            l->items = items;
            l->cap = cap;
        }
        e->agg_index = l->count;
        l->items[l->count++] = e;
        inside = true;
    }
    int rc = collect_aggs(p, e->left, inside, l, err);
    if (rc == CTX_OK) {
        rc = collect_aggs(p, e->right, inside, l, err);
    }
    for (int i = 0; rc == CTX_OK && i < e->nargs; i++) {
        rc = collect_aggs(p, e->args[i], inside, l, err);
    }
    return rc;
}

/* Every column read outside an aggregate must be (inside) a grouping key. */
static int check_grouped(planner_t *p, const expr_t *e, const plan_t *input, expr_t **keys,
                         int nkeys, ctx_err_t *err) {
    if (e == NULL || is_aggregate(e)) {
        return CTX_OK;
    }
    if (ctx_stack_check(err) != CTX_OK) {
        plan_error_at(p, err, e->location);
        return err->code;
    }
    for (int k = 0; k < nkeys; k++) {
        if (expr_equal(e, keys[k])) {
            return CTX_OK;
        }
    }
    if (e->kind == EXPR_COLUMN) {
        const bind_column_t *col = &input->cols[e->column_index];
        ctx_err_set(err, CTX_EGROUPING,
                    "column \"%s%s%s\" must appear in the GROUP BY clause or be used in an "
                    "aggregate function",
                    col->qualifier != NULL ? col->qualifier : "", col->qualifier != NULL ? "." : "",
                    col->name);
        plan_error_at(p, err, e->location);
        return err->code;
    }
    int rc = check_grouped(p, e->left, input, keys, nkeys, err);
    if (rc == CTX_OK) {
        rc = check_grouped(p, e->right, input, keys, nkeys, err);
    }
    for (int i = 0; rc == CTX_OK && i < e->nargs; i++) {
        rc = check_grouped(p, e->args[i], input, keys, nkeys, err);
    }
    return rc;
}

/* ---------------------------------------------------------------- GROUP BY, ORDER BY */

/* Finds an output column by position constant or by bare name matching an output name. */
static int output_reference(planner_t *p, const expr_t *e, const outputs_t *o, const char *clause,
                            int *column, ctx_err_t *err) {
    *column = -1;
    if (e->kind == EXPR_CONST && e->value.kind == VAL_INT) {
        if (e->value.u.i < 1 || e->value.u.i > o->visible) {
            ctx_err_set(err, CTX_ECOLUMN_REF, "%s position %lld is not in select list", clause,
                        (long long)e->value.u.i);
            plan_error_at(p, err, e->location);
            return err->code;
        }
        *column = (int)e->value.u.i - 1;
        return CTX_OK;
    }
    if (e->kind == EXPR_COLUMN && e->qualifier == NULL) {
        for (int i = 0; i < o->visible; i++) {
            if (strcmp(o->names[i], e->name) == 0) {
                *column = i;
                return CTX_OK;
            }
        }
    }
    return CTX_OK;
}

static int plan_group_by(planner_t *p, select_stmt_t *s, const plan_t *input, const outputs_t *o,
                         ctx_err_t *err) {
    scope_t scope = {input->cols, input->ncols};
    for (int i = 0; i < s->ngroup; i++) {
        expr_t *g = s->group_by[i];
        int column;
        int rc = CTX_OK;
        bool in_input = false;
        if (g->kind == EXPR_COLUMN && g->qualifier == NULL) {
            for (int c = 0; c < input->ncols; c++) {
                in_input = in_input || strcmp(input->cols[c].name, g->name) == 0;
            }
        }
        if (!in_input) {
            rc = output_reference(p, g, o, "GROUP BY", &column, err);
            if (rc == CTX_OK && column >= 0) {
                s->group_by[i] = o->exprs[column];
                continue;
            }
        }
        if (rc == CTX_OK) {
            rc = bind_in(p, g, &scope, false, err);
        }
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int plan_order_by(planner_t *p, select_stmt_t *s, const plan_t *input, outputs_t *o,
                         sort_key_t *keys, ctx_err_t *err) {
    scope_t scope = {input->cols, input->ncols};
    for (int i = 0; i < s->norder; i++) {
        order_item_t *item = &s->order_by[i];
        int column;
        int rc = output_reference(p, item->expr, o, "ORDER BY", &column, err);
        if (rc == CTX_OK && column < 0) {
            rc = bind_in(p, item->expr, &scope, true, err);
            for (int c = 0; rc == CTX_OK && c < o->count && column < 0; c++) {
                column = expr_equal(item->expr, o->exprs[c]) ? c : -1;
            }
            if (rc == CTX_OK && column < 0) {
                if (s->distinct) {
                    ctx_err_set(err, CTX_ECOLUMN_REF,
                                "for SELECT DISTINCT, ORDER BY "
                                "expressions must appear in select list");
                    plan_error_at(p, err, item->expr->location);
                    return err->code;
                }
                column = o->count;
                outputs_add(p, o, item->expr, "?sort?");
            }
        }
        if (rc != CTX_OK) {
            return rc;
        }
        keys[i].column = column;
        keys[i].desc = item->desc;
        keys[i].nulls_first = item->nulls == 0 ? item->desc : item->nulls == 1;
    }
    return CTX_OK;
}

/* DISTINCT ON (exprs): each expression becomes an output column (hidden unless it is one), its
 * columns go to *on_cols, and the sort keys are extended so rows sort by ORDER BY, then by the
 * DISTINCT ON columns ORDER BY does not name (*keys, *nsort). ORDER BY's first keys must be
 * DISTINCT ON expressions, as PostgreSQL requires (42P10). */
static int plan_distinct_on(planner_t *p, select_stmt_t *s, const plan_t *input, outputs_t *o,
                            sort_key_t **keys, int *nsort, int **on_cols, ctx_err_t *err) {
    scope_t scope = {input->cols, input->ncols};
    int n = s->ndistinct_on;
    int *cols = arena_calloc(p->arena, (size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        expr_t *e = s->distinct_on[i];
        int rc = output_reference(p, e, o, "SELECT DISTINCT ON", &cols[i], err);
        if (rc == CTX_OK && cols[i] < 0) {
            rc = bind_in(p, e, &scope, true, err);
            for (int c = 0; rc == CTX_OK && c < o->count && cols[i] < 0; c++) {
                cols[i] = expr_equal(e, o->exprs[c]) ? c : -1;
            }
            if (rc == CTX_OK && cols[i] < 0) {
                cols[i] = o->count;
                outputs_add(p, o, e, "?distinct?");
            }
        }
        if (rc != CTX_OK) {
            return rc;
        }
    }
    sort_key_t *all = arena_calloc(p->arena, (size_t)(s->norder + n) + 1, sizeof(sort_key_t));
    memcpy(all, *keys, sizeof(sort_key_t) * (size_t)s->norder);
    int count = s->norder;
    for (int k = 0; k < s->norder && k < n; k++) {
        bool found = false;
        for (int i = 0; i < n; i++) {
            found |= cols[i] == all[k].column;
        }
        if (!found) {
            ctx_err_set(err, CTX_ECOLUMN_REF,
                        "SELECT DISTINCT ON expressions must match initial ORDER BY expressions");
            plan_error_at(p, err, s->distinct_on[0]->location);
            return err->code;
        }
    }
    for (int i = 0; i < n; i++) {
        bool sorted = false;
        for (int k = 0; k < count; k++) {
            sorted |= all[k].column == cols[i];
        }
        if (!sorted) {
            all[count++] = (sort_key_t){cols[i], false, false};
        }
    }
    *keys = all;
    *nsort = count;
    *on_cols = cols;
    return CTX_OK;
}

/* ---------------------------------------------------------------- assembling the plan */

/* Output columns; a plain column reference keeps its base table origin (pgjdbc reads it). */
static bind_column_t *output_columns(planner_t *p, const outputs_t *o, const plan_t *input) {
    bind_column_t *cols = arena_calloc(p->arena, (size_t)o->count + 1, sizeof(bind_column_t));
    for (int i = 0; i < o->count; i++) {
        const expr_t *e = o->exprs[i];
        cols[i].qualifier = NULL;
        cols[i].name = o->names[i];
        cols[i].type = e->type == CT_UNKNOWN ? CT_TEXT : e->type;
        if (e->kind == EXPR_COLUMN && e->outer_level == 0 && e->column_index >= 0 &&
            e->column_index < input->ncols) {
            cols[i].table_oid = input->cols[e->column_index].table_oid;
            cols[i].attnum = input->cols[e->column_index].attnum;
        }
    }
    return cols;
}

static int plan_aggregate(planner_t *p, select_stmt_t *s, plan_t *input, outputs_t *o, plan_t **out,
                          ctx_err_t *err) {
    agg_list_t aggs = {0};
    int rc = CTX_OK;
    for (int i = 0; rc == CTX_OK && i < o->count; i++) {
        rc = collect_aggs(p, o->exprs[i], false, &aggs, err);
    }
    if (rc == CTX_OK && s->having != NULL) {
        scope_t scope = {input->cols, input->ncols};
        rc = bind_in(p, s->having, &scope, true, err);
        if (rc == CTX_OK) {
            rc = collect_aggs(p, s->having, false, &aggs, err);
        }
    }
    if (aggs.count == 0 && s->ngroup == 0 && s->having == NULL) {
        plan_t *project = plan_new(p, PLAN_PROJECT, input);
        project->exprs = o->exprs;
        project->nexprs = o->count;
        for (int i = 0; i < o->count; i++) {
            project->has_srf = project->has_srf || expr_has_srf(o->exprs[i]);
        }
        *out = project;
        return rc;
    }
    for (int i = 0; rc == CTX_OK && i < o->count; i++) {
        rc = check_grouped(p, o->exprs[i], input, s->group_by, s->ngroup, err);
    }
    if (rc == CTX_OK) {
        rc = check_grouped(p, s->having, input, s->group_by, s->ngroup, err);
    }
    plan_t *agg = plan_new(p, PLAN_AGGREGATE, input);
    agg->exprs = o->exprs;
    agg->nexprs = o->count;
    agg->group_keys = s->group_by;
    agg->ngroup = s->ngroup;
    agg->aggs = aggs.items;
    agg->naggs = aggs.count;
    agg->predicate = s->having;
    agg->est_rows = s->ngroup == 0 ? 1 : input->est_rows * 0.1 + 1;
    agg->est_cost = input->est_cost + input->est_rows;
    *out = agg;
    return rc;
}

static int bind_count_expr(planner_t *p, expr_t *e, ctx_err_t *err) {
    if (e == NULL) {
        return CTX_OK;
    }
    scope_t empty = {NULL, 0};
    int rc = bind_in(p, e, &empty, false, err);
    if (rc == CTX_OK && e->type == CT_UNKNOWN) {
        bind_scope_t none = {NULL, 0};
        bind_ctx_t bctx = {.scope = &none,
                           .env = p->env,
                           .arena = p->arena,
                           .param_types = p->param_types,
                           .nparams = p->nparams,
                           .query_text = p->query_text};
        rc = bind_coerce(e, CT_INT8, "limit", &bctx, err);
    }
    return rc;
}

/* The HNSW method applies when the database has a vector index of this metric and the session
 * has enable_hnsw on; sets method and ef_search (hnsw.ef_search, read once at plan time). */
static bool choose_hnsw(const planner_t *p, plan_t *plan, metric_t metric) {
    const eval_env_t *env = p->env;
    if (env == NULL || env->vindex == NULL || env->setting == NULL ||
        vindex_metric(env->vindex) != metric ||
        !vindex_setting_on(env->setting(env->session, "enable_hnsw"))) {
        return false;
    }
    const char *ef = env->setting(env->session, "hnsw.ef_search");
    unsigned long n = ef != NULL ? strtoul(ef, NULL, 10) : 0;
    plan->method = EXEC_VECTOR_HNSW;
    plan->ef_search = n >= 1 && n <= HNSW_EF_MAX ? (uint32_t)n : HNSW_EF_SEARCH_DEFAULT;
    return true;
}

/* Marks a top-k whose single key is a pgvector distance over a vectors scan; it becomes the
 * HNSW operator when the scan is a full scan (no id lookup: an IN list is cheaper exactly), the
 * other operand is a constant or parameter, and choose_hnsw() agrees. Filters between the scan
 * and the projection become the search's allowed set at run time (engine/exec/exec.c). */
static void detect_vector_topk(const planner_t *p, plan_t *topk, const plan_t *project) {
    if (topk->nsort != 1 || project->kind != PLAN_PROJECT) {
        return;
    }
    const expr_t *key = project->exprs[topk->sort_keys[0].column];
    if (key->kind != EXPR_BINARY || topk->sort_keys[0].desc) {
        return;
    }
    metric_t metric;
    if (key->op == OP_L2_DISTANCE) {
        metric = METRIC_L2;
    } else if (key->op == OP_COSINE_DISTANCE) {
        metric = METRIC_COSINE;
    } else if (key->op == OP_NEG_INNER) {
        metric = METRIC_INNER;
    } else {
        return;
    }
    const plan_t *base = project->child;
    while (base->kind == PLAN_FILTER) {
        base = base->child;
    }
    if (base->kind == PLAN_SCAN && base->table == TABLE_VECTORS) {
        topk->vector_search = true;
        topk->method = EXEC_VECTOR_EXACT;
        topk->metric = metric;
        /* The index holds the live committed vectors: AS OF SNAPSHOT reads scan exactly. An id
         * list is the allowed set: exact when it is short (known now), filtered HNSW when not. */
        if (base->source == NULL && vindex_query_side(key) != NULL &&
            choose_hnsw(p, topk, metric) && base->lookup != LOOKUP_NONE &&
            hnsw_filter_exact(vindex_hnsw(p->env->vindex), (uint64_t)base->nkeys,
                              topk->ef_search)) {
            topk->method = EXEC_VECTOR_EXACT;
        }
    } else if (base->kind == PLAN_JOIN && base->lookup_left_col >= 0 && !base->left_join &&
               base->lookup_table == TABLE_VECTORS &&
               vindex_query_side_at(key, base->child->ncols + 1) != NULL) {
        /* e.g. neighbors() JOIN vectors ON id: the left side's ids are the allowed set (exact
         * scan of them if few, filtered HNSW if many: decided at run time, engine/exec/exec.c). */
        topk->vector_search = true;
        topk->method = EXEC_VECTOR_EXACT;
        topk->metric = metric;
        choose_hnsw(p, topk, metric);
    }
}

/* similar(), neighbor_stats() and hybrid() rank by cosine similarity: they use the index when
 * it is a cosine index (engine/exec/table_func.c reads plan->method). */
static void mark_vector_functions(const planner_t *p, plan_t *plan) {
    if (ctx_stack_exceeded()) {
        return; /* the executor's own check fails the statement on such a plan */
    }
    for (; plan != NULL; plan = plan->child) {
        if (plan->kind == PLAN_FUNCTION &&
            (plan->tfunc == TFUNC_SIMILAR || plan->tfunc == TFUNC_NEIGHBOR_STATS ||
             plan->tfunc == TFUNC_HYBRID) &&
            plan->source == NULL) {
            plan->vector_search = choose_hnsw(p, plan, METRIC_COSINE);
        }
        if (plan->right != NULL) {
            mark_vector_functions(p, plan->right);
        }
    }
}

int plan_tail_for(planner_t *p, select_stmt_t *s, plan_t *top, sort_key_t *keys, int visible,
                  plan_t **out, ctx_err_t *err) {
    mark_vector_functions(p, top);
    int rc = bind_count_expr(p, s->limit, err);
    if (rc == CTX_OK) {
        rc = bind_count_expr(p, s->offset, err);
    }
    if (s->distinct) {
        plan_t *d = plan_new(p, PLAN_DISTINCT, top);
        d->distinct_cols = visible;
        top = d;
    }
    bool limited = s->limit != NULL || s->offset != NULL;
    if (s->norder > 0) {
        plan_t *sort = plan_new(p, s->limit != NULL ? PLAN_TOPK : PLAN_SORT, top);
        sort->sort_keys = keys;
        sort->nsort = s->norder;
        sort->est_cost += top->est_rows * 2;
        if (sort->kind == PLAN_TOPK) {
            sort->limit = s->limit;
            sort->offset = s->offset;
            detect_vector_topk(p, sort, top);
            limited = false;
        }
        top = sort;
    }
    if (limited) {
        plan_t *limit = plan_new(p, PLAN_LIMIT, top);
        limit->limit = s->limit;
        limit->offset = s->offset;
        top = limit;
    }
    if (top->ncols > visible) {
        plan_t *trim = plan_new(p, PLAN_TRIM, top);
        trim->ncols = visible;
        top = trim;
    }
    *out = top;
    return rc;
}

static int plan_select_body(planner_t *p, select_stmt_t *s, plan_t **out, ctx_err_t *err);

int plan_select(planner_t *p, select_stmt_t *s, plan_t **out, ctx_err_t *err) {
    CTX_ASSERT(p != NULL && s != NULL);
    int rc = ctx_stack_check(err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (s->nctes == 0) {
        return s->set_op != SET_NONE || s->nvalues > 0 ? plan_set_or_values(p, s, out, err)
                                                       : plan_select_body(p, s, out, err);
    }
    planner_t inner = *p;
    for (int i = 0; i < s->nctes; i++) {
        plan_cte_t *c = arena_calloc(p->arena, 1, sizeof(*c));
        c->name = s->cte_names[i];
        c->query = s->ctes[i];
        c->recursive = s->cte_recursive;
        c->columns = s->cte_columns != NULL ? s->cte_columns[i] : NULL;
        c->ncolumns = s->cte_ncolumns != NULL ? s->cte_ncolumns[i] : 0;
        c->next = inner.ctes;
        inner.ctes = c;
    }
    int n = s->nctes;
    s->nctes = 0; /* plan the body with the WITH names in scope */
    rc = plan_select(&inner, s, out, err);
    s->nctes = n;
    return rc;
}

static int plan_select_body(planner_t *p, select_stmt_t *s, plan_t **out, ctx_err_t *err) {
    plan_t *input;
    int rc = CTX_OK;
    plan_push_where(p, s);
    if (s->from != NULL) {
        rc = plan_from(p, s->from, &input, err);
    } else {
        input = plan_new(p, PLAN_RESULT, NULL);
        input->est_rows = 1;
    }
    if (rc == CTX_OK && s->where != NULL) {
        rc = plan_where(p, &input, s->where, err);
    }
    if (rc == CTX_OK) {
        rc = plan_windows(p, s, &input, err);
    }
    outputs_t o = {0};
    sort_key_t *keys = arena_calloc(p->arena, (size_t)s->norder + 1, sizeof(sort_key_t));
    if (rc == CTX_OK) {
        rc = build_outputs(p, s, input, &o, err);
    }
    if (rc == CTX_OK) {
        rc = plan_group_by(p, s, input, &o, err);
    }
    if (rc == CTX_OK) {
        rc = plan_order_by(p, s, input, &o, keys, err);
    }
    int nsort = s->norder;
    int *on_cols = NULL;
    if (rc == CTX_OK && s->ndistinct_on > 0) {
        rc = plan_distinct_on(p, s, input, &o, &keys, &nsort, &on_cols, err);
    }
    plan_t *top = NULL;
    if (rc == CTX_OK) {
        rc = plan_aggregate(p, s, input, &o, &top, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    top->ncols = o.count;
    top->cols = output_columns(p, &o, input);
    if (on_cols != NULL) {
        select_stmt_t tail = *s; /* sort by the extended keys, keep the first row of each key */
        plan_t *sort = plan_new(p, PLAN_SORT, top);
        sort->sort_keys = keys;
        sort->nsort = nsort;
        sort->est_cost += top->est_rows * 2;
        plan_t *d = plan_new(p, PLAN_DISTINCT, sort);
        d->distinct_cols = s->ndistinct_on;
        d->distinct_on = on_cols;
        tail.norder = 0;
        return plan_tail_for(p, &tail, d, keys, o.visible, out, err);
    }
    return plan_tail_for(p, s, top, keys, o.visible, out, err);
}

/*
 * plan_set.c — planning of the query forms catalog and BI queries use beyond a plain SELECT:
 * set operations (UNION [ALL], INTERSECT, EXCEPT), VALUES lists, subqueries inside expressions
 * (the binder calls plan_subquery_cb through bind_ctx_t), and window functions.
 *
 * Set operations: both operands are planned as queries; their column counts must match and the
 * result takes the left operand's names and the promoted type where the types differ. UNION
 * without ALL is APPEND + DISTINCT; INTERSECT / EXCEPT are APPEND with set_op (hash membership)
 * + DISTINCT. ORDER BY over a set operation refers to output columns by position or name.
 *
 * Subqueries: the subquery is planned with the current scope pushed onto planner.outer, so its
 * unresolved column names bind to enclosing rows (expr_t.outer_level); a subquery that resolved
 * no outer reference is marked uncorrelated and the executor computes it once.
 *
 * Window functions (row_number, rank, dense_rank, count(*) OVER …): a PLAN_WINDOW under the
 * select list appends one column per call, and the call node itself becomes a reference to that
 * column, so the rest of the planner sees ordinary columns.
 */
#include "plan_int.h"
#include "stack.h"

#include <stdio.h>
#include <string.h>

enum { PLAN_PUSH_DEPTH_MAX = 256 };

bool expr_has_srf(const expr_t *e) {
    if (e == NULL) {
        return false;
    }
    if (e->kind == EXPR_FUNC && e->srf) {
        return true;
    }
    if (e->kind == EXPR_SUBQUERY) {
        return false;
    }
    if (ctx_stack_exceeded()) {
        return true; /* too deep to tell: the set-returning path evaluates it, and fails there */
    }
    if (expr_has_srf(e->left) || expr_has_srf(e->right)) {
        return true;
    }
    for (int i = 0; i < e->nargs; i++) {
        if (expr_has_srf(e->args[i])) {
            return true;
        }
    }
    return false;
}

static int plan_values(planner_t *p, select_stmt_t *s, plan_t **out, ctx_err_t *err) {
    plan_t *plan = plan_new(p, PLAN_VALUES, NULL);
    plan->ncols = s->values_width;
    plan->cols = arena_calloc(p->arena, (size_t)s->values_width + 1, sizeof(bind_column_t));
    plan->value_rows = s->values;
    plan->nvalue_rows = s->nvalues;
    plan->est_rows = s->nvalues;
    plan->label = "Values Scan";
    scope_t empty = {NULL, 0};
    expr_t **column = arena_alloc(p->arena, sizeof(expr_t *) * (size_t)(s->nvalues + 1));
    for (int c = 0; c < s->values_width; c++) {
        int rc = CTX_OK;
        for (int r = 0; r < s->nvalues && rc == CTX_OK; r++) {
            rc = bind_in(p, s->values[r][c], &empty, false, err);
            column[r] = s->values[r][c];
        }
        bind_scope_t none = {NULL, 0};
        bind_ctx_t bctx = {.scope = &none,
                           .env = p->env,
                           .arena = p->arena,
                           .param_types = p->param_types,
                           .nparams = p->nparams,
                           .query_text = p->query_text};
        ctype_t t = CT_TEXT;
        if (rc == CTX_OK) {
            rc = bind_unify(column, s->nvalues, "VALUES", &bctx, &t, err);
        }
        if (rc != CTX_OK) {
            return rc;
        }
        plan->cols[c].name = arena_sprintf(p->arena, "column%d", c + 1);
        plan->cols[c].type = t;
    }
    *out = plan;
    return CTX_OK;
}

static ctype_t set_type(ctype_t a, ctype_t b) {
    if (a == b || !ctype_is_numeric(a) || !ctype_is_numeric(b)) {
        return a;
    }
    return a == CT_FLOAT8 || b == CT_FLOAT8 ? CT_FLOAT8
                                            : (a == CT_INT8 || b == CT_INT8 ? CT_INT8 : a);
}

/* ORDER BY of a set operation: output columns by position or by name. */
static int set_sort_keys(planner_t *p, select_stmt_t *s, const plan_t *top, sort_key_t *keys,
                         ctx_err_t *err) {
    for (int i = 0; i < s->norder; i++) {
        const expr_t *e = s->order_by[i].expr;
        int column = -1;
        if (e->kind == EXPR_CONST && e->value.kind == VAL_INT && e->value.u.i >= 1 &&
            e->value.u.i <= top->ncols) {
            column = (int)e->value.u.i - 1;
        }
        for (int c = 0; column < 0 && e->kind == EXPR_COLUMN && c < top->ncols; c++) {
            column = strcmp(top->cols[c].name, e->name) == 0 ? c : -1;
        }
        if (column < 0) {
            ctx_err_set(err, CTX_EFEATURE,
                        "ORDER BY on a UNION/INTERSECT/EXCEPT result must "
                        "name an output column");
            plan_error_at(p, err, e->location);
            return err->code;
        }
        keys[i].column = column;
        keys[i].desc = s->order_by[i].desc;
        keys[i].nulls_first = s->order_by[i].nulls == 0 ? keys[i].desc : s->order_by[i].nulls == 1;
    }
    return CTX_OK;
}

int plan_set_or_values(planner_t *p, select_stmt_t *s, plan_t **out, ctx_err_t *err) {
    plan_t *top = NULL;
    int rc;
    if (s->set_op == SET_NONE) {
        rc = plan_values(p, s, &top, err);
    } else {
        plan_t *l, *r;
        rc = plan_select(p, s->set_left, &l, err);
        if (rc == CTX_OK) {
            rc = plan_select(p, s->set_right, &r, err);
        }
        if (rc == CTX_OK && l->ncols != r->ncols) {
            rc = ctx_err_set(err, CTX_ESYNTAX,
                             "each %s query must have the same number of "
                             "columns",
                             s->set_op == SET_UNION ? "UNION" : "INTERSECT/EXCEPT");
        }
        if (rc != CTX_OK) {
            return rc;
        }
        top = plan_new(p, PLAN_APPEND, l);
        top->right = r;
        top->set_op = s->set_op == SET_UNION ? 0 : (s->set_op == SET_INTERSECT ? 2 : 3);
        top->set_all = s->set_all;
        top->cols = requalify(p, l->cols, l->ncols, NULL);
        for (int c = 0; c < l->ncols; c++) {
            top->cols[c].type = set_type(l->cols[c].type, r->cols[c].type);
        }
        top->est_rows = l->est_rows + r->est_rows;
        top->est_cost = l->est_cost + r->est_cost;
        if (!s->set_all) {
            plan_t *d = plan_new(p, PLAN_DISTINCT, top);
            d->distinct_cols = top->ncols;
            top = d;
        }
    }
    if (rc != CTX_OK) {
        return rc;
    }
    sort_key_t *keys = arena_calloc(p->arena, (size_t)s->norder + 1, sizeof(sort_key_t));
    rc = set_sort_keys(p, s, top, keys, err);
    if (rc != CTX_OK) {
        return rc;
    }
    select_stmt_t tail = *s;
    tail.distinct = false;
    return plan_tail_for(p, &tail, top, keys, top->ncols, out, err);
}

/* ---------------------------------------------------------------- subqueries */

static int subquery_type(planner_t *p, expr_t *e, const plan_t *plan, const bind_ctx_t *ctx,
                         ctx_err_t *err) {
    if (e->sublink == SUBLINK_EXISTS) {
        e->type = CT_BOOL;
        return CTX_OK;
    }
    if (plan->ncols != 1) {
        ctx_err_set(err, CTX_ESYNTAX, "subquery must return only one column");
        plan_error_at(p, err, e->location);
        return err->code;
    }
    ctype_t t = plan->cols[0].type;
    if (e->sublink == SUBLINK_ARRAY && ctype_is_array(t)) { /* PostgreSQL: a 2-D array */
        ctx_err_set(err, CTX_EFEATURE, "ARRAY of a subquery returning arrays is not supported");
        plan_error_at(p, err, e->location);
        return err->code;
    }
    if (e->sublink == SUBLINK_ARRAY) {
        e->type = ctype_array_of(t);
        return CTX_OK;
    }
    if (e->sublink == SUBLINK_SCALAR) {
        e->type = t;
        return CTX_OK;
    }
    int rc = e->left->type == CT_UNKNOWN ? bind_coerce_unknown(e->left, t, ctx, err) : CTX_OK;
    bool ok = e->left->type == t || (ctype_is_numeric(e->left->type) && ctype_is_numeric(t)) ||
              (ctype_is_textual(e->left->type) && ctype_is_textual(t));
    if (rc == CTX_OK && !ok) {
        ctx_err_set(err, CTX_EUNDEF_FUNCTION, "operator does not exist: %s = %s",
                    value_type_sql_name(e->left->type), value_type_sql_name(t));
        plan_error_at(p, err, e->location);
        return err->code;
    }
    e->type = CT_BOOL;
    return rc;
}

int plan_subquery_cb(void *planner, expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    planner_t *p = planner;
    CTX_ASSERT(p != NULL && e->kind == EXPR_SUBQUERY);
    bind_outer_t outer = {ctx->scope, ctx->outer};
    planner_t sub = *p;
    int refs = 0;
    sub.outer = &outer;
    sub.outer_refs = &refs;
    plan_t *plan;
    int rc = plan_select(&sub, e->subquery, &plan, err);
    if (rc != CTX_OK) {
        return rc;
    }
    e->subplan = plan;
    e->correlated = refs > 0;
    if (refs > 0 && p->outer_refs != NULL) {
        *p->outer_refs += refs; /* conservative: a deeper reference may reach this level too */
    }
    return subquery_type(p, e, plan, ctx, err);
}

/* ---------------------------------------------------------------- window functions */

typedef struct window_list {
    expr_t **items;
    int count;
    int cap;
} window_list_t;

static int collect_windows(planner_t *p, expr_t *e, window_list_t *l, ctx_err_t *err) {
    if (e == NULL || e->kind == EXPR_SUBQUERY) {
        return CTX_OK;
    }
    if (ctx_stack_check(err) != CTX_OK) {
        plan_error_at(p, err, e->location);
        return err->code;
    }
    if (e->kind == EXPR_WINDOW) {
        if (l->count == l->cap) {
            int cap = l->cap == 0 ? 8 : l->cap * 2;
            expr_t **items = arena_alloc(p->arena, sizeof(expr_t *) * (size_t)cap);
            if (l->count > 0) {
                memcpy(items, l->items, sizeof(expr_t *) * (size_t)l->count);
            }
            l->items = items;
            l->cap = cap;
        }
        l->items[l->count++] = e;
        return CTX_OK;
    }
    int rc = collect_windows(p, e->left, l, err);
    if (rc == CTX_OK) {
        rc = collect_windows(p, e->right, l, err);
    }
    for (int i = 0; rc == CTX_OK && i < e->nargs; i++) {
        rc = collect_windows(p, e->args[i], l, err);
    }
    return rc;
}

int plan_windows(planner_t *p, select_stmt_t *s, plan_t **input, ctx_err_t *err) {
    window_list_t l = {0};
    int rc = CTX_OK;
    for (int i = 0; rc == CTX_OK && i < s->nitems; i++) {
        rc = collect_windows(p, s->items[i].expr, &l, err);
    }
    for (int i = 0; rc == CTX_OK && i < s->norder; i++) {
        rc = collect_windows(p, s->order_by[i].expr, &l, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    if (l.count == 0) {
        return CTX_OK;
    }
    plan_t *w = plan_new(p, PLAN_WINDOW, *input);
    w->ncols = (*input)->ncols + l.count;
    w->cols = arena_calloc(p->arena, (size_t)w->ncols + 1, sizeof(bind_column_t));
    memcpy(w->cols, (*input)->cols, sizeof(bind_column_t) * (size_t)(*input)->ncols);
    w->windows = arena_alloc(p->arena, sizeof(expr_t *) * (size_t)l.count);
    w->nwindows = l.count;
    scope_t scope = {(*input)->cols, (*input)->ncols};
    for (int k = 0; k < l.count; k++) {
        expr_t *e = l.items[k];
        const char *fn = e->name;
        if (strcmp(fn, "row_number") != 0 && strcmp(fn, "rank") != 0 &&
            strcmp(fn, "dense_rank") != 0 && strcmp(fn, "count") != 0) {
            ctx_err_set(err, CTX_EFEATURE, "window function %s is not supported", fn);
            plan_error_at(p, err, e->location);
            return err->code;
        }
        expr_t *copy = arena_alloc(p->arena, sizeof(expr_t));
        *copy = *e;
        for (int i = 0; rc == CTX_OK && i < copy->nargs; i++) {
            rc = bind_in(p, copy->args[i], &scope, false, err);
        }
        for (int i = 0; rc == CTX_OK && i < copy->nwindow_order; i++) {
            rc = bind_in(p, copy->window_order[i], &scope, false, err);
        }
        if (rc != CTX_OK) {
            return rc;
        }
        w->windows[k] = copy;
        const char *name = arena_sprintf(p->arena, "?window%d?", k);
        w->cols[(*input)->ncols + k] = (bind_column_t){NULL, name, CT_INT8, 0, 0};
        memset(e, 0, sizeof(*e)); /* the call becomes a reference to its column */
        e->kind = EXPR_COLUMN;
        e->name = name;
        e->location = copy->location;
        e->column_index = -1;
        e->agg_index = -1;
    }
    *input = w;
    return CTX_OK;
}

/* ---------------------------------------------------------------- WHERE → join conditions */

/* Catalog queries join many relations with commas and put the join conditions in WHERE
 * (pgjdbc's getImportedKeys joins eight); the executor materializes each join, so a conjunct of
 * WHERE that only reads relations of one INNER / CROSS join subtree is moved into that join's
 * condition, the deepest one that covers it (never into the right side of a LEFT join, nor
 * conjuncts with subqueries or unqualified columns, whose relation the AST alone cannot tell). */

typedef struct qual_set {
    const char *names[64];
    int count;
    bool unknown; /* an unqualified column or a subquery: do not move */
} qual_set_t;

static void qual_collect(const expr_t *e, qual_set_t *q) {
    if (e == NULL || q->unknown) {
        return;
    }
    if (ctx_stack_exceeded()) {
        q->unknown = true; /* too deep to inspect: left in WHERE, whose binding reports it */
        return;
    }
    if (e->kind == EXPR_SUBQUERY || e->kind == EXPR_WINDOW ||
        (e->kind == EXPR_COLUMN && e->qualifier == NULL)) {
        q->unknown = true;
        return;
    }
    if (e->kind == EXPR_COLUMN) {
        for (int i = 0; i < q->count; i++) {
            if (strcmp(q->names[i], e->qualifier) == 0) {
                return;
            }
        }
        if (q->count == 64) {
            q->unknown = true;
            return;
        }
        q->names[q->count++] = e->qualifier;
        return;
    }
    qual_collect(e->left, q);
    qual_collect(e->right, q);
    qual_collect(e->escape, q);
    for (int i = 0; i < e->nargs; i++) {
        qual_collect(e->args[i], q);
    }
}

/* True when every name of q is the alias (or name) of a relation in f's subtree. */
static bool from_covers(const from_item_t *f, const qual_set_t *q) {
    for (int i = 0; i < q->count; i++) {
        const from_item_t *stack[64];
        int n = 0;
        bool found = false;
        stack[n++] = f;
        while (n > 0 && !found) {
            const from_item_t *x = stack[--n];
            if (x->kind == FROM_JOIN) {
                if (n + 2 > 64) {
                    return false;
                }
                stack[n++] = x->left;
                stack[n++] = x->right;
                continue;
            }
            const char *name = x->alias != NULL ? x->alias : x->name;
            found = name != NULL && strcmp(name, q->names[i]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static expr_t *and_of(planner_t *p, expr_t *a, expr_t *b) {
    if (a == NULL) {
        return b;
    }
    expr_t *e = expr_new(p->arena, EXPR_BINARY, b->location);
    e->op = OP_AND;
    e->left = a;
    e->right = b;
    return e;
}

/* Moves a single-relation conjunct onto that relation's scan (from_item.filter), so it filters
 * before any join; never below the nullable side of a LEFT join. */
static bool push_into_leaf(planner_t *p, from_item_t *f, expr_t *c, const char *name, int depth) {
    if (depth > 64) {
        return false;
    }
    if (f->kind == FROM_JOIN) {
        if (push_into_leaf(p, f->left, c, name, depth + 1)) {
            return true;
        }
        return f->join_type != JOIN_LEFT && push_into_leaf(p, f->right, c, name, depth + 1);
    }
    const char *own = f->alias != NULL ? f->alias : f->name;
    if ((f->kind != FROM_TABLE && f->kind != FROM_FUNCTION) || own == NULL ||
        strcmp(own, name) != 0) {
        return false;
    }
    f->filter = and_of(p, f->filter, c);
    return true;
}

/* Moves conjunct c into the deepest inner join of f covering q; false when none does. */
static bool push_into(planner_t *p, from_item_t *f, expr_t *c, const qual_set_t *q, int depth) {
    if (f->kind != FROM_JOIN || f->join_type == JOIN_LEFT || depth > 64 || !from_covers(f, q)) {
        return false;
    }
    if (push_into(p, f->left, c, q, depth + 1) || push_into(p, f->right, c, q, depth + 1)) {
        return true;
    }
    f->on = and_of(p, f->on, c);
    f->join_type = JOIN_INNER;
    return true;
}

static expr_t *push_conjuncts(planner_t *p, from_item_t *from, expr_t *e, int depth) {
    if (e->kind == EXPR_BINARY && e->op == OP_AND && depth < PLAN_PUSH_DEPTH_MAX) {
        e->left = push_conjuncts(p, from, e->left, depth + 1);
        e->right = push_conjuncts(p, from, e->right, depth + 1);
        return e;
    }
    qual_set_t q = {.count = 0};
    qual_collect(e, &q);
    bool moved = false;
    if (!q.unknown && q.count == 1) {
        moved = push_into_leaf(p, from, e, q.names[0], 0);
    } else if (!q.unknown && q.count >= 2) {
        moved = push_into(p, from, e, &q, 0);
    }
    if (!moved) {
        return e;
    }
    expr_t *t = expr_new(p->arena, EXPR_CONST, e->location);
    t->value = value_bool(true);
    t->type = CT_BOOL;
    return t;
}

/* Comma joins run in FROM order, and that order can start with a cross product of two relations
 * no condition relates (psqlODBC's SQLPrimaryKeys lists pg_attribute twice before pg_index:
 * hundreds of thousands of rows). So a FROM that is only comma joins is rebuilt, still
 * left-deep, taking next the first relation (in FROM order) that a WHERE conjunct relates to the
 * relations already joined, or else the next one in FROM order. A bare `*` expands the columns
 * in FROM order, so its select lists keep the written order. */
enum { PLAN_REORDER_LEAVES_MAX = 16, PLAN_REORDER_CONJUNCTS_MAX = 64 };

typedef struct reorder {
    from_item_t *leaves[PLAN_REORDER_LEAVES_MAX];
    from_item_t *joins[PLAN_REORDER_LEAVES_MAX];
    int nleaves, njoins;
    qual_set_t quals[PLAN_REORDER_CONJUNCTS_MAX];
    int nquals;
} reorder_t;

static void reorder_conjuncts(reorder_t *r, const expr_t *e, int depth) {
    if (e->kind == EXPR_BINARY && e->op == OP_AND && depth < PLAN_PUSH_DEPTH_MAX) {
        reorder_conjuncts(r, e->left, depth + 1);
        reorder_conjuncts(r, e->right, depth + 1);
    } else if (r->nquals < PLAN_REORDER_CONJUNCTS_MAX) {
        qual_set_t *q = &r->quals[r->nquals];
        q->count = 0;
        q->unknown = false;
        qual_collect(e, q);
        r->nquals += !q->unknown && q->count >= 2 ? 1 : 0;
    }
}

/* Whether a conjunct relates leaf to the joined leaves (reads leaf, one of them, nothing else). */
static bool reorder_related(const reorder_t *r, const bool *joined, int leaf) {
    for (int c = 0; c < r->nquals; c++) {
        bool reads_leaf = false, reads_joined = false, reads_other = false;
        for (int k = 0; k < r->quals[c].count; k++) {
            const char *name = r->quals[c].names[k];
            bool matched = false;
            for (int l = 0; l < r->nleaves && !matched; l++) {
                const from_item_t *f = r->leaves[l];
                const char *own = f->alias != NULL ? f->alias : f->name;
                matched = own != NULL && strcmp(own, name) == 0;
                reads_leaf = reads_leaf || (matched && l == leaf);
                reads_joined = reads_joined || (matched && joined[l]);
                reads_other = reads_other || (matched && l != leaf && !joined[l]);
            }
        }
        if (reads_leaf && reads_joined && !reads_other) {
            return true;
        }
    }
    return false;
}

static void reorder_cross_joins(planner_t *p, select_stmt_t *s) {
    for (int i = 0; i < s->nitems; i++) {
        if (s->items[i].expr->kind == EXPR_STAR && s->items[i].expr->qualifier == NULL) {
            return;
        }
    }
    reorder_t *r = arena_calloc(p->arena, 1, sizeof(*r));
    from_item_t *f = s->from;
    for (; f->kind == FROM_JOIN && r->njoins < PLAN_REORDER_LEAVES_MAX - 1; f = f->left) {
        if (f->join_type != JOIN_CROSS || f->on != NULL || f->right->kind == FROM_JOIN) {
            return;
        }
        r->joins[r->njoins++] = f;
    }
    if (f->kind == FROM_JOIN) {
        return;
    }
    r->leaves[r->nleaves++] = f;
    for (int j = r->njoins - 1; j >= 0; j--) {
        r->leaves[r->nleaves++] = r->joins[j]->right;
    }
    reorder_conjuncts(r, s->where, 0);
    bool joined[PLAN_REORDER_LEAVES_MAX] = {true};
    from_item_t *tree = r->leaves[0];
    for (int step = 0; step < r->njoins; step++) {
        int next = -1;
        for (int l = 1; l < r->nleaves && next < 0; l++) {
            next = !joined[l] && reorder_related(r, joined, l) ? l : -1;
        }
        for (int l = 1; l < r->nleaves && next < 0; l++) {
            next = !joined[l] ? l : -1;
        }
        CTX_ASSERT(next > 0);
        joined[next] = true;
        from_item_t *j = r->joins[r->njoins - 1 - step];
        j->left = tree;
        j->right = r->leaves[next];
        tree = j;
    }
    s->from = tree;
}

void plan_push_where(planner_t *p, select_stmt_t *s) {
    if (s->where == NULL || s->from == NULL || s->from->kind != FROM_JOIN) {
        return;
    }
    reorder_cross_joins(p, s);
    s->where = push_conjuncts(p, s->from, s->where, 0);
}

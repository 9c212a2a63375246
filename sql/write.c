/*
 * write.c — INSERT, UPDATE and DELETE: statements to command batches (engine/store/command.h).
 *
 * A write is resolved completely before anything changes: VALUES are evaluated and coerced to
 * the column types, UPDATE/DELETE targets are found by running the same scan + filter plan a
 * SELECT would use, ON CONFLICT DO UPDATE reads the existing row; RETURNING rows are computed and
 * copied into the statement arena (store memory may move once the batch is applied). The batch is
 * then applied in one step (session_apply), so a statement is atomic: a duplicate key in the
 * 1000th row of a VALUES list leaves no trace of the first 999.
 *
 * Every op computed from a row the statement read -- UPDATE, DELETE, ON CONFLICT DO UPDATE, and
 * ON CONFLICT DO NOTHING that found no row -- names the version of that row it read (absent
 * included), so store_apply refuses it with 40001 if the row has changed by the time the op is
 * applied: when a transaction's pending batch is re-applied after another session's commit,
 * that is the lost update being caught (first committer wins; session.c).
 *
 * Column rules (README "Data model"): nodes(id NOT NULL, label NOT NULL DEFAULT '', props),
 * edges(src, dst, kind NOT NULL, weight NOT NULL DEFAULT 1), vectors(id, embedding NOT NULL).
 * Keys (nodes.id, vectors.id, edges' src/dst/kind) cannot be changed by UPDATE.
 */
#include "plan_int.h"
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WRITE_COLS_MAX = 4 };

typedef struct write_ctx {
    sql_session_t *s;
    table_id_t table;
    const char *query_text;
    arena_t *arena;
    planner_t planner;
    eval_ctx_t eval;
    cmd_batch_t batch;
    select_item_t *returning;
    int nreturning;
    value_t **ret_rows; /* per op: the row RETURNING is evaluated on (NULL: op emits no row) */
    uint32_t ret_cap;
} write_ctx_t;

static int write_ctx_init(write_ctx_t *w, sql_session_t *s, const char *table, int location,
                          const char *query_text, arena_t *arena, ctx_err_t *err) {
    memset(w, 0, sizeof(*w));
    w->s = s;
    w->query_text = query_text;
    w->arena = arena;
    session_planner(s, arena, query_text, &w->planner);
    session_eval_ctx(s, arena, query_text, &w->eval);
    cmd_batch_init(&w->batch, arena);
    int t = table_lookup(table);
    if (t < 0) {
        ctx_err_set(err, CTX_EUNDEF_TABLE, "relation \"%s\" does not exist", table);
        plan_error_at(&w->planner, err, location);
        return err->code;
    }
    w->table = (table_id_t)t;
    return CTX_OK;
}

static const bind_column_t *cols_of(const write_ctx_t *w) {
    return table_columns(w->table);
}

static int ncols_of(const write_ctx_t *w) {
    return table_column_count(w->table);
}

static int column_index(const write_ctx_t *w, const char *name) {
    for (int c = 0; c < ncols_of(w); c++) {
        if (strcmp(cols_of(w)[c].name, name) == 0) {
            return c;
        }
    }
    return -1;
}

static int unknown_column(write_ctx_t *w, const char *name, int location, ctx_err_t *err) {
    ctx_err_set(err, CTX_EUNDEF_COLUMN, "column \"%s\" of relation \"%s\" does not exist", name,
                table_name(w->table));
    plan_error_at(&w->planner, err, location);
    return err->code;
}

/* ---------------------------------------------------------------- rows to ops */

static int not_null(write_ctx_t *w, int column, ctx_err_t *err) {
    ctx_err_set(err, CTX_ENOT_NULL,
                "null value in column \"%s\" of relation \"%s\" violates not-null constraint",
                cols_of(w)[column].name, table_name(w->table));
    return err->code;
}

/* Builds the op that writes `row` (a full table row); kind is INSERT or UPSERT flavoured. */
static int row_to_op(write_ctx_t *w, const value_t *row, bool upsert, uint8_t flags, cmd_op_t *op,
                     ctx_err_t *err) {
    memset(op, 0, sizeof(*op));
    op->flags = flags;
    for (int c = 0; c < ncols_of(w); c++) {
        bool nullable = w->table == TABLE_NODES && c == 2;
        if (value_is_null(&row[c]) && !nullable) {
            return not_null(w, c, err);
        }
    }
    op->id = row[0].u.i;
    if (w->table == TABLE_NODES) {
        op->kind = upsert ? CMD_NODE_UPSERT : CMD_NODE_INSERT;
        op->label = row[1].u.str.ptr;
        op->label_len = row[1].u.str.len;
        op->props = value_is_null(&row[2]) ? NULL : row[2].u.str.ptr;
        op->props_len = value_is_null(&row[2]) ? 0 : row[2].u.str.len;
    } else if (w->table == TABLE_EDGES) {
        op->kind = upsert ? CMD_EDGE_UPSERT : CMD_EDGE_INSERT;
        op->target = row[1].u.i;
        op->kind_name = row[2].u.str.ptr;
        op->kind_len = row[2].u.str.len;
        op->weight = row[3].u.f;
    } else {
        op->kind = upsert ? CMD_VECTOR_UPSERT : CMD_VECTOR_INSERT;
        op->vector = row[1].u.vec.data;
        op->vector_dim = row[1].u.vec.dim;
    }
    return CTX_OK;
}

/* Appends op to the statement's batch; 54000 past the batch format's CMD_BATCH_OPS_MAX. */
static int add_op(write_ctx_t *w, const cmd_op_t *op, value_t *ret_row, ctx_err_t *err) {
    if (w->batch.count >= CMD_BATCH_OPS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "a statement can change at most %d rows",
                           CMD_BATCH_OPS_MAX);
    }
    if (w->batch.count == w->ret_cap) {
        uint32_t cap = w->ret_cap == 0 ? 64 : w->ret_cap * 2;
        value_t **rows = arena_alloc(w->arena, sizeof(value_t *) * cap);
        if (w->batch.count > 0) {
            ctx_memcpy(rows, w->ret_rows, sizeof(value_t *) * w->batch.count);
        }
        w->ret_rows = rows;
        w->ret_cap = cap;
    }
    w->ret_rows[w->batch.count] = ret_row;
    return cmd_batch_add(&w->batch, op, err);
}

static value_t *copy_row(write_ctx_t *w, const value_t *row, int ncols) {
    value_t *copy = arena_alloc(w->arena, sizeof(value_t) * (size_t)ncols);
    for (int c = 0; c < ncols; c++) {
        copy[c] = value_copy(&row[c], w->arena);
    }
    return copy;
}

/* ---------------------------------------------------------------- RETURNING and results */

static int bind_returning(write_ctx_t *w, select_item_t *items, int n, sql_result_t *result,
                          ctx_err_t *err) {
    w->returning = items;
    w->nreturning = n;
    if (n == 0) {
        return CTX_OK;
    }
    select_stmt_t sel;
    memset(&sel, 0, sizeof(sel));
    sel.items = items;
    sel.nitems = n;
    from_item_t from = {.kind = FROM_TABLE, .name = table_name(w->table), .location = -1};
    sel.from = &from;
    plan_t *plan;
    int rc = plan_select(&w->planner, &sel, &plan, err);
    if (rc != CTX_OK) {
        return rc;
    }
    /* The plan is a projection over the table: reuse its bound output expressions. */
    plan_t *project = plan;
    while (project->kind != PLAN_PROJECT) {
        CTX_ASSERT(project->child != NULL);
        project = project->child;
    }
    w->returning = NULL;
    w->nreturning = project->nexprs;
    result_columns(result, plan->cols, plan->ncols, w->arena);
    w->returning = arena_alloc(w->arena, sizeof(select_item_t) * (size_t)project->nexprs);
    for (int i = 0; i < project->nexprs; i++) {
        w->returning[i].expr = project->exprs[i];
    }
    return CTX_OK;
}

static int finish(write_ctx_t *w, const char *verb, sql_result_t *result, ctx_err_t *err) {
    if (w->s->describing) {
        return CTX_OK;
    }
    cmd_result_t applied;
    memset(&applied, 0, sizeof(applied));
    int rc = w->batch.count == 0 ? CTX_OK : session_apply(w->s, &w->batch, w->arena, &applied, err);
    if (rc != CTX_OK) {
        return rc;
    }
    uint64_t rows = 0;
    value_t *out = NULL;
    if (w->nreturning > 0) {
        out = arena_alloc(w->arena,
                          sizeof(value_t) * (size_t)w->nreturning * ((size_t)w->batch.count + 1));
    }
    for (uint32_t i = 0; i < w->batch.count; i++) {
        if (w->ret_rows[i] == NULL || !applied.applied[i]) {
            continue;
        }
        for (int c = 0; c < w->nreturning && rc == CTX_OK; c++) {
            rc = eval_expr(w->returning[c].expr, w->ret_rows[i], &w->eval,
                           &out[rows * (uint64_t)w->nreturning + (uint64_t)c], err);
        }
        rows++;
    }
    result->rows = out;
    result->nrows = w->nreturning > 0 ? rows : 0;
    result->tag = strcmp(verb, "INSERT") == 0
                      ? arena_sprintf(w->arena, "INSERT 0 %llu", (unsigned long long)rows)
                      : arena_sprintf(w->arena, "%s %llu", verb, (unsigned long long)rows);
    return rc;
}

/* ---------------------------------------------------------------- INSERT */

/* Maps the statement's column list to table columns; NULL list = all columns. */
/* The target columns: the listed ones, or (as PostgreSQL has it) without a list the table's
 * first columns, as many as the VALUES lists hold; the rest take their defaults. */
static int insert_targets(write_ctx_t *w, const insert_stmt_t *stmt, int *targets, int *n,
                          ctx_err_t *err) {
    if (stmt->columns == NULL) {
        *n = ncols_of(w);
        if (stmt->nrows > 0 && stmt->row_lengths[0] < *n) {
            *n = stmt->row_lengths[0];
        }
        for (int c = 0; c < *n; c++) {
            targets[c] = c;
        }
        return CTX_OK;
    }
    if (stmt->ncolumns > ncols_of(w)) {
        return ctx_err_set(err, CTX_EDUP_COLUMN,
                           "INSERT has more target columns than the "
                           "table has");
    }
    for (int i = 0; i < stmt->ncolumns; i++) {
        int c = column_index(w, stmt->columns[i]);
        if (c < 0) {
            return unknown_column(w, stmt->columns[i], stmt->table_location, err);
        }
        for (int j = 0; j < i; j++) {
            if (targets[j] == c) {
                return ctx_err_set(err, CTX_EDUP_COLUMN, "column \"%s\" specified more than once",
                                   stmt->columns[i]);
            }
        }
        targets[i] = c;
    }
    *n = stmt->ncolumns;
    return CTX_OK;
}

static void column_default(write_ctx_t *w, int c, value_t *out) {
    *out = value_null();
    if (w->table == TABLE_NODES && c == 1) {
        *out = value_text("", 0);
    } else if (w->table == TABLE_EDGES && c == 3) {
        *out = value_float(1.0);
    }
}

/* Evaluates one VALUES expression, coerced to the column's type. */
static int eval_value(write_ctx_t *w, expr_t *e, int c, value_t *out, ctx_err_t *err) {
    bind_scope_t none = {NULL, 0};
    bind_ctx_t bctx = {.scope = &none,
                       .env = &w->s->env,
                       .arena = w->arena,
                       .query_text = w->query_text,
                       .param_types = w->s->param_types,
                       .nparams = w->s->nparams};
    int rc = bind_expr(e, &bctx, err);
    if (rc == CTX_OK) {
        rc = bind_coerce(e, cols_of(w)[c].type, cols_of(w)[c].name, &bctx, err);
    }
    if (rc == CTX_OK && !w->s->describing) {
        rc = eval_expr(e, NULL, &w->eval, out, err);
    }
    return rc;
}

/* The EXPR_CONST the parser would have built for a compact VALUES entry, in *node (NULL for
 * DEFAULT); binding it may turn *node into a CAST over an arena copy, as for a parsed row. */
static expr_t *literal_expr(const insert_literal_t *literal, expr_t *node) {
    if (literal->is_default) {
        return NULL;
    }
    memset(node, 0, sizeof(*node));
    node->kind = EXPR_CONST;
    node->location = literal->location;
    node->type = (ctype_t)literal->type;
    node->value = literal->value;
    node->column_index = -1;
    node->agg_index = -1;
    return node;
}

static int values_row(write_ctx_t *w, const insert_stmt_t *stmt, int r, const int *targets,
                      int ntargets, value_t *row, ctx_err_t *err) {
    if (stmt->row_lengths[r] != ntargets) {
        return ctx_err_set(err, CTX_ESYNTAX, "INSERT has more %s than %s",
                           stmt->row_lengths[r] > ntargets ? "expressions" : "target columns",
                           stmt->row_lengths[r] > ntargets ? "target columns" : "expressions");
    }
    for (int c = 0; c < ncols_of(w); c++) {
        column_default(w, c, &row[c]);
    }
    const insert_literal_t *literals = stmt->literal_rows[r];
    for (int i = 0; i < ntargets; i++) {
        expr_t constant;
        expr_t *e = literals == NULL ? stmt->rows[r][i] : literal_expr(&literals[i], &constant);
        if (e == NULL) {
            continue; /* DEFAULT */
        }
        int rc = eval_value(w, e, targets[i], &row[targets[i]], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int check_conflict_target(write_ctx_t *w, const insert_stmt_t *stmt, ctx_err_t *err) {
    if (stmt->nconflict_columns == 0) {
        if (stmt->on_conflict == CONFLICT_UPDATE) {
            return ctx_err_set(err, CTX_ESYNTAX,
                               "ON CONFLICT DO UPDATE requires inference "
                               "specification or constraint name");
        }
        return CTX_OK;
    }
    int key_cols = w->table == TABLE_EDGES ? 3 : 1;
    bool ok = stmt->nconflict_columns == key_cols;
    for (int i = 0; ok && i < stmt->nconflict_columns; i++) {
        int c = column_index(w, stmt->conflict_columns[i]);
        ok = c >= 0 && c < key_cols;
    }
    if (!ok) {
        return ctx_err_set(err, CTX_ECOLUMN_REF,
                           "there is no unique or exclusion constraint "
                           "matching the ON CONFLICT specification");
    }
    return CTX_OK;
}

/* Reads the existing row with the same key as `row`; false when absent. */
static bool existing_row(write_ctx_t *w, const value_t *row, value_t *out) {
    const store_t *store = w->s->db->store;
    if (w->table == TABLE_NODES) {
        node_view_t n;
        if (!store_node_get(store, row[0].u.i, &n)) {
            return false;
        }
        out[0] = value_int(n.id);
        out[1] = value_text(n.label, n.label_len);
        out[2] = n.props == NULL ? value_null() : value_json(n.props, n.props_len);
        return true;
    }
    if (w->table == TABLE_EDGES) {
        int32_t kind = store_kind_lookup(store, row[2].u.str.ptr, row[2].u.str.len);
        edge_view_t e;
        if (kind < 0 || !store_edge_get(store, row[0].u.i, row[1].u.i, kind, &e)) {
            return false;
        }
        memcpy(out, row, sizeof(value_t) * 3);
        out[3] = value_float(e.weight);
        return true;
    }
    const float *v = store_vector_get(store, row[0].u.i);
    if (v == NULL) {
        return false;
    }
    out[0] = row[0];
    out[1] = value_vector(v, store_vector_dims(store));
    return true;
}

/* Makes op apply only to the row with `row`'s key as it is now -- the version the statement
 * read, or still absent (command.h, "Write-write conflicts"). */
static void expect_read_version(const write_ctx_t *w, const value_t *row, cmd_op_t *op) {
    const store_t *store = w->s->db->store;
    uint64_t version;
    if (w->table == TABLE_NODES) {
        version = store_node_version(store, row[0].u.i);
    } else if (w->table == TABLE_EDGES) {
        int32_t kind = store_kind_lookup(store, row[2].u.str.ptr, row[2].u.str.len);
        version = store_edge_version(store, row[0].u.i, row[1].u.i, kind);
    } else {
        version = store_vector_version(store, row[0].u.i);
    }
    op->flags |= CMD_FLAG_EXPECT_VERSION;
    op->expect_version = version;
}

/* ON CONFLICT DO UPDATE: the SET list and WHERE see the existing row (table name or alias) and
 * the proposed one (`excluded`), concatenated. */
typedef struct conflict_update {
    bind_column_t cols[2 * WRITE_COLS_MAX];
    int set_columns[64];
} conflict_update_t;

static int bind_conflict_update(write_ctx_t *w, insert_stmt_t *stmt, conflict_update_t *cu,
                                ctx_err_t *err) {
    int n = ncols_of(w);
    for (int c = 0; c < n; c++) {
        cu->cols[c] = cols_of(w)[c];
        cu->cols[n + c] = cols_of(w)[c];
        cu->cols[n + c].qualifier = "excluded";
    }
    if (stmt->nconflict_set > 64) {
        return ctx_err_set(err, CTX_ELIMIT, "too many SET clauses");
    }
    bind_scope_t scope = {cu->cols, 2 * n};
    bind_ctx_t bctx = {.scope = &scope,
                       .env = &w->s->env,
                       .arena = w->arena,
                       .query_text = w->query_text,
                       .param_types = w->s->param_types,
                       .nparams = w->s->nparams};
    for (int i = 0; i < stmt->nconflict_set; i++) {
        set_clause_t *set = &stmt->conflict_set[i];
        int c = column_index(w, set->column);
        if (c < 0) {
            return unknown_column(w, set->column, set->location, err);
        }
        cu->set_columns[i] = c;
        int rc = bind_expr(set->value, &bctx, err);
        if (rc == CTX_OK) {
            rc = bind_coerce(set->value, cols_of(w)[c].type, set->column, &bctx, err);
        }
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return stmt->conflict_where == NULL ? CTX_OK : bind_expr(stmt->conflict_where, &bctx, err);
}

/* Computes the updated row for a conflicting proposed row; *skip when WHERE is false. */
static int conflict_row(write_ctx_t *w, insert_stmt_t *stmt, const conflict_update_t *cu,
                        const value_t *existing, const value_t *proposed, value_t *out, bool *skip,
                        ctx_err_t *err) {
    int n = ncols_of(w);
    value_t both[2 * WRITE_COLS_MAX];
    memcpy(both, existing, sizeof(value_t) * (size_t)n);
    memcpy(both + n, proposed, sizeof(value_t) * (size_t)n);
    *skip = false;
    if (stmt->conflict_where != NULL) {
        bool keep;
        int rc = eval_predicate(stmt->conflict_where, both, &w->eval, &keep, err);
        if (rc != CTX_OK) {
            return rc;
        }
        *skip = !keep;
    }
    memcpy(out, existing, sizeof(value_t) * (size_t)n);
    for (int i = 0; i < stmt->nconflict_set && !*skip; i++) {
        int c = cu->set_columns[i];
        if (c == 0 || (w->table == TABLE_EDGES && c < 3)) {
            return ctx_err_set(err, CTX_EFEATURE, "cannot update key column \"%s\"",
                               cols_of(w)[c].name);
        }
        int rc = eval_expr(stmt->conflict_set[i].value, both, &w->eval, &out[c], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int key_compare(const write_ctx_t *w, const value_t *a, const value_t *b) {
    int keys = w->table == TABLE_EDGES ? 3 : 1;
    for (int c = 0; c < keys; c++) {
        int r = value_compare(&a[c], &b[c]);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

static int key_compare_rows(const void *a, const void *b, void *w) {
    return key_compare(w, *(value_t *const *)a, *(value_t *const *)b);
}

/* DO UPDATE may not touch one row twice (PostgreSQL's 21000): sorts the row pointers by key
 * (O(n log n), whatever the number of rows) and compares neighbours. */
static int check_unique_keys(write_ctx_t *w, value_t **rows, int nrows, ctx_err_t *err) {
    qsort_r(rows, (size_t)nrows, sizeof(*rows), key_compare_rows, w);
    for (int i = 1; i < nrows; i++) {
        if (key_compare(w, rows[i - 1], rows[i]) == 0) {
            ctx_err_set(err, CTX_ECARDINALITY,
                        "ON CONFLICT DO UPDATE command cannot affect row "
                        "a second time");
            ctx_err_hint(err, "Ensure that no rows proposed for insertion within the same "
                              "command have duplicate constrained values.");
            return err->code;
        }
    }
    return CTX_OK;
}

static int insert_row_op(write_ctx_t *w, insert_stmt_t *stmt, const conflict_update_t *cu,
                         value_t *row, ctx_err_t *err) {
    int n = ncols_of(w);
    cmd_op_t op;
    value_t existing[WRITE_COLS_MAX];
    int rc;
    if (stmt->on_conflict == CONFLICT_UPDATE && existing_row(w, row, existing)) {
        value_t *updated = arena_alloc(w->arena, sizeof(value_t) * (size_t)n);
        bool skip;
        rc = conflict_row(w, stmt, cu, existing, row, updated, &skip, err);
        if (rc != CTX_OK || skip) {
            return rc;
        }
        rc = row_to_op(w, updated, true, 0, &op, err);
        row = copy_row(w, updated, n);
    } else {
        uint8_t flags = stmt->on_conflict == CONFLICT_NOTHING ? CMD_FLAG_IF_ABSENT : 0;
        rc = row_to_op(w, row, false, flags, &op, err);
    }
    if (rc == CTX_OK && stmt->on_conflict != CONFLICT_NONE) {
        expect_read_version(w, row, &op); /* the row it updates, or its absence */
    }
    return rc == CTX_OK ? add_op(w, &op, row, err) : rc;
}

int write_insert(sql_session_t *s, insert_stmt_t *stmt, const char *query_text, arena_t *arena,
                 sql_result_t *result, ctx_err_t *err) {
    write_ctx_t w;
    int targets[WRITE_COLS_MAX + 1];
    int ntargets = 0;
    conflict_update_t cu;
    int rc = write_ctx_init(&w, s, stmt->table, stmt->table_location, query_text, arena, err);
    if (rc == CTX_OK) {
        rc = insert_targets(&w, stmt, targets, &ntargets, err);
    }
    if (rc == CTX_OK) {
        rc = check_conflict_target(&w, stmt, err);
    }
    if (rc == CTX_OK && stmt->on_conflict == CONFLICT_UPDATE) {
        rc = bind_conflict_update(&w, stmt, &cu, err);
    }
    if (rc == CTX_OK) {
        rc = bind_returning(&w, stmt->returning, stmt->nreturning, result, err);
    }
    /* All rows' values in one block of ncols values per row: no per-row allocation. */
    size_t ncols = (size_t)ncols_of(&w);
    value_t **rows = arena_alloc(arena, sizeof(value_t *) * ((size_t)stmt->nrows + 1));
    value_t *values = arena_alloc(arena, sizeof(value_t) * ncols * ((size_t)stmt->nrows + 1));
    for (int r = 0; rc == CTX_OK && r < stmt->nrows; r++) {
        rows[r] = &values[(size_t)r * ncols];
        rc = values_row(&w, stmt, r, targets, ntargets, rows[r], err);
    }
    if (w.s->describing) {
        return rc;
    }
    if (rc == CTX_OK && stmt->on_conflict == CONFLICT_UPDATE) {
        value_t **sorted = arena_alloc(arena, sizeof(value_t *) * ((size_t)stmt->nrows + 1));
        ctx_memcpy(sorted, rows, sizeof(value_t *) * (size_t)stmt->nrows);
        rc = check_unique_keys(&w, sorted, stmt->nrows, err);
    }
    if (rc == CTX_OK && stmt->nrows > 0 && stmt->nrows <= CMD_BATCH_OPS_MAX &&
        w.batch.cap < (uint32_t)stmt->nrows) {
        /* one op per row at most: sized once, so a long VALUES list leaves no grown copies */
        w.batch.ops = arena_alloc(arena, sizeof(cmd_op_t) * (size_t)stmt->nrows);
        w.batch.cap = (uint32_t)stmt->nrows;
        w.ret_rows = arena_alloc(arena, sizeof(value_t *) * (size_t)stmt->nrows);
        w.ret_cap = (uint32_t)stmt->nrows;
    }
    for (int r = 0; rc == CTX_OK && r < stmt->nrows; r++) {
        rc = insert_row_op(&w, stmt, &cu, rows[r], err);
    }
    return rc == CTX_OK ? finish(&w, "INSERT", result, err) : rc;
}

/* ---------------------------------------------------------------- UPDATE and DELETE */

/* Runs `FROM table [alias] WHERE cond` and returns the matching rows. */
static int find_targets(write_ctx_t *w, const char *alias, int location, expr_t *where,
                        plan_t **scan_out, rowset_t *rows, ctx_err_t *err) {
    from_item_t from = {
        .kind = FROM_TABLE, .name = table_name(w->table), .alias = alias, .location = location};
    plan_t *plan;
    int rc = plan_from(&w->planner, &from, &plan, err);
    if (rc == CTX_OK && where != NULL) {
        rc = plan_where(&w->planner, &plan, where, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    exec_ctx_t ctx = {.store = w->s->db->store, .eval = w->eval};
    *scan_out = plan;
    if (w->s->describing) {
        *rows = (rowset_t){.ncols = plan->ncols};
        return CTX_OK;
    }
    return exec_plan(plan, &ctx, rows, err);
}

static int bind_set_list(write_ctx_t *w, update_stmt_t *stmt, const plan_t *scan, int *columns,
                         ctx_err_t *err) {
    bind_scope_t scope = {scan->cols, scan->ncols};
    bind_ctx_t bctx = {.scope = &scope,
                       .env = &w->s->env,
                       .arena = w->arena,
                       .query_text = w->query_text,
                       .param_types = w->s->param_types,
                       .nparams = w->s->nparams};
    for (int i = 0; i < stmt->nset; i++) {
        set_clause_t *set = &stmt->set[i];
        int c = column_index(w, set->column);
        if (c < 0) {
            return unknown_column(w, set->column, set->location, err);
        }
        if (c == 0 || (w->table == TABLE_EDGES && c < 3)) {
            ctx_err_set(err, CTX_EFEATURE,
                        "updating key column \"%s\" of relation \"%s\" is "
                        "not supported",
                        set->column, table_name(w->table));
            ctx_err_hint(err, "Delete the row and insert it with the new key.");
            plan_error_at(&w->planner, err, set->location);
            return err->code;
        }
        columns[i] = c;
        int rc = bind_expr(set->value, &bctx, err);
        if (rc == CTX_OK) {
            rc = bind_coerce(set->value, cols_of(w)[c].type, set->column, &bctx, err);
        }
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int update_op(write_ctx_t *w, const value_t *updated, uint8_t flags, cmd_op_t *op,
                     ctx_err_t *err) {
    int rc = row_to_op(w, updated, true, 0, op, err);
    if (rc == CTX_OK && w->table == TABLE_NODES) {
        op->kind = CMD_NODE_UPDATE;
        op->flags = flags;
    }
    return rc;
}

int write_update(sql_session_t *s, update_stmt_t *stmt, const char *query_text, arena_t *arena,
                 sql_result_t *result, ctx_err_t *err) {
    write_ctx_t w;
    plan_t *scan;
    rowset_t rows;
    int columns[64];
    int rc = write_ctx_init(&w, s, stmt->table, stmt->table_location, query_text, arena, err);
    if (rc == CTX_OK && stmt->nset > 64) {
        rc = ctx_err_set(err, CTX_ELIMIT, "too many SET clauses");
    }
    if (rc == CTX_OK) {
        rc = find_targets(&w, stmt->alias, stmt->table_location, stmt->where, &scan, &rows, err);
    }
    if (rc == CTX_OK) {
        rc = bind_set_list(&w, stmt, scan, columns, err);
    }
    if (rc == CTX_OK) {
        rc = bind_returning(&w, stmt->returning, stmt->nreturning, result, err);
    }
    uint8_t flags = 0;
    for (int i = 0; i < stmt->nset; i++) {
        flags |= columns[i] == 1 ? CMD_FLAG_SET_LABEL : CMD_FLAG_SET_PROPS;
    }
    for (uint64_t r = 0; rc == CTX_OK && r < rows.nrows; r++) {
        const value_t *old = rows.rows + r * (uint64_t)rows.ncols;
        value_t *updated = copy_row(&w, old, rows.ncols);
        for (int i = 0; rc == CTX_OK && i < stmt->nset; i++) {
            rc = eval_expr(stmt->set[i].value, old, &w.eval, &updated[columns[i]], err);
            if (rc == CTX_OK) {
                updated[columns[i]] = value_copy(&updated[columns[i]], arena);
            }
        }
        cmd_op_t op;
        if (rc == CTX_OK) {
            rc = update_op(&w, updated, flags, &op, err);
        }
        if (rc == CTX_OK) {
            expect_read_version(&w, old, &op);
            rc = add_op(&w, &op, updated, err);
        }
    }
    return rc == CTX_OK ? finish(&w, "UPDATE", result, err) : rc;
}

static void delete_op(const write_ctx_t *w, const value_t *row, cmd_op_t *op) {
    memset(op, 0, sizeof(*op));
    op->id = row[0].u.i;
    if (w->table == TABLE_NODES) {
        op->kind = CMD_NODE_DELETE;
    } else if (w->table == TABLE_VECTORS) {
        op->kind = CMD_VECTOR_DELETE;
    } else {
        op->kind = CMD_EDGE_DELETE;
        op->target = row[1].u.i;
        op->kind_name = row[2].u.str.ptr;
        op->kind_len = row[2].u.str.len;
    }
}

int write_delete(sql_session_t *s, delete_stmt_t *stmt, const char *query_text, arena_t *arena,
                 sql_result_t *result, ctx_err_t *err) {
    write_ctx_t w;
    plan_t *scan;
    rowset_t rows;
    int rc = write_ctx_init(&w, s, stmt->table, stmt->table_location, query_text, arena, err);
    if (rc == CTX_OK) {
        rc = find_targets(&w, stmt->alias, stmt->table_location, stmt->where, &scan, &rows, err);
    }
    if (rc == CTX_OK) {
        rc = bind_returning(&w, stmt->returning, stmt->nreturning, result, err);
    }
    for (uint64_t r = 0; rc == CTX_OK && r < rows.nrows; r++) {
        value_t *old = copy_row(&w, rows.rows + r * (uint64_t)rows.ncols, rows.ncols);
        cmd_op_t op;
        delete_op(&w, old, &op);
        expect_read_version(&w, old, &op);
        rc = add_op(&w, &op, old, err);
    }
    return rc == CTX_OK ? finish(&w, "DELETE", result, err) : rc;
}

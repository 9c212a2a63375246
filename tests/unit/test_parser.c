/*
 * test_parser.c — unit tests of sql/parser*.c: every statement form of ContextQL, expression
 * shapes and precedence (asserted through a compact S-expression rendering of the expr_t tree),
 * statement splitting, PostgreSQL's syntax-error messages and character positions, the nesting
 * limit, and a seeded random test (CTX_TEST_SEED) that parses random token sequences and byte
 * strings and checks the parser only ever succeeds or fails cleanly.
 */
#include "sql.h"
#include "stack.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static arena_t arena;
static ctx_err_t err;
static stmt_t **stmts;
static int nstmts;

static void setup(void) {
    arena_init(&arena);
    ctx_err_clear(&err);
}

static void teardown(void) {
    arena_destroy(&arena);
}

static int parse(const char *text) {
    ctx_err_clear(&err);
    return sql_parse(text, strlen(text), &arena, &stmts, &nstmts, &err);
}

static stmt_t *parse1(const char *text) {
    int rc = parse(text);
    if (rc != CTX_OK) {
        ck_abort_msg("parse of [%s] failed: %s (position %d)", text, err.message, err.position);
    }
    ck_assert_int_eq(nstmts, 1);
    return stmts[0];
}

/* Renders an expression as an S-expression into out (fixed-size buffer, bounded). */
typedef struct sbuf {
    char data[2048];
    size_t len;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(sbuf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (b->len < sizeof(b->data)) {
        int n = vsnprintf(b->data + b->len, sizeof(b->data) - b->len, fmt, ap);
        b->len += n > 0 ? (size_t)n : 0;
        if (b->len >= sizeof(b->data)) {
            b->len = sizeof(b->data) - 1;
        }
    }
    va_end(ap);
}

static void render(sbuf_t *b, const expr_t *e);

static void render_args(sbuf_t *b, const expr_t *e, const char *sep) {
    for (int i = 0; i < e->nargs; i++) {
        sb_put(b, "%s", i == 0 ? "" : sep);
        if (e->args[i]->arg_name != NULL) {
            sb_put(b, "%s => ", e->args[i]->arg_name);
        }
        render(b, e->args[i]);
    }
}

static void render_const(sbuf_t *b, const expr_t *e) {
    switch (e->value.kind) {
    case VAL_NULL:
        sb_put(b, "NULL");
        break;
    case VAL_BOOL:
        sb_put(b, "%s", e->value.u.b ? "true" : "false");
        break;
    case VAL_INT:
        sb_put(b, "%lld", (long long)e->value.u.i);
        break;
    case VAL_FLOAT:
        sb_put(b, "%g", e->value.u.f);
        break;
    default:
        sb_put(b, "'%.*s'", (int)e->value.u.str.len, e->value.u.str.ptr);
        break;
    }
}

static void render(sbuf_t *b, const expr_t *e) {
    switch (e->kind) {
    case EXPR_CONST:
        render_const(b, e);
        break;
    case EXPR_PARAM:
        sb_put(b, "$%d", e->param_index);
        break;
    case EXPR_COLUMN:
        sb_put(b, "%s%s%s", e->qualifier ? e->qualifier : "", e->qualifier ? "." : "", e->name);
        break;
    case EXPR_STAR:
        sb_put(b, "%s%s*", e->qualifier ? e->qualifier : "", e->qualifier ? "." : "");
        break;
    case EXPR_UNARY:
        sb_put(b, "(%s ", expr_op_name(e->op));
        render(b, e->left);
        sb_put(b, ")");
        break;
    case EXPR_BINARY:
        sb_put(b, "(%s%s ", e->negated ? "!" : "", expr_op_name(e->op));
        render(b, e->left);
        sb_put(b, " ");
        render(b, e->right);
        sb_put(b, ")");
        break;
    case EXPR_IS_NULL:
        sb_put(b, "(IS %sNULL ", e->negated ? "NOT " : "");
        render(b, e->left);
        sb_put(b, ")");
        break;
    case EXPR_IN_LIST:
        sb_put(b, "(%sIN ", e->negated ? "NOT " : "");
        render(b, e->left);
        sb_put(b, " ");
        render_args(b, e, " ");
        sb_put(b, ")");
        break;
    case EXPR_FUNC:
        sb_put(b, "%s(%s%s", e->name, e->distinct ? "DISTINCT " : "", e->star ? "*" : "");
        render_args(b, e, ", ");
        sb_put(b, ")");
        break;
    case EXPR_CAST:
        sb_put(b, "(CAST ");
        render(b, e->left);
        sb_put(b, " %s)", e->name);
        break;
    case EXPR_CASE:
        sb_put(b, "(CASE");
        if (e->left != NULL) {
            sb_put(b, " ");
            render(b, e->left);
        }
        for (int i = 0; i + 1 < e->nargs; i += 2) {
            sb_put(b, " WHEN ");
            render(b, e->args[i]);
            sb_put(b, " THEN ");
            render(b, e->args[i + 1]);
        }
        if (e->right != NULL) {
            sb_put(b, " ELSE ");
            render(b, e->right);
        }
        sb_put(b, ")");
        break;
    default: /* subqueries, arrays, ANY, subscripts, fields, windows: see test_catalog.c */
        sb_put(b, "(%s)", e->kind == EXPR_SUBQUERY ? "SUBQUERY" : "EXPR");
        break;
    }
}

static const char *show(const expr_t *e) {
    static sbuf_t b;
    b.len = 0;
    b.data[0] = '\0';
    render(&b, e);
    return b.data;
}

/* The first select item of `SELECT <expr>`, rendered. */
static const char *expr_of(const char *expr_text) {
    char text[1024];
    snprintf(text, sizeof(text), "SELECT %s", expr_text);
    stmt_t *s = parse1(text);
    ck_assert_int_eq(s->kind, STMT_SELECT);
    ck_assert_int_eq(s->u.select->nitems, 1);
    return show(s->u.select->items[0].expr);
}

static void expect_error(const char *text, int code, const char *message, int position) {
    int rc = parse(text);
    if (rc != code || strcmp(err.message, message) != 0 || err.position != position) {
        ck_abort_msg("[%s]: got rc %d \"%s\" position %d; want %d \"%s\" position %d", text, rc,
                     err.message, err.position, code, message, position);
    }
    ck_assert_ptr_null(stmts);
    ck_assert_int_eq(nstmts, 0);
}

START_TEST(test_select_basic) {
    stmt_t *s = parse1("SELECT id, label AS l, props->>'name' n FROM nodes WHERE label = 'User' "
                       "ORDER BY id LIMIT 10");
    ck_assert_int_eq(s->kind, STMT_SELECT);
    select_stmt_t *q = s->u.select;
    ck_assert(!q->distinct);
    ck_assert_int_eq(q->nitems, 3);
    ck_assert_str_eq(show(q->items[0].expr), "id");
    ck_assert_ptr_null(q->items[0].alias);
    ck_assert_str_eq(q->items[1].alias, "l");
    ck_assert_str_eq(q->items[2].alias, "n");
    ck_assert_int_eq(q->items[1].location, 11);
    ck_assert_str_eq(show(q->items[2].expr), "(->> props 'name')");
    ck_assert_int_eq(q->from->kind, FROM_TABLE);
    ck_assert_str_eq(q->from->name, "nodes");
    ck_assert_ptr_null(q->from->schema);
    ck_assert_ptr_null(q->from->alias);
    ck_assert_str_eq(show(q->where), "(= label 'User')");
    ck_assert_int_eq(q->where->right->type, CT_UNKNOWN);
    ck_assert_int_eq(q->norder, 1);
    ck_assert(!q->order_by[0].desc);
    ck_assert_str_eq(show(q->limit), "10");
    ck_assert_ptr_null(q->offset);
    ck_assert_int_eq(s->location, 0);
    ck_assert_int_eq(s->length, 92);

    s = parse1("select distinct * from NODES as N");
    ck_assert(s->u.select->distinct);
    ck_assert_int_eq(s->u.select->items[0].expr->kind, EXPR_STAR);
    ck_assert_str_eq(s->u.select->from->alias, "n");
    s = parse1("SELECT");
    ck_assert_int_eq(s->u.select->nitems, 0);
    s = parse1("SELECT n.*, \"Weird Col\" FROM pg_catalog.pg_class");
    ck_assert_str_eq(show(s->u.select->items[0].expr), "n.*");
    ck_assert_str_eq(show(s->u.select->items[1].expr), "Weird Col");
    ck_assert_str_eq(s->u.select->from->schema, "pg_catalog");
    ck_assert_str_eq(s->u.select->from->name, "pg_class");
}
END_TEST

START_TEST(test_precedence) {
    ck_assert_str_eq(expr_of("a OR b AND NOT c = 1"), "(OR a (AND b (NOT (= c 1))))");
    ck_assert_str_eq(expr_of("x <=> '[1,2]' < 0.5"), "(< (<=> x '[1,2]') 0.5)");
    ck_assert_str_eq(expr_of("props->>'name' = 'ann'"), "(= (->> props 'name') 'ann')");
    ck_assert_str_eq(expr_of("1 + 2 * 3 - 4 % 5"), "(- (+ 1 (* 2 3)) (% 4 5))");
    ck_assert_str_eq(expr_of("a || b -> 'x' ->> 0"), "(->> (-> (|| a b) 'x') 0)");
    ck_assert_str_eq(expr_of("a + b <-> c"), "(<-> (+ a b) c)");
    ck_assert_str_eq(expr_of("e <#> v * 2"), "(<#> e (* v 2))");
    ck_assert_str_eq(expr_of("-a::int * b"), "(* (- (CAST a int)) b)");
    ck_assert_str_eq(expr_of("NOT a IS NULL"), "(NOT (IS NULL a))");
    ck_assert_str_eq(expr_of("a = b IS NOT NULL"), "(IS NOT NULL (= a b))");
    ck_assert_str_eq(expr_of("a <> 1 AND b != 2 OR c >= 3"),
                     "(OR (AND (<> a 1) (<> b 2)) (>= c 3))");
    ck_assert_str_eq(expr_of("a = 1 AND b LIKE 'x%' = true"), "(AND (= a 1) (= (~~ b 'x%') true))");
    ck_assert_str_eq(expr_of("(a OR b) AND c"), "(AND (OR a b) c)");
    ck_assert_str_eq(expr_of("NOT NOT a"), "(NOT (NOT a))");
    ck_assert_str_eq(expr_of("1 - - 2"), "(- 1 -2)");
    ck_assert_str_eq(expr_of("+a"), "(+ a)");
}
END_TEST

START_TEST(test_predicates) {
    ck_assert_str_eq(expr_of("a BETWEEN 1 AND 2 AND b"), "(AND (AND (>= a 1) (<= a 2)) b)");
    ck_assert_str_eq(expr_of("a NOT BETWEEN x + 1 AND 9"), "(OR (< a (+ x 1)) (> a 9))");
    ck_assert_str_eq(expr_of("id IN (1, 2, 3)"), "(IN id 1 2 3)");
    ck_assert_str_eq(expr_of("id NOT IN ('a')"), "(NOT IN id 'a')");
    ck_assert_str_eq(expr_of("label NOT LIKE 'U%'"), "(!~~ label 'U%')");
    ck_assert_str_eq(expr_of("label ILIKE $1"), "(~~* label $1)");
    ck_assert_str_eq(expr_of("x IS NOT NULL"), "(IS NOT NULL x)");
    ck_assert_str_eq(expr_of("x ISNULL"), "(IS NULL x)");
    ck_assert_str_eq(expr_of("x NOTNULL"), "(IS NOT NULL x)");
    ck_assert_str_eq(expr_of("CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END"),
                     "(CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3)");
    ck_assert_str_eq(expr_of("CASE k WHEN 'x' THEN 1 END"), "(CASE k WHEN 'x' THEN 1)");
    /* BETWEEN's operand is copied, not shared. */
    stmt_t *s = parse1("SELECT a BETWEEN 1 AND 2");
    expr_t *e = s->u.select->items[0].expr;
    ck_assert_ptr_ne(e->left->left, e->right->left);
}
END_TEST

START_TEST(test_literals_and_casts) {
    stmt_t *s = parse1("SELECT 1, 2147483648, -2147483648, 1.5, 9223372036854775808, 'x', TRUE, "
                       "false, NULL, $2");
    select_item_t *it = s->u.select->items;
    ck_assert_int_eq(it[0].expr->type, CT_INT4);
    ck_assert_int_eq(it[0].expr->value.kind, VAL_INT);
    ck_assert_int_eq(it[1].expr->type, CT_INT8);
    ck_assert_int_eq(it[2].expr->type, CT_INT4);
    ck_assert_int_eq(it[2].expr->value.u.i, INT32_MIN);
    ck_assert_int_eq(it[2].expr->location, 22);
    ck_assert_int_eq(it[3].expr->type, CT_FLOAT8);
    ck_assert_str_eq(expr_of("-9223372036854775808"), "-9223372036854775808");
    ck_assert_str_eq(expr_of("-9223372036854775808.0"), "-9.22337e+18");
    ck_assert_int_eq(it[4].expr->value.kind, VAL_FLOAT);
    ck_assert_int_eq(it[4].expr->type, CT_FLOAT8);
    ck_assert_int_eq(it[5].expr->value.kind, VAL_TEXT);
    ck_assert_int_eq(it[5].expr->type, CT_UNKNOWN);
    ck_assert_int_eq(it[6].expr->type, CT_BOOL);
    ck_assert(it[6].expr->value.u.b);
    ck_assert(!it[7].expr->value.u.b);
    ck_assert_int_eq(it[8].expr->value.kind, VAL_NULL);
    ck_assert_int_eq(it[9].expr->kind, EXPR_PARAM);
    ck_assert_int_eq(it[9].expr->param_index, 2);

    ck_assert_str_eq(expr_of("CAST(x AS double precision)"), "(CAST x double precision)");
    ck_assert_str_eq(expr_of("x::character varying(10)"), "(CAST x character varying(10))");
    ck_assert_str_eq(expr_of("'[1,2,3]'::vector(3)"), "(CAST '[1,2,3]' vector(3))");
    ck_assert_str_eq(expr_of("t::timestamp with time zone"), "(CAST t timestamp with time zone)");
    ck_assert_str_eq(expr_of("x::pg_catalog.text"), "(CAST x text)");
    ck_assert_str_eq(expr_of("x::text[]::numeric(10,2)"), "(CAST (CAST x text[]) numeric(10,2))");
    ck_assert_str_eq(expr_of("vector '[1,2]'"), "(CAST '[1,2]' vector)");
    ck_assert_str_eq(expr_of("jsonb '{}'"), "(CAST '{}' jsonb)");
    ck_assert_str_eq(expr_of("double precision '1.5'"), "(CAST '1.5' double precision)");
    ck_assert_str_eq(expr_of("$$it's$$"), "'it's'");
    ck_assert_str_eq(expr_of("E'a\\tb'"), "'a\tb'");
    s = parse1("SELECT '5'::int8, x::vector(3), y::jsonb, z::float8");
    it = s->u.select->items;
    ck_assert_int_eq(it[0].expr->kind, EXPR_CAST);
    ck_assert_int_eq(it[0].expr->cast_type, CT_INT8);
    ck_assert_int_eq(it[1].expr->cast_type, CT_VECTOR);
    ck_assert_int_eq(it[2].expr->cast_type, CT_JSONB);
    ck_assert_int_eq(it[3].expr->cast_type, CT_FLOAT8);
    ck_assert_int_eq(it[0].expr->location, 10);
}
END_TEST

START_TEST(test_functions_and_columns) {
    ck_assert_str_eq(expr_of("count(*)"), "count(*)");
    ck_assert_str_eq(expr_of("count(DISTINCT kind)"), "count(DISTINCT kind)");
    ck_assert_str_eq(expr_of("pg_catalog.version()"), "version()");
    ck_assert_str_eq(expr_of("COALESCE(a, 1)"), "coalesce(a, 1)");
    ck_assert_str_eq(expr_of("f(a, k => 1, d := 'x')"), "f(a, k => 1, d => 'x')");
    ck_assert_str_eq(expr_of("left('abc', 2)"), "left('abc', 2)");
    ck_assert_str_eq(expr_of("current_schema()"), "current_schema()");
    ck_assert_str_eq(expr_of("n.id"), "n.id");
    ck_assert_str_eq(expr_of("public.nodes.id"), "nodes.id");
    ck_assert_str_eq(expr_of("t.\"Order\""), "t.Order");
    const char *niladic[] = {"current_user", "session_user", "current_schema",    "current_catalog",
                             "current_role", "current_date", "current_timestamp", "localtimestamp"};
    for (size_t i = 0; i < sizeof(niladic) / sizeof(niladic[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "SELECT %s", niladic[i]);
        stmt_t *s = parse1(text);
        expr_t *e = s->u.select->items[0].expr;
        ck_assert_int_eq(e->kind, EXPR_FUNC);
        ck_assert_str_eq(e->name, niladic[i]);
        ck_assert_int_eq(e->nargs, 0);
    }
    stmt_t *s = parse1("SELECT sum(x) AS total FROM t");
    expr_t *e = s->u.select->items[0].expr;
    ck_assert(expr_is_aggregate_name(e->name));
    ck_assert(!expr_is_aggregate_name("version"));
    ck_assert_int_eq(e->column_index, -1);
    ck_assert_int_eq(e->agg_index, -1);
    ck_assert_str_eq(s->u.select->items[0].alias, "total");
}
END_TEST

START_TEST(test_from_and_joins) {
    stmt_t *s = parse1("SELECT n.id FROM nodes n JOIN edges AS e ON n.id = e.src "
                       "LEFT OUTER JOIN vectors v ON v.id = n.id, "
                       "neighbors(1, 2, kind => 'owns') nb CROSS JOIN (SELECT 1) AS s");
    from_item_t *f = s->u.select->from;
    ck_assert_int_eq(f->kind, FROM_JOIN);
    ck_assert_int_eq(f->join_type, JOIN_CROSS);
    ck_assert_ptr_null(f->on);
    from_item_t *left = f->left;
    ck_assert_int_eq(left->kind, FROM_JOIN);
    ck_assert_int_eq(left->join_type, JOIN_LEFT);
    ck_assert_str_eq(show(left->on), "(= v.id n.id)");
    ck_assert_int_eq(left->left->join_type, JOIN_INNER);
    ck_assert_str_eq(left->left->left->alias, "n");
    ck_assert_str_eq(left->left->right->alias, "e");
    ck_assert_str_eq(show(left->left->on), "(= n.id e.src)");
    ck_assert_str_eq(left->right->name, "vectors");
    from_item_t *right = f->right; /* neighbors(...) nb CROSS JOIN (SELECT 1) AS s */
    ck_assert_int_eq(right->kind, FROM_JOIN);
    ck_assert_int_eq(right->join_type, JOIN_CROSS);
    ck_assert_int_eq(right->left->kind, FROM_FUNCTION);
    ck_assert_str_eq(right->left->name, "neighbors");
    ck_assert_str_eq(right->left->alias, "nb");
    ck_assert_int_eq(right->left->nargs, 3);
    ck_assert_str_eq(right->left->args[2]->arg_name, "kind");
    ck_assert_str_eq(show(right->left->args[2]), "'owns'");
    ck_assert_int_eq(right->right->kind, FROM_SUBQUERY);
    ck_assert_str_eq(right->right->alias, "s");
    ck_assert_int_eq(right->right->subquery->nitems, 1);

    s = parse1("SELECT * FROM similar(1, threshold => 0.8)");
    ck_assert_int_eq(s->u.select->from->kind, FROM_FUNCTION);
    ck_assert_str_eq(s->u.select->from->name, "similar");
    s = parse1("SELECT * FROM hybrid(1, depth => 2, top_k => 5) h INNER JOIN nodes x ON true");
    ck_assert_int_eq(s->u.select->from->left->nargs, 3);
    s = parse1("SELECT * FROM traverse(1, 3, order => 'dfs', direction => 'both') AS t");
    ck_assert_str_eq(s->u.select->from->args[2]->arg_name, "order");
    ck_assert_str_eq(s->u.select->from->args[3]->arg_name, "direction");
    ck_assert_str_eq(s->u.select->from->alias, "t");
    s = parse1("SELECT * FROM a, b, c");
    ck_assert_str_eq(s->u.select->from->right->name, "c");
    ck_assert_str_eq(s->u.select->from->left->left->name, "a");
}
END_TEST

START_TEST(test_select_clauses) {
    stmt_t *s = parse1("SELECT kind, count(*) FROM edges WHERE weight > 0.5 GROUP BY kind, 2 "
                       "HAVING count(*) > 1 ORDER BY 2 DESC NULLS LAST, kind ASC NULLS FIRST, "
                       "label LIMIT ALL OFFSET 5 ROWS");
    select_stmt_t *q = s->u.select;
    ck_assert_int_eq(q->ngroup, 2);
    ck_assert_str_eq(show(q->group_by[1]), "2");
    ck_assert_str_eq(show(q->having), "(> count(*) 1)");
    ck_assert_int_eq(q->norder, 3);
    ck_assert(q->order_by[0].desc);
    ck_assert_int_eq(q->order_by[0].nulls, 2);
    ck_assert(!q->order_by[1].desc);
    ck_assert_int_eq(q->order_by[1].nulls, 1);
    ck_assert_int_eq(q->order_by[2].nulls, 0);
    ck_assert_ptr_null(q->limit);
    ck_assert_str_eq(show(q->offset), "5");
    s = parse1("SELECT * FROM t OFFSET 2 LIMIT 3");
    ck_assert_str_eq(show(s->u.select->limit), "3");
    ck_assert_str_eq(show(s->u.select->offset), "2");
    s = parse1("SELECT * FROM t ORDER BY embedding <-> '[1,2]' FETCH FIRST 3 ROWS ONLY");
    ck_assert_str_eq(show(s->u.select->order_by[0].expr), "(<-> embedding '[1,2]')");
    ck_assert_str_eq(show(s->u.select->limit), "3");
    s = parse1("SELECT * FROM t OFFSET 1 ROW FETCH NEXT ROW ONLY");
    ck_assert_str_eq(show(s->u.select->limit), "1");
    expect_error("SELECT * FROM t LIMIT 1 LIMIT 2", CTX_ESYNTAX,
                 "multiple LIMIT clauses not allowed", 25);
}
END_TEST

START_TEST(test_insert) {
    stmt_t *s = parse1("INSERT INTO nodes (id, label, props) VALUES (1, 'User', '{\"a\":1}'), "
                       "(2, DEFAULT, NULL) ON CONFLICT (id) DO UPDATE SET label = excluded.label, "
                       "props = '{}' WHERE nodes.id > 0 RETURNING *, id AS i");
    ck_assert_int_eq(s->kind, STMT_INSERT);
    insert_stmt_t *ins = s->u.insert;
    ck_assert_str_eq(ins->table, "nodes");
    ck_assert_int_eq(ins->table_location, 12);
    ck_assert_int_eq(ins->ncolumns, 3);
    ck_assert_str_eq(ins->columns[2], "props");
    ck_assert_int_eq(ins->nrows, 2);
    ck_assert_int_eq(ins->row_lengths[0], 3);
    ck_assert_int_eq(ins->row_lengths[1], 3);
    /* Rows of bare constants and DEFAULT are literal entries, not expression nodes. */
    ck_assert_ptr_null(ins->rows[0]);
    const insert_literal_t *lit = ins->literal_rows[0];
    ck_assert_ptr_nonnull(lit);
    ck_assert_int_eq(lit[0].value.kind, VAL_INT);
    ck_assert_int_eq(lit[0].value.u.i, 1);
    ck_assert_int_eq(lit[0].type, CT_INT4);
    ck_assert_int_eq(lit[0].location, 45);
    ck_assert_int_eq(lit[2].type, CT_UNKNOWN);
    ck_assert_int_eq(lit[2].value.u.str.len, 7);
    ck_assert_mem_eq(lit[2].value.u.str.ptr, "{\"a\":1}", 7);
    ck_assert(!lit[2].is_default);
    lit = ins->literal_rows[1];
    ck_assert(lit[1].is_default);
    ck_assert_int_eq(lit[2].value.kind, VAL_NULL);
    ck_assert_int_eq(lit[2].type, CT_UNKNOWN);
    ck_assert_int_eq(ins->on_conflict, CONFLICT_UPDATE);
    ck_assert_int_eq(ins->nconflict_columns, 1);
    ck_assert_str_eq(ins->conflict_columns[0], "id");
    ck_assert_int_eq(ins->nconflict_set, 2);
    ck_assert_str_eq(ins->conflict_set[0].column, "label");
    ck_assert_str_eq(show(ins->conflict_set[0].value), "excluded.label");
    ck_assert_str_eq(show(ins->conflict_where), "(> nodes.id 0)");
    ck_assert_int_eq(ins->nreturning, 2);
    ck_assert_int_eq(ins->returning[0].expr->kind, EXPR_STAR);
    ck_assert_str_eq(ins->returning[1].alias, "i");

    s = parse1("insert into vectors values (1, '[0.1, 0.2]') on conflict do nothing");
    ins = s->u.insert;
    ck_assert_ptr_null(ins->columns);
    ck_assert_int_eq(ins->ncolumns, 0);
    ck_assert_int_eq(ins->on_conflict, CONFLICT_NOTHING);
    ck_assert_int_eq(ins->nconflict_columns, 0);
    /* A row holding anything but bare constants stays an expression row, row by row. */
    s = parse1("INSERT INTO nodes VALUES (1 + 1, 'a'), (-2, 'b'), ($1, 'c'), (3, TRUE), (4, 'd')");
    ins = s->u.insert;
    ck_assert_int_eq(ins->nrows, 5);
    ck_assert_str_eq(show(ins->rows[0][0]), "(+ 1 1)");
    ck_assert_ptr_null(ins->literal_rows[0]);
    ck_assert_ptr_nonnull(ins->rows[1]);
    ck_assert_ptr_nonnull(ins->rows[2]);
    ck_assert_int_eq(s->nparams, 1);
    ck_assert_ptr_null(ins->rows[3]);
    ck_assert_int_eq(ins->literal_rows[3][1].type, CT_BOOL);
    ck_assert_ptr_nonnull(ins->literal_rows[4]);
    expect_error("INSERT INTO nodes VALUES (1, 'a'), (2)", CTX_ESYNTAX,
                 "VALUES lists must all be the same length", 36);
    expect_error("INSERT INTO nodes VALUES (1, 'a' 'b')", CTX_ESYNTAX,
                 "syntax error at or near \"'b'\"", 34);
    s = parse1("INSERT INTO public.edges VALUES (1, 2, 'owns', 1.0)");
    ck_assert_int_eq(s->u.insert->literal_rows[0][3].type, CT_FLOAT8);
    ck_assert_str_eq(s->u.insert->table, "edges");
    ck_assert_int_eq(s->u.insert->on_conflict, CONFLICT_NONE);
    ck_assert_int_eq(s->u.insert->nreturning, 0);
}
END_TEST

START_TEST(test_update_delete) {
    stmt_t *s = parse1("UPDATE nodes AS n SET label = 'Admin', props = '{\"x\":1}' WHERE n.id = 1 "
                       "RETURNING n.id");
    ck_assert_int_eq(s->kind, STMT_UPDATE);
    update_stmt_t *u = s->u.update;
    ck_assert_str_eq(u->table, "nodes");
    ck_assert_str_eq(u->alias, "n");
    ck_assert_int_eq(u->nset, 2);
    ck_assert_str_eq(u->set[1].column, "props");
    ck_assert_int_eq(u->set[1].location, 39);
    ck_assert_str_eq(show(u->where), "(= n.id 1)");
    ck_assert_int_eq(u->nreturning, 1);
    s = parse1("UPDATE nodes SET label = label || '!'");
    ck_assert_ptr_null(s->u.update->alias);
    ck_assert_ptr_null(s->u.update->where);

    s = parse1("DELETE FROM edges e WHERE src = 1 AND dst = 2 RETURNING *");
    ck_assert_int_eq(s->kind, STMT_DELETE);
    ck_assert_str_eq(s->u.del->table, "edges");
    ck_assert_str_eq(s->u.del->alias, "e");
    ck_assert_int_eq(s->u.del->table_location, 12);
    ck_assert_str_eq(show(s->u.del->where), "(AND (= src 1) (= dst 2))");
    ck_assert_int_eq(s->u.del->nreturning, 1);
    s = parse1("DELETE FROM nodes");
    ck_assert_ptr_null(s->u.del->where);
    ck_assert_ptr_null(s->u.del->alias);
}
END_TEST

static set_stmt_t *parse_set(const char *text, stmt_kind_t kind) {
    stmt_t *s = parse1(text);
    ck_assert_int_eq(s->kind, kind);
    return s->u.set;
}

START_TEST(test_set_show_reset) {
    set_stmt_t *s = parse_set("SET hnsw.ef_search = 100", STMT_SET);
    ck_assert_str_eq(s->name, "hnsw.ef_search");
    ck_assert_int_eq(s->nvalues, 1);
    ck_assert_str_eq(s->values[0], "100");
    s = parse_set("SET search_path TO public, \"$user\", 'x y'", STMT_SET);
    ck_assert_int_eq(s->nvalues, 3);
    ck_assert_str_eq(s->values[1], "$user");
    ck_assert_str_eq(s->values[2], "x y");
    s = parse_set("SET LOCAL statement_timeout = -1.5", STMT_SET);
    ck_assert(s->is_local);
    ck_assert_str_eq(s->values[0], "-1.5");
    s = parse_set("SET SESSION DateStyle TO ISO, MDY", STMT_SET);
    ck_assert(!s->is_local);
    ck_assert_str_eq(s->name, "datestyle");
    ck_assert_str_eq(s->values[0], "iso");
    s = parse_set("SET x TO DEFAULT", STMT_SET);
    ck_assert(s->is_default);
    ck_assert_int_eq(s->nvalues, 0);
    s = parse_set("set extra_float_digits = on", STMT_SET);
    ck_assert_str_eq(s->values[0], "on");
    s = parse_set("SET TIME ZONE 'UTC'", STMT_SET);
    ck_assert_str_eq(s->name, "timezone");
    ck_assert_str_eq(s->values[0], "UTC");
    s = parse_set("SET TIME ZONE LOCAL", STMT_SET);
    ck_assert(s->is_default);
    s = parse_set("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
                  STMT_SET);
    ck_assert_str_eq(s->name, "default_transaction_isolation");
    ck_assert_str_eq(s->values[0], "read committed");
    s = parse_set("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", STMT_SET);
    ck_assert_str_eq(s->name, "transaction_isolation");
    ck_assert_str_eq(s->values[0], "repeatable read");
    s = parse_set("SET NAMES 'UTF8'", STMT_SET);
    ck_assert_str_eq(s->name, "client_encoding");
    ck_assert_str_eq(s->values[0], "UTF8");

    s = parse_set("SHOW server_version", STMT_SHOW);
    ck_assert_str_eq(s->name, "server_version");
    s = parse_set("SHOW ALL", STMT_SHOW);
    ck_assert(s->all);
    s = parse_set("SHOW TRANSACTION ISOLATION LEVEL", STMT_SHOW);
    ck_assert_str_eq(s->name, "transaction_isolation");
    s = parse_set("SHOW TIME ZONE", STMT_SHOW);
    ck_assert_str_eq(s->name, "timezone");
    s = parse_set("RESET hnsw.ef_search", STMT_RESET);
    ck_assert_str_eq(s->name, "hnsw.ef_search");
    ck_assert(s->is_default);
    s = parse_set("RESET ALL", STMT_RESET);
    ck_assert(s->all);
    expect_error("SET x", CTX_ESYNTAX, "syntax error at end of input", 6);
    expect_error("SHOW", CTX_ESYNTAX, "syntax error at end of input", 5);
}
END_TEST

START_TEST(test_transactions_and_explain) {
    const char *begins[] = {"BEGIN", "BEGIN WORK", "begin transaction", "START TRANSACTION"};
    for (size_t i = 0; i < sizeof(begins) / sizeof(begins[0]); i++) {
        stmt_t *s = parse1(begins[i]);
        ck_assert_int_eq(s->kind, STMT_BEGIN);
        ck_assert(!s->u.txn->read_only);
        ck_assert_ptr_null(s->u.txn->isolation);
    }
    stmt_t *s = parse1("BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY");
    ck_assert_str_eq(s->u.txn->isolation, "serializable");
    ck_assert(s->u.txn->read_only);
    s = parse1("START TRANSACTION READ WRITE ISOLATION LEVEL READ UNCOMMITTED");
    ck_assert(!s->u.txn->read_only);
    ck_assert_str_eq(s->u.txn->isolation, "read uncommitted");
    const char *commits[] = {"COMMIT", "END", "commit work", "END TRANSACTION"};
    for (size_t i = 0; i < sizeof(commits) / sizeof(commits[0]); i++) {
        ck_assert_int_eq(parse1(commits[i])->kind, STMT_COMMIT);
    }
    ck_assert_int_eq(parse1("ROLLBACK")->kind, STMT_ROLLBACK);
    ck_assert_int_eq(parse1("ABORT WORK")->kind, STMT_ROLLBACK);

    s = parse1("EXPLAIN SELECT 1");
    ck_assert_int_eq(s->kind, STMT_EXPLAIN);
    ck_assert(!s->u.explain->analyze);
    ck_assert_int_eq(s->u.explain->target->kind, STMT_SELECT);
    ck_assert_int_eq(s->u.explain->target->location, 8);
    ck_assert_int_eq(s->u.explain->target->length, 8);
    s = parse1("EXPLAIN ANALYZE VERBOSE SELECT * FROM nodes");
    ck_assert(s->u.explain->analyze);
    ck_assert(s->u.explain->verbose);
    s = parse1("EXPLAIN (ANALYZE, VERBOSE false, COSTS off, FORMAT text) DELETE FROM nodes");
    ck_assert(s->u.explain->analyze);
    ck_assert(!s->u.explain->verbose);
    ck_assert_int_eq(s->u.explain->target->kind, STMT_DELETE);
    expect_error("EXPLAIN EXPLAIN SELECT 1", CTX_ESYNTAX, "syntax error at or near \"EXPLAIN\"", 9);
}
END_TEST

START_TEST(test_alter_cluster) {
    stmt_t *s = parse1("ALTER CLUSTER ADD NODE 4 '127.0.0.1:7004'");
    ck_assert_int_eq(s->kind, STMT_ALTER_CLUSTER);
    ck_assert(s->u.alter_cluster->add);
    ck_assert_int_eq(s->u.alter_cluster->id, 4);
    ck_assert_str_eq(s->u.alter_cluster->address, "127.0.0.1:7004");
    s = parse1("alter cluster remove node 2;");
    ck_assert_int_eq(s->kind, STMT_ALTER_CLUSTER);
    ck_assert(!s->u.alter_cluster->add);
    ck_assert_int_eq(s->u.alter_cluster->id, 2);
    ck_assert_ptr_null(s->u.alter_cluster->address);
    ck_assert_int_eq(parse("ALTER CLUSTER ADD NODE 4"), CTX_ESYNTAX);
    ck_assert_int_eq(parse("ALTER CLUSTER REMOVE NODE 'x'"), CTX_ESYNTAX);
    ck_assert_int_eq(parse("ALTER CLUSTER DROP NODE 2"), CTX_ESYNTAX);
    ck_assert_int_eq(parse("ALTER CLUSTER REMOVE NODE 0"), CTX_EBAD_PARAM);
    ck_assert_int_eq(parse("ALTER CLUSTER REMOVE NODE 3000000000"), CTX_EBAD_PARAM);
}
END_TEST

START_TEST(test_multiple_statements) {
    ck_assert_int_eq(parse("SELECT 1; ; SELECT 2 ;;"), CTX_OK);
    ck_assert_int_eq(nstmts, 2);
    ck_assert_int_eq(stmts[0]->location, 0);
    ck_assert_int_eq(stmts[0]->length, 8);
    ck_assert_int_eq(stmts[1]->location, 12);
    ck_assert_int_eq(stmts[1]->length, 8);
    ck_assert_int_eq(parse("BEGIN; INSERT INTO nodes VALUES (1, 'a', NULL); COMMIT"), CTX_OK);
    ck_assert_int_eq(nstmts, 3);
    ck_assert_int_eq(stmts[2]->kind, STMT_COMMIT);
    ck_assert_int_eq(parse("  -- just a comment\n /* and another */ "), CTX_OK);
    ck_assert_int_eq(nstmts, 0);
    ck_assert_int_eq(parse(";;;"), CTX_OK);
    ck_assert_int_eq(nstmts, 0);
    ck_assert_int_eq(parse(""), CTX_OK);
    ck_assert_int_eq(nstmts, 0);
    ck_assert_int_eq(sql_parse(NULL, 0, &arena, &stmts, &nstmts, &err), CTX_OK);
    ck_assert_int_eq(nstmts, 0);
    /* A lexical error anywhere fails the whole text. */
    expect_error("SELECT 1; SELECT 'x", CTX_ESYNTAX, "unterminated quoted string at or near \"'x\"",
                 18);
    expect_error("SELECT 1 SELECT 2", CTX_ESYNTAX, "syntax error at or near \"SELECT\"", 10);
}
END_TEST

START_TEST(test_syntax_errors) {
    expect_error("SELEC 1", CTX_ESYNTAX, "syntax error at or near \"SELEC\"", 1);
    expect_error("SELECT 1 +", CTX_ESYNTAX, "syntax error at end of input", 11);
    expect_error("SELECT * FROM nodes WHERE", CTX_ESYNTAX, "syntax error at end of input", 26);
    expect_error("SELECT * FROM nodes WHERE id = = 1", CTX_ESYNTAX, "syntax error at or near \"=\"",
                 32);
    expect_error("SELECT a = b = c", CTX_ESYNTAX, "syntax error at or near \"=\"", 14);
    expect_error("SELECT 1 2", CTX_ESYNTAX, "syntax error at or near \"2\"", 10);
    expect_error("SELECT 'é', 'ü' FROMM x", CTX_ESYNTAX, "syntax error at or near \"x\"", 23);
    expect_error("SELECT * FROM nodes WHERE label = 'x' ORDER id", CTX_ESYNTAX,
                 "syntax error at or near \"id\"", 45);
    expect_error("SELECT (1", CTX_ESYNTAX, "syntax error at end of input", 10);
    expect_error("SELECT f(1,)", CTX_ESYNTAX, "syntax error at or near \")\"", 12);
    expect_error("SELECT 'abc' @> x", CTX_ESYNTAX, "syntax error at or near \"@>\"", 14);
    expect_error("INSERT INTO nodes VALUES 1", CTX_ESYNTAX, "syntax error at or near \"1\"", 26);
    expect_error("SELECT * FROM nodes WHERE id IN ()", CTX_ESYNTAX, "syntax error at or near \")\"",
                 34);
    expect_error("UPDATE nodes label = 1", CTX_ESYNTAX, "syntax error at or near \"=\"", 20);
    expect_error("DELETE nodes", CTX_ESYNTAX, "syntax error at or near \"nodes\"", 8);
    expect_error("SELECT $", CTX_ESYNTAX, "syntax error at or near \"$\"", 8);
    expect_error("SELECT 'unterminated", CTX_ESYNTAX,
                 "unterminated quoted string at or near \"'unterminated\"", 8);
    ck_assert_str_eq(ctx_sqlstate(err.code), "42601");
}
END_TEST

static char *repeat_wrap(const char *prefix, const char *open, int n, const char *middle,
                         const char *close) {
    size_t cap = strlen(prefix) + (strlen(open) + strlen(close)) * (size_t)n + strlen(middle) + 1;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    strcpy(s, prefix);
    for (int i = 0; i < n; i++) {
        strcat(s, open);
    }
    strcat(s, middle);
    for (int i = 0; i < n; i++) {
        strcat(s, close);
    }
    return s;
}

START_TEST(test_input_reachable_assertions) {
    expect_error("SELECT ARRAY(1)", CTX_ESYNTAX, "syntax error at or near \"1\"", 14);
    expect_error("SELECT EXISTS(1)", CTX_ESYNTAX, "syntax error at or near \"1\"", 15);
    expect_error("SELECT ARRAY()", CTX_ESYNTAX, "syntax error at or near \")\"", 14);
    expect_error("SELECT 1 = ANY(ARRAY(x))", CTX_ESYNTAX, "syntax error at or near \"x\"", 22);
    expect_error("INSERT INTO nodes VALUES (1, 'a'), (2)", CTX_ESYNTAX,
                 "VALUES lists must all be the same length", 36);
    ck_assert_int_eq(parse("SELECT ARRAY((SELECT 1))"), CTX_OK);
    /* $n sizes the statement's parameter arrays: past what a Bind can carry it is refused */
    expect_error("SELECT $65536", CTX_EBAD_PARAM, "there is no parameter $65536", 8);
    expect_error("SELECT $2147483647", CTX_EBAD_PARAM, "there is no parameter $2147483647", 8);
    ck_assert_int_eq(parse("SELECT $65535"), CTX_OK);
}
END_TEST

START_TEST(test_depth_limit) {
    char *ok = repeat_wrap("SELECT ", "(", 300, "1", ")");
    ck_assert_int_eq(parse(ok), CTX_OK);
    free(ok);
    const char *opens[] = {"(", "NOT ", "- ", "f(", "CASE WHEN "};
    const char *closes[] = {")", "", "", ")", " THEN 1 END"};
    for (size_t i = 0; i < sizeof(opens) / sizeof(opens[0]); i++) {
        char *deep = repeat_wrap("SELECT ", opens[i], 5000, "1", closes[i]);
        ck_assert_int_eq(parse(deep), CTX_ELIMIT);
        ck_assert_str_eq(err.message, "stack depth limit exceeded");
        ck_assert_str_eq(ctx_sqlstate(err.code), "54000");
        ck_assert_int_gt(err.position, 1);
        free(deep);
    }
    char *subq = repeat_wrap("SELECT * FROM ", "(SELECT * FROM ", 3000, "t", ") s");
    ck_assert_int_eq(parse(subq), CTX_ELIMIT);
    free(subq);
    char *flat = repeat_wrap("SELECT 1", " + 1", 20000, "", "");
    ck_assert_int_eq(parse(flat), CTX_OK); /* long but flat: no limit */
    free(flat);
}
END_TEST

START_TEST(test_stack_guard_in_parser) {
    /* BETWEEN copies its operand: a long + chain is copied recursively, under the guard */
    char *deep = repeat_wrap("SELECT 1 WHERE 1", " + 1", 40000, " BETWEEN 0 AND 1", "");
    ctx_stack_set_max_depth(CTX_STACK_DEPTH_MIN_BYTES);
    int rc = parse(deep);
    ctx_stack_set_max_depth(CTX_STACK_DEPTH_DEFAULT_BYTES);
    ck_assert_int_eq(rc, CTX_ESTACK_DEPTH);
    ck_assert_str_eq(err.message, "stack depth limit exceeded");
    ck_assert_ptr_nonnull(strstr(err.hint, "max_stack_depth"));
    ck_assert_ptr_null(stmts);
    free(deep);
}
END_TEST

/* Touches every node of a parsed statement so ASAN catches dangling or wild pointers. */
static int walk_expr(const expr_t *e) {
    if (e == NULL) {
        return 0;
    }
    int n = 1 + walk_expr(e->left) + walk_expr(e->right);
    for (int i = 0; i < e->nargs; i++) {
        n += walk_expr(e->args[i]);
    }
    if (e->kind == EXPR_CONST && e->value.kind == VAL_TEXT && e->value.u.str.len > 0) {
        n += e->value.u.str.ptr[e->value.u.str.len - 1] == 0;
    }
    return n;
}

static int walk_select(const select_stmt_t *q);

static int walk_from(const from_item_t *f) {
    if (f == NULL) {
        return 0;
    }
    int n = 1 + walk_from(f->left) + walk_from(f->right) + walk_expr(f->on);
    for (int i = 0; i < f->nargs; i++) {
        n += walk_expr(f->args[i]);
    }
    return n + (f->subquery != NULL ? walk_select(f->subquery) : 0);
}

static int walk_select(const select_stmt_t *q) {
    int n = walk_from(q->from) + walk_expr(q->where) + walk_expr(q->having);
    n += walk_expr(q->limit) + walk_expr(q->offset);
    for (int i = 0; i < q->nitems; i++) {
        n += walk_expr(q->items[i].expr);
    }
    for (int i = 0; i < q->ngroup; i++) {
        n += walk_expr(q->group_by[i]);
    }
    for (int i = 0; i < q->norder; i++) {
        n += walk_expr(q->order_by[i].expr);
    }
    return n;
}

static int walk_stmt(const stmt_t *s) {
    switch (s->kind) {
    case STMT_SELECT:
        return walk_select(s->u.select);
    case STMT_INSERT: {
        int n = walk_expr(s->u.insert->conflict_where);
        for (int r = 0; r < s->u.insert->nrows; r++) {
            for (int c = 0; c < s->u.insert->row_lengths[r] && s->u.insert->rows[r]; c++) {
                n += walk_expr(s->u.insert->rows[r][c]);
            }
        }
        return n;
    }
    case STMT_UPDATE:
        return walk_expr(s->u.update->where) + s->u.update->nset;
    case STMT_DELETE:
        return walk_expr(s->u.del->where);
    case STMT_EXPLAIN:
        return walk_stmt(s->u.explain->target);
    case STMT_SET:
    case STMT_SHOW:
    case STMT_RESET:
        return s->u.set->nvalues + (s->u.set->name != NULL);
    default:
        return 0;
    }
}

static uint64_t rng_state;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *const fuzz_vocab[] = {
    "SELECT",   "FROM",      "WHERE",     "AND",
    "OR",       "NOT",       "(",         ")",
    ",",        ";",         "*",         "=",
    "<>",       "<",         "<=>",       "<->",
    "<#>",      "->",        "->>",       "||",
    "+",        "-",         "/",         "%",
    "::",       ".",         "=>",        "1",
    "2.5",      "'s'",       "E'\\n'",    "$$d$$",
    "$1",       "id",        "label",     "nodes",
    "n",        "AS",        "JOIN",      "LEFT",
    "ON",       "IN",        "IS",        "NULL",
    "LIKE",     "BETWEEN",   "CASE",      "WHEN",
    "THEN",     "ELSE",      "END",       "CAST",
    "int",      "vector",    "double",    "precision",
    "count",    "DISTINCT",  "GROUP",     "BY",
    "ORDER",    "DESC",      "NULLS",     "FIRST",
    "LIMIT",    "OFFSET",    "ALL",       "INSERT",
    "INTO",     "VALUES",    "DEFAULT",   "ON",
    "CONFLICT", "DO",        "NOTHING",   "UPDATE",
    "SET",      "DELETE",    "RETURNING", "TO",
    "SHOW",     "RESET",     "BEGIN",     "COMMIT",
    "ROLLBACK", "EXPLAIN",   "ANALYZE",   "TIME",
    "ZONE",     "neighbors", "\"Q\"",     "current_user",
    "TRUE",     "FETCH",     "ROWS",      "ONLY",
    "-- c\n",   "/* c */",   "'",         "\"",
    "/*",       "$",
};

static void fuzz_tokens(char *buf, size_t cap) {
    size_t n = 0;
    int ntok = (int)(rng_next() % 40);
    size_t nvocab = sizeof(fuzz_vocab) / sizeof(fuzz_vocab[0]);
    buf[0] = '\0';
    for (int i = 0; i < ntok; i++) {
        const char *w = fuzz_vocab[rng_next() % nvocab];
        const char *sep = rng_next() % 4 == 0 ? "" : " ";
        int written = snprintf(buf + n, cap - n, "%s%s", w, sep);
        if (written < 0 || (size_t)written >= cap - n) {
            break;
        }
        n += (size_t)written;
    }
}

static size_t fuzz_bytes(char *buf, size_t cap) {
    size_t n = rng_next() % (cap - 1);
    const char *alphabet = "SELECT*FROMWHERE()'\"$;,-/:=<>!|.0123456789 \n\t\\eE\xc3\xa9";
    size_t alen = strlen(alphabet);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next();
        buf[i] = (r & 1) != 0 ? alphabet[(r >> 1) % alen] : (char)(r >> 8);
    }
    buf[n] = '\0';
    return n;
}

START_TEST(test_random_inputs) {
    const char *env = getenv("CTX_TEST_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_parser random seed: %llu (replay with CTX_TEST_SEED=%llu)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    rng_state = seed * 2654435761u + 0x9E3779B97F4A7C15ull;
    char buf[512];
    int ok = 0;
    for (int iter = 0; iter < 120000; iter++) {
        size_t len;
        if (iter % 2 == 0) {
            fuzz_tokens(buf, sizeof(buf));
            len = strlen(buf);
        } else {
            len = fuzz_bytes(buf, sizeof(buf));
        }
        ctx_err_clear(&err);
        int rc = sql_parse(buf, len, &arena, &stmts, &nstmts, &err);
        if (rc != CTX_OK && rc != CTX_ESYNTAX && rc != CTX_ELIMIT && rc != CTX_EBAD_PARAM) {
            ck_abort_msg("seed %llu iteration %d: rc %d", (unsigned long long)seed, iter, rc);
        }
        if (rc == CTX_OK) {
            ok++;
            for (int i = 0; i < nstmts; i++) {
                ck_assert_int_ge(walk_stmt(stmts[i]), 0);
                ck_assert_int_ge(stmts[i]->length, 1);
                ck_assert_int_le(stmts[i]->location + stmts[i]->length, (int)len);
            }
        } else {
            ck_assert_int_eq(err.code, rc);
            ck_assert_int_ge(err.position, 1);
            ck_assert_int_le(err.position, (int)len + 1);
            ck_assert(err.message[0] != '\0');
        }
        arena_reset(&arena);
    }
    printf("test_parser random: %d of 120000 inputs parsed\n", ok);
}
END_TEST

static Suite *parser_suite(void) {
    Suite *s = suite_create("parser");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_select_basic);
    tcase_add_test(tc, test_precedence);
    tcase_add_test(tc, test_predicates);
    tcase_add_test(tc, test_literals_and_casts);
    tcase_add_test(tc, test_functions_and_columns);
    tcase_add_test(tc, test_from_and_joins);
    tcase_add_test(tc, test_select_clauses);
    tcase_add_test(tc, test_insert);
    tcase_add_test(tc, test_update_delete);
    tcase_add_test(tc, test_set_show_reset);
    tcase_add_test(tc, test_transactions_and_explain);
    tcase_add_test(tc, test_multiple_statements);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_input_reachable_assertions);
    tcase_add_test(tc, test_stack_guard_in_parser);
    tcase_add_test(tc, test_random_inputs);
    tcase_add_test(tc, test_alter_cluster);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(parser_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

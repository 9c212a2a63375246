/*
 * test_eval.c — binder and evaluator over hand-built expression trees (engine/expr/expr.h).
 *
 * Each case builds a tree as the parser would (locations are byte offsets into a query text the
 * test supplies), binds it against a scope of typed columns, evaluates it over one row and checks
 * the output text or the error's SQLSTATE, message and position. Expected results are
 * PostgreSQL 15's (checked with psql) or hand-computed for vector distances.
 */
#include "eval.h"

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static arena_t arena;

static const bind_column_t COLS[] = {
    {"n", "id", CT_INT8, 0, 0},       {"n", "label", CT_TEXT, 0, 0},
    {"n", "props", CT_JSONB, 0, 0},   {"v", "embedding", CT_VECTOR, 0, 0},
    {"e", "weight", CT_FLOAT8, 0, 0}, {"e", "n4", CT_INT4, 0, 0},
    {"e", "flag", CT_BOOL, 0, 0},     {"e", "nothing", CT_TEXT, 0, 0},
    {"v", "id", CT_INT8, 0, 0},
};
static const bind_scope_t SCOPE = {COLS, 9};
static value_t row[9];
static float emb[3] = {1, 2, 2};

static const char *setting(void *session, const char *name) {
    (void)session;
    return strcmp(name, "application_name") == 0 ? "psql" : NULL;
}

static const eval_env_t ENV = {.user = "ann",
                               .database = "contextdb",
                               .server_version = "PostgreSQL 15.0 (ContextDB test)",
                               .setting = setting,
                               .vector_dims = 3};

static void setup(void) {
    arena_init(&arena);
    ctx_err_t err;
    row[0] = value_int(7);
    row[1] = value_text("User", 4);
    static const char props[] =
        "{\"name\":\"ann\",\"tags\":[1,\"x\",null],\"n\":null,\"age\":30,\"q\":\"a\\\"b\"}";
    int rc = value_json_canonical(props, sizeof(props) - 1, &arena, &row[2], &err);
    ck_assert_msg(rc == 0, "%s %s", err.message, err.detail);
    row[3] = value_vector(emb, 3);
    row[4] = value_float(2.5);
    row[5] = value_int(2147483647);
    row[6] = value_bool(true);
    row[7] = value_null();
    row[8] = value_int(7);
}

static void teardown(void) {
    arena_destroy(&arena);
}

/* ---- tree builders ---- */

static expr_t *lit_int(int64_t i) {
    expr_t *e = expr_new(&arena, EXPR_CONST, -1);
    e->value = value_int(i);
    return e;
}

static expr_t *lit_float(double d) {
    expr_t *e = expr_new(&arena, EXPR_CONST, -1);
    e->value = value_float(d);
    return e;
}

static expr_t *lit_str_at(const char *s, int location) {
    expr_t *e = expr_new(&arena, EXPR_CONST, location);
    e->value = value_text(s, (uint32_t)strlen(s));
    return e;
}

static expr_t *lit_str(const char *s) {
    return lit_str_at(s, -1);
}

static expr_t *lit_null(void) {
    return expr_new(&arena, EXPR_CONST, -1);
}

static expr_t *lit_bool(bool b) {
    expr_t *e = expr_new(&arena, EXPR_CONST, -1);
    e->value = value_bool(b);
    return e;
}

static expr_t *col_at(const char *q, const char *name, int location) {
    expr_t *e = expr_new(&arena, EXPR_COLUMN, location);
    e->qualifier = q;
    e->name = name;
    return e;
}

/* Unqualified column; "id" exists twice in the scope (n.id, v.id), so it means n.id here. */
static expr_t *col(const char *name) {
    return col_at(strcmp(name, "id") == 0 ? "n" : NULL, name, -1);
}

static expr_t *bin_at(expr_op_t op, expr_t *l, expr_t *r, int location) {
    expr_t *e = expr_new(&arena, EXPR_BINARY, location);
    e->op = op;
    e->left = l;
    e->right = r;
    return e;
}

static expr_t *bin(expr_op_t op, expr_t *l, expr_t *r) {
    return bin_at(op, l, r, -1);
}

static expr_t *un(expr_op_t op, expr_t *l) {
    expr_t *e = expr_new(&arena, EXPR_UNARY, -1);
    e->op = op;
    e->left = l;
    return e;
}

static expr_t *func_at(const char *name, int location, int nargs, ...) {
    expr_t *e = expr_new(&arena, EXPR_FUNC, location);
    va_list ap;
    e->name = name;
    e->nargs = nargs;
    e->args = arena_alloc(&arena, sizeof(expr_t *) * (size_t)(nargs + 1));
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++) {
        e->args[i] = va_arg(ap, expr_t *);
    }
    va_end(ap);
    return e;
}

#define func(name, ...) func_at(name, -1, __VA_ARGS__)

static expr_t *cast_at(expr_t *l, const char *type, int location) {
    expr_t *e = expr_new(&arena, EXPR_CAST, location);
    e->left = l;
    e->name = type;
    return e;
}

static expr_t *cast(expr_t *l, const char *type) {
    return cast_at(l, type, -1);
}

static expr_t *in_list(expr_t *l, bool negated, int n, ...) {
    expr_t *e = expr_new(&arena, EXPR_IN_LIST, -1);
    va_list ap;
    e->left = l;
    e->negated = negated;
    e->nargs = n;
    e->args = arena_alloc(&arena, sizeof(expr_t *) * (size_t)n);
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        e->args[i] = va_arg(ap, expr_t *);
    }
    va_end(ap);
    return e;
}

/* ---- running ---- */

static bind_ctx_t bctx(const char *query) {
    bind_ctx_t b = {.scope = &SCOPE,
                    .env = &ENV,
                    .allow_aggregates = true,
                    .arena = &arena,
                    .query_text = query};
    return b;
}

static int run_q(expr_t *e, const char *query, value_t *out, ctx_err_t *err) {
    bind_ctx_t b = bctx(query);
    eval_ctx_t c = {.env = &ENV, .arena = &arena, .query_text = query};
    ctx_err_clear(err);
    int rc = bind_expr(e, &b, err);
    if (rc == 0) {
        rc = eval_expr(e, row, &c, out, err);
    }
    return rc;
}

/* Output text of e (NULL → "<null>"); fails the test on error. */
static const char *ev(expr_t *e) {
    value_t v;
    ctx_err_t err;
    int rc = run_q(e, NULL, &v, &err);
    ck_assert_msg(rc == 0, "unexpected error %s: %s", ctx_sqlstate(rc), err.message);
    if (v.kind == VAL_NULL) {
        return "<null>";
    }
    uint32_t len = 0;
    const char *s = value_to_text(&v, &arena, &len);
    return arena_strndup(&arena, s, len);
}

static void ev_err_q(expr_t *e, const char *query, const char *state, const char *msg,
                     int position) {
    value_t v;
    ctx_err_t err;
    int rc = run_q(e, query, &v, &err);
    ck_assert_msg(rc != 0, "expected error %s", msg);
    ck_assert_str_eq(ctx_sqlstate(rc), state);
    ck_assert_str_eq(err.message, msg);
    ck_assert_int_eq(err.position, position);
}

static void ev_err(expr_t *e, const char *state, const char *msg) {
    ev_err_q(e, NULL, state, msg, 0);
}

/* ---- binder ---- */

START_TEST(bind_columns) {
    expr_t *e = col("label");
    ck_assert_str_eq(ev(e), "User");
    ck_assert_int_eq(e->column_index, 1);
    ck_assert_int_eq(e->type, CT_TEXT);
    e = col_at("v", "id", -1);
    ck_assert_str_eq(ev(e), "7");
    ck_assert_int_eq(e->column_index, 8);
    const char *q = "SELECT foo FROM nodes";
    ev_err_q(col_at(NULL, "foo", 7), q, "42703", "column \"foo\" does not exist", 8);
    ev_err_q(col_at(NULL, "id", 7), q, "42702", "column reference \"id\" is ambiguous", 8);
    ev_err_q(col_at("n", "foo", 7), q, "42703", "column n.foo does not exist", 8);
    ev_err_q(col_at("zz", "id", 7), q, "42P01", "missing FROM-clause entry for table \"zz\"", 8);
    /* positions count characters, not bytes */
    const char *uq = "SELECT 'é', foo";
    ev_err_q(col_at(NULL, "foo", 13), uq, "42703", "column \"foo\" does not exist", 13);
    ck_assert_int_eq(eval_char_position("abc", 0), 1);
    ck_assert_int_eq(eval_char_position("é b", 3), 3);
}
END_TEST

START_TEST(bind_literal_coercion) {
    expr_t *e = bin(OP_EQ, col("id"), lit_str("7"));
    ck_assert_str_eq(ev(e), "t");
    ck_assert_int_eq(e->right->type, CT_INT8);
    ck_assert_int_eq(e->right->value.kind, VAL_INT);
    e = bin(OP_EQ, lit_str("User"), col("label"));
    ck_assert_str_eq(ev(e), "t");
    ck_assert_int_eq(e->left->type, CT_TEXT);
    e = bin(OP_EQ, lit_str("a"), lit_str("a"));
    ck_assert_str_eq(ev(e), "t");
    ck_assert_int_eq(e->left->type, CT_TEXT);
    e = bin(OP_EQ, col("props"),
            lit_str("{\"q\":\"a\\\"b\",\"age\":30,\"n\":null,\"name\":\"ann\","
                    "\"tags\":[1,\"x\",null]}"));
    ck_assert_str_eq(ev(e), "t");
    ck_assert_int_eq(e->right->type, CT_JSONB);
    e = bin(OP_L2_DISTANCE, col("embedding"), lit_str("[1,2,3]"));
    ck_assert_str_eq(ev(e), "1");
    ck_assert_int_eq(e->right->type, CT_VECTOR);
    ck_assert_int_eq(e->type, CT_FLOAT8);
    const char *q = "SELECT * FROM nodes WHERE id = 'abc'";
    ev_err_q(bin(OP_EQ, col("id"), lit_str_at("abc", 31)), q, "22P02",
             "invalid input syntax for type bigint: \"abc\"", 32);
    e = bin(OP_ADD, lit_str("5"), lit_int(1));
    ck_assert_str_eq(ev(e), "6");
    ck_assert_int_eq(e->type, CT_INT4);
    /* NULL literal takes the other side's type */
    e = bin(OP_EQ, lit_null(), col("id"));
    ck_assert_str_eq(ev(e), "<null>");
    ck_assert_int_eq(e->left->type, CT_INT8);
    /* big integer literals are int8 */
    e = lit_int(5000000000LL);
    ev(e);
    ck_assert_int_eq(e->type, CT_INT8);
}
END_TEST

START_TEST(bind_operator_errors) {
    const char *q = "SELECT label + 1";
    expr_t *e = bin_at(OP_ADD, col("label"), lit_int(1), 7);
    value_t v;
    ctx_err_t err;
    ck_assert_int_ne(run_q(e, q, &v, &err), 0);
    ck_assert_str_eq(ctx_sqlstate(err.code), "42883");
    ck_assert_str_eq(err.message, "operator does not exist: text + integer");
    ck_assert_str_eq(err.hint, "No operator matches the given name and argument types. You might "
                               "need to add explicit type casts.");
    ck_assert_int_eq(err.position, 8);
    ev_err(bin(OP_EQ, col("label"), col("id")), "42883", "operator does not exist: text = bigint");
    ev_err(bin(OP_AND, col("id"), lit_bool(true)), "42804",
           "argument of AND must be type boolean, not type bigint");
    ev_err(un(OP_NOT, col("label")), "42804",
           "argument of NOT must be type boolean, not type text");
    ev_err(bin(OP_MOD, col("weight"), lit_int(2)), "42883",
           "operator does not exist: double precision % integer");
    ev_err(bin(OP_LIKE, col("id"), lit_str("1%")), "42883",
           "operator does not exist: bigint ~~ text");
    ev_err(bin(OP_JSON_GET, col("label"), lit_str("a")), "42883",
           "operator does not exist: text -> text");
    ev_err(bin(OP_COSINE_DISTANCE, col("embedding"), col("id")), "42883",
           "operator does not exist: vector <=> bigint");
    ev_err(bin(OP_CONCAT, col("id"), col("n4")), "42883",
           "operator does not exist: bigint || integer");
}
END_TEST

START_TEST(bind_functions) {
    const char *q = "SELECT foo(1)";
    expr_t *e = func_at("foo", 7, 1, lit_int(1));
    value_t v;
    ctx_err_t err;
    ck_assert_int_ne(run_q(e, q, &v, &err), 0);
    ck_assert_str_eq(ctx_sqlstate(err.code), "42883");
    ck_assert_str_eq(err.message, "function foo(integer) does not exist");
    ck_assert_str_eq(err.hint, "No function matches the given name and argument types. You might "
                               "need to add explicit type casts.");
    ck_assert_int_eq(err.position, 8);
    ev_err(func("lower", 1, col("id")), "42883", "function lower(bigint) does not exist");
    ev_err(func("lower", 2, col("label"), col("label")), "42883",
           "function lower(text, text) does not exist");
    ev_err(func("sum", 1, col("label")), "42883", "function sum(text) does not exist");
    /* aggregate typing */
    expr_t *c = func("count", 0);
    c->star = true;
    bind_ctx_t b = bctx(NULL);
    ck_assert_int_eq(bind_expr(c, &b, &err), 0);
    ck_assert_int_eq(c->type, CT_INT8);
    expr_t *s4 = func("sum", 1, col("n4"));
    expr_t *sf = func("sum", 1, col("weight"));
    expr_t *av = func("avg", 1, col("id"));
    expr_t *mx = func("max", 1, col("label"));
    expr_t *mn = func("min", 1, col("embedding"));
    expr_t *all[] = {s4, sf, av, mx, mn};
    ctype_t want[] = {CT_INT8, CT_FLOAT8, CT_FLOAT8, CT_TEXT, CT_VECTOR};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(bind_expr(all[i], &b, &err), 0);
        ck_assert_int_eq(all[i]->type, want[i]);
    }
    /* aggregates in WHERE and nested aggregates */
    b.allow_aggregates = false;
    ctx_err_clear(&err);
    ck_assert_int_eq(bind_expr(func_at("count", 6, 1, col("id")), &b, &err), CTX_EGROUPING);
    ck_assert_str_eq(err.message, "aggregate functions are not allowed in WHERE");
    ck_assert_str_eq(ctx_sqlstate(err.code), "42803");
    b.allow_aggregates = true;
    ctx_err_clear(&err);
    ck_assert_int_eq(bind_expr(func("sum", 1, func("max", 1, col("id"))), &b, &err), CTX_EGROUPING);
    ck_assert_str_eq(err.message, "aggregate function calls cannot be nested");
    /* evaluation of an aggregate reads agg_values */
    value_t aggs[2] = {value_int(41), value_int(42)};
    eval_ctx_t ec = {.env = &ENV, .arena = &arena, .agg_values = aggs};
    expr_t *a = func("count", 1, col("id"));
    ck_assert_int_eq(bind_expr(a, &b, &err), 0);
    a->agg_index = 1;
    expr_t *plus = bin(OP_ADD, a, lit_int(1));
    ck_assert_int_eq(bind_expr(plus, &b, &err), 0);
    ck_assert_int_eq(eval_expr(plus, row, &ec, &v, &err), 0);
    ck_assert_int_eq(v.u.i, 43);
}
END_TEST

START_TEST(bind_case_and_in) {
    expr_t *c = expr_new(&arena, EXPR_CASE, -1);
    c->nargs = 4;
    c->args = arena_alloc(&arena, sizeof(expr_t *) * 4);
    c->args[0] = bin(OP_GT, col("id"), lit_int(10));
    c->args[1] = lit_int(1);
    c->args[2] = bin(OP_GT, col("id"), lit_int(5));
    c->args[3] = lit_float(2.5);
    c->right = lit_null();
    ck_assert_str_eq(ev(c), "2.5");
    ck_assert_int_eq(c->type, CT_FLOAT8);
    /* simple CASE with operand and unknown results → text */
    expr_t *s = expr_new(&arena, EXPR_CASE, -1);
    s->left = col("label");
    s->nargs = 2;
    s->args = arena_alloc(&arena, sizeof(expr_t *) * 2);
    s->args[0] = lit_str("User");
    s->args[1] = lit_str("yes");
    s->right = lit_str("no");
    ck_assert_str_eq(ev(s), "yes");
    ck_assert_int_eq(s->type, CT_TEXT);
    expr_t *bad = expr_new(&arena, EXPR_CASE, -1);
    bad->nargs = 2;
    bad->args = arena_alloc(&arena, sizeof(expr_t *) * 2);
    bad->args[0] = lit_bool(true);
    bad->args[1] = col("id");
    bad->right = col("label");
    ev_err(bad, "42804", "CASE types bigint and text cannot be matched");
    /* IN coerces items to the left type; NULL semantics */
    expr_t *in = in_list(col("id"), false, 3, lit_str("1"), lit_str("7"), lit_int(9));
    ck_assert_str_eq(ev(in), "t");
    ck_assert_int_eq(in->args[0]->type, CT_INT8);
    ck_assert_str_eq(ev(in_list(col("id"), false, 2, lit_int(1), lit_null())), "<null>");
    ck_assert_str_eq(ev(in_list(col("id"), true, 2, lit_int(1), lit_int(2))), "t");
    ck_assert_str_eq(ev(in_list(col("id"), true, 2, lit_int(7), lit_null())), "f");
    ck_assert_str_eq(ev(in_list(col("nothing"), false, 1, lit_str("x"))), "<null>");
    ck_assert_str_eq(ev(in_list(col("weight"), false, 2, lit_int(1), lit_str("2.5"))), "t");
    ev_err(in_list(col("id"), false, 1, lit_str("x")), "22P02",
           "invalid input syntax for type bigint: \"x\"");
}
END_TEST

START_TEST(bind_coerce_assign) {
    bind_ctx_t b = bctx("INSERT INTO nodes VALUES (1, 5)");
    ctx_err_t err = {0};
    expr_t *e = lit_int(5);
    ck_assert_int_eq(bind_expr(e, &b, &err), 0);
    ck_assert_int_eq(bind_coerce(e, CT_FLOAT8, "weight", &b, &err), 0);
    ck_assert_int_eq(e->type, CT_FLOAT8);
    eval_ctx_t c = {.env = &ENV, .arena = &arena};
    value_t v;
    ck_assert_int_eq(eval_expr(e, row, &c, &v, &err), 0);
    ck_assert_int_eq(v.kind, VAL_FLOAT);
    ck_assert(v.u.f == 5.0);
    e = lit_str("{\"b\":1,\"a\":2}");
    ck_assert_int_eq(bind_expr(e, &b, &err), 0);
    ck_assert_int_eq(bind_coerce(e, CT_JSONB, "props", &b, &err), 0);
    ck_assert_int_eq(e->value.kind, VAL_JSON);
    e = expr_new(&arena, EXPR_CONST, 29);
    e->value = value_int(5);
    ck_assert_int_eq(bind_expr(e, &b, &err), 0);
    ck_assert_int_eq(bind_coerce(e, CT_TEXT, "label", &b, &err), CTX_ETYPE);
    ck_assert_str_eq(err.message,
                     "column \"label\" is of type text but expression is of type integer");
    ck_assert_str_eq(err.hint, "You will need to rewrite or cast the expression.");
    ck_assert_int_eq(err.position, 30);
    /* int8 → int4 assignment is range-checked at run time */
    ctx_err_clear(&err);
    e = lit_int(5000000000LL);
    ck_assert_int_eq(bind_expr(e, &b, &err), 0);
    ck_assert_int_eq(bind_coerce(e, CT_INT4, "n4", &b, &err), 0);
    ck_assert_int_eq(eval_expr(e, row, &c, &v, &err), CTX_ERANGE);
    ck_assert_str_eq(err.message, "integer out of range");
    /* params: $1 = id types $1 as int8 */
    ctype_t ptypes[1] = {CT_UNKNOWN};
    b.param_types = ptypes;
    b.nparams = 1;
    expr_t *p = expr_new(&arena, EXPR_PARAM, -1);
    p->param_index = 1;
    e = bin(OP_EQ, col("id"), p);
    ctx_err_clear(&err);
    ck_assert_int_eq(bind_expr(e, &b, &err), 0);
    ck_assert_int_eq(ptypes[0], CT_INT8);
    value_t params[1] = {value_int(7)};
    c.params = params;
    c.nparams = 1;
    bool ok = false;
    ck_assert_int_eq(eval_predicate(e, row, &c, &ok, &err), 0);
    ck_assert(ok);
}
END_TEST

/* ---- evaluation ---- */

START_TEST(eval_logic_three_valued) {
    expr_t *n = lit_null();
    ck_assert_str_eq(ev(bin(OP_AND, lit_null(), lit_bool(false))), "f");
    ck_assert_str_eq(ev(bin(OP_AND, lit_bool(false), lit_null())), "f");
    ck_assert_str_eq(ev(bin(OP_AND, lit_null(), lit_bool(true))), "<null>");
    ck_assert_str_eq(ev(bin(OP_OR, lit_null(), lit_bool(true))), "t");
    ck_assert_str_eq(ev(bin(OP_OR, lit_bool(true), lit_null())), "t");
    ck_assert_str_eq(ev(bin(OP_OR, n, lit_bool(false))), "<null>");
    ck_assert_str_eq(ev(bin(OP_AND, lit_bool(true), lit_bool(true))), "t");
    ck_assert_str_eq(ev(bin(OP_OR, lit_bool(false), lit_bool(false))), "f");
    ck_assert_str_eq(ev(un(OP_NOT, lit_null())), "<null>");
    ck_assert_str_eq(ev(un(OP_NOT, col("flag"))), "f");
    ck_assert_str_eq(ev(bin(OP_AND, lit_str("yes"), lit_str("on"))), "t");
    ck_assert_str_eq(ev(bin(OP_EQ, col("nothing"), lit_str("x"))), "<null>");
    ck_assert_str_eq(ev(bin(OP_LT, col("id"), lit_null())), "<null>");
    expr_t *isn = expr_new(&arena, EXPR_IS_NULL, -1);
    isn->left = col("nothing");
    ck_assert_str_eq(ev(isn), "t");
    isn = expr_new(&arena, EXPR_IS_NULL, -1);
    isn->left = col("id");
    isn->negated = true;
    ck_assert_str_eq(ev(isn), "t");
    /* predicate: NULL → false */
    bind_ctx_t b = bctx(NULL);
    eval_ctx_t c = {.env = &ENV, .arena = &arena};
    ctx_err_t err = {0};
    bool r = true;
    expr_t *e = bin(OP_EQ, col("nothing"), lit_str("x"));
    ck_assert_int_eq(bind_expr(e, &b, &err), 0);
    ck_assert_int_eq(eval_predicate(e, row, &c, &r, &err), 0);
    ck_assert(!r);
}
END_TEST

START_TEST(eval_comparisons) {
    ck_assert_str_eq(ev(bin(OP_EQ, lit_int(1), lit_float(1.0))), "t");
    ck_assert_str_eq(ev(bin(OP_LT, col("n4"), col("id"))), "f");
    ck_assert_str_eq(ev(bin(OP_GE, col("weight"), lit_int(2))), "t");
    ck_assert_str_eq(ev(bin(OP_NE, col("label"), lit_str("user"))), "t");
    ck_assert_str_eq(ev(bin(OP_LT, lit_str("abc"), lit_str("abd"))), "t");
    ck_assert_str_eq(ev(bin(OP_LE, lit_str("b"), lit_str("abc"))), "f");
    ck_assert_str_eq(ev(bin(OP_EQ, lit_float(NAN), lit_float(NAN))), "t");
    ck_assert_str_eq(ev(bin(OP_GT, col("embedding"), lit_str("[1,2,1]"))), "t");
    ck_assert_str_eq(ev(bin(OP_EQ, col("flag"), lit_str("true"))), "t");
}
END_TEST

START_TEST(eval_arithmetic) {
    ck_assert_str_eq(ev(bin(OP_ADD, lit_int(2), lit_int(3))), "5");
    ck_assert_str_eq(ev(bin(OP_DIV, lit_int(-7), lit_int(2))), "-3");
    ck_assert_str_eq(ev(bin(OP_MOD, lit_int(-7), lit_int(3))), "-1");
    ck_assert_str_eq(ev(bin(OP_MUL, col("weight"), lit_int(2))), "5");
    ck_assert_str_eq(ev(bin(OP_DIV, lit_int(1), lit_float(3))), "0.3333333333333333");
    ck_assert_str_eq(ev(bin(OP_SUB, lit_float(0.3), lit_float(0.1))), "0.19999999999999998");
    ck_assert_str_eq(ev(un(OP_NEG, col("id"))), "-7");
    ck_assert_str_eq(ev(bin(OP_ADD, lit_null(), lit_int(1))), "<null>");
    ev_err(bin(OP_ADD, col("n4"), lit_int(1)), "22003", "integer out of range");
    ev_err(bin(OP_ADD, lit_int(INT64_MAX), lit_int(1)), "22003", "bigint out of range");
    ev_err(bin(OP_MUL, lit_int(INT64_MAX), lit_int(2)), "22003", "bigint out of range");
    ev_err(bin(OP_SUB, lit_int(INT64_MIN), lit_int(1)), "22003", "bigint out of range");
    ev_err(bin(OP_DIV, lit_int(INT64_MIN), lit_int(-1)), "22003", "bigint out of range");
    ck_assert_str_eq(ev(bin(OP_MOD, lit_int(INT64_MIN), lit_int(-1))), "0");
    ev_err(bin(OP_DIV, lit_int(1), lit_int(0)), "22012", "division by zero");
    ev_err(bin(OP_MOD, lit_int(1), lit_int(0)), "22012", "division by zero");
    ev_err(bin(OP_DIV, lit_float(1), lit_int(0)), "22012", "division by zero");
    ev_err(bin(OP_MUL, lit_float(1e300), lit_float(1e300)), "22003",
           "value out of range: overflow");
    ev_err(bin(OP_MUL, lit_float(1e-300), lit_float(1e-300)), "22003",
           "value out of range: underflow");
    ck_assert_str_eq(ev(bin(OP_ADD, lit_float(INFINITY), lit_int(1))), "Infinity");
}
END_TEST

START_TEST(eval_concat_and_text) {
    ck_assert_str_eq(ev(bin(OP_CONCAT, lit_str("abc"), lit_int(1))), "abc1");
    ck_assert_str_eq(ev(bin(OP_CONCAT, lit_int(1), lit_str("abc"))), "1abc");
    ck_assert_str_eq(ev(bin(OP_CONCAT, lit_str("a"), lit_bool(true))), "atrue");
    ck_assert_str_eq(ev(bin(OP_CONCAT, col("label"), col("weight"))), "User2.5");
    ck_assert_str_eq(ev(bin(OP_CONCAT, col("label"), col("nothing"))), "<null>");
    ck_assert_str_eq(ev(bin(OP_CONCAT, col("props"), lit_str("{\"age\":31,\"z\":1}"))),
                     "{\"n\": null, \"q\": \"a\\\"b\", \"z\": 1, \"age\": 31, \"name\": \"ann\", "
                     "\"tags\": [1, \"x\", null]}");
    ck_assert_str_eq(ev(bin(OP_CONCAT, cast(lit_str("[1]"), "jsonb"), cast(lit_str("2"), "jsonb"))),
                     "[1, 2]");
}
END_TEST

START_TEST(eval_like) {
    static const struct {
        const char *s;
        const char *p;
        const char *want;
    } cases[] = {
        {"abc", "a%", "t"},      {"abc", "%%", "t"},
        {"", "%", "t"},          {"", "_", "f"},
        {"abc", "_b_", "t"},     {"abc", "a_", "f"},
        {"a_c", "a\\_c", "t"},   {"abc", "a\\_c", "f"},
        {"a%c", "a\\%c", "t"},   {"abc", "%c", "t"},
        {"abc", "%b", "f"},      {"abcabc", "%bc%bc", "t"},
        {"aXbXc", "a%b%c", "t"}, {"mississippi", "%iss%ppi", "t"},
        {"héllo", "h_llo", "t"}, {"héllo", "h__llo", "f"},
        {"a\\b", "a\\\\b", "t"}, {"ABC", "abc", "f"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = ev(bin(OP_LIKE, lit_str(cases[i].s), lit_str(cases[i].p)));
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "'%s' LIKE '%s' = %s", cases[i].s,
                      cases[i].p, got);
    }
    ck_assert_str_eq(ev(bin(OP_ILIKE, lit_str("ABC"), lit_str("a%c"))), "t");
    ck_assert_str_eq(ev(bin(OP_ILIKE, col("label"), lit_str("us_R"))), "t");
    expr_t *nl = bin(OP_LIKE, col("label"), lit_str("U%"));
    nl->negated = true;
    ck_assert_str_eq(ev(nl), "f");
    ck_assert_str_eq(ev(bin(OP_LIKE, col("nothing"), lit_str("%"))), "<null>");
    ev_err(bin(OP_LIKE, lit_str("abc"), lit_str("ab\\")), "22000",
           "LIKE pattern must not end with escape character");
    /* pathological: 30k 'a's against a pattern of many '%a' segments ending in 'b' */
    size_t n = 30000;
    char *s = arena_alloc(&arena, n + 1);
    memset(s, 'a', n);
    s[n] = '\0';
    char *p = arena_alloc(&arena, 2 * 40 + 3);
    size_t k = 0;
    for (int i = 0; i < 40; i++) {
        p[k++] = '%';
        p[k++] = 'a';
    }
    p[k++] = '%';
    p[k++] = 'b';
    p[k] = '\0';
    clock_t t0 = clock();
    ck_assert_str_eq(ev(bin(OP_LIKE, lit_str(s), lit_str(p))), "f");
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ck_assert_msg(secs < 2.0, "LIKE took %.2fs", secs);
}
END_TEST

START_TEST(eval_json) {
    ck_assert_str_eq(ev(bin(OP_JSON_GET_TEXT, col("props"), lit_str("name"))), "ann");
    ck_assert_str_eq(ev(bin(OP_JSON_GET, col("props"), lit_str("name"))), "\"ann\"");
    ck_assert_str_eq(ev(bin(OP_JSON_GET, col("props"), lit_str("tags"))), "[1, \"x\", null]");
    ck_assert_str_eq(ev(bin(OP_JSON_GET_TEXT, col("props"), lit_str("q"))), "a\"b");
    ck_assert_str_eq(ev(bin(OP_JSON_GET_TEXT, col("props"), lit_str("age"))), "30");
    ck_assert_str_eq(ev(bin(OP_JSON_GET_TEXT, col("props"), lit_str("n"))), "<null>");
    ck_assert_str_eq(ev(bin(OP_JSON_GET, col("props"), lit_str("n"))), "null");
    ck_assert_str_eq(ev(bin(OP_JSON_GET, col("props"), lit_str("missing"))), "<null>");
    expr_t *tags = bin(OP_JSON_GET, col("props"), lit_str("tags"));
    ck_assert_str_eq(ev(bin(OP_JSON_GET_TEXT, tags, lit_int(1))), "x");
    tags = bin(OP_JSON_GET, col("props"), lit_str("tags"));
    ck_assert_str_eq(ev(bin(OP_JSON_GET, tags, lit_int(-3))), "1");
    tags = bin(OP_JSON_GET, col("props"), lit_str("tags"));
    ck_assert_str_eq(ev(bin(OP_JSON_GET, tags, lit_int(3))), "<null>");
    tags = bin(OP_JSON_GET, col("props"), lit_str("tags"));
    ck_assert_str_eq(ev(bin(OP_JSON_GET, tags, lit_int(-4))), "<null>");
    ck_assert_str_eq(ev(bin(OP_JSON_GET, col("props"), lit_int(0))), "<null>");
    ck_assert_str_eq(ev(bin(OP_JSON_GET, lit_str("{\"a\":{\"b\":1}}"), lit_str("a"))),
                     "{\"b\": 1}");
    ck_assert_str_eq(ev(func("jsonb_typeof", 1, col("props"))), "object");
    ck_assert_str_eq(ev(func("jsonb_typeof", 1, lit_str("1.5"))), "number");
    ck_assert_str_eq(ev(func("jsonb_array_length", 1, lit_str("[1,[2,3],{\"a\":[4]}]"))), "3");
    ck_assert_str_eq(ev(func("jsonb_array_length", 1, lit_str("[]"))), "0");
    ev_err(func("jsonb_array_length", 1, lit_str("5")), "22023",
           "cannot get array length of a scalar");
    ck_assert_str_eq(ev(func("jsonb_build_object", 6, lit_str("b"), lit_int(1), lit_str("a"),
                             col("label"), lit_str("c"), lit_null())),
                     "{\"a\": \"User\", \"b\": 1, \"c\": null}");
    ev_err(func("jsonb_build_object", 1, lit_str("a")), "22023",
           "argument list must have even number of elements");
    /* a bad JSON literal in context is a 22P02 at bind time */
    ev_err_q(bin(OP_EQ, col("props"), lit_str_at("{", 20)), "SELECT 1 WHERE props = '{'", "22P02",
             "invalid input syntax for type json", 21);
}
END_TEST

START_TEST(eval_vectors) {
    /* emb = [1,2,2]; other = [2,0,1]: diff (-1,2,1) → L2 sqrt(6); dot 4; |a| 3, |b| sqrt(5) */
    char buf[64];
    snprintf(buf, sizeof(buf), "%.17g", sqrt(6.0));
    value_t v;
    ctx_err_t err;
    expr_t *e = bin(OP_L2_DISTANCE, col("embedding"), lit_str("[2,0,1]"));
    ck_assert_int_eq(run_q(e, NULL, &v, &err), 0);
    ck_assert_double_eq_tol(v.u.f, sqrt(6.0), 1e-12);
    e = bin(OP_COSINE_DISTANCE, col("embedding"), lit_str("[2,0,1]"));
    ck_assert_int_eq(run_q(e, NULL, &v, &err), 0);
    ck_assert_double_eq_tol(v.u.f, 1.0 - 4.0 / (3.0 * sqrt(5.0)), 1e-6);
    e = bin(OP_NEG_INNER, col("embedding"), lit_str("[2,0,1]"));
    ck_assert_str_eq(ev(e), "-4");
    ck_assert_str_eq(ev(func("inner_product", 2, col("embedding"), lit_str("[2,0,1]"))), "4");
    ck_assert_str_eq(ev(func("negative_inner_product", 2, col("embedding"), lit_str("[2,0,1]"))),
                     "-4");
    e = func("cosine_similarity", 2, col("embedding"), lit_str("[2,0,1]"));
    ck_assert_int_eq(run_q(e, NULL, &v, &err), 0);
    ck_assert_double_eq_tol(v.u.f, 4.0 / (3.0 * sqrt(5.0)), 1e-6);
    ck_assert_str_eq(ev(func("l2_norm", 1, col("embedding"))), "3");
    ck_assert_str_eq(ev(func("vector_dims", 1, col("embedding"))), "3");
    ck_assert_str_eq(ev(func("l2_distance", 2, lit_str("[0,0]"), lit_str("[3,4]"))), "5");
    ck_assert_str_eq(ev(bin(OP_L2_DISTANCE, lit_str("[0,0]"), lit_str("[3,4]"))), "5");
    ev_err(bin(OP_L2_DISTANCE, col("embedding"), lit_str("[1,2]")), "22000",
           "different vector dimensions 3 and 2");
    ev_err(func("cosine_distance", 2, col("embedding"), lit_str("[1,2]")), "22000",
           "different vector dimensions 3 and 2");
    ev_err(bin(OP_L2_DISTANCE, col("embedding"), lit_str("[1,2")), "22P02",
           "invalid input syntax for type vector: \"[1,2\"");
    ck_assert_str_eq(ev(cast(col("embedding"), "text")), "[1,2,2]");
    ev_err_q(cast_at(lit_str_at("[1,2]", 7), "vector(3)", 14), "SELECT '[1,2]'::vector(3)", "22000",
             "expected 3 dimensions, not 2", 8);
}
END_TEST

START_TEST(eval_casts) {
    ck_assert_str_eq(ev(cast(lit_str("42"), "int")), "42");
    ck_assert_str_eq(ev(cast(col("id"), "text")), "7");
    ck_assert_str_eq(ev(cast(col("weight"), "int")), "3");
    ck_assert_str_eq(ev(cast(lit_float(-2.5), "integer")), "-3");
    ck_assert_str_eq(ev(cast(lit_float(2.4), "bigint")), "2");
    ck_assert_str_eq(ev(cast(col("id"), "float8")), "7");
    ck_assert_str_eq(ev(cast(col("flag"), "int")), "1");
    ck_assert_str_eq(ev(cast(lit_int(0), "bool")), "f");
    ck_assert_str_eq(ev(cast(col("flag"), "text")), "true");
    ck_assert_str_eq(ev(cast(lit_str("yes"), "boolean")), "t");
    ck_assert_str_eq(ev(cast(col("props"), "text")),
                     "{\"n\": null, \"q\": \"a\\\"b\", \"age\": 30, \"name\": \"ann\", "
                     "\"tags\": [1, \"x\", null]}");
    ck_assert_str_eq(ev(cast(bin(OP_JSON_GET, col("props"), lit_str("age")), "int")), "30");
    ck_assert_str_eq(ev(cast(lit_str(" [1, 2] "), "vector")), "[1,2]");
    ck_assert_str_eq(ev(cast(lit_str("{\"b\":1,\"a\":[]}"), "json")), "{\"a\": [], \"b\": 1}");
    ck_assert_str_eq(ev(cast(cast(col("label"), "text"), "varchar")), "User");
    ck_assert_str_eq(ev(cast(lit_null(), "int")), "<null>");
    ev_err(cast(col("n4"), "jsonb"), "42804", "cannot cast type integer to jsonb");
    ev_err(cast(lit_float(1e10), "int"), "22003", "integer out of range");
    ev_err(cast(lit_float(NAN), "bigint"), "22003", "bigint out of range");
    ev_err(cast(col("id"), "nosuchtype"), "42704", "type \"nosuchtype\" does not exist");
    ev_err(cast(col("id"), "foo"), "42704", "type \"foo\" does not exist");
    ev_err_q(cast_at(lit_str_at("abc", 7), "int8", 12), "SELECT 'abc'::int8", "22P02",
             "invalid input syntax for type bigint: \"abc\"", 8);
    ev_err(cast(cast(col("label"), "text"), "int"), "22P02",
           "invalid input syntax for type integer: \"User\"");
    /* a run-time cast error carries the cast's position */
    ev_err_q(cast_at(col_at(NULL, "label", 7), "int", 12), "SELECT label::int", "22P02",
             "invalid input syntax for type integer: \"User\"", 13);
}
END_TEST

START_TEST(eval_scalar_functions) {
    ck_assert_str_eq(ev(func("version", 0)), "PostgreSQL 15.0 (ContextDB test)");
    ck_assert_str_eq(ev(func("current_database", 0)), "contextdb");
    ck_assert_str_eq(ev(func("current_schema", 0)), "public");
    ck_assert_str_eq(ev(func("current_user", 0)), "ann");
    ck_assert_str_eq(ev(func("session_user", 0)), "ann");
    ck_assert_str_eq(ev(func("current_setting", 1, lit_str("application_name"))), "psql");
    ck_assert_str_eq(ev(func("current_setting", 2, lit_str("nope"), lit_bool(true))), "<null>");
    ev_err(func("current_setting", 1, lit_str("nope")), "42704",
           "unrecognized configuration parameter \"nope\"");
    ck_assert_str_eq(ev(func("lower", 1, col("label"))), "user");
    ck_assert_str_eq(ev(func("upper", 1, lit_str("héllo"))), "HéLLO");
    ck_assert_str_eq(ev(func("length", 1, lit_str("héllo"))), "5");
    ck_assert_str_eq(ev(func("char_length", 1, col("label"))), "4");
    ck_assert_str_eq(ev(func("substring", 3, lit_str("hello"), lit_int(0), lit_int(3))), "he");
    ck_assert_str_eq(ev(func("substr", 2, lit_str("héllo"), lit_int(2))), "éllo");
    ck_assert_str_eq(ev(func("substr", 3, lit_str("hello"), lit_int(2), lit_int(100))), "ello");
    ev_err(func("substr", 3, lit_str("hello"), lit_int(2), lit_int(-1)), "22000",
           "negative substring length not allowed");
    ck_assert_str_eq(ev(func("left", 2, lit_str("abcde"), lit_int(-2))), "abc");
    ck_assert_str_eq(ev(func("right", 2, lit_str("abcde"), lit_int(-2))), "cde");
    ck_assert_str_eq(ev(func("right", 2, lit_str("abcde"), lit_int(2))), "de");
    ck_assert_str_eq(ev(func("replace", 3, lit_str("abcabc"), lit_str("bc"), lit_str("X"))),
                     "aXaX");
    ck_assert_str_eq(ev(func("btrim", 2, lit_str("xxaxx"), lit_str("x"))), "a");
    ck_assert_str_eq(ev(func("trim", 1, lit_str("  a  "))), "a");
    ck_assert_str_eq(ev(func("ltrim", 1, lit_str("  a  "))), "a  ");
    ck_assert_str_eq(ev(func("rtrim", 1, lit_str("  a  "))), "  a");
    ck_assert_str_eq(ev(func("concat", 4, lit_str("a"), lit_null(), lit_int(1), lit_bool(true))),
                     "a1t");
    ck_assert_str_eq(ev(func("abs", 1, lit_int(-5))), "5");
    ck_assert_str_eq(ev(func("abs", 1, lit_float(-2.5))), "2.5");
    ev_err(func("abs", 1, lit_int(INT64_MIN)), "22003", "bigint out of range");
    ck_assert_str_eq(ev(func("round", 1, lit_float(2.5))), "3");
    ck_assert_str_eq(ev(func("round", 1, lit_float(-2.5))), "-3");
    ck_assert_str_eq(ev(func("round", 2, lit_float(3.14159), lit_int(2))), "3.14");
    ck_assert_str_eq(ev(func("round", 1, lit_int(5))), "5");
    ck_assert_str_eq(ev(func("floor", 1, lit_float(-2.5))), "-3");
    ck_assert_str_eq(ev(func("ceil", 1, lit_float(2.1))), "3");
    ck_assert_str_eq(ev(func("sqrt", 1, lit_int(16))), "4");
    ev_err(func("sqrt", 1, lit_int(-1)), "22000", "cannot take square root of a negative number");
    ck_assert_str_eq(ev(func("coalesce", 3, col("nothing"), lit_str("x"), col("label"))), "x");
    ck_assert_str_eq(ev(func("coalesce", 2, lit_int(1), bin(OP_DIV, lit_int(1), lit_int(0)))), "1");
    expr_t *co = func("coalesce", 2, lit_null(), lit_int(2));
    ck_assert_str_eq(ev(co), "2");
    ck_assert_int_eq(co->type, CT_INT4);
    ck_assert_str_eq(ev(func("nullif", 2, lit_int(1), lit_float(1.0))), "<null>");
    ck_assert_str_eq(ev(func("nullif", 2, col("label"), lit_str("x"))), "User");
    ck_assert_str_eq(ev(func("greatest", 3, lit_int(1), lit_float(2.5), lit_null())), "2.5");
    ck_assert_str_eq(ev(func("least", 3, lit_int(1), lit_float(2.5), lit_null())), "1");
    ck_assert_str_eq(ev(func("greatest", 2, lit_str("a"), lit_str("b"))), "b");
    ck_assert_str_eq(ev(func("lower", 1, lit_null())), "<null>");
    const char *now = ev(func("now", 0));
    ck_assert_int_eq((int)strlen(now), 29);
    ck_assert(now[4] == '-' && now[10] == ' ');
}
END_TEST

static Suite *eval_suite(void) {
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("eval");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bind_columns);
    tcase_add_test(tc, bind_literal_coercion);
    tcase_add_test(tc, bind_operator_errors);
    tcase_add_test(tc, bind_functions);
    tcase_add_test(tc, bind_case_and_in);
    tcase_add_test(tc, bind_coerce_assign);
    tcase_add_test(tc, eval_logic_three_valued);
    tcase_add_test(tc, eval_comparisons);
    tcase_add_test(tc, eval_arithmetic);
    tcase_add_test(tc, eval_concat_and_text);
    tcase_add_test(tc, eval_like);
    tcase_add_test(tc, eval_json);
    tcase_add_test(tc, eval_vectors);
    tcase_add_test(tc, eval_casts);
    tcase_add_test(tc, eval_scalar_functions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(eval_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

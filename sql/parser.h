/*
 * parser.h — internals shared by the recursive-descent parser's files (parser.c: entry point,
 * SET/SHOW/RESET/transactions/EXPLAIN; parser_stmt.c: SELECT/INSERT/UPDATE/DELETE;
 * parser_expr.c: operators; parser_primary.c: primaries and type names). The server's entry
 * point is sql_parse() in sql.h; nothing here is for use outside sql/parser*.c.
 *
 * Convention: functions returning a pointer return NULL after setting p->err (syntax error or
 * depth limit); functions returning int return 0 or the negative ctx code. Every recursive path
 * goes through parser_enter()/parser_leave(), which bounds nesting at PARSER_DEPTH_MAX.
 */
#ifndef CTX_PARSER_H
#define CTX_PARSER_H

#include "ast.h"
#include "lexer.h"

enum {
    PARSER_DEPTH_MAX = 1000,   /* nested expressions / subqueries before 54000 */
    PARSER_PARAMS_MAX = 65535, /* highest $n: a Bind message carries at most 65535 values */
};

typedef struct parser {
    const char *text;
    size_t len;
    arena_t *arena;
    ctx_err_t *err;
    lex_token_t *toks;
    int ntoks;
    int pos;       /* index of the current token */
    int depth;     /* current nesting */
    int param_max; /* highest $n seen in the current statement */
} parser_t;

/* The current token, and the one `ahead` tokens further (clamped to LEX_EOF). */
const lex_token_t *parser_peek(const parser_t *p, int ahead);
/* True when the token `ahead` is the unquoted keyword kw (lower case). */
bool parser_is_kw(const parser_t *p, int ahead, const char *kw);
/* True when the token `ahead` is the operator/punctuation op. */
bool parser_is_op(const parser_t *p, int ahead, const char *op);
/* Consume the current token if it is keyword kw / operator op; report whether it did. */
bool parser_accept_kw(parser_t *p, const char *kw);
bool parser_accept_op(parser_t *p, const char *op);
/* Consume keyword/operator or fail with a syntax error at the current token. */
int parser_expect_kw(parser_t *p, const char *kw);
int parser_expect_op(parser_t *p, const char *op);
/* Syntax error at the current token (`syntax error at or near "x"` / `at end of input`). */
int parser_syntax_error(parser_t *p);
/* Bounded recursion: parser_enter fails with CTX_ELIMIT past PARSER_DEPTH_MAX. */
int parser_enter(parser_t *p);
void parser_leave(parser_t *p);
/* Identifier usable as a column/table/alias name (quoted, or unquoted and not reserved). */
bool parser_is_name(const parser_t *p, int ahead);
/* Consumes any identifier (keywords allowed when allow_reserved) and returns its text. */
const char *parser_name(parser_t *p, bool allow_reserved);
/* Growable arena array: ensures room for one more element of elem_bytes; returns the array. */
void *parser_grow(parser_t *p, void *items, int count, int *cap, size_t elem_bytes);

/* Expression (full precedence ladder). */
expr_t *parser_expr(parser_t *p);
/* (SELECT …) as an EXPR_SUBQUERY of sublink kind; the current token is "(". */
expr_t *parser_subquery(parser_t *p, int sublink, int loc);
/* True when the token `ahead` is a bare constant (integer, decimal, string, TRUE, FALSE, NULL):
 * sets the value and type of the EXPR_CONST parser_primary makes of it (string values point at
 * the token's arena text). */
bool parser_constant(const parser_t *p, int ahead, value_t *value, ctype_t *type);
/* Primary expression: constant, parameter, column, call, CASE, CAST, (expr) (parser_primary.c). */
expr_t *parser_primary(parser_t *p);
/* "(" [arg {, arg}] ")" where arg is expr or `name => expr` (arg_name set): table-function
 * arguments in FROM. */
int parser_call_args(parser_t *p, expr_t ***args, int *nargs);
/* Type name as written in casts; returns its canonical text ("double precision", "vector(3)",
 * "timestamp with time zone", "text[]"), pg_catalog. prefix dropped. */
const char *parser_type_name(parser_t *p);
/* CAST node of operand to the type named type_name (cast_type resolved when known). */
expr_t *parser_make_cast(parser_t *p, expr_t *operand, const char *type_name, int location);

/* True when the token `ahead` starts a query: SELECT, VALUES or WITH. */
bool parser_is_select_start(const parser_t *p, int ahead);
/* SELECT statement (the current token is SELECT, VALUES or WITH); includes set operations. */
select_stmt_t *parser_select(parser_t *p);
/* Statements starting at the current token; fill *out. */
int parser_insert(parser_t *p, stmt_t *out);
int parser_update(parser_t *p, stmt_t *out);
int parser_delete(parser_t *p, stmt_t *out);
/* COPY …, CREATE SNAPSHOT / VACUUM SNAPSHOTS KEEP n (parser_admin.c). */
int parser_copy_stmt(parser_t *p, stmt_t *out);
int parser_snapshot_admin(parser_t *p, stmt_t *out);
int parser_alter_cluster(parser_t *p, stmt_t *out);
/* AS OF SNAPSHOT expr after a FROM item; the current tokens are AS OF. */
int parser_as_of(parser_t *p, from_item_t *f);

#endif

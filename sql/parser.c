/*
 * parser.c — sql_parse() and the session/transaction statements (see sql.h, parser.h).
 *
 * The whole Query text is tokenized first (lexer.c), so a lexical error anywhere fails the
 * Query before any statement runs, as in PostgreSQL. Statements are then parsed one after the
 * other, separated by `;`; empty statements are skipped, so text holding only comments yields
 * zero statements. Each statement records its first token's byte offset and its byte length up
 * to its last token (the `;` excluded).
 *
 * Syntax errors use PostgreSQL's wording and position: `syntax error at or near "<token>"` at
 * the token's 1-based character position, or `syntax error at end of input` at one past the
 * last character. The parser never recurses more than PARSER_DEPTH_MAX levels (CTX_ELIMIT,
 * `stack depth limit exceeded`), whatever the input.
 *
 * SET values are kept as text, as PostgreSQL's GUC machinery receives them ('x' → x, 42 → 42,
 * -1.5 → -1.5, on → on); the multi-word forms (TIME ZONE, NAMES, SESSION CHARACTERISTICS AS
 * TRANSACTION, TRANSACTION ISOLATION LEVEL) map onto the GUC they set.
 */
#include "parser.h"
#include "stack.h"

#include "sql.h"

#include <string.h>

const lex_token_t *parser_peek(const parser_t *p, int ahead) {
    CTX_ASSERT(ahead >= 0);
    int i = p->pos + ahead;
    return &p->toks[i < p->ntoks ? i : p->ntoks - 1];
}

bool parser_is_kw(const parser_t *p, int ahead, const char *kw) {
    const lex_token_t *t = parser_peek(p, ahead);
    return t->kind == LEX_IDENT && !t->quoted && strcmp(t->text, kw) == 0;
}

bool parser_is_op(const parser_t *p, int ahead, const char *op) {
    const lex_token_t *t = parser_peek(p, ahead);
    return t->kind == LEX_OP && strcmp(t->text, op) == 0;
}

bool parser_accept_kw(parser_t *p, const char *kw) {
    if (!parser_is_kw(p, 0, kw)) {
        return false;
    }
    p->pos++;
    return true;
}

bool parser_accept_op(parser_t *p, const char *op) {
    if (!parser_is_op(p, 0, op)) {
        return false;
    }
    p->pos++;
    return true;
}

int parser_expect_kw(parser_t *p, const char *kw) {
    return parser_accept_kw(p, kw) ? CTX_OK : parser_syntax_error(p);
}

int parser_expect_op(parser_t *p, const char *op) {
    return parser_accept_op(p, op) ? CTX_OK : parser_syntax_error(p);
}

int parser_syntax_error(parser_t *p) {
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind == LEX_EOF) {
        int rc = ctx_err_set(p->err, CTX_ESYNTAX, "syntax error at end of input");
        ctx_err_position(p->err, lex_char_position(p->text, p->len, (int)p->len));
        return rc;
    }
    return lex_error_near(p->err, CTX_ESYNTAX, "syntax error", p->text, p->len, t->location,
                          t->length, false);
}

int parser_enter(parser_t *p) {
    CTX_ASSERT(p->depth >= 0);
    if (p->depth >= PARSER_DEPTH_MAX) {
        int rc = ctx_err_set(p->err, CTX_ELIMIT, "stack depth limit exceeded");
        ctx_err_detail(p->err, "Statement nesting exceeds %d levels.", PARSER_DEPTH_MAX);
        ctx_err_position(p->err, lex_char_position(p->text, p->len, parser_peek(p, 0)->location));
        return rc;
    }
    if (ctx_stack_check(p->err) != CTX_OK) {
        ctx_err_position(p->err, lex_char_position(p->text, p->len, parser_peek(p, 0)->location));
        return p->err->code;
    }
    p->depth++;
    return CTX_OK;
}

void parser_leave(parser_t *p) {
    CTX_ASSERT(p->depth > 0);
    p->depth--;
}

bool parser_is_name(const parser_t *p, int ahead) {
    const lex_token_t *t = parser_peek(p, ahead);
    return t->kind == LEX_IDENT && (t->quoted || !lex_is_reserved(t->text));
}

const char *parser_name(parser_t *p, bool allow_reserved) {
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind != LEX_IDENT || (!allow_reserved && !parser_is_name(p, 0))) {
        parser_syntax_error(p);
        return NULL;
    }
    p->pos++;
    return t->text;
}

void *parser_grow(parser_t *p, void *items, int count, int *cap, size_t elem_bytes) {
    CTX_ASSERT(count >= 0 && count <= *cap);
    if (count < *cap) {
        return items;
    }
    int grown_cap = *cap == 0 ? 4 : *cap * 2;
    void *grown = arena_alloc(p->arena, (size_t)grown_cap * elem_bytes);
    if (count > 0) {
        memcpy(grown, items, (size_t)count * elem_bytes);
    }
    *cap = grown_cap;
    return grown;
}

/* Appends one SET value (as text) to s. */
static void parser_set_add(parser_t *p, set_stmt_t *s, int *cap, const char *value) {
    s->values = parser_grow(p, (void *)s->values, s->nvalues, cap, sizeof(*s->values));
    s->values[s->nvalues++] = value;
}

/* One SET value: 'string', [+|-]number, identifier or keyword (on, true, …). */
static const char *parser_set_value(parser_t *p) {
    const lex_token_t *t = parser_peek(p, 0);
    const char *sign = "";
    if (parser_is_op(p, 0, "-") || parser_is_op(p, 0, "+")) {
        sign = t->text[0] == '-' ? "-" : "";
        p->pos++;
        t = parser_peek(p, 0);
        if (t->kind != LEX_INTEGER && t->kind != LEX_FLOAT) {
            parser_syntax_error(p);
            return NULL;
        }
    }
    if (t->kind == LEX_STRING || t->kind == LEX_IDENT || t->kind == LEX_INTEGER ||
        t->kind == LEX_FLOAT) {
        p->pos++;
        return *sign == '\0' ? t->text : arena_sprintf(p->arena, "-%s", t->text);
    }
    parser_syntax_error(p);
    return NULL;
}

/* Transaction modes: ISOLATION LEVEL x, READ ONLY|WRITE, [NOT] DEFERRABLE (comma optional). */
static int parser_txn_modes(parser_t *p, txn_stmt_t *txn, bool *read_write) {
    for (bool first = true;; first = false) {
        if (!first && !parser_accept_op(p, ",") && !parser_is_kw(p, 0, "isolation") &&
            !parser_is_kw(p, 0, "read") && !parser_is_kw(p, 0, "not") &&
            !parser_is_kw(p, 0, "deferrable")) {
            return CTX_OK;
        }
        if (parser_accept_kw(p, "isolation")) {
            if (parser_expect_kw(p, "level") != CTX_OK) {
                return p->err->code;
            }
            if (parser_accept_kw(p, "serializable")) {
                txn->isolation = "serializable";
            } else if (parser_accept_kw(p, "repeatable")) {
                txn->isolation = "repeatable read";
                if (parser_expect_kw(p, "read") != CTX_OK) {
                    return p->err->code;
                }
            } else if (parser_accept_kw(p, "read")) {
                if (parser_accept_kw(p, "committed")) {
                    txn->isolation = "read committed";
                } else if (parser_accept_kw(p, "uncommitted")) {
                    txn->isolation = "read uncommitted";
                } else {
                    return parser_syntax_error(p);
                }
            } else {
                return parser_syntax_error(p);
            }
        } else if (parser_accept_kw(p, "read")) {
            if (parser_accept_kw(p, "only")) {
                txn->read_only = true;
            } else if (parser_accept_kw(p, "write")) {
                *read_write = true;
            } else {
                return parser_syntax_error(p);
            }
        } else if (parser_accept_kw(p, "not")) {
            if (parser_expect_kw(p, "deferrable") != CTX_OK) {
                return p->err->code;
            }
        } else if (!parser_accept_kw(p, "deferrable")) {
            return first ? CTX_OK : parser_syntax_error(p);
        }
    }
}

/* BEGIN / START TRANSACTION / COMMIT / END / ROLLBACK / ABORT. */
static int parser_txn(parser_t *p, stmt_t *out) {
    bool start = parser_is_kw(p, 0, "start");
    bool begin = start || parser_is_kw(p, 0, "begin");
    out->kind = begin                                                         ? STMT_BEGIN
                : (parser_is_kw(p, 0, "commit") || parser_is_kw(p, 0, "end")) ? STMT_COMMIT
                                                                              : STMT_ROLLBACK;
    out->u.txn = arena_calloc(p->arena, 1, sizeof(*out->u.txn));
    p->pos++;
    if (start) {
        if (parser_expect_kw(p, "transaction") != CTX_OK) {
            return p->err->code;
        }
    } else if (!parser_accept_kw(p, "work")) {
        (void)parser_accept_kw(p, "transaction");
    }
    if (begin) {
        bool read_write = false;
        return parser_txn_modes(p, out->u.txn, &read_write);
    }
    if (parser_accept_kw(p, "and")) {
        (void)parser_accept_kw(p, "no");
        return parser_expect_kw(p, "chain");
    }
    return CTX_OK;
}

/* Dotted GUC name: a.b.c (keywords allowed). */
static const char *parser_guc_name(parser_t *p) {
    const char *name = parser_name(p, true);
    while (name != NULL && parser_accept_op(p, ".")) {
        const char *part = parser_name(p, true);
        name = part == NULL ? NULL : arena_sprintf(p->arena, "%s.%s", name, part);
    }
    return name;
}

/* SET SESSION CHARACTERISTICS AS TRANSACTION … / SET TRANSACTION …: the transaction modes
 * become a SET of the (default_)transaction_isolation or _read_only GUC. */
static int parser_set_txn(parser_t *p, set_stmt_t *s, bool is_default, int *cap) {
    txn_stmt_t txn = {0};
    bool read_write = false;
    if (parser_txn_modes(p, &txn, &read_write) != CTX_OK) {
        return p->err->code;
    }
    const char *prefix = is_default ? "default_" : "";
    if (txn.isolation != NULL) {
        s->name = arena_sprintf(p->arena, "%stransaction_isolation", prefix);
        parser_set_add(p, s, cap, txn.isolation);
    } else if (txn.read_only || read_write) {
        s->name = arena_sprintf(p->arena, "%stransaction_read_only", prefix);
        parser_set_add(p, s, cap, txn.read_only ? "on" : "off");
    } else {
        return parser_syntax_error(p);
    }
    return CTX_OK;
}

/* Special SET forms: TIME ZONE, NAMES, SESSION CHARACTERISTICS, TRANSACTION. Sets *handled. */
static int parser_set_special(parser_t *p, set_stmt_t *s, int *cap, bool *handled) {
    *handled = true;
    if (parser_is_kw(p, 0, "time") && parser_is_kw(p, 1, "zone")) {
        p->pos += 2;
        s->name = "timezone";
        if (parser_accept_kw(p, "local") || parser_accept_kw(p, "default")) {
            s->is_default = true;
            return CTX_OK;
        }
        const char *v = parser_set_value(p);
        if (v != NULL) {
            parser_set_add(p, s, cap, v);
        }
        return v == NULL ? p->err->code : CTX_OK;
    }
    if (parser_accept_kw(p, "names")) {
        s->name = "client_encoding";
        const char *v = parser_is_kw(p, 0, "default") ? NULL : parser_set_value(p);
        if (v == NULL) {
            s->is_default = parser_accept_kw(p, "default");
            return s->is_default ? CTX_OK : p->err->code;
        }
        parser_set_add(p, s, cap, v);
        return CTX_OK;
    }
    if (parser_is_kw(p, 0, "session") && parser_is_kw(p, 1, "characteristics")) {
        p->pos += 2;
        if (parser_expect_kw(p, "as") != CTX_OK || parser_expect_kw(p, "transaction") != 0) {
            return p->err->code;
        }
        return parser_set_txn(p, s, true, cap);
    }
    if (parser_accept_kw(p, "transaction")) {
        return parser_set_txn(p, s, false, cap);
    }
    *handled = false;
    return CTX_OK;
}

/* SET [SESSION|LOCAL] name {TO|=} value[, …] | DEFAULT, and the special forms. */
static int parser_set(parser_t *p, stmt_t *out) {
    set_stmt_t *s = arena_calloc(p->arena, 1, sizeof(*s));
    int cap = 0;
    out->kind = STMT_SET;
    out->u.set = s;
    p->pos++;
    if (parser_accept_kw(p, "local")) {
        s->is_local = true;
    } else if (parser_is_kw(p, 0, "session") && !parser_is_kw(p, 1, "characteristics") &&
               !parser_is_op(p, 1, "=") && !parser_is_kw(p, 1, "to")) {
        p->pos++; /* SET SESSION name …: the default scope */
    }
    bool handled = false;
    int rc = parser_set_special(p, s, &cap, &handled);
    if (handled) {
        return rc;
    }
    s->name = parser_guc_name(p);
    if (s->name == NULL) {
        return p->err->code;
    }
    if (!parser_accept_kw(p, "to") && parser_expect_op(p, "=") != CTX_OK) {
        return p->err->code;
    }
    if (parser_accept_kw(p, "default")) {
        s->is_default = true;
        return CTX_OK;
    }
    do {
        const char *v = parser_set_value(p);
        if (v == NULL) {
            return p->err->code;
        }
        parser_set_add(p, s, &cap, v);
    } while (parser_accept_op(p, ","));
    return CTX_OK;
}

/* SHOW name | ALL | TIME ZONE | TRANSACTION ISOLATION LEVEL; RESET name | ALL | TIME ZONE. */
static int parser_show_reset(parser_t *p, stmt_t *out) {
    set_stmt_t *s = arena_calloc(p->arena, 1, sizeof(*s));
    out->kind = parser_is_kw(p, 0, "show") ? STMT_SHOW : STMT_RESET;
    out->u.set = s;
    s->is_default = out->kind == STMT_RESET;
    p->pos++;
    if (parser_accept_kw(p, "all")) {
        s->all = true;
    } else if (parser_is_kw(p, 0, "time") && parser_is_kw(p, 1, "zone")) {
        p->pos += 2;
        s->name = "timezone";
    } else if (out->kind == STMT_SHOW && parser_is_kw(p, 0, "transaction") &&
               parser_is_kw(p, 1, "isolation") && parser_is_kw(p, 2, "level")) {
        p->pos += 3;
        s->name = "transaction_isolation";
    } else if (parser_is_kw(p, 0, "session") && parser_is_kw(p, 1, "authorization")) {
        p->pos += 2;
        s->name = "session_authorization";
    } else {
        s->name = parser_guc_name(p);
        if (s->name == NULL) {
            return p->err->code;
        }
    }
    return CTX_OK;
}

static int parser_statement(parser_t *p, stmt_t *out);

/* EXPLAIN option list in parentheses: (ANALYZE [bool], VERBOSE [bool], other [value], …). */
static int parser_explain_options(parser_t *p, explain_stmt_t *x) {
    do {
        const char *opt = parser_name(p, true);
        if (opt == NULL) {
            return p->err->code;
        }
        bool on = true;
        if (!parser_is_op(p, 0, ",") && !parser_is_op(p, 0, ")")) {
            const char *v = parser_set_value(p);
            if (v == NULL) {
                return p->err->code;
            }
            on = strcmp(v, "false") != 0 && strcmp(v, "off") != 0 && strcmp(v, "0") != 0;
        }
        if (strcmp(opt, "analyze") == 0 || strcmp(opt, "analyse") == 0) {
            x->analyze = on;
        } else if (strcmp(opt, "verbose") == 0) {
            x->verbose = on;
        }
    } while (parser_accept_op(p, ","));
    return parser_expect_op(p, ")");
}

/* EXPLAIN [ANALYZE] [VERBOSE] stmt | EXPLAIN (options) stmt; stmt is SELECT or DML. */
static int parser_explain(parser_t *p, stmt_t *out) {
    explain_stmt_t *x = arena_calloc(p->arena, 1, sizeof(*x));
    out->kind = STMT_EXPLAIN;
    out->u.explain = x;
    p->pos++;
    if (parser_accept_op(p, "(")) {
        if (parser_explain_options(p, x) != CTX_OK) {
            return p->err->code;
        }
    } else {
        x->analyze = parser_accept_kw(p, "analyze") || parser_accept_kw(p, "analyse");
        x->verbose = parser_accept_kw(p, "verbose");
    }
    if (!parser_is_select_start(p, 0) && !parser_is_kw(p, 0, "insert") &&
        !parser_is_kw(p, 0, "update") && !parser_is_kw(p, 0, "delete")) {
        return parser_syntax_error(p);
    }
    x->target = arena_calloc(p->arena, 1, sizeof(*x->target));
    x->target->location = parser_peek(p, 0)->location;
    int rc = parser_statement(p, x->target);
    const lex_token_t *last = &p->toks[p->pos - 1];
    x->target->length = last->location + last->length - x->target->location;
    return rc;
}

/* One statement at the current token (which is not ';' or EOF). */
static int parser_statement(parser_t *p, stmt_t *out) {
    if (parser_is_select_start(p, 0)) {
        out->kind = STMT_SELECT;
        out->u.select = parser_select(p);
        return out->u.select == NULL ? p->err->code : CTX_OK;
    }
    if (parser_is_kw(p, 0, "insert")) {
        return parser_insert(p, out);
    }
    if (parser_is_kw(p, 0, "update")) {
        return parser_update(p, out);
    }
    if (parser_is_kw(p, 0, "delete")) {
        return parser_delete(p, out);
    }
    if (parser_is_kw(p, 0, "set")) {
        return parser_set(p, out);
    }
    if (parser_is_kw(p, 0, "show") || parser_is_kw(p, 0, "reset")) {
        return parser_show_reset(p, out);
    }
    if (parser_is_kw(p, 0, "explain")) {
        return parser_explain(p, out);
    }
    if (parser_is_kw(p, 0, "copy")) {
        return parser_copy_stmt(p, out);
    }
    if ((parser_is_kw(p, 0, "create") && parser_is_kw(p, 1, "snapshot")) ||
        parser_is_kw(p, 0, "vacuum")) {
        return parser_snapshot_admin(p, out);
    }
    if (parser_is_kw(p, 0, "alter") && parser_is_kw(p, 1, "cluster")) {
        return parser_alter_cluster(p, out);
    }
    static const char *const txn_words[] = {"begin", "start", "commit", "end", "rollback", "abort"};
    for (size_t i = 0; i < sizeof(txn_words) / sizeof(txn_words[0]); i++) {
        if (parser_is_kw(p, 0, txn_words[i])) {
            return parser_txn(p, out);
        }
    }
    return parser_syntax_error(p);
}

/* Parses statements until EOF into a growing array. */
static int parser_statements(parser_t *p, stmt_t ***stmts, int *count) {
    int cap = 0;
    for (;;) {
        while (parser_accept_op(p, ";")) {
        }
        const lex_token_t *first = parser_peek(p, 0);
        if (first->kind == LEX_EOF) {
            return CTX_OK;
        }
        stmt_t *s = arena_calloc(p->arena, 1, sizeof(*s));
        s->location = first->location;
        p->param_max = 0;
        int rc = parser_statement(p, s);
        if (rc != CTX_OK) {
            return rc;
        }
        CTX_ASSERT(p->depth == 0);
        if (!parser_is_op(p, 0, ";") && parser_peek(p, 0)->kind != LEX_EOF) {
            return parser_syntax_error(p);
        }
        const lex_token_t *last = &p->toks[p->pos - 1];
        s->length = last->location + last->length - s->location;
        s->nparams = p->param_max;
        *stmts = parser_grow(p, *stmts, *count, &cap, sizeof(**stmts));
        (*stmts)[(*count)++] = s;
    }
}

int sql_parse(const char *text, size_t len, arena_t *arena, stmt_t ***stmts, int *count,
              ctx_err_t *err) {
    CTX_ASSERT(arena != NULL && stmts != NULL && count != NULL);
    CTX_ASSERT(text != NULL || len == 0);
    ctx_err_t local; /* fresh, so p->err->code is always this parse's error */
    ctx_err_clear(&local);
    parser_t p = {.text = text == NULL ? "" : text, .len = len, .arena = arena, .err = &local};
    *stmts = NULL;
    *count = 0;
    int rc = lex_tokenize(p.text, len, arena, &p.toks, &p.ntoks, &local);
    if (rc != CTX_OK) {
        goto fail;
    }
    rc = parser_statements(&p, stmts, count);
    lex_tokens_free(p.toks); /* the AST keeps only arena memory */
    p.toks = NULL;
    if (rc != CTX_OK) {
        goto fail;
    }
    return CTX_OK;
fail:
    CTX_ASSERT(rc < 0 && local.code == rc);
    *stmts = NULL;
    *count = 0;
    if (err != NULL) {
        ctx_err_set(err, rc, "%s", local.message);
        ctx_err_position(err, local.position);
        if (local.detail[0] != '\0') {
            ctx_err_detail(err, "%s", local.detail);
        }
        if (local.hint[0] != '\0') {
            ctx_err_hint(err, "%s", local.hint);
        }
    }
    return rc;
}

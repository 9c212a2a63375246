/*
 * prepare.c — SQL-level prepared statements: PREPARE name [(type, ...)] AS statement,
 * EXECUTE name [(expr, ...)], DEALLOCATE [PREPARE] {name | ALL} (pg_dump prepares its
 * per-object queries this way).
 *
 * A prepared statement is kept as its text and declared parameter type names (malloc'd, owned by
 * the session until DEALLOCATE or the session ends), not as a parsed tree: trees live in a
 * statement's arena. EXECUTE parses the text again, evaluates its argument expressions as a
 * one-row SELECT (so any constant expression works), converts each value to the declared type
 * (or keeps the argument's own type when none was declared) and runs the statement with them as
 * $1…$n, through the same path the extended protocol's Bind takes. The names are a namespace
 * of their own, apart from the protocol-level statements of Parse / Bind.
 */
#include "session_int.h"

#include <stdlib.h>
#include <string.h>

enum { PREPARED_MAX = 1000, PREPARED_PARAMS_MAX = 100 };

struct sql_prepared {
    char *name;
    char *text;
    char **types;
    int ntypes;
};

static sql_prepared_t *prepared_find(sql_session_t *s, const char *name, int *index) {
    for (int i = 0; i < s->nprepared; i++) {
        if (strcmp(s->prepared[i].name, name) == 0) {
            *index = i;
            return &s->prepared[i];
        }
    }
    return NULL;
}

static void prepared_free(sql_prepared_t *x) {
    for (int i = 0; i < x->ntypes; i++) {
        free(x->types[i]);
    }
    free(x->types);
    free(x->name);
    free(x->text);
}

void prepared_free_all(sql_session_t *s) {
    for (int i = 0; i < s->nprepared; i++) {
        prepared_free(&s->prepared[i]);
    }
    free(s->prepared);
    s->prepared = NULL;
    s->nprepared = 0;
}

static int prepare_store(sql_session_t *s, const prepare_stmt_t *x, const char *query_text,
                         sql_result_t *result, ctx_err_t *err) {
    int index;
    if (prepared_find(s, x->name, &index) != NULL) {
        return ctx_err_set(err, CTX_EDUP_PREPARED, "prepared statement \"%s\" already exists",
                           x->name);
    }
    if (s->nprepared == PREPARED_MAX || x->ntypes > PREPARED_PARAMS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT,
                           "a session holds at most %d prepared statements of "
                           "at most %d parameters",
                           PREPARED_MAX, PREPARED_PARAMS_MAX);
    }
    sql_prepared_t *grown = realloc(s->prepared, sizeof(*grown) * (size_t)(s->nprepared + 1));
    if (grown == NULL) {
        return ctx_err_set(err, CTX_ENOMEM, "out of memory");
    }
    s->prepared = grown;
    sql_prepared_t *p = &s->prepared[s->nprepared++];
    p->name = ctx_strdup(x->name);
    p->text = ctx_calloc((size_t)x->target->length + 1, 1);
    memcpy(p->text, query_text + x->target->location, (size_t)x->target->length);
    p->types = ctx_calloc((size_t)x->ntypes + 1, sizeof(char *));
    p->ntypes = x->ntypes;
    for (int i = 0; i < x->ntypes; i++) {
        p->types[i] = ctx_strdup(x->types[i]);
    }
    result->tag = "PREPARE";
    return CTX_OK;
}

/* The argument values of EXECUTE, evaluated as SELECT arg1, arg2, … . */
static int execute_args(sql_session_t *s, const prepare_stmt_t *x, const char *query_text,
                        arena_t *arena, sql_result_t *values, ctx_err_t *err) {
    memset(values, 0, sizeof(*values));
    if (x->nargs == 0) {
        return CTX_OK;
    }
    select_stmt_t *sel = arena_calloc(arena, 1, sizeof(*sel));
    sel->items = arena_calloc(arena, (size_t)x->nargs, sizeof(*sel->items));
    sel->nitems = x->nargs;
    for (int i = 0; i < x->nargs; i++) {
        sel->items[i].expr = x->args[i];
        sel->items[i].location = x->args[i]->location;
    }
    int rc = session_run_select(s, sel, query_text, arena, values, err);
    CTX_ASSERT(rc != CTX_OK || values->nrows == 1);
    return rc;
}

static int prepare_execute(sql_session_t *s, const prepare_stmt_t *x, const char *query_text,
                           arena_t *arena, sql_result_t *result, ctx_err_t *err) {
    int index;
    const sql_prepared_t *p = prepared_find(s, x->name, &index);
    if (p == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_PREPARED, "prepared statement \"%s\" does not exist",
                           x->name);
    }
    stmt_t **stmts;
    int count;
    int rc = sql_parse(p->text, strlen(p->text), arena, &stmts, &count, err);
    if (rc == CTX_OK && (count != 1 || x->nargs != stmts[0]->nparams)) {
        rc = ctx_err_set(err, CTX_ESYNTAX,
                         "wrong number of parameters for prepared statement "
                         "\"%s\"",
                         p->name);
    }
    sql_result_t args;
    rc = rc == CTX_OK ? execute_args(s, x, query_text, arena, &args, err) : rc;
    if (rc != CTX_OK) {
        return rc;
    }
    ctype_t *types = arena_alloc(arena, sizeof(ctype_t) * (size_t)(x->nargs + 1));
    value_t *params = arena_alloc(arena, sizeof(value_t) * (size_t)(x->nargs + 1));
    for (int i = 0; i < x->nargs && rc == CTX_OK; i++) {
        ctype_t own = value_type_from_oid(args.cols[i].type_oid);
        types[i] = i < p->ntypes ? value_type_parse(p->types[i]) : own;
        types[i] = types[i] == CT_UNKNOWN ? CT_TEXT : types[i];
        params[i] = args.rows[i];
        if (params[i].kind != VAL_NULL && types[i] != own) {
            uint32_t len;
            const char *text = value_to_text(&params[i], arena, &len);
            rc = value_from_text(types[i], text, len, s->env.vector_dims, arena, &params[i], err);
        }
    }
    if (rc != CTX_OK) {
        return rc;
    }
    const value_t *saved_params = s->params;
    ctype_t *saved_types = s->param_types;
    int saved_n = s->nparams;
    s->param_types = types;
    s->params = params;
    s->nparams = x->nargs;
    rc = session_dispatch(s, stmts[0], p->text, arena, result, err);
    s->param_types = saved_types;
    s->params = saved_params;
    s->nparams = saved_n;
    return rc;
}

int sql_deallocate(sql_session_t *s, const char *name, ctx_err_t *err) {
    int index;
    if (name == NULL) {
        prepared_free_all(s);
    } else if (prepared_find(s, name, &index) != NULL) {
        prepared_free(&s->prepared[index]);
        s->prepared[index] = s->prepared[--s->nprepared];
    } else {
        return ctx_err_set(err, CTX_EUNDEF_PREPARED, "prepared statement \"%s\" does not exist",
                           name);
    }
    return CTX_OK;
}

int prepare_run(sql_session_t *s, const stmt_t *stmt, const char *query_text, arena_t *arena,
                sql_result_t *result, ctx_err_t *err) {
    const prepare_stmt_t *x = stmt->u.prepare;
    CTX_ASSERT(x != NULL);
    if (stmt->kind == STMT_PREPARE) {
        return prepare_store(s, x, query_text, result, err);
    }
    if (stmt->kind == STMT_EXECUTE) {
        return prepare_execute(s, x, query_text, arena, result, err);
    }
    int rc = sql_deallocate(s, x->name, err);
    result->tag = "DEALLOCATE";
    return rc;
}

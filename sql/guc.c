/*
 * guc.c — session settings: SET, SHOW, RESET, and the ParameterStatus values a client is told.
 *
 * Every session starts with the built-in table below; names are matched case-insensitively and
 * keep their canonical spelling (SHOW datestyle answers in a column named DateStyle, as
 * PostgreSQL does). Unknown names may be SET (drivers send settings we do not act on) and are then
 * stored and echoed by SHOW; SHOW of a name never set is 42704. A SET inside a transaction block
 * is undone by ROLLBACK, and SET LOCAL lasts until the block ends. Settings flagged GUC_REPORT are
 * re-sent to the client as ParameterStatus whenever their value changes.
 */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct guc_default {
    const char *name;
    const char *value; /* NULL: filled from the session (user, server version, dims) */
    int flags;
    const char *description;
} guc_default_t;

static const guc_default_t guc_defaults[] = {
    {"application_name", "", GUC_REPORT, "Sets the application name to be reported."},
    {"client_encoding", "UTF8", GUC_REPORT, "Sets the client's character set encoding."},
    {"DateStyle", "ISO, MDY", GUC_REPORT, "Sets the display format for date and time values."},
    {"default_transaction_isolation", "read committed", 0,
     "Sets the transaction isolation level of each new transaction."},
    {"default_transaction_read_only", "off", GUC_REPORT,
     "Sets the default read-only status of new transactions."},
    {"enable_hnsw", "on", 0, "Enables the planner's use of the HNSW vector index."},
    {"extra_float_digits", "1", 0, "Sets the number of digits displayed for floats."},
    {"hnsw.ef_search", "40", 0, "Sets the size of the dynamic candidate list for HNSW search."},
    {"in_hot_standby", "off", GUC_REPORT | GUC_READONLY, "Shows whether hot standby is active."},
    {"integer_datetimes", "on", GUC_REPORT | GUC_READONLY,
     "Shows whether datetimes are integer based."},
    {"IntervalStyle", "postgres", GUC_REPORT, "Sets the display format for interval values."},
    {"is_superuser", "on", GUC_REPORT | GUC_READONLY,
     "Shows whether the current user is a superuser."},
    {"lc_collate", "C", GUC_READONLY, "Shows the collation order locale."},
    {"lc_ctype", "C", GUC_READONLY, "Shows the character classification locale."},
    {"max_identifier_length", "63", GUC_READONLY, "Shows the maximum identifier length."},
    {"search_path", "\"$user\", public", 0,
     "Sets the schema search order for names that are not schema-qualified."},
    {"server_encoding", "UTF8", GUC_REPORT | GUC_READONLY,
     "Shows the server (database) character set encoding."},
    {"server_version", NULL, GUC_REPORT | GUC_READONLY, "Shows the server version."},
    {"server_version_num", "150000", GUC_READONLY, "Shows the server version as an integer."},
    {"session_authorization", NULL, GUC_REPORT, "Sets the session user name."},
    {"standard_conforming_strings", "on", GUC_REPORT,
     "Causes '...' strings to treat backslashes literally."},
    {"statement_timeout", "0", 0, "Sets the maximum allowed duration of any statement."},
    {"synchronous_commit", "on", 0, "Sets the current transaction's synchronization level."},
    {"TimeZone", "UTC", GUC_REPORT,
     "Sets the time zone for displaying and interpreting time "
     "stamps."},
    {"transaction_isolation", "read committed", 0,
     "Sets the current transaction's isolation level."},
    {"transaction_read_only", "off", 0, "Sets the current transaction's read-only status."},
    {"vector_dimensions", NULL, GUC_READONLY, "Shows the dimension of every vector."},
    {"work_mem", "4MB", 0, "Sets the maximum memory to be used for query workspaces."},
};

enum { GUC_DEFAULT_COUNT = sizeof(guc_defaults) / sizeof(guc_defaults[0]) };

static guc_t *guc_add(sql_session_t *s, const char *name, const char *value, int flags,
                      const char *description) {
    CTX_ASSERT(s->nguc < SESSION_GUCS_MAX);
    guc_t *g = &s->gucs[s->nguc++];
    memset(g, 0, sizeof(*g));
    g->name = ctx_strdup(name);
    g->value = ctx_strdup(value);
    g->reset_value = ctx_strdup(value);
    g->flags = flags;
    g->description = description;
    return g;
}

void guc_init_defaults(sql_session_t *s) {
    char dims[16];
    snprintf(dims, sizeof(dims), "%u", store_vector_dims(s->db->store));
    for (int i = 0; i < GUC_DEFAULT_COUNT; i++) {
        const guc_default_t *d = &guc_defaults[i];
        const char *value = d->value;
        if (value == NULL) {
            value = strcmp(d->name, "server_version") == 0
                        ? s->db->server_version
                        : (strcmp(d->name, "vector_dimensions") == 0 ? dims : s->user);
        }
        guc_add(s, d->name, value, d->flags, d->description);
    }
}

guc_t *guc_find(sql_session_t *s, const char *name) {
    for (int i = 0; i < s->nguc; i++) {
        if (strcasecmp(s->gucs[i].name, name) == 0) {
            return &s->gucs[i];
        }
    }
    return NULL;
}

const char *guc_get(void *session, const char *name) {
    guc_t *g = guc_find(session, name);
    return g == NULL ? NULL : g->value;
}

void result_add_param_change(sql_result_t *result, arena_t *arena, const char *name,
                             const char *value) {
    sql_param_change_t *changes =
        arena_alloc(arena, sizeof(sql_param_change_t) * (size_t)(result->nparam_changes + 1));
    if (result->nparam_changes > 0) {
        memcpy(changes, result->param_changes,
               sizeof(sql_param_change_t) * (size_t)result->nparam_changes);
    }
    changes[result->nparam_changes].name = arena_strdup(arena, name);
    changes[result->nparam_changes].value = arena_strdup(arena, value);
    result->param_changes = changes;
    result->nparam_changes++;
}

void result_add_notice(sql_result_t *result, arena_t *arena, const char *severity, int code,
                       const char *message) {
    sql_notice_t *notices =
        arena_alloc(arena, sizeof(sql_notice_t) * (size_t)(result->nnotices + 1));
    if (result->nnotices > 0) {
        memcpy(notices, result->notices, sizeof(sql_notice_t) * (size_t)result->nnotices);
    }
    notices[result->nnotices].severity = severity;
    notices[result->nnotices].code = code;
    notices[result->nnotices].message = arena_strdup(arena, message);
    result->notices = notices;
    result->nnotices++;
}

static void guc_assign(guc_t *g, const char *value, arena_t *arena, sql_result_t *result) {
    bool changed = strcmp(g->value, value) != 0;
    char *copy = ctx_strdup(value);
    free(g->value);
    g->value = copy;
    if (changed && (g->flags & GUC_REPORT) && result != NULL) {
        result_add_param_change(result, arena, g->name, g->value);
    }
}

/* Validates and normalizes a value for the settings we act on. */
static int guc_check(const char *name, const char *value, const char **out, ctx_err_t *err) {
    *out = value;
    if (strcasecmp(name, "client_encoding") == 0) {
        if (strcasecmp(value, "UTF8") != 0 && strcasecmp(value, "UTF-8") != 0 &&
            strcasecmp(value, "unicode") != 0) {
            ctx_err_set(err, CTX_EFEATURE, "client_encoding \"%s\" is not supported", value);
            ctx_err_hint(err, "ContextDB exchanges text in UTF8 only.");
            return err->code;
        }
        *out = "UTF8";
        return CTX_OK;
    }
    if (strcasecmp(name, "hnsw.ef_search") == 0 || strcasecmp(name, "extra_float_digits") == 0 ||
        strcasecmp(name, "statement_timeout") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        bool ok = end != value && *end == '\0';
        long min = strcasecmp(name, "hnsw.ef_search") == 0 ? 1 : -15;
        long max = strcasecmp(name, "hnsw.ef_search") == 0 ? 1000 : 3;
        if (strcasecmp(name, "statement_timeout") == 0) {
            min = 0;
            max = 2147483647;
        }
        if (!ok || v < min || v > max) {
            ctx_err_set(err, CTX_EBAD_PARAM, "invalid value for parameter \"%s\": \"%s\"", name,
                        value);
            ctx_err_hint(err, "Valid values are integers between %ld and %ld.", min, max);
            return err->code;
        }
    }
    return CTX_OK;
}

int guc_set(sql_session_t *s, const char *name, const char *value, bool local, arena_t *arena,
            sql_result_t *result, ctx_err_t *err) {
    guc_t *g = guc_find(s, name);
    if (g != NULL && (g->flags & GUC_READONLY)) {
        return ctx_err_set(err, CTX_ECANT_CHANGE, "parameter \"%s\" cannot be changed", g->name);
    }
    const char *checked;
    int rc = guc_check(name, value, &checked, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (g == NULL && s->nguc >= SESSION_GUCS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT,
                           "cannot set \"%s\": a session holds at most %d parameters", name,
                           SESSION_GUCS_MAX);
    }
    if (g == NULL) {
        g = guc_add(s, name, checked, GUC_USER, "Set by the client.");
        free(g->reset_value);
        g->reset_value = ctx_strdup("");
        if (s->txn != TXN_IDLE) {
            g->begin_value = ctx_strdup("");
        }
        g->local = local && s->txn != TXN_IDLE;
        return CTX_OK;
    }
    if (local && s->txn != TXN_IDLE) {
        g->local = true;
    }
    guc_assign(g, checked, arena, result);
    return CTX_OK;
}

static char *join_values(const set_stmt_t *set, arena_t *arena) {
    size_t len = 1;
    for (int i = 0; i < set->nvalues; i++) {
        len += strlen(set->values[i]) + 2;
    }
    char *out = arena_alloc(arena, len);
    out[0] = '\0';
    for (int i = 0; i < set->nvalues; i++) {
        if (i > 0) {
            strcat(out, ", ");
        }
        strcat(out, set->values[i]);
    }
    return out;
}

static int show_all(sql_session_t *s, arena_t *arena, sql_result_t *result) {
    static const bind_column_t cols[] = {{NULL, "name", CT_TEXT, 0, 0},
                                         {NULL, "setting", CT_TEXT, 0, 0},
                                         {NULL, "description", CT_TEXT, 0, 0}};
    result_columns(result, cols, 3, arena);
    result->rows = arena_alloc(arena, sizeof(value_t) * 3 * (size_t)s->nguc);
    int order[SESSION_GUCS_MAX];
    for (int i = 0; i < s->nguc; i++) {
        order[i] = i;
    }
    for (int i = 1; i < s->nguc; i++) { /* insertion sort by name, case-insensitive */
        int j = i;
        while (j > 0 && strcasecmp(s->gucs[order[j - 1]].name, s->gucs[order[j]].name) > 0) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
            j--;
        }
    }
    for (int i = 0; i < s->nguc; i++) {
        const guc_t *g = &s->gucs[order[i]];
        value_t *row = result->rows + 3 * i;
        row[0] = value_text(g->name, (uint32_t)strlen(g->name));
        row[1] = value_text(g->value, (uint32_t)strlen(g->value));
        row[2] = value_text(g->description, (uint32_t)strlen(g->description));
    }
    result->nrows = (uint64_t)s->nguc;
    result->tag = "SHOW";
    return CTX_OK;
}

static int show_one(sql_session_t *s, const char *name, arena_t *arena, sql_result_t *result,
                    ctx_err_t *err) {
    guc_t *g = guc_find(s, name);
    if (g == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_OBJECT, "unrecognized configuration parameter \"%s\"",
                           name);
    }
    bind_column_t col = {NULL, g->name, CT_TEXT, 0, 0};
    result_columns(result, &col, 1, arena);
    result->rows = arena_alloc(arena, sizeof(value_t));
    char *value = arena_strdup(arena, g->value);
    result->rows[0] = value_text(value, (uint32_t)strlen(value));
    result->nrows = 1;
    result->tag = "SHOW";
    return CTX_OK;
}

static int reset_one(sql_session_t *s, const char *name, arena_t *arena, sql_result_t *result,
                     ctx_err_t *err) {
    guc_t *g = guc_find(s, name);
    if (g == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_OBJECT, "unrecognized configuration parameter \"%s\"",
                           name);
    }
    if (g->flags & GUC_READONLY) {
        return ctx_err_set(err, CTX_ECANT_CHANGE, "parameter \"%s\" cannot be changed", g->name);
    }
    guc_assign(g, g->reset_value, arena, result);
    return CTX_OK;
}

int guc_execute(sql_session_t *s, const stmt_t *stmt, arena_t *arena, sql_result_t *result,
                ctx_err_t *err) {
    const set_stmt_t *set = stmt->u.set;
    if (stmt->kind == STMT_SHOW) {
        return set->all ? show_all(s, arena, result) : show_one(s, set->name, arena, result, err);
    }
    result->tag = stmt->kind == STMT_SET ? "SET" : "RESET";
    if (stmt->kind == STMT_RESET || set->is_default) {
        if (!set->all) {
            return reset_one(s, set->name, arena, result, err);
        }
        for (int i = 0; i < s->nguc; i++) {
            if (!(s->gucs[i].flags & GUC_READONLY)) {
                guc_assign(&s->gucs[i], s->gucs[i].reset_value, arena, result);
            }
        }
        return CTX_OK;
    }
    if (stmt->kind == STMT_SET && set->is_local && s->txn == TXN_IDLE) {
        result_add_notice(result, arena, "WARNING", CTX_ENO_TXN,
                          "SET LOCAL can only be used in transaction blocks");
    }
    return guc_set(s, set->name, join_values(set, arena), set->is_local, arena, result, err);
}

void guc_txn_begin(sql_session_t *s) {
    for (int i = 0; i < s->nguc; i++) {
        free(s->gucs[i].begin_value);
        s->gucs[i].begin_value = ctx_strdup(s->gucs[i].value);
        s->gucs[i].local = false;
    }
}

void guc_txn_end(sql_session_t *s, bool commit, arena_t *arena, sql_result_t *result) {
    for (int i = 0; i < s->nguc; i++) {
        guc_t *g = &s->gucs[i];
        if (g->begin_value != NULL && (!commit || g->local)) {
            guc_assign(g, g->begin_value, arena, result);
        }
        free(g->begin_value);
        g->begin_value = NULL;
        g->local = false;
    }
}

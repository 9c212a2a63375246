/*
 * extended.c — Parse / Bind / Describe / Execute / Close / Sync (see extended.h).
 *
 * A prepared statement keeps its query text, the parameter types (declared by the client or
 * inferred by sql_describe at Parse time) and the row shape. The parse tree itself is not kept:
 * binding mutates it, so Describe and Execute parse the text afresh (cheap next to execution).
 *
 * Bind turns each parameter into a value of the statement's parameter type:
 *   text format   → the type's input function (value_from_text), bytea's \x hex decoded first;
 *   binary format → the receive function of the wire type (the declared OID, else the inferred
 *                   type's OID): engine/types/binary.h, the same per-type pairs DataRow sends
 *                   with; then converted to the parameter type when it differs (int2 → bigint,
 *                   int → float8; anything else through its text form).
 * A parameter still of unknown type after inference is text (ParameterDescription says 25).
 *
 * A portal is executed completely at its first Execute into its own arena; Execute with a row
 * limit sends that many rows and PortalSuspended, and later Executes continue. Rows still to be
 * sent are deep-copied so they do not point into store memory that later writes may move.
 *
 * Memory. Whatever a message sizes (names, query text, parameter values and arrays, the tables
 * of statements and portals) is allocated with the fallible allocators; running out fails that
 * message with 53200 (ext_out_of_memory) and leaves the statements and portals as they were.
 */
#include "extended.h"

#include "binary.h"
#include "reply.h"
#include "utf8.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct ext_stmt {
    char *name;
    arena_t arena;
    const char *query; /* NUL-terminated copy */
    size_t query_len;
    bool empty;      /* no statement in the text: Execute answers EmptyQueryResponse */
    bool deallocate; /* DEALLOCATE [PREPARE] name | ALL: handled here, not by the SQL layer */
    int nparams;
    uint32_t *param_oids; /* declared (0 = unspecified) */
    ctype_t *param_types; /* declared or inferred */
    sql_result_t shape;   /* has_rows, ncols, cols */
} ext_stmt_t;

typedef struct ext_portal {
    char *name;
    arena_t arena;
    const char *query;
    size_t query_len;
    bool empty;
    bool deallocate;
    int nparams;
    ctype_t *param_types;
    value_t *params;
    sql_result_t shape;
    int16_t *formats; /* per result column of shape; NULL = all text */
    bool executed;
    bool done;
    bool is_select;
    sql_result_t result;
    uint64_t sent;
} ext_portal_t;

struct ext {
    ext_stmt_t **stmts; /* [0] is the unnamed statement slot (may be NULL) */
    size_t nstmts;
    size_t stmts_cap;
    ext_portal_t **portals; /* [0] is the unnamed portal slot */
    size_t nportals;
    size_t portals_cap;
    bool query_open;
};

ext_t *ext_create(void) {
    ext_t *ext = ctx_calloc(1, sizeof(*ext));
    ext->stmts_cap = 8;
    ext->stmts = ctx_calloc(ext->stmts_cap, sizeof(*ext->stmts));
    ext->nstmts = 1;
    ext->portals_cap = 8;
    ext->portals = ctx_calloc(ext->portals_cap, sizeof(*ext->portals));
    ext->nportals = 1;
    return ext;
}

/* 53200 for a piece of a message that did not fit in memory. */
static int ext_out_of_memory(ctx_err_t *err, const char *what, size_t bytes) {
    ctx_err_set(err, CTX_ENOMEM, "out of memory");
    ctx_err_detail(err, "Failed on request of size %zu for %s.", bytes, what);
    return CTX_ENOMEM;
}

/* A malloc'ed copy of a name from a message, or NULL (53200 in err). */
static char *ext_name_copy(const char *name, ctx_err_t *err) {
    size_t len = strlen(name);
    char *copy = ctx_try_malloc(len + 1);
    if (copy == NULL) {
        ext_out_of_memory(err, "a statement or portal name", len + 1);
        return NULL;
    }
    memcpy(copy, name, len + 1);
    return copy;
}

/* Room for one more entry in a table of statements or portals (doubling *cap); 53200 leaves the
 * table as it was. */
static int ext_table_room(void ***table, size_t count, size_t *cap, ctx_err_t *err) {
    if (count < *cap) {
        return 0;
    }
    void **grown = ctx_try_realloc(*table, *cap * 2 * sizeof(void *));
    if (grown == NULL) {
        return ext_out_of_memory(err, "the prepared statements or portals",
                                 *cap * 2 * sizeof(void *));
    }
    *table = grown;
    *cap *= 2;
    return 0;
}

static void ext_stmt_free(ext_stmt_t *st) {
    if (st != NULL) {
        arena_destroy(&st->arena);
        free(st->name);
        free(st);
    }
}

static void ext_portal_free(ext_portal_t *p) {
    if (p != NULL) {
        arena_destroy(&p->arena);
        free(p->name);
        free(p);
    }
}

void ext_destroy(ext_t *ext) {
    if (ext == NULL) {
        return;
    }
    for (size_t i = 0; i < ext->nstmts; i++) {
        ext_stmt_free(ext->stmts[i]);
    }
    for (size_t i = 0; i < ext->nportals; i++) {
        ext_portal_free(ext->portals[i]);
    }
    free(ext->stmts);
    free(ext->portals);
    free(ext);
}

bool ext_in_query(const ext_t *ext) {
    return ext->query_open;
}

/* ---- Lookup by name (slot 0 = unnamed; linear: clients keep a few hundred at most) --------- */

static ext_stmt_t **ext_stmt_slot(ext_t *ext, const char *name) {
    if (name[0] == '\0') {
        return &ext->stmts[0];
    }
    for (size_t i = 1; i < ext->nstmts; i++) {
        if (strcmp(ext->stmts[i]->name, name) == 0) {
            return &ext->stmts[i];
        }
    }
    return NULL;
}

static ext_portal_t **ext_portal_slot(ext_t *ext, const char *name) {
    if (name[0] == '\0') {
        return &ext->portals[0];
    }
    for (size_t i = 1; i < ext->nportals; i++) {
        if (strcmp(ext->portals[i]->name, name) == 0) {
            return &ext->portals[i];
        }
    }
    return NULL;
}

static void ext_stmt_remove(ext_t *ext, ext_stmt_t **slot) {
    ext_stmt_free(*slot);
    *slot = NULL;
    size_t i = (size_t)(slot - ext->stmts);
    if (i > 0) {
        ext->stmts[i] = ext->stmts[ext->nstmts - 1];
        ext->nstmts--;
    }
}

static void ext_portal_remove(ext_t *ext, ext_portal_t **slot) {
    ext_portal_free(*slot);
    *slot = NULL;
    size_t i = (size_t)(slot - ext->portals);
    if (i > 0) {
        ext->portals[i] = ext->portals[ext->nportals - 1];
        ext->nportals--;
    }
}

static void ext_drop_portals(ext_t *ext) {
    while (ext->nportals > 1) {
        ext_portal_remove(ext, &ext->portals[ext->nportals - 1]);
    }
    ext_portal_free(ext->portals[0]);
    ext->portals[0] = NULL;
}

/* ---- Parse ------------------------------------------------------------------------------------
 */

/* Copies a result's row shape (columns and their names) into arena. */
static void ext_copy_shape(const sql_result_t *from, arena_t *arena, sql_result_t *to) {
    memset(to, 0, sizeof(*to));
    to->has_rows = from->has_rows;
    to->ncols = from->has_rows ? from->ncols : 0;
    to->cols = arena_calloc(arena, (size_t)to->ncols + 1, sizeof(sql_column_t));
    for (int c = 0; c < to->ncols; c++) {
        to->cols[c] = from->cols[c];
        to->cols[c].name = arena_strdup(arena, from->cols[c].name);
    }
}

static bool ext_word(const char **p, const char *word) {
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r') {
        (*p)++;
    }
    size_t n = strlen(word);
    if (strncasecmp(*p, word, n) != 0 || isalnum((unsigned char)(*p)[n]) || (*p)[n] == '_') {
        return false;
    }
    *p += n;
    return true;
}

bool ext_match_deallocate(const char *sql, char *name, size_t cap, bool *all) {
    CTX_ASSERT(sql != NULL && name != NULL && cap > 1);
    const char *p = sql;
    if (!ext_word(&p, "deallocate")) {
        return false;
    }
    (void)ext_word(&p, "prepare");
    *all = ext_word(&p, "all");
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    size_t n = 0;
    bool quoted = *p == '"';
    p += quoted ? 1 : 0;
    while (*p != '\0' && n + 1 < cap &&
           (quoted ? *p != '"' : (isalnum((unsigned char)*p) || *p == '_' || *p == '$'))) {
        name[n++] = quoted ? *p : (char)tolower((unsigned char)*p);
        p++;
    }
    name[n] = '\0';
    p += quoted && *p == '"' ? 1 : 0;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';') {
        p++;
    }
    return *p == '\0' && (*all || n > 0);
}

int ext_deallocate(ext_t *ext, const char *sql, ctx_err_t *err) {
    char name[64];
    bool all = false;
    bool matched = ext_match_deallocate(sql, name, sizeof(name), &all);
    CTX_ASSERT(matched);
    if (all) {
        while (ext->nstmts > 1) {
            ext_stmt_remove(ext, &ext->stmts[ext->nstmts - 1]);
        }
        return 0;
    }
    ext_stmt_t **slot = name[0] != '\0' ? ext_stmt_slot(ext, name) : NULL;
    if (slot == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_PREPARED, "prepared statement \"%s\" does not exist",
                           name);
    }
    ext_stmt_remove(ext, slot);
    return 0;
}

/* Parses st->query; exactly one statement (or none: st->empty). */
static int ext_parse_text(const char *query, size_t len, arena_t *arena, stmt_t **stmt, bool *empty,
                          ctx_err_t *err) {
    stmt_t **stmts = NULL;
    int count = 0;
    int rc = sql_parse(query, len, arena, &stmts, &count, err);
    if (rc < 0) {
        return rc;
    }
    if (count > 1) {
        return ctx_err_set(err, CTX_ESYNTAX,
                           "cannot insert multiple commands into a prepared statement");
    }
    *empty = count == 0;
    *stmt = count == 1 ? stmts[0] : NULL;
    return 0;
}

static int ext_prepare(ext_stmt_t *st, const ext_io_t *io, const pgw_parse_t *msg, ctx_err_t *err) {
    char *query = arena_try_alloc(&st->arena, (size_t)msg->query_len + 1);
    if (query == NULL) {
        return ext_out_of_memory(err, "the statement's text", (size_t)msg->query_len + 1);
    }
    ctx_memcpy(query, msg->query, msg->query_len);
    query[msg->query_len] = '\0';
    st->query = query;
    st->query_len = msg->query_len;
    char name[64];
    bool all = false;
    if (ext_match_deallocate(st->query, name, sizeof(name), &all)) {
        st->deallocate = true;
        return 0;
    }
    stmt_t *stmt = NULL;
    int rc = ext_parse_text(st->query, st->query_len, io->arena, &stmt, &st->empty, err);
    if (rc < 0) {
        return rc;
    }
    int declared = (int)msg->param_count;
    st->nparams = stmt != NULL && stmt->nparams > declared ? stmt->nparams : declared;
    st->param_oids = arena_try_calloc(&st->arena, (size_t)st->nparams + 1, sizeof(uint32_t));
    st->param_types = arena_try_calloc(&st->arena, (size_t)st->nparams + 1, sizeof(ctype_t));
    if (st->param_oids == NULL || st->param_types == NULL) {
        return ext_out_of_memory(err, "the parameter types", (size_t)st->nparams + 1);
    }
    for (int i = 0; i < declared; i++) {
        uint32_t oid = msg->param_oids[i];
        st->param_oids[i] = oid == PGW_OID_UNKNOWN ? 0 : oid;
        st->param_types[i] = value_type_from_oid(oid);
    }
    if (stmt == NULL) {
        return 0;
    }
    sql_result_t shape;
    rc = sql_describe(io->session, stmt, st->query, io->arena, st->param_types, st->nparams, &shape,
                      err);
    if (rc < 0) {
        return rc;
    }
    ext_copy_shape(&shape, &st->arena, &st->shape);
    return 0;
}

int ext_parse(ext_t *ext, const ext_io_t *io, const pgw_parse_t *msg, ctx_err_t *err) {
    CTX_ASSERT(ext != NULL && io != NULL && msg != NULL);
    ext_stmt_t **slot = ext_stmt_slot(ext, msg->statement);
    if (slot != NULL && msg->statement[0] != '\0') {
        return ctx_err_set(err, CTX_EDUP_PREPARED, "prepared statement \"%s\" already exists",
                           msg->statement);
    }
    if (slot == NULL && ext->nstmts > EXT_STATEMENTS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "too many prepared statements (at most %d)",
                           EXT_STATEMENTS_MAX);
    }
    int rc =
        slot == NULL ? ext_table_room((void ***)&ext->stmts, ext->nstmts, &ext->stmts_cap, err) : 0;
    ext_stmt_t *st = rc == 0 ? ctx_try_calloc(1, sizeof(*st)) : NULL;
    if (rc == 0 && st == NULL) {
        return ext_out_of_memory(err, "a prepared statement", sizeof(*st));
    }
    if (rc < 0) {
        return rc;
    }
    arena_init(&st->arena);
    st->name = ext_name_copy(msg->statement, err);
    rc = st->name != NULL ? ext_prepare(st, io, msg, err) : CTX_ENOMEM;
    if (rc < 0) {
        ext_stmt_free(st);
        return rc;
    }
    if (slot != NULL) {
        ext_stmt_free(*slot);
        *slot = st;
    } else {
        ext->stmts[ext->nstmts++] = st;
    }
    pgw_encode_parse_complete(io->out);
    return 0;
}

/* ---- Bind: parameter values ------------------------------------------------------------------ */

static int ext_bad_binary(int index, ctx_err_t *err) {
    return ctx_err_set(err, CTX_EBINARY_FORMAT, "incorrect binary data format in bind parameter %d",
                       index + 1);
}

/* bytea text input: "\x" hex → the bytes; other text unchanged. */
static int ext_bytea_text(const char **text, uint32_t *len, arena_t *arena, ctx_err_t *err) {
    const char *t = *text;
    if (*len < 2 || t[0] != '\\' || t[1] != 'x') {
        return 0;
    }
    uint32_t hex_len = *len - 2;
    if (hex_len % 2 != 0) {
        return ctx_err_set(err, CTX_EBAD_LITERAL, "invalid hexadecimal data: odd number of digits");
    }
    char *bytes = arena_try_alloc(arena, hex_len / 2 + 1);
    if (bytes == NULL) {
        return ext_out_of_memory(err, "a bytea parameter", hex_len / 2 + 1);
    }
    for (uint32_t i = 0; i < hex_len / 2; i++) {
        char pair[3] = {t[2 + 2 * i], t[3 + 2 * i], 0};
        char *end = NULL;
        long b = strtol(pair, &end, 16);
        if (end != pair + 2) {
            return ctx_err_set(err, CTX_EBAD_LITERAL, "invalid hexadecimal digit: \"%c\"", pair[0]);
        }
        bytes[i] = (char)b;
    }
    bytes[hex_len / 2] = '\0';
    *text = bytes;
    *len = hex_len / 2;
    return 0;
}

static bool ext_value_fits(const value_t *v, ctype_t type) {
    switch (type) {
    case CT_UNKNOWN:
        return true;
    case CT_BOOL:
        return v->kind == VAL_BOOL;
    case CT_INT4:
        return v->kind == VAL_INT && v->u.i >= INT32_MIN && v->u.i <= INT32_MAX;
    case CT_INT8:
        return v->kind == VAL_INT;
    case CT_FLOAT8:
        return v->kind == VAL_FLOAT;
    case CT_TEXT:
        return v->kind == VAL_TEXT;
    case CT_VECTOR:
        return v->kind == VAL_VECTOR;
    default:
        return false;
    }
}

/* Converts Bind parameter i to a value of type `type`. */
static int ext_param_value(uint32_t declared_oid, ctype_t type, int16_t format,
                           const pgw_value_t *wire, int index, arena_t *arena, value_t *out,
                           ctx_err_t *err) {
    if (wire->len < 0) {
        *out = value_null();
        return 0;
    }
    uint32_t wire_oid = declared_oid != 0 ? declared_oid : value_type_oid(type);
    value_t v;
    int rc = 0;
    if (format == PGW_FORMAT_BINARY) {
        rc = binary_recv(wire_oid, wire->data, (size_t)wire->len, arena, &v, err);
        if (rc < 0) {
            return ext_bad_binary(index, err); /* a type's own message, set first, stays */
        }
    } else {
        const char *text = arena_strndup(arena, (const char *)wire->data, (size_t)wire->len);
        uint32_t len = (uint32_t)wire->len;
        rc = utf8_check(text, len, err); /* text parameters are client text */
        if (rc == 0 && wire_oid == PGW_OID_BYTEA) {
            rc = ext_bytea_text(&text, &len, arena, err);
        }
        v = value_text(text, len);
    }
    if (rc < 0) {
        return rc;
    }
    if (v.kind == VAL_INT && type == CT_FLOAT8) {
        v = value_float((double)v.u.i);
    }
    if (ext_value_fits(&v, type)) {
        *out = v;
        return 0;
    }
    if (v.kind == VAL_INT && type == CT_INT4) {
        return ctx_err_set(err, CTX_ERANGE, "integer out of range");
    }
    uint32_t len = 0;
    const char *text = value_to_text(&v, arena, &len);
    return value_from_text(type, text, len, 0, arena, out, err);
}

/* ---- Bind ------------------------------------------------------------------------------------ */

static int ext_bind_formats(ext_portal_t *p, const pgw_bind_t *msg, ctx_err_t *err) {
    int ncols = p->shape.ncols;
    if (msg->result_format_count > 1 && msg->result_format_count != (uint16_t)ncols) {
        return ctx_err_set(err, CTX_EPROTOCOL,
                           "bind message has %u result formats but query has %d columns",
                           (unsigned)msg->result_format_count, ncols);
    }
    p->formats = arena_try_calloc(&p->arena, (size_t)ncols + 1, sizeof(int16_t));
    if (p->formats == NULL) {
        return ext_out_of_memory(err, "the result formats", (size_t)ncols + 1);
    }
    for (int c = 0; c < ncols; c++) {
        int16_t f = msg->result_format_count == 0 ? 0 : pgw_bind_result_format(msg, (uint16_t)c);
        if (f != PGW_FORMAT_TEXT && f != PGW_FORMAT_BINARY) {
            return ctx_err_set(err, CTX_EBAD_PARAM, "unsupported format code: %d", f);
        }
        p->formats[c] = f;
    }
    return 0;
}

static int ext_bind_params(ext_portal_t *p, const ext_stmt_t *st, const pgw_bind_t *msg,
                           ctx_err_t *err) {
    if ((int)msg->param_count != st->nparams) {
        return ctx_err_set(err, CTX_EPROTOCOL,
                           "bind message supplies %u parameters, but prepared statement \"%s\" "
                           "requires %d",
                           (unsigned)msg->param_count, st->name, st->nparams);
    }
    if (msg->param_format_count > 1 && msg->param_format_count != msg->param_count) {
        return ctx_err_set(err, CTX_EPROTOCOL,
                           "bind message has %u parameter formats but %u parameters",
                           (unsigned)msg->param_format_count, (unsigned)msg->param_count);
    }
    p->nparams = st->nparams;
    p->param_types = arena_try_calloc(&p->arena, (size_t)p->nparams + 1, sizeof(ctype_t));
    p->params = arena_try_calloc(&p->arena, (size_t)p->nparams + 1, sizeof(value_t));
    if (p->param_types == NULL || p->params == NULL) {
        return ext_out_of_memory(err, "the parameter values", (size_t)p->nparams + 1);
    }
    for (int i = 0; i < p->nparams; i++) {
        int16_t f = msg->param_format_count == 0 ? 0 : pgw_bind_param_format(msg, (uint16_t)i);
        if (f != PGW_FORMAT_TEXT && f != PGW_FORMAT_BINARY) {
            return ctx_err_set(err, CTX_EBAD_PARAM, "unsupported format code: %d", f);
        }
        ctype_t type = st->param_types[i] == CT_UNKNOWN ? CT_TEXT : st->param_types[i];
        p->param_types[i] = type;
        int rc = ext_param_value(st->param_oids[i], type, f, &msg->params[i], i, &p->arena,
                                 &p->params[i], err);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* A new portal: msg's name, st's query and shape, msg's values and formats. */
static int ext_portal_new(const ext_stmt_t *st, const pgw_bind_t *msg, ext_portal_t **out,
                          ctx_err_t *err) {
    ext_portal_t *p = ctx_try_calloc(1, sizeof(*p));
    if (p == NULL) {
        return ext_out_of_memory(err, "a portal", sizeof(*p));
    }
    arena_init(&p->arena);
    int rc = CTX_ENOMEM;
    p->name = ext_name_copy(msg->portal, err);
    char *query = p->name != NULL ? arena_try_alloc(&p->arena, st->query_len + 1) : NULL;
    if (p->name != NULL && query == NULL) {
        ext_out_of_memory(err, "the portal's query text", st->query_len + 1);
    }
    if (query != NULL) {
        memcpy(query, st->query, st->query_len + 1);
        p->query = query;
        p->query_len = st->query_len;
        p->empty = st->empty;
        p->deallocate = st->deallocate;
        ext_copy_shape(&st->shape, &p->arena, &p->shape);
        rc = ext_bind_params(p, st, msg, err);
    }
    if (rc == 0) {
        rc = ext_bind_formats(p, msg, err);
    }
    if (rc < 0) {
        ext_portal_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int ext_bind(ext_t *ext, const ext_io_t *io, const pgw_bind_t *msg, ctx_err_t *err) {
    CTX_ASSERT(ext != NULL && io != NULL && msg != NULL);
    ext_stmt_t **st_slot = ext_stmt_slot(ext, msg->statement);
    if (st_slot == NULL || *st_slot == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_PREPARED, "prepared statement \"%s\" does not exist",
                           msg->statement);
    }
    const ext_stmt_t *st = *st_slot;
    ext_portal_t **slot = ext_portal_slot(ext, msg->portal);
    if (slot != NULL && msg->portal[0] != '\0') {
        return ctx_err_set(err, CTX_EDUP_CURSOR, "cursor \"%s\" already exists", msg->portal);
    }
    if (slot == NULL && ext->nportals > EXT_PORTALS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "too many portals (at most %d)", EXT_PORTALS_MAX);
    }
    int rc = slot == NULL
                 ? ext_table_room((void ***)&ext->portals, ext->nportals, &ext->portals_cap, err)
                 : 0;
    ext_portal_t *p = NULL;
    if (rc == 0) {
        rc = ext_portal_new(st, msg, &p, err);
    }
    if (rc < 0) {
        return rc;
    }
    if (slot != NULL) {
        ext_portal_free(*slot);
        *slot = p;
    } else {
        ext->portals[ext->nportals++] = p;
    }
    pgw_encode_bind_complete(io->out);
    return 0;
}

/* ---- Describe / Close ------------------------------------------------------------------------ */

static int ext_send_shape(const ext_io_t *io, const sql_result_t *shape, const int16_t *formats,
                          ctx_err_t *err) {
    if (!shape->has_rows) {
        pgw_encode_no_data(io->out);
        return 0;
    }
    return reply_row_description(io->out, io->arena, shape, formats, err);
}

int ext_describe(ext_t *ext, const ext_io_t *io, const pgw_target_t *msg, ctx_err_t *err) {
    CTX_ASSERT(ext != NULL && io != NULL && msg != NULL);
    if (msg->kind == 'P') {
        ext_portal_t **slot = ext_portal_slot(ext, msg->name);
        if (slot == NULL || *slot == NULL) {
            return ctx_err_set(err, CTX_EUNDEF_CURSOR, "portal \"%s\" does not exist", msg->name);
        }
        return ext_send_shape(io, &(*slot)->shape, (*slot)->formats, err);
    }
    if (msg->kind != 'S') {
        return ctx_err_set(err, CTX_EPROTOCOL, "invalid DESCRIBE message subtype %d", msg->kind);
    }
    ext_stmt_t **slot = ext_stmt_slot(ext, msg->name);
    if (slot == NULL || *slot == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_PREPARED, "prepared statement \"%s\" does not exist",
                           msg->name);
    }
    const ext_stmt_t *st = *slot;
    uint32_t *oids = arena_calloc(io->arena, (size_t)st->nparams + 1, sizeof(uint32_t));
    for (int i = 0; i < st->nparams; i++) {
        ctype_t t = st->param_types[i] == CT_UNKNOWN ? CT_TEXT : st->param_types[i];
        oids[i] = st->param_oids[i] != 0 ? st->param_oids[i] : value_type_oid(t);
    }
    if (pgw_encode_parameter_description(io->out, oids, (size_t)st->nparams) < 0) {
        return ctx_err_set(err, CTX_ELIMIT, "too many parameters");
    }
    return ext_send_shape(io, &st->shape, NULL, err);
}

int ext_close(ext_t *ext, const ext_io_t *io, const pgw_target_t *msg, ctx_err_t *err) {
    CTX_ASSERT(ext != NULL && io != NULL && msg != NULL);
    if (msg->kind == 'S') {
        ext_stmt_t **slot = ext_stmt_slot(ext, msg->name);
        if (slot != NULL) {
            ext_stmt_remove(ext, slot);
        }
    } else if (msg->kind == 'P') {
        ext_portal_t **slot = ext_portal_slot(ext, msg->name);
        if (slot != NULL) {
            ext_portal_remove(ext, slot);
        }
    } else {
        return ctx_err_set(err, CTX_EPROTOCOL, "invalid CLOSE message subtype %d", msg->kind);
    }
    pgw_encode_close_complete(io->out); /* closing what does not exist is not an error */
    return 0;
}

/* ---- Execute --------------------------------------------------------------------------------- */

/* Deep-copies rows [from, nrows) so they outlive store changes between Executes. */
static void ext_keep_rows(ext_portal_t *p, uint64_t from) {
    sql_result_t *r = &p->result;
    uint64_t ncols = (uint64_t)r->ncols;
    for (uint64_t i = from * ncols; i < r->nrows * ncols; i++) {
        r->rows[i] = value_copy(&r->rows[i], &p->arena);
    }
}

static int ext_run_portal(ext_portal_t *p, const ext_io_t *io, ctx_err_t *err) {
    stmt_t *stmt = NULL;
    bool empty = false;
    int rc = ext_parse_text(p->query, p->query_len, &p->arena, &stmt, &empty, err);
    if (rc < 0) {
        return rc;
    }
    CTX_ASSERT(stmt != NULL);
    p->executed = true;
    if (stmt->kind == STMT_COPY) {
        p->done = true;
        if (io->copy == NULL) {
            return ctx_err_set(err, CTX_EFEATURE, "COPY is not supported here");
        }
        return io->copy(io->copy_ctx, stmt, p->query, err);
    }
    p->is_select = stmt->kind == STMT_SELECT;
    rc = sql_execute_params(io->session, stmt, p->query, p->param_types, p->params, p->nparams,
                            &p->arena, &p->result, err);
    if (rc < 0) {
        return rc;
    }
    reply_notices(io->out, &p->result);
    if (!p->result.has_rows) {
        p->result.nrows = 0;
    }
    if (p->formats != NULL && p->result.ncols != p->shape.ncols) {
        p->formats = NULL; /* the shape changed since Parse: fall back to text */
    }
    return 0;
}

int ext_execute(ext_t *ext, const ext_io_t *io, const pgw_execute_t *msg, ctx_err_t *err) {
    CTX_ASSERT(ext != NULL && io != NULL && msg != NULL);
    ext_portal_t **slot = ext_portal_slot(ext, msg->portal);
    if (slot == NULL || *slot == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_CURSOR, "portal \"%s\" does not exist", msg->portal);
    }
    ext_portal_t *p = *slot;
    if (p->empty) {
        pgw_encode_empty_query(io->out);
        return 0;
    }
    if (p->deallocate && !p->executed) {
        p->executed = p->done = true;
        int rc = ext_deallocate(ext, p->query, err);
        return rc < 0 ? rc : reply_complete(io->out, "DEALLOCATE", NULL, err);
    }
    if (p->deallocate) {
        return reply_complete(io->out, "DEALLOCATE", NULL, err);
    }
    if (!ext->query_open) {
        sql_query_begin(io->session, 2); /* until Sync: one implicit transaction */
        ext->query_open = true;
    }
    if (!p->executed) {
        int rc = ext_run_portal(p, io, err);
        if (rc < 0 || p->done) {
            return rc; /* COPY: the caller has answered */
        }
    }
    sql_result_t *r = &p->result;
    uint64_t left = r->nrows - p->sent;
    uint64_t count = msg->rows_max == 0 || msg->rows_max >= left ? left : msg->rows_max;
    int rc = reply_data_rows(io->out, io->arena, r, p->sent, count, p->formats, err);
    if (rc < 0) {
        return rc;
    }
    bool first = p->sent == 0;
    p->sent += count;
    if (p->sent < r->nrows || (msg->rows_max > 0 && count == msg->rows_max)) {
        /* As PostgreSQL: a fetch that filled its row limit suspends, even at the end. */
        if (first) {
            ext_keep_rows(p, p->sent);
        }
        pgw_encode_portal_suspended(io->out);
        return 0;
    }
    const char *tag = r->tag;
    if (p->is_select || p->done) {
        tag = arena_sprintf(io->arena, "SELECT %llu", (unsigned long long)count);
    }
    p->done = true;
    return reply_complete(io->out, tag, first ? r : NULL, err);
}

/* ---- Sync and the simple-query boundary -------------------------------------------------------
 */

static int ext_end_query(ext_t *ext, const ext_io_t *io, ctx_err_t *err) {
    int rc = 0;
    if (ext->query_open) {
        ext->query_open = false;
        rc = sql_query_end(io->session, io->arena, err);
    }
    if (sql_session_txn_status(io->session) == 'I') {
        ext_drop_portals(ext);
    }
    return rc;
}

int ext_sync(ext_t *ext, const ext_io_t *io, ctx_err_t *err) {
    CTX_ASSERT(ext != NULL && io != NULL);
    return ext_end_query(ext, io, err);
}

int ext_before_simple_query(ext_t *ext, const ext_io_t *io, ctx_err_t *err) {
    CTX_ASSERT(ext != NULL && io != NULL);
    int rc = ext_end_query(ext, io, err);
    ext_portal_free(ext->portals[0]);
    ext->portals[0] = NULL;
    return rc;
}

void ext_after_simple_query(ext_t *ext, sql_session_t *session) {
    CTX_ASSERT(ext != NULL && session != NULL);
    if (sql_session_txn_status(session) == 'I') {
        ext_drop_portals(ext);
    }
}

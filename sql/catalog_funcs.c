/*
 * catalog_funcs.c — the catalog's scalar functions (catalog.h: catalog_functions): format_type,
 * pg_get_userbyid, pg_get_expr, pg_get_indexdef / constraintdef / functiondef and the
 * function-signature printers, the *_description and other functions whose objects do not exist
 * (NULL), relation and database sizes, pg_size_pretty and set_config.
 *
 * They read the same fixed objects catalog.c lists (catalog_int.h: constraints, table functions,
 * pg_proc rows), so what a function prints names what the catalogs hold. set_config goes through
 * guc_set, the path SET takes, so it validates and scopes (is_local = SET LOCAL) a setting the
 * same way; it reports no ParameterStatus (a SELECT carries none).
 */
#include "catalog.h"
#include "catalog_int.h"
#include "session_int.h"

#include <stdlib.h>
#include <string.h>

static value_t cstr(const char *s) {
    return s == NULL ? value_null() : value_text(s, (uint32_t)strlen(s));
}

static int fn_format_type(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    (void)e, (void)err;
    if (value_is_null(&a[0])) {
        *out = value_null();
        return 0;
    }
    int64_t typmod = e->nargs > 1 && a[1].kind == VAL_INT ? a[1].u.i : -1;
    *out = cstr(catalog_format_type((uint32_t)a[0].u.i, typmod, ctx->arena));
    return 0;
}

static int fn_userbyid(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                       ctx_err_t *err) {
    (void)e, (void)err;
    *out = a[0].u.i == CATALOG_OID_OWNER
               ? cstr(catalog_owner_name())
               : cstr(arena_sprintf(ctx->arena, "unknown (OID=%lld)", (long long)a[0].u.i));
    return 0;
}

static int fn_get_expr(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                       ctx_err_t *err) {
    (void)e, (void)ctx, (void)err;
    *out = a[0]; /* expressions are stored as their source text */
    return 0;
}

static const char *key_list(const cat_con_t *con, arena_t *arena) {
    const bind_column_t *cols = table_columns(con->table);
    const char *s = "";
    for (int i = 0; i < con->nkeys; i++) {
        s = arena_sprintf(arena, "%s%s%s", s, i > 0 ? ", " : "", cols[con->keys[i] - 1].name);
    }
    return s;
}

static int fn_indexdef(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                       ctx_err_t *err) {
    (void)err;
    int64_t k = (int64_t)a[0].u.i - OID_INDEX_BASE;
    int64_t col = e->nargs > 1 ? a[1].u.i : 0;
    *out = value_null();
    if (k < 0 || k >= TABLE_COUNT) {
        return 0;
    }
    const cat_con_t *con = &cat_cons[k];
    if (col > 0) {
        *out = col <= con->nkeys ? cstr(table_columns(con->table)[con->keys[col - 1] - 1].name)
                                 : cstr("");
        return 0;
    }
    *out = cstr(arena_sprintf(ctx->arena, "CREATE UNIQUE INDEX %s ON public.%s USING btree (%s)",
                              con->name, table_name(con->table), key_list(con, ctx->arena)));
    return 0;
}

static int fn_constraintdef(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                            ctx_err_t *err) {
    (void)e, (void)err;
    int64_t k = (int64_t)a[0].u.i - OID_CON_BASE;
    *out = value_null();
    if (k < 0 || k >= CAT_NCONS) {
        return 0;
    }
    const cat_con_t *con = &cat_cons[k];
    if (con->type == 'p') {
        *out = cstr(arena_sprintf(ctx->arena, "PRIMARY KEY (%s)", key_list(con, ctx->arena)));
    } else {
        *out = cstr(arena_sprintf(ctx->arena,
                                  "FOREIGN KEY (%s) REFERENCES %s(%s) ON DELETE "
                                  "CASCADE",
                                  key_list(con, ctx->arena), table_name(con->ref_table),
                                  table_columns(con->ref_table)[con->ref_key - 1].name));
    }
    return 0;
}

/* The SQL name of a pg_proc argument or result type, pseudo-types included. */
static const char *proc_type_name(uint32_t oid, arena_t *arena) {
    static const struct {
        uint32_t oid;
        const char *name;
    } pseudo[] = {{2275, "cstring"},
                  {2276, "\"any\""},
                  {2277, "anyarray"},
                  {2281, "internal"},
                  {2283, "anyelement"}};
    for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++) {
        if (pseudo[i].oid == oid) {
            return pseudo[i].name;
        }
    }
    return catalog_format_type(oid, -1, arena);
}

/* pg_get_function_arguments of a built-in row: its argument types, comma-separated. */
static const char *proc_arguments(const cat_proc_t *f, arena_t *arena) {
    const char *s = "";
    for (const char *c = f->argtypes; *c != '\0';) {
        char *end;
        unsigned long oid = strtoul(c, &end, 10);
        CTX_ASSERT(end > c);
        s = arena_sprintf(arena, "%s%s%s", s, *s != '\0' ? ", " : "",
                          proc_type_name((uint32_t)oid, arena));
        c = *end == ' ' ? end + 1 : end;
    }
    return s;
}

static int fn_function_text(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                            ctx_err_t *err) {
    (void)err;
    bool result = strcmp(e->name, "pg_get_function_result") == 0;
    int64_t k = (int64_t)a[0].u.i - OID_PROC_BASE;
    const cat_proc_t *f = catalog_proc_by_oid((uint32_t)a[0].u.i);
    *out = value_null();
    if (k >= 0 && k < CAT_NPROCS) {
        *out = cstr(result ? cat_procs[k].result : cat_procs[k].args);
    } else if (f != NULL) {
        *out =
            cstr(result ? proc_type_name(f->rettype, ctx->arena) : proc_arguments(f, ctx->arena));
    }
    return 0;
}

/* pg_get_functiondef: the CREATE statement PostgreSQL prints; every function is internal. */
static int fn_functiondef(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    (void)e, (void)err;
    int64_t k = (int64_t)a[0].u.i - OID_PROC_BASE;
    const cat_proc_t *f = catalog_proc_by_oid((uint32_t)a[0].u.i);
    *out = value_null();
    if (k >= 0 && k < CAT_NPROCS) {
        *out = cstr(arena_sprintf(ctx->arena,
                                  "CREATE OR REPLACE FUNCTION public.%s(%s)\n RETURNS %s\n "
                                  "LANGUAGE internal\n STABLE\nAS $function$%s$function$\n",
                                  cat_procs[k].name, cat_procs[k].args, cat_procs[k].result,
                                  cat_procs[k].name));
    } else if (f != NULL) {
        static const char *const volatility[] = {"IMMUTABLE", "STABLE", "VOLATILE"};
        int v = f->volatility == 'i' ? 0 : (f->volatility == 's' ? 1 : 2);
        *out = cstr(arena_sprintf(
            ctx->arena,
            "CREATE OR REPLACE FUNCTION pg_catalog.%s(%s)\n RETURNS %s\n LANGUAGE internal\n "
            "%s PARALLEL SAFE%s\nAS $function$%s$function$\n",
            f->name, proc_arguments(f, ctx->arena), proc_type_name(f->rettype, ctx->arena),
            volatility[v], f->strict ? " STRICT" : "", f->src));
    }
    return 0;
}

/* set_config(name, value, is_local): SET [LOCAL] name = value, returning the new value. */
static int fn_set_config(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                         ctx_err_t *err) {
    (void)e;
    if (a[0].kind == VAL_NULL) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "SET requires parameter name");
    }
    sql_session_t *s = ctx->env != NULL ? ctx->env->session : NULL;
    if (s == NULL) {
        return ctx_err_set(err, CTX_EFEATURE, "set_config is not available here");
    }
    const char *name = arena_strndup(ctx->arena, a[0].u.str.ptr, a[0].u.str.len);
    const char *value =
        a[1].kind == VAL_NULL ? "" : arena_strndup(ctx->arena, a[1].u.str.ptr, a[1].u.str.len);
    bool local = a[2].kind == VAL_BOOL && a[2].u.b;
    int rc = guc_set(s, name, value, local, ctx->arena, NULL, err);
    if (rc != CTX_OK) {
        return rc;
    }
    *out = cstr(guc_get(s, name));
    return 0;
}
static int fn_null(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                   ctx_err_t *err) {
    (void)e, (void)a, (void)ctx, (void)err;
    *out = value_null(); /* no comments, triggers, views or statistics objects exist */
    return 0;
}

/* Relation sizes are estimates from row counts (the data lives in memory, not in 8 kB pages):
 * rows × an average row width, rounded up to whole 8 kB pages; an empty table is 0 bytes, as
 * PostgreSQL's is. Indexes and catalogs report 0. */
static int64_t table_bytes(const eval_ctx_t *ctx, table_id_t t) {
    const sql_session_t *s = ctx->env != NULL ? ctx->env->session : NULL;
    if (s == NULL) {
        return 0;
    }
    const store_t *st = s->db->store;
    uint64_t rows = t == TABLE_NODES   ? store_node_count(st)
                    : t == TABLE_EDGES ? store_edge_count(st)
                                       : store_vector_count(st);
    uint64_t width = t == TABLE_NODES   ? 64
                     : t == TABLE_EDGES ? 48
                                        : 16 + 4 * (uint64_t)ctx->env->vector_dims;
    uint64_t pages = (rows * width + 8191) / 8192;
    return (int64_t)(pages * 8192);
}

static int fn_relation_size(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                            ctx_err_t *err) {
    (void)e, (void)err;
    *out = value_int(0);
    for (int t = 0; t < TABLE_COUNT; t++) {
        if (a[0].u.i == table_oid((table_id_t)t)) {
            *out = value_int(table_bytes(ctx, (table_id_t)t));
        }
    }
    return 0;
}

/* pg_database_size(name | oid): the three tables' sizes; 42704 for another database. */
static int fn_database_size(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                            ctx_err_t *err) {
    (void)e;
    bool ours = a[0].kind == VAL_INT
                    ? a[0].u.i == CATALOG_OID_DATABASE
                    : (a[0].u.str.len == 9 && ctx_memcmp(a[0].u.str.ptr, "contextdb", 9) == 0);
    if (!ours) {
        return a[0].kind == VAL_INT
                   ? ctx_err_set(err, CTX_EUNDEF_OBJECT, "database with OID %lld does not exist",
                                 (long long)a[0].u.i)
                   : ctx_err_set(err, CTX_EUNDEF_OBJECT, "database \"%.*s\" does not exist",
                                 (int)a[0].u.str.len, a[0].u.str.ptr);
    }
    int64_t total = 0;
    for (int t = 0; t < TABLE_COUNT; t++) {
        total += table_bytes(ctx, (table_id_t)t);
    }
    *out = value_int(total);
    return 0;
}
static int fn_size_pretty(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    (void)e, (void)err;
    int64_t v = a[0].u.i;
    const char *unit = "bytes";
    if (v >= 10240 * 1024LL) {
        v /= 1024 * 1024;
        unit = "MB";
    } else if (v >= 10240) {
        v /= 1024;
        unit = "kB";
    }
    *out = cstr(arena_sprintf(ctx->arena, "%lld %s", (long long)v, unit));
    return 0;
}

/* acldefault(objtype, owner): the privileges an object has when its ACL is NULL, as PostgreSQL
 * 15 spells them (aclitem[] text). */
static int fn_acldefault(const expr_t *e, const value_t *a, const eval_ctx_t *ctx, value_t *out,
                         ctx_err_t *err) {
    (void)e;
    static const struct {
        char type;
        const char *pub;   /* PUBLIC's privileges, "" none */
        const char *owner; /* the owner's */
    } acl[] = {{'r', "", "arwdDxt"}, {'s', "", "rwU"}, {'d', "Tc", "CTc"}, {'f', "X", "X"},
               {'l', "U", "U"},      {'L', "", "rw"},  {'n', "", "UC"},    {'t', "", "C"},
               {'F', "", "U"},       {'S', "", "U"},   {'T', "U", "U"},    {'p', "", "sA"}};
    char type = a[0].u.str.len > 0 ? a[0].u.str.ptr[0] : '\0';
    const char *owner = a[1].u.i == CATALOG_OID_OWNER
                            ? catalog_owner_name()
                            : arena_sprintf(ctx->arena, "%lld", (long long)a[1].u.i);
    for (size_t i = 0; i < sizeof(acl) / sizeof(acl[0]); i++) {
        if (acl[i].type == type) {
            *out = cstr(*acl[i].pub != '\0'
                            ? arena_sprintf(ctx->arena, "{=%s/%s,%s=%s/%s}", acl[i].pub, owner,
                                            owner, acl[i].owner, owner)
                            : arena_sprintf(ctx->arena, "{%s=%s/%s}", owner, acl[i].owner, owner));
            return 0;
        }
    }
    return ctx_err_set(err, CTX_EBAD_PARAM, "unrecognized object type abbreviation: %c", type);
}

static const eval_func_ext_t catalog_funcs[] = {
    {"format_type", 2, 2, "OI", CT_TEXT, false, fn_format_type},
    {"pg_get_userbyid", 1, 1, "O", CT_NAME, true, fn_userbyid},
    {"pg_get_expr", 2, 3, "TOB", CT_TEXT, true, fn_get_expr},
    {"pg_get_indexdef", 1, 3, "OIB", CT_TEXT, true, fn_indexdef},
    {"pg_get_constraintdef", 1, 2, "OB", CT_TEXT, true, fn_constraintdef},
    {"pg_get_function_result", 1, 1, "O", CT_TEXT, true, fn_function_text},
    {"pg_get_function_arguments", 1, 1, "O", CT_TEXT, true, fn_function_text},
    {"pg_get_function_identity_arguments", 1, 1, "O", CT_TEXT, true, fn_function_text},
    {"obj_description", 1, 2, "OT", CT_TEXT, true, fn_null},
    {"col_description", 2, 2, "ON", CT_TEXT, true, fn_null},
    {"shobj_description", 2, 2, "OT", CT_TEXT, true, fn_null},
    {"pg_get_triggerdef", 1, 2, "OB", CT_TEXT, true, fn_null},
    {"pg_get_function_sqlbody", 1, 1, "O", CT_TEXT, true, fn_null},
    {"pg_get_viewdef", 1, 2, "OB", CT_TEXT, true, fn_null},
    {"pg_get_statisticsobjdef_columns", 1, 1, "O", CT_TEXT, true, fn_null},
    {"pg_get_partkeydef", 1, 1, "O", CT_TEXT, true, fn_null},
    {"pg_get_serial_sequence", 2, 2, "TT", CT_TEXT, true, fn_null},
    {"pg_tablespace_location", 1, 1, "O", CT_TEXT, true, fn_null},
    {"pg_get_functiondef", 1, 1, "O", CT_TEXT, true, fn_functiondef},
    {"pg_relation_size", 1, 2, "CT", CT_INT8, true, fn_relation_size},
    {"pg_total_relation_size", 1, 1, "C", CT_INT8, true, fn_relation_size},
    {"pg_table_size", 1, 1, "C", CT_INT8, true, fn_relation_size},
    {"pg_indexes_size", 1, 1, "C", CT_INT8, true, fn_relation_size},
    {"pg_database_size", 1, 1, "A", CT_INT8, true, fn_database_size},
    {"set_config", 3, 3, "TTB", CT_TEXT, false, fn_set_config},
    {"acldefault", 2, 2, "TO", CT_TEXT_ARRAY, true, fn_acldefault},
    {"pg_size_pretty", 1, 1, "N", CT_TEXT, true, fn_size_pretty},
};

const eval_func_ext_t *catalog_functions(int *count) {
    *count = (int)(sizeof(catalog_funcs) / sizeof(catalog_funcs[0]));
    return catalog_funcs;
}

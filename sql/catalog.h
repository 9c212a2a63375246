/*
 * catalog.h — the emulated system catalogs (pg_catalog.*, information_schema.*): virtual tables
 * whose rows are generated from the engine's schema (the three tables nodes, edges, vectors,
 * their keys and types) and the session's settings, so psql, drivers and BI tools can answer
 * their metadata queries by running them.
 */
#ifndef CTX_SQL_CATALOG_H
#define CTX_SQL_CATALOG_H

#include "planner.h"

/* Fixed object identifiers (PostgreSQL's where they exist). */
enum {
    CATALOG_OID_PG_CATALOG = 11,
    CATALOG_OID_PUBLIC = 2200,
    CATALOG_OID_INFORMATION_SCHEMA = 13000,
    CATALOG_OID_OWNER = 10,       /* the one role: contextdb */
    CATALOG_OID_DATABASE = 16383, /* contextdb */
};

/* Every catalog relation has the system columns `ctid` ("(0,n)" for its n-th row, as text),
 * `xmin` (1: every row is frozen) and `tableoid` (its own OID), with PostgreSQL's attribute
 * numbers; `*` does not expand to columns with a negative attnum. */
enum { CATALOG_ATTNUM_CTID = -1, CATALOG_ATTNUM_XMIN = -2, CATALOG_ATTNUM_TABLEOID = -6 };

/* Plans a catalog relation: schema NULL (search path: pg_catalog), "pg_catalog" or
 * "information_schema", or a set-returning catalog function used in FROM (pg_get_keywords).
 * On success *out is a PLAN_VALUES node with the rows (generated now, in p->arena) and the
 * relation's columns qualified by its name. Returns CTX_EUNDEF_TABLE, without touching anything,
 * when name is no catalog relation. */
int catalog_plan(planner_t *p, const char *schema, const char *name, plan_t **out);

/* eval_env_t hooks: reg* input (name → OID; 42P01 / 42704 when unknown) and output (OID →
 * name; the number as text when unknown). */
int catalog_reg_in(const eval_env_t *env, ctype_t type, const char *name, uint32_t *oid,
                   ctx_err_t *err);
const char *catalog_reg_out(const eval_env_t *env, ctype_t type, uint32_t oid, arena_t *arena);

/* The catalog's scalar functions (format_type, pg_get_userbyid, pg_get_indexdef, …) for
 * eval_env_t.ext_funcs; static storage. */
const eval_func_ext_t *catalog_functions(int *count);

/* Fills env's catalog hooks (reg_in, reg_out, ext_funcs). */
void catalog_install(eval_env_t *env);

#endif

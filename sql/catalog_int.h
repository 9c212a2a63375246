/*
 * catalog_int.h — private to the catalog files (catalog.c, catalog_procs.c, catalog_funcs.c):
 * the rows of pg_proc and the I/O functions of every pg_type row.
 */
#ifndef CTX_SQL_CATALOG_INT_H
#define CTX_SQL_CATALOG_INT_H

#include "arena.h"
#include "schema.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* OIDs of ContextDB's own objects (catalog.c's design paragraph). */
enum {
    OID_INDEX_BASE = 16387,
    OID_CON_BASE = 16401,
    OID_PROC_BASE = 16410,
    OID_ATTRDEF = 16420,
    OID_PG_CLASS = 1259,
    OID_PG_CONSTRAINT = 2606
};

/* The three tables' constraints (catalog.c); keys are 1-based column numbers. The first
 * TABLE_COUNT are the primary keys, in table order. */
typedef struct cat_con {
    const char *name;
    table_id_t table;
    char type; /* p primary key, f foreign key */
    int keys[3];
    int nkeys;
    table_id_t ref_table;
    int ref_key;
} cat_con_t;
enum { CAT_NCONS = 5 };
extern const cat_con_t cat_cons[CAT_NCONS];

/* ContextDB's table functions (catalog.c): pg_proc rows OID_PROC_BASE + index, in public. */
typedef struct cat_table_proc {
    const char *name;
    const char *argtypes; /* oidvector text */
    const char *argnames; /* text[] of the inputs */
    int ndefaults;
    const char *args;   /* pg_get_function_arguments */
    const char *result; /* pg_get_function_result */
} cat_table_proc_t;
enum { CAT_NPROCS = 6 };
extern const cat_table_proc_t cat_procs[CAT_NPROCS];

/* format_type(oid, typmod) as PostgreSQL prints it ("???" for an OID not in pg_type); the name
 * of the one role. Static storage or arena memory. */
const char *catalog_format_type(uint32_t oid, int64_t typmod, arena_t *arena);
const char *catalog_owner_name(void);

/* One pg_proc row. argtypes is the oidvector text form ("2275 26 23", "" none). */
typedef struct cat_proc {
    uint32_t oid;
    const char *name;
    int nargs;
    uint32_t rettype;
    const char *argtypes;
    const char *src; /* prosrc: the C symbol for internal functions */
    char volatility; /* i immutable, s stable, v volatile */
    bool strict;
    char kind; /* f function, a aggregate */
} cat_proc_t;

/* pg_type's I/O columns of one type: pg_proc OIDs (0 none), typalign, typstorage. */
typedef struct cat_typio {
    uint32_t type;
    uint32_t input, output, receive, send, subscript;
    char align, storage;
} cat_typio_t;

/* Every pg_proc row, in OID order (static storage). */
size_t catalog_proc_count(void);
const cat_proc_t *catalog_proc_at(size_t index);
/* The row of an OID / the first row of a name (overloads share a name); NULL when none. */
const cat_proc_t *catalog_proc_by_oid(uint32_t oid);
const cat_proc_t *catalog_proc_by_name(const char *name);
/* The I/O functions of a pg_type row; NULL for an OID that is not in pg_type. */
const cat_typio_t *catalog_typio(uint32_t type_oid);

#endif

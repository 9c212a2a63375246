/*
 * schema.h — the fixed relational schema of the store: the tables nodes, edges and vectors,
 * their columns, types, table OIDs and attribute numbers. The binder resolves column references
 * against it, the catalogs (pg_class, pg_attribute, information_schema) list it, COPY and
 * RowDescription read it; nothing else defines a table's shape.
 */
#ifndef CTX_SCHEMA_H
#define CTX_SCHEMA_H

#include "value.h"

#include <stdint.h>

typedef enum { TABLE_NODES = 0, TABLE_EDGES = 1, TABLE_VECTORS = 2, TABLE_COUNT = 3 } table_id_t;

/* One column of a row the binder can reference: a base-table column (table_oid, attnum set) or
 * a computed one. */
typedef struct bind_column {
    const char *qualifier; /* may be NULL */
    const char *name;
    ctype_t type;
    uint32_t table_oid; /* base table the column comes from (RowDescription), 0 if computed */
    int16_t attnum;     /* its column number in that table, 0 if computed */
} bind_column_t;

/* Column layout of the base tables: names, types; table OIDs for RowDescription. */
const char *table_name(table_id_t table);
int table_column_count(table_id_t table);
const bind_column_t *table_columns(table_id_t table);
uint32_t table_oid(table_id_t table);
/* Looks a table up by (folded) name; -1 when unknown. */
int table_lookup(const char *name);

#endif

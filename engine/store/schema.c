/*
 * schema.c — the three base tables as constant arrays. Table OIDs are the first OIDs PostgreSQL
 * gives user objects (16384 on), so catalog queries and RowDescription see ordinary tables.
 * The columns here carry no table OID or attnum: a scan (sql/plan.c) stamps its output columns
 * with the table's OID and the 1-based position, as pg_attribute numbers them.
 */
#include "schema.h"

#include "ctx.h"

#include <string.h>

static const bind_column_t nodes_columns[] = {{"nodes", "id", CT_INT8, 0, 0},
                                              {"nodes", "label", CT_TEXT, 0, 0},
                                              {"nodes", "props", CT_JSONB, 0, 0}};
static const bind_column_t edges_columns[] = {{"edges", "src", CT_INT8, 0, 0},
                                              {"edges", "dst", CT_INT8, 0, 0},
                                              {"edges", "kind", CT_TEXT, 0, 0},
                                              {"edges", "weight", CT_FLOAT8, 0, 0}};
static const bind_column_t vectors_columns[] = {{"vectors", "id", CT_INT8, 0, 0},
                                                {"vectors", "embedding", CT_VECTOR, 0, 0}};

static const struct {
    const char *name;
    uint32_t oid;
    const bind_column_t *cols;
    int ncols;
} tables[TABLE_COUNT] = {
    {"nodes", 16384, nodes_columns, 3},
    {"edges", 16385, edges_columns, 4},
    {"vectors", 16386, vectors_columns, 2},
};

const char *table_name(table_id_t table) {
    CTX_ASSERT(table < TABLE_COUNT);
    return tables[table].name;
}

int table_column_count(table_id_t table) {
    CTX_ASSERT(table < TABLE_COUNT);
    return tables[table].ncols;
}

const bind_column_t *table_columns(table_id_t table) {
    CTX_ASSERT(table < TABLE_COUNT);
    return tables[table].cols;
}

uint32_t table_oid(table_id_t table) {
    CTX_ASSERT(table < TABLE_COUNT);
    return tables[table].oid;
}

int table_lookup(const char *name) {
    for (int i = 0; i < TABLE_COUNT; i++) {
        if (strcmp(tables[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

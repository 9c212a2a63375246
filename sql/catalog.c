/*
 * catalog.c — pg_catalog and information_schema as virtual tables (see catalog.h).
 *
 * Every relation is a name, an OID, a column list written as "name:T" words (T: O oid, I int4,
 * S int2, L int8, F float8, N name, T text, C "char", B bool, A text[], Y int2[], X oid[],
 * V int2vector, W oidvector, R regproc) and a fill function that emits its rows through a row
 * builder. Rows are generated when a query is planned (catalogs are a few hundred rows at most)
 * from three sources: the engine's table layout (engine/exec/plan.h: table_columns, table_oid), the
 * fixed objects below (schemas, the owner role, types, indexes and constraints of the three
 * tables), and the session's settings (pg_settings). Nothing matches query text: psql's, pgjdbc's
 * and BI tools' metadata queries are executed over these rows like any other query.
 *
 * OIDs: PostgreSQL's for built-in objects (types, pg_catalog 11, public 2200); the tables are
 * 16384–16386 (engine/store/schema.c), their primary-key indexes 16387–16389, the `vector` type
 * 16390 and its array 16391, constraints 16401–16405, our table functions 16410+, column
 * defaults 16420+. Catalog relations get OIDs from 1259 (pg_class) and 12000 + their
 * position (and have the system columns ctid, xmin and tableoid). pg_type's rows, their
 * order and format_type()'s names are common/pgtypes.h's list, the one the wire protocol and the
 * engine read too, so an OID in pg_type is the OID in RowDescription.
 */
#include "catalog.h"
#include "catalog_int.h"
#include "plan_int.h"
#include "session_int.h"

#include "pgtypes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { CAT_COLS_MAX = 40, CAT_ROWS_MAX = 4096 };

/* ---------------------------------------------------------------- row builder */

typedef struct rb {
    planner_t *p;
    int ncols;
    ctype_t types[CAT_COLS_MAX];
    value_t *rows;
    uint64_t nrows, cap;
    int col; /* next column of the current row */
} rb_t;

static value_t *rb_slot(rb_t *b) {
    if (b->col == b->ncols || b->nrows == 0) {
        CTX_ASSERT(b->col == b->ncols || b->nrows == 0);
        if (b->nrows == b->cap) {
            uint64_t cap = b->cap == 0 ? 16 : b->cap * 2;
            value_t *rows = arena_alloc(b->p->arena, sizeof(value_t) * cap * (uint64_t)b->ncols);
            if (b->nrows > 0) {
                ctx_memcpy(rows, b->rows, sizeof(value_t) * b->nrows * (uint64_t)b->ncols);
            }
            b->rows = rows;
            b->cap = cap;
        }
        b->nrows++;
        b->col = 0;
    }
    return &b->rows[(b->nrows - 1) * (uint64_t)b->ncols + (uint64_t)b->col++];
}

static void put_int(rb_t *b, int64_t v) {
    *rb_slot(b) = value_int(v);
}
static void put_bool(rb_t *b, bool v) {
    *rb_slot(b) = value_bool(v);
}
static void put_null(rb_t *b) {
    *rb_slot(b) = value_null();
}
static void put_float(rb_t *b, double v) {
    *rb_slot(b) = value_float(v);
}
static void put_text(rb_t *b, const char *s) {
    *rb_slot(b) = s == NULL ? value_null() : value_text(s, (uint32_t)strlen(s));
}
static void put_char(rb_t *b, char c) {
    char *s = arena_alloc(b->p->arena, 2);
    s[0] = c;
    s[1] = '\0';
    *rb_slot(b) = value_text(s, c == '\0' ? 0 : 1);
}
/* Starts a row explicitly (rows of zero-column relations do not exist). */
static void row_end(rb_t *b) {
    CTX_ASSERT(b->col == b->ncols);
}

/* ---------------------------------------------------------------- fixed objects */

typedef struct cat_type {
    uint32_t oid;
    const char *name;
    const char *sql_name; /* format_type() */
    int16_t len;
    char category;
    uint32_t array; /* its array type, 0 none */
    uint32_t elem;  /* for arrays */
    uint32_t nsp;
} cat_type_t;

static const cat_type_t cat_types[] = {
#define CAT_X_TYPE(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io, send, \
                   recv)                                                                           \
    {oid, typname, sqlname, typlen, category, array, elem, CATALOG_OID_##nsp},
    PGTYPES_LIST(CAT_X_TYPE)
#undef CAT_X_TYPE
};
_Static_assert(CATALOG_OID_PUBLIC == 2200 && CATALOG_OID_PG_CATALOG == 11, "PostgreSQL's OIDs");
_Static_assert(OID_INDEX_BASE + TABLE_COUNT <= PGT_OID_VECTOR, "index OIDs end before vector's");
_Static_assert((int)OID_CON_BASE > PGT_OID_VECTOR_ARRAY, "constraint OIDs start after _vector's");

static const struct {
    uint32_t oid;
    const char *name;
} cat_namespaces[] = {{11, "pg_catalog"},
                      {99, "pg_toast"},
                      {2200, "public"},
                      {CATALOG_OID_INFORMATION_SCHEMA, "information_schema"}};

const cat_con_t cat_cons[] = {
    {"nodes_pkey", TABLE_NODES, 'p', {1}, 1, TABLE_NODES, 0},
    {"edges_pkey", TABLE_EDGES, 'p', {1, 2, 3}, 3, TABLE_EDGES, 0},
    {"vectors_pkey", TABLE_VECTORS, 'p', {1}, 1, TABLE_VECTORS, 0},
    {"edges_src_fkey", TABLE_EDGES, 'f', {1}, 1, TABLE_NODES, 1},
    {"edges_dst_fkey", TABLE_EDGES, 'f', {2}, 1, TABLE_NODES, 1},
};
_Static_assert(sizeof(cat_cons) / sizeof(cat_cons[0]) == CAT_NCONS, "every constraint listed");

/* Column defaults (pg_attrdef, atthasdef), as pg_get_expr() prints PostgreSQL's. */
static const struct {
    table_id_t table;
    int attnum;
    const char *expr;
} cat_defaults[] = {{TABLE_NODES, 2, "''::text"}, {TABLE_EDGES, 4, "1"}};
enum { CAT_NDEFAULTS = sizeof(cat_defaults) / sizeof(cat_defaults[0]) };

static bool attr_has_default(table_id_t table, int attnum) {
    for (int k = 0; k < CAT_NDEFAULTS; k++) {
        if (cat_defaults[k].table == table && cat_defaults[k].attnum == attnum) {
            return true;
        }
    }
    return false;
}

/* ContextDB's table functions (pg_proc rows OID_PROC_BASE + index, in schema public). */
const cat_table_proc_t cat_procs[] = {
    {"neighbors", "20 20 25 25", "{start,depth,kind,direction}", 3,
     "start bigint, depth bigint DEFAULT 1, kind text DEFAULT NULL::text, "
     "direction text DEFAULT 'out'::text",
     "TABLE(id bigint, label text, depth integer)"},
    {"traverse", "20 20 25 25 25", "{start,depth,order,kind,direction}", 4,
     "start bigint, depth bigint DEFAULT 1, \"order\" text DEFAULT 'bfs'::text, "
     "kind text DEFAULT NULL::text, direction text DEFAULT 'out'::text",
     "TABLE(id bigint, label text, depth integer, parent bigint)"},
    {"shortest_path", "20 20 20 25 25", "{start,target,max_depth,kind,direction}", 3,
     "start bigint, target bigint, max_depth bigint DEFAULT NULL::bigint, "
     "kind text DEFAULT NULL::text, direction text DEFAULT 'out'::text",
     "TABLE(step integer, id bigint, label text)"},
    {"similar", "20 20 701", "{id,k,threshold}", 2,
     "id bigint, k bigint DEFAULT 10, threshold double precision DEFAULT NULL",
     "TABLE(id bigint, similarity double precision)"},
    {"neighbor_stats", "20 20", "{id,k}", 1, "id bigint, k bigint DEFAULT 10",
     "TABLE(count bigint, min double precision, max double precision, mean double precision, "
     "stddev double precision)"},
    {"hybrid", "20 20 20 25 25", "{id,depth,top_k,kind,direction}", 4,
     "id bigint, depth bigint DEFAULT 2, top_k bigint DEFAULT 10, "
     "kind text DEFAULT NULL::text, direction text DEFAULT 'out'::text",
     "TABLE(id bigint, label text, depth integer, similarity double precision)"},
};
_Static_assert(sizeof(cat_procs) / sizeof(cat_procs[0]) == CAT_NPROCS,
               "every table function listed");

static const cat_type_t *type_by_oid(uint32_t oid) {
    for (size_t i = 0; i < sizeof(cat_types) / sizeof(cat_types[0]); i++) {
        if (cat_types[i].oid == oid) {
            return &cat_types[i];
        }
    }
    return NULL;
}

const char *catalog_owner_name(void) {
    return "contextdb";
}

const char *catalog_format_type(uint32_t oid, int64_t typmod, arena_t *arena) {
    const cat_type_t *t = type_by_oid(oid);
    if (t == NULL) {
        return "???";
    }
    if (oid == PGT_OID_VECTOR && typmod > 0) {
        return arena_sprintf(arena, "vector(%lld)", (long long)typmod);
    }
    return t->sql_name;
}

/* ---------------------------------------------------------------- relations */

typedef void (*fill_fn)(rb_t *b);

typedef struct cat_rel {
    const char *name;
    const char *schema; /* "pg_catalog" or "information_schema" */
    char kind;          /* r table, v view */
    const char *cols;
    fill_fn fill;
} cat_rel_t;

static uint32_t rel_oid(size_t index);
static ctype_t letter_ctype(char c);
static size_t cat_rel_count(void);
static const cat_rel_t *cat_rel_at(size_t index);

static int table_attr_count(table_id_t t) {
    return table_column_count(t);
}

static bool attr_not_null(table_id_t t, int col) {
    return !(t == TABLE_NODES && col == 2);
}

static int64_t attr_typmod(const rb_t *b, table_id_t t, int col) {
    return t == TABLE_VECTORS && col == 1 ? (int64_t)store_vector_dims(b->p->store) : -1;
}

static void fill_namespace(rb_t *b) {
    for (size_t i = 0; i < sizeof(cat_namespaces) / sizeof(cat_namespaces[0]); i++) {
        put_int(b, cat_namespaces[i].oid);
        put_text(b, cat_namespaces[i].name);
        put_int(b, CATALOG_OID_OWNER);
        put_null(b);
        row_end(b);
    }
}

/* pg_class row for one relation. */
static void class_row(rb_t *b, uint32_t oid, const char *name, uint32_t nsp, char kind, int natts,
                      bool has_index, double tuples) {
    put_int(b, oid);
    put_text(b, name);
    put_int(b, nsp);
    put_int(b, 0); /* reltype */
    put_int(b, 0); /* reloftype */
    put_int(b, CATALOG_OID_OWNER);
    put_int(b, kind == 'i' ? 403 : (kind == 'r' ? 2 : 0));
    put_int(b, oid); /* relfilenode */
    put_int(b, 0);   /* reltablespace */
    put_int(b, 1);   /* relpages */
    put_float(b, tuples);
    put_int(b, 0); /* relallvisible */
    put_int(b, 0); /* reltoastrelid */
    put_bool(b, has_index);
    put_bool(b, false); /* relisshared */
    put_char(b, 'p');
    put_char(b, kind);
    put_int(b, natts);
    put_int(b, 0);                                         /* relchecks */
    put_bool(b, false);                                    /* relhasrules */
    put_bool(b, kind == 'r' && nsp == CATALOG_OID_PUBLIC); /* relhastriggers: FK triggers */
    put_bool(b, false);                                    /* relhassubclass */
    put_bool(b, false);                                    /* relrowsecurity */
    put_bool(b, false);                                    /* relforcerowsecurity */
    put_bool(b, true);                                     /* relispopulated */
    put_char(b, 'd');                                      /* relreplident */
    put_bool(b, false);                                    /* relispartition */
    put_int(b, 0);                                         /* relrewrite */
    put_int(b, kind == 'r' ? 716 : 0);                     /* relfrozenxid */
    put_int(b, kind == 'r' ? 1 : 0);                       /* relminmxid */
    put_null(b);                                           /* relacl */
    put_null(b);                                           /* reloptions */
    put_null(b);                                           /* relpartbound */
    row_end(b);
}

static double table_tuples(const rb_t *b, table_id_t t) {
    const store_t *s = b->p->store;
    return t == TABLE_NODES
               ? (double)store_node_count(s)
               : (t == TABLE_EDGES ? (double)store_edge_count(s) : (double)store_vector_count(s));
}

static int rel_natts(const cat_rel_t *r) {
    int n = 1;
    for (const char *c = r->cols; *c != '\0'; c++) {
        n += *c == ' ';
    }
    return n;
}

static void fill_class(rb_t *b) {
    for (int t = 0; t < TABLE_COUNT; t++) {
        class_row(b, table_oid((table_id_t)t), table_name((table_id_t)t), CATALOG_OID_PUBLIC, 'r',
                  table_attr_count((table_id_t)t), true, table_tuples(b, (table_id_t)t));
    }
    for (int t = 0; t < TABLE_COUNT; t++) {
        class_row(b, OID_INDEX_BASE + (uint32_t)t, cat_cons[t].name, CATALOG_OID_PUBLIC, 'i',
                  cat_cons[t].nkeys, false, table_tuples(b, (table_id_t)t));
    }
    for (size_t i = 0; i < cat_rel_count(); i++) {
        const cat_rel_t *r = cat_rel_at(i);
        uint32_t nsp = strcmp(r->schema, "pg_catalog") == 0 ? CATALOG_OID_PG_CATALOG
                                                            : CATALOG_OID_INFORMATION_SCHEMA;
        class_row(b, rel_oid(i), r->name, nsp, r->kind, rel_natts(r), false, 0);
    }
}

static void attribute_row(rb_t *b, uint32_t rel, const char *name, uint32_t type, int num,
                          int64_t typmod, bool not_null, bool has_def) {
    const cat_type_t *t = type_by_oid(type);
    const cat_typio_t *io = catalog_typio(type);
    put_int(b, rel);
    put_text(b, name);
    put_int(b, type);
    put_int(b, -1);                      /* attstattarget */
    put_int(b, t != NULL ? t->len : -1); /* attlen */
    put_int(b, num);
    put_int(b, 0);  /* attndims */
    put_int(b, -1); /* attcacheoff */
    put_int(b, typmod);
    put_bool(b, t != NULL && t->len > 0 && t->len <= 8);
    put_char(b, io != NULL ? io->align : 'i');
    put_char(b, io != NULL ? io->storage : 'x');
    put_char(b, '\0'); /* attcompression */
    put_bool(b, not_null);
    put_bool(b, has_def);
    put_bool(b, false);                                                 /* atthasmissing */
    put_char(b, '\0');                                                  /* attidentity */
    put_char(b, '\0');                                                  /* attgenerated */
    put_bool(b, false);                                                 /* attisdropped */
    put_bool(b, true);                                                  /* attislocal */
    put_int(b, 0);                                                      /* attinhcount */
    put_int(b, type == PGT_OID_TEXT || type == PGT_OID_NAME ? 100 : 0); /* attcollation */
    put_null(b);                                                        /* attacl */
    put_null(b);                                                        /* attoptions */
    put_null(b);                                                        /* attfdwoptions */
    put_null(b);                                                        /* attmissingval */
    row_end(b);
}

static void fill_attribute(rb_t *b) {
    for (int t = 0; t < TABLE_COUNT; t++) {
        const bind_column_t *cols = table_columns((table_id_t)t);
        for (int c = 0; c < table_attr_count((table_id_t)t); c++) {
            attribute_row(b, table_oid((table_id_t)t), cols[c].name, value_type_oid(cols[c].type),
                          c + 1, attr_typmod(b, (table_id_t)t, c), attr_not_null((table_id_t)t, c),
                          attr_has_default((table_id_t)t, c + 1));
        }
    }
    for (int k = 0; k < TABLE_COUNT; k++) {
        const cat_con_t *con = &cat_cons[k];
        const bind_column_t *cols = table_columns(con->table);
        for (int i = 0; i < con->nkeys; i++) {
            int c = con->keys[i] - 1;
            attribute_row(b, OID_INDEX_BASE + (uint32_t)k, cols[c].name,
                          value_type_oid(cols[c].type), i + 1, -1, false, false);
        }
    }
    for (size_t i = 0; i < cat_rel_count(); i++) {
        const cat_rel_t *r = cat_rel_at(i);
        char name[64];
        int num = 0;
        for (const char *c = r->cols; *c != '\0';) {
            size_t n = strcspn(c, ":");
            snprintf(name, sizeof(name), "%.*s", (int)n, c);
            attribute_row(b, rel_oid(i), arena_strdup(b->p->arena, name),
                          value_type_oid(letter_ctype(c[n + 1])), ++num, -1, false, false);
            c += n + 2;
            c += *c == ' ' ? 1 : 0;
        }
    }
}

static void fill_type(rb_t *b) {
    for (size_t i = 0; i < sizeof(cat_types) / sizeof(cat_types[0]); i++) {
        const cat_type_t *t = &cat_types[i];
        const cat_typio_t *io = catalog_typio(t->oid);
        CTX_ASSERT(io != NULL);
        put_int(b, t->oid);
        put_text(b, t->name);
        put_int(b, t->nsp);
        put_int(b, CATALOG_OID_OWNER);
        put_int(b, t->len);
        put_bool(b, t->len > 0 && t->len <= 8);
        put_char(b, t->category == 'P' ? 'p' : 'b'); /* typtype: pseudo or base */
        put_char(b, t->category);
        put_bool(b, false); /* typispreferred */
        put_bool(b, true);  /* typisdefined */
        put_char(b, ',');   /* typdelim */
        put_int(b, 0);      /* typrelid */
        put_int(b, io->subscript);
        put_int(b, t->elem);
        put_int(b, t->array);
        put_int(b, io->input);
        put_int(b, io->output);
        put_int(b, io->receive);
        put_int(b, io->send);
        put_int(b, 0); /* typmodin */
        put_int(b, 0); /* typmodout */
        put_int(b, 0); /* typanalyze */
        put_char(b, io->align);
        put_char(b, io->storage);
        put_bool(b, false);                       /* typnotnull */
        put_int(b, 0);                            /* typbasetype */
        put_int(b, -1);                           /* typtypmod */
        put_int(b, 0);                            /* typndims */
        put_int(b, t->category == 'S' ? 100 : 0); /* typcollation */
        put_null(b);                              /* typdefaultbin */
        put_null(b);                              /* typdefault */
        put_null(b);                              /* typacl: default privileges */
        row_end(b);
    }
}

/* A constraint's key column numbers: as an int2[] ("{1,2,3}", pg_constraint.conkey) or as an
 * int2vector ("1 2 3", pg_index.indkey). */
static const char *key_text(rb_t *b, const cat_con_t *con, bool array_form) {
    const char *s = "";
    for (int i = 0; i < con->nkeys; i++) {
        s = arena_sprintf(b->p->arena, "%s%s%d", s, i == 0 ? "" : (array_form ? "," : " "),
                          con->keys[i]);
    }
    return array_form ? arena_sprintf(b->p->arena, "{%s}", s) : s;
}

static void fill_index(rb_t *b) {
    for (int k = 0; k < TABLE_COUNT; k++) {
        const cat_con_t *con = &cat_cons[k];
        put_int(b, OID_INDEX_BASE + (uint32_t)k);
        put_int(b, table_oid(con->table));
        put_int(b, con->nkeys);
        put_int(b, con->nkeys);
        put_bool(b, true);                                        /* indisunique */
        put_bool(b, false);                                       /* indnullsnotdistinct */
        put_bool(b, true);                                        /* indisprimary */
        put_bool(b, false);                                       /* indisexclusion */
        put_bool(b, true);                                        /* indimmediate */
        put_bool(b, false);                                       /* indisclustered */
        put_bool(b, true);                                        /* indisvalid */
        put_bool(b, false);                                       /* indcheckxmin */
        put_bool(b, true);                                        /* indisready */
        put_bool(b, true);                                        /* indislive */
        put_bool(b, false);                                       /* indisreplident */
        put_text(b, key_text(b, con, false));                     /* indkey, int2vector */
        put_text(b, con->nkeys == 3 ? "0 0 100" : "0");           /* indcollation: kind's */
        put_text(b, con->nkeys == 3 ? "3124 3124 3126" : "3124"); /* indclass: int8/text_ops */
        put_text(b, con->nkeys == 3 ? "0 0 0" : "0");             /* indoption */
        put_null(b);
        put_null(b);
        row_end(b);
    }
}

static void fill_constraint(rb_t *b) {
    for (int k = 0; k < CAT_NCONS; k++) {
        const cat_con_t *con = &cat_cons[k];
        bool fk = con->type == 'f';
        put_int(b, OID_CON_BASE + (uint32_t)k);
        put_text(b, con->name);
        put_int(b, CATALOG_OID_PUBLIC);
        put_char(b, con->type);
        put_bool(b, false);
        put_bool(b, false);
        put_bool(b, true);
        put_int(b, table_oid(con->table));
        put_int(b, 0);
        put_int(b, fk ? OID_INDEX_BASE + (uint32_t)TABLE_NODES : OID_INDEX_BASE + (uint32_t)k);
        put_int(b, 0); /* conparentid */
        put_int(b, fk ? table_oid(con->ref_table) : 0);
        put_char(b, fk ? 'a' : ' ');
        put_char(b, fk ? 'c' : ' '); /* deleting a node deletes its edges */
        put_char(b, fk ? 's' : ' ');
        put_bool(b, true);
        put_int(b, 0);
        put_bool(b, true);
        put_text(b, key_text(b, con, true));
        put_text(b, fk ? "{1}" : NULL);
        put_text(b, fk ? "{410}" : NULL); /* conpfeqop: int8 = int8 */
        put_text(b, fk ? "{410}" : NULL); /* conppeqop */
        put_text(b, fk ? "{410}" : NULL); /* conffeqop */
        put_null(b);                      /* confdelsetcols */
        put_null(b);                      /* conexclop */
        put_null(b);
        row_end(b);
    }
}

static void depend_row(rb_t *b, uint32_t classid, uint32_t objid, uint32_t refclassid,
                       uint32_t refobjid, int refobjsubid, char deptype) {
    put_int(b, classid);
    put_int(b, objid);
    put_int(b, 0);
    put_int(b, refclassid);
    put_int(b, refobjid);
    put_int(b, refobjsubid);
    put_char(b, deptype);
    row_end(b);
}

/* The dependencies PostgreSQL records for the constraints: each on its key columns ('a'), each
 * primary-key index on its constraint ('i'), and each foreign key on the referenced table's
 * column and the unique index it uses ('n') — DBD::Pg's foreign_key_info finds the referenced
 * key through them. */
static void fill_depend(rb_t *b) {
    for (int k = 0; k < CAT_NCONS; k++) {
        const cat_con_t *con = &cat_cons[k];
        uint32_t oid = OID_CON_BASE + (uint32_t)k;
        for (int i = 0; i < con->nkeys; i++) {
            depend_row(b, OID_PG_CONSTRAINT, oid, OID_PG_CLASS, table_oid(con->table), con->keys[i],
                       'a');
        }
        if (con->type == 'p') {
            depend_row(b, OID_PG_CLASS, OID_INDEX_BASE + (uint32_t)con->table, OID_PG_CONSTRAINT,
                       oid, 0, 'i');
        } else {
            depend_row(b, OID_PG_CONSTRAINT, oid, OID_PG_CLASS,
                       OID_INDEX_BASE + (uint32_t)con->ref_table, 0, 'n');
            depend_row(b, OID_PG_CONSTRAINT, oid, OID_PG_CLASS, table_oid(con->ref_table),
                       con->ref_key, 'n');
        }
    }
}

static void fill_attrdef(rb_t *b) {
    for (int k = 0; k < CAT_NDEFAULTS; k++) {
        put_int(b, OID_ATTRDEF + (uint32_t)k);
        put_int(b, table_oid(cat_defaults[k].table));
        put_int(b, cat_defaults[k].attnum);
        put_text(b, cat_defaults[k].expr);
        row_end(b);
    }
}

static void fill_database(rb_t *b) {
    put_int(b, CATALOG_OID_DATABASE);
    put_text(b, "contextdb");
    put_int(b, CATALOG_OID_OWNER);
    put_int(b, 6); /* UTF8 */
    put_char(b, 'c');
    put_bool(b, false);
    put_bool(b, true);
    put_int(b, -1);
    put_int(b, 716); /* datfrozenxid */
    put_int(b, 1);   /* datminmxid */
    put_int(b, 1663);
    put_text(b, "C.UTF-8");
    put_text(b, "C.UTF-8");
    put_null(b); /* daticulocale */
    put_null(b); /* datcollversion */
    put_null(b); /* datacl */
    row_end(b);
}

static void fill_roles(rb_t *b) {
    put_text(b, catalog_owner_name());
    put_bool(b, true);
    put_bool(b, true);
    put_bool(b, true);
    put_bool(b, true);
    put_bool(b, true);
    put_bool(b, true);
    put_int(b, -1);
    put_text(b, "********");
    put_null(b);
    put_bool(b, true);
    put_null(b);
    put_int(b, CATALOG_OID_OWNER);
    row_end(b);
}

static void fill_user(rb_t *b) {
    put_text(b, catalog_owner_name());
    put_int(b, CATALOG_OID_OWNER);
    put_bool(b, true);
    put_bool(b, true);
    put_bool(b, true);
    put_bool(b, true);
    put_text(b, "********");
    put_null(b);
    put_null(b);
    row_end(b);
}

static void fill_settings(rb_t *b) {
    const sql_session_t *s = b->p->env != NULL ? b->p->env->session : NULL;
    for (int i = 0; s != NULL && i < s->nguc; i++) {
        const guc_t *g = &s->gucs[i];
        put_text(b, g->name);
        put_text(b, g->value);
        put_null(b);
        put_text(b, "Ungrouped");
        put_text(b, g->description != NULL ? g->description : "");
        put_null(b);
        put_text(b, (g->flags & GUC_READONLY) != 0 ? "internal" : "user");
        put_text(b, "string");
        put_text(b, "default");
        put_null(b);
        put_null(b);
        put_null(b);
        put_text(b, g->reset_value);
        put_text(b, g->reset_value);
        put_null(b);
        put_null(b);
        put_bool(b, false);
        row_end(b);
    }
}

static void fill_am(rb_t *b) {
    static const struct {
        uint32_t oid;
        const char *name;
        char type;
    } ams[] = {{2, "heap", 't'}, {403, "btree", 'i'}, {405, "hash", 'i'}};
    for (size_t i = 0; i < sizeof(ams) / sizeof(ams[0]); i++) {
        put_int(b, ams[i].oid);
        put_text(b, ams[i].name);
        put_int(b, 0);
        put_char(b, ams[i].type);
        row_end(b);
    }
}

/* One pg_proc row; language internal (12), no cost model, default privileges. */
static void proc_row(rb_t *b, const cat_proc_t *f, uint32_t nsp, bool retset, int ndefaults,
                     const char *argnames) {
    put_int(b, f->oid);
    put_text(b, f->name);
    put_int(b, nsp);
    put_int(b, CATALOG_OID_OWNER);
    put_int(b, 12);  /* prolang: internal */
    put_float(b, 1); /* procost */
    put_float(b, retset ? 1000 : 0);
    put_int(b, 0); /* provariadic */
    put_int(b, 0); /* prosupport */
    put_char(b, f->kind);
    put_bool(b, false); /* prosecdef */
    put_bool(b, false); /* proleakproof */
    put_bool(b, f->strict);
    put_bool(b, retset);
    put_char(b, f->volatility);
    put_char(b, 's'); /* proparallel: safe */
    put_int(b, f->nargs);
    put_int(b, ndefaults);
    put_int(b, f->rettype);
    put_text(b, f->argtypes);
    put_null(b); /* proallargtypes */
    put_null(b); /* proargmodes */
    put_text(b, argnames);
    put_null(b); /* proargdefaults */
    put_null(b); /* protrftypes */
    put_text(b, f->src);
    put_null(b); /* probin */
    put_null(b); /* prosqlbody */
    put_null(b); /* proconfig */
    put_null(b); /* proacl */
    row_end(b);
}

static int argtype_count(const char *argtypes) {
    int n = 0;
    for (const char *c = argtypes; *c != '\0'; c++) {
        n += (c == argtypes || c[-1] == ' ') && *c != ' ' ? 1 : 0;
    }
    return n;
}

static void fill_proc(rb_t *b) {
    for (size_t i = 0; i < catalog_proc_count(); i++) {
        const cat_proc_t *f = catalog_proc_at(i);
        bool vector_io = f->oid >= PGT_OID_VECTOR; /* pgvector's functions live in public */
        proc_row(b, f, vector_io ? CATALOG_OID_PUBLIC : CATALOG_OID_PG_CATALOG, false, 0, NULL);
    }
    for (int i = 0; i < CAT_NPROCS; i++) {
        cat_proc_t f = {.oid = OID_PROC_BASE + (uint32_t)i,
                        .name = cat_procs[i].name,
                        .nargs = argtype_count(cat_procs[i].argtypes),
                        .rettype = PGT_OID_RECORD,
                        .argtypes = cat_procs[i].argtypes,
                        .src = cat_procs[i].name,
                        .volatility = 's',
                        .strict = false,
                        .kind = 'f'};
        proc_row(b, &f, CATALOG_OID_PUBLIC, true, cat_procs[i].ndefaults, cat_procs[i].argnames);
    }
}

/* The languages PostgreSQL 15 starts with, less plpgsql (an extension): every pg_proc row here
 * is internal (12). */
static void fill_language(rb_t *b) {
    static const struct {
        uint32_t oid;
        const char *name;
        bool trusted;
        uint32_t validator;
    } langs[] = {{12, "internal", false, 2246}, {13, "c", false, 2247}, {14, "sql", true, 2248}};
    for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++) {
        put_int(b, langs[i].oid);
        put_text(b, langs[i].name);
        put_int(b, CATALOG_OID_OWNER);
        put_bool(b, false); /* lanispl */
        put_bool(b, langs[i].trusted);
        put_int(b, 0); /* lanplcallfoid */
        put_int(b, 0); /* laninline */
        put_int(b, langs[i].validator);
        put_null(b); /* lanacl */
        row_end(b);
    }
}

static void fill_tablespace(rb_t *b) {
    put_int(b, 1663);
    put_text(b, "pg_default");
    put_int(b, CATALOG_OID_OWNER);
    put_null(b);
    put_null(b);
    row_end(b);
}

static void fill_collation(rb_t *b) {
    static const struct {
        uint32_t oid;
        const char *name;
    } colls[] = {{100, "default"}, {950, "C"}, {951, "POSIX"}};
    for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
        put_int(b, colls[i].oid);
        put_text(b, colls[i].name);
        put_int(b, CATALOG_OID_PG_CATALOG);
        put_int(b, CATALOG_OID_OWNER);
        put_char(b, i == 0 ? 'd' : 'c');
        put_bool(b, true);
        put_int(b, -1);
        put_text(b, i == 0 ? NULL : colls[i].name);
        put_text(b, i == 0 ? NULL : colls[i].name);
        put_null(b); /* colliculocale */
        put_null(b); /* collversion */
        row_end(b);
    }
}

static void fill_stat_user_tables(rb_t *b) {
    for (int t = 0; t < TABLE_COUNT; t++) {
        put_int(b, table_oid((table_id_t)t));
        put_text(b, "public");
        put_text(b, table_name((table_id_t)t));
        for (int k = 0; k < 4; k++) {
            put_int(b, 0);
        }
        put_int(b, (int64_t)table_tuples(b, (table_id_t)t));
        put_int(b, 0);
        row_end(b);
    }
}

static void fill_tables_view(rb_t *b) {
    for (int t = 0; t < TABLE_COUNT; t++) {
        put_text(b, "public");
        put_text(b, table_name((table_id_t)t));
        put_text(b, catalog_owner_name());
        put_null(b);
        put_bool(b, true);
        put_bool(b, false);
        put_bool(b, false);
        put_bool(b, false);
        row_end(b);
    }
}

static void fill_keywords(rb_t *b) {
    static const char *const words[] = {
        "all",    "and",      "any",   "array",    "as",    "asc",    "between", "by",    "case",
        "cast",   "create",   "desc",  "distinct", "else",  "end",    "from",    "group", "having",
        "in",     "join",     "limit", "not",      "null",  "offset", "on",      "or",    "order",
        "select", "snapshot", "then",  "union",    "where", "with"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        put_text(b, words[i]);
        put_char(b, 'R');
        put_bool(b, true);
        put_text(b, "reserved");
        put_text(b, "can be bare label");
        row_end(b);
    }
}

/* information_schema */
static void fill_is_tables(rb_t *b) {
    for (int t = 0; t < TABLE_COUNT; t++) {
        put_text(b, "contextdb");
        put_text(b, "public");
        put_text(b, table_name((table_id_t)t));
        put_text(b, "BASE TABLE");
        for (int k = 0; k < 4; k++) {
            put_null(b);
        }
        put_text(b, "YES");
        put_text(b, "NO");
        put_null(b);
        row_end(b);
    }
}

static const char *is_data_type(ctype_t t) {
    return t == CT_VECTOR ? "USER-DEFINED" : value_type_sql_name(t);
}

static void fill_is_columns(rb_t *b) {
    for (int t = 0; t < TABLE_COUNT; t++) {
        const bind_column_t *cols = table_columns((table_id_t)t);
        for (int c = 0; c < table_attr_count((table_id_t)t); c++) {
            put_text(b, "contextdb");
            put_text(b, "public");
            put_text(b, table_name((table_id_t)t));
            put_text(b, cols[c].name);
            put_int(b, c + 1);
            put_text(b, t == TABLE_EDGES && c == 3 ? "1" : NULL);
            put_text(b, attr_not_null((table_id_t)t, c) ? "NO" : "YES");
            put_text(b, is_data_type(cols[c].type));
            put_null(b);
            put_null(b);
            if (cols[c].type == CT_INT8 || cols[c].type == CT_FLOAT8) {
                put_int(b, cols[c].type == CT_INT8 ? 64 : 53);
                put_int(b, 2);
            } else {
                put_null(b);
                put_null(b);
            }
            put_text(b, "contextdb");
            put_text(b, "pg_catalog");
            put_text(b, value_type_name(cols[c].type));
            put_text(b, "NO");
            put_text(b, "YES");
            row_end(b);
        }
    }
}

static void fill_is_schemata(rb_t *b) {
    for (size_t i = 0; i < sizeof(cat_namespaces) / sizeof(cat_namespaces[0]); i++) {
        put_text(b, "contextdb");
        put_text(b, cat_namespaces[i].name);
        put_text(b, catalog_owner_name());
        put_null(b);
        put_null(b);
        put_null(b);
        put_null(b);
        row_end(b);
    }
}

static void fill_none(rb_t *b) {
    (void)b;
}

#define PGC "pg_catalog"
#define ISC "information_schema"

static const cat_rel_t cat_rels[] = {
    {"pg_class", PGC, 'r',
     "oid:O relname:N relnamespace:O reltype:O reloftype:O relowner:O relam:O relfilenode:O "
     "reltablespace:O relpages:I reltuples:F relallvisible:I reltoastrelid:O relhasindex:B "
     "relisshared:B relpersistence:C relkind:C relnatts:S relchecks:S relhasrules:B "
     "relhastriggers:B relhassubclass:B relrowsecurity:B relforcerowsecurity:B "
     "relispopulated:B relreplident:C relispartition:B relrewrite:O relfrozenxid:O "
     "relminmxid:O relacl:A reloptions:A relpartbound:T",
     fill_class},
    {"pg_namespace", PGC, 'r', "oid:O nspname:N nspowner:O nspacl:A", fill_namespace},
    {"pg_attribute", PGC, 'r',
     "attrelid:O attname:N atttypid:O attstattarget:I attlen:S attnum:S attndims:I "
     "attcacheoff:I atttypmod:I attbyval:B attalign:C attstorage:C attcompression:C "
     "attnotnull:B atthasdef:B atthasmissing:B attidentity:C attgenerated:C attisdropped:B "
     "attislocal:B attinhcount:I attcollation:O attacl:A attoptions:A attfdwoptions:A "
     "attmissingval:T",
     fill_attribute},
    {"pg_type", PGC, 'r',
     "oid:O typname:N typnamespace:O typowner:O typlen:S typbyval:B typtype:C typcategory:C "
     "typispreferred:B typisdefined:B typdelim:C typrelid:O typsubscript:R typelem:O typarray:O "
     "typinput:R typoutput:R typreceive:R typsend:R typmodin:R typmodout:R typanalyze:R "
     "typalign:C typstorage:C typnotnull:B typbasetype:O typtypmod:I typndims:I typcollation:O "
     "typdefaultbin:T typdefault:T typacl:A",
     fill_type},
    {"pg_index", PGC, 'r',
     "indexrelid:O indrelid:O indnatts:S indnkeyatts:S indisunique:B indnullsnotdistinct:B "
     "indisprimary:B indisexclusion:B indimmediate:B indisclustered:B indisvalid:B "
     "indcheckxmin:B indisready:B indislive:B indisreplident:B indkey:V indcollation:W "
     "indclass:W indoption:V indexprs:T indpred:T",
     fill_index},
    {"pg_constraint", PGC, 'r',
     "oid:O conname:N connamespace:O contype:C condeferrable:B condeferred:B convalidated:B "
     "conrelid:O contypid:O conindid:O conparentid:O confrelid:O confupdtype:C confdeltype:C "
     "confmatchtype:C conislocal:B coninhcount:I connoinherit:B conkey:Y confkey:Y "
     "conpfeqop:X conppeqop:X conffeqop:X confdelsetcols:Y conexclop:X conbin:T",
     fill_constraint},
    {"pg_attrdef", PGC, 'r', "oid:O adrelid:O adnum:S adbin:T", fill_attrdef},
    {"pg_database", PGC, 'r',
     "oid:O datname:N datdba:O encoding:I datlocprovider:C datistemplate:B datallowconn:B "
     "datconnlimit:I datfrozenxid:O datminmxid:O dattablespace:O datcollate:T datctype:T "
     "daticulocale:T datcollversion:T datacl:A",
     fill_database},
    {"pg_roles", PGC, 'v',
     "rolname:N rolsuper:B rolinherit:B rolcreaterole:B rolcreatedb:B rolcanlogin:B "
     "rolreplication:B rolconnlimit:I rolpassword:T rolvaliduntil:T rolbypassrls:B "
     "rolconfig:A oid:O",
     fill_roles},
    {"pg_authid", PGC, 'r',
     "rolname:N rolsuper:B rolinherit:B rolcreaterole:B rolcreatedb:B rolcanlogin:B "
     "rolreplication:B rolconnlimit:I rolpassword:T rolvaliduntil:T rolbypassrls:B "
     "rolconfig:A oid:O",
     fill_roles},
    {"pg_user", PGC, 'v',
     "usename:N usesysid:O usecreatedb:B usesuper:B userepl:B usebypassrls:B passwd:T "
     "valuntil:T useconfig:A",
     fill_user},
    {"pg_settings", PGC, 'v',
     "name:T setting:T unit:T category:T short_desc:T extra_desc:T context:T vartype:T source:T "
     "min_val:T max_val:T enumvals:A boot_val:T reset_val:T sourcefile:T sourceline:I "
     "pending_restart:B",
     fill_settings},
    {"pg_am", PGC, 'r', "oid:O amname:N amhandler:R amtype:C", fill_am},
    {"pg_proc", PGC, 'r',
     "oid:O proname:N pronamespace:O proowner:O prolang:O procost:F prorows:F provariadic:O "
     "prosupport:R prokind:C prosecdef:B proleakproof:B proisstrict:B proretset:B provolatile:C "
     "proparallel:C pronargs:S pronargdefaults:S prorettype:O proargtypes:W proallargtypes:X "
     "proargmodes:A proargnames:A proargdefaults:T protrftypes:X prosrc:T probin:T "
     "prosqlbody:T proconfig:A proacl:A",
     fill_proc},
    {"pg_tablespace", PGC, 'r', "oid:O spcname:N spcowner:O spcacl:A spcoptions:A",
     fill_tablespace},
    {"pg_collation", PGC, 'r',
     "oid:O collname:N collnamespace:O collowner:O collprovider:C collisdeterministic:B "
     "collencoding:I collcollate:T collctype:T colliculocale:T collversion:T",
     fill_collation},
    {"pg_stat_user_tables", PGC, 'v',
     "relid:O schemaname:N relname:N seq_scan:L seq_tup_read:L idx_scan:L idx_tup_fetch:L "
     "n_live_tup:L n_dead_tup:L",
     fill_stat_user_tables},
    {"pg_tables", PGC, 'v',
     "schemaname:N tablename:N tableowner:N tablespace:N hasindexes:B hasrules:B hastriggers:B "
     "rowsecurity:B",
     fill_tables_view},
    {"pg_get_keywords", PGC, 'f', "word:T catcode:C barelabel:B catdesc:T baredesc:T",
     fill_keywords},
    /* pg_options_to_table(options): every options column here (fdwoptions, srvoptions,
     * ftoptions, umoptions, attfdwoptions) is NULL, so its expansion is always empty */
    {"pg_options_to_table", PGC, 'f', "option_name:T option_value:T", fill_none},
    {"pg_description", PGC, 'r', "objoid:O classoid:O objsubid:I description:T", fill_none},
    {"pg_shdescription", PGC, 'r', "objoid:O classoid:O description:T", fill_none},
    {"pg_inherits", PGC, 'r', "inhrelid:O inhparent:O inhseqno:I inhdetachpending:B", fill_none},
    {"pg_policy", PGC, 'r',
     "oid:O polname:N polrelid:O polcmd:C polpermissive:B polroles:X polqual:T "
     "polwithcheck:T",
     fill_none},
    {"pg_statistic_ext", PGC, 'r',
     "oid:O stxrelid:O stxname:N stxnamespace:O stxowner:O stxstattarget:I stxkeys:V "
     "stxkind:A stxexprs:T",
     fill_none},
    {"pg_publication", PGC, 'r',
     "oid:O pubname:N pubowner:O puballtables:B pubinsert:B pubupdate:B pubdelete:B "
     "pubtruncate:B pubviaroot:B",
     fill_none},
    {"pg_publication_namespace", PGC, 'r', "oid:O pnpubid:O pnnspid:O", fill_none},
    {"pg_publication_rel", PGC, 'r', "oid:O prpubid:O prrelid:O prqual:T prattrs:V", fill_none},
    {"pg_trigger", PGC, 'r',
     "oid:O tgrelid:O tgparentid:O tgname:N tgfoid:O tgtype:S tgenabled:C tgisinternal:B "
     "tgconstrrelid:O tgconstrindid:O tgconstraint:O tgdeferrable:B tginitdeferred:B "
     "tgnargs:S tgattr:V tgargs:T tgqual:T tgoldtable:N tgnewtable:N",
     fill_none},
    {"pg_auth_members", PGC, 'r', "roleid:O member:O grantor:O admin_option:B", fill_none},
    {"pg_extension", PGC, 'r',
     "oid:O extname:N extowner:O extnamespace:O extrelocatable:B extversion:T extconfig:X "
     "extcondition:A",
     fill_none},
    {"pg_enum", PGC, 'r', "oid:O enumtypid:O enumsortorder:F enumlabel:N", fill_none},
    {"pg_views", PGC, 'v', "schemaname:N viewname:N viewowner:N definition:T", fill_none},
    {"pg_matviews", PGC, 'v',
     "schemaname:N matviewname:N matviewowner:N tablespace:N hasindexes:B ispopulated:B "
     "definition:T",
     fill_none},
    {"pg_rewrite", PGC, 'r',
     "oid:O rulename:N ev_class:O ev_type:C ev_enabled:C is_instead:B ev_qual:T ev_action:T",
     fill_none},
    {"pg_depend", PGC, 'r',
     "classid:O objid:O objsubid:I refclassid:O refobjid:O refobjsubid:I deptype:C", fill_depend},
    {"pg_sequence", PGC, 'r',
     "seqrelid:O seqtypid:O seqstart:L seqincrement:L seqmax:L seqmin:L seqcache:L "
     "seqcycle:B",
     fill_none},
    {"pg_foreign_table", PGC, 'r', "ftrelid:O ftserver:O ftoptions:A", fill_none},
    {"pg_partitioned_table", PGC, 'r',
     "partrelid:O partstrat:C partnatts:S partdefid:O partattrs:V partclass:W "
     "partcollation:W partexprs:T",
     fill_none},
    {"pg_event_trigger", PGC, 'r',
     "oid:O evtname:N evtevent:N evtowner:O evtfoid:O evtenabled:C evttags:A", fill_none},
    {"pg_language", PGC, 'r',
     "oid:O lanname:N lanowner:O lanispl:B lanpltrusted:B lanplcallfoid:O laninline:O "
     "lanvalidator:O lanacl:A",
     fill_language},
    {"pg_opclass", PGC, 'r',
     "oid:O opcmethod:O opcname:N opcnamespace:O opcowner:O opcfamily:O opcintype:O "
     "opcdefault:B opckeytype:O",
     fill_none},
    {"pg_operator", PGC, 'r',
     "oid:O oprname:N oprnamespace:O oprowner:O oprkind:C oprcanmerge:B oprcanhash:B "
     "oprleft:O oprright:O oprresult:O oprcom:O oprnegate:O oprcode:R oprrest:R oprjoin:R",
     fill_none},
    {"pg_conversion", PGC, 'r',
     "oid:O conname:N connamespace:O conowner:O conforencoding:I contoencoding:I conproc:R "
     "condefault:B",
     fill_none},
    {"pg_cast", PGC, 'r', "oid:O castsource:O casttarget:O castfunc:O castcontext:C castmethod:C",
     fill_none},
    {"pg_range", PGC, 'r',
     "rngtypid:O rngsubtype:O rngmultitypid:O rngcollation:O rngsubopc:O rngcanonical:R "
     "rngsubdiff:R",
     fill_none},
    {"pg_aggregate", PGC, 'r',
     "aggfnoid:R aggkind:C aggnumdirectargs:S aggtransfn:R aggfinalfn:R aggcombinefn:R "
     "aggserialfn:R aggdeserialfn:R aggmtransfn:R aggminvtransfn:R aggmfinalfn:R "
     "aggfinalextra:B aggmfinalextra:B aggfinalmodify:C aggmfinalmodify:C aggsortop:O "
     "aggtranstype:O aggtransspace:I aggmtranstype:O aggmtransspace:I agginitval:T "
     "aggminitval:T",
     fill_none},
    {"pg_stat_activity", PGC, 'v',
     "datid:O datname:N pid:I usename:N application_name:T state:T query:T", fill_none},
    {"pg_locks", PGC, 'v', "locktype:T database:O relation:O pid:I mode:T granted:B", fill_none},
    {"pg_foreign_data_wrapper", PGC, 'r',
     "oid:O fdwname:N fdwowner:O fdwhandler:O fdwvalidator:O fdwacl:A fdwoptions:A", fill_none},
    {"pg_foreign_server", PGC, 'r',
     "oid:O srvname:N srvowner:O srvfdw:O srvtype:T srvversion:T srvacl:A srvoptions:A", fill_none},
    {"pg_largeobject_metadata", PGC, 'r', "oid:O lomowner:O lomacl:A", fill_none},
    {"pg_init_privs", PGC, 'r', "objoid:O classoid:O objsubid:I privtype:C initprivs:A", fill_none},
    {"pg_transform", PGC, 'r', "oid:O trftype:O trflang:O trffromsql:R trftosql:R", fill_none},
    {"pg_default_acl", PGC, 'r', "oid:O defaclrole:O defaclnamespace:O defaclobjtype:C defaclacl:A",
     fill_none},
    {"pg_opfamily", PGC, 'r', "oid:O opfmethod:O opfname:N opfnamespace:O opfowner:O", fill_none},
    {"pg_subscription", PGC, 'r',
     "oid:O subdbid:O subskiplsn:T subname:N subowner:O subenabled:B subbinary:B substream:B "
     "subtwophasestate:C subdisableonerr:B subconninfo:T subslotname:N subsynccommit:T "
     "subpublications:A",
     fill_none},
    {"pg_ts_config", PGC, 'r', "oid:O cfgname:N cfgnamespace:O cfgowner:O cfgparser:O", fill_none},
    {"pg_ts_dict", PGC, 'r',
     "oid:O dictname:N dictnamespace:O dictowner:O dicttemplate:O dictinitoption:T", fill_none},
    {"pg_ts_parser", PGC, 'r',
     "oid:O prsname:N prsnamespace:O prsstart:R prstoken:R prsend:R prsheadline:R "
     "prslextype:R",
     fill_none},
    {"pg_ts_template", PGC, 'r', "oid:O tmplname:N tmplnamespace:O tmplinit:R tmpllexize:R",
     fill_none},
    {"pg_user_mapping", PGC, 'r', "oid:O umuser:O umserver:O umoptions:A", fill_none},
    {"pg_seclabel", PGC, 'r', "objoid:O classoid:O objsubid:I provider:T label:T", fill_none},
    {"pg_shseclabel", PGC, 'r', "objoid:O classoid:O provider:T label:T", fill_none},
    {"pg_amop", PGC, 'r',
     "oid:O amopfamily:O amoplefttype:O amoprighttype:O amopstrategy:S amoppurpose:C "
     "amopopr:O amopmethod:O amopsortfamily:O",
     fill_none},
    {"pg_amproc", PGC, 'r',
     "oid:O amprocfamily:O amproclefttype:O amprocrighttype:O amprocnum:S amproc:R", fill_none},
    {"pg_seclabels", PGC, 'v',
     "objoid:O classoid:O objsubid:I objtype:T objnamespace:O objname:T provider:T label:T",
     fill_none},
    {"pg_db_role_setting", PGC, 'r', "setdatabase:O setrole:O setconfig:A", fill_none},
    {"tables", ISC, 'v',
     "table_catalog:N table_schema:N table_name:N table_type:T self_referencing_column_name:N "
     "reference_generation:T user_defined_type_catalog:N user_defined_type_schema:N "
     "is_insertable_into:T is_typed:T commit_action:T",
     fill_is_tables},
    {"columns", ISC, 'v',
     "table_catalog:N table_schema:N table_name:N column_name:N ordinal_position:I "
     "column_default:T is_nullable:T data_type:T character_maximum_length:I "
     "character_octet_length:I numeric_precision:I numeric_precision_radix:I udt_catalog:N "
     "udt_schema:N udt_name:N is_identity:T is_updatable:T",
     fill_is_columns},
    {"schemata", ISC, 'v',
     "catalog_name:N schema_name:N schema_owner:N default_character_set_catalog:N "
     "default_character_set_schema:N default_character_set_name:N sql_path:T",
     fill_is_schemata},
    {"views", ISC, 'v', "table_catalog:N table_schema:N table_name:N view_definition:T", fill_none},
    {"routines", ISC, 'v',
     "specific_catalog:N specific_schema:N specific_name:N routine_name:N routine_type:T "
     "data_type:T",
     fill_none},
    {"table_constraints", ISC, 'v',
     "constraint_catalog:N constraint_schema:N constraint_name:N table_catalog:N "
     "table_schema:N table_name:N constraint_type:T",
     fill_none},
    {"key_column_usage", ISC, 'v',
     "constraint_catalog:N constraint_schema:N constraint_name:N table_catalog:N "
     "table_schema:N table_name:N column_name:N ordinal_position:I",
     fill_none},
};

static size_t cat_rel_count(void) {
    return sizeof(cat_rels) / sizeof(cat_rels[0]);
}

static const cat_rel_t *cat_rel_at(size_t index) {
    CTX_ASSERT(index < cat_rel_count());
    return &cat_rels[index];
}

static uint32_t rel_oid(size_t index) {
    static const struct {
        const char *name;
        uint32_t oid;
    } known[] = {
        {"pg_class", OID_PG_CLASS}, {"pg_type", 1247},      {"pg_attribute", 1249},
        {"pg_proc", 1255},          {"pg_namespace", 2615}, {"pg_constraint", OID_PG_CONSTRAINT},
        {"pg_index", 2610},         {"pg_database", 1262},  {"pg_description", 2609}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(known[i].name, cat_rels[index].name) == 0) {
            return known[i].oid;
        }
    }
    return 12000 + (uint32_t)index;
}

static ctype_t letter_ctype(char c) {
    switch (c) {
    case 'O':
        return CT_OID;
    case 'I':
        return CT_INT4;
    case 'S':
        return CT_INT2;
    case 'L':
        return CT_INT8;
    case 'F':
        return CT_FLOAT8;
    case 'N':
        return CT_NAME;
    case 'C':
        return CT_CHAR;
    case 'B':
        return CT_BOOL;
    case 'A':
        return CT_TEXT_ARRAY;
    case 'Y':
        return CT_INT_ARRAY;
    case 'X':
        return CT_OID_ARRAY;
    case 'V':
        return CT_INT2VECTOR;
    case 'W':
        return CT_OIDVECTOR;
    case 'R':
        return CT_REGPROC;
    default:
        return CT_TEXT;
    }
}

/* Appends the system columns ctid, xmin and tableoid (catalog.h) to every row. They can be
 * named (DBD::Pg joins pg_description on c.tableoid; pg_dump selects tableoid everywhere) but,
 * like every column with a negative attnum, `*` does not expand to them (sql/plan_select.c). */
static void add_system_columns(rb_t *b, bind_column_t *cols, uint32_t oid) {
    enum { SYSTEM_COLUMNS = 3 };
    CTX_ASSERT(b->ncols + SYSTEM_COLUMNS <= CAT_COLS_MAX + SYSTEM_COLUMNS);
    static const struct {
        const char *name;
        ctype_t type;
        int16_t attnum;
    } system[SYSTEM_COLUMNS] = {{"ctid", CT_TEXT, CATALOG_ATTNUM_CTID},
                                {"xmin", CT_OID, CATALOG_ATTNUM_XMIN},
                                {"tableoid", CT_OID, CATALOG_ATTNUM_TABLEOID}};
    int n = b->ncols, width = n + SYSTEM_COLUMNS;
    for (int k = 0; k < SYSTEM_COLUMNS; k++) {
        cols[n + k].qualifier = cols[0].qualifier;
        cols[n + k].name = system[k].name;
        cols[n + k].type = system[k].type;
        cols[n + k].attnum = system[k].attnum;
    }
    value_t *rows = arena_alloc(b->p->arena, sizeof(value_t) * (b->nrows + 1) * (uint64_t)width);
    for (uint64_t r = 0; r < b->nrows; r++) {
        value_t *row = &rows[r * (uint64_t)width];
        memcpy(row, &b->rows[r * (uint64_t)n], sizeof(value_t) * (size_t)n);
        const char *ctid = arena_sprintf(b->p->arena, "(0,%llu)", (unsigned long long)r + 1);
        row[n] = value_text(ctid, (uint32_t)strlen(ctid));
        row[n + 1] = value_int(1);
        row[n + 2] = value_int(oid);
    }
    b->rows = rows;
    b->ncols = width;
}

int catalog_plan(planner_t *p, const char *schema, const char *name, plan_t **out) {
    CTX_ASSERT(p != NULL && name != NULL);
    const cat_rel_t *rel = NULL;
    for (size_t i = 0; i < cat_rel_count() && rel == NULL; i++) {
        bool schema_ok = schema == NULL ? strcmp(cat_rels[i].schema, PGC) == 0
                                        : strcmp(cat_rels[i].schema, schema) == 0;
        if (schema_ok && strcmp(cat_rels[i].name, name) == 0) {
            rel = &cat_rels[i];
        }
    }
    if (rel == NULL) {
        return CTX_EUNDEF_TABLE;
    }
    rb_t b = {.p = p};
    bind_column_t *cols = arena_calloc(p->arena, CAT_COLS_MAX + 3, sizeof(bind_column_t));
    for (const char *c = rel->cols; *c != '\0';) {
        size_t n = strcspn(c, ":");
        CTX_ASSERT(b.ncols < CAT_COLS_MAX && c[n] == ':');
        cols[b.ncols].qualifier = rel->name;
        cols[b.ncols].name = arena_strndup(p->arena, c, n);
        cols[b.ncols].type = letter_ctype(c[n + 1]);
        b.types[b.ncols] = cols[b.ncols].type;
        b.ncols++;
        c += n + 2;
        c += *c == ' ' ? 1 : 0;
    }
    rel->fill(&b);
    CTX_ASSERT(b.nrows == 0 || b.col == b.ncols);
    add_system_columns(&b, cols, rel_oid((size_t)(rel - cat_rels)));
    plan_t *plan = plan_new(p, PLAN_VALUES, NULL);
    plan->ncols = b.ncols;
    plan->cols = cols;
    plan->const_rows = b.rows;
    plan->nconst_rows = b.nrows;
    plan->label = rel->name;
    plan->est_rows = (double)b.nrows;
    plan->est_cost = (double)b.nrows;
    *out = plan;
    return CTX_OK;
}

/* ---------------------------------------------------------------- reg* names */

/* Drops a "pg_catalog." / "public." prefix and surrounding double quotes. */
static const char *unqualify(const char *name, char *buf, size_t cap) {
    const char *dot = strrchr(name, '.');
    const char *base = dot != NULL ? dot + 1 : name;
    size_t n = strlen(base);
    if (n >= 2 && base[0] == '"' && base[n - 1] == '"') {
        snprintf(buf, cap, "%.*s", (int)(n - 2), base + 1);
        return buf;
    }
    snprintf(buf, cap, "%s", base);
    for (char *c = buf; *c != '\0'; c++) {
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    }
    return buf;
}

static bool regclass_lookup(const char *name, uint32_t *oid) {
    for (int t = 0; t < TABLE_COUNT; t++) {
        if (strcmp(name, table_name((table_id_t)t)) == 0) {
            *oid = table_oid((table_id_t)t);
            return true;
        }
        if (strcmp(name, cat_cons[t].name) == 0) {
            *oid = OID_INDEX_BASE + (uint32_t)t;
            return true;
        }
    }
    for (size_t i = 0; i < cat_rel_count(); i++) {
        if (strcmp(name, cat_rels[i].name) == 0) {
            *oid = rel_oid(i);
            return true;
        }
    }
    return false;
}

static const char *regclass_name(uint32_t oid) {
    for (int t = 0; t < TABLE_COUNT; t++) {
        if (oid == table_oid((table_id_t)t)) {
            return table_name((table_id_t)t);
        }
        if (oid == OID_INDEX_BASE + (uint32_t)t) {
            return cat_cons[t].name;
        }
    }
    for (size_t i = 0; i < cat_rel_count(); i++) {
        if (rel_oid(i) == oid) {
            return cat_rels[i].name;
        }
    }
    return NULL;
}

static bool regtype_lookup(const char *name, uint32_t *oid) {
    for (size_t i = 0; i < sizeof(cat_types) / sizeof(cat_types[0]); i++) {
        if (strcmp(name, cat_types[i].name) == 0 ||
            strcmp(name, catalog_format_type(cat_types[i].oid, -1, NULL)) == 0) {
            *oid = cat_types[i].oid;
            return true;
        }
    }
    ctype_t t = value_type_parse(name);
    if (t != CT_UNKNOWN) {
        *oid = value_type_oid(t);
        return true;
    }
    return false;
}

static bool regproc_lookup(const char *name, uint32_t *oid) {
    const cat_proc_t *f = catalog_proc_by_name(name);
    if (f != NULL) {
        *oid = f->oid;
        return true;
    }
    for (int i = 0; i < CAT_NPROCS; i++) {
        if (strcmp(name, cat_procs[i].name) == 0) {
            *oid = OID_PROC_BASE + (uint32_t)i;
            return true;
        }
    }
    return false;
}

static bool regnamespace_lookup(const char *name, uint32_t *oid) {
    for (size_t i = 0; i < sizeof(cat_namespaces) / sizeof(cat_namespaces[0]); i++) {
        if (strcmp(name, cat_namespaces[i].name) == 0) {
            *oid = cat_namespaces[i].oid;
            return true;
        }
    }
    return false;
}

int catalog_reg_in(const eval_env_t *env, ctype_t type, const char *name, uint32_t *oid,
                   ctx_err_t *err) {
    (void)env;
    CTX_ASSERT(name != NULL && oid != NULL);
    char buf[128];
    const char *base = unqualify(name, buf, sizeof(buf));
    bool found = type == CT_REGCLASS  ? regclass_lookup(base, oid)
                 : type == CT_REGTYPE ? regtype_lookup(base, oid)
                 : type == CT_REGPROC ? regproc_lookup(base, oid)
                                      : regnamespace_lookup(base, oid);
    if (found) {
        return CTX_OK;
    }
    if (type == CT_REGCLASS) {
        return ctx_err_set(err, CTX_EUNDEF_TABLE, "relation \"%s\" does not exist", name);
    }
    if (type == CT_REGPROC) {
        return ctx_err_set(err, CTX_EUNDEF_FUNCTION, "function \"%s\" does not exist", name);
    }
    return ctx_err_set(err, CTX_EUNDEF_OBJECT, "%s \"%s\" does not exist",
                       type == CT_REGTYPE ? "type" : "schema", name);
}

const char *catalog_reg_out(const eval_env_t *env, ctype_t type, uint32_t oid, arena_t *arena) {
    (void)env;
    const char *name = NULL;
    if (type == CT_REGCLASS) {
        name = regclass_name(oid);
    } else if (type == CT_REGTYPE) {
        name = type_by_oid(oid) != NULL ? catalog_format_type(oid, -1, arena) : NULL;
    } else if (type == CT_REGPROC) {
        const cat_proc_t *f = catalog_proc_by_oid(oid);
        name = f != NULL ? f->name
                         : (oid >= OID_PROC_BASE && oid < OID_PROC_BASE + CAT_NPROCS
                                ? cat_procs[oid - OID_PROC_BASE].name
                                : NULL);
        name = oid == 0 ? "-" : name;
    } else {
        for (size_t i = 0; i < sizeof(cat_namespaces) / sizeof(cat_namespaces[0]); i++) {
            name = cat_namespaces[i].oid == oid ? cat_namespaces[i].name : name;
        }
    }
    return name != NULL ? name : arena_sprintf(arena, "%u", oid);
}

void catalog_install(eval_env_t *env) {
    CTX_ASSERT(env != NULL);
    env->reg_in = catalog_reg_in;
    env->reg_out = catalog_reg_out;
    env->ext_funcs = catalog_functions(&env->next_funcs);
}

/*
 * pgtypes.h — the one list of PostgreSQL types ContextDB knows, as an X-macro.
 *
 * Every module that names a PostgreSQL type reads it from PGTYPES_LIST and picks the columns it
 * needs: protocol/pgwire.h its PGW_OID_* / PGW_TYPLEN_* constants and pgw_type_len(); the engine
 * (engine/types/value.c) the map between its ctype_t and OIDs, type names, and which input
 * function reads a Bind parameter of the type; engine/types/binary.c the binary send/receive
 * pair of each type; sql/catalog.c the rows of pg_type (one row per entry, in this order, which
 * is OID order) and format_type(). So a type is added, or an OID changed, in one line.
 *
 * It lives in common/ because it is pure data with no dependency, and common/ is the one folder
 * that protocol/ (which must not see engine/), engine/ and sql/ all read. Columns that name an
 * engine type or a binary format are bare tokens; each module pastes them onto its own prefix
 * (CT_##ctype in the engine, binary_send_##send in binary.c), so this header stays free of
 * engine names and the compiler checks every token against the enum it is pasted into.
 *
 * Columns of X(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io, send,
 * recv):
 *   id        upper-case C name: PGT_OID_<id>, PGW_OID_<id>
 *   typname   pg_type.typname
 *   oid       pg_type.oid (PostgreSQL's for built-in types; `vector` has ContextDB's fixed 16390)
 *   array     pg_type.typarray: the OID of its array type, 0 none. Not every array type is itself
 *             listed (pg_type shows only the rows below)
 *   elem      pg_type.typelem: the element of an array (or of int2vector/oidvector), 0 none
 *   typlen    pg_type.typlen: > 0 fixed width, -1 varlena, -2 NUL-terminated C string
 *   category  pg_type.typcategory letter (A array, B bool, D date/time, N numeric, P pseudo,
 *             S string, T timespan, U user, X unknown, Z internal)
 *   nsp       namespace: PG_CATALOG or PUBLIC (the extension type vector and its array)
 *   sqlname   what format_type(oid, NULL) prints ("integer", "character varying", "text[]")
 *   ctype     the engine type whose own OID this is (value_type_oid), NONE when the engine has
 *             no type of its own for it. Every ctype_t owns exactly one row
 *   io        the engine type whose text input function reads a value of this type (a Bind
 *             parameter declared with this OID: value_type_from_oid; many OIDs to one type),
 *             UNKNOWN when the engine does not take this type as input. Text output is
 *             value_to_text of the value, the same for every type
 *   send      binary output (DataRow in binary format) format: BOOL, INT2, INT4 (signed 4
 *             bytes), OID (unsigned 4 bytes), INT8, FLOAT4, FLOAT8, JSONB, VECTOR or TEXT
 *             (the text form's bytes)
 *   recv      binary input (Bind parameter in binary format), the same names; TEXT takes
 *             the bytes as they are
 */
#ifndef CTX_PGTYPES_H
#define CTX_PGTYPES_H

/* clang-format off */
#define PGTYPES_LIST(X)                                                                            \
    X(BOOL,         "bool",         16,    1000,  0,     1,  'B', PG_CATALOG, "boolean",                     BOOL,         BOOL,    BOOL,   BOOL)   \
    X(BYTEA,        "bytea",        17,    1001,  0,     -1, 'U', PG_CATALOG, "bytea",                       NONE,         TEXT,    TEXT,   TEXT)   \
    X(CHAR,         "char",         18,    1002,  0,     1,  'Z', PG_CATALOG, "\"char\"",                    CHAR,         TEXT,    TEXT,   TEXT)   \
    X(NAME,         "name",         19,    1003,  0,     64, 'S', PG_CATALOG, "name",                        NAME,         TEXT,    TEXT,   TEXT)   \
    X(INT8,         "int8",         20,    1016,  0,     8,  'N', PG_CATALOG, "bigint",                      INT8,         INT8,    INT8,   INT8)   \
    X(INT2,         "int2",         21,    1005,  0,     2,  'N', PG_CATALOG, "smallint",                    INT2,         INT4,    INT2,   INT2)   \
    X(INT2VECTOR,   "int2vector",   22,    1006,  21,    -1, 'A', PG_CATALOG, "int2vector",                  INT2VECTOR,   UNKNOWN, TEXT,   TEXT)   \
    X(INT4,         "int4",         23,    1007,  0,     4,  'N', PG_CATALOG, "integer",                     INT4,         INT4,    INT4,   INT4)   \
    X(REGPROC,      "regproc",      24,    1008,  0,     4,  'N', PG_CATALOG, "regproc",                     REGPROC,      UNKNOWN, TEXT,   TEXT)   \
    X(TEXT,         "text",         25,    1009,  0,     -1, 'S', PG_CATALOG, "text",                        TEXT,         TEXT,    TEXT,   TEXT)   \
    X(OID,          "oid",          26,    1028,  0,     4,  'N', PG_CATALOG, "oid",                         OID,          INT8,    OID,    OID)    \
    X(OIDVECTOR,    "oidvector",    30,    1013,  26,    -1, 'A', PG_CATALOG, "oidvector",                   OIDVECTOR,    UNKNOWN, TEXT,   TEXT)   \
    X(JSON,         "json",         114,   199,   0,     -1, 'U', PG_CATALOG, "json",                        NONE,         JSONB,   TEXT,   TEXT)   \
    X(FLOAT4,       "float4",       700,   1021,  0,     4,  'N', PG_CATALOG, "real",                        NONE,         FLOAT8,  FLOAT4, FLOAT4) \
    X(FLOAT8,       "float8",       701,   1022,  0,     8,  'N', PG_CATALOG, "double precision",            FLOAT8,       FLOAT8,  FLOAT8, FLOAT8) \
    X(UNKNOWN,      "unknown",      705,   0,     0,     -2, 'X', PG_CATALOG, "unknown",                     UNKNOWN,      UNKNOWN, TEXT,   TEXT)   \
    X(BOOL_ARRAY,   "_bool",        1000,  0,     16,    -1, 'A', PG_CATALOG, "_bool",                       NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(NAME_ARRAY,   "_name",        1003,  0,     19,    -1, 'A', PG_CATALOG, "name[]",                      NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(INT2_ARRAY,   "_int2",        1005,  0,     21,    -1, 'A', PG_CATALOG, "smallint[]",                  INT_ARRAY,    UNKNOWN, TEXT,   TEXT)   \
    X(INT4_ARRAY,   "_int4",        1007,  0,     23,    -1, 'A', PG_CATALOG, "integer[]",                   NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(TEXT_ARRAY,   "_text",        1009,  0,     25,    -1, 'A', PG_CATALOG, "text[]",                      TEXT_ARRAY,   UNKNOWN, TEXT,   TEXT)   \
    X(INT8_ARRAY,   "_int8",        1016,  0,     20,    -1, 'A', PG_CATALOG, "bigint[]",                    NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(FLOAT4_ARRAY, "_float4",      1021,  0,     700,   -1, 'A', PG_CATALOG, "_float4",                     NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(FLOAT8_ARRAY, "_float8",      1022,  0,     701,   -1, 'A', PG_CATALOG, "_float8",                     NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(OID_ARRAY,    "_oid",         1028,  0,     26,    -1, 'A', PG_CATALOG, "oid[]",                       OID_ARRAY,    UNKNOWN, TEXT,   TEXT)   \
    X(ACLITEM,      "aclitem",      1033,  1034,  0,     12, 'U', PG_CATALOG, "aclitem",                     NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(BPCHAR,       "bpchar",       1042,  1014,  0,     -1, 'S', PG_CATALOG, "character",                   NONE,         TEXT,    TEXT,   TEXT)   \
    X(VARCHAR,      "varchar",      1043,  1015,  0,     -1, 'S', PG_CATALOG, "character varying",           NONE,         TEXT,    TEXT,   TEXT)   \
    X(DATE,         "date",         1082,  1182,  0,     4,  'D', PG_CATALOG, "date",                        NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(TIMESTAMP,    "timestamp",    1114,  1115,  0,     8,  'D', PG_CATALOG, "timestamp without time zone", NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(TIMESTAMPTZ,  "timestamptz",  1184,  1185,  0,     8,  'D', PG_CATALOG, "timestamp with time zone",    NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(INTERVAL,     "interval",     1186,  1187,  0,     16, 'T', PG_CATALOG, "interval",                    NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(NUMERIC,      "numeric",      1700,  1231,  0,     -1, 'N', PG_CATALOG, "numeric",                     NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(REGCLASS,     "regclass",     2205,  2210,  0,     4,  'N', PG_CATALOG, "regclass",                    REGCLASS,     UNKNOWN, OID,    TEXT)   \
    X(REGTYPE,      "regtype",      2206,  2211,  0,     4,  'N', PG_CATALOG, "regtype",                     REGTYPE,      UNKNOWN, TEXT,   TEXT)   \
    X(RECORD,       "record",       2249,  2287,  0,     -1, 'P', PG_CATALOG, "record",                      RECORD,       UNKNOWN, TEXT,   TEXT)   \
    X(UUID,         "uuid",         2950,  2951,  0,     16, 'U', PG_CATALOG, "uuid",                        NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(JSONB,        "jsonb",        3802,  3807,  0,     -1, 'U', PG_CATALOG, "jsonb",                       JSONB,        JSONB,   JSONB,  JSONB)  \
    X(JSONB_ARRAY,  "_jsonb",       3807,  0,     3802,  -1, 'A', PG_CATALOG, "_jsonb",                      NONE,         UNKNOWN, TEXT,   TEXT)   \
    X(REGNAMESPACE, "regnamespace", 4089,  4090,  0,     4,  'N', PG_CATALOG, "regnamespace",                REGNAMESPACE, UNKNOWN, TEXT,   TEXT)   \
    X(VECTOR,       "vector",       16390, 16391, 0,     -1, 'U', PUBLIC,     "vector",                      VECTOR,       VECTOR,  VECTOR, VECTOR) \
    X(VECTOR_ARRAY, "_vector",      16391, 0,     16390, -1, 'A', PUBLIC,     "_vector",                     NONE,         UNKNOWN, TEXT,   TEXT)
/* clang-format on */

/* PGT_TYPLEN_<id>: pg_type.typlen of every listed type. */
enum {
#define PGT_X_TYPLEN(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io,     \
                     send, recv)                                                                   \
    PGT_TYPLEN_##id = typlen,
    PGTYPES_LIST(PGT_X_TYPLEN)
#undef PGT_X_TYPLEN
};

/* Number of rows (pg_type rows). */
enum {
#define PGT_X_COUNT(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io,      \
                    send, recv)                                                                    \
    +1
    PGTYPES_COUNT = 0 PGTYPES_LIST(PGT_X_COUNT),
#undef PGT_X_COUNT
};

/* PGT_OID_<id>, PGT_ARRAY_<id>, PGT_ELEM_<id>: pg_type.oid, typarray and typelem of every listed
 * type (one enum, so that OIDs compare with each other without enum-compare warnings). */
enum {
#define PGT_X_OIDS(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io, send, \
                   recv)                                                                           \
    PGT_OID_##id = oid, PGT_ARRAY_##id = array, PGT_ELEM_##id = elem,
    PGTYPES_LIST(PGT_X_OIDS)
#undef PGT_X_OIDS
};

/* An element type and its listed array type point at each other. */
#define PGT_ARRAY_PAIR(element, array_type)                                                        \
    _Static_assert(PGT_ARRAY_##element == PGT_OID_##array_type &&                                  \
                       PGT_ELEM_##array_type == PGT_OID_##element,                                 \
                   #element "[] is " #array_type)
PGT_ARRAY_PAIR(BOOL, BOOL_ARRAY);
PGT_ARRAY_PAIR(NAME, NAME_ARRAY);
PGT_ARRAY_PAIR(INT2, INT2_ARRAY);
PGT_ARRAY_PAIR(INT4, INT4_ARRAY);
PGT_ARRAY_PAIR(TEXT, TEXT_ARRAY);
PGT_ARRAY_PAIR(INT8, INT8_ARRAY);
PGT_ARRAY_PAIR(FLOAT4, FLOAT4_ARRAY);
PGT_ARRAY_PAIR(FLOAT8, FLOAT8_ARRAY);
PGT_ARRAY_PAIR(OID, OID_ARRAY);
PGT_ARRAY_PAIR(JSONB, JSONB_ARRAY);
PGT_ARRAY_PAIR(VECTOR, VECTOR_ARRAY);
#undef PGT_ARRAY_PAIR

_Static_assert(PGT_OID_VECTOR == 16390, "vector's OID is fixed: clients cache it");
_Static_assert(PGT_ELEM_INT2VECTOR == PGT_OID_INT2 && PGT_ELEM_OIDVECTOR == PGT_OID_OID,
               "int2vector and oidvector have elements but are not their arrays");

#endif

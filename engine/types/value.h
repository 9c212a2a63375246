/*
 * value.h — SQL values and types shared by the parser, planner and executor.
 *
 * A value_t is a small tagged union passed by value. Variable-length payloads (text, json,
 * vector) point into memory owned by someone else: the statement arena, the query text, or the
 * store (valid until the next write is applied). Whoever keeps a value past that copies it
 * (value_copy). JSON values hold canonical jsonb text (see value_json_canonical), so equality of
 * JSON values is byte equality and output needs no reformatting.
 */
#ifndef CTX_VALUE_H
#define CTX_VALUE_H

#include "arena.h"
#include "ctx.h"

#include <stdbool.h>
#include <stdint.h>

/* SQL types known to the engine. PostgreSQL type OIDs are mapped by value_type_oid(), from the
 * list of types in common/pgtypes.h. */
typedef enum {
    CT_UNKNOWN = 0, /* untyped literal ('...' before coercion) or NULL */
    CT_BOOL,
    CT_INT4,
    CT_INT8,
    CT_FLOAT8,
    CT_TEXT,
    CT_JSONB,
    CT_VECTOR,
    /* Catalog types (sql/catalog.c). Integers (VAL_INT): int2, oid and the reg* aliases, whose
     * text form is an object name — casts to and from text go through eval_env_t's reg_in /
     * reg_out hooks. Text (VAL_TEXT): name, "char". Arrays (VAL_TEXT holding PostgreSQL's array
     * text form "{a,b}"; NULL elements spelled NULL): element families text, integer, oid.
     * Records (VAL_TEXT "(a,b)") only as _pg_expandarray's result. int2vector / oidvector
     * (VAL_TEXT "1 2 3", elements separated by one space) are arrays whose subscripts start at
     * 0 (ctype_array_lower). */
    CT_INT2,
    CT_OID,
    CT_REGCLASS,
    CT_REGTYPE,
    CT_REGPROC,
    CT_REGNAMESPACE,
    CT_NAME,
    CT_CHAR,
    CT_TEXT_ARRAY,
    CT_INT_ARRAY,
    CT_OID_ARRAY,
    CT_RECORD,
    CT_INT2VECTOR,
    CT_OIDVECTOR,
    CT_TYPE_COUNT
} ctype_t;

typedef enum {
    VAL_NULL = 0,
    VAL_BOOL,
    VAL_INT,    /* int4 and int8 */
    VAL_FLOAT,  /* float8 */
    VAL_TEXT,   /* also CT_UNKNOWN literals */
    VAL_JSON,   /* canonical jsonb text */
    VAL_VECTOR, /* float32 array */
} val_kind_t;

enum { VECTOR_DIMS_MAX = 4096, LABEL_BYTES_MAX = 63 };

typedef struct value {
    uint8_t kind; /* val_kind_t */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *ptr; /* not NUL-terminated in general */
            uint32_t len;
        } str;
        struct {
            const float *data;
            uint32_t dim;
        } vec;
    } u;
} value_t;

static inline value_t value_null(void) {
    value_t v = {.kind = VAL_NULL};
    return v;
}
static inline value_t value_bool(bool b) {
    value_t v = {.kind = VAL_BOOL, .u.b = b};
    return v;
}
static inline value_t value_int(int64_t i) {
    value_t v = {.kind = VAL_INT, .u.i = i};
    return v;
}
static inline value_t value_float(double f) {
    value_t v = {.kind = VAL_FLOAT, .u.f = f};
    return v;
}
static inline value_t value_text(const char *ptr, uint32_t len) {
    value_t v = {.kind = VAL_TEXT, .u.str = {ptr, len}};
    return v;
}
static inline value_t value_json(const char *ptr, uint32_t len) {
    value_t v = {.kind = VAL_JSON, .u.str = {ptr, len}};
    return v;
}
static inline value_t value_vector(const float *data, uint32_t dim) {
    value_t v = {.kind = VAL_VECTOR, .u.vec = {data, dim}};
    return v;
}
static inline bool value_is_null(const value_t *v) {
    return v->kind == VAL_NULL;
}

/* PostgreSQL type OID and name ("int8", "vector", …) of a type: the row of common/pgtypes.h whose
 * ctype column is the type (every ctype_t owns one). */
uint32_t value_type_oid(ctype_t type);
/* pg_type.typlen of that row (RowDescription's type size): > 0 fixed width, -1 varlena. */
int16_t value_type_len(ctype_t type);
const char *value_type_name(ctype_t type);
/* The engine type a PostgreSQL type OID maps to (the io column of common/pgtypes.h; the reverse
 * of value_type_oid for the types the engine reads as themselves, many to one):
 * int2/int4 → CT_INT4, int8/oid → CT_INT8, float4/float8 → CT_FLOAT8, text/varchar/bpchar/name/
 * char/bytea → CT_TEXT, json/jsonb → CT_JSONB, vector → CT_VECTOR, bool → CT_BOOL; 0, 705
 * (unknown) and every other OID → CT_UNKNOWN. */
ctype_t value_type_from_oid(uint32_t oid);
/* The name PostgreSQL uses in messages (format_type): "integer", "bigint", "double precision",
 * "boolean", "text", "jsonb", "vector", "unknown". Static storage. */
const char *value_type_sql_name(ctype_t type);
/* Parses a SQL type name as written in casts (int, integer, int4, bigint, int8, float8, double
 * precision, real→float8, text, varchar, jsonb, json, bool, boolean, vector, vector(N), …).
 * Returns CT_UNKNOWN when not recognised. */
ctype_t value_type_parse(const char *name);
/* Type families: integer-valued types (int2/int4/int8/oid/reg*), text-valued scalars (text, name,
 * "char"), reg* aliases (object names as text), arrays, and an array's element type. */
bool ctype_is_integer(ctype_t t);
bool ctype_is_textual(ctype_t t);
bool ctype_is_reg(ctype_t t);
bool ctype_is_array(ctype_t t);
ctype_t ctype_array_elem(ctype_t t);
ctype_t ctype_array_of(ctype_t elem); /* CT_UNKNOWN when there is no array type */
/* The first subscript of an array type: 0 for int2vector / oidvector, 1 for the others. */
int ctype_array_lower(ctype_t t);

/* Array text form. value_array_split splits "{a,\"b c\",NULL}" into unquoted, unescaped
 * elements (arena memory, NUL-terminated; NULL elements → NULL pointers); a 1-D form only. It
 * also reads the int2vector / oidvector form "1 2 3" (text not opening with '{' or '(': words
 * separated by white space, "" none), so every array operation reads both.
 * Returns 0, or CTX_EBAD_LITERAL ("malformed array literal"). value_array_build is the inverse
 * (quotes elements that need it); it measures the text first and takes exactly that from the
 * arena with arena_try_alloc, so past the arena's limit it returns a NULL value and leaves the
 * arena marked exhausted (the executor's poll then fails the statement with 53200). */
int value_array_split(const char *text, uint32_t len, arena_t *arena, const char ***elems,
                      int *count, ctx_err_t *err);
value_t value_array_build(const char *const *elems, int count, arena_t *arena);

/* Converts the text form of a literal to a value of `type` (PostgreSQL input functions):
 * int4/int8 ("  42 ", overflow → CTX_ERANGE), float8 (also NaN, Infinity), bool (t/true/yes/on/1…),
 * text (copied), jsonb (validated with jansson, stored canonical; CTX_EINVALID_JSON), vector
 * ("[1,2,3]"; CTX_EBAD_LITERAL; dims_expected 0 = any, else mismatch → CTX_EDATA). The error
 * message is PostgreSQL's: invalid input syntax for type bigint: "abc". Memory from arena. */
int value_from_text(ctype_t type, const char *text, uint32_t len, uint32_t dims_expected,
                    arena_t *arena, value_t *out, ctx_err_t *err);

/* Text output (PostgreSQL output functions): bool t/f, shortest round-trip float8 ("0.1",
 * "1e+20", "Infinity", "NaN"), vectors as "[1,2.5,3]" (shortest float4), JSON canonical.
 * Returns a NUL-terminated string in arena memory (text and JSON payloads are copied too, since
 * slices of them are not NUL-terminated; bools return static "t"/"f") and its length. NULL
 * values must not be passed. */
const char *value_to_text(const value_t *v, arena_t *arena, uint32_t *len_out);

/* Canonical jsonb text of a JSON document: keys sorted as jsonb sorts them (shorter first, then
 * bytewise), duplicate keys keep the last, ", " and ": " separators, numbers as written.
 * Returns 0 or CTX_EINVALID_JSON. */
int value_json_canonical(const char *text, uint32_t len, arena_t *arena, value_t *out,
                         ctx_err_t *err);

/* Deep copy of the payload into arena memory. */
value_t value_copy(const value_t *v, arena_t *arena);

/* Total order used by ORDER BY, GROUP BY and comparisons between values of comparable kinds:
 * ints and floats compare numerically; text bytewise (C collation); bools false < true; JSON by
 * canonical text; vectors elementwise then by length. NULL sorts after everything (as PostgreSQL's
 * default NULLS LAST for ASC). Returns <0, 0, >0. */
int value_compare(const value_t *a, const value_t *b);
/* Hash consistent with value_compare() == 0 (ints and integral floats hash alike). */
uint64_t value_hash(const value_t *v);

#endif

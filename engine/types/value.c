/*
 * value.c — SQL scalar types: names and OIDs, PostgreSQL-compatible text input and output
 * functions, the total order and hash used by sorting, grouping and comparisons, deep copy.
 *
 * Names and OIDs are the engine's columns of common/pgtypes.h: each ctype_t owns one row (its
 * OID, typname and format_type name; a static assertion counts the owners), and the row's io
 * column says which engine type reads a Bind parameter of that OID.
 *
 * Input functions follow PostgreSQL 15 (int4in/int8in: surrounding whitespace and a sign allowed,
 * overflow is 22003; float8in: strtod plus NaN/Infinity spellings; boolin: unique prefixes of
 * true/false/yes/no/on/off and 1/0, case-insensitive) and pgvector (vector_in: "[1,2,3]" with
 * whitespace, at least one and at most VECTOR_DIMS_MAX elements, finite values). Error messages are
 * PostgreSQL's word for word, since clients and tests match on them.
 *
 * Float output reproduces PostgreSQL's shortest round-trip format (ryu in PostgreSQL, here the
 * shortest "%.Ne" precision that strtod/strtof reads back exactly): fixed notation when the decimal
 * exponent is in [-4, 15) for float8 and [-4, 6) for float4 (vector elements), otherwise
 * "d.ddde+XX" with at least two exponent digits. JSON parsing and canonical output live in json.c.
 *
 * value_compare() is a total order (NaN above every number and equal to itself, -0 = 0, NULL last);
 * value_hash() agrees with it: an integral float hashes as the equal int64.
 */
#include "value.h"
#include "json.h"
#include "pgtypes.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { FLOAT_TEXT_MAX = 32 };

/* ---- types and OIDs: the engine's columns of common/pgtypes.h ----------------------------------
 */

/* The list's token for "the engine has no type of its own for this row". */
#define CT_NONE CT_TYPE_COUNT

typedef struct value_pgtype {
    uint32_t oid;
    int16_t typlen;
    const char *typname;
    const char *sqlname;
    ctype_t ctype; /* the engine type whose own OID this is; CT_NONE none */
} value_pgtype_t;

static const value_pgtype_t value_pgtypes[] = {
#define VALUE_X_ROW(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io,      \
                    send, recv)                                                                    \
    {oid, typlen, typname, sqlname, CT_##ctype},
    PGTYPES_LIST(VALUE_X_ROW)
#undef VALUE_X_ROW
};

/* Each ctype_t owns exactly one row: the rows with an owner are as many as the types (and the
 * unit test finds each type's row, so none owns two). */
#define VALUE_X_OWNED(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io,    \
                      send, recv)                                                                  \
    +(CT_##ctype != CT_NONE)
_Static_assert(0 PGTYPES_LIST(VALUE_X_OWNED) == CT_TYPE_COUNT, "one pg_type row per ctype_t");
#undef VALUE_X_OWNED
_Static_assert(sizeof(value_pgtypes) / sizeof(value_pgtypes[0]) == PGTYPES_COUNT, "every row");

/* The row a type owns (its PostgreSQL OID and names). */
static const value_pgtype_t *value_pgtype_of(ctype_t type) {
    CTX_ASSERT((unsigned)type < CT_TYPE_COUNT);
    for (size_t i = 0; i < PGTYPES_COUNT; i++) {
        if (value_pgtypes[i].ctype == type) {
            return &value_pgtypes[i];
        }
    }
    CTX_ASSERT(!"every ctype_t owns a row of PGTYPES_LIST");
    return NULL;
}

uint32_t value_type_oid(ctype_t type) {
    if ((unsigned)type >= CT_TYPE_COUNT) {
        return PGT_OID_UNKNOWN;
    }
    return value_pgtype_of(type)->oid;
}

int16_t value_type_len(ctype_t type) {
    if ((unsigned)type >= CT_TYPE_COUNT) {
        return -1;
    }
    return value_pgtype_of(type)->typlen;
}

ctype_t value_type_from_oid(uint32_t oid) {
    switch (oid) {
#define VALUE_X_IO(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io, send, \
                   recv)                                                                           \
    case PGT_OID_##id:                                                                             \
        return CT_##io;
        PGTYPES_LIST(VALUE_X_IO)
#undef VALUE_X_IO
    default:
        return CT_UNKNOWN;
    }
}

const char *value_type_name(ctype_t type) {
    return value_pgtype_of(type)->typname;
}

const char *value_type_sql_name(ctype_t type) {
    return value_pgtype_of(type)->sqlname;
}

/* Lower-cases name into out, dropping a "pg_catalog." prefix and a "(...)" type modifier. */
static void type_name_normalize(const char *name, char *out, size_t out_size) {
    size_t n = 0;
    if (strncasecmp(name, "pg_catalog.", 11) == 0) {
        name += 11;
    }
    for (; *name != '\0' && *name != '(' && n + 1 < out_size; name++) {
        out[n++] = (char)tolower((unsigned char)*name);
    }
    while (n > 0 && out[n - 1] == ' ') {
        n--;
    }
    out[n] = '\0';
}

ctype_t value_type_parse(const char *name) {
    static const struct {
        const char *name;
        ctype_t type;
    } table[] = {
        {"int", CT_INT4},
        {"integer", CT_INT4},
        {"int4", CT_INT4},
        {"smallint", CT_INT2},
        {"int2", CT_INT2},
        {"oid", CT_OID},
        {"regclass", CT_REGCLASS},
        {"regtype", CT_REGTYPE},
        {"regproc", CT_REGPROC},
        {"regprocedure", CT_REGPROC},
        {"regnamespace", CT_REGNAMESPACE},
        {"\"char\"", CT_CHAR},
        {"text[]", CT_TEXT_ARRAY},
        {"name[]", CT_TEXT_ARRAY},
        {"varchar[]", CT_TEXT_ARRAY},
        {"character varying[]", CT_TEXT_ARRAY},
        {"char[]", CT_TEXT_ARRAY},
        {"aclitem[]", CT_TEXT_ARRAY},
        {"_text", CT_TEXT_ARRAY},
        {"int2[]", CT_INT_ARRAY},
        {"smallint[]", CT_INT_ARRAY},
        {"int4[]", CT_INT_ARRAY},
        {"integer[]", CT_INT_ARRAY},
        {"int[]", CT_INT_ARRAY},
        {"int8[]", CT_INT_ARRAY},
        {"bigint[]", CT_INT_ARRAY},
        {"int2vector", CT_INT2VECTOR},
        {"oid[]", CT_OID_ARRAY},
        {"oidvector", CT_OIDVECTOR},
        {"regtype[]", CT_OID_ARRAY},
        {"record", CT_RECORD},
        {"bigint", CT_INT8},
        {"int8", CT_INT8},
        {"float8", CT_FLOAT8},
        {"double precision", CT_FLOAT8},
        {"float", CT_FLOAT8},
        {"float4", CT_FLOAT8},
        {"real", CT_FLOAT8},
        {"numeric", CT_FLOAT8},
        {"decimal", CT_FLOAT8},
        {"text", CT_TEXT},
        {"varchar", CT_TEXT},
        {"character varying", CT_TEXT},
        {"char", CT_TEXT},
        {"character", CT_TEXT},
        {"bpchar", CT_TEXT},
        {"name", CT_NAME},
        {"jsonb", CT_JSONB},
        {"json", CT_JSONB},
        {"bool", CT_BOOL},
        {"boolean", CT_BOOL},
        {"vector", CT_VECTOR},
    };
    char norm[64];
    if (name == NULL) {
        return CT_UNKNOWN;
    }
    type_name_normalize(name, norm, sizeof(norm));
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(norm, table[i].name) == 0) {
            return table[i].type;
        }
    }
    return CT_UNKNOWN;
}

/* ---- input functions -------------------------------------------------------------------- */

static int input_syntax_error(ctx_err_t *err, const char *type_name, const char *text,
                              uint32_t len) {
    return ctx_err_set(err, CTX_EBAD_LITERAL, "invalid input syntax for type %s: \"%.*s\"",
                       type_name, (int)len, text);
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int int_from_text(ctype_t type, const char *text, uint32_t len, int64_t *out,
                         ctx_err_t *err) {
    const char *p = text;
    const char *end = text + len;
    bool neg = false;
    uint64_t acc = 0;
    uint64_t limit = type == CT_INT4 ? (uint64_t)INT32_MAX : (uint64_t)INT64_MAX;
    int digits = 0;
    bool overflow = false;

    CTX_ASSERT(type == CT_INT4 || type == CT_INT8);
    while (p < end && is_space(*p)) {
        p++;
    }
    if (p < end && (*p == '+' || *p == '-')) {
        neg = *p == '-';
        p++;
    }
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        acc = acc * 10 + (uint64_t)(*p - '0');
        if (acc > limit + 1) {
            overflow = true;
            acc = limit + 1;
        }
    }
    while (p < end && is_space(*p)) {
        p++;
    }
    if (digits == 0 || p != end) {
        return input_syntax_error(err, value_type_sql_name(type), text, len);
    }
    if (overflow || acc > limit + (neg ? 1 : 0)) {
        return ctx_err_set(err, CTX_ERANGE, "value \"%.*s\" is out of range for type %s", (int)len,
                           text, value_type_sql_name(type));
    }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}

/* Parses a float (PostgreSQL float8in spelling). *end_out receives the first unparsed byte. */
static int float_parse(const char *s, const char **end_out, double *out) {
    static const struct {
        const char *word;
        double value;
    } words[] = {{"infinity", INFINITY},
                 {"+infinity", INFINITY},
                 {"-infinity", -INFINITY},
                 {"inf", INFINITY},
                 {"+inf", INFINITY},
                 {"-inf", -INFINITY},
                 {"nan", NAN}};
    char *end = NULL;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i].word);
        if (strncasecmp(s, words[i].word, n) == 0) {
            *out = words[i].value;
            *end_out = s + n;
            return 0;
        }
    }
    errno = 0;
    *out = strtod(s, &end);
    *end_out = end;
    if (end == s) {
        return CTX_EBAD_LITERAL;
    }
    if (errno == ERANGE && (*out == 0.0 || isinf(*out))) {
        return CTX_ERANGE;
    }
    return 0;
}

static int float_from_text(const char *text, uint32_t len, arena_t *arena, double *out,
                           ctx_err_t *err) {
    char *s = arena_strndup(arena, text, len);
    const char *p = s;
    const char *end = NULL;
    int rc;

    while (is_space(*p)) {
        p++;
    }
    rc = float_parse(p, &end, out);
    if (rc == CTX_EBAD_LITERAL) {
        return input_syntax_error(err, "double precision", text, len);
    }
    while (is_space(*end)) {
        end++;
    }
    if (*end != '\0' || strlen(s) != len) {
        return input_syntax_error(err, "double precision", text, len);
    }
    if (rc == CTX_ERANGE) {
        return ctx_err_set(err, CTX_ERANGE, "\"%.*s\" is out of range for type double precision",
                           (int)len, text);
    }
    return 0;
}

static int bool_from_text(const char *text, uint32_t len, bool *out, ctx_err_t *err) {
    static const struct {
        const char *word;
        uint32_t min_len; /* shortest unique prefix PostgreSQL accepts */
        bool value;
    } words[] = {{"true", 1, true}, {"false", 1, false}, {"yes", 1, true}, {"no", 1, false},
                 {"on", 2, true},   {"off", 2, false},   {"1", 1, true},   {"0", 1, false}};
    const char *p = text;
    const char *end = text + len;
    while (p < end && is_space(*p)) {
        p++;
    }
    while (end > p && is_space(end[-1])) {
        end--;
    }
    uint32_t n = (uint32_t)(end - p);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (n >= words[i].min_len && n <= strlen(words[i].word) &&
            strncasecmp(p, words[i].word, n) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    return input_syntax_error(err, "boolean", text, len);
}

static int vector_syntax_error(ctx_err_t *err, const char *text, uint32_t len, const char *detail) {
    int rc = input_syntax_error(err, "vector", text, len);
    ctx_err_detail(err, "%s", detail);
    return rc;
}

/* Parses the elements of "[a, b, …]" into out (capacity VECTOR_DIMS_MAX); returns the count. */
static int vector_parse_elems(const char *s, const char *text, uint32_t len, float *out,
                              uint32_t *dim_out, ctx_err_t *err) {
    const char *p = s;
    uint32_t dim = 0;
    while (is_space(*p)) {
        p++;
    }
    if (*p != '[') {
        return vector_syntax_error(err, text, len, "Vector contents must start with \"[\".");
    }
    p++;
    while (is_space(*p)) {
        p++;
    }
    if (*p == ']') {
        return ctx_err_set(err, CTX_EDATA, "vector must have at least 1 dimension");
    }
    for (;;) {
        const char *end = NULL;
        double d = 0;
        if (dim == VECTOR_DIMS_MAX) {
            return ctx_err_set(err, CTX_ELIMIT, "vector cannot have more than %d dimensions",
                               VECTOR_DIMS_MAX);
        }
        while (is_space(*p)) {
            p++;
        }
        int rc = float_parse(p, &end, &d);
        if (rc == CTX_EBAD_LITERAL) {
            return vector_syntax_error(err, text, len,
                                       *p == '\0' ? "Unexpected end of input." : "");
        }
        if (rc == CTX_ERANGE || (isfinite(d) && isinf((float)d))) {
            return ctx_err_set(err, CTX_ERANGE, "\"%.*s\" is out of range for type vector",
                               (int)(end - p), p);
        }
        if (isnan(d)) {
            return ctx_err_set(err, CTX_EDATA, "NaN not allowed in vector");
        }
        if (isinf(d)) {
            return ctx_err_set(err, CTX_EDATA, "infinite value not allowed in vector");
        }
        out[dim++] = (float)d;
        p = end;
        while (is_space(*p)) {
            p++;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']') {
            break;
        }
        return vector_syntax_error(err, text, len, *p == '\0' ? "Unexpected end of input." : "");
    }
    for (p++; is_space(*p); p++) {
    }
    if (*p != '\0') {
        return vector_syntax_error(err, text, len, "Junk after closing right brace.");
    }
    *dim_out = dim;
    return 0;
}

static int vector_from_text(const char *text, uint32_t len, uint32_t dims_expected, arena_t *arena,
                            value_t *out, ctx_err_t *err) {
    char *s = arena_strndup(arena, text, len);
    float *tmp = ctx_malloc(sizeof(float) * VECTOR_DIMS_MAX);
    uint32_t dim = 0;
    int rc;
    if (strlen(s) != len) {
        rc = vector_syntax_error(err, text, len, "");
        goto done;
    }
    rc = vector_parse_elems(s, text, len, tmp, &dim, err);
    if (rc != 0) {
        goto done;
    }
    if (dims_expected != 0 && dim != dims_expected) {
        rc = ctx_err_set(err, CTX_EDATA, "expected %u dimensions, not %u", dims_expected, dim);
        goto done;
    }
    float *data = arena_alloc(arena, sizeof(float) * dim);
    memcpy(data, tmp, sizeof(float) * dim);
    *out = value_vector(data, dim);
done:
    free(tmp);
    return rc;
}

/* ---- arrays ------------------------------------------------------------------------------ */

bool ctype_is_integer(ctype_t t) {
    return t == CT_INT2 || t == CT_INT4 || t == CT_INT8 || t == CT_OID || ctype_is_reg(t);
}

bool ctype_is_textual(ctype_t t) {
    return t == CT_TEXT || t == CT_NAME || t == CT_CHAR;
}

bool ctype_is_reg(ctype_t t) {
    return t == CT_REGCLASS || t == CT_REGTYPE || t == CT_REGPROC || t == CT_REGNAMESPACE;
}

bool ctype_is_array(ctype_t t) {
    return t == CT_TEXT_ARRAY || t == CT_INT_ARRAY || t == CT_OID_ARRAY || t == CT_INT2VECTOR ||
           t == CT_OIDVECTOR;
}

int ctype_array_lower(ctype_t t) {
    return t == CT_INT2VECTOR || t == CT_OIDVECTOR ? 0 : 1;
}

ctype_t ctype_array_elem(ctype_t t) {
    if (t == CT_INT2VECTOR || t == CT_OIDVECTOR) {
        return t == CT_INT2VECTOR ? CT_INT2 : CT_OID;
    }
    return t == CT_TEXT_ARRAY
               ? CT_TEXT
               : (t == CT_INT_ARRAY ? CT_INT4 : (t == CT_OID_ARRAY ? CT_OID : CT_UNKNOWN));
}

ctype_t ctype_array_of(ctype_t elem) {
    if (ctype_is_textual(elem) || elem == CT_UNKNOWN) {
        return CT_TEXT_ARRAY;
    }
    if (elem == CT_OID || ctype_is_reg(elem)) {
        return CT_OID_ARRAY;
    }
    return ctype_is_integer(elem) ? CT_INT_ARRAY : CT_UNKNOWN;
}

static int array_malformed(ctx_err_t *err, const char *text, uint32_t len) {
    return ctx_err_set(err, CTX_EBAD_LITERAL, "malformed array literal: \"%.*s\"", (int)len, text);
}

/* The int2vector / oidvector form: words separated by white space. */
static void vector_form_split(const char *text, uint32_t len, arena_t *arena, const char ***elems,
                              int *count) {
    const char **out = arena_alloc(arena, sizeof(char *) * ((size_t)len + 1));
    int n = 0;
    for (uint32_t i = 0; i < len;) {
        while (i < len && is_space(text[i])) {
            i++;
        }
        uint32_t start = i;
        while (i < len && !is_space(text[i])) {
            i++;
        }
        if (i > start) {
            out[n++] = arena_strndup(arena, text + start, i - start);
        }
    }
    CTX_ASSERT(n <= (int)len);
    *elems = out;
    *count = n;
}

int value_array_split(const char *text, uint32_t len, arena_t *arena, const char ***elems,
                      int *count, ctx_err_t *err) {
    CTX_ASSERT(elems != NULL && count != NULL);
    uint32_t i = 0;
    int n = 0;
    char open = '{', close = '}';
    while (i < len && is_space(text[i])) {
        i++;
    }
    if (i < len && text[i] == '(') {
        open = '(', close = ')';
    }
    if (i >= len || (text[i] != '{' && text[i] != '(')) {
        vector_form_split(text, len, arena, elems, count);
        return 0;
    }
    if (i >= len || text[i] != open) {
        return array_malformed(err, text, len);
    }
    const char **out = arena_alloc(arena, sizeof(char *) * (len + 1));
    char *buf = arena_alloc(arena, (size_t)len + 1);
    size_t used = 0;
    i++;
    while (i < len && is_space(text[i])) {
        i++;
    }
    if (i < len && text[i] == close) {
        *elems = out;
        *count = 0;
        return 0;
    }
    for (;;) {
        while (i < len && is_space(text[i])) {
            i++;
        }
        char *start = buf + used;
        bool quoted = i < len && text[i] == '"';
        if (quoted) {
            for (i++; i < len && text[i] != '"'; i++) {
                if (text[i] == '\\' && i + 1 < len) {
                    i++;
                }
                buf[used++] = text[i];
            }
            i++;
        } else {
            for (; i < len && text[i] != ',' && text[i] != close; i++) {
                if (text[i] == '\\' && i + 1 < len) {
                    i++;
                }
                buf[used++] = text[i];
            }
            while (buf + used > start && is_space(buf[used - 1])) {
                used--;
            }
        }
        buf[used++] = '\0';
        out[n++] = (!quoted && strcasecmp(start, "NULL") == 0) ? NULL : start;
        while (i < len && is_space(text[i])) {
            i++;
        }
        if (i < len && text[i] == ',') {
            i++;
            continue;
        }
        if (i < len && text[i] == close) {
            break;
        }
        return array_malformed(err, text, len);
    }
    *elems = out;
    *count = n;
    return 0;
}

/* Whether an array element needs double quotes in the text form, and its quoted length. */
static bool array_elem_quoted(const char *e, size_t *len) {
    bool quote = *e == '\0' || strcasecmp(e, "NULL") == 0 || strpbrk(e, "{},\"\\ \t\n") != NULL;
    size_t n = 0;
    for (const char *c = e; *c != '\0'; c++) {
        n += (*c == '"' || *c == '\\') ? 2 : 1;
    }
    *len = n + (quote ? 2 : 0);
    return quote;
}

value_t value_array_build(const char *const *elems, int count, arena_t *arena) {
    size_t total = 2 + (count > 0 ? (size_t)count - 1 : 0), len;
    for (int k = 0; k < count; k++) {
        (void)array_elem_quoted(elems[k] != NULL ? elems[k] : "", &len);
        total += elems[k] == NULL ? 4 : len;
    }
    char *text = total < UINT32_MAX ? arena_try_alloc(arena, total + 1) : NULL;
    if (text == NULL) {
        return value_null(); /* the arena is marked exhausted (or too long): the caller fails */
    }
    size_t n = 0;
    text[n++] = '{';
    for (int k = 0; k < count; k++) {
        const char *e = elems[k];
        if (k > 0) {
            text[n++] = ',';
        }
        if (e == NULL) {
            memcpy(text + n, "NULL", 4);
            n += 4;
            continue;
        }
        bool quote = array_elem_quoted(e, &len);
        if (quote) {
            text[n++] = '"';
        }
        for (const char *c = e; *c != '\0'; c++) {
            if (*c == '"' || *c == '\\') {
                text[n++] = '\\';
            }
            text[n++] = *c;
        }
        if (quote) {
            text[n++] = '"';
        }
    }
    text[n++] = '}';
    text[n] = '\0';
    CTX_ASSERT(n == total);
    return value_text(text, (uint32_t)n);
}

/* int2vector / oidvector text: the elements joined by one space; NULL elements are refused. */
static int vector_form_build(ctype_t type, const char **elems, int n, arena_t *arena, value_t *out,
                             ctx_err_t *err) {
    CTX_ASSERT(type == CT_INT2VECTOR || type == CT_OIDVECTOR);
    size_t total = 1;
    for (int k = 0; k < n; k++) {
        if (elems[k] == NULL) {
            return ctx_err_set(err, CTX_EBAD_LITERAL, "array must not contain nulls");
        }
        total += strlen(elems[k]) + 1;
    }
    char *text = arena_alloc(arena, total);
    size_t used = 0;
    for (int k = 0; k < n; k++) {
        used += (size_t)snprintf(text + used, total - used, "%s%lld", k > 0 ? " " : "",
                                 strtoll(elems[k], NULL, 10));
    }
    text[used] = '\0';
    CTX_ASSERT(used < total);
    *out = value_text(text, (uint32_t)used);
    return 0;
}

/* Validates an array (or record) literal and keeps its canonical text form. */
static int array_from_text(ctype_t type, const char *text, uint32_t len, arena_t *arena,
                           value_t *out, ctx_err_t *err) {
    const char **elems;
    int n;
    uint32_t first = 0;
    while (first < len && is_space(text[first])) {
        first++;
    }
    bool vector_form = type == CT_INT2VECTOR || type == CT_OIDVECTOR;
    if (!vector_form && (first >= len || (text[first] != '{' && text[first] != '('))) {
        return array_malformed(err, text, len); /* only int2vector / oidvector read "1 2" */
    }
    int rc = value_array_split(text, len, arena, &elems, &n, err);
    for (int k = 0; rc == 0 && type != CT_TEXT_ARRAY && type != CT_RECORD && k < n; k++) {
        int64_t v;
        if (elems[k] != NULL) {
            rc = int_from_text(CT_INT8, elems[k], (uint32_t)strlen(elems[k]), &v, err);
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (type == CT_RECORD) {
        *out = value_text(arena_strndup(arena, text, len), len);
        return 0;
    }
    if (type == CT_INT2VECTOR || type == CT_OIDVECTOR) {
        return vector_form_build(type, elems, n, arena, out, err);
    }
    *out = value_array_build(elems, n, arena);
    return 0;
}

int value_from_text(ctype_t type, const char *text, uint32_t len, uint32_t dims_expected,
                    arena_t *arena, value_t *out, ctx_err_t *err) {
    int64_t i = 0;
    double f = 0;
    bool b = false;
    int rc = 0;

    CTX_ASSERT(text != NULL || len == 0);
    CTX_ASSERT(arena != NULL && out != NULL);
    if (text == NULL) {
        text = "";
    }
    switch (type) {
    case CT_INT4:
    case CT_INT8:
        rc = int_from_text(type, text, len, &i, err);
        *out = value_int(i);
        break;
    case CT_FLOAT8:
        rc = float_from_text(text, len, arena, &f, err);
        *out = value_float(f);
        break;
    case CT_BOOL:
        rc = bool_from_text(text, len, &b, err);
        *out = value_bool(b);
        break;
    case CT_JSONB:
        rc = value_json_canonical(text, len, arena, out, err);
        break;
    case CT_VECTOR:
        rc = vector_from_text(text, len, dims_expected, arena, out, err);
        break;
    case CT_TEXT:
    case CT_UNKNOWN:
    case CT_NAME:
        *out = value_text(arena_strndup(arena, text, len), len);
        break;
    case CT_CHAR: /* "char": the first byte */
        *out = value_text(arena_strndup(arena, text, len > 0 ? 1 : 0), len > 0 ? 1 : 0);
        break;
    case CT_INT2:
        rc = int_from_text(CT_INT4, text, len, &i, err);
        if (rc == 0 && (i < INT16_MIN || i > INT16_MAX)) {
            rc = ctx_err_set(err, CTX_ERANGE, "value \"%.*s\" is out of range for type smallint",
                             (int)len, text);
        }
        *out = value_int(i);
        break;
    case CT_OID:
    case CT_REGCLASS:
    case CT_REGTYPE:
    case CT_REGPROC:
    case CT_REGNAMESPACE: /* numeric form only here; names go through eval_env_t.reg_in */
        rc = int_from_text(CT_INT8, text, len, &i, err);
        if (rc != 0 || i < 0 || i > (int64_t)UINT32_MAX) {
            rc = input_syntax_error(err, value_type_sql_name(type), text, len);
        }
        *out = value_int(i);
        break;
    case CT_TEXT_ARRAY:
    case CT_INT_ARRAY:
    case CT_OID_ARRAY:
    case CT_INT2VECTOR:
    case CT_OIDVECTOR:
    case CT_RECORD:
        rc = array_from_text(type, text, len, arena, out, err);
        break;
    case CT_TYPE_COUNT:
        CTX_ASSERT(!"not a type");
        break;
    }
    if (rc != 0) {
        *out = value_null();
    }
    return rc;
}

/* ---- output functions ------------------------------------------------------------------- */

/* Shortest "%.Ne" form of d that reads back exactly (as float when is_float4). */
static void float_shortest_exp(double d, bool is_float4, char *out, size_t out_size) {
    for (int prec = 0; prec < 17; prec++) {
        snprintf(out, out_size, "%.*e", prec, d);
        if (is_float4 ? strtof(out, NULL) == (float)d : strtod(out, NULL) == d) {
            return;
        }
    }
    snprintf(out, out_size, "%.16e", d);
}

/* Rewrites "d.ddde±X" as PostgreSQL prints it (fixed within [-4, exp_fixed_max)). */
static size_t float_format_pg(const char *sci, int exp_fixed_max, char *out) {
    char digits[24];
    size_t nd = 0;
    size_t n = 0;
    const char *p = sci;
    if (*p == '-') {
        out[n++] = '-';
        p++;
    }
    for (; *p != 'e'; p++) {
        if (*p != '.') {
            digits[nd++] = *p;
        }
    }
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
    }
    if (exp >= -4 && exp < exp_fixed_max) {
        if (exp < 0) {
            out[n++] = '0';
            out[n++] = '.';
            for (int z = -1; z > exp; z--) {
                out[n++] = '0';
            }
            memcpy(out + n, digits, nd);
            n += nd;
        } else {
            for (size_t k = 0; k < nd || k <= (size_t)exp; k++) {
                if (k == (size_t)exp + 1) {
                    out[n++] = '.';
                }
                out[n++] = k < nd ? digits[k] : '0';
            }
        }
        out[n] = '\0';
        return n;
    }
    out[n++] = digits[0];
    if (nd > 1) {
        out[n++] = '.';
        memcpy(out + n, digits + 1, nd - 1);
        n += nd - 1;
    }
    n += (size_t)sprintf(out + n, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return n;
}

size_t value_format_float(double d, bool is_float4, char *out) {
    char sci[FLOAT_TEXT_MAX];
    if (isnan(d)) {
        return (size_t)sprintf(out, "NaN");
    }
    if (isinf(d)) {
        return (size_t)sprintf(out, d > 0 ? "Infinity" : "-Infinity");
    }
    if (d == 0) {
        return (size_t)sprintf(out, signbit(d) ? "-0" : "0");
    }
    float_shortest_exp(d, is_float4, sci, sizeof(sci));
    return float_format_pg(sci, is_float4 ? 6 : 15, out);
}

static const char *vector_to_text(const value_t *v, arena_t *arena, uint32_t *len_out) {
    size_t cap = (size_t)v->u.vec.dim * FLOAT_TEXT_MAX + 3;
    char *out = arena_alloc(arena, cap);
    size_t n = 0;
    out[n++] = '[';
    for (uint32_t i = 0; i < v->u.vec.dim; i++) {
        if (i > 0) {
            out[n++] = ',';
        }
        n += value_format_float(v->u.vec.data[i], true, out + n);
    }
    out[n++] = ']';
    out[n] = '\0';
    CTX_ASSERT(n < cap);
    *len_out = (uint32_t)n;
    return out;
}

const char *value_to_text(const value_t *v, arena_t *arena, uint32_t *len_out) {
    char *out = NULL;
    CTX_ASSERT(v != NULL && len_out != NULL);
    CTX_ASSERT(v->kind != VAL_NULL);
    switch (v->kind) {
    case VAL_BOOL:
        *len_out = 1;
        return v->u.b ? "t" : "f";
    case VAL_INT:
        out = arena_sprintf(arena, "%lld", (long long)v->u.i);
        *len_out = (uint32_t)strlen(out);
        return out;
    case VAL_FLOAT:
        out = arena_alloc(arena, FLOAT_TEXT_MAX);
        *len_out = (uint32_t)value_format_float(v->u.f, false, out);
        return out;
    case VAL_VECTOR:
        return vector_to_text(v, arena, len_out);
    default:
        break;
    }
    /* text and JSON: copied, because slices (->>, substr) are not NUL-terminated */
    *len_out = v->u.str.len;
    return arena_strndup(arena, v->u.str.ptr, v->u.str.len);
}

value_t value_copy(const value_t *v, arena_t *arena) {
    value_t out = *v;
    if (v->kind == VAL_TEXT || v->kind == VAL_JSON) {
        out.u.str.ptr = arena_strndup(arena, v->u.str.ptr, v->u.str.len);
    } else if (v->kind == VAL_VECTOR) {
        float *data = arena_alloc(arena, sizeof(float) * (v->u.vec.dim + 1));
        memcpy(data, v->u.vec.data, sizeof(float) * v->u.vec.dim);
        out.u.vec.data = data;
    }
    return out;
}

/* ---- ordering and hashing --------------------------------------------------------------- */

static int cmp_double(double a, double b) {
    if (isnan(a) || isnan(b)) {
        return isnan(a) - isnan(b);
    }
    return (a > b) - (a < b);
}

/* Exact comparison of an int64 with a double. */
static int cmp_int_double(int64_t i, double d) {
    if (isnan(d) || d >= 9223372036854775808.0) {
        return -1;
    }
    if (d < -9223372036854775808.0) {
        return 1;
    }
    double t = trunc(d);
    int64_t ti = (int64_t)t;
    if (i != ti) {
        return i < ti ? -1 : 1;
    }
    return (d > t) ? -1 : (d < t ? 1 : 0);
}

static int cmp_bytes(const char *a, uint32_t alen, const char *b, uint32_t blen) {
    uint32_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return (alen > blen) - (alen < blen);
}

static int cmp_vector(const value_t *a, const value_t *b) {
    uint32_t n = a->u.vec.dim < b->u.vec.dim ? a->u.vec.dim : b->u.vec.dim;
    for (uint32_t i = 0; i < n; i++) {
        int c = cmp_double(a->u.vec.data[i], b->u.vec.data[i]);
        if (c != 0) {
            return c;
        }
    }
    return (a->u.vec.dim > b->u.vec.dim) - (a->u.vec.dim < b->u.vec.dim);
}

static bool is_numeric_kind(uint8_t kind) {
    return kind == VAL_INT || kind == VAL_FLOAT;
}

int value_compare(const value_t *a, const value_t *b) {
    CTX_ASSERT(a != NULL && b != NULL);
    if (a->kind == VAL_NULL || b->kind == VAL_NULL) {
        return (a->kind == VAL_NULL) - (b->kind == VAL_NULL);
    }
    if (is_numeric_kind(a->kind) && is_numeric_kind(b->kind)) {
        if (a->kind == VAL_INT && b->kind == VAL_INT) {
            return (a->u.i > b->u.i) - (a->u.i < b->u.i);
        }
        if (a->kind == VAL_INT) {
            return cmp_int_double(a->u.i, b->u.f);
        }
        if (b->kind == VAL_INT) {
            return -cmp_int_double(b->u.i, a->u.f);
        }
        return cmp_double(a->u.f, b->u.f);
    }
    if (a->kind != b->kind) {
        return a->kind < b->kind ? -1 : 1;
    }
    switch (a->kind) {
    case VAL_BOOL:
        return (int)a->u.b - (int)b->u.b;
    case VAL_TEXT:
    case VAL_JSON:
        return cmp_bytes(a->u.str.ptr, a->u.str.len, b->u.str.ptr, b->u.str.len);
    case VAL_VECTOR:
        return cmp_vector(a, b);
    default:
        CTX_ASSERT(!"unreachable value kind");
        return 0;
    }
}

static uint64_t hash_mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(const void *data, size_t len, uint64_t seed) {
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return hash_mix(h);
}

static uint64_t hash_double(double d) {
    uint64_t bits = 0;
    if (isnan(d)) {
        return 0x7ff8dead7ff8beefULL;
    }
    if (d == trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        return hash_mix((uint64_t)(int64_t)d); /* integral: as the equal int64 (also -0) */
    }
    memcpy(&bits, &d, sizeof(bits));
    return hash_mix(bits ^ 0x9e3779b97f4a7c15ULL);
}

uint64_t value_hash(const value_t *v) {
    CTX_ASSERT(v != NULL);
    switch (v->kind) {
    case VAL_NULL:
        return 0x6e756c6cULL;
    case VAL_BOOL:
        return hash_mix(v->u.b ? 0xb001ULL : 0xb000ULL);
    case VAL_INT:
        return hash_mix((uint64_t)v->u.i);
    case VAL_FLOAT:
        return hash_double(v->u.f);
    case VAL_TEXT:
    case VAL_JSON:
        return hash_bytes(v->u.str.ptr, v->u.str.len, v->kind);
    case VAL_VECTOR: {
        uint64_t h = hash_mix(v->u.vec.dim);
        for (uint32_t i = 0; i < v->u.vec.dim; i++) {
            float f = v->u.vec.data[i] == 0.0f ? 0.0f : v->u.vec.data[i];
            uint32_t bits = 0;
            memcpy(&bits, &f, sizeof(bits));
            h = hash_mix(h ^ bits);
        }
        return h;
    }
    default:
        CTX_ASSERT(!"unreachable value kind");
        return 0;
    }
}

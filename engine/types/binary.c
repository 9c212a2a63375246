/*
 * binary.c — PostgreSQL binary send and receive (see binary.h).
 *
 * One pair of functions per binary format, binary_send_<F> and binary_recv_<F>; the send and
 * recv columns of common/pgtypes.h name the format of each type OID, and the two dispatchers
 * below are switches generated from that list (a duplicate OID would not compile). An OID not in
 * the list uses the TEXT pair. The formats are those of PostgreSQL's typsend/typreceive
 * functions (pgvector's for vector):
 *
 *   FORMAT   BYTES              DESCRIPTION
 *   BOOL     1                  0 / 1 (receive: any non-zero byte is true)
 *   INT2     2                  two's complement, big-endian
 *   INT4     4                  two's complement, big-endian
 *   OID      4                  unsigned, big-endian
 *   INT8     8                  two's complement, big-endian
 *   FLOAT4   4                  IEEE 754 binary32 bits, big-endian
 *   FLOAT8   8                  IEEE 754 binary64 bits, big-endian
 *   JSONB    1 + n              version byte 1, then the JSON text
 *   VECTOR   2 + 2 + 4 × dim    Int16 dim, Int16 unused (0), float4 × dim
 *   TEXT     n                  the text form's UTF-8 bytes (text, varchar, name, json …);
 *                               received text must be valid UTF-8 (22021), bytea any bytes
 *
 * Sending converts the value to the column's type the way the executor's results need it (an
 * integer-valued float rounds into an int column, a bool is 0/1); receiving checks the exact
 * length, as PostgreSQL does when a receive function leaves bytes unread.
 */
#include "binary.h"
#include "pgtypes.h"
#include "utf8.h"

#include <math.h>
#include <string.h>

/* ---- conversions used by the senders ------------------------------------------------------- */

static double binary_as_double(const value_t *v) {
    if (v->kind == VAL_INT) {
        return (double)v->u.i;
    }
    if (v->kind == VAL_BOOL) {
        return v->u.b ? 1.0 : 0.0;
    }
    return v->kind == VAL_FLOAT ? v->u.f : NAN;
}

static int64_t binary_as_int(const value_t *v) {
    if (v->kind == VAL_FLOAT) {
        return (int64_t)llround(v->u.f);
    }
    if (v->kind == VAL_BOOL) {
        return v->u.b ? 1 : 0;
    }
    return v->kind == VAL_INT ? v->u.i : 0;
}

/* ---- one send / recv pair per format ------------------------------------------------------- */

static void binary_send_TEXT(buf_t *out, arena_t *arena, const value_t *v) {
    if (v->kind == VAL_TEXT || v->kind == VAL_JSON) {
        buf_append(out, v->u.str.ptr, v->u.str.len);
        return;
    }
    uint32_t len = 0;
    const char *text = value_to_text(v, arena, &len);
    buf_append(out, text, len);
}

/* bytea's bytes, kept as they are (any byte, unlike text). */
static int binary_recv_BYTES(const uint8_t *data, size_t len, arena_t *arena, value_t *out) {
    *out = value_text(arena_strndup(arena, (const char *)data, len), (uint32_t)len);
    return 0;
}

/* Text must be valid UTF-8 (22021 otherwise), as for text parameters. */
static int binary_recv_TEXT(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                            ctx_err_t *err) {
    int rc = utf8_check(data, len, err);
    if (rc < 0) {
        return rc;
    }
    *out = value_text(arena_strndup(arena, (const char *)data, len), (uint32_t)len);
    return 0;
}

static void binary_send_BOOL(buf_t *out, arena_t *arena, const value_t *v) {
    (void)arena;
    buf_append_u8(out, v->kind == VAL_BOOL ? (uint8_t)v->u.b : (uint8_t)(binary_as_int(v) != 0));
}

static int binary_recv_BOOL(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                            ctx_err_t *err) {
    (void)arena;
    (void)err;
    if (len != 1) {
        return CTX_EBINARY_FORMAT;
    }
    *out = value_bool(data[0] != 0);
    return 0;
}

static void binary_send_INT2(buf_t *out, arena_t *arena, const value_t *v) {
    (void)arena;
    buf_append_u16be(out, (uint16_t)(int16_t)binary_as_int(v));
}

static int binary_recv_INT2(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                            ctx_err_t *err) {
    (void)arena;
    (void)err;
    if (len != 2) {
        return CTX_EBINARY_FORMAT;
    }
    *out = value_int((int16_t)ctx_read_u16be(data));
    return 0;
}

static void binary_send_INT4(buf_t *out, arena_t *arena, const value_t *v) {
    (void)arena;
    buf_append_u32be(out, (uint32_t)binary_as_int(v));
}

static int binary_recv_INT4(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                            ctx_err_t *err) {
    (void)arena;
    (void)err;
    if (len != 4) {
        return CTX_EBINARY_FORMAT;
    }
    *out = value_int((int32_t)ctx_read_u32be(data));
    return 0;
}

static void binary_send_OID(buf_t *out, arena_t *arena, const value_t *v) {
    (void)arena;
    buf_append_u32be(out, (uint32_t)binary_as_int(v));
}

static int binary_recv_OID(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                           ctx_err_t *err) {
    (void)arena;
    (void)err;
    if (len != 4) {
        return CTX_EBINARY_FORMAT;
    }
    *out = value_int((int64_t)ctx_read_u32be(data));
    return 0;
}

static void binary_send_INT8(buf_t *out, arena_t *arena, const value_t *v) {
    (void)arena;
    buf_append_u64be(out, (uint64_t)binary_as_int(v));
}

static int binary_recv_INT8(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                            ctx_err_t *err) {
    (void)arena;
    (void)err;
    if (len != 8) {
        return CTX_EBINARY_FORMAT;
    }
    *out = value_int((int64_t)ctx_read_u64be(data));
    return 0;
}

static void binary_send_FLOAT4(buf_t *out, arena_t *arena, const value_t *v) {
    (void)arena;
    float f = (float)binary_as_double(v);
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    buf_append_u32be(out, bits);
}

static int binary_recv_FLOAT4(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                              ctx_err_t *err) {
    (void)arena;
    (void)err;
    if (len != 4) {
        return CTX_EBINARY_FORMAT;
    }
    uint32_t bits = ctx_read_u32be(data);
    float f;
    memcpy(&f, &bits, sizeof(f));
    *out = value_float((double)f);
    return 0;
}

static void binary_send_FLOAT8(buf_t *out, arena_t *arena, const value_t *v) {
    (void)arena;
    double d = binary_as_double(v);
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    buf_append_u64be(out, bits);
}

static int binary_recv_FLOAT8(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                              ctx_err_t *err) {
    (void)arena;
    (void)err;
    if (len != 8) {
        return CTX_EBINARY_FORMAT;
    }
    uint64_t bits = ctx_read_u64be(data);
    double d;
    memcpy(&d, &bits, sizeof(d));
    *out = value_float(d);
    return 0;
}

static void binary_send_JSONB(buf_t *out, arena_t *arena, const value_t *v) {
    buf_append_u8(out, 1);
    binary_send_TEXT(out, arena, v);
}

static int binary_recv_JSONB(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                             ctx_err_t *err) {
    if (len < 1 || data[0] != 1) {
        return ctx_err_set(err, CTX_EBINARY_FORMAT, "unsupported jsonb version number %d",
                           len < 1 ? 0 : data[0]);
    }
    int rc = utf8_check(data + 1, len - 1, err);
    if (rc < 0) {
        return rc;
    }
    *out = value_text(arena_strndup(arena, (const char *)data + 1, len - 1), (uint32_t)len - 1);
    return 0;
}

static void binary_send_VECTOR(buf_t *out, arena_t *arena, const value_t *v) {
    if (v->kind != VAL_VECTOR) {
        binary_send_TEXT(out, arena, v);
        return;
    }
    buf_append_u16be(out, (uint16_t)v->u.vec.dim);
    buf_append_u16be(out, 0);
    for (uint32_t i = 0; i < v->u.vec.dim; i++) {
        uint32_t bits;
        memcpy(&bits, &v->u.vec.data[i], sizeof(bits));
        buf_append_u32be(out, bits);
    }
}

/* A vector's elements must be finite, as in the text form (vector_from_text) and pgvector. */
static int binary_recv_VECTOR(const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                              ctx_err_t *err) {
    if (len < 4) {
        return CTX_EBINARY_FORMAT;
    }
    uint32_t dim = ctx_read_u16be(data);
    if (dim < 1 || dim > VECTOR_DIMS_MAX || len != 4 + 4 * (size_t)dim) {
        return CTX_EBINARY_FORMAT;
    }
    float *v = arena_alloc(arena, sizeof(float) * dim);
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t bits = ctx_read_u32be(data + 4 + 4 * (size_t)i);
        memcpy(&v[i], &bits, sizeof(float));
        if (!isfinite(v[i])) {
            return ctx_err_set(err, CTX_EDATA, "%s not allowed in vector",
                               isnan(v[i]) ? "NaN" : "infinite value");
        }
    }
    *out = value_vector(v, dim);
    return 0;
}

_Static_assert(VECTOR_DIMS_MAX <= UINT16_MAX, "a vector's dimension is an Int16 on the wire");

/* ---- dispatch by OID, generated from the list ---------------------------------------------- */

void binary_send(buf_t *out, arena_t *arena, const value_t *v, uint32_t type_oid) {
    CTX_ASSERT(out != NULL && v != NULL);
    CTX_ASSERT(!value_is_null(v));
    switch (type_oid) {
#define BINARY_X_SEND(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io,    \
                      send, recv)                                                                  \
    case PGT_OID_##id:                                                                             \
        binary_send_##send(out, arena, v);                                                         \
        return;
        PGTYPES_LIST(BINARY_X_SEND)
#undef BINARY_X_SEND
    default:
        binary_send_TEXT(out, arena, v);
        return;
    }
}

int binary_recv(uint32_t type_oid, const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                ctx_err_t *err) {
    CTX_ASSERT(data != NULL || len == 0);
    CTX_ASSERT(out != NULL);
    if (type_oid == PGT_OID_BYTEA) {
        return binary_recv_BYTES(data, len, arena, out);
    }
    switch (type_oid) {
#define BINARY_X_RECV(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io,    \
                      send, recv)                                                                  \
    case PGT_OID_##id:                                                                             \
        return binary_recv_##recv(data, len, arena, out, err);
        PGTYPES_LIST(BINARY_X_RECV)
#undef BINARY_X_RECV
    default:
        return binary_recv_TEXT(data, len, arena, out, err);
    }
}

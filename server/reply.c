/*
 * reply.c — results to backend messages (see reply.h).
 *
 * Text format is the engine's output function (value_to_text). Binary format follows
 * PostgreSQL's *send functions, chosen by the column's type OID rather than the value's kind,
 * because the OID is what the client decodes by: an int value in an int4 column goes out as 4
 * bytes, in an int8 column as 8, in a float8 column as an IEEE double. The encodings:
 *
 *   TYPE            BYTES                      DESCRIPTION
 *   bool            1                          0 / 1
 *   int2/int4/int8  2/4/8                      two's complement, big-endian
 *   oid             4                          unsigned, big-endian
 *   float4/float8   4/8                        IEEE 754 bits, big-endian
 *   text, varchar,  n                          the UTF-8 bytes (json too)
 *   name, bytea
 *   jsonb           1 + n                      version byte 1, then the JSON text
 *   vector          2 + 2 + 4 × dim            Int16 dim, Int16 unused (0), float4 × dim
 *
 * Other types (none today) fall back to their text form.
 */
#include "reply.h"

#include "pgwire.h"

#include <math.h>
#include <string.h>

void reply_error(buf_t *out, const ctx_err_t *err) {
    CTX_ASSERT(err != NULL && err->code < 0);
    int rc = pgw_encode_error_ctx(out, "ERROR", err);
    CTX_ASSERT(rc == 0);
}

void reply_notices(buf_t *out, const sql_result_t *result) {
    for (int i = 0; i < result->nnotices; i++) {
        const sql_notice_t *notice = &result->notices[i];
        pgw_error_t n;
        memset(&n, 0, sizeof(n));
        n.severity = notice->severity;
        n.sqlstate = ctx_sqlstate(notice->code);
        n.message = notice->message;
        int rc = pgw_encode_notice(out, &n);
        CTX_ASSERT(rc == 0);
    }
}

int reply_row_description(buf_t *out, arena_t *arena, const sql_result_t *result,
                          const int16_t *formats, ctx_err_t *err) {
    CTX_ASSERT(result->ncols >= 0);
    pgw_field_t *fields = arena_calloc(arena, (size_t)result->ncols + 1, sizeof(*fields));
    for (int c = 0; c < result->ncols; c++) {
        const sql_column_t *col = &result->cols[c];
        fields[c].name = col->name;
        fields[c].table_oid = col->table_oid;
        fields[c].column_attnum = col->attnum;
        fields[c].type_oid = col->type_oid;
        fields[c].type_len = col->typlen;
        fields[c].type_mod = col->typmod;
        fields[c].format = formats != NULL ? formats[c] : PGW_FORMAT_TEXT;
    }
    if (pgw_encode_row_description(out, fields, (size_t)result->ncols) < 0) {
        return ctx_err_set(err, CTX_ELIMIT, "target lists can have at most %d entries",
                           PGW_FIELDS_MAX);
    }
    return 0;
}

static double reply_as_double(const value_t *v) {
    if (v->kind == VAL_INT) {
        return (double)v->u.i;
    }
    if (v->kind == VAL_BOOL) {
        return v->u.b ? 1.0 : 0.0;
    }
    return v->kind == VAL_FLOAT ? v->u.f : NAN;
}

static int64_t reply_as_int(const value_t *v) {
    if (v->kind == VAL_FLOAT) {
        return (int64_t)llround(v->u.f);
    }
    if (v->kind == VAL_BOOL) {
        return v->u.b ? 1 : 0;
    }
    return v->kind == VAL_INT ? v->u.i : 0;
}

static void reply_text_bytes(buf_t *out, arena_t *arena, const value_t *v) {
    if (v->kind == VAL_TEXT || v->kind == VAL_JSON) {
        buf_append(out, v->u.str.ptr, v->u.str.len);
        return;
    }
    uint32_t len = 0;
    const char *text = value_to_text(v, arena, &len);
    buf_append(out, text, len);
}

void reply_value_binary(buf_t *out, arena_t *arena, const value_t *v, uint32_t type_oid) {
    CTX_ASSERT(v != NULL && !value_is_null(v));
    switch (type_oid) {
    case PGW_OID_BOOL:
        buf_append_u8(out, v->kind == VAL_BOOL ? (uint8_t)v->u.b : (uint8_t)(reply_as_int(v) != 0));
        return;
    case PGW_OID_INT2:
        buf_append_u16be(out, (uint16_t)(int16_t)reply_as_int(v));
        return;
    case PGW_OID_INT4:
    case PGW_OID_OID:
    case PGW_OID_REGCLASS:
        buf_append_u32be(out, (uint32_t)reply_as_int(v));
        return;
    case PGW_OID_INT8:
        buf_append_u64be(out, (uint64_t)reply_as_int(v));
        return;
    case PGW_OID_FLOAT4: {
        float f = (float)reply_as_double(v);
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        buf_append_u32be(out, bits);
        return;
    }
    case PGW_OID_FLOAT8: {
        double d = reply_as_double(v);
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        buf_append_u64be(out, bits);
        return;
    }
    case PGW_OID_JSONB:
        buf_append_u8(out, 1);
        reply_text_bytes(out, arena, v);
        return;
    case PGW_OID_VECTOR:
        if (v->kind == VAL_VECTOR) {
            buf_append_u16be(out, (uint16_t)v->u.vec.dim);
            buf_append_u16be(out, 0);
            for (uint32_t i = 0; i < v->u.vec.dim; i++) {
                uint32_t bits;
                memcpy(&bits, &v->u.vec.data[i], sizeof(bits));
                buf_append_u32be(out, bits);
            }
            return;
        }
        break;
    default:
        break;
    }
    reply_text_bytes(out, arena, v);
}

int reply_data_rows(buf_t *out, arena_t *arena, const sql_result_t *result, uint64_t first,
                    uint64_t count, const int16_t *formats, ctx_err_t *err) {
    CTX_ASSERT(first + count <= result->nrows);
    CTX_ASSERT(result->ncols >= 0 && result->ncols <= PGW_FIELDS_MAX);
    for (uint64_t r = first; r < first + count; r++) {
        const value_t *row = &result->rows[r * (uint64_t)result->ncols];
        size_t mark = pgw_data_row_begin(out, (uint16_t)result->ncols);
        for (int c = 0; c < result->ncols; c++) {
            if (value_is_null(&row[c])) {
                pgw_data_row_null(out);
                continue;
            }
            size_t value_mark = pgw_data_row_value_begin(out);
            if (formats != NULL && formats[c] == PGW_FORMAT_BINARY) {
                reply_value_binary(out, arena, &row[c], result->cols[c].type_oid);
            } else {
                reply_text_bytes(out, arena, &row[c]);
            }
            pgw_data_row_value_end(out, value_mark);
        }
        if (pgw_msg_end(out, mark) < 0) {
            return ctx_err_set(err, CTX_ELIMIT, "result row is too large to send");
        }
    }
    return 0;
}

int reply_complete(buf_t *out, const char *tag, const sql_result_t *result, ctx_err_t *err) {
    CTX_ASSERT(tag != NULL);
    if (pgw_encode_command_complete(out, tag) < 0) {
        return ctx_err_set(err, CTX_EINTERNAL, "command tag is too long");
    }
    for (int i = 0; result != NULL && i < result->nparam_changes; i++) {
        const sql_param_change_t *change = &result->param_changes[i];
        if (pgw_encode_parameter_status(out, change->name, change->value) < 0) {
            return ctx_err_set(err, CTX_ELIMIT, "parameter value is too long");
        }
    }
    return 0;
}

int reply_result(buf_t *out, arena_t *arena, const sql_result_t *result, ctx_err_t *err) {
    reply_notices(out, result);
    if (result->has_rows) {
        if (reply_row_description(out, arena, result, NULL, err) < 0 ||
            reply_data_rows(out, arena, result, 0, result->nrows, NULL, err) < 0) {
            return err->code;
        }
    }
    return reply_complete(out, result->tag, result, err);
}

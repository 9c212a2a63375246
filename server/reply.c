/*
 * reply.c — results to backend messages (see reply.h).
 *
 * Text format is the engine's output function (value_to_text). Binary format is the engine's
 * send function of the column's type OID (engine/types/binary.h, one pair per type of
 * common/pgtypes.h, shared with Bind's receive).
 */
#include "reply.h"

#include "binary.h"
#include "pgwire.h"

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

static void reply_text_bytes(buf_t *out, arena_t *arena, const value_t *v) {
    if (v->kind == VAL_TEXT || v->kind == VAL_JSON) {
        buf_append(out, v->u.str.ptr, v->u.str.len);
        return;
    }
    uint32_t len = 0;
    const char *text = value_to_text(v, arena, &len);
    buf_append(out, text, len);
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
                binary_send(out, arena, &row[c], result->cols[c].type_oid);
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

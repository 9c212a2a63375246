/*
 * pgwire_encode.c — encoding of backend (server → client) messages into a buf_t.
 *
 * Every message is written in place: pgw_msg_begin() appends the type byte and a zero length
 * placeholder, the body is appended with buf_append_*, and pgw_msg_end() back-patches the length
 * with buf_patch_u32be(). No message is built in a temporary buffer, so a DataRow costs only the
 * appends of its values (no per-row malloc; buf grows geometrically and is reused). The mark
 * returned by begin is an offset from the buffer's unconsumed start, not an absolute one: buf
 * compacts lazily inside appends (moving data to offset 0 when start > 0), which would silently
 * invalidate an absolute offset. When a message turns out too long for the Int32 length field,
 * pgw_msg_end() truncates it away so the stream never carries half a message.
 *
 * Backend message layouts (Int32 length counts itself, not the type byte):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     Byte1 type
 *   1       4     Int32 length = 4 + body bytes
 *   5       ...   body:
 *   'R' Authentication  Int32 code: 0 ok | 3 cleartext | 5 MD5 + Byte4 salt | 10 SASL + String
 *                       mechanism × n + Byte1 0 | 11 SASLContinue + data | 12 SASLFinal + data
 *   'S' ParameterStatus String name, String value
 *   'K' BackendKeyData  Int32 pid, Int32 secret key
 *   'Z' ReadyForQuery   Byte1 'I' | 'T' | 'E'
 *   'v' NegotiateProtocolVersion  Int32 newest minor, Int32 n, String option × n
 *   'T' RowDescription  Int16 n, (String name, Int32 table oid, Int16 attnum, Int32 type oid,
 *                       Int16 typlen, Int32 typmod, Int16 format) × n
 *   'D' DataRow         Int16 n, (Int32 len (-1 = NULL), Byte × len) × n
 *   'C' CommandComplete String tag           'I' EmptyQueryResponse  (empty)
 *   'E' ErrorResponse / 'N' NoticeResponse   (Byte1 code, String value)*, Byte1 0
 *                       codes written: S, V, C, M, then D, H, P when set (PostgreSQL's order)
 *   '1' ParseComplete, '2' BindComplete, '3' CloseComplete, 'n' NoData, 's' PortalSuspended,
 *   'c' CopyDone: empty
 *   't' ParameterDescription  Int16 n, Int32 oid × n
 *   'G' CopyInResponse / 'H' CopyOutResponse  Int8 format, Int16 n, Int16 format × n
 *   'd' CopyData        Byte × n
 * The SSLRequest/GSSENCRequest answer is one bare byte, 'S' or 'N', without type or length.
 */
#include "pgwire.h"

#include <string.h>

enum { PGW_HEADER_BYTES = 5, PGW_LENGTH_MAX = INT32_MAX };

/* ---- Message framing ------------------------------------------------------------------------- */

size_t pgw_msg_begin(buf_t *buf, uint8_t type) {
    CTX_ASSERT(buf != NULL);
    CTX_ASSERT(type != 0);
    size_t mark = buf_size(buf);
    buf_append_u8(buf, type);
    buf_append_u32be(buf, 0);
    return mark;
}

int pgw_msg_end(buf_t *buf, size_t mark) {
    CTX_ASSERT(mark + PGW_HEADER_BYTES <= buf_size(buf));
    size_t length = buf_size(buf) - mark - 1;
    if (length > (size_t)PGW_LENGTH_MAX) {
        buf->len = buf->start + mark; /* drop the partial message */
        return ctx_err_set(NULL, CTX_ELIMIT, "message too long");
    }
    buf_patch_u32be(buf, buf->start + mark + 1, (uint32_t)length);
    return 0;
}

/* A message without body. */
static void pgw_encode_empty(buf_t *buf, uint8_t type) {
    size_t mark = pgw_msg_begin(buf, type);
    int rc = pgw_msg_end(buf, mark);
    CTX_ASSERT(rc == 0);
}

/* Ends a message whose size the caller controls, asserting the fixed-size ones. */
static void pgw_msg_end_fixed(buf_t *buf, size_t mark) {
    int rc = pgw_msg_end(buf, mark);
    CTX_ASSERT(rc == 0);
}

/* Appends a byte count that must fit an Int32. */
static void pgw_append_len(buf_t *buf, size_t len) {
    CTX_ASSERT(len <= (size_t)PGW_LENGTH_MAX);
    buf_append_u32be(buf, (uint32_t)len);
}

void pgw_encode_ssl_answer(buf_t *buf, bool accept) {
    buf_append_u8(buf, accept ? 'S' : 'N');
}

/* ---- Authentication -------------------------------------------------------------------------- */

enum {
    PGW_AUTH_OK = 0,
    PGW_AUTH_CLEARTEXT = 3,
    PGW_AUTH_MD5 = 5,
    PGW_AUTH_SASL = 10,
    PGW_AUTH_SASL_CONTINUE = 11,
    PGW_AUTH_SASL_FINAL = 12,
};

static void pgw_encode_auth_code(buf_t *buf, uint32_t code) {
    size_t mark = pgw_msg_begin(buf, 'R');
    buf_append_u32be(buf, code);
    pgw_msg_end_fixed(buf, mark);
}

void pgw_encode_auth_ok(buf_t *buf) {
    pgw_encode_auth_code(buf, PGW_AUTH_OK);
}

void pgw_encode_auth_cleartext(buf_t *buf) {
    pgw_encode_auth_code(buf, PGW_AUTH_CLEARTEXT);
}

void pgw_encode_auth_md5(buf_t *buf, const uint8_t salt[4]) {
    CTX_ASSERT(salt != NULL);
    size_t mark = pgw_msg_begin(buf, 'R');
    buf_append_u32be(buf, PGW_AUTH_MD5);
    buf_append(buf, salt, 4);
    pgw_msg_end_fixed(buf, mark);
}

int pgw_encode_auth_sasl(buf_t *buf, const char *const *mechanisms, size_t count) {
    CTX_ASSERT(mechanisms != NULL);
    CTX_ASSERT(count >= 1);
    size_t mark = pgw_msg_begin(buf, 'R');
    buf_append_u32be(buf, PGW_AUTH_SASL);
    for (size_t i = 0; i < count; i++) {
        CTX_ASSERT(mechanisms[i] != NULL && mechanisms[i][0] != '\0');
        buf_append_cstr(buf, mechanisms[i]);
    }
    buf_append_u8(buf, 0);
    return pgw_msg_end(buf, mark);
}

static int pgw_encode_auth_data(buf_t *buf, uint32_t code, const uint8_t *data, size_t len) {
    CTX_ASSERT(data != NULL || len == 0);
    size_t mark = pgw_msg_begin(buf, 'R');
    buf_append_u32be(buf, code);
    buf_append(buf, data, len);
    return pgw_msg_end(buf, mark);
}

int pgw_encode_auth_sasl_continue(buf_t *buf, const uint8_t *data, size_t len) {
    return pgw_encode_auth_data(buf, PGW_AUTH_SASL_CONTINUE, data, len);
}

int pgw_encode_auth_sasl_final(buf_t *buf, const uint8_t *data, size_t len) {
    return pgw_encode_auth_data(buf, PGW_AUTH_SASL_FINAL, data, len);
}

/* ---- Session --------------------------------------------------------------------------------- */

int pgw_encode_parameter_status(buf_t *buf, const char *name, const char *value) {
    CTX_ASSERT(name != NULL && name[0] != '\0');
    CTX_ASSERT(value != NULL);
    size_t mark = pgw_msg_begin(buf, 'S');
    buf_append_cstr(buf, name);
    buf_append_cstr(buf, value);
    return pgw_msg_end(buf, mark);
}

void pgw_encode_backend_key_data(buf_t *buf, int32_t pid, int32_t secret) {
    size_t mark = pgw_msg_begin(buf, 'K');
    buf_append_u32be(buf, (uint32_t)pid);
    buf_append_u32be(buf, (uint32_t)secret);
    pgw_msg_end_fixed(buf, mark);
}

void pgw_encode_ready_for_query(buf_t *buf, pgw_txn_status_t status) {
    CTX_ASSERT(status == PGW_TXN_IDLE || status == PGW_TXN_BLOCK || status == PGW_TXN_FAILED);
    size_t mark = pgw_msg_begin(buf, 'Z');
    buf_append_u8(buf, (uint8_t)status);
    pgw_msg_end_fixed(buf, mark);
}

int pgw_encode_negotiate_protocol_version(buf_t *buf, uint32_t minor_supported,
                                          const char *const *unrecognized, size_t count) {
    CTX_ASSERT(unrecognized != NULL || count == 0);
    CTX_ASSERT(count <= PGW_STARTUP_BYTES_MAX / 2);
    size_t mark = pgw_msg_begin(buf, 'v');
    buf_append_u32be(buf, minor_supported);
    buf_append_u32be(buf, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        buf_append_cstr(buf, unrecognized[i]);
    }
    return pgw_msg_end(buf, mark);
}

/* ---- Results --------------------------------------------------------------------------------- */

int pgw_encode_row_description(buf_t *buf, const pgw_field_t *fields, size_t count) {
    CTX_ASSERT(fields != NULL || count == 0);
    if (count > PGW_FIELDS_MAX) {
        return ctx_err_set(NULL, CTX_ELIMIT, "too many fields");
    }
    size_t mark = pgw_msg_begin(buf, 'T');
    buf_append_u16be(buf, (uint16_t)count);
    for (size_t i = 0; i < count; i++) {
        const pgw_field_t *f = &fields[i];
        CTX_ASSERT(f->name != NULL);
        CTX_ASSERT(f->format == PGW_FORMAT_TEXT || f->format == PGW_FORMAT_BINARY);
        buf_append_cstr(buf, f->name);
        buf_append_u32be(buf, f->table_oid);
        buf_append_u16be(buf, (uint16_t)f->column_attnum);
        buf_append_u32be(buf, f->type_oid);
        buf_append_u16be(buf, (uint16_t)f->type_len);
        buf_append_u32be(buf, (uint32_t)f->type_mod);
        buf_append_u16be(buf, (uint16_t)f->format);
    }
    return pgw_msg_end(buf, mark);
}

size_t pgw_data_row_begin(buf_t *buf, uint16_t count) {
    CTX_ASSERT(count <= PGW_FIELDS_MAX);
    size_t mark = pgw_msg_begin(buf, 'D');
    buf_append_u16be(buf, count);
    return mark;
}

void pgw_data_row_value(buf_t *buf, const void *data, size_t len) {
    CTX_ASSERT(data != NULL || len == 0);
    pgw_append_len(buf, len);
    buf_append(buf, data, len);
}

void pgw_data_row_null(buf_t *buf) {
    buf_append_u32be(buf, UINT32_MAX); /* -1 */
}

size_t pgw_data_row_value_begin(buf_t *buf) {
    size_t value_mark = buf_size(buf);
    buf_append_u32be(buf, 0);
    return value_mark;
}

void pgw_data_row_value_end(buf_t *buf, size_t value_mark) {
    CTX_ASSERT(value_mark + 4 <= buf_size(buf));
    size_t len = buf_size(buf) - value_mark - 4;
    CTX_ASSERT(len <= (size_t)PGW_LENGTH_MAX);
    buf_patch_u32be(buf, buf->start + value_mark, (uint32_t)len);
}

int pgw_encode_data_row(buf_t *buf, const pgw_value_t *values, size_t count) {
    CTX_ASSERT(values != NULL || count == 0);
    if (count > PGW_FIELDS_MAX) {
        return ctx_err_set(NULL, CTX_ELIMIT, "too many fields");
    }
    size_t mark = pgw_data_row_begin(buf, (uint16_t)count);
    for (size_t i = 0; i < count; i++) {
        CTX_ASSERT(values[i].len >= -1);
        if (values[i].len == -1) {
            pgw_data_row_null(buf);
        } else {
            pgw_data_row_value(buf, values[i].data, (size_t)values[i].len);
        }
    }
    return pgw_msg_end(buf, mark);
}

int pgw_encode_command_complete(buf_t *buf, const char *tag) {
    CTX_ASSERT(tag != NULL);
    size_t mark = pgw_msg_begin(buf, 'C');
    buf_append_cstr(buf, tag);
    return pgw_msg_end(buf, mark);
}

void pgw_encode_empty_query(buf_t *buf) {
    pgw_encode_empty(buf, 'I');
}

/* ---- Errors and notices ---------------------------------------------------------------------- */

static void pgw_error_field(buf_t *buf, uint8_t code, const char *value) {
    if (value != NULL && value[0] != '\0') {
        buf_append_u8(buf, code);
        buf_append_cstr(buf, value);
    }
}

static int pgw_encode_report(buf_t *buf, uint8_t type, const pgw_error_t *e) {
    CTX_ASSERT(e != NULL && e->severity != NULL && e->message != NULL);
    CTX_ASSERT(e->sqlstate != NULL && strlen(e->sqlstate) == 5);
    size_t mark = pgw_msg_begin(buf, type);
    pgw_error_field(buf, 'S', e->severity);
    pgw_error_field(buf, 'V', e->severity_nonlocal != NULL ? e->severity_nonlocal : e->severity);
    pgw_error_field(buf, 'C', e->sqlstate);
    buf_append_u8(buf, 'M'); /* always present, even when empty */
    buf_append_cstr(buf, e->message);
    pgw_error_field(buf, 'D', e->detail);
    pgw_error_field(buf, 'H', e->hint);
    if (e->position > 0) {
        buf_append_u8(buf, 'P');
        buf_printf(buf, "%d", (int)e->position);
        buf_append_u8(buf, 0); /* buf_printf does not count the NUL it writes */
    }
    pgw_error_field(buf, 'W', e->context);
    buf_append_u8(buf, 0);
    return pgw_msg_end(buf, mark);
}

int pgw_encode_error(buf_t *buf, const pgw_error_t *error) {
    return pgw_encode_report(buf, 'E', error);
}

int pgw_encode_notice(buf_t *buf, const pgw_error_t *error) {
    return pgw_encode_report(buf, 'N', error);
}

static int pgw_encode_report_ctx(buf_t *buf, uint8_t type, const char *severity,
                                 const ctx_err_t *err) {
    CTX_ASSERT(err != NULL && severity != NULL);
    pgw_error_t e = {
        .severity = severity,
        .sqlstate = ctx_sqlstate(err->code),
        .message = err->message[0] != '\0' ? err->message : ctx_strerror(err->code),
        .detail = err->detail,
        .hint = err->hint,
        .position = err->position,
        .context = err->context,
    };
    return pgw_encode_report(buf, type, &e);
}

int pgw_encode_error_ctx(buf_t *buf, const char *severity, const ctx_err_t *err) {
    return pgw_encode_report_ctx(buf, 'E', severity, err);
}

int pgw_encode_notice_ctx(buf_t *buf, const char *severity, const ctx_err_t *err) {
    return pgw_encode_report_ctx(buf, 'N', severity, err);
}

/* ---- Extended query -------------------------------------------------------------------------- */

void pgw_encode_parse_complete(buf_t *buf) {
    pgw_encode_empty(buf, '1');
}

void pgw_encode_bind_complete(buf_t *buf) {
    pgw_encode_empty(buf, '2');
}

void pgw_encode_close_complete(buf_t *buf) {
    pgw_encode_empty(buf, '3');
}

void pgw_encode_no_data(buf_t *buf) {
    pgw_encode_empty(buf, 'n');
}

void pgw_encode_portal_suspended(buf_t *buf) {
    pgw_encode_empty(buf, 's');
}

int pgw_encode_parameter_description(buf_t *buf, const uint32_t *oids, size_t count) {
    CTX_ASSERT(oids != NULL || count == 0);
    if (count > PGW_PARAMS_MAX) {
        return ctx_err_set(NULL, CTX_ELIMIT, "too many parameters");
    }
    size_t mark = pgw_msg_begin(buf, 't');
    buf_append_u16be(buf, (uint16_t)count);
    for (size_t i = 0; i < count; i++) {
        buf_append_u32be(buf, oids[i]);
    }
    return pgw_msg_end(buf, mark);
}

/* ---- COPY ------------------------------------------------------------------------------------ */

static int pgw_encode_copy_response(buf_t *buf, uint8_t type, int8_t format,
                                    const int16_t *column_formats, size_t count) {
    CTX_ASSERT(format == PGW_FORMAT_TEXT || format == PGW_FORMAT_BINARY);
    CTX_ASSERT(column_formats != NULL || count == 0);
    if (count > PGW_FIELDS_MAX) {
        return ctx_err_set(NULL, CTX_ELIMIT, "too many columns");
    }
    size_t mark = pgw_msg_begin(buf, type);
    buf_append_u8(buf, (uint8_t)format);
    buf_append_u16be(buf, (uint16_t)count);
    for (size_t i = 0; i < count; i++) {
        buf_append_u16be(buf, (uint16_t)column_formats[i]);
    }
    return pgw_msg_end(buf, mark);
}

int pgw_encode_copy_in_response(buf_t *buf, int8_t format, const int16_t *column_formats,
                                size_t count) {
    return pgw_encode_copy_response(buf, 'G', format, column_formats, count);
}

int pgw_encode_copy_out_response(buf_t *buf, int8_t format, const int16_t *column_formats,
                                 size_t count) {
    return pgw_encode_copy_response(buf, 'H', format, column_formats, count);
}

int pgw_encode_copy_data(buf_t *buf, const void *data, size_t len) {
    CTX_ASSERT(data != NULL || len == 0);
    if (len > (size_t)PGW_LENGTH_MAX - 4) {
        return ctx_err_set(NULL, CTX_ELIMIT, "message too long");
    }
    size_t mark = pgw_msg_begin(buf, 'd');
    buf_append(buf, data, len);
    return pgw_msg_end(buf, mark);
}

void pgw_encode_copy_done(buf_t *buf) {
    pgw_encode_empty(buf, 'c');
}

/* ---- Types ----------------------------------------------------------------------------------- */

int16_t pgw_type_len(uint32_t type_oid) {
    switch (type_oid) {
#define PGW_X_LEN(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io, send,  \
                  recv)                                                                            \
    case PGW_OID_##id:                                                                             \
        return PGW_TYPLEN_##id;
        PGTYPES_LIST(PGW_X_LEN)
#undef PGW_X_LEN
    default:
        return -1; /* an OID no one listed: varlena, as PostgreSQL's extension types mostly are */
    }
}

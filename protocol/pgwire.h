/*
 * pgwire.h — PostgreSQL v3 wire protocol codec: bytes in, messages out; messages in, bytes out.
 *
 * A pure codec: no sockets, no globals, no clock. Decoding never allocates except from the arena
 * the caller passes (arrays only); strings and byte values in decoded messages point INTO the
 * frame bytes the caller handed in (zero copy), so they stay valid exactly as long as those input
 * bytes are left untouched (for a buf_t: until the next buf_consume/buf_reserve/append on it).
 * Copy what must outlive that. Encoding appends to a caller-owned buf_t and never fails except
 * when a message could not be represented on the wire (length > INT32_MAX, too many fields).
 *
 * Typical server loop:
 *   rc = pgw_frame(buf_peek(in), buf_size(in), startup, max, &frame, &err);
 *   rc == 0 → read more; rc < 0 → send ErrorResponse FATAL 08P01 and close;
 *   rc == 1 → pgw_decode_startup(frame.body, frame.body_len, ...) or pgw_decode(&frame, ...),
 *             act on the message, then buf_consume(in, frame.frame_bytes).
 *
 * Every decode error is CTX_EPROTOCOL (SQLSTATE 08P01) with a PostgreSQL-style message in err;
 * PostgreSQL treats all of them as fatal to the connection, and so should the caller.
 */
#ifndef CTX_PGWIRE_H
#define CTX_PGWIRE_H

#include "arena.h"
#include "buf.h"
#include "ctx.h"
#include "pgtypes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Limits ---------------------------------------------------------------------------------- */

enum {
    /* Startup-phase packet: its length field (which counts itself) must be in [MIN, MAX]. */
    PGW_STARTUP_BYTES_MIN = 8,
    PGW_STARTUP_BYTES_MAX = 10000,
    /* Default bound for a regular message's length field (counts itself, not the type byte). */
    PGW_MESSAGE_BYTES_DEFAULT = 1 << 30,
    /* Control messages (Sync, Flush, Terminate, Describe, Close, Execute, CopyDone, CopyFail) are
     * bounded tighter, as PostgreSQL does, so garbage is detected before buffering a gigabyte. */
    PGW_SMALL_MESSAGE_BYTES_MAX = 10000,
    /* PasswordMessage / SASL responses (PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH). */
    PGW_AUTH_MESSAGE_BYTES_MAX = 65535,
    /* Parameters of a Parse/Bind (the counts are Int16 on the wire, read unsigned). */
    PGW_PARAMS_MAX = 65535,
    /* Columns of a RowDescription / DataRow (PostgreSQL's MaxTupleAttributeNumber). */
    PGW_FIELDS_MAX = 1664,
    /* Protocol version we implement: 3.0. */
    PGW_PROTOCOL_MAJOR = 3,
    PGW_PROTOCOL_MINOR = 0,
};

/* Special request codes sent in place of a protocol version in the startup phase. */
#define PGW_CODE_CANCEL UINT32_C(80877102) /* 1234.5678 */
#define PGW_CODE_SSL UINT32_C(80877103)    /* 1234.5679 */
#define PGW_CODE_GSSENC UINT32_C(80877104) /* 1234.5680 */
#define PGW_CODE_PROTOCOL_3_0 UINT32_C(196608)

_Static_assert(PGW_STARTUP_BYTES_MIN == 8, "length + request code");
_Static_assert(PGW_STARTUP_BYTES_MAX < PGW_MESSAGE_BYTES_DEFAULT, "startup is a small message");
_Static_assert(PGW_SMALL_MESSAGE_BYTES_MAX <= PGW_AUTH_MESSAGE_BYTES_MAX, "limit order");
_Static_assert(PGW_PARAMS_MAX <= UINT16_MAX, "parameter count is an Int16 on the wire");
_Static_assert(PGW_FIELDS_MAX <= INT16_MAX, "field count is an Int16 on the wire");
_Static_assert(PGW_CODE_PROTOCOL_3_0 == (3u << 16), "protocol code = major << 16 | minor");
_Static_assert(PGW_CODE_SSL == (1234u << 16 | 5679u), "SSLRequest code");

/* ---- Type OIDs (PostgreSQL's), their typlen, format codes ------------------------------------ */
/* PGW_OID_<id> and PGW_TYPLEN_<id> (pg_type.typlen: > 0 fixed width, -1 varlena, -2 C string) of
 * every type of common/pgtypes.h, the one list of types that pg_type and the engine read too. */

enum {
#define PGW_X_OID(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io, send,  \
                  recv)                                                                            \
    PGW_OID_##id = PGT_OID_##id,
    PGTYPES_LIST(PGW_X_OID)
#undef PGW_X_OID
};

enum {
#define PGW_X_TYPLEN(id, typname, oid, array, elem, typlen, category, nsp, sqlname, ctype, io,     \
                     send, recv)                                                                   \
    PGW_TYPLEN_##id = PGT_TYPLEN_##id,
    PGTYPES_LIST(PGW_X_TYPLEN)
#undef PGW_X_TYPLEN
};

/* The typlen of a type OID of common/pgtypes.h; -1 (varlena) for any other OID. */
int16_t pgw_type_len(uint32_t type_oid);

enum { PGW_FORMAT_TEXT = 0, PGW_FORMAT_BINARY = 1 };

/* ReadyForQuery transaction status. */
typedef enum {
    PGW_TXN_IDLE = 'I',   /* not in a transaction block */
    PGW_TXN_BLOCK = 'T',  /* in a transaction block */
    PGW_TXN_FAILED = 'E', /* in a failed transaction block */
} pgw_txn_status_t;

/* ---- Framing --------------------------------------------------------------------------------- */

typedef struct pgw_frame {
    uint8_t type;        /* 0 for a startup-phase packet, else the message type byte */
    const uint8_t *body; /* points into the caller's data: the bytes after the length field */
    size_t body_len;     /* length field - 4 */
    size_t frame_bytes;  /* bytes to consume from data: 4 + body_len (+1 for the type byte) */
} pgw_frame_t;

/*
 * Finds the first frame in data[0, len). startup_phase selects the layout: startup packets
 * (Int32 length, body) before the StartupMessage was accepted, else regular messages (Byte1
 * type, Int32 length, body). max_message_bytes bounds a regular message's length field (use
 * PGW_MESSAGE_BYTES_DEFAULT); control messages are further bounded by PGW_SMALL_MESSAGE_BYTES_MAX
 * and 'p' by PGW_AUTH_MESSAGE_BYTES_MAX; startup packets by PGW_STARTUP_BYTES_MIN/MAX.
 *
 * Returns 1 and fills *out when a whole frame is present (more bytes may follow: consume
 * out->frame_bytes and call again); 0 when more bytes are needed (*out untouched); CTX_EPROTOCOL
 * with a message in err when the bytes cannot start a valid frame: unknown type byte (detected as
 * soon as 1 byte is there), bad length (as soon as the length field is there). Never reads beyond
 * data + len. Precondition: max_message_bytes >= 5; data != NULL unless len == 0.
 */
int pgw_frame(const uint8_t *data, size_t len, bool startup_phase, uint32_t max_message_bytes,
              pgw_frame_t *out, ctx_err_t *err);

/* ---- Startup phase --------------------------------------------------------------------------- */

typedef enum {
    PGW_STARTUP_SSL = 1, /* SSLRequest: answer pgw_encode_ssl_answer(), then read again */
    PGW_STARTUP_GSSENC,  /* GSSENCRequest: answer 'N' */
    PGW_STARTUP_CANCEL,  /* CancelRequest: act on pid/secret, reply nothing, close */
    PGW_STARTUP_MESSAGE, /* StartupMessage 3.x */
} pgw_startup_kind_t;

typedef struct pgw_param {
    const char *name;  /* points into the frame body */
    const char *value; /* points into the frame body */
} pgw_param_t;

typedef struct pgw_startup {
    pgw_startup_kind_t kind;
    /* PGW_STARTUP_CANCEL */
    int32_t cancel_pid;
    int32_t cancel_secret;
    /* PGW_STARTUP_MESSAGE. protocol_minor > 0: the client asked for 3.x; answer with
     * pgw_encode_negotiate_protocol_version(buf, 0, unrecognized...) and continue in 3.0. */
    uint16_t protocol_major; /* always 3 */
    uint16_t protocol_minor;
    const char *user;             /* never NULL nor "" on success */
    const char *database;         /* NULL when absent (PostgreSQL then defaults to user) */
    const char *application_name; /* NULL when absent */
    const char *options;          /* NULL when absent (command-line style "-c x=y") */
    pgw_param_t *params;          /* every other pair (GUCs, "replication"), in wire order */
    size_t params_count;
    const char **unrecognized; /* names of "_pq_." protocol options (none is recognized) */
    size_t unrecognized_count;
} pgw_startup_t;

/*
 * Decodes a startup-phase frame body (frame.body / frame.body_len from pgw_frame with
 * startup_phase). SSLRequest and GSSENCRequest must be exactly 4 bytes, CancelRequest 12; a
 * StartupMessage is name/value NUL-terminated pairs ended by an empty name as its last byte, and
 * must carry a non-empty "user" (later duplicates of a known name win). A major version other
 * than 3 fails with "unsupported frontend protocol %u.%u: ...".
 *
 * Returns 0, or CTX_EPROTOCOL with a message in err (*out then unspecified). Strings point into
 * body; the params/unrecognized arrays come from arena (valid until its reset). body may be
 * NULL when len == 0.
 */
int pgw_decode_startup(const uint8_t *body, size_t len, arena_t *arena, pgw_startup_t *out,
                       ctx_err_t *err);

/* ---- Regular frontend messages --------------------------------------------------------------- */

typedef enum {
    PGW_MSG_BIND = 'B',
    PGW_MSG_CLOSE = 'C',
    PGW_MSG_COPY_DATA = 'd',
    PGW_MSG_COPY_DONE = 'c',
    PGW_MSG_COPY_FAIL = 'f',
    PGW_MSG_DESCRIBE = 'D',
    PGW_MSG_EXECUTE = 'E',
    PGW_MSG_FLUSH = 'H',
    PGW_MSG_PARSE = 'P',
    PGW_MSG_PASSWORD = 'p', /* PasswordMessage, SASLInitialResponse or SASLResponse */
    PGW_MSG_QUERY = 'Q',
    PGW_MSG_SYNC = 'S',
    PGW_MSG_TERMINATE = 'X',
} pgw_msg_type_t;

/* A parameter value or raw payload. len == -1 means SQL NULL (data then NULL). */
typedef struct pgw_value {
    const uint8_t *data;
    int32_t len;
} pgw_value_t;

typedef struct pgw_bytes {
    const uint8_t *data;
    size_t len;
} pgw_bytes_t;

typedef struct pgw_query {
    const char *sql; /* NUL-terminated (the message's own terminator) */
    size_t sql_len;  /* strlen(sql) */
} pgw_query_t;

typedef struct pgw_parse {
    const char *statement; /* "" = unnamed statement */
    const char *query;
    size_t query_len;
    uint16_t param_count; /* number of types specified (may be fewer than placeholders) */
    uint32_t *param_oids; /* arena; 0 = unspecified; NULL when param_count == 0 */
} pgw_parse_t;

typedef struct pgw_bind {
    const char *portal;          /* "" = unnamed portal */
    const char *statement;       /* "" = unnamed statement */
    uint16_t param_format_count; /* 0 (all text), 1 (applies to all) or == param_count */
    int16_t *param_formats;      /* arena; as sent (caller rejects values other than 0/1) */
    uint16_t param_count;
    pgw_value_t *params;          /* arena; data points into the frame body */
    uint16_t result_format_count; /* 0 (all text), 1 (all) or one per result column */
    int16_t *result_formats;      /* arena; as sent */
} pgw_bind_t;

/* Describe / Close target. */
typedef struct pgw_target {
    char kind;        /* 'S' statement or 'P' portal */
    const char *name; /* "" = unnamed */
} pgw_target_t;

typedef struct pgw_execute {
    const char *portal;
    uint32_t rows_max; /* 0 = no limit (PostgreSQL reads the Int32 unsigned) */
} pgw_execute_t;

typedef struct pgw_msg {
    pgw_msg_type_t type;
    union {
        pgw_query_t query;     /* 'Q' */
        pgw_parse_t parse;     /* 'P' */
        pgw_bind_t bind;       /* 'B' */
        pgw_target_t describe; /* 'D' */
        pgw_target_t close;    /* 'C' */
        pgw_execute_t execute; /* 'E' */
        pgw_bytes_t copy_data; /* 'd' */
        const char *copy_fail; /* 'f': the error message */
        pgw_bytes_t password;  /* 'p': raw body; see pgw_decode_password/_sasl_initial */
    };                         /* 'S', 'H', 'X', 'c': no payload */
} pgw_msg_t;

/*
 * Decodes a regular frame (from pgw_frame without startup_phase). Every string must be
 * NUL-terminated inside the body, every count must fit the bytes that remain, value lengths must
 * be >= -1, and nothing may follow the last field. Returns 0, or CTX_EPROTOCOL with a message in
 * err: "invalid frontend message type %d" for an unknown type byte, else "invalid <Name>
 * message: <reason>". Strings/values point into frame->body; arrays come from arena.
 */
int pgw_decode(const pgw_frame_t *frame, arena_t *arena, pgw_msg_t *out, ctx_err_t *err);

/*
 * The format code of Bind parameter i (< bind->param_count) or of result column col, applying
 * the protocol's rule: no codes = text, one code = for all, else one per item. For a result
 * column with result_format_count > 1 the caller must first check it equals the column count.
 */
int16_t pgw_bind_param_format(const pgw_bind_t *bind, uint16_t i);
int16_t pgw_bind_result_format(const pgw_bind_t *bind, uint16_t col);

/* Interprets a 'p' body as a cleartext/MD5 PasswordMessage: one String, nothing after it. */
int pgw_decode_password(const pgw_bytes_t *body, const char **password, ctx_err_t *err);

/* Interprets a 'p' body as SASLInitialResponse: String mechanism, Int32 length (-1 = no data),
 * data. *data points into body. (A SASLResponse is the raw body itself.) */
int pgw_decode_sasl_initial(const pgw_bytes_t *body, const char **mechanism, pgw_value_t *data,
                            ctx_err_t *err);

/* ---- Encoders (backend messages) ------------------------------------------------------------- */
/*
 * Encoders append one whole message to buf. Fixed-size ones return void. Those with
 * caller-controlled sizes return 0, or CTX_ELIMIT when the message cannot be represented
 * (length > INT32_MAX, more than PGW_FIELDS_MAX columns); buf is then left exactly as before the
 * call. String arguments must be non-NULL unless stated otherwise.
 */

/* Starts a message: appends type + placeholder length; returns a mark for pgw_msg_end. The mark
 * is relative to buf's unconsumed start, so lazy compaction during appends cannot invalidate it;
 * the caller must not buf_consume() between begin and end. Append the body with buf_append_*. */
size_t pgw_msg_begin(buf_t *buf, uint8_t type);
/* Back-patches the length. On CTX_ELIMIT the partial message is removed from buf. */
int pgw_msg_end(buf_t *buf, size_t mark);

/* The single-byte answer to SSLRequest ('S' accept / 'N' refuse) and GSSENCRequest ('N'). */
void pgw_encode_ssl_answer(buf_t *buf, bool accept);

void pgw_encode_auth_ok(buf_t *buf);                         /* R, 0 */
void pgw_encode_auth_cleartext(buf_t *buf);                  /* R, 3 */
void pgw_encode_auth_md5(buf_t *buf, const uint8_t salt[4]); /* R, 5, salt */
/* R, 10, mechanism names (e.g. "SCRAM-SHA-256"), empty terminator. count >= 1. */
int pgw_encode_auth_sasl(buf_t *buf, const char *const *mechanisms, size_t count);
int pgw_encode_auth_sasl_continue(buf_t *buf, const uint8_t *data, size_t len); /* R, 11 */
int pgw_encode_auth_sasl_final(buf_t *buf, const uint8_t *data, size_t len);    /* R, 12 */

int pgw_encode_parameter_status(buf_t *buf, const char *name, const char *value); /* S */
void pgw_encode_backend_key_data(buf_t *buf, int32_t pid, int32_t secret);        /* K */
void pgw_encode_ready_for_query(buf_t *buf, pgw_txn_status_t status);             /* Z */
/* v: newest minor version we support and the "_pq_." options we did not recognize. */
int pgw_encode_negotiate_protocol_version(buf_t *buf, uint32_t minor_supported,
                                          const char *const *unrecognized, size_t count);

/* One RowDescription field. table_oid/column_attnum are 0 for computed columns. */
typedef struct pgw_field {
    const char *name;
    uint32_t table_oid;
    int16_t column_attnum;
    uint32_t type_oid;
    int16_t type_len; /* pg_type.typlen, see pgw_type_len() */
    int32_t type_mod; /* -1 = none */
    int16_t format;   /* PGW_FORMAT_TEXT / PGW_FORMAT_BINARY */
} pgw_field_t;

int pgw_encode_row_description(buf_t *buf, const pgw_field_t *fields, size_t count); /* T */

/* DataRow (D). Either all at once (values[i].len == -1 for NULL) ... */
int pgw_encode_data_row(buf_t *buf, const pgw_value_t *values, size_t count);
/* ... or streamed without building an array: begin, then exactly `count` value/null/
 * value_begin+value_end calls, then pgw_msg_end(buf, mark). count <= PGW_FIELDS_MAX. */
size_t pgw_data_row_begin(buf_t *buf, uint16_t count);
void pgw_data_row_value(buf_t *buf, const void *data, size_t len); /* len <= INT32_MAX */
void pgw_data_row_null(buf_t *buf);
/* Formats a value in place: value_begin, append with buf_printf/buf_append, value_end. */
size_t pgw_data_row_value_begin(buf_t *buf);
void pgw_data_row_value_end(buf_t *buf, size_t value_mark);

int pgw_encode_command_complete(buf_t *buf, const char *tag); /* C, e.g. "SELECT 1" */
void pgw_encode_empty_query(buf_t *buf);                      /* I */

/* ErrorResponse / NoticeResponse fields; each optional one is written only when set. */
typedef struct pgw_error {
    const char *severity;          /* S (localized): ERROR/FATAL/PANIC or NOTICE/WARNING/... */
    const char *severity_nonlocal; /* V; NULL = same as severity */
    const char *sqlstate;          /* C, 5 characters */
    const char *message;           /* M */
    const char *detail;            /* D; NULL or "" = omitted */
    const char *hint;              /* H; NULL or "" = omitted */
    int32_t position;              /* P, 1-based character index into the query; 0 = omitted */
    const char *context;           /* W (e.g. "COPY nodes, line 3"); NULL or "" = omitted */
} pgw_error_t;

int pgw_encode_error(buf_t *buf, const pgw_error_t *error);  /* E */
int pgw_encode_notice(buf_t *buf, const pgw_error_t *error); /* N */
/* E or N from a ctx_err_t: C = ctx_sqlstate(err->code), M = err->message (ctx_strerror(code)
 * when empty), D/H/P/W when set. severity e.g. "ERROR", "FATAL" (E) or "NOTICE", "WARNING" (N). */
int pgw_encode_error_ctx(buf_t *buf, const char *severity, const ctx_err_t *err);
int pgw_encode_notice_ctx(buf_t *buf, const char *severity, const ctx_err_t *err);

void pgw_encode_parse_complete(buf_t *buf);                                           /* 1 */
void pgw_encode_bind_complete(buf_t *buf);                                            /* 2 */
void pgw_encode_close_complete(buf_t *buf);                                           /* 3 */
void pgw_encode_no_data(buf_t *buf);                                                  /* n */
void pgw_encode_portal_suspended(buf_t *buf);                                         /* s */
int pgw_encode_parameter_description(buf_t *buf, const uint32_t *oids, size_t count); /* t */

/* CopyInResponse (G) / CopyOutResponse (H): overall format, then one format per column
 * (all equal to format for text COPY). count <= PGW_FIELDS_MAX. */
int pgw_encode_copy_in_response(buf_t *buf, int8_t format, const int16_t *column_formats,
                                size_t count);
int pgw_encode_copy_out_response(buf_t *buf, int8_t format, const int16_t *column_formats,
                                 size_t count);
int pgw_encode_copy_data(buf_t *buf, const void *data, size_t len); /* d */
void pgw_encode_copy_done(buf_t *buf);                              /* c */

#endif

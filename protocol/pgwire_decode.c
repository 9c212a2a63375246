/*
 * pgwire_decode.c — framing and decoding of frontend (client → server) messages.
 *
 * The codec never owns bytes: pgw_frame() looks at whatever the caller has buffered and says
 * "need more", "here is a whole frame" or "this can never become a valid frame"; the decoders
 * then walk the frame body with a bounds-checked cursor (pgw_rd_t) whose every read checks the
 * bytes that REMAIN, so no arithmetic on untrusted lengths can overflow. Strings are accepted
 * only when their NUL lies inside the body; counts are checked against the remaining bytes
 * (count × smallest item size) before anything is allocated, so a 10-byte message cannot make
 * us allocate a megabyte; and every message must end exactly at its last field. Errors mirror
 * PostgreSQL's wording (postgres.c, pqformat.c) and are all CTX_EPROTOCOL (08P01).
 *
 * Startup-phase packet (no type byte):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     Int32 length, counting itself: 8 .. PGW_STARTUP_BYTES_MAX
 *   4       4     Int32 code: 196608 (3.0) | 3.x | 80877103 SSL | 80877104 GSSENC | 80877102 cancel
 *   8       ...   StartupMessage: (String name, String value)*, Byte1 0 — the 0 is the last byte
 *                 CancelRequest:  Int32 backend pid, Int32 secret key (length exactly 16)
 *                 SSL/GSSENC:     nothing (length exactly 8)
 *
 * Regular message:
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     Byte1 type
 *   1       4     Int32 length, counting itself but not the type byte: 4 .. limit(type)
 *   5       len-4 body
 *
 * Bodies (String = bytes up to and including a NUL):
 *   'Q' Query     String sql
 *   'P' Parse     String statement, String query, Int16 n, Int32 oid × n
 *   'B' Bind      String portal, String statement, Int16 nf, Int16 format × nf,
 *                 Int16 np, (Int32 len (-1 = NULL), Byte × len) × np, Int16 nr, Int16 format × nr
 *   'D' Describe  Byte1 'S'|'P', String name           'C' Close   same as Describe
 *   'E' Execute   String portal, Int32 max rows (0 = all)
 *   'd' CopyData  Byte × (len-4)                        'f' CopyFail String message
 *   'p' Password  Byte × (len-4), meaning set by the authentication exchange
 *   'S' Sync, 'H' Flush, 'X' Terminate, 'c' CopyDone: empty body
 */
#include "pgwire.h"

#include <string.h>

/* Bounds-checked reader over one message body. */
typedef struct pgw_rd {
    const uint8_t *data;
    size_t len;
    size_t pos;
    const char *what; /* message name for error texts */
    ctx_err_t *err;
} pgw_rd_t;

static size_t pgw_rd_left(const pgw_rd_t *rd) {
    CTX_ASSERT(rd->pos <= rd->len);
    return rd->len - rd->pos;
}

static int pgw_rd_fail(pgw_rd_t *rd, const char *reason) {
    return ctx_err_set(rd->err, CTX_EPROTOCOL, "invalid %s message: %s", rd->what, reason);
}

static int pgw_rd_u8(pgw_rd_t *rd, uint8_t *v) {
    if (pgw_rd_left(rd) < 1) {
        return pgw_rd_fail(rd, "insufficient data left in message");
    }
    *v = rd->data[rd->pos];
    rd->pos += 1;
    return 0;
}

static int pgw_rd_u16(pgw_rd_t *rd, uint16_t *v) {
    if (pgw_rd_left(rd) < 2) {
        return pgw_rd_fail(rd, "insufficient data left in message");
    }
    *v = ctx_read_u16be(rd->data + rd->pos);
    rd->pos += 2;
    return 0;
}

static int pgw_rd_u32(pgw_rd_t *rd, uint32_t *v) {
    if (pgw_rd_left(rd) < 4) {
        return pgw_rd_fail(rd, "insufficient data left in message");
    }
    *v = ctx_read_u32be(rd->data + rd->pos);
    rd->pos += 4;
    return 0;
}

/* A String without reporting: false when no NUL lies inside the rest of the body. */
static bool pgw_rd_try_str(pgw_rd_t *rd, const char **s, size_t *slen) {
    size_t left = pgw_rd_left(rd);
    if (left == 0) {
        return false; /* also keeps NULL + 0 (an empty body) out of the arithmetic */
    }
    const uint8_t *start = rd->data + rd->pos;
    const uint8_t *nul = memchr(start, 0, left);
    if (nul == NULL) {
        return false;
    }
    *s = (const char *)start;
    if (slen != NULL) {
        *slen = (size_t)(nul - start);
    }
    rd->pos += (size_t)(nul - start) + 1;
    return true;
}

/* A String: *s points at it inside the body; *slen = strlen (slen may be NULL). */
static int pgw_rd_str(pgw_rd_t *rd, const char **s, size_t *slen) {
    return pgw_rd_try_str(rd, s, slen) ? 0 : pgw_rd_fail(rd, "invalid string in message");
}

/* n bytes as a pointer into the body. */
static int pgw_rd_bytes(pgw_rd_t *rd, size_t n, const uint8_t **p) {
    if (pgw_rd_left(rd) < n) {
        return pgw_rd_fail(rd, "insufficient data left in message");
    }
    CTX_ASSERT(rd->data != NULL); /* a value follows a length field, so the body is not empty */
    *p = rd->data + rd->pos;
    rd->pos += n;
    return 0;
}

/* Checks that `count` items of at least `item_bytes` each can still follow. */
static int pgw_rd_fits(pgw_rd_t *rd, size_t count, size_t item_bytes) {
    CTX_ASSERT(item_bytes > 0);
    if (count > pgw_rd_left(rd) / item_bytes) {
        return pgw_rd_fail(rd, "insufficient data left in message");
    }
    return 0;
}

static int pgw_rd_end(pgw_rd_t *rd) {
    if (pgw_rd_left(rd) != 0) {
        return pgw_rd_fail(rd, "unexpected data after the last field");
    }
    return 0;
}

/* ---- Framing --------------------------------------------------------------------------------- */

/* The length-field bound for a message type, 0 when the type is not a frontend message. */
static uint32_t pgw_type_limit(uint8_t type, uint32_t max_message_bytes) {
    uint32_t small = PGW_SMALL_MESSAGE_BYTES_MAX;
    uint32_t auth = PGW_AUTH_MESSAGE_BYTES_MAX;
    switch (type) {
    case 'Q':
    case 'P':
    case 'B':
    case 'd':
        return max_message_bytes;
    case 'p':
        return auth < max_message_bytes ? auth : max_message_bytes;
    case 'C':
    case 'D':
    case 'E':
    case 'H':
    case 'S':
    case 'X':
    case 'c':
    case 'f':
        return small < max_message_bytes ? small : max_message_bytes;
    default:
        return 0;
    }
}

static int pgw_frame_startup(const uint8_t *data, size_t len, pgw_frame_t *out, ctx_err_t *err) {
    if (len < 4) {
        return 0;
    }
    uint32_t length = ctx_read_u32be(data);
    if (length < PGW_STARTUP_BYTES_MIN || length > PGW_STARTUP_BYTES_MAX) {
        return ctx_err_set(err, CTX_EPROTOCOL, "invalid length of startup packet: %u", length);
    }
    if (len < length) {
        return 0;
    }
    out->type = 0;
    out->body = data + 4;
    out->body_len = length - 4;
    out->frame_bytes = length;
    return 1;
}

static int pgw_frame_regular(const uint8_t *data, size_t len, uint32_t max_message_bytes,
                             pgw_frame_t *out, ctx_err_t *err) {
    if (len < 1) {
        return 0;
    }
    uint8_t type = data[0];
    uint32_t limit = pgw_type_limit(type, max_message_bytes);
    if (limit == 0) {
        return ctx_err_set(err, CTX_EPROTOCOL, "invalid frontend message type %d", type);
    }
    if (len < 5) {
        return 0;
    }
    uint32_t length = ctx_read_u32be(data + 1);
    if (length < 4 || length > limit) {
        return ctx_err_set(err, CTX_EPROTOCOL,
                           "invalid message length %u for message type \"%c\" (limit %u)", length,
                           type, limit);
    }
    if (len - 1 < length) {
        return 0;
    }
    out->type = type;
    out->body = data + 5;
    out->body_len = length - 4;
    out->frame_bytes = (size_t)length + 1;
    return 1;
}

int pgw_frame(const uint8_t *data, size_t len, bool startup_phase, uint32_t max_message_bytes,
              pgw_frame_t *out, ctx_err_t *err) {
    CTX_ASSERT(out != NULL);
    CTX_ASSERT(data != NULL || len == 0);
    CTX_ASSERT(max_message_bytes >= 5);
    int rc = startup_phase ? pgw_frame_startup(data, len, out, err)
                           : pgw_frame_regular(data, len, max_message_bytes, out, err);
    CTX_ASSERT(rc != 1 || out->frame_bytes <= len);
    return rc;
}

/* ---- Startup phase --------------------------------------------------------------------------- */

/* Walks the name/value pairs once; with out == NULL only validates and counts. */
static int pgw_startup_pairs(pgw_rd_t *rd, pgw_startup_t *out, size_t *params, size_t *unrec) {
    *params = 0;
    *unrec = 0;
    for (;;) {
        const char *name = NULL;
        const char *value = NULL;
        size_t name_len = 0;
        if (!pgw_rd_try_str(rd, &name, &name_len)) {
            return ctx_err_set(rd->err, CTX_EPROTOCOL,
                               "invalid startup packet layout: expected terminator as last byte");
        }
        if (name_len == 0) {
            break;
        }
        if (!pgw_rd_try_str(rd, &value, NULL)) {
            return ctx_err_set(rd->err, CTX_EPROTOCOL,
                               "invalid startup packet layout: missing value for \"%.64s\"", name);
        }
        const char **known = NULL;
        if (strcmp(name, "user") == 0) {
            known = out != NULL ? &out->user : NULL;
        } else if (strcmp(name, "database") == 0) {
            known = out != NULL ? &out->database : NULL;
        } else if (strcmp(name, "application_name") == 0) {
            known = out != NULL ? &out->application_name : NULL;
        } else if (strcmp(name, "options") == 0) {
            known = out != NULL ? &out->options : NULL;
        } else if (strncmp(name, "_pq_.", 5) == 0) {
            if (out != NULL) {
                out->unrecognized[*unrec] = name;
            }
            *unrec += 1;
            continue;
        } else {
            if (out != NULL) {
                out->params[*params] = (pgw_param_t){.name = name, .value = value};
            }
            *params += 1;
            continue;
        }
        if (known != NULL) {
            *known = value;
        }
    }
    if (pgw_rd_left(rd) != 0) {
        return ctx_err_set(rd->err, CTX_EPROTOCOL,
                           "invalid startup packet layout: expected terminator as last byte");
    }
    return 0;
}

static int pgw_startup_message(pgw_rd_t *rd, arena_t *arena, pgw_startup_t *out) {
    size_t params = 0;
    size_t unrec = 0;
    size_t body_pos = rd->pos;
    int rc = pgw_startup_pairs(rd, NULL, &params, &unrec);
    if (rc < 0) {
        return rc;
    }
    /* Each pair takes at least 2 bytes, so the counts are bounded by the packet size. */
    CTX_ASSERT(params + unrec <= PGW_STARTUP_BYTES_MAX / 2);
    out->params = params > 0 ? arena_alloc(arena, params * sizeof(out->params[0])) : NULL;
    out->unrecognized = unrec > 0 ? arena_alloc(arena, unrec * sizeof(out->unrecognized[0])) : NULL;
    out->params_count = params;
    out->unrecognized_count = unrec;
    rd->pos = body_pos;
    rc = pgw_startup_pairs(rd, out, &params, &unrec);
    CTX_ASSERT(rc == 0);
    CTX_ASSERT(params == out->params_count && unrec == out->unrecognized_count);
    if (out->user == NULL || out->user[0] == '\0') {
        return ctx_err_set(rd->err, CTX_EPROTOCOL,
                           "no PostgreSQL user name specified in startup packet");
    }
    return 0;
}

int pgw_decode_startup(const uint8_t *body, size_t len, arena_t *arena, pgw_startup_t *out,
                       ctx_err_t *err) {
    CTX_ASSERT(out != NULL && arena != NULL);
    CTX_ASSERT(body != NULL || len == 0);
    memset(out, 0, sizeof(*out));
    pgw_rd_t rd = {.data = body, .len = len, .pos = 0, .what = "startup", .err = err};
    uint32_t code = 0;
    if (len < 4 || len > PGW_STARTUP_BYTES_MAX - 4) {
        return ctx_err_set(err, CTX_EPROTOCOL, "invalid length of startup packet: %zu", len + 4);
    }
    (void)pgw_rd_u32(&rd, &code);
    if (code == PGW_CODE_SSL || code == PGW_CODE_GSSENC) {
        out->kind = code == PGW_CODE_SSL ? PGW_STARTUP_SSL : PGW_STARTUP_GSSENC;
        return len == 4 ? 0
                        : ctx_err_set(err, CTX_EPROTOCOL, "invalid length of %s request: %zu",
                                      code == PGW_CODE_SSL ? "SSL" : "GSSENC", len + 4);
    }
    if (code == PGW_CODE_CANCEL) {
        out->kind = PGW_STARTUP_CANCEL;
        if (len != 12) {
            return ctx_err_set(err, CTX_EPROTOCOL, "invalid length of cancel request: %zu",
                               len + 4);
        }
        out->cancel_pid = (int32_t)ctx_read_u32be(body + 4);
        out->cancel_secret = (int32_t)ctx_read_u32be(body + 8);
        return 0;
    }
    uint32_t major = code >> 16;
    uint32_t minor = code & 0xffffu;
    if (major != PGW_PROTOCOL_MAJOR) {
        return ctx_err_set(err, CTX_EPROTOCOL,
                           "unsupported frontend protocol %u.%u: server supports %d.0 to %d.%d",
                           major, minor, PGW_PROTOCOL_MAJOR, PGW_PROTOCOL_MAJOR,
                           PGW_PROTOCOL_MINOR);
    }
    out->kind = PGW_STARTUP_MESSAGE;
    out->protocol_major = (uint16_t)major;
    out->protocol_minor = (uint16_t)minor;
    return pgw_startup_message(&rd, arena, out);
}

/* ---- Regular messages ------------------------------------------------------------------------ */

static int pgw_decode_query(pgw_rd_t *rd, pgw_query_t *q) {
    int rc = pgw_rd_str(rd, &q->sql, &q->sql_len);
    return rc < 0 ? rc : pgw_rd_end(rd);
}

static int pgw_decode_parse(pgw_rd_t *rd, arena_t *arena, pgw_parse_t *p) {
    int rc = pgw_rd_str(rd, &p->statement, NULL);
    rc = rc < 0 ? rc : pgw_rd_str(rd, &p->query, &p->query_len);
    rc = rc < 0 ? rc : pgw_rd_u16(rd, &p->param_count);
    rc = rc < 0 ? rc : pgw_rd_fits(rd, p->param_count, 4);
    if (rc < 0) {
        return rc;
    }
    p->param_oids = NULL;
    if (p->param_count > 0) {
        p->param_oids = arena_alloc(arena, p->param_count * sizeof(uint32_t));
    }
    for (uint16_t i = 0; i < p->param_count; i++) {
        rc = pgw_rd_u32(rd, &p->param_oids[i]);
        CTX_ASSERT(rc == 0); /* pgw_rd_fits checked */
    }
    return pgw_rd_end(rd);
}

/* Int16 count, then count Int16 format codes into an arena array. */
static int pgw_decode_formats(pgw_rd_t *rd, arena_t *arena, uint16_t *count, int16_t **formats) {
    int rc = pgw_rd_u16(rd, count);
    rc = rc < 0 ? rc : pgw_rd_fits(rd, *count, 2);
    if (rc < 0) {
        return rc;
    }
    *formats = *count > 0 ? arena_alloc(arena, *count * sizeof(int16_t)) : NULL;
    for (uint16_t i = 0; i < *count; i++) {
        uint16_t v = 0;
        rc = pgw_rd_u16(rd, &v);
        CTX_ASSERT(rc == 0);
        (*formats)[i] = (int16_t)v;
    }
    return 0;
}

static int pgw_decode_bind_params(pgw_rd_t *rd, arena_t *arena, pgw_bind_t *b) {
    int rc = pgw_rd_u16(rd, &b->param_count);
    rc = rc < 0 ? rc : pgw_rd_fits(rd, b->param_count, 4);
    if (rc < 0) {
        return rc;
    }
    if (b->param_format_count > 1 && b->param_format_count != b->param_count) {
        return ctx_err_set(rd->err, CTX_EPROTOCOL,
                           "bind message has %u parameter formats but %u parameters",
                           b->param_format_count, b->param_count);
    }
    b->params =
        b->param_count > 0 ? arena_alloc(arena, b->param_count * sizeof(pgw_value_t)) : NULL;
    for (uint16_t i = 0; i < b->param_count; i++) {
        uint32_t raw = 0;
        rc = pgw_rd_u32(rd, &raw);
        if (rc < 0) {
            return rc;
        }
        int32_t vlen = (int32_t)raw;
        b->params[i] = (pgw_value_t){.data = NULL, .len = vlen};
        if (vlen == -1) {
            continue;
        }
        if (vlen < -1) {
            return pgw_rd_fail(rd, "invalid parameter length");
        }
        rc = pgw_rd_bytes(rd, (size_t)vlen, &b->params[i].data);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static int pgw_decode_bind(pgw_rd_t *rd, arena_t *arena, pgw_bind_t *b) {
    int rc = pgw_rd_str(rd, &b->portal, NULL);
    rc = rc < 0 ? rc : pgw_rd_str(rd, &b->statement, NULL);
    rc = rc < 0 ? rc : pgw_decode_formats(rd, arena, &b->param_format_count, &b->param_formats);
    rc = rc < 0 ? rc : pgw_decode_bind_params(rd, arena, b);
    rc = rc < 0 ? rc : pgw_decode_formats(rd, arena, &b->result_format_count, &b->result_formats);
    return rc < 0 ? rc : pgw_rd_end(rd);
}

static int pgw_decode_target(pgw_rd_t *rd, pgw_target_t *t) {
    uint8_t kind = 0;
    int rc = pgw_rd_u8(rd, &kind);
    if (rc < 0) {
        return rc;
    }
    if (kind != 'S' && kind != 'P') {
        return ctx_err_set(rd->err, CTX_EPROTOCOL, "invalid %s message subtype %d", rd->what, kind);
    }
    t->kind = (char)kind;
    rc = pgw_rd_str(rd, &t->name, NULL);
    return rc < 0 ? rc : pgw_rd_end(rd);
}

static int pgw_decode_execute(pgw_rd_t *rd, pgw_execute_t *e) {
    int rc = pgw_rd_str(rd, &e->portal, NULL);
    rc = rc < 0 ? rc : pgw_rd_u32(rd, &e->rows_max);
    return rc < 0 ? rc : pgw_rd_end(rd);
}

static int pgw_decode_copy_fail(pgw_rd_t *rd, const char **message) {
    int rc = pgw_rd_str(rd, message, NULL);
    return rc < 0 ? rc : pgw_rd_end(rd);
}

static const char *pgw_msg_name(uint8_t type) {
    switch (type) {
    case 'B':
        return "Bind";
    case 'C':
        return "Close";
    case 'D':
        return "Describe";
    case 'E':
        return "Execute";
    case 'H':
        return "Flush";
    case 'P':
        return "Parse";
    case 'Q':
        return "Query";
    case 'S':
        return "Sync";
    case 'X':
        return "Terminate";
    case 'c':
        return "CopyDone";
    case 'd':
        return "CopyData";
    case 'f':
        return "CopyFail";
    case 'p':
        return "PasswordMessage";
    default:
        return NULL;
    }
}

int pgw_decode(const pgw_frame_t *frame, arena_t *arena, pgw_msg_t *out, ctx_err_t *err) {
    CTX_ASSERT(frame != NULL && out != NULL && arena != NULL);
    CTX_ASSERT(frame->body != NULL || frame->body_len == 0);
    memset(out, 0, sizeof(*out));
    const char *name = pgw_msg_name(frame->type);
    if (name == NULL) {
        return ctx_err_set(err, CTX_EPROTOCOL, "invalid frontend message type %d", frame->type);
    }
    pgw_rd_t rd = {.data = frame->body, .len = frame->body_len, .what = name, .err = err};
    out->type = (pgw_msg_type_t)frame->type;
    switch (frame->type) {
    case 'Q':
        return pgw_decode_query(&rd, &out->query);
    case 'P':
        return pgw_decode_parse(&rd, arena, &out->parse);
    case 'B':
        return pgw_decode_bind(&rd, arena, &out->bind);
    case 'D':
        return pgw_decode_target(&rd, &out->describe);
    case 'C':
        return pgw_decode_target(&rd, &out->close);
    case 'E':
        return pgw_decode_execute(&rd, &out->execute);
    case 'f':
        return pgw_decode_copy_fail(&rd, &out->copy_fail);
    case 'd':
        out->copy_data = (pgw_bytes_t){.data = frame->body, .len = frame->body_len};
        return 0;
    case 'p':
        out->password = (pgw_bytes_t){.data = frame->body, .len = frame->body_len};
        return 0;
    default: /* S, H, X, c: no payload */
        return pgw_rd_end(&rd);
    }
}

/* ---- Helpers over decoded messages ----------------------------------------------------------- */

int16_t pgw_bind_param_format(const pgw_bind_t *bind, uint16_t i) {
    CTX_ASSERT(i < bind->param_count);
    if (bind->param_format_count == 0) {
        return PGW_FORMAT_TEXT;
    }
    if (bind->param_format_count == 1) {
        return bind->param_formats[0];
    }
    CTX_ASSERT(bind->param_format_count == bind->param_count);
    return bind->param_formats[i];
}

int16_t pgw_bind_result_format(const pgw_bind_t *bind, uint16_t col) {
    if (bind->result_format_count == 0) {
        return PGW_FORMAT_TEXT;
    }
    if (bind->result_format_count == 1) {
        return bind->result_formats[0];
    }
    CTX_ASSERT(col < bind->result_format_count);
    return bind->result_formats[col];
}

int pgw_decode_password(const pgw_bytes_t *body, const char **password, ctx_err_t *err) {
    CTX_ASSERT(body != NULL && password != NULL);
    CTX_ASSERT(body->data != NULL || body->len == 0);
    pgw_rd_t rd = {.data = body->data, .len = body->len, .what = "PasswordMessage", .err = err};
    int rc = pgw_rd_str(&rd, password, NULL);
    return rc < 0 ? rc : pgw_rd_end(&rd);
}

int pgw_decode_sasl_initial(const pgw_bytes_t *body, const char **mechanism, pgw_value_t *data,
                            ctx_err_t *err) {
    CTX_ASSERT(body != NULL && mechanism != NULL && data != NULL);
    CTX_ASSERT(body->data != NULL || body->len == 0);
    pgw_rd_t rd = {.data = body->data, .len = body->len, .what = "SASLInitialResponse", .err = err};
    uint32_t raw = 0;
    int rc = pgw_rd_str(&rd, mechanism, NULL);
    rc = rc < 0 ? rc : pgw_rd_u32(&rd, &raw);
    if (rc < 0) {
        return rc;
    }
    *data = (pgw_value_t){.data = NULL, .len = (int32_t)raw};
    if (data->len < -1) {
        return pgw_rd_fail(&rd, "invalid data length");
    }
    if (data->len >= 0) {
        rc = pgw_rd_bytes(&rd, (size_t)data->len, &data->data);
    }
    return rc < 0 ? rc : pgw_rd_end(&rd);
}

/*
 * http_pg.c — the HTTP server's pgwire client (frontend side of protocol 3.0).
 *
 * Messages sent, all as the PostgreSQL documentation lays them out (type byte, Int32 length
 * including itself, body):
 *   StartupMessage   Int32 len, Int32 196608, "user\0<user>\0database\0contextdb\0\0"
 *   Parse 'P'        "\0" (unnamed), query "\0", Int16 0 (types inferred)
 *   Bind 'B'         "\0" portal, "\0" statement, Int16 0 (all text), Int16 n,
 *                    n × (Int32 len or -1 for NULL, bytes), Int16 0 (results in text)
 *   Describe 'D'     'P' "\0"  (the unnamed portal: RowDescription or NoData)
 *   Execute 'E'      "\0", Int32 0 (all rows)
 *   Sync 'S'
 * Messages read: AuthenticationOk 'R', ParameterStatus 'S', BackendKeyData 'K', ParseComplete
 * '1', BindComplete '2', RowDescription 'T', NoData 'n', DataRow 'D', CommandComplete 'C',
 * EmptyQueryResponse 'I', NoticeResponse 'N' (ignored), ErrorResponse 'E', ReadyForQuery 'Z'.
 *
 * The whole request (every statement and the Sync) is written before anything is read: the
 * server reads a frontend message at a time and buffers its replies, and our socketpair has
 * room for both directions, so pipelining costs one round trip per request, not per statement.
 * Replies are read in order; statement i's replies are the messages between its Parse and the
 * next statement's ParseComplete. After an ErrorResponse the server skips to Sync and answers
 * ReadyForQuery, which ends the exchange.
 */
#include "http_pg.h"

#include "buf.h"
#include "ctx.h"
#include "pgtypes.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    HPG_PROTOCOL_3_0 = 196608,
    HPG_READ_CHUNK = 64 * 1024,
    HPG_OID_VECTOR = 16390,
};

struct hpg_conn {
    int fd;
    uint32_t timeout_ms;
    bool broken;
    buf_t in;
    buf_t out;
};

typedef struct hpg_msg {
    uint8_t type;
    const uint8_t *body;
    uint32_t len;
} hpg_msg_t;

static int hpg_fail(hpg_conn_t *conn, hpg_error_t *err, const char *what) {
    conn->broken = true;
    snprintf(err->sqlstate, sizeof(err->sqlstate), "08006");
    snprintf(err->message, sizeof(err->message), "connection to the database failed: %s", what);
    err->detail[0] = '\0';
    return -1;
}

/* Buffers whatever the server has sent so far (non-blocking). Returns -1 on EOF or error. */
static int hpg_drain(hpg_conn_t *conn) {
    while (true) {
        uint8_t *dest = buf_reserve(&conn->in, HPG_READ_CHUNK);
        ssize_t got = dest == NULL ? -1 : recv(conn->fd, dest, HPG_READ_CHUNK, MSG_DONTWAIT);
        if (got > 0) {
            buf_commit(&conn->in, (size_t)got);
            continue;
        }
        if (got < 0 && errno == EINTR) {
            continue;
        }
        return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

/* Sends the whole request. While the socket is full, replies to the messages already sent are
 * read into conn->in: the server stops reading a client whose unread output grows too large,
 * so a long pipelined request must not wait for the send alone. */
static int hpg_flush(hpg_conn_t *conn, hpg_error_t *err) {
    while (buf_size(&conn->out) > 0) {
        ssize_t sent =
            send(conn->fd, buf_peek(&conn->out), buf_size(&conn->out), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) {
            buf_consume(&conn->out, (size_t)sent);
            continue;
        }
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            return hpg_fail(conn, err, strerror(errno));
        }
        struct pollfd pfd = {.fd = conn->fd, .events = POLLIN | POLLOUT};
        int ready = poll(&pfd, 1, conn->timeout_ms == 0 ? -1 : (int)conn->timeout_ms);
        if (ready == 0) {
            return hpg_fail(conn, err, "timed out sending to the server");
        }
        if (ready > 0 && (pfd.revents & POLLIN) != 0 && hpg_drain(conn) < 0) {
            return hpg_fail(conn, err, "server closed the connection");
        }
    }
    buf_reset(&conn->out);
    return 0;
}

/* Reads until one whole message is buffered; msg points into conn->in until the next read. */
static int hpg_read(hpg_conn_t *conn, hpg_msg_t *msg, hpg_error_t *err) {
    while (true) {
        size_t have = buf_size(&conn->in);
        if (have >= 5) {
            const uint8_t *p = buf_peek(&conn->in);
            uint32_t len = ctx_read_u32be(p + 1);
            if (len < 4 || len > HPG_MESSAGE_BYTES_MAX) {
                return hpg_fail(conn, err, "invalid message length");
            }
            if (have >= 1 + (size_t)len) {
                msg->type = p[0];
                msg->body = p + 5;
                msg->len = len - 4;
                return 0;
            }
        }
        struct pollfd pfd = {.fd = conn->fd, .events = POLLIN};
        int ready = poll(&pfd, 1, conn->timeout_ms == 0 ? -1 : (int)conn->timeout_ms);
        if (ready == 0) {
            return hpg_fail(conn, err, "timed out waiting for the server");
        }
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        uint8_t *dest = buf_reserve(&conn->in, HPG_READ_CHUNK);
        ssize_t got = ready < 0 || dest == NULL ? -1 : recv(conn->fd, dest, HPG_READ_CHUNK, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return hpg_fail(conn, err, got == 0 ? "server closed the connection" : "read error");
        }
        buf_commit(&conn->in, (size_t)got);
    }
}

/* Drops the message hpg_read returned. */
static void hpg_consume(hpg_conn_t *conn, const hpg_msg_t *msg) {
    buf_consume(&conn->in, 5 + (size_t)msg->len);
}

/* ErrorResponse fields: S severity, C code, M message, D detail. Returns whether FATAL. */
static bool hpg_parse_error(const hpg_msg_t *msg, hpg_error_t *err) {
    memset(err, 0, sizeof(*err));
    bool fatal = false;
    size_t at = 0;
    while (at < msg->len && msg->body[at] != 0) {
        uint8_t field = msg->body[at++];
        const char *value = (const char *)msg->body + at;
        size_t len = strnlen(value, msg->len - at);
        if (field == 'C') {
            snprintf(err->sqlstate, sizeof(err->sqlstate), "%.*s", (int)len, value);
        } else if (field == 'M') {
            snprintf(err->message, sizeof(err->message), "%.*s", (int)len, value);
        } else if (field == 'D') {
            snprintf(err->detail, sizeof(err->detail), "%.*s", (int)len, value);
        } else if (field == 'S') {
            fatal =
                len >= 5 && (strncmp(value, "FATAL", 5) == 0 || strncmp(value, "PANIC", 5) == 0);
        }
        at += len + 1;
    }
    if (err->sqlstate[0] == '\0') {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "XX000");
    }
    return fatal;
}

/* Reads up to ReadyForQuery after startup; anything but R/S/K/N/Z is an error. */
static int hpg_startup_replies(hpg_conn_t *conn, hpg_error_t *err) {
    while (true) {
        hpg_msg_t msg;
        if (hpg_read(conn, &msg, err) < 0) {
            return -1;
        }
        uint8_t type = msg.type;
        if (type == 'E') {
            hpg_parse_error(&msg, err);
            conn->broken = true;
            return -1;
        }
        if (type == 'R' && (msg.len < 4 || ctx_read_u32be(msg.body) != 0)) {
            return hpg_fail(conn, err, "the server asked for a password");
        }
        hpg_consume(conn, &msg);
        if (type == 'Z') {
            return 0;
        }
        if (type != 'R' && type != 'S' && type != 'K' && type != 'N') {
            return hpg_fail(conn, err, "unexpected message during startup");
        }
    }
}

int hpg_connect(int fd, const char *user, uint32_t timeout_ms, hpg_conn_t **out, hpg_error_t *err) {
    CTX_ASSERT(fd >= 0 && user != NULL && out != NULL);
    hpg_conn_t *conn = ctx_calloc(1, sizeof(*conn));
    conn->fd = fd;
    conn->timeout_ms = timeout_ms;
    buf_init(&conn->in);
    buf_init(&conn->out);
    size_t at = buf_size(&conn->out);
    buf_append_u32be(&conn->out, 0);
    buf_append_u32be(&conn->out, HPG_PROTOCOL_3_0);
    buf_append_cstr(&conn->out, "user");
    buf_append_cstr(&conn->out, user);
    buf_append_cstr(&conn->out, "database");
    buf_append_cstr(&conn->out, "contextdb");
    buf_append_cstr(&conn->out, "application_name");
    buf_append_cstr(&conn->out, "contextdb-http");
    buf_append_u8(&conn->out, 0);
    buf_patch_u32be(&conn->out, at, (uint32_t)(buf_size(&conn->out) - at));
    if (hpg_flush(conn, err) < 0 || hpg_startup_replies(conn, err) < 0) {
        hpg_close(conn);
        return -1;
    }
    *out = conn;
    return 0;
}

void hpg_close(hpg_conn_t *conn) {
    if (conn == NULL) {
        return;
    }
    close(conn->fd);
    buf_free(&conn->in);
    buf_free(&conn->out);
    free(conn);
}

bool hpg_broken(const hpg_conn_t *conn) {
    return conn->broken;
}

void hpg_result_clear(hpg_result_t *result) {
    if (result == NULL) {
        return;
    }
    json_decref(result->columns);
    json_decref(result->rows);
    memset(result, 0, sizeof(*result));
}

/* Starts a message of type; returns the offset of its length field. */
static size_t hpg_begin(buf_t *out, uint8_t type) {
    buf_append_u8(out, type);
    size_t at = buf_size(out);
    buf_append_u32be(out, 0);
    return at;
}

static void hpg_end(buf_t *out, size_t at) {
    buf_patch_u32be(out, at, (uint32_t)(buf_size(out) - at));
}

static void hpg_encode_stmt(buf_t *out, const hpg_stmt_t *stmt) {
    size_t at = hpg_begin(out, 'P');
    buf_append_cstr(out, "");
    buf_append_cstr(out, stmt->sql);
    buf_append_u16be(out, 0);
    hpg_end(out, at);
    at = hpg_begin(out, 'B');
    buf_append_cstr(out, "");
    buf_append_cstr(out, "");
    buf_append_u16be(out, 0);
    buf_append_u16be(out, (uint16_t)stmt->nparams);
    for (size_t i = 0; i < stmt->nparams; i++) {
        const char *value = stmt->params[i];
        if (value == NULL) {
            buf_append_u32be(out, UINT32_MAX); /* -1: NULL */
            continue;
        }
        size_t len = strlen(value);
        buf_append_u32be(out, (uint32_t)len);
        buf_append(out, value, len);
    }
    buf_append_u16be(out, 0);
    hpg_end(out, at);
    at = hpg_begin(out, 'D');
    buf_append_u8(out, 'P');
    buf_append_cstr(out, "");
    hpg_end(out, at);
    at = hpg_begin(out, 'E');
    buf_append_cstr(out, "");
    buf_append_u32be(out, 0);
    hpg_end(out, at);
}

static const char *hpg_type_name(uint32_t oid) {
    switch (oid) {
#define HPG_X_TYPE(id, typname, type_oid, ...)                                                     \
    case type_oid:                                                                                 \
        return typname;
        PGTYPES_LIST(HPG_X_TYPE)
#undef HPG_X_TYPE
    default:
        return "unknown";
    }
}

/* RowDescription → columns [{"name", "type"}]; oids[] gets each column's type OID. */
static int hpg_row_description(const hpg_msg_t *msg, hpg_result_t *result, uint32_t **oids,
                               uint16_t *ncols) {
    if (msg->len < 2) {
        return -1;
    }
    uint16_t n = ctx_read_u16be(msg->body);
    free(*oids);
    *oids = ctx_calloc(n > 0 ? n : 1, sizeof(uint32_t));
    size_t at = 2;
    for (uint16_t i = 0; i < n; i++) {
        const char *name = (const char *)msg->body + at;
        size_t len = strnlen(name, msg->len - at);
        if (at + len + 1 + 18 > msg->len) {
            return -1;
        }
        at += len + 1;
        uint32_t oid = ctx_read_u32be(msg->body + at + 6);
        (*oids)[i] = oid;
        json_array_append_new(result->columns, json_pack("{s:s%,s:s}", "name", name, len, "type",
                                                         hpg_type_name(oid)));
        at += 18;
    }
    *ncols = n;
    return 0;
}

/* A text value as JSON by its type OID. */
static json_t *hpg_value(uint32_t oid, const char *text, size_t len) {
    char *end = NULL;
    switch (oid) {
    case PGT_OID_INT2:
    case PGT_OID_INT4:
    case PGT_OID_INT8:
    case PGT_OID_OID: {
        long long n = strtoll(text, &end, 10);
        return end == text + len ? json_integer(n) : json_stringn(text, len);
    }
    case PGT_OID_FLOAT4:
    case PGT_OID_FLOAT8: {
        double d = strtod(text, &end);
        bool finite = end == text + len && d - d == 0;
        return finite ? json_real(d) : json_stringn(text, len);
    }
    case PGT_OID_BOOL:
        return json_boolean(len > 0 && text[0] == 't');
    case PGT_OID_JSON:
    case PGT_OID_JSONB:
    case HPG_OID_VECTOR: {
        json_t *parsed = json_loadb(text, len, JSON_DECODE_ANY, NULL);
        return parsed != NULL ? parsed : json_stringn(text, len);
    }
    default:
        return json_stringn(text, len);
    }
}

static int hpg_data_row(const hpg_msg_t *msg, hpg_result_t *result, uint32_t **oids_io,
                        uint16_t *ncols_io) {
    if (msg->len < 2) {
        return -1;
    }
    uint16_t ncols = ctx_read_u16be(msg->body);
    if (*ncols_io == 0 && ncols > 0 && json_array_size(result->columns) == 0) {
        /* Rows after NoData (the server describes CREATE SNAPSHOT as returning none): the
         * columns are taken as unnamed text. */
        free(*oids_io);
        *oids_io = ctx_calloc(ncols, sizeof(uint32_t));
        for (uint16_t i = 0; i < ncols; i++) {
            json_array_append_new(result->columns,
                                  json_pack("{s:s,s:s}", "name", "?column?", "type", "text"));
        }
        *ncols_io = ncols;
    }
    if (ncols != *ncols_io) {
        return -1;
    }
    const uint32_t *oids = *oids_io;
    json_t *row = json_array();
    size_t at = 2;
    for (uint16_t i = 0; i < ncols; i++) {
        if (at + 4 > msg->len) {
            json_decref(row);
            return -1;
        }
        uint32_t len = ctx_read_u32be(msg->body + at);
        at += 4;
        if (len == UINT32_MAX) {
            json_array_append_new(row, json_null());
            continue;
        }
        if (len > msg->len - at) {
            json_decref(row);
            return -1;
        }
        /* Values are NUL-free text; strtoll/strtod need a terminator, so copy. A value the
         * system cannot copy fails this request (as a broken reply), not the server. */
        char *text = malloc((size_t)len + 1);
        if (text == NULL) {
            json_decref(row);
            return -1;
        }
        ctx_memcpy(text, msg->body + at, len);
        text[len] = '\0';
        json_array_append_new(row, hpg_value(oids[i], text, len));
        free(text);
        at += len;
    }
    json_array_append_new(result->rows, row);
    return 0;
}

typedef struct hpg_reader {
    hpg_result_t *results;
    size_t count;
    size_t current; /* statement whose replies are being read */
    bool failed;
    uint32_t *oids;
    uint16_t ncols;
} hpg_reader_t;

/* Handles one reply message of the run; returns 1 at ReadyForQuery, 0 to go on, -1 broken. */
static int hpg_on_reply(hpg_conn_t *conn, hpg_reader_t *rd, const hpg_msg_t *msg,
                        hpg_error_t *err) {
    hpg_result_t *res = rd->results != NULL && rd->current < rd->count && !rd->failed
                            ? &rd->results[rd->current]
                            : NULL;
    switch (msg->type) {
    case '1':
    case '2':
    case 'n':
    case 'N':
    case 'S':
        return 0;
    case 'I':
        rd->current++;
        return 0;
    case 'T':
        return res == NULL || hpg_row_description(msg, res, &rd->oids, &rd->ncols) == 0 ? 0 : -1;
    case 'D':
        return res == NULL || hpg_data_row(msg, res, &rd->oids, &rd->ncols) == 0 ? 0 : -1;
    case 'C':
        if (res != NULL) {
            snprintf(res->tag, sizeof(res->tag), "%.*s",
                     (int)strnlen((const char *)msg->body, msg->len), (const char *)msg->body);
        }
        rd->current++;
        rd->ncols = 0;
        return 0;
    case 'E':
        if (!rd->failed && hpg_parse_error(msg, err)) {
            conn->broken = true;
        }
        rd->failed = true;
        return 0;
    case 'Z':
        return 1;
    default:
        return -1;
    }
}

int hpg_run(hpg_conn_t *conn, const hpg_stmt_t *stmts, size_t count, hpg_result_t *results,
            hpg_error_t *err) {
    CTX_ASSERT(conn != NULL && !conn->broken);
    CTX_ASSERT(count > 0 && count <= HPG_STATEMENTS_MAX);
    for (size_t i = 0; results != NULL && i < count; i++) {
        results[i].columns = json_array();
        results[i].rows = json_array();
        results[i].tag[0] = '\0';
    }
    for (size_t i = 0; i < count; i++) {
        CTX_ASSERT(stmts[i].nparams <= HPG_PARAMS_MAX);
        hpg_encode_stmt(&conn->out, &stmts[i]);
    }
    size_t at = hpg_begin(&conn->out, 'S');
    hpg_end(&conn->out, at);
    hpg_reader_t rd = {.results = results, .count = count};
    int rc = buf_failed(&conn->out) ? hpg_fail(conn, err, "out of memory") : hpg_flush(conn, err);
    while (rc == 0) {
        hpg_msg_t msg;
        if (hpg_read(conn, &msg, err) < 0) {
            rc = -1;
            break;
        }
        int step = hpg_on_reply(conn, &rd, &msg, err);
        hpg_consume(conn, &msg);
        if (step < 0) {
            char what[64];
            snprintf(what, sizeof(what), "unexpected reply from the server (message '%c')",
                     msg.type >= 0x20 && msg.type < 0x7f ? msg.type : '?');
            rc = hpg_fail(conn, err, what);
        } else if (step == 1) {
            break;
        }
    }
    free(rd.oids);
    if (rc == 0 && rd.failed) {
        rc = -1;
    }
    for (size_t i = 0; rc < 0 && results != NULL && i < count; i++) {
        hpg_result_clear(&results[i]);
    }
    return rc;
}

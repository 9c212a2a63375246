/*
 * fuzz_startup.c — libFuzzer target: the pgwire decoders (protocol/pgwire.h), startup phase and
 * every frontend message.
 *
 * The first input byte chooses what the rest is:
 *   0            a raw byte stream in the startup phase: pgw_frame(startup_phase) then
 *                pgw_decode_startup on each whole frame, as the server reads a new connection;
 *   1            a raw byte stream of regular messages: pgw_frame then pgw_decode on each frame,
 *                and the 'p' sub-decoders (password, SASLInitialResponse) on 'p' frames;
 *   2            a StartupMessage body alone (pgw_decode_startup without framing);
 *   a type byte  the body of one regular message of that type (B C d c f D E H P p Q S X), with
 *                the frame built here so every body length reaches pgw_decode;
 *   other        treated as 1.
 * Every decoded message is walked (strings read to their NUL, arrays to their counts,
 * pgw_bind_*_format for each index) so a wrong length or pointer shows up under ASan. Bodies are
 * copied into exact-size buffers so any read past the body is a heap overflow.
 */
#include "arena.h"
#include "ctx.h"
#include "pgwire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FUZZ_FRAMES_MAX = 64 };

static volatile size_t fuzz_sink;

static void walk_string(const char *s) {
    if (s != NULL) {
        fuzz_sink += strlen(s);
    }
}

static void walk_value(const pgw_value_t *v) {
    if (v->len > 0) {
        fuzz_sink += v->data[0] + v->data[v->len - 1];
    }
}

static void walk_startup(const pgw_startup_t *s) {
    if (s->kind != PGW_STARTUP_MESSAGE) {
        return;
    }
    walk_string(s->user);
    walk_string(s->database);
    walk_string(s->application_name);
    walk_string(s->options);
    for (size_t i = 0; i < s->params_count; i++) {
        walk_string(s->params[i].name);
        walk_string(s->params[i].value);
    }
    for (size_t i = 0; i < s->unrecognized_count; i++) {
        walk_string(s->unrecognized[i]);
    }
}

static void walk_password(const pgw_bytes_t *body) {
    ctx_err_t err;
    ctx_err_clear(&err);
    const char *password = NULL;
    if (pgw_decode_password(body, &password, &err) == CTX_OK) {
        walk_string(password);
    }
    const char *mechanism = NULL;
    pgw_value_t data;
    ctx_err_clear(&err);
    if (pgw_decode_sasl_initial(body, &mechanism, &data, &err) == CTX_OK) {
        walk_string(mechanism);
        walk_value(&data);
    }
}

static void walk_bind(const pgw_bind_t *b) {
    walk_string(b->portal);
    walk_string(b->statement);
    for (uint16_t i = 0; i < b->param_count; i++) {
        walk_value(&b->params[i]);
        fuzz_sink += (size_t)pgw_bind_param_format(b, i);
    }
    for (uint16_t i = 0; i < b->result_format_count; i++) {
        fuzz_sink += (size_t)pgw_bind_result_format(b, i);
    }
}

static void walk_msg(const pgw_msg_t *m) {
    switch (m->type) {
    case PGW_MSG_QUERY:
        fuzz_sink += strlen(m->query.sql) + m->query.sql_len;
        break;
    case PGW_MSG_PARSE:
        walk_string(m->parse.statement);
        walk_string(m->parse.query);
        for (uint16_t i = 0; i < m->parse.param_count; i++) {
            fuzz_sink += m->parse.param_oids[i];
        }
        break;
    case PGW_MSG_BIND:
        walk_bind(&m->bind);
        break;
    case PGW_MSG_DESCRIBE:
    case PGW_MSG_CLOSE:
        walk_string(m->describe.name);
        break;
    case PGW_MSG_EXECUTE:
        walk_string(m->execute.portal);
        break;
    case PGW_MSG_COPY_DATA:
        fuzz_sink += m->copy_data.len > 0 ? m->copy_data.data[m->copy_data.len - 1] : 0;
        break;
    case PGW_MSG_COPY_FAIL:
        walk_string(m->copy_fail);
        break;
    case PGW_MSG_PASSWORD:
        walk_password(&m->password);
        break;
    default:
        break;
    }
}

/* Frames and decodes a byte stream the way server/conn.c reads a socket buffer. */
static void fuzz_stream(const uint8_t *data, size_t size, bool startup_phase, arena_t *arena) {
    for (int n = 0; n < FUZZ_FRAMES_MAX && size > 0; n++) {
        pgw_frame_t frame;
        ctx_err_t err;
        ctx_err_clear(&err);
        if (pgw_frame(data, size, startup_phase, PGW_MESSAGE_BYTES_DEFAULT, &frame, &err) != 1) {
            return;
        }
        if (frame.frame_bytes > size || frame.body + frame.body_len > data + size) {
            abort(); /* the frame must lie inside the bytes given */
        }
        if (startup_phase) {
            pgw_startup_t startup;
            if (pgw_decode_startup(frame.body, frame.body_len, arena, &startup, &err) == CTX_OK) {
                walk_startup(&startup);
            }
        } else {
            pgw_msg_t msg;
            if (pgw_decode(&frame, arena, &msg, &err) == CTX_OK) {
                walk_msg(&msg);
            }
        }
        data += frame.frame_bytes;
        size -= frame.frame_bytes;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) {
        return 0;
    }
    uint8_t selector = data[0];
    size_t len = size - 1;
    uint8_t *body = malloc(len > 0 ? len : 1);
    memcpy(body, data + 1, len);
    arena_t arena;
    arena_init(&arena);
    ctx_err_t err;
    ctx_err_clear(&err);
    if (selector == 0) {
        fuzz_stream(body, len, true, &arena);
    } else if (selector == 2) {
        pgw_startup_t startup;
        if (pgw_decode_startup(len > 0 ? body : NULL, len, &arena, &startup, &err) == CTX_OK) {
            walk_startup(&startup);
        }
    } else if (strchr("BCdcfDEHPpQSX", selector) != NULL) {
        pgw_frame_t frame = {
            .type = selector, .body = body, .body_len = len, .frame_bytes = len + 5};
        pgw_msg_t msg;
        if (pgw_decode(&frame, &arena, &msg, &err) == CTX_OK) {
            walk_msg(&msg);
        }
    } else {
        fuzz_stream(body, len, false, &arena);
    }
    arena_destroy(&arena);
    free(body);
    return 0;
}

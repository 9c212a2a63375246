/*
 * conn.c — the per-connection protocol state machine (PostgreSQL's postgres.c main loop, minus
 * the sockets).
 *
 * States:
 *   STARTUP  → startup-phase packets: SSLRequest gets 'S' when TLS is configured (the loop
 *              switches the socket to TLS after sending it) and 'N' otherwise, GSSENCRequest
 *              gets 'N', and the client may send another packet; CancelRequest sets the target
 *              session's cancel flag — only while that connection runs a statement (a Query
 *              message or an Execute), so a cancel never outlives the statement it was meant
 *              for — and closes without a reply; StartupMessage creates the session from the
 *              startup parameters (each validated as SET validates it; a refused one is FATAL),
 *              then either moves to AUTH (password methods) or, with trust, sends
 *              AuthenticationOk, ParameterStatus*, BackendKeyData, ReadyForQuery and moves to
 *              READY.
 *   AUTH     → SCRAM-SHA-256 or MD5 exchange (auth.h): the stored secret's kind picks the
 *              exchange; each PasswordMessage / SASL response goes to auth_step; success
 *              finishes the startup as above and moves to READY, failure sends a FATAL
 *              ErrorResponse (28P01 for a wrong password) and moves to CLOSING.
 *   READY    → regular messages. Query runs every statement of its text through the SQL layer
 *              (sql_query_begin … sql_execute* … sql_query_end) and ends with one ReadyForQuery;
 *              the first failing statement sends ErrorResponse and skips the rest. A Query
 *              whose first statement, outside a transaction block, reads AS OF a snapshot still
 *              being fetched from the object store (CTX_ENOT_READY) changed nothing and is
 *              parked instead of answered: it runs again once the fetch ended (conn_waiting,
 *              conn_polls) or is answered 57014 at statement_timeout or on a CancelRequest.
 *              Extended-protocol messages go to extended.c; the first failing one sends
 *              ErrorResponse, fails the transaction and moves the state to SKIP.
 *   COPY_IN  → COPY FROM STDIN: CopyData goes to sql_copy_data, CopyDone applies the rows and
 *              ends the Query (simple protocol: ReadyForQuery; extended: Sync follows), CopyFail
 *              or a bad row sends ErrorResponse; Flush and Sync are ignored meanwhile.
 *   SKIP     → every message up to Sync is discarded (as after any extended-protocol error);
 *              Sync ends the implicit transaction, sends ReadyForQuery and returns to READY.
 *   CLOSING  → terminal: output is flushed by the loop, input ignored.
 * A connection the server opened to itself (conn_set_trusted: the HTTP API's sessions) skips the
 * password exchange. Every Query and Execute is measured after its replies are queued: the
 * metrics module classifies those reply bytes (kind and outcome) and it is logged when it ran
 * log_min_duration_statement or longer.
 * A malformed or oversized message sends FATAL 08P01 and moves to CLOSING; other connections are
 * unaffected. All per-Query memory (decoded arrays, parse trees, results, text values) comes from
 * one arena that is reset after each message, so a session's steady-state memory is flat.
 */
#include "conn.h"

#include "auth.h"
#include "cancel.h"
#include "extended.h"
#include "forward.h"
#include "metrics.h"
#include "pgwire.h"
#include "reply.h"
#include "stack.h"
#include "utf8.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef enum {
    CONN_STARTUP,
    CONN_AUTH,
    CONN_READY,
    CONN_SKIP,
    CONN_COPY_IN,
    CONN_CLOSING
} conn_state_t;

enum {
    /* SSLRequest + GSSENCRequest before the StartupMessage: more is a confused client. */
    CONN_NEGOTIATIONS_MAX = 4,
    /* Startup parameters (and -c options) handed to the session. */
    CONN_STARTUP_GUCS_MAX = 256,
};

struct conn {
    conn_server_t *server;
    conn_state_t state;
    buf_t in;
    buf_t out;
    arena_t arena; /* per message; reset after each */
    sql_session_t *session;
    ext_t *ext;                /* prepared statements and portals (extended.h) */
    sql_copy_t *copy;          /* COPY FROM STDIN in progress (state CONN_COPY_IN) */
    bool copy_extended;        /* that COPY came from Execute: Sync, not CopyDone, ends the query */
    uint64_t copy_deadline_ms; /* statement_timeout of that COPY (CLOCK_MONOTONIC), 0 = none */
    auth_session_t *auth;      /* password exchange in progress (state CONN_AUTH) */
    bool tls_start;            /* SSLRequest answered 'S': the loop starts TLS once that is sent */
    int32_t backend_pid;
    int32_t backend_secret;
    uint32_t negotiations;
    char peer[64];
    buf_t held; /* replies waiting for durability (see conn_waiting) */
    bool waiting;
    uint64_t held_ms;  /* monotonic ms when they were held */
    bool gate_waiting; /* the next message waits for the read barrier */
    /* The next message (a Query) is parked until a snapshot it reads AS OF is fetched
     * (conn_fetch_gate): since when, and whether its latest run parked again. */
    bool fetch_waiting;
    bool fetch_parked;
    uint64_t fetch_since_ms;
    /* Forwarding (server/forward.h): the current request's frames since it began (a Query, or
     * the extended-protocol messages since the last Sync), where its replies begin in out, the
     * output flush count then, the named Parse messages of earlier requests. */
    buf_t fwd_batch;
    buf_t fwd_named;
    size_t fwd_out_mark;
    uint64_t fwd_sent_mark;
    uint64_t fwd_skip; /* bytes of the request's replies the client already has */
    uint64_t out_sent; /* bytes of output the loop has written */
    bool fwd_begin;    /* a transaction block was open when the request began */
    bool req_open;     /* a request (a Query, or messages up to a Sync) has begun and not ended */
    bool fwd_capture;  /* the current request is being captured (fits, not COPY) */
    bool fwd_ready;
    bool tls_used;
    bool forwarded;      /* this session came from a follower (never forwarded again) */
    uint64_t gate_token; /* its barrier (cluster_read_ready) */
    uint64_t gate_since_ms;
    /* A CancelRequest stops only the statement running when it arrives: cancel_mu orders
     * conn_cancel (watcher or loop thread) against statement start and end (loop thread), and
     * the session's cancel flag is set only while statement_running. */
    pthread_mutex_t cancel_mu;
    bool statement_running;
    /* The reply of a CREATE SNAPSHOT: where it starts in out while its message runs, then in
     * held (SIZE_MAX: none), and whether that message was a simple Query (held then ends with
     * ReadyForQuery). A failed snapshot's error replaces the held reply from there on. */
    size_t snapshot_reply_at;
    size_t held_snapshot_at;
    bool query_simple;
    bool held_simple;
    bool trusted;                /* conn_set_trusted: no password exchange */
    int metrics_state;           /* metrics_conn_state_t this connection is counted under */
    uint64_t statement_start_ns; /* metrics and log_min_duration_statement */
    size_t statement_reply_at;   /* where the statement's replies begin in out */
    uint64_t held_since_ns;      /* replies held for durability since (metrics) */
};

conn_t *conn_create(conn_server_t *server, const char *peer) {
    CTX_ASSERT(server != NULL && server->db != NULL);
    CTX_ASSERT(peer != NULL);
    conn_t *conn = ctx_calloc(1, sizeof(*conn));
    conn->server = server;
    conn->state = CONN_STARTUP;
    buf_init(&conn->in);
    buf_init(&conn->out);
    buf_init(&conn->held);
    buf_init(&conn->fwd_batch);
    buf_init(&conn->fwd_named);
    arena_init(&conn->arena);
    conn->ext = ext_create();
    pthread_mutex_init(&conn->cancel_mu, NULL);
    snprintf(conn->peer, sizeof(conn->peer), "%s", peer);
    conn->metrics_state = METRICS_CONN_STARTUP;
    metrics_conn_move(METRICS_CONN_STATES, METRICS_CONN_STARTUP);
    return conn;
}

void conn_set_trusted(conn_t *conn) {
    CTX_ASSERT(conn->state == CONN_STARTUP && conn->session == NULL);
    conn->trusted = true;
}

static void conn_metrics_move(conn_t *conn, int to) {
    metrics_conn_move(conn->metrics_state, to);
    conn->metrics_state = to;
}

void conn_destroy(conn_t *conn) {
    if (conn == NULL) {
        return;
    }
    ext_destroy(conn->ext); /* before the session: portals may hold its results */
    sql_copy_fail(conn->copy);
    auth_free(conn->auth);
    if (conn->session != NULL) {
        CTX_ASSERT(conn->server->sessions_active > 0);
        sql_session_destroy(conn->session);
        conn->server->sessions_active--;
        CTX_DEBUG("disconnection: pid=%d host=%s", conn->backend_pid, conn->peer);
    }
    buf_free(&conn->in);
    buf_free(&conn->out);
    buf_free(&conn->held);
    buf_free(&conn->fwd_batch);
    buf_free(&conn->fwd_named);
    arena_destroy(&conn->arena);
    pthread_mutex_destroy(&conn->cancel_mu);
    conn_metrics_move(conn, METRICS_CONN_STATES);
    free(conn);
}

buf_t *conn_input(conn_t *conn) {
    return &conn->in;
}

buf_t *conn_output(conn_t *conn) {
    return &conn->out;
}

bool conn_closing(const conn_t *conn) {
    return conn->state == CONN_CLOSING;
}

bool conn_take_tls_start(conn_t *conn) {
    bool start = conn->tls_start;
    conn->tls_start = false;
    conn->tls_used |= start;
    return start;
}

void conn_output_sent(conn_t *conn, size_t bytes) {
    conn->out_sent += bytes;
}

int32_t conn_backend_pid(const conn_t *conn) {
    return conn->backend_pid;
}

/* Sends an ErrorResponse with severity FATAL and the given SQLSTATE; ends the connection. */
static void conn_fatal_state(conn_t *conn, const char *sqlstate, const char *message) {
    pgw_error_t error;
    memset(&error, 0, sizeof(error));
    error.severity = "FATAL";
    error.sqlstate = sqlstate;
    error.message = message;
    CTX_INFO("FATAL %s: %s (host=%s pid=%d)", sqlstate, message, conn->peer, conn->backend_pid);
    int rc = pgw_encode_error(&conn->out, &error);
    CTX_ASSERT(rc == 0);
    conn->state = CONN_CLOSING;
}

static void conn_fatal(conn_t *conn, int code, const char *message) {
    CTX_ASSERT(code < 0);
    conn_fatal_state(conn, ctx_sqlstate(code), message);
}

void conn_terminate(conn_t *conn) {
    CTX_ASSERT(conn != NULL);
    if (conn->state == CONN_READY || conn->state == CONN_SKIP || conn->state == CONN_COPY_IN) {
        conn_fatal_state(conn, "57P01", "terminating connection due to administrator command");
    }
    conn->state = CONN_CLOSING;
}

bool conn_cancel(conn_t *conn, int32_t secret) {
    CTX_ASSERT(conn != NULL);
    if (conn->session == NULL || secret != conn->backend_secret) {
        return false;
    }
    pthread_mutex_lock(&conn->cancel_mu);
    if (conn->statement_running) {
        atomic_store(sql_session_cancel_flag(conn->session), true);
    }
    pthread_mutex_unlock(&conn->cancel_mu);
    return true;
}

bool conn_awaiting_first_packet(const conn_t *conn) {
    return conn->state == CONN_STARTUP && buf_size(&conn->in) == 0 && !conn->tls_start;
}

bool conn_in_startup(const conn_t *conn) {
    return conn->state == CONN_STARTUP || conn->state == CONN_AUTH;
}

void conn_auth_timeout(conn_t *conn) {
    CTX_ASSERT(conn_in_startup(conn));
    if (conn->state == CONN_AUTH) {
        conn_fatal_state(conn, "57014", "canceling authentication due to timeout");
        return;
    }
    CTX_INFO("closing a connection that sent no startup packet in time (host=%s)", conn->peer);
    conn->state = CONN_CLOSING;
}

/* Brackets one statement (a Query message, an Execute): a cancel flag left from before is
 * dropped, CancelRequests count from here, and statement_timeout is armed. */
static void conn_statement_begin(conn_t *conn) {
    atomic_bool *flag = sql_session_cancel_flag(conn->session);
    pthread_mutex_lock(&conn->cancel_mu);
    if (!conn->fetch_waiting) { /* a parked Query's CancelRequest still counts */
        atomic_store(flag, false);
    }
    conn->statement_running = true;
    pthread_mutex_unlock(&conn->cancel_mu);
    const char *setting = sql_session_setting(conn->session, "statement_timeout");
    cancel_watch_arm(conn->server->watch, flag, cancel_timeout_ms(setting));
    conn_metrics_move(conn, METRICS_CONN_ACTIVE);
    conn->statement_start_ns = metrics_now_ns();
    conn->statement_reply_at = buf_size(&conn->out);
}

/* A CancelRequest from now on finds nothing to stop. */
static void conn_statement_stop(conn_t *conn) {
    pthread_mutex_lock(&conn->cancel_mu);
    conn->statement_running = false;
    atomic_store(sql_session_cancel_flag(conn->session), false);
    pthread_mutex_unlock(&conn->cancel_mu);
}

/* Ends the statement's message. A COPY FROM STDIN goes on over the CopyData messages that follow
 * (cancellable, under its own deadline) and stops in conn_copy_finish. */
static void conn_statement_end(conn_t *conn) {
    cancel_watch_disarm(conn->server->watch);
    if (conn->state != CONN_COPY_IN) {
        conn_statement_stop(conn);
    }
}

/* After the statement's replies (errors included) are queued: counts it by kind and outcome
 * (metrics.h) and logs it when it ran log_min_duration_statement or longer. text: the Query's
 * text, NULL for an Execute. */
static void conn_statement_measure(conn_t *conn, const char *text) {
    conn_metrics_move(conn, METRICS_CONN_IDLE);
    uint64_t duration_ns = metrics_now_ns() - conn->statement_start_ns;
    size_t at = conn->statement_reply_at <= buf_size(&conn->out) ? conn->statement_reply_at : 0;
    metrics_statements(buf_peek(&conn->out) + at, buf_size(&conn->out) - at, text, duration_ns);
    int64_t min_ms = ctx_log_min_duration_ms();
    if (min_ms >= 0 && duration_ns / 1000000u >= (uint64_t)min_ms) {
        metrics_slow_statement();
        CTX_INFO("duration: %.3f ms  statement: %.1000s (pid=%d)", (double)duration_ns / 1e6,
                 text != NULL ? text : "<extended protocol execute>", conn->backend_pid);
    }
}

/* ---- Startup phase ------------------------------------------------------------------------- */

/* Random positive backend pid (unique among live connections) and secret. */
static void conn_make_backend_key(conn_t *conn) {
    for (int attempt = 0; attempt < 100; attempt++) {
        uint32_t words[2] = {0, 0};
        ssize_t got = getrandom(words, sizeof(words), 0);
        CTX_ASSERT(got == (ssize_t)sizeof(words));
        int32_t pid = (int32_t)(words[0] & 0x3fffffffu) + 1;
        conn->backend_secret = (int32_t)words[1];
        if (conn->server->lookup == NULL ||
            conn->server->lookup(conn->server->lookup_ctx, pid) == NULL) {
            conn->backend_pid = pid;
            return;
        }
    }
    CTX_ASSERT(!"no free backend pid after 100 attempts");
}

/* Adds the -c name=value / --name=value settings of the startup "options" parameter. */
static void conn_split_options(conn_t *conn, const char *options, const char **names,
                               const char **values, int *count) {
    char *copy = arena_strdup(&conn->arena, options);
    char *save = NULL;
    bool expect_c_arg = false;
    for (char *tok = strtok_r(copy, " \t", &save); tok != NULL;
         tok = strtok_r(NULL, " \t", &save)) {
        char *setting = NULL;
        if (expect_c_arg) {
            setting = tok;
            expect_c_arg = false;
        } else if (strcmp(tok, "-c") == 0) {
            expect_c_arg = true;
        } else if (strncmp(tok, "-c", 2) == 0) {
            setting = tok + 2;
        } else if (strncmp(tok, "--", 2) == 0) {
            setting = tok + 2;
            for (char *p = setting; *p != '\0' && *p != '='; p++) {
                *p = *p == '-' ? '_' : *p;
            }
        }
        char *eq = setting != NULL ? strchr(setting, '=') : NULL;
        if (eq != NULL && eq != setting && *count < CONN_STARTUP_GUCS_MAX) {
            *eq = '\0';
            names[*count] = setting;
            values[*count] = eq + 1;
            (*count)++;
        }
    }
}

/* Ends the connection with a FATAL ErrorResponse carrying err (SQLSTATE, detail, hint). */
static void conn_fatal_err(conn_t *conn, const ctx_err_t *err) {
    CTX_ASSERT(err->code < 0);
    CTX_INFO("FATAL %s: %s (host=%s pid=%d)", ctx_sqlstate(err->code), err->message, conn->peer,
             conn->backend_pid);
    int rc = pgw_encode_error_ctx(&conn->out, "FATAL", err);
    CTX_ASSERT(rc == 0);
    conn->state = CONN_CLOSING;
}

/* Creates the session from the startup packet; a refused setting ends the connection. */
static bool conn_start_session(conn_t *conn, const pgw_startup_t *startup) {
    sql_startup_t info;
    memset(&info, 0, sizeof(info));
    info.user = startup->user;
    info.database = startup->database != NULL ? startup->database : startup->user;
    info.application_name = startup->application_name;
    const char **names = arena_calloc(&conn->arena, CONN_STARTUP_GUCS_MAX, sizeof(char *));
    const char **values = arena_calloc(&conn->arena, CONN_STARTUP_GUCS_MAX, sizeof(char *));
    int count = 0;
    for (size_t i = 0; i < startup->params_count && count < CONN_STARTUP_GUCS_MAX; i++) {
        if (strcmp(startup->params[i].name, FORWARD_STARTUP_PARAM) == 0) {
            if (!forward_token_check(conn->server->forward_secret, startup->user,
                                     startup->params[i].value)) {
                conn_fatal(conn, CTX_EAUTH_SPEC, "invalid forwarding token");
                return false;
            }
            conn->forwarded = true; /* authenticated by the cluster secret */
            names[count] = "follower_writes";
            values[count] = "reject"; /* a forwarded session is never forwarded again */
            count++;
            continue;
        }
        names[count] = startup->params[i].name;
        values[count] = startup->params[i].value;
        count++;
    }
    if (startup->options != NULL) {
        conn_split_options(conn, startup->options, names, values, &count);
    }
    info.guc_names = names;
    info.guc_values = values;
    info.nguc = count;
    ctx_err_t err;
    ctx_err_clear(&err);
    conn->session = sql_session_create(conn->server->db, &info, &err);
    if (conn->session == NULL) {
        conn_fatal_err(conn, &err);
        return false;
    }
    conn->server->sessions_active++;
    conn_metrics_move(conn, METRICS_CONN_IDLE);
    conn_make_backend_key(conn);
    CTX_INFO("connection authorized: user=%s database=%s host=%s pid=%d", info.user, info.database,
             conn->peer, conn->backend_pid);
    return true;
}

static void conn_finish_startup(conn_t *conn);

static void conn_on_startup_message(conn_t *conn, const pgw_startup_t *startup) {
    if (startup->protocol_minor > PGW_PROTOCOL_MINOR || startup->unrecognized_count > 0) {
        int rc = pgw_encode_negotiate_protocol_version(
            &conn->out, PGW_PROTOCOL_MINOR, startup->unrecognized, startup->unrecognized_count);
        CTX_ASSERT(rc == 0);
    }
    if (conn->server->sessions_active >= conn->server->sessions_max) {
        conn_fatal(conn, CTX_ETOO_MANY_CONN, "sorry, too many clients already");
        return;
    }
    if (!conn_start_session(conn, startup)) {
        return;
    }
    if (!conn->trusted && !conn->forwarded && conn->server->auth != NULL &&
        conn->server->auth->method != AUTH_TRUST) {
        conn->auth = auth_begin(conn->server->auth, startup->user, &conn->out);
        conn->state = CONN_AUTH;
        return;
    }
    conn_finish_startup(conn);
}

/* AuthenticationOk, ParameterStatus for every reported setting, BackendKeyData, ReadyForQuery. */
static void conn_finish_startup(conn_t *conn) {
    pgw_encode_auth_ok(&conn->out);
    sql_param_change_t *params = NULL;
    int count = sql_session_report_params(conn->session, &params);
    for (int i = 0; i < count; i++) {
        int rc = pgw_encode_parameter_status(&conn->out, params[i].name, params[i].value);
        CTX_ASSERT(rc == 0);
    }
    pgw_encode_backend_key_data(&conn->out, conn->backend_pid, conn->backend_secret);
    pgw_encode_ready_for_query(&conn->out, (pgw_txn_status_t)sql_session_txn_status(conn->session));
    conn->state = CONN_READY;
}

static void conn_on_cancel(conn_t *conn, const pgw_startup_t *startup) {
    conn_t *target = NULL;
    if (conn->server->lookup != NULL) {
        target = conn->server->lookup(conn->server->lookup_ctx, startup->cancel_pid);
    }
    bool done = target != NULL && target != conn && conn_cancel(target, startup->cancel_secret);
    CTX_INFO("cancel request for pid %d from %s: %s", startup->cancel_pid, conn->peer,
             done ? "signalled" : "no matching backend");
    conn->state = CONN_CLOSING; /* no reply, as PostgreSQL */
}

/* Handles one startup-phase frame body. */
static void conn_on_startup_frame(conn_t *conn, const pgw_frame_t *frame) {
    pgw_startup_t startup;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (pgw_decode_startup(frame->body, frame->body_len, &conn->arena, &startup, &err) < 0) {
        conn_fatal(conn, err.code, err.message);
        return;
    }
    switch (startup.kind) {
    case PGW_STARTUP_SSL:
    case PGW_STARTUP_GSSENC:
        if (++conn->negotiations > CONN_NEGOTIATIONS_MAX) {
            conn_fatal(conn, CTX_EPROTOCOL, "too many encryption negotiation requests");
            return;
        }
        conn->tls_start = startup.kind == PGW_STARTUP_SSL && conn->server->tls_enabled;
        pgw_encode_ssl_answer(&conn->out, conn->tls_start);
        return;
    case PGW_STARTUP_CANCEL:
        conn_on_cancel(conn, &startup);
        return;
    case PGW_STARTUP_MESSAGE:
        conn_on_startup_message(conn, &startup);
        return;
    }
    CTX_ASSERT(!"unknown startup kind");
}

/* ---- Simple query ---------------------------------------------------------------------------- */

static void conn_send_error(conn_t *conn, const ctx_err_t *err) {
    ctx_err_t timeout;
    if (err->code == CTX_ECANCELED && cancel_watch_fired(conn->server->watch)) {
        timeout = *err; /* the flag was set by statement_timeout, not by a CancelRequest */
        snprintf(timeout.message, sizeof(timeout.message),
                 "canceling statement due to statement timeout");
        err = &timeout;
    }
    CTX_DEBUG("ERROR %s: %s (pid=%d)", ctx_sqlstate(err->code), err->message, conn->backend_pid);
    reply_error(&conn->out, err);
}

/* The error of a reply that did not fit in memory (the output buffer failed, buf.h). */
static int conn_out_of_memory(ctx_err_t *err) {
    int rc = ctx_err_set(err, CTX_ENOMEM, "out of memory");
    ctx_err_detail(err, "The system could not provide memory for the reply.");
    return rc;
}

/* Notices, RowDescription + DataRows (text), CommandComplete, ParameterStatus changes; when the
 * output buffer runs out of memory, the statement's reply is discarded back to reply_at (where
 * it began) and 53200 returned, so no half-written message reaches the wire. */
static int conn_send_result(conn_t *conn, const sql_result_t *result, size_t reply_at,
                            ctx_err_t *err) {
    int rc = reply_result(&conn->out, &conn->arena, result, err);
    if (buf_failed(&conn->out)) {
        CTX_WARN("out of memory encoding a reply of %llu rows (pid=%d); the statement fails",
                 (unsigned long long)result->nrows, conn->backend_pid);
        buf_rewind(&conn->out, reply_at);
        return conn_out_of_memory(err);
    }
    return rc;
}

/* Rejects query text that is not valid UTF-8 (the client_encoding is always UTF8) with
 * PostgreSQL's 22021 error, so the lexer and every error message only ever see valid text. */
static bool conn_check_utf8(conn_t *conn, const char *text, size_t len) {
    ctx_err_t err;
    ctx_err_clear(&err);
    if (utf8_check(text, len, &err) == CTX_OK) {
        return true;
    }
    reply_error(&conn->out, &err);
    return false;
}

/* ---- COPY ------------------------------------------------------------------------------------ */

/* COPY … TO STDOUT: CopyOutResponse, one CopyData per line, CopyDone, CommandComplete. */
static int conn_copy_out(conn_t *conn, const stmt_t *stmt, const char *text, ctx_err_t *err) {
    sql_copy_out_t out;
    int rc = sql_copy_to(conn->session, stmt, text, &conn->arena, &out, err);
    if (rc < 0) {
        return rc;
    }
    int8_t format = out.binary ? PGW_FORMAT_BINARY : PGW_FORMAT_TEXT;
    int16_t *formats = arena_calloc(&conn->arena, (size_t)out.ncols + 1, sizeof(int16_t));
    for (int i = 0; i < out.ncols; i++) {
        formats[i] = format;
    }
    if (pgw_encode_copy_out_response(&conn->out, format, formats, (size_t)out.ncols) < 0) {
        return ctx_err_set(err, CTX_ELIMIT, "too many columns for COPY");
    }
    for (uint64_t i = 0; i < out.nlines; i++) {
        rc = pgw_encode_copy_data(&conn->out, out.lines[i], out.line_lens[i]);
        CTX_ASSERT(rc == 0);
    }
    pgw_encode_copy_done(&conn->out);
    return reply_complete(&conn->out, out.tag, NULL, err);
}

static uint64_t conn_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* COPY … FROM STDIN: CopyInResponse (never preceded by RowDescription), then CONN_COPY_IN. A COPY
 * spans many messages, so its statement_timeout is a deadline fixed here and re-armed for each
 * message (conn_on_copy_message). */
static int conn_copy_in(conn_t *conn, const stmt_t *stmt, bool extended, ctx_err_t *err) {
    CTX_ASSERT(conn->copy == NULL);
    int ncols = 0;
    int rc = sql_copy_begin(conn->session, stmt, &conn->copy, &ncols, err);
    if (rc < 0) {
        return rc;
    }
    int8_t format = sql_copy_is_binary(conn->copy) ? PGW_FORMAT_BINARY : PGW_FORMAT_TEXT;
    int16_t *formats = arena_calloc(&conn->arena, (size_t)ncols + 1, sizeof(int16_t));
    for (int i = 0; i < ncols; i++) {
        formats[i] = format;
    }
    rc = pgw_encode_copy_in_response(&conn->out, format, formats, (size_t)ncols);
    CTX_ASSERT(rc == 0);
    conn->state = CONN_COPY_IN;
    conn->copy_extended = extended;
    uint64_t timeout_ms =
        cancel_timeout_ms(sql_session_setting(conn->session, "statement_timeout"));
    conn->copy_deadline_ms = timeout_ms > 0 ? conn_now_ms() + timeout_ms : 0;
    return 0;
}

/* ext_io_t.copy: an Execute of a COPY statement. */
static int conn_copy_execute(void *ctx, const stmt_t *stmt, const char *text, ctx_err_t *err) {
    conn_t *conn = ctx;
    return stmt->u.copy->from ? conn_copy_in(conn, stmt, true, err)
                              : conn_copy_out(conn, stmt, text, err);
}

/* Leaves copy-in mode; err NULL on success. A simple Query's COPY ends its Query here. */
static void conn_copy_finish(conn_t *conn, const ctx_err_t *err) {
    CTX_ASSERT(conn->state == CONN_COPY_IN);
    conn->copy = NULL;
    conn_statement_stop(conn);
    if (err != NULL) {
        conn_send_error(conn, err);
        sql_query_failed(conn->session);
    }
    if (conn->copy_extended) {
        conn->state = err != NULL ? CONN_SKIP : CONN_READY;
        return;
    }
    conn->state = CONN_READY;
    ctx_err_t end_err;
    ctx_err_clear(&end_err);
    if (sql_query_end(conn->session, &conn->arena, &end_err) < 0 && err == NULL) {
        conn_send_error(conn, &end_err);
    }
    ext_after_simple_query(conn->ext, conn->session);
    pgw_encode_ready_for_query(&conn->out, (pgw_txn_status_t)sql_session_txn_status(conn->session));
}

static void conn_on_copy_step(conn_t *conn, const pgw_msg_t *msg);

/* A message during copy-in, under the COPY's statement_timeout: 57014 once its deadline has
 * passed, otherwise the watcher is armed for the time left while the message runs. */
static void conn_on_copy_message(conn_t *conn, const pgw_msg_t *msg) {
    uint64_t now = conn->copy_deadline_ms != 0 ? conn_now_ms() : 0;
    bool ending = msg->type == PGW_MSG_COPY_FAIL || msg->type == PGW_MSG_TERMINATE;
    if (conn->copy_deadline_ms != 0 && now >= conn->copy_deadline_ms && !ending) {
        ctx_err_t err;
        ctx_err_clear(&err);
        ctx_err_set(&err, CTX_ECANCELED, "canceling statement due to statement timeout");
        sql_copy_fail(conn->copy);
        conn_copy_finish(conn, &err);
        return;
    }
    if (conn->copy_deadline_ms != 0) {
        cancel_watch_arm(conn->server->watch, sql_session_cancel_flag(conn->session),
                         conn->copy_deadline_ms - now);
    }
    conn_on_copy_step(conn, msg);
    if (conn->copy_deadline_ms != 0) {
        cancel_watch_disarm(conn->server->watch);
    }
}

static void conn_on_copy_step(conn_t *conn, const pgw_msg_t *msg) {
    ctx_err_t err;
    ctx_err_clear(&err);
    sql_result_t result;
    switch (msg->type) {
    case PGW_MSG_COPY_DATA:
        if (sql_copy_data(conn->copy, msg->copy_data.data, msg->copy_data.len, &err) < 0) {
            sql_copy_fail(conn->copy);
            conn_copy_finish(conn, &err);
        }
        return;
    case PGW_MSG_COPY_DONE:
        if (sql_copy_end(conn->copy, &conn->arena, &result, &err) < 0 ||
            reply_complete(&conn->out, result.tag, NULL, &err) < 0) {
            conn_copy_finish(conn, &err);
        } else {
            conn_copy_finish(conn, NULL);
        }
        return;
    case PGW_MSG_FLUSH:
    case PGW_MSG_SYNC: /* ignored during copy-in, as PostgreSQL does */
        return;
    case PGW_MSG_COPY_FAIL:
        ctx_err_set(&err, CTX_ECANCELED, "COPY from stdin failed: %s", msg->copy_fail);
        break;
    default:
        ctx_err_set(&err, CTX_EPROTOCOL, "unexpected message type 0x%02X during COPY from stdin",
                    (unsigned)msg->type);
        break;
    }
    sql_copy_fail(conn->copy);
    conn_copy_finish(conn, &err);
    if (msg->type == PGW_MSG_TERMINATE) {
        conn->state = CONN_CLOSING;
    }
}

/* A COPY statement of a simple Query: 1 when copy-in mode started, 0 when done, or an error. */
static int conn_run_copy(conn_t *conn, const stmt_t *stmt, const char *text, bool last,
                         ctx_err_t *err) {
    if (!stmt->u.copy->from) {
        return conn_copy_out(conn, stmt, text, err);
    }
    if (!last) {
        return ctx_err_set(err, CTX_EFEATURE,
                           "COPY FROM STDIN must be the last statement of a query string");
    }
    int rc = conn_copy_in(conn, stmt, false, err);
    return rc < 0 ? rc : 1;
}

/* The reply of CREATE SNAPSHOT waits for a snapshot that may fail, and then becomes that error:
 * nothing may run after it in one Query. False (error sent, nothing run) when something would. */
static bool conn_snapshot_last(conn_t *conn, stmt_t *const *stmts, int count) {
    for (int i = 0; i + 1 < count; i++) {
        if (stmts[i]->kind == STMT_CREATE_SNAPSHOT) {
            ctx_err_t err;
            ctx_err_clear(&err);
            ctx_err_set(&err, CTX_EACTIVE_TXN,
                        "CREATE SNAPSHOT must be the last statement of a multi-statement query");
            sql_query_failed(conn->session);
            conn_send_error(conn, &err);
            return false;
        }
    }
    return true;
}

/* A Query whose first statement failed with CTX_ENOT_READY (a snapshot it reads AS OF is being
 * fetched from the object store) outside a transaction block changed nothing: its implicit
 * transaction ends and the Query is parked (fetch_parked) to run again once the fetch is done,
 * instead of answering. False for any other failure, which is answered. */
static bool conn_park_for_fetch(conn_t *conn, bool first_and_idle, const ctx_err_t *err) {
    if (!first_and_idle || err->code != CTX_ENOT_READY) {
        return false;
    }
    ctx_err_t end_err;
    ctx_err_clear(&end_err);
    (void)sql_query_end(conn->session, &conn->arena, &end_err);
    conn->fetch_parked = true;
    return true;
}

/* Runs the statements of one Query; returns after queueing everything but ReadyForQuery. */
static void conn_run_statements(conn_t *conn, const pgw_query_t *query) {
    stmt_t **stmts = NULL;
    int count = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (!conn_check_utf8(conn, query->sql, query->sql_len)) {
        sql_query_failed(conn->session);
        return;
    }
    char name[64];
    bool all = false;
    if (ext_match_deallocate(query->sql, name, sizeof(name), &all)) {
        /* one namespace, as in PostgreSQL: protocol-level statements, then SQL PREPARE's */
        int rc = ext_deallocate(conn->ext, query->sql, &err);
        if (all || rc == CTX_EUNDEF_PREPARED) {
            rc = sql_deallocate(conn->session, all ? NULL : name, &err);
            rc = all ? CTX_OK : rc;
        }
        if (rc < 0) {
            sql_query_failed(conn->session);
            conn_send_error(conn, &err);
            return;
        }
        rc = pgw_encode_command_complete(&conn->out, "DEALLOCATE");
        CTX_ASSERT(rc == 0);
        return;
    }
    if (sql_parse(query->sql, query->sql_len, &conn->arena, &stmts, &count, &err) < 0) {
        sql_query_failed(conn->session); /* inside a block, the block fails ('E') */
        conn_send_error(conn, &err);
        return;
    }
    if (count == 0) {
        pgw_encode_empty_query(&conn->out);
        return;
    }
    CTX_ASSERT(stmts != NULL);
    if (!conn_snapshot_last(conn, stmts, count)) {
        return;
    }
    bool failed = false;
    bool idle = sql_session_txn_status(conn->session) == 'I';
    sql_query_begin(conn->session, count);
    for (int i = 0; i < count && !failed; i++) {
        sql_result_t result;
        memset(&result, 0, sizeof(result));
        size_t reply_at = buf_size(&conn->out);
        if (stmts[i]->kind == STMT_COPY) {
            int rc = conn_run_copy(conn, stmts[i], query->sql, i + 1 == count, &err);
            if (rc == 1) {
                return; /* copy-in mode: CopyDone / CopyFail end the Query */
            }
            failed = rc < 0;
            if (failed) {
                sql_query_failed(conn->session);
                conn_send_error(conn, &err);
            }
            continue;
        }
        int rc = sql_execute(conn->session, stmts[i], query->sql, &conn->arena, &result, &err);
        if (rc < 0 && conn_park_for_fetch(conn, i == 0 && idle, &err)) {
            return;
        }
        if (rc == 0 && stmts[i]->kind == STMT_CREATE_SNAPSHOT) {
            conn->snapshot_reply_at = reply_at;
        }
        if (rc == 0) {
            rc = conn_send_result(conn, &result, reply_at, &err);
            if (rc < 0) {
                sql_query_failed(conn->session);
            }
        }
        if (rc < 0) {
            conn_send_error(conn, &err);
            failed = true;
        }
    }
    ctx_err_clear(&err);
    if (sql_query_end(conn->session, &conn->arena, &err) < 0 && !failed) {
        conn_send_error(conn, &err);
    }
}

static ext_io_t conn_ext_io(conn_t *conn) {
    ext_io_t io = {.session = conn->session,
                   .out = &conn->out,
                   .arena = &conn->arena,
                   .copy = conn_copy_execute,
                   .copy_ctx = conn};
    return io;
}

static void conn_on_query(conn_t *conn, const pgw_query_t *query) {
    CTX_ASSERT(conn->session != NULL);
    CTX_DEBUG("query (pid=%d): %.200s", conn->backend_pid, query->sql);
    ext_io_t io = conn_ext_io(conn);
    ctx_err_t err;
    ctx_err_clear(&err);
    if (ext_before_simple_query(conn->ext, &io, &err) < 0) {
        conn_send_error(conn, &err);
    }
    conn_statement_begin(conn);
    conn->query_simple = true;
    conn->fetch_parked = false;
    conn_run_statements(conn, query);
    if (conn->fetch_parked) { /* still running: conn_fetch_gate runs it again or answers */
        cancel_watch_disarm(conn->server->watch);
        if (!conn->fetch_waiting) {
            conn->fetch_since_ms = conn_now_ms();
        }
        conn->fetch_waiting = true;
        return;
    }
    conn->fetch_waiting = false;
    conn_statement_end(conn);
    conn_statement_measure(conn, query->sql);
    if (conn->state == CONN_COPY_IN) {
        return; /* ReadyForQuery follows CopyDone / CopyFail */
    }
    ext_after_simple_query(conn->ext, conn->session);
    pgw_encode_ready_for_query(&conn->out, (pgw_txn_status_t)sql_session_txn_status(conn->session));
}

/* ---- Regular messages ------------------------------------------------------------------------ */

/* Runs one extended-protocol message; an error is reported once, fails the transaction and
 * makes every message up to Sync be discarded. */
static void conn_on_extended(conn_t *conn, const pgw_msg_t *msg) {
    if (conn->state != CONN_READY) {
        return;
    }
    ext_io_t io = conn_ext_io(conn);
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = 0;
    switch (msg->type) {
    case PGW_MSG_PARSE:
        rc = ext_parse(conn->ext, &io, &msg->parse, &err);
        break;
    case PGW_MSG_BIND:
        rc = ext_bind(conn->ext, &io, &msg->bind, &err);
        break;
    case PGW_MSG_DESCRIBE:
        rc = ext_describe(conn->ext, &io, &msg->describe, &err);
        break;
    case PGW_MSG_EXECUTE: {
        conn_statement_begin(conn);
        size_t reply_at = buf_size(&conn->out);
        uint64_t snapshot_before = sql_session_snapshot_wait(conn->session);
        rc = ext_execute(conn->ext, &io, &msg->execute, &err);
        conn_statement_end(conn);
        uint64_t snapshot = sql_session_snapshot_wait(conn->session);
        if (rc == 0 && snapshot != 0 && snapshot != snapshot_before) {
            conn->snapshot_reply_at = reply_at;
        }
        break;
    }
    default:
        CTX_ASSERT(msg->type == PGW_MSG_CLOSE);
        rc = ext_close(conn->ext, &io, &msg->close, &err);
        break;
    }
    if (rc < 0) {
        conn_send_error(conn, &err);
        sql_query_failed(conn->session);
        conn->state = CONN_SKIP;
    }
    if (msg->type == PGW_MSG_EXECUTE) {
        conn_statement_measure(conn, NULL);
    }
}

static void conn_on_sync(conn_t *conn) {
    ext_io_t io = conn_ext_io(conn);
    ctx_err_t err;
    ctx_err_clear(&err);
    if (ext_sync(conn->ext, &io, &err) < 0) {
        conn_send_error(conn, &err);
    }
    conn->state = CONN_READY;
    pgw_encode_ready_for_query(&conn->out, (pgw_txn_status_t)sql_session_txn_status(conn->session));
}

/* A PasswordMessage / SASL response during authentication (state CONN_AUTH). */
static void conn_on_auth(conn_t *conn, const pgw_msg_t *msg) {
    if (msg->type == PGW_MSG_TERMINATE) {
        conn->state = CONN_CLOSING;
        return;
    }
    if (msg->type != PGW_MSG_PASSWORD) {
        conn_fatal(conn, CTX_EPROTOCOL, "expected password response");
        return;
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    bool done = false;
    if (auth_step(conn->auth, msg->password.data, msg->password.len, &conn->out, &done, &err) < 0) {
        conn_fatal(conn, err.code, err.message);
        return;
    }
    if (done) {
        auth_free(conn->auth);
        conn->auth = NULL;
        conn_finish_startup(conn);
    }
}

static void conn_on_message(conn_t *conn, const pgw_frame_t *frame) {
    pgw_msg_t msg;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (pgw_decode(frame, &conn->arena, &msg, &err) < 0) {
        conn_fatal(conn, err.code, err.message);
        return;
    }
    if (conn->state == CONN_AUTH) {
        conn_on_auth(conn, &msg);
        return;
    }
    if (conn->state == CONN_COPY_IN) {
        conn_on_copy_message(conn, &msg);
        return;
    }
    switch (msg.type) {
    case PGW_MSG_QUERY:
        if (conn->state == CONN_READY) {
            conn_on_query(conn, &msg.query);
        }
        return;
    case PGW_MSG_TERMINATE:
        conn->state = CONN_CLOSING;
        return;
    case PGW_MSG_SYNC:
        conn_on_sync(conn);
        return;
    case PGW_MSG_FLUSH:
    case PGW_MSG_COPY_DATA: /* outside COPY: ignored, as PostgreSQL does */
    case PGW_MSG_COPY_DONE:
    case PGW_MSG_COPY_FAIL:
        return;
    case PGW_MSG_PARSE:
    case PGW_MSG_BIND:
    case PGW_MSG_DESCRIBE:
    case PGW_MSG_EXECUTE:
    case PGW_MSG_CLOSE:
        conn_on_extended(conn, &msg);
        return;
    case PGW_MSG_PASSWORD:
        break;
    }
    char text[64];
    snprintf(text, sizeof(text), "invalid frontend message type %d", (int)msg.type);
    conn_fatal(conn, CTX_EPROTOCOL, text);
}

/* After any message: output that ran out of memory somewhere the statement loop does not catch
 * it (the extended protocol, notices) is discarded back to the message's start (mark) and
 * replaced by a 53200 ErrorResponse, ending the message as an error would: ReadyForQuery after a
 * simple Query, skip to Sync in the extended protocol, FATAL in other states. */
static void conn_settle_out_of_memory(conn_t *conn, size_t mark) {
    if (!buf_failed(&conn->out)) {
        return;
    }
    buf_rewind(&conn->out, mark);
    ctx_err_t err;
    ctx_err_clear(&err);
    conn_out_of_memory(&err);
    if (conn->session == NULL || conn->state == CONN_COPY_IN) {
        conn_fatal(conn, err.code, err.message);
        return;
    }
    sql_query_failed(conn->session);
    conn_send_error(conn, &err);
    if (conn->query_simple) {
        pgw_encode_ready_for_query(&conn->out,
                                   (pgw_txn_status_t)sql_session_txn_status(conn->session));
    } else if (conn->state == CONN_READY) {
        conn->state = CONN_SKIP;
    }
}

/* ---- Durability: replies held until the WAL (and a snapshot) are durable ------------------- */

static bool conn_reply_ready(const conn_t *conn, uint64_t held_ms) {
    const conn_server_t *server = conn->server;
    if (conn->session == NULL || server->reply_ready == NULL) {
        return true;
    }
    return server->reply_ready(server->reply_ctx, sql_session_commit_lsn(conn->session),
                               sql_session_snapshot_wait(conn->session), held_ms);
}

/* After a message: if its work is not durable yet, moves what it queued (past `mark` bytes of
 * output) to conn->held -- by swapping the buffers when out holds nothing else (no copy, no
 * allocation), else by a copy. A copy refused for memory ends this connection with a FATAL
 * 53200 (its work stands and becomes durable, as when a client's network fails at commit). */
static void conn_hold_replies(conn_t *conn, size_t mark) {
    uint64_t now = conn_now_ms();
    if (conn_reply_ready(conn, now)) {
        return;
    }
    conn->held_ms = now;
    CTX_ASSERT(buf_size(&conn->out) >= mark);
    CTX_ASSERT(buf_size(&conn->held) == 0); /* a waiting connection processes no message */
    if (mark == 0) {
        buf_t reply = conn->out;
        conn->out = conn->held;
        conn->held = reply;
    } else {
        buf_append(&conn->held, buf_peek(&conn->out) + mark, buf_size(&conn->out) - mark);
        conn->out.len = conn->out.start + mark;
        if (buf_failed(&conn->held)) {
            buf_rewind(&conn->held, 0);
            CTX_WARN("out of memory holding a reply until it is durable (pid=%d)",
                     conn->backend_pid);
            conn_fatal(conn, CTX_ENOMEM, "out of memory");
            return;
        }
    }
    conn->waiting = true;
    conn->held_since_ns = metrics_now_ns();
    bool snapshot = conn->snapshot_reply_at != SIZE_MAX && conn->snapshot_reply_at >= mark;
    conn->held_snapshot_at = snapshot ? conn->snapshot_reply_at - mark : SIZE_MAX;
    conn->held_simple = conn->query_simple;
}

/* Cuts the held replies at keep bytes and ends them with err: in a simple Query followed by
 * ReadyForQuery; in the extended protocol the messages up to Sync are then skipped, as after any
 * error. */
static void conn_held_error(conn_t *conn, size_t keep, const ctx_err_t *err) {
    CTX_ASSERT(keep <= buf_size(&conn->held));
    conn->held.len = conn->held.start + keep;
    reply_error(&conn->held, err);
    if (conn->held_simple) {
        pgw_encode_ready_for_query(&conn->held,
                                   (pgw_txn_status_t)sql_session_txn_status(conn->session));
    } else {
        sql_query_failed(conn->session);
        conn->state = CONN_SKIP;
    }
}

/* The held reply of a CREATE SNAPSHOT whose snapshot failed becomes its ErrorResponse (it is the
 * last statement of its Query). */
static void conn_settle_snapshot(conn_t *conn) {
    const conn_server_t *server = conn->server;
    uint64_t id = sql_session_snapshot_wait(conn->session);
    if (id == 0 || server->snapshot_result == NULL || conn->held_snapshot_at == SIZE_MAX) {
        return;
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    if (server->snapshot_result(server->reply_ctx, id, &err) == CTX_OK) {
        return;
    }
    conn_held_error(conn, conn->held_snapshot_at, &err);
}

/* The held replies of a message whose commit did not take effect (replaced by another leader's
 * entry, or unknown after the timeout) become that error. True when they did. */
static bool conn_settle_commit(conn_t *conn) {
    const conn_server_t *server = conn->server;
    uint64_t lsn = sql_session_commit_lsn(conn->session);
    if (lsn == 0 || server->commit_result == NULL) {
        return false;
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    if (server->commit_result(server->reply_ctx, lsn, conn->held_ms, &err) == CTX_OK) {
        return false;
    }
    conn_held_error(conn, 0, &err);
    return true;
}

bool conn_waiting(const conn_t *conn) {
    return conn->waiting || conn->gate_waiting || conn->fetch_waiting;
}

bool conn_polls(const conn_t *conn) {
    return conn->fetch_waiting;
}

/* A Query parked until a snapshot it reads is fetched (conn_park_for_fetch): true to run it
 * again (the fetch may have finished or failed; a run that still finds it being fetched parks
 * again); false after answering 57014 when statement_timeout passed since it was first parked
 * or a CancelRequest came meanwhile (*consumed: the message is done). */
static bool conn_fetch_gate(conn_t *conn, bool *consumed) {
    *consumed = false;
    if (!conn->fetch_waiting) {
        return true;
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    uint64_t timeout_ms =
        cancel_timeout_ms(sql_session_setting(conn->session, "statement_timeout"));
    if (atomic_load(sql_session_cancel_flag(conn->session))) {
        ctx_err_set(&err, CTX_ECANCELED, "canceling statement due to user request");
    } else if (timeout_ms > 0 && conn_now_ms() - conn->fetch_since_ms >= timeout_ms) {
        ctx_err_set(&err, CTX_ECANCELED, "canceling statement due to statement timeout");
        ctx_err_detail(&err, "The snapshot it reads was still being fetched from the object "
                             "store.");
    } else {
        return true;
    }
    conn->fetch_waiting = false;
    conn_statement_stop(conn);
    conn->statement_reply_at = buf_size(&conn->out);
    conn_send_error(conn, &err);
    conn_statement_measure(conn, NULL);
    ext_after_simple_query(conn->ext, conn->session);
    pgw_encode_ready_for_query(&conn->out, (pgw_txn_status_t)sql_session_txn_status(conn->session));
    *consumed = true;
    return false;
}

bool conn_resume(conn_t *conn) {
    if (conn->waiting && conn_reply_ready(conn, conn->held_ms)) {
        if (!conn_settle_commit(conn)) {
            conn_settle_snapshot(conn);
        }
        conn->waiting = false;
        metrics_durability_wait(metrics_now_ns() - conn->held_since_ns);
        size_t out_size = buf_size(&conn->out);
        if (out_size == 0) { /* the held reply becomes the output: no copy */
            buf_t empty = conn->out;
            conn->out = conn->held;
            conn->held = empty;
        } else {
            buf_append(&conn->out, buf_peek(&conn->held), buf_size(&conn->held));
        }
        buf_reset(&conn->held);
        if (buf_failed(&conn->out)) { /* as in conn_hold_replies */
            buf_rewind(&conn->out, out_size);
            CTX_WARN("out of memory releasing a held reply (pid=%d)", conn->backend_pid);
            conn_fatal(conn, CTX_ENOMEM, "out of memory");
        }
    }
    return !conn->waiting;
}

/* The read barrier before a request (a Query, or the Parse, Bind or Execute that begins an
 * extended-protocol request; conn_server_t.read_ready), so the whole request runs at once after
 * it: true to run the message now; false to wait (conn_waiting) or when the barrier failed, in
 * which case the message was answered with the error and must be consumed (*consumed). */
static bool conn_read_gate(conn_t *conn, const pgw_frame_t *frame, bool *consumed) {
    const conn_server_t *server = conn->server;
    *consumed = false;
    if (!server->reads_barrier || server->read_ready == NULL || conn->session == NULL ||
        conn->state != CONN_READY || conn->req_open ||
        (frame->type != PGW_MSG_QUERY && frame->type != PGW_MSG_PARSE &&
         frame->type != PGW_MSG_BIND && frame->type != PGW_MSG_EXECUTE)) {
        return true;
    }
    const char *consistency = sql_session_setting(conn->session, "read_consistency");
    if (consistency != NULL && strcmp(consistency, "local") == 0) {
        return true;
    }
    if (!conn->gate_waiting) {
        conn->gate_token = 0;
        conn->gate_since_ms = conn_now_ms();
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    if (server->read_ready(server->reply_ctx, &conn->gate_token, conn->gate_since_ms, &err)) {
        conn->gate_waiting = false;
        return true;
    }
    conn->gate_waiting = err.code == CTX_OK;
    if (err.code != CTX_OK) {
        conn_send_error(conn, &err);
        if (frame->type == PGW_MSG_QUERY) {
            pgw_encode_ready_for_query(&conn->out,
                                       (pgw_txn_status_t)sql_session_txn_status(conn->session));
        } else {
            sql_query_failed(conn->session);
            conn->state = CONN_SKIP;
        }
        *consumed = true;
    }
    return false;
}

/* ---- Forwarding writes to the leader (server/forward.h) ------------------------------------ */

enum { CONN_FORWARD_CAPTURE_MAX = 64 << 20, CONN_FORWARD_NAMED_MAX = 16 << 20 };

/* The name a Parse ('P') or Close-statement ('C' 'S') frame refers to, or NULL. */
static const char *conn_fwd_frame_name(const uint8_t *frame, size_t len, uint8_t *type) {
    *type = frame[0];
    const char *body = (const char *)frame + 5;
    size_t body_len = len - 5;
    if (*type == PGW_MSG_CLOSE && body_len >= 2 && body[0] == 'S') {
        return strnlen(body + 1, body_len - 1) < body_len - 1 ? body + 1 : NULL;
    }
    if (*type == PGW_MSG_PARSE && body_len >= 1) {
        return strnlen(body, body_len) < body_len ? body : NULL;
    }
    return NULL;
}

/* Drops the remembered Parse of statement name (rebuilding the list without it). */
static void conn_fwd_forget(conn_t *conn, const char *name) {
    buf_t kept;
    buf_init(&kept);
    const uint8_t *p = buf_peek(&conn->fwd_named);
    size_t left = buf_size(&conn->fwd_named);
    while (left >= 5) {
        size_t len = 1 + ((size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4]);
        uint8_t type;
        const char *n = conn_fwd_frame_name(p, len, &type);
        if (n == NULL || strcmp(n, name) != 0) {
            buf_append(&kept, p, len);
        }
        p += len;
        left -= len;
    }
    buf_free(&conn->fwd_named);
    conn->fwd_named = kept;
}

/* At the end of a request: its named Parse messages are what the leader needs replayed. */
static void conn_fwd_remember(conn_t *conn) {
    const uint8_t *p = buf_peek(&conn->fwd_batch);
    size_t left = buf_size(&conn->fwd_batch);
    while (left >= 5) {
        size_t len = 1 + ((size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4]);
        uint8_t type;
        const char *name = conn_fwd_frame_name(p, len, &type);
        if (name != NULL && name[0] != '\0') {
            conn_fwd_forget(conn, name);
            if (type == PGW_MSG_PARSE) {
                buf_append(&conn->fwd_named, p, len);
            }
        }
        p += len;
        left -= len;
    }
}

/* Before a message runs: a Query or the first message after a Sync begins a request, whose
 * frames are copied while they fit (COPY data never is). */
static void conn_fwd_before(conn_t *conn, const pgw_frame_t *frame, bool starting) {
    if (conn->server->leader_pgwire == NULL || conn->session == NULL || conn->forwarded ||
        conn->tls_used) {
        return;
    }
    if (starting) {
        conn->fwd_out_mark = buf_size(&conn->out);
        conn->fwd_sent_mark = conn->out_sent;
        conn->fwd_begin = sql_session_txn_status(conn->session) == 'T';
        conn->fwd_capture = conn->state == CONN_READY;
        buf_reset(&conn->fwd_batch);
    }
    if (conn->fwd_capture &&
        (conn->state == CONN_COPY_IN ||
         buf_size(&conn->fwd_batch) + frame->frame_bytes > CONN_FORWARD_CAPTURE_MAX)) {
        conn->fwd_capture = false;
        buf_free(&conn->fwd_batch);
        buf_init(&conn->fwd_batch);
    }
    if (conn->fwd_capture) {
        buf_append(&conn->fwd_batch, buf_peek(&conn->in), frame->frame_bytes);
        conn->fwd_capture = !buf_failed(&conn->fwd_batch);
    }
}

/* After a message: a write refused because this member is a follower hands the request to the
 * leader (else the 25006 error stays). Replies of the request not yet sent are dropped; those the
 * client already has (a Flush inside the request) are dropped from the leader's answer instead
 * (forward_handoff_t.skip_bytes: the same messages, byte for byte, from the same code). */
static bool conn_fwd_after(conn_t *conn, const pgw_frame_t *frame) {
    if (conn->session == NULL) {
        return false;
    }
    char leader[FORWARD_ADDRESS_BYTES];
    if (sql_session_take_forward(conn->session) && conn->fwd_capture &&
        buf_size(&conn->fwd_named) < CONN_FORWARD_NAMED_MAX &&
        conn->server->leader_pgwire(conn->server->reply_ctx, leader, sizeof(leader))) {
        uint64_t sent = conn->out_sent - conn->fwd_sent_mark; /* since the request began */
        if (sent <= conn->fwd_out_mark) {
            buf_rewind(&conn->out, conn->fwd_out_mark - (size_t)sent);
            conn->fwd_skip = 0;
        } else {
            buf_rewind(&conn->out, 0);
            conn->fwd_skip = sent - conn->fwd_out_mark;
        }
        conn->fwd_ready = true;
        return true;
    }
    if (frame->type == PGW_MSG_QUERY || frame->type == PGW_MSG_SYNC) {
        if (conn->fwd_capture) {
            conn_fwd_remember(conn);
        }
        conn->fwd_capture = false;
        buf_reset(&conn->fwd_batch);
    }
    return false;
}

bool conn_forward_ready(const conn_t *conn) {
    return conn->fwd_ready;
}

void conn_forward_take(conn_t *conn, forward_handoff_t *h) {
    CTX_ASSERT(conn->fwd_ready && conn->session != NULL);
    memset(h, 0, sizeof(*h));
    h->client_fd = -1;
    buf_init(&h->to_client);
    buf_init(&h->prelude);
    buf_init(&h->frames);
    const conn_server_t *server = conn->server;
    if (!server->leader_pgwire(server->reply_ctx, h->leader, sizeof(h->leader))) {
        h->leader[0] = '\0'; /* the thread answers 25006: the leader is gone again */
    }
    const char *user = sql_session_setting(conn->session, "session_authorization");
    const char *app = sql_session_setting(conn->session, "application_name");
    snprintf(h->user, sizeof(h->user), "%s", user != NULL ? user : "contextdb");
    snprintf(h->database, sizeof(h->database), "contextdb");
    snprintf(h->application_name, sizeof(h->application_name), "%s", app != NULL ? app : "");
    if (server->forward_token == NULL ||
        !server->forward_token(server->reply_ctx, h->user, h->token)) {
        h->leader[0] = '\0';
    }
    h->begin = conn->fwd_begin;
    h->skip_bytes = conn->fwd_skip;
    buf_append(&h->to_client, buf_peek(&conn->out), buf_size(&conn->out));
    buf_append(&h->prelude, buf_peek(&conn->fwd_named), buf_size(&conn->fwd_named));
    buf_append(&h->frames, buf_peek(&conn->fwd_batch), buf_size(&conn->fwd_batch));
    buf_append(&h->frames, buf_peek(&conn->in), buf_size(&conn->in));
    buf_reset(&conn->out);
    buf_reset(&conn->in);
    CTX_INFO("forwarding the session of pid %d (%s) to the leader at %s", conn->backend_pid,
             conn->peer, h->leader);
}

bool conn_process(conn_t *conn, uint32_t messages_max) {
    CTX_ASSERT(conn != NULL);
    CTX_ASSERT(messages_max > 0);
    for (uint32_t done = 0; done < messages_max; done++) {
        if (conn->waiting && !conn_resume(conn)) {
            return false; /* the loop calls again when the WAL or a snapshot advances */
        }
        if (conn->state == CONN_CLOSING) {
            buf_reset(&conn->in);
            return false;
        }
        bool startup = conn->state == CONN_STARTUP;
        pgw_frame_t frame;
        ctx_err_t err;
        ctx_err_clear(&err);
        int rc = pgw_frame(buf_peek(&conn->in), buf_size(&conn->in), startup,
                           conn->server->message_bytes_max, &frame, &err);
        if (rc < 0) {
            conn_fatal(conn, err.code, err.message);
            continue;
        }
        if (rc == 0) {
            return false;
        }
        bool consumed = false;
        if (!startup &&
            (!conn_fetch_gate(conn, &consumed) || !conn_read_gate(conn, &frame, &consumed))) {
            if (!consumed) {
                return false; /* the loop calls again when the barrier may have moved */
            }
            buf_consume(&conn->in, frame.frame_bytes);
            continue;
        }
        size_t mark = buf_size(&conn->out);
        conn->snapshot_reply_at = SIZE_MAX;
        conn->query_simple = false;
        if (startup) {
            conn_on_startup_frame(conn, &frame);
        } else {
            /* every stack check of the message's statements reads the session's max_stack_depth */
            ctx_stack_use_max_depth(conn->session != NULL ? sql_session_stack_depth(conn->session)
                                                          : 0);
            bool starting = !conn->req_open;
            conn->req_open = true;
            conn_fwd_before(conn, &frame, starting);
            conn_on_message(conn, &frame);
            ctx_stack_use_max_depth(0);
            if (conn->fetch_waiting) { /* parked: the Query runs again later, answered once */
                buf_rewind(&conn->out, mark);
                conn->req_open = false;
                arena_reset(&conn->arena);
                return false;
            }
            if (conn_fwd_after(conn, &frame)) {
                buf_consume(&conn->in, frame.frame_bytes);
                arena_reset(&conn->arena);
                return false; /* the loop hands the socket to the leader (conn_forward_take) */
            }
            if (frame.type == PGW_MSG_QUERY || frame.type == PGW_MSG_SYNC) {
                conn->req_open = false;
            }
        }
        conn_settle_out_of_memory(conn, mark);
        conn_hold_replies(conn, mark);
        buf_consume(&conn->in, frame.frame_bytes);
        arena_reset(&conn->arena);
    }
    return conn->state != CONN_CLOSING && buf_size(&conn->in) > 0;
}

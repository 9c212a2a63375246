/*
 * test_conn.c — the connection's life before and around its queries, against the real server:
 * startup parameters validated as SET validates them (client_encoding spellings, units, bad
 * values answered FATAL with PostgreSQL's SQLSTATE instead of a crash), the stored secret picking
 * the password exchange (md5 / scram-sha-256), authentication_timeout closing sockets that never
 * finish startup, a CancelRequest affecting only the statement running when it arrives, and
 * configuration file errors that name the file and the reason.
 */
#include "testserver.h"
#include "testutil.h"

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static ts_server_t server; /* one per TCase (unchecked fixture) */
static char *scratch;      /* config files of the current TCase */

static void server_down(void) {
    int status = ts_server_stop(&server, SIGTERM);
    if (scratch != NULL) {
        testutil_remove_tree(scratch);
        free(scratch);
        scratch = NULL;
    }
    if (status != 0) {
        fprintf(stderr, "server exit status %d\n", status);
        abort(); /* a crash or unclean exit must fail the suite */
    }
}

/* Writes text to a config file in the scratch dir; returns its path (static storage). */
static const char *write_config(const char *text) {
    static char path[1024];
    if (scratch == NULL) {
        scratch = testutil_make_dir("conn");
    }
    snprintf(path, sizeof(path), "%s/server.conf", scratch);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void start_with_config(const char *text) {
    const char *args[] = {"--config", write_config(text), NULL};
    ck_assert_int_eq(ts_server_start(&server, args, NULL), 0);
}

static void server_up(void) {
    ck_assert_int_eq(ts_server_start(&server, NULL, NULL), 0);
}

/* A SCRAM verifier for password, as `contextdb --scram-secret` prints it. */
static void scram_verifier(const char *password, char *out, size_t cap) {
    const char *args[] = {"--scram-secret", password, NULL};
    ck_assert_int_eq(ts_run_once(args, NULL, out, cap), 0);
    out[strcspn(out, "\n")] = '\0';
    ck_assert_msg(strncmp(out, "SCRAM-SHA-256$", 14) == 0, "%s", out);
}

/* md5 + md5("s3cret" + "bob"): bob's stored hash, as PostgreSQL's md5 password type. */
static const char BOB_MD5[] = "md5fd5865cd777939b563c385d1ccbbfaab";

/* ---- Raw startup ----------------------------------------------------------------------------- */

typedef struct startup_reply {
    char type;         /* 'Z' ready, 'E' refused, 'R' an authentication request is waiting */
    int32_t auth_code; /* the AuthenticationRequest code when type == 'R' (not 0 = Ok) */
    char sqlstate[6];  /* when 'E' */
    char message[512]; /* when 'E' */
    char severity[16]; /* when 'E' */
    char encoding[32]; /* ParameterStatus client_encoding */
    int32_t pid;       /* BackendKeyData */
    int32_t secret;
} startup_reply_t;

static int32_t be32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* Sends a StartupMessage with pairs (user first) and reads until ReadyForQuery, an error, or an
 * authentication request other than AuthenticationOk. */
static void raw_startup(int fd, const char *const *pairs, startup_reply_t *r) {
    memset(r, 0, sizeof(*r));
    uint8_t packet[1024];
    size_t len = ts_startup_packet(packet, 196608, pairs);
    ck_assert_int_eq(ts_write_all(fd, packet, len), 0);
    for (;;) {
        ts_msg_t msg;
        ck_assert_int_eq(ts_read_msg(fd, &msg, 20000), 1);
        r->type = (char)msg.type;
        if (msg.type == 'E') {
            snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", ts_error_field(&msg, 'C'));
            snprintf(r->message, sizeof(r->message), "%s", ts_error_field(&msg, 'M'));
            snprintf(r->severity, sizeof(r->severity), "%s", ts_error_field(&msg, 'S'));
        } else if (msg.type == 'S' && strcmp((const char *)msg.body, "client_encoding") == 0) {
            snprintf(r->encoding, sizeof(r->encoding), "%s", (const char *)msg.body + 16);
        } else if (msg.type == 'K') {
            r->pid = be32(msg.body);
            r->secret = be32(msg.body + 4);
        } else if (msg.type == 'R') {
            r->auth_code = be32(msg.body);
        }
        ts_msg_free(&msg);
        if (r->type == 'Z' || r->type == 'E' || (r->type == 'R' && r->auth_code != 0)) {
            return;
        }
    }
}

/* Appends one frontend message (type, body) to out; returns the new length. */
static size_t put_msg(uint8_t *out, size_t at, char type, const void *body, size_t len) {
    out[at] = (uint8_t)type;
    uint32_t n = (uint32_t)len + 4;
    uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    memcpy(out + at + 1, be, 4);
    if (len > 0) {
        memcpy(out + at + 5, body, len);
    }
    return at + 5 + len;
}

/* Sends a simple Query and returns the first column of its first row (or the error's SQLSTATE
 * prefixed with "ERROR "), reading through ReadyForQuery. */
static void raw_query(int fd, const char *sql, char *out, size_t cap) {
    uint8_t buf[1024];
    size_t len = put_msg(buf, 0, 'Q', sql, strlen(sql) + 1);
    ck_assert_int_eq(ts_write_all(fd, buf, len), 0);
    out[0] = '\0';
    for (;;) {
        ts_msg_t msg;
        ck_assert_int_eq(ts_read_msg(fd, &msg, 20000), 1);
        if (msg.type == 'D' && out[0] == '\0') {
            int32_t n = be32(msg.body + 2);
            snprintf(out, cap, "%.*s", n < 0 ? 0 : (int)n, (const char *)msg.body + 6);
        } else if (msg.type == 'E') {
            snprintf(out, cap, "ERROR %s", ts_error_field(&msg, 'C'));
        }
        char type = (char)msg.type;
        ts_msg_free(&msg);
        if (type == 'Z') {
            return;
        }
    }
}

/* ---- Startup parameters ---------------------------------------------------------------------- */

START_TEST(test_client_encoding_spellings) {
    /* asyncpg sends client_encoding '\'utf-8\'' (with the quotes); PostgreSQL compares encoding
     * names on letters and digits only, so every spelling of UTF-8 is UTF8. */
    const char *spellings[] = {"UTF8", "utf8", "utf-8", "'utf-8'", "Unicode", "UTF_8"};
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        int fd = ts_raw_connect(&server);
        const char *pairs[] = {"user", "test", "client_encoding", spellings[i], NULL};
        startup_reply_t r;
        raw_startup(fd, pairs, &r);
        ck_assert_msg(r.type == 'Z', "%s: %s %s", spellings[i], r.sqlstate, r.message);
        ck_assert_str_eq(r.encoding, "UTF8");
        char value[64];
        raw_query(fd, "SHOW client_encoding", value, sizeof(value));
        ck_assert_str_eq(value, "UTF8");
        close(fd);
    }
}
END_TEST

START_TEST(test_client_encoding_refused) {
    /* Another real encoding: 0A000 (no conversion); not an encoding at all: 22023. Both FATAL,
     * then the connection closes; the server lives on. */
    const char *values[] = {"LATIN1", "win1252", "SQL_ASCII", "klingon", ""};
    const char *states[] = {"0A000", "0A000", "0A000", "22023", "22023"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        int fd = ts_raw_connect(&server);
        const char *pairs[] = {"user", "test", "client_encoding", values[i], NULL};
        startup_reply_t r;
        raw_startup(fd, pairs, &r);
        ck_assert_msg(r.type == 'E', "%s accepted", values[i]);
        ck_assert_str_eq(r.severity, "FATAL");
        ck_assert_str_eq(r.sqlstate, states[i]);
        char expect[128];
        snprintf(expect, sizeof(expect), "invalid value for parameter \"client_encoding\": \"%s\"",
                 values[i]);
        ck_assert_str_eq(r.message, expect);
        ck_assert(ts_wait_closed(fd, 10000));
        close(fd);
    }
    /* libpq's PGCLIENTENCODING=LATIN1 path (client_encoding in the startup packet). */
    PGconn *conn = ts_connect_any(&server, "client_encoding=LATIN1");
    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
    ck_assert_msg(strstr(PQerrorMessage(conn), "\"client_encoding\": \"LATIN1\"") != NULL, "%s",
                  PQerrorMessage(conn));
    PQfinish(conn);
    conn = ts_connect(&server, NULL);
    char *v = ts_query_value(conn, "SELECT 1");
    ck_assert_str_eq(v, "1");
    free(v);
    PQfinish(conn);
}
END_TEST

typedef struct setting_case {
    const char *name;
    const char *value;
    const char *sqlstate; /* NULL: accepted, and SHOW answers show */
    const char *show;
} setting_case_t;

/* Every rule guc.c knows, with a good and a bad value, as startup parameters. */
static const setting_case_t SETTINGS[] = {
    {"statement_timeout", "5s", NULL, "5s"},
    {"statement_timeout", "60000", NULL, "1min"},
    {"statement_timeout", "1500 ms", NULL, "1500ms"},
    {"statement_timeout", "1d", NULL, "1d"},
    {"statement_timeout", "abc", "22023", NULL},
    {"statement_timeout", "10 years", "22023", NULL},
    {"statement_timeout", "-1", "22023", NULL},
    {"work_mem", "8192", NULL, "8MB"},
    {"work_mem", "1GB", NULL, "1GB"},
    {"work_mem", "1", "22023", NULL},
    {"extra_float_digits", "2", NULL, "2"},
    {"extra_float_digits", "9", "22023", NULL},
    {"hnsw.ef_search", "0", "22023", NULL},
    {"DateStyle", "SQL, DMY", NULL, "SQL, DMY"},
    {"DateStyle", "german", NULL, "German, DMY"},
    {"DateStyle", "bogus", "22023", NULL},
    {"DateStyle", "ISO, SQL", "22023", NULL},
    {"TimeZone", "UTC", NULL, "UTC"},
    {"TimeZone", "+02", NULL, "+02"},
    {"TimeZone", "Nowhere/Land", "22023", NULL},
    {"TimeZone", "../../etc/passwd", "22023", NULL},
    {"enable_hnsw", "false", NULL, "off"},
    {"enable_hnsw", "maybe", "22023", NULL},
    {"default_transaction_read_only", "yes", NULL, "on"},
    {"IntervalStyle", "ISO_8601", NULL, "iso_8601"},
    {"IntervalStyle", "klingon", "22023", NULL},
    {"default_transaction_isolation", "serializable", NULL, "serializable"},
    {"synchronous_commit", "sometimes", "22023", NULL},
    {"application_name", "caf\xc3\xa9", NULL, "caf??"},
    {"server_version", "9.6", "55P02", NULL},
    {"my.custom", "anything", NULL, "anything"},
};

START_TEST(test_startup_settings_validated) {
    const setting_case_t *c = &SETTINGS[_i];
    int fd = ts_raw_connect(&server);
    const char *pairs[] = {"user", "test", c->name, c->value, NULL};
    startup_reply_t r;
    raw_startup(fd, pairs, &r);
    if (c->sqlstate != NULL) {
        ck_assert_msg(r.type == 'E', "%s = %s accepted", c->name, c->value);
        ck_assert_str_eq(r.severity, "FATAL");
        ck_assert_msg(strcmp(r.sqlstate, c->sqlstate) == 0, "%s = %s: %s %s", c->name, c->value,
                      r.sqlstate, r.message);
        ck_assert(ts_wait_closed(fd, 10000));
    } else {
        ck_assert_msg(r.type == 'Z', "%s = %s: %s %s", c->name, c->value, r.sqlstate, r.message);
        char sql[128], value[128];
        snprintf(sql, sizeof(sql), "SHOW %s", c->name);
        raw_query(fd, sql, value, sizeof(value));
        ck_assert_str_eq(value, c->show);
    }
    close(fd);
}
END_TEST

START_TEST(test_options_and_set_share_the_rules) {
    /* libpq's options "-c name=value" go through the same check ... */
    PGconn *conn = ts_connect(&server, "options='-c statement_timeout=2s -c DateStyle=YMD'");
    char *v = ts_query_value(conn, "SHOW statement_timeout");
    ck_assert_str_eq(v, "2s");
    free(v);
    v = ts_query_value(conn, "SHOW DateStyle");
    ck_assert_str_eq(v, "ISO, YMD");
    free(v);
    /* ... as SET, which answers ERROR instead of FATAL and keeps the session. */
    PGresult *res = PQexec(conn, "SET client_encoding = 'LATIN1'");
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "0A000");
    PQclear(res);
    res = PQexec(conn, "SET statement_timeout = '1min'");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    v = ts_query_value(conn, "SHOW statement_timeout");
    ck_assert_str_eq(v, "1min");
    free(v);
    PQfinish(conn);
    conn = ts_connect_any(&server, "options='-c extra_float_digits=99'");
    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
    ck_assert_msg(strstr(PQerrorMessage(conn),
                         "99 is outside the valid range for parameter \"extra_float_digits\"") !=
                      NULL,
                  "%s", PQerrorMessage(conn));
    PQfinish(conn);
}
END_TEST

/* ---- Cancel ------------------------------------------------------------------------------- */

/* Sends a CancelRequest for (pid, secret) and waits until the server closed that socket, i.e.
 * it has acted on the request. */
static void send_cancel(int32_t pid, int32_t secret) {
    int fd = ts_raw_connect(&server);
    uint8_t packet[16];
    int32_t words[4] = {16, 80877102, pid, secret};
    for (int i = 0; i < 4; i++) {
        uint32_t w = (uint32_t)words[i];
        packet[4 * i] = (uint8_t)(w >> 24);
        packet[4 * i + 1] = (uint8_t)(w >> 16);
        packet[4 * i + 2] = (uint8_t)(w >> 8);
        packet[4 * i + 3] = (uint8_t)w;
    }
    ck_assert_int_eq(ts_write_all(fd, packet, sizeof(packet)), 0);
    ck_assert(ts_wait_closed(fd, 10000));
    close(fd);
}

/* Bind of the unnamed statement to the unnamed portal (no parameters) + Execute. */
static size_t bind_execute(uint8_t *buf, size_t at) {
    static const uint8_t bind[8] = {0}; /* portal, stmt, 0 formats, 0 params, 0 result formats */
    static const uint8_t execute[] = {0, 0, 0, 0, 0}; /* portal "", no row limit */
    at = put_msg(buf, at, 'B', bind, sizeof(bind));
    return put_msg(buf, at, 'E', execute, sizeof(execute));
}

/* Reads messages up to and including one of type `until`; returns the SQLSTATE of an error seen
 * on the way in state (or "" when none). */
static void read_until(int fd, char until, char *state) {
    state[0] = '\0';
    for (;;) {
        ts_msg_t msg;
        ck_assert_int_eq(ts_read_msg(fd, &msg, 30000), 1);
        if (msg.type == 'E') {
            snprintf(state, 6, "%s", ts_error_field(&msg, 'C'));
        }
        char type = (char)msg.type;
        ts_msg_free(&msg);
        if (type == until) {
            return;
        }
    }
}

START_TEST(test_cancel_between_statements_is_dropped) {
    /* Two Executes in one implicit transaction (no Sync between): a CancelRequest that arrives
     * after the first ended and before the second started has nothing to cancel; the second
     * statement (pg_sleep, which checks the flag at once) must succeed. */
    int fd = ts_raw_connect(&server);
    const char *pairs[] = {"user", "test", NULL};
    startup_reply_t r;
    raw_startup(fd, pairs, &r);
    ck_assert_int_eq(r.type, 'Z');
    uint8_t buf[512];
    static const char parse[] = "\0SELECT pg_sleep(0.01)\0\0"; /* name, query, Int16 0 */
    size_t len = put_msg(buf, 0, 'P', parse, sizeof(parse));
    len = bind_execute(buf, len);
    len = put_msg(buf, len, 'H', NULL, 0);
    ck_assert_int_eq(ts_write_all(fd, buf, len), 0);
    char state[6];
    read_until(fd, 'C', state);
    ck_assert_str_eq(state, "");
    send_cancel(r.pid, r.secret); /* idle inside the implicit transaction */
    len = bind_execute(buf, 0);
    len = put_msg(buf, len, 'S', NULL, 0);
    ck_assert_int_eq(ts_write_all(fd, buf, len), 0);
    read_until(fd, 'Z', state);
    ck_assert_msg(state[0] == '\0', "the next statement was cancelled: %s", state);
    /* Idle between Queries: same. */
    send_cancel(r.pid, r.secret);
    char value[64];
    raw_query(fd, "SELECT pg_sleep(0.01)", value, sizeof(value));
    ck_assert_str_eq(value, "");
    raw_query(fd, "SELECT 2", value, sizeof(value));
    ck_assert_str_eq(value, "2");
    close(fd);
}
END_TEST

START_TEST(test_cancel_running_statement) {
    /* The positive case: a cancel that arrives while pg_sleep runs stops it with 57014, and the
     * next query is unaffected. A client cannot know when its statement has started, and a
     * cancel that arrives earlier is dropped, so the cancel is repeated until the query ends. */
    PGconn *conn = ts_connect(&server, NULL);
    ck_assert_int_eq(PQsendQuery(conn, "SELECT pg_sleep(60)"), 1);
    PGcancel *cancel = PQgetCancel(conn);
    int sent = 0;
    while (PQisBusy(conn) && sent < 100) {
        char errbuf[256];
        ck_assert_int_eq(PQcancel(cancel, errbuf, sizeof(errbuf)), 1);
        sent++;
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        if (poll(&pfd, 1, 500) > 0) {
            ck_assert_int_eq(PQconsumeInput(conn), 1);
        }
    }
    PQfreeCancel(cancel);
    PGresult *res = PQgetResult(conn);
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "57014");
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL) {
        PQclear(res);
    }
    char *v = ts_query_value(conn, "SELECT 3");
    ck_assert_str_eq(v, "3");
    free(v);
    PQfinish(conn);
}
END_TEST

START_TEST(test_cancel_after_ssl_request_while_busy) {
    /* asyncpg (ssl=prefer) opens its cancel connection with an SSLRequest. While a statement
     * keeps the loop busy, the cancel watcher must answer 'N' and then act on the CancelRequest,
     * not leave it for the loop to find after the statement ended. */
    startup_reply_t r;
    int fd = ts_raw_connect(&server);
    const char *pairs[] = {"user", "test", NULL};
    raw_startup(fd, pairs, &r);
    ck_assert_int_eq(r.type, 'Z');
    uint8_t buf[256];
    static const char sql[] = "SELECT pg_sleep(60)";
    size_t len = put_msg(buf, 0, 'Q', sql, sizeof(sql));
    ck_assert_int_eq(ts_write_all(fd, buf, len), 0);
    char state[6] = "";
    for (int attempt = 0; attempt < 100 && state[0] == '\0'; attempt++) {
        int cfd = ts_raw_connect(&server);
        uint8_t ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
        ck_assert_int_eq(ts_write_all(cfd, ssl_request, sizeof(ssl_request)), 0);
        uint8_t answer = 0;
        ck_assert_int_eq(recv(cfd, &answer, 1, MSG_WAITALL), 1);
        ck_assert_int_eq(answer, 'N');
        uint8_t packet[16];
        int32_t words[4] = {16, 80877102, r.pid, r.secret};
        for (int i = 0; i < 4; i++) {
            uint32_t w = (uint32_t)words[i];
            uint8_t be[4] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
            memcpy(packet + 4 * i, be, 4);
        }
        ck_assert_int_eq(ts_write_all(cfd, packet, sizeof(packet)), 0);
        ck_assert(ts_wait_closed(cfd, 10000)); /* acted on while the statement runs */
        close(cfd);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 300) > 0) {
            read_until(fd, 'Z', state);
            ck_assert_str_eq(state, "57014");
        }
    }
    ck_assert_str_eq(state, "57014");
    close(fd);
}
END_TEST

/* ---- Authentication ---------------------------------------------------------------------- */

static void auth_md5_up(void) {
    char verifier[512], text[1024];
    scram_verifier("s3cret", verifier, sizeof(verifier));
    snprintf(text, sizeof(text),
             "auth_method = md5\nuser.alice = '%s'\nuser.bob = '%s'\n"
             "authentication_timeout = 2s\n",
             verifier, BOB_MD5);
    start_with_config(text);
}

START_TEST(test_md5_with_scram_verifier_asks_scram) {
    /* alice's secret is a SCRAM verifier: under md5 she is asked for SCRAM (code 10), never for
     * an MD5 answer that nothing stored could check. */
    int fd = ts_raw_connect(&server);
    const char *pairs[] = {"user", "alice", NULL};
    startup_reply_t r;
    raw_startup(fd, pairs, &r);
    ck_assert_int_eq(r.type, 'R');
    ck_assert_int_eq(r.auth_code, 10);
    close(fd);
    PGconn *conn = ts_connect(&server, "user=alice password=s3cret");
    char *v = ts_query_value(conn, "SELECT current_user");
    ck_assert_str_eq(v, "alice");
    free(v);
    PQfinish(conn);
    conn = ts_connect_any(&server, "user=alice password=wrong");
    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
    ck_assert_msg(
        strstr(PQerrorMessage(conn), "password authentication failed for user \"alice\"") != NULL,
        "%s", PQerrorMessage(conn));
    PQfinish(conn);
}
END_TEST

START_TEST(test_md5_with_md5_hash) {
    int fd = ts_raw_connect(&server);
    const char *pairs[] = {"user", "bob", NULL};
    startup_reply_t r;
    raw_startup(fd, pairs, &r);
    ck_assert_int_eq(r.type, 'R');
    ck_assert_int_eq(r.auth_code, 5); /* MD5, salt follows */
    close(fd);
    PGconn *conn = ts_connect(&server, "user=bob password=s3cret");
    char *v = ts_query_value(conn, "SELECT current_user");
    ck_assert_str_eq(v, "bob");
    free(v);
    PQfinish(conn);
    const char *users[] = {"user=bob password=wrong", "user=nobody password=s3cret"};
    for (int i = 0; i < 2; i++) {
        conn = ts_connect_any(&server, users[i]);
        ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
        ck_assert_msg(strstr(PQerrorMessage(conn), "password authentication failed") != NULL, "%s",
                      PQerrorMessage(conn));
        PQfinish(conn);
    }
}
END_TEST

static void auth_scram_up(void) {
    char text[512];
    snprintf(text, sizeof(text), "auth_method = scram-sha-256\nuser.bob = '%s'\n", BOB_MD5);
    start_with_config(text);
}

START_TEST(test_scram_with_md5_hash_refused) {
    /* An md5 hash cannot verify a SCRAM exchange: bob is refused with 28P01 even with the right
     * password, as PostgreSQL refuses him. */
    PGconn *conn = ts_connect_any(&server, "user=bob password=s3cret");
    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
    ck_assert_msg(strstr(PQerrorMessage(conn), "password authentication failed for user \"bob\"") !=
                      NULL,
                  "%s", PQerrorMessage(conn));
    PQfinish(conn);
}
END_TEST

/* ---- authentication_timeout ---------------------------------------------------------------- */

START_TEST(test_auth_timeout_closes_silent_sockets) {
    /* authentication_timeout = 2s (auth_md5_up). An authenticated session opened first is never
     * subject to it. */
    PGconn *early = ts_connect(&server, "user=bob password=s3cret");
    int silent = ts_raw_connect(&server);
    int partial = ts_raw_connect(&server);
    uint8_t half[4] = {0, 0, 0, 40}; /* a length, and nothing after it */
    ck_assert_int_eq(ts_write_all(partial, half, sizeof(half)), 0);
    int ssl = ts_raw_connect(&server);
    uint8_t ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    ck_assert_int_eq(ts_write_all(ssl, ssl_request, sizeof(ssl_request)), 0);
    uint8_t answer = 0;
    ck_assert_int_eq(recv(ssl, &answer, 1, MSG_WAITALL), 1);
    ck_assert_int_eq(answer, 'N');
    int in_auth = ts_raw_connect(&server);
    const char *pairs[] = {"user", "bob", NULL};
    startup_reply_t r;
    raw_startup(in_auth, pairs, &r);
    ck_assert_int_eq(r.auth_code, 5); /* then never answers */
    ck_assert(ts_wait_closed(silent, 30000));
    ck_assert(ts_wait_closed(partial, 30000));
    ck_assert(ts_wait_closed(ssl, 30000));
    ts_msg_t msg;
    ck_assert_int_eq(ts_read_msg(in_auth, &msg, 30000), 1);
    ck_assert_int_eq(msg.type, 'E');
    ck_assert_str_eq(ts_error_field(&msg, 'C'), "57014");
    ck_assert_str_eq(ts_error_field(&msg, 'M'), "canceling authentication due to timeout");
    ts_msg_free(&msg);
    ck_assert(ts_wait_closed(in_auth, 30000));
    close(silent);
    close(partial);
    close(ssl);
    close(in_auth);
    char *v = ts_query_value(early, "SELECT 5");
    ck_assert_str_eq(v, "5");
    free(v);
    PQfinish(early);
}
END_TEST

/* ---- Configuration errors ------------------------------------------------------------------ */

START_TEST(test_tls_file_errors_name_file_and_reason) {
    char *dir = testutil_make_dir("conn-tls");
    char conf[1024], pem[1024], text[3000];
    snprintf(conf, sizeof(conf), "%s/server.conf", dir);
    snprintf(pem, sizeof(pem), "%s/bad.crt", dir);
    FILE *f = fopen(pem, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not a certificate\n", f);
    fclose(f);
    const struct {
        const char *lines;
        const char *expect;
    } cases[] = {
        {"ssl_cert_file = '%s/missing.crt'\nssl_key_file = '%s/missing.key'\n",
         "could not load server certificate file \"%s/missing.crt\": No such file or directory"},
        {"ssl_cert_file = '%s/bad.crt'\nssl_key_file = '%s/missing.key'\n",
         "could not load server certificate file \"%s/bad.crt\": no start line"},
        {"ssl_key_file = '%s/bad.crt'\n#%s\n", "ssl_key_file \"%s/bad.crt\" is set but"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), cases[i].lines, dir, dir);
        f = fopen(conf, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
        char data[1100];
        snprintf(data, sizeof(data), "%s/data%zu", dir, i);
        const char *args[] = {"--port", "0", "--data-dir", data, "--config", conf, NULL};
        char output[8192], expect[2048];
        ck_assert_int_eq(ts_run_once(args, NULL, output, sizeof(output)), 1);
        snprintf(expect, sizeof(expect), cases[i].expect, dir);
        ck_assert_msg(strstr(output, expect) != NULL, "want %s in:\n%s", expect, output);
        ck_assert_msg(strstr(output, "unknown error") == NULL, "%s", output);
    }
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_authentication_timeout_config) {
    const char *bad[] = {"CONTEXTDB_AUTHENTICATION_TIMEOUT=0", NULL};
    const char *args[] = {"--port", "0", "--data-dir", "/nonexistent/never-created", NULL};
    char output[4096];
    ck_assert_int_eq(ts_run_once(args, bad, output, sizeof(output)), 1);
    ck_assert_msg(strstr(output, "invalid value for parameter \"authentication_timeout\": \"0\"") !=
                      NULL,
                  "%s", output);
}
END_TEST

static Suite *conn_suite(void) {
    Suite *s = suite_create("conn");
    TCase *startup = tcase_create("startup");
    tcase_add_unchecked_fixture(startup, server_up, server_down);
    tcase_set_timeout(startup, 120);
    tcase_add_test(startup, test_client_encoding_spellings);
    tcase_add_test(startup, test_client_encoding_refused);
    tcase_add_loop_test(startup, test_startup_settings_validated, 0,
                        (int)(sizeof(SETTINGS) / sizeof(SETTINGS[0])));
    tcase_add_test(startup, test_options_and_set_share_the_rules);
    tcase_add_test(startup, test_cancel_between_statements_is_dropped);
    tcase_add_test(startup, test_cancel_running_statement);
    tcase_add_test(startup, test_cancel_after_ssl_request_while_busy);
    suite_add_tcase(s, startup);
    TCase *md5 = tcase_create("auth_md5");
    tcase_add_unchecked_fixture(md5, auth_md5_up, server_down);
    tcase_set_timeout(md5, 120);
    tcase_add_test(md5, test_md5_with_scram_verifier_asks_scram);
    tcase_add_test(md5, test_md5_with_md5_hash);
    tcase_add_test(md5, test_auth_timeout_closes_silent_sockets);
    suite_add_tcase(s, md5);
    TCase *scram = tcase_create("auth_scram");
    tcase_add_unchecked_fixture(scram, auth_scram_up, server_down);
    tcase_set_timeout(scram, 120);
    tcase_add_test(scram, test_scram_with_md5_hash_refused);
    suite_add_tcase(s, scram);
    TCase *config = tcase_create("config");
    tcase_set_timeout(config, 120);
    tcase_add_test(config, test_tls_file_errors_name_file_and_reason);
    tcase_add_test(config, test_authentication_timeout_config);
    suite_add_tcase(s, config);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(conn_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}

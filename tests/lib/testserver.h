/*
 * testserver.h — integration-test helpers: run the real contextdb binary, talk to it with libpq
 * and with raw sockets.
 *
 * The binary is found through the CTX_SERVER_BIN environment variable (meson sets it). A server
 * starts with --port 0 in a fresh temporary data directory; its stdout/stderr go to
 * <data dir>/server.log, and ts_server_start() waits for the ready line
 * `contextdb: listening on 127.0.0.1:PORT` to learn the port, so parallel tests never race for
 *  * ports; the HTTP API is off (CONTEXTDB_HTTP_PORT=off unless the test's environment names it)
 * for the same reason. The server gets SIGTERM if the test process dies (PR_SET_PDEATHSIG), so a
 * crashed test leaves nothing running. Helpers abort the test (ck_abort) on unexpected failures.
 */
#ifndef CTX_TESTSERVER_H
#define CTX_TESTSERVER_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { TS_PATH_MAX = 512, TS_MSG_BYTES_MAX = 64 * 1024 * 1024 };

typedef struct ts_server {
    pid_t pid;
    uint16_t port;
    char data_dir[TS_PATH_MAX];
    char log_path[TS_PATH_MAX + 32];
} ts_server_t;

/* Starts the server with extra arguments (NULL-terminated, may be NULL) and environment
 * assignments "KEY=VALUE" (NULL-terminated, may be NULL). Waits up to 20 s for the ready line.
 * Returns 0, or -1 after printing the server log to stderr. */
int ts_server_start(ts_server_t *server, const char *const *args, const char *const *env);
/* Sends signal (SIGTERM normally), waits up to 20 s (then SIGKILL) and removes the data dir.
 * Returns the exit status (0..255), 128+signal if it died of a signal, or -1. */
int ts_server_stop(ts_server_t *server, int signal_number);
/* Runs the server binary with exactly args (NULL-terminated) and env assignments (may be
 * NULL) to completion (killed after 20 s); its stdout+stderr go to output (NUL-terminated,
 * truncated to cap). Returns the exit status, or -1. For flag/config error tests. */
int ts_run_once(const char *const *args, const char *const *env, char *output, size_t cap);
/* Prints the server log to stderr (for failure diagnostics). */
void ts_server_dump_log(const ts_server_t *server);

/* libpq connection to the server (sslmode=disable unless extra says otherwise; extra is appended
 * to the conninfo, may be NULL). Aborts the test unless the connection is OK. */
PGconn *ts_connect(const ts_server_t *server, const char *extra);
/* Same, but returns the connection whatever its status (caller checks PQstatus, PQfinish). */
PGconn *ts_connect_any(const ts_server_t *server, const char *extra);
/* Runs sql (one statement) and returns the first column of the first row as a malloc'ed string;
 * aborts the test on error or when there is no row. */
char *ts_query_value(PGconn *conn, const char *sql);
/* Runs sql and aborts the test unless it succeeds (COMMAND_OK or TUPLES_OK). */
void ts_exec_ok(PGconn *conn, const char *sql);
/* Checks that result r (not freed) is an error with sqlstate; fails the test with the message
 * otherwise. what names the statement in the failure message (may be NULL). */
void ts_assert_error(const PGresult *r, const char *sqlstate, const char *what);
/* Runs sql, which must fail with sqlstate; returns the result (caller PQclears). */
PGresult *ts_exec_error(PGconn *conn, const char *sql, const char *sqlstate);
/* A "Vm…:" field of /proc/PID/status in kB (field including the colon, e.g. "VmHWM:"); fails the
 * test when the file or the field cannot be read. */
long long ts_proc_status_kb(pid_t pid, const char *field);

/* ---- Raw protocol ---------------------------------------------------------------------------- */

/* A blocking TCP socket connected to the server (aborts on failure). */
int ts_raw_connect(const ts_server_t *server);
/* Writes all bytes; returns 0 or -1 (peer gone). */
int ts_write_all(int fd, const void *data, size_t len);
/* Sends a protocol 3.0 StartupMessage for user "test" and reads through ReadyForQuery. Aborts
 * the test on anything unexpected. */
void ts_raw_startup(int fd);
/* Appends a StartupMessage (version, then pairs name,value,... NULL-terminated) to out; returns
 * its length. out must hold 1024 bytes. */
size_t ts_startup_packet(uint8_t *out, uint32_t version, const char *const *pairs);

typedef struct ts_msg {
    uint8_t type;
    uint32_t len;  /* body length */
    uint8_t *body; /* malloc'ed, NUL-terminated after len bytes; free with ts_msg_free */
} ts_msg_t;

/* Reads one backend message (type, length, body) within timeout_ms. Returns 1 with *msg filled,
 * 0 on EOF at a message boundary, -1 on timeout, socket error, bad length or EOF mid-message. */
int ts_read_msg(int fd, ts_msg_t *msg, int timeout_ms);
void ts_msg_free(ts_msg_t *msg);
/* The value of field `code` (e.g. 'C' SQLSTATE, 'M' message, 'S' severity) of an ErrorResponse
 * or NoticeResponse body, or NULL. Points into msg. */
const char *ts_error_field(const ts_msg_t *msg, char code);
/* Reads until EOF (or timeout_ms passes); returns true when the peer closed. */
bool ts_wait_closed(int fd, int timeout_ms);

/* Seed for randomized tests: CTX_TEST_SEED if set, else from the clock; printed to stderr. */
uint64_t ts_seed(const char *test_name);
/* xorshift64* step. */
uint64_t ts_rand(uint64_t *state);

#endif

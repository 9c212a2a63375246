/*
 * test_http_pg.c — the HTTP server's pgwire client (server/http_pg.c) against scripted backends.
 *
 * A socketpair stands in for the server: the test writes the backend's bytes in advance (the
 * client pipelines its whole request before reading, so the order does not matter) and then
 * checks what the client sent and what it made of the replies.
 */
#include "buf.h"
#include "http_pg.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void msg(buf_t *out, char type, const void *body, size_t len) {
    buf_append_u8(out, (uint8_t)type);
    buf_append_u32be(out, (uint32_t)(len + 4));
    buf_append(out, body, len);
}

static void ready(buf_t *out) {
    msg(out, 'Z', "I", 1);
}

/* A connected client: startup answered with AuthenticationOk + ReadyForQuery. */
static hpg_conn_t *connect_client(int *server_fd) {
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    buf_t b;
    buf_init(&b);
    uint8_t ok[4] = {0, 0, 0, 0};
    msg(&b, 'R', ok, 4);
    msg(&b, 'S', "a\0b", 4);
    ready(&b);
    ck_assert_int_eq(write(fds[1], buf_peek(&b), buf_size(&b)), (ssize_t)buf_size(&b));
    buf_free(&b);
    hpg_conn_t *conn = NULL;
    hpg_error_t err;
    ck_assert_int_eq(hpg_connect(fds[0], "http", 5000, &conn, &err), 0);
    *server_fd = fds[1];
    return conn;
}

static void row_description(buf_t *out, const char *name, uint32_t oid) {
    buf_t body;
    buf_init(&body);
    buf_append_u16be(&body, 1);
    buf_append_cstr(&body, name);
    buf_append_u32be(&body, 0);
    buf_append_u16be(&body, 0);
    buf_append_u32be(&body, oid);
    buf_append_u16be(&body, 8);
    buf_append_u32be(&body, 0);
    buf_append_u16be(&body, 0);
    msg(out, 'T', buf_peek(&body), buf_size(&body));
    buf_free(&body);
}

static void data_row(buf_t *out, const char *value) {
    buf_t body;
    buf_init(&body);
    buf_append_u16be(&body, 1);
    if (value == NULL) {
        buf_append_u32be(&body, UINT32_MAX);
    } else {
        buf_append_u32be(&body, (uint32_t)strlen(value));
        buf_append(&body, value, strlen(value));
    }
    msg(out, 'D', buf_peek(&body), buf_size(&body));
    buf_free(&body);
}

START_TEST(test_typed_values_and_pipelining) {
    int server = -1;
    hpg_conn_t *conn = connect_client(&server);
    buf_t b;
    buf_init(&b);
    /* Statement 1: int8 column, two rows (one NULL). Statement 2: jsonb. Statement 3: rows
     * after NoData, as CREATE SNAPSHOT answers. */
    msg(&b, '1', "", 0);
    msg(&b, '2', "", 0);
    row_description(&b, "id", 20);
    data_row(&b, "42");
    data_row(&b, NULL);
    msg(&b, 'C', "SELECT 2", 9);
    msg(&b, '1', "", 0);
    msg(&b, '2', "", 0);
    row_description(&b, "props", 3802);
    data_row(&b, "{\"a\": [1, 2]}");
    msg(&b, 'C', "SELECT 1", 9);
    msg(&b, '1', "", 0);
    msg(&b, '2', "", 0);
    msg(&b, 'n', "", 0);
    data_row(&b, "7");
    msg(&b, 'C', "CREATE SNAPSHOT", 16);
    ready(&b);
    ck_assert_int_eq(write(server, buf_peek(&b), buf_size(&b)), (ssize_t)buf_size(&b));
    const char *params[] = {"x'y", NULL};
    hpg_stmt_t stmts[] = {
        {"SELECT $1, $2", 2, params}, {"SELECT 2", 0, NULL}, {"CREATE SNAPSHOT", 0, NULL}};
    hpg_result_t res[3];
    hpg_error_t err;
    ck_assert_int_eq(hpg_run(conn, stmts, 3, res, &err), 0);
    ck_assert_int_eq(json_integer_value(json_array_get(json_array_get(res[0].rows, 0), 0)), 42);
    ck_assert(json_is_null(json_array_get(json_array_get(res[0].rows, 1), 0)));
    ck_assert_str_eq(res[0].tag, "SELECT 2");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(res[0].columns, 0), "type")),
                     "int8");
    json_t *props = json_array_get(json_array_get(res[1].rows, 0), 0);
    ck_assert_int_eq(json_array_size(json_object_get(props, "a")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(res[2].rows, 0), 0)), "7");
    ck_assert_str_eq(res[2].tag, "CREATE SNAPSHOT");
    for (int i = 0; i < 3; i++) {
        hpg_result_clear(&res[i]);
    }
    /* What the client sent after startup: Parse/Bind/Describe/Execute ×3, then one Sync, and
     * the parameter travelled as Bind bytes, not inside the SQL text. */
    uint8_t sent[4096];
    ssize_t got = read(server, sent, sizeof(sent));
    ck_assert_int_gt(got, 0);
    ck_assert(memmem(sent, (size_t)got, "SELECT $1, $2", 13) != NULL);
    ck_assert(memmem(sent, (size_t)got, "x'y", 3) != NULL);
    ck_assert_int_eq(sent[got - 5], 'S');
    hpg_close(conn);
    close(server);
    buf_free(&b);
}
END_TEST

START_TEST(test_error_and_fatal) {
    int server = -1;
    hpg_conn_t *conn = connect_client(&server);
    buf_t b;
    buf_init(&b);
    msg(&b, '1', "", 0);
    msg(&b, '2', "", 0);
    static const char error[] = "SERROR\0C23505\0Mduplicate key\0DKey (id)=(1) already exists.\0";
    msg(&b, 'E', error, sizeof(error)); /* the literal's own NUL ends the field list */
    ready(&b);
    ck_assert_int_eq(write(server, buf_peek(&b), buf_size(&b)), (ssize_t)buf_size(&b));
    hpg_stmt_t stmt = {"INSERT", 0, NULL};
    hpg_result_t res;
    hpg_error_t err;
    ck_assert_int_eq(hpg_run(conn, &stmt, 1, &res, &err), -1);
    ck_assert_str_eq(err.sqlstate, "23505");
    ck_assert_str_eq(err.message, "duplicate key");
    ck_assert_str_eq(err.detail, "Key (id)=(1) already exists.");
    ck_assert(!hpg_broken(conn));
    ck_assert(res.rows == NULL && res.columns == NULL);
    /* FATAL, then the server goes away: the connection is broken, never reused. */
    buf_reset(&b);
    static const char fatal[] = "SFATAL\0C57P01\0Mterminating connection\0";
    msg(&b, 'E', fatal, sizeof(fatal));
    ck_assert_int_eq(write(server, buf_peek(&b), buf_size(&b)), (ssize_t)buf_size(&b));
    close(server);
    ck_assert_int_eq(hpg_run(conn, &stmt, 1, NULL, &err), -1);
    ck_assert(hpg_broken(conn));
    hpg_close(conn);
    buf_free(&b);
}
END_TEST

START_TEST(test_garbage_breaks_connection) {
    int server = -1;
    hpg_conn_t *conn = connect_client(&server);
    uint8_t junk[] = {'D', 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(write(server, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    hpg_stmt_t stmt = {"SELECT 1", 0, NULL};
    hpg_error_t err;
    ck_assert_int_eq(hpg_run(conn, &stmt, 1, NULL, &err), -1);
    ck_assert_str_eq(err.sqlstate, "08006");
    ck_assert(hpg_broken(conn));
    hpg_close(conn);
    close(server);
}
END_TEST

int main(void) {
    Suite *s = suite_create("http_pg");
    TCase *tc = tcase_create("client");
    tcase_add_test(tc, test_typed_values_and_pipelining);
    tcase_add_test(tc, test_error_and_fatal);
    tcase_add_test(tc, test_garbage_breaks_connection);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}

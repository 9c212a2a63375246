/*
 * test_inspect_wal.c — contextdb-inspect on a WAL holding the Raft record types, written through
 * storage/wal.h: batches, a no-op, a membership change and hard-state records, a truncation that
 * cut a hard-state record (so wal/hardstate exists). `verify` passes and `wal` decodes every type
 * (hard state as term, vote, commit); then a hard-state record with the wrong index, a no-op
 * with a payload and a damaged wal/hardstate each make `verify` exit 1 naming the damage.
 * The binary comes from CTX_INSPECT_BIN (meson sets it).
 */
#include "command.h"
#include "fsutil.h"
#include "raft.h"
#include "testutil.h"
#include "wal.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { OUTPUT_BYTES = 1 << 16 };

static char output[OUTPUT_BYTES];

/* Runs contextdb-inspect CMD PATH; stdout+stderr into `output`; returns the exit status. */
static int inspect(const char *cmd_name, const char *path) {
    const char *bin = getenv("CTX_INSPECT_BIN");
    ck_assert_msg(bin != NULL, "CTX_INSPECT_BIN is not set");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s '%s' 2>&1", bin, cmd_name, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(output, 1, sizeof(output) - 1, p);
    output[n] = '\0';
    int status = pclose(p);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void put_node(wal_t *wal, uint64_t term, uint64_t index, int64_t id) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    cmd_op_t op = {.kind = CMD_NODE_INSERT, .id = id, .label = "N", .label_len = 1};
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(cmd_batch_add(&batch, &op, &err), CTX_OK);
    buf_t out;
    buf_init(&out);
    cmd_encode(&batch, &out);
    ck_assert_uint_ne(wal_append_entry(wal, term, index, WAL_TYPE_BATCH, buf_peek(&out),
                                       (uint32_t)buf_size(&out)),
                      0);
    buf_free(&out);
    arena_destroy(&arena);
}

static uint64_t save_hs(wal_t *wal, uint64_t term, uint32_t vote, uint64_t commit) {
    raft_hard_state_t hs = {.term = term, .vote = vote, .commit = commit};
    uint8_t bytes[RAFT_HARD_STATE_SIZE];
    raft_hard_state_encode(&hs, bytes);
    uint64_t ticket = wal_save_hard_state(wal, bytes);
    ck_assert_uint_ne(ticket, 0);
    return ticket;
}

/* data_dir/wal: entries 1..5 (term 1), no-op 6 and membership change 7 (term 2), batch 8, hard
 * state (4, 2, 7); then entry 8 again at term 5 (cutting the old 8 and that hard state, which
 * goes to wal/hardstate) and hard state (5, 0, 7). */
static void write_log(const char *data_dir) {
    char dir[FSU_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/wal", data_dir);
    wal_options_t o = {.dir = dir,
                       .segment_bytes = 1 << 20,
                       .sync_commit = true,
                       .sync_delay_ms = 20,
                       .notify_fd = -1};
    wal_t *wal = NULL;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(wal_open(&o, 0, NULL, NULL, NULL, &wal, &err), CTX_OK);
    save_hs(wal, 1, 0, 0);
    for (uint64_t i = 1; i <= 5; i++) {
        put_node(wal, 1, i, (int64_t)i);
    }
    uint8_t conf[RAFT_CONF_CHANGE_SIZE];
    raft_conf_change_encode(RAFT_CONF_ADD_LEARNER, 9, conf);
    ck_assert_uint_ne(wal_append_entry(wal, 2, 6, WAL_TYPE_NOOP, NULL, 0), 0);
    ck_assert_uint_ne(wal_append_entry(wal, 2, 7, WAL_TYPE_CONF, conf, sizeof(conf)), 0);
    put_node(wal, 2, 8, 8);
    wal_wait_ticket(wal, save_hs(wal, 4, 2, 7));
    put_node(wal, 5, 8, 80);
    wal_wait_ticket(wal, save_hs(wal, 5, 0, 7));
    wal_close(wal);
}

static void append_record(const char *path, uint64_t index, uint8_t type, const void *payload,
                          uint32_t len) {
    buf_t b;
    buf_init(&b);
    wal_record_encode(&b, 0, index, type, payload, len);
    FILE *f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf_peek(&b), 1, buf_size(&b), f), buf_size(&b));
    ck_assert_int_eq(fclose(f), 0);
    buf_free(&b);
}

START_TEST(test_inspect_raft_records) {
    char *data_dir = testutil_make_dir("inspectwal");
    write_log(data_dir);
    char seg[FSU_PATH_MAX], hsfile[FSU_PATH_MAX];
    snprintf(seg, sizeof(seg), "%s/wal/000000000001.seg", data_dir);
    snprintf(hsfile, sizeof(hsfile), "%s/wal/%s", data_dir, WAL_HARD_STATE_FILE);

    ck_assert_msg(inspect("verify", data_dir) == 0, "%s", output);
    ck_assert_msg(strstr(output, "hard-state file") != NULL, "%s", output);
    ck_assert_int_eq(inspect("wal", seg), 0);
    const char *want[] = {"type noop length 0", "membership: add-learner node 9",
                          "hard state: term 1 vote 0 commit 0",
                          "hard state: term 5 vote 0 commit 7", "index 8 term 5 type batch"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_msg(strstr(output, want[i]) != NULL, "no \"%s\" in:\n%s", want[i], output);
    }
    ck_assert_msg(strstr(output, "term 4 vote 2") == NULL, "cut record shown:\n%s", output);
    ck_assert_int_eq(inspect("wal", hsfile), 0);
    ck_assert_msg(strstr(output, "term 4 vote 2 commit 7 as of 000000000001.seg") != NULL, "%s",
                  output);

    /* Damage: a hard-state record not at the last entry's index, a no-op with a payload. */
    size_t len = 0;
    uint8_t *orig = testutil_read_file(seg, &len);
    uint8_t hs[RAFT_HARD_STATE_SIZE];
    raft_hard_state_encode(&(raft_hard_state_t){.term = 6}, hs);
    append_record(seg, 3, WAL_TYPE_HARD_STATE, hs, sizeof(hs));
    ck_assert_int_eq(inspect("verify", data_dir), 1);
    ck_assert_msg(strstr(output, "hard-state has index 3, expected 8") != NULL, "%s", output);
    testutil_write_file(seg, orig, len);
    append_record(seg, 9, WAL_TYPE_NOOP, "x", 1);
    ck_assert_int_eq(inspect("verify", data_dir), 1);
    ck_assert_msg(strstr(output, "no-op entry has a payload") != NULL, "%s", output);
    testutil_write_file(seg, orig, len);
    ck_assert_int_eq(inspect("verify", data_dir), 0);

    /* A damaged wal/hardstate. */
    size_t hs_len = 0;
    uint8_t *hs_bytes = testutil_read_file(hsfile, &hs_len);
    hs_bytes[40] ^= 1;
    testutil_write_file(hsfile, hs_bytes, hs_len);
    ck_assert_int_eq(inspect("verify", data_dir), 1);
    ck_assert_msg(strstr(output, "DAMAGE") != NULL && strstr(output, "hardstate") != NULL, "%s",
                  output);
    free(hs_bytes);
    free(orig);
    testutil_remove_tree(data_dir);
    free(data_dir);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("inspect_wal");
    TCase *tc = tcase_create("inspect_wal");
    tcase_add_test(tc, test_inspect_raft_records);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

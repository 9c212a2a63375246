/*
 * test_membership.c — server/membership.c: the member record's encoding (and that no command
 * batch is mistaken for one), address parsing, the address book, the membership history and its
 * file (round trip, damage detected, replays ignored), and learner promotion driven by a real
 * Raft leader.
 */
#include "command.h"
#include "membership.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_record_round_trip) {
    mb_member_t m = {.id = 4, .raft_port = 7004};
    strcpy(m.host, "db-4.example");
    buf_t b;
    buf_init(&b);
    mb_record_encode(&m, &b);
    ck_assert(mb_record_is(buf_peek(&b), buf_size(&b)));
    mb_member_t out;
    ck_assert_int_eq(mb_record_decode(buf_peek(&b), buf_size(&b), &out), CTX_OK);
    ck_assert_uint_eq(out.id, 4);
    ck_assert_uint_eq(out.raft_port, 7004);
    ck_assert_str_eq(out.host, "db-4.example");
    /* every truncation and a wrong version are refused */
    for (size_t n = 0; n < buf_size(&b); n++) {
        ck_assert_int_eq(mb_record_decode(buf_peek(&b), n, &out), CTX_EPROTOCOL);
    }
    uint8_t copy[64];
    memcpy(copy, buf_peek(&b), buf_size(&b));
    copy[1] = MB_RECORD_VERSION + 1;
    ck_assert_int_eq(mb_record_decode(copy, buf_size(&b), &out), CTX_EPROTOCOL);
    buf_free(&b);
}
END_TEST

START_TEST(test_batches_are_not_records) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    cmd_op_t op = {.kind = CMD_NODE_INSERT, .id = 1, .label = "x", .label_len = 1};
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(cmd_batch_add(&batch, &op, &err), CTX_OK);
    buf_t b;
    buf_init(&b);
    cmd_encode(&batch, &b);
    ck_assert(!mb_record_is(buf_peek(&b), buf_size(&b)));
    buf_reset(&b);
    cmd_batch_init(&batch, &arena);
    cmd_encode(&batch, &b); /* an empty batch too */
    ck_assert(!mb_record_is(buf_peek(&b), buf_size(&b)));
    buf_free(&b);
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_parse_address) {
    mb_member_t m;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(mb_parse_address("127.0.0.1:7004", &m, &err), CTX_OK);
    ck_assert_str_eq(m.host, "127.0.0.1");
    ck_assert_uint_eq(m.raft_port, 7004);
    const char *bad[] = {"", "host", ":7004", "host:", "host:0", "host:65536", "host:12x", "h:-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ctx_err_clear(&err);
        ck_assert_int_eq(mb_parse_address(bad[i], &m, &err), CTX_EBAD_PARAM);
        ck_assert_str_eq(ctx_sqlstate(err.code), "22023");
    }
}
END_TEST

START_TEST(test_book) {
    mb_book_t book;
    memset(&book, 0, sizeof(book));
    for (uint32_t id = 1; id <= MB_BOOK_MAX; id++) {
        mb_member_t m = {.id = id, .raft_port = (uint16_t)(7000 + id)};
        strcpy(m.host, "a");
        ck_assert_int_eq(mb_book_set(&book, &m), CTX_OK);
    }
    mb_member_t extra = {.id = 99, .raft_port = 1};
    ck_assert_int_eq(mb_book_set(&book, &extra), CTX_ELIMIT);
    mb_member_t moved = {.id = 3, .raft_port = 9003};
    strcpy(moved.host, "b");
    ck_assert_int_eq(mb_book_set(&book, &moved), CTX_OK); /* replaces, even when full */
    ck_assert_uint_eq(mb_book_find(&book, 3)->raft_port, 9003);
    ck_assert_str_eq(mb_book_find(&book, 3)->host, "b");
    ck_assert_ptr_null(mb_book_find(&book, 99));
}
END_TEST

START_TEST(test_change_check) {
    raft_conf_t conf = {.voters = {1, 2}, .voters_count = 2, .learners = {5}, .learners_count = 1};
    ctx_err_t err;
    const struct {
        bool add;
        uint32_t id;
        const char *sqlstate; /* NULL: allowed */
    } cases[] = {{true, 3, NULL},  {true, 2, "42710"}, {true, 5, "42710"},
                 {false, 2, NULL}, {false, 5, NULL},   {false, 3, "42704"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ctx_err_clear(&err);
        int rc = mb_change_check(&conf, cases[i].add, cases[i].id, &err);
        if (cases[i].sqlstate == NULL) {
            ck_assert_int_eq(rc, CTX_OK);
        } else {
            ck_assert_str_eq(ctx_sqlstate(rc), cases[i].sqlstate);
        }
    }
    raft_conf_t alone = {.voters = {1}, .voters_count = 1, .learners = {2}, .learners_count = 1};
    ctx_err_clear(&err);
    ck_assert_str_eq(ctx_sqlstate(mb_change_check(&alone, false, 1, &err)), "55000");
    ctx_err_clear(&err);
    ck_assert_int_eq(mb_change_check(&alone, false, 2, &err), CTX_OK);
    raft_conf_t full = {.voters = {1}, .voters_count = 1, .learners = {2, 3, 4, 5}};
    full.learners_count = RAFT_LEARNERS_MAX;
    ctx_err_clear(&err);
    ck_assert_str_eq(ctx_sqlstate(mb_change_check(&full, true, 9, &err)), "54000");
}
END_TEST

START_TEST(test_history) {
    mb_history_t h;
    memset(&h, 0, sizeof(h));
    raft_conf_t a = {.voters = {1, 2, 3}, .voters_count = 3};
    raft_conf_t b = {.voters = {1, 2, 3}, .voters_count = 3, .learners = {4}, .learners_count = 1};
    ck_assert(mb_history_add(&h, 3, &a));
    ck_assert(mb_history_add(&h, 10, &b));
    ck_assert(!mb_history_add(&h, 10, &a)); /* a replayed entry */
    ck_assert(!mb_history_add(&h, 2, &b));
    raft_conf_t out;
    ck_assert(!mb_history_at(&h, 2, &out));
    ck_assert(mb_history_at(&h, 9, &out));
    ck_assert_int_eq(out.learners_count, 0);
    ck_assert(mb_history_at(&h, 10, &out));
    ck_assert_int_eq(out.learners_count, 1);
    for (uint64_t i = 11; i < 11 + MB_HISTORY_MAX; i++) {
        ck_assert(mb_history_add(&h, i, &a)); /* the oldest go */
    }
    ck_assert_int_eq(h.count, MB_HISTORY_MAX);
    ck_assert(!mb_history_at(&h, 10, &out));
}
END_TEST

START_TEST(test_state_file) {
    char dir[] = "/tmp/test_membership_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/cluster-membership", dir);
    mb_history_t h, h2;
    mb_book_t book, book2;
    memset(&h, 0, sizeof(h));
    memset(&book, 0, sizeof(book));
    memset(&book2, 0, sizeof(book2));
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(mb_state_load(path, &h2, &book2, &err), CTX_OK); /* missing: empty */
    ck_assert_int_eq(h2.count, 0);
    raft_conf_t c = {.voters = {1, 2}, .voters_count = 2, .learners = {7}, .learners_count = 1};
    ck_assert(mb_history_add(&h, 42, &c));
    mb_member_t m = {.id = 7, .raft_port = 7007};
    strcpy(m.host, "10.0.0.7");
    ck_assert_int_eq(mb_book_set(&book, &m), CTX_OK);
    ck_assert_int_eq(mb_state_save(path, &h, &book, &err), CTX_OK);
    ck_assert_int_eq(mb_state_load(path, &h2, &book2, &err), CTX_OK);
    ck_assert_int_eq(h2.count, 1);
    ck_assert_uint_eq(h2.index[0], 42);
    ck_assert_mem_eq(&h2.conf[0], &c, sizeof(c));
    ck_assert_int_eq(book2.count, 1);
    ck_assert_str_eq(mb_book_find(&book2, 7)->host, "10.0.0.7");
    /* one flipped byte anywhere is refused */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 12, SEEK_SET), 0);
    int byte = fgetc(f);
    ck_assert_int_eq(fseek(f, 12, SEEK_SET), 0);
    fputc(byte ^ 1, f);
    fclose(f);
    ck_assert_int_eq(mb_state_load(path, &h2, &book2, &err), CTX_ECORRUPT);
    ck_assert_int_eq(h2.count, 0);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* Moves every message between two Raft nodes until both are idle; each batch's entries count as
 * durable once handled (raft_persisted). */
static void pump(raft_t **nodes, int n) {
    for (int round = 0; round < 1000; round++) {
        bool any = false;
        for (int i = 0; i < n; i++) {
            if (!raft_has_ready(nodes[i])) {
                continue;
            }
            any = true;
            raft_ready_t rd;
            raft_ready(nodes[i], &rd);
            for (size_t m = 0; m < rd.messages_count; m++) {
                uint32_t to = rd.messages[m].to;
                ck_assert(to >= 1 && (int)to <= n);
                ck_assert_int_eq(raft_step(nodes[to - 1], rd.messages[m].bytes, rd.messages[m].len),
                                 CTX_OK);
            }
            raft_entry_t last = {0};
            if (rd.entries_count > 0) {
                last = rd.entries[rd.entries_count - 1];
            }
            raft_advance(nodes[i], &rd);
            if (last.index != 0) {
                raft_persisted(nodes[i], last.index, last.term);
            }
        }
        if (!any) {
            return;
        }
    }
    ck_abort_msg("raft nodes did not settle");
}

START_TEST(test_promotion) {
    raft_rng_t rng[2];
    raft_t *nodes[2];
    raft_conf_t boot = {.voters = {1}, .voters_count = 1};
    for (int i = 0; i < 2; i++) {
        raft_rng_seed(&rng[i], (uint64_t)i);
        raft_config_t cfg = {.id = (uint32_t)i + 1,
                             .election_ticks = 15,
                             .heartbeat_ticks = 3,
                             .inflight_max = 8,
                             .msg_entries_max = 64,
                             .msg_bytes_max = 1 << 20,
                             .pre_vote = true,
                             .check_quorum = true,
                             .rng = &rng[i]};
        raft_restore_t restore = {.bootstrap = i == 0 ? &boot : NULL}; /* node 2 joins */
        ck_assert_int_eq(raft_new(&cfg, &restore, &nodes[i]), CTX_OK);
    }
    raft_campaign(nodes[0]);
    pump(nodes, 2);
    ck_assert_int_eq(raft_role(nodes[0]), RAFT_LEADER);
    uint64_t index = 0;
    ck_assert_int_eq(raft_propose_conf(nodes[0], RAFT_CONF_ADD_LEARNER, 2, &index), CTX_OK);
    mb_promoter_t pr;
    memset(&pr, 0, sizeof(pr));
    /* before the learner answered: not due, however long */
    for (int t = 0; t < 2 * MB_CATCH_UP_TICKS; t++) {
        ck_assert_uint_eq(mb_promote_check(&pr, nodes[0]), RAFT_NONE);
    }
    pump(nodes, 2);
    /* caught up: due after MB_CATCH_UP_TICKS checks in a row, not before */
    uint32_t due = RAFT_NONE;
    int ticks = 0;
    while (due == RAFT_NONE && ticks < 10 * MB_CATCH_UP_TICKS) {
        raft_tick(nodes[0]);
        raft_tick(nodes[1]);
        pump(nodes, 2);
        due = mb_promote_check(&pr, nodes[0]);
        ticks++;
    }
    ck_assert_uint_eq(due, 2);
    ck_assert_int_ge(ticks, MB_CATCH_UP_TICKS);
    ck_assert_int_eq(raft_propose_conf(nodes[0], RAFT_CONF_PROMOTE, due, &index), CTX_OK);
    pump(nodes, 2);
    ck_assert(raft_conf_is_voter(raft_conf(nodes[1]), 2));
    for (int i = 0; i < 2; i++) {
        raft_free(nodes[i]);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("membership");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_record_round_trip);
    tcase_add_test(tc, test_batches_are_not_records);
    tcase_add_test(tc, test_parse_address);
    tcase_add_test(tc, test_book);
    tcase_add_test(tc, test_promotion);
    tcase_add_test(tc, test_history);
    tcase_add_test(tc, test_change_check);
    tcase_add_test(tc, test_state_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

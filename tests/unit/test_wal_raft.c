/*
 * test_wal_raft.c — unit tests of the WAL as the Raft log (storage/wal.h) and of recovery's
 * hand-back of unapplied entries (storage/recovery.h): entries at explicit (term, index);
 * conflicting-suffix truncation in the pending buffer, in the active segment and across
 * segments, each reopened to exactly the new suffix; a writer killed (fork + _exit) during or
 * after a truncation never resurrects truncated records; hard state round trip, "last one
 * wins", and the hard state kept through truncation, segment removal and a snapshot ahead of
 * the log; tickets monotonic and reached by the durable ticket (sync_commit on and off); a torn
 * tail after hard-state records; compaction on another thread during appends, truncations and
 * hard-state saves; a log written before Raft (term 0, no hard state) opens;
 * recovery applies BATCH entries only through apply_through and hands back the rest.
 */
#include "command.h"
#include "raft.h"
#include "recovery.h"
#include "testutil.h"
#include "wal.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SEEN_MAX = 4096 };

/* What a replay saw, in file order. */
typedef struct seen {
    uint8_t type[SEEN_MAX];
    uint64_t term[SEEN_MAX];
    uint64_t index[SEEN_MAX];
    size_t count;
} seen_t;

static int collect(void *ctx, const wal_record_t *rec, ctx_err_t *err) {
    (void)err;
    seen_t *s = ctx;
    ck_assert_uint_lt(s->count, SEEN_MAX);
    if (rec->type != WAL_TYPE_HARD_STATE) { /* entry payloads are checkable */
        ck_assert_uint_eq(rec->len, rec->index % 17);
        for (uint32_t i = 0; i < rec->len; i++) {
            ck_assert_uint_eq(rec->payload[i], (uint8_t)(rec->index + rec->term + i));
        }
    }
    s->type[s->count] = rec->type;
    s->term[s->count] = rec->term;
    s->index[s->count] = rec->index;
    s->count++;
    return CTX_OK;
}

static wal_options_t options(const char *dir, uint64_t segment_bytes) {
    return (wal_options_t){.dir = dir,
                           .segment_bytes = segment_bytes,
                           .sync_commit = true,
                           .sync_delay_ms = 20,
                           .notify_fd = -1};
}

static wal_t *open_log(const char *dir, uint64_t segment_bytes, uint64_t after, seen_t *seen,
                       wal_recovery_t *info) {
    wal_options_t o = options(dir, segment_bytes);
    wal_t *wal = NULL;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (seen != NULL) {
        memset(seen, 0, sizeof(*seen));
    }
    int rc = wal_open(&o, after, seen != NULL ? collect : NULL, seen, info, &wal, &err);
    ck_assert_msg(rc == CTX_OK, "wal_open: %s", err.message);
    return wal;
}

/* Appends the entry with its deterministic payload; returns the ticket (asserted non-zero). */
static uint64_t put(wal_t *wal, uint64_t term, uint64_t index) {
    uint8_t payload[32];
    uint32_t len = (uint32_t)(index % 17);
    for (uint32_t i = 0; i < len; i++) {
        payload[i] = (uint8_t)(index + term + i);
    }
    uint64_t ticket = wal_append_entry(wal, term, index, WAL_TYPE_BATCH, payload, len);
    ck_assert_uint_ne(ticket, 0);
    return ticket;
}

static uint64_t put_range(wal_t *wal, uint64_t term, uint64_t first, uint64_t last, bool wait) {
    uint64_t ticket = 0;
    for (uint64_t i = first; i <= last; i++) {
        ticket = put(wal, term, i);
        if (wait && i % 16 == 0) {
            wal_wait_ticket(wal, ticket); /* several batches, so segments rotate */
        }
    }
    if (wait) {
        wal_wait_ticket(wal, ticket);
    }
    return ticket;
}

static void hs_make(uint64_t term, uint32_t vote, uint64_t commit, uint8_t out[28]) {
    raft_hard_state_t hs = {.term = term, .vote = vote, .commit = commit};
    raft_hard_state_encode(&hs, out);
}

static raft_hard_state_t hs_of(const wal_recovery_t *info) {
    ck_assert(info->has_hard_state);
    raft_hard_state_t hs;
    ck_assert_int_eq(raft_hard_state_decode(info->last_hard_state, 28, &hs), CTX_OK);
    return hs;
}

/* Asserts the entries seen are exactly 1..last, term term_low through split - 1 and term_high
 * from split on (hard-state records skipped). */
static void assert_entries(const seen_t *s, uint64_t last, uint64_t split, uint64_t term_low,
                           uint64_t term_high) {
    uint64_t next = 1;
    for (size_t i = 0; i < s->count; i++) {
        if (s->type[i] == WAL_TYPE_HARD_STATE) {
            continue;
        }
        ck_assert_uint_eq(s->index[i], next);
        ck_assert_uint_eq(s->term[i], next < split ? term_low : term_high);
        next++;
    }
    ck_assert_uint_eq(next - 1, last);
}

static void last_segment_path(const char *dir, char path[FSU_PATH_MAX]);

/* ---------------------------------------------------------------- entries and truncation */

START_TEST(test_append_at_explicit_indexes) {
    char *dir = testutil_make_dir("walraft");
    wal_recovery_t info;
    wal_t *wal = open_log(dir, 1 << 20, 0, NULL, &info);
    ck_assert_uint_eq(wal_last_index(wal), 0);
    put_range(wal, 1, 1, 4, false);
    put_range(wal, 2, 5, 10, true);
    ck_assert_uint_eq(wal_last_index(wal), 10);
    ck_assert_uint_eq(wal_durable_index(wal), 10);
    /* A gap, or an index before the log, is refused and changes nothing. */
    ck_assert_uint_eq(wal_append_entry(wal, 2, 12, WAL_TYPE_BATCH, NULL, 0), 0);
    ck_assert_uint_eq(wal_append_entry(wal, 2, 0, WAL_TYPE_BATCH, NULL, 0), 0);
    ck_assert_uint_eq(wal_last_index(wal), 10);
    wal_close(wal);
    seen_t s;
    wal_close(open_log(dir, 1 << 20, 0, &s, &info));
    assert_entries(&s, 10, 5, 1, 2);
    ck_assert_uint_eq(info.first_index, 1);
    ck_assert_uint_eq(info.last_index, 10);
    ck_assert_uint_eq(info.last_term, 2);
    ck_assert(!info.has_hard_state);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* Truncating right after a burst of appends: the suffix is usually still pending (or being
 * written); either way the reopened log is exactly the new suffix. */
START_TEST(test_truncate_pending) {
    for (int round = 0; round < 20; round++) {
        char *dir = testutil_make_dir("walraft");
        wal_t *wal = open_log(dir, 1 << 20, 0, NULL, NULL);
        put_range(wal, 1, 1, 300, false);
        uint64_t at = 300 - (uint64_t)round;
        put_range(wal, 2, at, at + 2, false);
        ck_assert_uint_eq(wal_last_index(wal), at + 2);
        wal_close(wal);
        seen_t s;
        wal_recovery_t info;
        wal_close(open_log(dir, 1 << 20, 0, &s, &info));
        assert_entries(&s, at + 2, at, 1, 2);
        testutil_remove_tree(dir);
        free(dir);
    }
}
END_TEST

START_TEST(test_truncate_in_active_segment) {
    char *dir = testutil_make_dir("walraft");
    wal_t *wal = open_log(dir, 1 << 20, 0, NULL, NULL);
    put_range(wal, 1, 1, 20, true);
    put_range(wal, 2, 15, 17, true);
    ck_assert_uint_eq(wal_last_index(wal), 17);
    ck_assert_uint_eq(wal_durable_index(wal), 17);
    ck_assert_uint_eq(wal_segment_count(wal), 1);
    wal_close(wal);
    seen_t s;
    wal_recovery_t info;
    wal = open_log(dir, 1 << 20, 0, &s, &info);
    assert_entries(&s, 17, 15, 1, 2);
    /* Truncating after the last entry is a no-op that still takes a ticket. */
    uint64_t t = wal_truncate_after(wal, 17);
    ck_assert_uint_ne(t, 0);
    wal_wait_ticket(wal, t);
    ck_assert_uint_eq(wal_last_index(wal), 17);
    wal_close(wal);
    wal_close(open_log(dir, 1 << 20, 0, &s, &info));
    assert_entries(&s, 17, 15, 1, 2);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* Truncation across segment boundaries: inside an older segment, and exactly before a
 * segment's first entry (that segment is left with its header only). */
START_TEST(test_truncate_across_segments) {
    char *dir = testutil_make_dir("walraft");
    wal_t *wal = open_log(dir, 1024, 0, NULL, NULL);
    put_range(wal, 1, 1, 400, true);
    uint32_t before = wal_segment_count(wal);
    ck_assert_uint_gt(before, 4);
    uint64_t t = wal_truncate_after(wal, 100);
    ck_assert_uint_ne(t, 0);
    ck_assert_uint_eq(wal_last_index(wal), 100);
    wal_wait_ticket(wal, t);
    ck_assert_uint_lt(wal_segment_count(wal), before);
    put_range(wal, 3, 101, 110, true);
    wal_close(wal);
    seen_t s;
    wal_recovery_t info;
    wal = open_log(dir, 1024, 0, &s, &info);
    assert_entries(&s, 110, 101, 1, 3);
    put_range(wal, 3, 111, 300, true);
    wal_close(wal);

    uint64_t *firsts = NULL;
    size_t count = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(wal_list_segments(dir, &firsts, &count, &err), CTX_OK);
    ck_assert_uint_gt(count, 3);
    uint64_t boundary = firsts[count - 2]; /* first entry of the next-to-last segment */
    free(firsts);
    wal = open_log(dir, 1024, 0, NULL, NULL);
    put_range(wal, 4, boundary, boundary + 1, true);
    wal_close(wal);
    wal_close(open_log(dir, 1024, 0, &s, &info));
    ck_assert_uint_eq(info.last_index, boundary + 1);
    ck_assert_uint_eq(info.last_term, 4);
    size_t entries = 0;
    for (size_t i = 0; i < s.count; i++) {
        ck_assert_uint_eq(s.index[i], i + 1);
        ck_assert_uint_eq(s.term[i], i + 1 >= boundary ? 4 : (i + 1 > 100 ? 3 : 1));
        entries++;
    }
    ck_assert_uint_eq(entries, boundary + 1);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* Runs child() in a forked process that ends with _exit(0) (no wal_close: the writer thread
 * dies wherever it is) and waits for it. */
static void in_child(const char *dir, void (*child)(const char *dir)) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        child(dir);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void child_truncate_then_append(const char *dir) {
    wal_t *wal = open_log(dir, 2048, 0, NULL, NULL);
    wal_wait_ticket(wal, put_range(wal, 2, 60, 70, false));
    put_range(wal, 2, 71, 80, false); /* not waited for */
}

static void child_truncate_unwaited(const char *dir) {
    wal_t *wal = open_log(dir, 2048, 0, NULL, NULL);
    wal_truncate_after(wal, 30);
}

START_TEST(test_killed_writer_never_resurrects) {
    char *dir = testutil_make_dir("walraft");
    wal_t *wal = open_log(dir, 2048, 0, NULL, NULL);
    put_range(wal, 1, 1, 200, true);
    wal_close(wal);
    in_child(dir, child_truncate_then_append);
    seen_t s;
    wal_recovery_t info;
    wal_close(open_log(dir, 2048, 0, &s, &info));
    ck_assert_uint_ge(info.last_index, 70);
    ck_assert_uint_le(info.last_index, 80);
    assert_entries(&s, info.last_index, 60, 1, 2);
    testutil_remove_tree(dir);
    free(dir);

    /* Killed anywhere inside the cut: the log is the old one or a prefix of it, never a gap. */
    for (int round = 0; round < 8; round++) {
        dir = testutil_make_dir("walraft");
        wal = open_log(dir, 2048, 0, NULL, NULL);
        put_range(wal, 1, 1, 200, true);
        wal_close(wal);
        in_child(dir, child_truncate_unwaited);
        wal_close(open_log(dir, 2048, 0, &s, &info));
        ck_assert_uint_ge(info.last_index, 30);
        assert_entries(&s, info.last_index, UINT64_MAX, 1, 1);
        testutil_remove_tree(dir);
        free(dir);
    }
}
END_TEST

/* ---------------------------------------------------------------- hard state */

START_TEST(test_hard_state_round_trip_last_wins) {
    char *dir = testutil_make_dir("walraft");
    uint8_t hs1[28], hs2[28], hs3[28];
    hs_make(1, 0, 0, hs1);
    hs_make(2, 3, 2, hs2);
    hs_make(3, 1, 5, hs3);
    wal_t *wal = open_log(dir, 1 << 20, 0, NULL, NULL);
    ck_assert_uint_ne(wal_save_hard_state(wal, hs1), 0);
    put_range(wal, 1, 1, 5, false);
    ck_assert_uint_ne(wal_save_hard_state(wal, hs2), 0);
    wal_wait_ticket(wal, wal_save_hard_state(wal, hs3));
    wal_close(wal);
    seen_t s;
    wal_recovery_t info;
    wal_close(open_log(dir, 1 << 20, 0, &s, &info));
    const uint8_t types[] = {4, 1, 1, 1, 1, 1, 4, 4};
    const uint64_t indexes[] = {0, 1, 2, 3, 4, 5, 5, 5};
    ck_assert_uint_eq(s.count, 8);
    for (size_t i = 0; i < 8; i++) {
        ck_assert_uint_eq(s.type[i], types[i]);
        ck_assert_uint_eq(s.index[i], indexes[i]);
    }
    ck_assert_uint_eq(info.hard_states, 3);
    ck_assert(memcmp(info.last_hard_state, hs3, 28) == 0);
    ck_assert_uint_eq(info.last_index, 5);
    /* A snapshot covering every entry: the hard-state records are still handed over. */
    wal_close(open_log(dir, 1 << 20, 5, &s, &info));
    ck_assert_uint_eq(s.count, 3);
    ck_assert(memcmp(info.last_hard_state, hs3, 28) == 0);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* A truncation cuts hard-state records out of the files: the newest survives in wal/hardstate
 * until a newer record follows the cut. */
START_TEST(test_hard_state_survives_truncation) {
    char *dir = testutil_make_dir("walraft");
    uint8_t hs[28];
    wal_t *wal = open_log(dir, 1024, 0, NULL, NULL);
    put_range(wal, 1, 1, 200, true);
    hs_make(4, 2, 150, hs);
    wal_wait_ticket(wal, wal_save_hard_state(wal, hs));
    put_range(wal, 1, 201, 210, true);
    wal_wait_ticket(wal, wal_truncate_after(wal, 10));
    wal_close(wal);
    seen_t s;
    wal_recovery_t info;
    wal = open_log(dir, 1024, 0, &s, &info);
    assert_entries(&s, 10, UINT64_MAX, 1, 1);
    ck_assert_uint_eq(info.hard_states, 0);
    ck_assert_uint_eq(hs_of(&info).term, 4);
    /* A newer record after the cut wins over the file; cut again, it survives in turn. */
    put_range(wal, 5, 11, 12, false);
    hs_make(5, 1, 12, hs);
    wal_save_hard_state(wal, hs);
    put_range(wal, 5, 13, 30, true);
    wal_close(wal);
    wal = open_log(dir, 1024, 0, &s, &info);
    ck_assert_uint_eq(hs_of(&info).term, 5);
    wal_wait_ticket(wal, put(wal, 6, 11));
    wal_close(wal);
    wal_close(open_log(dir, 1024, 0, &s, &info));
    ck_assert_uint_eq(hs_of(&info).term, 5);
    assert_entries(&s, 11, 11, 1, 6);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* The disk state a crash leaves in the middle of a cut -- wal/hardstate saved as of the end of
 * the old log, wal.ctl naming the segment to cut, later segments gone, that segment not yet
 * truncated -- recovers the newest hard state, not an older record the cut has yet to remove. */
START_TEST(test_hard_state_mid_cut_crash_state) {
    char *dir = testutil_make_dir("walraft");
    uint8_t old_hs[28], new_hs[28];
    hs_make(2, 1, 5, old_hs);
    hs_make(3, 2, 5, new_hs);
    wal_t *wal = open_log(dir, 1024, 0, NULL, NULL);
    put_range(wal, 1, 1, 10, true);
    wal_wait_ticket(wal, wal_save_hard_state(wal, old_hs));
    put_range(wal, 1, 11, 200, true);
    wal_wait_ticket(wal, wal_save_hard_state(wal, new_hs));
    wal_close(wal);
    uint64_t *firsts = NULL;
    size_t count = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(wal_list_segments(dir, &firsts, &count, &err), CTX_OK);
    ck_assert_uint_gt(count, 2);
    ck_assert_uint_eq(firsts[0], 1);
    char path[FSU_PATH_MAX];
    last_segment_path(dir, path);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    /* Step 1 of a cut after index 5 (wal.c, writer_cut), then step 2. */
    wal_hs_file_t f = {.segment = firsts[count - 1], .offset = (uint64_t)sb.st_size};
    memcpy(f.hard_state, new_hs, 28);
    uint8_t bytes[WAL_HS_FILE_BYTES];
    wal_hs_file_encode(bytes, &f);
    snprintf(path, sizeof(path), "%s/%s", dir, WAL_HARD_STATE_FILE);
    testutil_write_file(path, bytes, sizeof(bytes));
    uint8_t ctl[WAL_CONTROL_BYTES];
    wal_control_encode(ctl, 1);
    snprintf(path, sizeof(path), "%s/%s", dir, WAL_CONTROL_FILE);
    testutil_write_file(path, ctl, sizeof(ctl));
    for (size_t i = 1; i < count; i++) {
        char name[32];
        wal_segment_name(firsts[i], name, sizeof(name));
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        ck_assert_int_eq(unlink(path), 0);
    }
    free(firsts);
    seen_t s;
    wal_recovery_t info;
    wal_close(open_log(dir, 1024, 0, &s, &info));
    ck_assert_uint_ge(info.last_index, 10);
    ck_assert_uint_eq(info.hard_states, 1); /* old_hs, still in the first segment */
    ck_assert(memcmp(info.last_hard_state, new_hs, 28) == 0);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* A hard state pending behind entries that a truncation drops is kept (re-indexed). */
START_TEST(test_pending_hard_state_kept_by_truncation) {
    for (int round = 0; round < 10; round++) {
        char *dir = testutil_make_dir("walraft");
        uint8_t hs[28];
        hs_make(7, 2, 40, hs);
        wal_t *wal = open_log(dir, 1 << 20, 0, NULL, NULL);
        put_range(wal, 1, 1, 50, false);
        ck_assert_uint_ne(wal_save_hard_state(wal, hs), 0);
        put_range(wal, 7, 49, 49, false);
        wal_close(wal);
        seen_t s;
        wal_recovery_t info;
        wal_close(open_log(dir, 1 << 20, 0, &s, &info));
        assert_entries(&s, 49, 49, 1, 7);
        ck_assert_uint_eq(hs_of(&info).term, 7);
        testutil_remove_tree(dir);
        free(dir);
    }
}
END_TEST

/* Compaction and a snapshot ahead of the log remove segments, hard-state records with them. */
START_TEST(test_hard_state_survives_removal_and_restart) {
    char *dir = testutil_make_dir("walraft");
    uint8_t hs[28];
    hs_make(2, 1, 0, hs);
    wal_t *wal = open_log(dir, 1024, 0, NULL, NULL);
    wal_wait_ticket(wal, wal_save_hard_state(wal, hs));
    put_range(wal, 2, 1, 300, true);
    ck_assert_uint_gt(wal_remove_through(wal, 250), 2);
    wal_close(wal);
    wal_recovery_t info;
    wal_close(open_log(dir, 1024, 250, NULL, &info));
    ck_assert_uint_eq(info.hard_states, 0);
    ck_assert_uint_eq(hs_of(&info).term, 2);
    wal_close(open_log(dir, 1024, 400, NULL, &info)); /* snapshot ahead: log restarts */
    ck_assert_uint_eq(hs_of(&info).term, 2);
    /* Hard state saved into the restarted, still entry-less log is reopened, not rewritten. */
    hs_make(3, 2, 0, hs);
    wal = open_log(dir, 1024, 400, NULL, &info);
    ck_assert_uint_eq(info.segments, 1);
    ck_assert_uint_eq(wal_last_index(wal), 400);
    wal_wait_ticket(wal, wal_save_hard_state(wal, hs));
    wal_close(wal);
    wal_close(open_log(dir, 1024, 400, NULL, &info));
    ck_assert_uint_eq(info.hard_states, 1);
    ck_assert_uint_eq(hs_of(&info).term, 3);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* Compaction on another thread while the log is appended to, truncated and given hard state:
 * no deadlock, and the reopened log holds exactly what was written last, with the last hard
 * state. Entries at or below `committed` are never truncated (as in Raft) and may be removed. */
typedef struct remover {
    wal_t *wal;
    _Atomic uint64_t committed;
    _Atomic bool stop;
    uint32_t removed;
} remover_t;

static void *remover_main(void *arg) {
    remover_t *r = arg;
    while (!atomic_load(&r->stop)) {
        r->removed += wal_remove_through(r->wal, atomic_load(&r->committed));
        sched_yield();
    }
    return NULL;
}

START_TEST(test_concurrent_compaction) {
    enum { ROUNDS = 120, LOG_MAX = 8000 };
    char *dir = testutil_make_dir("walraft");
    static uint64_t terms[LOG_MAX];
    remover_t r = {.wal = open_log(dir, 1024, 0, NULL, NULL)};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, remover_main, &r), 0);
    uint64_t last = 0, ticket = 0;
    uint8_t hs[28];
    for (uint64_t round = 1; round <= ROUNDS; round++) {
        for (uint64_t i = last + 1; i <= last + 50; i++) {
            ticket = put(r.wal, round, i);
            terms[i] = round;
        }
        last += 50;
        hs_make(round, 1, last - 30, hs);
        ticket = wal_save_hard_state(r.wal, hs);
        if (round % 3 == 0) {
            wal_wait_ticket(r.wal, ticket);
            atomic_store(&r.committed, last - 30);
            last -= 10;
            ticket = put(r.wal, round + 1, last);
            terms[last] = round + 1;
        }
    }
    wal_wait_ticket(r.wal, ticket);
    atomic_store(&r.stop, true);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_uint_gt(r.removed, 0);
    wal_close(r.wal);
    uint64_t committed = atomic_load(&r.committed);
    seen_t s;
    wal_recovery_t info;
    wal_close(open_log(dir, 1024, committed, &s, &info));
    ck_assert_uint_eq(info.last_index, last);
    ck_assert(memcmp(info.last_hard_state, hs, 28) == 0);
    uint64_t next = committed + 1;
    for (size_t i = 0; i < s.count; i++) {
        if (s.type[i] != WAL_TYPE_HARD_STATE) {
            ck_assert_uint_eq(s.index[i], next);
            ck_assert_uint_eq(s.term[i], terms[next]);
            next++;
        }
    }
    ck_assert_uint_eq(next - 1, last);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- tickets, torn tail, old logs */

START_TEST(test_tickets_monotonic_and_reached) {
    for (int sync = 0; sync <= 1; sync++) {
        char *dir = testutil_make_dir("walraft");
        wal_options_t o = options(dir, 4096);
        o.sync_commit = sync == 1;
        wal_t *wal = NULL;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(wal_open(&o, 0, NULL, NULL, NULL, &wal, &err), CTX_OK);
        uint8_t hs[28];
        hs_make(1, 1, 0, hs);
        uint64_t prev = 0;
        for (uint64_t i = 1; i <= 300; i++) {
            uint64_t t = i % 50 == 0  ? wal_truncate_after(wal, i - 10)
                         : i % 7 == 0 ? wal_save_hard_state(wal, hs)
                                      : put(wal, 1, wal_last_index(wal) + 1);
            ck_assert_uint_gt(t, prev);
            ck_assert_uint_le(wal_durable_ticket(wal), t);
            prev = t;
            if (i % 40 == 0) {
                wal_wait_ticket(wal, t);
                ck_assert_uint_ge(wal_durable_ticket(wal), t);
            }
        }
        wal_wait_ticket(wal, prev);
        ck_assert_uint_eq(wal_durable_ticket(wal), prev);
        uint64_t last = wal_last_index(wal);
        wal_close(wal);
        wal_recovery_t info;
        seen_t s;
        wal_close(open_log(dir, 4096, 0, &s, &info));
        ck_assert_uint_eq(info.last_index, last);
        testutil_remove_tree(dir);
        free(dir);
    }
}
END_TEST

static void last_segment_path(const char *dir, char path[FSU_PATH_MAX]) {
    uint64_t *firsts = NULL;
    size_t count = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(wal_list_segments(dir, &firsts, &count, &err), CTX_OK);
    ck_assert_uint_gt(count, 0);
    char name[32];
    wal_segment_name(firsts[count - 1], name, sizeof(name));
    snprintf(path, FSU_PATH_MAX, "%s/%s", dir, name);
    free(firsts);
}

START_TEST(test_torn_tail_after_hard_state) {
    char *dir = testutil_make_dir("walraft");
    uint8_t hs1[28], hs2[28];
    hs_make(3, 1, 4, hs1);
    hs_make(4, 2, 9, hs2);
    wal_t *wal = open_log(dir, 1 << 20, 0, NULL, NULL);
    put_range(wal, 3, 1, 10, false);
    wal_save_hard_state(wal, hs1);
    put_range(wal, 4, 11, 11, false);
    wal_wait_ticket(wal, wal_save_hard_state(wal, hs2));
    wal_close(wal);
    char path[FSU_PATH_MAX];
    last_segment_path(dir, path);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    /* Tear the last hard-state record: it goes, the entries and the older one stay. */
    ck_assert_int_eq(truncate(path, sb.st_size - 5), 0);
    seen_t s;
    wal_recovery_t info;
    wal_close(open_log(dir, 1 << 20, 0, &s, &info));
    ck_assert_uint_eq(info.truncated_bytes, WAL_RECORD_HEADER_BYTES + 28 - 5);
    ck_assert_uint_eq(info.last_index, 11);
    ck_assert(memcmp(info.last_hard_state, hs1, 28) == 0);
    ck_assert_uint_eq(info.hard_states, 1);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* A log written by a single-node server before Raft: BATCH entries of term 0, no hard state,
 * no hard-state file. */
START_TEST(test_old_format_log_opens) {
    char *dir = testutil_make_dir("walraft");
    buf_t b;
    buf_init(&b);
    uint8_t header[WAL_SEGMENT_HEADER_BYTES];
    wal_segment_header_encode(header, 1);
    buf_append(&b, header, sizeof(header));
    for (uint64_t i = 1; i <= 5; i++) {
        uint8_t payload[32];
        uint32_t len = (uint32_t)(i % 17);
        for (uint32_t k = 0; k < len; k++) {
            payload[k] = (uint8_t)(i + k);
        }
        wal_record_encode(&b, 0, i, WAL_TYPE_BATCH, payload, len);
    }
    char path[FSU_PATH_MAX];
    snprintf(path, sizeof(path), "%s/000000000001.seg", dir);
    testutil_write_file(path, buf_peek(&b), buf_size(&b));
    buf_free(&b);
    seen_t s;
    wal_recovery_t info;
    wal_t *wal = open_log(dir, 1 << 20, 0, &s, &info);
    assert_entries(&s, 5, UINT64_MAX, 0, 0);
    ck_assert_uint_eq(info.last_term, 0);
    ck_assert(!info.has_hard_state);
    wal_wait_ticket(wal, put(wal, 1, 6));
    wal_close(wal);
    wal_close(open_log(dir, 1 << 20, 0, &s, &info));
    assert_entries(&s, 6, 6, 0, 1);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- recovery hand-back */

/* Appends a BATCH entry inserting node id. */
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

static int run_recovery(const char *root, uint64_t apply_through, bool keep_applied,
                        store_t **store, recovery_info_t *info) {
    char snaps[FSU_PATH_MAX], wal_dir[FSU_PATH_MAX];
    snprintf(snaps, sizeof(snaps), "%s/snapshots", root);
    snprintf(wal_dir, sizeof(wal_dir), "%s/wal", root);
    recovery_opts_t o = {.snapshot_root = snaps,
                         .store_config = {.vector_dims = 4},
                         .wal = options(wal_dir, 1 << 20),
                         .apply_through = apply_through,
                         .keep_applied = keep_applied};
    wal_t *wal = NULL;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = recovery_run(&o, store, &wal, info, &err);
    ck_assert_msg(rc == CTX_OK, "recovery: %s", err.message);
    wal_close(wal);
    return rc;
}

START_TEST(test_recovery_applies_through_and_hands_back) {
    char *root = testutil_make_dir("walraft");
    char snaps[FSU_PATH_MAX], wal_dir[FSU_PATH_MAX];
    snprintf(snaps, sizeof(snaps), "%s/snapshots", root);
    snprintf(wal_dir, sizeof(wal_dir), "%s/wal", root);
    ck_assert_int_eq(mkdir(snaps, 0700), 0);
    uint8_t hs[28], conf[RAFT_CONF_CHANGE_SIZE];
    hs_make(2, 1, 4, hs);
    raft_conf_change_encode(RAFT_CONF_ADD_LEARNER, 9, conf);
    wal_t *wal = open_log(wal_dir, 1 << 20, 0, NULL, NULL);
    put_node(wal, 1, 1, 10);
    put_node(wal, 1, 2, 11);
    ck_assert_uint_ne(wal_append_entry(wal, 2, 3, WAL_TYPE_NOOP, NULL, 0), 0);
    put_node(wal, 2, 4, 12);
    ck_assert_uint_ne(wal_append_entry(wal, 2, 5, WAL_TYPE_CONF, conf, sizeof(conf)), 0);
    put_node(wal, 2, 6, 13);
    wal_wait_ticket(wal, wal_save_hard_state(wal, hs));
    wal_close(wal);

    store_t *store = NULL;
    recovery_info_t info;
    run_recovery(root, 4, false, &store, &info);
    ck_assert_uint_eq(store_node_count(store), 3); /* entries 1, 2 and 4 */
    ck_assert_uint_eq(info.applied_index, 4);
    ck_assert_uint_eq(info.entries_count, 2);
    ck_assert_uint_eq(info.entries[0].index, 5);
    ck_assert_uint_eq(info.entries[0].type, WAL_TYPE_CONF);
    ck_assert_uint_eq(info.entries[0].len, sizeof(conf));
    ck_assert(memcmp(info.entries[0].payload, conf, sizeof(conf)) == 0);
    ck_assert_uint_eq(info.entries[1].index, 6);
    ck_assert_uint_eq(info.entries[1].term, 2);
    ck_assert_uint_eq(info.entries[1].type, WAL_TYPE_BATCH);
    ck_assert(memcmp(info.wal.last_hard_state, hs, 28) == 0);
    recovery_info_free(&info);
    store_destroy(store);

    run_recovery(root, 0, true, &store, &info); /* nothing applied, everything handed back */
    ck_assert_uint_eq(store_node_count(store), 0);
    ck_assert_uint_eq(info.entries_count, 6);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_uint_eq(info.entries[i].index, i + 1);
    }
    ck_assert_uint_eq(info.entries[2].type, WAL_TYPE_NOOP);
    ck_assert_uint_eq(info.entries[2].len, 0);
    recovery_info_free(&info);
    store_destroy(store);

    run_recovery(root, UINT64_MAX, false, &store, &info); /* the single-node server's call */
    ck_assert_uint_eq(store_node_count(store), 4);
    ck_assert_uint_eq(info.entries_count, 0);
    ck_assert_ptr_null(info.entries);
    recovery_info_free(&info);
    store_destroy(store);
    testutil_remove_tree(root);
    free(root);
}
END_TEST

int main(void) {
    testutil_seed("test_wal_raft");
    Suite *suite = suite_create("wal_raft");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_append_at_explicit_indexes);
    tcase_add_test(tc, test_truncate_pending);
    tcase_add_test(tc, test_truncate_in_active_segment);
    tcase_add_test(tc, test_truncate_across_segments);
    tcase_add_test(tc, test_killed_writer_never_resurrects);
    tcase_add_test(tc, test_hard_state_round_trip_last_wins);
    tcase_add_test(tc, test_hard_state_survives_truncation);
    tcase_add_test(tc, test_hard_state_mid_cut_crash_state);
    tcase_add_test(tc, test_pending_hard_state_kept_by_truncation);
    tcase_add_test(tc, test_hard_state_survives_removal_and_restart);
    tcase_add_test(tc, test_concurrent_compaction);
    tcase_add_test(tc, test_tickets_monotonic_and_reached);
    tcase_add_test(tc, test_torn_tail_after_hard_state);
    tcase_add_test(tc, test_old_format_log_opens);
    tcase_add_test(tc, test_recovery_applies_through_and_hands_back);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * test_wal.c — unit tests of storage/wal.h: the record and segment-header codecs (round trip;
 * every single-bit flip and every truncation detected), the log on disk (append, group commit,
 * reopen and replay, segment rotation and removal), torn tails (truncation and bit flips at
 * every offset of the last records are cut off; damage followed by intact records is an error
 * that leaves the files untouched), the control file (a missing newest or middle segment is an
 * error naming it) and a snapshot newer than the log.
 * Randomized tests print their seed; set CTX_TEST_SEED to replay.
 */
#include "crc32c.h"
#include "wal.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void init_seed(void) {
    testutil_seed("test_wal");
}

static uint64_t rnd(void) {
    return testutil_rand();
}

static char *make_dir(void) {
    return testutil_make_dir("wal");
}

static void remove_tree(const char *dir) {
    testutil_remove_tree(dir);
}

/* Payload of record i: deterministic bytes so replays can be checked. */
static uint32_t payload_for(uint64_t index, uint8_t *out) {
    uint32_t len = (uint32_t)(index * 7919 % 300);
    for (uint32_t i = 0; i < len; i++) {
        out[i] = (uint8_t)(index * 31 + i);
    }
    return len;
}

/* ---------------------------------------------------------------- codec */

START_TEST(test_record_round_trip) {
    buf_t b;
    buf_init(&b);
    uint8_t payload[512];
    for (uint64_t i = 1; i <= 50; i++) {
        uint32_t len = payload_for(i, payload);
        wal_record_encode(&b, i / 10, i, WAL_TYPE_BATCH, payload, len);
    }
    size_t off = 0;
    for (uint64_t i = 1; i <= 50; i++) {
        wal_record_t rec;
        size_t used = 0;
        ck_assert_int_eq(wal_record_decode(buf_peek(&b) + off, buf_size(&b) - off, &rec, &used),
                         WAL_DECODE_OK);
        uint32_t len = payload_for(i, payload);
        ck_assert_uint_eq(rec.index, i);
        ck_assert_uint_eq(rec.term, i / 10);
        ck_assert_uint_eq(rec.type, WAL_TYPE_BATCH);
        ck_assert_uint_eq(rec.len, len);
        ck_assert(memcmp(rec.payload, payload, len) == 0);
        ck_assert_uint_eq(used, WAL_RECORD_HEADER_BYTES + len);
        off += used;
    }
    ck_assert_uint_eq(off, buf_size(&b));
    buf_free(&b);
}
END_TEST

START_TEST(test_record_every_corruption_detected) {
    buf_t b;
    buf_init(&b);
    uint8_t payload[64];
    for (int i = 0; i < 64; i++) {
        payload[i] = (uint8_t)(i * 13);
    }
    wal_record_encode(&b, 3, 42, WAL_TYPE_BATCH, payload, sizeof(payload));
    size_t n = buf_size(&b);
    uint8_t *copy = malloc(n);
    for (size_t byte = 0; byte < n; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, buf_peek(&b), n);
            copy[byte] ^= (uint8_t)(1u << bit);
            wal_record_t rec;
            size_t used;
            wal_decode_t d = wal_record_decode(copy, n, &rec, &used);
            ck_assert_msg(d != WAL_DECODE_OK, "flip of byte %zu bit %d not detected", byte, bit);
        }
    }
    for (size_t len = 0; len < n; len++) {
        wal_record_t rec;
        size_t used;
        ck_assert_int_eq(wal_record_decode(buf_peek(&b), len, &rec, &used), WAL_DECODE_SHORT);
    }
    free(copy);
    buf_free(&b);
}
END_TEST

START_TEST(test_segment_header) {
    uint8_t h[WAL_SEGMENT_HEADER_BYTES];
    wal_segment_header_encode(h, 123456789);
    uint64_t first = 0;
    ck_assert_int_eq(wal_segment_header_decode(h, sizeof(h), &first), CTX_OK);
    ck_assert_uint_eq(first, 123456789);
    for (size_t byte = 0; byte < sizeof(h); byte++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t c[WAL_SEGMENT_HEADER_BYTES];
            memcpy(c, h, sizeof(h));
            c[byte] ^= (uint8_t)(1u << bit);
            ck_assert_int_eq(wal_segment_header_decode(c, sizeof(c), &first), CTX_ECORRUPT);
        }
    }
    for (size_t len = 0; len < sizeof(h); len++) {
        ck_assert_int_eq(wal_segment_header_decode(h, len, &first), CTX_ECORRUPT);
    }
}
END_TEST

/* ---------------------------------------------------------------- the log */

typedef struct replay_check {
    uint64_t next; /* expected index */
    uint64_t count;
} replay_check_t;

static int check_replay(void *ctx, const wal_record_t *rec, ctx_err_t *err) {
    (void)err;
    replay_check_t *rc = ctx;
    uint8_t payload[512];
    uint32_t len = payload_for(rec->index, payload);
    ck_assert_uint_eq(rec->index, rc->next);
    ck_assert_uint_eq(rec->len, len);
    ck_assert(memcmp(rec->payload, payload, len) == 0);
    rc->next++;
    rc->count++;
    return CTX_OK;
}

static wal_options_t options(const char *dir, uint64_t segment_bytes) {
    return (wal_options_t){.dir = dir,
                           .segment_bytes = segment_bytes,
                           .sync_commit = true,
                           .sync_delay_ms = 200,
                           .notify_fd = -1};
}

/* Opens dir, appends records first..last (with their deterministic payloads), closes. */
static void append_range(const char *dir, uint64_t segment_bytes, uint64_t after, uint64_t first,
                         uint64_t last) {
    wal_options_t o = options(dir, segment_bytes);
    wal_t *wal = NULL;
    ctx_err_t err;
    ctx_err_clear(&err);
    replay_check_t rc = {.next = after + 1};
    ck_assert_int_eq(wal_open(&o, after, check_replay, &rc, NULL, &wal, &err), CTX_OK);
    ck_assert_uint_eq(wal_last_index(wal), first - 1);
    uint8_t payload[512];
    for (uint64_t i = first; i <= last; i++) {
        uint32_t len = payload_for(i, payload);
        ck_assert_uint_eq(wal_append(wal, 1, WAL_TYPE_BATCH, payload, len), i);
        if (i % 16 == 0) {
            wal_wait_durable(wal, i); /* several batches, so segments rotate */
        }
    }
    wal_wait_durable(wal, last);
    ck_assert_uint_eq(wal_durable_index(wal), last);
    wal_close(wal);
}

/* Reopens and replays everything after `after`; returns the recovery info. */
static int reopen(const char *dir, uint64_t after, replay_check_t *rc, wal_recovery_t *info,
                  ctx_err_t *err) {
    wal_options_t o = options(dir, 1 << 20);
    wal_t *wal = NULL;
    rc->next = after + 1;
    rc->count = 0;
    int r = wal_open(&o, after, check_replay, rc, info, &wal, err);
    wal_close(wal);
    return r;
}

START_TEST(test_append_reopen_rotate_remove) {
    char *dir = make_dir();
    append_range(dir, 4096, 0, 1, 500);
    replay_check_t rc;
    wal_recovery_t info;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(reopen(dir, 0, &rc, &info, &err), CTX_OK);
    ck_assert_uint_eq(rc.count, 500);
    ck_assert_uint_eq(info.first_index, 1);
    ck_assert_uint_eq(info.last_index, 500);
    ck_assert_uint_gt(info.segments, 5);
    ck_assert_uint_eq(info.truncated_bytes, 0);
    /* Replay only after a snapshot index; append more after reopening. */
    ck_assert_int_eq(reopen(dir, 321, &rc, &info, &err), CTX_OK);
    ck_assert_uint_eq(rc.count, 179);
    append_range(dir, 4096, 0, 501, 600);
    /* Remove segments wholly before 300; replay from 299 still works, from 0 does not. */
    wal_options_t o = options(dir, 4096);
    wal_t *wal = NULL;
    ck_assert_int_eq(wal_open(&o, 0, NULL, NULL, NULL, &wal, &err), CTX_OK);
    uint32_t before = wal_segment_count(wal);
    uint32_t removed = wal_remove_through(wal, 300);
    ck_assert_uint_gt(removed, 0);
    ck_assert_uint_eq(wal_segment_count(wal), before - removed);
    wal_close(wal);
    ck_assert_int_eq(reopen(dir, 299, &rc, &info, &err), CTX_OK);
    ck_assert_uint_le(info.first_index, 300);
    ck_assert_uint_eq(rc.count, 301);
    ctx_err_clear(&err);
    ck_assert_int_eq(wal_open(&o, 0, NULL, NULL, NULL, &wal, &err), CTX_ECORRUPT);
    ck_assert(strstr(err.message, "are missing") != NULL);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Path and size of the last segment. */
static void last_segment(const char *dir, char *path, size_t len, off_t *size) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char best[256] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".seg") != NULL && strcmp(de->d_name, best) > 0) {
            snprintf(best, sizeof(best), "%s", de->d_name);
        }
    }
    closedir(d);
    snprintf(path, len, "%s/%s", dir, best);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    *size = st.st_size;
}

/* Offsets at which each record of a segment image starts. */
static size_t record_starts(const uint8_t *data, size_t len, size_t *starts, size_t max) {
    size_t n = 0;
    size_t off = WAL_SEGMENT_HEADER_BYTES;
    while (off < len && n < max) {
        wal_record_t rec;
        size_t used;
        ck_assert_int_eq(wal_record_decode(data + off, len - off, &rec, &used), WAL_DECODE_OK);
        starts[n++] = off;
        off += used;
    }
    return n;
}

START_TEST(test_torn_tail_every_truncation) {
    char *dir = make_dir();
    append_range(dir, 1 << 20, 0, 1, 20);
    char path[512];
    off_t size;
    last_segment(dir, path, sizeof(path), &size);
    size_t len;
    uint8_t *image = testutil_read_file(path, &len);
    size_t starts[64];
    size_t n = record_starts(image, len, starts, 64);
    ck_assert_uint_eq(n, 20);
    /* Every cut inside the last three records keeps exactly the complete records before it. */
    for (size_t cut = starts[n - 3]; cut < len; cut++) {
        testutil_write_file(path, image, cut);
        replay_check_t rc;
        wal_recovery_t info;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(reopen(dir, 0, &rc, &info, &err), CTX_OK);
        size_t complete = 0; /* records whose last byte is before the cut */
        while (complete < n && (complete + 1 < n ? starts[complete + 1] : len) <= cut) {
            complete++;
        }
        ck_assert_uint_eq(rc.count, complete);
        ck_assert_uint_eq(info.last_index, complete);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq((size_t)st.st_size, complete < n ? starts[complete] : len);
    }
    /* After a truncation the log continues with the next index. */
    testutil_write_file(path, image, starts[n - 1] + 5);
    append_range(dir, 1 << 20, 0, 20, 25);
    replay_check_t rc;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(reopen(dir, 0, &rc, NULL, &err), CTX_OK);
    ck_assert_uint_eq(rc.count, 25);
    free(image);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_torn_tail_bit_flips) {
    char *dir = make_dir();
    append_range(dir, 1 << 20, 0, 1, 30);
    char path[512];
    off_t size;
    last_segment(dir, path, sizeof(path), &size);
    size_t len;
    uint8_t *image = testutil_read_file(path, &len);
    size_t starts[64];
    size_t n = record_starts(image, len, starts, 64);
    /* A flip anywhere in the last record: the record is dropped, the rest kept. */
    for (size_t off = starts[n - 1]; off < len; off++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, image, len);
        copy[off] ^= (uint8_t)(1u << (rnd() % 8));
        testutil_write_file(path, copy, len);
        replay_check_t rc;
        wal_recovery_t info;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(reopen(dir, 0, &rc, &info, &err), CTX_OK);
        ck_assert_uint_eq(rc.count, n - 1);
        ck_assert_uint_eq(info.truncated_bytes, len - starts[n - 1]);
        ck_assert(strstr(info.truncated_at, "offset") != NULL);
        free(copy);
    }
    /* A flip in an earlier record (intact records follow): startup error, files untouched. */
    for (int trial = 0; trial < 200; trial++) {
        size_t rec = rnd() % (n - 1);
        size_t end = starts[rec + 1];
        size_t off = starts[rec] + rnd() % (end - starts[rec]);
        uint8_t *copy = malloc(len);
        memcpy(copy, image, len);
        copy[off] ^= (uint8_t)(1u << (rnd() % 8));
        testutil_write_file(path, copy, len);
        replay_check_t rc;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(reopen(dir, 0, &rc, NULL, &err), CTX_ECORRUPT);
        ck_assert_msg(strstr(err.message, "corrupt in the middle") != NULL, "%s", err.message);
        ck_assert(strstr(err.message, ".seg") != NULL);
        size_t now;
        uint8_t *after = testutil_read_file(path, &now);
        ck_assert_uint_eq(now, len);
        ck_assert(memcmp(after, copy, len) == 0);
        free(after);
        free(copy);
    }
    free(image);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The control file records the newest segment: losing it (or a middle one) stops recovery with
 * the file names, and nothing on disk changes. */
START_TEST(test_missing_segments_detected) {
    char *dir = make_dir();
    append_range(dir, 4096, 0, 1, 300);
    char newest[512], ctl[600];
    off_t size;
    last_segment(dir, newest, sizeof(newest), &size);
    snprintf(ctl, sizeof(ctl), "%s/%s", dir, WAL_CONTROL_FILE);
    uint64_t recorded = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(wal_control_read(dir, &recorded, &err), CTX_OK);
    ck_assert_str_eq(strrchr(newest, '/') + 1 + 12, ".seg");
    ck_assert_uint_eq(recorded, strtoull(strrchr(newest, '/') + 1, NULL, 10));
    size_t len;
    uint8_t *image = testutil_read_file(newest, &len);
    ck_assert_int_eq(unlink(newest), 0);
    replay_check_t rc;
    ck_assert_int_eq(reopen(dir, 0, &rc, NULL, &err), CTX_ECORRUPT);
    ck_assert_msg(strstr(err.message, strrchr(newest, '/') + 1) != NULL, "%s", err.message);
    ck_assert_msg(strstr(err.message, "is missing") != NULL, "%s", err.message);
    ck_assert_int_eq(access(ctl, F_OK), 0); /* nothing removed or rewritten */
    /* Restored, the log opens again with every record. */
    testutil_write_file(newest, image, len);
    ctx_err_clear(&err);
    ck_assert_int_eq(reopen(dir, 0, &rc, NULL, &err), CTX_OK);
    ck_assert_uint_eq(rc.count, 300);
    /* A damaged control file is an error too, never ignored. */
    size_t ctl_len;
    uint8_t *ctl_image = testutil_read_file(ctl, &ctl_len);
    ck_assert_uint_eq(ctl_len, WAL_CONTROL_BYTES);
    ctl_image[20] ^= 1;
    testutil_write_file(ctl, ctl_image, ctl_len);
    ctx_err_clear(&err);
    ck_assert_int_eq(reopen(dir, 0, &rc, NULL, &err), CTX_ECORRUPT);
    ck_assert_msg(strstr(err.message, "control file") != NULL, "%s", err.message);
    /* Without a control file (a log created before its first segment was recorded) the log
     * opens and the file is written again. */
    ck_assert_int_eq(unlink(ctl), 0);
    ctx_err_clear(&err);
    ck_assert_int_eq(reopen(dir, 0, &rc, NULL, &err), CTX_OK);
    ck_assert_int_eq(wal_control_read(dir, &recorded, &err), CTX_OK);
    free(ctl_image);
    free(image);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_control_codec) {
    uint8_t c[WAL_CONTROL_BYTES];
    wal_control_encode(c, 987654321);
    uint64_t v = 0;
    ck_assert_int_eq(wal_control_decode(c, sizeof(c), &v), CTX_OK);
    ck_assert_uint_eq(v, 987654321);
    for (size_t byte = 0; byte < sizeof(c); byte++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t d[WAL_CONTROL_BYTES];
            memcpy(d, c, sizeof(c));
            d[byte] ^= (uint8_t)(1u << bit);
            ck_assert_int_eq(wal_control_decode(d, sizeof(d), &v), CTX_ECORRUPT);
        }
    }
    ck_assert_int_eq(wal_control_decode(c, sizeof(c) - 1, &v), CTX_ECORRUPT);
}
END_TEST

START_TEST(test_snapshot_ahead_of_log) {
    char *dir = make_dir();
    append_range(dir, 1 << 20, 0, 1, 10);
    char old[512];
    off_t size;
    last_segment(dir, old, sizeof(old), &size);
    size_t len;
    uint8_t *image = testutil_read_file(old, &len);
    /* A snapshot at index 15 (records 11..15 never reached the disk): continue at 16. */
    append_range(dir, 1 << 20, 15, 16, 20);
    replay_check_t rc;
    wal_recovery_t info;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(reopen(dir, 15, &rc, &info, &err), CTX_OK);
    ck_assert_uint_eq(rc.count, 5);
    ck_assert_uint_eq(info.first_index, 16);
    /* A crash after the new segment was recorded but before the old one was removed: the gap
     * 11..15 is inside the snapshot, so the log opens; without that snapshot it is missing. */
    ck_assert_int_eq(access(old, F_OK), -1);
    testutil_write_file(old, image, len);
    ck_assert_int_eq(reopen(dir, 15, &rc, &info, &err), CTX_OK);
    ck_assert_uint_eq(rc.count, 5);
    ck_assert_int_eq(reopen(dir, 0, &rc, &info, &err), CTX_ECORRUPT);
    ck_assert_msg(strstr(err.message, "records 11..15") != NULL, "%s", err.message);
    free(image);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_async_commit_durable_soon) {
    char *dir = make_dir();
    wal_options_t o = options(dir, 1 << 20);
    o.sync_commit = false;
    wal_t *wal = NULL;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(wal_open(&o, 0, NULL, NULL, NULL, &wal, &err), CTX_OK);
    uint8_t payload[512];
    for (uint64_t i = 1; i <= 100; i++) {
        uint32_t len = payload_for(i, payload);
        wal_append(wal, 1, WAL_TYPE_BATCH, payload, len);
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    wal_wait_durable(wal, 100);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ms = (double)(end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
    ck_assert_double_lt(ms, 1000.0);
    wal_close(wal);
    replay_check_t rc;
    ck_assert_int_eq(reopen(dir, 0, &rc, NULL, &err), CTX_OK);
    ck_assert_uint_eq(rc.count, 100);
    remove_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    init_seed();
    Suite *suite = suite_create("wal");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_record_round_trip);
    tcase_add_test(tc, test_record_every_corruption_detected);
    tcase_add_test(tc, test_segment_header);
    tcase_add_test(tc, test_append_reopen_rotate_remove);
    tcase_add_test(tc, test_torn_tail_every_truncation);
    tcase_add_test(tc, test_torn_tail_bit_flips);
    tcase_add_test(tc, test_missing_segments_detected);
    tcase_add_test(tc, test_control_codec);
    tcase_add_test(tc, test_snapshot_ahead_of_log);
    tcase_add_test(tc, test_async_commit_durable_soon);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * test_fsutil.c — unit tests of storage/fsutil.h: a path longer than FSU_PATH_MAX is an error,
 * never a truncated path; write-then-rename replaces a file whole (a reader sees the old or the
 * new contents, and a failed write leaves the old file and no temporary); mkdir -p of nested
 * and existing directories; whole-file reads of missing, oversized and empty files; the
 * data-directory lock holds against a second open even after the pid file is removed.
 */
#include "fsutil.h"

#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *read_text(const char *path) {
    uint8_t *data = NULL;
    size_t len = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_read_all(path, 1 << 20, &data, &len, &err), CTX_OK);
    ck_assert_uint_eq(strlen((char *)data), len);
    return (char *)data;
}

START_TEST(test_path_too_long_is_an_error) {
    char out[FSU_PATH_MAX];
    ctx_err_t err;
    ctx_err_clear(&err);
    char *name = malloc(FSU_PATH_MAX);
    memset(name, 'a', FSU_PATH_MAX - 1);
    name[FSU_PATH_MAX - 1] = '\0';
    /* Exactly FSU_PATH_MAX - 1 bytes fit; one more does not. */
    ck_assert_int_eq(fsu_path(out, &err, "%s", name), CTX_OK);
    ck_assert_uint_eq(strlen(out), FSU_PATH_MAX - 1);
    ck_assert_int_eq(fsu_path(out, &err, "/%s", name), CTX_ELIMIT);
    ck_assert_str_eq(out, ""); /* never a truncated path */
    ck_assert_msg(strstr(err.message, "path too long") != NULL, "%s", err.message);
    ck_assert_str_eq(ctx_sqlstate(err.code), "54000");
    /* Every helper building a path from its argument reports the same error. */
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_write_atomic(name, "x", 1, &err), CTX_ELIMIT); /* name + ".tmp" */
    ctx_err_clear(&err);
    char *dir = testutil_make_dir("fsutil");
    char *longer = malloc(2 * FSU_PATH_MAX);
    snprintf(longer, 2 * FSU_PATH_MAX, "%s/%s", dir, name);
    ck_assert_int_eq(fsu_mkdirs(longer, 0700, &err), CTX_ELIMIT);
    testutil_remove_tree(dir);
    free(dir);
    free(longer);
    free(name);
}
END_TEST

START_TEST(test_write_atomic_replaces_whole) {
    char *dir = testutil_make_dir("fsutil");
    char path[FSU_PATH_MAX], tmp[FSU_PATH_MAX];
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_path(path, &err, "%s/file", dir), CTX_OK);
    ck_assert_int_eq(fsu_path(tmp, &err, "%s/file.tmp", dir), CTX_OK);
    ck_assert_int_eq(fsu_write_atomic(path, "old contents", 12, &err), CTX_OK);
    char *text = read_text(path);
    ck_assert_str_eq(text, "old contents");
    free(text);
    /* A reader holding the old file keeps seeing the old contents whole: the new file is a new
     * inode renamed over the name, never the old one rewritten in place. */
    int reader = open(path, O_RDONLY);
    ck_assert_int_ge(reader, 0);
    ck_assert_int_eq(fsu_write_atomic(path, "new", 3, &err), CTX_OK);
    char seen[32] = "";
    ck_assert_int_eq(pread(reader, seen, sizeof(seen) - 1, 0), 12);
    ck_assert_str_eq(seen, "old contents");
    close(reader);
    text = read_text(path);
    ck_assert_str_eq(text, "new");
    free(text);
    ck_assert_int_eq(access(tmp, F_OK), -1); /* no temporary left */
    /* A write that cannot happen (the directory is gone) fails and leaves nothing behind. */
    char missing[FSU_PATH_MAX];
    ck_assert_int_eq(fsu_path(missing, &err, "%s/no/such/file", dir), CTX_OK);
    ck_assert_int_eq(fsu_write_atomic(missing, "x", 1, &err), CTX_EIO);
    ck_assert_msg(strstr(err.message, "/no/such/file.tmp") != NULL, "%s", err.message);
    /* Copy: same discipline for a streamed source. */
    char copy[FSU_PATH_MAX];
    ck_assert_int_eq(fsu_path(copy, &err, "%s/copy", dir), CTX_OK);
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_copy_atomic(path, copy, &err), CTX_OK);
    text = read_text(copy);
    ck_assert_str_eq(text, "new");
    free(text);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_mkdirs_nested) {
    char *dir = testutil_make_dir("fsutil");
    char nested[FSU_PATH_MAX], file[FSU_PATH_MAX];
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_path(nested, &err, "%s/a/b/c/d", dir), CTX_OK);
    ck_assert_int_eq(fsu_mkdirs(nested, 0700, &err), CTX_OK);
    struct stat st;
    ck_assert_int_eq(stat(nested, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(fsu_mkdirs(nested, 0700, &err), CTX_OK); /* existing: fine */
    /* Parents of a file path; a file where a directory should be is an error. */
    ck_assert_int_eq(fsu_path(file, &err, "%s/x/y/z.col", dir), CTX_OK);
    ck_assert_int_eq(fsu_mkdirs_for(file, 0700, &err), CTX_OK);
    ck_assert_int_eq(fsu_path(file, &err, "%s/x/y", dir), CTX_OK);
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(fsu_path(file, &err, "%s/x/y/f", dir), CTX_OK);
    ck_assert_int_eq(fsu_write_atomic(file, "f", 1, &err), CTX_OK);
    ck_assert_int_eq(fsu_path(nested, &err, "%s/x/y/f/g", dir), CTX_OK);
    ck_assert_int_eq(fsu_mkdirs(nested, 0700, &err), CTX_EIO);
    ck_assert_msg(strstr(err.message, "Not a directory") != NULL, "%s", err.message);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_read_all_errors) {
    char *dir = testutil_make_dir("fsutil");
    char path[FSU_PATH_MAX];
    ctx_err_t err;
    ctx_err_clear(&err);
    uint8_t *data = (uint8_t *)"not touched";
    size_t len = 99;
    ck_assert_int_eq(fsu_path(path, &err, "%s/missing", dir), CTX_OK);
    ck_assert_int_eq(fsu_read_all(path, 100, &data, &len, &err), CTX_EUNDEF_OBJECT);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(fsu_path(path, &err, "%s/big", dir), CTX_OK);
    ck_assert_int_eq(fsu_write_atomic(path, "0123456789", 10, &err), CTX_OK);
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_read_all(path, 9, &data, &len, &err), CTX_ELIMIT);
    ck_assert_ptr_null(data);
    ck_assert_msg(strstr(err.message, "more than the 9 allowed") != NULL, "%s", err.message);
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_read_all(path, 10, &data, &len, &err), CTX_OK);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(memcmp(data, "0123456789", 11), 0); /* NUL-terminated */
    free(data);
    /* A directory opens but cannot be read: an error, not an empty file. */
    ck_assert_int_eq(fsu_read_all(dir, 1 << 20, &data, &len, &err), CTX_EIO);
    ck_assert_ptr_null(data);
    /* Empty file. */
    ck_assert_int_eq(fsu_path(path, &err, "%s/empty", dir), CTX_OK);
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_write_atomic(path, NULL, 0, &err), CTX_OK);
    ck_assert_int_eq(fsu_read_all(path, 10, &data, &len, &err), CTX_OK);
    ck_assert_uint_eq(len, 0);
    free(data);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* The lock is on the directory: a second locker (a second open of the directory, which is a
 * second open file description, so it competes even in this process) fails and names the
 * holder's pid, also after the pid file was removed (then read from /proc/locks). */
START_TEST(test_lock_dir) {
    char *dir = testutil_make_dir("fsutil");
    ctx_err_t err;
    ctx_err_clear(&err);
    int fd = -1;
    ck_assert_int_eq(fsu_lock_dir(dir, "test.pid", &fd, &err), CTX_OK);
    ck_assert_int_ge(fd, 0);
    char pid_path[FSU_PATH_MAX], expect[64];
    ck_assert_int_eq(fsu_path(pid_path, &err, "%s/test.pid", dir), CTX_OK);
    snprintf(expect, sizeof(expect), "(pid %ld)", (long)getpid());
    for (int removed = 0; removed < 2; removed++) {
        if (removed) {
            ck_assert_int_eq(unlink(pid_path), 0);
        }
        int again = -1;
        ctx_err_clear(&err);
        ck_assert_int_eq(fsu_lock_dir(dir, "test.pid", &again, &err), CTX_EIO);
        ck_assert_int_eq(again, -1);
        ck_assert_msg(strstr(err.message, "in use by another server") != NULL, "%s", err.message);
        ck_assert_msg(strstr(err.message, expect) != NULL, "%s", err.message);
    }
    close(fd);
    int next = -1;
    ctx_err_clear(&err);
    ck_assert_int_eq(fsu_lock_dir(dir, "test.pid", &next, &err), CTX_OK);
    close(next);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("fsutil");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_path_too_long_is_an_error);
    tcase_add_test(tc, test_write_atomic_replaces_whole);
    tcase_add_test(tc, test_mkdirs_nested);
    tcase_add_test(tc, test_read_all_errors);
    tcase_add_test(tc, test_lock_dir);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

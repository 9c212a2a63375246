/*
 * test_restore.c — unit tests of storage/restore.h over a file:// object store: the newest
 * snapshot is restored by default and any listed one on request, each with its files, its
 * metadata and `current`; an id the store lacks names the ids it holds; an empty store says so;
 * a file whose size differs from its metadata is CTX_ECORRUPT and leaves no `current` behind.
 */
#include "restore.h"
#include "snapshot.h"

#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Puts snapshot id into os: one 5-byte file and metadata recording meta_bytes for it. */
static void put_snapshot(objstore_t *os, const char *dir, uint64_t id, uint64_t meta_bytes) {
    snap_meta_t m;
    memset(&m, 0, sizeof(m));
    m.snapshot_id = id;
    m.raft_index = id * 10;
    m.format_version = SNAP_FORMAT_VERSION;
    m.nfiles = 1;
    m.dims = 4;
    snprintf(m.metric, sizeof(m.metric), "cosine");
    snap_file_t *f = &m.files[0];
    snprintf(f->path, sizeof(f->path), "nodes/nodes-%06llu-0.col", (unsigned long long)id);
    snprintf(f->kind, sizeof(f->kind), "nodes");
    snprintf(f->codec, sizeof(f->codec), "lz4");
    f->bytes = meta_bytes;
    char path[4096], key[128];
    ctx_err_t err;
    ctx_err_clear(&err);
    snprintf(path, sizeof(path), "%s/upload", dir);
    testutil_write_file(path, (const uint8_t *)"abcde", 5);
    ck_assert_int_eq(objstore_put_file(os, f->path, path, &err), CTX_OK);
    char *json = snap_meta_to_json(&m);
    testutil_write_file(path, (const uint8_t *)json, strlen(json));
    free(json);
    snap_meta_path(id, key, sizeof(key));
    ck_assert_int_eq(objstore_put_file(os, key, path, &err), CTX_OK);
}

static objstore_t *open_store(const char *dir) {
    char url[4096];
    snprintf(url, sizeof(url), "file://%s/store", dir);
    objstore_t *os = NULL;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(objstore_open(url, &os, &err), CTX_OK);
    return os;
}

START_TEST(test_restore_newest_and_chosen) {
    char *dir = testutil_make_dir("restore");
    objstore_t *os = open_store(dir);
    put_snapshot(os, dir, 1, 5);
    put_snapshot(os, dir, 2, 5);
    char root[2048], path[4096];
    restore_info_t info;
    ctx_err_t err;
    ctx_err_clear(&err);
    uint64_t current = 0;

    snprintf(root, sizeof(root), "%s/newest", dir);
    ck_assert_int_eq(restore_snapshot(os, root, 0, &info, &err), CTX_OK);
    ck_assert_uint_eq(info.snapshot_id, 2);
    ck_assert_uint_eq(info.files, 2);
    ck_assert_int_eq(snap_get_current(root, &current, &err), CTX_OK);
    ck_assert_uint_eq(current, 2);
    snap_meta_t m;
    ck_assert_int_eq(snap_meta_load(root, 2, &m, &err), CTX_OK);
    snprintf(path, sizeof(path), "%s/nodes/nodes-000002-0.col", root);
    ck_assert_int_eq(access(path, F_OK), 0);

    snprintf(root, sizeof(root), "%s/chosen", dir);
    ck_assert_int_eq(restore_snapshot(os, root, 1, &info, &err), CTX_OK);
    ck_assert_int_eq(snap_get_current(root, &current, &err), CTX_OK);
    ck_assert_uint_eq(current, 1);

    snprintf(root, sizeof(root), "%s/missing", dir);
    ck_assert_int_eq(restore_snapshot(os, root, 7, &info, &err), CTX_EUNDEF_OBJECT);
    ck_assert_msg(strstr(err.message, "holds snapshots 1, 2") != NULL, "%s", err.message);
    objstore_close(os);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_restore_empty_store_and_size_mismatch) {
    char *dir = testutil_make_dir("restore");
    objstore_t *os = open_store(dir);
    char root[2048];
    restore_info_t info;
    ctx_err_t err;
    ctx_err_clear(&err);
    snprintf(root, sizeof(root), "%s/root", dir);
    ck_assert_int_eq(restore_snapshot(os, root, 0, &info, &err), CTX_EUNDEF_OBJECT);
    ck_assert_msg(strstr(err.message, "holds no snapshot") != NULL, "%s", err.message);

    put_snapshot(os, dir, 3, 99); /* the metadata says 99 bytes, the object has 5 */
    ctx_err_clear(&err);
    ck_assert_int_eq(restore_snapshot(os, root, 0, &info, &err), CTX_ECORRUPT);
    ck_assert_msg(strstr(err.message, "5 bytes, the snapshot metadata says 99") != NULL, "%s",
                  err.message);
    uint64_t current = 0;
    ctx_err_clear(&err);
    ck_assert_int_eq(snap_get_current(root, &current, &err), CTX_EUNDEF_OBJECT);
    objstore_close(os);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("restore");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_restore_newest_and_chosen);
    tcase_add_test(tc, test_restore_empty_store_and_size_mismatch);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}

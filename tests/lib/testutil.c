/*
 * testutil.c — seeded generator and scratch directories for unit tests (see testutil.h).
 */
#include "testutil.h"

#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t seed_state;

void testutil_seed(const char *name) {
    const char *env = getenv("CTX_TEST_SEED");
    seed_state = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("%s: seed %" PRIu64 " (CTX_TEST_SEED to replay)\n", name, seed_state);
}

uint64_t testutil_rand(void) {
    uint64_t z = (seed_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t testutil_rand_state(void) {
    return seed_state;
}

void testutil_rand_set_state(uint64_t state) {
    seed_state = state;
}

char *testutil_make_dir(const char *tag) {
    /* tmpfs when there is one: these tests check formats, not the disk. */
    bool shm = access("/dev/shm", W_OK) == 0;
    char path[256];
    int n = snprintf(path, sizeof(path), "%s/ctx-test-%s-XXXXXX", shm ? "/dev/shm" : "/tmp", tag);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(path), "path too long: %s", tag);
    char *dir = strdup(path);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

char *testutil_make_disk_dir(const char *tag) {
    char path[256];
    int n = snprintf(path, sizeof(path), "/tmp/ctx-%s-XXXXXX", tag);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(path), "path too long: %s", tag);
    char *dir = strdup(path);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

void testutil_remove_tree(const char *dir) {
    char cmd[512];
    int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(cmd), "path too long: %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

uint8_t *testutil_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_ge(size, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    uint8_t *data = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(data);
    *len = fread(data, 1, (size_t)size, f);
    ck_assert_msg(*len == (size_t)size && !ferror(f), "short read of %s", path);
    data[*len] = 0;
    fclose(f);
    return data;
}

void testutil_write_file(const char *path, const uint8_t *data, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

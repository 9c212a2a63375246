/*
 * testutil.h — small helpers shared by unit tests: a seeded random generator (splitmix64) whose
 * seed comes from CTX_TEST_SEED (printed so any run can be replayed), scratch directories and
 * whole-file reads and writes.
 */
#ifndef CTX_TESTUTIL_H
#define CTX_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Seeds the generator from CTX_TEST_SEED or the clock and prints "<name>: seed N". */
void testutil_seed(const char *name);
/* Next pseudo-random 64-bit value (deterministic for a seed). */
uint64_t testutil_rand(void);
/* The generator's position, to replay a stretch of random values. */
uint64_t testutil_rand_state(void);
void testutil_rand_set_state(uint64_t state);
/* Creates a fresh directory (on tmpfs when there is one) named after tag; caller frees. */
char *testutil_make_dir(const char *tag);
/* Creates a fresh directory under /tmp (a real file system: crash tests fsync there). */
char *testutil_make_disk_dir(const char *tag);
/* Removes a directory tree made by testutil_make_dir; aborts the test on failure. */
void testutil_remove_tree(const char *dir);
/* The whole file at path (malloc'ed, NUL-terminated after *len bytes); fails the test when it
 * cannot be read. */
uint8_t *testutil_read_file(const char *path, size_t *len);
/* Replaces the file at path with len bytes of data; fails the test on any error. */
void testutil_write_file(const char *path, const uint8_t *data, size_t len);

#endif

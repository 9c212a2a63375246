/*
 * test_crc32c.c — CRC-32C: RFC 3720 (iSCSI) test vectors, the hardware and table paths agreeing
 * on every length and alignment, and incremental use.
 */
#include "crc32c.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_rfc3720_vectors) {
    uint8_t buf[32];
    memset(buf, 0, sizeof(buf));
    ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x8A9136AAu);
    memset(buf, 0xff, sizeof(buf));
    ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) {
        buf[i] = (uint8_t)i;
    }
    ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) {
        buf[i] = (uint8_t)(31 - i);
    }
    ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x113FDB5Cu);
    ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(crc32c(0, NULL, 0), 0);
}
END_TEST

START_TEST(test_hw_and_table_agree) {
    enum { LEN = 4096 };
    uint8_t *buf = malloc(LEN + 16);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < LEN + 16; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    for (size_t offset = 0; offset < 16; offset++) {
        for (size_t len = 0; len <= 300; len++) {
            ck_assert_uint_eq(crc32c(0, buf + offset, len), crc32c_sw(0, buf + offset, len));
        }
    }
    ck_assert_uint_eq(crc32c(7, buf, LEN), crc32c_sw(7, buf, LEN));
    free(buf);
}
END_TEST

START_TEST(test_incremental) {
    const char *text = "ContextDB replicates every write through Raft";
    size_t len = strlen(text);
    uint32_t whole = crc32c(0, text, len);
    for (size_t cut = 0; cut <= len; cut++) {
        ck_assert_uint_eq(crc32c(crc32c(0, text, cut), text + cut, len - cut), whole);
    }
    /* A single flipped bit always changes the checksum. */
    char copy[64];
    memcpy(copy, text, len);
    for (size_t i = 0; i < len * 8; i++) {
        copy[i / 8] ^= (char)(1 << (i % 8));
        ck_assert_uint_ne(crc32c(0, copy, len), whole);
        copy[i / 8] ^= (char)(1 << (i % 8));
    }
}
END_TEST

int main(void) {
    Suite *suite = suite_create("crc32c");
    TCase *tc = tcase_create("crc32c");
    tcase_add_test(tc, test_rfc3720_vectors);
    tcase_add_test(tc, test_hw_and_table_agree);
    tcase_add_test(tc, test_incremental);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    printf("crc32c: hardware path %s\n", crc32c_hw_available() ? "in use" : "unavailable");
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

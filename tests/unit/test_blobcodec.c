/*
 * test_blobcodec.c — unit tests of storage/blobcodec.h: every codec and filter round trips
 * inputs of awkward lengths (empty, under one word, across a chunk boundary); the shuffle makes
 * float data smaller than the codec alone does; every single-byte change and every truncation is
 * refused, and chunk lengths that the file cannot produce are refused (CRC recomputed, so the
 * length checks themselves are tested) before anything is allocated for them.
 * Randomized tests print their seed; set CTX_TEST_SEED to replay.
 */
#include "blobcodec.h"
#include "crc32c.h"

#include <check.h>
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Normalized 64-d float vectors with a little structure, followed by small u32 "links": the
 * shape of an HNSW index. */
static uint8_t *index_like(size_t len) {
    uint8_t *p = malloc(len > 0 ? len : 1);
    size_t at = 0;
    while (at + 64 * 4 + 32 * 4 <= len) {
        float v[64];
        double norm = 0;
        for (int i = 0; i < 64; i++) {
            v[i] = (float)((double)(testutil_rand() % 20000) / 10000.0 - 1.0);
            norm += (double)v[i] * v[i];
        }
        for (int i = 0; i < 64; i++) {
            v[i] = (float)(v[i] / sqrt(norm));
        }
        memcpy(p + at, v, sizeof(v));
        at += sizeof(v);
        for (int i = 0; i < 32; i++) {
            uint32_t link = (uint32_t)(testutil_rand() % 100000);
            memcpy(p + at, &link, 4);
            at += 4;
        }
    }
    for (; at < len; at++) {
        p[at] = (uint8_t)testutil_rand();
    }
    return p;
}

static void round_trip(const uint8_t *raw, size_t len, col_codec_t codec, int filter,
                       size_t *encoded_len) {
    buf_t b;
    buf_init(&b);
    blob_encode(raw, len, codec, filter, &b);
    ck_assert(!buf_failed(&b));
    ck_assert(blob_is_encoded(buf_peek(&b), buf_size(&b)));
    uint8_t *out = NULL;
    size_t out_len = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_msg(blob_decode(buf_peek(&b), buf_size(&b), &out, &out_len, &err) == CTX_OK, "%s",
                  err.message);
    ck_assert_uint_eq(out_len, len);
    ck_assert(len == 0 || memcmp(out, raw, len) == 0);
    if (encoded_len != NULL) {
        *encoded_len = buf_size(&b);
    }
    free(out);
    buf_free(&b);
}

START_TEST(test_round_trip_lengths_codecs_filters) {
    testutil_seed("test_blobcodec");
    const size_t lengths[] = {0, 1, 3, 4, 5, 4097, BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES + 7};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        uint8_t *raw = index_like(lengths[i]);
        for (int codec = COL_CODEC_LZ4; codec <= COL_CODEC_ZSTD; codec++) {
            for (int filter = BLOB_FILTER_NONE; filter <= BLOB_FILTER_SHUFFLE4; filter++) {
                round_trip(raw, lengths[i], (col_codec_t)codec, filter, NULL);
            }
        }
        free(raw);
    }
}
END_TEST

START_TEST(test_shuffle_compresses_floats_better) {
    testutil_seed("test_blobcodec");
    size_t len = 4 << 20;
    uint8_t *raw = index_like(len);
    for (int codec = COL_CODEC_LZ4; codec <= COL_CODEC_ZSTD; codec++) {
        size_t plain = 0;
        size_t shuffled = 0;
        round_trip(raw, len, (col_codec_t)codec, BLOB_FILTER_NONE, &plain);
        round_trip(raw, len, (col_codec_t)codec, BLOB_FILTER_SHUFFLE4, &shuffled);
        ck_assert_msg(shuffled < plain && shuffled < len * 9 / 10,
                      "codec %d: %zu raw, %zu plain, %zu shuffled", codec, len, plain, shuffled);
    }
    free(raw);
}
END_TEST

static int decode(const uint8_t *data, size_t len) {
    uint8_t *out = NULL;
    size_t out_len = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = blob_decode(data, len, &out, &out_len, &err);
    free(out);
    return rc;
}

START_TEST(test_every_change_and_truncation_refused) {
    testutil_seed("test_blobcodec");
    uint8_t *raw = index_like(3000);
    buf_t b;
    buf_init(&b);
    blob_encode(raw, 3000, COL_CODEC_ZSTD, BLOB_FILTER_SHUFFLE4, &b);
    size_t len = buf_size(&b);
    uint8_t *image = malloc(len);
    memcpy(image, buf_peek(&b), len);
    for (size_t at = 0; at < len; at++) {
        image[at] ^= 0x5a;
        ck_assert_int_eq(decode(image, len), CTX_ECORRUPT);
        image[at] ^= 0x5a;
        ck_assert_int_eq(decode(image, at), CTX_ECORRUPT);
    }
    ck_assert_int_eq(decode(image, len), CTX_OK);
    free(image);
    buf_free(&b);
    free(raw);
}
END_TEST

/* Rewrites a field of an encoded image and fixes the CRC, so only the length checks stand. */
static int decode_patched(const buf_t *b, size_t at, const void *value, size_t n) {
    size_t len = buf_size(b);
    uint8_t *image = malloc(len);
    memcpy(image, buf_peek(b), len);
    memcpy(image + at, value, n);
    uint32_t crc = crc32c(0, image, len - 4);
    memcpy(image + len - 4, &crc, 4);
    int rc = decode(image, len);
    free(image);
    return rc;
}

START_TEST(test_impossible_lengths_refused) {
    testutil_seed("test_blobcodec");
    uint8_t *raw = index_like(100000);
    buf_t b;
    buf_init(&b);
    blob_encode(raw, 100000, COL_CODEC_LZ4, BLOB_FILTER_SHUFFLE4, &b);
    uint64_t huge = (uint64_t)1 << 50;
    ck_assert_int_eq(decode_patched(&b, 8, &huge, 8), CTX_ECORRUPT); /* raw length */
    uint32_t chunk_raw = 100001;
    ck_assert_int_eq(decode_patched(&b, BLOB_HEADER_BYTES, &chunk_raw, 4), CTX_ECORRUPT);
    uint32_t stored = 0xFFFFFF00u;
    ck_assert_int_eq(decode_patched(&b, BLOB_HEADER_BYTES + 4, &stored, 4), CTX_ECORRUPT);
    uint8_t codec = 9;
    ck_assert_int_eq(decode_patched(&b, BLOB_HEADER_BYTES + 8, &codec, 1), CTX_ECORRUPT);
    uint8_t filter = 2;
    ck_assert_int_eq(decode_patched(&b, 5, &filter, 1), CTX_ECORRUPT);
    uint8_t version = BLOB_FORMAT_VERSION + 1;
    ck_assert_int_eq(decode_patched(&b, 4, &version, 1), CTX_ECORRUPT);
    buf_free(&b);
    free(raw);
}
END_TEST

int main(void) {
    Suite *s = suite_create("blobcodec");
    TCase *tc = tcase_create("blobcodec");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip_lengths_codecs_filters);
    tcase_add_test(tc, test_shuffle_compresses_floats_better);
    tcase_add_test(tc, test_every_change_and_truncation_refused);
    tcase_add_test(tc, test_impossible_lengths_refused);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}

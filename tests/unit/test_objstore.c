/*
 * test_objstore.c — unit tests of storage/objstore.h and the request-independent parts of
 * storage/objstore_s3.h: SigV4 signatures equal the ones AWS publishes for its examples (GET
 * Object with a range, GET Bucket with a query); URI encoding keeps exactly the unreserved set;
 * a ListObjectsV2 page yields its keys and sizes with entities decoded, its continuation token,
 * and CTX_ECORRUPT for an unclosed element; s3:// URLs and bad endpoints are parsed or refused;
 * the file:// backend lists in key order without temporaries, heads, and downloads to a file.
 * The S3 requests themselves are tested against a real server in tests/integration/test_s3.py.
 */
#include "objstore.h"
#include "objstore_s3.h"

#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE";
static const char *AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
static const char *EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

START_TEST(test_sigv4_get_object_matches_aws_example) {
    s3_header_t h[] = {{"host", "examplebucket.s3.amazonaws.com"},
                       {"range", "bytes=0-9"},
                       {"x-amz-content-sha256", EMPTY_SHA},
                       {"x-amz-date", "20130524T000000Z"}};
    s3_sign_input_t in = {AWS_KEY_ID, AWS_SECRET, "us-east-1", "GET",     "/test.txt",
                          "",         h,          4,           EMPTY_SHA, "20130524T000000Z"};
    char auth[512];
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(s3_sign_v4(&in, auth, sizeof(auth), &err), CTX_OK);
    ck_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                           "s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
                           "x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48"
                           "dd91039c6036bdb41");
}
END_TEST

START_TEST(test_sigv4_list_bucket_matches_aws_example) {
    s3_header_t h[] = {{"host", "examplebucket.s3.amazonaws.com"},
                       {"x-amz-content-sha256", EMPTY_SHA},
                       {"x-amz-date", "20130524T000000Z"}};
    s3_sign_input_t in = {
        AWS_KEY_ID, AWS_SECRET, "us-east-1",       "GET", "/", "max-keys=2&prefix=J", h,
        3,          EMPTY_SHA,  "20130524T000000Z"};
    char auth[512];
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(s3_sign_v4(&in, auth, sizeof(auth), &err), CTX_OK);
    ck_assert_ptr_nonnull(
        strstr(auth, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
    /* a buffer one byte short is an error, not a truncated header */
    char small[64];
    ck_assert_int_eq(s3_sign_v4(&in, small, sizeof(small), &err), CTX_ELIMIT);
}
END_TEST

START_TEST(test_uri_encode) {
    char out[64];
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(s3_uri_encode("a b/c~d_e.f-g+h=", true, out, sizeof(out), &err), CTX_OK);
    ck_assert_str_eq(out, "a%20b/c~d_e.f-g%2Bh%3D");
    ck_assert_int_eq(s3_uri_encode("p/q", false, out, sizeof(out), &err), CTX_OK);
    ck_assert_str_eq(out, "p%2Fq");
    char tiny[6];
    ck_assert_int_eq(s3_uri_encode("////", false, tiny, sizeof(tiny), &err), CTX_ELIMIT);
}
END_TEST

typedef struct listed {
    char keys[8][64];
    uint64_t sizes[8];
    int count;
} listed_t;

static int collect(void *ctx, const char *key, uint64_t size_bytes, ctx_err_t *err) {
    (void)err;
    listed_t *l = ctx;
    ck_assert_int_lt(l->count, 8);
    snprintf(l->keys[l->count], sizeof(l->keys[0]), "%s", key);
    l->sizes[l->count++] = size_bytes;
    return CTX_OK;
}

START_TEST(test_parse_list_page) {
    const char *xml = "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name>"
                      "<Contents><Key>p/metadata/a&amp;b.json</Key><Size>12</Size></Contents>"
                      "<Contents><Key>p/nodes/n.col</Key><ETag>\"x\"</ETag><Size>3456</Size>"
                      "</Contents><IsTruncated>true</IsTruncated>"
                      "<NextContinuationToken>tok/&lt;1&gt;</NextContinuationToken>"
                      "</ListBucketResult>";
    listed_t l = {0};
    bool truncated = false;
    char token[64];
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(
        s3_parse_list_page(xml, strlen(xml), collect, &l, &truncated, token, sizeof(token), &err),
        CTX_OK);
    ck_assert_int_eq(l.count, 2);
    ck_assert_str_eq(l.keys[0], "p/metadata/a&b.json");
    ck_assert_uint_eq(l.sizes[0], 12);
    ck_assert_str_eq(l.keys[1], "p/nodes/n.col");
    ck_assert_uint_eq(l.sizes[1], 3456);
    ck_assert(truncated);
    ck_assert_str_eq(token, "tok/<1>");

    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    l.count = 0;
    ck_assert_int_eq(
        s3_parse_list_page(last, strlen(last), collect, &l, &truncated, token, sizeof(token), &err),
        CTX_OK);
    ck_assert_int_eq(l.count, 0);
    ck_assert(!truncated);

    const char *broken = "<ListBucketResult><Contents><Key>abc</Key><Size>1";
    ck_assert_int_eq(s3_parse_list_page(broken, strlen(broken), collect, &l, &truncated, token,
                                        sizeof(token), &err),
                     CTX_ECORRUPT);
}
END_TEST

START_TEST(test_s3_config_and_open_errors) {
    objstore_s3_config_t c;
    ctx_err_t err;
    ctx_err_clear(&err);
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
    ck_assert_int_eq(objstore_s3_config_from_url("s3://bucket/a/b/", &c, &err), CTX_OK);
    ck_assert_str_eq(c.bucket, "bucket");
    ck_assert_str_eq(c.prefix, "a/b");
    ck_assert_str_eq(c.access_key_id, "AK");
    ck_assert(c.path_style);
    ck_assert(c.verify_tls);
    ck_assert_int_eq(objstore_s3_config_from_url("s3:///x", &c, &err), CTX_ECONFIG);

    objstore_t *os = NULL;
    ck_assert_int_eq(objstore_open("s3://bucket/p", &os, &err), CTX_OK);
    ck_assert_str_eq(os->url, "s3://bucket/p");
    objstore_close(os);

    objstore_s3_config_defaults(&c);
    snprintf(c.bucket, sizeof(c.bucket), "b");
    ck_assert_int_eq(objstore_s3_open(&c, &os, &err), CTX_ECONFIG); /* no credentials */
    snprintf(c.access_key_id, sizeof(c.access_key_id), "AK");
    snprintf(c.secret_access_key, sizeof(c.secret_access_key), "SK");
    snprintf(c.endpoint, sizeof(c.endpoint), "ftp://host");
    ctx_err_clear(&err);
    ck_assert_int_eq(objstore_s3_open(&c, &os, &err), CTX_ECONFIG);
    ck_assert_msg(strstr(err.message, "s3_endpoint") != NULL, "%s", err.message);
    ck_assert_int_eq(objstore_open("gopher://x", &os, &err), CTX_ECONFIG);
}
END_TEST

START_TEST(test_file_backend_list_head_get_file) {
    char *dir = testutil_make_dir("objstore");
    char url[4096], path[4096];
    snprintf(url, sizeof(url), "file://%s/store", dir);
    objstore_t *os = NULL;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(objstore_open(url, &os, &err), CTX_OK);
    snprintf(path, sizeof(path), "%s/source", dir);
    testutil_write_file(path, (const uint8_t *)"hello", 5);
    ck_assert_int_eq(objstore_put_file(os, "metadata/b.json", path, &err), CTX_OK);
    ck_assert_int_eq(objstore_put_file(os, "metadata/a.json", path, &err), CTX_OK);
    ck_assert_int_eq(objstore_put_file(os, "nodes/n.col", path, &err), CTX_OK);
    snprintf(path, sizeof(path), "%s/store/metadata/c.json.tmp", dir);
    testutil_write_file(path, (const uint8_t *)"x", 1);

    listed_t l = {0};
    ck_assert_int_eq(objstore_list(os, "metadata/", collect, &l, &err), CTX_OK);
    ck_assert_int_eq(l.count, 2);
    ck_assert_str_eq(l.keys[0], "metadata/a.json");
    ck_assert_str_eq(l.keys[1], "metadata/b.json");
    ck_assert_uint_eq(l.sizes[1], 5);

    uint64_t size = 0;
    ck_assert_int_eq(objstore_head(os, "nodes/n.col", &size, &err), CTX_OK);
    ck_assert_uint_eq(size, 5);
    ck_assert_int_eq(objstore_head(os, "nodes/none", &size, &err), CTX_EUNDEF_OBJECT);

    snprintf(path, sizeof(path), "%s/restored/nodes/n.col", dir);
    ck_assert_int_eq(objstore_get_file(os, "nodes/n.col", path, &err), CTX_OK);
    size_t len = 0;
    uint8_t *data = testutil_read_file(path, &len);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(data, "hello", 5), 0);
    free(data);
    ck_assert_int_eq(objstore_get_file(os, "nodes/none", path, &err), CTX_EUNDEF_OBJECT);
    objstore_close(os);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("objstore");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sigv4_get_object_matches_aws_example);
    tcase_add_test(tc, test_sigv4_list_bucket_matches_aws_example);
    tcase_add_test(tc, test_uri_encode);
    tcase_add_test(tc, test_parse_list_page);
    tcase_add_test(tc, test_s3_config_and_open_errors);
    tcase_add_test(tc, test_file_backend_list_head_get_file);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}

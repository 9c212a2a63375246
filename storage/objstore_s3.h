/*
 * objstore_s3.h — the S3 backend of objstore_t (DESIGN §6, §8): snapshot files as objects under
 * s3://bucket/prefix/ on AWS S3 or any S3-compatible server (s3_endpoint), over libcurl.
 *
 * Requests are signed with AWS Signature V4 (payload SHA-256 in x-amz-content-sha256, every PUT
 * also carries Content-MD5); transient failures (connection errors, timeouts, HTTP 5xx and 429)
 * are retried with exponential backoff and jitter; connections are kept and reused. Objects
 * above multipart_bytes go up as a multipart upload whose parts are sent in parallel; downloads
 * are ranged GETs, also in parallel. Errors carry S3's code and message ("HTTP 403
 * SignatureDoesNotMatch: …"): 404 is CTX_EUNDEF_OBJECT, 401/403 CTX_EAUTH, the rest CTX_EIO.
 */
#ifndef CTX_OBJSTORE_S3_H
#define CTX_OBJSTORE_S3_H

#include "ctx.h"
#include "objstore.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum {
    S3_ENDPOINT_BYTES = 512,
    S3_REGION_BYTES = 64,
    S3_BUCKET_BYTES = 64, /* S3 bucket names are at most 63 characters */
    S3_PREFIX_BYTES = 256,
    S3_KEY_ID_BYTES = 128,
    S3_SECRET_BYTES = 128,
    S3_TOKEN_BYTES = 4096,
    S3_PARALLEL_MAX = 16,
    S3_RETRIES_MAX = 30,
    S3_PART_BYTES_MIN = 5 * 1024 * 1024, /* S3's smallest part but the last */
    S3_PARTS_MAX = 10000,                /* S3's limit on the parts of one upload */
};

typedef struct objstore_s3_config {
    char endpoint[S3_ENDPOINT_BYTES]; /* "http://127.0.0.1:4568"; "" =
                                         https://s3.REGION.amazonaws.com */
    char region[S3_REGION_BYTES];     /* "us-east-1" by default */
    char bucket[S3_BUCKET_BYTES];
    char prefix[S3_PREFIX_BYTES]; /* "" or "a/b": keys become a/b/KEY */
    char access_key_id[S3_KEY_ID_BYTES];
    char secret_access_key[S3_SECRET_BYTES];
    char session_token[S3_TOKEN_BYTES]; /* "" = none */
    bool path_style;                    /* endpoint/bucket/key, else bucket.endpoint/key */
    bool verify_tls;                    /* certificate and host name checks (on by default) */
    uint64_t multipart_bytes;           /* larger objects go up in parts */
    uint32_t parallel;                  /* parts / ranges in flight at once (1..S3_PARALLEL_MAX) */
    uint32_t retries;                   /* attempts after the first (0..S3_RETRIES_MAX) */
    uint32_t retry_base_ms;             /* first backoff; doubles per attempt up to retry_max_ms */
    uint32_t retry_max_ms;
    uint64_t jitter_seed;  /* seeds the backoff jitter */
    time_t (*clock)(void); /* the time requests are signed with; NULL = time() */
} objstore_s3_config_t;

/* Defaults: region us-east-1, virtual-hosted addressing, TLS verified, 64 MiB multipart
 * threshold, 4 in parallel, 10 retries from 100 ms up to 5 s. */
void objstore_s3_config_defaults(objstore_s3_config_t *config);

/* Fills empty credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. */
void objstore_s3_config_env(objstore_s3_config_t *config);

/* Defaults, bucket and prefix from "s3://bucket/prefix", then the environment: credentials (as
 * objstore_s3_config_env), AWS_ENDPOINT_URL (path-style addressing when set) and AWS_REGION.
 * CTX_ECONFIG for a URL without a bucket or with fields too long. */
int objstore_s3_config_from_url(const char *url, objstore_s3_config_t *config, ctx_err_t *err);

/* Opens the store; no request is sent. CTX_ECONFIG when the bucket or credentials are missing or
 * the endpoint is not http(s)://host[:port]. The caller closes it with objstore_close. */
int objstore_s3_open(const objstore_s3_config_t *config, objstore_t **out, ctx_err_t *err);

/* ---- building blocks, exposed for their unit tests ---- */

typedef struct s3_header {
    const char *name; /* lower case */
    const char *value;
} s3_header_t;

typedef struct s3_sign_input {
    const char *access_key_id;
    const char *secret_access_key;
    const char *region;
    const char *method;
    const char *canonical_uri;   /* already URI-encoded: "/bucket/a%20b" */
    const char *canonical_query; /* already sorted and encoded: "list-type=2&prefix=x" */
    const s3_header_t *headers;  /* every signed header, sorted by name (host, x-amz-date, …) */
    int nheaders;
    const char *payload_sha256_hex;
    const char *amz_date; /* "20130524T000000Z" */
} s3_sign_input_t;

/* Writes the Authorization header value ("AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
 * Signature=…") into out; CTX_ELIMIT when it does not fit. */
int s3_sign_v4(const s3_sign_input_t *in, char *out, size_t out_len, ctx_err_t *err);

/* URI-encodes s as SigV4 wants (unreserved characters kept; '/' kept when keep_slash).
 * CTX_ELIMIT when the result does not fit out. */
int s3_uri_encode(const char *s, bool keep_slash, char *out, size_t out_len, ctx_err_t *err);

/* One page of a ListObjectsV2 reply: fn gets every <Contents> key and size (XML entities
 * decoded); *truncated and next_token (IsTruncated, NextContinuationToken) say whether another
 * page follows. CTX_ECORRUPT on an element that is not closed or too long. */
int s3_parse_list_page(const char *xml, size_t len, objstore_list_fn fn, void *ctx, bool *truncated,
                       char *next_token, size_t next_token_len, ctx_err_t *err);

#endif

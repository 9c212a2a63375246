/*
 * objstore_s3.c — the S3 backend (contract in objstore_s3.h).
 *
 * Requests. Every request goes through s3_perform: it takes a libcurl easy handle from the
 * store's pool (S3_PARALLEL_MAX handles; libcurl keeps each handle's connections open, so
 * requests reuse them), builds the URL (path-style: ENDPOINT/BUCKET/KEY; virtual-hosted:
 * SCHEME://BUCKET.HOST/KEY), signs it (SigV4: canonical request, string to sign, HMAC chain over
 * date, region, "s3", "aws4_request"; the headers signed are host, x-amz-content-sha256,
 * x-amz-date, and content-md5, range and x-amz-security-token when present), sends it and
 * classifies the outcome: 2xx (206 for ranges) is success; a connection failure, timeout, HTTP
 * 5xx or 429 is retried after retry_base_ms * 2^attempt (capped at retry_max_ms), half of it
 * fixed and half random (seeded jitter), at most `retries` times; anything else fails at once
 * with S3's <Code> and <Message> from the error body. Bodies are either memory or a region of a
 * file read with pread, so a retry simply starts over; the payload's SHA-256 and MD5 are computed
 * in one pass over that region before the first attempt.
 *
 * Uploads: a file of at most multipart_bytes is one PUT; a larger one is CreateMultipartUpload,
 * UploadPart for parts of part_bytes (see part_size) sent by up to `parallel` threads, then
 * CompleteMultipartUpload with every part's ETag (a 200 reply carrying <Error> is a failure, as
 * S3 documents); any failure aborts the upload so no parts linger. Downloads: HEAD for the size,
 * then ranged GETs of S3_RANGE_BYTES written with pwrite at their offsets into "<path>.tmp",
 * also in parallel, then fsync + rename. Listing is ListObjectsV2 pages of up to 1000 keys,
 * following NextContinuationToken; the XML is read by bounded substring search, never by a
 * general parser, and keys are reported without the store's prefix.
 *
 * libcurl is loaded with dlopen when the first S3 store opens, not linked: its ~27 libraries
 * (TLS, HTTP/2, LDAP, SSH, …) would otherwise add about 4 MB to the resident size of every
 * server, S3 or not. CURL_API holds the few entry points used.
 */
#include "objstore_s3.h"

#include "buf.h"
#include "fsutil.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    S3_URL_BYTES = 4096,
    S3_QUERY_BYTES = 2048,
    S3_AUTH_BYTES = 1024,
    S3_HEADERS_MAX = 8,
    S3_ETAG_BYTES = 128,
    S3_UPLOAD_ID_BYTES = 1024,
    S3_TOKEN_LIST_BYTES = 1024,          /* a continuation token */
    S3_XML_BYTES_MAX = 16 * 1024 * 1024, /* an XML reply (list page, error, upload id) */
    S3_GET_BYTES_MAX = 1 << 30,          /* objstore_get into memory */
    S3_RANGE_BYTES = 16 * 1024 * 1024,   /* one ranged GET of a download */
    S3_PART_BYTES = 16 * 1024 * 1024,    /* preferred part size of a multipart upload */
    S3_LIST_PAGES_MAX = 1000000,
    S3_CONNECT_TIMEOUT_MS = 5000,
    S3_STALL_SECONDS = 30, /* a transfer below 1 byte/s for this long is a timeout */
    S3_IO_CHUNK_BYTES = 1 << 20,
};

_Static_assert((int)S3_PART_BYTES >= (int)S3_PART_BYTES_MIN, "preferred part below S3's minimum");

/* The libcurl entry points this file calls, resolved once by s3_global_init. */
typedef struct s3_curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    void (*easy_reset)(CURL *curl);
    void (*easy_cleanup)(CURL *curl);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *line);
    void (*slist_free_all)(struct curl_slist *list);
} s3_curl_api_t;

static s3_curl_api_t CURL_API;
static char CURL_API_ERROR[256]; /* "" once CURL_API is complete */

static const char S3_EMPTY_SHA256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

typedef struct s3_store {
    objstore_t base;
    objstore_s3_config_t cfg;
    char scheme[8];     /* "http" or "https" */
    char host[512];     /* host[:port] of the endpoint (port only when not the scheme's default) */
    char path[256];     /* the endpoint's path, "" or "/base" */
    pthread_mutex_t mu; /* pool and jitter state */
    pthread_cond_t freed;
    CURL *handles[S3_PARALLEL_MAX];
    bool busy[S3_PARALLEL_MAX];
    uint64_t jitter; /* xorshift state */
} s3_store_t;

/* One request: method, key (NULL: the bucket), sorted query, optional body and response sink. */
typedef struct s3_req {
    const char *method;
    const char *key;
    const char *query; /* canonical: sorted, encoded; "" for none */
    const char *range; /* "bytes=A-B" or NULL */
    /* body: memory (body != NULL), a file region (fd >= 0), or none */
    const uint8_t *body;
    size_t body_len;
    int fd;
    uint64_t offset, length;
    /* response: into resp (bounded by resp_max), or pwrite to out_fd at out_offset */
    buf_t *resp;
    size_t resp_max;
    int out_fd;
    uint64_t out_offset;
    /* filled in */
    long status;
    char etag[S3_ETAG_BYTES];
    uint64_t content_length; /* the Content-Length header, when has_length */
    bool has_length;
    uint64_t sent; /* body bytes read by libcurl in the current attempt */
    uint64_t written;
    bool sink_failed;
} s3_req_t;

static void req_init(s3_req_t *r, const char *method, const char *key) {
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->key = key;
    r->query = "";
    r->fd = -1;
    r->out_fd = -1;
    r->resp_max = S3_XML_BYTES_MAX;
}

/* ---------------------------------------------------------------- hashing and signing */

static void hex(const uint8_t *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *data, size_t len, char out[65]) {
    uint8_t md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    CTX_ASSERT(mdlen == 32);
    hex(md, 32, out);
}

static void hmac_sha256(const void *key, size_t key_len, const char *msg, uint8_t out[32]) {
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)msg, strlen(msg), out, &len);
    CTX_ASSERT(len == 32);
}

int s3_uri_encode(const char *s, bool keep_slash, char *out, size_t out_len, ctx_err_t *err) {
    static const char digits[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
                     (keep_slash && *p == '/');
        if (n + 4 > out_len) {
            return ctx_err_set(err, CTX_ELIMIT, "S3 name too long to encode: \"%.64s…\"", s);
        }
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = digits[*p >> 4];
            out[n++] = digits[*p & 15];
        }
    }
    CTX_ASSERT(n < out_len);
    out[n] = '\0';
    return CTX_OK;
}

int s3_sign_v4(const s3_sign_input_t *in, char *out, size_t out_len, ctx_err_t *err) {
    CTX_ASSERT(in->nheaders > 0 && in->nheaders <= S3_HEADERS_MAX);
    buf_t creq;
    buf_init(&creq);
    buf_printf(&creq, "%s\n%s\n%s\n", in->method, in->canonical_uri, in->canonical_query);
    char signed_headers[256] = "";
    size_t sh = 0;
    for (int i = 0; i < in->nheaders; i++) {
        buf_printf(&creq, "%s:%s\n", in->headers[i].name, in->headers[i].value);
        sh += (size_t)snprintf(signed_headers + sh, sizeof(signed_headers) - sh, "%s%s",
                               i > 0 ? ";" : "", in->headers[i].name);
        CTX_ASSERT(sh < sizeof(signed_headers));
    }
    buf_printf(&creq, "\n%s\n%s", signed_headers, in->payload_sha256_hex);
    if (buf_failed(&creq)) {
        buf_free(&creq);
        return ctx_err_set(err, CTX_ENOMEM, "out of memory signing an S3 request");
    }
    char creq_hash[65];
    sha256_hex(buf_peek(&creq), buf_size(&creq), creq_hash);
    buf_free(&creq);
    char date[9];
    snprintf(date, sizeof(date), "%.8s", in->amz_date);
    char scope[128];
    snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date, in->region);
    char to_sign[512];
    snprintf(to_sign, sizeof(to_sign), "AWS4-HMAC-SHA256\n%s\n%s\n%s", in->amz_date, scope,
             creq_hash);
    char key0[S3_SECRET_BYTES + 8];
    snprintf(key0, sizeof(key0), "AWS4%s", in->secret_access_key);
    uint8_t k[32], sig[32];
    hmac_sha256(key0, strlen(key0), date, k);
    hmac_sha256(k, 32, in->region, k);
    hmac_sha256(k, 32, "s3", k);
    hmac_sha256(k, 32, "aws4_request", k);
    hmac_sha256(k, 32, to_sign, sig);
    char sig_hex[65];
    hex(sig, 32, sig_hex);
    int n = snprintf(out, out_len,
                     "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                     "Signature=%s",
                     in->access_key_id, scope, signed_headers, sig_hex);
    if (n < 0 || (size_t)n >= out_len) {
        return ctx_err_set(err, CTX_ELIMIT, "S3 Authorization header too long");
    }
    return CTX_OK;
}

/* SHA-256 (hex) and MD5 (base64) of fd's bytes [offset, offset + length), in one pass. */
static int hash_region(int fd, uint64_t offset, uint64_t length, char sha_hex[65], char md5_b64[32],
                       ctx_err_t *err) {
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    EVP_MD_CTX *md5 = EVP_MD_CTX_new();
    CTX_ASSERT(sha != NULL && md5 != NULL);
    EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    EVP_DigestInit_ex(md5, EVP_md5(), NULL);
    uint8_t *chunk = ctx_malloc(S3_IO_CHUNK_BYTES);
    int rc = CTX_OK;
    for (uint64_t done = 0; done < length;) {
        size_t want =
            length - done < S3_IO_CHUNK_BYTES ? (size_t)(length - done) : (size_t)S3_IO_CHUNK_BYTES;
        ssize_t got = pread(fd, chunk, want, (off_t)(offset + done));
        if (got <= 0) {
            rc = ctx_err_set(err, CTX_EIO, "reading the upload: %s",
                             got < 0 ? strerror(errno) : "file shrank");
            break;
        }
        EVP_DigestUpdate(sha, chunk, (size_t)got);
        EVP_DigestUpdate(md5, chunk, (size_t)got);
        done += (uint64_t)got;
    }
    uint8_t md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(sha, md, &len);
    hex(md, 32, sha_hex);
    EVP_DigestFinal_ex(md5, md, &len);
    EVP_EncodeBlock((unsigned char *)md5_b64, md, 16);
    EVP_MD_CTX_free(sha);
    EVP_MD_CTX_free(md5);
    free(chunk);
    return rc;
}

static void md5_b64_of(const void *data, size_t len, char out[32]) {
    uint8_t md[16];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, 16);
}

/* ---------------------------------------------------------------- XML */

/* Finds <tag>…</tag> in [xml + *from, xml + len); copies its decoded text into out and moves
 * *from past it. 0 when found, 1 when absent, CTX_ECORRUPT when unclosed or too long. */
static int xml_next(const char *xml, size_t len, size_t *from, const char *tag, char *out,
                    size_t out_len, ctx_err_t *err) {
    char open_tag[64], close_tag[64];
    snprintf(open_tag, sizeof(open_tag), "<%s>", tag);
    snprintf(close_tag, sizeof(close_tag), "</%s>", tag);
    const char *start = memmem(xml + *from, len - *from, open_tag, strlen(open_tag));
    if (start == NULL) {
        return 1;
    }
    start += strlen(open_tag);
    const char *end = memmem(start, (size_t)(xml + len - start), close_tag, strlen(close_tag));
    if (end == NULL) {
        return ctx_err_set(err, CTX_ECORRUPT, "S3 reply: <%s> not closed", tag);
    }
    static const struct {
        const char *entity;
        char c;
    } entities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t n = 0;
    for (const char *p = start; p < end; n++) {
        if (n + 1 >= out_len) {
            return ctx_err_set(err, CTX_ECORRUPT, "S3 reply: <%s> longer than %zu bytes", tag,
                               out_len - 1);
        }
        out[n] = *p++;
        for (size_t e = 0; out[n] == '&' && e < sizeof(entities) / sizeof(entities[0]); e++) {
            size_t elen = strlen(entities[e].entity);
            if ((size_t)(end - p + 1) >= elen && memcmp(p - 1, entities[e].entity, elen) == 0) {
                out[n] = entities[e].c;
                p += elen - 1;
                break;
            }
        }
    }
    out[n] = '\0';
    *from = (size_t)(end - xml) + strlen(close_tag);
    return CTX_OK;
}

int s3_parse_list_page(const char *xml, size_t len, objstore_list_fn fn, void *ctx, bool *truncated,
                       char *next_token, size_t next_token_len, ctx_err_t *err) {
    size_t at = 0;
    int rc = CTX_OK;
    for (;;) {
        const char *open = memmem(xml + at, len - at, "<Contents>", 10);
        if (open == NULL) {
            break;
        }
        const char *close = memmem(open, (size_t)(xml + len - open), "</Contents>", 11);
        if (close == NULL) {
            return ctx_err_set(err, CTX_ECORRUPT, "S3 reply: <Contents> not closed");
        }
        size_t item_len = (size_t)(close - open);
        char key[OBJSTORE_KEY_BYTES_MAX + 1], size[32];
        size_t from = 0, from2 = 0;
        rc = xml_next(open, item_len, &from, "Key", key, sizeof(key), err);
        int rc2 =
            rc == CTX_OK ? xml_next(open, item_len, &from2, "Size", size, sizeof(size), err) : rc;
        if (rc != CTX_OK || rc2 != CTX_OK) {
            return rc < 0 ? rc
                          : (rc2 < 0 ? rc2
                                     : ctx_err_set(err, CTX_ECORRUPT,
                                                   "S3 reply: <Contents> without Key or Size"));
        }
        rc = fn(ctx, key, strtoull(size, NULL, 10), err);
        if (rc != CTX_OK) {
            return rc;
        }
        at = (size_t)(close - xml) + 11;
    }
    char flag[16] = "false";
    size_t from = 0;
    rc = xml_next(xml, len, &from, "IsTruncated", flag, sizeof(flag), err);
    if (rc < 0) {
        return rc;
    }
    *truncated = strcmp(flag, "true") == 0;
    next_token[0] = '\0';
    from = 0;
    rc = *truncated
             ? xml_next(xml, len, &from, "NextContinuationToken", next_token, next_token_len, err)
             : CTX_OK;
    if (rc == 1) {
        return ctx_err_set(err, CTX_ECORRUPT, "S3 reply: truncated list without a token");
    }
    return rc;
}

/* ---------------------------------------------------------------- the handle pool */

static CURL *pool_take(s3_store_t *s, int *slot) {
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (uint32_t i = 0; i < s->cfg.parallel; i++) {
            if (!s->busy[i]) {
                s->busy[i] = true;
                if (s->handles[i] == NULL) {
                    s->handles[i] = CURL_API.easy_init();
                    CTX_ASSERT(s->handles[i] != NULL);
                }
                *slot = (int)i;
                pthread_mutex_unlock(&s->mu);
                return s->handles[i];
            }
        }
        pthread_cond_wait(&s->freed, &s->mu);
    }
}

static void pool_give(s3_store_t *s, int slot) {
    pthread_mutex_lock(&s->mu);
    CTX_ASSERT(s->busy[slot]);
    s->busy[slot] = false;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->mu);
}

/* Backoff before retry `attempt` (0-based): half fixed, half jitter. */
static uint32_t backoff_ms(s3_store_t *s, uint32_t attempt) {
    uint64_t cap = s->cfg.retry_base_ms;
    for (uint32_t i = 0; i < attempt && cap < s->cfg.retry_max_ms; i++) {
        cap *= 2;
    }
    if (cap > s->cfg.retry_max_ms) {
        cap = s->cfg.retry_max_ms;
    }
    pthread_mutex_lock(&s->mu);
    uint64_t x = s->jitter;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->jitter = x;
    pthread_mutex_unlock(&s->mu);
    return (uint32_t)(cap / 2 + (cap > 1 ? x % (cap / 2 + 1) : 0));
}

/* ---------------------------------------------------------------- one request */

static size_t cb_read(char *dest, size_t size, size_t nitems, void *arg) {
    s3_req_t *r = arg;
    size_t want = size * nitems;
    uint64_t left = r->length - r->sent;
    if (want > left) {
        want = (size_t)left;
    }
    if (want == 0) {
        return 0;
    }
    if (r->body != NULL) {
        memcpy(dest, r->body + r->sent, want);
        r->sent += want;
        return want;
    }
    ssize_t got = pread(r->fd, dest, want, (off_t)(r->offset + r->sent));
    if (got <= 0) {
        return CURL_READFUNC_ABORT;
    }
    r->sent += (uint64_t)got;
    return (size_t)got;
}

static size_t cb_write(char *data, size_t size, size_t nmemb, void *arg) {
    s3_req_t *r = arg;
    size_t n = size * nmemb;
    bool to_file = r->out_fd >= 0 && r->status / 100 == 2;
    if (to_file) {
        for (size_t done = 0; done < n;) {
            ssize_t w = pwrite(r->out_fd, data + done, n - done,
                               (off_t)(r->out_offset + r->written + done));
            if (w <= 0) {
                r->sink_failed = true;
                return 0;
            }
            done += (size_t)w;
        }
    } else if (r->resp != NULL) {
        if (buf_size(r->resp) + n > r->resp_max) {
            r->sink_failed = true;
            return 0;
        }
        buf_append(r->resp, data, n);
    }
    r->written += n;
    return n;
}

static size_t cb_header(char *data, size_t size, size_t nitems, void *arg) {
    s3_req_t *r = arg;
    size_t n = size * nitems;
    if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', n);
        r->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
        r->has_length = false;
    } else if (n > 15 && strncasecmp(data, "content-length:", 15) == 0) {
        char text[32];
        snprintf(text, sizeof(text), "%.*s", (int)(n - 15 < 31 ? n - 15 : 31), data + 15);
        r->content_length = strtoull(text, NULL, 10);
        r->has_length = true;
    } else if (n > 5 && strncasecmp(data, "etag:", 5) == 0) {
        size_t i = 5;
        while (i < n && data[i] == ' ') {
            i++;
        }
        size_t len = n - i;
        while (len > 0 && (data[i + len - 1] == '\r' || data[i + len - 1] == '\n')) {
            len--;
        }
        snprintf(r->etag, sizeof(r->etag), "%.*s", (int)len, data + i);
    }
    return n;
}

/* URL (into url) and canonical URI (into uri) of key (NULL: the bucket) plus the query. */
static int req_target(const s3_store_t *s, const char *key, const char *query, char *url, char *uri,
                      ctx_err_t *err) {
    char full[OBJSTORE_KEY_BYTES_MAX * 2];
    char enc[OBJSTORE_KEY_BYTES_MAX * 3 + 8];
    int n = snprintf(full, sizeof(full), "%s%s%s", key != NULL ? s->cfg.prefix : "",
                     key != NULL && s->cfg.prefix[0] ? "/" : "", key != NULL ? key : "");
    if (n < 0 || (size_t)n >= OBJSTORE_KEY_BYTES_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "S3 key too long: \"%.64s…\"", full);
    }
    int rc = s3_uri_encode(full, true, enc, sizeof(enc), err);
    if (rc != CTX_OK) {
        return rc;
    }
    const char *slash = key != NULL ? "/" : "";
    if (s->cfg.path_style) {
        n = snprintf(uri, S3_URL_BYTES, "%s/%s%s%s", s->path, s->cfg.bucket, slash, enc);
    } else {
        n = snprintf(uri, S3_URL_BYTES, "%s/%s", s->path, enc);
    }
    if (n < 0 || n >= S3_URL_BYTES) {
        return ctx_err_set(err, CTX_ELIMIT, "S3 URL too long");
    }
    n = snprintf(url, S3_URL_BYTES, "%s://%s%s%s%s%s", s->scheme,
                 s->cfg.path_style ? "" : s->cfg.bucket, s->cfg.path_style ? "" : ".", s->host, uri,
                 "");
    if (n >= 0 && n < S3_URL_BYTES && query[0] != '\0') {
        n += snprintf(url + n, (size_t)(S3_URL_BYTES - n), "?%s", query);
    }
    if (n < 0 || n >= S3_URL_BYTES) {
        return ctx_err_set(err, CTX_ELIMIT, "S3 URL too long");
    }
    return CTX_OK;
}

/* The signed header list and the Authorization value for r with payload hash sha / md5. */
static int req_headers(const s3_store_t *s, const s3_req_t *r, const char *uri, const char *sha,
                       const char *md5, struct curl_slist **out, ctx_err_t *err) {
    time_t now = s->cfg.clock != NULL ? s->cfg.clock() : time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char amz_date[32];
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    char host[600];
    snprintf(host, sizeof(host), "%s%s%s", s->cfg.path_style ? "" : s->cfg.bucket,
             s->cfg.path_style ? "" : ".", s->host);
    s3_header_t h[S3_HEADERS_MAX]; /* in name order */
    int n = 0;
    if (md5 != NULL) {
        h[n++] = (s3_header_t){"content-md5", md5};
    }
    h[n++] = (s3_header_t){"host", host};
    if (r->range != NULL) {
        h[n++] = (s3_header_t){"range", r->range};
    }
    h[n++] = (s3_header_t){"x-amz-content-sha256", sha};
    h[n++] = (s3_header_t){"x-amz-date", amz_date};
    if (s->cfg.session_token[0] != '\0') {
        h[n++] = (s3_header_t){"x-amz-security-token", s->cfg.session_token};
    }
    s3_sign_input_t in = {s->cfg.access_key_id,
                          s->cfg.secret_access_key,
                          s->cfg.region,
                          r->method,
                          uri,
                          r->query,
                          h,
                          n,
                          sha,
                          amz_date};
    char auth[S3_AUTH_BYTES];
    int rc = s3_sign_v4(&in, auth, sizeof(auth), err);
    struct curl_slist *list = NULL;
    char line[S3_TOKEN_BYTES + 64];
    for (int i = 0; rc == CTX_OK && i < n; i++) {
        snprintf(line, sizeof(line), "%s: %s", h[i].name, h[i].value);
        list = CURL_API.slist_append(list, line);
    }
    snprintf(line, sizeof(line), "authorization: %s", auth);
    list = CURL_API.slist_append(list, line);
    list = CURL_API.slist_append(list, "Expect:");
    list = CURL_API.slist_append(list, "Content-Type:");
    *out = list;
    return rc;
}

/* Aborts a transfer once the store is canceled. */
static int cb_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const s3_store_t *s = arg;
    return atomic_load(&s->base.canceled) ? 1 : 0;
}

static void req_setup(const s3_store_t *s, CURL *c, s3_req_t *r, const char *url,
                      struct curl_slist *headers) {
    CURL_API.easy_reset(c);
    CURL_API.easy_setopt(c, CURLOPT_URL, url);
    CURL_API.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURL_API.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURL_API.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)S3_CONNECT_TIMEOUT_MS);
    CURL_API.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    CURL_API.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)S3_STALL_SECONDS);
    CURL_API.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, s->cfg.verify_tls ? 1L : 0L);
    CURL_API.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, s->cfg.verify_tls ? 2L : 0L);
    CURL_API.easy_setopt(c, CURLOPT_WRITEFUNCTION, cb_write);
    CURL_API.easy_setopt(c, CURLOPT_WRITEDATA, r);
    CURL_API.easy_setopt(c, CURLOPT_HEADERFUNCTION, cb_header);
    CURL_API.easy_setopt(c, CURLOPT_HEADERDATA, r);
    CURL_API.easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    CURL_API.easy_setopt(c, CURLOPT_XFERINFOFUNCTION, cb_progress);
    CURL_API.easy_setopt(c, CURLOPT_XFERINFODATA, (void *)s);
    if (strcmp(r->method, "HEAD") == 0) {
        CURL_API.easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0) {
        CURL_API.easy_setopt(c, CURLOPT_UPLOAD, 1L);
        CURL_API.easy_setopt(c, CURLOPT_READFUNCTION, cb_read);
        CURL_API.easy_setopt(c, CURLOPT_READDATA, r);
        CURL_API.easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->length);
        CURL_API.easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "DELETE") == 0) {
        CURL_API.easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
}

/* "s3://bucket/prefix/key" (or the bucket) of r, for messages. */
static void req_name(const s3_store_t *s, const s3_req_t *r, char *out, size_t out_len) {
    snprintf(out, out_len, "s3://%s/%s%s%s", s->cfg.bucket, s->cfg.prefix,
             s->cfg.prefix[0] && r->key != NULL ? "/" : "", r->key != NULL ? r->key : "");
}

/* Sleeps ms in slices, returning early once the store is canceled. */
static void nap(const s3_store_t *s, uint32_t ms) {
    for (uint32_t slept = 0; slept < ms && !atomic_load(&s->base.canceled); slept += 50) {
        usleep((useconds_t)(ms - slept < 50 ? ms - slept : 50) * 1000);
    }
}

/* The error of a finished request that did not succeed (status >= 300): S3's Code/Message. */
static int req_error(const s3_store_t *s, const s3_req_t *r, ctx_err_t *err) {
    char code[128] = "", message[512] = "";
    if (r->resp != NULL && buf_size(r->resp) > 0) {
        const char *xml = (const char *)buf_peek(r->resp);
        size_t from = 0, from2 = 0;
        ctx_err_t ignored;
        ctx_err_clear(&ignored);
        xml_next(xml, buf_size(r->resp), &from, "Code", code, sizeof(code), &ignored);
        xml_next(xml, buf_size(r->resp), &from2, "Message", message, sizeof(message), &ignored);
    }
    int rc = r->status == 404                         ? CTX_EUNDEF_OBJECT
             : (r->status == 401 || r->status == 403) ? CTX_EAUTH
                                                      : CTX_EIO;
    char name[OBJSTORE_KEY_BYTES_MAX + S3_BUCKET_BYTES + 8];
    req_name(s, r, name, sizeof(name));
    return ctx_err_set(err, rc, "S3 %s %s: HTTP %ld%s%s%s%s", r->method, name, r->status,
                       code[0] ? " " : "", code, message[0] ? ": " : "", message);
}

static bool transient(CURLcode cc, long status) {
    if (cc != CURLE_OK) {
        return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT ||
               cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
               cc == CURLE_PARTIAL_FILE || cc == CURLE_COULDNT_RESOLVE_HOST;
    }
    return status >= 500 || status == 429;
}

enum { S3_RETRY = 1 };

/* What to do after attempt `attempt` of r ended with cc: CTX_OK, S3_RETRY (after the backoff,
 * slept here), or an error (set in err). */
static int req_outcome(s3_store_t *s, s3_req_t *r, CURLcode cc, uint32_t attempt, ctx_err_t *err) {
    char name[OBJSTORE_KEY_BYTES_MAX + S3_BUCKET_BYTES + 8];
    req_name(s, r, name, sizeof(name));
    if (atomic_load(&s->base.canceled)) {
        return ctx_err_set(err, CTX_ESHUTDOWN, "S3 %s %s: canceled (the server is stopping)",
                           r->method, name);
    }
    if (cc == CURLE_WRITE_ERROR && r->sink_failed) {
        return ctx_err_set(err, CTX_EIO, "S3 %s %s: the reply could not be stored (%s)", r->method,
                           name, r->out_fd >= 0 ? strerror(errno) : "too large");
    }
    if (transient(cc, r->status) && attempt < s->cfg.retries) {
        uint32_t wait_ms = backoff_ms(s, attempt);
        char why[96];
        if (cc != CURLE_OK) {
            snprintf(why, sizeof(why), "%s", CURL_API.easy_strerror(cc));
        } else {
            snprintf(why, sizeof(why), "HTTP %ld", r->status);
        }
        CTX_WARN("S3 %s %s: %s; retry %u of %u in %u ms", r->method, name, why, attempt + 1,
                 s->cfg.retries, wait_ms);
        nap(s, wait_ms);
        return S3_RETRY;
    }
    if (cc != CURLE_OK) {
        return ctx_err_set(err, CTX_EIO, "S3 %s %s: %s (after %u attempts)", r->method, name,
                           CURL_API.easy_strerror(cc), attempt + 1);
    }
    if (r->status < 200 || r->status >= 300) {
        return req_error(s, r, err);
    }
    return CTX_OK;
}

/* Sends r (signed, retried as the design paragraph says). */
static int s3_perform(s3_store_t *s, s3_req_t *r, ctx_err_t *err) {
    char sha[65], md5[32];
    const char *md5p = NULL;
    int rc = CTX_OK;
    if (r->body != NULL) {
        sha256_hex(r->body, r->body_len, sha);
        md5_b64_of(r->body, r->body_len, md5);
        md5p = md5;
        r->length = r->body_len;
    } else if (r->fd >= 0) {
        rc = hash_region(r->fd, r->offset, r->length, sha, md5, err);
        md5p = md5;
    } else {
        memcpy(sha, S3_EMPTY_SHA256, sizeof(sha));
    }
    char url[S3_URL_BYTES], uri[S3_URL_BYTES];
    if (rc == CTX_OK) {
        rc = req_target(s, r->key, r->query, url, uri, err);
    }
    int slot = -1;
    CURL *c = rc == CTX_OK ? pool_take(s, &slot) : NULL;
    for (uint32_t attempt = 0; rc == CTX_OK; attempt++) {
        struct curl_slist *headers = NULL;
        rc = req_headers(s, r, uri, sha, md5p, &headers, err);
        if (rc != CTX_OK) {
            CURL_API.slist_free_all(headers);
            break;
        }
        r->sent = r->written = 0;
        r->status = 0;
        r->etag[0] = '\0';
        r->has_length = false;
        r->sink_failed = false;
        if (r->resp != NULL) {
            buf_reset(r->resp);
        }
        req_setup(s, c, r, url, headers);
        CURLcode cc = CURL_API.easy_perform(c);
        CURL_API.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        CURL_API.slist_free_all(headers);
        int outcome = req_outcome(s, r, cc, attempt, err);
        if (outcome == S3_RETRY) {
            continue;
        }
        rc = outcome;
        break;
    }
    if (slot >= 0) {
        pool_give(s, slot);
    }
    return rc;
}

/* ---------------------------------------------------------------- parallel jobs */

typedef struct s3_jobs {
    s3_store_t *s;
    uint32_t count;
    int (*run)(void *ctx, uint32_t job, ctx_err_t *err);
    void *ctx;
    pthread_mutex_t mu;
    uint32_t next;
    int rc;
    ctx_err_t err;
} s3_jobs_t;

static void *jobs_worker(void *arg) {
    s3_jobs_t *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        uint32_t job = j->next < j->count && j->rc == CTX_OK ? j->next++ : UINT32_MAX;
        pthread_mutex_unlock(&j->mu);
        if (job == UINT32_MAX) {
            return NULL;
        }
        ctx_err_t err;
        ctx_err_clear(&err);
        int rc = j->run(j->ctx, job, &err);
        if (rc != CTX_OK) {
            pthread_mutex_lock(&j->mu);
            if (j->rc == CTX_OK) {
                j->rc = rc;
                j->err = err;
            }
            pthread_mutex_unlock(&j->mu);
        }
    }
}

/* Runs run(ctx, 0 .. count-1) on up to cfg.parallel threads; the first failure stops the rest. */
static int jobs_run(s3_store_t *s, uint32_t count, int (*run)(void *, uint32_t, ctx_err_t *),
                    void *ctx, ctx_err_t *err) {
    s3_jobs_t j = {.s = s, .count = count, .run = run, .ctx = ctx};
    pthread_mutex_init(&j.mu, NULL);
    ctx_err_clear(&j.err);
    uint32_t nthreads = count < s->cfg.parallel ? count : s->cfg.parallel;
    pthread_t threads[S3_PARALLEL_MAX];
    uint32_t started = 0;
    for (uint32_t i = 1; i < nthreads; i++) {
        if (pthread_create(&threads[started], NULL, jobs_worker, &j) == 0) {
            started++;
        }
    }
    jobs_worker(&j);
    for (uint32_t i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    pthread_mutex_destroy(&j.mu);
    if (j.rc != CTX_OK) {
        *err = j.err;
    }
    return j.rc;
}

/* ---------------------------------------------------------------- uploads */

typedef struct s3_multipart {
    s3_store_t *s;
    const char *key;
    int fd;
    uint64_t size, part_bytes;
    char upload_id[S3_UPLOAD_ID_BYTES];
    char (*etags)[S3_ETAG_BYTES];
} s3_multipart_t;

static uint64_t part_size(const s3_store_t *s, uint64_t size) {
    uint64_t part =
        s->cfg.multipart_bytes < S3_PART_BYTES ? s->cfg.multipart_bytes : (uint64_t)S3_PART_BYTES;
    if (part < S3_PART_BYTES_MIN) {
        part = S3_PART_BYTES_MIN;
    }
    uint64_t fit = (size + S3_PARTS_MAX - 1) / S3_PARTS_MAX;
    return part > fit ? part : fit;
}

static int mp_part(void *ctx, uint32_t job, ctx_err_t *err) {
    s3_multipart_t *m = ctx;
    char encoded[S3_UPLOAD_ID_BYTES * 3];
    int rc = s3_uri_encode(m->upload_id, false, encoded, sizeof(encoded), err);
    char query[S3_QUERY_BYTES * 2];
    snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", job + 1, encoded);
    s3_req_t r;
    req_init(&r, "PUT", m->key);
    buf_t resp;
    buf_init(&resp);
    r.query = query;
    r.resp = &resp;
    r.fd = m->fd;
    r.offset = (uint64_t)job * m->part_bytes;
    r.length = m->size - r.offset < m->part_bytes ? m->size - r.offset : m->part_bytes;
    if (rc == CTX_OK) {
        rc = s3_perform(m->s, &r, err);
    }
    if (rc == CTX_OK && r.etag[0] == '\0') {
        rc = ctx_err_set(err, CTX_EIO, "S3 part %u of %s: no ETag in the reply", job + 1, m->key);
    }
    if (rc == CTX_OK) {
        memcpy(m->etags[job], r.etag, sizeof(r.etag));
        atomic_fetch_add(&m->s->base.sent_bytes, r.length);
    }
    buf_free(&resp);
    return rc;
}

/* CompleteMultipartUpload (or, when abort, AbortMultipartUpload) of m. */
static int mp_finish(s3_multipart_t *m, uint32_t parts, bool abort, ctx_err_t *err) {
    char encoded[S3_UPLOAD_ID_BYTES * 3];
    int rc = s3_uri_encode(m->upload_id, false, encoded, sizeof(encoded), err);
    char query[S3_QUERY_BYTES * 2];
    snprintf(query, sizeof(query), "uploadId=%s", encoded);
    buf_t body, resp;
    buf_init(&body);
    buf_init(&resp);
    buf_append_cstr(&body, "<CompleteMultipartUpload>");
    for (uint32_t i = 0; i < parts && !abort; i++) {
        buf_printf(&body, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", i + 1,
                   m->etags[i]);
    }
    buf_append_cstr(&body, "</CompleteMultipartUpload>");
    s3_req_t r;
    req_init(&r, abort ? "DELETE" : "POST", m->key);
    r.query = query;
    r.resp = &resp;
    if (!abort) {
        r.body = buf_peek(&body);
        r.body_len = buf_size(&body);
    }
    if (rc == CTX_OK && buf_failed(&body)) {
        rc = ctx_err_set(err, CTX_ENOMEM, "out of memory completing an S3 upload");
    }
    if (rc == CTX_OK) {
        rc = s3_perform(m->s, &r, err);
    }
    if (rc == CTX_OK && !abort && memmem(buf_peek(&resp), buf_size(&resp), "<Error>", 7)) {
        r.status = 500;
        rc = req_error(m->s, &r, err);
    }
    buf_free(&body);
    buf_free(&resp);
    return rc;
}

static int s3_put_multipart(s3_store_t *s, const char *key, int fd, uint64_t size, ctx_err_t *err) {
    s3_multipart_t m = {.s = s, .key = key, .fd = fd, .size = size};
    m.part_bytes = part_size(s, size);
    uint64_t parts = (size + m.part_bytes - 1) / m.part_bytes;
    CTX_ASSERT(parts >= 1 && parts <= S3_PARTS_MAX);
    buf_t resp;
    buf_init(&resp);
    s3_req_t r;
    req_init(&r, "POST", key);
    r.query = "uploads=";
    r.resp = &resp;
    int rc = s3_perform(s, &r, err);
    size_t from = 0;
    if (rc == CTX_OK && xml_next((const char *)buf_peek(&resp), buf_size(&resp), &from, "UploadId",
                                 m.upload_id, sizeof(m.upload_id), err) != CTX_OK) {
        rc = err->code != CTX_OK ? err->code
                                 : ctx_err_set(err, CTX_EIO, "S3 upload of %s: no UploadId", key);
    }
    buf_free(&resp);
    if (rc != CTX_OK) {
        return rc;
    }
    m.etags = ctx_calloc((size_t)parts, S3_ETAG_BYTES);
    rc = jobs_run(s, (uint32_t)parts, mp_part, &m, err);
    if (rc == CTX_OK) {
        rc = mp_finish(&m, (uint32_t)parts, false, err);
    }
    if (rc != CTX_OK) {
        ctx_err_t ignored;
        ctx_err_clear(&ignored);
        mp_finish(&m, (uint32_t)parts, true, &ignored);
    }
    free(m.etags);
    return rc;
}

static int s3_put_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err) {
    s3_store_t *s = (s3_store_t *)os;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int rc = ctx_err_set(err, CTX_EIO, "could not open \"%s\" for upload: %s", path,
                             strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return rc;
    }
    uint64_t size = (uint64_t)st.st_size;
    int rc;
    if (size > s->cfg.multipart_bytes) {
        rc = s3_put_multipart(s, key, fd, size, err);
    } else {
        s3_req_t r;
        req_init(&r, "PUT", key);
        buf_t resp;
        buf_init(&resp);
        r.resp = &resp;
        r.fd = fd;
        r.length = size;
        rc = s3_perform(s, &r, err);
        if (rc == CTX_OK) {
            atomic_fetch_add(&s->base.sent_bytes, size);
        }
        buf_free(&resp);
    }
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------- reads, deletes, lists */

static int s3_get(objstore_t *os, const char *key, buf_t *out, ctx_err_t *err) {
    s3_store_t *s = (s3_store_t *)os;
    s3_req_t r;
    req_init(&r, "GET", key);
    r.resp = out;
    r.resp_max = S3_GET_BYTES_MAX;
    int rc = s3_perform(s, &r, err);
    if (rc == CTX_OK) {
        atomic_fetch_add(&s->base.received_bytes, buf_size(out));
    } else {
        buf_reset(out);
    }
    return rc;
}

static int s3_head(objstore_t *os, const char *key, uint64_t *size_bytes, ctx_err_t *err) {
    s3_store_t *s = (s3_store_t *)os;
    s3_req_t r;
    req_init(&r, "HEAD", key);
    int rc = s3_perform(s, &r, err);
    if (rc == CTX_OK && !r.has_length) {
        rc = ctx_err_set(err, CTX_EIO, "S3 HEAD %s: no Content-Length in the reply", key);
    }
    *size_bytes = rc == CTX_OK ? r.content_length : 0;
    return rc;
}

static int s3_del(objstore_t *os, const char *key, ctx_err_t *err) {
    s3_store_t *s = (s3_store_t *)os;
    s3_req_t r;
    req_init(&r, "DELETE", key);
    buf_t resp;
    buf_init(&resp);
    r.resp = &resp;
    int rc = s3_perform(s, &r, err);
    buf_free(&resp);
    return rc == CTX_EUNDEF_OBJECT ? (ctx_err_clear(err), CTX_OK) : rc;
}

/* ---- downloads */

typedef struct s3_download {
    s3_store_t *s;
    const char *key;
    int fd;
    uint64_t size;
} s3_download_t;

static int dl_range(void *ctx, uint32_t job, ctx_err_t *err) {
    s3_download_t *d = ctx;
    uint64_t first = (uint64_t)job * S3_RANGE_BYTES;
    uint64_t last = d->size - first <= S3_RANGE_BYTES ? d->size - 1 : first + S3_RANGE_BYTES - 1;
    char range[64];
    snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, first, last);
    s3_req_t r;
    req_init(&r, "GET", d->key);
    buf_t resp; /* the error body, when there is one */
    buf_init(&resp);
    r.range = range;
    r.resp = &resp;
    r.out_fd = d->fd;
    r.out_offset = first;
    int rc = s3_perform(d->s, &r, err);
    if (rc == CTX_OK && r.written != last - first + 1) {
        rc = ctx_err_set(err, CTX_EIO, "S3 GET %s %s: %" PRIu64 " bytes instead of %" PRIu64,
                         d->key, range, r.written, last - first + 1);
    }
    if (rc == CTX_OK) {
        atomic_fetch_add(&d->s->base.received_bytes, r.written);
    }
    buf_free(&resp);
    return rc;
}

static int s3_get_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err) {
    s3_store_t *s = (s3_store_t *)os;
    s3_download_t d = {.s = s, .key = key, .fd = -1};
    char tmp[FSU_PATH_MAX];
    int rc = s3_head(os, key, &d.size, err);
    if (rc == CTX_OK) {
        rc = fsu_path(tmp, err, "%s.tmp", path);
    }
    if (rc == CTX_OK) {
        rc = fsu_mkdirs_for(path, 0700, err);
    }
    if (rc == CTX_OK) {
        d.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (d.fd < 0) {
            rc = ctx_err_set(err, CTX_EIO, "could not create \"%s\": %s", tmp, strerror(errno));
        }
    }
    uint64_t ranges = (d.size + S3_RANGE_BYTES - 1) / S3_RANGE_BYTES;
    if (rc == CTX_OK && ranges > 0) {
        rc = jobs_run(s, (uint32_t)ranges, dl_range, &d, err);
    }
    if (rc == CTX_OK && fsync(d.fd) != 0) {
        rc = ctx_err_set(err, CTX_EIO, "fsync \"%s\": %s", tmp, strerror(errno));
    }
    if (d.fd >= 0) {
        close(d.fd);
    }
    if (rc == CTX_OK) {
        rc = fsu_rename_durable(tmp, path, err);
    }
    if (rc != CTX_OK && d.fd >= 0) {
        unlink(tmp);
    }
    return rc;
}

/* ---- listing */

typedef struct s3_list_ctx {
    size_t strip; /* length of "prefix/" */
    objstore_list_fn fn;
    void *ctx;
} s3_list_ctx_t;

static int list_strip(void *ctx, const char *key, uint64_t size_bytes, ctx_err_t *err) {
    s3_list_ctx_t *l = ctx;
    if (strlen(key) < l->strip) {
        return CTX_OK;
    }
    return l->fn(l->ctx, key + l->strip, size_bytes, err);
}

static int s3_list(objstore_t *os, const char *prefix, objstore_list_fn fn, void *ctx,
                   ctx_err_t *err) {
    s3_store_t *s = (s3_store_t *)os;
    char full[OBJSTORE_KEY_BYTES_MAX * 2], enc_prefix[OBJSTORE_KEY_BYTES_MAX * 6];
    char token[S3_TOKEN_LIST_BYTES] = "", enc_token[S3_TOKEN_LIST_BYTES * 3];
    snprintf(full, sizeof(full), "%s%s%s", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "", prefix);
    s3_list_ctx_t l = {strlen(s->cfg.prefix) + (s->cfg.prefix[0] ? 1 : 0), fn, ctx};
    int rc = s3_uri_encode(full, false, enc_prefix, sizeof(enc_prefix), err);
    buf_t resp;
    buf_init(&resp);
    bool truncated = true;
    for (int page = 0; rc == CTX_OK && truncated; page++) {
        if (page == S3_LIST_PAGES_MAX) {
            rc = ctx_err_set(err, CTX_ELIMIT, "S3 listing longer than %d pages", page);
            break;
        }
        rc = s3_uri_encode(token, false, enc_token, sizeof(enc_token), err);
        char query[S3_QUERY_BYTES * 8];
        snprintf(query, sizeof(query), "%s%s%slist-type=2&prefix=%s",
                 token[0] ? "continuation-token=" : "", enc_token, token[0] ? "&" : "", enc_prefix);
        s3_req_t r;
        req_init(&r, "GET", NULL);
        r.query = query;
        r.resp = &resp;
        if (rc == CTX_OK) {
            rc = s3_perform(s, &r, err);
        }
        if (rc == CTX_OK) {
            rc = s3_parse_list_page((const char *)buf_peek(&resp), buf_size(&resp), list_strip, &l,
                                    &truncated, token, sizeof(token), err);
        }
    }
    buf_free(&resp);
    return rc;
}

/* ---- open / close */

static void s3_close(objstore_t *os) {
    s3_store_t *s = (s3_store_t *)os;
    for (int i = 0; i < S3_PARALLEL_MAX; i++) {
        CTX_ASSERT(!s->busy[i]);
        if (s->handles[i] != NULL) {
            CURL_API.easy_cleanup(s->handles[i]);
        }
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->freed);
    free(s);
}

static const objstore_ops_t S3_OPS = {s3_put_file, s3_get,  s3_del,  s3_list,
                                      s3_get_file, s3_head, s3_close};

static pthread_once_t s3_global_once = PTHREAD_ONCE_INIT;

static void s3_global_init(void) {
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(CURL_API_ERROR, sizeof(CURL_API_ERROR), "%s", dlerror());
        return;
    }
    static const char *names[] = {"curl_global_init",   "curl_easy_init",     "curl_easy_setopt",
                                  "curl_easy_perform",  "curl_easy_getinfo",  "curl_easy_reset",
                                  "curl_easy_cleanup",  "curl_easy_strerror", "curl_slist_append",
                                  "curl_slist_free_all"};
    _Static_assert(sizeof(names) / sizeof(names[0]) * sizeof(void (*)(void)) ==
                       sizeof(s3_curl_api_t),
                   "one name per CURL_API entry");
    void (*entries[sizeof(names) / sizeof(names[0])])(void);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *(void **)&entries[i] = dlsym(lib, names[i]);
        if (entries[i] == NULL) {
            snprintf(CURL_API_ERROR, sizeof(CURL_API_ERROR), "libcurl.so.4 lacks %s", names[i]);
            return;
        }
    }
    memcpy(&CURL_API, entries, sizeof(CURL_API));
    CURL_API.global_init(CURL_GLOBAL_DEFAULT);
}

void objstore_s3_config_defaults(objstore_s3_config_t *c) {
    memset(c, 0, sizeof(*c));
    snprintf(c->region, sizeof(c->region), "us-east-1");
    c->verify_tls = true;
    c->multipart_bytes = UINT64_C(64) * 1024 * 1024;
    c->parallel = 4;
    c->retries = 10;
    c->retry_base_ms = 100;
    c->retry_max_ms = 5000;
    c->jitter_seed = 0x9e3779b97f4a7c15ULL;
}

static void env_copy(char *dest, size_t len, const char *name) {
    const char *v = getenv(name);
    if (dest[0] == '\0' && v != NULL && strlen(v) < len) {
        memcpy(dest, v, strlen(v) + 1);
    }
}

void objstore_s3_config_env(objstore_s3_config_t *c) {
    env_copy(c->access_key_id, sizeof(c->access_key_id), "AWS_ACCESS_KEY_ID");
    env_copy(c->secret_access_key, sizeof(c->secret_access_key), "AWS_SECRET_ACCESS_KEY");
    env_copy(c->session_token, sizeof(c->session_token), "AWS_SESSION_TOKEN");
}

int objstore_s3_config_from_url(const char *url, objstore_s3_config_t *c, ctx_err_t *err) {
    CTX_ASSERT(strncmp(url, "s3://", 5) == 0);
    objstore_s3_config_defaults(c);
    const char *bucket = url + 5;
    const char *slash = strchr(bucket, '/');
    size_t blen = slash != NULL ? (size_t)(slash - bucket) : strlen(bucket);
    const char *prefix = slash != NULL ? slash + 1 : "";
    size_t plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/') {
        plen--;
    }
    if (blen == 0 || blen >= sizeof(c->bucket) || plen >= sizeof(c->prefix)) {
        return ctx_err_set(err, CTX_ECONFIG,
                           "invalid object store URL \"%s\" "
                           "(s3://bucket/prefix expected)",
                           url);
    }
    memcpy(c->bucket, bucket, blen);
    memcpy(c->prefix, prefix, plen);
    objstore_s3_config_env(c);
    c->region[0] = '\0';
    env_copy(c->region, sizeof(c->region), "AWS_REGION");
    if (c->region[0] == '\0') {
        snprintf(c->region, sizeof(c->region), "us-east-1");
    }
    env_copy(c->endpoint, sizeof(c->endpoint), "AWS_ENDPOINT_URL");
    c->path_style = c->endpoint[0] != '\0';
    return CTX_OK;
}

/* Splits the endpoint into scheme, host[:port] (default ports dropped) and path. */
static int parse_endpoint(s3_store_t *s, ctx_err_t *err) {
    const objstore_s3_config_t *c = &s->cfg;
    char endpoint[S3_ENDPOINT_BYTES];
    if (c->endpoint[0] == '\0') {
        snprintf(endpoint, sizeof(endpoint), "https://s3.%s.amazonaws.com", c->region);
    } else {
        snprintf(endpoint, sizeof(endpoint), "%s", c->endpoint);
    }
    const char *rest = NULL;
    if (strncmp(endpoint, "http://", 7) == 0) {
        snprintf(s->scheme, sizeof(s->scheme), "http");
        rest = endpoint + 7;
    } else if (strncmp(endpoint, "https://", 8) == 0) {
        snprintf(s->scheme, sizeof(s->scheme), "https");
        rest = endpoint + 8;
    }
    const char *path = rest != NULL ? strchr(rest, '/') : NULL;
    size_t hlen = rest == NULL ? 0 : (path != NULL ? (size_t)(path - rest) : strlen(rest));
    if (rest == NULL || hlen == 0 || hlen >= sizeof(s->host) ||
        (path != NULL && strlen(path) >= sizeof(s->path))) {
        return ctx_err_set(err, CTX_ECONFIG,
                           "invalid s3_endpoint \"%s\" (http(s)://host[:port] expected)",
                           c->endpoint);
    }
    memcpy(s->host, rest, hlen);
    const char *dflt = strcmp(s->scheme, "http") == 0 ? ":80" : ":443";
    if (hlen > strlen(dflt) && strcmp(s->host + hlen - strlen(dflt), dflt) == 0) {
        s->host[hlen - strlen(dflt)] = '\0';
    }
    snprintf(s->path, sizeof(s->path), "%s", path != NULL ? path : "");
    size_t plen = strlen(s->path);
    while (plen > 0 && s->path[plen - 1] == '/') {
        s->path[--plen] = '\0';
    }
    return CTX_OK;
}

int objstore_s3_open(const objstore_s3_config_t *config, objstore_t **out, ctx_err_t *err) {
    CTX_ASSERT(config != NULL && out != NULL);
    if (config->bucket[0] == '\0') {
        return ctx_err_set(err, CTX_ECONFIG, "the S3 object store needs s3_bucket");
    }
    if (config->access_key_id[0] == '\0' || config->secret_access_key[0] == '\0') {
        return ctx_err_set(err, CTX_ECONFIG,
                           "the S3 object store needs credentials: s3_access_key_id and "
                           "s3_secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    }
    pthread_once(&s3_global_once, s3_global_init);
    if (CURL_API.global_init == NULL) {
        return ctx_err_set(err, CTX_ECONFIG, "the S3 object store needs libcurl: %s",
                           CURL_API_ERROR);
    }
    s3_store_t *s = ctx_calloc(1, sizeof(*s));
    s->base.ops = &S3_OPS;
    s->cfg = *config;
    if (s->cfg.parallel < 1 || s->cfg.parallel > S3_PARALLEL_MAX) {
        s->cfg.parallel = s->cfg.parallel < 1 ? 1 : S3_PARALLEL_MAX;
    }
    if (s->cfg.retries > S3_RETRIES_MAX) {
        s->cfg.retries = S3_RETRIES_MAX;
    }
    if (s->cfg.retry_base_ms == 0) {
        s->cfg.retry_base_ms = 1;
    }
    s->jitter = config->jitter_seed != 0 ? config->jitter_seed : 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->freed, NULL);
    snprintf(s->base.url, sizeof(s->base.url), "s3://%s/%s", s->cfg.bucket, s->cfg.prefix);
    int rc = parse_endpoint(s, err);
    if (rc != CTX_OK) {
        s3_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return CTX_OK;
}

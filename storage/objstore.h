/*
 * objstore.h — object store for snapshot files (DESIGN §6): a flat key space ("nodes/nodes-
 * 000007-0.col", "metadata/current") behind a small vtable, one implementation per backend:
 * `file://` here (key K at <base>/K, written through a temporary file + fsync + rename so a
 * reader never sees half an object) and S3 in objstore_s3.h. Calls block: use them from a
 * background thread or at start-up, never the event loop. One store may be used by several
 * threads at once.
 */
#ifndef CTX_OBJSTORE_H
#define CTX_OBJSTORE_H

#include "buf.h"
#include "ctx.h"
#include "fsutil.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    OBJSTORE_KEY_BYTES_MAX = 1024, /* S3's limit on a key, prefix included */
};

typedef struct objstore objstore_t;

/* Called once per listed key, in ascending key order; a non-zero return stops the listing and
 * becomes its result. key is valid until the callback returns. */
typedef int (*objstore_list_fn)(void *ctx, const char *key, uint64_t size_bytes, ctx_err_t *err);

typedef struct objstore_ops {
    /* Uploads the local file at path as key. */
    int (*put_file)(objstore_t *os, const char *key, const char *path, ctx_err_t *err);
    /* Replaces out's content with the object; CTX_EUNDEF_OBJECT when absent. */
    int (*get)(objstore_t *os, const char *key, buf_t *out, ctx_err_t *err);
    /* Deletes key; absent keys are not an error. */
    int (*del)(objstore_t *os, const char *key, ctx_err_t *err);
    /* Calls fn for every key that starts with prefix ("" lists everything). */
    int (*list)(objstore_t *os, const char *prefix, objstore_list_fn fn, void *ctx, ctx_err_t *err);
    /* Writes the object to the local file path (temporary file + fsync + rename: path is whole
     * or absent); CTX_EUNDEF_OBJECT when absent. */
    int (*get_file)(objstore_t *os, const char *key, const char *path, ctx_err_t *err);
    /* The object's size; CTX_EUNDEF_OBJECT when absent. */
    int (*head)(objstore_t *os, const char *key, uint64_t *size_bytes, ctx_err_t *err);
    void (*close)(objstore_t *os);
} objstore_ops_t;

struct objstore {
    const objstore_ops_t *ops;
    char url[FSU_PATH_MAX];          /* for messages: "file:///dir", "s3://bucket/prefix" */
    _Atomic uint64_t sent_bytes;     /* payload bytes uploaded so far (progress; never reset) */
    _Atomic uint64_t received_bytes; /* payload bytes downloaded so far */
    _Atomic bool canceled;           /* objstore_cancel was called */
};

/* Opens "file:///abs/dir" (created if missing) or "s3://bucket/prefix" (objstore_s3_open with
 * the endpoint, region and credentials of the AWS_* environment). Other schemes: CTX_ECONFIG. */
int objstore_open(const char *url, objstore_t **out, ctx_err_t *err);
int objstore_put_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err);
int objstore_get(objstore_t *os, const char *key, buf_t *out, ctx_err_t *err);
int objstore_delete(objstore_t *os, const char *key, ctx_err_t *err);
int objstore_list(objstore_t *os, const char *prefix, objstore_list_fn fn, void *ctx,
                  ctx_err_t *err);
int objstore_get_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err);
int objstore_head(objstore_t *os, const char *key, uint64_t *size_bytes, ctx_err_t *err);
/* Makes calls in progress and later ones give up soon (no more retries, transfers aborted)
 * with CTX_ESHUTDOWN; for a server that is stopping. Safe from any thread. */
void objstore_cancel(objstore_t *os);
void objstore_close(objstore_t *os);

#endif

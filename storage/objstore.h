/*
 * objstore.h — object store for snapshot files (DESIGN §6): a flat key space ("nodes/nodes-
 * 000007-0.col", "metadata/current") behind a small vtable, so another backend (S3, say) only
 * adds an implementation of objstore_ops_t; `file://` is the one built in. It stores key K at
 * <base>/K, writing through a temporary file + fsync + rename so a reader never sees half an
 * object. Calls block: use them from a background thread, never the event loop.
 */
#ifndef CTX_OBJSTORE_H
#define CTX_OBJSTORE_H

#include "buf.h"
#include "ctx.h"
#include "fsutil.h"

#include <stddef.h>

typedef struct objstore objstore_t;

typedef struct objstore_ops {
    /* Uploads the local file at path as key. */
    int (*put_file)(objstore_t *os, const char *key, const char *path, ctx_err_t *err);
    /* Replaces out's content with the object; CTX_EUNDEF_OBJECT when absent. */
    int (*get)(objstore_t *os, const char *key, buf_t *out, ctx_err_t *err);
    /* Deletes key; absent keys are not an error. */
    int (*del)(objstore_t *os, const char *key, ctx_err_t *err);
    void (*close)(objstore_t *os);
} objstore_ops_t;

struct objstore {
    const objstore_ops_t *ops;
    char url[FSU_PATH_MAX];
};

/* Opens "file:///abs/dir" (created if missing). Other schemes: CTX_ECONFIG. */
int objstore_open(const char *url, objstore_t **out, ctx_err_t *err);
int objstore_put_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err);
int objstore_get(objstore_t *os, const char *key, buf_t *out, ctx_err_t *err);
int objstore_delete(objstore_t *os, const char *key, ctx_err_t *err);
void objstore_close(objstore_t *os);

#endif

/*
 * objstore.c — the object store front end and its file:// backend (contract in objstore.h).
 *
 * The file backend mirrors keys as paths under a base directory, creating parent directories on
 * demand; puts copy through fsu_copy_atomic ("<path>.tmp", fsync, rename, fsync of the
 * directory), the discipline every durable file follows, so the mirror is crash-consistent per
 * object. Gets read the whole object (at most OBJSTORE_GET_BYTES_MAX bytes).
 */
#include "objstore.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OBJSTORE_GET_BYTES_MAX = 1 << 30 };

typedef struct file_store {
    objstore_t base;
    char dir[FSU_PATH_MAX];
} file_store_t;

static int key_path(const file_store_t *fs, const char *key, char out[FSU_PATH_MAX],
                    ctx_err_t *err) {
    return fsu_path(out, err, "%s/%s", fs->dir, key);
}

static int fs_put_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    char dest[FSU_PATH_MAX];
    int rc = key_path(fs, key, dest, err);
    if (rc == CTX_OK) {
        rc = fsu_mkdirs_for(dest, 0700, err);
    }
    if (rc == CTX_OK) {
        rc = fsu_copy_atomic(path, dest, err);
    }
    return rc;
}

static int fs_get(objstore_t *os, const char *key, buf_t *out, ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    char path[FSU_PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = key_path(fs, key, path, err);
    if (rc == CTX_OK) {
        rc = fsu_read_all(path, OBJSTORE_GET_BYTES_MAX, &data, &len, err);
    }
    buf_reset(out);
    if (rc == CTX_OK) {
        buf_append(out, data, len);
    }
    free(data);
    return rc;
}

static int fs_del(objstore_t *os, const char *key, ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    char path[FSU_PATH_MAX];
    if (key_path(fs, key, path, err) != CTX_OK) {
        return err->code;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        return ctx_err_set(err, CTX_EIO, "could not delete \"%s\": %s", path, strerror(errno));
    }
    return CTX_OK;
}

static void fs_close(objstore_t *os) {
    free(os);
}

static const objstore_ops_t FILE_OPS = {fs_put_file, fs_get, fs_del, fs_close};

int objstore_open(const char *url, objstore_t **out, ctx_err_t *err) {
    CTX_ASSERT(url != NULL && out != NULL);
    if (strncmp(url, "file://", 7) != 0 || url[7] != '/') {
        return ctx_err_set(err, CTX_ECONFIG,
                           "unsupported object store URL \"%s\" (file:///dir "
                           "is supported)",
                           url);
    }
    file_store_t *fs = ctx_calloc(1, sizeof(*fs));
    fs->base.ops = &FILE_OPS;
    int rc = fsu_path(fs->base.url, err, "%s", url);
    if (rc == CTX_OK) {
        rc = fsu_path(fs->dir, err, "%s", url + 7);
    }
    if (rc == CTX_OK) {
        rc = fsu_mkdirs(fs->dir, 0700, err);
    }
    if (rc != CTX_OK) {
        free(fs);
        return rc;
    }
    *out = &fs->base;
    return CTX_OK;
}

int objstore_put_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err) {
    return os->ops->put_file(os, key, path, err);
}

int objstore_get(objstore_t *os, const char *key, buf_t *out, ctx_err_t *err) {
    return os->ops->get(os, key, out, err);
}

int objstore_delete(objstore_t *os, const char *key, ctx_err_t *err) {
    return os->ops->del(os, key, err);
}

void objstore_close(objstore_t *os) {
    if (os != NULL) {
        os->ops->close(os);
    }
}

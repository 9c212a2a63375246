/*
 * objstore.c — the object store front end and its file:// backend (contract in objstore.h).
 *
 * The file backend mirrors keys as paths under a base directory, creating parent directories on
 * demand; puts copy through "<path>.tmp", fsync, rename and fsync of the directory, the same
 * discipline the local snapshot writer uses, so the mirror is crash-consistent per object.
 */
#include "objstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct file_store {
    objstore_t base;
    char dir[4096];
} file_store_t;

static int mkdirs_for(const char *path, ctx_err_t *err) {
    char tmp[4400];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
                return ctx_err_set(err, CTX_EIO, "could not create \"%s\": %s", tmp,
                                   strerror(errno));
            }
            *p = '/';
        }
    }
    return CTX_OK;
}

static void key_path(const file_store_t *fs, const char *key, char *out, size_t len) {
    snprintf(out, len, "%s/%s", fs->dir, key);
}

static int fs_put_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    char dest[4400], tmp[4420];
    key_path(fs, key, dest, sizeof(dest));
    snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
    int rc = mkdirs_for(dest, err);
    if (rc != CTX_OK) {
        return rc;
    }
    FILE *in = fopen(path, "rbe");
    FILE *out = in != NULL ? fopen(tmp, "wbe") : NULL;
    bool ok = out != NULL;
    char chunk[65536];
    size_t n;
    while (ok && (n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
        ok = fwrite(chunk, 1, n, out) == n;
    }
    ok = ok && !ferror(in) && fflush(out) == 0 && fsync(fileno(out)) == 0;
    int saved = errno;
    if (in != NULL) {
        fclose(in);
    }
    if (out != NULL && fclose(out) != 0) {
        ok = false;
    }
    if (!ok || rename(tmp, dest) < 0) {
        unlink(tmp);
        return ctx_err_set(err, CTX_EIO, "could not upload \"%s\" to \"%s\": %s", path, dest,
                           strerror(ok ? errno : saved));
    }
    char dir[4400];
    snprintf(dir, sizeof(dir), "%s", dest);
    *strrchr(dir, '/') = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return CTX_OK;
}

static int fs_get(objstore_t *os, const char *key, buf_t *out, ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    char path[4400];
    key_path(fs, key, path, sizeof(path));
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        return ctx_err_set(err, errno == ENOENT ? CTX_EUNDEF_OBJECT : CTX_EIO,
                           "could not read \"%s\": %s", path, strerror(errno));
    }
    buf_reset(out);
    size_t n;
    do {
        uint8_t *dst = buf_reserve(out, 65536);
        n = fread(dst, 1, 65536, f);
        buf_commit(out, n);
    } while (n > 0);
    fclose(f);
    return CTX_OK;
}

static int fs_del(objstore_t *os, const char *key, ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    char path[4400];
    key_path(fs, key, path, sizeof(path));
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
    snprintf(fs->base.url, sizeof(fs->base.url), "%s", url);
    snprintf(fs->dir, sizeof(fs->dir), "%s", url + 7);
    char probe[4400];
    snprintf(probe, sizeof(probe), "%s/x", fs->dir);
    int rc = mkdirs_for(probe, err);
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

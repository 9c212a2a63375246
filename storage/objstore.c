/*
 * objstore.c — the object store front end and its file:// backend (contract in objstore.h).
 *
 * The file backend mirrors keys as paths under a base directory, creating parent directories on
 * demand; puts copy through fsu_copy_atomic ("<path>.tmp", fsync, rename, fsync of the
 * directory), the discipline every durable file follows, so the mirror is crash-consistent per
 * object. Gets read the whole object (at most OBJSTORE_GET_BYTES_MAX bytes). Listing walks the
 * tree (at most OBJSTORE_DEPTH_MAX levels), skips the copy temporaries ("*.tmp") and sorts the
 * keys, so both backends list in S3's order. s3:// URLs go to objstore_s3.c.
 */
#include "objstore.h"

#include "fsutil.h"
#include "objstore_s3.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    OBJSTORE_GET_BYTES_MAX = 1 << 30,
    OBJSTORE_DEPTH_MAX = 8,           /* directory levels a file:// listing descends */
    OBJSTORE_LIST_KEYS_MAX = 1000000, /* keys one file:// listing collects */
};

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

typedef struct fs_keys {
    char **keys;
    size_t count, cap;
} fs_keys_t;

static bool is_temporary(const char *name) {
    size_t len = strlen(name);
    return len >= 4 && strcmp(name + len - 4, ".tmp") == 0;
}

/* Collects the regular files under dir/rel (rel "" at the top) as keys. */
static int fs_walk(const char *dir, const char *rel, int depth, fs_keys_t *k, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    if (fsu_path(path, err, "%s%s%s", dir, rel[0] ? "/" : "", rel) != CTX_OK) {
        return err->code;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        return errno == ENOENT
                   ? CTX_OK
                   : ctx_err_set(err, CTX_EIO, "could not list \"%s\": %s", path, strerror(errno));
    }
    int rc = CTX_OK;
    struct dirent *de;
    while (rc == CTX_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || is_temporary(de->d_name)) {
            continue;
        }
        char key[FSU_PATH_MAX];
        rc = fsu_path(key, err, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        struct stat st;
        char full[FSU_PATH_MAX];
        if (rc == CTX_OK) {
            rc = fsu_path(full, err, "%s/%s", dir, key);
        }
        if (rc != CTX_OK || stat(full, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode) && depth < OBJSTORE_DEPTH_MAX) {
            rc = fs_walk(dir, key, depth + 1, k, err);
        } else if (S_ISREG(st.st_mode)) {
            if (k->count == OBJSTORE_LIST_KEYS_MAX) {
                rc = ctx_err_set(err, CTX_ELIMIT, "more than %d objects under \"%s\"",
                                 OBJSTORE_LIST_KEYS_MAX, dir);
                break;
            }
            if (k->count == k->cap) {
                k->cap = k->cap ? k->cap * 2 : 64;
                k->keys = ctx_realloc(k->keys, k->cap * sizeof(char *));
            }
            k->keys[k->count++] = ctx_strdup(key);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fs_list(objstore_t *os, const char *prefix, objstore_list_fn fn, void *ctx,
                   ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    fs_keys_t k = {0};
    int rc = fs_walk(fs->dir, "", 0, &k, err);
    if (k.count > 0) {
        qsort(k.keys, k.count, sizeof(char *), cmp_keys);
    }
    size_t prefix_len = strlen(prefix);
    for (size_t i = 0; i < k.count; i++) {
        char path[FSU_PATH_MAX];
        struct stat st;
        if (rc == CTX_OK && strncmp(k.keys[i], prefix, prefix_len) == 0 &&
            key_path(fs, k.keys[i], path, err) == CTX_OK && stat(path, &st) == 0) {
            rc = fn(ctx, k.keys[i], (uint64_t)st.st_size, err);
        }
        free(k.keys[i]);
    }
    free(k.keys);
    return rc;
}

static int fs_get_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    char source[FSU_PATH_MAX];
    int rc = key_path(fs, key, source, err);
    if (rc == CTX_OK && access(source, F_OK) != 0) {
        rc =
            ctx_err_set(err, CTX_EUNDEF_OBJECT, "object \"%s\" does not exist in %s", key, os->url);
    }
    if (rc == CTX_OK) {
        rc = fsu_mkdirs_for(path, 0700, err);
    }
    if (rc == CTX_OK) {
        rc = fsu_copy_atomic(source, path, err);
    }
    return rc;
}

static int fs_head(objstore_t *os, const char *key, uint64_t *size_bytes, ctx_err_t *err) {
    file_store_t *fs = (file_store_t *)os;
    char path[FSU_PATH_MAX];
    struct stat st;
    if (key_path(fs, key, path, err) != CTX_OK) {
        return err->code;
    }
    if (stat(path, &st) != 0) {
        return ctx_err_set(err, errno == ENOENT ? CTX_EUNDEF_OBJECT : CTX_EIO,
                           "object \"%s\" in %s: %s", key, os->url, strerror(errno));
    }
    *size_bytes = (uint64_t)st.st_size;
    return CTX_OK;
}

static void fs_close(objstore_t *os) {
    free(os);
}

static const objstore_ops_t FILE_OPS = {fs_put_file, fs_get,  fs_del,  fs_list,
                                        fs_get_file, fs_head, fs_close};

int objstore_open(const char *url, objstore_t **out, ctx_err_t *err) {
    CTX_ASSERT(url != NULL && out != NULL);
    if (strncmp(url, "s3://", 5) == 0) {
        objstore_s3_config_t config;
        int rc = objstore_s3_config_from_url(url, &config, err);
        return rc == CTX_OK ? objstore_s3_open(&config, out, err) : rc;
    }
    if (strncmp(url, "file://", 7) != 0 || url[7] != '/') {
        return ctx_err_set(err, CTX_ECONFIG,
                           "unsupported object store URL \"%s\" (file:///dir "
                           "and s3://bucket/prefix are supported)",
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

int objstore_list(objstore_t *os, const char *prefix, objstore_list_fn fn, void *ctx,
                  ctx_err_t *err) {
    CTX_ASSERT(prefix != NULL && fn != NULL);
    return os->ops->list(os, prefix, fn, ctx, err);
}

int objstore_get_file(objstore_t *os, const char *key, const char *path, ctx_err_t *err) {
    CTX_ASSERT(key != NULL && path != NULL);
    return os->ops->get_file(os, key, path, err);
}

int objstore_head(objstore_t *os, const char *key, uint64_t *size_bytes, ctx_err_t *err) {
    CTX_ASSERT(key != NULL && size_bytes != NULL);
    return os->ops->head(os, key, size_bytes, err);
}

void objstore_cancel(objstore_t *os) {
    atomic_store(&os->canceled, true);
}

void objstore_close(objstore_t *os) {
    if (os != NULL) {
        os->ops->close(os);
    }
}

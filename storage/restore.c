/*
 * restore.c — restore a snapshot from the object store (contract in restore.h).
 *
 * The snapshot ids come from listing "metadata/snapshot-" (names "snapshot-%06d.json"), not from
 * the store's `metadata/current`, so any retained snapshot can be chosen (point-in-time) and a
 * store whose `current` upload was cut short still offers every snapshot whose metadata made it:
 * the uploader writes metadata only after all of a snapshot's files. The metadata is fetched
 * and parsed first; each file it names is downloaded to its place under the root and its size
 * checked; the metadata is written next, and `current` last. CRCs are left to recovery, which
 * checks every file and chunk as it loads them.
 */
#include "restore.h"

#include "fsutil.h"
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    RESTORE_IDS_MAX = 1000000,
    RESTORE_META_BYTES_MAX = 1 << 20,
};

typedef struct id_list {
    uint64_t *ids;
    size_t count, cap;
} id_list_t;

static int collect_id(void *ctx, const char *key, uint64_t size_bytes, ctx_err_t *err) {
    (void)size_bytes;
    id_list_t *l = ctx;
    unsigned long long id = 0;
    char tail[8] = "";
    if (sscanf(key, "metadata/snapshot-%llu.%5s", &id, tail) != 2 || strcmp(tail, "json") != 0 ||
        id == 0 || id > SNAP_ID_MAX) {
        return CTX_OK; /* not a snapshot's metadata */
    }
    if (l->count == RESTORE_IDS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "more than %d snapshots in the object store",
                           RESTORE_IDS_MAX);
    }
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->ids = ctx_realloc(l->ids, l->cap * sizeof(uint64_t));
    }
    l->ids[l->count++] = (uint64_t)id;
    return CTX_OK;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int restore_list(objstore_t *os, uint64_t **ids, size_t *count, ctx_err_t *err) {
    id_list_t l = {0};
    int rc = objstore_list(os, "metadata/snapshot-", collect_id, &l, err);
    if (rc != CTX_OK) {
        free(l.ids);
        return rc;
    }
    if (l.count > 0) {
        qsort(l.ids, l.count, sizeof(uint64_t), cmp_u64);
    }
    *ids = l.ids;
    *count = l.count;
    return CTX_OK;
}

/* Picks id (0: newest) among what the store holds. */
static int choose(objstore_t *os, uint64_t *id, ctx_err_t *err) {
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc = restore_list(os, &ids, &n, err);
    if (rc != CTX_OK) {
        return rc;
    }
    bool found = false;
    char held[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        found = found || ids[i] == *id;
        if (used + 24 < sizeof(held)) {
            used += (size_t)snprintf(held + used, sizeof(held) - used, "%s%" PRIu64, i ? ", " : "",
                                     ids[i]);
        }
    }
    if (n > 0 && *id == 0) {
        *id = ids[n - 1];
        found = true;
    }
    free(ids);
    if (!found) {
        return ctx_err_set(err, CTX_EUNDEF_OBJECT,
                           n == 0 ? "the object store %s holds no snapshot%s"
                                  : "the object store %s holds snapshots %s, not the one asked for",
                           os->url, held);
    }
    return CTX_OK;
}

static int fetch_file(objstore_t *os, const char *root, const snap_file_t *f, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    struct stat st;
    int rc = fsu_path(path, err, "%s/%s", root, f->path);
    if (rc == CTX_OK) {
        rc = objstore_get_file(os, f->path, path, err);
    }
    if (rc == CTX_OK && (stat(path, &st) != 0 || (uint64_t)st.st_size != f->bytes)) {
        rc = ctx_err_set(err, CTX_ECORRUPT,
                         "\"%s\" from %s: %lld bytes, the snapshot metadata says %" PRIu64, f->path,
                         os->url, (long long)st.st_size, f->bytes);
    }
    return rc;
}

int restore_snapshot(objstore_t *os, const char *root, uint64_t id, restore_info_t *info,
                     ctx_err_t *err) {
    CTX_ASSERT(os != NULL && root != NULL && info != NULL);
    memset(info, 0, sizeof(*info));
    int rc = choose(os, &id, err);
    char key[128];
    snap_meta_path(id, key, sizeof(key));
    buf_t text;
    buf_init(&text);
    snap_meta_t meta;
    if (rc == CTX_OK) {
        rc = objstore_get(os, key, &text, err);
    }
    if (rc == CTX_OK && buf_size(&text) > RESTORE_META_BYTES_MAX) {
        rc = ctx_err_set(err, CTX_ECORRUPT, "\"%s\" in %s is %zu bytes", key, os->url,
                         buf_size(&text));
    }
    if (rc == CTX_OK) {
        rc = snap_meta_parse((const char *)buf_peek(&text), buf_size(&text), &meta, err);
    }
    if (rc == CTX_OK && meta.snapshot_id != id) {
        rc = ctx_err_set(err, CTX_ECORRUPT, "\"%s\" in %s names snapshot %" PRIu64, key, os->url,
                         meta.snapshot_id);
    }
    for (int i = 0; rc == CTX_OK && i < meta.nfiles; i++) {
        rc = fetch_file(os, root, &meta.files[i], err);
        info->files++;
        info->bytes += meta.files[i].bytes;
    }
    char path[FSU_PATH_MAX];
    if (rc == CTX_OK) {
        rc = fsu_path(path, err, "%s/%s", root, key);
    }
    if (rc == CTX_OK) {
        rc = fsu_mkdirs_for(path, 0700, err);
    }
    if (rc == CTX_OK) {
        rc = fsu_write_atomic(path, buf_peek(&text), buf_size(&text), err);
        info->files++;
        info->bytes += buf_size(&text);
    }
    if (rc == CTX_OK) {
        rc = snap_set_current(root, id, err);
        info->snapshot_id = id;
    }
    buf_free(&text);
    return rc;
}

/*
 * fuzz_snapmeta.c — libFuzzer target: the snapshot metadata reader (storage/snapshot.h,
 * snap_meta_parse), the JSON document a snapshot's files are found through.
 *
 * The input is the metadata text (an exact-size copy, not NUL-terminated, as read_small hands it
 * over). For metadata that parses, the invariants the loader relies on are checked: every file
 * path is NUL-terminated inside its field, relative and free of "..", nfiles within
 * SNAP_FILES_MAX, and the metadata survives a round trip (snap_meta_to_json, then
 * snap_meta_parse again gives identical fields).
 */
#include "ctx.h"
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

static void check_meta(const snap_meta_t *m) {
    if (m->nfiles < 0 || m->nfiles > SNAP_FILES_MAX || m->snapshot_id == 0) {
        abort();
    }
    for (int i = 0; i < m->nfiles; i++) {
        const snap_file_t *f = &m->files[i];
        if (memchr(f->path, 0, sizeof(f->path)) == NULL || f->path[0] == '/' ||
            strstr(f->path, "..") != NULL || memchr(f->kind, 0, sizeof(f->kind)) == NULL ||
            memchr(f->codec, 0, sizeof(f->codec)) == NULL) {
            abort();
        }
    }
}

static bool meta_equal(const snap_meta_t *a, const snap_meta_t *b) {
    bool same = a->snapshot_id == b->snapshot_id && a->parent_id == b->parent_id &&
                a->raft_index == b->raft_index && a->raft_term == b->raft_term &&
                a->timestamp_ms == b->timestamp_ms && a->format_version == b->format_version &&
                a->nfiles == b->nfiles && a->nodes == b->nodes && a->edges == b->edges &&
                a->vectors == b->vectors && a->dims == b->dims && strcmp(a->metric, b->metric) == 0;
    for (int i = 0; same && i < a->nfiles; i++) {
        const snap_file_t *x = &a->files[i];
        const snap_file_t *y = &b->files[i];
        same = strcmp(x->path, y->path) == 0 && strcmp(x->kind, y->kind) == 0 &&
               x->rows == y->rows && x->bytes == y->bytes && x->crc32c == y->crc32c &&
               strcmp(x->codec, y->codec) == 0;
    }
    return same;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size > 0 ? size : 1);
    memcpy(text, data, size);
    snap_meta_t *meta = calloc(2, sizeof(*meta));
    ctx_err_t err;
    ctx_err_clear(&err);
    if (snap_meta_parse(text, size, &meta[0], &err) == CTX_OK) {
        check_meta(&meta[0]);
        char *json = snap_meta_to_json(&meta[0]);
        ctx_err_clear(&err);
        if (snap_meta_parse(json, strlen(json), &meta[1], &err) != CTX_OK ||
            !meta_equal(&meta[0], &meta[1])) {
            abort(); /* what the writer produces must read back identically */
        }
        free(json);
    }
    free(meta);
    free(text);
    return 0;
}

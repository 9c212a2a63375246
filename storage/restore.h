/*
 * restore.h — bringing a snapshot back from the object store into an empty snapshot root
 * (DESIGN §6: "a node that loses its disk, or a brand-new node, comes back from the object store
 * alone"). After restore_snapshot the root looks as if the snapshot had been written locally:
 * its files, its metadata and `metadata/current`, so ordinary recovery (recovery.h) loads it,
 * checking every CRC, and adopts its HNSW index file instead of rebuilding the index.
 */
#ifndef CTX_RESTORE_H
#define CTX_RESTORE_H

#include "ctx.h"
#include "objstore.h"

#include <stdint.h>

typedef struct restore_info {
    uint64_t snapshot_id; /* the snapshot restored */
    uint64_t files;       /* objects downloaded, metadata included */
    uint64_t bytes;
} restore_info_t;

/* Snapshot ids whose metadata the store holds, ascending (*ids malloc'd, caller frees). */
int restore_list(objstore_t *os, uint64_t **ids, size_t *count, ctx_err_t *err);

/* Downloads snapshot id (0: the newest the store holds) into root: every file its metadata
 * names, then the metadata, then `current` (so an interrupted restore leaves no current
 * snapshot and is simply started over). CTX_EUNDEF_OBJECT when the store holds no snapshot or
 * not that one (the message lists the ids it holds); CTX_ECORRUPT when the metadata does not
 * parse or a downloaded file's size differs from what the metadata records. */
int restore_snapshot(objstore_t *os, const char *root, uint64_t id, restore_info_t *info,
                     ctx_err_t *err);

#endif

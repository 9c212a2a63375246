/*
 * store_int.h — private layout of the store, shared by store.c (tables and read API),
 * command.c (apply and undo) and the engine's own tests. Not part of the public contract:
 * code outside engine/ includes store.h only.
 *
 * Layout (all flat arrays, grown geometrically, no per-node or per-edge malloc):
 *   nodes     node_slot_t[slots.len]     slot → id, label id, props bytes, out/in adjacency
 *   node_map  open addressing id → slot  (linear probing, backward-shift delete: no tombstones)
 *   slots     which slots are free       (bitmap; freed slots reused lowest first)
 *   labels    interned label strings     (dict: id → bytes, bytes → id)
 *   kinds     interned edge kind names   (dict; ids 0..4 are the built-in kinds)
 *   adj pool  adjacency blocks by size class (4, 8, 16, … entries), one flat array per class
 *   vectors   float[slots.len × dims] + int64 id per slot, vec_map id → slot, own slot bitmap
 * A slot table is canonical: len = 1 + highest live slot and the free bitmap marks exactly the
 * dead slots below len, so the state is a function of which ids live where, and undo (which
 * replays inverse changes newest first) gives back the same bytes-for-bytes allocation state.
 *
 * Row versions: write_seq counts row writes; every insert or change of a node, edge or vector
 * stamps the row with ++write_seq (the out and the in entry of an edge carry the same version).
 * A live row's version is never 0 (STORE_VERSION_ABSENT) and never above write_seq; undo puts
 * back both the row's old version and write_seq, so versions are as deterministic as the rest
 * of the state. Rows created by snapshot restore carry the version write_seq had then (1 in a
 * fresh store).
 */
#ifndef CTX_STORE_INT_H
#define CTX_STORE_INT_H

#include "store.h"

#include <stdint.h>

enum {
    STORE_SLOT_NONE = UINT32_MAX,
    ADJ_CLASS_MIN_LOG2 = 2, /* smallest block: 4 entries */
    ADJ_CLASSES = 28,       /* largest block: 4 << 27 entries */
    DICT_NONE = UINT32_MAX,
};

/* Set of free slots below len (see the file comment). */
typedef struct slot_alloc {
    uint32_t len; /* 1 + highest live slot */
    uint32_t cap; /* bits allocated in free_bits */
    uint64_t *free_bits;
    uint32_t free_count;
    uint32_t hint; /* no free bit in words below hint */
} slot_alloc_t;

/* Open-addressing map int64 id → uint32 slot. */
typedef struct id_map_entry {
    int64_t id;
    uint32_t slot; /* STORE_SLOT_NONE = empty bucket */
    uint32_t pad;
} id_map_entry_t;

typedef struct id_map {
    id_map_entry_t *buckets;
    uint64_t mask; /* bucket count - 1 (power of two), 0 when not allocated */
    uint64_t count;
} id_map_t;

/* Interned strings; ids are dense and assigned in first-use order. */
typedef struct dict {
    char **strings; /* NUL-terminated copies */
    uint32_t *lens;
    uint32_t count;
    uint32_t cap;
    uint32_t *buckets; /* id, or DICT_NONE */
    uint32_t mask;
} dict_t;

typedef struct adj_entry {
    int64_t neighbour;
    int32_t kind;
    uint32_t pad;
    double weight;
    uint64_t version; /* see "Row versions" */
} adj_entry_t;

/* One adjacency list: len entries in block `block` of size class `cls`. */
typedef struct adj_list {
    uint32_t len;
    uint8_t cls; /* size class, valid when len > 0 */
    uint8_t pad[3];
    uint32_t block;
} adj_list_t;

typedef struct adj_class {
    adj_entry_t *entries; /* blocks × (4 << cls) entries */
    uint32_t blocks;      /* blocks handed out (high water) */
    uint32_t cap;         /* blocks allocated */
    uint32_t free_head;   /* LIFO list of freed blocks, threaded through entry 0; NONE = empty */
    uint32_t free_blocks; /* length of that list */
} adj_class_t;

typedef struct node_slot {
    int64_t id;
    char *props; /* owned copy, NULL when props IS NULL */
    uint32_t props_len;
    uint32_t label; /* label dict id */
    adj_list_t out;
    adj_list_t in;
    uint64_t version; /* see "Row versions" */
} node_slot_t;

struct store {
    uint32_t dims;
    node_slot_t *nodes;
    uint32_t nodes_cap;
    slot_alloc_t node_slots;
    id_map_t node_map;
    dict_t labels;
    dict_t kinds;
    adj_class_t adj[ADJ_CLASSES];
    uint64_t edge_count;
    float *vectors; /* vec_cap × dims */
    int64_t *vec_ids;
    uint64_t *vec_versions; /* per slot, see "Row versions" */
    uint32_t vec_cap;
    slot_alloc_t vec_slots;
    id_map_t vec_map;
    uint64_t write_seq; /* see "Row versions" */
};

/* ---- primitives used by command.c (no validation beyond assertions) ----
 *
 * Memory. Growth is split from change: a *_reserve primitive allocates what the next change
 * needs (CTX_ENOMEM leaves the store exactly as it was: at most capacity grew), and the change
 * itself then never allocates and cannot fail. Capacity never shrinks (slot tables, id maps,
 * adjacency class arrays), so undo, which only puts back rows and entries that were there
 * before, never allocates either: re-adding a row reuses its old slot, and an undone edge
 * change puts each adjacency list back into the size class it had (store_edge_classes), which
 * hands back exactly the blocks the change took and released. */

uint32_t store_node_slot(const store_t *store, int64_t id);
/* Room for one more node (slot bits, slot array, id map); CTX_ENOMEM changes nothing. */
int store_node_reserve(store_t *store);
/* Inserts a node into the lowest free slot (or `slot` when not STORE_SLOT_NONE, which must be
 * free); takes ownership of props. Returns the slot. A new slot at the end needs
 * store_node_reserve first; a slot below the high-water mark (undo) needs nothing. Row-adding
 * primitives (node, edge, vector) stamp the new row with the current write_seq; command.c bumps
 * write_seq first, or overwrites the version when undo puts an old row back. */
uint32_t store_node_add(store_t *store, int64_t id, uint32_t label, char *props, uint32_t props_len,
                        uint32_t slot);
/* Removes a node whose adjacency is empty; returns its props (ownership to the caller). */
char *store_node_remove(store_t *store, uint32_t slot);

/* Label and kind dictionaries: lookup (DICT_NONE when absent), append (CTX_ENOMEM changes
 * nothing), pop the newest. */
uint32_t store_dict_find(const dict_t *dict, const char *s, uint32_t len);
int store_dict_add(dict_t *dict, const char *s, uint32_t len, uint32_t *id_out);
void store_dict_pop(dict_t *dict);

/* Edges between live node slots. find returns the entry in source's out list or NULL. */
adj_entry_t *store_edge_find(store_t *store, uint32_t source_slot, int64_t target, int32_t kind);
/* Adds an edge (reserving the blocks its two lists grow into); CTX_ENOMEM changes nothing. */
int store_edge_add(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind,
                   double weight);
/* Removes an existing edge; returns its weight. Never fails (lists shrink only when they can). */
double store_edge_remove(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind);
/* The size classes of the source's out list and the target's in list, recorded before an edge
 * change so that undo can put both lists back as they were. */
void store_edge_classes(const store_t *store, uint32_t source_slot, uint32_t target_slot,
                        uint8_t *out_cls, uint8_t *in_cls);
/* Undo of store_edge_add: removes the edge, the lists ending in the recorded classes. */
void store_edge_unadd(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind,
                      uint8_t out_cls, uint8_t in_cls);
/* Undo of store_edge_remove: adds the edge back, the lists ending in the recorded classes. */
void store_edge_readd(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind,
                      double weight, uint8_t out_cls, uint8_t in_cls);
/* Sets the weight and the version in both the out and the in entry. */
void store_edge_set(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind,
                    double weight, uint64_t version);
/* Entries of a node's list (valid until the next change). */
adj_entry_t *store_adj_entries(const store_t *store, const adj_list_t *list);

uint32_t store_vector_slot(const store_t *store, int64_t id);
/* Room for one more vector; CTX_ENOMEM changes nothing. Then store_vector_add as nodes. */
int store_vector_reserve(store_t *store);
uint32_t store_vector_add(store_t *store, int64_t id, const float *data, uint32_t slot);
void store_vector_remove(store_t *store, uint32_t slot);
float *store_vector_data(const store_t *store, uint32_t slot);

#endif

/*
 * store.c — the in-memory graph tables: nodes, edge adjacency, vectors, and the read API.
 *
 * Every table is a flat array indexed by a slot number, with an open-addressing hash from id to
 * slot (linear probing, backward-shift deletion, so there are no tombstones to age). Slots are
 * handed out by slot_alloc_t: the lowest free slot first, else a new one at the end; a released
 * slot at the end shrinks the table, so the allocation state is a pure function of the live slots
 * and undo reproduces it exactly (see store_int.h).
 *
 * Adjacency: each node has an out list and an in list of (neighbour id, kind id, weight), kept
 * sorted by (neighbour id, kind id). Lists live in a pool of fixed-size blocks, one flat array
 * per size class (4, 8, 16, … entries); a list that outgrows its block moves to the next class and
 * one that falls to half moves back, freed blocks go on a per-class LIFO free list. Insert and
 * delete are a binary search plus a memmove, i.e. O(degree), and a node's adjacency is one
 * contiguous run, so traversals read memory sequentially. The weight is stored in both the out
 * and the in entry so reverse traversals need no lookup.
 *
 * Labels and edge kinds are interned (dict_t): a node slot holds a 4-byte label id. Props are the
 * only per-node allocation (one malloc per non-NULL props document), owned by the slot.
 *
 * Nothing here validates user input: command.c checks every op before calling a primitive, and
 * primitives assert their preconditions.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const builtin_kinds[] = {"owns", "links", "related", "child_of", "similar_to"};

/* ---------------------------------------------------------------- slot allocator */

static bool slot_is_free(const slot_alloc_t *sa, uint32_t slot) {
    if (slot >= sa->len) {
        return true;
    }
    return ((sa->free_bits[slot >> 6] >> (slot & 63)) & 1) != 0;
}

/* Ensures free_bits covers `bits` slots; CTX_ENOMEM leaves the allocator as it was. */
static int slot_bits_reserve(slot_alloc_t *sa, uint64_t bits) {
    if (bits <= sa->cap) {
        return CTX_OK;
    }
    uint64_t cap = sa->cap ? sa->cap : 1024;
    while (cap < bits) {
        cap *= 2;
    }
    if (cap > (uint64_t)1 << 31) {
        return CTX_ENOMEM; /* 2^31 slots: far past what memory holds */
    }
    uint64_t *bits_new = ctx_try_realloc(sa->free_bits, (size_t)cap / 8);
    if (bits_new == NULL) {
        return CTX_ENOMEM;
    }
    sa->free_bits = bits_new;
    memset((uint8_t *)sa->free_bits + sa->cap / 8, 0, (size_t)(cap - sa->cap) / 8);
    sa->cap = (uint32_t)cap;
    return CTX_OK;
}

static void slot_bit_set(slot_alloc_t *sa, uint32_t slot, bool free_bit) {
    uint64_t mask = (uint64_t)1 << (slot & 63);
    if (free_bit) {
        sa->free_bits[slot >> 6] |= mask;
    } else {
        sa->free_bits[slot >> 6] &= ~mask;
    }
}

/* Takes the lowest free slot, or appends one. */
static uint32_t slot_take(slot_alloc_t *sa) {
    if (sa->free_count == 0) {
        CTX_ASSERT(sa->len < sa->cap); /* slot_reserve ran */
        return sa->len++;
    }
    uint32_t word = sa->hint;
    while (sa->free_bits[word] == 0) {
        word++;
    }
    CTX_ASSERT(word < sa->cap / 64);
    sa->hint = word;
    uint32_t slot = word * 64 + (uint32_t)__builtin_ctzll(sa->free_bits[word]);
    CTX_ASSERT(slot < sa->len);
    slot_bit_set(sa, slot, false);
    sa->free_count--;
    return slot;
}

/* Takes a specific free slot (undo of a delete puts a row back where it was). */
static void slot_take_at(slot_alloc_t *sa, uint32_t slot) {
    CTX_ASSERT(slot_is_free(sa, slot));
    if (slot < sa->len) {
        slot_bit_set(sa, slot, false);
        sa->free_count--;
        return;
    }
    CTX_ASSERT(slot < sa->cap); /* slot_reserve ran */
    for (uint32_t s = sa->len; s < slot; s++) {
        slot_bit_set(sa, s, true);
        sa->free_count++;
    }
    if (sa->len < slot && (sa->len >> 6) < sa->hint) {
        sa->hint = sa->len >> 6;
    }
    sa->len = slot + 1;
}

static void slot_release(slot_alloc_t *sa, uint32_t slot) {
    CTX_ASSERT(!slot_is_free(sa, slot));
    if (slot + 1 < sa->len) {
        slot_bit_set(sa, slot, true);
        sa->free_count++;
        if ((slot >> 6) < sa->hint) {
            sa->hint = slot >> 6;
        }
        return;
    }
    sa->len--;
    while (sa->len > 0 && slot_is_free(sa, sa->len - 1)) {
        slot_bit_set(sa, sa->len - 1, false);
        sa->free_count--;
        sa->len--;
    }
    if (sa->free_count == 0) {
        sa->hint = 0;
    }
}

/* ---------------------------------------------------------------- id map */

static uint64_t hash_id(int64_t id) {
    uint64_t x = (uint64_t)id + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint32_t id_map_find(const id_map_t *map, int64_t id) {
    if (map->mask == 0) {
        return STORE_SLOT_NONE;
    }
    for (uint64_t i = hash_id(id) & map->mask;; i = (i + 1) & map->mask) {
        const id_map_entry_t *e = &map->buckets[i];
        if (e->slot == STORE_SLOT_NONE || e->id == id) {
            return e->slot;
        }
    }
}

static void id_map_insert_raw(id_map_t *map, int64_t id, uint32_t slot) {
    uint64_t i = hash_id(id) & map->mask;
    while (map->buckets[i].slot != STORE_SLOT_NONE) {
        CTX_ASSERT(map->buckets[i].id != id);
        i = (i + 1) & map->mask;
    }
    map->buckets[i].id = id;
    map->buckets[i].slot = slot;
}

static bool id_map_has_room(const id_map_t *map) {
    return map->mask != 0 && (map->count + 1) * 3 <= (map->mask + 1) * 2;
}

/* Makes room for one more entry (rehashing into twice the buckets when the load passes 2/3);
 * CTX_ENOMEM leaves the map as it was. The map never shrinks, so an entry removed since can
 * always be put back without this. */
static int id_map_reserve(id_map_t *map) {
    if (id_map_has_room(map)) {
        return CTX_OK;
    }
    uint64_t old_n = map->mask ? map->mask + 1 : 0;
    uint64_t n = old_n ? old_n * 2 : 64;
    id_map_entry_t *buckets = ctx_try_malloc(n * sizeof(id_map_entry_t));
    if (buckets == NULL) {
        return CTX_ENOMEM;
    }
    id_map_entry_t *old = map->buckets;
    memset(buckets, 0xff, n * sizeof(id_map_entry_t));
    map->buckets = buckets;
    map->mask = n - 1;
    for (uint64_t i = 0; i < old_n; i++) {
        if (old[i].slot != STORE_SLOT_NONE) {
            id_map_insert_raw(map, old[i].id, old[i].slot);
        }
    }
    free(old);
    return CTX_OK;
}

static void id_map_put(id_map_t *map, int64_t id, uint32_t slot) {
    CTX_ASSERT(slot != STORE_SLOT_NONE);
    CTX_ASSERT(id_map_has_room(map)); /* id_map_reserve ran */
    id_map_insert_raw(map, id, slot);
    map->count++;
}

static void id_map_del(id_map_t *map, int64_t id) {
    CTX_ASSERT(map->mask != 0);
    uint64_t i = hash_id(id) & map->mask;
    while (map->buckets[i].id != id || map->buckets[i].slot == STORE_SLOT_NONE) {
        CTX_ASSERT(map->buckets[i].slot != STORE_SLOT_NONE);
        i = (i + 1) & map->mask;
    }
    for (uint64_t j = i;;) {
        j = (j + 1) & map->mask;
        if (map->buckets[j].slot == STORE_SLOT_NONE) {
            break;
        }
        uint64_t home = hash_id(map->buckets[j].id) & map->mask;
        /* The entry at j may move to the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            map->buckets[i] = map->buckets[j];
            i = j;
        }
    }
    map->buckets[i].slot = STORE_SLOT_NONE;
    map->buckets[i].id = -1;
    map->count--;
}

/* ---------------------------------------------------------------- dictionaries */

static uint64_t hash_bytes(const char *s, uint32_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint32_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

static void dict_insert_raw(dict_t *dict, uint32_t id) {
    uint32_t i = (uint32_t)hash_bytes(dict->strings[id], dict->lens[id]) & dict->mask;
    while (dict->buckets[i] != DICT_NONE) {
        i = (i + 1) & dict->mask;
    }
    dict->buckets[i] = id;
}

uint32_t store_dict_find(const dict_t *dict, const char *s, uint32_t len) {
    if (dict->mask == 0) {
        return DICT_NONE;
    }
    for (uint32_t i = (uint32_t)hash_bytes(s, len) & dict->mask;; i = (i + 1) & dict->mask) {
        uint32_t id = dict->buckets[i];
        if (id == DICT_NONE) {
            return DICT_NONE;
        }
        if (dict->lens[id] == len && memcmp(dict->strings[id], s, len) == 0) {
            return id;
        }
    }
}

int store_dict_add(dict_t *dict, const char *s, uint32_t len, uint32_t *id_out) {
    CTX_ASSERT(store_dict_find(dict, s, len) == DICT_NONE);
    char *copy = ctx_try_malloc((size_t)len + 1);
    if (copy == NULL) {
        return CTX_ENOMEM;
    }
    if (dict->count == dict->cap) { /* each array grows alone; cap moves once both have */
        uint32_t cap = dict->cap ? dict->cap * 2 : 16;
        char **strings = ctx_try_realloc(dict->strings, cap * sizeof(char *));
        dict->strings = strings != NULL ? strings : dict->strings;
        uint32_t *lens =
            strings != NULL ? ctx_try_realloc(dict->lens, cap * sizeof(uint32_t)) : NULL;
        dict->lens = lens != NULL ? lens : dict->lens;
        if (lens == NULL) {
            free(copy);
            return CTX_ENOMEM;
        }
        dict->cap = cap;
    }
    if ((dict->count + 1) * 2 > dict->mask + 1 || dict->mask == 0) {
        uint32_t n = dict->mask ? (dict->mask + 1) * 2 : 64;
        uint32_t *buckets = ctx_try_malloc(n * sizeof(uint32_t));
        if (buckets == NULL) {
            free(copy);
            return CTX_ENOMEM;
        }
        free(dict->buckets);
        dict->buckets = buckets;
        memset(dict->buckets, 0xff, n * sizeof(uint32_t));
        dict->mask = n - 1;
        for (uint32_t id = 0; id < dict->count; id++) {
            dict_insert_raw(dict, id);
        }
    }
    uint32_t id = dict->count++;
    memcpy(copy, s, len);
    copy[len] = '\0';
    dict->strings[id] = copy;
    dict->lens[id] = len;
    dict_insert_raw(dict, id);
    *id_out = id;
    return CTX_OK;
}

void store_dict_pop(dict_t *dict) {
    CTX_ASSERT(dict->count > 0);
    uint32_t id = dict->count - 1;
    uint32_t i = (uint32_t)hash_bytes(dict->strings[id], dict->lens[id]) & dict->mask;
    while (dict->buckets[i] != id) {
        CTX_ASSERT(dict->buckets[i] != DICT_NONE);
        i = (i + 1) & dict->mask;
    }
    for (uint32_t j = i;;) {
        j = (j + 1) & dict->mask;
        uint32_t other = dict->buckets[j];
        if (other == DICT_NONE) {
            break;
        }
        uint32_t home = (uint32_t)hash_bytes(dict->strings[other], dict->lens[other]) & dict->mask;
        bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            dict->buckets[i] = other;
            i = j;
        }
    }
    dict->buckets[i] = DICT_NONE;
    free(dict->strings[id]);
    dict->count--;
}

static void dict_free(dict_t *dict) {
    for (uint32_t id = 0; id < dict->count; id++) {
        free(dict->strings[id]);
    }
    free(dict->strings);
    free(dict->lens);
    free(dict->buckets);
}

/* ---------------------------------------------------------------- adjacency pool */

static uint32_t adj_class_cap(uint8_t cls) {
    return (uint32_t)1 << (cls + ADJ_CLASS_MIN_LOG2);
}

static adj_entry_t *adj_block(const store_t *store, uint8_t cls, uint32_t block) {
    return store->adj[cls].entries + (size_t)block * adj_class_cap(cls);
}

adj_entry_t *store_adj_entries(const store_t *store, const adj_list_t *list) {
    if (list->len == 0) {
        return NULL;
    }
    return adj_block(store, list->cls, list->block);
}

/* Blocks class cls can hand out without growing: freed ones plus allocated, never used ones. */
static uint64_t adj_class_avail(const adj_class_t *c) {
    return (uint64_t)c->free_blocks + (c->cap - c->blocks);
}

/* Ensures class cls can hand out n more blocks without growing; CTX_ENOMEM leaves it as it was. */
static int adj_class_reserve(store_t *store, uint8_t cls, uint32_t n) {
    CTX_ASSERT(cls < ADJ_CLASSES);
    adj_class_t *c = &store->adj[cls];
    if (adj_class_avail(c) >= n) {
        return CTX_OK;
    }
    uint64_t cap = c->cap ? c->cap : (cls < 8 ? 64 : 1);
    while (cap - c->blocks + c->free_blocks < n) {
        cap *= 2;
    }
    size_t block_bytes = (size_t)adj_class_cap(cls) * sizeof(adj_entry_t);
    if (cap > UINT32_MAX || cap > SIZE_MAX / block_bytes) {
        return CTX_ENOMEM;
    }
    adj_entry_t *entries = ctx_try_realloc(c->entries, (size_t)cap * block_bytes);
    if (entries == NULL) {
        return CTX_ENOMEM;
    }
    c->entries = entries;
    c->cap = (uint32_t)cap;
    return CTX_OK;
}

/* Hands out a block of class cls, which must have one available (adj_class_reserve). */
static uint32_t adj_block_take(store_t *store, uint8_t cls) {
    CTX_ASSERT(cls < ADJ_CLASSES);
    adj_class_t *c = &store->adj[cls];
    CTX_ASSERT(adj_class_avail(c) >= 1);
    if (c->free_head != STORE_SLOT_NONE) {
        uint32_t block = c->free_head;
        c->free_head = (uint32_t)adj_block(store, cls, block)->neighbour;
        c->free_blocks--;
        return block;
    }
    return c->blocks++;
}

static void adj_block_free(store_t *store, uint8_t cls, uint32_t block) {
    adj_class_t *c = &store->adj[cls];
    CTX_ASSERT(block < c->blocks);
    adj_block(store, cls, block)->neighbour = c->free_head;
    c->free_head = block;
    c->free_blocks++;
}

/* Moves a list's entries into a block of class cls (which must have one available). */
static void adj_rehome(store_t *store, adj_list_t *list, uint8_t cls) {
    CTX_ASSERT(list->len > 0 && list->len <= adj_class_cap(cls));
    uint32_t block = adj_block_take(store, cls);
    memcpy(adj_block(store, cls, block), adj_block(store, list->cls, list->block),
           (size_t)list->len * sizeof(adj_entry_t));
    adj_block_free(store, list->cls, list->block);
    list->cls = cls;
    list->block = block;
}

/* The class a list moves to when it gains an entry, and whether that takes a new block. */
static uint8_t adj_grow_class(const adj_list_t *list, bool *new_block) {
    *new_block = list->len == 0 || list->len == adj_class_cap(list->cls);
    if (list->len == 0) {
        return 0;
    }
    return *new_block ? (uint8_t)(list->cls + 1) : list->cls;
}

static int adj_cmp(const adj_entry_t *e, int64_t neighbour, int32_t kind) {
    if (e->neighbour != neighbour) {
        return e->neighbour < neighbour ? -1 : 1;
    }
    return (e->kind > kind) - (e->kind < kind);
}

/* First position whose entry is >= (neighbour, kind). */
static uint32_t adj_lower_bound(const store_t *store, const adj_list_t *list, int64_t neighbour,
                                int32_t kind) {
    const adj_entry_t *e = store_adj_entries(store, list);
    uint32_t lo = 0;
    uint32_t hi = list->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (adj_cmp(&e[mid], neighbour, kind) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Inserts an entry in order, the list ending in class cls (which holds len + 1 entries); a block
 * it needs must be available (adj_class_reserve), so this never allocates. */
static void adj_insert(store_t *store, adj_list_t *list, uint8_t cls, int64_t neighbour,
                       int32_t kind, double weight, uint64_t version) {
    CTX_ASSERT(cls < ADJ_CLASSES && list->len < adj_class_cap(cls));
    if (list->len == 0) {
        list->cls = cls;
        list->block = adj_block_take(store, cls);
    } else if (list->cls != cls) {
        adj_rehome(store, list, cls);
    }
    uint32_t pos = adj_lower_bound(store, list, neighbour, kind);
    adj_entry_t *e = adj_block(store, list->cls, list->block);
    CTX_ASSERT(pos == list->len || adj_cmp(&e[pos], neighbour, kind) > 0);
    memmove(&e[pos + 1], &e[pos], (size_t)(list->len - pos) * sizeof(adj_entry_t));
    e[pos] = (adj_entry_t){
        .neighbour = neighbour, .kind = kind, .pad = 0, .weight = weight, .version = version};
    list->len++;
}

/* Inserts an entry, first reserving the block the list grows into; CTX_ENOMEM changes nothing. */
static int adj_insert_grow(store_t *store, adj_list_t *list, int64_t neighbour, int32_t kind,
                           double weight, uint64_t version) {
    bool new_block;
    uint8_t cls = adj_grow_class(list, &new_block);
    int rc = new_block ? adj_class_reserve(store, cls, 1) : CTX_OK;
    if (rc == CTX_OK) {
        adj_insert(store, list, cls, neighbour, kind, weight, version);
    }
    return rc;
}

/* Removes an entry; a list that keeps entries ends in class cls (which must hold them, and have
 * a block available when it differs from the list's). Returns the entry's weight. */
static double adj_remove(store_t *store, adj_list_t *list, uint8_t cls, int64_t neighbour,
                         int32_t kind) {
    uint32_t pos = adj_lower_bound(store, list, neighbour, kind);
    adj_entry_t *e = store_adj_entries(store, list);
    CTX_ASSERT(pos < list->len && adj_cmp(&e[pos], neighbour, kind) == 0);
    double weight = e[pos].weight;
    memmove(&e[pos], &e[pos + 1], (size_t)(list->len - pos - 1) * sizeof(adj_entry_t));
    list->len--;
    if (list->len == 0) {
        adj_block_free(store, list->cls, list->block);
        list->cls = 0;
        list->block = 0;
    } else if (list->cls != cls) {
        adj_rehome(store, list, cls);
    }
    return weight;
}

/* The class a list shrinks to when it loses an entry: one down once it falls to half of the
 * smaller class, when that class can hand out a block; otherwise it stays (a list may sit in a
 * larger class than it needs, never a smaller one), so removing never fails. */
static uint8_t adj_shrink_class(store_t *store, const adj_list_t *list) {
    uint8_t cls = list->cls;
    if (list->len <= 1 || cls == 0 || list->len - 1 > adj_class_cap((uint8_t)(cls - 1)) / 2) {
        return cls;
    }
    return adj_class_reserve(store, (uint8_t)(cls - 1), 1) == CTX_OK ? (uint8_t)(cls - 1) : cls;
}

static adj_entry_t *adj_find(const store_t *store, const adj_list_t *list, int64_t neighbour,
                             int32_t kind) {
    uint32_t pos = adj_lower_bound(store, list, neighbour, kind);
    adj_entry_t *e = store_adj_entries(store, list);
    if (pos < list->len && adj_cmp(&e[pos], neighbour, kind) == 0) {
        return &e[pos];
    }
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

int store_try_create(const store_config_t *config, store_t **out) {
    CTX_ASSERT(config != NULL && out != NULL);
    CTX_ASSERT(config->vector_dims >= 1 && config->vector_dims <= VECTOR_DIMS_MAX);
    store_t *store = ctx_try_calloc(1, sizeof(store_t));
    if (store == NULL) {
        return CTX_ENOMEM;
    }
    store->dims = config->vector_dims;
    store->write_seq = 1; /* live rows' versions are ≥ 1: 0 is STORE_VERSION_ABSENT */
    for (int c = 0; c < ADJ_CLASSES; c++) {
        store->adj[c].free_head = STORE_SLOT_NONE;
    }
    for (size_t k = 0; k < sizeof(builtin_kinds) / sizeof(builtin_kinds[0]); k++) {
        uint32_t id;
        int rc = store_dict_add(&store->kinds, builtin_kinds[k], (uint32_t)strlen(builtin_kinds[k]),
                                &id);
        if (rc != CTX_OK) {
            store_destroy(store);
            return rc;
        }
        CTX_ASSERT(id == k);
    }
    *out = store;
    return CTX_OK;
}

store_t *store_create(const store_config_t *config) {
    store_t *store = NULL;
    int rc = store_try_create(config, &store);
    if (rc != CTX_OK) {
        CTX_ERROR("out of memory creating a store");
        abort();
    }
    return store;
}

void store_destroy(store_t *store) {
    if (store == NULL) {
        return;
    }
    for (uint32_t s = 0; s < store->node_slots.len; s++) {
        if (!slot_is_free(&store->node_slots, s)) {
            free(store->nodes[s].props);
        }
    }
    free(store->nodes);
    free(store->node_slots.free_bits);
    free(store->node_map.buckets);
    dict_free(&store->labels);
    dict_free(&store->kinds);
    for (int c = 0; c < ADJ_CLASSES; c++) {
        free(store->adj[c].entries);
    }
    free(store->vectors);
    free(store->vec_ids);
    free(store->vec_versions);
    free(store->vec_slots.free_bits);
    free(store->vec_map.buckets);
    free(store);
}

uint32_t store_vector_dims(const store_t *store) {
    return store->dims;
}

/* ---------------------------------------------------------------- node primitives */

uint32_t store_node_slot(const store_t *store, int64_t id) {
    return id_map_find(&store->node_map, id);
}

/* Grows a slot-indexed array to hold slot `end - 1`: capacity doubles from `first`. */
static int slot_array_reserve(void **array, uint32_t *cap, uint32_t first, uint64_t end,
                              size_t elem_bytes) {
    if (end <= *cap) {
        return CTX_OK;
    }
    uint64_t n = *cap ? *cap : first;
    while (n < end) {
        n *= 2;
    }
    if (n > UINT32_MAX || n > SIZE_MAX / elem_bytes) {
        return CTX_ENOMEM;
    }
    void *grown = ctx_try_realloc(*array, (size_t)n * elem_bytes);
    if (grown == NULL) {
        return CTX_ENOMEM;
    }
    *array = grown;
    *cap = (uint32_t)n;
    return CTX_OK;
}

/* The slot count a slot table needs for one more row at the lowest free slot. */
static uint64_t slot_end_after_take(const slot_alloc_t *sa) {
    return sa->free_count > 0 ? sa->len : (uint64_t)sa->len + 1;
}

/* Room for a node in slot end - 1 (and the id map entry). */
static int node_reserve_to(store_t *store, uint64_t end) {
    int rc = slot_bits_reserve(&store->node_slots, end);
    if (rc == CTX_OK) {
        void *nodes = store->nodes;
        rc = slot_array_reserve(&nodes, &store->nodes_cap, 1024, end, sizeof(node_slot_t));
        store->nodes = nodes;
    }
    return rc == CTX_OK ? id_map_reserve(&store->node_map) : rc;
}

int store_node_reserve(store_t *store) {
    return node_reserve_to(store, slot_end_after_take(&store->node_slots));
}

uint32_t store_node_add(store_t *store, int64_t id, uint32_t label, char *props, uint32_t props_len,
                        uint32_t slot) {
    CTX_ASSERT(store_node_slot(store, id) == STORE_SLOT_NONE);
    CTX_ASSERT(label < store->labels.count);
    if (slot == STORE_SLOT_NONE) {
        slot = slot_take(&store->node_slots);
    } else {
        slot_take_at(&store->node_slots, slot);
    }
    CTX_ASSERT(slot < store->nodes_cap); /* store_node_reserve ran, or the slot was used before */
    node_slot_t *n = &store->nodes[slot];
    memset(n, 0, sizeof(*n));
    n->id = id;
    n->label = label;
    n->props = props;
    n->props_len = props_len;
    n->version = store->write_seq;
    id_map_put(&store->node_map, id, slot);
    return slot;
}

char *store_node_remove(store_t *store, uint32_t slot) {
    CTX_ASSERT(!slot_is_free(&store->node_slots, slot));
    node_slot_t *n = &store->nodes[slot];
    CTX_ASSERT(n->out.len == 0 && n->in.len == 0);
    char *props = n->props;
    id_map_del(&store->node_map, n->id);
    memset(n, 0, sizeof(*n));
    slot_release(&store->node_slots, slot);
    return props;
}

static void node_view_fill(const store_t *store, const node_slot_t *n, node_view_t *out) {
    out->id = n->id;
    out->label = store->labels.strings[n->label];
    out->label_len = store->labels.lens[n->label];
    out->props = n->props;
    out->props_len = n->props_len;
}

uint64_t store_node_count(const store_t *store) {
    return store->node_map.count;
}

bool store_node_get(const store_t *store, int64_t id, node_view_t *out) {
    uint32_t slot = store_node_slot(store, id);
    if (slot == STORE_SLOT_NONE) {
        return false;
    }
    node_view_fill(store, &store->nodes[slot], out);
    return true;
}

bool store_node_exists(const store_t *store, int64_t id) {
    return store_node_slot(store, id) != STORE_SLOT_NONE;
}

bool store_node_next(const store_t *store, store_cursor_t *cursor, node_view_t *out) {
    while (cursor->pos < store->node_slots.len) {
        uint32_t slot = (uint32_t)cursor->pos++;
        if (!slot_is_free(&store->node_slots, slot)) {
            node_view_fill(store, &store->nodes[slot], out);
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- kinds */

int32_t store_kind_lookup(const store_t *store, const char *name, uint32_t len) {
    uint32_t id = store_dict_find(&store->kinds, name, len);
    return id == DICT_NONE ? -1 : (int32_t)id;
}

const char *store_kind_name(const store_t *store, int32_t kind) {
    CTX_ASSERT(kind >= 0 && (uint32_t)kind < store->kinds.count);
    return store->kinds.strings[kind];
}

uint32_t store_kind_count(const store_t *store) {
    return store->kinds.count;
}

/* ---------------------------------------------------------------- edge primitives */

adj_entry_t *store_edge_find(store_t *store, uint32_t source_slot, int64_t target, int32_t kind) {
    return adj_find(store, &store->nodes[source_slot].out, target, kind);
}

int store_edge_add(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind,
                   double weight) {
    CTX_ASSERT(!slot_is_free(&store->node_slots, source_slot));
    CTX_ASSERT(!slot_is_free(&store->node_slots, target_slot));
    adj_list_t *out = &store->nodes[source_slot].out;
    adj_list_t *in = &store->nodes[target_slot].in;
    bool out_new;
    bool in_new;
    uint8_t out_cls = adj_grow_class(out, &out_new);
    uint8_t in_cls = adj_grow_class(in, &in_new);
    int rc = CTX_OK;
    if (out_new && in_new && out_cls == in_cls) {
        rc = adj_class_reserve(store, out_cls, 2);
    } else {
        rc = out_new ? adj_class_reserve(store, out_cls, 1) : CTX_OK;
        rc = (rc == CTX_OK && in_new) ? adj_class_reserve(store, in_cls, 1) : rc;
    }
    if (rc != CTX_OK) {
        return rc;
    }
    int64_t source = store->nodes[source_slot].id;
    int64_t target = store->nodes[target_slot].id;
    adj_insert(store, out, out_cls, target, kind, weight, store->write_seq);
    adj_insert(store, in, in_cls, source, kind, weight, store->write_seq);
    store->edge_count++;
    return CTX_OK;
}

double store_edge_remove(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind) {
    int64_t source = store->nodes[source_slot].id;
    int64_t target = store->nodes[target_slot].id;
    adj_list_t *out = &store->nodes[source_slot].out;
    adj_list_t *in = &store->nodes[target_slot].in;
    double weight = adj_remove(store, out, adj_shrink_class(store, out), target, kind);
    adj_remove(store, in, adj_shrink_class(store, in), source, kind);
    CTX_ASSERT(store->edge_count > 0);
    store->edge_count--;
    return weight;
}

void store_edge_classes(const store_t *store, uint32_t source_slot, uint32_t target_slot,
                        uint8_t *out_cls, uint8_t *in_cls) {
    *out_cls = store->nodes[source_slot].out.cls;
    *in_cls = store->nodes[target_slot].in.cls;
}

/* Undo runs the inverse list changes in the opposite order (in list first), so every block a
 * list takes is one the forward change released. */
void store_edge_unadd(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind,
                      uint8_t out_cls, uint8_t in_cls) {
    int64_t source = store->nodes[source_slot].id;
    int64_t target = store->nodes[target_slot].id;
    adj_remove(store, &store->nodes[target_slot].in, in_cls, source, kind);
    adj_remove(store, &store->nodes[source_slot].out, out_cls, target, kind);
    CTX_ASSERT(store->edge_count > 0);
    store->edge_count--;
}

void store_edge_readd(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind,
                      double weight, uint8_t out_cls, uint8_t in_cls) {
    int64_t source = store->nodes[source_slot].id;
    int64_t target = store->nodes[target_slot].id;
    adj_insert(store, &store->nodes[target_slot].in, in_cls, source, kind, weight,
               store->write_seq);
    adj_insert(store, &store->nodes[source_slot].out, out_cls, target, kind, weight,
               store->write_seq);
    store->edge_count++;
}

void store_edge_set(store_t *store, uint32_t source_slot, uint32_t target_slot, int32_t kind,
                    double weight, uint64_t version) {
    int64_t source = store->nodes[source_slot].id;
    int64_t target = store->nodes[target_slot].id;
    adj_entry_t *out = adj_find(store, &store->nodes[source_slot].out, target, kind);
    adj_entry_t *in = adj_find(store, &store->nodes[target_slot].in, source, kind);
    CTX_ASSERT(out != NULL && in != NULL);
    out->weight = weight;
    in->weight = weight;
    out->version = version;
    in->version = version;
}

uint64_t store_edge_count(const store_t *store) {
    return store->edge_count;
}

static void edge_view_fill(const store_t *store, int64_t source, int64_t target,
                           const adj_entry_t *e, edge_view_t *out) {
    out->source = source;
    out->target = target;
    out->kind = e->kind;
    out->kind_name = store->kinds.strings[e->kind];
    out->weight = e->weight;
}

bool store_edge_get(const store_t *store, int64_t source, int64_t target, int32_t kind,
                    edge_view_t *out) {
    uint32_t slot = store_node_slot(store, source);
    if (slot == STORE_SLOT_NONE || kind < 0) {
        return false;
    }
    const adj_entry_t *e = adj_find(store, &store->nodes[slot].out, target, kind);
    if (e == NULL) {
        return false;
    }
    edge_view_fill(store, source, target, e, out);
    return true;
}

bool store_edge_next(const store_t *store, store_cursor_t *cursor, edge_view_t *out) {
    while (cursor->pos < store->node_slots.len) {
        uint32_t slot = (uint32_t)cursor->pos;
        if (!slot_is_free(&store->node_slots, slot)) {
            const node_slot_t *n = &store->nodes[slot];
            if (cursor->sub < n->out.len) {
                const adj_entry_t *e = store_adj_entries(store, &n->out) + cursor->sub++;
                edge_view_fill(store, n->id, e->neighbour, e, out);
                return true;
            }
        }
        cursor->pos++;
        cursor->sub = 0;
    }
    return false;
}

static uint64_t list_degree(const store_t *store, const adj_list_t *list, int32_t kind) {
    if (kind == STORE_KIND_ANY) {
        return list->len;
    }
    const adj_entry_t *e = store_adj_entries(store, list);
    uint64_t count = 0;
    for (uint32_t i = 0; i < list->len; i++) {
        count += e[i].kind == kind;
    }
    return count;
}

uint64_t store_degree(const store_t *store, int64_t id, store_dir_t dir, int32_t kind) {
    uint32_t slot = store_node_slot(store, id);
    if (slot == STORE_SLOT_NONE) {
        return 0;
    }
    uint64_t degree = 0;
    if (dir & STORE_DIR_OUT) {
        degree += list_degree(store, &store->nodes[slot].out, kind);
    }
    if (dir & STORE_DIR_IN) {
        degree += list_degree(store, &store->nodes[slot].in, kind);
    }
    return degree;
}

void store_adj_begin(const store_t *store, int64_t id, store_dir_t dir, int32_t kind,
                     store_adj_iter_t *it) {
    CTX_ASSERT(dir >= STORE_DIR_OUT && dir <= STORE_DIR_BOTH);
    it->store = store;
    it->id = id;
    it->kind = kind;
    it->dir = dir;
    it->phase = (dir & STORE_DIR_OUT) ? 0 : 1;
    it->pos = 0;
    it->slot = store_node_slot(store, id);
}

bool store_adj_next(store_adj_iter_t *it, edge_view_t *edge_out, int64_t *neighbour_out) {
    if (it->slot == STORE_SLOT_NONE) {
        return false;
    }
    const node_slot_t *n = &it->store->nodes[it->slot];
    while (it->phase < 2) {
        const adj_list_t *list = it->phase == 0 ? &n->out : &n->in;
        const adj_entry_t *e = store_adj_entries(it->store, list);
        while (it->pos < list->len) {
            const adj_entry_t *entry = &e[it->pos++];
            if (it->kind != STORE_KIND_ANY && entry->kind != it->kind) {
                continue;
            }
            if (it->phase == 0) {
                edge_view_fill(it->store, it->id, entry->neighbour, entry, edge_out);
            } else {
                edge_view_fill(it->store, entry->neighbour, it->id, entry, edge_out);
            }
            *neighbour_out = entry->neighbour;
            return true;
        }
        it->phase = (it->phase == 0 && (it->dir & STORE_DIR_IN)) ? 1 : 2;
        it->pos = 0;
    }
    return false;
}

/* ---------------------------------------------------------------- vectors */

uint32_t store_vector_slot(const store_t *store, int64_t id) {
    return id_map_find(&store->vec_map, id);
}

float *store_vector_data(const store_t *store, uint32_t slot) {
    CTX_ASSERT(slot < store->vec_slots.len);
    return store->vectors + (size_t)slot * store->dims;
}

/* Room for a vector in slot end - 1 (and the id map entry). */
static int vector_reserve_to(store_t *store, uint64_t end) {
    int rc = slot_bits_reserve(&store->vec_slots, end);
    if (rc != CTX_OK || end <= store->vec_cap) {
        return rc == CTX_OK ? id_map_reserve(&store->vec_map) : rc;
    }
    /* three arrays share vec_cap: each grows alone, and vec_cap moves once all three have */
    uint32_t cap = store->vec_cap;
    void *ids = store->vec_ids;
    rc = slot_array_reserve(&ids, &cap, 256, end, sizeof(int64_t));
    store->vec_ids = ids;
    uint32_t cap_versions = store->vec_cap;
    void *versions = store->vec_versions;
    rc = rc == CTX_OK ? slot_array_reserve(&versions, &cap_versions, 256, end, sizeof(uint64_t))
                      : rc;
    store->vec_versions = versions;
    uint32_t cap_floats = store->vec_cap;
    void *floats = store->vectors;
    rc = rc == CTX_OK ? slot_array_reserve(&floats, &cap_floats, 256, end,
                                           (size_t)store->dims * sizeof(float))
                      : rc;
    store->vectors = floats;
    if (rc != CTX_OK) {
        return rc;
    }
    CTX_ASSERT(cap == cap_versions && cap == cap_floats);
    store->vec_cap = cap;
    return id_map_reserve(&store->vec_map);
}

int store_vector_reserve(store_t *store) {
    return vector_reserve_to(store, slot_end_after_take(&store->vec_slots));
}

uint32_t store_vector_add(store_t *store, int64_t id, const float *data, uint32_t slot) {
    CTX_ASSERT(store_vector_slot(store, id) == STORE_SLOT_NONE);
    if (slot == STORE_SLOT_NONE) {
        slot = slot_take(&store->vec_slots);
    } else {
        slot_take_at(&store->vec_slots, slot);
    }
    CTX_ASSERT(slot < store->vec_cap); /* store_vector_reserve ran, or the slot was used before */
    memcpy(store_vector_data(store, slot), data, (size_t)store->dims * sizeof(float));
    store->vec_ids[slot] = id;
    store->vec_versions[slot] = store->write_seq;
    id_map_put(&store->vec_map, id, slot);
    return slot;
}

void store_vector_remove(store_t *store, uint32_t slot) {
    CTX_ASSERT(!slot_is_free(&store->vec_slots, slot));
    id_map_del(&store->vec_map, store->vec_ids[slot]);
    memset(store_vector_data(store, slot), 0, (size_t)store->dims * sizeof(float));
    store->vec_ids[slot] = 0;
    store->vec_versions[slot] = 0;
    slot_release(&store->vec_slots, slot);
}

uint64_t store_vector_count(const store_t *store) {
    return store->vec_map.count;
}

const float *store_vector_get(const store_t *store, int64_t id) {
    uint32_t slot = store_vector_slot(store, id);
    return slot == STORE_SLOT_NONE ? NULL : store_vector_data(store, slot);
}

bool store_vector_next(const store_t *store, store_cursor_t *cursor, int64_t *id_out,
                       const float **vector_out) {
    while (cursor->pos < store->vec_slots.len) {
        uint32_t slot = (uint32_t)cursor->pos++;
        if (!slot_is_free(&store->vec_slots, slot)) {
            *id_out = store->vec_ids[slot];
            *vector_out = store_vector_data(store, slot);
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- row versions */

uint64_t store_write_seq(const store_t *store) {
    return store->write_seq;
}

uint64_t store_node_version(const store_t *store, int64_t id) {
    uint32_t slot = store_node_slot(store, id);
    return slot == STORE_SLOT_NONE ? STORE_VERSION_ABSENT : store->nodes[slot].version;
}

uint64_t store_edge_version(const store_t *store, int64_t source, int64_t target, int32_t kind) {
    uint32_t slot = store_node_slot(store, source);
    if (slot == STORE_SLOT_NONE || kind < 0) {
        return STORE_VERSION_ABSENT;
    }
    const adj_entry_t *e = adj_find(store, &store->nodes[slot].out, target, kind);
    return e == NULL ? STORE_VERSION_ABSENT : e->version;
}

uint64_t store_vector_version(const store_t *store, int64_t id) {
    uint32_t slot = store_vector_slot(store, id);
    return slot == STORE_SLOT_NONE ? STORE_VERSION_ABSENT : store->vec_versions[slot];
}

/* ---------------------------------------------------------------- snapshot export / restore */

uint32_t store_node_slot_end(const store_t *store) {
    return store->node_slots.len;
}

bool store_node_at(const store_t *store, uint32_t slot, node_view_t *out, uint32_t *label_out) {
    if (slot_is_free(&store->node_slots, slot)) {
        return false;
    }
    node_view_fill(store, &store->nodes[slot], out);
    *label_out = store->nodes[slot].label;
    return true;
}

uint32_t store_vector_slot_end(const store_t *store) {
    return store->vec_slots.len;
}

bool store_vector_at(const store_t *store, uint32_t slot, int64_t *id_out,
                     const float **vector_out) {
    if (slot_is_free(&store->vec_slots, slot)) {
        return false;
    }
    *id_out = store->vec_ids[slot];
    *vector_out = store_vector_data(store, slot);
    return true;
}

uint32_t store_label_count(const store_t *store) {
    return store->labels.count;
}

const char *store_label_name(const store_t *store, uint32_t label, uint32_t *len_out) {
    CTX_ASSERT(label < store->labels.count);
    *len_out = store->labels.lens[label];
    return store->labels.strings[label];
}

static int restore_dict(dict_t *dict, uint32_t expect_id, const char *text, uint32_t len,
                        uint32_t len_max, const char *what, ctx_err_t *err) {
    if (len > len_max || (len > 0 && memchr(text, '\0', len) != NULL)) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot %s %u is not valid text", what, expect_id);
    }
    uint32_t found = store_dict_find(dict, text, len);
    if (found != DICT_NONE) {
        if (found == expect_id) {
            return CTX_OK; /* a built-in kind */
        }
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot %s \"%.*s\" appears twice", what, (int)len,
                           text);
    }
    if (dict->count != expect_id) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot %s %u out of order (next id is %u)", what,
                           expect_id, dict->count);
    }
    uint32_t id;
    if (store_dict_add(dict, text, len, &id) != CTX_OK) {
        return ctx_err_set(err, CTX_ENOMEM, "out of memory");
    }
    CTX_ASSERT(id == expect_id);
    return CTX_OK;
}

int store_restore_label(store_t *store, uint32_t expect_id, const char *text, uint32_t len,
                        ctx_err_t *err) {
    return restore_dict(&store->labels, expect_id, text, len, LABEL_BYTES_MAX, "label", err);
}

int store_restore_kind(store_t *store, uint32_t expect_id, const char *text, uint32_t len,
                       ctx_err_t *err) {
    return restore_dict(&store->kinds, expect_id, text, len, 1u << 20, "edge kind", err);
}

int store_restore_node(store_t *store, uint32_t slot, int64_t id, uint32_t label, const char *props,
                       uint32_t props_len, ctx_err_t *err) {
    if (slot == STORE_SLOT_NONE || slot < store->node_slots.len) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot node slot %u out of order", slot);
    }
    if (store_node_slot(store, id) != STORE_SLOT_NONE) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot node id %lld appears twice", (long long)id);
    }
    if (label >= store->labels.count) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot node %lld has unknown label id %u",
                           (long long)id, label);
    }
    char *copy = NULL;
    if (props != NULL) {
        copy = ctx_try_malloc((size_t)props_len + 1);
        if (copy == NULL) {
            return ctx_err_set(err, CTX_ENOMEM, "out of memory");
        }
        memcpy(copy, props, props_len);
        copy[props_len] = '\0';
    }
    if (node_reserve_to(store, (uint64_t)slot + 1) != CTX_OK) {
        free(copy);
        return ctx_err_set(err, CTX_ENOMEM, "out of memory");
    }
    uint32_t got = store_node_add(store, id, label, copy, props_len, slot);
    CTX_ASSERT(got == slot);
    return CTX_OK;
}

int store_restore_vector(store_t *store, uint32_t slot, int64_t id, const float *vector,
                         ctx_err_t *err) {
    if (slot == STORE_SLOT_NONE || slot < store->vec_slots.len) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot vector slot %u out of order", slot);
    }
    if (store_vector_slot(store, id) != STORE_SLOT_NONE) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot vector id %lld appears twice",
                           (long long)id);
    }
    if (vector_reserve_to(store, (uint64_t)slot + 1) != CTX_OK) {
        return ctx_err_set(err, CTX_ENOMEM, "out of memory");
    }
    uint32_t got = store_vector_add(store, id, vector, slot);
    CTX_ASSERT(got == slot);
    return CTX_OK;
}

typedef struct restore_in {
    uint32_t target_slot;
    uint32_t kind;
    int64_t source;
    double weight;
} restore_in_t;

static int restore_in_cmp(const void *a, const void *b) {
    const restore_in_t *x = a;
    const restore_in_t *y = b;
    if (x->target_slot != y->target_slot) {
        return x->target_slot < y->target_slot ? -1 : 1;
    }
    if (x->source != y->source) {
        return x->source < y->source ? -1 : 1;
    }
    return (x->kind > y->kind) - (x->kind < y->kind);
}

/* Out lists first (already in order), then in lists from a copy sorted by (target, source). */
int store_restore_edges(store_t *store, const store_edge_rec_t *edges, uint64_t count,
                        ctx_err_t *err) {
    CTX_ASSERT(count == 0 || edges != NULL);
    restore_in_t *in = count < SIZE_MAX / sizeof(restore_in_t)
                           ? ctx_try_malloc(sizeof(restore_in_t) * (size_t)(count + 1))
                           : NULL;
    if (in == NULL) {
        return ctx_err_set(err, CTX_ENOMEM, "out of memory");
    }
    uint32_t prev_slot = 0;
    int rc = CTX_OK;
    for (uint64_t i = 0; i < count; i++) {
        const store_edge_rec_t *e = &edges[i];
        uint32_t s = store_node_slot(store, e->source);
        uint32_t t = store_node_slot(store, e->target);
        if (s == STORE_SLOT_NONE || t == STORE_SLOT_NONE || e->kind < 0 ||
            (uint32_t)e->kind >= store->kinds.count) {
            rc = ctx_err_set(err, CTX_ECORRUPT, "snapshot edge %llu (%lld -> %lld) is dangling",
                             (unsigned long long)i, (long long)e->source, (long long)e->target);
            goto fail;
        }
        adj_list_t *out = &store->nodes[s].out;
        const adj_entry_t *last = out->len ? store_adj_entries(store, out) + out->len - 1 : NULL;
        if (s < prev_slot || (last != NULL && adj_cmp(last, e->target, e->kind) >= 0)) {
            rc = ctx_err_set(err, CTX_ECORRUPT, "snapshot edge %llu is out of order",
                             (unsigned long long)i);
            goto fail;
        }
        prev_slot = s;
        if (adj_insert_grow(store, out, e->target, e->kind, e->weight, store->write_seq) !=
            CTX_OK) {
            rc = ctx_err_set(err, CTX_ENOMEM, "out of memory");
            goto fail;
        }
        in[i] = (restore_in_t){t, (uint32_t)e->kind, e->source, e->weight};
    }
    ctx_qsort(in, (size_t)count, sizeof(restore_in_t), restore_in_cmp);
    for (uint64_t i = 0; i < count; i++) {
        if (adj_insert_grow(store, &store->nodes[in[i].target_slot].in, in[i].source,
                            (int32_t)in[i].kind, in[i].weight, store->write_seq) != CTX_OK) {
            rc = ctx_err_set(err, CTX_ENOMEM, "out of memory");
            goto fail;
        }
    }
    store->edge_count += count;
fail:
    free(in);
    return rc;
}

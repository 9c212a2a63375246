/*
 * hnsw_io.c — the HNSW index's serialized form (drawn in hnsw.h) and its invariant check.
 *
 * The format is the index's own state written slot by slot, so loading is one sequential pass
 * that copies vectors and link lists into a freshly allocated index: no distance is computed and
 * no graph is rebuilt. Integers are little-endian (x86-64 memory order, asserted at compile
 * time), floats are their IEEE bits. Everything read is bounds-checked before use: a count beyond
 * its capacity, a link to a slot outside the index, an upper-layer link to a free or lower node,
 * a duplicate id or a CRC mismatch makes the load fail with CTX_ECORRUPT, never a crash later in
 * a search. Serializing the same index twice, or two indexes fed the same calls, gives the same
 * bytes, because the state itself is deterministic (see hnsw.c).
 */
#include "crc32c.h"
#include "hnsw_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hnsw_io.c writes host-order integers: little-endian hosts only"
#endif

enum { HEADER_BYTES = 48, CRC_BYTES = 4 };
static const uint8_t MAGIC[4] = {'H', 'N', 'S', 'W'};

static void put_u32(buf_t *b, uint32_t v) {
    buf_append(b, &v, sizeof(v));
}

static void put_u64(buf_t *b, uint64_t v) {
    buf_append(b, &v, sizeof(v));
}

static void put_links(buf_t *b, const uint32_t *links) {
    buf_append(b, links, sizeof(uint32_t) * (1 + (size_t)links[0]));
}

void hnsw_serialize(const hnsw_t *h, buf_t *out) {
    CTX_ASSERT(h != NULL && out != NULL);
    size_t start = out->len;
    buf_append(out, MAGIC, sizeof(MAGIC));
    buf_append_u8(out, HNSW_FORMAT_VERSION);
    buf_append_u8(out, (uint8_t)h->config.metric);
    buf_append_u8(out, 0);
    buf_append_u8(out, 0);
    put_u32(out, h->config.dims);
    put_u32(out, h->config.m);
    put_u32(out, h->config.ef_construction);
    put_u64(out, h->config.seed);
    put_u32(out, h->slots);
    put_u32(out, (uint32_t)h->count);
    put_u32(out, h->entry);
    put_u32(out, h->top);
    put_u32(out, h->free_count);
    CTX_ASSERT(out->len - start == HEADER_BYTES);
    buf_append(out, h->free_stack, sizeof(uint32_t) * h->free_count);
    for (uint32_t s = 0; s < h->slots; s++) {
        uint8_t level = h->levels[s];
        buf_append_u8(out, level);
        if (level == HNSW_LEVEL_FREE) {
            continue;
        }
        put_u64(out, (uint64_t)h->ids[s]);
        buf_append(out, hnsw_vec(h, s), sizeof(float) * h->config.dims);
        for (uint32_t l = 0; l <= level; l++) {
            put_links(out, hnsw_links(h, s, l));
        }
    }
    uint32_t crc = crc32c(0, out->data + start, out->len - start);
    put_u32(out, crc);
}

/* ---------------------------------------------------------------- load */

typedef struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool bad;
} reader_t;

static const uint8_t *rd_take(reader_t *r, size_t n) {
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p + r->pos;
    r->pos += n;
    return at;
}

static uint32_t rd_u32(reader_t *r) {
    uint32_t v = 0;
    const uint8_t *at = rd_take(r, sizeof(v));
    if (at != NULL) {
        memcpy(&v, at, sizeof(v));
    }
    return v;
}

static uint64_t rd_u64(reader_t *r) {
    uint64_t v = 0;
    const uint8_t *at = rd_take(r, sizeof(v));
    if (at != NULL) {
        memcpy(&v, at, sizeof(v));
    }
    return v;
}

static uint8_t rd_u8(reader_t *r) {
    const uint8_t *at = rd_take(r, 1);
    return at != NULL ? *at : 0;
}

/* Reads one link list into dst (capacity cap); every link must be < slots. */
static bool rd_links(reader_t *r, uint32_t *dst, uint32_t cap, uint32_t slots) {
    uint32_t n = rd_u32(r);
    if (r->bad || n > cap) {
        return false;
    }
    const uint8_t *at = rd_take(r, sizeof(uint32_t) * (size_t)n);
    if (at == NULL) {
        return false;
    }
    dst[0] = n;
    memcpy(dst + 1, at, sizeof(uint32_t) * (size_t)n);
    for (uint32_t i = 0; i < n; i++) {
        if (dst[1 + i] >= slots) {
            return false;
        }
    }
    return true;
}

static bool load_slot(reader_t *r, hnsw_t *h, uint32_t s) {
    uint8_t level = rd_u8(r);
    h->upper[s] = NULL;
    hnsw_links(h, s, 0)[0] = 0;
    if (level == HNSW_LEVEL_FREE) {
        h->levels[s] = HNSW_LEVEL_FREE;
        h->ids[s] = 0;
        hnsw_free_vector(h, s);
        return !r->bad;
    }
    int64_t id = (int64_t)rd_u64(r);
    const uint8_t *vec = rd_take(r, sizeof(float) * h->config.dims);
    if (vec == NULL || level > HNSW_LEVEL_MAX || hnsw_map_find(h, id) != HNSW_SLOT_NONE) {
        return false;
    }
    float *v = hnsw_vec(h, s);
    memcpy(v, vec, sizeof(float) * h->config.dims);
    for (uint32_t i = 0; i < h->dims_padded; i++) {
        if (i >= h->config.dims) {
            v[i] = 0.0f;
        } else if (!isfinite(v[i])) {
            return false;
        }
    }
    h->levels[s] = level;
    h->ids[s] = id;
    if (level > 0) {
        h->upper[s] = ctx_calloc((size_t)level * (1 + h->config.m), sizeof(uint32_t));
    }
    for (uint32_t l = 0; l <= level; l++) {
        if (!rd_links(r, hnsw_links(h, s, l), hnsw_cap(h, l), h->slots)) {
            return false;
        }
    }
    hnsw_map_put(h, id, s);
    h->count++;
    return true;
}

static int read_header(reader_t *r, hnsw_config_t *c, uint32_t *slots, ctx_err_t *err) {
    const uint8_t *magic = rd_take(r, sizeof(MAGIC));
    uint8_t version = rd_u8(r);
    uint8_t metric = rd_u8(r);
    rd_take(r, 2);
    c->dims = rd_u32(r);
    c->m = rd_u32(r);
    c->ef_construction = rd_u32(r);
    c->seed = rd_u64(r);
    c->metric = (metric_t)metric;
    *slots = rd_u32(r);
    if (r->bad || memcmp(magic, MAGIC, sizeof(MAGIC)) != 0) {
        return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: bad magic or short header");
    }
    if (version != HNSW_FORMAT_VERSION) {
        return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: unsupported format version %u", version);
    }
    ctx_err_t inner;
    ctx_err_clear(&inner);
    if (hnsw_validate_config(c, &inner) != CTX_OK || *slots > HNSW_SLOTS_MAX) {
        return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: bad parameters (%s)",
                           inner.code != CTX_OK ? inner.message : "slot count");
    }
    return CTX_OK;
}

static int load_body(reader_t *r, hnsw_t *h, uint32_t slots, ctx_err_t *err) {
    uint32_t live = rd_u32(r);
    h->entry = rd_u32(r);
    h->top = rd_u32(r);
    uint32_t nfree = rd_u32(r);
    if (r->bad || nfree > slots || live > slots) {
        return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: bad counts");
    }
    if (hnsw_reserve(h, slots) != CTX_OK) {
        return ctx_err_set(err, CTX_ENOMEM, "out of memory");
    }
    h->slots = slots;
    h->free_cap = nfree < 64 ? 64 : nfree;
    h->free_stack = ctx_malloc(sizeof(uint32_t) * h->free_cap);
    for (uint32_t i = 0; i < nfree; i++) {
        h->free_stack[i] = rd_u32(r);
    }
    h->free_count = nfree;
    for (uint32_t s = 0; s < slots; s++) {
        if (!load_slot(r, h, s)) {
            return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: bad record for slot %u", s);
        }
    }
    if (h->count != live || r->pos != r->len) {
        return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: live count or length mismatch");
    }
    ctx_err_t inner;
    ctx_err_clear(&inner);
    if (!hnsw_check(h, &inner)) {
        return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: %s", inner.message);
    }
    return CTX_OK;
}

int hnsw_load(const uint8_t *data, size_t len, hnsw_t **out, ctx_err_t *err) {
    CTX_ASSERT(out != NULL);
    CTX_ASSERT(data != NULL || len == 0);
    if (len < HEADER_BYTES + CRC_BYTES) {
        return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: %zu bytes is too short", len);
    }
    uint32_t stored;
    memcpy(&stored, data + len - CRC_BYTES, sizeof(stored));
    if (crc32c(0, data, len - CRC_BYTES) != stored) {
        return ctx_err_set(err, CTX_ECORRUPT, "hnsw index: checksum mismatch");
    }
    reader_t r = {.p = data, .len = len - CRC_BYTES};
    hnsw_config_t config;
    uint32_t slots;
    int rc = read_header(&r, &config, &slots, err);
    if (rc != CTX_OK) {
        return rc;
    }
    hnsw_t *h = hnsw_alloc(&config);
    rc = load_body(&r, h, slots, err);
    if (rc != CTX_OK) {
        hnsw_destroy(h);
        return rc;
    }
    *out = h;
    return CTX_OK;
}

/* ---------------------------------------------------------------- invariants */

static bool check_slot(const hnsw_t *h, uint32_t s, ctx_err_t *err) {
    uint8_t level = h->levels[s];
    if (level > HNSW_LEVEL_MAX) {
        ctx_err_set(err, CTX_EINTERNAL, "slot %u: level %u", s, level);
        return false;
    }
    if (hnsw_map_find(h, h->ids[s]) != s) {
        ctx_err_set(err, CTX_EINTERNAL, "slot %u: id map disagrees", s);
        return false;
    }
    for (uint32_t l = 0; l <= level; l++) {
        const uint32_t *links = hnsw_links(h, s, l);
        if (links[0] > hnsw_cap(h, l)) {
            ctx_err_set(err, CTX_EINTERNAL, "slot %u layer %u: %u links", s, l, links[0]);
            return false;
        }
        for (uint32_t i = 0; i < links[0]; i++) {
            uint32_t t = links[1 + i];
            bool bad = t >= h->slots || t == s;
            /* Upper layers never hold stale links (their repair is exact). */
            bad = bad || (l > 0 && (h->levels[t] == HNSW_LEVEL_FREE || h->levels[t] < l));
            for (uint32_t j = 0; j < i && !bad; j++) {
                bad = links[1 + j] == t;
            }
            if (bad) {
                ctx_err_set(err, CTX_EINTERNAL, "slot %u layer %u: bad link to %u", s, l, t);
                return false;
            }
        }
    }
    return true;
}

bool hnsw_check(const hnsw_t *h, ctx_err_t *err) {
    CTX_ASSERT(h != NULL);
    uint64_t live = 0, free_slots = 0;
    uint32_t top = 0;
    for (uint32_t s = 0; s < h->slots; s++) {
        if (h->levels[s] == HNSW_LEVEL_FREE) {
            free_slots++;
            continue;
        }
        live++;
        top = h->levels[s] > top ? h->levels[s] : top;
        if (!check_slot(h, s, err)) {
            return false;
        }
    }
    if (live != h->count || free_slots != h->free_count) {
        ctx_err_set(err, CTX_EINTERNAL, "counts: %llu live (%llu recorded), %llu free (%u)",
                    (unsigned long long)live, (unsigned long long)h->count,
                    (unsigned long long)free_slots, h->free_count);
        return false;
    }
    for (uint32_t i = 0; i < h->free_count; i++) {
        uint32_t s = h->free_stack[i];
        if (s >= h->slots || h->levels[s] != HNSW_LEVEL_FREE) {
            ctx_err_set(err, CTX_EINTERNAL, "free stack entry %u is not a free slot", s);
            return false;
        }
    }
    bool entry_ok = live == 0
                        ? h->entry == HNSW_SLOT_NONE
                        : (h->entry < h->slots && h->levels[h->entry] == top && h->top == top);
    if (!entry_ok) {
        ctx_err_set(err, CTX_EINTERNAL, "entry point %u (top %u) is not on the top level %u",
                    h->entry, h->top, top);
        return false;
    }
    return true;
}

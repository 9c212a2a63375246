/*
 * arena.c — chunked bump allocator (see arena.h).
 *
 * Chunks form a singly linked list, newest first. A request larger than half a chunk gets a chunk
 * of its own so that big rows do not waste the tail of the current chunk. The limit (arena.h) is
 * checked before a chunk is taken, against the bytes handed out; a reset that frees more than
 * ARENA_TRIM_BYTES calls malloc_trim so the pages go back to the system (glibc serves chunks
 * below its dynamic mmap threshold from the heap, which free() alone rarely shrinks). Chunks come
 * from ctx_try_malloc, so a refused malloc first spends the process's reserve (ctx.h): the
 * request is then served, the emergency makes arena_exhausted() true for every arena in use at
 * that moment (each remembers the emergency count at its first allocation since init or reset,
 * so an idle session's arena is not one of them), and a reset or destroy,
 * which gives memory back, tries to re-arm the reserve.
 */
#include "arena.h"

#include "ctx.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

enum { ARENA_ALIGN = 16, ARENA_CHUNK_MIN = 8192, ARENA_CHUNK_MAX = 8 << 20 };

/* Largest chunk a reset keeps for reuse. */
static const size_t ARENA_RETAIN_MAX = (size_t)32 << 20;
/* A reset that frees at least this much returns free heap memory to the system. */
static const size_t ARENA_TRIM_BYTES = (size_t)64 << 20;

struct arena_chunk {
    arena_chunk_t *next;
    size_t size; /* usable bytes in data[] */
    size_t used; /* bytes used in data[] */
    _Alignas(16) unsigned char data[];
};

void arena_init(arena_t *arena) {
    arena->head = NULL;
    arena->used_bytes = 0;
    arena->chunk_bytes = ARENA_CHUNK_MIN;
    arena->limit_bytes = 0;
    arena->exhausted = false;
    arena->over_limit = false;
    arena->emergencies = ctx_mem_emergencies();
}

void arena_destroy(arena_t *arena) {
    arena_chunk_t *chunk = arena->head;
    while (chunk != NULL) {
        arena_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    arena_init(arena);
    ctx_mem_rearm();
}

void arena_reset(arena_t *arena) {
    /* Keep the largest chunk (up to ARENA_RETAIN_MAX) so that a session whose statements need
     * a few MB reuses the same memory instead of faulting in fresh pages every statement. */
    arena_chunk_t *keep = NULL;
    arena_chunk_t *chunk = arena->head;
    size_t freed_bytes = 0;
    while (chunk != NULL) {
        arena_chunk_t *next = chunk->next;
        if (chunk->size <= ARENA_RETAIN_MAX && (keep == NULL || chunk->size > keep->size)) {
            if (keep != NULL) {
                freed_bytes += keep->size;
                free(keep);
            }
            keep = chunk;
        } else {
            freed_bytes += chunk->size;
            free(chunk);
        }
        chunk = next;
    }
#ifdef __GLIBC__
    if (freed_bytes >= ARENA_TRIM_BYTES) {
        malloc_trim(0);
    }
#endif
    if (keep != NULL) {
        keep->used = 0;
        keep->next = NULL;
    }
    arena->head = keep;
    arena->used_bytes = 0;
    arena->exhausted = false;
    arena->over_limit = false;
    ctx_mem_rearm(); /* the memory a failed statement held is back: take the reserve again */
    arena->emergencies = ctx_mem_emergencies();
    arena->chunk_bytes =
        keep != NULL && keep->size > ARENA_CHUNK_MIN ? keep->size : ARENA_CHUNK_MIN;
}

void arena_set_limit(arena_t *arena, size_t limit_bytes) {
    arena->limit_bytes = limit_bytes;
}

/* A chunk with size usable bytes, or NULL when malloc fails (or the size overflows). */
static arena_chunk_t *chunk_new(size_t size) {
    if (size > SIZE_MAX - sizeof(arena_chunk_t)) {
        return NULL;
    }
    arena_chunk_t *chunk = ctx_try_malloc(sizeof(arena_chunk_t) + size);
    if (chunk == NULL) {
        return NULL;
    }
    chunk->next = NULL;
    chunk->size = size;
    chunk->used = 0;
    return chunk;
}

/* The allocation both entry points share; NULL only when malloc fails. */
static void *arena_take(arena_t *arena, size_t rounded) {
    if (arena->used_bytes == 0) {
        arena->emergencies = ctx_mem_emergencies(); /* in use from now on */
    }
    arena_chunk_t *head = arena->head;
    if (head == NULL || head->size - head->used < rounded) {
        if (rounded > arena->chunk_bytes / 2 && head != NULL) {
            /* Big request: dedicated chunk placed behind the current head. */
            arena_chunk_t *big = chunk_new(rounded);
            if (big == NULL) {
                return NULL;
            }
            big->used = rounded;
            big->next = head->next;
            head->next = big;
            arena->used_bytes += rounded;
            return big->data;
        }
        size_t chunk_size = arena->chunk_bytes;
        while (chunk_size < rounded) {
            chunk_size *= 2;
        }
        arena_chunk_t *chunk = chunk_new(chunk_size);
        if (chunk == NULL) {
            return NULL;
        }
        chunk->next = head;
        arena->head = chunk;
        head = chunk;
        if (arena->chunk_bytes < ARENA_CHUNK_MAX) {
            arena->chunk_bytes *= 2;
        }
    }
    void *ptr = head->data + head->used;
    head->used += rounded;
    arena->used_bytes += rounded;
    return ptr;
}

/* size rounded up to the alignment, or 0 when that overflows. */
static size_t arena_round(size_t size) {
    if (size > SIZE_MAX - ARENA_ALIGN) {
        return 0;
    }
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    return rounded == 0 ? ARENA_ALIGN : rounded;
}

static bool arena_over_limit(const arena_t *arena, size_t rounded) {
    return arena->limit_bytes != 0 &&
           (rounded > arena->limit_bytes || arena->used_bytes > arena->limit_bytes - rounded);
}

void *arena_alloc(arena_t *arena, size_t size) {
    size_t rounded = arena_round(size);
    CTX_ASSERT(rounded >= size);
    if (arena_over_limit(arena, rounded)) {
        arena->exhausted = true;
        arena->over_limit = true;
    }
    void *ptr = arena_take(arena, rounded);
    if (ptr == NULL) {
        /* Only when even the reserve (ctx.h) could not cover it: no piece to hand out. */
        CTX_ERROR("out of memory: malloc of a %zu-byte arena chunk failed", rounded);
        abort();
    }
    return ptr;
}

void *arena_try_alloc(arena_t *arena, size_t size) {
    size_t rounded = arena_round(size);
    if (rounded == 0 || arena_over_limit(arena, rounded)) {
        arena->exhausted = true;
        arena->over_limit = true;
        return NULL;
    }
    void *ptr = arena_take(arena, rounded);
    if (ptr == NULL) {
        arena->exhausted = true;
    }
    return ptr;
}

bool arena_exhausted(const arena_t *arena) {
    return arena->exhausted ||
           (arena->used_bytes > 0 && ctx_mem_emergencies() != arena->emergencies);
}

void *arena_calloc(arena_t *arena, size_t count, size_t size) {
    CTX_ASSERT(size == 0 || count <= SIZE_MAX / size);
    void *ptr = arena_alloc(arena, count * size);
    memset(ptr, 0, count * size);
    return ptr;
}

void *arena_try_calloc(arena_t *arena, size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) {
        arena->exhausted = true;
        return NULL;
    }
    void *ptr = arena_try_alloc(arena, count * size);
    if (ptr != NULL) {
        memset(ptr, 0, count * size);
    }
    return ptr;
}

char *arena_strndup(arena_t *arena, const char *s, size_t len) {
    char *copy = arena_alloc(arena, len + 1);
    if (len > 0) { /* s may be NULL when len is 0 (an empty buffer) */
        memcpy(copy, s, len);
    }
    copy[len] = '\0';
    return copy;
}

char *arena_strdup(arena_t *arena, const char *s) {
    return arena_strndup(arena, s, strlen(s));
}

char *arena_vsprintf(arena_t *arena, const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int len = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    CTX_ASSERT(len >= 0);
    char *out = arena_alloc(arena, (size_t)len + 1);
    vsnprintf(out, (size_t)len + 1, fmt, ap);
    return out;
}

char *arena_sprintf(arena_t *arena, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *out = arena_vsprintf(arena, fmt, ap);
    va_end(ap);
    return out;
}

size_t arena_used_bytes(const arena_t *arena) {
    return arena->used_bytes;
}

int arena_limit_error(const arena_t *arena, const char *setting, struct ctx_err *err) {
    CTX_ASSERT(setting != NULL);
    ctx_err_set(err, CTX_ENOMEM, "out of memory");
    if (arena->limit_bytes == 0 || !arena->over_limit) {
        ctx_err_detail(err, "The system could not provide memory for the statement.");
        return CTX_ENOMEM;
    }
    char limit[32];
    arena_format_size(arena->limit_bytes, limit, sizeof(limit));
    ctx_err_detail(err, "The statement needed more memory than %s (%s) allows.", setting, limit);
    ctx_err_hint(err, "Add a WHERE clause or LIMIT, or raise %s.", setting);
    return CTX_ENOMEM;
}

static const struct {
    const char *unit;
    size_t bytes;
} arena_units[] = {{"TB", (size_t)1 << 40},
                   {"GB", (size_t)1 << 30},
                   {"MB", (size_t)1 << 20},
                   {"kB", (size_t)1 << 10},
                   {"B", 1}};

enum { ARENA_UNITS = sizeof(arena_units) / sizeof(arena_units[0]) };

int arena_parse_size(const char *text, size_t *bytes) {
    CTX_ASSERT(text != NULL && bytes != NULL);
    while (isspace((unsigned char)*text)) {
        text++;
    }
    if (!isdigit((unsigned char)*text)) {
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno != 0) {
        return -1;
    }
    while (isspace((unsigned char)*end)) {
        end++;
    }
    size_t unit = 1024; /* a bare number is kB, as for work_mem */
    if (*end != '\0') {
        unit = 0;
        for (int i = 0; i < ARENA_UNITS; i++) {
            size_t len = strlen(arena_units[i].unit);
            if (strncmp(end, arena_units[i].unit, len) == 0) {
                unit = arena_units[i].bytes;
                end += len;
                break;
            }
        }
        while (isspace((unsigned char)*end)) {
            end++;
        }
    }
    if (unit == 0 || *end != '\0' || n > SIZE_MAX / unit) {
        return -1;
    }
    size_t value = (size_t)n * unit;
    if (value != 0 && value < ARENA_LIMIT_MIN_BYTES) {
        return -1;
    }
    *bytes = value;
    return 0;
}

void arena_format_size(size_t bytes, char *out, size_t out_len) {
    CTX_ASSERT(out != NULL && out_len > 0);
    for (int i = 0; i < ARENA_UNITS; i++) {
        if (bytes != 0 && bytes % arena_units[i].bytes == 0) {
            snprintf(out, out_len, "%zu%s", bytes / arena_units[i].bytes, arena_units[i].unit);
            return;
        }
    }
    snprintf(out, out_len, "%zu", bytes); /* 0: no limit */
}

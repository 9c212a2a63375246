/*
 * arena.c — chunked bump allocator (see arena.h).
 *
 * Chunks form a singly linked list, newest first. A request larger than half a chunk gets a chunk
 * of its own so that big rows do not waste the tail of the current chunk.
 */
#include "arena.h"

#include "ctx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ARENA_ALIGN = 16, ARENA_CHUNK_MIN = 8192, ARENA_CHUNK_MAX = 8 << 20 };

/* Largest chunk a reset keeps for reuse. */
static const size_t ARENA_RETAIN_MAX = (size_t)32 << 20;

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
}

void arena_destroy(arena_t *arena) {
    arena_chunk_t *chunk = arena->head;
    while (chunk != NULL) {
        arena_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    arena_init(arena);
}

void arena_reset(arena_t *arena) {
    /* Keep the largest chunk (up to ARENA_RETAIN_MAX) so that a session whose statements need
     * a few MB reuses the same memory instead of faulting in fresh pages every statement. */
    arena_chunk_t *keep = NULL;
    arena_chunk_t *chunk = arena->head;
    while (chunk != NULL) {
        arena_chunk_t *next = chunk->next;
        if (chunk->size <= ARENA_RETAIN_MAX && (keep == NULL || chunk->size > keep->size)) {
            if (keep != NULL) {
                free(keep);
            }
            keep = chunk;
        } else {
            free(chunk);
        }
        chunk = next;
    }
    if (keep != NULL) {
        keep->used = 0;
        keep->next = NULL;
    }
    arena->head = keep;
    arena->used_bytes = 0;
    arena->chunk_bytes =
        keep != NULL && keep->size > ARENA_CHUNK_MIN ? keep->size : ARENA_CHUNK_MIN;
}

static arena_chunk_t *chunk_new(size_t size) {
    arena_chunk_t *chunk = ctx_malloc(sizeof(arena_chunk_t) + size);
    chunk->next = NULL;
    chunk->size = size;
    chunk->used = 0;
    return chunk;
}

void *arena_alloc(arena_t *arena, size_t size) {
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (rounded == 0) {
        rounded = ARENA_ALIGN;
    }
    CTX_ASSERT(rounded >= size);
    arena_chunk_t *head = arena->head;
    if (head == NULL || head->size - head->used < rounded) {
        if (rounded > arena->chunk_bytes / 2 && head != NULL) {
            /* Big request: dedicated chunk placed behind the current head. */
            arena_chunk_t *big = chunk_new(rounded);
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

void *arena_calloc(arena_t *arena, size_t count, size_t size) {
    CTX_ASSERT(size == 0 || count <= SIZE_MAX / size);
    void *ptr = arena_alloc(arena, count * size);
    memset(ptr, 0, count * size);
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

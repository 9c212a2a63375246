/*
 * arena.h — bump allocator for per-statement and per-row memory.
 *
 * Memory comes from chunks that grow geometrically; nothing is freed individually. arena_reset()
 * keeps the first chunk and frees the rest, so a session reuses one arena across statements without
 * returning to malloc in the steady state. Allocation never fails (ctx_malloc aborts on
 * exhaustion); callers that must bound memory check arena_used_bytes() against their own limit.
 */
#ifndef CTX_ARENA_H
#define CTX_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct arena_chunk arena_chunk_t;

typedef struct arena {
    arena_chunk_t *head; /* current chunk (newest) */
    size_t used_bytes;   /* bytes handed out since init/reset */
    size_t chunk_bytes;  /* size of the next chunk to allocate */
} arena_t;

/* Initializes an empty arena; the first chunk is allocated lazily. */
void arena_init(arena_t *arena);
/* Frees every chunk. The arena may be re-initialized afterwards. */
void arena_destroy(arena_t *arena);
/* Frees all memory handed out (keeps one chunk for reuse). Pointers from before become invalid. */
void arena_reset(arena_t *arena);
/* Returns size bytes aligned to 16; never NULL. Valid until the next reset/destroy. */
void *arena_alloc(arena_t *arena, size_t size);
/* Zeroed allocation. */
void *arena_calloc(arena_t *arena, size_t count, size_t size);
/* Copies len bytes and a terminating NUL. */
char *arena_strndup(arena_t *arena, const char *s, size_t len);
char *arena_strdup(arena_t *arena, const char *s);
/* printf into arena memory. */
char *arena_sprintf(arena_t *arena, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vsprintf(arena_t *arena, const char *fmt, va_list ap);
/* Total bytes handed out since init/reset. */
size_t arena_used_bytes(const arena_t *arena);

#endif

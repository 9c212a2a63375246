/*
 * arena.h — bump allocator for per-statement and per-row memory.
 *
 * Memory comes from chunks that grow geometrically; nothing is freed individually. arena_reset()
 * keeps the first chunk and frees the rest, so a session reuses one arena across statements without
 * returning to malloc in the steady state.
 *
 * Limit. An arena may carry a byte limit (the statement's statement_mem_limit). Two kinds of
 * allocation share it:
 *   - arena_try_alloc() is for memory whose size grows with the data (row sets, sort arrays, hash
 *     tables, COPY lines): it returns NULL, without allocating, when the request would take the
 *     arena past its limit or when malloc fails;
 *   - arena_alloc() is for small, bounded pieces (one value, one row's scratch): it never returns
 *     NULL; past the limit it still allocates but marks the arena exhausted.
 * Either way arena_exhausted() becomes true, and the code that loops over rows (the executor's
 * per-row poll, COPY's per-record step) turns that into 53200 with arena_limit_error(); so does
 * a memory emergency (ctx.h: malloc refused, the reserve was spent) begun while the arena was in
 * use. So
 * the arena overshoots its limit by at most what one row's bounded pieces take. arena_reset()
 * clears the exhausted mark (the limit stays) and gives freed memory back to the system
 * (malloc_trim) when a reset released a lot of it, so repeated failing statements do not grow the
 * process.
 */
#ifndef CTX_ARENA_H
#define CTX_ARENA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct arena_chunk arena_chunk_t;

typedef struct arena {
    arena_chunk_t *head;  /* current chunk (newest) */
    size_t used_bytes;    /* bytes handed out since init/reset */
    size_t chunk_bytes;   /* size of the next chunk to allocate */
    size_t limit_bytes;   /* 0 = no limit */
    bool exhausted;       /* the limit was reached or malloc failed since init/reset */
    bool over_limit;      /* it was the limit (not the system) */
    uint64_t emergencies; /* ctx_mem_emergencies() at the first allocation since init/reset */
} arena_t;

/* Smallest non-zero limit arena_parse_size() accepts for a statement (64 kB). */
enum { ARENA_LIMIT_MIN_BYTES = 64 * 1024 };

struct ctx_err;

/* Initializes an empty arena without a limit; the first chunk is allocated lazily. */
void arena_init(arena_t *arena);
/* Frees every chunk. The arena may be re-initialized afterwards. */
void arena_destroy(arena_t *arena);
/* Frees all memory handed out (keeps one chunk for reuse) and clears the exhausted mark; the
 * limit stays. Pointers from before become invalid. */
void arena_reset(arena_t *arena);
/* Sets the byte limit (0 = none) counted against arena_used_bytes(); takes effect for the next
 * allocation (bytes already handed out stay valid). */
void arena_set_limit(arena_t *arena, size_t limit_bytes);
/* Returns size bytes aligned to 16; never NULL, even past the limit (then marks the arena
 * exhausted). For small, bounded pieces only. Valid until the next reset/destroy. A refused
 * malloc is served from the process's reserve (ctx.h), which puts the process in the memory
 * emergency (arena_exhausted() true); only when the reserve cannot cover the piece either does
 * it log and abort. */
void *arena_alloc(arena_t *arena, size_t size);
/* Like arena_alloc but NULL (arena marked exhausted, nothing allocated) when the request would
 * pass the limit or malloc fails. For memory that grows with the data. */
void *arena_try_alloc(arena_t *arena, size_t size);
/* Whether an allocation reached the limit or malloc failed since init/reset, or a memory
 * emergency (ctx.h) began since the arena's first allocation after init/reset. */
bool arena_exhausted(const arena_t *arena);
/* Sets err to 53200 "out of memory" with a DETAIL naming the limit (setting names the setting,
 * e.g. "statement_mem_limit") and returns the code. */
int arena_limit_error(const arena_t *arena, const char *setting, struct ctx_err *err);
/* Parses a memory size as PostgreSQL's memory settings take it: an integer with an optional unit
 * B, kB, MB, GB or TB (spaces allowed before the unit); a bare number is kB. "0" is no limit.
 * Returns 0 and *bytes, or -1 for anything else (junk, overflow, a non-zero value below
 * ARENA_LIMIT_MIN_BYTES). */
int arena_parse_size(const char *text, size_t *bytes);
/* Formats bytes as PostgreSQL shows a memory setting ("64MB", "1GB", "1536kB") into out. */
void arena_format_size(size_t bytes, char *out, size_t out_len);
/* Zeroed allocation. */
void *arena_calloc(arena_t *arena, size_t count, size_t size);
/* Zeroed arena_try_alloc (NULL also when count * size overflows). */
void *arena_try_calloc(arena_t *arena, size_t count, size_t size);
/* Copies len bytes and a terminating NUL. */
char *arena_strndup(arena_t *arena, const char *s, size_t len);
char *arena_strdup(arena_t *arena, const char *s);
/* printf into arena memory. */
char *arena_sprintf(arena_t *arena, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vsprintf(arena_t *arena, const char *fmt, va_list ap);
/* Total bytes handed out since init/reset. */
size_t arena_used_bytes(const arena_t *arena);

#endif

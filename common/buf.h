/*
 * buf.h — growable byte buffer (like curl's dynbuf) used for socket I/O and message encoding.
 *
 * Data lives in [data + start, data + len). buf_consume() advances start; compaction happens
 * lazily when appending, so reading a stream message by message costs no memmove per message.
 *
 * Failure is sticky, as in curl's dynbuf: when the buffer cannot grow (memory refused even after
 * the reserve, ctx.h), it is marked failed, the append that failed and every later one are
 * no-ops, and buf_failed() says so. Whoever consumes the buffer checks that before using what it
 * holds -- conn.c discards a failed reply back to where the statement's reply began and sends a
 * 53200 ErrorResponse instead -- and buf_rewind() takes the buffer back to such a mark and clears
 * the failure. Callers bound sizes themselves too.
 */
#ifndef CTX_BUF_H
#define CTX_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *data;
    size_t start; /* first unconsumed byte */
    size_t len;   /* end of valid data */
    size_t cap;
    bool failed; /* an append could not get memory; appends are no-ops until buf_rewind */
} buf_t;

void buf_init(buf_t *buf);
void buf_free(buf_t *buf);
/* Empties the buffer, keeping its memory, and clears a failure. */
void buf_reset(buf_t *buf);
/* Whether an append failed for want of memory since init/reset/rewind (buf.h). */
static inline bool buf_failed(const buf_t *buf) {
    return buf->failed;
}
/* Drops everything past the first `size_mark` unconsumed bytes (a buf_size() taken earlier, with
 * nothing consumed since) and clears a failure; memory beyond what is kept goes back to the
 * system when the buffer had failed. */
void buf_rewind(buf_t *buf, size_t size_mark);
/* Unconsumed bytes and their count. */
/* A buffer that never held data peeks at a static empty array, never at NULL, so callers may
 * offset the pointer by 0 (NULL + 0 is undefined behaviour in C). */
extern const uint8_t buf_empty_bytes[1];
static inline const uint8_t *buf_peek(const buf_t *buf) {
    return buf->data != NULL ? buf->data + buf->start : buf_empty_bytes;
}
static inline size_t buf_size(const buf_t *buf) {
    return buf->len - buf->start;
}
/* Drops n bytes from the front (n <= buf_size). */
void buf_consume(buf_t *buf, size_t n);
/* Ensures room for `extra` more bytes; returns the write pointer (caller then buf_commit()s), or
 * NULL when memory is refused or the buffer had already failed (then it is marked failed). */
uint8_t *buf_reserve(buf_t *buf, size_t extra);
void buf_commit(buf_t *buf, size_t n);
void buf_append(buf_t *buf, const void *bytes, size_t n);
void buf_append_u8(buf_t *buf, uint8_t v);
void buf_append_u16be(buf_t *buf, uint16_t v);
void buf_append_u32be(buf_t *buf, uint32_t v);
void buf_append_u64be(buf_t *buf, uint64_t v);
/* Appends s including its terminating NUL (a pgwire "String"). */
void buf_append_cstr(buf_t *buf, const char *s);
void buf_printf(buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Overwrites 4 bytes at absolute offset `at` (>= start) with v big-endian (length back-patching).
 */
void buf_patch_u32be(buf_t *buf, size_t at, uint32_t v);

static inline uint16_t ctx_read_u16be(const uint8_t *p) {
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t ctx_read_u32be(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t ctx_read_u64be(const uint8_t *p) {
    return (uint64_t)ctx_read_u32be(p) << 32 | ctx_read_u32be(p + 4);
}

#endif

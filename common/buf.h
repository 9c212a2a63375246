/*
 * buf.h — growable byte buffer (like curl's dynbuf) used for socket I/O and message encoding.
 *
 * Data lives in [data + start, data + len). buf_consume() advances start; compaction happens
 * lazily when appending, so reading a stream message by message costs no memmove per message.
 * Appends never fail (ctx_realloc aborts on exhaustion); callers bound sizes themselves.
 */
#ifndef CTX_BUF_H
#define CTX_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *data;
    size_t start; /* first unconsumed byte */
    size_t len;   /* end of valid data */
    size_t cap;
} buf_t;

void buf_init(buf_t *buf);
void buf_free(buf_t *buf);
/* Empties the buffer, keeping its memory. */
void buf_reset(buf_t *buf);
/* Unconsumed bytes and their count. */
static inline const uint8_t *buf_peek(const buf_t *buf) {
    return buf->data != NULL ? buf->data + buf->start : buf->data; /* empty: no NULL + 0 */
}
static inline size_t buf_size(const buf_t *buf) {
    return buf->len - buf->start;
}
/* Drops n bytes from the front (n <= buf_size). */
void buf_consume(buf_t *buf, size_t n);
/* Ensures room for `extra` more bytes; returns the write pointer (caller then buf_commit()s). */
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

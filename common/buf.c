/*
 * buf.c — growable byte buffer (see buf.h).
 */
#include "buf.h"

#include "ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t buf_empty_bytes[1] = {0};

void buf_init(buf_t *buf) {
    memset(buf, 0, sizeof(*buf));
}

void buf_free(buf_t *buf) {
    free(buf->data);
    buf_init(buf);
}

void buf_reset(buf_t *buf) {
    buf->start = 0;
    buf->len = 0;
    buf->failed = false;
}

/* Below this a failed buffer's memory is kept on rewind; above it, shrunk to what it holds. */
static const size_t BUF_KEEP_BYTES = (size_t)1 << 20;

void buf_rewind(buf_t *buf, size_t size_mark) {
    CTX_ASSERT(size_mark <= buf_size(buf));
    buf->len = buf->start + size_mark;
    if (buf->failed && buf->cap > BUF_KEEP_BYTES && buf->len < buf->cap / 2) {
        memmove(buf->data, buf->data + buf->start, size_mark);
        buf->start = 0;
        buf->len = size_mark;
        size_t cap = size_mark < BUF_KEEP_BYTES ? BUF_KEEP_BYTES : size_mark;
        uint8_t *data = realloc(buf->data, cap); /* shrinking: failure keeps the old block */
        if (data != NULL) {
            buf->data = data;
            buf->cap = cap;
        }
    }
    buf->failed = false;
}

void buf_consume(buf_t *buf, size_t n) {
    CTX_ASSERT(n <= buf_size(buf));
    buf->start += n;
    if (buf->start == buf->len) {
        buf->start = 0;
        buf->len = 0;
    }
}

uint8_t *buf_reserve(buf_t *buf, size_t extra) {
    if (buf->failed) {
        return NULL;
    }
    if (buf->cap - buf->len >= extra) {
        return buf->data + buf->len;
    }
    if (buf->start > 0) {
        /* Compact: move unconsumed bytes to the front before growing. */
        memmove(buf->data, buf->data + buf->start, buf->len - buf->start);
        buf->len -= buf->start;
        buf->start = 0;
        if (buf->cap - buf->len >= extra) {
            return buf->data + buf->len;
        }
    }
    size_t cap = buf->cap == 0 ? 256 : buf->cap;
    while (cap - buf->len < extra) {
        if (cap > SIZE_MAX / 2) {
            buf->failed = true;
            return NULL;
        }
        cap *= 2;
    }
    uint8_t *data = ctx_try_realloc(buf->data, cap);
    if (data == NULL) {
        buf->failed = true; /* the old block and its bytes stay, for buf_rewind */
        return NULL;
    }
    buf->data = data;
    buf->cap = cap;
    return buf->data + buf->len;
}

void buf_commit(buf_t *buf, size_t n) {
    CTX_ASSERT(!buf->failed);
    CTX_ASSERT(buf->len + n <= buf->cap);
    buf->len += n;
}

void buf_append(buf_t *buf, const void *bytes, size_t n) {
    if (n == 0) {
        return;
    }
    uint8_t *dst = buf_reserve(buf, n);
    if (dst == NULL) {
        return;
    }
    memcpy(dst, bytes, n);
    buf->len += n;
}

void buf_append_u8(buf_t *buf, uint8_t v) {
    buf_append(buf, &v, 1);
}

void buf_append_u16be(buf_t *buf, uint16_t v) {
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    buf_append(buf, b, 2);
}

void buf_append_u32be(buf_t *buf, uint32_t v) {
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_append(buf, b, 4);
}

void buf_append_u64be(buf_t *buf, uint64_t v) {
    buf_append_u32be(buf, (uint32_t)(v >> 32));
    buf_append_u32be(buf, (uint32_t)v);
}

void buf_append_cstr(buf_t *buf, const char *s) {
    buf_append(buf, s, strlen(s) + 1);
}

void buf_printf(buf_t *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list copy;
    va_copy(copy, ap);
    int len = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    CTX_ASSERT(len >= 0);
    uint8_t *dst = buf_reserve(buf, (size_t)len + 1);
    if (dst != NULL) {
        vsnprintf((char *)dst, (size_t)len + 1, fmt, ap);
        buf->len += (size_t)len;
    }
    va_end(ap);
}

void buf_patch_u32be(buf_t *buf, size_t at, uint32_t v) {
    if (buf->failed) {
        return; /* the message is discarded anyway; its bytes may never have been appended */
    }
    CTX_ASSERT(at >= buf->start && at + 4 <= buf->len);
    buf->data[at] = (uint8_t)(v >> 24);
    buf->data[at + 1] = (uint8_t)(v >> 16);
    buf->data[at + 2] = (uint8_t)(v >> 8);
    buf->data[at + 3] = (uint8_t)v;
}

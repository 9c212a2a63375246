/*
 * utf8.h — validation of client text as UTF-8, the only encoding the server speaks.
 *
 * Every text that comes from a client and may be stored or echoed passes here: query text, Bind
 * parameters in text form, and every string a write puts into the store (labels, edge kinds,
 * props — checked once in cmd_batch_add, which every write path goes through: INSERT, UPDATE,
 * COPY in all formats, the HTTP API). Rules are PostgreSQL's (pg_utf8_islegal): no overlong
 * forms, no surrogates, nothing above U+10FFFF, and no NUL byte, which PostgreSQL refuses in
 * text as well. The error is PostgreSQL's: 22021 "invalid byte sequence for encoding "UTF8":
 * 0xNN …" naming the bytes of the first bad character.
 */
#ifndef CTX_UTF8_H
#define CTX_UTF8_H

#include "ctx.h"

#include <stddef.h>

/* Offset of the first byte that does not start a legal character (NUL included), or len when
 * all len bytes are valid. s may be NULL when len is 0. */
size_t utf8_invalid_at(const void *s, size_t len);

/* CTX_OK when s[0, len) is valid, else CTX_EBAD_ENCODING (22021) with PostgreSQL's message. */
int utf8_check(const void *s, size_t len, ctx_err_t *err);

#endif

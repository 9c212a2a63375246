/*
 * utf8.c — UTF-8 validation (see utf8.h). A linear scan: ASCII bytes are checked one at a time,
 * a multi-byte character by its length from the first byte and PostgreSQL's legality rules.
 */
#include "utf8.h"

#include <stdint.h>
#include <stdio.h>

/* Length of the character that starts with byte first (1 for a byte that starts none). */
static size_t utf8_len(uint8_t first) {
    if (first < 0x80) {
        return 1;
    }
    if ((first & 0xe0) == 0xc0) {
        return 2;
    }
    if ((first & 0xf0) == 0xe0) {
        return 3;
    }
    return (first & 0xf8) == 0xf0 ? 4 : 1;
}

/* Whether the len bytes at p form one legal UTF-8 character other than NUL. */
static bool utf8_legal(const uint8_t *p, size_t len) {
    uint8_t a = len > 1 ? p[1] : 0;
    switch (len) {
    case 1:
        return p[0] != 0 && p[0] < 0x80;
    case 2:
        return p[0] >= 0xc2 && a >= 0x80 && a <= 0xbf;
    case 3:
        if (p[2] < 0x80 || p[2] > 0xbf || a < 0x80 || a > 0xbf) {
            return false;
        }
        return !(p[0] == 0xe0 && a < 0xa0) && !(p[0] == 0xed && a > 0x9f);
    default:
        if (p[0] > 0xf4 || a < 0x80 || a > 0xbf || p[2] < 0x80 || p[2] > 0xbf || p[3] < 0x80 ||
            p[3] > 0xbf) {
            return false;
        }
        return !(p[0] == 0xf0 && a < 0x90) && !(p[0] == 0xf4 && a > 0x8f);
    }
}

size_t utf8_invalid_at(const void *s, size_t len) {
    const uint8_t *p = s;
    size_t i = 0;
    while (i < len) {
        if (p[i] != 0 && p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_len(p[i]);
        if (i + n > len || !utf8_legal(p + i, n)) {
            return i;
        }
        i += n;
    }
    return len;
}

int utf8_check(const void *s, size_t len, ctx_err_t *err) {
    size_t at = utf8_invalid_at(s, len);
    if (at == len) {
        return CTX_OK;
    }
    const uint8_t *p = (const uint8_t *)s + at;
    size_t n = utf8_len(p[0]);
    char bytes[32] = "";
    size_t used = 0;
    for (size_t k = 0; k < n && at + k < len; k++) {
        used += (size_t)snprintf(bytes + used, sizeof(bytes) - used, "%s0x%02x", k == 0 ? "" : " ",
                                 p[k]);
    }
    return ctx_err_set(err, CTX_EBAD_ENCODING, "invalid byte sequence for encoding \"UTF8\": %s",
                       bytes);
}

/*
 * blobcodec.c — whole-file compression with a byte shuffle (format and reasoning in blobcodec.h).
 *
 * Encoding cuts the input into BLOB_CHUNK_BYTES chunks; each is shuffled into a scratch buffer
 * (when the filter asks for it), compressed straight into the output, and kept raw (codec none)
 * when compression does not shrink it. Decoding first walks every chunk header and checks the
 * lengths against each other, the codec's largest ratio and the file size, and the CRC over the
 * whole file, before allocating the raw length: a damaged or hostile file cannot make it
 * allocate more than its chunks can produce. Each chunk must decode to exactly its raw length.
 */
#include "blobcodec.h"

#include "crc32c.h"

#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "blobs are little-endian");
_Static_assert(BLOB_CHUNK_BYTES <= LZ4_MAX_INPUT_SIZE, "a chunk fits LZ4's int lengths");

enum { BLOB_ZSTD_LEVEL = 3, BLOB_LZ4_RATIO_MAX = 256, BLOB_ZSTD_RATIO_MAX = 32768 };
static const uint8_t BLOB_MAGIC[4] = {'C', 'X', 'B', 'L'};

static void put32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}
static uint32_t get32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* dst[0..len) := src with byte b of word w moved to b * words + w (words = len / 4); the bytes
 * after the last whole word are copied as they are. unshuffle is the inverse. */
static void shuffle4(uint8_t *dst, const uint8_t *src, size_t len) {
    size_t words = len / 4;
    for (size_t w = 0; w < words; w++) {
        for (size_t b = 0; b < 4; b++) {
            dst[b * words + w] = src[w * 4 + b];
        }
    }
    memcpy(dst + words * 4, src + words * 4, len - words * 4);
}

static void unshuffle4(uint8_t *dst, const uint8_t *src, size_t len) {
    size_t words = len / 4;
    for (size_t w = 0; w < words; w++) {
        for (size_t b = 0; b < 4; b++) {
            dst[w * 4 + b] = src[b * words + w];
        }
    }
    memcpy(dst + words * 4, src + words * 4, len - words * 4);
}

/* Compresses src[0..len) into dst (capacity cap); 0 when it failed or did not shrink. */
static size_t compress_chunk(col_codec_t codec, const uint8_t *src, size_t len, uint8_t *dst,
                             size_t cap) {
    size_t out = 0;
    if (codec == COL_CODEC_LZ4) {
        int got = LZ4_compress_default((const char *)src, (char *)dst, (int)len, (int)cap);
        out = got > 0 ? (size_t)got : 0;
    } else {
        size_t got = ZSTD_compress(dst, cap, src, len, BLOB_ZSTD_LEVEL);
        out = ZSTD_isError(got) ? 0 : got;
    }
    return out < len ? out : 0;
}

void blob_encode(const uint8_t *raw, size_t len, col_codec_t codec, int filter, buf_t *out) {
    CTX_ASSERT(codec == COL_CODEC_LZ4 || codec == COL_CODEC_ZSTD);
    CTX_ASSERT(filter == BLOB_FILTER_NONE || filter == BLOB_FILTER_SHUFFLE4);
    size_t start = buf_size(out);
    uint8_t head[BLOB_HEADER_BYTES] = {0};
    memcpy(head, BLOB_MAGIC, 4);
    head[4] = BLOB_FORMAT_VERSION;
    head[5] = (uint8_t)filter;
    uint64_t len64 = len;
    memcpy(head + 8, &len64, 8);
    buf_append(out, head, sizeof(head));
    size_t bound = codec == COL_CODEC_LZ4 ? (size_t)LZ4_compressBound(BLOB_CHUNK_BYTES)
                                          : ZSTD_compressBound(BLOB_CHUNK_BYTES);
    uint8_t *shuffled = filter == BLOB_FILTER_SHUFFLE4 ? ctx_malloc(BLOB_CHUNK_BYTES) : NULL;
    for (size_t at = 0; at < len && !buf_failed(out); at += BLOB_CHUNK_BYTES) {
        size_t n = len - at < BLOB_CHUNK_BYTES ? len - at : BLOB_CHUNK_BYTES;
        const uint8_t *src = raw + at;
        if (shuffled != NULL) {
            shuffle4(shuffled, src, n);
            src = shuffled;
        }
        uint8_t *ch = buf_reserve(out, BLOB_CHUNK_HEADER_BYTES + bound);
        if (ch == NULL) {
            break; /* buf_failed(out) tells the caller */
        }
        memset(ch, 0, BLOB_CHUNK_HEADER_BYTES);
        size_t stored = compress_chunk(codec, src, n, ch + BLOB_CHUNK_HEADER_BYTES, bound);
        ch[8] = (uint8_t)(stored > 0 ? codec : COL_CODEC_NONE);
        if (stored == 0) {
            memcpy(ch + BLOB_CHUNK_HEADER_BYTES, src, n);
            stored = n;
        }
        put32(ch, (uint32_t)n);
        put32(ch + 4, (uint32_t)stored);
        buf_commit(out, BLOB_CHUNK_HEADER_BYTES + stored);
    }
    free(shuffled);
    if (!buf_failed(out)) {
        uint8_t crc[4];
        put32(crc, crc32c(0, buf_peek(out) + start, buf_size(out) - start));
        buf_append(out, crc, sizeof(crc));
    }
}

bool blob_is_encoded(const uint8_t *data, size_t len) {
    return len >= 4 && memcmp(data, BLOB_MAGIC, 4) == 0;
}

static int corrupt(ctx_err_t *err, const char *what) {
    return ctx_err_set(err, CTX_ECORRUPT, "compressed file: %s", what);
}

/* Walks the chunk headers of data[BLOB_HEADER_BYTES..body_end): every chunk's lengths must be
 * possible for its codec, each raw length a whole chunk but the last, and their sum raw. */
static int check_chunks(const uint8_t *data, size_t body_end, uint64_t raw, ctx_err_t *err) {
    size_t at = BLOB_HEADER_BYTES;
    uint64_t total = 0;
    while (at < body_end) {
        if (body_end - at < BLOB_CHUNK_HEADER_BYTES) {
            return corrupt(err, "truncated chunk header");
        }
        uint64_t n = get32(data + at);
        uint64_t stored = get32(data + at + 4);
        uint8_t codec = data[at + 8];
        uint64_t ratio = codec == COL_CODEC_LZ4 ? BLOB_LZ4_RATIO_MAX : BLOB_ZSTD_RATIO_MAX;
        bool ok = codec <= COL_CODEC_ZSTD && n > 0 && n <= BLOB_CHUNK_BYTES &&
                  stored <= body_end - at - BLOB_CHUNK_HEADER_BYTES &&
                  (codec == COL_CODEC_NONE ? stored == n : n <= stored * ratio) &&
                  (n == BLOB_CHUNK_BYTES || total + n == raw);
        if (!ok) {
            return corrupt(err, "bad chunk lengths");
        }
        total += n;
        at += BLOB_CHUNK_HEADER_BYTES + (size_t)stored;
    }
    return total == raw ? CTX_OK : corrupt(err, "chunks do not add up to the raw length");
}

/* Decodes one checked chunk into dst (exactly n bytes); scratch holds BLOB_CHUNK_BYTES. */
static bool decode_chunk(const uint8_t *ch, int filter, uint8_t *dst, uint8_t *scratch) {
    size_t n = get32(ch);
    size_t stored = get32(ch + 4);
    const uint8_t *src = ch + BLOB_CHUNK_HEADER_BYTES;
    uint8_t *plain = filter == BLOB_FILTER_SHUFFLE4 ? scratch : dst;
    if (ch[8] == COL_CODEC_NONE) {
        memcpy(plain, src, n);
    } else if (ch[8] == COL_CODEC_LZ4) {
        int got = LZ4_decompress_safe((const char *)src, (char *)plain, (int)stored, (int)n);
        if (got < 0 || (size_t)got != n) {
            return false;
        }
    } else {
        size_t got = ZSTD_decompress(plain, n, src, stored);
        if (ZSTD_isError(got) || got != n) {
            return false;
        }
    }
    if (filter == BLOB_FILTER_SHUFFLE4) {
        unshuffle4(dst, scratch, n);
    }
    return true;
}

int blob_decode(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len, ctx_err_t *err) {
    if (len < BLOB_HEADER_BYTES + 4 || !blob_is_encoded(data, len)) {
        return corrupt(err, "no header");
    }
    if (data[4] != BLOB_FORMAT_VERSION || data[5] > BLOB_FILTER_SHUFFLE4 || data[6] != 0 ||
        data[7] != 0) {
        return corrupt(err, "unknown version or filter");
    }
    if (crc32c(0, data, len - 4) != get32(data + len - 4)) {
        return corrupt(err, "checksum mismatch");
    }
    uint64_t raw = get64(data + 8);
    int rc = check_chunks(data, len - 4, raw, err);
    if (rc != CTX_OK) {
        return rc;
    }
    uint8_t *dst = ctx_try_malloc(raw > 0 ? (size_t)raw : 1);
    uint8_t *scratch = data[5] == BLOB_FILTER_SHUFFLE4 ? ctx_try_malloc(BLOB_CHUNK_BYTES) : NULL;
    if (dst == NULL || (data[5] == BLOB_FILTER_SHUFFLE4 && scratch == NULL)) {
        free(dst);
        free(scratch);
        return ctx_err_set(err, CTX_ENOMEM, "out of memory decoding %llu bytes",
                           (unsigned long long)raw);
    }
    size_t at = BLOB_HEADER_BYTES;
    size_t done = 0;
    while (at < len - 4) {
        if (!decode_chunk(data + at, data[5], dst + done, scratch)) {
            free(dst);
            free(scratch);
            return corrupt(err, "a chunk does not decode to its length");
        }
        done += get32(data + at);
        at += BLOB_CHUNK_HEADER_BYTES + get32(data + at + 4);
    }
    free(scratch);
    *out = dst;
    *out_len = (size_t)raw;
    return CTX_OK;
}

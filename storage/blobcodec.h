/*
 * blobcodec.h — a whole file compressed with the snapshot codec (lz4 | zstd) after a byte
 * shuffle, for snapshot files that are one opaque blob (the HNSW index) rather than columns.
 *
 * Format (little-endian):
 *   OFFSET SIZE DESCRIPTION
 *   0      4    magic "CXBL"
 *   4      1    format version (BLOB_FORMAT_VERSION)
 *   5      1    filter: 0 none, 1 byte shuffle of 4-byte words (BLOB_FILTER_SHUFFLE4)
 *   6      2    0
 *   8      8    raw (decoded) length
 *   16          chunks, in order, each covering BLOB_CHUNK_BYTES raw bytes (the last one fewer):
 *               u32 raw bytes, u32 stored bytes, u8 codec (col_codec_t; none when compressing
 *               did not shrink it), 3 × 0, then the stored bytes
 *   end-4  4    CRC32C of every byte before it
 * The shuffle (as Blosc's) stores byte 0 of every 4-byte word of a chunk, then byte 1, …: float
 * exponents and the high bytes of small integers become long runs the codec can use, where raw
 * float data barely compresses. Bytes after the last whole word stay in place. Chunks bound the
 * memory of one compression call and keep lengths within the codecs' 32-bit limits.
 */
#ifndef CTX_BLOBCODEC_H
#define CTX_BLOBCODEC_H

#include "buf.h"
#include "colfile.h"
#include "ctx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    BLOB_FORMAT_VERSION = 1,
    BLOB_FILTER_NONE = 0,
    BLOB_FILTER_SHUFFLE4 = 1,
    BLOB_HEADER_BYTES = 16,
    BLOB_CHUNK_HEADER_BYTES = 12,
    BLOB_CHUNK_BYTES = 16 * 1024 * 1024,
};

/* Appends the encoded form of raw[0..len) to out (codec: lz4 or zstd; filter: BLOB_FILTER_*). */
void blob_encode(const uint8_t *raw, size_t len, col_codec_t codec, int filter, buf_t *out);

/* True when data starts with the blob magic (other files are taken as they are). */
bool blob_is_encoded(const uint8_t *data, size_t len);

/* Decodes an encoded blob into a new allocation (*out, *out_len; free()). CTX_ECORRUPT on a bad
 * magic, version, filter, codec, length, chunk or CRC; nothing allocated then. */
int blob_decode(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len, ctx_err_t *err);

#endif

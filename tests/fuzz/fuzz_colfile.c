/*
 * fuzz_colfile.c — libFuzzer target: the snapshot column-file reader (storage/colfile.h).
 *
 * Input: one selector byte, then a column file. The reader takes a path, so the bytes are written
 * to a private file under $TMPDIR (one per process, rewritten for every input) and read back with
 * col_reader_open + col_reader_group until the end, an error, or FUZZ_GROUPS_MAX groups.
 * Selector bit 0 set: the header, group, chunk and trailer CRC32Cs are recomputed first (walking
 * the layout as far as the lengths allow), so mutations get past the checksums into the chunk
 * decoders (lz4, zstd, text length validation); clear: the bytes are read as they are. Every
 * group the reader returns is walked: each column's raw bytes, and for text columns every value
 * by its length prefix, as the snapshot loader reads them.
 */
#include "colfile.h"
#include "crc32c.h"
#include "ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { FUZZ_GROUPS_MAX = 64 };

static char fuzz_path[4096];
static volatile uint64_t fuzz_sink;

static uint32_t get32le(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64le(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put32le(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}

/* Recomputes the chunk CRCs of one group at b[at..len); returns the offset after it, or len. */
static size_t fix_group(uint8_t *b, size_t len, size_t at, int ncols) {
    if (len - at < COL_GROUP_HEADER_BYTES) {
        return len;
    }
    put32le(b + at + 8, crc32c(0, b + at, 8));
    at += COL_GROUP_HEADER_BYTES;
    for (int c = 0; c < ncols; c++) {
        if (len - at < COL_CHUNK_HEADER_BYTES) {
            return len;
        }
        uint8_t *ch = b + at;
        uint64_t stored = get64le(ch + 16);
        if (stored > len - at - COL_CHUNK_HEADER_BYTES) {
            return len;
        }
        uint32_t crc = crc32c(crc32c(0, ch, 4), ch + 8, 16);
        put32le(ch + 4, crc32c(crc, ch + COL_CHUNK_HEADER_BYTES, (size_t)stored));
        at += COL_CHUNK_HEADER_BYTES + (size_t)stored;
    }
    return at;
}

static void fix_crcs(uint8_t *b, size_t len) {
    if (len < COL_HEADER_BYTES) {
        return;
    }
    uint16_t n;
    memcpy(&n, b + 10, 2);
    if (n == 0 || n > COL_COLUMNS_MAX || len - COL_HEADER_BYTES < (size_t)n * COL_DESC_BYTES) {
        return;
    }
    size_t table = (size_t)n * COL_DESC_BYTES;
    put32le(b + 28, crc32c(crc32c(0, b, 28), b + COL_HEADER_BYTES, table));
    size_t at = COL_HEADER_BYTES + table;
    for (int g = 0; g < FUZZ_GROUPS_MAX && at < len; g++) {
        if (len - at >= COL_TRAILER_BYTES && memcmp(b + at, "CTXDBEND", 8) == 0) {
            put32le(b + at + 12, crc32c(0, b + at, 12));
            return;
        }
        at = fix_group(b, len, at, n);
    }
}

static void walk_group(const col_reader_t *r) {
    for (int c = 0; c < r->ncols; c++) {
        const uint8_t *d = r->data[c];
        uint64_t bytes = r->data_bytes[c];
        if (bytes > 0) {
            fuzz_sink += d[0] + d[bytes - 1];
        }
        if (r->cols[c].type != COL_TEXT) {
            continue;
        }
        /* raw text: rows × u32 length (UINT32_MAX = NULL), then the bytes */
        const uint8_t *text = d + 4 * (uint64_t)r->group_rows;
        for (uint32_t i = 0; i < r->group_rows; i++) {
            uint32_t n = get32le(d + 4 * (uint64_t)i);
            if (n != UINT32_MAX && n > 0) {
                fuzz_sink += text[0] + text[n - 1];
                text += n;
            }
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_path, sizeof(fuzz_path), "%s/fuzz_colfile.%d.col", tmp ? tmp : "/tmp",
             (int)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) {
        return 0;
    }
    size_t len = size - 1;
    uint8_t *bytes = malloc(len > 0 ? len : 1);
    memcpy(bytes, data + 1, len);
    if ((data[0] & 1) != 0) {
        fix_crcs(bytes, len);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (f == NULL || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
        abort(); /* the harness needs a writable TMPDIR */
    }
    free(bytes);
    col_reader_t r;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (col_reader_open(&r, fuzz_path, 0, &err) == CTX_OK) {
        for (int g = 0; g < FUZZ_GROUPS_MAX; g++) {
            ctx_err_clear(&err);
            if (col_reader_group(&r, &err) != 1) {
                break;
            }
            walk_group(&r);
        }
    }
    col_reader_close(&r);
    unlink(fuzz_path);
    return 0;
}

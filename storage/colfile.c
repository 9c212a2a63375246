/*
 * colfile.c — column files: writer and streaming reader (contract and raw encodings in colfile.h).
 *
 * File layout (integers little-endian):
 *   OFFSET SIZE DESCRIPTION
 *   0      8    magic "CTXDBCOL"
 *   8      2    format version (COL_FORMAT_VERSION)
 *   10     2    column count n
 *   12     4    file kind (col_kind_t)
 *   16     8    row count (all groups)
 *   24     4    reserved, 0
 *   28     4    crc32c of bytes 0..28 and of the column table
 *   32     24n  column table: u8 type, 3 × 0, u32 param, char name[16] (NUL-padded)
 *   then row groups:
 *          4    group number (0, 1, …)
 *          4    rows in this group
 *          4    crc32c of the 8 bytes before
 *          then n chunks:
 *          1    codec (col_codec_t; a chunk that does not shrink is stored with codec none)
 *          3    0
 *          4    crc32c of the chunk's other header bytes and its stored data
 *          8    raw (decoded) bytes
 *          8    stored bytes s
 *          s    data
 *   trailer:
 *          8    magic "CTXDBEND"
 *          4    group count
 *          4    crc32c of the 12 bytes before
 * Besides the per-part CRCs the writer returns the crc32c of the whole file, which the snapshot
 * metadata records, so a file swapped for another intact one is caught too (LESSONS: keep a
 * block's checksum in its parent). The reader streams group by group, so memory stays at one
 * group whatever the file size, and reports damage as file + byte offset.
 */
#include "colfile.h"

#include "crc32c.h"

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "column files are little-endian");
enum { COL_CHUNK_BYTES_MAX = 1 << 30, COL_ZSTD_LEVEL = 3 };
/* The most raw bytes a codec can decode from one stored byte: LZ4's largest ratio is 255 (a
 * match length grows by 255 per byte); a zstd RLE block decodes 4 stored bytes (3 header + 1)
 * into at most one 128 KiB block. */
enum { COL_LZ4_RATIO_MAX = 256, COL_ZSTD_RATIO_MAX = 32768 };

static const char COL_MAGIC[8] = {'C', 'T', 'X', 'D', 'B', 'C', 'O', 'L'};
static const char COL_END_MAGIC[8] = {'C', 'T', 'X', 'D', 'B', 'E', 'N', 'D'};

const char *col_codec_name(col_codec_t codec) {
    switch (codec) {
    case COL_CODEC_NONE:
        return "none";
    case COL_CODEC_LZ4:
        return "lz4";
    case COL_CODEC_ZSTD:
        return "zstd";
    }
    return "?";
}

int col_codec_parse(const char *name) {
    for (int c = COL_CODEC_NONE; c <= COL_CODEC_ZSTD; c++) {
        if (strcmp(name, col_codec_name((col_codec_t)c)) == 0) {
            return c;
        }
    }
    return -1;
}

const char *col_kind_name(uint32_t kind) {
    static const char *names[] = {"?", "nodes", "edges", "vectors", "labels", "kinds", "hnsw"};
    return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

uint64_t col_type_width(const col_desc_t *desc) {
    switch (desc->type) {
    case COL_I64:
    case COL_F64:
        return 8;
    case COL_U32:
        return 4;
    case COL_F32V:
        return 4 * (uint64_t)desc->param;
    default:
        return 0;
    }
}

static void put32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v) {
    memcpy(p, &v, 8);
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

/* ---------------------------------------------------------------- writer */

static int w_write(col_writer_t *w, const void *data, size_t len, ctx_err_t *err) {
    if (len > 0 && fwrite(data, 1, len, w->file) != len) {
        return ctx_err_set(err, fsu_errno_code(errno), "could not write \"%s\": %s", w->path,
                           strerror(errno));
    }
    w->crc = crc32c(w->crc, data, len);
    w->bytes += len;
    return CTX_OK;
}

int col_writer_open(col_writer_t *w, const char *path, uint32_t kind, const col_desc_t *cols,
                    int ncols, uint64_t rows, col_codec_t codec, ctx_err_t *err) {
    CTX_ASSERT(ncols > 0 && ncols <= COL_COLUMNS_MAX);
    CTX_ASSERT(codec <= COL_CODEC_ZSTD);
    memset(w, 0, sizeof(*w));
    int rc = fsu_path(w->path, err, "%s", path);
    if (rc != CTX_OK) {
        return rc;
    }
    w->file = fopen(path, "wbe");
    if (w->file == NULL) {
        return ctx_err_set(err, fsu_errno_code(errno), "could not create \"%s\": %s", path,
                           strerror(errno));
    }
    w->rows_expected = rows;
    w->ncols = ncols;
    w->codec = codec;
    w->level = COL_ZSTD_LEVEL;
    memcpy(w->cols, cols, sizeof(col_desc_t) * (size_t)ncols);
    uint8_t header[COL_HEADER_BYTES + COL_DESC_BYTES * COL_COLUMNS_MAX];
    memset(header, 0, sizeof(header));
    memcpy(header, COL_MAGIC, 8);
    uint16_t version = COL_FORMAT_VERSION;
    uint16_t n = (uint16_t)ncols;
    memcpy(header + 8, &version, 2);
    memcpy(header + 10, &n, 2);
    put32(header + 12, kind);
    put64(header + 16, rows);
    for (int c = 0; c < ncols; c++) {
        uint8_t *d = header + COL_HEADER_BYTES + COL_DESC_BYTES * c;
        CTX_ASSERT(cols[c].type >= COL_I64 && cols[c].type <= COL_F32V);
        d[0] = cols[c].type;
        put32(d + 4, cols[c].param);
        strncpy((char *)d + 8, cols[c].name, COL_NAME_BYTES - 1);
    }
    size_t total = COL_HEADER_BYTES + COL_DESC_BYTES * (size_t)ncols;
    uint32_t crc = crc32c(crc32c(0, header, 28), header + COL_HEADER_BYTES, total - 32);
    put32(header + 28, crc);
    return w_write(w, header, total, err);
}

/* Compresses src into w->scratch; returns the stored pointer/size and the codec used. */
static const void *w_compress(col_writer_t *w, const void *src, size_t len, size_t *stored,
                              uint8_t *codec) {
    *codec = COL_CODEC_NONE;
    *stored = len;
    if (w->codec == COL_CODEC_NONE || len == 0) {
        return src;
    }
    size_t bound =
        w->codec == COL_CODEC_LZ4 ? (size_t)LZ4_compressBound((int)len) : ZSTD_compressBound(len);
    if (bound > w->scratch_bytes) {
        free(w->scratch);
        w->scratch = ctx_malloc(bound);
        w->scratch_bytes = bound;
    }
    size_t out = 0;
    if (w->codec == COL_CODEC_LZ4) {
        int got = LZ4_compress_default(src, w->scratch, (int)len, (int)bound);
        out = got > 0 ? (size_t)got : 0;
    } else {
        size_t got = ZSTD_compress(w->scratch, bound, src, len, w->level);
        out = ZSTD_isError(got) ? 0 : got;
    }
    if (out == 0 || out >= len) {
        return src;
    }
    *codec = (uint8_t)w->codec;
    *stored = out;
    return w->scratch;
}

int col_writer_group(col_writer_t *w, uint32_t rows, const void *const *raw,
                     const uint64_t *raw_bytes, ctx_err_t *err) {
    CTX_ASSERT(rows > 0 && rows <= COL_GROUP_ROWS_MAX);
    CTX_ASSERT(w->rows_written + rows <= w->rows_expected);
    uint8_t gh[COL_GROUP_HEADER_BYTES];
    put32(gh, w->groups);
    put32(gh + 4, rows);
    put32(gh + 8, crc32c(0, gh, 8));
    int rc = w_write(w, gh, sizeof(gh), err);
    for (int c = 0; rc == CTX_OK && c < w->ncols; c++) {
        uint64_t width = col_type_width(&w->cols[c]);
        CTX_ASSERT(width == 0 || raw_bytes[c] == width * rows);
        CTX_ASSERT(raw_bytes[c] <= COL_CHUNK_BYTES_MAX);
        size_t stored = 0;
        uint8_t codec = 0;
        const void *data = w_compress(w, raw[c], (size_t)raw_bytes[c], &stored, &codec);
        uint8_t ch[COL_CHUNK_HEADER_BYTES];
        memset(ch, 0, sizeof(ch));
        ch[0] = codec;
        put64(ch + 8, raw_bytes[c]);
        put64(ch + 16, stored);
        uint32_t crc = crc32c(crc32c(crc32c(0, ch, 4), ch + 8, 16), data, stored);
        put32(ch + 4, crc);
        rc = w_write(w, ch, sizeof(ch), err);
        if (rc == CTX_OK) {
            rc = w_write(w, data, stored, err);
        }
    }
    w->groups++;
    w->rows_written += rows;
    return rc;
}

int col_writer_close(col_writer_t *w, uint32_t *crc, uint64_t *bytes, ctx_err_t *err) {
    if (w->rows_written != w->rows_expected) {
        return ctx_err_set(err, CTX_EINTERNAL, "\"%s\": %llu of %llu rows written", w->path,
                           (unsigned long long)w->rows_written,
                           (unsigned long long)w->rows_expected);
    }
    uint8_t tr[COL_TRAILER_BYTES];
    memcpy(tr, COL_END_MAGIC, 8);
    put32(tr + 8, w->groups);
    put32(tr + 12, crc32c(0, tr, 12));
    int rc = w_write(w, tr, sizeof(tr), err);
    int closed = fsu_close_synced(w->file, w->path, err);
    rc = rc == CTX_OK ? closed : rc;
    w->file = NULL;
    *crc = w->crc;
    *bytes = w->bytes;
    free(w->scratch);
    w->scratch = NULL;
    return rc;
}

void col_writer_abort(col_writer_t *w) {
    if (w->file != NULL) {
        fclose(w->file);
        w->file = NULL;
    }
    free(w->scratch);
    w->scratch = NULL;
}

/* ---------------------------------------------------------------- reader */

static int r_corrupt(col_reader_t *r, uint64_t offset, const char *what, ctx_err_t *err) {
    return ctx_err_set(err, CTX_ECORRUPT, "column file \"%s\" is corrupt at offset %llu: %s",
                       r->path, (unsigned long long)offset, what);
}

/* Reads exactly len bytes; a short read is corruption (truncated file). */
static int r_read(col_reader_t *r, void *dest, size_t len, ctx_err_t *err) {
    size_t got = len > 0 ? fread(dest, 1, len, r->file) : 0;
    if (got != len) {
        if (ferror(r->file)) {
            return ctx_err_set(err, CTX_EIO, "could not read \"%s\": %s", r->path, strerror(errno));
        }
        return r_corrupt(r, r->offset + got, "file is truncated", err);
    }
    r->crc = crc32c(r->crc, dest, len);
    r->offset += len;
    return CTX_OK;
}

int col_reader_open(col_reader_t *r, const char *path, uint32_t expect_kind, ctx_err_t *err) {
    memset(r, 0, sizeof(*r));
    int prc = fsu_path(r->path, err, "%s", path);
    if (prc != CTX_OK) {
        return prc;
    }
    r->file = fopen(path, "rbe");
    struct stat st;
    if (r->file == NULL || fstat(fileno(r->file), &st) != 0) {
        return ctx_err_set(err, CTX_EIO, "could not open \"%s\": %s", path, strerror(errno));
    }
    r->size = (uint64_t)st.st_size;
    uint8_t h[COL_HEADER_BYTES + COL_DESC_BYTES * COL_COLUMNS_MAX];
    int rc = r_read(r, h, COL_HEADER_BYTES, err);
    if (rc != CTX_OK) {
        return rc;
    }
    uint16_t version, n;
    memcpy(&version, h + 8, 2);
    memcpy(&n, h + 10, 2);
    if (memcmp(h, COL_MAGIC, 8) != 0 || version != COL_FORMAT_VERSION || n == 0 ||
        n > COL_COLUMNS_MAX) {
        return r_corrupt(r, 0, "bad header", err);
    }
    rc = r_read(r, h + COL_HEADER_BYTES, COL_DESC_BYTES * (size_t)n, err);
    if (rc != CTX_OK) {
        return rc;
    }
    uint32_t crc = crc32c(crc32c(0, h, 28), h + COL_HEADER_BYTES, COL_DESC_BYTES * (size_t)n);
    if (crc != get32(h + 28)) {
        return r_corrupt(r, 0, "header checksum mismatch", err);
    }
    r->kind = get32(h + 12);
    r->rows = get64(h + 16);
    r->ncols = n;
    if (expect_kind != 0 && r->kind != expect_kind) {
        return ctx_err_set(err, CTX_ECORRUPT, "\"%s\" holds %s, not %s", path,
                           col_kind_name(r->kind), col_kind_name(expect_kind));
    }
    for (int c = 0; c < n; c++) {
        const uint8_t *d = h + COL_HEADER_BYTES + COL_DESC_BYTES * c;
        r->cols[c].type = d[0];
        r->cols[c].param = get32(d + 4);
        memcpy(r->cols[c].name, d + 8, COL_NAME_BYTES);
        r->cols[c].name[COL_NAME_BYTES - 1] = '\0';
        if (d[0] < COL_I64 || d[0] > COL_F32V || (d[0] == COL_F32V && r->cols[c].param == 0)) {
            return r_corrupt(r, COL_HEADER_BYTES + COL_DESC_BYTES * (uint64_t)c, "bad column type",
                             err);
        }
    }
    return CTX_OK;
}

/* p with room for want bytes (+1): the old block (contents not kept) is freed first, so the
 * peak is one block; NULL with *cap 0 when memory ran out (then r_no_memory). */
static void *grow(void *p, uint64_t *cap, uint64_t want) {
    if (want <= *cap) {
        return p;
    }
    free(p);
    void *fresh = ctx_try_malloc((size_t)want + 1);
    *cap = fresh != NULL ? want : 0;
    return fresh;
}

static int r_no_memory(const col_reader_t *r, int c, uint64_t bytes, ctx_err_t *err) {
    ctx_err_set(err, CTX_ENOMEM, "out of memory");
    ctx_err_detail(err, "Failed on request of size %llu for column \"%s\" of a column file.",
                   (unsigned long long)bytes + 1, r->cols[c].name);
    return CTX_ENOMEM;
}

/* Checks a text chunk: rows lengths, then exactly the announced bytes. */
static bool text_chunk_valid(const uint8_t *data, uint64_t raw, uint32_t rows) {
    if (raw < 4 * (uint64_t)rows) {
        return false;
    }
    uint64_t total = 4 * (uint64_t)rows;
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t len = get32(data + 4 * (size_t)i);
        if (len != UINT32_MAX) {
            total += len;
        }
    }
    return total == raw;
}

/* Whether a chunk header's sizes can be true, checked before anything is allocated for them:
 * the stored bytes must fit in what remains of the file before the trailer, and the raw size
 * must be what the codec can produce from them (equal for none, at most the codec's largest
 * ratio otherwise) and rows × width for a fixed-width column. */
static bool r_chunk_sizes_valid(const col_reader_t *r, uint8_t codec, uint64_t raw, uint64_t stored,
                                uint64_t width, uint32_t rows) {
    uint64_t left = r->size > r->offset ? r->size - r->offset : 0;
    if (codec > COL_CODEC_ZSTD || raw > COL_CHUNK_BYTES_MAX || stored > COL_CHUNK_BYTES_MAX ||
        left < COL_TRAILER_BYTES || stored > left - COL_TRAILER_BYTES ||
        (width != 0 && raw != width * rows)) {
        return false;
    }
    switch (codec) {
    case COL_CODEC_NONE:
        return raw == stored;
    case COL_CODEC_LZ4:
        return raw <= stored * COL_LZ4_RATIO_MAX;
    default:
        return raw <= stored * COL_ZSTD_RATIO_MAX;
    }
}

static int r_chunk(col_reader_t *r, int c, uint32_t rows, ctx_err_t *err) {
    uint64_t at = r->offset;
    uint8_t ch[COL_CHUNK_HEADER_BYTES];
    int rc = r_read(r, ch, sizeof(ch), err);
    if (rc != CTX_OK) {
        return rc;
    }
    uint64_t raw = get64(ch + 8);
    uint64_t stored = get64(ch + 16);
    uint64_t width = col_type_width(&r->cols[c]);
    if (!r_chunk_sizes_valid(r, ch[0], raw, stored, width, rows)) {
        return r_corrupt(r, at, "bad chunk header", err);
    }
    void *dst = NULL;
    if (ch[0] == COL_CODEC_NONE) {
        r->data[c] = grow(r->data[c], &r->data_cap[c], stored);
        dst = r->data[c];
    } else {
        uint64_t cap = r->stored_cap;
        r->stored = grow(r->stored, &cap, stored);
        r->stored_cap = (size_t)cap;
        dst = r->stored;
    }
    if (dst == NULL) {
        return r_no_memory(r, c, stored, err);
    }
    rc = r_read(r, dst, (size_t)stored, err);
    if (rc != CTX_OK) {
        return rc;
    }
    uint32_t crc = crc32c(crc32c(crc32c(0, ch, 4), ch + 8, 16), dst, (size_t)stored);
    if (crc != get32(ch + 4)) {
        char what[160];
        snprintf(what, sizeof(what),
                 "chunk checksum mismatch (column \"%s\", chunk bytes %llu..%llu)", r->cols[c].name,
                 (unsigned long long)at, (unsigned long long)r->offset);
        return r_corrupt(r, at, what, err);
    }
    if (ch[0] == COL_CODEC_ZSTD && ZSTD_getFrameContentSize(dst, (size_t)stored) != raw) {
        return r_corrupt(r, at, "chunk does not decompress", err); /* before allocating raw */
    }
    if (ch[0] != COL_CODEC_NONE) {
        r->data[c] = grow(r->data[c], &r->data_cap[c], raw);
        if (r->data[c] == NULL) {
            return r_no_memory(r, c, raw, err);
        }
        bool ok;
        if (ch[0] == COL_CODEC_LZ4) {
            int got = LZ4_decompress_safe(r->stored, (char *)r->data[c], (int)stored, (int)raw);
            ok = got >= 0 && (uint64_t)got == raw;
        } else {
            size_t got = ZSTD_decompress(r->data[c], raw, r->stored, stored);
            ok = !ZSTD_isError(got) && got == raw;
        }
        if (!ok) {
            return r_corrupt(r, at, "chunk does not decompress", err);
        }
    }
    if (r->cols[c].type == COL_TEXT && !text_chunk_valid(r->data[c], raw, rows)) {
        return r_corrupt(r, at, "text chunk lengths disagree", err);
    }
    r->data_bytes[c] = raw;
    r->stats[c] = (col_chunk_stat_t){ch[0], raw, stored};
    return CTX_OK;
}

static int r_trailer(col_reader_t *r, const uint8_t *first4, ctx_err_t *err) {
    uint64_t at = r->offset - 4;
    uint8_t tr[COL_TRAILER_BYTES];
    memcpy(tr, first4, 4);
    int rc = r_read(r, tr + 4, COL_TRAILER_BYTES - 4, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (memcmp(tr, COL_END_MAGIC, 8) != 0 || get32(tr + 12) != crc32c(0, tr, 12) ||
        get32(tr + 8) != r->groups_read || r->rows_read != r->rows) {
        return r_corrupt(r, at, "bad trailer or row count", err);
    }
    uint8_t extra;
    if (fread(&extra, 1, 1, r->file) != 0) {
        return r_corrupt(r, r->offset, "bytes after the trailer", err);
    }
    return 0;
}

int col_reader_group(col_reader_t *r, ctx_err_t *err) {
    uint64_t at = r->offset;
    uint8_t gh[COL_GROUP_HEADER_BYTES];
    int rc = r_read(r, gh, 4, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (memcmp(gh, COL_END_MAGIC, 4) == 0) {
        return r_trailer(r, gh, err);
    }
    rc = r_read(r, gh + 4, 8, err);
    if (rc != CTX_OK) {
        return rc;
    }
    uint32_t rows = get32(gh + 4);
    if (get32(gh + 8) != crc32c(0, gh, 8) || get32(gh) != r->groups_read || rows == 0 ||
        rows > COL_GROUP_ROWS_MAX || r->rows_read + rows > r->rows) {
        return r_corrupt(r, at, "bad row group header", err);
    }
    for (int c = 0; c < r->ncols; c++) {
        rc = r_chunk(r, c, rows, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    r->group_rows = rows;
    r->rows_read += rows;
    r->groups_read++;
    return 1;
}

void col_reader_close(col_reader_t *r) {
    if (r->file != NULL) {
        fclose(r->file);
        r->file = NULL;
    }
    for (int c = 0; c < COL_COLUMNS_MAX; c++) {
        free(r->data[c]);
        r->data[c] = NULL;
    }
    free(r->stored);
    r->stored = NULL;
}

/*
 * colfile.h — the snapshot column file format (DESIGN §6): a header naming the columns, then row
 * groups, each holding one chunk per column; every chunk compressed with its own codec
 * (none | lz4 | zstd) and protected by its own crc32c. Pure format code: no knowledge of the
 * store; storage/snapshot.c maps tables to columns.
 *
 * Raw (uncompressed) chunk encodings, all little-endian:
 *   COL_I64   rows × int64            COL_U32   rows × uint32      COL_F64  rows × float64
 *   COL_TEXT  rows × uint32 length (0xFFFFFFFF = NULL), then the bytes of every non-NULL value
 *   COL_F32V  rows × param × float32 (row-major matrix; param = vector dimension)
 */
#ifndef CTX_COLFILE_H
#define CTX_COLFILE_H

#include "ctx.h"
#include "fsutil.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
    COL_FORMAT_VERSION = 1,
    COL_COLUMNS_MAX = 16,
    COL_NAME_BYTES = 16, /* including the NUL */
    COL_HEADER_BYTES = 32,
    COL_DESC_BYTES = 24,
    COL_GROUP_HEADER_BYTES = 12,
    COL_CHUNK_HEADER_BYTES = 24,
    COL_TRAILER_BYTES = 16,
    COL_GROUP_ROWS_MAX = 1 << 20,
    COL_TEXT_NULL = -1,
};
_Static_assert(COL_DESC_BYTES == 1 + 3 + 4 + COL_NAME_BYTES, "descriptor layout");

typedef enum { COL_CODEC_NONE = 0, COL_CODEC_LZ4 = 1, COL_CODEC_ZSTD = 2 } col_codec_t;
typedef enum { COL_I64 = 1, COL_U32 = 2, COL_F64 = 3, COL_TEXT = 4, COL_F32V = 5 } col_type_t;

/* File kinds (the header says what a file holds, so a misdirected file is caught). */
typedef enum {
    COL_KIND_NODES = 1,
    COL_KIND_EDGES = 2,
    COL_KIND_VECTORS = 3,
    COL_KIND_LABELS = 4,
    COL_KIND_KINDS = 5,
    COL_KIND_HNSW = 6, /* reserved for the vector index */
} col_kind_t;

typedef struct col_desc {
    uint8_t type;   /* col_type_t */
    uint32_t param; /* COL_F32V: dimension; else 0 */
    char name[COL_NAME_BYTES];
} col_desc_t;

const char *col_codec_name(col_codec_t codec);
/* Parses "none" | "lz4" | "zstd"; -1 when unknown. */
int col_codec_parse(const char *name);
const char *col_kind_name(uint32_t kind);
/* Bytes one row of a fixed-width column takes (0 for COL_TEXT). */
uint64_t col_type_width(const col_desc_t *desc);

/* ---- writer ---- */
typedef struct col_writer {
    FILE *file;
    char path[FSU_PATH_MAX];
    uint32_t crc; /* crc32c of every byte written so far */
    uint64_t bytes;
    uint64_t rows_expected;
    uint64_t rows_written;
    uint32_t groups;
    int ncols;
    col_desc_t cols[COL_COLUMNS_MAX];
    col_codec_t codec;
    int level;     /* zstd level (lz4 ignores it) */
    void *scratch; /* compression buffer */
    size_t scratch_bytes;
} col_writer_t;

/* Creates path (truncating) and writes the header for `rows` rows in total. */
int col_writer_open(col_writer_t *w, const char *path, uint32_t kind, const col_desc_t *cols,
                    int ncols, uint64_t rows, col_codec_t codec, ctx_err_t *err);
/* Appends one row group: raw[c] / raw_bytes[c] is column c's raw chunk for `rows` rows (fixed
 * width columns must have exactly rows × width bytes; asserted). */
int col_writer_group(col_writer_t *w, uint32_t rows, const void *const *raw,
                     const uint64_t *raw_bytes, ctx_err_t *err);
/* Writes the trailer, fsyncs and closes; *crc and *bytes describe the whole file (for the
 * snapshot metadata). Fails when fewer rows than announced were written. On any failure, or
 * when abandoning a writer, call col_writer_abort. */
int col_writer_close(col_writer_t *w, uint32_t *crc, uint64_t *bytes, ctx_err_t *err);
void col_writer_abort(col_writer_t *w);

/* ---- reader ---- */
typedef struct col_chunk_stat {
    uint8_t codec;
    uint64_t raw_bytes;
    uint64_t stored_bytes;
} col_chunk_stat_t;

typedef struct col_reader {
    FILE *file;
    char path[FSU_PATH_MAX];
    uint64_t offset; /* bytes consumed so far */
    uint64_t size;   /* the file's size when opened: what announced sizes must fit in */
    uint32_t crc;    /* crc32c of bytes consumed so far */
    uint32_t kind;
    uint64_t rows; /* announced in the header */
    uint64_t rows_read;
    uint32_t groups_read;
    int ncols;
    col_desc_t cols[COL_COLUMNS_MAX];
    /* the current group (valid until the next col_reader_group call) */
    uint32_t group_rows;
    uint8_t *data[COL_COLUMNS_MAX];
    uint64_t data_bytes[COL_COLUMNS_MAX];
    uint64_t data_cap[COL_COLUMNS_MAX];
    col_chunk_stat_t stats[COL_COLUMNS_MAX];
    void *stored;
    size_t stored_cap;
} col_reader_t;

/* Opens a file and validates its header and column table. expect_kind 0 accepts any kind. */
int col_reader_open(col_reader_t *r, const char *path, uint32_t expect_kind, ctx_err_t *err);
/* Reads and decodes the next row group into r->data[c] (raw encodings above; text columns are
 * validated: lengths within the chunk). Returns 1 with a group, 0 at a valid end of file (the
 * trailer matched and every announced row was read), or an error: CTX_ECORRUPT naming the file
 * and the byte offset of the damaged part. */
int col_reader_group(col_reader_t *r, ctx_err_t *err);
void col_reader_close(col_reader_t *r);

#endif

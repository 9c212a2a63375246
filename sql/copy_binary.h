/*
 * copy_binary.h — PostgreSQL's binary COPY format, framing only (sql/copy.c converts fields).
 *
 * A stream is an 11-byte signature "PGCOPY\n\377\r\n\0", an Int32 flags word (bit 16: OIDs
 * included, which we refuse; bits 17-31 are critical and must be zero), an Int32 header extension
 * length and that many bytes (skipped); then tuples, each an Int16 field count followed by that
 * many fields, each an Int32 length (-1 = NULL) and its bytes in the column type's binary
 * format (engine/types/binary.h); a field count of -1 is the trailer and ends the data. A stream
 * may end without the trailer, not inside a header or tuple. Every length is checked against the
 * bytes present before it is used; scanning a tuple costs a step per field, not per byte, so an
 * incomplete tuple can be re-scanned each time more bytes arrive.
 */
#ifndef CTX_COPY_BINARY_H
#define CTX_COPY_BINARY_H

#include "arena.h"
#include "buf.h"
#include "ctx.h"

#include <stddef.h>
#include <stdint.h>

enum { COPYBIN_SIGNATURE_LEN = 11 };

/* What the next bytes of a stream hold. */
typedef enum {
    COPYBIN_MORE = 0,    /* incomplete: wait for more bytes */
    COPYBIN_TUPLE = 1,   /* a complete tuple (or header) of *len bytes */
    COPYBIN_TRAILER = 2, /* the trailer (*len = 2) */
} copybin_status_t;

/* Parses the header at data[0, len): COPYBIN_TUPLE with *len_out its length, COPYBIN_MORE, or
 * a negative 22P04 error (bad signature, OIDs, critical flags, negative extension length). */
int copybin_header(const uint8_t *data, size_t len, size_t *len_out, ctx_err_t *err);

/* Frames the tuple at data[0, len) of a stream with nfields columns: COPYBIN_TUPLE (*len_out
 * its length), COPYBIN_TRAILER, COPYBIN_MORE, or a negative 22P04 error (wrong field count, a
 * field length below -1 or above max_field). */
int copybin_tuple(const uint8_t *data, size_t len, int nfields, size_t max_field, size_t *len_out,
                  ctx_err_t *err);

/* The i-th field of a complete tuple framed by copybin_tuple: *field (NULL for NULL) and *flen. */
void copybin_field(const uint8_t *tuple, int i, const uint8_t **field, uint32_t *flen);

/* The header a COPY TO writes (no flags, no extension) and the trailer. */
void copybin_put_header(buf_t *out);
void copybin_put_trailer(buf_t *out);

#endif

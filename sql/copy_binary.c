/*
 * copy_binary.c — framing of PostgreSQL's binary COPY stream (see copy_binary.h).
 */
#include "copy_binary.h"

#include <string.h>

static const uint8_t SIGNATURE[COPYBIN_SIGNATURE_LEN] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                                         '\n', 0xff, '\r', '\n', 0};

enum {
    FLAG_OIDS = 1u << 16,
    FLAGS_CRITICAL = 0xffff0000u, /* bits 16-31 */
};

int copybin_header(const uint8_t *data, size_t len, size_t *len_out, ctx_err_t *err) {
    size_t sig = len < COPYBIN_SIGNATURE_LEN ? len : COPYBIN_SIGNATURE_LEN;
    if (memcmp(data, SIGNATURE, sig) != 0) {
        return ctx_err_set(err, CTX_EBAD_COPY, "COPY file signature not recognized");
    }
    if (len < COPYBIN_SIGNATURE_LEN + 8) {
        return COPYBIN_MORE;
    }
    uint32_t flags = ctx_read_u32be(data + COPYBIN_SIGNATURE_LEN);
    if (flags & FLAG_OIDS) {
        return ctx_err_set(err, CTX_EBAD_COPY, "invalid COPY file header (WITH OIDS)");
    }
    if (flags & FLAGS_CRITICAL) {
        return ctx_err_set(err, CTX_EBAD_COPY, "unrecognized critical flags in COPY file header");
    }
    int32_t ext = (int32_t)ctx_read_u32be(data + COPYBIN_SIGNATURE_LEN + 4);
    if (ext < 0) {
        return ctx_err_set(err, CTX_EBAD_COPY, "invalid COPY file header (missing length)");
    }
    size_t total = COPYBIN_SIGNATURE_LEN + 8 + (size_t)ext;
    if (len < total) {
        return COPYBIN_MORE;
    }
    *len_out = total;
    return COPYBIN_TUPLE;
}

int copybin_tuple(const uint8_t *data, size_t len, int nfields, size_t max_field, size_t *len_out,
                  ctx_err_t *err) {
    if (len < 2) {
        return COPYBIN_MORE;
    }
    int16_t count = (int16_t)ctx_read_u16be(data);
    if (count == -1) {
        *len_out = 2;
        return COPYBIN_TRAILER;
    }
    if (count != nfields) {
        return ctx_err_set(err, CTX_EBAD_COPY, "row field count is %d, expected %d", count,
                           nfields);
    }
    size_t at = 2;
    for (int i = 0; i < nfields; i++) {
        if (len - at < 4) {
            return COPYBIN_MORE;
        }
        int32_t flen = (int32_t)ctx_read_u32be(data + at);
        at += 4;
        if (flen < -1 || (flen > 0 && (size_t)flen > max_field)) {
            return ctx_err_set(err, CTX_EBAD_COPY, "invalid field size");
        }
        if (flen > 0) {
            if (len - at < (size_t)flen) {
                return COPYBIN_MORE;
            }
            at += (size_t)flen;
        }
    }
    *len_out = at;
    return COPYBIN_TUPLE;
}

void copybin_field(const uint8_t *tuple, int i, const uint8_t **field, uint32_t *flen) {
    size_t at = 2;
    for (int k = 0;; k++) {
        int32_t n = (int32_t)ctx_read_u32be(tuple + at);
        at += 4;
        if (k == i) {
            *field = n < 0 ? NULL : tuple + at;
            *flen = n < 0 ? 0 : (uint32_t)n;
            return;
        }
        at += n > 0 ? (size_t)n : 0;
    }
}

void copybin_put_header(buf_t *out) {
    buf_append(out, SIGNATURE, sizeof(SIGNATURE));
    buf_append_u32be(out, 0); /* flags */
    buf_append_u32be(out, 0); /* header extension length */
}

void copybin_put_trailer(buf_t *out) {
    buf_append_u16be(out, 0xffff);
}

/*
 * fuzz_wal.c — libFuzzer target: the WAL segment and record decoders (storage/wal.h) and the
 * command batch decoder (engine/store/command.h), then applying each decoded batch to a store the
 * way recovery replays the log.
 *
 * Input: one selector byte, then the bytes of a WAL segment file (24-byte header, records).
 * Selector bit 0 set: every record's CRC32C is recomputed before decoding (the segment header's
 * too), so mutations reach cmd_decode and store_apply instead of stopping at the checksum; clear:
 * the bytes are decoded as they are, which exercises the corruption paths. Records are read as
 * recovery reads a segment: wal_record_decode until SHORT or CORRUPT, each WAL_TYPE_BATCH payload
 * through cmd_decode, and a batch that decodes is applied to a fresh 4-dimensional store
 * (errors such as 23505 are fine; an abort is a finding). Invariants checked here: a record's
 * extent (consumed) lies inside the bytes given, and a decoded batch re-encodes (cmd_encode) to
 * bytes that decode to the same encoding again.
 */
#include "arena.h"
#include "buf.h"
#include "command.h"
#include "crc32c.h"
#include "ctx.h"
#include "store.h"
#include "wal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FUZZ_DIMS = 4, FUZZ_RECORDS_MAX = 256 };

static void put_u32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes the CRC a record at p (avail bytes) must carry, when its length field fits. */
static void fix_record_crc(uint8_t *p, size_t avail) {
    if (avail < WAL_RECORD_HEADER_BYTES) {
        return;
    }
    uint32_t len = ctx_read_u32be(p);
    if (len > avail - WAL_RECORD_HEADER_BYTES) {
        return;
    }
    uint32_t crc = crc32c(0, p, 4);
    crc = crc32c(crc, p + 8, WAL_RECORD_HEADER_BYTES - 8 + (size_t)len);
    put_u32be(p + 4, crc);
}

/* decode → encode → decode → encode must reach a fixed point. */
static void check_roundtrip(const cmd_batch_t *batch, arena_t *arena) {
    buf_t first, second;
    buf_init(&first);
    buf_init(&second);
    cmd_encode(batch, &first);
    cmd_batch_t again;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (cmd_decode(buf_peek(&first), buf_size(&first), arena, &again, &err) != CTX_OK) {
        abort(); /* cmd_encode produced bytes cmd_decode refuses */
    }
    cmd_encode(&again, &second);
    if (buf_size(&first) != buf_size(&second) ||
        memcmp(buf_peek(&first), buf_peek(&second), buf_size(&first)) != 0) {
        abort(); /* the encoding is not stable */
    }
    buf_free(&first);
    buf_free(&second);
}

static void replay_payload(store_t *store, const wal_record_t *rec, arena_t *arena) {
    if (rec->type != WAL_TYPE_BATCH) {
        return;
    }
    cmd_batch_t batch;
    ctx_err_t err;
    ctx_err_clear(&err);
    if (cmd_decode(rec->payload, rec->len, arena, &batch, &err) != CTX_OK) {
        return;
    }
    check_roundtrip(&batch, arena);
    ctx_err_clear(&err);
    (void)store_apply(store, &batch, NULL, arena, NULL, &err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) {
        return 0;
    }
    bool fix_crc = (data[0] & 1) != 0;
    size_t len = size - 1;
    uint8_t *bytes = malloc(len > 0 ? len : 1);
    memcpy(bytes, data + 1, len);
    if (fix_crc && len >= WAL_SEGMENT_HEADER_BYTES) {
        uint32_t crc = crc32c(crc32c(0, bytes, 12), bytes + 16, 8);
        put_u32be(bytes + 12, crc);
    }
    uint64_t first_index = 0;
    size_t offset = 0;
    if (wal_segment_header_decode(bytes, len, &first_index) == CTX_OK) {
        offset = WAL_SEGMENT_HEADER_BYTES;
    }
    store_config_t config = {.vector_dims = FUZZ_DIMS};
    store_t *store = store_create(&config);
    arena_t arena;
    arena_init(&arena);
    for (int n = 0; n < FUZZ_RECORDS_MAX && offset < len; n++) {
        if (fix_crc) {
            fix_record_crc(bytes + offset, len - offset);
        }
        wal_record_t rec;
        size_t consumed = 0;
        wal_decode_t d = wal_record_decode(bytes + offset, len - offset, &rec, &consumed);
        if (d == WAL_DECODE_SHORT) {
            break;
        }
        if (consumed > len - offset || (d == WAL_DECODE_OK && consumed < WAL_RECORD_HEADER_BYTES)) {
            abort(); /* a record must lie inside the bytes given */
        }
        if (d == WAL_DECODE_CORRUPT) {
            break; /* recovery stops at the first damaged record */
        }
        replay_payload(store, &rec, &arena);
        offset += consumed;
    }
    arena_destroy(&arena);
    store_destroy(store);
    free(bytes);
    return 0;
}

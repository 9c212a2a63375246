/*
 * fuzz_raft.c — libFuzzer target: the Raft codec (raft/raft.h, raft_codec.c): messages as they
 * arrive from the network, hard state and membership changes as they are read from disk or log.
 *
 * Input: one selector byte, then the encoding. Selector bits 1-2 choose the decoder: 0 or 1
 * raft_msg_decode, 2 raft_hard_state_decode, 3 raft_conf_change_decode. Selector bit 0 set: the
 * CRC32C the encoding ends with is recomputed first, so mutations reach the field checks instead
 * of stopping at the checksum. The encodings are canonical, so anything a decoder accepts must
 * re-encode to exactly the input bytes; this is checked for all three (a decoder that accepts
 * what the encoder would never write, or an encoder assertion a decoded value can trip, is a
 * finding). Entry and snapshot data are read end to end (they point into the input).
 */
#include "buf.h"
#include "crc32c.h"
#include "ctx.h"
#include "raft.h"

#include <stdlib.h>
#include <string.h>

static volatile uint64_t fuzz_sink;

static void put_u32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void expect_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    if (alen != blen || memcmp(a, b, alen) != 0) {
        abort(); /* decode accepted bytes encode would not produce */
    }
}

static void fuzz_msg(const uint8_t *bytes, size_t len) {
    static raft_entry_t entries[RAFT_MSG_ENTRIES_MAX];
    raft_msg_t msg;
    if (raft_msg_decode(bytes, len, &msg, entries, RAFT_MSG_ENTRIES_MAX) != 0) {
        return;
    }
    for (uint32_t i = 0; i < msg.entries_count; i++) {
        if (msg.entries[i].len > 0) {
            fuzz_sink += msg.entries[i].data[0] + msg.entries[i].data[msg.entries[i].len - 1];
        }
    }
    if (msg.snapshot.len > 0) {
        fuzz_sink += msg.snapshot.data[0] + msg.snapshot.data[msg.snapshot.len - 1];
    }
    buf_t out;
    buf_init(&out);
    raft_msg_encode(&msg, &out);
    expect_same(bytes, len, buf_peek(&out), buf_size(&out));
    buf_free(&out);
}

static void fuzz_hard_state(const uint8_t *bytes, size_t len) {
    raft_hard_state_t hs;
    if (raft_hard_state_decode(bytes, len, &hs) != 0) {
        return;
    }
    uint8_t out[RAFT_HARD_STATE_SIZE];
    raft_hard_state_encode(&hs, out);
    expect_same(bytes, len, out, sizeof(out));
}

static void fuzz_conf_change(const uint8_t *bytes, size_t len) {
    raft_conf_op_t op;
    uint32_t node;
    if (raft_conf_change_decode(bytes, len, &op, &node) != 0) {
        return;
    }
    uint8_t out[RAFT_CONF_CHANGE_SIZE];
    raft_conf_change_encode(op, node, out);
    expect_same(bytes, len, out, sizeof(out));
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
    uint8_t selector = data[0];
    size_t len = size - 1;
    uint8_t *bytes = malloc(len > 0 ? len : 1);
    memcpy(bytes, data + 1, len);
    int which = (selector >> 1) & 3;
    /* Conf changes carry no CRC (the log entry around them does). */
    if ((selector & 1) != 0 && which != 3 && len >= 4) {
        put_u32be(bytes + len - 4, crc32c(0, bytes, len - 4));
    }
    if (which <= 1) {
        fuzz_msg(bytes, len);
    } else if (which == 2) {
        fuzz_hard_state(bytes, len);
    } else {
        fuzz_conf_change(bytes, len);
    }
    free(bytes);
    return 0;
}

/*
 * raft_codec.c — wire and disk encodings of the Raft core: messages, hard state, membership.
 *
 * Every encoding starts with a version byte (RAFT_VERSION) and ends with a CRC32C of all the
 * bytes before it, so a transport or a disk can hand us anything and we either decode exactly what
 * was encoded or refuse it (CTX_ECORRUPT). Integers are big-endian (network order, buf.h). The
 * decoder trusts nothing: every length is checked against the remaining bytes before use, and
 * entry data and snapshot data are returned as pointers into the input (no copy, no allocation).
 *
 * Message:
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     version (1)
 *   1       1     type (raft_msg_type_t)
 *   2       1     flags: bit 0 = reject; other bits 0
 *   3       1     reserved, 0
 *   4       4     from (node id)
 *   8       4     to (node id)
 *   12      8     term
 *   20      8     log_term
 *   28      8     index
 *   36      8     commit
 *   44      8     hint_index
 *   52      8     hint_term
 *   60      8     ctx
 *   68      4     n = entries_count (<= RAFT_MSG_ENTRIES_MAX)
 *   72      ...   n entries, each:  term u64 | index u64 | type u8 | len u32 | data[len]
 *                 (21 + len bytes; indexes must be msg.index + 1, + 2, ...)
 *   ...     ...   RAFT_MSG_SNAPSHOT only: index u64 | term u64 | conf | data_len u64 | data
 *   end-4   4     CRC32C of bytes [0, end-4)
 *
 * Membership (conf, inside snapshots):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     voters_count v (<= RAFT_VOTERS_MAX)
 *   1       1     learners_count l (<= RAFT_LEARNERS_MAX)
 *   2       4*v   voter ids
 *   2+4v    4*l   learner ids
 *
 * Hard state (RAFT_HARD_STATE_SIZE = 28 bytes):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     version (1)
 *   1       3     reserved, 0
 *   4       8     term
 *   12      4     vote
 *   16      8     commit (<= RAFT_COMMIT_MAX)
 *   24      4     CRC32C of bytes [0, 24)
 *
 * Membership change (data of a RAFT_ENTRY_CONF entry, RAFT_CONF_CHANGE_SIZE = 6 bytes):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     version (1)
 *   1       1     op (raft_conf_op_t: 1 add learner, 2 promote, 3 remove, 4 bootstrap voter)
 *   2       4     node id
 */
#include "raft.h"

#include "crc32c.h"
#include "ctx.h"

#include <string.h>

_Static_assert(RAFT_MSG_HEADER_SIZE == 72, "message header layout");
_Static_assert(RAFT_ENTRY_HEADER_SIZE == 8 + 8 + 1 + 4, "entry header layout");
_Static_assert(RAFT_HARD_STATE_SIZE == 1 + 3 + 8 + 4 + 8 + 4, "hard state layout");
_Static_assert(RAFT_CONF_CHANGE_SIZE == 1 + 1 + 4, "conf change layout");
_Static_assert(RAFT_VOTERS_MAX < 256 && RAFT_LEARNERS_MAX < 256, "conf counts fit a byte");

enum { RAFT_CRC_SIZE = 4, RAFT_FLAG_REJECT = 1 };

/* The largest commit index a hard state holds. Both directions enforce it: the encoder asserts
 * it, the decoder refuses anything above (CTX_EPROTOCOL), so a decoded hard state can always be
 * written back. */
static const uint64_t RAFT_COMMIT_MAX = UINT64_MAX / 2;

/* Bounds-checked reader over borrowed bytes; `bad` latches on the first overrun. */
typedef struct raft_reader {
    const uint8_t *p;
    size_t left;
    bool bad;
} raft_reader_t;

/* Takes n bytes; NULL (and bad latched) when fewer remain. */
static const uint8_t *reader_take(raft_reader_t *r, size_t n) {
    if (r->bad || r->left < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

/* Reads a byte (0 after an overrun). */
static uint8_t reader_u8(raft_reader_t *r) {
    const uint8_t *p = reader_take(r, 1);
    return p == NULL ? 0 : p[0];
}

/* Reads a big-endian u32 (0 after an overrun). */
static uint32_t reader_u32(raft_reader_t *r) {
    const uint8_t *p = reader_take(r, 4);
    return p == NULL ? 0 : ctx_read_u32be(p);
}

/* Reads a big-endian u64 (0 after an overrun). */
static uint64_t reader_u64(raft_reader_t *r) {
    const uint8_t *p = reader_take(r, 8);
    return p == NULL ? 0 : ctx_read_u64be(p);
}

/* Appends the membership layout drawn above. */
static void conf_encode(const raft_conf_t *conf, buf_t *out) {
    CTX_ASSERT(conf->voters_count <= RAFT_VOTERS_MAX);
    CTX_ASSERT(conf->learners_count <= RAFT_LEARNERS_MAX);
    buf_append_u8(out, conf->voters_count);
    buf_append_u8(out, conf->learners_count);
    for (int i = 0; i < conf->voters_count; i++) {
        buf_append_u32be(out, conf->voters[i]);
    }
    for (int i = 0; i < conf->learners_count; i++) {
        buf_append_u32be(out, conf->learners[i]);
    }
}

/* Decodes and validates a membership (ids non-zero and unique). */
static bool conf_decode(raft_reader_t *r, raft_conf_t *conf) {
    memset(conf, 0, sizeof(*conf));
    conf->voters_count = reader_u8(r);
    conf->learners_count = reader_u8(r);
    if (conf->voters_count > RAFT_VOTERS_MAX || conf->learners_count > RAFT_LEARNERS_MAX) {
        return false;
    }
    for (int i = 0; i < conf->voters_count; i++) {
        conf->voters[i] = reader_u32(r);
    }
    for (int i = 0; i < conf->learners_count; i++) {
        conf->learners[i] = reader_u32(r);
    }
    uint32_t ids[RAFT_MEMBERS_MAX];
    int n = 0;
    for (int i = 0; i < conf->voters_count; i++) {
        ids[n++] = conf->voters[i];
    }
    for (int i = 0; i < conf->learners_count; i++) {
        ids[n++] = conf->learners[i];
    }
    for (int i = 0; i < n; i++) {
        if (ids[i] == RAFT_NONE) {
            return false;
        }
        for (int j = 0; j < i; j++) {
            if (ids[i] == ids[j]) {
                return false;
            }
        }
    }
    return !r->bad;
}

/* See raft.h. Never fails (buffers grow); limits are asserted. */
void raft_msg_encode(const raft_msg_t *msg, buf_t *out) {
    CTX_ASSERT(msg->type >= 1 && msg->type <= RAFT_MSG_TYPE_MAX);
    CTX_ASSERT(msg->entries_count <= RAFT_MSG_ENTRIES_MAX);
    size_t start = buf_size(out);
    buf_append_u8(out, RAFT_VERSION);
    buf_append_u8(out, msg->type);
    buf_append_u8(out, msg->reject ? RAFT_FLAG_REJECT : 0);
    buf_append_u8(out, 0);
    buf_append_u32be(out, msg->from);
    buf_append_u32be(out, msg->to);
    buf_append_u64be(out, msg->term);
    buf_append_u64be(out, msg->log_term);
    buf_append_u64be(out, msg->index);
    buf_append_u64be(out, msg->commit);
    buf_append_u64be(out, msg->hint_index);
    buf_append_u64be(out, msg->hint_term);
    buf_append_u64be(out, msg->ctx);
    buf_append_u32be(out, msg->entries_count);
    CTX_ASSERT(buf_size(out) - start == RAFT_MSG_HEADER_SIZE);
    for (uint32_t i = 0; i < msg->entries_count; i++) {
        const raft_entry_t *e = &msg->entries[i];
        CTX_ASSERT(e->index == msg->index + 1 + i);
        CTX_ASSERT(e->len <= RAFT_ENTRY_BYTES_MAX);
        buf_append_u64be(out, e->term);
        buf_append_u64be(out, e->index);
        buf_append_u8(out, e->type);
        buf_append_u32be(out, e->len);
        buf_append(out, e->data, e->len);
    }
    if (msg->type == RAFT_MSG_SNAPSHOT) {
        CTX_ASSERT(msg->snapshot.len <= RAFT_SNAPSHOT_BYTES_MAX);
        buf_append_u64be(out, msg->snapshot.index);
        buf_append_u64be(out, msg->snapshot.term);
        conf_encode(&msg->snapshot.conf, out);
        buf_append_u64be(out, msg->snapshot.len);
        buf_append(out, msg->snapshot.data, (size_t)msg->snapshot.len);
    }
    const uint8_t *begin = buf_peek(out) + start;
    uint32_t crc = crc32c(0, begin, buf_size(out) - start);
    buf_append_u32be(out, crc);
}

/* Decodes the fixed header; returns false when malformed. */
static bool msg_decode_header(raft_reader_t *r, raft_msg_t *msg) {
    (void)reader_u8(r); /* version, checked by the caller */
    msg->type = reader_u8(r);
    uint8_t flags = reader_u8(r);
    uint8_t reserved = reader_u8(r);
    msg->reject = (flags & RAFT_FLAG_REJECT) != 0;
    msg->from = reader_u32(r);
    msg->to = reader_u32(r);
    msg->term = reader_u64(r);
    msg->log_term = reader_u64(r);
    msg->index = reader_u64(r);
    msg->commit = reader_u64(r);
    msg->hint_index = reader_u64(r);
    msg->hint_term = reader_u64(r);
    msg->ctx = reader_u64(r);
    msg->entries_count = reader_u32(r);
    return !r->bad && msg->type >= 1 && msg->type <= RAFT_MSG_TYPE_MAX &&
           (flags & ~RAFT_FLAG_REJECT) == 0 && reserved == 0 && msg->from != RAFT_NONE &&
           msg->to != RAFT_NONE;
}

/* Decodes msg->entries_count entry headers into entries; data points into the input. */
static bool msg_decode_entries(raft_reader_t *r, raft_msg_t *msg, raft_entry_t *entries) {
    for (uint32_t i = 0; i < msg->entries_count; i++) {
        raft_entry_t *e = &entries[i];
        e->term = reader_u64(r);
        e->index = reader_u64(r);
        e->type = reader_u8(r);
        e->len = reader_u32(r);
        if (r->bad || e->index != msg->index + 1 + i || e->term == 0 ||
            e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF ||
            e->len > RAFT_ENTRY_BYTES_MAX) {
            return false;
        }
        e->data = reader_take(r, e->len);
        if (e->data == NULL && e->len > 0) {
            return false;
        }
    }
    msg->entries = entries;
    return true;
}

int raft_msg_decode(const uint8_t *bytes, size_t len, raft_msg_t *msg, raft_entry_t *entries,
                    size_t entries_max) {
    CTX_ASSERT(msg != NULL);
    memset(msg, 0, sizeof(*msg));
    if (len < RAFT_MSG_HEADER_SIZE + RAFT_CRC_SIZE || bytes[0] != RAFT_VERSION) {
        return CTX_ECORRUPT;
    }
    size_t body = len - RAFT_CRC_SIZE;
    if (crc32c(0, bytes, body) != ctx_read_u32be(bytes + body)) {
        return CTX_ECORRUPT;
    }
    raft_reader_t r = {.p = bytes, .left = body, .bad = false};
    if (!msg_decode_header(&r, msg) || msg->entries_count > entries_max ||
        msg->entries_count > RAFT_MSG_ENTRIES_MAX || !msg_decode_entries(&r, msg, entries)) {
        goto malformed;
    }
    if (msg->type == RAFT_MSG_SNAPSHOT) {
        msg->snapshot.index = reader_u64(&r);
        msg->snapshot.term = reader_u64(&r);
        if (!conf_decode(&r, &msg->snapshot.conf)) {
            goto malformed;
        }
        msg->snapshot.len = reader_u64(&r);
        if (r.bad || msg->snapshot.len > RAFT_SNAPSHOT_BYTES_MAX) {
            goto malformed;
        }
        msg->snapshot.data = reader_take(&r, (size_t)msg->snapshot.len);
    }
    if (r.bad || r.left != 0) {
        goto malformed;
    }
    return 0;
malformed:
    memset(msg, 0, sizeof(*msg));
    return CTX_EPROTOCOL;
}

/* See raft.h; the layout is drawn above. */
void raft_hard_state_encode(const raft_hard_state_t *hs, uint8_t out[RAFT_HARD_STATE_SIZE]) {
    CTX_ASSERT(hs->commit <= RAFT_COMMIT_MAX);
    memset(out, 0, RAFT_HARD_STATE_SIZE);
    out[0] = RAFT_VERSION;
    for (int i = 0; i < 8; i++) {
        out[4 + i] = (uint8_t)(hs->term >> (56 - 8 * i));
        out[16 + i] = (uint8_t)(hs->commit >> (56 - 8 * i));
    }
    for (int i = 0; i < 4; i++) {
        out[12 + i] = (uint8_t)(hs->vote >> (24 - 8 * i));
    }
    uint32_t crc = crc32c(0, out, 24);
    for (int i = 0; i < 4; i++) {
        out[24 + i] = (uint8_t)(crc >> (24 - 8 * i));
    }
}

/* See raft.h: CTX_ECORRUPT on size/version/CRC mismatch, CTX_EPROTOCOL on reserved bytes or a
 * commit index above RAFT_COMMIT_MAX. */
int raft_hard_state_decode(const uint8_t *bytes, size_t len, raft_hard_state_t *hs) {
    CTX_ASSERT(hs != NULL);
    if (len != RAFT_HARD_STATE_SIZE || bytes[0] != RAFT_VERSION ||
        crc32c(0, bytes, 24) != ctx_read_u32be(bytes + 24)) {
        return CTX_ECORRUPT;
    }
    if (bytes[1] != 0 || bytes[2] != 0 || bytes[3] != 0) {
        return CTX_EPROTOCOL;
    }
    if (ctx_read_u64be(bytes + 16) > RAFT_COMMIT_MAX) {
        return CTX_EPROTOCOL;
    }
    hs->term = ctx_read_u64be(bytes + 4);
    hs->vote = ctx_read_u32be(bytes + 12);
    hs->commit = ctx_read_u64be(bytes + 16);
    return 0;
}

void raft_conf_change_encode(raft_conf_op_t op, uint32_t node, uint8_t out[RAFT_CONF_CHANGE_SIZE]) {
    CTX_ASSERT(op >= RAFT_CONF_ADD_LEARNER && op <= RAFT_CONF_BOOTSTRAP);
    CTX_ASSERT(node != RAFT_NONE);
    out[0] = RAFT_VERSION;
    out[1] = (uint8_t)op;
    for (int i = 0; i < 4; i++) {
        out[2 + i] = (uint8_t)(node >> (24 - 8 * i));
    }
}

/* See raft.h: CTX_ECORRUPT on size/version, CTX_EPROTOCOL on an unknown op or node 0. */
int raft_conf_change_decode(const uint8_t *bytes, size_t len, raft_conf_op_t *op, uint32_t *node) {
    if (len != RAFT_CONF_CHANGE_SIZE || bytes[0] != RAFT_VERSION) {
        return CTX_ECORRUPT;
    }
    if (bytes[1] < RAFT_CONF_ADD_LEARNER || bytes[1] > RAFT_CONF_BOOTSTRAP) {
        return CTX_EPROTOCOL;
    }
    *op = (raft_conf_op_t)bytes[1];
    *node = ctx_read_u32be(bytes + 2);
    return *node == RAFT_NONE ? CTX_EPROTOCOL : 0;
}

/* True when id is a voter of conf. */
bool raft_conf_is_voter(const raft_conf_t *conf, uint32_t id) {
    for (int i = 0; i < conf->voters_count; i++) {
        if (conf->voters[i] == id) {
            return true;
        }
    }
    return false;
}

/* True when id is a learner of conf. */
bool raft_conf_is_learner(const raft_conf_t *conf, uint32_t id) {
    for (int i = 0; i < conf->learners_count; i++) {
        if (conf->learners[i] == id) {
            return true;
        }
    }
    return false;
}

/* Removes id from an id array of *count elements, keeping order. */
static void ids_remove(uint32_t *ids, uint8_t *count, uint32_t id) {
    for (int i = 0; i < *count; i++) {
        if (ids[i] == id) {
            memmove(&ids[i], &ids[i + 1], (size_t)(*count - i - 1) * sizeof(ids[0]));
            (*count)--;
            return;
        }
    }
}

/* See raft.h. The rules: add only unknown ids, promote only learners, never remove the last voter.
 */
int raft_conf_apply(raft_conf_t *conf, raft_conf_op_t op, uint32_t node) {
    bool voter = raft_conf_is_voter(conf, node);
    bool learner = raft_conf_is_learner(conf, node);
    switch (op) {
    case RAFT_CONF_ADD_LEARNER:
        if (node == RAFT_NONE || voter || learner || conf->learners_count >= RAFT_LEARNERS_MAX) {
            return CTX_EBAD_PARAM;
        }
        conf->learners[conf->learners_count++] = node;
        return 0;
    case RAFT_CONF_PROMOTE:
        if (!learner || conf->voters_count >= RAFT_VOTERS_MAX) {
            return CTX_EBAD_PARAM;
        }
        ids_remove(conf->learners, &conf->learners_count, node);
        conf->voters[conf->voters_count++] = node;
        return 0;
    case RAFT_CONF_BOOTSTRAP:
        if (node == RAFT_NONE || voter || learner || conf->voters_count >= RAFT_VOTERS_MAX) {
            return CTX_EBAD_PARAM;
        }
        conf->voters[conf->voters_count++] = node;
        return 0;
    case RAFT_CONF_REMOVE:
        if (learner) {
            ids_remove(conf->learners, &conf->learners_count, node);
            return 0;
        }
        if (!voter || conf->voters_count <= 1) {
            return CTX_EBAD_PARAM;
        }
        ids_remove(conf->voters, &conf->voters_count, node);
        return 0;
    }
    return CTX_EBAD_PARAM;
}

/* Static names for traces. */
const char *raft_role_name(raft_role_t role) {
    static const char *names[] = {"follower", "pre-candidate", "candidate", "leader"};
    return (unsigned)role < 4 ? names[role] : "?";
}

/* Static names for traces. */
const char *raft_msg_type_name(uint8_t type) {
    static const char *names[] = {
        "?",           "pre-vote",    "pre-vote-resp",  "vote",           "vote-resp",
        "append",      "append-resp", "heartbeat",      "heartbeat-resp", "snapshot",
        "timeout-now", "read-index",  "read-index-resp"};
    return type <= RAFT_MSG_TYPE_MAX ? names[type] : "?";
}

/*
 * membership.c — address book, member records, transport peers and learner promotion (contract
 * and design in membership.h).
 *
 * The transport is told about a peer only through mb_sync_peers, which derives the peer set from
 * the Raft membership as of the newest log entry (a leader must reach a learner as soon as it
 * appends the change, as the Raft core does) and the book; the book only grows, so a record that
 * arrives before or after its membership entry ends in the same peer set. A peer that left is
 * dropped only after a grace period, so the notice of its removal can still reach it.
 */
#include "membership.h"

#include "crc32c.h"
#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mb_book_set(mb_book_t *book, const mb_member_t *m) {
    for (int i = 0; i < book->count; i++) {
        if (book->entries[i].id == m->id) {
            book->entries[i] = *m;
            return CTX_OK;
        }
    }
    if (book->count >= MB_BOOK_MAX) {
        return CTX_ELIMIT;
    }
    book->entries[book->count++] = *m;
    return CTX_OK;
}

const mb_member_t *mb_book_find(const mb_book_t *book, uint32_t id) {
    for (int i = 0; i < book->count; i++) {
        if (book->entries[i].id == id) {
            return &book->entries[i];
        }
    }
    return NULL;
}

int mb_parse_address(const char *text, mb_member_t *m, ctx_err_t *err) {
    const char *colon = strrchr(text, ':');
    size_t host_len = colon != NULL ? (size_t)(colon - text) : 0;
    char *end = NULL;
    errno = 0;
    unsigned long port = colon != NULL ? strtoul(colon + 1, &end, 10) : 0;
    if (colon == NULL || host_len == 0 || host_len >= MB_HOST_BYTES_MAX || errno != 0 ||
        colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
        ctx_err_set(err, CTX_EBAD_PARAM, "invalid member address \"%s\"", text);
        ctx_err_hint(err, "Give the new member's Raft address as 'host:port'.");
        return CTX_EBAD_PARAM;
    }
    memcpy(m->host, text, host_len);
    m->host[host_len] = '\0';
    m->raft_port = (uint16_t)port;
    return CTX_OK;
}

void mb_record_encode(const mb_member_t *m, buf_t *out) {
    size_t host_len = strnlen(m->host, MB_HOST_BYTES_MAX - 1);
    buf_append_u8(out, MB_RECORD_TAG);
    buf_append_u8(out, MB_RECORD_VERSION);
    buf_append_u32be(out, m->id);
    buf_append_u16be(out, m->raft_port);
    buf_append_u8(out, (uint8_t)host_len);
    buf_append(out, m->host, host_len);
}

bool mb_record_is(const uint8_t *bytes, size_t len) {
    return len >= 1 && bytes[0] == MB_RECORD_TAG;
}

int mb_record_decode(const uint8_t *bytes, size_t len, mb_member_t *out) {
    enum { FIXED = 1 + 1 + 4 + 2 + 1 };
    if (len < FIXED || bytes[0] != MB_RECORD_TAG || bytes[1] != MB_RECORD_VERSION ||
        len != FIXED + (size_t)bytes[8] || bytes[8] == 0) {
        return CTX_EPROTOCOL;
    }
    memset(out, 0, sizeof(*out));
    out->id =
        (uint32_t)bytes[2] << 24 | (uint32_t)bytes[3] << 16 | (uint32_t)bytes[4] << 8 | bytes[5];
    out->raft_port = (uint16_t)(bytes[6] << 8 | bytes[7]);
    memcpy(out->host, bytes + FIXED, bytes[8]);
    if (out->id == RAFT_NONE || out->raft_port == 0 || memchr(out->host, '\0', bytes[8])) {
        return CTX_EPROTOCOL;
    }
    return CTX_OK;
}

bool mb_conf_has(const raft_conf_t *conf, uint32_t id) {
    return raft_conf_is_voter(conf, id) || raft_conf_is_learner(conf, id);
}

int mb_change_check(const raft_conf_t *conf, bool add, uint32_t id, ctx_err_t *err) {
    if (add && mb_conf_has(conf, id)) {
        ctx_err_set(err, CTX_EDUP_OBJECT, "node %u is already a member of the cluster", id);
        return CTX_EDUP_OBJECT;
    }
    if (add && conf->learners_count >= RAFT_LEARNERS_MAX) {
        ctx_err_set(err, CTX_ELIMIT, "the cluster already has %d learners catching up",
                    RAFT_LEARNERS_MAX);
        return CTX_ELIMIT;
    }
    if (add && conf->voters_count + conf->learners_count >= RAFT_MEMBERS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "the cluster has %d members, the most it may have",
                           RAFT_MEMBERS_MAX);
    }
    if (!add && !mb_conf_has(conf, id)) {
        ctx_err_set(err, CTX_EUNDEF_OBJECT, "node %u is not a member of the cluster", id);
        return CTX_EUNDEF_OBJECT;
    }
    if (!add && raft_conf_is_voter(conf, id) && conf->voters_count == 1) {
        ctx_err_set(err, CTX_EPREREQ, "node %u is the cluster's last voter", id);
        ctx_err_hint(err, "Add another member first.");
        return CTX_EPREREQ;
    }
    return CTX_OK;
}

static bool mb_peers_has(const mb_peers_t *peers, uint32_t id) {
    for (int i = 0; i < peers->count; i++) {
        if (peers->ids[i] == id) {
            return true;
        }
    }
    return false;
}

static void mb_peers_add(rt_t *rt, mb_peers_t *peers, const mb_member_t *m) {
    rt_peer_t p = {.id = m->id, .port = m->raft_port};
    snprintf(p.host, sizeof(p.host), "%s", m->host);
    int rc = peers->count < RT_PEERS_MAX ? rt_add_peer(rt, &p) : CTX_ELIMIT;
    if (rc != CTX_OK) {
        CTX_WARN("cluster: could not add member %u (%s:%u) to the transport (%s)", m->id, m->host,
                 m->raft_port, ctx_sqlstate(rc));
        return;
    }
    peers->leave_ms[peers->count] = 0;
    peers->ids[peers->count++] = m->id;
    CTX_INFO("cluster: connecting to member %u at %s:%u", m->id, m->host, m->raft_port);
}

void mb_sync_peers(rt_t *rt, mb_peers_t *peers, const mb_book_t *book, const raft_conf_t *conf,
                   uint32_t self, uint64_t now_ms) {
    if (rt == NULL || conf->voters_count == 0) {
        return;
    }
    for (int i = 0; i < peers->count;) {
        uint32_t id = peers->ids[i];
        if (mb_conf_has(conf, id)) {
            peers->leave_ms[i++] = 0;
            continue;
        }
        if (peers->leave_ms[i] == 0) {
            peers->leave_ms[i++] = now_ms + MB_LEAVE_GRACE_MS;
            continue;
        }
        if (now_ms < peers->leave_ms[i]) {
            i++;
            continue;
        }
        (void)rt_remove_peer(rt, id);
        peers->count--;
        peers->ids[i] = peers->ids[peers->count];
        peers->leave_ms[i] = peers->leave_ms[peers->count];
        CTX_INFO("cluster: member %u left the membership; disconnected", id);
    }
    for (int i = 0; i < book->count; i++) {
        const mb_member_t *m = &book->entries[i];
        if (m->id != self && mb_conf_has(conf, m->id) && !mb_peers_has(peers, m->id)) {
            mb_peers_add(rt, peers, m);
        }
    }
}

uint32_t mb_promote_check(mb_promoter_t *pr, const raft_t *raft) {
    const raft_conf_t *conf = raft_conf(raft);
    uint64_t last = raft_last_index(raft);
    uint32_t due = RAFT_NONE;
    mb_promoter_t next;
    memset(&next, 0, sizeof(next));
    for (int i = 0; i < conf->learners_count; i++) {
        uint32_t id = conf->learners[i];
        uint32_t ticks = 0;
        for (int j = 0; j < RAFT_LEARNERS_MAX; j++) {
            ticks = pr->learner[j] == id ? pr->ticks[j] : ticks;
        }
        uint64_t match = 0;
        bool recent = false;
        bool close = raft_member_match(raft, id, &match, &recent) == CTX_OK && recent &&
                     match >= raft_commit_index(raft) && match + MB_CATCH_UP_ENTRIES >= last;
        ticks = close ? ticks + 1 : 0;
        next.learner[i] = id;
        next.ticks[i] = ticks;
        if (ticks >= MB_CATCH_UP_TICKS && due == RAFT_NONE) {
            due = id;
        }
    }
    *pr = next;
    return due;
}

/* ---------------------------------------------------------------- history and its file */

bool mb_history_add(mb_history_t *h, uint64_t index, const raft_conf_t *conf) {
    if (h->count > 0 && index <= h->index[h->count - 1]) {
        return false;
    }
    if (h->count == MB_HISTORY_MAX) {
        memmove(h->index, h->index + 1, sizeof(h->index[0]) * (MB_HISTORY_MAX - 1));
        memmove(h->conf, h->conf + 1, sizeof(h->conf[0]) * (MB_HISTORY_MAX - 1));
        h->count--;
    }
    h->index[h->count] = index;
    h->conf[h->count] = *conf;
    h->count++;
    return true;
}

bool mb_history_at(const mb_history_t *h, uint64_t index, raft_conf_t *out) {
    for (int i = h->count; i-- > 0;) {
        if (h->index[i] <= index) {
            *out = h->conf[i];
            return true;
        }
    }
    return false;
}

static const char MB_FILE_MAGIC[8] = {'C', 'T', 'X', 'M', 'E', 'M', 'B', '1'};

int mb_state_save(const char *path, const mb_history_t *h, const mb_book_t *book, ctx_err_t *err) {
    buf_t b;
    buf_init(&b);
    buf_append(&b, MB_FILE_MAGIC, sizeof(MB_FILE_MAGIC));
    buf_append_u32be(&b, (uint32_t)h->count);
    for (int i = 0; i < h->count; i++) {
        const raft_conf_t *c = &h->conf[i];
        buf_append_u64be(&b, h->index[i]);
        buf_append_u8(&b, c->voters_count);
        buf_append_u8(&b, c->learners_count);
        for (int v = 0; v < c->voters_count; v++) {
            buf_append_u32be(&b, c->voters[v]);
        }
        for (int l = 0; l < c->learners_count; l++) {
            buf_append_u32be(&b, c->learners[l]);
        }
    }
    buf_append_u32be(&b, (uint32_t)book->count);
    for (int i = 0; i < book->count; i++) {
        mb_record_encode(&book->entries[i], &b);
    }
    buf_append_u32be(&b, crc32c(0, buf_peek(&b), buf_size(&b)));
    int rc = buf_failed(&b) ? ctx_err_set(err, CTX_ENOMEM, "out of memory")
                            : fsu_write_atomic(path, buf_peek(&b), buf_size(&b), err);
    buf_free(&b);
    return rc;
}

typedef struct mb_reader {
    const uint8_t *p;
    size_t left;
    bool bad;
} mb_reader_t;

static uint64_t mb_read(mb_reader_t *r, int bytes) {
    uint64_t v = 0;
    if (r->bad || r->left < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < bytes; i++) {
        v = v << 8 | r->p[i];
    }
    r->p += bytes;
    r->left -= (size_t)bytes;
    return v;
}

static int mb_state_parse(mb_reader_t *r, mb_history_t *h, mb_book_t *book) {
    uint64_t n = mb_read(r, 4);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        raft_conf_t c;
        memset(&c, 0, sizeof(c));
        uint64_t index = mb_read(r, 8);
        c.voters_count = (uint8_t)mb_read(r, 1);
        c.learners_count = (uint8_t)mb_read(r, 1);
        r->bad |= c.voters_count > RAFT_VOTERS_MAX || c.learners_count > RAFT_LEARNERS_MAX;
        for (int v = 0; v < c.voters_count && !r->bad; v++) {
            c.voters[v] = (uint32_t)mb_read(r, 4);
        }
        for (int l = 0; l < c.learners_count && !r->bad; l++) {
            c.learners[l] = (uint32_t)mb_read(r, 4);
        }
        r->bad |= !r->bad && !mb_history_add(h, index, &c);
    }
    n = mb_read(r, 4);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        size_t len = r->left >= 9 ? 9 + (size_t)r->p[8] : 0;
        mb_member_t m;
        r->bad |= len == 0 || len > r->left || mb_record_decode(r->p, len, &m) != CTX_OK ||
                  mb_book_set(book, &m) != CTX_OK;
        if (!r->bad) {
            r->p += len;
            r->left -= len;
        }
    }
    return r->bad || r->left != 0 ? CTX_ECORRUPT : CTX_OK;
}

int mb_state_load(const char *path, mb_history_t *h, mb_book_t *book, ctx_err_t *err) {
    memset(h, 0, sizeof(*h));
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        return CTX_OK;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = fsu_read_all(path, 1 << 20, &data, &len, err);
    if (rc != CTX_OK) {
        return rc;
    }
    bool ok =
        len >= sizeof(MB_FILE_MAGIC) + 4 &&
        memcmp(data, MB_FILE_MAGIC, sizeof(MB_FILE_MAGIC)) == 0 &&
        crc32c(0, data, len - 4) == ((uint32_t)data[len - 4] << 24 | (uint32_t)data[len - 3] << 16 |
                                     (uint32_t)data[len - 2] << 8 | data[len - 1]);
    mb_reader_t r = {.p = data + sizeof(MB_FILE_MAGIC), .left = ok ? len - 4 - 8 : 0, .bad = !ok};
    rc = ok ? mb_state_parse(&r, h, book) : CTX_ECORRUPT;
    free(data);
    if (rc != CTX_OK) {
        memset(h, 0, sizeof(*h));
        return ctx_err_set(err, CTX_ECORRUPT, "%s is damaged", path);
    }
    return CTX_OK;
}

/*
 * membership.h — the bookkeeping behind ALTER CLUSTER (prefix mb_): where members are, which
 * transport peers follow from the Raft membership, and when a learner has caught up.
 *
 * Addresses travel in the Raft log. Raft's membership entries (raft.h, RAFT_ENTRY_CONF) carry
 * only an id, so ADD NODE also proposes a member record: a NORMAL entry whose first byte is
 * MB_RECORD_TAG (a command batch starts with its format version, 1 or 2, so the two never
 * mix up), stored in the WAL as WAL_TYPE_MEMBER. Every member applies it in log order into its
 * address book (mb_book_t) -- on restart too, from its own log -- so it can reach members that
 * are not in its static cluster_nodes. A record is inert by itself: only the ids in the Raft
 * membership become transport peers (mb_sync_peers).
 *
 * Leaving. A removed member stays a transport peer for MB_LEAVE_GRACE_MS after it left the
 * membership, so the members applying its removal can tell it (a frame of kind MB_KIND_REMOVED:
 * the Raft core stops replicating to a member the moment its removal is appended, so it would
 * never learn from the log) before the connection closes.
 *
 * Surviving snapshots. Raft computes the membership from the snapshot's and then the log's
 * membership entries, and a snapshot drops the entries before it. So every member keeps, in
 * <data_dir>/cluster-membership (mb_state_save: replaced atomically and durably whenever a
 * committed membership entry or member record is applied), the membership after each applied
 * membership entry (mb_history_t, the newest MB_HISTORY_MAX) and its address book; on restart
 * from a snapshot at index S the membership is the newest history entry at or before S.
 *
 * Promotion. The leader looks at each learner on every tick (mb_promote_check): a learner whose
 * match index is within MB_CATCH_UP_ENTRIES of the leader's last index and that answered
 * recently, for MB_CATCH_UP_TICKS ticks in a row, is due for RAFT_CONF_PROMOTE.
 *
 * Everything here runs on the event-loop thread; nothing allocates.
 */
#ifndef CTX_MEMBERSHIP_H
#define CTX_MEMBERSHIP_H

#include "buf.h"
#include "ctx.h"
#include "raft.h"
#include "transport.h"

#include <stdbool.h>
#include <stdint.h>

enum {
    MB_HOST_BYTES_MAX = 256, /* with its NUL */
    MB_BOOK_MAX = 16,        /* addresses remembered (RAFT_MEMBERS_MAX fits, with room for
                                the static ones that left) */
    MB_RECORD_TAG = 0xC7,    /* first byte of a member record */
    MB_RECORD_VERSION = 1,
    MB_CATCH_UP_ENTRIES = 256, /* a learner this close to the last index has caught up ... */
    MB_CATCH_UP_TICKS = 10,    /* ... when it stays so for this many ticks (100 ms) */
    MB_HISTORY_MAX = 64,       /* membership changes remembered in cluster-membership */
    MB_LEAVE_GRACE_MS = 1000,  /* a former member stays a transport peer this long */
    MB_KIND_REMOVED = 16,      /* transport frame kind: "you were removed" (payload: the
                                  removal's log index, u64 BE) */
};

typedef struct mb_member {
    uint32_t id;
    char host[MB_HOST_BYTES_MAX];
    uint16_t raft_port;
} mb_member_t;

/* Addresses by id; a later entry for an id replaces the earlier. */
typedef struct mb_book {
    mb_member_t entries[MB_BOOK_MAX];
    int count;
} mb_book_t;

/* Ids currently configured in the transport. */
typedef struct mb_peers {
    uint32_t ids[RT_PEERS_MAX];
    uint64_t leave_ms[RT_PEERS_MAX]; /* when it is dropped (0: a member) */
    int count;
} mb_peers_t;

typedef struct mb_promoter {
    uint32_t learner[RAFT_LEARNERS_MAX];
    uint32_t ticks[RAFT_LEARNERS_MAX];
} mb_promoter_t;

/* The membership after each applied membership entry, ascending indexes. */
typedef struct mb_history {
    uint64_t index[MB_HISTORY_MAX];
    raft_conf_t conf[MB_HISTORY_MAX];
    int count;
} mb_history_t;

/* Records conf as the membership from index on (an index at or below the newest is ignored: a
 * replayed entry); the oldest is dropped when full. True when it changed h. */
bool mb_history_add(mb_history_t *h, uint64_t index, const raft_conf_t *conf);
/* The membership as of index: the newest entry at or before it; false when none. */
bool mb_history_at(const mb_history_t *h, uint64_t index, raft_conf_t *out);

/* <data_dir>/cluster-membership: magic, version, history, book, CRC32C. A missing file loads as
 * empty; CTX_ECORRUPT for a damaged one, CTX_EIO when it cannot be read or written. */
int mb_state_save(const char *path, const mb_history_t *h, const mb_book_t *book, ctx_err_t *err);
int mb_state_load(const char *path, mb_history_t *h, mb_book_t *book, ctx_err_t *err);

/* Inserts or replaces m; CTX_ELIMIT when the book is full (nothing changed). */
int mb_book_set(mb_book_t *book, const mb_member_t *m);
const mb_member_t *mb_book_find(const mb_book_t *book, uint32_t id);

/* Parses "host:port" (port 1..65535, host non-empty, shorter than MB_HOST_BYTES_MAX) into m's
 * host and port; CTX_EBAD_PARAM with err set otherwise. */
int mb_parse_address(const char *text, mb_member_t *m, ctx_err_t *err);

/* The member record: tag, version, id (u32 BE), port (u16 BE), host length (u8), host. */
void mb_record_encode(const mb_member_t *m, buf_t *out);
/* True when bytes start like a member record (whether or not they decode). */
bool mb_record_is(const uint8_t *bytes, size_t len);
/* CTX_EPROTOCOL for a malformed or unknown-version record. */
int mb_record_decode(const uint8_t *bytes, size_t len, mb_member_t *out);

/* Makes the transport's peers the members of conf (voters and learners) other than self whose
 * address the book knows: adds the missing at once, removes those no longer members once
 * MB_LEAVE_GRACE_MS passed (now_ms: a monotonic clock). A conf without voters (a joiner that has
 * not learned the membership yet) changes nothing. peers tracks what the transport holds.
 * Failures are logged and retried on the next call; call it on every tick. */
void mb_sync_peers(rt_t *rt, mb_peers_t *peers, const mb_book_t *book, const raft_conf_t *conf,
                   uint32_t self, uint64_t now_ms);

/* Leader, once per tick: the learner due for promotion (see above), or RAFT_NONE. */
uint32_t mb_promote_check(mb_promoter_t *pr, const raft_t *raft);

/* ALTER CLUSTER's checks against conf (the membership as of the newest entry): 42710 (add) already
 * a member, 42704 (remove) not a member, 55000 removing the last voter, 54000 no room for
 * another learner or member. */
int mb_change_check(const raft_conf_t *conf, bool add, uint32_t id, ctx_err_t *err);

/* Whether id is a voter or learner of conf. */
bool mb_conf_has(const raft_conf_t *conf, uint32_t id);

#endif

/*
 * cluster_int.h — what cluster.c (the ready pipeline, applying, events, open/close) and
 * cluster_sql.c (the SQL hooks, the ReadIndex barrier, SHOW CLUSTER) share: the cluster's state
 * and the small helpers both use. Not a contract for anything outside server/cluster*.c.
 */
#ifndef CTX_CLUSTER_INT_H
#define CTX_CLUSTER_INT_H

#include "cluster.h"

#include "command.h"
#include "forward.h"
#include "metrics.h"
#include "raft.h"
#include "recovery.h"
#include "snapship.h"
#include "transport.h"
#include "wal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    CL_PENDING_MAX = RAFT_UNCOMMITTED_MAX + 64,
    CL_RING = 1 << 16,        /* indexes whose committed terms are remembered (then raft_term_at) */
    CL_ALONE_LOG_KEEP = 4096, /* entries a one-member cluster keeps in memory after applying */
    CL_RECV_MAX = 256,        /* transport frames stepped per notify round */
    CL_TICKS_CATCH_UP_MAX = 10,
    CL_ENC_KEEP_BYTES = 1 << 20,
    CL_PERSIST_MAX = 64, /* batches whose durability the core has yet to hear (then coalesced) */
};

/* The last entry of a batch handed to the WAL: raft_persisted once its ticket is durable. */
typedef struct cl_persist {
    uint64_t ticket, index, term;
} cl_persist_t;

typedef struct cl_pending {
    uint64_t index;
    uint64_t term;
    store_undo_t *undo; /* the batch itself stays in the Raft log (raft_entry_at) */
} cl_pending_t;

typedef struct cl_msg {
    uint32_t to;
    size_t off, len;
} cl_msg_t;

typedef struct cl_entry {
    uint64_t term, index;
    uint8_t type;
    size_t off;
    uint32_t len;
} cl_entry_t;

typedef enum { CL_STAGE_READY = 1, CL_STAGE_ROLLBACK = 2 } cl_stage_kind_t;

typedef struct cl_stage {
    struct cl_stage *next;
    cl_stage_kind_t kind;
    uint64_t ticket; /* 0: waits only for the stages before it */
    bool votes;      /* the batch changed the term or vote (early messages wait for it) */
    buf_t bytes;     /* message bytes and committed entries' data */
    cl_msg_t *msgs;
    size_t nmsgs;
    cl_entry_t *entries;
    size_t nentries;
    raft_read_state_t *reads;
    size_t nreads;
} cl_stage_t;

typedef struct cl_mark {
    uint64_t index;
    uint64_t term;
} cl_mark_t;

struct cluster {
    cluster_config_t cfg;
    cluster_member_t members[CLUSTER_MEMBERS_MAX];
    char secret[256];
    char advertise[CLUSTER_HOST_BYTES_MAX + 8];
    sql_db_t *db;
    durability_t *dur;
    wal_t *wal;
    raft_t *raft;
    raft_rng_t rng;
    rt_t *rt;
    ship_t *ship; /* snapshot shipping: pulls a snapshot the leader sends, serves ours */
    int efd;
    pthread_t ticker;
    atomic_bool stop;
    bool ticker_started;
    uint64_t last_tick_ms;
    /* soft state as of the last ready */
    raft_role_t role;
    uint32_t leader;
    uint64_t term;
    uint64_t term_start; /* first index of this node's leadership term */
    uint64_t applied;
    uint64_t applied_term;
    /* pipeline */
    cl_stage_t *head, *tail;
    int votes_stages; /* queued stages with votes set */
    uint64_t hs_term; /* term and vote of the newest batch handed over */
    uint32_t hs_vote;
    raft_hard_state_t hs_written;         /* the newest hard state handed to the WAL */
    uint64_t wal_ticket;                  /* ticket of the newest record handed to the WAL */
    cl_persist_t persist[CL_PERSIST_MAX]; /* ring, ticket order */
    size_t persist_head, persist_count;
    /* pending proposals, ring in index order */
    cl_pending_t *pending;
    size_t pending_head, pending_count;
    /* the term committed at recent indexes */
    cl_mark_t *committed;
    /* ReadIndex barrier */
    uint64_t read_issued; /* ctx of the newest request */
    uint64_t read_issued_ms;
    uint64_t read_confirmed; /* newest ctx confirmed */
    uint64_t read_index;     /* its commit index */
    buf_t enc;
    arena_t scratch;
    bool rollback_queued; /* a rollback stage is in the pipeline */
    /* membership (membership.h) */
    mb_book_t book;         /* addresses: cluster_nodes, then member records in log order */
    mb_peers_t peers;       /* what the transport holds */
    raft_conf_t conf_seen;  /* the membership the peers were last synced to */
    mb_promoter_t promoter; /* leader: learners on their way to voter */
    mb_history_t history;   /* membership after each applied membership entry */
    raft_conf_t applied_conf;
    char state_path[4096]; /* <data_dir>/cluster-membership, "" when not kept */
    bool was_member;       /* this node has been in the membership */
    bool removed;          /* ... and no longer is: it takes no part any more */
    /* published for the metrics thread (cl_metrics): role, term, commit, applied, leader */
    _Atomic uint64_t pub_role, pub_term, pub_commit, pub_applied, pub_leader;
};

static inline uint64_t cl_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void cl_wake(cluster_t *c) {
    uint64_t one = 1;
    ssize_t n = write(c->efd, &one, sizeof(one));
    (void)n;
}

/* Reply positions (the lsn of sql_commit_hooks_t): the entry's term and index in one number,
 * ordered as time is on one member (terms only grow). */
enum { CL_POS_INDEX_BITS = 40 };
static inline uint64_t cl_position(uint64_t term, uint64_t index) {
    return term << CL_POS_INDEX_BITS | index;
}
static inline uint64_t cl_pos_index(uint64_t pos) {
    return pos & ((UINT64_C(1) << CL_POS_INDEX_BITS) - 1);
}
static inline uint64_t cl_pos_term(uint64_t pos) {
    return pos >> CL_POS_INDEX_BITS;
}

static inline void cl_mark(cl_mark_t *ring, uint64_t index, uint64_t term) {
    ring[index % CL_RING] = (cl_mark_t){.index = index, .term = term};
}

static inline bool cl_marked(const cl_mark_t *ring, uint64_t index, uint64_t *term) {
    const cl_mark_t *m = &ring[index % CL_RING];
    if (m->index != index) {
        return false;
    }
    *term = m->term;
    return true;
}

static inline cl_pending_t *cl_pending_at(cluster_t *c, size_t i) {
    return &c->pending[(c->pending_head + i) % CL_PENDING_MAX];
}

/* cluster.c */
void cl_membership_changed(cluster_t *c);

/* cluster_sql.c: the hooks cluster_open installs */
int cl_write_check(void *ctx, bool forward, ctx_err_t *err);
int cl_log(void *ctx, const cmd_batch_t *batch, store_undo_t **undo, uint64_t *lsn, ctx_err_t *err);
uint64_t cl_visible_lsn(void *ctx);
int cl_members(void *ctx, arena_t *arena, sql_member_info_t **out, int *count, ctx_err_t *err);

#endif

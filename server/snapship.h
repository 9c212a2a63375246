/*
 * snapship.h — snapshot shipping between cluster members (DESIGN §7, prefix ship_): a follower
 * whose missing log entries the leader has compacted away pulls the leader's current snapshot --
 * column files, HNSW index, metadata -- in CRC-checked chunks, verifies it whole, adopts it as its
 * own newest snapshot and restarts into it. The frames travel as RT_KIND_SNAPSHOT over the
 * cluster transport (raft/transport.h), so they are authenticated by the cluster secret's
 * handshake exactly as Raft traffic is. Frame layout and state machine: snapship.c.
 *
 * Pulling (the follower): ship_begin asks `leader` for its current snapshot if that covers at
 * least `index`; the files are then fetched in metadata order, chunk by chunk, with a bounded
 * window of requests in flight. A chunk is written only when its CRC32C, snapshot id, file and
 * offset are the expected ones; anything else is refused (counted, logged) and re-requested.
 * The verified position is kept on disk in the staging directory (partial files, `meta.json`,
 * `progress`), so a dropped connection re-requests from it and a restarted member resumes at it
 * when the leader still offers the same snapshot. A snapshot the leader deleted mid-transfer
 * (VACUUM) is answered GONE: the staging directory is emptied and the transfer starts over with
 * the leader's current snapshot.
 *
 * Installing: every file is checked whole (snap_file_scan: size, whole-file and chunk CRCs),
 * adopted into the snapshot root under a fresh local id (snap_adopt, metadata last) and made
 * current; hooks.restart then runs (the server: ship_restart, which cuts the WAL after the
 * snapshot's index, fsyncs it and re-executes the process so that start-up recovery loads the
 * snapshot like any local one -- one load path for both).
 *
 * Serving (any member; in practice the leader) answers from its own snapshot root, one open and
 * pread per chunk, for at most SHIP_SERVE_MAX peers at a time (others get BUSY and retry).
 *
 * Threads: one thread at a time (the server's event loop). Every function that can fail returns
 * 0 or a negative ctx code (common/ctx.h) with the cause in err.
 */
#ifndef CTX_SNAPSHIP_H
#define CTX_SNAPSHIP_H

#include "ctx.h"
#include "snapshot.h"
#include "wal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SHIP_VERSION = 1,               /* first byte of every frame */
    SHIP_CHUNK_BYTES = 1 << 20,     /* default chunk length */
    SHIP_CHUNK_BYTES_MAX = 4 << 20, /* longest chunk a server sends */
    SHIP_WINDOW = 4,                /* chunk requests a puller keeps in flight */
    SHIP_SYNC_BYTES = 8 << 20,      /* fdatasync + progress record at least this often */
    SHIP_SERVE_MAX = 2,             /* peers a member serves at once */
    SHIP_SERVE_IDLE_MS = 10000,     /* a peer silent this long no longer holds a slot */
    SHIP_STALL_MS = 3000,           /* no progress this long: re-request from the verified offset */
    SHIP_RETRY_MS = 500,            /* after BUSY, or GONE while waiting for a snapshot */
    SHIP_ABANDON_MS = 60000,        /* no progress this long: give up (hooks.restart(NULL)) */
    SHIP_META_BYTES_MAX = 1 << 20,  /* a snapshot's metadata JSON */
    SHIP_HEADER_BYTES = 10,         /* version, op, seq */
    SHIP_CRC_BYTES = 4,             /* trailer of every frame */
};

typedef enum {
    SHIP_OP_META = 1,       /* min_index 8 */
    SHIP_OP_CHUNK = 2,      /* snapshot_id 8, file 2, offset 8, length 4 */
    SHIP_OP_META_OK = 0x81, /* snapshot_id 8, raft_index 8, length 4, metadata JSON */
    SHIP_OP_DATA = 0x82,    /* snapshot_id 8, file 2, offset 8, length 4, bytes */
    SHIP_OP_GONE = 0x83,    /* snapshot_id 8 */
    SHIP_OP_BUSY = 0x84,
} ship_op_t;

/* One decoded frame; bytes point into the frame (borrowed). */
typedef struct ship_frame {
    uint8_t op;
    uint64_t seq;
    uint64_t min_index;   /* META */
    uint64_t snapshot_id; /* CHUNK, META_OK, DATA, GONE */
    uint64_t raft_index;  /* META_OK */
    uint16_t file;        /* CHUNK, DATA */
    uint64_t offset;      /* CHUNK, DATA */
    uint32_t length;      /* CHUNK, META_OK, DATA */
    const uint8_t *bytes; /* META_OK, DATA: length bytes */
} ship_frame_t;

/* Appends the encoding of f (version, fields, CRC32C trailer) to out. */
void ship_frame_encode(const ship_frame_t *f, buf_t *out);
/* Decodes one frame: CTX_ECORRUPT for a bad CRC or version, CTX_EPROTOCOL when malformed. */
int ship_frame_decode(const uint8_t *bytes, size_t len, ship_frame_t *out, ctx_err_t *err);

typedef struct ship_hooks {
    /* Sends one frame to member `to` (the server: rt_send RT_KIND_SNAPSHOT). */
    int (*send)(void *ctx, uint32_t to, const void *bytes, size_t len);
    /* An unused local snapshot id (durability_reserve_snapshot_id); CTX_ELIMIT: ask again later. */
    int (*reserve_id)(void *ctx, uint64_t *id);
    /* The pulled snapshot is current under the root (installed), or the transfer was abandoned
     * (NULL; SHIP_ABANDON_MS without progress). The server restarts into its data directory. */
    void (*restart)(void *ctx, const snap_meta_t *installed);
    /* CLOCK_MONOTONIC milliseconds; NULL: the real clock. */
    uint64_t (*now_ms)(void *ctx);
    void *ctx;
} ship_hooks_t;

typedef struct ship_config {
    const char *snap_root;     /* the local snapshot root (<data_dir>/snapshots) */
    const char *stage_dir;     /* partial transfers; NULL: "<snap_root>.incoming" */
    uint32_t chunk_bytes;      /* 0: SHIP_CHUNK_BYTES; at most SHIP_CHUNK_BYTES_MAX */
    uint64_t rate_bytes_per_s; /* pull rate bound; 0: CTX_SNAPSHIP_RATE_KB (KiB/s) from the
                                  environment, else unlimited */
    ship_hooks_t hooks;
} ship_config_t;

typedef struct ship_stats {
    uint64_t chunks_ok;      /* written after their checks */
    uint64_t chunks_refused; /* bad CRC or version, or out of bounds */
    uint64_t chunks_stale;   /* a valid chunk not expected now (resent window, old transfer) */
    uint64_t bytes_pulled;   /* chunk bytes written */
    uint64_t resumed_bytes;  /* bytes kept from an earlier, interrupted run */
    uint64_t restarts;       /* transfers started over (GONE, failed verification) */
    uint64_t installed;      /* snapshots installed */
    uint64_t served_chunks;  /* chunks this member sent */
    uint64_t served_busy;    /* requests answered BUSY */
    uint64_t install_index;  /* raft index of the last installed snapshot */
    double pull_ms;          /* ship_begin to the last chunk written, of the last transfer */
    double transfer_ms;      /* ship_begin to installed, of the last installed snapshot */
} ship_stats_t;

typedef struct ship ship_t;

/* Copies cfg (and its strings). CTX_EBAD_PARAM for a bad chunk size or a missing hook. */
int ship_open(const ship_config_t *cfg, ship_t **out, ctx_err_t *err);
/* Closes the open partial file (its verified part stays on disk) and frees. NULL is a no-op. */
void ship_close(ship_t *s);

/* Starts pulling the snapshot covering at least index from leader (resuming a staged transfer of
 * the same snapshot). While a transfer runs, a call only changes the member asked. */
void ship_begin(ship_t *s, uint32_t leader, uint64_t index);
/* True from ship_begin until the snapshot is installed (or the transfer abandoned). */
bool ship_active(const ship_t *s);
/* Handles one RT_KIND_SNAPSHOT frame from member `from`: requests are served, replies advance
 * the transfer. Bad frames are counted and logged, never fatal. */
void ship_on_frame(ship_t *s, uint32_t from, const uint8_t *bytes, size_t len);
/* Timers: re-requests after a stall, retries after BUSY, pacing, abandonment. Call every tick. */
void ship_poll(ship_t *s);
void ship_stats(const ship_t *s, ship_stats_t *out);

/* The server's hooks.restart: with a snapshot installed, cuts wal after its raft_index and waits
 * until that is durable; then re-executes this process (/proc/self/exe with its own argument
 * list; every descriptor but 0-2 is closed on exec). Returns only if exec failed (logged). */
void ship_restart(wal_t *wal, const snap_meta_t *installed);

#endif

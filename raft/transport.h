/*
 * transport.h — the TCP transport between cluster members (DESIGN §7, prefix rt_).
 *
 * One I/O thread per transport owns every socket: it listens on listen_host:listen_port, keeps
 * one outbound connection to each configured peer (frames to a peer go on it; frames from a peer
 * arrive on the connection that peer opened to us), reconnects with exponential backoff, and
 * authenticates every connection with a handshake in which both sides prove knowledge of the
 * cluster secret (HMAC-SHA256 over both sides' random nonces, ids and advertised addresses; the
 * secret never crosses the wire). The frame and handshake layouts are drawn in transport.c.
 *
 * Threads: rt_send, rt_add_peer, rt_remove_peer, rt_peer_status and rt_stats may be called from
 * any thread; rt_recv from one thread at a time (its frames stay valid until that thread's next
 * rt_recv); rt_stop from the owner once no other call is in progress.
 *
 * Errors: functions return 0 or a negative ctx_code_t (common/ctx.h):
 *   CTX_EBAD_PARAM — invalid argument (unknown peer id, duplicate peer, kind out of range,
 *                    frame larger than RT_FRAME_PAYLOAD_MAX);
 *   CTX_ELIMIT     — the peer's send queue is over its bound: the frame was dropped and counted;
 *                    or the peer table is full (RT_PEERS_MAX);
 *   CTX_ENOMEM     — a copy could not be allocated (the frame was dropped and counted);
 *   CTX_EIO / CTX_ECONFIG — rt_start could not resolve, bind or listen (detail in err).
 */
#ifndef CTX_RT_TRANSPORT_H
#define CTX_RT_TRANSPORT_H

#include "ctx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    RT_KIND_RAFT = 1,          /* a raft_msg_encode()d message */
    RT_KIND_SNAPSHOT = 2,      /* snapshot file chunks */
    RT_KIND_FORWARD = 3,       /* forwarded client work */
    RT_KIND_FORWARD_REPLY = 4, /* its reply */
    RT_KIND_USER_MAX = 127,    /* rt_send accepts kinds 1..127; 128..255 are the handshake's */
    RT_VERSION = 1,            /* version byte of every frame */
    RT_HEADER_SIZE = 12,       /* frame header, see transport.c */
    RT_FRAME_PAYLOAD_MAX = 1024 * 1024 * 1024, /* largest payload of one frame: a message
                                                  carrying one entry of RAFT_ENTRY_BYTES_MAX */
    RT_PEERS_MAX = 16,                         /* configured peers (RAFT_MEMBERS_MAX fits) */
    RT_HOST_MAX = 256,                         /* rt_peer_t.host, with its NUL */
    RT_ADVERTISE_MAX = 262,                    /* "host:port" with its NUL */
    RT_NONCE_SIZE = 32,                        /* random bytes each side contributes */
    RT_MAC_SIZE = 32,                          /* HMAC-SHA256 */
    RT_HANDSHAKE_TIMEOUT_MS = 5000,            /* default handshake_timeout_ms */
};

typedef struct rt rt_t;

typedef struct rt_peer {
    uint32_t id; /* >= 1, != the transport's self_id */
    char host[RT_HOST_MAX];
    uint16_t port; /* the peer's raft port */
} rt_peer_t;

typedef struct rt_config {
    uint32_t self_id; /* >= 1 */
    const char *listen_host;
    uint16_t listen_port; /* 0 = any free port (rt_listen_port tells) */
    const rt_peer_t *peers;
    size_t peers_count;     /* the OTHER members, at most RT_PEERS_MAX */
    const char *secret;     /* cluster secret, non-empty; never sent in clear */
    const char *advertise;  /* this member's pgwire "host:port", told to peers in the handshake;
                               NULL = "" */
    size_t queue_bytes_max; /* bound of each peer's send queue (0 -> 64 MiB); inbound frames
                               waiting for rt_recv are bounded by 4x this, over it they are
                               dropped and counted (recv_dropped_frames) */
    int notify_fd;          /* eventfd; written (value 1) when inbound frames are queued; -1 none */
    uint32_t handshake_timeout_ms; /* a connection not authenticated this long after it opened
                                      is closed (0 -> RT_HANDSHAKE_TIMEOUT_MS) */
} rt_config_t;

/* Validates cfg, binds the listener (SO_REUSEADDR) and starts the I/O thread, which starts
 * connecting to the peers at once. cfg and its strings are copied. On failure nothing is left
 * running, *out is untouched and err says why (CTX_EBAD_PARAM, CTX_ECONFIG, CTX_EIO, CTX_ENOMEM).
 * Peer host names are resolved by the I/O thread at each connection attempt (getaddrinfo). */
int rt_start(const rt_config_t *cfg, rt_t **out, ctx_err_t *err);

/* The port the listener is bound to (the chosen one when listen_port was 0). */
uint16_t rt_listen_port(const rt_t *rt);

/* Stops the I/O thread (joins it), closes every socket and frees everything, including the
 * frames the last rt_recv returned. rt may be NULL. */
void rt_stop(rt_t *rt);

/* Queues a copy of len bytes as one frame of the given kind (1..RT_KIND_USER_MAX) to peer `to`.
 * Never blocks on the network. Frames to one peer are written in the order rt_send queued them
 * (and a frame cut by a broken connection is sent again whole on the next one); frames still
 * queued when the peer is removed are discarded. A frame that would take the peer's queue over
 * queue_bytes_max is dropped and counted and CTX_ELIMIT returned, except that an empty queue
 * always takes one frame. CTX_EBAD_PARAM for an unknown peer, a bad kind or
 * len > RT_FRAME_PAYLOAD_MAX. bytes may be NULL when len is 0. */
int rt_send(rt_t *rt, uint32_t to, uint8_t kind, const void *bytes, size_t len);

typedef struct rt_frame {
    uint32_t from;
    uint8_t kind;
    const uint8_t *bytes; /* valid until the next rt_recv or rt_stop */
    size_t len;
} rt_frame_t;

/* Drains up to max inbound frames in arrival order into out and returns how many (0 when none
 * are waiting; never blocks). Releases the frames the previous call returned. Frames from one
 * peer arrive in the order that peer sent them. */
size_t rt_recv(rt_t *rt, rt_frame_t *out, size_t max);

/* Membership. rt_add_peer: CTX_EBAD_PARAM for id 0, self_id or an id already present,
 * CTX_ELIMIT when RT_PEERS_MAX peers exist; the I/O thread connects to it at once.
 * rt_remove_peer: CTX_EBAD_PARAM for an unknown id; its queue is discarded and its connections
 * (both directions) are closed; a removed peer's inbound handshakes are refused from then on. */
int rt_add_peer(rt_t *rt, const rt_peer_t *peer);
int rt_remove_peer(rt_t *rt, uint32_t id);

typedef struct rt_peer_status {
    bool connected;       /* our outbound connection to it is authenticated */
    int64_t last_recv_ms; /* CLOCK_MONOTONIC ms of the last frame received from it, 0 never */
    uint64_t queued_bytes, sent_frames, dropped_frames, recv_frames;
    uint64_t recv_dropped_frames;     /* its inbound frames dropped over the inbound bound */
    char advertise[RT_ADVERTISE_MAX]; /* what it told in its last handshake, "" before */
} rt_peer_status_t;

/* Fills *out for peer id; CTX_EBAD_PARAM for an unknown id. */
int rt_peer_status(rt_t *rt, uint32_t id, rt_peer_status_t *out);

typedef struct rt_stats {
    uint64_t handshakes_ok;      /* connections authenticated, both directions */
    uint64_t handshakes_refused; /* connections closed before or during authentication */
    uint64_t frames_corrupt;     /* connections closed for a bad header, version or CRC */
} rt_stats_t;

/* Transport-wide counters. */
void rt_stats(rt_t *rt, rt_stats_t *out);

/* ---- Wire helpers, exposed for tests and tools that speak the protocol ---------------------- */

/* Writes the RT_HEADER_SIZE-byte header of a frame of kind carrying payload[0..len). */
void rt_wire_header(uint8_t out[RT_HEADER_SIZE], uint8_t kind, const void *payload, size_t len);

/* The handshake proof of a role ('D' dialer, 'A' acceptor) for a connection from dialer_id to
 * acceptor_id; see transport.c for what it covers. Returns 0, CTX_EINTERNAL if HMAC failed. */
int rt_wire_proof(const char *secret, char role, uint32_t dialer_id, uint32_t acceptor_id,
                  const uint8_t dialer_nonce[RT_NONCE_SIZE],
                  const uint8_t acceptor_nonce[RT_NONCE_SIZE], const char *dialer_advertise,
                  const char *acceptor_advertise, uint8_t out[RT_MAC_SIZE]);

#endif

/* hub-lg-wire.h: hub-loadgen's own WebSocket client transport for HubClient
 * (a HubClientTransportClass). The loadgen receives far more than it sends —
 * every publish comes back once per member device — so its receive path has
 * to cost no more than the server's send path, or the loadgen measures
 * itself. libwebsockets reads a socket, parses a frame byte by byte and calls
 * back per frame through its event library and ours; this transport reads
 * each ready socket's buffered bytes in one go and walks the frames in place,
 * handing HubClient pointers into that buffer (where its peeked fast path
 * accounts a delivery without building anything).
 *
 * Plain ws:// only, client side of RFC 6455 as the server needs it: the
 * upgrade with the hub.v1 subprotocol, masked frames out, fragmented messages
 * in, ping/pong, the close handshake, and the same keepalive as the lws
 * transport (a ping after 20 s of silence, the connection given up after
 * 65 s). Where it is not available (not Linux, or a wss:// URL) the loadgen
 * uses libhub's lws transport. One event loop per thread, on that thread's
 * GMainContext (one GSource for all its connections). */
#pragma once

#include <hub/hub-client.h>

G_BEGIN_DECLS

/* The transport for @url, or NULL where this platform has none or the URL
 * needs TLS (then HubClient's default, libwebsockets). HUB_LOADGEN_TRANSPORT=lws
 * in the environment also says NULL (to compare). (transfer none) */
const HubClientTransportClass *hub_lg_wire_transport (const char *url);

/* While this thread's loop hands on received frames: when their bytes were
 * found read (CLOCK_MONOTONIC, ns; they were all there by then), so that a
 * batch of frames costs one clock read. 0 at other times (and where this
 * transport is not used): then read the clock yourself. */
gint64 hub_lg_wire_read_time_ns (void);

/* Which transport the loadgen would use for @url: "io_uring", "epoll" or
 * "libwebsockets" (a ring made and freed once, to ask the kernel). The
 * report says what the loops really used (HubLgWireCounters.uring_loops /
 * epoll_loops) where there were any. (transfer none) */
const char *hub_lg_wire_kind (const char *url);

/* Figures of the calling thread's loop, for diagnostics (all 0 when none). */
typedef struct {
  guint64 reads;       /* recv() calls that returned bytes */
  guint64 frames;      /* WebSocket frames received */
  guint64 wakeups;     /* dispatches of the loop's source */
  guint64 uring_loops; /* 1 when this thread's loop receives through io_uring */
  guint64 epoll_loops; /* 1 when it fell back to (or was told to use) epoll */
} HubLgWireCounters;

void hub_lg_wire_get_counters (HubLgWireCounters *counters);

G_END_DECLS

/* hub-lg-wire-unix.h: the insides of hub-lg-wire-unix.c (connections and
 * their WebSocket logic) shared with the engine that waits on the sockets:
 * io_uring where the kernel allows (hub-lg-wire-uring-unix.c: every ready
 * socket's bytes arrive through one io_uring_enter(), into buffers the kernel
 * picks from a ring), else epoll and a recv() per ready socket (in
 * hub-lg-wire-unix.c). */
#pragma once

#include "hub-lg-wire.h"

#include <sys/socket.h>

G_BEGIN_DECLS

typedef struct _WireLoop WireLoop;
typedef struct _WireConn WireConn;
typedef struct _WireUring WireUring;

typedef enum {
  WIRE_CONNECTING, /* connect() under way */
  WIRE_UPGRADING,  /* the upgrade request sent, its answer awaited */
  WIRE_OPEN,
  WIRE_CLOSING, /* our close frame sent, the server's awaited */
  WIRE_DEAD,    /* ended: waits in loop->dead until its sink heard of it */
} WireState;

struct _WireConn {
  WireLoop *loop;                /* (unowned) */
  HubClientTransport *transport; /* (unowned) (nullable) NULL once detached */
  int fd;
  WireState state;
  guint8 *in; /* (owned) (nullable) kept between reads: an unfinished frame, the upgrade answer */
  gsize in_len, in_cap;
  guint8 *out; /* (owned) (nullable) bytes the kernel has not taken yet */
  gsize out_len, out_off, out_cap;
  GByteArray *message; /* (owned) (nullable) a fragmented message being joined */
  gboolean want_out;   /* the engine watches for writability */
  gint64 deadline_us;  /* connecting, upgrading, closing: ended after this */
  guint last_rx;       /* loop->tick when a frame last arrived */
  gboolean pinged;     /* a ping went out since */
  guint16 close_sent;  /* the code of our close frame, once sent */
  guint end_code;      /* how it ended, for the sink */
  char *end_reason;    /* (owned) (nullable) */
  char key[32];        /* Sec-WebSocket-Key */
  GList link;          /* in loop->conns while not dead */
  /* io_uring engine: requests whose last completion has not come yet (the
   * connection is freed only after it), and which are armed. */
  guint inflight;
  gboolean recv_armed, poll_armed, swept;
};

struct _WireLoop {
  guint refs;            /* transports */
  GMainContext *context; /* (owned) */
  GSource *source;       /* (owned) polls the engine's descriptor */
  gpointer tag;          /* that descriptor's poll in source */
  GQueue conns;          /* WireConn* (unowned) not dead: links are WireConn.link */
  GPtrArray *dead;       /* WireConn* (owned) ended, their sinks not yet told */
  GSource *ticker;       /* (owned) (nullable) while conns is not empty */
  guint tick;
  guint depth;      /* dispatch or sweep on the stack */
  gboolean doomed;  /* the last transport went while depth > 0 */
  guint8 *buf;      /* (owned) the epoll engine's read buffer */
  int epfd;         /* the epoll engine's descriptor, or -1 */
  WireUring *uring; /* (owned) (nullable) the io_uring engine */
  guint64 rng;      /* masking keys and Sec-WebSocket-Key */
  HubLgWireCounters counters;
  char *addr_key; /* (owned) (nullable) "host port" of the cached address */
  struct sockaddr_storage addr;
  socklen_t addr_len;
};

/* ---- what the engines call (hub-lg-wire-unix.c) ---- */

/* connect() finished with @error (0: connected). */
void hub_lg_wire_conn_connected (WireConn *conn, int error);
/* @len bytes arrived (valid during the call only); they are walked in place. */
void hub_lg_wire_conn_data (WireConn *conn, const guint8 *data, gsize len);
/* The socket ended: @error 0 for the peer's end of stream, else errno. */
void hub_lg_wire_conn_ended (WireConn *conn, int error);
/* The socket can take more: send what is queued. */
void hub_lg_wire_conn_writable (WireConn *conn);
/* Tells the sinks of ended connections; frees those no engine request holds. */
void hub_lg_wire_sweep (WireLoop *loop);
void hub_lg_wire_conn_free (WireConn *conn);
/* Sets what hub_lg_wire_read_time_ns() says (the engines, after a read). */
void hub_lg_wire_set_read_time_ns (gint64 ns);

/* ---- the io_uring engine (hub-lg-wire-uring-unix.c; stubs without liburing) ---- */

/* NULL when io_uring cannot be used here (no liburing in this build, an old
 * kernel, a seccomp filter): then epoll. */
WireUring *hub_lg_wire_uring_new (WireLoop *loop);
/* Frees the ring; connections still held by requests are freed too. */
void hub_lg_wire_uring_free (WireUring *uring);
/* The descriptor the loop's source polls. */
int hub_lg_wire_uring_fd (WireUring *uring);
/* Whether requests wait to be submitted (the source then runs without polling). */
gboolean hub_lg_wire_uring_pending (WireUring *uring);
/* Submits, takes every completion, and hands each to its connection. */
void hub_lg_wire_uring_dispatch (WireUring *uring);
/* Arms the wait for @conn's connect(), its reads (multishot), its writability. */
void hub_lg_wire_uring_watch_connect (WireUring *uring, WireConn *conn);
void hub_lg_wire_uring_watch_read (WireUring *uring, WireConn *conn);
void hub_lg_wire_uring_watch_write (WireUring *uring, WireConn *conn);
/* Cancels @conn's requests (before its socket is closed). */
void hub_lg_wire_uring_forget (WireUring *uring, WireConn *conn);

G_END_DECLS

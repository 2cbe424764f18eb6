/* hub-net.h: the platform layer for the socket calls GIO has no portable
 * form of, on descriptors that libwebsockets or hiredis own: BSD sockets on
 * Unix (hub-net-unix.c), winsock on Windows (hub-net-win32.c). A socket is an
 * int here, as in GSocket (a winsock SOCKET fits). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Starts the socket library where it must be (WSAStartup on Windows) before
 * code that does not do it itself (hiredis) makes a socket. Idempotent. */
void hub_net_init (void);

typedef enum {
  HUB_NET_ACCEPT_OK,        /* *fd is a new connection */
  HUB_NET_ACCEPT_EMPTY,     /* nothing waiting (would block) */
  HUB_NET_ACCEPT_AGAIN,     /* a connection went before it could be accepted: try the next */
  HUB_NET_ACCEPT_EXHAUSTED, /* out of descriptors, handles or buffers: pause */
  HUB_NET_ACCEPT_FAILED,    /* any other error */
} HubNetAccept;

/* Accepts one connection on the non-blocking listening socket @listen_fd and
 * makes it non-blocking, not inherited by child processes, with TCP_NODELAY.
 * On anything but OK, *@error_text (when not NULL) says why (transfer none). */
HubNetAccept hub_net_accept (int listen_fd, int *fd, const char **error_text);

/* Closing @fd from now on resets the connection (SO_LINGER 0) instead of
 * leaving unsent data to the kernel. */
void hub_net_set_abortive_close (int fd);

/* Ends both directions of @fd without closing it: what a dead network looks
 * like to whoever owns the socket. */
void hub_net_shutdown (int fd);

/* The peer of the connected socket @fd as "ADDRESS:PORT" ("[ADDRESS]:PORT"
 * for IPv6), for log lines; NULL when it cannot be told (the peer reset the
 * connection). (transfer full) (nullable) */
char *hub_net_peer_name (int fd);

/* Bytes that can be read from @fd without blocking; 0 on error. */
gsize hub_net_bytes_readable (int fd);

/* How many sockets this process may hold, after raising the soft limit as
 * far as the platform allows an unprivileged process (RLIMIT_NOFILE on Unix;
 * on Windows there is no per-process socket limit below the kernel's handle
 * quota, G_MAXUINT64). *@limit_name (nullable) names the limit for messages. */
guint64 hub_net_raise_socket_limit (const char **limit_name);

/* A socket polled by one of our GSources (hub-server's listener, cluster
 * mode's hiredis contexts; not GSocket's source, whose Windows side expects
 * GSocket's own calls to re-arm it):
 * Unix polls the descriptor itself; Windows polls an event object that
 * WSAEventSelect() signals, turning winsock's network events back into
 * level-triggered G_IO_IN / G_IO_OUT / G_IO_HUP. */
typedef struct _HubNetPoll HubNetPoll;

/* Adds the poll to @source (not yet attached, or attached). */
HubNetPoll *hub_net_poll_new (GSource *source, int fd);
/* Removes it from @source and frees it. @source (nullable): NULL when the
 * source is destroyed already (from its finalize), as GLib then dropped the poll. */
void hub_net_poll_free (HubNetPoll *poll, GSource *source);
/* G_IO_IN and/or G_IO_OUT: what the owner wants to hear about now. */
void hub_net_poll_set_events (HubNetPoll *poll, gushort events);
gushort hub_net_poll_get_events (HubNetPoll *poll);
/* For the source's prepare: -1, or the ms after which to look again
 * (Windows: a write readiness winsock may not report, and input whose
 * network event record was lost). */
gint hub_net_poll_timeout (HubNetPoll *poll);
/* What is ready among the wanted events, plus G_IO_HUP / G_IO_ERR; does not
 * consume it (prepare and check call it). */
gushort hub_net_poll_ready (HubNetPoll *poll);
/* The same, consumed: for dispatch. */
gushort hub_net_poll_take (HubNetPoll *poll);

G_END_DECLS

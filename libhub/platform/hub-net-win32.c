/* hub-net-win32.c: hub-net.h with winsock: accept() and ioctlsocket(),
 * setsockopt() with winsock's types, no descriptor limit to raise, and
 * HubNetPoll over an event object signalled by WSAEventSelect(). */
#include "hub-net.h"

#include <gio/gio.h>

#include <winsock2.h>
#include <ws2tcpip.h>

/* While the owner wants to write and winsock has not said it may, look again
 * this often: FD_WRITE only comes after a send that would have blocked, so a
 * short write that did not block would otherwise wait forever. */
#define WRITE_RETRY_MS 10

/* While the owner wants to read and winsock has recorded nothing, ask the
 * socket itself (WSAPoll, no wait) this often: the network events are records
 * re-enabled by the next accept()/recv(), and wine 8 loses FD_ACCEPT for good
 * after an accept() that found nothing (hub-server then accepted no more
 * connections until restarted); a level-triggered look bounds what a lost
 * record can cost. */
#define READ_PROBE_MS 10

void
hub_net_init (void)
{
  static gsize started;

  if (g_once_init_enter (&started)) {
    WSADATA data;

    if (WSAStartup (MAKEWORD (2, 2), &data) != 0)
      g_warning ("WSAStartup failed: winsock error %d", WSAGetLastError ());
    g_once_init_leave (&started, 1);
  }
}

HubNetAccept
hub_net_accept (int listen_fd, int *fd, const char **error_text)
{
  u_long nonblocking = 1;
  BOOL one = TRUE;
  SOCKET conn = accept ((SOCKET)listen_fd, NULL, NULL);

  if (conn == INVALID_SOCKET) {
    int err = WSAGetLastError ();

    if (error_text != NULL)
      *error_text = "winsock error"; /* the code is in the message below */
    g_debug ("accept: winsock error %d", err);
    if (err == WSAEWOULDBLOCK)
      return HUB_NET_ACCEPT_EMPTY;
    if (err == WSAEINTR || err == WSAECONNRESET || err == WSAECONNABORTED)
      return HUB_NET_ACCEPT_AGAIN;
    if (err == WSAEMFILE || err == WSAENOBUFS)
      return HUB_NET_ACCEPT_EXHAUSTED;
    return HUB_NET_ACCEPT_FAILED;
  }
  /* A socket accepted from one that WSAEventSelect() watches (GSocket's
   * source) inherits that selection: clear it, lws polls the socket itself. */
  (void)WSAEventSelect (conn, NULL, 0);
  (void)ioctlsocket (conn, FIONBIO, &nonblocking);
  (void)SetHandleInformation ((HANDLE)conn, HANDLE_FLAG_INHERIT, 0);
  (void)setsockopt (conn, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  *fd = (int)conn;
  return HUB_NET_ACCEPT_OK;
}

void
hub_net_set_abortive_close (int fd)
{
  struct linger reset = {.l_onoff = 1, .l_linger = 0};

  (void)setsockopt ((SOCKET)fd, SOL_SOCKET, SO_LINGER, (const char *)&reset, sizeof reset);
}

void
hub_net_shutdown (int fd)
{
  (void)shutdown ((SOCKET)fd, SD_BOTH);
}

gsize
hub_net_bytes_readable (int fd)
{
  u_long avail = 0;

  if (ioctlsocket ((SOCKET)fd, FIONREAD, &avail) != 0)
    return 0;
  return (gsize)avail;
}

guint64
hub_net_raise_socket_limit (const char **limit_name)
{
  /* Sockets are kernel handles: bounded by the handle quota (about 16
   * million per process) and, in practice, by memory and ephemeral ports
   * (README.md, Windows). Nothing to raise. */
  if (limit_name != NULL)
    *limit_name = "Windows handle quota";
  return G_MAXUINT;
}

/* ---- HubNetPoll: an event object ---- */

struct _HubNetPoll {
  GPollFD pfd; /* .fd is the WSAEVENT */
  SOCKET socket;
  gushort wanted;     /* G_IO_IN / G_IO_OUT */
  gushort pending;    /* readiness seen and not yet taken */
  gboolean may_write; /* FD_CONNECT/FD_WRITE came, or new output to try */
  gint64 retry_at;    /* monotonic µs: try writing again even without FD_WRITE */
  gint64 probe_at;    /* monotonic µs: look for input even without FD_READ/FD_ACCEPT */
};

HubNetPoll *
hub_net_poll_new (GSource *source, int fd)
{
  HubNetPoll *poll = g_new0 (HubNetPoll, 1);
  WSAEVENT event = WSACreateEvent ();

  poll->socket = (SOCKET)fd;
  poll->pfd.fd = (gintptr)event;
  poll->pfd.events = G_IO_IN;
  /* Every event, whatever is wanted: winsock records them until enumerated. */
  (void)WSAEventSelect (poll->socket, event,
                        FD_READ | FD_WRITE | FD_CLOSE | FD_CONNECT | FD_ACCEPT);
  g_source_add_poll (source, &poll->pfd);
  return poll;
}

void
hub_net_poll_free (HubNetPoll *poll, GSource *source)
{
  if (poll == NULL)
    return;
  if (source != NULL)
    g_source_remove_poll (source, &poll->pfd);
  /* The socket may be closed already (hiredis closes it first). */
  (void)WSAEventSelect (poll->socket, NULL, 0);
  WSACloseEvent ((WSAEVENT)poll->pfd.fd);
  g_free (poll);
}

void
hub_net_poll_set_events (HubNetPoll *poll, gushort events)
{
  /* New output to send: try at once (the usual case never blocks). */
  if ((events & G_IO_OUT) && !(poll->wanted & G_IO_OUT))
    poll->may_write = TRUE;
  poll->wanted = events & (G_IO_IN | G_IO_OUT);
}

gushort
hub_net_poll_get_events (HubNetPoll *poll)
{
  return poll->wanted;
}

gint
hub_net_poll_timeout (HubNetPoll *poll)
{
  gint64 at = G_MAXINT64, left;

  if ((poll->wanted & G_IO_OUT) && !poll->may_write)
    at = poll->retry_at;
  if (poll->wanted & G_IO_IN)
    at = MIN (at, poll->probe_at);
  if (at == G_MAXINT64)
    return -1;
  left = at - g_get_monotonic_time ();
  return left <= 0 ? 0 : (gint)((left + 999) / 1000);
}

/* Input waiting on the socket now, whatever winsock recorded (see
 * READ_PROBE_MS); at most once per READ_PROBE_MS. */
static gushort
probe_input (HubNetPoll *poll)
{
  gint64 now = g_get_monotonic_time ();
  WSAPOLLFD pfd = {.fd = poll->socket, .events = POLLRDNORM};

  if (now < poll->probe_at)
    return 0;
  poll->probe_at = now + READ_PROBE_MS * 1000;
  if (WSAPoll (&pfd, 1, 0) <= 0)
    return 0;
  if (pfd.revents & POLLHUP)
    return G_IO_IN | G_IO_HUP;
  if (pfd.revents & (POLLERR | POLLNVAL))
    return G_IO_ERR;
  return (pfd.revents & POLLRDNORM) ? G_IO_IN : 0;
}

/* Moves what the event object signalled into poll->pending. */
static void
collect (HubNetPoll *poll)
{
  WSANETWORKEVENTS ne;

  if (poll->pfd.revents == 0)
    return;
  poll->pfd.revents = 0;
  if (WSAEnumNetworkEvents (poll->socket, (WSAEVENT)poll->pfd.fd, &ne) != 0) {
    poll->pending |= G_IO_ERR;
    return;
  }
  /* accept() and recv() re-arm FD_ACCEPT / FD_READ while more is waiting. */
  if (ne.lNetworkEvents & (FD_READ | FD_CLOSE | FD_ACCEPT))
    poll->pending |= G_IO_IN;
  if (ne.lNetworkEvents & FD_CLOSE)
    poll->pending |= G_IO_HUP;
  if (ne.lNetworkEvents & (FD_WRITE | FD_CONNECT))
    poll->may_write = TRUE;
  if ((ne.lNetworkEvents & FD_CONNECT) && ne.iErrorCode[FD_CONNECT_BIT] != 0)
    poll->pending |= G_IO_ERR;
}

gushort
hub_net_poll_ready (HubNetPoll *poll)
{
  gushort ready;

  collect (poll);
  if ((poll->wanted & G_IO_IN) && !(poll->pending & G_IO_IN))
    poll->pending |= probe_input (poll);
  if ((poll->wanted & G_IO_OUT) && !poll->may_write && g_get_monotonic_time () >= poll->retry_at)
    poll->may_write = TRUE;
  ready = poll->pending & (poll->wanted | G_IO_HUP | G_IO_ERR);
  if ((poll->wanted & G_IO_OUT) && poll->may_write)
    ready |= G_IO_OUT;
  return ready;
}

gushort
hub_net_poll_take (HubNetPoll *poll)
{
  gushort ready = hub_net_poll_ready (poll);

  poll->pending &= (gushort) ~(ready | G_IO_HUP | G_IO_ERR);
  /* A write that leaves output behind will get FD_WRITE once it may go on
   * (or the WRITE_RETRY_MS look). */
  if (ready & G_IO_OUT) {
    poll->may_write = FALSE;
    poll->retry_at = g_get_monotonic_time () + WRITE_RETRY_MS * 1000;
  }
  return ready;
}

char *
hub_net_peer_name (int fd)
{
  struct sockaddr_storage ss;
  int len = sizeof ss;
  g_autoptr (GSocketAddress) addr = NULL;
  g_autofree char *text = NULL;
  guint16 port;

  if (getpeername ((SOCKET)fd, (struct sockaddr *)&ss, &len) != 0)
    return NULL;
  addr = g_socket_address_new_from_native (&ss, (gsize)len);
  if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS (addr))
    return NULL;
  text =
      g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr)));
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr));
  if (g_socket_address_get_family (addr) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", text, port);
  return g_strdup_printf ("%s:%u", text, port);
}

/* hub-net-unix.c: hub-net.h with BSD sockets: accept(2) and fcntl(2),
 * setsockopt(2), ioctl(FIONREAD), RLIMIT_NOFILE, and a plain GPollFD on the
 * descriptor for HubNetPoll. */
#include "hub-net.h"

#include <gio/gio.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

void
hub_net_init (void)
{
}

HubNetAccept
hub_net_accept (int listen_fd, int *fd, const char **error_text)
{
  int one = 1;
  int conn = accept (listen_fd, NULL, NULL);

  if (conn < 0) {
    int err = errno;

    if (error_text != NULL)
      *error_text = g_strerror (err);
    if (err == EAGAIN || err == EWOULDBLOCK)
      return HUB_NET_ACCEPT_EMPTY;
    if (err == EINTR || err == ECONNABORTED || err == EPROTO)
      return HUB_NET_ACCEPT_AGAIN;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
      return HUB_NET_ACCEPT_EXHAUSTED;
    return HUB_NET_ACCEPT_FAILED;
  }
  (void)fcntl (conn, F_SETFD, FD_CLOEXEC);
  (void)fcntl (conn, F_SETFL, fcntl (conn, F_GETFL) | O_NONBLOCK);
  /* Frames are written whole: no reason to wait for more (as lws does). */
  (void)setsockopt (conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  *fd = conn;
  return HUB_NET_ACCEPT_OK;
}

void
hub_net_set_abortive_close (int fd)
{
  struct linger reset = {.l_onoff = 1, .l_linger = 0};

  (void)setsockopt (fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
}

void
hub_net_shutdown (int fd)
{
  (void)shutdown (fd, SHUT_RDWR);
}

gsize
hub_net_bytes_readable (int fd)
{
  int avail = 0;

  if (ioctl (fd, FIONREAD, &avail) != 0 || avail <= 0)
    return 0;
  return (gsize)avail;
}

guint64
hub_net_raise_socket_limit (const char **limit_name)
{
  struct rlimit rl;

  if (limit_name != NULL)
    *limit_name = "RLIMIT_NOFILE";
  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit (RLIMIT_NOFILE, &rl);
    (void)getrlimit (RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? G_MAXUINT : (guint64)rl.rlim_cur;
}

/* ---- HubNetPoll: the descriptor itself ---- */

struct _HubNetPoll {
  GPollFD pfd;
};

HubNetPoll *
hub_net_poll_new (GSource *source, int fd)
{
  HubNetPoll *poll = g_new0 (HubNetPoll, 1);

  poll->pfd.fd = fd;
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
  g_free (poll);
}

void
hub_net_poll_set_events (HubNetPoll *poll, gushort events)
{
  poll->pfd.events = events;
}

gushort
hub_net_poll_get_events (HubNetPoll *poll)
{
  return poll->pfd.events;
}

gint
hub_net_poll_timeout (HubNetPoll *poll)
{
  return -1;
}

gushort
hub_net_poll_ready (HubNetPoll *poll)
{
  return poll->pfd.revents & (poll->pfd.events | G_IO_HUP | G_IO_ERR);
}

gushort
hub_net_poll_take (HubNetPoll *poll)
{
  gushort ready = hub_net_poll_ready (poll);

  poll->pfd.revents = 0;
  return ready;
}

char *
hub_net_peer_name (int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  g_autoptr (GSocketAddress) addr = NULL;
  g_autofree char *text = NULL;
  guint16 port;

  if (getpeername (fd, (struct sockaddr *)&ss, &len) != 0)
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

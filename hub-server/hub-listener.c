/* hub-listener.c: a non-blocking listening socket watched with g_unix_fd_add().
 * Accepts in bounded batches; when the process runs out of descriptors it
 * pauses accepting for a moment instead of spinning on a readable socket. */
#include "hub-listener.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections accepted per wake-up, so a connect storm cannot starve the
 * established connections of the loop. */
#define ACCEPT_BATCH 64
/* Pause after EMFILE/ENFILE before trying accept() again. */
#define ACCEPT_PAUSE_MS 100

struct _HubListener {
  int fd; /* -1 once closed */
  guint port;
  guint watch;       /* g_unix_fd_add source, 0 when none */
  guint pause_timer; /* resumes accepting after EMFILE, 0 when none */
  HubListenerAcceptFunc func;
  gpointer user_data;
};

static gboolean on_readable (int fd, GIOCondition condition, gpointer user_data);

static gboolean
resume_accepting (gpointer user_data)
{
  HubListener *l = user_data;

  l->pause_timer = 0;
  if (l->fd >= 0)
    l->watch = g_unix_fd_add (l->fd, G_IO_IN, on_readable, l);
  return G_SOURCE_REMOVE;
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer user_data)
{
  HubListener *l = user_data;

  for (guint i = 0; i < ACCEPT_BATCH; i++) {
    int one = 1;
    int conn = accept (fd, NULL, NULL);

    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
        continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        g_warning ("accept: %s; not accepting for %d ms", g_strerror (errno), ACCEPT_PAUSE_MS);
        l->watch = 0;
        l->pause_timer = g_timeout_add (ACCEPT_PAUSE_MS, resume_accepting, l);
        return G_SOURCE_REMOVE;
      }
      break; /* EAGAIN: nothing more waiting */
    }
    (void)fcntl (conn, F_SETFD, FD_CLOEXEC);
    (void)fcntl (conn, F_SETFL, fcntl (conn, F_GETFL) | O_NONBLOCK);
    /* Frames are written whole: no reason to wait for more (as lws does). */
    (void)setsockopt (conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    l->func (conn, l->user_data);
  }
  return G_SOURCE_CONTINUE;
}

HubListener *
hub_listener_new (const char *address, guint port, HubListenerAcceptFunc func, gpointer user_data,
                  GError **error)
{
  g_autoptr (HubListener) l = g_new0 (HubListener, 1);
  struct addrinfo hints = {0}, *res = NULL;
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  char service[8];
  int one = 1;
  int rc;

  l->fd = -1;
  l->func = func;
  l->user_data = user_data;

  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  g_snprintf (service, sizeof service, "%u", port);
  rc = getaddrinfo (address, service, &hints, &res);
  if (rc != 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad address %s: %s", address,
                 gai_strerror (rc));
    return NULL;
  }
  l->fd = socket (res->ai_family, SOCK_STREAM, 0);
  if (l->fd < 0 || fcntl (l->fd, F_SETFD, FD_CLOEXEC) < 0 ||
      fcntl (l->fd, F_SETFL, fcntl (l->fd, F_GETFL) | O_NONBLOCK) < 0 ||
      setsockopt (l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind (l->fd, res->ai_addr, res->ai_addrlen) < 0 || listen (l->fd, SOMAXCONN) < 0 ||
      getsockname (l->fd, (struct sockaddr *)&bound, &bound_len) < 0) {
    int err = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "cannot listen on %s port %u: %s",
                 address, port, g_strerror (err));
    freeaddrinfo (res);
    return NULL;
  }
  freeaddrinfo (res);
  l->port = bound.ss_family == AF_INET6 ? ntohs (((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs (((struct sockaddr_in *)&bound)->sin_port);
  l->watch = g_unix_fd_add (l->fd, G_IO_IN, on_readable, l);
  return g_steal_pointer (&l);
}

guint
hub_listener_get_port (HubListener *listener)
{
  return listener->port;
}

void
hub_listener_close (HubListener *listener)
{
  if (listener->watch != 0)
    g_source_remove (listener->watch);
  listener->watch = 0;
  if (listener->pause_timer != 0)
    g_source_remove (listener->pause_timer);
  listener->pause_timer = 0;
  if (listener->fd >= 0)
    close (listener->fd);
  listener->fd = -1;
}

void
hub_listener_free (HubListener *listener)
{
  if (listener == NULL)
    return;
  hub_listener_close (listener);
  g_free (listener);
}

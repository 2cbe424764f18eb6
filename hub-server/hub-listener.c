/* hub-listener.c: a non-blocking listening GSocket whose descriptor is
 * watched (HubNetPoll) and accepted on (hub-net.h) on the GLib main loop, so
 * lws can adopt the connections. Accepts in bounded batches; when the process
 * runs out of descriptors it pauses accepting for a moment instead of spinning
 * on a readable socket. */
#include "hub-listener.h"

#include <gio/gio.h>

#include "hub-net.h"

/* Connections accepted per wake-up, so a connect storm cannot starve the
 * established connections of the loop. */
#define ACCEPT_BATCH 64
/* Pause after EMFILE/ENFILE before trying accept() again. */
#define ACCEPT_PAUSE_MS 100
/* Pending connections the kernel may queue (capped at its own maximum:
 * net.core.somaxconn on Linux; Windows allows about 200 unless told more). */
#define LISTEN_BACKLOG 4096

typedef struct {
  GSource source;
  HubListener *listener; /* (unowned) */
  HubNetPoll *poll;      /* (owned) the listening socket, G_IO_IN */
} Watch;

struct _HubListener {
  GSocket *socket; /* (owned) (nullable) NULL once closed */
  guint port;
  GSource *watch;    /* (owned) (nullable) a Watch while accepting */
  guint pause_timer; /* resumes accepting after EMFILE, 0 when none */
  HubListenerAcceptFunc func;
  HubListenerExhaustedFunc exhausted; /* (nullable) */
  gpointer user_data;
};

static gboolean on_readable (HubListener *l);

static gboolean
watch_prepare (GSource *source, gint *timeout)
{
  HubNetPoll *poll = ((Watch *)source)->poll;

  /* -1 on Unix; on Windows when to look at the socket itself (hub-net.h). */
  *timeout = hub_net_poll_timeout (poll);
  return hub_net_poll_ready (poll) != 0;
}

static gboolean
watch_check (GSource *source)
{
  return hub_net_poll_ready (((Watch *)source)->poll) != 0;
}

static gboolean
watch_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  Watch *w = (Watch *)source;

  hub_net_poll_take (w->poll);
  return on_readable (w->listener);
}

static void
watch_finalize (GSource *source)
{
  Watch *w = (Watch *)source;

  hub_net_poll_free (w->poll, NULL); /* destroyed: GLib dropped the poll */
}

static GSourceFuncs watch_funcs = {watch_prepare,  watch_check, watch_dispatch,
                                   watch_finalize, NULL,        NULL};

static void
watch_start (HubListener *l)
{
  Watch *w = (Watch *)g_source_new (&watch_funcs, sizeof (Watch));

  w->listener = l;
  w->poll = hub_net_poll_new (&w->source, g_socket_get_fd (l->socket));
  hub_net_poll_set_events (w->poll, G_IO_IN);
  l->watch = &w->source;
  g_source_attach (l->watch, NULL);
}

static void
watch_stop (HubListener *l)
{
  if (l->watch == NULL)
    return;
  g_source_destroy (l->watch);
  g_clear_pointer (&l->watch, g_source_unref);
}

static gboolean
resume_accepting (gpointer user_data)
{
  HubListener *l = user_data;

  l->pause_timer = 0;
  if (l->socket != NULL)
    watch_start (l);
  return G_SOURCE_REMOVE;
}

static gboolean
on_readable (HubListener *l)
{
  int listen_fd = g_socket_get_fd (l->socket);

  for (guint i = 0; i < ACCEPT_BATCH; i++) {
    const char *why = NULL;
    int conn = -1;

    switch (hub_net_accept (listen_fd, &conn, &why)) {
      case HUB_NET_ACCEPT_OK:
        l->func (conn, l->user_data);
        break;
      case HUB_NET_ACCEPT_AGAIN:
        break;
      case HUB_NET_ACCEPT_EXHAUSTED:
        /* Someone gave a descriptor back: try again (the batch bounds it). */
        if (l->exhausted != NULL && l->exhausted (l->user_data))
          break;
        g_warning ("accept: %s; not accepting for %d ms", why, ACCEPT_PAUSE_MS);
        /* Removing the watch from its own callback: returning REMOVE does it. */
        g_clear_pointer (&l->watch, g_source_unref);
        l->pause_timer = g_timeout_add (ACCEPT_PAUSE_MS, resume_accepting, l);
        return G_SOURCE_REMOVE;
      case HUB_NET_ACCEPT_EMPTY:
      case HUB_NET_ACCEPT_FAILED:
      default:
        return G_SOURCE_CONTINUE;
    }
  }
  return G_SOURCE_CONTINUE;
}

HubListener *
hub_listener_new (const char *address, guint port, HubListenerAcceptFunc func, gpointer user_data,
                  GError **error)
{
  g_autoptr (HubListener) l = g_new0 (HubListener, 1);
  g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (address);
  g_autoptr (GSocketAddress) bind_to = NULL;
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) local_error = NULL;

  l->func = func;
  l->user_data = user_data;
  if (inet == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "bad address %s: not a numeric IPv4 or IPv6 address", address);
    return NULL;
  }
  bind_to = g_inet_socket_address_new (inet, (guint16)port);
  /* GSocket: close-on-exec on Unix, non-inheritable on Windows; SO_REUSEADDR
   * where it means "rebind over TIME_WAIT" (not on Windows, where it would
   * let another process steal the port). */
  l->socket = g_socket_new (g_inet_address_get_family (inet), G_SOCKET_TYPE_STREAM,
                            G_SOCKET_PROTOCOL_TCP, &local_error);
  if (l->socket != NULL) {
    g_socket_set_blocking (l->socket, FALSE);
    g_socket_set_listen_backlog (l->socket, LISTEN_BACKLOG);
  }
  if (l->socket == NULL || !g_socket_bind (l->socket, bind_to, TRUE, &local_error) ||
      !g_socket_listen (l->socket, &local_error) ||
      (bound = g_socket_get_local_address (l->socket, &local_error)) == NULL) {
    g_set_error (error, G_IO_ERROR, local_error->code, "cannot listen on %s port %u: %s", address,
                 port, local_error->message);
    return NULL;
  }
  l->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  watch_start (l);
  return g_steal_pointer (&l);
}

void
hub_listener_set_exhausted_func (HubListener *listener, HubListenerExhaustedFunc func)
{
  listener->exhausted = func;
}

guint
hub_listener_get_port (HubListener *listener)
{
  return listener->port;
}

void
hub_listener_close (HubListener *listener)
{
  watch_stop (listener);
  if (listener->pause_timer != 0)
    g_source_remove (listener->pause_timer);
  listener->pause_timer = 0;
  if (listener->socket != NULL)
    g_socket_close (listener->socket, NULL);
  g_clear_object (&listener->socket);
}

void
hub_listener_free (HubListener *listener)
{
  if (listener == NULL)
    return;
  hub_listener_close (listener);
  g_free (listener);
}

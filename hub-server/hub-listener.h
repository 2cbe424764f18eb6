/* hub-listener.h: hub-server's listening TCP socket, on the GLib main loop.
 * It accepts connections and hands each socket to a callback (the transport
 * adopts it into lws). Owning the socket ourselves gives an exact bind (IPv4
 * or IPv6), the real port when 0 was asked, and a real "stop accepting" on
 * shutdown, which lws 4.1 cannot do safely with the glib event loop. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HubListener HubListener;
/* @fd: an accepted, non-blocking, close-on-exec socket, now owned by the callee. */
typedef void (*HubListenerAcceptFunc) (int fd, gpointer user_data);

/* Binds @address (numeric IPv4 or IPv6) and @port (0: any free port) and
 * listens. NULL with @error when the address cannot be bound. */
HubListener *hub_listener_new (const char *address, guint port, HubListenerAcceptFunc func,
                               gpointer user_data, GError **error);
void hub_listener_free (HubListener *listener);

/* The process ran out of descriptors: return TRUE when one was freed (accept
 * again at once), FALSE to pause accepting for a moment. */
typedef gboolean (*HubListenerExhaustedFunc) (gpointer user_data);
/* Called, with the accept callback's user_data, when accept() finds no
 * descriptor left. */
void hub_listener_set_exhausted_func (HubListener *listener, HubListenerExhaustedFunc func);

/* The bound port. */
guint hub_listener_get_port (HubListener *listener);
/* Closes the listening socket: new connections are refused from now on. */
void hub_listener_close (HubListener *listener);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubListener, hub_listener_free)

G_END_DECLS

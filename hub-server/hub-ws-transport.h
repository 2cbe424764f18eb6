/* hub-ws-transport.h: hub-server's libwebsockets side. Owns the lws context
 * and its one vhost and protocol; turns lws events on /ws into libhub calls
 * (a HubSinkVTable per connection) and hands HTTP requests to hub-http.c. */
#pragma once

#include <glib.h>
#include <hub/hub.h>

#include "hub-loop.h"

G_BEGIN_DECLS

typedef struct {
  const char *bind_address; /* numeric IPv4 or IPv6 address */
  gboolean ipv6;            /* bind_address is IPv6 */
  guint port;               /* 0: any free port */
  const char *cert;         /* PEM certificate for wss (nullable) */
  const char *key;          /* its key (nullable, set with cert) */
  gboolean batch_sends;     /* one system call for a flush's sends (io_uring), where available */
  /* Who may connect (hub-admission.h). max_connections 0: the descriptors
   * this process may hold, less HUB_WS_RESERVED_DESCRIPTORS. */
  guint max_connections;
  guint max_connections_per_address; /* 0: no bound */
  GPtrArray *exempt;                 /* (nullable) GInetAddressMask*: not counted per address */
  guint http_timeout_s;              /* a request's headers and body; 0: no deadline */
  gboolean http2;                    /* h2c upgrades (and h2 by ALPN with TLS) */
} HubWsTransportOptions;

/* Descriptors kept from WebSockets by default: for HTTP (/healthz, /metrics
 * answer however many clients there are), Redis, the loop's own. */
#define HUB_WS_RESERVED_DESCRIPTORS 256

typedef struct _HubWsTransport HubWsTransport;
typedef void (*HubWsTransportDrainedFunc) (gpointer user_data);

/* Creates the lws context on @loop and starts listening. @dispatcher and
 * @loop are unowned and must outlive the transport. NULL with @error when
 * the address cannot be bound or TLS cannot be set up. */
HubWsTransport *hub_ws_transport_new (HubDispatcher *dispatcher, HubLoop *loop,
                                      const HubWsTransportOptions *options, GError **error);
/* Destroys the lws context: connections still open are dropped (each
 * reported to the dispatcher as closed). */
void hub_ws_transport_free (HubWsTransport *t);

/* The port actually listened on (the one picked when 0 was asked). */
guint hub_ws_transport_get_port (HubWsTransport *t);
/* WebSocket connections currently open. */
guint hub_ws_transport_n_connections (HubWsTransport *t);
/* The bound on WebSockets in force (max_connections, or what the descriptors allow). */
guint hub_ws_transport_max_connections (HubWsTransport *t);

/* SIGHUP: the admission's bounds and request deadline (hub-admission.h) from
 * now on; @max_connections 0 is what the descriptors allow, as at start. */
void hub_ws_transport_reconfigure (HubWsTransport *t, guint max_connections,
                                   guint max_connections_per_address, guint http_timeout_s);

/* Stops accepting, closes every WebSocket with 1001 once its queue is written
 * (hub_dispatcher_close_all), and calls @drained once none is left (maybe at
 * once). Connections whose handshake completes later are closed with 1001 too. */
void hub_ws_transport_shutdown (HubWsTransport *t, HubWsTransportDrainedFunc drained,
                                gpointer user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubWsTransport, hub_ws_transport_free)

G_END_DECLS

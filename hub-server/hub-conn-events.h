/* hub-conn-events.h: what hub-server tells operators about its WebSocket
 * connections: a log line when one opens and when it ends (peer address,
 * user, device, close code and reason, duration; PROTOCOL.md §9's codes), and
 * the metrics only the transport can count: closes by code, connections
 * opened, and the delivery lag of the broadcaster's sampled fan-outs (from a
 * message's acceptance to its bytes written to the socket). The transport
 * calls in with one line at each of three places. */
#pragma once

#include <glib.h>
#include <hub/hub.h>

G_BEGIN_DECLS

typedef struct _HubConnEvents HubConnEvents;

/* Adds its families to @d's metrics registry. (transfer full) */
HubConnEvents *hub_conn_events_new (HubDispatcher *d);
void hub_conn_events_free (HubConnEvents *e);

/* A WebSocket was established on socket @fd: logs it (info). Returns the
 * peer's address to keep for the close line, or NULL when info lines are off
 * (then no system call is made). (transfer full) (nullable) */
char *hub_conn_events_opened (HubConnEvents *e, HubConnection *conn, int fd);

/* Who ended a connection. */
typedef enum {
  HUB_CONN_CLOSED_BY_SERVER, /* its close frame, @code from the dispatcher */
  HUB_CONN_CLOSED_BY_CLIENT, /* the client's close frame, with its @code */
  HUB_CONN_DROPPED,          /* no close frame either way (reset, timeout): 1006 */
} HubConnClosedBy;

/* The connection is over for the server (once per connection): counts
 * hub_closes_total{code} and logs the close line (info). @peer as returned by
 * hub_conn_events_opened (nullable). @code 0 counts as 1005 (a close frame
 * without a code, RFC 6455 §7.1.5); with HUB_CONN_DROPPED it is ignored (1006). */
void hub_conn_events_closed (HubConnEvents *e, HubConnection *conn, const char *peer,
                             HubConnClosedBy by, guint16 code, const char *reason);

void hub_conn_events_observe_lag (HubConnEvents *e, gint64 stamp_us);
/* A frame's bytes are being written to its connection's socket: a stamped
 * frame's delivery lag is observed. Inline: it runs for every frame. */
static inline void
hub_conn_events_written (HubConnEvents *e, const HubFrame *frame)
{
  gint64 stamp = hub_frame_get_stamp (frame);

  if (G_UNLIKELY (stamp != 0))
    hub_conn_events_observe_lag (e, stamp);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubConnEvents, hub_conn_events_free)

G_END_DECLS

/* hub-conn-events.c: the connection lines and the transport's metrics. */
#include "hub-conn-events.h"

#include "hub-log.h"
#include "hub-net.h"

/* Delivery lag buckets, seconds: within a loop iteration when the socket
 * takes the bytes (well under a millisecond), up to the seconds a slow
 * consumer's queue may hold them before 4009. */
static const double lag_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};

/* The close codes of PROTOCOL.md §9 and RFC 6455's usual ones, shown from
 * the first scrape. */
static const char *const known_codes[] = {"1000", "1001", "1002", "1003", "1005",
                                          "1006", "1007", "1009", "4000", "4001",
                                          "4002", "4003", "4008", "4009", "4010"};

struct _HubConnEvents {
  HubMetric *closes;              /* (unowned) hub_closes_total{code} */
  HubMetric *opened;              /* (unowned) hub_connections_opened_total */
  HubMetric *lag;                 /* (unowned) hub_delivery_lag_seconds */
  HubMetricSeries *lag_series;    /* (unowned) its one series */
  HubMetricSeries *opened_series; /* (unowned) */
};

HubConnEvents *
hub_conn_events_new (HubDispatcher *d)
{
  HubConnEvents *e = g_new0 (HubConnEvents, 1);
  HubMetrics *m = hub_dispatcher_get_metrics (d);

  e->opened = hub_metrics_add_counter (m, "hub_connections_opened_total",
                                       "WebSocket connections established.", NULL);
  e->opened_series = hub_metric_series (e->opened, NULL);
  e->closes = hub_metrics_add_counter (
      m, "hub_closes_total",
      "WebSocket connections ended, by close code: the server's or the client's; 1006 when "
      "neither sent a close frame.",
      "code");
  for (guint i = 0; i < G_N_ELEMENTS (known_codes); i++)
    hub_metric_declare (e->closes, known_codes[i]);
  e->lag = hub_metrics_add_histogram (
      m, "hub_delivery_lag_seconds",
      "Time from a message's acceptance to its bytes written to a recipient's socket, "
      "for every delivery of 1 in 16 fan-outs.",
      NULL, lag_bounds, G_N_ELEMENTS (lag_bounds));
  e->lag_series = hub_metric_series (e->lag, NULL);
  return e;
}

void
hub_conn_events_free (HubConnEvents *e)
{
  g_free (e);
}

char *
hub_conn_events_opened (HubConnEvents *e, HubConnection *conn, int fd)
{
  char *peer;

  hub_metric_series_inc (e->opened_series, 1);
  if (!hub_log_enabled (HUB_LOG_LEVEL_INFO))
    return NULL;
  peer = fd >= 0 ? hub_net_peer_name (fd) : NULL;
  hub_event_log ("hub-server", G_LOG_LEVEL_INFO, "open", "connection opened", "conn",
                 hub_connection_get_id (conn), "peer", peer, NULL);
  return peer;
}

void
hub_conn_events_closed (HubConnEvents *e, HubConnection *conn, const char *peer, HubConnClosedBy by,
                        guint16 code, const char *reason)
{
  char code_text[8], duration[32];
  const HubConnectionStats *stats = hub_connection_get_stats (conn);
  const char *event = "close";
  static const char *const who[] = {"server", "client", "nobody"};

  if (by == HUB_CONN_DROPPED)
    code = 1006;
  else if (code == 0)
    code = 1005;
  g_snprintf (code_text, sizeof code_text, "%u", code);
  hub_metric_inc (e->closes, code_text, 1);
  if (!hub_log_enabled (HUB_LOG_LEVEL_INFO))
    return;
  /* PROTOCOL.md §8: the two closes an operator acts on get kinds of their own. */
  if (code == HUB_CLOSE_RATE_ABUSE)
    event = "close_rate_abuse";
  else if (code == HUB_CLOSE_SLOW_CONSUMER)
    event = "close_slow_consumer";
  g_snprintf (duration, sizeof duration, "%.3f",
              MAX (g_get_real_time () / 1000 - stats->connected_unix_ms, 0) / 1000.0);
  hub_event_log ("hub-server", G_LOG_LEVEL_INFO, event, "connection closed", "conn",
                 hub_connection_get_id (conn), "peer", peer, "user", hub_connection_get_user (conn),
                 "device", hub_connection_get_device (conn), "code", code_text, "reason",
                 reason != NULL && *reason != '\0' ? reason : NULL, "by", who[by], "duration_s",
                 duration, NULL);
}

void
hub_conn_events_observe_lag (HubConnEvents *e, gint64 stamp_us)
{
  gint64 lag = g_get_monotonic_time () - stamp_us;

  hub_metric_series_observe (e->lag_series, MAX (lag, 0) / 1e6, 1);
}

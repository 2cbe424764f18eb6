/* main.c: hub-server. Parses the options and wires the objects together:
 * clock → dispatcher → event loop → lws transport; runs until SIGINT/SIGTERM
 * (PROTOCOL.md §9: stop accepting, close with 1001, exit 0 within 5 s);
 * SIGHUP reloads the settings (hub-reload.c). */
#include <glib.h>
#include <hub/hub-store-redis.h>
#include <hub/hub.h>
#include <stdio.h>
#include <string.h>

#include "hub-log.h"
#include "hub-loop.h"
#include "hub-options.h"
#include "hub-process-metrics.h"
#include "hub-reload.h"
#include "hub-service.h"
#include "hub-ws-transport.h"

/* The loop stops this long after the signal at the latest, leaving time to
 * tear down within PROTOCOL.md's 5 seconds. */
#define SHUTDOWN_DEADLINE_MS 4000

typedef struct {
  HubLoop *loop;             /* (unowned) */
  HubWsTransport *transport; /* (unowned) */
  HubOptions *opts;          /* (unowned) the running settings */
  HubDispatcher *dispatcher; /* (unowned) */
  HubService *service;       /* (unowned) */
  guint deadline;            /* timeout source, 0 when none */
  gboolean stopping;
} Server;

static void
on_drained (gpointer user_data)
{
  Server *srv = user_data;

  hub_loop_quit (srv->loop);
}

static gboolean
on_deadline (gpointer user_data)
{
  Server *srv = user_data;

  srv->deadline = 0;
  g_warning ("shutdown deadline: dropping %u connections that did not close in time",
             hub_ws_transport_n_connections (srv->transport));
  hub_loop_quit (srv->loop);
  return G_SOURCE_REMOVE;
}

static void
on_signal (HubSignal signal, gpointer user_data)
{
  Server *srv = user_data;

  if (signal == HUB_SIGNAL_RELOAD) {
    if (srv->stopping)
      return;
    hub_service_reloading (srv->service);
    hub_reload (srv->opts, srv->dispatcher, srv->transport);
    hub_service_ready (srv->service, "reloaded");
    return;
  }
  if (srv->stopping) {
    g_message ("second signal: stopping now");
    hub_loop_quit (srv->loop);
    return;
  }
  srv->stopping = TRUE;
  hub_service_stopping (srv->service);
  g_message ("%s: shutting down", hub_signal_to_string (signal));
  srv->deadline = g_timeout_add (SHUTDOWN_DEADLINE_MS, on_deadline, srv);
  hub_ws_transport_shutdown (srv->transport, on_drained, srv);
}

int
main (int argc, char **argv)
{
  HubOptions opts;
  g_autoptr (GError) error = NULL;
  g_autoptr (HubClock) clock = NULL;
  g_autoptr (HubDispatcher) dispatcher = NULL;
  g_autoptr (HubLoop) loop = NULL;
  g_autoptr (HubService) service = NULL;
  g_autofree char *status = NULL;
  HubWsTransport *transport;
  HubWsTransportOptions topts;
  Server srv = {0};
  gboolean bracket;

  hub_options_init (&opts);
  if (!hub_options_parse (&opts, &argc, &argv, &error)) {
    /* fprintf, not g_printerr: GLib's messages quote in UTF-8, which
     * g_printerr would turn into '?' in the C locale. */
    fprintf (stderr, "hub-server: %s\n", error->message);
    hub_options_clear (&opts);
    return 2;
  }
  hub_log_init (opts.log_level, opts.log_format, opts.log_rate);
  if (opts.weak_secret_warning != NULL)
    g_warning ("%s", opts.weak_secret_warning);
  if (!opts.loopback && opts.config.secret == NULL)
    g_warning ("listening on %s without --secret: development mode, every client is trusted "
               "and may broadcast",
               opts.host);

  clock = hub_clock_new_real ();
  dispatcher = hub_dispatcher_new (&opts.config, clock);
  hub_process_metrics_register (hub_dispatcher_get_metrics (dispatcher));
  if (opts.redis_url != NULL &&
      !hub_dispatcher_use_redis (dispatcher, opts.redis_url, opts.redis_prefix, &error)) {
    fprintf (stderr, "hub-server: --redis: %s\n", error->message);
    hub_options_clear (&opts);
    return 2;
  }
  loop = hub_loop_new (opts.event_loop);
  /* Before the "listening" line: whoever reads it may signal at once. The
   * handler runs from the loop, once the transport exists. */
  srv.loop = loop;
  srv.opts = &opts;
  srv.dispatcher = dispatcher;
  srv.service = service = hub_service_new ();
  hub_loop_watch_signals (loop, on_signal, &srv);
  topts = (HubWsTransportOptions){
      .bind_address = opts.bind_address,
      .ipv6 = opts.ipv6,
      .port = opts.port,
      .cert = opts.cert,
      .key = opts.key,
      .batch_sends = opts.io_uring,
      .max_connections = opts.max_connections,
      .max_connections_per_address = opts.max_connections_per_address,
      .exempt = opts.exempt,
      .http_timeout_s = opts.http_timeout_s,
      .http2 = opts.http2,
  };
  transport = hub_ws_transport_new (dispatcher, loop, &topts, &error);
  if (transport == NULL) {
    fprintf (stderr, "hub-server: %s\n", error->message);
    hub_options_clear (&opts);
    return 1;
  }

  /* Tests and scripts parse this line: keep its format. */
  bracket = strchr (opts.host, ':') != NULL;
  printf ("hub-server listening on %s://%s%s%s:%u/ws node=%s mode=%s\n",
          opts.cert != NULL ? "wss" : "ws", bracket ? "[" : "", opts.host, bracket ? "]" : "",
          hub_ws_transport_get_port (transport), opts.config.node,
          opts.redis_url != NULL ? "cluster" : "memory");
  fflush (stdout);
  status = g_strdup_printf ("listening on port %u", hub_ws_transport_get_port (transport));
  hub_service_ready (service, status);

  srv.transport = transport;
  hub_loop_run (loop);

  if (srv.deadline != 0)
    g_source_remove (srv.deadline);
  hub_ws_transport_free (transport);
  g_info ("stopped");
  hub_options_clear (&opts);
  return 0;
}

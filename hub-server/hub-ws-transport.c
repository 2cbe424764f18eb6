/* hub-ws-transport.c: hub-server's libwebsockets side: the lws context with
 * its one vhost and protocol ("hub.v1"), which serves both HTTP (handed to
 * hub-http.c) and the WebSocket on /ws, and the protocol callback that turns
 * lws events into the jobs of the other hub-ws-*.c files: hub-ws-receive.c
 * (messages in), hub-ws-send.c (frames out, once per loop iteration per
 * connection), hub-ws-close.c (a connection's close lifecycle, one state).
 * Per connection a HubSinkVTable: libhub writes through it. */
#include "hub-ws-private.h"

#include <string.h>

#include "hub-net.h"

/* The most lws hands to one send(): without it lws would cut every write at
 * HUB_WS_RX_BUFFER_SIZE and copy the rest into its own buffer. The kernel
 * takes what fits; lws keeps only the remainder of the one write it could not
 * finish. */
#define TX_PACKET_SIZE (1024 * 1024)
/* The per-thread buffer lws reads sockets into (lws default 4 KiB). */
#define PT_SERV_BUF_SIZE (16 * 1024)

/* No lws validity pings (its default: ping after 300 s, hang up at 310 s):
 * the dispatcher owns heartbeats (PROTOCOL.md §8). */
static const lws_retry_bo_t no_validity_checks = {0};

/* What libhub writes through, per connection (session->ws is the sink data). */
static const HubSinkVTable sink_vtable = {
    .write = hub_ws_sink_write,
    .request_writable = hub_ws_sink_request_writable,
    .close = hub_ws_sink_close,
    .ping = hub_ws_sink_ping,
};

/* ---- WebSocket events ---- */

/* ESTABLISHED: HTTP → OPEN, with a HubConnection from the dispatcher. */
static int
on_established (HubWsTransport *t, struct lws *wsi, HubSession *session)
{
  HubWsSession *s = &session->ws;

  hub_http_session_clear (&session->http);
  memset (s, 0, sizeof *s);
  s->transport = t;
  s->wsi = wsi;
  hub_ws_session_set_state (s, HUB_WS_OPEN);
  t->n_connections++;
  hub_admission_upgraded (t->admission, wsi);
  s->conn = hub_connection_ref (hub_dispatcher_connection_open (t->dispatcher, &sink_vtable, s));
  s->peer = hub_conn_events_opened (t->events, s->conn, (int)lws_get_socket_fd (wsi));
  /* Upgraded after the shutdown began: PROTOCOL.md §9 closes it too. */
  if (t->shutting_down)
    hub_connection_close (s->conn, HUB_CLOSE_GOING_AWAY, "server shutting down");
  return 0;
}

static int
dispatch (HubWsTransport *t, struct lws *wsi, enum lws_callback_reasons reason, HubSession *session,
          void *in, size_t len)
{
  /* Comes before lws allocates the per-session data. */
  if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
    return hub_http_confirm_upgrade (t->http, wsi, in);
  /* Every connection's last callback (its per-session data may be gone). */
  if (reason == LWS_CALLBACK_WSI_DESTROY) {
    hub_admission_destroyed (t->admission, wsi);
    return 0;
  }
  /* Other callbacks without a session (protocol init, wake-ups) are lws's. */
  if (session == NULL)
    return lws_callback_http_dummy (wsi, reason, session, in, len);

  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
      return on_established (t, wsi, session);
    case LWS_CALLBACK_RECEIVE:
      /* A full buffer: lws read no more of the socket this time (hub-loop.h). */
      if (len >= HUB_WS_RX_BUFFER_SIZE)
        hub_loop_service_again (t->loop, wsi);
      return hub_ws_session_on_receive (&session->ws, wsi, in, len);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      return hub_ws_session_on_peer_close (&session->ws, in, len);
    case LWS_CALLBACK_RECEIVE_PONG:
      hub_ws_session_on_pong (&session->ws);
      return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return hub_ws_session_on_writeable (&session->ws);
    case LWS_CALLBACK_CLOSED:
      hub_ws_session_on_closed (t, wsi, session);
      return 0;
    case LWS_CALLBACK_RAW_ADOPT:
    case LWS_CALLBACK_RAW_RX:
      /* A CONNECT request makes lws fall back to a raw socket: refuse. */
      return -1;
    default:
      return hub_http_callback (t->http, wsi, reason, &session->http, in, len);
  }
}

static int
callback (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  HubWsTransport *t = lws_context_user (lws_get_context (wsi));

  if (t == NULL)
    return lws_callback_http_dummy (wsi, reason, user, in, len);
  return dispatch (t, wsi, reason, user, in, len);
}

/* ---- lifetime ---- */

/* A connection from our listener: lws serves it from now on (and owns @fd,
 * closing it itself when adoption fails). */
static void
on_accept (int fd, gpointer user_data)
{
  HubWsTransport *t = user_data;
  lws_sock_file_fd_type desc;
  lws_adoption_type type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP;
  struct lws *wsi;

  if (t->tls)
    type |= LWS_ADOPT_ALLOW_SSL;
  desc.sockfd = fd;
  /* lws wakes its own service (lws_cancel_service_pt) so the handshake
   * timeout it sets here is armed on the loop. */
  wsi = lws_adopt_descriptor_vhost (t->vhost, type, desc, NULL, NULL);
  if (wsi == NULL) {
    g_debug ("lws refused an accepted connection");
    return;
  }
  /* One address with too many connections waiting for their request. */
  if (!hub_admission_accepted (t->admission, wsi))
    lws_set_timeout (wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}

/* Out of descriptors: the connection that waited longest for its request
 * makes room (a slow client holding it), so /healthz still gets in. */
static gboolean
on_exhausted (gpointer user_data)
{
  HubWsTransport *t = user_data;

  return hub_admission_make_room (t->admission);
}

HubWsTransport *
hub_ws_transport_new (HubDispatcher *dispatcher, HubLoop *loop,
                      const HubWsTransportOptions *options, GError **error)
{
  g_autoptr (HubWsTransport) t = g_new0 (HubWsTransport, 1);
  struct lws_context_creation_info info;
  struct lws_context_creation_info vinfo;
  gboolean tls = options->cert != NULL;
  HubAdmissionOptions admission;
  guint64 descriptors;

  g_return_val_if_fail (dispatcher != NULL && loop != NULL, NULL);

  /* Before lws sizes its tables from the limit. */
  descriptors = hub_net_raise_socket_limit (NULL);
  t->descriptor_bound = (guint)CLAMP (descriptors, 2 * HUB_WS_RESERVED_DESCRIPTORS, G_MAXINT32) -
                        HUB_WS_RESERVED_DESCRIPTORS;
  t->max_connections =
      options->max_connections != 0 ? options->max_connections : t->descriptor_bound;
  admission = (HubAdmissionOptions){
      .max_connections = t->max_connections,
      .max_connections_per_address = options->max_connections_per_address,
      .exempt = options->exempt,
      .http_timeout_s = options->http_timeout_s,
      .metrics = hub_dispatcher_get_metrics (dispatcher),
  };
  t->admission = hub_admission_new (&admission);
  t->http = hub_http_new (dispatcher, t->admission, options->http2);
  t->dispatcher = dispatcher;
  t->events = hub_conn_events_new (dispatcher);
  t->loop = loop;
  g_queue_init (&t->flush_queue);
  g_queue_init (&t->closing);
  t->flush_source = hub_ws_flush_source_new (t);
  t->tx = t->tx_own;
  t->protocols[0] = (struct lws_protocols){
      .name = HUB_WS_SUBPROTOCOL,
      .callback = callback,
      .per_session_data_size = sizeof (HubSession),
      .rx_buffer_size = HUB_WS_RX_BUFFER_SIZE,
      .tx_packet_size = TX_PACKET_SIZE,
  };

  memset (&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME;
  if (tls)
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.user = t;
  info.uid = -1; /* uid_t or int, by lws version and platform */
  info.gid = -1;
  info.pt_serv_buf_size = PT_SERV_BUF_SIZE;
  hub_http_configure_context (&info);
  hub_loop_configure_lws (loop, &info);
  t->context = lws_create_context (&info);
  if (t->context == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 "cannot create the libwebsockets context (is its %s event-lib plugin, "
                 "libwebsockets-evlib_%s.so, installed?)",
                 hub_loop_kind_to_string (hub_loop_get_kind (loop)),
                 hub_loop_kind_to_string (hub_loop_get_kind (loop)));
    return NULL;
  }
  hub_loop_set_lws_context (loop, t->context);

  memset (&vinfo, 0, sizeof vinfo);
  vinfo.vhost_name = "hub";
  /* A server vhost without a listen socket: HubListener accepts and lws
   * adopts. (lws 4.1 can listen itself, port 0 included, reading the port
   * back with lws_get_vhost_listen_port(); but lws_context_deprecate(), its
   * only way to stop accepting, uses the listen wsi after freeing it under
   * the glib event loop, and with IPv6 on it binds an IPv4 iface address
   * into an IPv6 socket on the wildcard address.) */
  vinfo.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  vinfo.protocols = t->protocols;
  /* lws formats peer addresses by the vhost's IPv6 setting. */
  vinfo.options = options->ipv6 ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6;
  vinfo.retry_and_idle_policy = &no_validity_checks;
  if (tls) {
    vinfo.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    vinfo.ssl_cert_filepath = options->cert;
    vinfo.ssl_private_key_filepath = options->key;
    /* One HTTP code path: no HTTP/2 (and no ws-over-h2) by ALPN, unless asked. */
    vinfo.alpn = options->http2 ? "h2,http/1.1" : "http/1.1";
  }
  t->vhost = lws_create_vhost (t->context, &vinfo);
  if (t->vhost == NULL) {
    if (tls)
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot set up TLS with %s and %s",
                   options->cert, options->key);
    else
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create the lws vhost");
    return NULL;
  }
  t->tls = tls;
  /* Batches write to the sockets directly: not through TLS. */
  t->batch = tls || !options->batch_sends ? NULL : hub_tx_batch_new ();
  t->batch_max_len = t->batch != NULL ? hub_tx_batch_max_len (t->batch) : 0;
  t->failed = g_ptr_array_new ();
  t->listener = hub_listener_new (options->bind_address, options->port, on_accept, t, error);
  if (t->listener == NULL)
    return NULL;
  hub_listener_set_exhausted_func (t->listener, on_exhausted);
  t->port = hub_listener_get_port (t->listener);
  return g_steal_pointer (&t);
}

void
hub_ws_transport_free (HubWsTransport *t)
{
  if (t == NULL)
    return;
  t->drained = NULL;
  g_clear_handle_id (&t->shutdown_sync_timer, g_source_remove);
  if (t->shutdown_sync != NULL)
    t->shutdown_sync->t = NULL;
  g_clear_pointer (&t->listener, hub_listener_free);
  if (t->context != NULL) {
    /* Open connections get CLOSED (and reach the dispatcher) from here, and
     * no lws callback (which would use @t) comes after it. */
    hub_loop_destroy_lws_context (t->loop);
    t->context = NULL;
  }
  if (t->close_timer != 0)
    g_source_remove (t->close_timer);
  /* After the context: its connections are destroyed (and uncounted) in there. */
  g_clear_pointer (&t->http, hub_http_free);
  g_clear_pointer (&t->admission, hub_admission_free);
  if (t->flush_source != NULL) {
    g_source_destroy (t->flush_source);
    g_source_unref (t->flush_source);
  }
  hub_tx_batch_free (t->batch);
  hub_conn_events_free (t->events);
  if (t->failed != NULL)
    g_ptr_array_unref (t->failed);
  g_free (t);
}

guint
hub_ws_transport_get_port (HubWsTransport *t)
{
  return t->port;
}

guint
hub_ws_transport_n_connections (HubWsTransport *t)
{
  return t->n_connections;
}

void
hub_ws_transport_reconfigure (HubWsTransport *t, guint max_connections,
                              guint max_connections_per_address, guint http_timeout_s)
{
  t->max_connections = max_connections != 0 ? max_connections : t->descriptor_bound;
  hub_admission_configure (t->admission, t->max_connections, max_connections_per_address,
                           http_timeout_s);
}

guint
hub_ws_transport_max_connections (HubWsTransport *t)
{
  return t->max_connections;
}

/* How long a shutdown waits for the store before it closes every connection. */
#define SHUTDOWN_SYNC_MS 1000

/* §9: "flushes what is queued": a message whose publish was acknowledged has
 * its deliveries queued too. A store that answers later (Redis) may hand this
 * node a delivery after the publisher's ok, so the connections are closed once
 * the store has handed over what it owes (hub_dispatcher_sync), or after
 * SHUTDOWN_SYNC_MS when it cannot (Redis down). */
static void
close_everyone (HubWsTransport *t)
{
  g_clear_handle_id (&t->shutdown_sync_timer, g_source_remove);
  if (t->closed_all)
    return;
  t->closed_all = TRUE;
  hub_dispatcher_close_all (t->dispatcher, HUB_CLOSE_GOING_AWAY, "server shutting down");
  if (t->n_connections == 0 && t->drained != NULL) {
    HubWsTransportDrainedFunc drained = t->drained;

    t->drained = NULL;
    drained (t->drained_data);
  }
}

static void
on_shutdown_synced (gboolean ok, gpointer user_data)
{
  HubWsShutdownSync *sync = user_data;

  if (sync->t != NULL) {
    sync->t->shutdown_sync = NULL;
    close_everyone (sync->t);
  }
  g_free (sync);
}

static gboolean
on_shutdown_sync_timeout (gpointer user_data)
{
  HubWsTransport *t = user_data;

  t->shutdown_sync_timer = 0;
  close_everyone (t);
  return G_SOURCE_REMOVE;
}

void
hub_ws_transport_shutdown (HubWsTransport *t, HubWsTransportDrainedFunc drained, gpointer user_data)
{
  if (t->shutting_down)
    return;
  t->shutting_down = TRUE;
  t->drained = drained;
  t->drained_data = user_data;
  /* New connections are refused; established ones carry on. */
  if (t->listener != NULL)
    hub_listener_close (t->listener);
  t->shutdown_sync_timer = g_timeout_add (SHUTDOWN_SYNC_MS, on_shutdown_sync_timeout, t);
  t->shutdown_sync = g_new (HubWsShutdownSync, 1);
  t->shutdown_sync->t = t;
  hub_dispatcher_sync (t->dispatcher, on_shutdown_synced, t->shutdown_sync);
}

/* test-client-sync.c: the synchronous calls of HubClient (hub_client_connect_sync,
 * _request_sync, _join_sync, _publish_sync) against the real server, a closed port, a
 * listener that never answers the upgrade, and a transport that never answers a request:
 * the answer or the error each promises, and the time bound honoured. */
#include "test-client-util.h"

#include <string.h>

/* ---- what a client's callbacks saw ---- */

typedef struct {
  guint welcomes;    /* WELCOME events */
  guint connected;   /* changes to CONNECTED */
  GPtrArray *events; /* char* (owned) "message ROOM SEQ FROM TEXT" */
  HubClientState state;
} Seen;

static void
seen_init (Seen *seen)
{
  memset (seen, 0, sizeof *seen);
  seen->events = g_ptr_array_new_with_free_func (g_free);
}

static void
seen_clear (Seen *seen)
{
  g_ptr_array_unref (seen->events);
}

static void
on_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  Seen *seen = user_data;

  seen->state = change->state;
  if (change->state == HUB_CLIENT_CONNECTED)
    seen->connected++;
}

static void
on_event (HubClient *client, const HubClientEvent *event, gpointer user_data)
{
  Seen *seen = user_data;

  if (event->type == HUB_CLIENT_EVENT_WELCOME)
    seen->welcomes++;
  if (event->type == HUB_CLIENT_EVENT_MESSAGE)
    g_ptr_array_add (seen->events,
                     g_strdup_printf ("message %s %" G_GINT64_FORMAT " %s %s", event->room,
                                      event->seq, event->from,
                                      json_object_get_string_member (event->payload, "text")));
}

static const HubClientCallbacks seen_callbacks = {.state_changed = on_state, .event = on_event};

static gboolean
has_events (gpointer data)
{
  return ((Seen *)data)->events->len > 0;
}

static gboolean
is_connected_again (gpointer data)
{
  Seen *seen = data;

  return seen->connected >= 2;
}

static char *
server_url (HubTestServer *server)
{
  return g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
}

/* A TCP listener on 127.0.0.1 that accepts nothing: the kernel completes the
 * handshake, nobody answers the upgrade. (transfer full) */
static GSocketListener *
silent_listener (guint16 *port)
{
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;
  GSocketListener *listener = g_socket_listener_new ();

  ck_assert_msg (g_socket_listener_add_address (listener, any_port, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error),
                 "a listener on 127.0.0.1 should bind: %s", error ? error->message : "");
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return listener;
}

/* ---- success ---- */

START_TEST (connect_join_publish)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = server_url (server);
  g_autoptr (GError) error = NULL;
  g_autoptr (HubClient) alice = NULL;
  g_autoptr (HubClient) bob = NULL;
  g_autoptr (JsonObject) payload = json_object_new ();
  g_autoptr (JsonObject) rooms = NULL;
  HubClientOptions options;
  Seen alice_seen, bob_seen;
  JsonArray *list;

  seen_init (&alice_seen);
  seen_init (&bob_seen);
  hub_client_options_init (&options);
  options.url = url;
  options.user = "alice";
  alice = hub_client_connect_sync (&options, &seen_callbacks, &alice_seen, 10000, &error);
  ck_assert_msg (alice != NULL, "connect_sync to a running server should succeed: %s",
                 error ? error->message : "");
  ck_assert_int_eq (hub_client_get_state (alice), HUB_CLIENT_CONNECTED);
  ck_assert_str_eq (hub_client_get_user (alice), "alice");
  ck_assert_msg (alice_seen.welcomes == 1 && alice_seen.connected == 1,
                 "the callbacks should see the welcome and CONNECTED once before connect_sync "
                 "returns, saw %u and %u",
                 alice_seen.welcomes, alice_seen.connected);

  options.user = "bob";
  bob = hub_client_connect_sync (&options, &seen_callbacks, &bob_seen, 10000, &error);
  ck_assert_msg (bob != NULL, "a second connect_sync should succeed: %s",
                 error ? error->message : "");

  ck_assert_msg (hub_client_join_sync (alice, "lobby", 10000, &error),
                 "join_sync should succeed: %s", error ? error->message : "");
  ck_assert_msg (hub_client_join_sync (bob, "lobby", 10000, &error),
                 "bob's join_sync should succeed: %s", error ? error->message : "");
  ck_assert_int_eq (hub_client_get_last_seq (alice, "lobby"), 0);

  json_object_set_string_member (payload, "text", "hi");
  ck_assert_msg (hub_client_publish_sync (alice, "lobby", payload, 10000, &error),
                 "publish_sync should succeed: %s", error ? error->message : "");
  ck_assert_msg (loop_until (has_events, &bob_seen, 10000), "bob should get alice's message");
  ck_assert_str_eq (g_ptr_array_index (bob_seen.events, 0), "message lobby 1 alice hi");

  /* Any request: the reply frame itself. */
  rooms = hub_client_request_sync (alice, "rooms", NULL, 10000, &error);
  ck_assert_msg (rooms != NULL, "request_sync rooms should return the reply: %s",
                 error ? error->message : "");
  ck_assert_str_eq (json_object_get_string_member (rooms, "type"), "ok");
  list = json_object_get_array_member (rooms, "rooms");
  ck_assert_msg (list != NULL && json_array_get_length (list) == 1,
                 "the rooms reply should list the one room");

  /* An error reply: FALSE with the server's code. */
  ck_assert_msg (!hub_client_join_sync (alice, "no spaces", 10000, &error),
                 "join_sync of an invalid room name should fail");
  ck_assert_msg (g_error_matches (error, HUB_ERROR, HUB_ERROR_INVALID_NAME),
                 "the error should be HUB_ERROR_INVALID_NAME, got %s", error->message);
  g_clear_error (&error);

  /* Not connected: G_IO_ERROR_NOT_CONNECTED, not a wait until the bound. */
  hub_client_disconnect (bob);
  ck_assert_msg (!hub_client_join_sync (bob, "lobby", 10000, &error),
                 "join_sync on a disconnected client should fail");
  ck_assert_msg (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED) ||
                     g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED),
                 "the error should be NOT_CONNECTED or CLOSED, got %s", error->message);
  seen_clear (&alice_seen);
  seen_clear (&bob_seen);
}
END_TEST

/* Once connected, the client follows options.auto_reconnect (default TRUE). */
START_TEST (reconnects_as_the_options_say)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = server_url (server);
  g_autoptr (GError) error = NULL;
  HubClientOptions options;

  for (guint i = 0; i < 2; i++) {
    gboolean auto_reconnect = i == 0;
    g_autoptr (HubClient) client = NULL;
    HubClientCounters counters;
    Seen seen;

    seen_init (&seen);
    hub_client_options_init (&options);
    options.url = url;
    options.user = "carol";
    options.backoff_min_ms = 10;
    options.auto_reconnect = auto_reconnect;
    client = hub_client_connect_sync (&options, &seen_callbacks, &seen, 10000, &error);
    ck_assert_msg (client != NULL, "connect_sync should succeed: %s", error ? error->message : "");
    hub_client_drop_connection (client);
    if (auto_reconnect) {
      ck_assert_msg (loop_until (is_connected_again, &seen, 10000),
                     "with auto_reconnect the client should connect again after a loss");
      hub_client_get_counters (client, &counters);
      ck_assert_int_eq (counters.reconnects, 1);
    } else {
      loop_for (300);
      ck_assert_msg (seen.state == HUB_CLIENT_DISCONNECTED && seen.connected == 1,
                     "without auto_reconnect the client should stay disconnected, is %s",
                     hub_client_state_to_string (seen.state));
    }
    seen_clear (&seen);
  }
}
END_TEST

/* ---- errors ---- */

START_TEST (connection_refused)
{
  g_autoptr (GSocketListener) listener = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HubClient) client = NULL;
  g_autofree char *url = NULL;
  HubClientOptions options;
  guint16 port;
  gint64 start;

  listener = silent_listener (&port);
  g_socket_listener_close (listener); /* the port is now closed */
  url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  hub_client_options_init (&options); /* auto_reconnect TRUE: still one attempt */
  options.url = url;
  options.user = "dave";
  start = g_get_monotonic_time ();
  client = hub_client_connect_sync (&options, NULL, NULL, 10000, &error);
  ck_assert_msg (client == NULL, "connect_sync to a closed port should fail");
  ck_assert_msg (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED),
                 "the error should be G_IO_ERROR_CONNECTION_REFUSED, got %s", error->message);
  ck_assert_msg (g_get_monotonic_time () - start < 5 * G_USEC_PER_SEC,
                 "a refused connection should be reported at once, not retried until the bound");

  /* A bad URL: the error of hub_client_new. */
  g_clear_error (&error);
  options.url = "http://127.0.0.1/";
  client = hub_client_connect_sync (&options, NULL, NULL, 10000, &error);
  ck_assert_msg (client == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT),
                 "a bad URL should fail with G_IO_ERROR_INVALID_ARGUMENT");
}
END_TEST

START_TEST (hello_refused)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", "sync-test-secret", NULL);
  g_autofree char *url = server_url (server);
  g_autoptr (GError) error = NULL;
  g_autoptr (HubClient) client = NULL;
  HubClientOptions options;

  hub_client_options_init (&options);
  options.url = url;
  options.user = "erin"; /* and no token */
  client = hub_client_connect_sync (&options, NULL, NULL, 10000, &error);
  ck_assert_msg (client == NULL, "connect_sync without a token should fail when a secret is set");
  ck_assert_msg (g_error_matches (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED),
                 "the error should be HUB_ERROR_UNAUTHORIZED, got %s", error->message);
  ck_assert_msg (strstr (error->message, "hello refused: unauthorized") != NULL,
                 "the message should say the hello was refused and why, got %s", error->message);
}
END_TEST

START_TEST (connect_timeout)
{
  g_autoptr (GSocketListener) listener = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HubClient) client = NULL;
  g_autofree char *url = NULL;
  HubClientOptions options;
  guint16 port;
  gint64 start, elapsed_ms;

  listener = silent_listener (&port);
  url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  hub_client_options_init (&options);
  options.url = url;
  options.user = "frank";
  start = g_get_monotonic_time ();
  client = hub_client_connect_sync (&options, NULL, NULL, 300, &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  ck_assert_msg (client == NULL, "connect_sync to a server that never answers should fail");
  ck_assert_msg (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT),
                 "the error should be G_IO_ERROR_TIMED_OUT, got %s", error->message);
  ck_assert_msg (elapsed_ms >= 300 && elapsed_ms < 3000,
                 "connect_sync should give up after its 300 ms bound, took %" G_GINT64_FORMAT " ms",
                 elapsed_ms);
  g_socket_listener_close (listener);
}
END_TEST

/* ---- a transport that welcomes the hello and answers nothing else ---- */

struct _HubClientTransport {
  const HubClientTransportSink *sink;
  gpointer owner;
  guint idle;       /* the pending idle source, 0 when none */
  gboolean welcome; /* the idle sends the welcome (else it opens) */
  gint64 hello_id;
};

static HubClientTransport *
mute_create (const HubClientUrl *url, const char *ca_file, gboolean allow_self_signed,
             const HubClientTransportSink *sink, gpointer owner)
{
  HubClientTransport *t = g_new0 (HubClientTransport, 1);

  t->sink = sink;
  t->owner = owner;
  return t;
}

static gboolean
mute_step (gpointer data)
{
  HubClientTransport *t = data;
  g_autofree char *frame = NULL;

  t->idle = 0;
  if (!t->welcome) {
    t->sink->opened (t->owner);
    return G_SOURCE_REMOVE;
  }
  frame = g_strdup_printf ("{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT
                           ",\"user\":\"grace\",\"device\":\"default\",\"conn\":\"c1\","
                           "\"rooms\":[]}",
                           t->hello_id);
  t->sink->received (t->owner, frame, strlen (frame));
  return G_SOURCE_REMOVE;
}

static gboolean
mute_open (HubClientTransport *t, GError **error)
{
  t->welcome = FALSE;
  t->idle = g_idle_add (mute_step, t);
  return TRUE;
}

static gboolean
mute_send (HubClientTransport *t, const char *text, gsize len)
{
  g_autoptr (JsonNode) node = json_from_string (text, NULL);
  JsonObject *frame = node != NULL ? json_node_get_object (node) : NULL;

  if (frame != NULL && g_strcmp0 (json_object_get_string_member (frame, "type"), "hello") == 0) {
    t->hello_id = json_object_get_int_member (frame, "id");
    t->welcome = TRUE;
    t->idle = g_idle_add (mute_step, t);
  }
  return TRUE; /* anything else: accepted and never answered */
}

static void
mute_close (HubClientTransport *t, guint16 code)
{
}

static void
mute_drop (HubClientTransport *t)
{
}

static void
mute_destroy (HubClientTransport *t)
{
  if (t->idle != 0)
    g_source_remove (t->idle);
  g_free (t);
}

static const HubClientTransportClass mute_class = {
    .create = mute_create,
    .open = mute_open,
    .send = mute_send,
    .close = mute_close,
    .drop = mute_drop,
    .destroy = mute_destroy,
};

START_TEST (request_timeout)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) payload = json_object_new ();
  HubClientOptions options;
  HubClient *client;
  gint64 start, elapsed_ms;

  hub_client_options_init (&options);
  options.user = "grace";
  options.transport = &mute_class;
  client = hub_client_connect_sync (&options, NULL, NULL, 5000, &error);
  ck_assert_msg (client != NULL, "connect_sync over the fake transport should succeed: %s",
                 error ? error->message : "");

  start = g_get_monotonic_time ();
  ck_assert_msg (!hub_client_join_sync (client, "lobby", 200, &error),
                 "join_sync without a reply should fail");
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  ck_assert_msg (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT),
                 "the error should be G_IO_ERROR_TIMED_OUT, got %s", error->message);
  ck_assert_msg (elapsed_ms >= 200 && elapsed_ms < 3000,
                 "join_sync should give up after its 200 ms bound, took %" G_GINT64_FORMAT " ms",
                 elapsed_ms);
  g_clear_error (&error);
  ck_assert_msg (!hub_client_publish_sync (client, "lobby", payload, 50, &error) &&
                     g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT),
                 "publish_sync without a reply should time out too");
  /* The abandoned requests are answered (CANCELLED) and their waits freed here. */
  hub_client_free (client);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-sync");

  HUB_TEST_ADD (suite, connect_join_publish, 60);
  HUB_TEST_ADD (suite, reconnects_as_the_options_say, 60);
  HUB_TEST_ADD (suite, connection_refused, 60);
  HUB_TEST_ADD (suite, hello_refused, 60);
  HUB_TEST_ADD (suite, connect_timeout, 60);
  HUB_TEST_ADD (suite, request_timeout, 60);
  return hub_test_run (suite);
}

/* test-client-chat.c: two HubClients (the libhub API) on one GLib loop
 * against the real server: messages, presence, typing, status, direct; the
 * same over wss://; and what a thousand clients cost. */
#include "test-client-util.h"

#include "hub-test-platform.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  const char *name;
  HubClient *client; /* (owned) */
  GPtrArray *events; /* char* (owned) one line per event, e.g. "message general 1 alice hi" */
  HubClientState state;
  guint replies, errors;
} Peer;

static void
on_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  Peer *peer = user_data;

  peer->state = change->state;
}

static void
on_event (HubClient *client, const HubClientEvent *event, gpointer user_data)
{
  Peer *peer = user_data;
  const char *text = NULL;
  char *line = NULL;

  if (event->payload != NULL && json_object_has_member (event->payload, "text"))
    text = json_object_get_string_member (event->payload, "text");
  switch (event->type) {
    case HUB_CLIENT_EVENT_MESSAGE:
      line = g_strdup_printf ("message %s %" G_GINT64_FORMAT " %s %s", event->room, event->seq,
                              event->from, text);
      break;
    case HUB_CLIENT_EVENT_DIRECT:
      line = g_strdup_printf ("direct %s %s", event->from, text);
      break;
    case HUB_CLIENT_EVENT_TYPING:
      line = g_strdup_printf ("typing %s %s", event->room, event->user);
      break;
    case HUB_CLIENT_EVENT_PRESENCE:
      line = g_strdup_printf ("presence %s %s %s", event->room, event->user, event->presence);
      break;
    case HUB_CLIENT_EVENT_STATUS:
      line = g_strdup_printf ("status %s %s", event->user, event->status);
      break;
    default:
      return;
  }
  g_ptr_array_add (peer->events, line);
}

static void
on_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  Peer *peer = user_data;

  if (error != NULL)
    peer->errors++;
  else
    peer->replies++;
}

static const HubClientCallbacks callbacks = {.state_changed = on_state, .event = on_event};

static Peer *
peer_new (const char *url, const char *name, gboolean self_signed)
{
  Peer *peer = g_new0 (Peer, 1);
  HubClientOptions options;
  g_autoptr (GError) error = NULL;

  hub_client_options_init (&options);
  options.url = url;
  options.user = name;
  options.allow_self_signed = self_signed;
  peer->name = name;
  peer->events = g_ptr_array_new_with_free_func (g_free);
  peer->client = hub_client_new (&options, &callbacks, peer, &error);
  ck_assert_msg (peer->client != NULL, "client: %s", error ? error->message : "?");
  hub_client_connect (peer->client);
  return peer;
}

static void
peer_free (Peer *peer)
{
  hub_client_free (peer->client);
  g_ptr_array_unref (peer->events);
  g_free (peer);
}

static gboolean
is_connected (gpointer data)
{
  return ((Peer *)data)->state == HUB_CLIENT_CONNECTED;
}

typedef struct {
  Peer *peer;
  const char *line;
} EventWait;

static gboolean
has_event (gpointer data)
{
  EventWait *w = data;

  for (guint i = 0; i < w->peer->events->len; i++) {
    if (strcmp (g_ptr_array_index (w->peer->events, i), w->line) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
expect_event (Peer *peer, const char *line)
{
  EventWait w = {peer, line};

  if (!loop_until (has_event, &w, 5000)) {
    GString *got = g_string_new (NULL);

    for (guint i = 0; i < peer->events->len; i++)
      g_string_append_printf (got, "  %s\n", (char *)g_ptr_array_index (peer->events, i));
    ck_abort_msg ("%s should get '%s'; got:\n%s", peer->name, line, got->str);
  }
}

typedef struct {
  gboolean done, ok;
} Call;

static void
on_call (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  Call *call = user_data;

  call->done = TRUE;
  call->ok = error == NULL;
}

static gboolean
call_done (gpointer data)
{
  return ((Call *)data)->done;
}

/* Sends a request and waits for its reply, which must be ok. */
static void
call_ok (Peer *peer, const char *type, const char *fields_json)
{
  g_autoptr (JsonNode) fields = json_from_string (fields_json, NULL);
  Call call = {0};

  hub_client_request (peer->client, type, json_node_get_object (fields), on_call, &call);
  ck_assert_msg (loop_until (call_done, &call, 5000), "%s: no reply to %s", peer->name, type);
  ck_assert_msg (call.ok, "%s: %s should succeed", peer->name, type);
}

static void
chat_between (const char *url, gboolean self_signed)
{
  Peer *alice = peer_new (url, "alice", self_signed);
  Peer *bob = peer_new (url, "bob", self_signed);
  g_autoptr (JsonObject) payload = json_object_new ();

  ck_assert_msg (loop_until (is_connected, alice, 5000), "alice should connect to %s", url);
  ck_assert_msg (loop_until (is_connected, bob, 5000), "bob should connect to %s", url);
  call_ok (alice, "join", "{\"room\":\"general\"}");
  call_ok (bob, "join", "{\"room\":\"general\"}");
  expect_event (alice, "presence general bob join");

  json_object_set_string_member (payload, "text", "hi bob");
  hub_client_publish (alice->client, "general", payload, on_reply, alice);
  expect_event (bob, "message general 1 alice hi bob");
  expect_event (alice, "message general 1 alice hi bob");
  ck_assert_int_eq (hub_client_get_last_seq (bob->client, "general"), 1);

  ck_assert (hub_client_typing (bob->client, "general"));
  expect_event (alice, "typing general bob");

  call_ok (alice, "subscribe", "{\"users\":[\"bob\"]}");
  call_ok (bob, "status", "{\"status\":\"away\"}");
  expect_event (alice, "status bob away");

  json_object_set_string_member (payload, "text", "psst");
  hub_client_direct (bob->client, "alice", payload, on_reply, bob);
  expect_event (alice, "direct bob psst");

  call_ok (bob, "leave", "{\"room\":\"general\"}");
  expect_event (alice, "presence general bob leave");
  ck_assert_int_eq (hub_client_get_last_seq (bob->client, "general"), -1);

  peer_free (alice);
  peer_free (bob);
}

START_TEST (two_clients_chat)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));

  chat_between (url, FALSE);
}
END_TEST

START_TEST (two_clients_chat_over_wss)
{
  g_autofree char *dir = g_dir_make_tmp ("hub-client-wss-XXXXXX", NULL);
  g_autofree char *cert = g_build_filename (dir, "cert.pem", NULL);
  g_autofree char *key = g_build_filename (dir, "key.pem", NULL);
  g_autofree char *url = NULL;
  g_autoptr (GSubprocess) server = NULL;
  guint16 wss_port = 0;

  client_test_make_certificate (cert, key);
  server = client_test_start_wss_server (cert, key, &wss_port);
  url = g_strdup_printf ("wss://127.0.0.1:%u/ws", wss_port);
  chat_between (url, TRUE);

  /* Trusting the certificate as a CA works too; without either, no connection. */
  {
    HubClientOptions options;
    Peer strict = {.name = "strict", .events = g_ptr_array_new_with_free_func (g_free)};
    Peer trusting = {.name = "trusting", .events = g_ptr_array_new_with_free_func (g_free)};

    hub_client_options_init (&options);
    options.url = url;
    options.user = "strict";
    options.auto_reconnect = FALSE;
    strict.client = hub_client_new (&options, &callbacks, &strict, NULL);
    options.user = "trusting";
    options.ca_file = cert;
    trusting.client = hub_client_new (&options, &callbacks, &trusting, NULL);
    hub_client_connect (strict.client);
    hub_client_connect (trusting.client);
    ck_assert_msg (loop_until (is_connected, &trusting, 5000), "a client trusting the CA connects");
    loop_for (300);
    ck_assert_msg (strict.state == HUB_CLIENT_DISCONNECTED,
                   "an unknown self-signed certificate is refused (state %s)",
                   hub_client_state_to_string (strict.state));
    hub_client_free (strict.client);
    hub_client_free (trusting.client);
    g_ptr_array_unref (strict.events);
    g_ptr_array_unref (trusting.events);
  }
  if (!hub_test_platform_request_stop (server, HUB_TEST_STOP_TERM))
    g_subprocess_force_exit (server); /* no graceful stop here (Windows): its exit is not tested */
  g_subprocess_wait (server, NULL, NULL);
  g_unlink (cert);
  g_unlink (key);
  g_rmdir (dir);
}
END_TEST

/* ---- a thousand clients ---- */

#define N_MANY 1000

static guint n_many;

static guint n_connected;

static void
count_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  if (change->state == HUB_CLIENT_CONNECTED)
    n_connected++;
}

static gboolean
first_connected (gpointer data)
{
  return n_connected >= 1;
}

static gboolean
all_connected (gpointer data)
{
  return n_connected >= n_many;
}

START_TEST (a_thousand_clients)
{
  guint64 limit;
  g_autoptr (HubTestServer) server = NULL;
  g_autofree char *url = NULL;
  HubClient **clients = g_new0 (HubClient *, N_MANY);

  const HubClientCallbacks counting = {.state_changed = count_state};
  long before, after;

  /* Each side needs a descriptor per connection; the server inherits this.
   * Where the hard limit is lower, as many clients as it allows. */
  limit = hub_test_platform_raise_open_files (4 * N_MANY);
  ck_assert_msg (limit > 64, "the open-file limit should be readable (got %" G_GUINT64_FORMAT ")",
                 limit);
  n_many = (guint)MIN ((guint64)N_MANY, (limit - 64) / 2);
  ck_assert_msg (n_many >= 100, "this test needs at least 264 file descriptors (ulimit -n)");
  server = hub_test_server_start (NULL);
  url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  n_connected = 0;
  {
    /* One client first, so the shared lws context is part of "before". */
    HubClientOptions options;

    hub_client_options_init (&options);
    options.url = url;
    options.user = "u0";
    clients[0] = hub_client_new (&options, &counting, NULL, NULL);
    hub_client_connect (clients[0]);
    ck_assert_msg (loop_until (first_connected, NULL, 5000), "the first client should connect");
    loop_for (200);
  }
  before = hub_test_platform_rss_kib ();
  ck_assert_msg (before > 0, "this process's resident memory should be measurable");
  for (guint i = 1; i < n_many; i++) {
    HubClientOptions options;
    g_autofree char *user = g_strdup_printf ("u%u", i);

    hub_client_options_init (&options);
    options.url = url;
    options.user = user;
    clients[i] = hub_client_new (&options, &counting, NULL, NULL);
    hub_client_connect (clients[i]);
  }
  ck_assert_msg (loop_until (all_connected, NULL, 60000), "all %u clients should connect, %u did",
                 n_many, n_connected);
  after = hub_test_platform_rss_kib ();
  fprintf (stderr,
           "a_thousand_clients: RSS %ld KiB before, %ld KiB after %d more connected clients: "
           "%.1f KiB per client\n",
           before, after, n_many - 1, (double)(after - before) / (n_many - 1));
  ck_assert_msg (after - before < 64 * (long)(n_many - 1),
                 "a client should cost less than 64 KiB (got %.1f KiB)",
                 (double)(after - before) / (n_many - 1));
  for (guint i = 0; i < n_many; i++)
    hub_client_free (clients[i]);
  g_free (clients);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-chat");

  HUB_TEST_ADD (suite, two_clients_chat, 30);
  HUB_TEST_ADD (suite, two_clients_chat_over_wss, 60);
  HUB_TEST_ADD (suite, a_thousand_clients, 120);
  return hub_test_run (suite);
}

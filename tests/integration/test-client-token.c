/* test-client-token.c: the client side of PROTOCOL.md §12's token lifetime
 * over real sockets. HubClient: a connection kept past several deadlines by
 * its token provider; 4003 without a provider reported once, no reconnect
 * loop; a refused refresh, then 4003 and a reconnect with a fresh token;
 * 4010 (from a small fake server: the server API that sends it is not in
 * this tree yet) final. hub-client: --token-file rotated on disk between
 * refreshes, --token-command (and its failure), `hub-client token` minting
 * tokens the server takes with their `rooms` claim and room tokens in
 * effect, and its bad input refused in one line. */
#include "test-client-util.h"

#include <glib/gstdio.h>
#include <hub/hub-auth.h>
#include <string.h>

#define SECRET "itest-client-token-secret-0123456789abc"

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

/* A token for @user expiring @ttl_s from now, with the `rooms` claim @rooms
 * (JSON, nullable). (transfer full) */
static char *
mint (const char *user, gint64 ttl_s, const char *rooms)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", user);
  json_object_set_int_member (claims, "exp", now_s () + ttl_s);
  if (rooms != NULL) {
    g_autoptr (JsonNode) node = json_from_string (rooms, NULL);

    ck_assert_msg (node != NULL, "test JSON: %s", rooms);
    json_object_set_member (claims, "rooms", g_steal_pointer (&node));
  }
  return hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
}

static guint
scaled (guint ms)
{
  return ms * (guint)hub_test_time_scale ();
}

/* ---- a HubClient and what it reports ---- */

typedef struct {
  const char *user;
  gint64 ttl_s;
  gboolean refuse_refresh; /* refresh tokens for another user: the server says unauthorized */
  guint asks, connect_asks;
  guint connecting, connected, refreshed, failed;
  GArray *closes; /* guint close codes of RECONNECTING / DISCONNECTED changes */
  char *last_reason, *last_failure;
  HubClientState state;
} Life;

static void
life_init (Life *life, const char *user, gint64 ttl_s)
{
  memset (life, 0, sizeof *life);
  life->user = user;
  life->ttl_s = ttl_s;
  life->closes = g_array_new (FALSE, FALSE, sizeof (guint));
}

static void
life_clear (Life *life)
{
  g_array_unref (life->closes);
  g_free (life->last_reason);
  g_free (life->last_failure);
}

static void
life_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  Life *life = user_data;

  life->state = change->state;
  if (change->state == HUB_CLIENT_CONNECTING)
    life->connecting++;
  else if (change->state == HUB_CLIENT_CONNECTED)
    life->connected++;
  else if (change->close_code != 0)
    g_array_append_val (life->closes, change->close_code);
  if (change->reason != NULL) {
    g_free (life->last_reason);
    life->last_reason = g_strdup (change->reason);
  }
}

static void
life_event (HubClient *client, const HubClientEvent *event, gpointer user_data)
{
  Life *life = user_data;

  if (event->type == HUB_CLIENT_EVENT_TOKEN_REFRESHED) {
    life->refreshed++;
  } else if (event->type == HUB_CLIENT_EVENT_TOKEN_FAILED) {
    life->failed++;
    g_free (life->last_failure);
    life->last_failure = g_strdup_printf ("%s: %s", event->code, event->text);
  }
}

/* The provider: mints at once, inside the call (as hub-loadgen would). */
static void
life_token_needed (HubClient *client, HubClientTokenNeed need, gpointer user_data)
{
  Life *life = user_data;
  g_autofree char *token = NULL;

  life->asks++;
  if (need == HUB_CLIENT_TOKEN_CONNECT)
    life->connect_asks++;
  token = mint (need == HUB_CLIENT_TOKEN_REFRESH && life->refuse_refresh ? "mallory" : life->user,
                life->ttl_s, NULL);
  hub_client_supply_token (client, token);
}

static const HubClientCallbacks life_callbacks = {
    .state_changed = life_state,
    .event = life_event,
};

/* Connects (synchronously) with @token, and the provider above when @provide. */
static HubClient *
life_connect (Life *life, guint16 port, const char *token, gboolean provide)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  g_autoptr (GError) error = NULL;
  HubClientOptions options;
  HubClient *client;

  hub_client_options_init (&options);
  options.url = url;
  options.token = token;
  options.backoff_min_ms = 50;
  if (provide) {
    options.token_provider = life_token_needed;
    options.token_provider_data = life;
  }
  client = hub_client_connect_sync (&options, &life_callbacks, life, scaled (10000), &error);
  ck_assert_msg (client != NULL, "connect: %s", error != NULL ? error->message : "?");
  return client;
}

static gboolean
refreshed_thrice (gpointer data)
{
  return ((Life *)data)->refreshed >= 3 || ((Life *)data)->closes->len > 0;
}

static gboolean
is_disconnected (gpointer data)
{
  return ((Life *)data)->state == HUB_CLIENT_DISCONNECTED;
}

static gboolean
refused_then_back (gpointer data)
{
  Life *life = data;

  return life->connected >= 2 && life->state == HUB_CLIENT_CONNECTED;
}

/* The provider keeps one connection through several token lifetimes: three
 * refreshes, each with a fresh token, and no 4003. */
START_TEST (provider_keeps_connection)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autoptr (JsonObject) pong = NULL;
  g_autoptr (GError) error = NULL;
  Life life;
  HubClient *client;
  gint64 first_deadline;

  life_init (&life, "alice", 4);
  /* No token in the options: the provider gives the first one too. */
  client = life_connect (&life, hub_test_server_port (server), NULL, TRUE);
  ck_assert_int_eq (life.connect_asks, 1);
  first_deadline = hub_client_get_expires_ts (client);
  ck_assert_msg (first_deadline > now_ms () && first_deadline <= now_ms () + 4000,
                 "welcome's expires_ts is the token's exp, got %" G_GINT64_FORMAT, first_deadline);
  ck_assert_msg (loop_until (refreshed_thrice, &life, scaled (30000)),
                 "three refreshes within 30 s, got %u", life.refreshed);
  ck_assert_msg (life.closes->len == 0, "no close while refreshing (first: %u, %s)",
                 life.closes->len > 0 ? g_array_index (life.closes, guint, 0) : 0,
                 life.last_reason != NULL ? life.last_reason : "");
  ck_assert_msg (now_ms () > first_deadline + 1000,
                 "the connection outlived its first token's deadline (and the 1 s of §12)");
  ck_assert_int_eq (life.failed, 0);
  ck_assert_int_eq (life.connected, 1);
  ck_assert_int_eq (life.asks, 1 + life.refreshed);
  ck_assert_msg (hub_client_get_expires_ts (client) > first_deadline, "the deadline moved on");
  pong = hub_client_request_sync (client, "ping", NULL, scaled (5000), &error);
  ck_assert_msg (pong != NULL, "the connection still answers: %s", error ? error->message : "");
  hub_client_free (client);
  life_clear (&life);
}
END_TEST

/* Without a provider the deadline ends the connection with 4003, reported
 * as such, and the client does not come back (no reconnect loop). */
START_TEST (expiry_without_provider_is_final)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *token = mint ("bob", 2, NULL);
  g_autoptr (HubTestHttpResponse) stats = NULL;
  g_autoptr (JsonObject) figures = NULL;
  Life life;
  HubClient *client;

  life_init (&life, "bob", 2);
  client = life_connect (&life, port, token, FALSE);
  ck_assert_msg (loop_until (is_disconnected, &life, scaled (10000)),
                 "the deadline should end the connection");
  ck_assert_int_eq (life.closes->len, 1);
  ck_assert_uint_eq (g_array_index (life.closes, guint, 0), 4003);
  ck_assert_msg (life.last_reason != NULL && g_str_has_prefix (life.last_reason, "token expired"),
                 "a plain reason: %s", life.last_reason);
  loop_for (scaled (1500));
  ck_assert_msg (life.connecting == 1 && life.state == HUB_CLIENT_DISCONNECTED,
                 "no reconnect after 4003 without a provider (%u attempts)", life.connecting);
  stats = hub_test_http_get (port, "/api/stats");
  figures = hub_test_http_response_json (stats);
  ck_assert_int_eq (hub_test_json_int (figures, "connections"), 0);
  hub_client_free (client);
  life_clear (&life);
}
END_TEST

/* A refused refresh is reported; the deadline closes the connection (4003);
 * the client comes back with a fresh token from the provider and its rooms. */
START_TEST (refused_refresh_then_reconnect)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) rooms = NULL;
  Life life;
  HubClient *client;

  life_init (&life, "carol", 3);
  life.refuse_refresh = TRUE;
  client = life_connect (&life, hub_test_server_port (server), NULL, TRUE);
  ck_assert_msg (hub_client_join_sync (client, "general", scaled (5000), &error), "join: %s",
                 error ? error->message : "");
  ck_assert_msg (loop_until (refused_then_back, &life, scaled (20000)),
                 "4003 then a new welcome (connected %u, closes %u, failures %u)", life.connected,
                 life.closes->len, life.failed);
  ck_assert_msg (life.failed >= 1 && g_str_has_prefix (life.last_failure, "unauthorized"),
                 "the refused refresh is reported: %s", life.last_failure);
  ck_assert_uint_eq (g_array_index (life.closes, guint, 0), 4003);
  ck_assert_msg (life.connect_asks >= 2, "the reconnect asked for a fresh token");
  rooms = hub_client_get_rooms (client);
  ck_assert_msg (rooms->len == 1 && strcmp (rooms->pdata[0], "general") == 0,
                 "the room is still ours after the reconnect");
  hub_client_free (client);
  life_clear (&life);
}
END_TEST

/* ---- a fake server that closes with a given code (4010 here) ---- */

typedef struct {
  guint16 code;
  const char *reason;
  gint connections; /* (atomic) */
} Closer;

/* Reads one WebSocket frame of the client (masked) into @payload. */
static gboolean
read_client_frame (GInputStream *in, GString *payload)
{
  guint8 head[2], mask[4];
  guint64 len;

  if (!g_input_stream_read_all (in, head, 2, NULL, NULL, NULL))
    return FALSE;
  len = head[1] & 0x7f;
  if (len == 126 || len == 127) {
    guint8 ext[8];
    gsize n = len == 126 ? 2 : 8;

    if (!g_input_stream_read_all (in, ext, n, NULL, NULL, NULL))
      return FALSE;
    len = 0;
    for (gsize i = 0; i < n; i++)
      len = len << 8 | ext[i];
  }
  if (len > 1 << 20 || !g_input_stream_read_all (in, mask, 4, NULL, NULL, NULL))
    return FALSE;
  g_string_set_size (payload, len);
  if (!g_input_stream_read_all (in, payload->str, len, NULL, NULL, NULL))
    return FALSE;
  for (guint64 i = 0; i < len; i++)
    payload->str[i] ^= mask[i % 4];
  return TRUE;
}

/* Writes an unmasked frame (@opcode: 1 text, 8 close) of fewer than 126 bytes… or more. */
static void
write_frame (GOutputStream *out, guint8 opcode, const char *data, gsize len)
{
  guint8 head[4] = {0x80 | opcode};
  gsize head_len = 2;

  if (len < 126) {
    head[1] = (guint8)len;
  } else {
    head[1] = 126;
    head[2] = (guint8)(len >> 8);
    head[3] = (guint8)len;
    head_len = 4;
  }
  g_output_stream_write_all (out, head, head_len, NULL, NULL, NULL);
  g_output_stream_write_all (out, data, len, NULL, NULL, NULL);
}

/* One connection, in the service's own thread: the upgrade, a welcome to the
 * hello, then the close. */
static gboolean
on_closer_run (GThreadedSocketService *service, GSocketConnection *connection, GObject *source,
               gpointer user_data)
{
  Closer *closer = user_data;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_autoptr (GString) request = g_string_new (NULL);
  g_autoptr (GString) hello = g_string_new (NULL);
  g_autoptr (GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  g_autofree char *key = NULL;
  g_autofree char *accept = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *welcome = NULL;
  g_autoptr (JsonNode) hello_json = NULL;
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  const char *at;
  char c;
  GString *close_payload;

  g_atomic_int_inc (&closer->connections);
  g_socket_set_timeout (g_socket_connection_get_socket (connection), 10);
  while (!g_str_has_suffix (request->str, "\r\n\r\n") && request->len < 8192) {
    if (g_input_stream_read (in, &c, 1, NULL, NULL) != 1)
      return TRUE;
    g_string_append_c (request, c);
  }
  at = strstr (request->str, "Sec-WebSocket-Key: ");
  if (at == NULL)
    at = strstr (request->str, "sec-websocket-key: ");
  if (at == NULL)
    return TRUE;
  at += strlen ("Sec-WebSocket-Key: ");
  key = g_strndup (at, strcspn (at, "\r\n"));
  g_checksum_update (sha1, (const guchar *)key, -1);
  g_checksum_update (sha1, (const guchar *)"258EAFA5-E914-47DA-95CA-C5AB0DC85B11", -1);
  g_checksum_get_digest (sha1, digest, &digest_len);
  accept = g_base64_encode (digest, digest_len);
  answer = g_strdup_printf ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                            "Sec-WebSocket-Protocol: hub.v1\r\n\r\n",
                            accept);
  g_output_stream_write_all (out, answer, strlen (answer), NULL, NULL, NULL);
  if (!read_client_frame (in, hello))
    return TRUE;
  hello_json = json_from_string (hello->str, NULL);
  welcome = g_strdup_printf (
      "{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT
      ",\"conn\":\"fake-1\",\"user\":\"alice\",\"device\":\"default\",\"node\":\"fake\","
      "\"heartbeat_s\":30,\"max_message_bytes\":65536,\"rooms\":[]}",
      hello_json != NULL && JSON_NODE_HOLDS_OBJECT (hello_json)
          ? json_object_get_int_member_with_default (json_node_get_object (hello_json), "id", 0)
          : 0);
  write_frame (out, 1, welcome, strlen (welcome));
  close_payload = g_string_new (NULL);
  g_string_append_c (close_payload, (char)(closer->code >> 8));
  g_string_append_c (close_payload, (char)(closer->code & 0xff));
  g_string_append (close_payload, closer->reason);
  write_frame (out, 8, close_payload->str, close_payload->len);
  g_string_free (close_payload, TRUE);
  /* The client's answer to the close, then the end. */
  while (g_input_stream_read (in, &c, 1, NULL, NULL) == 1)
    ;
  return TRUE;
}

static GSocketService *
closer_start (Closer *closer, guint16 *port)
{
  GSocketService *service = g_threaded_socket_service_new (4);
  g_autoptr (GError) error = NULL;

  *port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (service), NULL, &error);
  ck_assert_msg (*port != 0, "a port for the fake server: %s", error ? error->message : "?");
  g_signal_connect (service, "run", G_CALLBACK (on_closer_run), closer);
  g_socket_service_start (service);
  return service;
}

static void
closer_stop (GSocketService *service)
{
  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  g_object_unref (service);
}

/* 4010 is final: HubClient reports it in plain words and does not reconnect,
 * even with a token provider; hub-client says so in one line and exits 3. */
START_TEST (closed_4010_is_final)
{
  Closer closer = {.code = 4010, .reason = "removed by a test"};
  guint16 port;
  GSocketService *service = closer_start (&closer, &port);
  Life life;
  HubClient *client;

  life_init (&life, "alice", 60);
  client = life_connect (&life, port, "T", TRUE);
  ck_assert_msg (loop_until (is_disconnected, &life, scaled (10000)),
                 "the close should end the connection");
  ck_assert_uint_eq (g_array_index (life.closes, guint, 0), 4010);
  ck_assert_str_eq (life.last_reason,
                    "disconnected by the server (close code 4010: removed by a test)");
  loop_for (scaled (1500));
  ck_assert_msg (g_atomic_int_get (&closer.connections) == 1 && life.asks == 0,
                 "no reconnect after 4010 (%d connections, %u token asks)",
                 g_atomic_int_get (&closer.connections), life.asks);
  hub_client_free (client);
  life_clear (&life);

  {
    const char *args[] = {"--user",    "alice", "--wait-for", "{\"type\":\"never\"}",
                          "--timeout", "20",    NULL};
    g_autofree char *err = NULL;
    int status = client_run (port, "", args, NULL, &err);

    ck_assert_msg (status == 3, "exit 3 after 4010, got %d; stderr:\n%s", status, err);
    ck_assert_msg (strstr (err, "* connection lost: disconnected by the server (close code 4010: "
                                "removed by a test)\n") != NULL,
                   "one clear line; stderr:\n%s", err);
    ck_assert_msg (strstr (err, "reconnecting") == NULL && strstr (err, "retry") == NULL,
                   "no reconnect promised; stderr:\n%s", err);
  }
  closer_stop (service);
}
END_TEST

/* ---- hub-client ---- */

typedef struct {
  ClientProc *proc;
  const char *needle;
  guint count;
} ErrWait;

static guint
count_in (const char *text, const char *needle)
{
  guint n = 0;

  for (const char *at = strstr (text, needle); at != NULL; at = strstr (at + 1, needle))
    n++;
  return n;
}

static gboolean
err_has (gpointer data)
{
  ErrWait *w = data;

  return count_in (w->proc->err->str, w->needle) >= w->count || w->proc->exited;
}

/* Waits (bounded) for @count occurrences of @needle on stderr; fails the test otherwise. */
static void
expect_err (ClientProc *proc, const char *needle, guint count, guint timeout_ms)
{
  ErrWait w = {proc, needle, count};

  ck_assert_msg (loop_until (err_has, &w, timeout_ms) && count_in (proc->err->str, needle) >= count,
                 "stderr should show '%s' %u times; it shows:\n%s", needle, count, proc->err->str);
}

static void
expect_out (ClientProc *proc, const char *needle, guint timeout_ms)
{
  g_autofree char *out = NULL;

  if (client_proc_wait_line (proc, needle, timeout_ms))
    return;
  out = client_proc_stdout (proc);
  ck_abort_msg ("stdout should show '%s'; it shows:\n%s\nstderr:\n%s", needle, out, proc->err->str);
}

/* hub_test_ws_ok, its reply dropped. */
static void
ws_ok (HubTestWs *ws, const char *json)
{
  json_object_unref (hub_test_ws_ok (ws, "%s", json));
}

static void
write_token (const char *path, const char *token)
{
  g_autoptr (GError) error = NULL;

  /* Written aside and renamed: a reader never sees half a token. */
  ck_assert_msg (g_file_set_contents (path, token, -1, &error), "write %s: %s", path,
                 error ? error->message : "");
}

/* --token-file is read again for each refresh: rotated on disk between two
 * refreshes, each new token's `rooms` claim lets the client into a room the
 * one before did not, and the connection outlives the first token. */
START_TEST (token_file_rotated)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *dir = g_dir_make_tmp ("hub-token-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "token", NULL);
  g_autofree char *first = mint ("dave", 4, "{\"r1\":\"jc\"}");
  g_autofree char *second = NULL;
  g_autofree char *third = NULL;
  const char *args[] = {"--token-file", path, "--batch", NULL};
  g_autoptr (ClientProc) proc = NULL;
  g_autoptr (HubTestWs) check = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = NULL;
  gint64 first_deadline;

  /* The first token does not let dave into r2 (nor r3). */
  welcome = hub_test_ws_call (check, "{'type':'hello','token':'%s'}", first);
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  hub_test_ws_err (check, "forbidden", "{'type':'join','room':'r2'}");

  write_token (path, first);
  proc = client_proc_start_open (hub_test_server_port (server), args);
  expect_err (proc, "* connected to ", 1, scaled (10000));
  first_deadline = now_ms () + 4000;
  client_proc_send_line (proc, "/join r1");
  expect_out (proc, "* joined r1", scaled (5000));

  second = mint ("dave", 8, "{\"r1\":\"jc\",\"r2\":\"jc\"}");
  write_token (path, second);
  expect_err (proc, "* token refreshed: it expires at ", 1, scaled (10000));
  client_proc_send_line (proc, "/join r2");
  expect_out (proc, "* joined r2", scaled (5000));

  third = mint ("dave", 8, "{\"r1\":\"jc\",\"r2\":\"jc\",\"r3\":\"jc\"}");
  write_token (path, third);
  expect_err (proc, "* token refreshed: it expires at ", 2, scaled (15000));
  client_proc_send_line (proc, "/join r3");
  expect_out (proc, "* joined r3", scaled (5000));
  ck_assert_msg (now_ms () > first_deadline + 1000, "past the first token's deadline");
  client_proc_send_line (proc, "/info");
  expect_out (proc, "token expires at ", scaled (5000));
  client_proc_close_stdin (proc);
  ck_assert_int_eq (client_proc_wait (proc, scaled (10000)), 0);
  ck_assert_msg (strstr (proc->err->str, "connection lost") == NULL &&
                     strstr (proc->err->str, "not refreshed") == NULL,
                 "one connection throughout; stderr:\n%s", proc->err->str);
  g_remove (path);
  g_rmdir (dir);
}
END_TEST

/* hub-client token as the token command (every platform has it): each
 * refresh runs it; a command that fails at a refresh is reported in one
 * line, the deadline ends the connection, and with no token for the
 * reconnect hub-client gives up (exit 3). */
START_TEST (token_command)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  const char *bin = g_getenv ("HUB_CLIENT_BIN");
  g_autofree char *quoted = g_shell_quote (bin);
  g_autofree char *dir = g_dir_make_tmp ("hub-token-XXXXXX", NULL);
  g_autofree char *secret_file = g_build_filename (dir, "secret", NULL);
  g_autofree char *quoted_file = g_shell_quote (secret_file);
  g_autofree char *good =
      g_strdup_printf ("%s token --secret-file %s --user erin --ttl 3", quoted, quoted_file);
  const char *args[] = {"--token-command", good, "--batch", NULL};
  g_autoptr (ClientProc) proc = NULL;

  write_token (secret_file, SECRET "\n");
  proc = client_proc_start_open (port, args);
  expect_err (proc, "* connected to vm as erin", 1, scaled (10000));
  expect_err (proc, "* token refreshed: it expires at ", 2, scaled (15000));
  client_proc_send_line (proc, "/join tc");
  expect_out (proc, "* joined tc", scaled (5000));

  /* The secret goes: the command fails from now on. */
  g_remove (secret_file);
  expect_err (proc, "! token not refreshed: token_unavailable: no fresh token: --token-command", 1,
              scaled (10000));
  ck_assert_msg (
      strstr (proc->err->str, "failed (exit status 2): hub-client token: --secret-file") != NULL,
      "the command's failure in its own words; stderr:\n%s", proc->err->str);
  expect_err (proc, "* connection lost: token expired (close code 4003)", 1, scaled (10000));
  ck_assert_int_eq (client_proc_wait (proc, scaled (10000)), 3);
  ck_assert_msg (strstr (proc->err->str, "* no fresh token: --token-command") != NULL,
                 "why it gave up; stderr:\n%s", proc->err->str);
  g_rmdir (dir);
}
END_TEST

/* What `hub-client token` prints, the server takes: the user, the deadline,
 * the `rooms` claim (team.* yes, elsewhere forbidden), admin, a room token;
 * --secret-file reads the secret as hub-server does. */
START_TEST (token_subcommand_accepted)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *dir = g_dir_make_tmp ("hub-token-XXXXXX", NULL);
  g_autofree char *secret_file = g_build_filename (dir, "secret", NULL);
  const char *team[] = {"token",
                        "--secret",
                        SECRET,
                        "--user",
                        "fay",
                        "--rooms",
                        "{\"team.*\":\"jpc\",\"dm.{user}.*\":\"jpc\"}",
                        "--ttl",
                        "600",
                        NULL};
  const char *admin[] = {"token", "--secret-file", secret_file, "--user", "gus", "--admin", NULL};
  const char *vault[] = {"token",  "--secret-file", secret_file, "--user", "fay",
                         "--room", "vault",         "--allow",   "jp",     NULL};
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *admin_token = NULL;
  g_autofree char *vault_token = NULL;
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) ok = NULL;
  g_autoptr (HubTestWs) fay = hub_test_ws_open (port);
  g_autoptr (HubTestWs) gus = hub_test_ws_open (port);
  gint64 before = now_s ();

  write_token (secret_file, SECRET "\n");
  ck_assert_int_eq (client_run (0, NULL, team, &out, &err), 0);
  ck_assert_msg (err[0] == '\0' && strstr (out, SECRET) == NULL,
                 "only the token, never the secret");
  g_strstrip (out);
  welcome = hub_test_ws_call (fay, "{'type':'hello','token':'%s'}", out);
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  ck_assert_str_eq (hub_test_json_string (welcome, "user"), "fay");
  ck_assert_msg (hub_test_json_int (welcome, "expires_ts") >= (before + 600) * 1000 &&
                     hub_test_json_int (welcome, "expires_ts") <= (now_s () + 600) * 1000,
                 "--ttl 600: expires_ts in 600 s");
  ws_ok (fay, "{'type':'join','room':'team.red'}");
  ws_ok (fay, "{'type':'join','room':'dm.fay.gus'}");
  hub_test_ws_err (fay, "forbidden", "{'type':'join','room':'lobby'}");
  hub_test_ws_err (fay, "forbidden", "{'type':'broadcast','payload':{}}");

  /* A room token lets fay into vault, which her token does not name. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (0, NULL, vault, &out, &err), 0);
  vault_token = g_strstrip (g_steal_pointer (&out));
  ck_assert_msg (g_str_has_prefix (vault_token, "eyJ"), "a JWT: %s", vault_token);
  hub_test_ws_err (fay, "forbidden", "{'type':'join','room':'vault'}");
  ok = hub_test_ws_ok (fay, "{'type':'join','room':'vault','token':'%s'}", vault_token);
  ck_assert_str_eq (hub_test_json_string (ok, "room"), "vault");

  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (0, NULL, admin, &out, &err), 0);
  admin_token = g_strstrip (g_steal_pointer (&out));
  g_clear_pointer (&welcome, json_object_unref);
  welcome = hub_test_ws_call (gus, "{'type':'hello','token':'%s'}", admin_token);
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (gus, "{'type':'broadcast','payload':{'text':'from an admin'}}");
  g_remove (secret_file);
  g_rmdir (dir);
}
END_TEST

/* Bad input to `hub-client token`: one line on stderr, nothing on stdout, exit 2. */
START_TEST (token_subcommand_bad_input)
{
  const char *const cases[][12] = {
      {"token", "--secret", SECRET, "--user", "amy", "--rooms", "{\"team.*\":", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--rooms", "[\"team\"]", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--rooms", "{\"te*am\":\"j\"}", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--rooms", "{\"team\":\"jx\"}", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--ttl", "0", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--ttl", "-3", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--ttl", "soon", NULL},
      {"token", "--secret", SECRET, "--user", "@amy", NULL},
      {"token", "--secret", SECRET, NULL},
      {"token", "--user", "amy", NULL},
      {"token", "--secret", "", "--user", "amy", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--room", "vault", "--allow", "jz", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--allow", "jp", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "--room", "vault", "--admin", NULL},
      {"token", "--secret-file", "/nonexistent/secret", "--user", "amy", NULL},
      {"token", "--secret", SECRET, "--user", "amy", "extra", NULL},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = client_run (0, NULL, cases[i], &out, &err);

    ck_assert_msg (status == 2, "case %u (%s %s): exit 2, got %d", i, cases[i][3],
                   cases[i][5] ? cases[i][5] : "", status);
    ck_assert_msg (out[0] == '\0', "case %u: nothing on stdout, got %s", i, out);
    ck_assert_msg (count_in (err, "\n") == 1 && g_str_has_prefix (err, "hub-client token: "),
                   "case %u: one line on stderr, got:\n%s", i, err);
    ck_assert_msg (strstr (err, SECRET) == NULL, "case %u: the secret is never printed", i);
  }
}
END_TEST

/* /refresh without a source, and the sources' own bad input. */
START_TEST (refresh_needs_a_source)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  const char *plain[] = {"--user", "hal", NULL};
  const char *missing[] = {"--token-file", "/nonexistent/token", NULL};
  const char *empty[] = {"--token-command", "hub-client-no-such-command", NULL};
  const char *both[] = {"--token", "x.y.z", "--token-file", "/tmp/x", NULL};
  const char *room_token[] = {"--user", "hal", "--room-token", "not-a-token", NULL};
  g_autofree char *err = NULL;

  ck_assert_int_eq (client_run (port, "/refresh\n", plain, NULL, &err), 2);
  ck_assert_msg (strstr (err, "/refresh needs a token source") != NULL, "stderr:\n%s", err);
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (port, "/rooms\n", missing, NULL, &err), 2);
  ck_assert_msg (count_in (err, "\n") == 1 &&
                     strstr (err, "--token-file /nonexistent/token") != NULL,
                 "one line naming the file; stderr:\n%s", err);
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (port, "/rooms\n", empty, NULL, &err), 2);
  ck_assert_msg (count_in (err, "\n") == 1 && strstr (err, "cannot run") != NULL,
                 "one line saying the command cannot run; stderr:\n%s", err);
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (port, "/rooms\n", both, NULL, &err), 2);
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (port, "/rooms\n", room_token, NULL, &err), 2);
  ck_assert_msg (strstr (err, "--room-token: not a JWT") != NULL, "stderr:\n%s", err);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-token");

  HUB_TEST_ADD (suite, provider_keeps_connection, 90);
  HUB_TEST_ADD (suite, expiry_without_provider_is_final, 60);
  HUB_TEST_ADD (suite, refused_refresh_then_reconnect, 60);
  HUB_TEST_ADD (suite, closed_4010_is_final, 60);
  HUB_TEST_ADD (suite, token_file_rotated, 90);
  HUB_TEST_ADD (suite, token_command, 90);
  HUB_TEST_ADD (suite, token_subcommand_accepted, 60);
  HUB_TEST_ADD (suite, token_subcommand_bad_input, 60);
  HUB_TEST_ADD (suite, refresh_needs_a_source, 60);
  return hub_test_run (suite);
}

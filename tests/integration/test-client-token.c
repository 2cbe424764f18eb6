/* test-client-token.c: the client side of PROTOCOL.md §12's token lifetime
 * over real sockets. HubClient: a connection kept past several deadlines by
 * its token provider; 4003 without a provider reported once, no reconnect
 * loop; a refused refresh, then 4003 and a reconnect with a fresh token;
 * 4010 final (from a small fake server closing with it, and from the real
 * server API's /api/disconnect, after an /api/remove hub-client reports). hub-client:
 * --token-command minting 5 s tokens kept connected for 20 s; a plain --token closed 4003 and
 * saying so; a room token into a private room; --token-file rotated on disk between refreshes;
 * `hub-client token` minting tokens the server takes, and its bad input refused in one line;
 * hostile token commands (empty, failing, huge, binary, hanging) at start and at a refresh, each
 * one line within bounds. The @redis variant runs what involves the server in cluster mode (two
 * nodes where a second one tells more). */
#include "test-client-util.h"

#include "hub-test-platform.h"
#include "hub-test-redis.h"

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
    /* With a token source (--secret), which would let it reconnect after a 4003. */
    const char *args[] = {"--user",    "alice",      "--secret",
                          SECRET,      "--wait-for", "{\"type\":\"never\"}",
                          "--timeout", "20",         NULL};
    g_autofree char *err = NULL;
    int status = client_run (port, "", args, NULL, &err);

    ck_assert_msg (status == 3, "exit 3 after 4010, got %d; stderr:\n%s", status, err);
    ck_assert_int_eq (g_atomic_int_get (&closer.connections), 2);
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
  HUB_TEST_SKIP_OPEN_DEFECT ("hub-client-stdin");
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
  HUB_TEST_SKIP_OPEN_DEFECT ("hub-client-stdin");
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

/* ---- the servers: one, or two nodes of a cluster ---- */

/* In memory mode one server (b is a); in the @redis variant two nodes of
 * one cluster on the suite's redis-server, so that what hub-client does on
 * node a (its refreshes, its room token's grant) is seen from node b. */
typedef struct {
  HubTestServer *a; /* (owned) */
  HubTestServer *b; /* (owned) (nullable) a second node */
} Servers;

static void
servers_start (Servers *servers)
{
  memset (servers, 0, sizeof *servers);
  if (!hub_test_store_is_redis ()) {
    servers->a = hub_test_server_start ("--secret", SECRET, NULL);
    return;
  }
  {
    g_autofree char *prefix = hub_test_redis_unique_prefix ();
    const char *url = hub_test_store_redis_url ();

    servers->a = hub_test_server_start ("--secret", SECRET, "--redis", url, "--redis-prefix",
                                        prefix, "--node", "na", NULL);
    servers->b = hub_test_server_start ("--secret", SECRET, "--redis", url, "--redis-prefix",
                                        prefix, "--node", "nb", NULL);
    /* A node answers hellos once its store is ready: /healthz says when (as hub_test_redis_node).
     */
    ck_assert_msg (
        hub_test_wait_health (hub_test_server_port (servers->a), 200, scaled (10000)) &&
            hub_test_wait_health (hub_test_server_port (servers->b), 200, scaled (10000)),
        "both nodes healthy");
  }
}

static guint16
servers_port_b (Servers *servers)
{
  return hub_test_server_port (servers->b != NULL ? servers->b : servers->a);
}

static void
servers_stop (Servers *servers)
{
  g_clear_pointer (&servers->b, hub_test_server_free);
  g_clear_pointer (&servers->a, hub_test_server_free);
}

/* A raw client on @port as @user (a token for an hour, @rooms its claim), in @room. */
static HubTestWs *
member_open (guint16 port, const char *user, const char *rooms, const char *room)
{
  HubTestWs *ws = hub_test_ws_open (port);
  g_autofree char *token = mint (user, 3600, rooms);
  g_autoptr (JsonObject) welcome = hub_test_ws_call (ws, "{'type':'hello','token':'%s'}", token);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (welcome, "type"), "welcome") == 0,
                 "%s's hello on port %u: %s %s", user, port, hub_test_json_string (welcome, "code"),
                 hub_test_json_string (welcome, "message"));
  if (room != NULL)
    json_object_unref (hub_test_ws_ok (ws, "{'type':'join','room':'%s'}", room));
  return ws;
}

/* Takes @ws's frames (at most 50, each within the usual bound) until a
 * `message` whose payload's text is @text. */
static gboolean
took_text (HubTestWs *ws, const char *text)
{
  for (guint i = 0; i < 50; i++) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (ws, HUB_TEST_WS_TIMEOUT_MS);
    JsonObject *payload;

    if (frame == NULL)
      return FALSE;
    if (g_strcmp0 (json_object_get_string_member_with_default (frame, "type", ""), "message") != 0)
      continue;
    payload = json_object_get_object_member (frame, "payload");
    if (payload != NULL &&
        g_strcmp0 (json_object_get_string_member_with_default (payload, "text", ""), text) == 0)
      return TRUE;
  }
  return FALSE;
}

typedef struct {
  ClientProc *proc;
  gint64 until_us; /* monotonic */
  guint refreshes;
} Outlive;

static gboolean
outlived (gpointer data)
{
  Outlive *o = data;

  return o->proc->exited ||
         (g_get_monotonic_time () >= o->until_us &&
          count_in (o->proc->err->str, "* token refreshed: it expires at ") >= o->refreshes);
}

/* The brief's case: --token-command mints a 5 s token each time; hub-client
 * stays connected for 20 s (four lifetimes) because it refreshes, on one
 * connection, and still receives the room's messages (from the other node
 * in the @redis variant). */
START_TEST (token_command_outlives_short_tokens)
{
  HUB_TEST_SKIP_OPEN_DEFECT ("hub-client-stdin");
  Servers servers;
  const char *bin = g_getenv ("HUB_CLIENT_BIN");
  g_autofree char *quoted = g_shell_quote (bin);
  g_autofree char *dir = g_dir_make_tmp ("hub-token-XXXXXX", NULL);
  g_autofree char *secret_file = g_build_filename (dir, "secret", NULL);
  g_autofree char *quoted_file = g_shell_quote (secret_file);
  g_autofree char *command =
      g_strdup_printf ("%s token --secret-file %s --user ivy --ttl 5", quoted, quoted_file);
  const char *args[] = {"--token-command", command, "--batch", NULL};
  g_autoptr (ClientProc) proc = NULL;
  g_autoptr (HubTestWs) other = NULL;
  Outlive outlive;
  gint64 connected_ms;

  servers_start (&servers);
  write_token (secret_file, SECRET "\n");
  proc = client_proc_start_open (hub_test_server_port (servers.a), args);
  expect_err (proc, "* connected to ", 1, scaled (10000));
  connected_ms = now_ms ();
  client_proc_send_line (proc, "/join long");
  expect_out (proc, "* joined long", scaled (5000));

  /* 20 s of 5 s tokens: a refresh every ~4 s (75-85 % of each lifetime). */
  outlive = (Outlive){proc, g_get_monotonic_time () + 20 * G_USEC_PER_SEC, 4};
  ck_assert_msg (loop_until (outlived, &outlive, scaled (40000)) && !proc->exited,
                 "20 s and 4 refreshes on one connection; stderr:\n%s", proc->err->str);
  ck_assert_msg (now_ms () - connected_ms >= 20000, "20 s passed");
  ck_assert_msg (strstr (proc->err->str, "connection lost") == NULL &&
                     count_in (proc->err->str, "* connected to ") == 1 &&
                     strstr (proc->err->str, "not refreshed") == NULL,
                 "one connection throughout, every refresh taken; stderr:\n%s", proc->err->str);

  /* The connection is alive, not only open: a message from the other node arrives. */
  other = member_open (servers_port_b (&servers), "jay", NULL, "long");
  ws_ok (other, "{'type':'publish','room':'long','payload':{'text':'still there, ivy?'}}");
  expect_out (proc, "still there, ivy?", scaled (5000));
  client_proc_send_line (proc, "/info");
  expect_out (proc, "token expires at ", scaled (5000));
  client_proc_close_stdin (proc);
  ck_assert_int_eq (client_proc_wait (proc, scaled (10000)), 0);
  servers_stop (&servers);
  g_remove (secret_file);
  g_rmdir (dir);
}
END_TEST

/* hub-client with a plain --token and no source: the server closes it 4003
 * at the deadline; hub-client says so in plain words, says how to avoid it,
 * does not reconnect, and exits 3. */
START_TEST (hub_client_expiry_without_source)
{
  Servers servers;
  g_autofree char *token = NULL;
  const char *args[] = {"--token",   NULL, "--wait-for", "{\"type\":\"never\"}",
                        "--timeout", "30", NULL};
  g_autoptr (ClientProc) proc = NULL;
  g_autoptr (HubTestHttpResponse) stats = NULL;
  g_autoptr (JsonObject) figures = NULL;
  int status;

  servers_start (&servers);
  token = mint ("kim", 3, NULL);
  args[1] = token;
  proc = client_proc_start (hub_test_server_port (servers.a), "/join short\n", args);
  status = client_proc_wait (proc, scaled (20000));
  ck_assert_msg (status == 3, "exit 3 (connection failure), got %d; stderr:\n%s", status,
                 proc->err->str);
  ck_assert_msg (strstr (proc->err->str, "* connection lost: token expired (close code 4003") !=
                     NULL,
                 "the close said plainly; stderr:\n%s", proc->err->str);
  ck_assert_msg (strstr (proc->err->str, "--token-file, --token-command or --secret") != NULL,
                 "how to stay connected; stderr:\n%s", proc->err->str);
  ck_assert_msg (count_in (proc->err->str, "* connecting to ") == 1 &&
                     strstr (proc->err->str, "reconnecting") == NULL,
                 "no reconnect; stderr:\n%s", proc->err->str);
  stats = hub_test_http_get (hub_test_server_port (servers.a), "/api/stats");
  figures = hub_test_http_response_json (stats);
  ck_assert_int_eq (hub_test_json_int (figures, "connections"), 0);
  servers_stop (&servers);
}
END_TEST

/* A token with the admin claim, for the server API (§13). (transfer full) */
static char *
mint_admin (void)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", "backend");
  json_object_set_int_member (claims, "exp", now_s () + 3600);
  json_object_set_boolean_member (claims, "admin", TRUE);
  return hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
}

/* The backend through the real server API (§13), on the other node in the
 * @redis variant: `POST /api/remove` takes hub-client out of a room (it says
 * so and drops the room, issue 16), then `POST /api/disconnect` closes it
 * with 4010: one plain line, exit 3, and no reconnect although hub-client
 * could mint itself a fresh token (--secret). */
START_TEST (removed_then_disconnected_through_the_api)
{
  HUB_TEST_SKIP_OPEN_DEFECT ("hub-client-stdin");
  Servers servers;
  const char *args[] = {"--user", "liv", "--device", "laptop", "--secret", SECRET, NULL};
  g_autoptr (ClientProc) proc = NULL;
  g_autofree char *admin = mint_admin ();
  g_autoptr (HubTestHttpResponse) removed = NULL;
  g_autoptr (HubTestHttpResponse) disconnected = NULL;
  g_autoptr (HubTestHttpResponse) user = NULL;
  g_autoptr (JsonObject) answer = NULL;
  g_autoptr (JsonObject) details = NULL;
  int status;

  servers_start (&servers);
  proc = client_proc_start_open (hub_test_server_port (servers.a), args);
  expect_err (proc, "* connected to ", 1, scaled (10000));
  client_proc_send_line (proc, "/join crew");
  expect_out (proc, "* joined crew", scaled (5000));
  client_proc_send_line (proc, "/join deck");
  expect_out (proc, "* joined deck", scaled (5000));

  removed = hub_test_http_post (servers_port_b (&servers), "/api/remove", admin,
                                "{\"room\":\"crew\",\"user\":\"liv\"}");
  ck_assert_msg (removed->status == 200, "remove: %u %s", removed->status, removed->body);
  expect_err (proc, "[crew] ! you are no longer in this room: left from another device or removed",
              1, scaled (5000));
  /* Still connected, still in deck, out of crew. */
  client_proc_send_line (proc, "/rooms");
  expect_out (proc, "* rooms: deck (1 member", scaled (5000));
  {
    g_autofree char *bearer = g_strdup_printf ("Authorization: Bearer %s", admin);
    const char *headers[] = {bearer, NULL};

    user = hub_test_http_request (servers_port_b (&servers), "GET", "/api/users/liv", headers, NULL,
                                  NULL);
    ck_assert_msg (user != NULL && user->status == 200, "GET /api/users/liv answers 200");
  }
  details = hub_test_http_response_json (user);
  {
    JsonArray *rooms = hub_test_json_array (details, "rooms");

    ck_assert_msg (rooms != NULL && json_array_get_length (rooms) == 1 &&
                       g_strcmp0 (json_array_get_string_element (rooms, 0), "deck") == 0,
                   "liv is in deck only: %s", user->body);
  }

  disconnected = hub_test_http_post (servers_port_b (&servers), "/api/disconnect", admin,
                                     "{\"user\":\"liv\"}");
  ck_assert_msg (disconnected->status == 200, "disconnect: %u %s", disconnected->status,
                 disconnected->body);
  answer = hub_test_http_response_json (disconnected);
  ck_assert_int_eq (hub_test_json_int (answer, "disconnected"), 1);
  status = client_proc_wait (proc, scaled (10000));
  ck_assert_msg (status == 3, "exit 3 after 4010, got %d; stderr:\n%s", status, proc->err->str);
  ck_assert_msg (strstr (proc->err->str,
                         "* connection lost: disconnected by the server (close code 4010") != NULL,
                 "one clear line; stderr:\n%s", proc->err->str);
  ck_assert_msg (count_in (proc->err->str, "* connecting to ") == 1 &&
                     strstr (proc->err->str, "reconnecting") == NULL,
                 "no reconnect; stderr:\n%s", proc->err->str);
  servers_stop (&servers);
}
END_TEST

/* A room token lets hub-client into a private room its own token does not
 * name: refused without it, joined with `/join ROOM TOKEN` and with
 * --room-token then `/join ROOM`; the room's messages (from the other node
 * in the @redis variant) reach it; a room token for another user is refused. */
START_TEST (room_token_joins_private_room)
{
  HUB_TEST_SKIP_OPEN_DEFECT ("hub-client-stdin");
  Servers servers;
  g_autofree char *token = NULL;
  g_autofree char *vault = NULL;
  g_autofree char *safe = NULL;
  g_autofree char *foreign = NULL;
  g_autofree char *err = NULL;
  const char *vault_args[] = {"token",  "--secret", SECRET,    "--user", "lea",
                              "--room", "vault",    "--allow", "jp",     NULL};
  const char *safe_args[] = {"token",  "--secret", SECRET,    "--user", "lea",
                             "--room", "safe",     "--allow", "j",      NULL};
  const char *foreign_args[] = {"token", "--secret", SECRET,  "--user",
                                "max",   "--room",   "vault", NULL};
  const char *args[] = {"--token", NULL, "--room-token", NULL, "--batch", NULL};
  g_autoptr (ClientProc) proc = NULL;
  g_autoptr (HubTestWs) owner = NULL;
  g_autofree char *line = NULL;

  servers_start (&servers);
  token = mint ("lea", 3600, "{\"team.*\":\"jpc\"}");
  ck_assert_int_eq (client_run (0, NULL, vault_args, &vault, &err), 0);
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (0, NULL, safe_args, &safe, &err), 0);
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (0, NULL, foreign_args, &foreign, &err), 0);
  g_strstrip (vault);
  g_strstrip (safe);
  g_strstrip (foreign);
  /* The rooms exist, made by someone whose token allows it, on the other node. */
  owner = member_open (servers_port_b (&servers), "own", "{\"*\":\"jpc\"}", "vault");
  ws_ok (owner, "{'type':'join','room':'safe'}");

  /* Without the room token, and with one for another user: refused (a
   * script stops at its first error reply, exit 1). */
  {
    const char *plain[] = {"--token", token, NULL};

    g_clear_pointer (&err, g_free);
    ck_assert_int_eq (
        client_run (hub_test_server_port (servers.a), "/join vault\n", plain, NULL, &err), 1);
    ck_assert_msg (strstr (err, "! error forbidden: ") != NULL, "stderr:\n%s", err);
    g_clear_pointer (&err, g_free);
    line = g_strdup_printf ("/join vault %s\n", foreign);
    ck_assert_int_eq (client_run (hub_test_server_port (servers.a), line, plain, NULL, &err), 1);
    ck_assert_msg (strstr (err, "! error unauthorized: room token for another user") != NULL,
                   "stderr:\n%s", err);
    g_clear_pointer (&line, g_free);
  }

  args[1] = token;
  args[3] = safe;
  proc = client_proc_start_open (hub_test_server_port (servers.a), args);
  expect_err (proc, "* connected to ", 1, scaled (10000));
  line = g_strdup_printf ("/join vault %s", vault);
  client_proc_send_line (proc, line);
  expect_out (proc, "* joined vault", scaled (5000));
  client_proc_send_line (proc, "/join safe");
  expect_out (proc, "* joined safe", scaled (5000));
  ws_ok (owner, "{'type':'publish','room':'vault','payload':{'text':'for lea only'}}");
  expect_out (proc, "for lea only", scaled (5000));
  client_proc_send_line (proc, "/room vault");
  client_proc_send_line (proc, "lea was here");
  ck_assert_msg (took_text (owner, "lea was here"), "lea's line reached the room's owner");
  client_proc_close_stdin (proc);
  ck_assert_int_eq (client_proc_wait (proc, scaled (10000)), 0);
  servers_stop (&servers);
}
END_TEST

/* ---- hostile token commands ---- */

/* This test program, run as a token command (`SELF --hostile MODE`): the
 * same on every platform, no shell needed. Set by main(). */
static char *self_path;

/* What a hostile command does; "switch FILE" reads the mode from FILE, or
 * prints FILE when it holds a token (so one command is good, then not). */
static int
hostile_main (const char *mode, const char *file)
{
  g_autofree char *contents = NULL;

  if (strcmp (mode, "switch") == 0) {
    if (file == NULL || !g_file_get_contents (file, &contents, NULL, NULL))
      return 9;
    g_strstrip (contents);
    if (g_str_has_prefix (contents, "eyJ")) {
      fputs (contents, stdout);
      return 0;
    }
    mode = contents;
  }
  if (strcmp (mode, "empty") == 0)
    return 0;
  if (strcmp (mode, "fail") == 0) {
    fputs ("hostile: no token for you\nsecond line\n", stderr);
    return 7;
  }
  if (strcmp (mode, "huge") == 0) {
    static char chunk[65536];

    /* Bounded (256 MiB): hub-client stops it long before. */
    memset (chunk, 'A', sizeof chunk);
    for (guint i = 0; i < 4096; i++)
      if (fwrite (chunk, 1, sizeof chunk, stdout) != sizeof chunk)
        return 0;
    return 0;
  }
  if (strcmp (mode, "binary") == 0) {
    fwrite ("eyJ\0\x01\xff", 1, 6, stdout);
    return 0;
  }
  if (strcmp (mode, "hang") == 0) {
    /* Bounded (120 s): hub-client stops it after its 10 s. */
    for (guint i = 0; i < 1200; i++)
      g_usleep (100000);
    return 0;
  }
  return 9;
}

typedef struct {
  const char *mode;
  const char *says; /* what hub-client's one line must contain */
} Hostile;

static const Hostile hostiles[] = {
    {"empty", "gave no token (empty)"},
    {"fail", "failed (exit status 7): hostile: no token for you"},
    {"huge", "printed more than 64 KiB (not a token; stopped)"},
    {"binary", "printed binary data, not a token"},
    {"hang", "did not finish within 10 s (stopped)"},
};

/* --token-file's bad contents at start: one line each, exit 2, at once
 * (a file of 1 MiB is not read whole: 64 KiB + 1 byte tell). */
START_TEST (hostile_token_file)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *dir = g_dir_make_tmp ("hub-token-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "token", NULL);
  g_autofree char *huge = g_strnfill (1 << 20, 'A');
  const struct {
    const char *contents;
    gssize len;
    const char *says;
  } cases[] = {
      {"", 0, "gave no token (empty)"},
      {" \n\t\n", -1, "gave no token (empty)"},
      {huge, -1, "not a token (larger than 64 KiB)"},
      {"eyJ\0abc", 7, "not a token (binary data)"},
      {"eyJ.a.b eyJ.c.d\n", -1, "more than one word"},
      {"eyJ.a\x01.b\n", -1, "not a token (byte 0x01 at 5)"},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const char *args[] = {"--token-file", path, "--batch", NULL};
    g_autofree char *err = NULL;
    int status;

    ck_assert (g_file_set_contents (path, cases[i].contents, cases[i].len, NULL));
    status = client_run (hub_test_server_port (server), "/rooms\n", args, NULL, &err);
    ck_assert_msg (status == 2, "case %u: exit 2, got %d; stderr:\n%s", i, status, err);
    ck_assert_msg (count_in (err, "\n") == 1 && strstr (err, cases[i].says) != NULL &&
                       strstr (err, "--token-file ") != NULL && strstr (err, "AAAA") == NULL,
                   "case %u: one line saying '%s'; stderr:\n%s", i, cases[i].says, err);
  }
  g_remove (path);
  g_rmdir (dir);
}
END_TEST

/* At start: one line naming the command and what went wrong, exit 2, and
 * within the command's 10 s limit (plus the start). */
START_TEST (hostile_command_at_start)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (hostiles); i++) {
    g_autofree char *quoted = g_shell_quote (self_path);
    g_autofree char *command = g_strdup_printf ("%s --hostile %s", quoted, hostiles[i].mode);
    const char *args[] = {"--token-command", command, "--batch", NULL};
    g_autoptr (ClientProc) proc =
        client_proc_start (hub_test_server_port (server), "/join r\n", args);
    gint64 start = g_get_monotonic_time ();
    int status = client_proc_wait (proc, scaled (30000));
    gint64 took_ms = (g_get_monotonic_time () - start) / 1000;

    ck_assert_msg (status == 2, "%s: exit 2 (usage), got %d; stderr:\n%s", hostiles[i].mode, status,
                   proc->err->str);
    ck_assert_msg (count_in (proc->err->str, "\n") == 1 &&
                       strstr (proc->err->str, hostiles[i].says) != NULL &&
                       strstr (proc->err->str, "--token-command") != NULL,
                   "%s: one line saying '%s'; stderr:\n%s", hostiles[i].mode, hostiles[i].says,
                   proc->err->str);
    ck_assert_msg (strcmp (hostiles[i].mode, "hang") == 0 || took_ms < scaled (8000),
                   "%s: at once, not at the time limit (%" G_GINT64_FORMAT " ms)", hostiles[i].mode,
                   took_ms);
    ck_assert_msg (strstr (proc->err->str, "AAAA") == NULL, "the output is not echoed");
  }
}
END_TEST

/* At a refresh: the command gave a token at start, then turns hostile. The
 * failure is one line; the deadline closes the connection (4003); the
 * reconnect finds no token either; hub-client exits 3, all within bounds. */
START_TEST (hostile_command_at_refresh)
{
  HUB_TEST_SKIP_OPEN_DEFECT ("hub-client-stdin");
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *dir = g_dir_make_tmp ("hub-token-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "mode", NULL);
  g_autofree char *quoted_self = g_shell_quote (self_path);
  g_autofree char *quoted_file = g_shell_quote (file);
  g_autofree char *command = g_strdup_printf ("%s --hostile switch %s", quoted_self, quoted_file);
  const char *args[] = {"--token-command", command, "--batch", NULL};

  for (guint i = 0; i < G_N_ELEMENTS (hostiles); i++) {
    g_autofree char *token = mint ("nia", 3, NULL);
    g_autoptr (ClientProc) proc = NULL;
    int status;

    write_token (file, token);
    proc = client_proc_start_open (hub_test_server_port (server), args);
    expect_err (proc, "* connected to ", 1, scaled (10000));
    write_token (file, hostiles[i].mode);
    /* The refresh at ~2.4 s, the deadline at 3 s (+1 s of §12), the
     * reconnect's ask: the longest (hang) is two 10 s limits. */
    expect_err (proc, "* connection lost: token expired (close code 4003)", 1, scaled (30000));
    status = client_proc_wait (proc, scaled (30000));
    ck_assert_msg (status == 3, "%s: exit 3, got %d; stderr:\n%s", hostiles[i].mode, status,
                   proc->err->str);
    ck_assert_msg (strstr (proc->err->str, hostiles[i].says) != NULL,
                   "%s: the failure said ('%s'); stderr:\n%s", hostiles[i].mode, hostiles[i].says,
                   proc->err->str);
    ck_assert_msg (strstr (proc->err->str, "AAAA") == NULL &&
                       count_in (proc->err->str, "* connected to ") == 1,
                   "%s: no output echoed, no second connection; stderr:\n%s", hostiles[i].mode,
                   proc->err->str);
  }
  g_remove (file);
  g_rmdir (dir);
}
END_TEST

int
main (int argc, char **argv)
{
  Suite *suite;

  if (argc >= 3 && strcmp (argv[1], "--hostile") == 0)
    return hostile_main (argv[2], argc >= 4 ? argv[3] : NULL);
  self_path = g_canonicalize_filename (argv[0], NULL);
  suite = suite_create ("client-token");

  /* Both stores (the @redis variant: two nodes of a cluster) for what involves the server. */
  HUB_TEST_ADD (suite, provider_keeps_connection, 90);
  HUB_TEST_ADD (suite, expiry_without_provider_is_final, 60);
  HUB_TEST_ADD (suite, refused_refresh_then_reconnect, 60);
  HUB_TEST_ADD (suite, token_command_outlives_short_tokens, 120);
  HUB_TEST_ADD (suite, hub_client_expiry_without_source, 60);
  HUB_TEST_ADD (suite, room_token_joins_private_room, 60);
  HUB_TEST_ADD (suite, token_file_rotated, 90);
  HUB_TEST_ADD (suite, token_subcommand_accepted, 60);
  HUB_TEST_ADD (suite, removed_then_disconnected_through_the_api, 60);
  if (!hub_test_store_is_redis ()) {
    /* The client's own behaviour, whatever the store: once. */
    HUB_TEST_ADD (suite, closed_4010_is_final, 60);
    HUB_TEST_ADD (suite, token_command, 90);
    HUB_TEST_ADD (suite, token_subcommand_bad_input, 60);
    HUB_TEST_ADD (suite, refresh_needs_a_source, 60);
    HUB_TEST_ADD (suite, hostile_command_at_start, 120);
    HUB_TEST_ADD (suite, hostile_token_file, 60);
    HUB_TEST_ADD (suite, hostile_command_at_refresh, 240);
  }
  return hub_test_run (suite);
}

/* test-client-batch.c: the hub-client binary's scriptable mode against the
 * real server: every command in one script, --json, --wait-for between two
 * clients, --secret, and each exit code. */
#include "test-client-util.h"

#include <glib/gstdio.h>

#define SECRET "itest-client-secret"

static gboolean
contains (const char *haystack, const char *needle)
{
  return strstr (haystack, needle) != NULL;
}

#define ASSERT_CONTAINS(text, needle)                                                              \
  ck_assert_msg (contains ((text), (needle)), "expected '%s' in:\n%s", (needle), (text))

START_TEST (every_command)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  const char *args[] = {"--user", "alice", "--device", "laptop", NULL};
  const char *script = "/help\n"
                       "/join general\n"
                       "hello there\n"
                       "/join tech\n"
                       "/room general\n"
                       "second line\n"
                       "/rooms\n"
                       "/who\n"
                       "/who tech\n"
                       "/info\n"
                       "/info tech\n"
                       "/msg alice note to self\n"
                       "/multi alice,nobody hi both\n"
                       "/broadcast hi everyone\n"
                       "/status away\n"
                       "/sub alice bob\n"
                       "/unsub bob\n"
                       "/online\n"
                       "/history 5\n"
                       "/typing\n"
                       "/raw {\"type\":\"ping\"}\n"
                       "/stats\n"
                       "/leave tech\n"
                       "/quit\n"
                       "this line is never run\n";
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = client_run (hub_test_server_port (server), script, args, &out, &err);

  ck_assert_msg (status == 0, "the script should succeed, got %d; stderr:\n%s\nstdout:\n%s", status,
                 err, out);
  ASSERT_CONTAINS (out, "/multi U1,U2 TEXT"); /* /help */
  ASSERT_CONTAINS (out, "* joined general (1 member: alice (online))");
  ASSERT_CONTAINS (out, "[general #1] alice (laptop): hello there");
  ASSERT_CONTAINS (out, "* general is now current");
  ASSERT_CONTAINS (out, "[general #2] alice (laptop): second line");
  ASSERT_CONTAINS (out, "* rooms: general (1 member, #2), tech (1 member, #0)");
  ASSERT_CONTAINS (out, "* general: alice (online, 1 device)");
  ASSERT_CONTAINS (out, "* tech: alice (online, 1 device)");
  ASSERT_CONTAINS (out, "* general \"general\": created ");
  ASSERT_CONTAINS (out, "* tech \"tech\": created ");
  ASSERT_CONTAINS (out, "* delivered to 0 connections"); /* /msg to oneself */
  ASSERT_CONTAINS (out, "[multicast] alice: hi both");
  ASSERT_CONTAINS (out, "; offline: nobody");
  ASSERT_CONTAINS (out, "[broadcast] alice: hi everyone");
  ASSERT_CONTAINS (out, "* status set");
  ASSERT_CONTAINS (out, "* subscribed: ");
  ASSERT_CONTAINS (out, "* unsubscribed");
  ASSERT_CONTAINS (out, "* online (1): alice");
  ASSERT_CONTAINS (out, "[general #1] alice (laptop): hello there\n"); /* history repeats it */
  ASSERT_CONTAINS (out, "* pong");
  ASSERT_CONTAINS (out, "\"connections\":1"); /* /stats */
  ASSERT_CONTAINS (out, "* left tech");
  ck_assert_msg (!contains (out, "never run"), "nothing runs after /quit");
  ASSERT_CONTAINS (err, "* connected to ");
}
END_TEST

START_TEST (json_lines)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  const char *args[] = {"--user", "bob", "--json", NULL};
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;
  int status = client_run (hub_test_server_port (server), "/join general\nhi\n", args, &out, NULL);
  gboolean welcome = FALSE, message = FALSE, ok = FALSE;

  ck_assert_int_eq (status, 0);
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
    g_autoptr (JsonObject) frame = hub_test_json_parse (lines[i], strlen (lines[i]));
    const char *type;

    ck_assert_msg (frame != NULL, "every --json line is a JSON object: %s", lines[i]);
    type = hub_test_json_string (frame, "type");
    welcome |= g_strcmp0 (type, "welcome") == 0;
    message |= g_strcmp0 (type, "message") == 0;
    ok |= g_strcmp0 (type, "ok") == 0;
  }
  ck_assert_msg (welcome && message && ok, "welcome, ok and message frames should be printed:\n%s",
                 out);
}
END_TEST

START_TEST (wait_for_between_two_clients)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  const char *receiver_args[] = {"--user",
                                 "carol",
                                 "--json",
                                 "--wait-for",
                                 "{\"type\":\"message\",\"payload\":{\"text\":\"ping\"}}",
                                 "--timeout",
                                 "15",
                                 NULL};
  const char *sender_args[] = {"--user", "dave", NULL};
  g_autoptr (ClientProc) receiver = client_proc_start (port, "/join r1\n", receiver_args);
  g_autofree char *out = NULL;

  /* The join's reply means carol is a member: dave's message will reach her. */
  ck_assert_msg (client_proc_wait_line (receiver, "\"members\"", 10000),
                 "the receiver should join r1");
  ck_assert_int_eq (client_run (port, "/join r1\nnot yet\nping\n", sender_args, NULL, NULL), 0);
  ck_assert_int_eq (client_proc_wait (receiver, 15000), 0);
  out = client_proc_stdout (receiver);
  ASSERT_CONTAINS (out, "\"text\":\"not yet\"");
  ASSERT_CONTAINS (out, "\"text\":\"ping\"");
}
END_TEST

START_TEST (exit_codes)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  const char *user[] = {"--user", "erin", NULL};
  const char *wait[] = {"--user",    "erin", "--wait-for", "{\"type\":\"never\"}",
                        "--timeout", "1",    NULL};
  const char *bad_wait[] = {"--user", "erin", "--wait-for", "[1]", NULL};
  const char *no_user[] = {NULL};
  const char *bad_url[] = {"http://127.0.0.1/ws", "--user", "erin", NULL};
  g_autofree char *err = NULL;

  ck_assert_int_eq (client_run (port, "/leave nowhere\n", user, NULL, &err), 1);
  ASSERT_CONTAINS (err, "! error room_not_found");
  ck_assert_int_eq (client_run (port, "/frobnicate\n", user, NULL, NULL), 2);
  ck_assert_int_eq (client_run (port, "hello with no room\n", user, NULL, NULL), 2);
  ck_assert_int_eq (client_run (port, "", no_user, NULL, NULL), 2);
  ck_assert_int_eq (client_run (0, "", bad_url, NULL, NULL), 2);
  ck_assert_int_eq (client_run (port, "", bad_wait, NULL, NULL), 2);
  ck_assert_int_eq (client_run (port, "", wait, NULL, NULL), 4);
  ck_assert_int_eq (client_run (port, "/rooms\n", user, NULL, NULL), 0);
  {
    /* A port where nothing listens: the stopped server's. */
    int exit_status;

    ck_assert (hub_test_server_stop (server, 5000, &exit_status, NULL));
    ck_assert_int_eq (client_run (port, "/rooms\n", user, NULL, NULL), 3);
  }
}
END_TEST

START_TEST (secret_and_token)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  const char *good[] = {"--user", "frank", "--secret", SECRET, NULL};
  const char *admin[] = {"--user", "frank", "--secret", SECRET, "--admin", NULL};
  const char *wrong[] = {"--user", "frank", "--secret", "not-the-secret", NULL};
  g_autofree char *token = hub_auth_mint (SECRET, strlen (SECRET), "gina", FALSE, 0);
  const char *with_token[] = {"--token", token, NULL};
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  ck_assert_int_eq (client_run (port, "/join s\nsecret hello\n", good, &out, NULL), 0);
  ASSERT_CONTAINS (out, "[s #1] frank (default): secret hello");
  ck_assert_int_eq (client_run (port, "/broadcast not allowed\n", good, NULL, NULL), 1);
  ck_assert_int_eq (client_run (port, "/broadcast allowed\n", admin, NULL, NULL), 0);
  ck_assert_int_eq (client_run (port, "/rooms\n", with_token, NULL, NULL), 0);
  ck_assert_int_eq (client_run (port, "/rooms\n", wrong, NULL, &err), 3);
  ASSERT_CONTAINS (err, "unauthorized");
}
END_TEST

/* ---- connection errors in plain words ---- */

/* A port nothing listens on: one the system just gave and took back. */
static guint16
closed_port (void)
{
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GError) error = NULL;
  guint16 port = g_socket_listener_add_any_inet_port (listener, NULL, &error);

  ck_assert_msg (port != 0, "a free port: %s", error ? error->message : "?");
  g_socket_listener_close (listener);
  return port;
}

/* A TCP server answering every request with @answer (an HTTP one, say), on
 * the test's main context. */
static gboolean
on_incoming (GSocketService *service, GSocketConnection *connection, GObject *source,
             gpointer user_data)
{
  const char *answer = user_data;
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  char buf[4096];

  /* The request first (a WebSocket upgrade); the answer closes the connection. */
  g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (connection)), buf, sizeof buf,
                       NULL, NULL);
  g_output_stream_write_all (out, answer, strlen (answer), NULL, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  return TRUE;
}

/* Runs the script "/rooms" against @url and expects exit 3 and @needle on
 * stderr, and no retry promised. */
static void
expect_plain_failure (const char *url, const char *const *more, const char *needle)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  g_ptr_array_add (args, (gpointer)url);
  g_ptr_array_add (args, "--user");
  g_ptr_array_add (args, "plain");
  for (guint i = 0; more != NULL && more[i] != NULL; i++)
    g_ptr_array_add (args, (gpointer)more[i]);
  g_ptr_array_add (args, NULL);
  status = client_run (0, "/rooms\n", (const char *const *)args->pdata, &out, &err);
  ck_assert_msg (status == 3, "%s: exit 3 (connection failure), got %d; stderr:\n%s", url, status,
                 err);
  ASSERT_CONTAINS (err, needle);
  ck_assert_msg (!contains (err, "retry") && !contains (err, "libwebsockets") &&
                     !contains (err, "HS:") && !contains (err, "SSL err") &&
                     !contains (err, "closed before established"),
                 "%s: plain words only, no retry promised:\n%s", url, err);
}

START_TEST (plain_connection_errors)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  guint16 dead = closed_port ();
  g_autofree char *dir = g_dir_make_tmp ("hub-client-tls-XXXXXX", NULL);
  g_autofree char *cert = g_build_filename (dir, "cert.pem", NULL);
  g_autofree char *key = g_build_filename (dir, "key.pem", NULL);
  g_autoptr (GSubprocess) tls_server = NULL;
  g_autoptr (GSocketService) busy = g_socket_service_new ();
  g_autoptr (GError) error = NULL;
  guint16 tls_port = 0, busy_port;
  g_autofree char *url = NULL;
  g_autofree char *needle = NULL;
  /* A label longer than DNS allows (63): the lookup fails without a query
   * leaving the machine. */
  g_autofree char *label = g_strnfill (64, 'a');
  const char *insecure[] = {"--insecure", NULL};

  /* Nothing listens. */
  url = g_strdup_printf ("ws://127.0.0.1:%u/ws", dead);
  needle = g_strdup_printf ("cannot connect to %s: connection refused by 127.0.0.1:%u (no server "
                            "listens there)",
                            url, dead);
  expect_plain_failure (url, NULL, needle);

  /* A server, but not at that path. */
  g_free (url);
  g_free (needle);
  url = g_strdup_printf ("ws://127.0.0.1:%u/chat", port);
  needle = g_strdup_printf ("no WebSocket endpoint at /chat on 127.0.0.1:%u (HTTP 404", port);
  expect_plain_failure (url, NULL, needle);

  /* Another HTTP status. */
  busy_port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (busy), NULL, &error);
  ck_assert_msg (busy_port != 0, "a port for the fake server: %s", error ? error->message : "?");
  g_signal_connect (busy, "incoming", G_CALLBACK (on_incoming),
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  g_socket_service_start (busy);
  g_free (url);
  g_free (needle);
  url = g_strdup_printf ("ws://127.0.0.1:%u/ws", busy_port);
  needle = g_strdup_printf ("127.0.0.1:%u answered HTTP 503 Service Unavailable instead of a "
                            "WebSocket upgrade at /ws",
                            busy_port);
  expect_plain_failure (url, NULL, needle);
  g_socket_service_stop (busy);

  /* wss:// to a plain server. */
  g_free (url);
  g_free (needle);
  url = g_strdup_printf ("wss://127.0.0.1:%u/ws", port);
  needle = g_strdup_printf (
      "TLS handshake with 127.0.0.1:%u failed: the server speaks plain HTTP, not TLS (use ws:// "
      "instead of wss://)",
      port);
  expect_plain_failure (url, insecure, needle);

  /* A TLS server whose certificate is not trusted here. */
  client_test_make_certificate (cert, key);
  tls_server = client_test_start_wss_server (cert, key, &tls_port);
  g_free (url);
  g_free (needle);
  url = g_strdup_printf ("wss://127.0.0.1:%u/ws", tls_port);
  if (g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    needle = g_strdup_printf ("TLS handshake with 127.0.0.1:%u failed: the server's certificate "
                              "is signed by an authority not trusted here (give its CA with "
                              "--ca-file, or --insecure for a test server)",
                              tls_port);
  else /* no glib-networking: the handshake's failure, without its reason */
    needle = g_strdup_printf ("TLS handshake with 127.0.0.1:%u failed", tls_port);
  expect_plain_failure (url, NULL, needle);
  {
    /* … which --insecure accepts. */
    const char *args[] = {url, "--user", "plain", "--insecure", NULL};

    ck_assert_int_eq (client_run (0, "/rooms\n", args, NULL, NULL), 0);
  }
  if (!hub_test_platform_request_stop (tls_server, HUB_TEST_STOP_TERM))
    g_subprocess_force_exit (tls_server);
  g_subprocess_wait (tls_server, NULL, NULL);
  g_remove (cert);
  g_remove (key);
  g_rmdir (dir);

  /* A host name that does not resolve. */
  g_free (url);
  g_free (needle);
  url = g_strdup_printf ("ws://%s.invalid:%u/ws", label, port);
  needle = g_strdup_printf ("cannot resolve the host name %s.invalid", label);
  expect_plain_failure (url, NULL, needle);
}
END_TEST

/* Usage errors are one line; the messages say what is wrong. */
START_TEST (usage_messages)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  const char *user[] = {"--user", "ivy", NULL};
  const char *bogus[] = {"--bogus", NULL};
  const char *help[] = {"--help", NULL};
  const char *json[] = {"--user", "ivy", "--json", NULL};
  g_autofree char *big = g_strnfill (70 * 1024, 'x');
  g_autofree char *script = g_strdup_printf ("/join big\n%s\n", big);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  ck_assert_int_eq (client_run (port, "", bogus, NULL, &err), 2);
  ck_assert_msg (g_str_has_suffix (err, "\n") && strchr (err, '\n') == err + strlen (err) - 1,
                 "a usage error is one line:\n%s", err);
  ASSERT_CONTAINS (err, "--bogus");
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (0, "", help, &out, NULL), 0);
  ASSERT_CONTAINS (out, "[URL] - chat with a hub-server");
  ck_assert_msg (!contains (out, "[URL] [URL]"), "the URL is named once:\n%s", out);
  g_clear_pointer (&out, g_free);

  ck_assert_int_eq (client_run (port, "/join\n", user, NULL, &err), 2);
  ASSERT_CONTAINS (err, "! usage: /join ROOM");
  ck_assert_msg (!contains (err, "usage: usage"), "said once:\n%s", err);
  g_clear_pointer (&err, g_free);
  ck_assert_int_eq (client_run (port, "/join h\n/history 500\n", user, NULL, &err), 2);
  ASSERT_CONTAINS (err, "/history N: N from 1 to 100");
  g_clear_pointer (&err, g_free);

  /* Larger than welcome's max_message_bytes: not sent, the connection kept. */
  ck_assert_int_eq (client_run (port, script, user, NULL, &err), 2);
  ASSERT_CONTAINS (err, "bytes not sent: the server takes at most 65536 bytes per message");
  ck_assert_msg (!contains (err, "1009") && !contains (err, "connection lost"),
                 "no 1009 close:\n%s", err);
  g_clear_pointer (&err, g_free);

  /* Plurals; and the copy of the last message published is in --json's output. */
  ck_assert_int_eq (client_run (port, "/join one\nonly\n/info\n", user, &out, NULL), 0);
  ASSERT_CONTAINS (out, "1 member, 1 message stored, seq 1");
  g_clear_pointer (&out, g_free);
  ck_assert_int_eq (client_run (port, "/join two\nlast words\n", json, &out, NULL), 0);
  ASSERT_CONTAINS (out, "\"payload\":{\"text\":\"last words\"}");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-batch");

  HUB_TEST_ADD (suite, plain_connection_errors, 90);
  HUB_TEST_ADD (suite, usage_messages, 60);

  HUB_TEST_ADD (suite, every_command, 60);
  HUB_TEST_ADD (suite, json_lines, 30);
  HUB_TEST_ADD (suite, wait_for_between_two_clients, 60);
  HUB_TEST_ADD (suite, exit_codes, 90);
  HUB_TEST_ADD (suite, secret_and_token, 60);
  return hub_test_run (suite);
}

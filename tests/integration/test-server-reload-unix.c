/* test-server-reload-unix.c: SIGHUP (issue 15): the key file and the secret
 * file are read again and what can change live is applied without dropping a
 * connection: a rotated secret (the previous one's tokens, connection and
 * room tokens alike, pass for --secret-grace), the log level, a limit for new connections, the
 * guard's bounds (per user, on connections, the HTTP deadline); a key
 * file that does not parse, or a secret file that cannot be read, keeps the running settings and
 * says why. Unix only: Windows has no SIGHUP. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <glib/gstdio.h>
#include <hub/hub-auth.h>
#include <string.h>

#define OLD_SECRET   "itest-reload-old-secret-0123456789abcdef"
#define NEW_SECRET   "itest-reload-new-secret-0123456789abcdef"
#define OTHER_SECRET "itest-reload-other-secret-0123456789abcd"
#define WAIT_MS      10000

typedef struct {
  char *dir;    /* (owned) */
  char *conf;   /* (owned) hub.conf */
  char *secret; /* (owned) secret.txt */
} Files;

static void
files_write (Files *f, const char *conf, const char *secret)
{
  if (conf != NULL)
    ck_assert (g_file_set_contents (f->conf, conf, -1, NULL));
  if (secret != NULL)
    ck_assert (g_file_set_contents (f->secret, secret, -1, NULL));
}

static void
files_init (Files *f, const char *conf, const char *secret)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("hub-reload-XXXXXX", &error);
  ck_assert_msg (f->dir != NULL, "temp dir: %s", error ? error->message : "?");
  f->conf = g_build_filename (f->dir, "hub.conf", NULL);
  f->secret = g_build_filename (f->dir, "secret.txt", NULL);
  files_write (f, conf, secret);
}

static void
files_clear (Files *f)
{
  g_unlink (f->conf);
  g_unlink (f->secret);
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->conf);
  g_free (f->secret);
}

/* SIGHUP, then the @n-th reload's line (@text) in the log. */
static void
reload (HubTestServer *server, const char *text, guint n)
{
  ck_assert_msg (hub_test_server_reload (server), "SIGHUP sent");
  if (!hub_test_server_wait_output (server, text, n, WAIT_MS)) {
    g_autofree char *out = hub_test_server_output (server);

    ck_abort_msg ("after SIGHUP, expected \"%s\" (%u times) in the log; output:\n%s", text, n, out);
  }
}

/* The reply type to a hello with a token minted from @secret. */
static char *
hello_with (guint16 port, const char *secret, const char *user)
{
  g_autofree char *token = hub_auth_mint (secret, strlen (secret), user, FALSE, 0);
  g_autoptr (HubTestWs) ws = hub_test_ws_open (port);
  g_autoptr (JsonObject) reply = hub_test_ws_call (ws, "{'type':'hello','token':'%s'}", token);

  return g_strdup (hub_test_json_string (reply, "type"));
}

static void
expect_hello (guint16 port, const char *secret, const char *user, const char *type, const char *why)
{
  g_autofree char *got = hello_with (port, secret, user);

  ck_assert_msg (g_strcmp0 (got, type) == 0, "%s: expected %s, got %s", why, type, got);
}

/* A room token (§12) minted from @secret for @user joining @room. */
static char *
room_token (const char *secret, const char *user, const char *room)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", user);
  json_object_set_string_member (claims, "room", room);
  return hub_auth_mint_claims (secret, strlen (secret), claims);
}

/* The connection opened before still answers. */
static void
still_connected (HubTestWs *ws)
{
  g_autoptr (JsonObject) pong = hub_test_ws_call (ws, "{'type':'ping'}");

  ck_assert_str_eq (hub_test_json_string (pong, "type"), "pong");
}

START_TEST (rotated_secret_keeps_connections_and_honours_the_grace)
{
  Files f;
  g_autoptr (HubTestServer) server = NULL;
  g_autofree char *old_token = hub_auth_mint (OLD_SECRET, strlen (OLD_SECRET), "alice", FALSE, 0);
  HubTestWs *alice;
  guint16 port;

  files_init (&f, "[hub]\nsecret-file=secret.txt\nsecret-grace=600\n", OLD_SECRET "\n");
  server = hub_test_server_start ("--config", f.conf, "--log-level", "info", NULL);
  port = hub_test_server_port (server);
  alice = hub_test_ws_open (port);
  {
    g_autoptr (JsonObject) w = hub_test_ws_call (alice, "{'type':'hello','token':'%s'}", old_token);

    ck_assert_str_eq (hub_test_json_string (w, "type"), "welcome");
  }

  files_write (&f, NULL, NEW_SECRET "\n");
  reload (server, "settings reloaded", 1);
  ck_assert_msg (hub_test_server_wait_output (server, "applied=secret", 1, WAIT_MS),
                 "the reload line names the secret as applied");
  still_connected (alice);
  expect_hello (port, NEW_SECRET, "bob", "welcome", "a token of the new secret");
  expect_hello (port, OLD_SECRET, "carol", "welcome", "a token of the old secret, in its grace");
  expect_hello (port, OTHER_SECRET, "mallory", "error", "a token of neither");
  {
    /* Room tokens too: one minted before the rotation joins in the grace. */
    g_autofree char *old_room = room_token (OLD_SECRET, "alice", "team-1");
    g_autofree char *other_room = room_token (OTHER_SECRET, "alice", "team-2");

    json_object_unref (
        hub_test_ws_ok (alice, "{'type':'join','room':'team-1','token':'%s'}", old_room));
    hub_test_ws_err (alice, "unauthorized", "{'type':'join','room':'team-2','token':'%s'}",
                     other_room);
  }
  {
    /* And admin tokens on HTTP, checked at the headers (§10): the old
     * secret's passes in its grace, another's does not. */
    g_autofree char *old_admin = hub_auth_mint (OLD_SECRET, strlen (OLD_SECRET), "ops", TRUE, 0);
    g_autofree char *other_admin =
        hub_auth_mint (OTHER_SECRET, strlen (OTHER_SECRET), "ops", TRUE, 0);
    g_autoptr (HubTestHttpResponse) ok = hub_test_http_post (
        port, "/api/publish", old_admin, "{\"broadcast\":true,\"payload\":{\"n\":1}}");
    g_autoptr (HubTestHttpResponse) refused = hub_test_http_post (
        port, "/api/publish", other_admin, "{\"broadcast\":true,\"payload\":{\"n\":1}}");

    ck_assert_msg (ok->status == 200, "an admin token of the old secret, in its grace: %u %s",
                   ok->status, ok->body);
    ck_assert_int_eq (refused->status, 401);
  }
  still_connected (alice);
  {
    g_autofree char *out = hub_test_server_output (server);

    ck_assert_msg (strstr (out, OLD_SECRET) == NULL && strstr (out, NEW_SECRET) == NULL,
                   "no secret in the log:\n%s", out);
  }
  files_clear (&f);
}
END_TEST

START_TEST (the_grace_ends)
{
  Files f;
  g_autoptr (HubTestServer) server = NULL;
  guint16 port;
  gint64 reloaded, refused_after = -1;

  files_init (&f, "[hub]\nsecret-file=secret.txt\nsecret-grace=1\n", OLD_SECRET "\n");
  server = hub_test_server_start ("--config", f.conf, "--log-level", "info", NULL);
  port = hub_test_server_port (server);
  files_write (&f, NULL, NEW_SECRET "\n");
  reload (server, "settings reloaded", 1);
  reloaded = g_get_monotonic_time ();
  /* Until the grace (1 s) ends the old token passes, then never again:
   * polled, at most 10 s. */
  for (int i = 0; i < 200 && refused_after < 0; i++) {
    g_autofree char *type = hello_with (port, OLD_SECRET, "carol");

    if (g_strcmp0 (type, "error") == 0)
      refused_after = g_get_monotonic_time () - reloaded;
    else
      hub_test_ws_service (50);
  }
  ck_assert_msg (refused_after >= 0, "the old secret's tokens are refused once the grace ended");
  ck_assert_msg (refused_after >= G_USEC_PER_SEC - 100000,
                 "but not before the grace of 1 s (refused after %" G_GINT64_FORMAT " us)",
                 refused_after);
  expect_hello (port, NEW_SECRET, "bob", "welcome", "the new secret");
  files_clear (&f);
}
END_TEST

START_TEST (bad_key_file_keeps_the_running_settings)
{
  Files f;
  g_autoptr (HubTestServer) server = NULL;
  HubTestWs *alice;
  guint16 port;

  files_init (&f, "[hub]\nsecret-file=secret.txt\n", OLD_SECRET "\n");
  server = hub_test_server_start ("--config", f.conf, NULL);
  port = hub_test_server_port (server);
  alice = hub_test_ws_open (port);
  {
    g_autofree char *token = hub_auth_mint (OLD_SECRET, strlen (OLD_SECRET), "alice", FALSE, 0);
    g_autoptr (JsonObject) w = hub_test_ws_call (alice, "{'type':'hello','token':'%s'}", token);

    ck_assert_str_eq (hub_test_json_string (w, "type"), "welcome");
  }

  /* Does not parse: the secret file is not even looked at. */
  files_write (&f, "[hub\nsecret-file=secret.txt\n", NEW_SECRET "\n");
  reload (server, "reload failed: keeping the running settings", 1);
  still_connected (alice);
  expect_hello (port, OLD_SECRET, "bob", "welcome", "the running secret after a bad key file");
  expect_hello (port, NEW_SECRET, "bob", "error", "the new secret was not loaded");

  /* A bad value in it. */
  files_write (&f, "[hub]\nsecret-file=secret.txt\nrate=lots\n", NULL);
  reload (server, "reload failed: keeping the running settings", 2);
  ck_assert_msg (hub_test_server_wait_output (server, "'lots' is not a number", 1, WAIT_MS),
                 "the reason names the value");
  expect_hello (port, OLD_SECRET, "bob", "welcome", "still the running secret");

  /* The secret file gone. */
  files_write (&f, "[hub]\nsecret-file=secret.txt\n", NULL);
  g_unlink (f.secret);
  reload (server, "reload failed: keeping the running settings", 3);
  ck_assert_msg (hub_test_server_wait_output (server, "secret.txt", 1, WAIT_MS),
                 "the reason names the secret file");
  still_connected (alice);
  expect_hello (port, OLD_SECRET, "bob", "welcome", "the running secret after a lost file");
  files_clear (&f);
}
END_TEST

START_TEST (log_level_and_limits_change_live)
{
  Files f;
  g_autoptr (HubTestServer) server = NULL;
  HubTestWs *before, *after;
  guint16 port;
  gint64 opened;
  guint code;

  files_init (&f, "[hub]\nhello-timeout=30\n", "unused\n");
  server = hub_test_server_start ("--config", f.conf, NULL);
  port = hub_test_server_port (server);
  before = hub_test_ws_open (port); /* no hello yet: its timeout is 30 s */

  files_write (&f, "[hub]\nhello-timeout=1\nlog-level=info\nhistory=5\n", NULL);
  reload (server, "settings reloaded", 1);
  ck_assert_msg (hub_test_server_wait_output (server, "option=history", 1, WAIT_MS) &&
                     hub_test_server_wait_output (server, "needs a restart", 1, WAIT_MS),
                 "a setting that needs a restart is named");
  /* info now: the next connection has its line. */
  after = hub_test_ws_open (port);
  opened = g_get_monotonic_time ();
  ck_assert_msg (hub_test_server_wait_output (server, "connection opened", 1, WAIT_MS),
                 "at info, a connection opened is logged");
  /* The new hello timeout applies to the new connection only. */
  code = hub_test_ws_wait_closed (after, 20000);
  ck_assert_msg (code == 4000, "the new connection gets the new hello timeout (4000), got %u",
                 code);
  /* 1 s, with room for a loaded machine: far from the 30 s of before. */
  ck_assert_msg (g_get_monotonic_time () - opened < 20 * G_USEC_PER_SEC,
                 "within about 1 s, not the 30 s of before");
  ck_assert_msg (!hub_test_ws_is_closed (before), "the connection from before keeps its 30 s");
  {
    g_autoptr (JsonObject) welcome = hub_test_ws_hello (before, "late", NULL);
  }
  files_clear (&f);
}
END_TEST

/* The guard's bounds change live too: per user at the next hello, on
 * connections at the next upgrade; the connections open stay, and the next
 * welcome announces the new limits (§8). */
START_TEST (guard_bounds_change_live)
{
  Files f;
  g_autoptr (HubTestServer) server = NULL;
  static const char upgrade[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Protocol: hub.v1\r\n\r\n";
  HubTestWs *first, *second, *third;
  g_autoptr (JsonObject) welcome = NULL;
  guint16 port;

  files_init (&f, "[hub]\nmax-connections-per-user=1\nmax-connections=2\nhttp-timeout=60\n",
              "unused\n");
  server = hub_test_server_start ("--config", f.conf, NULL);
  port = hub_test_server_port (server);
  first = hub_test_ws_login (port, "alice", "one");
  second = hub_test_ws_open (port);
  hub_test_ws_err (second, "rate_limited", "{'type':'hello','user':'alice','device':'two'}");
  ck_assert_uint_eq (hub_test_raw_http (port, upgrade, sizeof upgrade - 1, 5000, NULL), 503);

  files_write (&f,
               "[hub]\nlog-level=info\nmax-connections-per-user=2\nmax-connections=3\n"
               "fanout-rate=1000\nhttp-timeout=1\n",
               NULL);
  reload (server, "settings reloaded", 1);
  /* (The line of each change was written at the old level, warning.) */
  ck_assert_msg (hub_test_server_wait_output (server,
                                              "applied=\"log-level, max-connections, "
                                              "max-connections-per-user, fanout-rate, "
                                              "http-timeout\" "
                                              "needs_restart=none",
                                              1, WAIT_MS),
                 "the bounds are applied, not left for a restart");
  /* The refused connection's retry passes now, and announces the new limits. */
  welcome = hub_test_ws_call (second, "{'type':'hello','user':'alice','device':'two'}");
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  {
    JsonObject *limits = hub_test_json_object (welcome, "limits");

    ck_assert_int_eq (hub_test_json_int (limits, "max_connections_per_user"), 2);
    ck_assert_int_eq (hub_test_json_int (limits, "fanout_bytes_per_s"), 1000);
  }
  /* A third WebSocket fits under the new bound in all. */
  third = hub_test_ws_open (port);
  still_connected (first);
  (void)third;
  {
    /* Half a request now has 1 s, not the 60 s of before (15 s: room for a
     * loaded machine). */
    g_autoptr (GSocketConnection) conn = hub_test_tcp_connect (port, NULL);
    GSocket *sock = g_socket_connection_get_socket (conn);
    static const char half[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    char buf[64];

    ck_assert_int_eq (g_socket_send (sock, half, sizeof half - 1, NULL, NULL), sizeof half - 1);
    ck_assert_msg (
        g_socket_condition_timed_wait (sock, G_IO_IN | G_IO_HUP, 15 * G_USEC_PER_SEC, NULL, NULL) &&
            g_socket_receive (sock, buf, sizeof buf, NULL, NULL) <= 0,
        "the reloaded --http-timeout cuts a half request");
  }
  files_clear (&f);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("server-reload");

  HUB_TEST_ADD (suite, rotated_secret_keeps_connections_and_honours_the_grace, 30);
  HUB_TEST_ADD (suite, the_grace_ends, 30);
  HUB_TEST_ADD (suite, bad_key_file_keeps_the_running_settings, 30);
  HUB_TEST_ADD (suite, log_level_and_limits_change_live, 30);
  HUB_TEST_ADD (suite, guard_bounds_change_live, 30);
  return hub_test_run (suite);
}

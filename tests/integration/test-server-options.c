/* test-server-options.c: where hub-server's settings come from (issue 15):
 * HUB_<OPTION> in the environment, losing to flags and winning over the key
 * file; a bad environment value named in one line with exit 2; relative paths
 * in a key file read from its directory; a short secret refused beyond
 * loopback and warned about on it. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <glib/gstdio.h>
#include <hub/hub-auth.h>
#include <string.h>

#define LONG_SECRET "itest-options-secret-0123456789abcdef"

/* The environment of the servers this test starts (Check runs each test in
 * a process of its own); cleared again at the end of the test. */
static void
env_set (const char *name, const char *value)
{
  ck_assert (g_setenv (name, value, TRUE));
}

static void
env_clear (void)
{
  static const char *const names[] = {"HUB_HOST",   "HUB_PORT",          "HUB_NODE",
                                      "HUB_SECRET", "HUB_CONFIG",        "HUB_HISTORY",
                                      "HUB_RATE",   "HUB_NO_AUTO_CREATE"};

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    g_unsetenv (names[i]);
}

/* Starts with @args (NULL-terminated) and no --host/--port: fails the test
 * unless it starts. */
static HubTestServer *
start_bare (const char *const *args)
{
  g_autoptr (GError) error = NULL;
  HubTestServer *server = hub_test_server_startv_bare (args, &error);

  ck_assert_msg (server != NULL, "hub-server should start: %s", error ? error->message : "?");
  return server;
}

/* Starts with @args and expects exit status 2 before listening, its output
 * holding @message. */
static void
expect_refused (const char *const *args, gboolean bare, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HubTestServer) server =
      bare ? hub_test_server_startv_bare (args, &error) : hub_test_server_startv (args, &error);

  ck_assert_msg (server == NULL, "hub-server should refuse to start (%s)", message);
  ck_assert_msg (strstr (error->message, "exited (status 2)") != NULL, "exit status 2 expected: %s",
                 error->message);
  ck_assert_msg (strstr (error->message, message) != NULL, "expected \"%s\" in: %s", message,
                 error->message);
}

/* A hello without a token: refused when the server has a secret. */
static gboolean
needs_token (guint16 port)
{
  HubTestWs *ws = hub_test_ws_open (port);
  g_autoptr (JsonObject) reply = hub_test_ws_call (ws, "{'type':'hello','user':'alice'}");

  return g_strcmp0 (hub_test_json_string (reply, "code"), "unauthorized") == 0;
}

/* A hello with @token gets its welcome. */
static void
expect_welcome (guint16 port, const char *token)
{
  HubTestWs *ws = hub_test_ws_open (port);
  g_autoptr (JsonObject) reply = hub_test_ws_call (ws, "{'type':'hello','token':'%s'}", token);

  ck_assert_str_eq (hub_test_json_string (reply, "type"), "welcome");
}

START_TEST (environment_sets_the_options)
{
  g_autoptr (HubTestServer) server = NULL;

  env_set ("HUB_HOST", "127.0.0.1");
  env_set ("HUB_PORT", "0");
  env_set ("HUB_NODE", "envnode");
  env_set ("HUB_SECRET", LONG_SECRET);
  env_set ("HUB_NO_AUTO_CREATE", "true");
  server = start_bare (NULL);
  ck_assert_str_eq (hub_test_server_node (server), "envnode");
  ck_assert_msg (hub_test_server_port (server) != 8080, "HUB_PORT=0 picks a free port");
  ck_assert_msg (needs_token (hub_test_server_port (server)), "HUB_SECRET is the secret");
  {
    g_autofree char *token = hub_auth_mint (LONG_SECRET, strlen (LONG_SECRET), "bob", FALSE, 0);
    HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
    g_autoptr (JsonObject) welcome = hub_test_ws_call (ws, "{'type':'hello','token':'%s'}", token);

    ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
    /* HUB_NO_AUTO_CREATE=true */
    hub_test_ws_err (ws, "room_not_found", "{'type':'join','room':'r'}");
  }
  env_clear ();
}
END_TEST

START_TEST (flags_win_over_the_environment)
{
  g_autoptr (HubTestServer) server = NULL;

  env_set ("HUB_NODE", "envnode");
  env_set ("HUB_PORT", "not-a-port"); /* never read: the flag wins */
  server = hub_test_server_start ("--node", "flagnode", NULL);
  ck_assert_str_eq (hub_test_server_node (server), "flagnode");
  env_clear ();
}
END_TEST

START_TEST (bad_environment_values_name_the_variable)
{
  const char *const none[] = {NULL};
  const char *const node[] = {"--node", "n1", NULL};

  env_set ("HUB_HOST", "127.0.0.1");
  env_set ("HUB_PORT", "abc");
  expect_refused (none, TRUE, "HUB_PORT: 'abc' is not a whole number");
  env_clear ();
  env_set ("HUB_RATE", "-3");
  expect_refused (node, FALSE, "HUB_RATE: -3 is out of range");
  env_clear ();
  env_set ("HUB_NO_AUTO_CREATE", "maybe");
  expect_refused (node, FALSE, "HUB_NO_AUTO_CREATE: 'maybe' is not true or false");
  env_clear ();
}
END_TEST

/* A temp dir with a key file @conf and a secret file secret.txt. (transfer full) */
static char *
key_file_dir (const char *conf)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("hub-options-XXXXXX", &error);
  g_autofree char *conf_path = NULL;
  g_autofree char *secret_path = NULL;

  ck_assert_msg (dir != NULL, "temp dir: %s", error ? error->message : "?");
  conf_path = g_build_filename (dir, "hub.conf", NULL);
  secret_path = g_build_filename (dir, "secret.txt", NULL);
  ck_assert (g_file_set_contents (conf_path, conf, -1, NULL));
  ck_assert (g_file_set_contents (secret_path, LONG_SECRET "\n", -1, NULL));
  return dir;
}

static void
remove_dir (const char *dir)
{
  g_autofree char *conf = g_build_filename (dir, "hub.conf", NULL);
  g_autofree char *secret = g_build_filename (dir, "secret.txt", NULL);

  g_unlink (conf);
  g_unlink (secret);
  g_rmdir (dir);
}

START_TEST (key_file_paths_are_read_from_its_directory)
{
  /* The test runs in the build directory; the key file is elsewhere. */
  g_autofree char *dir = key_file_dir ("[hub]\nsecret-file=secret.txt\nnode=filenode\n");
  g_autofree char *conf = g_build_filename (dir, "hub.conf", NULL);
  const char *const args[] = {"--config", conf, NULL};
  g_autoptr (GError) error = NULL;
  g_autoptr (HubTestServer) server = hub_test_server_startv (args, &error);
  g_autofree char *token = hub_auth_mint (LONG_SECRET, strlen (LONG_SECRET), "alice", FALSE, 0);

  ck_assert_msg (server != NULL, "starts with secret-file=secret.txt beside hub.conf: %s",
                 error ? error->message : "");
  ck_assert_str_eq (hub_test_server_node (server), "filenode");
  ck_assert_msg (needs_token (hub_test_server_port (server)), "the secret file was read");
  expect_welcome (hub_test_server_port (server), token);
  remove_dir (dir);
}
END_TEST

START_TEST (environment_wins_over_the_key_file)
{
  g_autofree char *dir = key_file_dir ("[hub]\nnode=filenode\nhistory=7\n");
  g_autofree char *conf = g_build_filename (dir, "hub.conf", NULL);
  g_autoptr (HubTestServer) from_env = NULL;
  g_autoptr (HubTestServer) from_flag = NULL;

  env_set ("HUB_CONFIG", conf); /* the key file by the environment too */
  env_set ("HUB_NODE", "envnode");
  from_env = hub_test_server_start (NULL);
  ck_assert_str_eq (hub_test_server_node (from_env), "envnode");
  from_flag = hub_test_server_start ("--node", "flagnode", NULL);
  ck_assert_str_eq (hub_test_server_node (from_flag), "flagnode");
  env_clear ();
  remove_dir (dir);
}
END_TEST

START_TEST (short_secret_refused_beyond_loopback)
{
  /* Refused while reading the options: nothing is bound. */
  const char *const wide[] = {"--host", "0.0.0.0", "--port", "0", "--secret", "short", NULL};

  expect_refused (wide, TRUE, "--secret: the secret is 5 bytes, too short");
  expect_refused (wide, TRUE, "openssl rand -base64 48");
}
END_TEST

START_TEST (short_secret_warned_about_on_loopback)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", "short", NULL);

  ck_assert_msg (needs_token (hub_test_server_port (server)), "the short secret is in force");
  ck_assert_msg (hub_test_server_wait_output (server, "the secret is 5 bytes", 1, 5000),
                 "a warning says the secret is short");
  ck_assert_msg (hub_test_server_wait_output (server, "openssl rand -base64 48", 1, 5000),
                 "and how to make a good one");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("server-options");

  HUB_TEST_ADD (suite, environment_sets_the_options, 30);
  HUB_TEST_ADD (suite, flags_win_over_the_environment, 30);
  HUB_TEST_ADD (suite, bad_environment_values_name_the_variable, 30);
  HUB_TEST_ADD (suite, key_file_paths_are_read_from_its_directory, 30);
  HUB_TEST_ADD (suite, environment_wins_over_the_key_file, 30);
  HUB_TEST_ADD (suite, short_secret_refused_beyond_loopback, 30);
  HUB_TEST_ADD (suite, short_secret_warned_about_on_loopback, 30);
  return hub_test_run (suite);
}

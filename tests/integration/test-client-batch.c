/* test-client-batch.c: the hub-client binary's scriptable mode against the
 * real server: every command in one script, --json, --wait-for between two
 * clients, --secret, and each exit code. */
#include "test-client-util.h"

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

int
main (void)
{
  Suite *suite = suite_create ("client-batch");

  HUB_TEST_ADD (suite, every_command, 60);
  HUB_TEST_ADD (suite, json_lines, 30);
  HUB_TEST_ADD (suite, wait_for_between_two_clients, 60);
  HUB_TEST_ADD (suite, exit_codes, 90);
  HUB_TEST_ADD (suite, secret_and_token, 60);
  return hub_test_run (suite);
}

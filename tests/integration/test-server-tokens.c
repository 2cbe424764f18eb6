/* test-server-tokens.c: PROTOCOL.md §12's token lifetime over real sockets:
 * `expires_ts` in welcome, the 4003 close at the deadline, and `refresh`
 * (a new deadline, no deadline, another user's token, what it replaces). */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub-auth.h>
#include <string.h>

#define SECRET "itest-tokens-secret-0123456789abcdef01"

static char *
mint_exp (const char *sub, const char *rooms, gboolean admin, gint64 exp_s)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", sub);
  if (admin)
    json_object_set_boolean_member (claims, "admin", TRUE);
  if (exp_s != 0)
    json_object_set_int_member (claims, "exp", exp_s);
  if (rooms != NULL) {
    g_autoptr (JsonParser) parser = json_parser_new ();

    ck_assert (json_parser_load_from_data (parser, rooms, -1, NULL));
    json_object_set_member (claims, "rooms", json_node_copy (json_parser_get_root (parser)));
  }
  return hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
}

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static HubTestWs *
login_token (guint16 port, const char *token, JsonObject **welcome_out)
{
  HubTestWs *ws = hub_test_ws_open (port);
  JsonObject *welcome = hub_test_ws_call (ws, "{'type':'hello','token':'%s'}", token);

  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  if (welcome_out != NULL)
    *welcome_out = welcome;
  else
    json_object_unref (welcome);
  return ws;
}

/* welcome says when the token ends; the connection is closed with 4003 within
 * 1 s after that, and not before. */
START_TEST (closed_at_deadline)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  gint64 exp = now_s () + 2;
  g_autofree char *token = mint_exp ("alice", NULL, FALSE, exp);
  g_autofree char *forever = mint_exp ("bob", NULL, FALSE, 0);
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) bob_welcome = NULL;
  g_autoptr (HubTestWs) alice = login_token (port, token, &welcome);
  g_autoptr (HubTestWs) bob = login_token (port, forever, &bob_welcome);
  guint code;
  gint64 closed_ms;

  ck_assert_int_eq (hub_test_json_int (welcome, "expires_ts"), exp * 1000);
  ck_assert_msg (!json_object_has_member (bob_welcome, "expires_ts"),
                 "a token without exp has no deadline");
  code = hub_test_ws_wait_closed (alice, 5000);
  closed_ms = g_get_real_time () / 1000;
  ck_assert_uint_eq (code, 4003);
  ck_assert_msg (closed_ms >= exp * 1000 - 50, "closed %" G_GINT64_FORMAT " ms before exp",
                 exp * 1000 - closed_ms);
  ck_assert_msg (closed_ms <= exp * 1000 + 1500, "closed %" G_GINT64_FORMAT " ms after exp",
                 closed_ms - exp * 1000);
  ck_assert (!hub_test_ws_is_closed (bob));
}
END_TEST

/* refresh with a later token moves the deadline; with one without exp it
 * ends it (expires_ts absent). */
START_TEST (refresh_keeps_connection)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *token = mint_exp ("carol", NULL, FALSE, now_s () + 2);
  g_autofree char *later = NULL;
  g_autofree char *forever = mint_exp ("carol", NULL, FALSE, 0);
  g_autoptr (HubTestWs) carol = login_token (port, token, NULL);
  g_autoptr (HubTestWs) carol2 = login_token (port, token, NULL);
  g_autoptr (JsonObject) ok = NULL;
  gint64 later_exp = now_s () + 5;

  later = mint_exp ("carol", NULL, FALSE, later_exp);
  ok = hub_test_ws_ok (carol, "{'type':'refresh','token':'%s'}", later);
  ck_assert_int_eq (hub_test_json_int (ok, "expires_ts"), later_exp * 1000);
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (carol2, "{'type':'refresh','token':'%s'}", forever);
  ck_assert_msg (!json_object_has_member (ok, "expires_ts"), "no exp: no deadline");
  /* Past the first deadline both are open; the first closes at the second. */
  ck_assert_uint_eq (hub_test_ws_wait_closed (carol, 2500), 0);
  ck_assert_uint_eq (hub_test_ws_wait_closed (carol, 4000), 4003);
  ck_assert (!hub_test_ws_is_closed (carol2));
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_call (carol2, "{'type':'ping'}");
  ck_assert_str_eq (hub_test_json_string (ok, "type"), "pong");
}
END_TEST

/* A refresh that fails leaves the old deadline standing. */
START_TEST (refresh_refused)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *token = mint_exp ("dave", NULL, FALSE, now_s () + 3);
  g_autofree char *other_user = mint_exp ("erin", NULL, FALSE, now_s () + 600);
  g_autofree char *expired = mint_exp ("dave", NULL, FALSE, now_s () - 1);
  g_autofree char *foreign =
      hub_auth_mint ("a-different-secret-0123456789abcdef", 35, "dave", FALSE, now_s () + 600);
  g_autoptr (HubTestWs) dave = login_token (port, token, NULL);

  hub_test_ws_err (dave, "unauthorized", "{'type':'refresh','token':'%s'}", other_user);
  hub_test_ws_err (dave, "unauthorized", "{'type':'refresh','token':'%s'}", expired);
  hub_test_ws_err (dave, "unauthorized", "{'type':'refresh','token':'%s'}", foreign);
  hub_test_ws_err (dave, "unauthorized", "{'type':'refresh','token':'garbage'}");
  hub_test_ws_err (dave, "unauthorized",
                   "{'type':'refresh','token':'eyJhbGciOiJub25lIn0.eyJzdWIiOiJkYXZlIn0.'}");
  hub_test_ws_err (dave, "bad_request", "{'type':'refresh'}");
  hub_test_ws_err (dave, "bad_request", "{'type':'refresh','token':7}");
  hub_test_ws_err (dave, "bad_request", "{'type':'refresh','token':['x']}");
  ck_assert (!hub_test_ws_is_closed (dave));
  ck_assert_uint_eq (hub_test_ws_wait_closed (dave, 5000), 4003);
}
END_TEST

/* The new token replaces the old for everything: its rooms and its admin. */
START_TEST (refresh_replaces_claims)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *admin = mint_exp ("frank", "{\"a\":\"jpc\"}", TRUE, now_s () + 600);
  g_autofree char *plain = mint_exp ("frank", "{\"b\":\"jpc\"}", FALSE, now_s () + 600);
  g_autoptr (HubTestWs) frank = login_token (port, admin, NULL);
  g_autoptr (JsonObject) ok = hub_test_ws_ok (frank, "{'type':'join','room':'a'}");

  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (frank, "{'type':'broadcast','payload':{}}");
  g_clear_pointer (&ok, json_object_unref);
  hub_test_ws_drain (frank);
  ok = hub_test_ws_ok (frank, "{'type':'refresh','token':'%s'}", plain);
  g_clear_pointer (&ok, json_object_unref);
  hub_test_ws_err (frank, "forbidden", "{'type':'broadcast','payload':{}}");
  hub_test_ws_err (frank, "forbidden", "{'type':'publish','room':'a','payload':{}}");
  ok = hub_test_ws_ok (frank, "{'type':'join','room':'b'}");
}
END_TEST

/* Refresh before hello is not_authenticated, like every request. */
START_TEST (refresh_before_hello)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autoptr (HubTestWs) ws = hub_test_ws_open (hub_test_server_port (server));

  hub_test_ws_err (ws, "not_authenticated", "{'type':'refresh','token':'x'}");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("tokens");

  HUB_TEST_ADD (suite, closed_at_deadline, 60);
  HUB_TEST_ADD (suite, refresh_keeps_connection, 60);
  HUB_TEST_ADD (suite, refresh_refused, 60);
  HUB_TEST_ADD (suite, refresh_replaces_claims, 60);
  HUB_TEST_ADD (suite, refresh_before_hello, 60);
  return hub_test_run (suite);
}

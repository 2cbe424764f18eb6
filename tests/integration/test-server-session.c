/* test-session.c: PROTOCOL.md §2 (requests, ids, errors, names) and §3
 * (hello, tokens, the hello timeout) over real sockets. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub-auth.h>
#include <string.h>

#define SECRET "itest-secret-0123456789"

static char *
mint (const char *sub, gboolean admin, gint64 exp)
{
  return hub_auth_mint (SECRET, strlen (SECRET), sub, admin, exp);
}

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static char *
base64url (const char *text)
{
  char *out = g_base64_encode ((const guchar *)text, strlen (text));

  g_strdelimit (out, "+", '-');
  g_strdelimit (out, "/", '_');
  for (char *p = strchr (out, '='); p != NULL; p = NULL)
    *p = '\0';
  return out;
}

static char *
base64url_bytes (const guint8 *data, gsize len)
{
  char *out = g_base64_encode (data, len);

  g_strdelimit (out, "+", '-');
  g_strdelimit (out, "/", '_');
  for (char *p = strchr (out, '='); p != NULL; p = NULL)
    *p = '\0';
  return out;
}

/* An HS256 token signed with SECRET over any claims, for the claims
 * hub_auth_mint cannot express. (transfer full) */
static char *
sign (const char *claims)
{
  g_autofree char *header = base64url ("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
  g_autofree char *payload = base64url (claims);
  g_autofree char *input = g_strdup_printf ("%s.%s", header, payload);
  g_autoptr (GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *)SECRET, strlen (SECRET));
  guint8 digest[32];
  gsize digest_len = sizeof digest;
  g_autofree char *signature = NULL;

  g_hmac_update (hmac, (const guchar *)input, -1);
  g_hmac_get_digest (hmac, digest, &digest_len);
  signature = base64url_bytes (digest, digest_len);
  return g_strdup_printf ("%s.%s", input, signature);
}

/* Sends @request (a hello, ' stands for "), expects error unauthorized with
 * id 1, then close 4001. */
static void
expect_unauthorized (HubTestWs *ws, const char *request)
{
  g_autoptr (JsonObject) reply = NULL;
  g_autofree char *text = NULL;
  guint code;

  hub_test_ws_sendf (ws, "%s", request);
  reply = hub_test_ws_recv_json (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (reply != NULL, "%s: expected error unauthorized, got nothing (close %u)", request,
                 hub_test_ws_wait_closed (ws, 0));
  text = hub_test_json_encode (reply);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "type"), "error") == 0 &&
                     g_strcmp0 (hub_test_json_string (reply, "code"), "unauthorized") == 0,
                 "%s: expected error unauthorized, got %s", request, text);
  ck_assert_msg (json_object_has_member (reply, "id") && hub_test_json_int (reply, "id") == 1,
                 "the unauthorized error carries the hello's id: %s", text);
  code = hub_test_ws_wait_closed (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (code == 4001, "%s: expected close 4001 after unauthorized, got %u", request, code);
}

/* Sends @text and expects error @code without an id. */
static void
expect_error_without_id (HubTestWs *ws, const char *text, const char *code)
{
  g_autoptr (JsonObject) reply = NULL;
  g_autofree char *got = NULL;

  hub_test_ws_send_text (ws, text);
  reply = hub_test_ws_recv_json (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (reply != NULL, "%s: expected error %s, got nothing", text, code);
  got = hub_test_json_encode (reply);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "type"), "error") == 0 &&
                     g_strcmp0 (hub_test_json_string (reply, "code"), code) == 0,
                 "%s: expected error %s, got %s", text, code, got);
  ck_assert_msg (!json_object_has_member (reply, "id"), "%s: the error must carry no id: %s", text,
                 got);
}

/* ---- §2 ---- */

START_TEST (integer_id_echoed)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) pong = hub_test_ws_request (ws, "{\"type\":\"ping\",\"id\":4242}", 5000);
  g_autoptr (JsonObject) error = NULL;
  JsonNode *id;

  ck_assert_ptr_nonnull (pong);
  ck_assert_str_eq (hub_test_json_string (pong, "type"), "pong");
  id = json_object_get_member (pong, "id");
  ck_assert_msg (json_node_get_value_type (id) == G_TYPE_INT64 && json_node_get_int (id) == 4242,
                 "the id comes back as the integer 4242");
  error = hub_test_ws_request (ws, "{\"type\":\"join\",\"id\":77,\"room\":\"bad room\"}", 5000);
  ck_assert_ptr_nonnull (error);
  ck_assert_str_eq (hub_test_json_string (error, "type"), "error");
  ck_assert_int_eq (hub_test_json_int (error, "id"), 77);
}
END_TEST

START_TEST (string_id_echoed)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) pong =
      hub_test_ws_request (ws, "{\"type\":\"ping\",\"id\":\"r-1\"}", 5000);
  g_autoptr (JsonObject) numeric = NULL;

  ck_assert_ptr_nonnull (pong);
  ck_assert_str_eq (hub_test_json_string (pong, "id"), "r-1");
  /* "7" stays a string, it is not turned into 7. */
  numeric = hub_test_ws_request (ws, "{\"type\":\"ping\",\"id\":\"7\"}", 5000);
  ck_assert_ptr_nonnull (numeric);
  ck_assert_str_eq (hub_test_json_string (numeric, "id"), "7");
}
END_TEST

START_TEST (id_of_other_json_types_is_bad_request)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);

  expect_error_without_id (ws, "{\"type\":\"ping\",\"id\":null}", "bad_request");
  expect_error_without_id (ws, "{\"type\":\"ping\",\"id\":1.5}", "bad_request");
  expect_error_without_id (ws, "{\"type\":\"ping\",\"id\":true}", "bad_request");
  expect_error_without_id (ws, "{\"type\":\"ping\",\"id\":[1]}", "bad_request");
  expect_error_without_id (ws, "{\"type\":\"ping\",\"id\":{\"a\":1}}", "bad_request");
  hub_test_ws_barrier (ws);
}
END_TEST

START_TEST (malformed_frames_are_bad_request)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) reply = NULL;

  expect_error_without_id (ws, "[1,2,3]", "bad_request");
  expect_error_without_id (ws, "\"ping\"", "bad_request");
  expect_error_without_id (ws, "42", "bad_request");
  expect_error_without_id (ws, "{\"type\":\"ping\",\"id\":1", "bad_request");
  expect_error_without_id (ws, "this is not json", "bad_request");
  expect_error_without_id (ws, "{}", "bad_request");
  reply = hub_test_ws_request (ws, "{\"id\":5}", 5000);
  ck_assert_msg (reply != NULL &&
                     g_strcmp0 (hub_test_json_string (reply, "code"), "bad_request") == 0,
                 "a frame without type is bad_request with its id");
  g_clear_pointer (&reply, json_object_unref);
  reply = hub_test_ws_request (ws, "{\"type\":5,\"id\":6}", 5000);
  ck_assert_msg (reply != NULL &&
                     g_strcmp0 (hub_test_json_string (reply, "code"), "bad_request") == 0,
                 "a non-string type is bad_request with its id");
  g_clear_pointer (&reply, json_object_unref);
  reply = hub_test_ws_request (ws, "{\"type\":null,\"id\":\"n\"}", 5000);
  ck_assert_msg (reply != NULL &&
                     g_strcmp0 (hub_test_json_string (reply, "code"), "bad_request") == 0,
                 "a null type is bad_request with its id");
  hub_test_ws_barrier (ws);
  ck_assert_msg (!hub_test_ws_is_closed (ws), "bad requests leave the connection open");
}
END_TEST

START_TEST (wrong_field_types_are_bad_request)
{
  static const char *const requests[] = {
      "{'type':'create'}",
      "{'type':'create','room':5}",
      "{'type':'create','room':'r1','name':7}",
      "{'type':'join'}",
      "{'type':'join','room':true}",
      "{'type':'join','room':'r1','name':['x']}",
      "{'type':'leave','room':[]}",
      "{'type':'room_info'}",
      "{'type':'room_info','room':{}}",
      "{'type':'who','room':1}",
      "{'type':'publish','room':'general'}",
      "{'type':'publish','room':'general','payload':'text'}",
      "{'type':'publish','room':'general','payload':[1]}",
      "{'type':'publish','room':3,'payload':{}}",
      "{'type':'direct','payload':{}}",
      "{'type':'direct','to':5,'payload':{}}",
      "{'type':'direct','to':'bob','payload':3}",
      "{'type':'multicast','to':'bob','payload':{}}",
      "{'type':'multicast','to':[1,2],'payload':{}}",
      "{'type':'multicast','to':['bob']}",
      "{'type':'broadcast'}",
      "{'type':'broadcast','payload':'x'}",
      "{'type':'typing','room':1}",
      "{'type':'history','room':'general','since':'a'}",
      "{'type':'history','room':'general','since':0,'limit':'10'}",
      "{'type':'history','room':'general'}",
      "{'type':'status'}",
      "{'type':'status','status':1}",
      "{'type':'subscribe','users':'bob'}",
      "{'type':'subscribe'}",
      "{'type':'unsubscribe','users':5}",
      "{'type':'online','limit':'x'}",
  };
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);

  hub_test_ws_join (ws, "alice", "general");
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    hub_test_ws_err (ws, "bad_request", "%s", requests[i]);
  hub_test_ws_barrier (ws);
}
END_TEST

START_TEST (null_optional_field_counts_as_absent)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) created = hub_test_ws_ok (ws, "{'type':'create','room':'r1','name':null}");
  g_autoptr (JsonObject) online = hub_test_ws_ok (ws, "{'type':'online','limit':null}");

  ck_assert_str_eq (hub_test_json_string (created, "name"), "r1");
  ck_assert_int_eq (hub_test_json_int (online, "count"), 1);
}
END_TEST

START_TEST (invalid_names_are_invalid_name)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autofree char *name64 = g_strnfill (64, 'a');
  g_autofree char *name65 = g_strnfill (65, 'a');
  g_autoptr (JsonObject) ok64 = NULL;

  hub_test_ws_err (ws, "invalid_name", "{'type':'join','room':'bad room'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'join','room':'bad/room'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'join','room':''}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'join','room':'%s'}", name65);
  hub_test_ws_err (ws, "invalid_name", "{'type':'join','room':'@general'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'create','room':'r\\u00e9'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'room_info','room':'no!'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'who','room':'@api'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'direct','to':'@api','payload':{}}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'multicast','to':['bob','b d'],'payload':{}}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'subscribe','users':['x y']}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'publish','room':'a b','payload':{}}");
  /* 64 characters of every allowed kind are fine, '@' inside too. */
  ok64 = hub_test_ws_ok (ws, "{'type':'join','room':'%s'}", name64);
  json_object_unref (hub_test_ws_ok (ws, "{'type':'join','room':'A-z_0.9@x'}"));
  ck_assert_str_eq (hub_test_json_string (ok64, "room"), name64);
}
END_TEST

START_TEST (fire_and_forget)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);

  /* Success is silent, and the request was executed. */
  hub_test_ws_sendf (ws, "{'type':'create','room':'quiet'}");
  hub_test_ws_barrier (ws);
  hub_test_ws_err (ws, "room_exists", "{'type':'create','room':'quiet'}");
  /* Failure still answers, without an id. */
  expect_error_without_id (ws, "{\"type\":\"create\",\"room\":\"quiet\"}", "room_exists");
  expect_error_without_id (ws, "{\"type\":\"join\",\"room\":\"bad room\"}", "invalid_name");
  expect_error_without_id (ws, "{\"type\":\"leave\",\"room\":\"nowhere\"}", "room_not_found");
  hub_test_ws_barrier (ws);
}
END_TEST

/* ---- §3 ---- */

START_TEST (welcome_fields)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--node", "n-welcome", "--heartbeat", "7", NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  HubTestWs *ws2 = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome =
      hub_test_ws_request (ws, "{\"type\":\"hello\",\"id\":\"h\",\"user\":\"alice\"}", 5000);
  g_autoptr (JsonObject) welcome2 = hub_test_ws_hello (ws2, "alice", "phone");
  const char *conn, *version;

  ck_assert_ptr_nonnull (welcome);
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  ck_assert_str_eq (hub_test_json_string (welcome, "id"), "h");
  conn = hub_test_json_string (welcome, "conn");
  ck_assert_msg (conn != NULL && *conn != '\0', "welcome carries a conn id");
  ck_assert_msg (g_strcmp0 (conn, hub_test_json_string (welcome2, "conn")) != 0,
                 "two connections get different conn ids");
  ck_assert_str_eq (hub_test_json_string (welcome, "user"), "alice");
  ck_assert_str_eq (hub_test_json_string (welcome, "device"), "default");
  ck_assert_str_eq (hub_test_json_string (welcome2, "device"), "phone");
  ck_assert_str_eq (hub_test_json_string (welcome, "node"), "n-welcome");
  ck_assert_int_eq (hub_test_json_int (welcome, "heartbeat_s"), 7);
  ck_assert_int_eq (hub_test_json_int (welcome, "max_message_bytes"), 65536);
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (welcome, "rooms")), 0);
  version = hub_test_json_string (welcome, "server");
  ck_assert_msg (version != NULL && g_str_has_prefix (version, "hub-server "),
                 "server is \"hub-server <version>\", got %s", version);
}
END_TEST

START_TEST (default_heartbeat_in_welcome)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = hub_test_ws_hello (ws, "alice", NULL);

  ck_assert_int_eq (hub_test_json_int (welcome, "heartbeat_s"), 30);
  ck_assert_str_eq (hub_test_json_string (welcome, "node"), hub_test_server_node (server));
}
END_TEST

START_TEST (dev_mode_needs_user)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));

  hub_test_ws_err (ws, "bad_request", "{'type':'hello'}");
  hub_test_ws_err (ws, "bad_request", "{'type':'hello','user':5}");
  hub_test_ws_err (ws, "bad_request", "{'type':'hello','user':'alice','device':5}");
  json_object_unref (hub_test_ws_hello (ws, "alice", NULL));
}
END_TEST

START_TEST (requests_before_hello_not_authenticated)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) reply = NULL;

  hub_test_ws_err (ws, "not_authenticated", "{'type':'join','room':'general'}");
  hub_test_ws_err (ws, "not_authenticated", "{'type':'ping'}");
  hub_test_ws_err (ws, "not_authenticated", "{'type':'frobnicate'}");
  hub_test_ws_err (ws, "not_authenticated", "{'type':'publish','room':'general','payload':{}}");
  expect_error_without_id (ws, "{\"type\":\"online\"}", "not_authenticated");
  /* Not a request at all: still bad_request. */
  expect_error_without_id (ws, "[1]", "bad_request");
  ck_assert_msg (!hub_test_ws_is_closed (ws), "the connection stays open");
  reply = hub_test_ws_hello (ws, "alice", NULL);
  json_object_unref (hub_test_ws_ok (ws, "{'type':'join','room':'general'}"));
}
END_TEST

START_TEST (failed_hello_can_be_retried)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = NULL;

  hub_test_ws_err (ws, "invalid_name", "{'type':'hello','user':'bad user'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'hello','user':'@api'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'hello','user':'alice','device':'@dev'}");
  welcome = hub_test_ws_hello (ws, "alice", "laptop");
  ck_assert_str_eq (hub_test_json_string (welcome, "device"), "laptop");
}
END_TEST

START_TEST (second_hello_is_bad_request)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) info = NULL;

  hub_test_ws_err (ws, "bad_request", "{'type':'hello','user':'alice'}");
  hub_test_ws_err (ws, "bad_request", "{'type':'hello','user':'mallory'}");
  /* Still alice. */
  json_object_unref (hub_test_ws_ok (ws, "{'type':'join','room':'general'}"));
  info = hub_test_ws_ok (ws, "{'type':'who','room':'general'}");
  ck_assert_ptr_nonnull (
      hub_test_json_array_find (hub_test_json_array (info, "members"), "user", "alice"));
  ck_assert_ptr_null (
      hub_test_json_array_find (hub_test_json_array (info, "members"), "user", "mallory"));
}
END_TEST

START_TEST (hello_timeout_closes_4000)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--hello-timeout", "1", NULL);
  HubTestWs *silent = hub_test_ws_open (hub_test_server_port (server));
  HubTestWs *failing = hub_test_ws_open (hub_test_server_port (server));
  HubTestWs *good = hub_test_ws_open (hub_test_server_port (server));
  gint64 start = g_get_monotonic_time ();
  guint code;

  json_object_unref (hub_test_ws_hello (good, "alice", NULL));
  hub_test_ws_err (failing, "invalid_name", "{'type':'hello','user':'bad user'}");
  code = hub_test_ws_wait_closed (silent, 4000);
  ck_assert_msg (code == 4000, "no hello within 1 s should close with 4000, got %u", code);
  ck_assert_msg (g_get_monotonic_time () - start >= 800 * G_TIME_SPAN_MILLISECOND,
                 "not closed before the timeout");
  code = hub_test_ws_wait_closed (failing, 2000);
  ck_assert_msg (code == 4000, "a failed hello is no hello: 4000 expected, got %u", code);
  hub_test_ws_barrier (good);
  ck_assert_msg (!hub_test_ws_is_closed (good), "a connection past hello is not timed out");
}
END_TEST

START_TEST (token_valid)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *token = mint ("alice", FALSE, now_s () + 600);
  g_autofree char *no_exp = mint ("bob", FALSE, 0);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  HubTestWs *ws2 = hub_test_ws_open (hub_test_server_port (server));
  HubTestWs *ws3 = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) welcome2 = NULL;
  g_autoptr (JsonObject) welcome3 = NULL;

  /* user omitted: taken from sub. */
  welcome = hub_test_ws_call (ws, "{'type':'hello','token':'%s','device':'d1'}", token);
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  ck_assert_str_eq (hub_test_json_string (welcome, "user"), "alice");
  /* user equal to sub. */
  welcome2 = hub_test_ws_call (ws2, "{'type':'hello','user':'alice','token':'%s'}", token);
  ck_assert_str_eq (hub_test_json_string (welcome2, "type"), "welcome");
  /* No exp at all. */
  welcome3 = hub_test_ws_call (ws3, "{'type':'hello','token':'%s'}", no_exp);
  ck_assert_str_eq (hub_test_json_string (welcome3, "user"), "bob");
  /* Not admin: no broadcast. */
  hub_test_ws_err (ws, "forbidden", "{'type':'broadcast','payload':{}}");
}
END_TEST

START_TEST (token_admin_may_broadcast)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *token = mint ("root", TRUE, now_s () + 600);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = hub_test_ws_call (ws, "{'type':'hello','token':'%s'}", token);
  g_autoptr (JsonObject) ok = NULL;

  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  ok = hub_test_ws_ok (ws, "{'type':'broadcast','payload':{'n':1}}");
  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 1);
}
END_TEST

START_TEST (token_expired)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *token = mint ("alice", FALSE, now_s () - 5);
  g_autofree char *request = g_strdup_printf ("{'type':'hello','id':1,'token':'%s'}", token);

  expect_unauthorized (hub_test_ws_open (hub_test_server_port (server)), request);
}
END_TEST

START_TEST (token_forged_signature)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *token = hub_auth_mint ("other-secret", 12, "alice", TRUE, now_s () + 600);
  g_autofree char *request = g_strdup_printf ("{'type':'hello','id':1,'token':'%s'}", token);
  g_autofree char *good = mint ("alice", FALSE, now_s () + 600);
  g_auto (GStrv) parts = g_strsplit (good, ".", 3);
  g_autofree char *payload = NULL;
  g_autofree char *tampered = NULL;
  g_autofree char *request2 = NULL;

  expect_unauthorized (hub_test_ws_open (hub_test_server_port (server)), request);
  /* A good token's payload swapped for one claiming admin, signature kept. */
  payload = base64url ("{\"sub\":\"alice\",\"admin\":true}");
  tampered = g_strdup_printf ("%s.%s.%s", parts[0], payload, parts[2]);
  request2 = g_strdup_printf ("{'type':'hello','id':1,'token':'%s'}", tampered);
  expect_unauthorized (hub_test_ws_open (hub_test_server_port (server)), request2);
}
END_TEST

START_TEST (token_alg_none)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *header = base64url ("{\"alg\":\"none\",\"typ\":\"JWT\"}");
  g_autofree char *payload = base64url ("{\"sub\":\"alice\",\"admin\":true}");
  g_autofree char *request =
      g_strdup_printf ("{'type':'hello','id':1,'token':'%s.%s.'}", header, payload);
  g_autofree char *header2 = base64url ("{\"alg\":\"HS512\",\"typ\":\"JWT\"}");
  g_autofree char *request2 =
      g_strdup_printf ("{'type':'hello','id':1,'token':'%s.%s.c2ln'}", header2, payload);

  expect_unauthorized (hub_test_ws_open (hub_test_server_port (server)), request);
  expect_unauthorized (hub_test_ws_open (hub_test_server_port (server)), request2);
}
END_TEST

START_TEST (token_user_differs_from_sub)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  g_autofree char *token = mint ("alice", FALSE, now_s () + 600);
  g_autofree char *request =
      g_strdup_printf ("{'type':'hello','id':1,'user':'bob','token':'%s'}", token);

  expect_unauthorized (hub_test_ws_open (hub_test_server_port (server)), request);
}
END_TEST

/* A hello request with id 1 carrying @token, which it frees. (transfer full) */
static char *
hello_taking (char *token)
{
  char *request = g_strdup_printf ("{'type':'hello','id':1,'token':'%s'}", token);

  g_free (token);
  return request;
}

START_TEST (token_claims_checked)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *good = sign ("{\"sub\":\"dana\",\"exp\":9999999999}");
  g_autofree char *no_sub = hello_taking (sign ("{\"admin\":true,\"exp\":9999999999}"));
  g_autofree char *numeric_sub = hello_taking (sign ("{\"sub\":42}"));
  g_autofree char *bad_sub = hello_taking (sign ("{\"sub\":\"@api\",\"admin\":true}"));
  g_autofree char *just_expired = hello_taking (mint ("dana", FALSE, now_s () - 1));
  HubTestWs *ws = hub_test_ws_open (port);
  g_autoptr (JsonObject) welcome = NULL;

  /* The hand-made signature is right: a good token made this way is accepted. */
  welcome = hub_test_ws_call (ws, "{'type':'hello','token':'%s'}", good);
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  ck_assert_str_eq (hub_test_json_string (welcome, "user"), "dana");
  expect_unauthorized (hub_test_ws_open (port), no_sub);
  expect_unauthorized (hub_test_ws_open (port), numeric_sub);
  expect_unauthorized (hub_test_ws_open (port), bad_sub);
  /* exp is Unix seconds with no leeway: one second ago is expired. */
  expect_unauthorized (hub_test_ws_open (port), just_expired);
}
END_TEST

START_TEST (token_missing_or_malformed)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);

  expect_unauthorized (hub_test_ws_open (port), "{'type':'hello','id':1,'user':'alice'}");
  expect_unauthorized (hub_test_ws_open (port), "{'type':'hello','id':1,'token':5}");
  expect_unauthorized (hub_test_ws_open (port), "{'type':'hello','id':1,'token':'abc.def'}");
  expect_unauthorized (hub_test_ws_open (port), "{'type':'hello','id':1,'token':''}");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("session");

  HUB_TEST_ADD (suite, integer_id_echoed, 30);
  HUB_TEST_ADD (suite, string_id_echoed, 30);
  HUB_TEST_ADD (suite, id_of_other_json_types_is_bad_request, 30);
  HUB_TEST_ADD (suite, malformed_frames_are_bad_request, 30);
  HUB_TEST_ADD (suite, wrong_field_types_are_bad_request, 30);
  HUB_TEST_ADD (suite, null_optional_field_counts_as_absent, 30);
  HUB_TEST_ADD (suite, invalid_names_are_invalid_name, 30);
  HUB_TEST_ADD (suite, fire_and_forget, 30);
  HUB_TEST_ADD (suite, welcome_fields, 30);
  HUB_TEST_ADD (suite, default_heartbeat_in_welcome, 30);
  HUB_TEST_ADD (suite, dev_mode_needs_user, 30);
  HUB_TEST_ADD (suite, requests_before_hello_not_authenticated, 30);
  HUB_TEST_ADD (suite, failed_hello_can_be_retried, 30);
  HUB_TEST_ADD (suite, second_hello_is_bad_request, 30);
  HUB_TEST_ADD (suite, hello_timeout_closes_4000, 30);
  HUB_TEST_ADD (suite, token_valid, 30);
  HUB_TEST_ADD (suite, token_admin_may_broadcast, 30);
  HUB_TEST_ADD (suite, token_expired, 30);
  HUB_TEST_ADD (suite, token_forged_signature, 30);
  HUB_TEST_ADD (suite, token_alg_none, 30);
  HUB_TEST_ADD (suite, token_user_differs_from_sub, 30);
  HUB_TEST_ADD (suite, token_claims_checked, 30);
  HUB_TEST_ADD (suite, token_missing_or_malformed, 30);
  return hub_test_run (suite);
}

/* test-dispatcher-session.c: session start (PROTOCOL.md §2, §3) through the
 * dispatcher: hello, tokens, not_authenticated, hello timeout, ids, errors. */
#include <check.h>

#include "hub-test-node.h"

#define SECRET "s3cret-for-tests"

static TestNode *node;

static void
setup (void)
{
  node = test_node_new (NULL);
}

static void
with_secret (HubConfig *config)
{
  config->secret = g_strdup (SECRET);
  config->secret_len = strlen (SECRET);
}

static void
setup_secret (void)
{
  node = test_node_new (with_secret);
}

static void
teardown (void)
{
  test_node_free (node);
}

static char *
hello_with_token (const char *sub, gboolean admin, gint64 exp_s, const char *extra)
{
  g_autofree char *token = hub_auth_mint (SECRET, strlen (SECRET), sub, admin, exp_s);

  return g_strdup_printf ("{\"type\":\"hello\",\"id\":1,\"token\":\"%s\"%s}", token,
                          extra != NULL ? extra : "");
}

static gint64
now_s (void)
{
  return hub_clock_unix_ms (node->clock) / 1000;
}

/* --- hello ------------------------------------------------------------------ */

START_TEST (test_welcome_fields)
{
  TestClient *c = test_client_open (node);
  g_autoptr (JsonObject) w =
      test_client_request (c, "{\"type\":\"hello\",\"id\":7,\"user\":\"alice\"}", 7);

  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
  ck_assert_str_eq (json_object_get_string_member (w, "user"), "alice");
  ck_assert_str_eq (json_object_get_string_member (w, "device"), "default");
  ck_assert_str_eq (json_object_get_string_member (w, "node"), "test-node");
  ck_assert_str_eq (json_object_get_string_member (w, "conn"), hub_connection_get_id (c->conn));
  ck_assert_int_eq (json_object_get_int_member (w, "heartbeat_s"), 30);
  ck_assert_int_eq (json_object_get_int_member (w, "max_message_bytes"), 65536);
  ck_assert_int_eq (json_array_get_length (json_object_get_array_member (w, "rooms")), 0);
  ck_assert_msg (g_str_has_prefix (json_object_get_string_member (w, "server"), "hub-server "),
                 "server field names hub-server and its version");
}
END_TEST

START_TEST (test_welcome_without_id)
{
  TestClient *c = test_client_open (node);
  g_autoptr (JsonObject) w = NULL;

  test_client_send (c, "{\"type\":\"hello\",\"user\":\"alice\",\"device\":\"phone\"}");
  w = test_client_next (c, "welcome");
  ck_assert_msg (w != NULL, "hello without id is still answered with welcome");
  ck_assert_msg (!json_object_has_member (w, "id"), "no id to echo");
  ck_assert_str_eq (json_object_get_string_member (w, "device"), "phone");
}
END_TEST

START_TEST (test_conn_ids_unique)
{
  TestClient *a = test_client_hello (node, "alice", "a");
  TestClient *b = test_client_hello (node, "alice", "b");

  ck_assert_str_ne (hub_connection_get_id (a->conn), hub_connection_get_id (b->conn));
}
END_TEST

START_TEST (test_requests_before_hello)
{
  TestClient *c = test_client_open (node);
  const char *requests[] = {
      "{\"type\":\"join\",\"id\":1,\"room\":\"general\"}",
      "{\"type\":\"publish\",\"id\":1,\"room\":\"general\",\"payload\":{}}",
      "{\"type\":\"ping\",\"id\":1}",
      "{\"type\":\"no_such_type\",\"id\":1}",
      "{\"type\":\"join\",\"id\":1}", /* malformed, still not_authenticated */
  };

  for (guint i = 0; i < G_N_ELEMENTS (requests); i++) {
    g_autoptr (JsonObject) r = test_client_request (c, requests[i], 1);

    ck_assert_reply_error (r, "not_authenticated");
  }
  ck_assert_msg (!c->sink->closed, "the connection stays open");
  ck_assert_msg (!test_node_is_member (node, "alice", "general"), "nothing was executed");
}
END_TEST

START_TEST (test_garbage_before_hello_is_bad_request)
{
  TestClient *c = test_client_open (node);
  g_autoptr (JsonObject) e = NULL;

  test_client_send (c, "not json at all");
  e = test_client_next (c, "error");
  ck_assert_reply_error (e, "bad_request");
  ck_assert_msg (!c->sink->closed, "the connection stays open");
}
END_TEST

START_TEST (test_second_hello)
{
  TestClient *c = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r =
      test_client_request (c, "{\"type\":\"hello\",\"id\":2,\"user\":\"alice\"}", 2);

  ck_assert_reply_error (r, "bad_request");
}
END_TEST

START_TEST (test_hello_needs_user_without_secret)
{
  TestClient *c = test_client_open (node);
  g_autoptr (JsonObject) r = test_client_request (c, "{\"type\":\"hello\",\"id\":1}", 1);
  g_autoptr (JsonObject) w = NULL;

  ck_assert_reply_error (r, "bad_request");
  ck_assert_msg (!c->sink->closed, "a failed hello may be retried");
  w = test_client_request (c, "{\"type\":\"hello\",\"id\":2,\"user\":\"bob\"}", 2);
  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
}
END_TEST

START_TEST (test_hello_invalid_name_retry)
{
  TestClient *c = test_client_open (node);
  g_autoptr (JsonObject) r1 =
      test_client_request (c, "{\"type\":\"hello\",\"id\":1,\"user\":\"bad name\"}", 1);
  g_autoptr (JsonObject) r2 =
      test_client_request (c, "{\"type\":\"hello\",\"id\":2,\"user\":\"@api\"}", 2);
  g_autoptr (JsonObject) r3 = test_client_request (
      c, "{\"type\":\"hello\",\"id\":3,\"user\":\"ok\",\"device\":\"b@d!\"}", 3);
  g_autoptr (JsonObject) w =
      test_client_request (c, "{\"type\":\"hello\",\"id\":4,\"user\":\"good.name-1\"}", 4);

  ck_assert_reply_error (r1, "invalid_name");
  ck_assert_reply_error (r2, "invalid_name");
  ck_assert_reply_error (r3, "invalid_name");
  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
}
END_TEST

START_TEST (test_hello_timeout)
{
  TestClient *c = test_client_open (node);

  test_node_advance (node, 9999);
  ck_assert_msg (!c->sink->closed, "not closed before hello_timeout_s");
  test_node_advance (node, 1);
  ck_assert_msg (c->sink->closed, "closed at hello_timeout_s");
  ck_assert_int_eq (c->sink->close_code, 4000);
}
END_TEST

START_TEST (test_hello_timeout_cancelled_by_hello)
{
  TestClient *c = test_client_hello (node, "alice", NULL);

  test_node_advance (node, 20000);
  ck_assert_msg (!c->sink->closed, "a connection past hello is not closed by the hello timer");
}
END_TEST

START_TEST (test_hello_timeout_failed_hello_still_closes)
{
  TestClient *c = test_client_open (node);
  g_autoptr (JsonObject) r = test_client_request (c, "{\"type\":\"hello\",\"id\":1}", 1);

  test_node_advance (node, 10000);
  ck_assert_int_eq (c->sink->close_code, 4000);
}
END_TEST

START_TEST (test_membership_in_welcome_after_reconnect)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) j1 =
      test_client_request (a, "{\"type\":\"join\",\"id\":1,\"room\":\"general\"}", 1);
  g_autoptr (JsonObject) j2 =
      test_client_request (a, "{\"type\":\"join\",\"id\":2,\"room\":\"tech\"}", 2);
  TestClient *b;
  g_autoptr (JsonObject) w = NULL;
  JsonArray *rooms;

  test_client_disconnect (a);
  b = test_client_open (node);
  w = test_client_request (b, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"}", 1);
  rooms = json_object_get_array_member (w, "rooms");
  ck_assert_int_eq (json_array_get_length (rooms), 2);
  ck_assert_str_eq (json_array_get_string_element (rooms, 0), "general");
  ck_assert_str_eq (json_array_get_string_element (rooms, 1), "tech");
}
END_TEST

/* --- tokens (§3) ---------------------------------------------------------------- */

START_TEST (test_token_valid)
{
  TestClient *c = test_client_open (node);
  g_autofree char *hello = hello_with_token ("alice", FALSE, now_s () + 60, NULL);
  g_autoptr (JsonObject) w = test_client_request (c, hello, 1);

  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
  ck_assert_str_eq (json_object_get_string_member (w, "user"), "alice");
  ck_assert_msg (!hub_connection_is_admin (c->conn), "no admin claim, no admin");
}
END_TEST

START_TEST (test_token_user_matches_sub)
{
  TestClient *c = test_client_open (node);
  g_autofree char *hello = hello_with_token ("alice", FALSE, 0, ",\"user\":\"alice\"");
  g_autoptr (JsonObject) w = test_client_request (c, hello, 1);

  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
}
END_TEST

static void
assert_unauthorized (TestClient *c, const char *hello)
{
  g_autoptr (JsonObject) r = test_client_request (c, hello, 1);

  ck_assert_reply_error (r, "unauthorized");
  ck_assert_msg (c->sink->closed, "unauthorized hello closes the connection");
  ck_assert_int_eq (c->sink->close_code, 4001);
  ck_assert_msg (!hub_connection_is_authenticated (c->conn), "not authenticated");
}

START_TEST (test_token_missing)
{
  assert_unauthorized (test_client_open (node), "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"}");
}
END_TEST

START_TEST (test_token_not_string)
{
  assert_unauthorized (test_client_open (node),
                       "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"token\":42}");
}
END_TEST

START_TEST (test_token_expired)
{
  g_autofree char *hello = hello_with_token ("alice", FALSE, now_s (), NULL);

  assert_unauthorized (test_client_open (node), hello);
}
END_TEST

START_TEST (test_token_forged)
{
  g_autofree char *token = hub_auth_mint ("another secret", 14, "alice", TRUE, 0);
  g_autofree char *hello =
      g_strdup_printf ("{\"type\":\"hello\",\"id\":1,\"token\":\"%s\"}", token);

  assert_unauthorized (test_client_open (node), hello);
}
END_TEST

START_TEST (test_token_garbage)
{
  assert_unauthorized (test_client_open (node),
                       "{\"type\":\"hello\",\"id\":1,\"token\":\"not.a.jwt\"}");
}
END_TEST

START_TEST (test_token_user_mismatch)
{
  g_autofree char *hello = hello_with_token ("alice", FALSE, 0, ",\"user\":\"mallory\"");

  assert_unauthorized (test_client_open (node), hello);
}
END_TEST

START_TEST (test_token_admin_broadcast)
{
  TestClient *admin = test_client_open (node);
  TestClient *user = test_client_open (node);
  g_autofree char *h1 = hello_with_token ("root", TRUE, 0, NULL);
  g_autofree char *h2 = hello_with_token ("bob", FALSE, 0, NULL);
  g_autoptr (JsonObject) w1 = test_client_request (admin, h1, 1);
  g_autoptr (JsonObject) w2 = test_client_request (user, h2, 1);
  g_autoptr (JsonObject) ok = NULL, denied = NULL;

  ok = test_client_request (admin, "{\"type\":\"broadcast\",\"id\":2,\"payload\":{\"x\":1}}", 2);
  ck_assert_reply_ok (ok);
  ck_assert_int_eq (json_object_get_int_member (ok, "delivered"), 2);
  denied = test_client_request (user, "{\"type\":\"broadcast\",\"id\":3,\"payload\":{}}", 3);
  ck_assert_reply_error (denied, "forbidden");
}
END_TEST

START_TEST (test_dev_mode_may_broadcast)
{
  TestClient *c = test_client_hello (node, "anyone", NULL);
  g_autoptr (JsonObject) ok =
      test_client_request (c, "{\"type\":\"broadcast\",\"id\":2,\"payload\":{}}", 2);

  ck_assert_reply_ok (ok);
}
END_TEST

/* --- §2 envelope ---------------------------------------------------------------- */

START_TEST (test_id_echo_types)
{
  TestClient *c = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r = NULL;
  JsonNode *id;

  test_client_send (c, "{\"type\":\"ping\",\"id\":\"abc\\\"x\"}");
  r = test_client_next (c, "pong");
  id = json_object_get_member (r, "id");
  ck_assert_msg (json_node_get_value_type (id) == G_TYPE_STRING, "string id stays a string");
  ck_assert_str_eq (json_node_get_string (id), "abc\"x");
}
END_TEST

START_TEST (test_bad_ids)
{
  TestClient *c = test_client_hello (node, "alice", NULL);
  const char *frames[] = {
      "{\"type\":\"ping\",\"id\":null}", "{\"type\":\"ping\",\"id\":1.5}",
      "{\"type\":\"ping\",\"id\":true}", "{\"type\":\"ping\",\"id\":[1]}",
      "{\"type\":\"ping\",\"id\":{}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++) {
    g_autoptr (JsonObject) e = NULL;

    test_client_clear (c);
    test_client_send (c, frames[i]);
    ck_assert_int_eq (test_client_count (c, "pong"), 0);
    e = test_client_next (c, "error");
    ck_assert_msg (e != NULL, "%s: expected an error", frames[i]);
    ck_assert_reply_error (e, "bad_request");
    ck_assert_msg (!json_object_has_member (e, "id"), "%s: the error carries no id", frames[i]);
  }
}
END_TEST

START_TEST (test_unknown_type)
{
  TestClient *c = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r = test_client_request (c, "{\"type\":\"frobnicate\",\"id\":4}", 4);

  ck_assert_reply_error (r, "unknown_type");
  ck_assert_msg (!c->sink->closed, "the connection stays open");
}
END_TEST

START_TEST (test_malformed_frames)
{
  TestClient *c = test_client_hello (node, "alice", NULL);
  const char *frames[] = {
      "[1,2,3]",
      "\"type\"",
      "{\"id\":1}",
      "{\"type\":5,\"id\":1}",
      "{\"type\":\"join\"",
      "{}",
      "",
      "\x01\x02",
      "{\"type\":\"join\",\"id\":1,\"room\":7}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++) {
    g_autoptr (JsonObject) e = NULL;

    test_client_clear (c);
    test_client_send (c, frames[i]);
    e = test_client_next (c, "error");
    ck_assert_msg (e != NULL, "frame %u: expected an error", i);
    ck_assert_reply_error (e, "bad_request");
  }
  ck_assert_msg (!c->sink->closed, "malformed frames do not close the connection");
}
END_TEST

START_TEST (test_fire_and_forget)
{
  TestClient *c = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) e = NULL;

  test_client_send (c, "{\"type\":\"join\",\"room\":\"general\"}");
  ck_assert_int_eq (test_client_count (c, "ok"), 0);
  ck_assert_msg (test_node_is_member (node, "alice", "general"),
                 "the request without id was executed");
  test_client_clear (c);
  test_client_send (c, "{\"type\":\"leave\",\"room\":\"nowhere\"}");
  e = test_client_next (c, "error");
  ck_assert_reply_error (e, "room_not_found");
  ck_assert_msg (!json_object_has_member (e, "id"), "failure without id carries no id");
}
END_TEST

START_TEST (test_ping_pong)
{
  TestClient *c = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) p = test_client_request (c, "{\"type\":\"ping\",\"id\":9}", 9);

  ck_assert_str_eq (json_object_get_string_member (p, "type"), "pong");
  ck_assert_int_eq (json_object_get_int_member (p, "ts"), hub_clock_unix_ms (node->clock));
}
END_TEST

/* Replies leave in request order whichever store answers and whenever: a
 * pong, an error found without the store and a rate limit wait behind the
 * replies of the requests before them (a store that answers later, Redis,
 * would otherwise let them overtake). */
START_TEST (test_replies_in_request_order)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  const char *requests[] = {
      "{\"type\":\"publish\",\"id\":1,\"room\":\"general\",\"payload\":{}}",
      "{\"type\":\"ping\",\"id\":2}",
      "{\"type\":\"no_such_type\",\"id\":3}",
      "{\"type\":\"room_info\",\"id\":4,\"room\":\"general\"}",
      "{\"type\":\"broadcast\",\"id\":5,\"payload\":{}}",
      "{\"type\":\"ping\",\"id\":6}",
  };
  gint64 next = 1;

  test_client_join (a, "general");
  test_client_clear (a);
  /* All on the wire before any answer (no sync in between). */
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    hub_dispatcher_receive (node->dispatcher, a->conn, requests[i], strlen (requests[i]));
  test_node_sync (node);
  for (guint i = 0; i < a->sink->frames->len; i++) {
    g_autoptr (JsonObject) frame = hub_memory_sink_nth (a->sink, i);

    if (!json_object_has_member (frame, "id"))
      continue; /* the message itself, a delivery */
    ck_assert_msg (json_object_get_int_member (frame, "id") == next,
                   "expected the reply to id %" G_GINT64_FORMAT ", got %s", next,
                   test_json (frame));
    next++;
  }
  ck_assert_int_eq (next, G_N_ELEMENTS (requests) + 1);
}
END_TEST

/* --- §12 token lifetime, with the fake clock ------------------------------------------ */

static char *
token_claims (const char *sub, gint64 exp_s, const char *rooms_json)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", sub);
  if (exp_s > 0)
    json_object_set_int_member (claims, "exp", exp_s);
  if (rooms_json != NULL) {
    g_autoptr (JsonParser) parser = json_parser_new ();

    ck_assert (json_parser_load_from_data (parser, rooms_json, -1, NULL));
    json_object_set_member (claims, "rooms", json_node_copy (json_parser_get_root (parser)));
  }
  return hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
}

static TestClient *
hello_token (const char *token, JsonObject **welcome)
{
  TestClient *c = test_client_open (node);
  g_autofree char *hello =
      g_strdup_printf ("{\"type\":\"hello\",\"id\":1,\"token\":\"%s\"}", token);
  JsonObject *w = test_client_request (c, hello, 1);

  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
  if (welcome != NULL)
    *welcome = w;
  else
    json_object_unref (w);
  return c;
}

START_TEST (test_deadline_closes_4003)
{
  gint64 exp = now_s () + 60;
  g_autofree char *token = token_claims ("alice", exp, NULL);
  g_autofree char *forever = token_claims ("bob", 0, NULL);
  g_autoptr (JsonObject) w = NULL;
  TestClient *alice = hello_token (token, &w);
  TestClient *bob = hello_token (forever, NULL);
  gint64 left_ms = exp * 1000 - hub_clock_unix_ms (node->clock);

  ck_assert_int_eq (json_object_get_int_member (w, "expires_ts"), exp * 1000);
  test_node_advance (node, left_ms - 1);
  ck_assert_msg (!alice->sink->closed, "open until expires_ts");
  test_node_advance (node, 1);
  ck_assert_msg (alice->sink->closed, "closed at expires_ts");
  ck_assert_int_eq (alice->sink->close_code, 4003);
  /* (Within the liveness timeout: the test's clients answer no pings.) */
  test_node_advance (node, 20 * 1000);
  ck_assert_msg (!bob->sink->closed, "a token without exp has no deadline");
}
END_TEST

START_TEST (test_refresh_moves_and_ends_deadline)
{
  g_autofree char *token = token_claims ("carol", now_s () + 10, NULL);
  g_autofree char *later = token_claims ("carol", now_s () + 50, NULL);
  g_autofree char *forever = token_claims ("carol", 0, NULL);
  g_autofree char *other = token_claims ("dave", now_s () + 1000, NULL);
  TestClient *a = hello_token (token, NULL);
  TestClient *b = hello_token (token, NULL);
  TestClient *c = hello_token (token, NULL);
  g_autofree char *r1 = g_strdup_printf ("{\"type\":\"refresh\",\"id\":2,\"token\":\"%s\"}", later);
  g_autofree char *r2 =
      g_strdup_printf ("{\"type\":\"refresh\",\"id\":2,\"token\":\"%s\"}", forever);
  g_autofree char *r3 = g_strdup_printf ("{\"type\":\"refresh\",\"id\":2,\"token\":\"%s\"}", other);
  g_autoptr (JsonObject) ok1 = test_client_request (a, r1, 2);
  g_autoptr (JsonObject) ok2 = test_client_request (b, r2, 2);
  g_autoptr (JsonObject) refused = test_client_request (c, r3, 2);

  ck_assert_str_eq (json_object_get_string_member (ok1, "type"), "ok");
  ck_assert_int_eq (json_object_get_int_member (ok1, "expires_ts"), (now_s () + 50) * 1000);
  ck_assert_msg (!json_object_has_member (ok2, "expires_ts"), "no exp: no deadline");
  ck_assert_reply_error (refused, "unauthorized");
  test_node_advance (node, 11 * 1000);
  ck_assert_msg (!a->sink->closed && !b->sink->closed, "refreshed connections stay");
  ck_assert_int_eq (c->sink->close_code, 4003);
  test_node_advance (node, 40 * 1000);
  ck_assert_int_eq (a->sink->close_code, 4003);
  ck_assert_msg (!b->sink->closed, "no deadline any more");
}
END_TEST

START_TEST (test_refresh_replaces_rooms)
{
  g_autofree char *first = token_claims ("erin", 0, "{\"a\":\"jpc\"}");
  g_autofree char *second = token_claims ("erin", 0, "{\"b\":\"jpc\"}");
  TestClient *c = hello_token (first, NULL);
  g_autofree char *refresh =
      g_strdup_printf ("{\"type\":\"refresh\",\"id\":9,\"token\":\"%s\"}", second);
  g_autoptr (JsonObject) ok = NULL;
  g_autoptr (JsonObject) r1 = NULL;
  g_autoptr (JsonObject) r2 = NULL;

  test_client_join (c, "a");
  ok = test_client_request (c, refresh, 9);
  ck_assert_str_eq (json_object_get_string_member (ok, "type"), "ok");
  r1 = test_client_req (c, "{\"type\":\"publish\",\"id\":1,\"room\":\"a\",\"payload\":{}}");
  ck_assert_reply_error (r1, "forbidden");
  r2 = test_client_req (c, "{\"type\":\"join\",\"id\":1,\"room\":\"b\"}");
  ck_assert_str_eq (json_object_get_string_member (r2, "type"), "ok");
}
END_TEST

/* A room token's grant holds on the user's other connections and after its exp. */
START_TEST (test_room_token_grant_outlives_exp)
{
  g_autofree char *token = token_claims ("frank", 0, "{}");
  g_autoptr (JsonObject) claims = json_object_new ();
  g_autofree char *grant = NULL;
  g_autofree char *join = NULL;
  TestClient *a = hello_token (token, NULL);
  TestClient *b = hello_token (token, NULL);
  g_autoptr (JsonObject) joined = NULL;
  g_autoptr (JsonObject) refused = NULL;
  g_autoptr (JsonObject) published = NULL;

  json_object_set_string_member (claims, "sub", "frank");
  json_object_set_string_member (claims, "room", "vip");
  json_object_set_int_member (claims, "exp", now_s () + 5);
  grant = hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
  join = g_strdup_printf ("{\"type\":\"join\",\"id\":1,\"room\":\"vip\",\"token\":\"%s\"}", grant);
  refused = test_client_req (b, "{\"type\":\"join\",\"id\":1,\"room\":\"vip\"}");
  ck_assert_reply_error (refused, "forbidden");
  joined = test_client_req (a, join);
  ck_assert_str_eq (json_object_get_string_member (joined, "type"), "ok");
  test_node_advance (node, 60 * 1000);
  published =
      test_client_req (b, "{\"type\":\"publish\",\"id\":1,\"room\":\"vip\",\"payload\":{}}");
  ck_assert_str_eq (json_object_get_string_member (published, "type"), "ok");
}
END_TEST

static Suite *
session_suite (void)
{
  Suite *s = suite_create ("dispatcher-session");
  TCase *tc = tcase_create ("hello");
  TCase *tok = tcase_create ("tokens");
  TCase *env = tcase_create ("envelope");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_welcome_fields);
  tcase_add_test (tc, test_welcome_without_id);
  tcase_add_test (tc, test_conn_ids_unique);
  tcase_add_test (tc, test_requests_before_hello);
  tcase_add_test (tc, test_garbage_before_hello_is_bad_request);
  tcase_add_test (tc, test_second_hello);
  tcase_add_test (tc, test_hello_needs_user_without_secret);
  tcase_add_test (tc, test_hello_invalid_name_retry);
  tcase_add_test (tc, test_hello_timeout);
  tcase_add_test (tc, test_hello_timeout_cancelled_by_hello);
  tcase_add_test (tc, test_hello_timeout_failed_hello_still_closes);
  tcase_add_test (tc, test_membership_in_welcome_after_reconnect);
  tcase_add_test (tc, test_dev_mode_may_broadcast);
  suite_add_tcase (s, tc);

  tcase_add_checked_fixture (tok, setup_secret, teardown);
  tcase_add_test (tok, test_token_valid);
  tcase_add_test (tok, test_token_user_matches_sub);
  tcase_add_test (tok, test_token_missing);
  tcase_add_test (tok, test_token_not_string);
  tcase_add_test (tok, test_token_expired);
  tcase_add_test (tok, test_token_forged);
  tcase_add_test (tok, test_token_garbage);
  tcase_add_test (tok, test_token_user_mismatch);
  tcase_add_test (tok, test_token_admin_broadcast);
  tcase_add_test (tok, test_deadline_closes_4003);
  tcase_add_test (tok, test_refresh_moves_and_ends_deadline);
  tcase_add_test (tok, test_refresh_replaces_rooms);
  tcase_add_test (tok, test_room_token_grant_outlives_exp);
  suite_add_tcase (s, tok);

  tcase_add_checked_fixture (env, setup, teardown);
  tcase_add_test (env, test_id_echo_types);
  tcase_add_test (env, test_bad_ids);
  tcase_add_test (env, test_unknown_type);
  tcase_add_test (env, test_malformed_frames);
  tcase_add_test (env, test_fire_and_forget);
  tcase_add_test (env, test_ping_pong);
  tcase_add_test (env, test_replies_in_request_order);
  suite_add_tcase (s, env);
  return s;
}

int
main (void)
{
  return test_run_suite (session_suite ());
}

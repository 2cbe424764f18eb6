/* test-dispatcher-messages.c: publish, direct, multicast, broadcast, typing
 * (PROTOCOL.md §5) and POST /api/publish (§10) through the dispatcher. */
#include <check.h>

#include "hub-test-node.h"

#define SECRET "api-secret"

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

/* --- publish -------------------------------------------------------------------- */

START_TEST (test_publish_delivery)
{
  TestClient *a1 = test_client_hello (node, "alice", "phone");
  TestClient *a2 = test_client_hello (node, "alice", "laptop");
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *c = test_client_hello (node, "charlie", NULL);
  g_autoptr (JsonObject) r = NULL, m = NULL;
  JsonObject *payload;

  test_client_join (a1, "general");
  test_client_join (b, "general");
  test_client_clear (a1);
  test_client_clear (a2);
  test_client_clear (b);
  r = test_client_req (
      a1, "{\"type\":\"publish\",\"id\":1,\"room\":\"general\",\"payload\":{\"text\":\"hi\"}}");
  ck_assert_reply_ok (r);
  ck_assert_int_eq (json_object_get_int_member (r, "seq"), 1);
  ck_assert_int_eq (test_client_count (a1, "message"), 1);
  ck_assert_int_eq (test_client_count (a2, "message"), 1);
  ck_assert_int_eq (test_client_count (b, "message"), 1);
  ck_assert_int_eq (test_client_count (c, "message"), 0);
  m = test_client_next (b, "message");
  ck_assert_str_eq (json_object_get_string_member (m, "room"), "general");
  ck_assert_int_eq (json_object_get_int_member (m, "seq"), 1);
  ck_assert_str_eq (json_object_get_string_member (m, "from"), "alice");
  ck_assert_str_eq (json_object_get_string_member (m, "device"), "phone");
  ck_assert_int_eq (json_object_get_int_member (m, "ts"), hub_clock_unix_ms (node->clock));
  payload = json_object_get_object_member (m, "payload");
  ck_assert_str_eq (json_object_get_string_member (payload, "text"), "hi");
}
END_TEST

START_TEST (test_publish_shares_one_frame)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_clear (a);
  test_client_clear (b);
  test_client_send (a, "{\"type\":\"publish\",\"room\":\"general\",\"payload\":{}}");
  ck_assert_int_eq (a->sink->frames->len, 1);
  ck_assert_int_eq (b->sink->frames->len, 1);
  ck_assert_msg (g_ptr_array_index (a->sink->frames, 0) == g_ptr_array_index (b->sink->frames, 0),
                 "every recipient gets the same encoded frame");
}
END_TEST

START_TEST (test_publish_seq_order)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_clear (b);
  for (int i = 0; i < 300; i++) {
    test_client_send (a, "{\"type\":\"publish\",\"room\":\"general\",\"payload\":{}}");
    test_node_advance (node, 10); /* one token per request at 100/s */
  }
  ck_assert_int_eq (test_client_count (b, "message"), 300);
  for (gint64 seq = 1; seq <= 300; seq++) {
    g_autoptr (JsonObject) m = test_client_next (b, "message");

    ck_assert_int_eq (json_object_get_int_member (m, "seq"), seq);
  }
}
END_TEST

START_TEST (test_publish_errors)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r1 = NULL, r2 = NULL, r3 = NULL, r4 = NULL;

  test_client_join (b, "general");
  r1 = test_client_req (a, "{\"type\":\"publish\",\"id\":1,\"room\":\"general\",\"payload\":{}}");
  ck_assert_reply_error (r1, "not_member");
  r2 = test_client_req (a, "{\"type\":\"publish\",\"id\":1,\"room\":\"nope\",\"payload\":{}}");
  ck_assert_reply_error (r2, "room_not_found");
  r3 = test_client_req (
      b, "{\"type\":\"publish\",\"id\":1,\"room\":\"general\",\"payload\":\"text\"}");
  ck_assert_reply_error (r3, "bad_request");
  r4 = test_client_req (b, "{\"type\":\"publish\",\"id\":1,\"room\":\"general\"}");
  ck_assert_reply_error (r4, "bad_request");
  ck_assert_int_eq (test_client_count (b, "message"), 0);
}
END_TEST

/* --- direct ------------------------------------------------------------------------ */

START_TEST (test_direct)
{
  TestClient *a1 = test_client_hello (node, "alice", "phone");
  TestClient *a2 = test_client_hello (node, "alice", "laptop");
  TestClient *b1 = test_client_hello (node, "bob", "phone");
  TestClient *b2 = test_client_hello (node, "bob", "laptop");
  TestClient *c = test_client_hello (node, "charlie", NULL);
  g_autoptr (JsonObject) r =
      test_client_req (a1, "{\"type\":\"direct\",\"id\":1,\"to\":\"bob\",\"payload\":{\"t\":1}}");
  g_autoptr (JsonObject) m = NULL;

  ck_assert_reply_ok (r);
  ck_assert_int_eq (json_object_get_int_member (r, "delivered"), 2);
  ck_assert_int_eq (test_client_count (b1, "direct"), 1);
  ck_assert_int_eq (test_client_count (b2, "direct"), 1);
  ck_assert_int_eq (test_client_count (a2, "direct"), 1);
  ck_assert_int_eq (test_client_count (a1, "direct"), 0);
  ck_assert_int_eq (test_client_count (c, "direct"), 0);
  m = test_client_next (a2, "direct");
  ck_assert_str_eq (json_object_get_string_member (m, "from"), "alice");
  ck_assert_str_eq (json_object_get_string_member (m, "to"), "bob");
}
END_TEST

START_TEST (test_direct_offline)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r1 = NULL, r2 = NULL, r3 = NULL;

  r1 = test_client_req (a, "{\"type\":\"direct\",\"id\":1,\"to\":\"nobody\",\"payload\":{}}");
  ck_assert_reply_error (r1, "user_offline");
  test_client_disconnect (b);
  r2 = test_client_req (a, "{\"type\":\"direct\",\"id\":1,\"to\":\"bob\",\"payload\":{}}");
  ck_assert_reply_error (r2, "user_offline");
  r3 = test_client_req (a, "{\"type\":\"direct\",\"id\":1,\"to\":\"b b\",\"payload\":{}}");
  ck_assert_reply_error (r3, "invalid_name");
}
END_TEST

START_TEST (test_direct_invisible_still_delivered)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) s =
      test_client_req (b, "{\"type\":\"status\",\"id\":1,\"status\":\"offline\"}");
  g_autoptr (JsonObject) r =
      test_client_req (a, "{\"type\":\"direct\",\"id\":1,\"to\":\"bob\",\"payload\":{}}");

  ck_assert_reply_ok (r);
  ck_assert_int_eq (test_client_count (b, "direct"), 1);
}
END_TEST

START_TEST (test_direct_to_self)
{
  TestClient *a1 = test_client_hello (node, "alice", "phone");
  TestClient *a2 = test_client_hello (node, "alice", "laptop");
  TestClient *a3 = test_client_hello (node, "alice", "tablet");
  g_autoptr (JsonObject) r =
      test_client_req (a1, "{\"type\":\"direct\",\"id\":1,\"to\":\"alice\",\"payload\":{}}");

  ck_assert_reply_ok (r);
  ck_assert_int_eq (json_object_get_int_member (r, "delivered"), 2);
  ck_assert_int_eq (test_client_count (a1, "direct"), 0);
  ck_assert_int_eq (test_client_count (a2, "direct"), 1);
  ck_assert_int_eq (test_client_count (a3, "direct"), 1);
}
END_TEST

/* --- multicast and broadcast ----------------------------------------------------------- */

START_TEST (test_multicast)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b1 = test_client_hello (node, "bob", "one");
  TestClient *b2 = test_client_hello (node, "bob", "two");
  TestClient *c = test_client_hello (node, "charlie", NULL);
  g_autoptr (JsonObject) r = test_client_req (
      a, "{\"type\":\"multicast\",\"id\":1,\"to\":[\"bob\",\"ghost\",\"bob\",\"charlie\"],"
         "\"payload\":{\"x\":true}}");
  JsonArray *offline;
  g_autoptr (JsonObject) m = NULL;

  ck_assert_reply_ok (r);
  ck_assert_int_eq (json_object_get_int_member (r, "delivered"), 3);
  offline = json_object_get_array_member (r, "offline");
  ck_assert_int_eq (json_array_get_length (offline), 1);
  ck_assert_str_eq (json_array_get_string_element (offline, 0), "ghost");
  ck_assert_int_eq (test_client_count (b1, "multicast"), 1);
  ck_assert_int_eq (test_client_count (b2, "multicast"), 1);
  ck_assert_int_eq (test_client_count (c, "multicast"), 1);
  ck_assert_int_eq (test_client_count (a, "multicast"), 0);
  m = test_client_next (c, "multicast");
  ck_assert_str_eq (json_object_get_string_member (m, "from"), "alice");
}
END_TEST

START_TEST (test_multicast_limits)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  GString *json = g_string_new ("{\"type\":\"multicast\",\"id\":1,\"payload\":{},\"to\":[");
  g_autoptr (JsonObject) r = NULL, bad = NULL;

  for (int i = 0; i < 1001; i++)
    g_string_append_printf (json, "%s\"u%d\"", i ? "," : "", i);
  g_string_append (json, "]}");
  r = test_client_req (a, json->str);
  ck_assert_reply_error (r, "bad_request");
  g_string_free (json, TRUE);
  bad = test_client_req (
      a, "{\"type\":\"multicast\",\"id\":1,\"to\":[\"ok\",\"not ok\"],\"payload\":{}}");
  ck_assert_reply_error (bad, "invalid_name");
}
END_TEST

START_TEST (test_broadcast)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *anon = test_client_open (node);
  g_autoptr (JsonObject) r =
      test_client_req (a, "{\"type\":\"broadcast\",\"id\":1,\"payload\":{\"alert\":\"hi\"}}");

  ck_assert_int_eq (json_object_get_int_member (r, "delivered"), 2);
  ck_assert_int_eq (test_client_count (a, "broadcast"), 1);
  ck_assert_int_eq (test_client_count (b, "broadcast"), 1);
  ck_assert_int_eq (test_client_count (anon, "broadcast"), 0);
}
END_TEST

/* --- typing -------------------------------------------------------------------------- */

START_TEST (test_typing)
{
  TestClient *a1 = test_client_hello (node, "alice", "phone");
  TestClient *a2 = test_client_hello (node, "alice", "laptop");
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *c = test_client_hello (node, "charlie", NULL);
  g_autoptr (JsonObject) r = NULL, t = NULL, e1 = NULL, e2 = NULL;

  test_client_join (a1, "general");
  test_client_join (b, "general");
  test_client_clear (a1);
  test_client_clear (a2);
  test_client_clear (b);
  r = test_client_req (a1, "{\"type\":\"typing\",\"id\":1,\"room\":\"general\"}");
  ck_assert_reply_ok (r);
  ck_assert_int_eq (test_client_count (b, "typing"), 1);
  ck_assert_int_eq (test_client_count (a1, "typing"), 0);
  ck_assert_int_eq (test_client_count (a2, "typing"), 0);
  ck_assert_int_eq (test_client_count (c, "typing"), 0);
  t = test_client_next (b, "typing");
  ck_assert_str_eq (json_object_get_string_member (t, "user"), "alice");
  ck_assert_str_eq (json_object_get_string_member (t, "room"), "general");
  ck_assert_msg (!json_object_has_member (t, "seq"), "typing carries no seq");
  e1 = test_client_req (c, "{\"type\":\"typing\",\"id\":1,\"room\":\"general\"}");
  ck_assert_reply_error (e1, "not_member");
  e2 = test_client_req (c, "{\"type\":\"typing\",\"id\":1,\"room\":\"nope\"}");
  ck_assert_reply_error (e2, "room_not_found");
}
END_TEST

/* --- HTTP publish (§10) ------------------------------------------------------------------ */

static char *
api (const char *body, const char *auth, guint *status)
{
  char *answer = hub_dispatcher_api_publish (node->dispatcher, body, strlen (body), auth, status);

  test_node_sync (node); /* its deliveries */
  return answer;
}

START_TEST (test_api_publish_room)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  guint status = 0;
  g_autofree char *body = NULL;
  g_autoptr (JsonObject) m = NULL;

  test_client_join (a, "general");
  test_client_clear (a);
  body = api ("{\"room\":\"general\",\"payload\":{\"n\":1}}", NULL, &status);
  ck_assert_int_eq (status, 200);
  ck_assert_str_eq (body, "{\"seq\":1}");
  m = test_client_next (a, "message");
  ck_assert_str_eq (json_object_get_string_member (m, "from"), "@api");
}
END_TEST

START_TEST (test_api_direct_and_broadcast)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  guint status = 0;
  g_autofree char *b1 = api ("{\"to\":\"alice\",\"payload\":{}}", NULL, &status);
  g_autofree char *b2 = NULL, *b3 = NULL;

  ck_assert_int_eq (status, 200);
  ck_assert_str_eq (b1, "{\"delivered\":1}");
  ck_assert_int_eq (test_client_count (a, "direct"), 1);
  b2 = api ("{\"broadcast\":true,\"payload\":{}}", NULL, &status);
  ck_assert_int_eq (status, 200);
  ck_assert_str_eq (b2, "{\"delivered\":2}");
  ck_assert_int_eq (test_client_count (b, "broadcast"), 1);
  b3 = api ("{\"to\":\"ghost\",\"payload\":{}}", NULL, &status);
  ck_assert_int_eq (status, 404);
  ck_assert_msg (strstr (b3, "\"user_offline\"") != NULL, "body names user_offline: %s", b3);
}
END_TEST

START_TEST (test_api_bad_requests)
{
  const char *bodies[] = {
      "",
      "   ",
      "not json",
      "[]",
      "{\"room\":\"general\"}",
      "{\"room\":\"general\",\"payload\":5}",
      "{\"payload\":{}}",
      "{\"room\":\"a\",\"to\":\"b\",\"payload\":{}}",
      "{\"room\":7,\"payload\":{}}",
      "{\"broadcast\":\"yes\",\"payload\":{}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++) {
    guint status = 0;
    g_autofree char *body = api (bodies[i], NULL, &status);

    ck_assert_msg (status == 400, "%s: expected 400, got %u", bodies[i], status);
    ck_assert_msg (strstr (body, "\"bad_request\"") != NULL, "%s: %s", bodies[i], body);
  }
  {
    guint status = 0;
    g_autofree char *b1 = api ("{\"room\":\"bad room\",\"payload\":{}}", NULL, &status);
    g_autofree char *b2 = NULL;

    ck_assert_int_eq (status, 400);
    ck_assert_msg (strstr (b1, "\"invalid_name\"") != NULL, "%s", b1);
    b2 = api ("{\"room\":\"missing\",\"payload\":{}}", NULL, &status);
    ck_assert_int_eq (status, 404);
    ck_assert_msg (strstr (b2, "\"room_not_found\"") != NULL, "%s", b2);
  }
}
END_TEST

START_TEST (test_api_auth)
{
  g_autofree char *admin = hub_auth_mint (SECRET, strlen (SECRET), "ops", TRUE, 0);
  g_autofree char *user = hub_auth_mint (SECRET, strlen (SECRET), "bob", FALSE, 0);
  g_autofree char *h_admin = g_strdup_printf ("Bearer %s", admin);
  g_autofree char *h_user = g_strdup_printf ("Bearer %s", user);
  const char *body = "{\"broadcast\":true,\"payload\":{}}";
  guint status = 0;
  g_autofree char *r1 = api (body, NULL, &status);
  g_autofree char *r2 = NULL, *r3 = NULL, *r4 = NULL;

  ck_assert_int_eq (status, 401);
  ck_assert_msg (strstr (r1, "\"unauthorized\"") != NULL, "%s", r1);
  r2 = api (body, "Bearer garbage", &status);
  ck_assert_int_eq (status, 401);
  r3 = api (body, h_user, &status);
  ck_assert_int_eq (status, 403);
  ck_assert_msg (strstr (r3, "\"forbidden\"") != NULL, "%s", r3);
  r4 = api (body, h_admin, &status);
  ck_assert_int_eq (status, 200);
}
END_TEST

static Suite *
messages_suite (void)
{
  Suite *s = suite_create ("dispatcher-messages");
  TCase *tc = tcase_create ("messages");
  TCase *apic = tcase_create ("api");
  TCase *apis = tcase_create ("api-secret");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_publish_delivery);
  tcase_add_test (tc, test_publish_shares_one_frame);
  tcase_add_test (tc, test_publish_seq_order);
  tcase_add_test (tc, test_publish_errors);
  tcase_add_test (tc, test_direct);
  tcase_add_test (tc, test_direct_offline);
  tcase_add_test (tc, test_direct_invisible_still_delivered);
  tcase_add_test (tc, test_direct_to_self);
  tcase_add_test (tc, test_multicast);
  tcase_add_test (tc, test_multicast_limits);
  tcase_add_test (tc, test_broadcast);
  tcase_add_test (tc, test_typing);
  suite_add_tcase (s, tc);

  tcase_add_checked_fixture (apic, setup, teardown);
  tcase_add_test (apic, test_api_publish_room);
  tcase_add_test (apic, test_api_direct_and_broadcast);
  tcase_add_test (apic, test_api_bad_requests);
  suite_add_tcase (s, apic);

  tcase_add_checked_fixture (apis, setup_secret, teardown);
  tcase_add_test (apis, test_api_auth);
  suite_add_tcase (s, apis);
  return s;
}

int
main (void)
{
  return test_run_suite (messages_suite ());
}

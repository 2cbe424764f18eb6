/* test-dispatcher-api.c: PROTOCOL.md §13 through the dispatcher, without
 * sockets (hub_dispatcher_api_call): a disconnect unregisters the connections
 * it closes before it answers, once (their later bye changes nothing); a ban
 * runs out on the node's clock; the order of the checks. Runs again on Redis
 * as unit/test-dispatcher-api@redis. */
#include <check.h>

#include "hub-test-node.h"
#include "hub-test-redis.h"

#define SECRET "s3cret-for-the-api-tests"

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

/* Runs @action with @body (' stand for ") or @target; answers @status, and
 * returns the body's object. (transfer full) */
static JsonObject *
call (HubApiAction action, const char *target, const char *body, const char *authorization,
      guint status)
{
  g_autofree char *json = body != NULL ? g_strdelimit (g_strdup (body), "'", '"') : NULL;
  HubApiRequest req = {
      .authorization = authorization,
      .target = target,
      .body = json,
      .body_len = json != NULL ? strlen (json) : 0,
  };
  guint got = 0;
  g_autofree char *answer = hub_dispatcher_api_call (node->dispatcher, action, &req, &got);
  g_autoptr (JsonNode) root = NULL;

  ck_assert_msg (got == status, "expected %u, got %u: %s", status, got, answer);
  root = json_from_string (answer, NULL);
  ck_assert_msg (root != NULL && JSON_NODE_HOLDS_OBJECT (root), "not an object: %s", answer);
  test_node_sync (node);
  return json_object_ref (json_node_get_object (root));
}

static const char *
code_of (JsonObject *obj)
{
  return json_object_get_string_member (obj, "code");
}

/* alice's two connections are closed with 4010 and unregistered before the
 * answer; bob, who watches her, hears `offline`; a new connection makes her
 * `online` again, and when the closed ones' transports go afterwards (their
 * bye) nothing happens: she stays online with one connection. */
START_TEST (test_disconnect_unregisters_once)
{
  TestClient *phone = test_client_hello (node, "alice", "phone");
  TestClient *laptop = test_client_hello (node, "alice", "laptop");
  TestClient *bob = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) sub =
      test_client_req (bob, "{\"type\":\"subscribe\",\"id\":1,\"users\":[\"alice\"]}");
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (JsonObject) user = NULL;
  g_autoptr (JsonObject) status = NULL;
  TestClient *again;

  ck_assert_reply_ok (sub);
  test_client_clear (bob);
  reply = call (HUB_API_DISCONNECT, NULL, "{'user':'alice'}", NULL, 200);
  ck_assert_int_eq (json_object_get_int_member (reply, "disconnected"), 2);
  ck_assert (phone->sink->closed && laptop->sink->closed);
  ck_assert_uint_eq (phone->sink->close_code, 4010);
  ck_assert_uint_eq (laptop->sink->close_code, 4010);
  user = call (HUB_API_USER, "alice", NULL, NULL, 200);
  ck_assert (!json_object_get_boolean_member (user, "online"));
  ck_assert_uint_eq (json_array_get_length (json_object_get_array_member (user, "connections")), 0);
  status = test_client_next (bob, "status");
  ck_assert_msg (status != NULL, "bob should hear alice go offline");
  ck_assert_str_eq (json_object_get_string_member (status, "status"), "offline");

  /* She comes back before the transports of the closed ones have gone: their
   * bye, when it comes, must not count against the new connection. */
  again = test_client_hello (node, "alice", "tablet");
  g_clear_pointer (&status, json_object_unref);
  status = test_client_next (bob, "status");
  ck_assert_msg (status != NULL, "bob should hear alice come back");
  ck_assert_str_eq (json_object_get_string_member (status, "status"), "online");
  test_client_clear (bob);
  test_client_disconnect (phone);
  test_client_disconnect (laptop);
  ck_assert_uint_eq (test_client_count (bob, "status"), 0);
  g_clear_pointer (&user, json_object_unref);
  user = call (HUB_API_USER, "alice", NULL, NULL, 200);
  ck_assert (json_object_get_boolean_member (user, "online"));
  ck_assert_str_eq (json_object_get_string_member (user, "status"), "online");
  ck_assert_uint_eq (json_array_get_length (json_object_get_array_member (user, "connections")), 1);
  /* Her last connection going makes her offline: the count is right. */
  test_client_disconnect (again);
  g_clear_pointer (&status, json_object_unref);
  status = test_client_next (bob, "status");
  ck_assert_msg (status != NULL, "bob should hear alice go offline again");
  ck_assert_str_eq (json_object_get_string_member (status, "status"), "offline");
}
END_TEST

/* The ban runs on the node's clock: refused until its last millisecond. The
 * Redis store's ban expires on Redis' clock (SET PX): memory only. */
START_TEST (test_ban_runs_out_on_the_clock)
{
  g_autoptr (JsonObject) reply = NULL;
  TestClient *c;
  g_autoptr (JsonObject) refused = NULL;
  g_autoptr (JsonObject) welcome = NULL;

  if (hub_test_store_is_redis ())
    return;
  reply = call (HUB_API_DISCONNECT, NULL, "{'user':'alice','ban_s':10}", NULL, 200);
  ck_assert_int_eq (json_object_get_int_member (reply, "disconnected"), 0);
  test_node_advance (node, 9999);
  c = test_client_open (node);
  refused = test_client_req (c, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"}");
  ck_assert_reply_error (refused, "unauthorized");
  ck_assert (c->sink->closed);
  ck_assert_uint_eq (c->sink->close_code, 4001);
  test_node_advance (node, 1);
  c = test_client_open (node);
  welcome = test_client_req (c, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"}");
  ck_assert_str_eq (json_object_get_string_member (welcome, "type"), "welcome");
}
END_TEST

/* Without the admin token nothing is read: 401 before 400, 403 before 404. */
START_TEST (test_token_before_request_before_state)
{
  g_autofree char *user = hub_auth_mint (SECRET, strlen (SECRET), "alice", FALSE, 0);
  g_autofree char *admin = hub_auth_mint (SECRET, strlen (SECRET), "ops", TRUE, 0);
  g_autofree char *as_user = g_strdup_printf ("Bearer %s", user);
  g_autofree char *as_admin = g_strdup_printf ("Bearer %s", admin);
  g_autoptr (JsonObject) a = call (HUB_API_JOIN, NULL, "[", NULL, 401);
  g_autoptr (JsonObject) b = call (HUB_API_JOIN, NULL, "[", "Basic x", 401);
  g_autoptr (JsonObject) c = call (HUB_API_REMOVE, NULL, "{'room':'r','user':'u'}", as_user, 403);
  g_autoptr (JsonObject) d = call (HUB_API_REMOVE, NULL, "{'room':'r'}", as_admin, 400);
  g_autoptr (JsonObject) e = call (HUB_API_REMOVE, NULL, "{'room':'r','user':'u'}", as_admin, 404);
  g_autoptr (JsonObject) f = call (HUB_API_HISTORY, "r!", NULL, as_admin, 400);
  g_autoptr (JsonObject) g = call (HUB_API_ROOMS, NULL, NULL, as_admin, 200);

  ck_assert_str_eq (code_of (a), "unauthorized");
  ck_assert_str_eq (code_of (b), "unauthorized");
  ck_assert_str_eq (code_of (c), "forbidden");
  ck_assert_str_eq (code_of (d), "bad_request");
  ck_assert_str_eq (code_of (e), "room_not_found");
  ck_assert_str_eq (code_of (f), "invalid_name");
  ck_assert_int_eq (json_object_get_int_member (g, "count"), 0);
}
END_TEST

static Suite *
api_suite (void)
{
  Suite *s = suite_create ("dispatcher-api");
  TCase *open = tcase_create ("open");
  TCase *secret = tcase_create ("secret");

  tcase_add_checked_fixture (open, setup, teardown);
  tcase_add_test (open, test_disconnect_unregisters_once);
  tcase_add_test (open, test_ban_runs_out_on_the_clock);
  suite_add_tcase (s, open);
  tcase_add_checked_fixture (secret, setup_secret, teardown);
  tcase_add_test (secret, test_token_before_request_before_state);
  suite_add_tcase (s, secret);
  return s;
}

int
main (void)
{
  return test_run_suite (api_suite ());
}

/* test-http.c: PROTOCOL.md §10 over real sockets: /healthz, /metrics,
 * /api/stats, POST /api/publish, 405 and 404. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub-auth.h>
#include <string.h>

#define SECRET "itest-secret-http"

static const char *const stats_fields[] = {
    "uptime_s",        "connections",       "users_online",     "rooms",
    "frames_in_total", "messages_in_total", "deliveries_total", "slow_consumer_closes_total",
    "dropped_total",
};

static const char *const metric_names[] = {
    "hub_connections",
    "hub_users_online",
    "hub_rooms",
    "hub_frames_in_total",
    "hub_messages_in_total",
    "hub_deliveries_total",
    "hub_slow_consumer_closes_total",
    "hub_dropped_total",
};

/* Checks an error answer: @status and body {"code": @code, "message": …}. */
static void
expect_http_error (HubTestHttpResponse *response, guint status, const char *code)
{
  g_autoptr (JsonObject) body = NULL;

  ck_assert_msg (response->status == status, "expected HTTP %u (%s), got %s: %s", status, code,
                 response->status_line, response->body);
  body = hub_test_http_response_json (response);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (body, "code"), code) == 0,
                 "expected code %s, got %s", code, response->body);
  ck_assert_msg (hub_test_json_string (body, "message") != NULL, "errors carry a message: %s",
                 response->body);
}

static double
metric (const char *text, const char *name)
{
  double value = -1;

  ck_assert_msg (hub_test_metric_value (text, name, &value), "/metrics should have %s:\n%s", name,
                 text);
  return value;
}

/* GET @path until its figure @name (a /metrics sample, or an /api/stats member)
 * reads @want, at most 5 s; returns the last answer. A cluster node's room
 * count is the one Redis gave it for the previous read (§10 leaves figures
 * that need the shared state room to lag); one node's is exact at once. */
static HubTestHttpResponse *
get_when (guint16 port, const char *path, const char *name, double want)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;

  for (;;) {
    HubTestHttpResponse *response = hub_test_http_get (port, path);
    double value = -1;

    if (g_str_has_prefix (path, "/metrics")) {
      hub_test_metric_value (response->body, name, &value);
    } else {
      g_autoptr (JsonObject) body = hub_test_json_parse (response->body, response->body_len);

      if (body != NULL && json_object_has_member (body, name))
        value = (double)json_object_get_int_member (body, name);
    }
    if (value == want || g_get_monotonic_time () > deadline)
      return response;
    hub_test_http_response_free (response);
    hub_test_ws_service (20);
  }
}

START_TEST (healthz)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--node", "health-node", NULL);
  g_autoptr (HubTestHttpResponse) response =
      hub_test_http_get (hub_test_server_port (server), "/healthz");
  g_autoptr (JsonObject) body = NULL;

  ck_assert_uint_eq (response->status, 200);
  body = hub_test_http_response_json (response);
  ck_assert_str_eq (hub_test_json_string (body, "status"), "ok");
  ck_assert_str_eq (hub_test_json_string (body, "node"), "health-node");
}
END_TEST

START_TEST (metrics_after_traffic)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (HubTestHttpResponse) response = NULL;
  const char *type;

  /* Frames in: 2 hellos, 2 joins, 3 publishes, 1 direct, 1 fragmented ping = 9.
   * Messages in: 4. Deliveries: 3 publishes × 2 members + 1 direct = 7. */
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'general'}"));
  for (int i = 0; i < 3; i++)
    json_object_unref (
        hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{'i':%d}}", i));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'direct','to':'bob','payload':{}}"));
  hub_test_ws_send_fragmented (alice, "{\"type\":\"ping\",\"id\":\"frag\"}", 3);
  json_object_unref (hub_test_ws_expect_type (alice, "presence", HUB_TEST_WS_TIMEOUT_MS));
  hub_test_ws_drain (alice); /* the pong and the rest; this ping is frame 10 */

  response = get_when (port, "/metrics", "hub_rooms", 1);
  ck_assert_uint_eq (response->status, 200);
  type = hub_test_http_response_header (response, "content-type");
  ck_assert_msg (type != NULL && g_str_has_prefix (type, "text/plain") &&
                     strstr (type, "version=0.0.4") != NULL,
                 "content type is text/plain; version=0.0.4, got %s", type);
  for (guint i = 0; i < G_N_ELEMENTS (metric_names); i++)
    metric (response->body, metric_names[i]);
  ck_assert_int_eq ((int)metric (response->body, "hub_connections"), 2);
  ck_assert_int_eq ((int)metric (response->body, "hub_users_online"), 2);
  ck_assert_int_eq ((int)metric (response->body, "hub_rooms"), 1);
  ck_assert_int_eq ((int)metric (response->body, "hub_frames_in_total"), 10);
  ck_assert_int_eq ((int)metric (response->body, "hub_messages_in_total"), 4);
  ck_assert_int_eq ((int)metric (response->body, "hub_deliveries_total"), 7);
  ck_assert_int_eq ((int)metric (response->body, "hub_slow_consumer_closes_total"), 0);
  ck_assert_int_eq ((int)metric (response->body, "hub_dropped_total"), 0);
  (void)bob;
}
END_TEST

START_TEST (api_stats_fields)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--node", "stats-node", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *alice2 = hub_test_ws_login (port, "alice", "two");
  HubTestWs *anonymous = hub_test_ws_open (port);
  g_autoptr (HubTestHttpResponse) response = NULL;
  g_autoptr (JsonObject) stats = NULL;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'create','room':'empty'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{}}"));
  hub_test_ws_err (anonymous, "not_authenticated", "{'type':'ping'}");
  response = get_when (port, "/api/stats", "rooms", 2);
  ck_assert_uint_eq (response->status, 200);
  stats = hub_test_http_response_json (response);
  ck_assert_str_eq (hub_test_json_string (stats, "node"), "stats-node");
  for (guint i = 0; i < G_N_ELEMENTS (stats_fields); i++)
    ck_assert_msg (hub_test_json_int (stats, stats_fields[i]) >= 0, "%s is a count",
                   stats_fields[i]);
  ck_assert_int_eq (hub_test_json_int (stats, "connections"), 3);
  ck_assert_int_eq (hub_test_json_int (stats, "users_online"), 1);
  ck_assert_int_eq (hub_test_json_int (stats, "rooms"), 2);
  ck_assert_int_eq (hub_test_json_int (stats, "messages_in_total"), 1);
  ck_assert_int_eq (hub_test_json_int (stats, "deliveries_total"), 2);
  ck_assert_msg (hub_test_json_int (stats, "frames_in_total") >= 6,
                 "hellos, join, create, publish and the barrier were counted");
  (void)alice2;
}
END_TEST

START_TEST (api_publish_to_room)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (HubTestHttpResponse) response = NULL;
  g_autoptr (JsonObject) result = NULL;
  g_autoptr (JsonObject) message = NULL;

  hub_test_ws_join (bob, "bob", "general");
  json_object_unref (hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{}}"));
  json_object_unref (hub_test_ws_expect_type (bob, "message", HUB_TEST_WS_TIMEOUT_MS));
  response = hub_test_http_post (port, "/api/publish", NULL,
                                 "{\"room\":\"general\",\"payload\":{\"text\":\"from http\"}}");
  ck_assert_msg (response->status == 200, "POST /api/publish: %s %s", response->status_line,
                 response->body);
  result = hub_test_http_response_json (response);
  ck_assert_int_eq (hub_test_json_int (result, "seq"), 2);
  message = hub_test_ws_expect_type (bob, "message", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (message, "from"), "@api");
  ck_assert_str_eq (hub_test_json_string (message, "room"), "general");
  ck_assert_int_eq (hub_test_json_int (message, "seq"), 2);
  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (message, "payload"), "text"),
                    "from http");
}
END_TEST

START_TEST (api_publish_direct_and_broadcast)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *b1 = hub_test_ws_login (port, "bob", "one");
  HubTestWs *b2 = hub_test_ws_login (port, "bob", "two");
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);
  g_autoptr (HubTestHttpResponse) direct = NULL;
  g_autoptr (HubTestHttpResponse) broadcast = NULL;
  g_autoptr (JsonObject) result = NULL;
  g_autoptr (JsonObject) result2 = NULL;
  HubTestWs *all[] = {b1, b2, carol};

  direct =
      hub_test_http_post (port, "/api/publish", NULL, "{\"to\":\"bob\",\"payload\":{\"n\":1}}");
  ck_assert_msg (direct->status == 200, "%s %s", direct->status_line, direct->body);
  result = hub_test_http_response_json (direct);
  ck_assert_int_eq (hub_test_json_int (result, "delivered"), 2);
  for (guint i = 0; i < 2; i++) {
    g_autoptr (JsonObject) frame = hub_test_ws_expect_type (all[i], "direct", 5000);

    ck_assert_str_eq (hub_test_json_string (frame, "from"), "@api");
    ck_assert_str_eq (hub_test_json_string (frame, "to"), "bob");
  }
  hub_test_ws_barrier (carol);

  broadcast =
      hub_test_http_post (port, "/api/publish", NULL, "{\"broadcast\":true,\"payload\":{\"n\":2}}");
  ck_assert_msg (broadcast->status == 200, "%s %s", broadcast->status_line, broadcast->body);
  result2 = hub_test_http_response_json (broadcast);
  ck_assert_int_eq (hub_test_json_int (result2, "delivered"), 3);
  for (guint i = 0; i < G_N_ELEMENTS (all); i++) {
    g_autoptr (JsonObject) frame = hub_test_ws_expect_type (all[i], "broadcast", 5000);

    ck_assert_str_eq (hub_test_json_string (frame, "from"), "@api");
    ck_assert_int_eq (hub_test_json_int (hub_test_json_object (frame, "payload"), "n"), 2);
  }
}
END_TEST

START_TEST (api_publish_errors)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (HubTestHttpResponse) r1 = NULL, r2 = NULL, r3 = NULL, r4 = NULL, r5 = NULL, r6 = NULL,
                                  r7 = NULL, r8 = NULL;

  r1 = hub_test_http_post (port, "/api/publish", NULL, "{\"room\":\"general\"");
  expect_http_error (r1, 400, "bad_request");
  r2 = hub_test_http_post (port, "/api/publish", NULL, "{\"room\":\"general\"}");
  expect_http_error (r2, 400, "bad_request");
  r3 = hub_test_http_post (port, "/api/publish", NULL, "{\"room\":\"general\",\"payload\":5}");
  expect_http_error (r3, 400, "bad_request");
  r4 = hub_test_http_post (port, "/api/publish", NULL, "{\"room\":\"a b\",\"payload\":{}}");
  expect_http_error (r4, 400, "invalid_name");
  r5 = hub_test_http_post (port, "/api/publish", NULL, "{\"room\":\"nowhere\",\"payload\":{}}");
  expect_http_error (r5, 404, "room_not_found");
  r6 = hub_test_http_post (port, "/api/publish", NULL, "{\"to\":\"zed\",\"payload\":{}}");
  expect_http_error (r6, 404, "user_offline");
  r7 = hub_test_http_post (port, "/api/publish", NULL, "[1,2]");
  expect_http_error (r7, 400, "bad_request");
  r8 = hub_test_http_post (port, "/api/publish", NULL, "{\"payload\":{}}");
  expect_http_error (r8, 400, "bad_request");
  /* None of them reached anyone, nor created the room. */
  hub_test_ws_barrier (bob);
  hub_test_ws_err (bob, "room_not_found", "{'type':'room_info','room':'nowhere'}");
}
END_TEST

START_TEST (api_publish_with_secret)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  gint64 exp = g_get_real_time () / G_USEC_PER_SEC + 600;
  g_autofree char *user = hub_auth_mint (SECRET, strlen (SECRET), "alice", FALSE, exp);
  g_autofree char *admin = hub_auth_mint (SECRET, strlen (SECRET), "ops", TRUE, exp);
  g_autofree char *forged = hub_auth_mint ("not-the-secret", 14, "ops", TRUE, exp);
  g_autofree char *expired = hub_auth_mint (SECRET, strlen (SECRET), "ops", TRUE, exp - 1200);
  const char *body = "{\"broadcast\":true,\"payload\":{\"n\":1}}";
  HubTestWs *alice = hub_test_ws_open (port);
  g_autoptr (HubTestHttpResponse) none = NULL, bad = NULL, old = NULL, weak = NULL, ok = NULL;
  g_autoptr (HubTestHttpResponse) garbage = NULL;
  g_autoptr (JsonObject) frame = NULL;

  json_object_unref (hub_test_ws_call (alice, "{'type':'hello','token':'%s'}", user));
  none = hub_test_http_post (port, "/api/publish", NULL, body);
  expect_http_error (none, 401, "unauthorized");
  bad = hub_test_http_post (port, "/api/publish", forged, body);
  expect_http_error (bad, 401, "unauthorized");
  old = hub_test_http_post (port, "/api/publish", expired, body);
  expect_http_error (old, 401, "unauthorized");
  garbage = hub_test_http_post (port, "/api/publish", "abc.def.ghi", body);
  expect_http_error (garbage, 401, "unauthorized");
  weak = hub_test_http_post (port, "/api/publish", user, body);
  expect_http_error (weak, 403, "forbidden");
  hub_test_ws_barrier (alice);
  ok = hub_test_http_post (port, "/api/publish", admin, body);
  ck_assert_msg (ok->status == 200, "an admin token may publish: %s %s", ok->status_line, ok->body);
  frame = hub_test_ws_expect_type (alice, "broadcast", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (frame, "from"), "@api");
}
END_TEST

START_TEST (wrong_method_is_405)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  static const char *const cases[][2] = {
      {"GET", "/api/publish"}, {"POST", "/healthz"},    {"POST", "/metrics"},
      {"POST", "/api/stats"},  {"PUT", "/api/publish"}, {"DELETE", "/healthz"},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (HubTestHttpResponse) response =
        hub_test_http_request (port, cases[i][0], cases[i][1], NULL,
                               g_str_equal (cases[i][0], "GET") ? NULL : "{}", &error);

    ck_assert_msg (response != NULL, "%s %s: %s", cases[i][0], cases[i][1],
                   error ? error->message : "");
    ck_assert_msg (response->status == 405, "%s %s should be 405, got %s", cases[i][0], cases[i][1],
                   response->status_line);
  }
}
END_TEST

START_TEST (unknown_paths_are_404)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  static const char *const paths[] = {"/", "/nope", "/api", "/api/nope", "/healthz/x", "/wss"};

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++) {
    g_autoptr (HubTestHttpResponse) get = hub_test_http_get (port, paths[i]);
    g_autoptr (HubTestHttpResponse) post = hub_test_http_post (port, paths[i], NULL, "{}");
    g_autoptr (HubTestRawWs) raw = hub_test_raw_ws_new (port, NULL);
    guint status;

    ck_assert_msg (get->status == 404, "GET %s should be 404, got %s", paths[i], get->status_line);
    ck_assert_msg (post->status == 404, "POST %s should be 404, got %s", paths[i],
                   post->status_line);
    ck_assert_ptr_nonnull (raw);
    status = hub_test_raw_ws_handshake (raw, paths[i], "hub.v1");
    ck_assert_msg (status == 404, "an upgrade on %s should be 404, got %u", paths[i], status);
  }
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("http");

  HUB_TEST_ADD (suite, healthz, 30);
  HUB_TEST_ADD (suite, metrics_after_traffic, 30);
  HUB_TEST_ADD (suite, api_stats_fields, 30);
  HUB_TEST_ADD (suite, api_publish_to_room, 30);
  HUB_TEST_ADD (suite, api_publish_direct_and_broadcast, 30);
  HUB_TEST_ADD (suite, api_publish_errors, 30);
  HUB_TEST_ADD (suite, api_publish_with_secret, 30);
  HUB_TEST_ADD (suite, wrong_method_is_405, 30);
  HUB_TEST_ADD (suite, unknown_paths_are_404, 30);
  return hub_test_run (suite);
}

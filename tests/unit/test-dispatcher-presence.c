/* test-dispatcher-presence.c: statuses and subscriptions (PROTOCOL.md §7),
 * liveness, backpressure and rate limits (§8), shutdown (§9) and the node's
 * figures (§10) through the dispatcher. */
#include <check.h>

#include "hub-test-node.h"

static TestNode *node;

static void
setup (void)
{
  node = test_node_new (NULL);
}

static void
with_grace (HubConfig *config)
{
  config->presence_grace_s = 5;
}

static void
setup_grace (void)
{
  node = test_node_new (with_grace);
}

static void
tight_limits (HubConfig *config)
{
  config->rate_per_s = 5;
  config->burst = 5;
  config->max_queue_bytes = 4096;
  config->heartbeat_s = 2;
}

static void
setup_tight (void)
{
  node = test_node_new (tight_limits);
}

static void
teardown (void)
{
  test_node_free (node);
}

static void
set_status (TestClient *c, const char *status)
{
  g_autofree char *json =
      g_strdup_printf ("{\"type\":\"status\",\"id\":1,\"status\":\"%s\"}", status);
  g_autoptr (JsonObject) r = test_client_req (c, json);

  ck_assert_reply_ok (r);
}

static JsonObject *
subscribe (TestClient *c, const char *users_json)
{
  g_autofree char *json =
      g_strdup_printf ("{\"type\":\"subscribe\",\"id\":1,\"users\":%s}", users_json);
  JsonObject *r = test_client_req (c, json);

  ck_assert_reply_ok (r);
  return r;
}

static void
assert_status_event (TestClient *c, const char *user, const char *status)
{
  g_autoptr (JsonObject) ev = test_client_next (c, "status");

  ck_assert_msg (ev != NULL, "expected status %s of %s", status, user);
  ck_assert_str_eq (json_object_get_string_member (ev, "user"), user);
  ck_assert_str_eq (json_object_get_string_member (ev, "status"), status);
}

/* --- statuses and subscriptions ------------------------------------------------------ */

START_TEST (test_subscribe_statuses)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = NULL;
  JsonObject *st;

  set_status (b, "away");
  r = subscribe (a, "[\"bob\",\"ghost\"]");
  st = json_object_get_object_member (r, "statuses");
  ck_assert_str_eq (json_object_get_string_member (st, "bob"), "away");
  ck_assert_str_eq (json_object_get_string_member (st, "ghost"), "offline");
}
END_TEST

START_TEST (test_status_events_once_per_change)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *b2 = test_client_hello (node, "bob", "second");
  g_autoptr (JsonObject) r = subscribe (a, "[\"bob\"]");

  set_status (b, "away");
  set_status (b2, "away"); /* same status from another device: no change */
  set_status (b, "busy");
  ck_assert_int_eq (test_client_count (a, "status"), 2);
  assert_status_event (a, "bob", "away");
  assert_status_event (a, "bob", "busy");
  ck_assert_int_eq (test_client_count (b, "status"), 0);
}
END_TEST

START_TEST (test_status_shared_by_devices)
{
  TestClient *b1 = test_client_hello (node, "bob", "one");
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b2;
  g_autoptr (JsonObject) r = NULL;

  (void)b1;
  set_status (b1, "busy");
  r = subscribe (a, "[\"bob\"]");
  b2 = test_client_hello (node, "bob", "two"); /* a new device does not change the status */
  (void)b2;
  ck_assert_int_eq (test_client_count (a, "status"), 0);
  {
    g_autoptr (JsonObject) again = subscribe (a, "[\"bob\"]");

    ck_assert_str_eq (
        json_object_get_string_member (json_object_get_object_member (again, "statuses"), "bob"),
        "busy");
  }
}
END_TEST

START_TEST (test_online_offline_events)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r = subscribe (a, "[\"bob\"]");
  TestClient *b1 = test_client_hello (node, "bob", "one");
  TestClient *b2 = test_client_hello (node, "bob", "two");

  assert_status_event (a, "bob", "online");
  test_client_disconnect (b1);
  ck_assert_int_eq (test_client_count (a, "status"), 0);
  test_client_disconnect (b2);
  assert_status_event (a, "bob", "offline");
}
END_TEST

START_TEST (test_status_forgotten_after_offline)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = NULL;
  TestClient *b2;

  set_status (b, "busy");
  test_client_disconnect (b);
  r = subscribe (a, "[\"bob\"]");
  b2 = test_client_hello (node, "bob", NULL);
  (void)b2;
  assert_status_event (a, "bob", "online");
}
END_TEST

START_TEST (test_invisible)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = subscribe (a, "[\"bob\"]");
  g_autoptr (JsonObject) r2 = NULL, online = NULL, j = NULL, who = NULL, mine = NULL;
  JsonObject *bob;

  set_status (b, "offline");
  assert_status_event (a, "bob", "offline");
  r2 = subscribe (a, "[\"bob\"]");
  ck_assert_str_eq (
      json_object_get_string_member (json_object_get_object_member (r2, "statuses"), "bob"),
      "offline");
  online = test_client_req (a, "{\"type\":\"online\",\"id\":1}");
  ck_assert_int_eq (json_object_get_int_member (online, "count"), 1);
  ck_assert_str_eq (
      json_array_get_string_element (json_object_get_array_member (online, "users"), 0), "alice");
  j = test_client_req (b, "{\"type\":\"join\",\"id\":1,\"room\":\"general\"}");
  who = test_client_req (a, "{\"type\":\"who\",\"id\":1,\"room\":\"general\"}");
  bob = json_array_get_object_element (json_object_get_array_member (who, "members"), 0);
  ck_assert_str_eq (json_object_get_string_member (bob, "status"), "offline");
  ck_assert_int_eq (json_object_get_int_member (bob, "devices"), 0);
  /* The user sees its own status. */
  mine = test_client_req (b, "{\"type\":\"who\",\"id\":1,\"room\":\"general\"}");
  bob = json_array_get_object_element (json_object_get_array_member (mine, "members"), 0);
  ck_assert_str_eq (json_object_get_string_member (bob, "status"), "offline");
  ck_assert_int_eq (json_object_get_int_member (bob, "devices"), 1);
  /* Its disconnect sends nothing more. */
  test_client_clear (a);
  test_client_disconnect (b);
  ck_assert_int_eq (test_client_count (a, "status"), 0);
}
END_TEST

START_TEST (test_invisible_to_visible)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = subscribe (a, "[\"bob\"]");

  set_status (b, "offline");
  set_status (b, "busy");
  assert_status_event (a, "bob", "offline");
  assert_status_event (a, "bob", "busy");
}
END_TEST

START_TEST (test_unsubscribe)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = subscribe (a, "[\"bob\"]");
  g_autoptr (JsonObject) u =
      test_client_req (a, "{\"type\":\"unsubscribe\",\"id\":1,\"users\":[\"bob\"]}");

  ck_assert_reply_ok (u);
  set_status (b, "away");
  ck_assert_int_eq (test_client_count (a, "status"), 0);
}
END_TEST

START_TEST (test_subscriptions_belong_to_connection)
{
  TestClient *a1 = test_client_hello (node, "alice", "one");
  TestClient *a2 = test_client_hello (node, "alice", "two");
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = subscribe (a1, "[\"bob\"]");

  set_status (b, "away");
  ck_assert_int_eq (test_client_count (a1, "status"), 1);
  ck_assert_int_eq (test_client_count (a2, "status"), 0);
  /* A subscriber that goes away is forgotten: no delivery to a dead connection. */
  test_client_disconnect (a1);
  set_status (b, "busy");
  ck_assert_int_eq (test_client_count (a2, "status"), 0);
}
END_TEST

START_TEST (test_bad_status)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r1 =
      test_client_req (a, "{\"type\":\"status\",\"id\":1,\"status\":\"sleepy\"}");
  g_autoptr (JsonObject) r2 = test_client_req (a, "{\"type\":\"status\",\"id\":1,\"status\":3}");
  g_autoptr (JsonObject) r3 =
      test_client_req (a, "{\"type\":\"subscribe\",\"id\":1,\"users\":\"bob\"}");
  g_autoptr (JsonObject) r4 =
      test_client_req (a, "{\"type\":\"subscribe\",\"id\":1,\"users\":[\"b b\"]}");

  ck_assert_reply_error (r1, "bad_request");
  ck_assert_reply_error (r2, "bad_request");
  ck_assert_reply_error (r3, "bad_request");
  ck_assert_reply_error (r4, "invalid_name");
}
END_TEST

START_TEST (test_online_list)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r = NULL;

  for (int i = 0; i < 12; i++) {
    g_autofree char *user = g_strdup_printf ("user%02d", i);

    test_client_hello (node, user, NULL);
  }
  r = test_client_req (a, "{\"type\":\"online\",\"id\":1,\"limit\":5}");
  ck_assert_int_eq (json_object_get_int_member (r, "count"), 13);
  ck_assert_int_eq (json_array_get_length (json_object_get_array_member (r, "users")), 5);
}
END_TEST

START_TEST (test_grace_period)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r = subscribe (a, "[\"bob\"]");
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *b2;

  assert_status_event (a, "bob", "online");
  test_client_disconnect (b);
  test_node_advance (node, 3000);
  b2 = test_client_hello (node, "bob", NULL); /* back within grace: no flapping */
  test_node_advance (node, 10000);
  ck_assert_int_eq (test_client_count (a, "status"), 0);
  test_client_disconnect (b2);
  test_node_advance (node, 4999);
  ck_assert_int_eq (test_client_count (a, "status"), 0);
  test_node_advance (node, 1);
  assert_status_event (a, "bob", "offline");
}
END_TEST

/* --- §8 limits ------------------------------------------------------------------------- */

START_TEST (test_rate_limited)
{
  TestClient *a = test_client_hello (node, "alice", NULL); /* hello took one token */
  g_autoptr (JsonObject) r = NULL;
  guint oks = 0;

  for (int i = 0; i < 5; i++) {
    g_autoptr (JsonObject) p = test_client_req (a, "{\"type\":\"ping\",\"id\":1}");

    if (g_strcmp0 (json_object_get_string_member (p, "type"), "pong") == 0)
      oks++;
    else
      ck_assert_reply_error (p, "rate_limited");
  }
  ck_assert_int_eq (oks, 4);
  r = test_client_req (a, "{\"type\":\"join\",\"id\":1,\"room\":\"general\"}");
  ck_assert_reply_error (r, "rate_limited");
  ck_assert_msg (!test_node_is_member (node, "alice", "general"),
                 "a rate-limited request is not executed");
  test_node_advance (node, 1000);
  {
    g_autoptr (JsonObject) p = test_client_req (a, "{\"type\":\"ping\",\"id\":1}");

    ck_assert_str_eq (json_object_get_string_member (p, "type"), "pong");
  }
}
END_TEST

START_TEST (test_rate_abuse_closes)
{
  TestClient *a = test_client_hello (node, "alice", NULL);

  for (int i = 0; i < 60 && !a->sink->closed; i++)
    test_client_send (a, "{\"type\":\"ping\"}");
  ck_assert_msg (!a->sink->closed, "one abusive second is not enough");
  test_node_advance (node, 1000);
  for (int i = 0; i < 60 && !a->sink->closed; i++)
    test_client_send (a, "{\"type\":\"ping\"}");
  ck_assert_msg (a->sink->closed, "two abusive seconds close the connection");
  ck_assert_int_eq (a->sink->close_code, 4008);
}
END_TEST

START_TEST (test_slow_consumer)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *slow = test_client_hello (node, "slow", NULL);
  TestClient *fast = test_client_hello (node, "fast", NULL);
  HubStats stats;
  guint sent = 0;

  for (TestClient **c = (TestClient *[]){a, slow, fast, NULL}; *c != NULL; c++) {
    g_autoptr (JsonObject) r =
        test_client_req (*c, "{\"type\":\"join\",\"id\":1,\"room\":\"flood\"}");
  }
  test_client_clear (fast);
  slow->sink->blocked = TRUE;
  while (!slow->sink->closed && sent < 200) {
    g_autofree char *json = g_strdup_printf (
        "{\"type\":\"publish\",\"room\":\"flood\",\"payload\":{\"pad\":\"%0200d\"}}", 0);

    hub_dispatcher_receive (node->dispatcher, a->conn, json, strlen (json));
    test_node_advance (node, 250); /* stay under the rate limit */
    /* Every client is alive (pongs), the slow one just does not read. */
    hub_dispatcher_touch (node->dispatcher, slow->conn);
    hub_dispatcher_touch (node->dispatcher, fast->conn);
    sent++;
  }
  ck_assert_msg (slow->sink->closed, "the slow consumer is closed");
  ck_assert_int_eq (slow->sink->close_code, 4009);
  ck_assert_msg (hub_connection_queued_bytes (slow->conn) == 0, "its queue was discarded");
  ck_assert_int_eq (test_client_count (fast, "message"), sent);
  hub_dispatcher_get_stats (node->dispatcher, &stats);
  ck_assert_int_eq (stats.slow_consumer_closes_total, 1);
}
END_TEST

START_TEST (test_ephemeral_dropped)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *slow = test_client_hello (node, "slow", NULL);
  HubStats stats;

  for (TestClient **c = (TestClient *[]){a, slow, NULL}; *c != NULL; c++) {
    g_autoptr (JsonObject) r = test_client_req (*c, "{\"type\":\"join\",\"id\":1,\"room\":\"r\"}");
  }
  slow->sink->blocked = TRUE;
  for (int i = 0; i < 100; i++) {
    test_client_send (a, "{\"type\":\"typing\",\"room\":\"r\"}");
    test_node_advance (node, 250);
    hub_dispatcher_touch (node->dispatcher, slow->conn); /* alive, just not reading */
  }
  ck_assert_msg (!slow->sink->closed, "ephemeral frames never close a connection");
  ck_assert_msg (hub_connection_queued_bytes (slow->conn) <= 4096 / 2 + 64,
                 "queue stays about half full");
  hub_dispatcher_get_stats (node->dispatcher, &stats);
  ck_assert_msg (stats.dropped_total > 0, "drops are counted");
  hub_memory_sink_unblock (slow->sink);
  ck_assert_int_gt (test_client_count (slow, "typing"), 0);
}
END_TEST

/* A heartbeat's pings are spread over it, each connection pinged once per
 * heartbeat: not one burst of a ping per connection (§8). */
START_TEST (test_heartbeat_spread)
{
  enum { N = 64 };
  TestClient *clients[N];
  guint before[N];
  guint busiest_step = 0;

  for (int i = 0; i < N; i++) {
    g_autofree char *user = g_strdup_printf ("u%d", i);

    clients[i] = test_client_hello (node, user, NULL);
    before[i] = clients[i]->sink->pings;
  }
  /* One heartbeat (2 s) in steps of 100 ms. */
  for (int step = 0; step < 20; step++) {
    guint pinged = 0;

    test_node_advance (node, 100);
    for (int i = 0; i < N; i++) {
      pinged += clients[i]->sink->pings - before[i];
      before[i] = clients[i]->sink->pings;
    }
    busiest_step = MAX (busiest_step, pinged);
  }
  for (int i = 0; i < N; i++)
    ck_assert_msg (clients[i]->sink->pings >= 1 && clients[i]->sink->pings <= 2,
                   "client %d pinged once per heartbeat (%u pings in 2 s)", i,
                   clients[i]->sink->pings);
  ck_assert_msg (busiest_step <= N / 4, "pings spread over the heartbeat (%u of %d in 100 ms)",
                 busiest_step, N);
}
END_TEST

START_TEST (test_heartbeat_liveness)
{
  TestClient *alive = test_client_hello (node, "alive", NULL);
  TestClient *dead = test_client_hello (node, "dead", NULL);

  for (int i = 0; i < 10; i++) {
    test_node_advance (node, 500);
    hub_dispatcher_touch (node->dispatcher, alive->conn);
  }
  ck_assert_msg (alive->sink->pings >= 2, "pings every heartbeat (%u)", alive->sink->pings);
  ck_assert_msg (!dead->sink->closed, "not closed before 3 x heartbeat");
  test_node_advance (node, 1000 + 500);
  ck_assert_msg (dead->sink->closed, "closed after 3 x heartbeat of silence");
  ck_assert_int_eq (dead->sink->close_code, 4002);
  ck_assert_msg (!alive->sink->closed, "a connection that answers stays");
}
END_TEST

/* --- §9, §10 ------------------------------------------------------------------------------ */

START_TEST (test_close_all)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *pre = test_client_open (node);

  hub_dispatcher_close_all (node->dispatcher, 1001, "server shutting down");
  ck_assert_int_eq (a->sink->close_code, 1001);
  ck_assert_int_eq (pre->sink->close_code, 1001);
}
END_TEST

START_TEST (test_stats_and_metrics)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *anon = test_client_open (node);
  HubStats s;
  g_autofree char *metrics = NULL, *json = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *obj;

  (void)anon;
  for (TestClient **c = (TestClient *[]){a, b, NULL}; *c != NULL; c++) {
    g_autoptr (JsonObject) r =
        test_client_req (*c, "{\"type\":\"join\",\"id\":1,\"room\":\"general\"}");
  }
  test_client_send (a, "{\"type\":\"publish\",\"room\":\"general\",\"payload\":{}}");
  test_client_send (a, "{\"type\":\"direct\",\"to\":\"bob\",\"payload\":{}}");
  /* A cluster's room count is the one Redis gave for the previous read. */
  hub_dispatcher_get_stats (node->dispatcher, &s);
  test_node_sync (node);
  hub_dispatcher_get_stats (node->dispatcher, &s);
  ck_assert_int_eq (s.connections, 3);
  ck_assert_int_eq (s.users_online, 2);
  ck_assert_int_eq (s.rooms, 1);
  ck_assert_int_eq (s.frames_in_total, 6); /* 2 hello, 2 join, publish, direct */
  ck_assert_int_eq (s.messages_in_total, 2);
  ck_assert_int_eq (s.deliveries_total, 3); /* message to a and b, direct to b */
  metrics = hub_dispatcher_render_metrics (node->dispatcher);
  ck_assert_msg (strstr (metrics, "\nhub_connections 3\n") != NULL, "%s", metrics);
  ck_assert_msg (strstr (metrics, "\nhub_deliveries_total 3\n") != NULL, "%s", metrics);
  ck_assert_msg (strstr (metrics, "# TYPE hub_frames_in_total counter") != NULL, "%s", metrics);
  json = hub_dispatcher_render_stats_json (node->dispatcher);
  ck_assert_msg (json_parser_load_from_data (parser, json, -1, NULL), "stats are JSON: %s", json);
  obj = json_node_get_object (json_parser_get_root (parser));
  ck_assert_str_eq (json_object_get_string_member (obj, "node"), "test-node");
  ck_assert_int_eq (json_object_get_int_member (obj, "messages_in_total"), 2);
  ck_assert_int_eq (json_object_get_int_member (obj, "users_online"), 2);
}
END_TEST

START_TEST (test_rejected_messages_count)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  HubStats s;

  hub_dispatcher_reject (node->dispatcher, a->conn, 1003, "binary frames are not supported");
  hub_dispatcher_reject (node->dispatcher, a->conn, 1009, "ignored: already closing");
  hub_dispatcher_get_stats (node->dispatcher, &s);
  ck_assert_int_eq (s.frames_in_total, 2); /* hello, the binary frame */
  ck_assert_int_eq (a->sink->close_code, 1003);
}
END_TEST

START_TEST (test_connection_stats)
{
  gint64 t0 = hub_clock_unix_ms (node->clock);
  TestClient *a = test_client_hello (node, "alice", NULL);
  const HubConnectionStats *st;

  test_node_advance (node, 5000);
  test_client_send (a, "{\"type\":\"join\",\"room\":\"general\"}");
  test_client_send (a, "{\"type\":\"publish\",\"room\":\"general\",\"payload\":{}}");
  st = hub_connection_get_stats (a->conn);
  ck_assert_int_eq (st->connected_unix_ms, t0);
  ck_assert_int_eq (st->last_activity_unix_ms, t0 + 5000);
  ck_assert_int_eq (st->frames_in, 3);
  ck_assert_int_eq (st->messages_in, 1);
  ck_assert_int_ge (st->frames_out, 3); /* welcome, presence, message */
}
END_TEST

static Suite *
presence_suite (void)
{
  Suite *s = suite_create ("dispatcher-presence");
  TCase *tc = tcase_create ("presence");
  TCase *grace = tcase_create ("grace");
  TCase *limits = tcase_create ("limits");
  TCase *figures = tcase_create ("figures");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_subscribe_statuses);
  tcase_add_test (tc, test_status_events_once_per_change);
  tcase_add_test (tc, test_status_shared_by_devices);
  tcase_add_test (tc, test_online_offline_events);
  tcase_add_test (tc, test_status_forgotten_after_offline);
  tcase_add_test (tc, test_invisible);
  tcase_add_test (tc, test_invisible_to_visible);
  tcase_add_test (tc, test_unsubscribe);
  tcase_add_test (tc, test_subscriptions_belong_to_connection);
  tcase_add_test (tc, test_bad_status);
  tcase_add_test (tc, test_online_list);
  suite_add_tcase (s, tc);

  tcase_add_checked_fixture (grace, setup_grace, teardown);
  tcase_add_test (grace, test_grace_period);
  suite_add_tcase (s, grace);

  tcase_add_checked_fixture (limits, setup_tight, teardown);
  tcase_add_test (limits, test_rate_limited);
  tcase_add_test (limits, test_rate_abuse_closes);
  tcase_add_test (limits, test_slow_consumer);
  tcase_add_test (limits, test_ephemeral_dropped);
  tcase_add_test (limits, test_heartbeat_liveness);
  tcase_add_test (limits, test_heartbeat_spread);
  suite_add_tcase (s, limits);

  tcase_add_checked_fixture (figures, setup, teardown);
  tcase_add_test (figures, test_close_all);
  tcase_add_test (figures, test_stats_and_metrics);
  tcase_add_test (figures, test_connection_stats);
  tcase_add_test (figures, test_rejected_messages_count);
  suite_add_tcase (s, figures);
  return s;
}

int
main (void)
{
  return test_run_suite (presence_suite ());
}

/* test-dispatcher-guard.c: what keeps one client, or a stall of the server's
 * loop, from hurting the others (PROTOCOL.md §8, hub-dispatcher-guard.c):
 * liveness judged on pings sent and restarted after a stall, frames answered
 * without decoding (before hello, rate-limited), and the bounds per user. */
#include <check.h>
#include <string.h>

#include "hub-test-node.h"

static TestNode *node;

static void
guard_config (HubConfig *config)
{
  config->heartbeat_s = 1;
  config->max_connections_per_user = 3;
  config->max_subscriptions_per_user = 100;
  config->fanout_bytes_per_s = 10000;
}

static void
setup (void)
{
  node = test_node_new (guard_config);
}

static void
teardown (void)
{
  test_node_free (node);
}

/* Advances @ms in steps of 50 ms, the clients of @alive answering pings. */
static void
run_answering (guint ms, TestClient **alive)
{
  for (guint t = 0; t < ms; t += 50) {
    hub_fake_clock_advance (node->clock, 50);
    for (TestClient **c = alive; c != NULL && *c != NULL; c++)
      if (!(*c)->sink->closed)
        hub_dispatcher_touch (node->dispatcher, (*c)->conn);
  }
}

/* --- liveness ------------------------------------------------------------------------ */

/* A stall of the loop far longer than 3 × heartbeat closes nobody: the
 * first tick after it finds it late and every silence starts over; the
 * input of the stall (here: touches after the tick) is read next. */
START_TEST (test_stall_restarts_liveness)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *alive[] = {a, b, NULL};
  HubStats stats;

  run_answering (3000, alive);
  hub_fake_clock_stall (node->clock, 20000);
  hub_fake_clock_advance (node->clock, 0); /* the late tick, before any input */
  ck_assert_msg (!a->sink->closed && !b->sink->closed,
                 "a 20 s stall of the server closed a client (code %u)", a->sink->close_code);
  run_answering (5000, alive);
  ck_assert_msg (!a->sink->closed && !b->sink->closed, "clients that answer stay");
  hub_dispatcher_get_stats (node->dispatcher, &stats);
  ck_assert_int_eq (stats.connections, 2);
}
END_TEST

/* After a stall a client that really stopped answering is still closed
 * (4002), once 3 × heartbeat of pings went unanswered after it. */
START_TEST (test_dead_client_closed_after_stall)
{
  TestClient *alive = test_client_hello (node, "alive", NULL);
  TestClient *dead = test_client_hello (node, "dead", NULL);
  TestClient *answering[] = {alive, NULL};
  guint pings_before;

  run_answering (1000, answering);
  hub_fake_clock_stall (node->clock, 10000);
  hub_fake_clock_advance (node->clock, 0);
  ck_assert_msg (!dead->sink->closed, "not closed on the tick that found the stall");
  pings_before = dead->sink->pings;
  run_answering (2500, answering);
  ck_assert_msg (!dead->sink->closed, "not closed before 3 × heartbeat after the stall");
  run_answering (1500, answering);
  ck_assert_msg (dead->sink->closed, "closed once 3 pings after the stall went unanswered");
  ck_assert_int_eq (dead->sink->close_code, 4002);
  ck_assert_uint_ge (dead->sink->pings - pings_before, 3);
  ck_assert_msg (!alive->sink->closed, "the live one stays");
}
END_TEST

/* Pings handed to the sink are counted until the client is heard from; 3
 * of them over 3 × heartbeat of silence close. */
START_TEST (test_unanswered_pings_counted)
{
  TestClient *a = test_client_hello (node, "alice", NULL);

  ck_assert_uint_eq (hub_connection_pings_unanswered (a->conn), 0);
  hub_fake_clock_advance (node->clock, 1100);
  ck_assert_uint_ge (hub_connection_pings_unanswered (a->conn), 1);
  ck_assert_uint_le (hub_connection_pings_unanswered (a->conn), 2);
  hub_dispatcher_touch (node->dispatcher, a->conn);
  ck_assert_uint_eq (hub_connection_pings_unanswered (a->conn), 0);
  hub_fake_clock_advance (node->clock, 3200);
  ck_assert_msg (a->sink->closed, "3 unanswered pings over 3 s of silence close");
  ck_assert_int_eq (a->sink->close_code, 4002);
}
END_TEST

/* --- before hello and rate-limited -------------------------------------------------- */

START_TEST (test_before_hello_answered_without_decoding)
{
  TestClient *c = test_client_open (node);
  g_autoptr (JsonObject) a = NULL;
  g_autoptr (JsonObject) e = NULL;
  g_autoptr (JsonObject) w = NULL;

  a = test_client_request (
      c, "{\"x\":[0,0,0,{\"id\":9,\"type\":\"hello\"}],\"type\":\"publish\",\"id\":7}", 7);
  ck_assert_reply_error (a, "not_authenticated");
  /* An id with escapes, re-encoded as the decoder would. */
  test_client_send (c, "{\"type\":\"join\",\"id\":\"q\\u0041\",\"room\":\"r\"}");
  e = hub_memory_sink_pop (c->sink);
  ck_assert_reply_error (e, "not_authenticated");
  ck_assert_str_eq (json_object_get_string_member (e, "id"), "qA");
  json_object_unref (g_steal_pointer (&e));
  /* A broken envelope: bad_request, no id. */
  test_client_send (c, "{\"type\":\"join\",\"id\":null}");
  e = hub_memory_sink_pop (c->sink);
  ck_assert_reply_error (e, "bad_request");
  ck_assert_msg (!json_object_has_member (e, "id"), "no id: %s", test_json (e));
  w = test_client_request (c, "{\"type\":\"hello\",\"id\":3,\"user\":\"alice\"}", 3);
  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
}
END_TEST

START_TEST (test_pre_hello_frame_limit)
{
  TestClient *c = test_client_open (node);
  TestClient *d = test_client_hello (node, "alice", NULL);

  /* The first message may be a hello with a long resume. */
  ck_assert_uint_eq (hub_dispatcher_frame_limit (node->dispatcher, c->conn), 65536);
  test_client_send (c, "{\"type\":\"ping\"}");
  ck_assert_uint_eq (hub_dispatcher_frame_limit (node->dispatcher, c->conn), 8192);
  ck_assert_uint_eq (hub_dispatcher_frame_limit (node->dispatcher, d->conn), 65536);
}
END_TEST

/* A hello is decoded only when it has no more JSON values than a hello with
 * a resume of every room a user may be in (here 1000 rooms: 2064 values),
 * with its stream epochs beside the resume (a value per room each). */
START_TEST (test_hello_values_bounded)
{
  TestClient *c = test_client_open (node);
  GString *big = g_string_new ("{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"x\":[0");
  GString *resume = g_string_new ("{\"type\":\"hello\",\"id\":2,\"user\":\"alice\",\"resume\":{");
  g_autoptr (JsonObject) refused = NULL;
  g_autoptr (JsonObject) welcome = NULL;

  for (int i = 0; i < 3000; i++)
    g_string_append (big, ",0");
  g_string_append (big, "]}");
  refused = test_client_request (c, big->str, 1);
  ck_assert_reply_error (refused, "bad_request");
  for (int i = 0; i < 1000; i++)
    g_string_append_printf (resume, "%s\"room-%d\":%d", i ? "," : "", i, i);
  g_string_append (resume, "},\"epochs\":{");
  for (int i = 0; i < 1000; i++)
    g_string_append_printf (resume, "%s\"room-%d\":1796693237565%03d", i ? "," : "", i, i);
  g_string_append (resume, "}}");
  welcome = test_client_request (c, resume->str, 2);
  ck_assert_str_eq (json_object_get_string_member (welcome, "type"), "welcome");
  g_string_free (big, TRUE);
  g_string_free (resume, TRUE);
}
END_TEST

static void
tight_rate (HubConfig *config)
{
  config->rate_per_s = 5;
  config->burst = 5;
}

START_TEST (test_rate_limited_keeps_its_id)
{
  TestNode *tight = test_node_new (tight_rate);
  TestClient *c = test_client_hello (tight, "alice", NULL);
  guint limited = 0;

  for (int i = 0; i < 10; i++) {
    g_autofree char *json = g_strdup_printf (
        "{\"pad\":[[1,2],{\"id\":0}],\"type\":\"ping\",\"id\":\"r\\u0031-%d\"}", i);
    g_autofree char *want = g_strdup_printf ("r1-%d", i);
    g_autoptr (JsonObject) r = NULL;

    test_client_send (c, json);
    r = hub_memory_sink_pop (c->sink);
    ck_assert_msg (r != NULL, "request %d answered", i);
    ck_assert_str_eq (json_object_get_string_member (r, "id"), want);
    if (g_strcmp0 (json_object_get_string_member (r, "type"), "error") == 0) {
      ck_assert_str_eq (json_object_get_string_member (r, "code"), "rate_limited");
      limited++;
    }
  }
  ck_assert_uint_ge (limited, 5);
  test_node_free (tight);
}
END_TEST

/* A large hello costs its sender a request per KiB. */
START_TEST (test_large_pre_hello_frames_cost_more)
{
  TestNode *tight = test_node_new (tight_rate);
  TestClient *c = test_client_open (tight);
  g_autofree char *pad = g_strnfill (5000, 'x');
  g_autofree char *hello =
      g_strdup_printf ("{\"type\":\"hello\",\"id\":1,\"pad\":\"%s\",\"user\":\"@bad\"}", pad);
  g_autoptr (JsonObject) first = NULL;
  g_autoptr (JsonObject) second = NULL;

  first = test_client_request (c, hello, 1);
  ck_assert_reply_error (first, "invalid_name");
  /* 1 + 4 tokens (5,055 bytes) of the 5 are gone: the next large hello is refused. */
  second = test_client_request (c, hello, 1);
  ck_assert_reply_error (second, "rate_limited");
  test_node_free (tight);
}
END_TEST

/* --- bounds per user ---------------------------------------------------------------- */

START_TEST (test_connections_per_user)
{
  TestClient *c[3];
  TestClient *extra;
  g_autoptr (JsonObject) refused = NULL;
  g_autoptr (JsonObject) other = NULL;

  for (int i = 0; i < 3; i++)
    c[i] = test_client_hello (node, "alice", NULL);
  extra = test_client_open (node);
  refused = test_client_request (extra, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"}", 1);
  ck_assert_reply_error (refused, "rate_limited");
  ck_assert_msg (!extra->sink->closed, "the connection stays: a hello may be retried (§3)");
  other = test_client_request (extra, "{\"type\":\"hello\",\"id\":2,\"user\":\"bob\"}", 2);
  ck_assert_str_eq (json_object_get_string_member (other, "type"), "welcome");
  test_client_disconnect (c[0]);
  (void)test_client_hello (node, "alice", NULL);
}
END_TEST

static char *
users_json (const char *prefix, guint from, guint n)
{
  GString *s = g_string_new ("[");

  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, "%s\"%s%u\"", i ? "," : "", prefix, from + i);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

START_TEST (test_subscriptions_per_user)
{
  TestClient *a = test_client_hello (node, "alice", "phone");
  TestClient *b = test_client_hello (node, "alice", "laptop");
  g_autofree char *sixty = users_json ("u", 0, 60);
  g_autofree char *fifty = users_json ("v", 0, 50);
  g_autofree char *forty = users_json ("v", 0, 40);
  g_autofree char *r1 = g_strdup_printf ("{\"type\":\"subscribe\",\"id\":1,\"users\":%s}", sixty);
  g_autofree char *r2 = g_strdup_printf ("{\"type\":\"subscribe\",\"id\":1,\"users\":%s}", fifty);
  g_autofree char *r3 = g_strdup_printf ("{\"type\":\"subscribe\",\"id\":1,\"users\":%s}", forty);
  g_autoptr (JsonObject) ok1 = test_client_req (a, r1);
  g_autoptr (JsonObject) refused = test_client_req (b, r2);
  g_autoptr (JsonObject) ok2 = test_client_req (b, r3);

  ck_assert_reply_ok (ok1);
  ck_assert_reply_error (refused, "bad_request");
  ck_assert_msg (strstr (json_object_get_string_member (refused, "message"), "100") != NULL,
                 "the message names the bound: %s", test_json (refused));
  ck_assert_reply_ok (ok2);
}
END_TEST

/* direct and multicast draw on one budget per sender, per recipient. */
START_TEST (test_fanout_budget)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *a2 = test_client_hello (node, "alice", "tablet");
  g_autofree char *pad = g_strnfill (3000, 'p');
  g_autofree char *direct = g_strdup_printf (
      "{\"type\":\"direct\",\"id\":1,\"to\":\"bob\",\"payload\":{\"p\":\"%s\"}}", pad);
  guint ok = 0;
  g_autoptr (JsonObject) limited = NULL;
  g_autoptr (JsonObject) own = NULL;
  g_autoptr (JsonObject) later = NULL;

  (void)b;
  /* 10,000 bytes/s: three directs of ~3.1 KB, the fourth goes into debt. */
  for (int i = 0; i < 10; i++) {
    g_autoptr (JsonObject) r = test_client_req (a, direct);

    if (g_strcmp0 (json_object_get_string_member (r, "type"), "ok") != 0) {
      limited = json_object_ref (r);
      break;
    }
    ok++;
  }
  ck_assert_uint_eq (ok, 4);
  ck_assert_reply_error (limited, "rate_limited");
  /* The budget is the user's: another device of alice is in the same debt. */
  own = test_client_req (a2, direct);
  ck_assert_reply_error (own, "rate_limited");
  hub_fake_clock_advance (node->clock, 1000);
  later = test_client_req (a, direct);
  ck_assert_reply_ok (later);
}
END_TEST

START_TEST (test_multicast_costs_per_recipient)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autofree char *to = users_json ("u", 0, 200);
  g_autofree char *json = g_strdup_printf (
      "{\"type\":\"multicast\",\"id\":1,\"to\":%s,\"payload\":{\"t\":\"hi\"}}", to);
  g_autoptr (JsonObject) first = test_client_req (a, json);
  g_autoptr (JsonObject) second = test_client_req (a, json);

  /* 200 × ~110 bytes: one passes, then the debt of ~12 KB. */
  ck_assert_reply_ok (first);
  ck_assert_reply_error (second, "rate_limited");
  ck_assert_msg (strstr (json_object_get_string_member (second, "message"), "wait") != NULL, "%s",
                 test_json (second));
}
END_TEST

static void
who_config (HubConfig *config)
{
  config->rate_per_s = 10;
  config->burst = 10;
  config->max_connections_per_user = 0;
}

/* A `who` of 500 members costs five requests of its sender's rate. */
START_TEST (test_who_costs_by_size)
{
  TestNode *n = test_node_new (who_config);
  TestClient *asker = test_client_hello (n, "asker", NULL);
  guint ok = 0;

  for (int i = 0; i < 500; i++) {
    g_autofree char *user = g_strdup_printf ("m%d", i);
    TestClient *m = test_client_hello (n, user, NULL);

    test_client_send (m, "{\"type\":\"join\",\"room\":\"big\"}");
    test_client_disconnect (m);
    hub_fake_clock_advance (n->clock, 1);
  }
  hub_fake_clock_advance (n->clock, 2000);
  for (int i = 0; i < 5; i++) {
    g_autoptr (JsonObject) r =
        test_client_req (asker, "{\"type\":\"who\",\"id\":1,\"room\":\"big\"}");

    if (g_strcmp0 (json_object_get_string_member (r, "type"), "ok") == 0)
      ok++;
    else
      ck_assert_reply_error (r, "rate_limited");
  }
  /* 10 tokens: 1 + 4 for the first, then debt. */
  ck_assert_msg (ok == 2, "%u of 5 whos of 500 members passed a bucket of 10", ok);
  test_node_free (n);
}
END_TEST

static Suite *
guard_suite (void)
{
  Suite *s = suite_create ("dispatcher-guard");
  TCase *liveness = tcase_create ("liveness");
  TCase *cheap = tcase_create ("cheap refusal");
  TCase *bounds = tcase_create ("bounds");

  tcase_add_checked_fixture (liveness, setup, teardown);
  tcase_add_test (liveness, test_stall_restarts_liveness);
  tcase_add_test (liveness, test_dead_client_closed_after_stall);
  tcase_add_test (liveness, test_unanswered_pings_counted);
  suite_add_tcase (s, liveness);

  tcase_add_checked_fixture (cheap, setup, teardown);
  tcase_add_test (cheap, test_before_hello_answered_without_decoding);
  tcase_add_test (cheap, test_pre_hello_frame_limit);
  tcase_add_test (cheap, test_hello_values_bounded);
  tcase_add_test (cheap, test_rate_limited_keeps_its_id);
  tcase_add_test (cheap, test_large_pre_hello_frames_cost_more);
  suite_add_tcase (s, cheap);

  tcase_add_checked_fixture (bounds, setup, teardown);
  tcase_add_test (bounds, test_connections_per_user);
  tcase_add_test (bounds, test_subscriptions_per_user);
  tcase_add_test (bounds, test_fanout_budget);
  tcase_add_test (bounds, test_multicast_costs_per_recipient);
  tcase_add_test (bounds, test_who_costs_by_size);
  suite_add_tcase (s, bounds);
  return s;
}

int
main (void)
{
  return test_run_suite (guard_suite ());
}

/* test-broadcaster.c: HubBroadcaster over memory sinks: exact recipients of
 * each delivery function, one shared frame for all of them, dedupe, the offline
 * list, the stats, a slow consumer closed while the others still receive, and
 * the sampled fan-outs that carry a stamp for the delivery lag. */
#include <check.h>
#include <string.h>

#include "hub-memory-sink.h"

#define EXPECT_UINT(actual, expected, what)                                                        \
  ck_assert_msg ((guint64)(actual) == (guint64)(expected),                                         \
                 "%s: expected %" G_GUINT64_FORMAT ", got %" G_GUINT64_FORMAT, what,               \
                 (guint64)(expected), (guint64)(actual))

#define MAX_QUEUE 100
#define MAX_PEERS 16

typedef struct {
  HubConnection *conn; /* (owned) */
  HubMemorySink *sink; /* (owned) */
} Peer;

static HubClock *clock_;
static HubConnectionManager *conns;
static HubRoomManager *rooms;
static HubBroadcaster *b;
static Peer peers[MAX_PEERS];
static guint n_peers;
static HubFrame *msg;    /* (owned) a non-ephemeral frame */
static HubFrame *typing; /* (owned) an ephemeral frame */

static HubFrame *
frame (const char *json, HubFrameFlags flags)
{
  return hub_frame_new (json, strlen (json), flags);
}

static void
setup (void)
{
  clock_ = hub_clock_new_fake (0);
  conns = hub_connection_manager_new ();
  rooms = hub_room_manager_new (10, 100, TRUE);
  b = hub_broadcaster_new (conns);
  n_peers = 0;
  msg = frame ("{\"type\":\"message\",\"seq\":1}", HUB_FRAME_FLAG_NONE);
  typing = frame ("{\"type\":\"typing\"}", HUB_FRAME_FLAG_EPHEMERAL);
}

static void
teardown (void)
{
  g_clear_pointer (&b, hub_broadcaster_free);
  g_clear_pointer (&conns, hub_connection_manager_free);
  g_clear_pointer (&rooms, hub_room_manager_free);
  for (guint i = 0; i < n_peers; i++) {
    g_clear_pointer (&peers[i].conn, hub_connection_unref);
    g_clear_pointer (&peers[i].sink, hub_memory_sink_free);
  }
  g_clear_pointer (&msg, hub_frame_unref);
  g_clear_pointer (&typing, hub_frame_unref);
  g_clear_pointer (&clock_, hub_clock_unref);
}

/* A tracked connection; authenticated as @user and bound unless @user is NULL. */
static Peer *
peer (const char *user)
{
  Peer *p;
  g_autofree char *id = NULL;

  ck_assert (n_peers < MAX_PEERS);
  p = &peers[n_peers];
  id = g_strdup_printf ("c%u", n_peers++);
  p->sink = hub_memory_sink_new ();
  p->conn = hub_connection_new (id, clock_, MAX_QUEUE, hub_memory_sink_vtable (), p->sink);
  p->sink->conn = p->conn;
  hub_connection_manager_add (conns, p->conn);
  if (user != NULL) {
    hub_connection_authenticate (p->conn, user, id, FALSE);
    hub_connection_manager_bind_user (conns, p->conn);
  }
  return p;
}

/* Asserts that @p received exactly @n frames, each of them @frame itself. */
static void
expect_got (Peer *p, guint n, HubFrame *frame)
{
  ck_assert_msg (p->sink->frames->len == n, "%s: expected %u frames, got %u",
                 hub_connection_get_id (p->conn), n, p->sink->frames->len);
  for (guint i = 0; i < n; i++)
    ck_assert_msg (g_ptr_array_index (p->sink->frames, i) == frame,
                   "%s: frame %u is the very same shared frame", hub_connection_get_id (p->conn),
                   i);
}

static const HubBroadcasterStats *
stats (void)
{
  return hub_broadcaster_get_stats (b);
}

/* ---- to_connection and stats ---- */

START_TEST (test_to_connection_written)
{
  Peer *a = peer ("alice");

  ck_assert_int_eq (hub_broadcaster_to_connection (b, a->conn, msg), HUB_SEND_WRITTEN);
  expect_got (a, 1, msg);
  EXPECT_UINT (stats ()->deliveries, 1, "deliveries");
  EXPECT_UINT (stats ()->dropped, 0, "dropped");
  EXPECT_UINT (stats ()->slow_consumer_closes, 0, "slow consumer closes");
}
END_TEST

START_TEST (test_stats_queued_counts_delivery)
{
  Peer *a = peer ("alice");

  a->sink->blocked = TRUE;
  ck_assert_int_eq (hub_broadcaster_to_connection (b, a->conn, msg), HUB_SEND_QUEUED);
  EXPECT_UINT (stats ()->deliveries, 1, "a queued frame counts as delivered");
}
END_TEST

START_TEST (test_stats_ephemeral_not_delivery)
{
  Peer *a = peer ("alice");

  ck_assert_int_eq (hub_broadcaster_to_connection (b, a->conn, typing), HUB_SEND_WRITTEN);
  EXPECT_UINT (stats ()->deliveries, 0, "ephemeral frames are not deliveries");
}
END_TEST

START_TEST (test_stats_dropped)
{
  Peer *a = peer ("alice");
  g_autoptr (HubFrame) big =
      frame ("{\"type\":\"message\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", 0);

  ck_assert_msg (hub_connection_max_queue_bytes (a->conn) / 2 <
                     strlen (hub_frame_payload (big, NULL)),
                 "the big frame fills the queue over half");

  a->sink->blocked = TRUE;
  hub_broadcaster_to_connection (b, a->conn, big); /* 60 of 100 queued: over half */
  ck_assert_int_eq (hub_broadcaster_to_connection (b, a->conn, typing), HUB_SEND_DROPPED);
  EXPECT_UINT (stats ()->dropped, 1, "dropped");
  EXPECT_UINT (stats ()->deliveries, 1, "only the big message");
}
END_TEST

START_TEST (test_stats_slow_consumer)
{
  Peer *a = peer ("alice");

  a->sink->blocked = TRUE;
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq (hub_broadcaster_to_connection (b, a->conn, msg), HUB_SEND_QUEUED);
  ck_assert_int_eq (hub_broadcaster_to_connection (b, a->conn, msg), HUB_SEND_CLOSED);
  EXPECT_UINT (stats ()->slow_consumer_closes, 1, "slow consumer closes");
  EXPECT_UINT (stats ()->deliveries, 3, "three queued before the overflow");
  /* Afterwards the connection is closing: ignored, counted nowhere. */
  ck_assert_int_eq (hub_broadcaster_to_connection (b, a->conn, msg), HUB_SEND_IGNORED);
  EXPECT_UINT (stats ()->slow_consumer_closes, 1, "an ignored send is not another close");
  EXPECT_UINT (stats ()->deliveries, 3, "nor a delivery");
}
END_TEST

/* ---- to_user ---- */

START_TEST (test_to_user_all_devices)
{
  Peer *a1 = peer ("alice"), *a2 = peer ("alice"), *a3 = peer ("alice"), *bob = peer ("bob");

  EXPECT_UINT (hub_broadcaster_to_user (b, "alice", msg, NULL), 3, "alice's three devices");
  expect_got (a1, 1, msg);
  expect_got (a2, 1, msg);
  expect_got (a3, 1, msg);
  expect_got (bob, 0, NULL);
  EXPECT_UINT (stats ()->deliveries, 3, "deliveries");
}
END_TEST

START_TEST (test_to_user_except)
{
  Peer *a1 = peer ("alice"), *a2 = peer ("alice");

  EXPECT_UINT (hub_broadcaster_to_user (b, "alice", msg, a1->conn), 1, "all but the sender");
  expect_got (a1, 0, NULL);
  expect_got (a2, 1, msg);
}
END_TEST

START_TEST (test_to_user_unknown)
{
  peer ("alice");
  EXPECT_UINT (hub_broadcaster_to_user (b, "nobody", msg, NULL), 0, "no connections");
  EXPECT_UINT (stats ()->deliveries, 0, "deliveries");
}
END_TEST

START_TEST (test_to_user_skips_closing)
{
  Peer *a1 = peer ("alice"), *a2 = peer ("alice");

  hub_connection_close (a1->conn, HUB_CLOSE_NORMAL, "bye");
  EXPECT_UINT (hub_broadcaster_to_user (b, "alice", msg, NULL), 1, "a closing one is not reached");
  expect_got (a1, 0, NULL);
  expect_got (a2, 1, msg);
}
END_TEST

/* ---- to_room ---- */

START_TEST (test_to_room_members_only)
{
  Peer *a1 = peer ("alice"), *a2 = peer ("alice"), *bob = peer ("bob"), *carol = peer ("carol");
  HubRoom *room = hub_room_manager_join (rooms, "alice", "general", NULL, 0, NULL, NULL);

  hub_room_manager_join (rooms, "bob", "general", NULL, 0, NULL, NULL);
  hub_room_manager_join (rooms, "dave", "general", NULL, 0, NULL, NULL); /* member, no connection */
  EXPECT_UINT (hub_broadcaster_to_room (b, room, msg, NULL), 3, "alice ×2 and bob");
  expect_got (a1, 1, msg);
  expect_got (a2, 1, msg);
  expect_got (bob, 1, msg);
  expect_got (carol, 0, NULL);
}
END_TEST

START_TEST (test_to_room_except_user)
{
  Peer *a1 = peer ("alice"), *a2 = peer ("alice"), *bob = peer ("bob");
  HubRoom *room = hub_room_manager_join (rooms, "alice", "general", NULL, 0, NULL, NULL);

  hub_room_manager_join (rooms, "bob", "general", NULL, 0, NULL, NULL);
  EXPECT_UINT (hub_broadcaster_to_room (b, room, typing, "alice"), 1, "only bob");
  expect_got (a1, 0, NULL);
  expect_got (a2, 0, NULL);
  expect_got (bob, 1, typing);
}
END_TEST

START_TEST (test_to_room_slow_consumer_others_receive)
{
  Peer *alice = peer ("alice"), *slow = peer ("bob"), *carol = peer ("carol");
  HubRoom *room = hub_room_manager_join (rooms, "alice", "general", NULL, 0, NULL, NULL);
  guint reached[5];

  hub_room_manager_join (rooms, "bob", "general", NULL, 0, NULL, NULL);
  hub_room_manager_join (rooms, "carol", "general", NULL, 0, NULL, NULL);
  slow->sink->blocked = TRUE;
  /* 26 bytes each, queue of 100: the 4th does not fit bob's queue. */
  EXPECT_UINT (strlen (hub_frame_payload (msg, NULL)), 26, "message size");
  for (int i = 0; i < 5; i++)
    reached[i] = hub_broadcaster_to_room (b, room, msg, NULL);

  EXPECT_UINT (reached[0], 3, "first: all three");
  EXPECT_UINT (reached[2], 3, "third: bob still queues");
  EXPECT_UINT (reached[3], 2, "fourth: bob overflows");
  EXPECT_UINT (reached[4], 2, "fifth: bob is closing");
  ck_assert_msg (slow->sink->closed, "bob's transport closed");
  EXPECT_UINT (slow->sink->close_code, HUB_CLOSE_SLOW_CONSUMER, "bob's close code");
  EXPECT_UINT (hub_connection_queued_frames (slow->conn), 0, "bob's queue discarded");
  expect_got (slow, 0, NULL);
  expect_got (alice, 5, msg);
  expect_got (carol, 5, msg);
  ck_assert_msg (!alice->sink->closed && !carol->sink->closed, "the others stay open");
  EXPECT_UINT (stats ()->slow_consumer_closes, 1, "one slow consumer");
  EXPECT_UINT (stats ()->deliveries, 13, "5 + 5 delivered, 3 queued for bob");
}
END_TEST

/* ---- to_all ---- */

START_TEST (test_to_all_authenticated_only)
{
  Peer *a = peer ("alice"), *b1 = peer ("bob"), *b2 = peer ("bob"), *anon = peer (NULL);

  EXPECT_UINT (hub_broadcaster_to_all (b, msg), 3, "every authenticated connection");
  expect_got (a, 1, msg);
  expect_got (b1, 1, msg);
  expect_got (b2, 1, msg);
  expect_got (anon, 0, NULL);
  EXPECT_UINT (stats ()->deliveries, 3, "deliveries");
}
END_TEST

START_TEST (test_to_all_empty)
{
  EXPECT_UINT (hub_broadcaster_to_all (b, msg), 0, "nobody connected");
}
END_TEST

/* ---- to_users ---- */

START_TEST (test_to_users_dedupe_and_offline)
{
  Peer *a1 = peer ("alice"), *a2 = peer ("alice"), *bob = peer ("bob"), *carol = peer ("carol");
  g_autoptr (GPtrArray) users = g_ptr_array_new ();
  g_autoptr (GPtrArray) offline = g_ptr_array_new_with_free_func (g_free);
  char dup_alice[] = "alice"; /* equal string, different pointer */

  g_ptr_array_add (users, "alice");
  g_ptr_array_add (users, "zed");
  g_ptr_array_add (users, "bob");
  g_ptr_array_add (users, dup_alice);
  g_ptr_array_add (users, "zed");
  g_ptr_array_add (users, "yan");
  EXPECT_UINT (hub_broadcaster_to_users (b, users, msg, offline), 3, "alice ×2 and bob, once each");
  expect_got (a1, 1, msg);
  expect_got (a2, 1, msg);
  expect_got (bob, 1, msg);
  expect_got (carol, 0, NULL);
  EXPECT_UINT (offline->len, 2, "zed and yan, once each");
  ck_assert_str_eq (g_ptr_array_index (offline, 0), "zed");
  ck_assert_str_eq (g_ptr_array_index (offline, 1), "yan");
  ck_assert_msg (g_ptr_array_index (offline, 0) != g_ptr_array_index (users, 1),
                 "offline entries are copies");

  /* The dedupe set is per call: a second call delivers again. */
  EXPECT_UINT (hub_broadcaster_to_users (b, users, msg, NULL), 3, "second call, NULL offline");
  expect_got (a1, 2, msg);
}
END_TEST

START_TEST (test_to_users_all_offline)
{
  g_autoptr (GPtrArray) users = g_ptr_array_new ();
  g_autoptr (GPtrArray) offline = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (users, "ghost");
  EXPECT_UINT (hub_broadcaster_to_users (b, users, msg, offline), 0, "nobody reached");
  EXPECT_UINT (offline->len, 1, "ghost is offline");
  EXPECT_UINT (stats ()->deliveries, 0, "deliveries");
}
END_TEST

/* ---- to_set ---- */

START_TEST (test_to_set)
{
  Peer *a = peer ("alice"), *bob = peer ("bob"), *carol = peer ("carol");
  g_autoptr (GHashTable) set = g_hash_table_new (g_direct_hash, g_direct_equal);

  g_hash_table_add (set, a->conn);
  g_hash_table_add (set, carol->conn);
  EXPECT_UINT (hub_broadcaster_to_set (b, set, typing), 2, "the two subscribers");
  expect_got (a, 1, typing);
  expect_got (bob, 0, NULL);
  expect_got (carol, 1, typing);
  EXPECT_UINT (stats ()->deliveries, 0, "status frames are ephemeral");
}
END_TEST

START_TEST (test_to_set_empty)
{
  g_autoptr (GHashTable) set = g_hash_table_new (g_direct_hash, g_direct_equal);

  peer ("alice");
  EXPECT_UINT (hub_broadcaster_to_set (b, set, msg), 0, "empty set");
}
END_TEST

/* ---- one frame for all ---- */

START_TEST (test_shared_frame_refcount)
{
  Peer *a = peer ("alice"), *bob = peer ("bob");
  HubFrame *shared = frame ("{\"type\":\"broadcast\"}", HUB_FRAME_FLAG_NONE);

  a->sink->blocked = TRUE;
  hub_broadcaster_to_all (b, shared);
  hub_frame_unref (shared); /* the sink and the queue hold the only refs now */
  hub_memory_sink_unblock (a->sink);
  ck_assert_ptr_eq (g_ptr_array_index (a->sink->frames, 0),
                    g_ptr_array_index (bob->sink->frames, 0));
  ck_assert_str_eq (hub_frame_payload (g_ptr_array_index (a->sink->frames, 0), NULL),
                    "{\"type\":\"broadcast\"}");
}
END_TEST

/* ---- sampling for the delivery lag ---- */

START_TEST (test_sampling_off_by_default)
{
  Peer *a = peer ("alice");

  for (guint i = 0; i < 3; i++)
    hub_broadcaster_to_user (b, "alice", msg, NULL);
  expect_got (a, 3, msg);
  EXPECT_UINT (hub_frame_get_stamp (msg), 0, "the caller's frame is never stamped");
}
END_TEST

START_TEST (test_sampling_every_second_fanout)
{
  Peer *a = peer ("alice"), *bob = peer ("bob");
  HubFrame *first, *second;
  gint64 before = g_get_monotonic_time ();

  hub_broadcaster_set_sampling (b, 2);
  hub_broadcaster_to_all (b, msg);    /* sampled */
  hub_broadcaster_to_all (b, msg);    /* not */
  hub_broadcaster_to_all (b, typing); /* ephemeral: never, and does not count */
  hub_broadcaster_to_all (b, msg);    /* sampled */
  EXPECT_UINT (a->sink->frames->len, 4, "alice got every fan-out");
  first = g_ptr_array_index (a->sink->frames, 0);
  second = g_ptr_array_index (a->sink->frames, 1);
  ck_assert_msg (first != msg && hub_frame_get_stamp (first) >= before,
                 "the sampled fan-out delivers a stamped copy");
  ck_assert_str_eq (hub_frame_payload (first, NULL), hub_frame_payload (msg, NULL));
  ck_assert_msg (g_ptr_array_index (bob->sink->frames, 0) == first,
                 "every recipient of the sampled fan-out shares the one copy");
  ck_assert_msg (second == msg, "the next fan-out is not sampled");
  ck_assert_msg (g_ptr_array_index (a->sink->frames, 2) == typing, "ephemeral frames are as given");
  ck_assert_msg (hub_frame_get_stamp (g_ptr_array_index (a->sink->frames, 3)) != 0,
                 "the fan-out after the next is sampled again");
  EXPECT_UINT (hub_frame_get_stamp (msg), 0,
               "the caller's frame (a room's history) stays unstamped");
  /* A replay is a single send of the stored frame: never sampled. */
  hub_broadcaster_to_connection (b, a->conn, msg);
  ck_assert_msg (g_ptr_array_index (a->sink->frames, 4) == msg, "a replay is not sampled");
}
END_TEST

static Suite *
broadcaster_suite (void)
{
  Suite *s = suite_create ("broadcaster");
  struct {
    const char *name;
    const TTest *tests[8];
  } cases[] = {
      {"to-connection",
       {test_to_connection_written, test_stats_queued_counts_delivery,
        test_stats_ephemeral_not_delivery, test_stats_dropped, test_stats_slow_consumer}},
      {"to-user",
       {test_to_user_all_devices, test_to_user_except, test_to_user_unknown,
        test_to_user_skips_closing}},
      {"to-room",
       {test_to_room_members_only, test_to_room_except_user,
        test_to_room_slow_consumer_others_receive}},
      {"to-all", {test_to_all_authenticated_only, test_to_all_empty}},
      {"to-users", {test_to_users_dedupe_and_offline, test_to_users_all_offline}},
      {"to-set", {test_to_set, test_to_set_empty}},
      {"shared-frame", {test_shared_frame_refcount}},
      {"sampling", {test_sampling_off_by_default, test_sampling_every_second_fanout}},
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_checked_fixture (tc, setup, teardown);
    for (gsize j = 0; j < G_N_ELEMENTS (cases[i].tests) && cases[i].tests[j] != NULL; j++)
      tcase_add_test (tc, cases[i].tests[j]);
    suite_add_tcase (s, tc);
  }
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (broadcaster_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

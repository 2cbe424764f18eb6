/* test-client-streams.c: a resume across a history loss (issue 17): Redis
 * restarted empty, so the room a client was in is gone and a room of the
 * same name starts again at seq 1. With the rooms' stream epochs (the
 * server's addition to PROTOCOL.md §3 and §6: `epoch` in join, rooms,
 * room_info and resumed; `epochs` beside `resume` in hello and in welcome),
 * the resume says so (`complete: false`) and replays the new stream, instead
 * of taking the new seqs for old ones. Over real sockets, a real Redis
 * restarted without its data, the raw protocol and then HubClient. */
#include "hub-test-redis.h"
#include "test-client-util.h"

#define WAIT_MS 10000

/* Sends @format (' for ") until the reply is not `internal` (the node is
 * back on Redis), at most WAIT_MS; returns the reply, which must be ok. */
static JsonObject *
ok_once_back (HubTestWs *ws, const char *format)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    JsonObject *reply = hub_test_ws_call (ws, "%s", format);
    g_autofree char *text = hub_test_json_encode (reply);

    if (g_strcmp0 (hub_test_json_string (reply, "type"), "ok") == 0)
      return reply;
    ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "code"), "internal") == 0 &&
                       g_get_monotonic_time () < deadline,
                   "expected ok once the node is back on Redis, got %s", text);
    json_object_unref (reply);
    hub_test_ws_service (50);
  }
}

/* Takes frames until `message` seq @seq of @room. */
static void
await_message (HubTestWs *ws, const char *room, gint64 seq)
{
  for (;;) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (ws, WAIT_MS);

    ck_assert_msg (frame != NULL, "expected message %" G_GINT64_FORMAT " of %s", seq, room);
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0 &&
        g_strcmp0 (hub_test_json_string (frame, "room"), room) == 0 &&
        hub_test_json_int (frame, "seq") == seq)
      return;
  }
}

static void
publish (HubTestWs *ws, const char *room, guint count)
{
  for (guint i = 1; i <= count; i++) {
    json_object_unref (
        hub_test_ws_ok (ws, "{'type':'publish','room':'%s','payload':{'n':%u}}", room, i));
    json_object_unref (hub_test_ws_expect_type (ws, "message", WAIT_MS));
  }
}

/* The room's stream after Redis lost everything: the node, finding that
 * Redis no longer knows it, closes its connections with 1001 (docs/cluster.md);
 * laptop (alice's other device) and bob come back, join again, and bob
 * publishes 1…@count. Returns the new epoch. */
static gint64
new_stream (HubTestRedis *redis, guint16 port, HubTestWs **laptop, HubTestWs **bob,
            gint64 old_epoch, guint count)
{
  g_autoptr (JsonObject) again = NULL;
  gint64 epoch;
  guint code;

  hub_test_redis_restart_empty (redis);
  code = hub_test_ws_wait_closed (*laptop, WAIT_MS);
  ck_assert_msg (code == 1001, "expected the laptop closed with 1001, got %u", code);
  code = hub_test_ws_wait_closed (*bob, WAIT_MS);
  ck_assert_msg (code == 1001, "expected bob closed with 1001, got %u", code);
  hub_test_ws_free (*laptop);
  hub_test_ws_free (*bob);
  *laptop = hub_test_ws_login (port, "alice", "laptop");
  *bob = hub_test_ws_login (port, "bob", NULL);
  again = ok_once_back (*laptop, "{'type':'join','room':'general'}");
  ck_assert_msg (hub_test_json_int (again, "seq") == 0, "the room starts again");
  epoch = hub_test_json_int (again, "epoch");
  ck_assert_msg (epoch != old_epoch, "another stream, another epoch");
  json_object_unref (ok_once_back (*bob, "{'type':'join','room':'general'}"));
  hub_test_ws_await_presence (*bob, "join", "general", "bob");
  publish (*bob, "general", count);
  return epoch;
}

START_TEST (redis_restarted_empty_resume_is_incomplete)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) node = hub_test_redis_node (redis, "n1", NULL);
  guint16 port = hub_test_server_port (node);
  HubTestWs *laptop = hub_test_ws_login (port, "alice", "laptop");
  HubTestWs *phone = hub_test_ws_login (port, "alice", "phone");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (JsonObject) joined = hub_test_ws_ok (laptop, "{'type':'join','room':'general'}");
  g_autoptr (JsonObject) welcome = NULL, resumed = NULL, old_welcome = NULL, old_resumed = NULL;
  gint64 e1 = hub_test_json_int (joined, "epoch"), e2;

  hub_test_ws_join (bob, "bob", "general");
  publish (bob, "general", 5);
  await_message (phone, "general", 5);
  hub_test_ws_drop (phone);

  e2 = new_stream (redis, port, &laptop, &bob, e1, 3);

  /* The phone comes back from seq 5 of the old stream, and says so. */
  phone = hub_test_ws_open (port);
  welcome = hub_test_ws_call (phone,
                              "{'type':'hello','user':'alice','device':'phone',"
                              "'resume':{'general':5},'epochs':{'general':%" G_GINT64_FORMAT "}}",
                              e1);
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  ck_assert_int_eq (hub_test_json_int (hub_test_json_object (welcome, "epochs"), "general"), e2);
  for (gint64 seq = 1; seq <= 3; seq++) {
    g_autoptr (JsonObject) m = hub_test_ws_expect_type (phone, "message", WAIT_MS);

    ck_assert_int_eq (hub_test_json_int (m, "seq"), seq);
  }
  resumed = hub_test_ws_expect_type (phone, "resumed", WAIT_MS);
  ck_assert_int_eq (hub_test_json_int (resumed, "from"), 1);
  ck_assert_int_eq (hub_test_json_int (resumed, "to"), 3);
  ck_assert_msg (!hub_test_json_bool (resumed, "complete"), "what the old stream held is lost");
  ck_assert_int_eq (hub_test_json_int (resumed, "epoch"), e2);

  /* Without epochs (a 1.1 client) nothing tells: seq 5 is past the new 3. */
  hub_test_ws_drop (phone);
  phone = hub_test_ws_open (port);
  old_welcome = hub_test_ws_call (
      phone, "{'type':'hello','user':'alice','device':'phone','resume':{'general':5}}");
  old_resumed = hub_test_ws_expect_type (phone, "resumed", WAIT_MS);
  ck_assert (hub_test_json_bool (old_resumed, "complete"));
  ck_assert_int_eq (hub_test_json_int (old_resumed, "from"), 6);
}
END_TEST

/* ---- HubClient: it keeps each room's epoch and resumes with it ---- */

typedef struct {
  GArray *seqs; /* gint64: MESSAGE seqs of general, in order */
  guint resumed;
  gboolean complete;
  gint64 from, to;
} Seen;

static void
on_event (HubClient *client, const HubClientEvent *event, gpointer user_data)
{
  Seen *seen = user_data;

  if (g_strcmp0 (event->room, "general") != 0)
    return;
  if (event->type == HUB_CLIENT_EVENT_MESSAGE)
    g_array_append_val (seen->seqs, event->seq);
  if (event->type == HUB_CLIENT_EVENT_RESUMED) {
    seen->resumed++;
    seen->complete = event->complete;
    seen->from = event->from_seq;
    seen->to = event->to_seq;
  }
}

static const HubClientCallbacks callbacks = {.event = on_event};

static gboolean
connected (gpointer data)
{
  return hub_client_get_state (data) == HUB_CLIENT_CONNECTED;
}

static gboolean
at_seq_5 (gpointer data)
{
  return hub_client_get_last_seq (data, "general") == 5;
}

static gboolean
at_seq_3 (gpointer data)
{
  return hub_client_get_last_seq (data, "general") == 3;
}

static void
joined (HubClient *client, JsonObject *reply, const GError *error, gpointer data)
{
  ck_assert_msg (error == NULL, "join: %s", error ? error->message : "");
  *(gboolean *)data = TRUE;
}

static gboolean
flag (gpointer data)
{
  return *(gboolean *)data;
}

START_TEST (hub_client_resumes_across_a_lost_stream)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) node = hub_test_redis_node (redis, "n1", NULL);
  guint16 port = hub_test_server_port (node);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  HubTestWs *laptop = hub_test_ws_login (port, "alice", "laptop");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  Seen seen = {.seqs = g_array_new (FALSE, FALSE, sizeof (gint64))};
  g_autoptr (JsonObject) j = hub_test_ws_ok (laptop, "{'type':'join','room':'general'}");
  HubClientOptions options;
  HubClient *phone;
  HubClientCounters counters;
  gboolean in = FALSE;
  guint64 duplicates;

  hub_client_options_init (&options);
  options.url = url;
  options.user = "alice";
  options.device = "phone";
  options.backoff_min_ms = 20;
  options.backoff_max_ms = 200;
  phone = hub_client_new (&options, &callbacks, &seen, NULL);
  hub_client_connect (phone);
  ck_assert_msg (loop_until (connected, phone, WAIT_MS), "the phone connects");
  hub_client_join (phone, "general", joined, &in);
  ck_assert_msg (loop_until (flag, &in, WAIT_MS), "the phone joins");
  hub_test_ws_join (bob, "bob", "general");
  publish (bob, "general", 5);
  ck_assert_msg (loop_until (at_seq_5, phone, WAIT_MS), "the phone saw 1…5");

  hub_client_get_counters (phone, &counters);
  duplicates = counters.duplicates;
  g_array_set_size (seen.seqs, 0);
  new_stream (redis, port, &laptop, &bob, hub_test_json_int (j, "epoch"), 3);
  /* Closed with 1001 when its node found that Redis had lost its data, the
   * phone came back by itself: its resume with the old epoch (told
   * incomplete), or its join again if it came back before the room existed
   * again, gives it the new stream, 1…3, none taken for an old one. */
  ck_assert_msg (loop_until (at_seq_3, phone, WAIT_MS), "the phone follows the new stream");
  ck_assert_uint_eq (seen.seqs->len, 3);
  for (guint i = 0; i < 3; i++)
    ck_assert_int_eq (g_array_index (seen.seqs, gint64, i), i + 1);
  hub_client_get_counters (phone, &counters);
  ck_assert_msg (counters.duplicates == duplicates,
                 "the seqs of the new stream were not taken for old ones");
  hub_client_free (phone);
  g_array_unref (seen.seqs);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-streams");

  hub_test_skip_without ("redis-server");
  HUB_TEST_ADD (suite, redis_restarted_empty_resume_is_incomplete, 60);
  HUB_TEST_ADD (suite, hub_client_resumes_across_a_lost_stream, 60);
  return hub_test_run (suite);
}

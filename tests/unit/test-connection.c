/* test-connection.c: HubConnection's send queue (write-through, backpressure,
 * ephemeral drops, slow-consumer 4009), its sources (a replay paced by the
 * client), closing, detaching and counters, over the in-memory sink and the
 * fake clock. */
#include <check.h>
#include <string.h>

#include "hub-memory-sink.h"

#define EXPECT_UINT(actual, expected, what)                                                        \
  ck_assert_msg ((guint64)(actual) == (guint64)(expected),                                         \
                 "%s: expected %" G_GUINT64_FORMAT ", got %" G_GUINT64_FORMAT, what,               \
                 (guint64)(expected), (guint64)(actual))

#define START_MS  1700000000000
#define MAX_QUEUE 100

static HubClock *clock_;
static HubMemorySink *sink;
static HubConnection *conn;

static void
setup (void)
{
  clock_ = hub_clock_new_fake (START_MS);
  sink = hub_memory_sink_new ();
  conn = hub_connection_new ("c1", clock_, MAX_QUEUE, hub_memory_sink_vtable (), sink);
  sink->conn = conn;
}

static void
teardown (void)
{
  g_clear_pointer (&conn, hub_connection_unref);
  g_clear_pointer (&sink, hub_memory_sink_free);
  g_clear_pointer (&clock_, hub_clock_unref);
}

/* A frame whose JSON payload is exactly @len bytes (≥ 25). */
static HubFrame *
sized_frame (gsize len, HubFrameFlags flags)
{
  const char *prefix = (flags & HUB_FRAME_FLAG_EPHEMERAL) ? "{\"type\":\"typing\",\"p\":\""
                                                          : "{\"type\":\"message\",\"p\":\"";
  GString *s = g_string_new (prefix);

  g_assert (len >= s->len + 2);
  while (s->len < len - 2)
    g_string_append_c (s, 'x');
  g_string_append (s, "\"}");
  g_assert (s->len == len);
  HubFrame *frame = hub_frame_new (s->str, s->len, flags);
  g_string_free (s, TRUE);
  return frame;
}

static HubFrame *
text_frame (const char *json)
{
  return hub_frame_new (json, strlen (json), HUB_FRAME_FLAG_NONE);
}

/* The JSON of the @i-th frame the sink recorded. */
static const char *
written_payload (guint i)
{
  return hub_frame_payload (g_ptr_array_index (sink->frames, i), NULL);
}

/* ---- identity ---- */

START_TEST (test_new_defaults)
{
  const HubConnectionStats *st = hub_connection_get_stats (conn);

  ck_assert_str_eq (hub_connection_get_id (conn), "c1");
  ck_assert_msg (!hub_connection_is_authenticated (conn), "a new connection is not past hello");
  ck_assert_msg (hub_connection_get_user (conn) == NULL, "no user before authenticate");
  ck_assert_msg (hub_connection_get_device (conn) == NULL, "no device before authenticate");
  ck_assert_msg (!hub_connection_is_admin (conn), "not admin before authenticate");
  ck_assert_msg (!hub_connection_is_closing (conn), "a new connection is not closing");
  EXPECT_UINT (hub_connection_get_close_code (conn), 0, "close code before any close");
  EXPECT_UINT (hub_connection_queued_bytes (conn), 0, "queued bytes");
  EXPECT_UINT (hub_connection_queued_frames (conn), 0, "queued frames");
  EXPECT_UINT (hub_connection_max_queue_bytes (conn), MAX_QUEUE, "max queue bytes");
  ck_assert_msg (st->connected_unix_ms == START_MS, "connected_unix_ms is the clock's time");
  ck_assert_msg (st->last_activity_unix_ms == START_MS, "last activity starts at connect");
  EXPECT_UINT (st->frames_out + st->frames_in + st->dropped + st->messages_in, 0, "zero counters");
}
END_TEST

START_TEST (test_authenticate_copies)
{
  char user[] = "alice";
  char device[] = "phone";

  hub_connection_authenticate (conn, user, device, TRUE);
  user[0] = 'X';
  device[0] = 'X';
  ck_assert_msg (hub_connection_is_authenticated (conn), "authenticated after authenticate()");
  ck_assert_str_eq (hub_connection_get_user (conn), "alice");
  ck_assert_str_eq (hub_connection_get_device (conn), "phone");
  ck_assert_msg (hub_connection_is_admin (conn), "admin flag kept");
}
END_TEST

START_TEST (test_authenticate_not_admin)
{
  hub_connection_authenticate (conn, "bob", "default", FALSE);
  ck_assert_msg (!hub_connection_is_admin (conn), "admin FALSE kept");
  ck_assert_str_eq (hub_connection_get_user (conn), "bob");
}
END_TEST

/* ---- sending ---- */

START_TEST (test_write_through)
{
  g_autoptr (HubFrame) frame = sized_frame (40, HUB_FRAME_FLAG_NONE);
  const HubConnectionStats *st = hub_connection_get_stats (conn);

  ck_assert_int_eq (hub_connection_send (conn, frame), HUB_SEND_WRITTEN);
  EXPECT_UINT (sink->frames->len, 1, "frames in sink");
  ck_assert_ptr_eq (g_ptr_array_index (sink->frames, 0), frame);
  EXPECT_UINT (hub_connection_queued_frames (conn), 0, "nothing queued on write-through");
  EXPECT_UINT (sink->writable_requests, 0, "no writable request when written at once");
  EXPECT_UINT (st->frames_out, 1, "frames_out");
  EXPECT_UINT (st->bytes_out, 40, "bytes_out counts the payload length");
}
END_TEST

START_TEST (test_queue_when_blocked)
{
  g_autoptr (HubFrame) frame = sized_frame (30, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  ck_assert_int_eq (hub_connection_send (conn, frame), HUB_SEND_QUEUED);
  EXPECT_UINT (sink->frames->len, 0, "blocked sink got nothing");
  EXPECT_UINT (hub_connection_queued_frames (conn), 1, "queued frames");
  EXPECT_UINT (hub_connection_queued_bytes (conn), 30, "queued bytes = payload length");
  EXPECT_UINT (sink->writable_requests, 1, "writable requested once");
  EXPECT_UINT (hub_connection_get_stats (conn)->frames_out, 0, "not counted out while queued");
}
END_TEST

START_TEST (test_writable_once_per_transition)
{
  g_autoptr (HubFrame) frame = sized_frame (32, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq (hub_connection_send (conn, frame), HUB_SEND_QUEUED);
  EXPECT_UINT (sink->writable_requests, 1, "one request for three enqueues");

  hub_memory_sink_unblock (sink);
  EXPECT_UINT (hub_connection_queued_frames (conn), 0, "queue drained");
  EXPECT_UINT (sink->writable_requests, 1, "no request when the flush emptied the queue");

  sink->blocked = TRUE;
  ck_assert_int_eq (hub_connection_send (conn, frame), HUB_SEND_QUEUED);
  ck_assert_int_eq (hub_connection_send (conn, frame), HUB_SEND_QUEUED);
  EXPECT_UINT (sink->writable_requests, 2, "a second empty→non-empty transition asks again");
}
END_TEST

START_TEST (test_flush_fifo)
{
  g_autoptr (HubFrame) a = text_frame ("{\"type\":\"message\",\"seq\":1}");
  g_autoptr (HubFrame) b = text_frame ("{\"type\":\"message\",\"seq\":2}");
  g_autoptr (HubFrame) c = text_frame ("{\"type\":\"message\",\"seq\":3}");

  sink->blocked = TRUE;
  hub_connection_send (conn, a);
  hub_connection_send (conn, b);
  hub_connection_send (conn, c);
  hub_memory_sink_unblock (sink);

  EXPECT_UINT (sink->frames->len, 3, "all three written");
  ck_assert_ptr_eq (g_ptr_array_index (sink->frames, 0), a);
  ck_assert_ptr_eq (g_ptr_array_index (sink->frames, 1), b);
  ck_assert_ptr_eq (g_ptr_array_index (sink->frames, 2), c);
  EXPECT_UINT (hub_connection_queued_bytes (conn), 0, "queue empty after flush");
  EXPECT_UINT (hub_connection_get_stats (conn)->frames_out, 3, "frames_out after flush");
}
END_TEST

START_TEST (test_flush_blocked_asks_again)
{
  g_autoptr (HubFrame) frame = sized_frame (32, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  hub_connection_send (conn, frame);
  hub_connection_flush (conn);
  EXPECT_UINT (hub_connection_queued_frames (conn), 1, "still queued");
  EXPECT_UINT (sink->writable_requests, 2, "flush that leaves frames asks for writable again");
}
END_TEST

START_TEST (test_send_behind_queue_keeps_order)
{
  g_autoptr (HubFrame) a = text_frame ("{\"type\":\"message\",\"seq\":1}");
  g_autoptr (HubFrame) b = text_frame ("{\"type\":\"message\",\"seq\":2}");

  sink->blocked = TRUE;
  ck_assert_int_eq (hub_connection_send (conn, a), HUB_SEND_QUEUED);
  /* The sink could write again, but no flush has run yet: b must wait behind a. */
  sink->blocked = FALSE;
  ck_assert_int_eq (hub_connection_send (conn, b), HUB_SEND_QUEUED);
  EXPECT_UINT (sink->frames->len, 0, "nothing overtakes the queue");
  hub_connection_flush (conn);
  ck_assert_str_eq (written_payload (0), "{\"type\":\"message\",\"seq\":1}");
  ck_assert_str_eq (written_payload (1), "{\"type\":\"message\",\"seq\":2}");
}
END_TEST

/* A sink that takes a set number of frames, then refuses. */
typedef struct {
  guint budget;
  GPtrArray *written; /* HubFrame* refs */
} BudgetSink;

static gboolean
budget_write (gpointer data, HubFrame *frame)
{
  BudgetSink *b = data;

  if (b->budget == 0)
    return FALSE;
  b->budget--;
  g_ptr_array_add (b->written, hub_frame_ref (frame));
  return TRUE;
}

static void
budget_request_writable (gpointer data)
{
  (void)data;
}

static void
budget_close (gpointer data, guint16 code, const char *reason)
{
  (void)data;
  (void)code;
  (void)reason;
}

static const HubSinkVTable budget_vtable = {
    .write = budget_write,
    .request_writable = budget_request_writable,
    .close = budget_close,
};

/* The queue is a ring that grows: frames keep their order when it wraps
 * around (partial flushes) and grows while wrapped. */
START_TEST (test_order_across_partial_flushes_and_growth)
{
  BudgetSink b = {0, g_ptr_array_new_with_free_func ((GDestroyNotify)hub_frame_unref)};
  HubConnection *c = hub_connection_new ("c4", clock_, 1 << 20, &budget_vtable, &b);
  HubFrame *frames[40];

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++) {
    g_autofree char *json = g_strdup_printf ("{\"type\":\"message\",\"seq\":%u}", i);

    frames[i] = text_frame (json);
  }
  for (guint i = 0; i < 6; i++)
    ck_assert_int_eq (hub_connection_send (c, frames[i]), HUB_SEND_QUEUED);
  b.budget = 4;
  hub_connection_flush (c);
  EXPECT_UINT (hub_connection_queued_frames (c), 2, "4 of 6 written, 2 left");
  for (guint i = 6; i < 30; i++)
    ck_assert_int_eq (hub_connection_send (c, frames[i]), HUB_SEND_QUEUED);
  EXPECT_UINT (hub_connection_queued_frames (c), 26, "2 left plus 24 queued");
  b.budget = 10;
  hub_connection_flush (c);
  for (guint i = 30; i < G_N_ELEMENTS (frames); i++)
    ck_assert_int_eq (hub_connection_send (c, frames[i]), HUB_SEND_QUEUED);
  b.budget = G_MAXUINT;
  hub_connection_flush (c);
  EXPECT_UINT (hub_connection_queued_frames (c), 0, "queue empty after the last flush");
  EXPECT_UINT (b.written->len, G_N_ELEMENTS (frames), "every frame written once");
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    ck_assert_msg (g_ptr_array_index (b.written, i) == frames[i],
                   "frame %u should be written %uth, in the order sent", i, i);
  hub_connection_unref (c);
  g_ptr_array_unref (b.written);
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    hub_frame_unref (frames[i]);
}
END_TEST

START_TEST (test_exact_fit_is_queued)
{
  g_autoptr (HubFrame) a = sized_frame (60, HUB_FRAME_FLAG_NONE);
  g_autoptr (HubFrame) b = sized_frame (40, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  ck_assert_int_eq (hub_connection_send (conn, a), HUB_SEND_QUEUED);
  ck_assert_int_eq (hub_connection_send (conn, b), HUB_SEND_QUEUED);
  EXPECT_UINT (hub_connection_queued_bytes (conn), MAX_QUEUE, "a queue exactly full is allowed");
  ck_assert_msg (!hub_connection_is_closing (conn), "no close at exactly max");
}
END_TEST

/* ---- ephemeral frames ---- */

START_TEST (test_ephemeral_dropped_over_half)
{
  g_autoptr (HubFrame) big = sized_frame (51, HUB_FRAME_FLAG_NONE);
  g_autoptr (HubFrame) typing = sized_frame (32, HUB_FRAME_FLAG_EPHEMERAL);

  sink->blocked = TRUE;
  hub_connection_send (conn, big);
  ck_assert_int_eq (hub_connection_send (conn, typing), HUB_SEND_DROPPED);
  EXPECT_UINT (hub_connection_get_stats (conn)->dropped, 1, "dropped counter");
  EXPECT_UINT (hub_connection_queued_frames (conn), 1, "the dropped frame was not queued");
  EXPECT_UINT (hub_connection_queued_bytes (conn), 51, "queued bytes unchanged");
  ck_assert_msg (!hub_connection_is_closing (conn), "a drop does not close");
}
END_TEST

START_TEST (test_ephemeral_at_exactly_half_queued)
{
  g_autoptr (HubFrame) half = sized_frame (MAX_QUEUE / 2, HUB_FRAME_FLAG_NONE);
  g_autoptr (HubFrame) typing = sized_frame (32, HUB_FRAME_FLAG_EPHEMERAL);

  sink->blocked = TRUE;
  hub_connection_send (conn, half);
  ck_assert_int_eq (hub_connection_send (conn, typing), HUB_SEND_QUEUED);
  EXPECT_UINT (hub_connection_queued_bytes (conn), MAX_QUEUE / 2 + 32, "ephemeral queued at half");
  /* Now over half: the next ephemeral one goes. */
  ck_assert_int_eq (hub_connection_send (conn, typing), HUB_SEND_DROPPED);
}
END_TEST

START_TEST (test_ephemeral_written_when_sink_open)
{
  g_autoptr (HubFrame) typing = sized_frame (32, HUB_FRAME_FLAG_EPHEMERAL);

  ck_assert_int_eq (hub_connection_send (conn, typing), HUB_SEND_WRITTEN);
  EXPECT_UINT (hub_connection_get_stats (conn)->dropped, 0, "nothing dropped");
}
END_TEST

START_TEST (test_ephemeral_under_half_not_fitting_closes)
{
  g_autoptr (HubFrame) half = sized_frame (MAX_QUEUE / 2, HUB_FRAME_FLAG_NONE);
  g_autoptr (HubFrame) big_typing = sized_frame (MAX_QUEUE / 2 + 1, HUB_FRAME_FLAG_EPHEMERAL);

  sink->blocked = TRUE;
  hub_connection_send (conn, half);
  ck_assert_int_eq (hub_connection_send (conn, big_typing), HUB_SEND_CLOSED);
  EXPECT_UINT (hub_connection_get_close_code (conn), HUB_CLOSE_SLOW_CONSUMER, "close code");
}
END_TEST

/* ---- slow consumer ---- */

START_TEST (test_overflow_closes_4009)
{
  g_autoptr (HubFrame) a = sized_frame (60, HUB_FRAME_FLAG_NONE);
  g_autoptr (HubFrame) b = sized_frame (41, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  ck_assert_int_eq (hub_connection_send (conn, a), HUB_SEND_QUEUED);
  ck_assert_int_eq (hub_connection_send (conn, b), HUB_SEND_CLOSED);
  EXPECT_UINT (hub_connection_queued_frames (conn), 0, "queue discarded");
  EXPECT_UINT (hub_connection_queued_bytes (conn), 0, "queued bytes reset");
  ck_assert_msg (sink->closed, "sink closed at once: the queue is empty");
  EXPECT_UINT (sink->close_code, HUB_CLOSE_SLOW_CONSUMER, "sink close code");
  ck_assert_str_eq (sink->close_reason, "slow consumer");
  ck_assert_msg (hub_connection_is_closing (conn), "closing after 4009");
  EXPECT_UINT (hub_connection_get_close_code (conn), 4009, "recorded close code");
  EXPECT_UINT (sink->frames->len, 0, "neither frame reached the sink");
  ck_assert_int_eq (hub_connection_send (conn, a), HUB_SEND_IGNORED);
}
END_TEST

START_TEST (test_oversized_frame_offered_first)
{
  g_autoptr (HubFrame) huge = sized_frame (MAX_QUEUE * 3, HUB_FRAME_FLAG_NONE);

  ck_assert_int_eq (hub_connection_send (conn, huge), HUB_SEND_WRITTEN);
  ck_assert_ptr_eq (g_ptr_array_index (sink->frames, 0), huge);
  ck_assert_msg (!hub_connection_is_closing (conn), "a taken frame never counts against the queue");
}
END_TEST

START_TEST (test_oversized_frame_refused_closes)
{
  g_autoptr (HubFrame) huge = sized_frame (MAX_QUEUE + 1, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  ck_assert_int_eq (hub_connection_send (conn, huge), HUB_SEND_CLOSED);
  ck_assert_msg (sink->closed, "sink closed");
  EXPECT_UINT (sink->close_code, HUB_CLOSE_SLOW_CONSUMER, "sink close code");
}
END_TEST

/* ---- closing ---- */

START_TEST (test_close_empty_queue_at_once)
{
  g_autoptr (HubFrame) frame = sized_frame (32, HUB_FRAME_FLAG_NONE);

  hub_connection_close (conn, HUB_CLOSE_GOING_AWAY, "bye");
  ck_assert_msg (sink->closed, "sink closed at once with nothing queued");
  EXPECT_UINT (sink->close_code, 1001, "sink close code");
  ck_assert_str_eq (sink->close_reason, "bye");
  ck_assert_msg (hub_connection_is_closing (conn), "closing");
  ck_assert_int_eq (hub_connection_send (conn, frame), HUB_SEND_IGNORED);
  EXPECT_UINT (sink->frames->len, 0, "ignored frame not written");
}
END_TEST

START_TEST (test_close_first_wins_once)
{
  hub_connection_close (conn, HUB_CLOSE_LIVENESS, "timeout");
  /* The memory sink asserts if close() is called twice. */
  hub_connection_close (conn, HUB_CLOSE_NORMAL, "again");
  hub_connection_close (conn, HUB_CLOSE_SLOW_CONSUMER, "again");
  hub_connection_flush (conn);
  EXPECT_UINT (hub_connection_get_close_code (conn), HUB_CLOSE_LIVENESS, "first code wins");
  EXPECT_UINT (sink->close_code, HUB_CLOSE_LIVENESS, "sink got the first code");
  ck_assert_str_eq (sink->close_reason, "timeout");
}
END_TEST

START_TEST (test_close_after_flush)
{
  g_autoptr (HubFrame) a = text_frame ("{\"type\":\"message\",\"seq\":1}");
  g_autoptr (HubFrame) b = text_frame ("{\"type\":\"message\",\"seq\":2}");

  sink->blocked = TRUE;
  hub_connection_send (conn, a);
  hub_connection_send (conn, b);
  hub_connection_close (conn, HUB_CLOSE_GOING_AWAY, "shutdown");
  ck_assert_msg (!sink->closed, "close waits for the queue");
  EXPECT_UINT (hub_connection_queued_frames (conn), 2, "queue kept for a 1001 close");
  ck_assert_int_eq (hub_connection_send (conn, a), HUB_SEND_IGNORED);

  hub_memory_sink_unblock (sink);
  EXPECT_UINT (sink->frames->len, 2, "queued frames written before the close");
  ck_assert_ptr_eq (g_ptr_array_index (sink->frames, 0), a);
  ck_assert_ptr_eq (g_ptr_array_index (sink->frames, 1), b);
  ck_assert_msg (sink->closed, "closed once the queue drained");
  EXPECT_UINT (sink->close_code, 1001, "sink close code");
  /* A further flush must not close again (the memory sink would assert). */
  hub_connection_flush (conn);
}
END_TEST

START_TEST (test_close_partial_flush_waits)
{
  g_autoptr (HubFrame) a = sized_frame (32, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  hub_connection_send (conn, a);
  hub_connection_close (conn, HUB_CLOSE_NORMAL, "done");
  hub_connection_flush (conn);
  ck_assert_msg (!sink->closed, "no close while the sink still refuses the queue");
  EXPECT_UINT (sink->writable_requests, 2, "flush asked for writable again");
}
END_TEST

START_TEST (test_close_4009_discards_queue)
{
  g_autoptr (HubFrame) a = sized_frame (32, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  hub_connection_send (conn, a);
  hub_connection_send (conn, a);
  hub_connection_close (conn, HUB_CLOSE_SLOW_CONSUMER, "slow consumer");
  EXPECT_UINT (hub_connection_queued_frames (conn), 0, "4009 discards the queue");
  ck_assert_msg (sink->closed, "closed at once");
  EXPECT_UINT (sink->close_code, 4009, "sink close code");
}
END_TEST

/* ---- detach ---- */

START_TEST (test_detach)
{
  g_autoptr (HubFrame) a = sized_frame (32, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  hub_connection_send (conn, a);
  hub_connection_detach (conn);
  EXPECT_UINT (hub_connection_queued_frames (conn), 0, "queue freed on detach");
  EXPECT_UINT (hub_connection_queued_bytes (conn), 0, "queued bytes reset on detach");

  sink->blocked = FALSE;
  ck_assert_int_eq (hub_connection_send (conn, a), HUB_SEND_IGNORED);
  hub_connection_flush (conn);
  hub_connection_ping (conn);
  hub_connection_close (conn, HUB_CLOSE_NORMAL, "late");
  EXPECT_UINT (sink->frames->len, 0, "no write after detach");
  EXPECT_UINT (sink->writable_requests, 1, "no writable request after detach");
  EXPECT_UINT (sink->pings, 0, "no ping after detach");
  ck_assert_msg (!sink->closed, "no sink close after detach");
}
END_TEST

START_TEST (test_detach_while_closing)
{
  g_autoptr (HubFrame) a = sized_frame (32, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  hub_connection_send (conn, a);
  hub_connection_close (conn, HUB_CLOSE_GOING_AWAY, "bye");
  hub_connection_detach (conn);
  sink->blocked = FALSE;
  hub_connection_flush (conn);
  ck_assert_msg (!sink->closed, "the pending close is never delivered to a gone transport");
  EXPECT_UINT (hub_connection_get_close_code (conn), 1001, "close code still recorded");
}
END_TEST

/* ---- ping, counters, misc ---- */

START_TEST (test_ping)
{
  hub_connection_ping (conn);
  hub_connection_ping (conn);
  EXPECT_UINT (sink->pings, 2, "pings reach the sink");
}
END_TEST

static HubSinkVTable no_ping_vtable;

START_TEST (test_ping_null_callback)
{
  HubMemorySink *other = hub_memory_sink_new ();
  HubConnection *c;

  no_ping_vtable = *hub_memory_sink_vtable ();
  no_ping_vtable.ping = NULL;
  c = hub_connection_new ("c2", clock_, MAX_QUEUE, &no_ping_vtable, other);
  hub_connection_ping (c); /* must not crash */
  EXPECT_UINT (other->pings, 0, "no ping callback, no ping");
  hub_connection_unref (c);
  hub_memory_sink_free (other);
}
END_TEST

START_TEST (test_counters_and_activity)
{
  const HubConnectionStats *st = hub_connection_get_stats (conn);

  hub_fake_clock_advance (clock_, 1500);
  hub_connection_note_received (conn, 120);
  hub_connection_note_received (conn, 30);
  EXPECT_UINT (st->frames_in, 2, "frames_in");
  EXPECT_UINT (st->bytes_in, 150, "bytes_in");
  ck_assert_msg (st->last_activity_unix_ms == START_MS + 1500, "activity refreshed on receive");

  hub_fake_clock_advance (clock_, 2000);
  hub_connection_touch (conn);
  ck_assert_msg (st->last_activity_unix_ms == START_MS + 3500, "activity refreshed on touch");
  EXPECT_UINT (st->frames_in, 2, "touch does not count a frame");
  ck_assert_msg (st->connected_unix_ms == START_MS, "connected time unchanged");

  hub_connection_note_message_in (conn);
  EXPECT_UINT (st->messages_in, 1, "messages_in");
}
END_TEST

START_TEST (test_bytes_out_after_flush)
{
  g_autoptr (HubFrame) a = sized_frame (30, HUB_FRAME_FLAG_NONE);
  g_autoptr (HubFrame) b = sized_frame (45, HUB_FRAME_FLAG_NONE);
  const HubConnectionStats *st = hub_connection_get_stats (conn);

  hub_connection_send (conn, a);
  sink->blocked = TRUE;
  hub_connection_send (conn, b);
  EXPECT_UINT (st->bytes_out, 30, "only the written frame counted");
  hub_memory_sink_unblock (sink);
  EXPECT_UINT (st->bytes_out, 75, "flushed frame counted");
  EXPECT_UINT (st->frames_out, 2, "frames_out");
}
END_TEST

START_TEST (test_subscriptions_set)
{
  GHashTable *subs = hub_connection_get_subscriptions (conn);

  ck_assert_msg (subs != NULL, "a subscription set exists from the start");
  EXPECT_UINT (g_hash_table_size (subs), 0, "empty at first");
  g_hash_table_add (subs, g_strdup ("bob"));
  g_hash_table_add (subs, g_strdup ("carol"));
  ck_assert_ptr_eq (hub_connection_get_subscriptions (conn), subs);
  ck_assert_msg (g_hash_table_contains (subs, "bob"), "string keys compare by value");
  EXPECT_UINT (g_hash_table_size (subs), 2, "two subscriptions");
  /* Freed by the connection: LeakSanitizer checks the owned keys. */
}
END_TEST

START_TEST (test_hello_timer)
{
  EXPECT_UINT (hub_connection_get_hello_timer (conn), 0, "no timer at first");
  hub_connection_set_hello_timer (conn, 42);
  EXPECT_UINT (hub_connection_get_hello_timer (conn), 42, "stored id");
}
END_TEST

START_TEST (test_rate_limiter_unlimited_by_default)
{
  HubRateLimiter *rl = hub_connection_get_rate_limiter (conn);

  ck_assert_ptr_nonnull (rl);
  for (int i = 0; i < 1000; i++)
    ck_assert_int_eq (hub_rate_limiter_check (rl, hub_clock_monotonic_us (clock_)), HUB_RATE_OK);
}
END_TEST

START_TEST (test_refcount_and_shared_frame)
{
  HubMemorySink *other = hub_memory_sink_new ();
  HubConnection *c2 =
      hub_connection_new ("c2", clock_, MAX_QUEUE, hub_memory_sink_vtable (), other);
  HubFrame *frame = sized_frame (32, HUB_FRAME_FLAG_NONE);

  other->conn = c2;
  sink->blocked = TRUE;
  other->blocked = TRUE;
  hub_connection_send (conn, frame);
  hub_connection_send (c2, frame);
  hub_frame_unref (frame); /* the queues keep it alive */

  hub_connection_ref (c2);
  hub_connection_unref (c2);
  hub_memory_sink_unblock (sink);
  hub_memory_sink_unblock (other);
  ck_assert_ptr_eq (g_ptr_array_index (sink->frames, 0), g_ptr_array_index (other->frames, 0));
  /* c2 dies with nothing queued; conn dies in teardown. ASan checks refs. */
  hub_connection_unref (c2);
  hub_memory_sink_free (other);
}
END_TEST

START_TEST (test_unref_with_queue)
{
  HubConnection *c = hub_connection_new ("c3", clock_, MAX_QUEUE, hub_memory_sink_vtable (), sink);
  g_autoptr (HubFrame) a = sized_frame (32, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  hub_connection_send (c, a);
  hub_connection_unref (c); /* frees the queued ref without calling the sink */
  ck_assert_msg (!sink->closed, "unref does not close the sink");
  EXPECT_UINT (sink->writable_requests, 1, "only the enqueue asked for writable");
}
END_TEST

/* ---- a source (a resume's replay): PROTOCOL.md §6 ---- */

/* A source of @frames that gives at most a pull's budget at a time (one
 * frame at least), now or, when @async, when the test says. */
typedef struct {
  GPtrArray *frames; /* (owned) */
  guint next;
  gboolean async;
  gboolean asked; /* a pull waits for its answer */
  guint pulls;
  gboolean released;
} FakeSource;

static void
fake_answer (FakeSource *f)
{
  gsize budget = hub_connection_source_budget (conn), bytes = 0;
  g_autoptr (GPtrArray) out = g_ptr_array_new ();

  f->asked = FALSE;
  while (f->next < f->frames->len) {
    gsize len;

    hub_frame_payload (g_ptr_array_index (f->frames, f->next), &len);
    if (out->len > 0 && bytes + len > budget)
      break;
    bytes += len;
    g_ptr_array_add (out, g_ptr_array_index (f->frames, f->next++));
  }
  hub_connection_source_give (conn, (HubFrame *const *)out->pdata, out->len,
                              f->next == f->frames->len);
}

static void
fake_pull (gpointer data, HubConnection *c)
{
  FakeSource *f = data;

  ck_assert_msg (!f->asked, "no second pull before the answer");
  f->pulls++;
  f->asked = TRUE;
  if (!f->async)
    fake_answer (f);
}

static void
fake_release (gpointer data)
{
  FakeSource *f = data;

  ck_assert_msg (!f->released, "released once");
  f->released = TRUE;
}

static const HubSourceVTable fake_source = {.pull = fake_pull, .release = fake_release};

/* @n frames "{"type":"message","p":"S<i>…"}" of @len bytes each. */
static FakeSource *
fake_new (guint n, gsize len)
{
  FakeSource *f = g_new0 (FakeSource, 1);

  f->frames = g_ptr_array_new_with_free_func ((GDestroyNotify)hub_frame_unref);
  for (guint i = 0; i < n; i++) {
    g_autofree char *pad = g_strnfill (len - 28, 'x');
    g_autofree char *json = g_strdup_printf ("{\"type\":\"message\",\"p\":\"S%02u%s\"}", i, pad);

    g_assert (strlen (json) == len);
    g_ptr_array_add (f->frames, hub_frame_new (json, len, HUB_FRAME_FLAG_NONE));
  }
  return f;
}

static void
fake_free (FakeSource *f)
{
  g_ptr_array_unref (f->frames);
  g_free (f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FakeSource, fake_free)

/* The sink's frames as their first 3 characters of "p" (or their type). */
static char *
written_names (void)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < sink->frames->len; i++) {
    const char *json = written_payload (i);
    const char *p = strstr (json, "\"p\":\"");

    g_string_append_printf (out, "%s%.*s", i > 0 ? " " : "", p != NULL ? 3 : 8,
                            p != NULL ? p + 5 : json);
  }
  return g_string_free (out, FALSE);
}

/* A frame "{"type":"message","p":"<name>"}". */
static HubFrame *
named_frame (const char *name)
{
  g_autofree char *json = g_strdup_printf ("{\"type\":\"message\",\"p\":\"%s\"}", name);

  return text_frame (json);
}

START_TEST (test_source_takes_its_place)
{
  g_autoptr (FakeSource) f = fake_new (3, 40);
  g_autoptr (HubFrame) a = named_frame ("A__");
  g_autoptr (HubFrame) b = named_frame ("B__");
  g_autofree char *names = NULL;

  sink->blocked = TRUE;
  hub_connection_send (conn, a);
  hub_connection_set_source (conn, &fake_source, f);
  ck_assert_msg (hub_connection_send (conn, b) == HUB_SEND_QUEUED, "behind the source: queued");
  EXPECT_UINT (f->pulls, 0, "nothing pulled while a frame before it waits");
  hub_memory_sink_unblock (sink);
  names = written_names ();
  ck_assert_str_eq (names, "A__ S00 S01 S02 B__");
  ck_assert_msg (f->released && !hub_connection_has_source (conn), "released at its end");
  EXPECT_UINT (hub_connection_queued_frames (conn), 0, "all written");
}
END_TEST

START_TEST (test_source_paced_and_not_counted)
{
  /* 10 frames of 60 bytes: 600 bytes through a queue of 100. */
  g_autoptr (FakeSource) f = fake_new (10, 60);

  sink->blocked = TRUE;
  hub_connection_set_source (conn, &fake_source, f);
  EXPECT_UINT (f->pulls, 1, "one pull while the client does not read");
  EXPECT_UINT (hub_connection_source_ahead_bytes (conn), 60, "one frame given, not written");
  EXPECT_UINT (hub_connection_queued_bytes (conn), 0, "and not counted in the queue");
  ck_assert_msg (!hub_connection_is_closing (conn), "a source never closes with 4009");
  hub_connection_flush (conn);
  EXPECT_UINT (f->pulls, 1, "nothing more pulled before the first is written");
  hub_memory_sink_unblock (sink);
  EXPECT_UINT (sink->frames->len, 10, "the whole source once the client reads");
  EXPECT_UINT (hub_connection_source_ahead_bytes (conn), 0, "nothing ahead at its end");
  EXPECT_UINT (f->pulls, 10, "a frame per pull: 60 bytes > half of 100");
  ck_assert (f->released);
  ck_assert (!hub_connection_is_closing (conn));
}
END_TEST

START_TEST (test_source_frames_behind_count_as_usual)
{
  g_autoptr (FakeSource) f = fake_new (5, 40);
  g_autoptr (HubFrame) big = sized_frame (60, HUB_FRAME_FLAG_NONE);

  sink->blocked = TRUE;
  hub_connection_set_source (conn, &fake_source, f);
  ck_assert (hub_connection_send (conn, big) == HUB_SEND_QUEUED);
  ck_assert_msg (hub_connection_send (conn, big) == HUB_SEND_CLOSED,
                 "120 bytes behind the source do not fit in 100: 4009");
  EXPECT_UINT (hub_connection_get_close_code (conn), HUB_CLOSE_SLOW_CONSUMER, "close code");
  ck_assert_msg (f->released, "the source went with the queue");
}
END_TEST

START_TEST (test_source_answers_later)
{
  g_autoptr (FakeSource) f = fake_new (4, 30);
  g_autoptr (HubFrame) b = named_frame ("B__");
  g_autofree char *names = NULL;

  f->async = TRUE;
  sink->auto_flush = TRUE;
  hub_connection_set_source (conn, &fake_source, f);
  hub_connection_send (conn, b);
  EXPECT_UINT (sink->frames->len, 0, "nothing before the source's answer");
  hub_connection_flush (conn);
  EXPECT_UINT (f->pulls, 1, "no second pull while one waits");
  while (f->asked)
    fake_answer (f); /* each answer is written, and pulls again */
  names = written_names ();
  ck_assert_str_eq (names, "S00 S01 S02 S03 B__");
  ck_assert (f->released);
}
END_TEST

/* A close before the source began: what was queued before it goes, then
 * the close; nothing of the source or behind it. */
START_TEST (test_close_cuts_the_source)
{
  g_autoptr (FakeSource) f = fake_new (6, 60);
  g_autoptr (HubFrame) a = named_frame ("A__");
  g_autoptr (HubFrame) b = named_frame ("B__");
  g_autofree char *names = NULL;

  sink->blocked = TRUE;
  hub_connection_send (conn, a);
  hub_connection_set_source (conn, &fake_source, f);
  hub_connection_send (conn, b);
  hub_connection_close (conn, 1001, "going away");
  ck_assert_msg (f->released && f->pulls == 0, "released, never pulled");
  hub_memory_sink_unblock (sink);
  names = written_names ();
  ck_assert_str_eq (names, "A__");
  ck_assert_msg (sink->closed && sink->close_code == 1001, "then the close");
}
END_TEST

START_TEST (test_close_cuts_the_source_halfway)
{
  g_autoptr (FakeSource) f = fake_new (6, 60);
  g_autoptr (HubFrame) a = named_frame ("A__");
  g_autoptr (HubFrame) b = named_frame ("B__");
  g_autofree char *names = NULL;

  f->async = TRUE;
  sink->auto_flush = TRUE;
  hub_connection_send (conn, a); /* written at once */
  hub_connection_set_source (conn, &fake_source, f);
  fake_answer (f); /* S00 written, pulls again */
  sink->blocked = TRUE;
  fake_answer (f);               /* S01 waits for the sink */
  hub_connection_send (conn, b); /* behind the source */
  hub_connection_close (conn, 4002, "liveness timeout");
  ck_assert_msg (f->released, "the source stops at the close");
  hub_memory_sink_unblock (sink);
  names = written_names ();
  ck_assert_str_eq (names, "A__ S00 S01");
  ck_assert_msg (sink->closed && sink->close_code == 4002, "then the close");
}
END_TEST

START_TEST (test_detach_releases_the_source)
{
  g_autoptr (FakeSource) f = fake_new (3, 30);

  f->async = TRUE;
  hub_connection_set_source (conn, &fake_source, f);
  hub_connection_detach (conn);
  ck_assert (f->released);
}
END_TEST

static Suite *
connection_suite (void)
{
  Suite *s = suite_create ("connection");
  struct {
    const char *name;
    const TTest *tests[12];
  } cases[] = {
      {"identity", {test_new_defaults, test_authenticate_copies, test_authenticate_not_admin}},
      {"send",
       {test_write_through, test_queue_when_blocked, test_writable_once_per_transition,
        test_flush_fifo, test_flush_blocked_asks_again, test_send_behind_queue_keeps_order,
        test_exact_fit_is_queued, test_order_across_partial_flushes_and_growth}},
      {"ephemeral",
       {test_ephemeral_dropped_over_half, test_ephemeral_at_exactly_half_queued,
        test_ephemeral_written_when_sink_open, test_ephemeral_under_half_not_fitting_closes}},
      {"slow-consumer",
       {test_overflow_closes_4009, test_oversized_frame_offered_first,
        test_oversized_frame_refused_closes}},
      {"close",
       {test_close_empty_queue_at_once, test_close_first_wins_once, test_close_after_flush,
        test_close_partial_flush_waits, test_close_4009_discards_queue}},
      {"detach", {test_detach, test_detach_while_closing, test_unref_with_queue}},
      {"source",
       {test_source_takes_its_place, test_source_paced_and_not_counted,
        test_source_frames_behind_count_as_usual, test_source_answers_later,
        test_close_cuts_the_source, test_close_cuts_the_source_halfway,
        test_detach_releases_the_source}},
      {"misc",
       {test_ping, test_ping_null_callback, test_counters_and_activity, test_bytes_out_after_flush,
        test_subscriptions_set, test_hello_timer, test_rate_limiter_unlimited_by_default,
        test_refcount_and_shared_frame}},
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
  SRunner *sr = srunner_create (connection_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

/* test-history.c: HubHistory's ring: storage, wrap-around, eviction, the
 * `complete` flag at its boundaries, the query limit, pages bounded in bytes
 * with `more`, and the byte bounds per room and in a pool (PROTOCOL.md §6). */
#include <check.h>
#include <string.h>

#include "hub-memory-sink.h"

#define EXPECT_UINT(actual, expected, what)                                                        \
  ck_assert_msg ((guint64)(actual) == (guint64)(expected),                                         \
                 "%s: expected %" G_GUINT64_FORMAT ", got %" G_GUINT64_FORMAT, what,               \
                 (guint64)(expected), (guint64)(actual))
#define EXPECT_INT(actual, expected, what)                                                         \
  ck_assert_msg ((gint64)(actual) == (gint64)(expected),                                           \
                 "%s: expected %" G_GINT64_FORMAT ", got %" G_GINT64_FORMAT, what,                 \
                 (gint64)(expected), (gint64)(actual))

static HubHistory *history;

static void
teardown (void)
{
  g_clear_pointer (&history, hub_history_free);
}

static HubFrame *
message (gint64 seq)
{
  g_autofree char *json =
      g_strdup_printf ("{\"type\":\"message\",\"seq\":%" G_GINT64_FORMAT "}", seq);

  return hub_frame_new (json, strlen (json), HUB_FRAME_FLAG_NONE);
}

static void
push (gint64 seq)
{
  g_autoptr (HubFrame) frame = message (seq);

  hub_history_push (history, seq, frame);
}

static void
push_range (gint64 from, gint64 to)
{
  for (gint64 seq = from; seq <= to; seq++)
    push (seq);
}

/* The seq written in a stored frame. */
static gint64
seq_of (GPtrArray *frames, guint i)
{
  const char *json = hub_frame_payload (g_ptr_array_index (frames, i), NULL);
  const char *p = strstr (json, "\"seq\":");

  ck_assert_ptr_nonnull (p);
  return g_ascii_strtoll (p + 6, NULL, 10);
}

/* Asserts that @frames hold the seqs @from..@to ascending. */
static void
expect_seqs (GPtrArray *frames, gint64 from, gint64 to)
{
  EXPECT_UINT (frames->len, to - from + 1, "number of frames returned");
  for (guint i = 0; i < frames->len; i++)
    EXPECT_INT (seq_of (frames, i), from + i, "seq of returned frame");
}

START_TEST (test_empty)
{
  gboolean complete = FALSE;

  history = hub_history_new (5);
  EXPECT_UINT (hub_history_length (history), 0, "length");
  EXPECT_UINT (hub_history_capacity (history), 5, "capacity");
  EXPECT_INT (hub_history_first_seq (history), 0, "first seq when empty");
  EXPECT_INT (hub_history_last_seq (history), 0, "last seq when empty");
  g_autoptr (GPtrArray) out = hub_history_query (history, 0, 50, &complete);
  EXPECT_UINT (out->len, 0, "nothing stored");
  ck_assert_msg (complete, "nothing ever evicted: complete");
}
END_TEST

START_TEST (test_partial)
{
  gboolean complete = FALSE;

  history = hub_history_new (5);
  push_range (1, 3);
  EXPECT_UINT (hub_history_length (history), 3, "length");
  EXPECT_INT (hub_history_first_seq (history), 1, "first seq");
  EXPECT_INT (hub_history_last_seq (history), 3, "last seq");
  g_autoptr (GPtrArray) all = hub_history_query (history, 0, 50, &complete);
  expect_seqs (all, 1, 3);
  ck_assert_msg (complete, "complete before any eviction");
  g_autoptr (GPtrArray) tail = hub_history_query (history, 1, 50, &complete);
  expect_seqs (tail, 2, 3);
}
END_TEST

START_TEST (test_same_frame_pointer)
{
  g_autoptr (HubFrame) frame = message (1);
  gboolean complete;

  history = hub_history_new (3);
  hub_history_push (history, 1, frame);
  g_autoptr (GPtrArray) out = hub_history_query (history, 0, 10, &complete);
  ck_assert_ptr_eq (g_ptr_array_index (out, 0), frame);
}
END_TEST

START_TEST (test_wrap_around)
{
  gboolean complete;

  history = hub_history_new (4);
  push_range (1, 10);
  EXPECT_UINT (hub_history_length (history), 4, "length capped at capacity");
  EXPECT_INT (hub_history_first_seq (history), 7, "first seq after wrapping");
  EXPECT_INT (hub_history_last_seq (history), 10, "last seq after wrapping");
  g_autoptr (GPtrArray) out = hub_history_query (history, 6, 50, &complete);
  expect_seqs (out, 7, 10);
  g_autoptr (GPtrArray) mid = hub_history_query (history, 8, 50, &complete);
  expect_seqs (mid, 9, 10);
}
END_TEST

START_TEST (test_complete_boundaries)
{
  gboolean complete;

  /* Capacity 5, seqs 1..8: 1, 2, 3 evicted, 4..8 stored. */
  history = hub_history_new (5);
  push_range (1, 8);

  g_autoptr (GPtrArray) a = hub_history_query (history, 2, 50, &complete);
  ck_assert_msg (!complete, "since = evicted-1: seq 3 was evicted, not complete");
  expect_seqs (a, 4, 8);

  g_autoptr (GPtrArray) b = hub_history_query (history, 3, 50, &complete);
  ck_assert_msg (complete, "since = highest evicted: nothing newer was lost");
  expect_seqs (b, 4, 8);

  g_autoptr (GPtrArray) c = hub_history_query (history, 8, 50, &complete);
  ck_assert_msg (complete, "since = last seq: complete");
  EXPECT_UINT (c->len, 0, "nothing after the last seq");

  g_autoptr (GPtrArray) d = hub_history_query (history, 100, 50, &complete);
  ck_assert_msg (complete, "since > last: complete");
  EXPECT_UINT (d->len, 0, "nothing after a future seq");

  g_autoptr (GPtrArray) e = hub_history_query (history, 0, 50, &complete);
  ck_assert_msg (!complete, "since 0 after eviction: incomplete");
  expect_seqs (e, 4, 8);
}
END_TEST

START_TEST (test_limit_oldest_first)
{
  gboolean complete;

  history = hub_history_new (10);
  push_range (1, 10);
  g_autoptr (GPtrArray) out = hub_history_query (history, 2, 3, &complete);
  expect_seqs (out, 3, 5);
  ck_assert_msg (complete, "limit does not make it incomplete");
  g_autoptr (GPtrArray) none = hub_history_query (history, 0, 0, &complete);
  EXPECT_UINT (none->len, 0, "limit 0 returns nothing");
}
END_TEST

START_TEST (test_limit_after_wrap)
{
  gboolean complete;

  history = hub_history_new (4);
  push_range (1, 6); /* stored 3..6 */
  g_autoptr (GPtrArray) out = hub_history_query (history, 0, 2, &complete);
  expect_seqs (out, 3, 4);
  ck_assert_msg (!complete, "1 and 2 evicted");
}
END_TEST

START_TEST (test_capacity_zero)
{
  gboolean complete = TRUE;

  history = hub_history_new (0);
  push_range (1, 3);
  EXPECT_UINT (hub_history_length (history), 0, "capacity 0 keeps nothing");
  EXPECT_INT (hub_history_first_seq (history), 0, "first seq");
  EXPECT_INT (hub_history_last_seq (history), 0, "last seq");
  g_autoptr (GPtrArray) out = hub_history_query (history, 0, 50, &complete);
  EXPECT_UINT (out->len, 0, "nothing returned");
  ck_assert_msg (!complete, "every message was evicted");
  g_autoptr (GPtrArray) after = hub_history_query (history, 3, 50, &complete);
  ck_assert_msg (complete, "nothing after seq 3 was evicted");
}
END_TEST

START_TEST (test_capacity_one)
{
  gboolean complete;

  history = hub_history_new (1);
  push_range (1, 3);
  EXPECT_INT (hub_history_first_seq (history), 3, "only the newest");
  g_autoptr (GPtrArray) out = hub_history_query (history, 1, 50, &complete);
  expect_seqs (out, 3, 3);
  ck_assert_msg (!complete, "seq 2 evicted");
}
END_TEST

START_TEST (test_gaps_in_seq)
{
  gboolean complete;

  history = hub_history_new (5);
  push (2);
  push (5);
  push (9);
  push (10);
  g_autoptr (GPtrArray) out = hub_history_query (history, 5, 50, &complete);
  EXPECT_UINT (out->len, 2, "seqs above 5");
  EXPECT_INT (seq_of (out, 0), 9, "first above 5");
  EXPECT_INT (seq_of (out, 1), 10, "second above 5");
  g_autoptr (GPtrArray) between = hub_history_query (history, 6, 50, &complete);
  EXPECT_INT (seq_of (between, 0), 9, "since between stored seqs");
  ck_assert_msg (complete, "nothing evicted");
}
END_TEST

START_TEST (test_complete_with_gaps_and_eviction)
{
  gboolean complete;

  history = hub_history_new (2);
  push (10);
  push (20);
  push (30); /* evicts 10 */
  g_ptr_array_unref (hub_history_query (history, 9, 50, &complete));
  ck_assert_msg (!complete, "10 > 9 was evicted");
  g_autoptr (GPtrArray) out = hub_history_query (history, 15, 50, &complete);
  ck_assert_msg (complete, "everything above 15 is stored");
  EXPECT_UINT (out->len, 2, "20 and 30");
  EXPECT_INT (seq_of (out, 0), 20, "oldest first");
  EXPECT_INT (seq_of (out, 1), 30, "then the newest");
  g_ptr_array_unref (hub_history_query (history, 9, 50, NULL)); /* complete is optional */
}
END_TEST

START_TEST (test_query_holds_refs)
{
  gboolean complete;
  GPtrArray *out;

  history = hub_history_new (2);
  push_range (1, 2);
  out = hub_history_query (history, 0, 50, &complete);
  /* Freeing the history keeps the returned frames alive. */
  hub_history_free (history);
  history = NULL;
  expect_seqs (out, 1, 2);
  g_ptr_array_unref (out);
}
END_TEST

START_TEST (test_query_all_stored_ranges)
{
  /* Every since against a wrapped ring of capacity 7 holding 14..20. */
  history = hub_history_new (7);
  push_range (1, 20);
  for (gint64 since = 0; since <= 21; since++) {
    gboolean complete;
    g_autoptr (GPtrArray) out = hub_history_query (history, since, 100, &complete);
    gint64 from = MAX (since + 1, 14);

    if (from > 20)
      EXPECT_UINT (out->len, 0, "nothing after the last");
    else
      expect_seqs (out, from, 20);
    ck_assert_msg (complete == (since >= 13), "complete iff since >= 13 (since %d)", (int)since);
  }
}
END_TEST

/* ---- bytes (PROTOCOL.md §6, §8: bounded, oldest first, complete honest) ---- */

/* A message frame of exactly @len bytes (≥ 40) with @seq. */
static HubFrame *
sized (gint64 seq, gsize len)
{
  g_autofree char *head =
      g_strdup_printf ("{\"type\":\"message\",\"seq\":%" G_GINT64_FORMAT ",\"p\":\"", seq);
  g_autofree char *pad = g_strnfill (len - strlen (head) - 2, 'x');
  g_autofree char *json = g_strconcat (head, pad, "\"}", NULL);

  g_assert (strlen (json) == len);
  return hub_frame_new (json, len, HUB_FRAME_FLAG_NONE);
}

static void
push_sized (HubHistory *h, gint64 seq, gsize len)
{
  g_autoptr (HubFrame) frame = sized (seq, len);

  hub_history_push (h, seq, frame);
}

START_TEST (test_page_bytes_and_more)
{
  HubHistoryPage page = {.since = 0, .limit = 100, .max_bytes = 250};
  gboolean complete = FALSE, more = FALSE;

  history = hub_history_new (10);
  for (gint64 seq = 1; seq <= 5; seq++)
    push_sized (history, seq, 100);
  {
    g_autoptr (GPtrArray) two = hub_history_page (history, &page, &complete, &more);

    expect_seqs (two, 1, 2);
    ck_assert_msg (complete && more, "2 of 250 bytes, more after them");
  }
  page.max_bytes = 50;
  {
    g_autoptr (GPtrArray) one = hub_history_page (history, &page, NULL, &more);

    expect_seqs (one, 1, 1);
    ck_assert_msg (more, "one at least, even over the bytes");
  }
  page.strict = TRUE;
  {
    g_autoptr (GPtrArray) none = hub_history_page (history, &page, NULL, &more);

    EXPECT_UINT (none->len, 0, "strict: not even one over the bytes");
    ck_assert (more);
  }
  page = (HubHistoryPage){.since = 1, .until = 3, .limit = 100};
  {
    g_autoptr (GPtrArray) upto = hub_history_page (history, &page, NULL, &more);

    expect_seqs (upto, 2, 3);
    ck_assert_msg (!more, "nothing left out up to until");
  }
  page = (HubHistoryPage){.since = 3, .limit = 1};
  {
    g_autoptr (GPtrArray) last = hub_history_page (history, &page, NULL, &more);

    expect_seqs (last, 4, 4);
    ck_assert_msg (more, "the limit left seq 5 out");
    EXPECT_INT (hub_history_first_after (history, 3), 4, "first after 3");
    EXPECT_INT (hub_history_first_after (history, 5), 0, "none after the last");
  }
}
END_TEST

START_TEST (test_room_bytes_evict_oldest)
{
  gboolean complete = TRUE;

  history = hub_history_new_bounded (100, 250, NULL);
  for (gint64 seq = 1; seq <= 5; seq++)
    push_sized (history, seq, 100);
  EXPECT_UINT (hub_history_length (history), 2, "250 bytes hold two of 100");
  EXPECT_UINT (hub_history_bytes (history), 200, "bytes held");
  EXPECT_INT (hub_history_first_seq (history), 4, "the newest stay");
  g_autoptr (GPtrArray) from2 = hub_history_query (history, 2, 10, &complete);
  ck_assert_msg (!complete, "seq 3 went for bytes: incomplete");
  g_autoptr (GPtrArray) from3 = hub_history_query (history, 3, 10, &complete);
  ck_assert_msg (complete, "nothing after 3 went");
  expect_seqs (from3, 4, 5);
}
END_TEST

START_TEST (test_message_over_room_bytes)
{
  gboolean complete = TRUE;

  history = hub_history_new_bounded (10, 50, NULL);
  push_sized (history, 1, 100);
  EXPECT_UINT (hub_history_length (history), 0, "larger than the room's bound: not kept");
  EXPECT_UINT (hub_history_bytes (history), 0, "no bytes");
  g_autoptr (GPtrArray) out = hub_history_query (history, 0, 10, &complete);
  ck_assert_msg (!complete, "and told");
}
END_TEST

START_TEST (test_pool_evicts_oldest_of_any_room)
{
  g_autoptr (HubHistoryPool) pool = hub_history_pool_new (500);
  HubHistory *a = hub_history_new_bounded (100, 0, pool);
  HubHistory *b = hub_history_new_bounded (100, 0, pool);
  gboolean complete = TRUE;

  for (gint64 seq = 1; seq <= 3; seq++) {
    push_sized (a, seq, 100);
    push_sized (b, seq, 100);
  }
  EXPECT_UINT (hub_history_pool_bytes (pool), 500, "600 pushed, 500 kept");
  EXPECT_INT (hub_history_first_seq (a), 2, "a's seq 1 was the oldest of all");
  EXPECT_INT (hub_history_first_seq (b), 1, "b keeps all three");
  push_sized (b, 4, 100);
  EXPECT_INT (hub_history_first_seq (b), 2, "then b's seq 1");
  EXPECT_INT (hub_history_first_seq (a), 2, "a untouched");
  {
    g_autoptr (GPtrArray) out = hub_history_query (a, 0, 10, &complete);

    ck_assert_msg (!complete, "a's seq 1 went: incomplete");
    expect_seqs (out, 2, 3);
  }
  hub_history_free (a);
  EXPECT_UINT (hub_history_pool_bytes (pool), 300, "a's bytes left the pool with it");
  push_sized (b, 5, 300);
  EXPECT_UINT (hub_history_pool_bytes (pool), 500, "b's oldest went for the new one");
  EXPECT_INT (hub_history_first_seq (b), 3, "seq 2 evicted");
  hub_history_free (b);
  EXPECT_UINT (hub_history_pool_bytes (pool), 0, "empty");
}
END_TEST

static Suite *
history_suite (void)
{
  Suite *s = suite_create ("history");
  struct {
    const char *name;
    const TTest *tests[8];
  } cases[] = {
      {"store", {test_empty, test_partial, test_same_frame_pointer, test_query_holds_refs}},
      {"wrap", {test_wrap_around, test_capacity_one, test_query_all_stored_ranges}},
      {"complete",
       {test_complete_boundaries, test_capacity_zero, test_complete_with_gaps_and_eviction}},
      {"limit", {test_limit_oldest_first, test_limit_after_wrap}},
      {"gaps", {test_gaps_in_seq}},
      {"bytes",
       {test_page_bytes_and_more, test_room_bytes_evict_oldest, test_message_over_room_bytes,
        test_pool_evicts_oldest_of_any_room}},
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_checked_fixture (tc, NULL, teardown);
    for (gsize j = 0; j < G_N_ELEMENTS (cases[i].tests) && cases[i].tests[j] != NULL; j++)
      tcase_add_test (tc, cases[i].tests[j]);
    suite_add_tcase (s, tc);
  }
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (history_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

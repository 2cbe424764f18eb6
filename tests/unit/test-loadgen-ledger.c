/* test-loadgen-ledger.c: hub-loadgen's delivery accounting: what a device
 * must receive (everything after its join reply's seq, up to the room's
 * final seq), and how gaps, late arrivals, duplicates, receipts before the
 * join, incomplete resumes and the tail are told apart and located. */
#include <check.h>

#include "hub-lg-ledger.h"

typedef struct {
  HubLgMissKind kind;
  gint64 from, to;
} Miss;

static GArray *misses;

static void
collect (const HubLgSub *sub, HubLgMissKind kind, gint64 from, gint64 to, gpointer user_data)
{
  Miss m = {kind, from, to};

  g_array_append_val (misses, m);
}

static void
setup (void)
{
  misses = g_array_new (FALSE, FALSE, sizeof (Miss));
}

static void
teardown (void)
{
  g_array_unref (misses);
}

static void
expect_miss (guint i, HubLgMissKind kind, gint64 from, gint64 to)
{
  Miss *m;

  ck_assert_msg (i < misses->len, "miss %u should exist (only %u)", i, misses->len);
  m = &g_array_index (misses, Miss, i);
  ck_assert_msg (m->kind == kind && m->from == from && m->to == to,
                 "miss %u should be %s %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT
                 ", got %s %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT,
                 i, hub_lg_miss_kind_name (kind), from, to, hub_lg_miss_kind_name (m->kind),
                 m->from, m->to);
}

/* expected = received + lost + evicted must always hold. */
static void
check_balance (const HubLgTally *t)
{
  ck_assert_msg (t->expected == t->received + t->lost + t->evicted,
                 "expected %" G_GUINT64_FORMAT " = received %" G_GUINT64_FORMAT
                 " + lost %" G_GUINT64_FORMAT " + evicted %" G_GUINT64_FORMAT,
                 t->expected, t->received, t->lost, t->evicted);
}

START_TEST (test_in_order_is_complete)
{
  HubLgSub sub;
  HubLgTally t = {0};

  hub_lg_sub_init (&sub, 7, 3);
  hub_lg_sub_set_baseline (&sub, 10);
  for (gint64 s = 11; s <= 20; s++)
    ck_assert_msg (hub_lg_sub_receive (&sub, s) == HUB_LG_RECEIPT_IN_ORDER,
                   "seq %" G_GINT64_FORMAT " is the next one", s);
  ck_assert_msg (hub_lg_sub_pending (&sub, 20) == 0, "nothing pending at the final seq");
  ck_assert_msg (hub_lg_sub_pending (&sub, 25) == 5, "5 pending when the room reached 25");
  hub_lg_sub_tally (&sub, 20, &t, collect, NULL);
  ck_assert_msg (t.expected == 10 && t.received == 10 && t.lost == 0, "10 expected, 10 received");
  ck_assert_msg (misses->len == 0, "no miss");
  ck_assert_msg (t.subscriptions == 1 && t.joined == 1, "one joined subscription");
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

START_TEST (test_tail_is_lost)
{
  HubLgSub sub;
  HubLgTally t = {0};

  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_set_baseline (&sub, 0);
  hub_lg_sub_receive (&sub, 1);
  hub_lg_sub_receive (&sub, 2);
  hub_lg_sub_tally (&sub, 5, &t, collect, NULL);
  ck_assert_msg (t.expected == 5 && t.received == 2 && t.lost == 3, "3 of 5 lost at the tail");
  ck_assert_msg (misses->len == 1, "one missing range");
  expect_miss (0, HUB_LG_MISS_TAIL, 3, 5);
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

START_TEST (test_gap_then_late)
{
  HubLgSub sub;
  HubLgTally t = {0};

  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_set_baseline (&sub, 0);
  ck_assert (hub_lg_sub_receive (&sub, 1) == HUB_LG_RECEIPT_IN_ORDER);
  ck_assert_msg (hub_lg_sub_receive (&sub, 5) == HUB_LG_RECEIPT_GAP, "5 after 1 skips 2-4");
  ck_assert_msg (hub_lg_sub_receive (&sub, 3) == HUB_LG_RECEIPT_LATE, "3 fills part of the hole");
  ck_assert_msg (hub_lg_sub_receive (&sub, 3) == HUB_LG_RECEIPT_DUPLICATE,
                 "3 again is a duplicate");
  ck_assert_msg (hub_lg_sub_receive (&sub, 6) == HUB_LG_RECEIPT_IN_ORDER, "6 follows 5");
  hub_lg_sub_tally (&sub, 6, &t, collect, NULL);
  ck_assert_msg (t.received == 4 && t.lost == 2 && t.out_of_order == 1 && t.duplicates == 1,
                 "received 1,3,5,6; lost 2 and 4; one late, one duplicate");
  ck_assert_msg (misses->len == 2, "two holes left, got %u", misses->len);
  expect_miss (0, HUB_LG_MISS_HOLE, 2, 2);
  expect_miss (1, HUB_LG_MISS_HOLE, 4, 4);
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

START_TEST (test_duplicates_and_old_seqs)
{
  HubLgSub sub;
  HubLgTally t = {0};

  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_set_baseline (&sub, 10);
  ck_assert_msg (hub_lg_sub_receive (&sub, 10) == HUB_LG_RECEIPT_DUPLICATE,
                 "the baseline seq itself is not expected again");
  ck_assert_msg (hub_lg_sub_receive (&sub, 4) == HUB_LG_RECEIPT_DUPLICATE,
                 "a seq below the baseline after the join is a duplicate");
  hub_lg_sub_receive (&sub, 11);
  ck_assert_msg (hub_lg_sub_receive (&sub, 11) == HUB_LG_RECEIPT_DUPLICATE, "11 twice");
  hub_lg_sub_tally (&sub, 11, &t, collect, NULL);
  ck_assert_msg (t.received == 1 && t.duplicates == 3 && t.lost == 0, "1 received, 3 duplicates");
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

START_TEST (test_before_join_not_expected)
{
  HubLgSub sub, never;
  HubLgTally t = {0};

  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_init (&never, 2, 1);
  ck_assert_msg (hub_lg_sub_receive (&sub, 3) == HUB_LG_RECEIPT_EARLY,
                 "a message before the join reply is early");
  ck_assert_msg (hub_lg_sub_pending (&sub, 10) == 0, "nothing is due before the join");
  hub_lg_sub_set_baseline (&sub, 3);
  hub_lg_sub_set_baseline (&sub, 8);
  ck_assert_msg (sub.baseline == 3, "a second join reply does not move the baseline");
  hub_lg_sub_receive (&sub, 4);
  hub_lg_sub_tally (&sub, 4, &t, collect, NULL);
  hub_lg_sub_tally (&never, 4, &t, collect, NULL);
  ck_assert_msg (t.expected == 1 && t.received == 1 && t.early == 1,
                 "only seq 4 was expected; the early one is counted apart");
  ck_assert_msg (t.subscriptions == 2 && t.joined == 1,
                 "a subscription that never joined expects nothing");
  check_balance (&t);
  hub_lg_sub_clear (&sub);
  hub_lg_sub_clear (&never);
}
END_TEST

START_TEST (test_resume_replay)
{
  HubLgSub sub;
  HubLgTally t = {0};

  /* Live 1-3, connection lost, replay 4-6 then live 7-8: complete. */
  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_set_baseline (&sub, 0);
  for (gint64 s = 1; s <= 3; s++)
    hub_lg_sub_receive (&sub, s);
  sub.replaying = TRUE;
  for (gint64 s = 4; s <= 6; s++)
    ck_assert (hub_lg_sub_receive (&sub, s) == HUB_LG_RECEIPT_IN_ORDER);
  hub_lg_sub_resumed (&sub, 4, 6, TRUE);
  ck_assert_msg (!sub.replaying, "resumed ends the replay");
  hub_lg_sub_receive (&sub, 7);
  hub_lg_sub_receive (&sub, 8);
  hub_lg_sub_tally (&sub, 8, &t, collect, NULL);
  ck_assert_msg (t.expected == 8 && t.received == 8 && t.lost == 0 && t.evicted == 0,
                 "a complete resume loses nothing");
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

/* The order on the wire (§6): the replay, then `resumed`. The first replayed
 * seq leaves a hole below it, which `resumed` complete:false turns into the
 * evicted range (it was counted lost). */
START_TEST (test_incomplete_resume_after_its_replay_is_evicted)
{
  HubLgSub sub;
  HubLgTally t = {0};

  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_set_baseline (&sub, 0);
  hub_lg_sub_receive (&sub, 1);
  hub_lg_sub_receive (&sub, 2);
  /* Away; a hole from before (4) stays a hole. */
  hub_lg_sub_receive (&sub, 5);
  hub_lg_sub_begin_replay (&sub);
  ck_assert_msg (sub.replaying, "the welcome starts the replay");
  ck_assert (hub_lg_sub_receive (&sub, 10) == HUB_LG_RECEIPT_GAP);
  hub_lg_sub_receive (&sub, 11);
  hub_lg_sub_receive (&sub, 12);
  hub_lg_sub_resumed (&sub, 10, 12, FALSE);
  ck_assert_msg (!sub.replaying, "resumed ends the replay");
  hub_lg_sub_receive (&sub, 13);
  hub_lg_sub_tally (&sub, 13, &t, collect, NULL);
  ck_assert_msg (t.evicted == 4, "6-9 are unrecoverable by design, got %" G_GUINT64_FORMAT,
                 t.evicted);
  ck_assert_msg (t.lost == 2, "3 and 4 (skipped before) are lost, got %" G_GUINT64_FORMAT, t.lost);
  ck_assert_msg (misses->len == 2, "two ranges, got %u", misses->len);
  expect_miss (0, HUB_LG_MISS_HOLE, 3, 4);
  expect_miss (1, HUB_LG_MISS_EVICTED, 6, 9);
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

START_TEST (test_incomplete_resume_is_evicted)
{
  HubLgSub sub;
  HubLgTally t = {0};

  /* Saw 1-2; the history kept only 10 on: resumed from 10, complete:false. */
  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_set_baseline (&sub, 0);
  hub_lg_sub_receive (&sub, 1);
  hub_lg_sub_receive (&sub, 2);
  hub_lg_sub_resumed (&sub, 10, 12, FALSE);
  ck_assert_msg (hub_lg_sub_receive (&sub, 10) == HUB_LG_RECEIPT_IN_ORDER,
                 "the first replayed seq follows the evicted range");
  hub_lg_sub_receive (&sub, 11);
  hub_lg_sub_receive (&sub, 13);
  hub_lg_sub_tally (&sub, 14, &t, collect, NULL);
  ck_assert_msg (t.evicted == 7, "3-9 are unrecoverable by design, got %" G_GUINT64_FORMAT,
                 t.evicted);
  ck_assert_msg (t.lost == 2, "12 (skipped) and 14 (tail) are lost, got %" G_GUINT64_FORMAT,
                 t.lost);
  ck_assert_msg (misses->len == 3, "three ranges, got %u", misses->len);
  expect_miss (0, HUB_LG_MISS_EVICTED, 3, 9);
  expect_miss (1, HUB_LG_MISS_HOLE, 12, 12);
  expect_miss (2, HUB_LG_MISS_TAIL, 14, 14);
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

START_TEST (test_hole_and_eviction_ordering)
{
  HubLgSub sub;
  HubLgTally t = {0};

  /* A hole (2) below an evicted range (5-7), then another hole (9): ranges
   * come out in seq order. */
  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_set_baseline (&sub, 0);
  hub_lg_sub_receive (&sub, 1);
  hub_lg_sub_receive (&sub, 3);
  hub_lg_sub_receive (&sub, 4);
  hub_lg_sub_resumed (&sub, 8, 10, FALSE);
  hub_lg_sub_receive (&sub, 8);
  hub_lg_sub_receive (&sub, 10);
  hub_lg_sub_tally (&sub, 10, &t, collect, NULL);
  ck_assert_msg (misses->len == 3, "three ranges, got %u", misses->len);
  expect_miss (0, HUB_LG_MISS_HOLE, 2, 2);
  expect_miss (1, HUB_LG_MISS_EVICTED, 5, 7);
  expect_miss (2, HUB_LG_MISS_HOLE, 9, 9);
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

START_TEST (test_hole_split_in_the_middle)
{
  HubLgSub sub;
  HubLgTally t = {0};

  hub_lg_sub_init (&sub, 1, 1);
  hub_lg_sub_set_baseline (&sub, 0);
  hub_lg_sub_receive (&sub, 10);
  hub_lg_sub_receive (&sub, 5);
  hub_lg_sub_receive (&sub, 1);
  hub_lg_sub_receive (&sub, 9);
  hub_lg_sub_tally (&sub, 10, &t, collect, NULL);
  ck_assert_msg (t.received == 4 && t.out_of_order == 3 && t.lost == 6,
                 "received 10, 5, 1, 9; lost 2-4 and 6-8");
  ck_assert_msg (misses->len == 2, "two holes, got %u", misses->len);
  expect_miss (0, HUB_LG_MISS_HOLE, 2, 4);
  expect_miss (1, HUB_LG_MISS_HOLE, 6, 8);
  check_balance (&t);
  hub_lg_sub_clear (&sub);
}
END_TEST

START_TEST (test_tally_add)
{
  HubLgTally a = {1, 1, 10, 8, 1, 1, 2, 3, 4}, b = {2, 2, 20, 19, 1, 0, 0, 0, 1};

  hub_lg_tally_add (&a, &b);
  ck_assert_msg (a.subscriptions == 3 && a.expected == 30 && a.received == 27 && a.lost == 2 &&
                     a.evicted == 1 && a.early == 5,
                 "tallies add field by field");
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("loadgen-ledger");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"in-order", test_in_order_is_complete},
      {"tail", test_tail_is_lost},
      {"gap-late", test_gap_then_late},
      {"duplicates", test_duplicates_and_old_seqs},
      {"before-join", test_before_join_not_expected},
      {"resume", test_resume_replay},
      {"evicted", test_incomplete_resume_is_evicted},
      {"evicted_after_its_replay", test_incomplete_resume_after_its_replay_is_evicted},
      {"ordering", test_hole_and_eviction_ordering},
      {"split", test_hole_split_in_the_middle},
      {"tally-add", test_tally_add},
  };
  SRunner *sr;
  int failed;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, cases[i].test);
    suite_add_tcase (s, tc);
  }
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

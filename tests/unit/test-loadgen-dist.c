/* test-loadgen-dist.c: hub-loadgen's random choices and population: device
 * and action distributions, Zipf popularity and distinct weighted draws,
 * exponential gaps, loopback address ranges, and the plan built from them
 * (exact proportions, skewed rooms, clamping, names, repeatability). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "hub-lg-dist.h"
#include "hub-lg-plan.h"

START_TEST (test_discrete_parse)
{
  HubLgDiscrete d;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;

  ck_assert_msg (hub_lg_discrete_parse ("3", &d, &error), "a plain count parses");
  ck_assert_msg (d.n == 1 && hub_lg_discrete_at (&d, 0.7) == 3, "a count is always that count");
  hub_lg_discrete_clear (&d);

  ck_assert_msg (hub_lg_discrete_parse ("1:60, 2:30 ,3:10", &d, &error), "a distribution parses");
  ck_assert_msg (hub_lg_discrete_at (&d, 0.0) == 1 && hub_lg_discrete_at (&d, 0.59) == 1 &&
                     hub_lg_discrete_at (&d, 0.61) == 2 && hub_lg_discrete_at (&d, 0.95) == 3,
                 "the inverse CDF follows the weights");
  ck_assert_msg (fabs (hub_lg_discrete_mean (&d) - 1.5) < 1e-9, "mean 1·.6+2·.3+3·.1 = 1.5");
  ck_assert_msg (hub_lg_discrete_max (&d) == 3, "max value 3");
  text = hub_lg_discrete_to_string (&d);
  ck_assert_msg (strcmp (text, "1:60,2:30,3:10") == 0, "round trip, got %s", text);
  hub_lg_discrete_clear (&d);

  ck_assert_msg (hub_lg_discrete_parse ("2:1,4:3", &d, NULL), "weights need not add to 100");
  ck_assert_msg (hub_lg_discrete_at (&d, 0.26) == 4, "2:1,4:3 is 25%% twos");
  hub_lg_discrete_clear (&d);

  for (guint i = 0; i < 6; i++) {
    const char *bad[] = {"", "0", "a", "1:0", "1,2", "1:-3"};

    ck_assert_msg (!hub_lg_discrete_parse (bad[i], &d, &error), "'%s' is refused", bad[i]);
    ck_assert_msg (g_error_matches (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE),
                   "with a bad-value error");
    g_clear_error (&error);
  }
}
END_TEST

START_TEST (test_mix)
{
  HubLgMix mix;
  g_autoptr (GError) error = NULL;
  guint counts[HUB_LG_N_ACTIONS] = {0};

  ck_assert (hub_lg_mix_parse ("publish=90,direct=5,typing=4,status=1", &mix, &error));
  ck_assert_msg (fabs (mix.share[HUB_LG_ACTION_PUBLISH] - 0.9) < 1e-9 &&
                     fabs (mix.share[HUB_LG_ACTION_STATUS] - 0.01) < 1e-9,
                 "shares are normalised");
  for (guint i = 0; i < 1000; i++)
    counts[hub_lg_mix_pick (&mix, (i + 0.5) / 1000)]++;
  ck_assert_msg (counts[HUB_LG_ACTION_PUBLISH] == 900 && counts[HUB_LG_ACTION_DIRECT] == 50 &&
                     counts[HUB_LG_ACTION_TYPING] == 40 && counts[HUB_LG_ACTION_STATUS] == 10,
                 "evenly spread draws follow the shares exactly (%u %u %u %u)", counts[0],
                 counts[1], counts[2], counts[3]);
  ck_assert (hub_lg_mix_parse ("typing=1", &mix, NULL));
  ck_assert_msg (hub_lg_mix_pick (&mix, 0.0) == HUB_LG_ACTION_TYPING &&
                     hub_lg_mix_pick (&mix, 0.999999) == HUB_LG_ACTION_TYPING,
                 "a single action is always picked");
  ck_assert_msg (!hub_lg_mix_parse ("publish=0", &mix, NULL), "all-zero weights are refused");
  ck_assert_msg (!hub_lg_mix_parse ("shout=3", &mix, NULL), "unknown actions are refused");
  ck_assert_msg (!hub_lg_mix_parse ("publish", &mix, NULL), "a name without weight is refused");
  ck_assert_msg (strcmp (hub_lg_action_name (HUB_LG_ACTION_DIRECT), "direct") == 0, "names");
}
END_TEST

START_TEST (test_zipf)
{
  HubLgWeights w;
  double total = 0;

  hub_lg_weights_init_zipf (&w, 4, 1.0);
  /* 1, 1/2, 1/3, 1/4 over 25/12. */
  ck_assert_msg (fabs (hub_lg_weights_probability (&w, 0) - 12.0 / 25) < 1e-9, "p(0) = 12/25");
  ck_assert_msg (fabs (hub_lg_weights_probability (&w, 3) - 3.0 / 25) < 1e-9, "p(3) = 3/25");
  for (guint i = 0; i < 4; i++)
    total += hub_lg_weights_probability (&w, i);
  ck_assert_msg (fabs (total - 1) < 1e-9, "probabilities add to 1");
  ck_assert_msg (hub_lg_weights_at (&w, 0.47) == 0 && hub_lg_weights_at (&w, 0.49) == 1,
                 "the inverse CDF");
  hub_lg_weights_clear (&w);
  hub_lg_weights_init_zipf (&w, 5, 0.0);
  ck_assert_msg (fabs (hub_lg_weights_probability (&w, 4) - 0.2) < 1e-9, "skew 0 is uniform");
  hub_lg_weights_clear (&w);
}
END_TEST

START_TEST (test_sample_distinct)
{
  HubLgWeights w;
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  guint out[20], firsts = 0;

  hub_lg_weights_init_zipf (&w, 100, 1.2);
  for (guint trial = 0; trial < 200; trial++) {
    guint n = hub_lg_weights_sample_distinct (&w, rand, 10, out);

    ck_assert_msg (n == 10, "10 drawn");
    for (guint i = 1; i < n; i++)
      ck_assert_msg (out[i - 1] < out[i], "distinct and ascending");
    firsts += out[0] == 0;
  }
  ck_assert_msg (firsts > 150, "the most popular item is nearly always drawn (%u/200)", firsts);
  hub_lg_weights_clear (&w);
  hub_lg_weights_init_zipf (&w, 5, 3.0);
  ck_assert_msg (hub_lg_weights_sample_distinct (&w, rand, 20, out) == 5,
                 "asking more than there are gives them all");
  for (guint i = 0; i < 5; i++)
    ck_assert_msg (out[i] == i, "all five, sorted");
  hub_lg_weights_clear (&w);
}
END_TEST

START_TEST (test_exponential)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  double sum = 0;
  const guint n = 100000;

  ck_assert_msg (hub_lg_exponential (2.0, 0.0) == 0, "u = 0 is a zero gap");
  ck_assert_msg (fabs (hub_lg_exponential (1.0, 1 - exp (-1)) - 1.0) < 1e-9, "the inverse CDF");
  for (guint i = 0; i < n; i++)
    sum += hub_lg_exponential (5.0, g_rand_double (rand));
  ck_assert_msg (fabs (sum / n - 5.0) < 0.1, "the mean gap is 5 (got %f)", sum / n);
}
END_TEST

START_TEST (test_addresses)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) a =
      hub_lg_addresses_parse ("127.0.0.1-127.0.0.3, 127.0.1.255-127.0.2.1", &error);

  ck_assert_msg (a != NULL, "ranges parse: %s", error ? error->message : "");
  ck_assert_msg (a->len == 6, "3 + 3 addresses, got %u", a->len);
  ck_assert_str_eq (g_ptr_array_index (a, 0), "127.0.0.1");
  ck_assert_str_eq (g_ptr_array_index (a, 2), "127.0.0.3");
  ck_assert_str_eq (g_ptr_array_index (a, 4), "127.0.2.0");
  ck_assert_msg (hub_lg_addresses_parse ("10.0.0.1", &error) == NULL,
                 "addresses outside 127.0.0.0/8 are refused");
  g_clear_error (&error);
  ck_assert_msg (hub_lg_addresses_parse ("127.0.0.9-127.0.0.2", &error) == NULL,
                 "a descending range is refused");
  g_clear_error (&error);
  ck_assert_msg (hub_lg_addresses_parse ("localhost", &error) == NULL, "names are refused");
}
END_TEST

START_TEST (test_plan)
{
  HubLgDiscrete d;
  g_autoptr (HubLgPlan) plan = NULL;
  g_autoptr (HubLgPlan) again = NULL;
  guint by_count[4] = {0};
  g_autofree char *user = NULL, *room = NULL;

  hub_lg_discrete_parse ("1:60,2:30,3:10", &d, NULL);
  plan = hub_lg_plan_new ("t-", 100, &d, 50, 3, 1.0, 99, 0);
  ck_assert_msg (plan->n_users == 100 && plan->rooms_per_user == 3, "100 users, 3 rooms each");
  for (guint u = 0; u < 100; u++)
    by_count[plan->user_devices[u]]++;
  ck_assert_msg (by_count[1] == 60 && by_count[2] == 30 && by_count[3] == 10,
                 "device counts in exact proportions (%u %u %u)", by_count[1], by_count[2],
                 by_count[3]);
  ck_assert_msg (plan->n_devices == 150, "150 devices, got %u", plan->n_devices);
  ck_assert_msg (plan->user_first_device[1] == plan->user_devices[0],
                 "devices are numbered by user");
  ck_assert_msg (plan->memberships == 300, "3 memberships per user");
  ck_assert_msg (plan->room_members[0] >= plan->room_members[49] &&
                     plan->room_members[0] == hub_lg_plan_largest_room (plan),
                 "room 0 is the most popular (%u members)", plan->room_members[0]);
  for (guint r = 0; r < plan->n_rooms; r++) {
    if (plan->room_members[r] > 0) {
      const guint *rooms = hub_lg_plan_rooms_of (plan, plan->room_cover[r]);
      gboolean member = FALSE;

      for (guint k = 0; k < plan->rooms_per_user; k++)
        member |= rooms[k] == r;
      ck_assert_msg (member, "room %u's cover user is a member", r);
    } else {
      ck_assert_msg (plan->room_cover[r] == G_MAXUINT, "an empty room has no cover user");
    }
  }
  again = hub_lg_plan_new ("t-", 100, &d, 50, 3, 1.0, 99, 0);
  ck_assert_msg (memcmp (plan->user_rooms, again->user_rooms, 300 * sizeof (guint)) == 0 &&
                     memcmp (plan->user_devices, again->user_devices, 100 * sizeof (guint)) == 0,
                 "the same seed gives the same plan");

  user = hub_lg_plan_user_name (plan, 17);
  room = hub_lg_plan_room_name (plan, 3);
  ck_assert_str_eq (user, "t-u17");
  ck_assert_str_eq (room, "t-r3");
  ck_assert_msg (hub_lg_plan_room_index (plan, "t-r3") == 3, "room names map back");
  ck_assert_msg (hub_lg_plan_user_index (plan, "t-u17") == 17, "user names map back");
  ck_assert_msg (hub_lg_plan_room_index (plan, "t-r50") == G_MAXUINT, "beyond the rooms");
  ck_assert_msg (hub_lg_plan_room_index (plan, "x-r3") == G_MAXUINT, "another prefix");
  ck_assert_msg (hub_lg_plan_room_index (plan, "t-r03") == G_MAXUINT, "leading zeros");
  ck_assert_msg (hub_lg_plan_room_index (plan, "t-u3") == G_MAXUINT, "a user is not a room");
  ck_assert_msg (hub_lg_plan_room_index (plan, NULL) == G_MAXUINT, "NULL");
  hub_lg_discrete_clear (&d);
}
END_TEST

START_TEST (test_plan_clamp)
{
  HubLgDiscrete d;
  g_autoptr (HubLgPlan) plan = NULL;
  g_autoptr (HubLgPlan) tiny = NULL;

  hub_lg_discrete_parse ("2", &d, NULL);
  plan = hub_lg_plan_new ("", 1000, &d, 10, 20, 0.5, 1, 101);
  ck_assert_msg (plan->n_users == 50 && plan->n_devices == 100,
                 "101 connections allowed: 50 users of 2 devices (got %u users, %u devices)",
                 plan->n_users, plan->n_devices);
  ck_assert_msg (plan->rooms_per_user == 10, "rooms per user is capped by the rooms");
  tiny = hub_lg_plan_new ("", 5, &d, 1, 1, 1.0, 1, 1);
  ck_assert_msg (tiny->n_users == 1, "one user always stays");
  hub_lg_discrete_clear (&d);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("loadgen-dist");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"discrete", test_discrete_parse},
      {"mix", test_mix},
      {"zipf", test_zipf},
      {"distinct", test_sample_distinct},
      {"exponential", test_exponential},
      {"addresses", test_addresses},
      {"plan", test_plan},
      {"clamp", test_plan_clamp},
  };
  SRunner *sr;
  int failed;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_test (tc, cases[i].test);
    suite_add_tcase (s, tc);
  }
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

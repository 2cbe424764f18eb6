/* test-error.c: the HUB_ERROR domain and the wire string of every code of
 * PROTOCOL.md §2, both ways. */
#include <check.h>
#include <hub/hub-error.h>
#include <stdlib.h>

static const struct {
  HubErrorCode code;
  const char *wire;
} codes[] = {
    {HUB_ERROR_BAD_REQUEST, "bad_request"},
    {HUB_ERROR_UNKNOWN_TYPE, "unknown_type"},
    {HUB_ERROR_NOT_AUTHENTICATED, "not_authenticated"},
    {HUB_ERROR_UNAUTHORIZED, "unauthorized"},
    {HUB_ERROR_FORBIDDEN, "forbidden"},
    {HUB_ERROR_ROOM_NOT_FOUND, "room_not_found"},
    {HUB_ERROR_ROOM_EXISTS, "room_exists"},
    {HUB_ERROR_NOT_MEMBER, "not_member"},
    {HUB_ERROR_USER_OFFLINE, "user_offline"},
    {HUB_ERROR_RATE_LIMITED, "rate_limited"},
    {HUB_ERROR_TOO_MANY_ROOMS, "too_many_rooms"},
    {HUB_ERROR_INVALID_NAME, "invalid_name"},
    {HUB_ERROR_INTERNAL, "internal"},
};

START_TEST (test_quark)
{
  ck_assert_str_eq (g_quark_to_string (HUB_ERROR), "hub-error-quark");
  ck_assert_uint_eq (HUB_ERROR, hub_error_quark ());
}
END_TEST

START_TEST (test_to_string)
{
  ck_assert_msg (G_N_ELEMENTS (codes) == HUB_ERROR_N_CODES - 1, "every code is listed here");
  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    ck_assert_str_eq (hub_error_code_to_string (codes[i].code), codes[i].wire);
}
END_TEST

START_TEST (test_from_string)
{
  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    ck_assert_msg (hub_error_code_from_string (codes[i].wire) == codes[i].code,
                   "\"%s\" must map back to its code", codes[i].wire);
}
END_TEST

START_TEST (test_unknown)
{
  ck_assert_int_eq (hub_error_code_from_string ("no_such_code"), HUB_ERROR_NONE);
  ck_assert_int_eq (hub_error_code_from_string ("BAD_REQUEST"), HUB_ERROR_NONE);
  ck_assert_int_eq (hub_error_code_from_string (""), HUB_ERROR_NONE);
  ck_assert_int_eq (hub_error_code_from_string (NULL), HUB_ERROR_NONE);
  /* An error frame must carry a code clients know, even for a stray value. */
  ck_assert_str_eq (hub_error_code_to_string (HUB_ERROR_NONE), "internal");
  ck_assert_str_eq (hub_error_code_to_string (HUB_ERROR_N_CODES), "internal");
}
END_TEST

START_TEST (test_gerror)
{
  g_autoptr (GError) error = g_error_new (HUB_ERROR, HUB_ERROR_ROOM_NOT_FOUND, "no room %s", "x");

  ck_assert (g_error_matches (error, HUB_ERROR, HUB_ERROR_ROOM_NOT_FOUND));
  ck_assert_str_eq (hub_error_code_to_string (error->code), "room_not_found");
}
END_TEST

static Suite *
error_suite (void)
{
  Suite *s = suite_create ("error");
  TCase *tc;

  tc = tcase_create ("domain");
  tcase_add_test (tc, test_quark);
  tcase_add_test (tc, test_gerror);
  suite_add_tcase (s, tc);

  tc = tcase_create ("wire strings");
  tcase_add_test (tc, test_to_string);
  tcase_add_test (tc, test_from_string);
  tcase_add_test (tc, test_unknown);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *runner = srunner_create (error_suite ());
  int failed;

  srunner_run_all (runner, CK_NORMAL);
  failed = srunner_ntests_failed (runner);
  srunner_free (runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* test-keyring.c: HubKeyring, the secrets hello tokens are checked against:
 * the current one, and after a rotation the previous one until its grace
 * ends (hub-server's SIGHUP with --secret-grace). */
#include <check.h>
#include <hub/hub.h>
#include <string.h>

#include "../../libhub/src/hub-keyring.h"

#define A "keyring-secret-a-0123456789abcdef"
#define B "keyring-secret-b-0123456789abcdef"
#define C "keyring-secret-c-0123456789abcdef"

/* TRUE when a token of @secret for "alice" passes at @now_ms. */
static gboolean
passes (HubKeyring *k, const char *secret, gint64 now_ms)
{
  g_autofree char *token = hub_auth_mint (secret, strlen (secret), "alice", FALSE, 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (HubAuthClaims) claims = hub_keyring_verify (k, token, now_ms, &error);

  ck_assert_msg ((claims == NULL) == (error != NULL), "a result or an error");
  return claims != NULL;
}

START_TEST (current_secret_only)
{
  g_autoptr (HubKeyring) k = hub_keyring_new (A, strlen (A));

  ck_assert (passes (k, A, 1000));
  ck_assert (!passes (k, B, 1000));
}
END_TEST

START_TEST (previous_secret_passes_during_the_grace)
{
  g_autoptr (HubKeyring) k = hub_keyring_new (A, strlen (A));

  hub_keyring_rotate (k, B, strlen (B), 10000, 5000);
  ck_assert_msg (passes (k, B, 10000), "the new secret at once");
  ck_assert_msg (passes (k, A, 10000) && passes (k, A, 14999), "the old one within the grace");
  ck_assert_msg (!passes (k, A, 15000), "not after it");
  ck_assert (passes (k, B, 20000));
  /* A second rotation: only the one it replaced keeps a grace. */
  hub_keyring_rotate (k, C, strlen (C), 20000, 5000);
  ck_assert (passes (k, C, 20000) && passes (k, B, 20000) && !passes (k, A, 20000));
}
END_TEST

START_TEST (no_grace_and_same_secret)
{
  g_autoptr (HubKeyring) k = hub_keyring_new (A, strlen (A));
  g_autoptr (GError) error = NULL;
  g_autofree char *token = hub_auth_mint ("other", 5, "alice", FALSE, 0);

  hub_keyring_rotate (k, B, strlen (B), 10000, 5000);
  /* The same secret again (a reload that changed something else) rotates
   * nothing: the old one keeps its grace. */
  hub_keyring_rotate (k, B, strlen (B), 12000, 0);
  ck_assert_msg (passes (k, A, 12000), "the same secret again rotates nothing");
  hub_keyring_rotate (k, C, strlen (C), 13000, 0);
  ck_assert_msg (!passes (k, B, 13000), "grace 0: the old secret stops at once");
  /* The error is the current secret's. */
  ck_assert (hub_keyring_verify (k, token, 13000, &error) == NULL);
  ck_assert_str_eq (error->message, "bad signature");
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("keyring");
  TCase *tc = tcase_create ("keyring");
  SRunner *sr;
  int failed;

  tcase_add_test (tc, current_secret_only);
  tcase_add_test (tc, previous_secret_passes_during_the_grace);
  tcase_add_test (tc, no_grace_and_same_secret);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

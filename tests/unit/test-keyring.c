/* test-keyring.c: HubKeyring, the secrets tokens are checked against (hello's
 * and refresh's connection tokens, join's room tokens): the current one,
 * and after a rotation the previous one until its grace ends (hub-server's
 * SIGHUP with --secret-grace). */
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

/* A room token (§12) of @secret for alice joining "team-1" with "jp": its
 * letters when it passes at @now_ms, else -1. */
static int
room_token_allows (HubKeyring *k, const char *secret, gint64 now_ms)
{
  g_autoptr (JsonObject) claims = json_object_new ();
  g_autofree char *token = NULL;
  g_autoptr (GError) error = NULL;
  guint allow = 0;
  gboolean ok;

  json_object_set_string_member (claims, "sub", "alice");
  json_object_set_string_member (claims, "room", "team-1");
  json_object_set_string_member (claims, "allow", "jp");
  token = hub_auth_mint_claims (secret, strlen (secret), claims);
  ok = hub_keyring_verify_room_token (k, token, now_ms, "alice", "team-1", &allow, &error);
  ck_assert_msg (ok == (error == NULL), "a result or an error");
  return ok ? (int)allow : -1;
}

START_TEST (room_tokens_follow_the_rotation_too)
{
  g_autoptr (HubKeyring) k = hub_keyring_new (A, strlen (A));
  g_autoptr (HubKeyring) none = hub_keyring_new (NULL, 0);

  ck_assert_int_eq (room_token_allows (k, A, 1000), HUB_PERM_JOIN | HUB_PERM_PUBLISH);
  ck_assert_int_eq (room_token_allows (k, B, 1000), -1);
  hub_keyring_rotate (k, B, strlen (B), 10000, 5000);
  ck_assert_msg (room_token_allows (k, B, 10000) == (HUB_PERM_JOIN | HUB_PERM_PUBLISH),
                 "the new secret's room tokens at once");
  ck_assert_msg (room_token_allows (k, A, 14999) == (HUB_PERM_JOIN | HUB_PERM_PUBLISH),
                 "a room token minted before the rotation passes within the grace");
  ck_assert_msg (room_token_allows (k, A, 15000) == -1, "not after it");
  ck_assert_msg (room_token_allows (none, A, 1000) == -1, "no secret: no room token passes");
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
  tcase_add_test (tc, room_tokens_follow_the_rotation_too);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

/* test-room-perms.c: the `rooms` claim of PROTOCOL.md §12: letters, patterns
 * with `{user}` and a trailing `*`, the union of every matching pattern, and
 * every malformed form refused as unauthorized. */
#include <check.h>
#include <hub/hub-error.h>
#include <hub/hub-room-perms.h>
#include <stdlib.h>
#include <string.h>

static JsonNode *
parse (const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  ck_assert_msg (json_parser_load_from_data (parser, json, -1, &error), "test JSON %s: %s", json,
                 error != NULL ? error->message : "?");
  return json_node_copy (json_parser_get_root (parser));
}

static HubRoomPerms *
perms_ok (const char *json, const char *sub)
{
  g_autoptr (JsonNode) node = parse (json);
  g_autoptr (GError) error = NULL;
  HubRoomPerms *perms = hub_room_perms_parse (node, sub, &error);

  ck_assert_msg (perms != NULL, "%s should parse, got: %s", json, error ? error->message : "?");
  return perms;
}

static void
perms_refused (const char *json, const char *what)
{
  g_autoptr (JsonNode) node = parse (json);
  g_autoptr (GError) error = NULL;
  g_autoptr (HubRoomPerms) perms = hub_room_perms_parse (node, "alice", &error);

  ck_assert_msg (perms == NULL, "%s should be refused (%s)", json, what);
  ck_assert_msg (g_error_matches (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED),
                 "refusal of %s should be unauthorized", json);
  ck_assert_msg (strstr (error->message, what) != NULL, "'%s' should mention '%s'", error->message,
                 what);
}

START_TEST (test_letters)
{
  static const struct {
    const char *letters;
    guint mask;
  } good[] = {
      {"", HUB_PERM_NONE},
      {"j", HUB_PERM_JOIN},
      {"p", HUB_PERM_PUBLISH},
      {"c", HUB_PERM_CREATE},
      {"pj", HUB_PERM_JOIN | HUB_PERM_PUBLISH},
      {"cjp", HUB_PERM_ALL},
      {"jjj", HUB_PERM_JOIN},
  };
  static const char *const bad[] = {"J", "x", "j ", " j", "jpcx", "r", "*"};
  guint mask;

  for (guint i = 0; i < G_N_ELEMENTS (good); i++) {
    mask = 99;
    ck_assert_msg (hub_perm_from_letters (good[i].letters, &mask), "'%s' should be letters",
                   good[i].letters);
    ck_assert_msg (mask == good[i].mask, "'%s' → %u, expected %u", good[i].letters, mask,
                   good[i].mask);
  }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    ck_assert_msg (!hub_perm_from_letters (bad[i], &mask), "'%s' should be refused", bad[i]);
  ck_assert (!hub_perm_from_letters (NULL, &mask));
  ck_assert_str_eq (hub_perm_to_letters (HUB_PERM_ALL), "jpc");
  ck_assert_str_eq (hub_perm_to_letters (HUB_PERM_JOIN | HUB_PERM_PUBLISH), "jp");
  ck_assert_str_eq (hub_perm_to_letters (HUB_PERM_NONE), "");
}
END_TEST

START_TEST (test_protocol_example)
{
  g_autoptr (HubRoomPerms) perms =
      perms_ok ("{\"lobby\":\"j\",\"team-7.*\":\"jpc\",\"dm.{user}.*\":\"jpc\"}", "alice");

  ck_assert_uint_eq (hub_room_perms_size (perms), 3);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "lobby"), HUB_PERM_JOIN);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "lobby2"), HUB_PERM_NONE);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "team-7.dev"), HUB_PERM_ALL);
  /* The prefix alone matches too. */
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "team-7."), HUB_PERM_ALL);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "team-7"), HUB_PERM_NONE);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "team-8.dev"), HUB_PERM_NONE);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "dm.alice.bob"), HUB_PERM_ALL);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "dm.bob.alice"), HUB_PERM_NONE);
  /* `{user}` was replaced: the literal pattern does not match. */
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "dm.{user}.x"), HUB_PERM_NONE);
}
END_TEST

START_TEST (test_union_of_matches)
{
  g_autoptr (HubRoomPerms) perms =
      perms_ok ("{\"*\":\"j\",\"news\":\"\",\"news.*\":\"p\",\"news.local\":\"c\"}", "alice");

  ck_assert_uint_eq (hub_room_perms_lookup (perms, "anything"), HUB_PERM_JOIN);
  /* "" allows nothing, but the union with `*` still holds. */
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "news"), HUB_PERM_JOIN);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "news.world"), HUB_PERM_JOIN | HUB_PERM_PUBLISH);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "news.local"), HUB_PERM_ALL);
}
END_TEST

START_TEST (test_no_claim_allows_everything)
{
  ck_assert_uint_eq (hub_room_perms_lookup (NULL, "any"), HUB_PERM_ALL);
  ck_assert_uint_eq (hub_room_perms_size (NULL), 0);
}
END_TEST

START_TEST (test_empty_object_allows_nothing)
{
  g_autoptr (HubRoomPerms) perms = perms_ok ("{}", "alice");

  ck_assert_uint_eq (hub_room_perms_lookup (perms, "lobby"), HUB_PERM_NONE);
}
END_TEST

START_TEST (test_user_substitution)
{
  g_autoptr (HubRoomPerms) perms =
      perms_ok ("{\"{user}\":\"j\",\"x.{user}.{user}\":\"p\",\"{user}*\":\"c\"}", "b.o-b");

  ck_assert_uint_eq (hub_room_perms_lookup (perms, "b.o-b"), HUB_PERM_JOIN | HUB_PERM_CREATE);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "x.b.o-b.b.o-b"), HUB_PERM_PUBLISH);
  ck_assert_uint_eq (hub_room_perms_lookup (perms, "b.o-b.more"), HUB_PERM_CREATE);
}
END_TEST

START_TEST (test_refused_forms)
{
  perms_refused ("[]", "not an object");
  perms_refused ("\"lobby\"", "not an object");
  perms_refused ("null", "not an object");
  perms_refused ("7", "not an object");
  perms_refused ("{\"lobby\":\"x\"}", "letters");
  perms_refused ("{\"lobby\":\"J\"}", "letters");
  perms_refused ("{\"lobby\":1}", "letters");
  perms_refused ("{\"lobby\":null}", "letters");
  perms_refused ("{\"lobby\":[\"j\"]}", "letters");
  perms_refused ("{\"lobby\":true}", "letters");
  perms_refused ("{\"\":\"j\"}", "not a room id");
  perms_refused ("{\"a*b\":\"j\"}", "not a room id");
  perms_refused ("{\"a**\":\"j\"}", "not a room id");
  perms_refused ("{\"*a\":\"j\"}", "not a room id");
  perms_refused ("{\"a b\":\"j\"}", "not a room id");
  perms_refused ("{\"@api\":\"j\"}", "not a room id");
  perms_refused ("{\"@*\":\"j\"}", "not a room id");
  perms_refused ("{\"room/x\":\"j\"}", "not a room id");
  perms_refused ("{\"{User}\":\"j\"}", "not a room id");
  perms_refused ("{\"{user\":\"j\"}", "not a room id");
  /* 65 characters: longer than any room id. */
  perms_refused ("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":\"j\"}",
                 "not a room id");
  perms_refused ("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa*\":\"j\"}",
                 "not a room id");
  /* A valid pattern before an invalid one does not make it pass. */
  perms_refused ("{\"lobby\":\"j\",\"bad pattern\":\"j\"}", "not a room id");
}
END_TEST

START_TEST (test_substitution_makes_it_too_long)
{
  /* 59 + "{user}" is a valid key, but with a 10-character user it is 69. */
  g_autoptr (JsonNode) node =
      parse ("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa{user}\":\"j\"}");
  g_autoptr (GError) error = NULL;
  g_autoptr (HubRoomPerms) perms = hub_room_perms_parse (node, "abcdefghij", &error);
  g_autoptr (HubRoomPerms) short_user = hub_room_perms_parse (node, "ab", NULL);

  ck_assert_msg (perms == NULL, "a pattern too long after {user} should be refused");
  ck_assert_msg (short_user != NULL, "the same pattern with a short user fits");
}
END_TEST

START_TEST (test_refcount)
{
  HubRoomPerms *perms = perms_ok ("{\"a\":\"j\"}", "alice");
  HubRoomPerms *second = hub_room_perms_ref (perms);

  hub_room_perms_unref (perms);
  ck_assert_uint_eq (hub_room_perms_lookup (second, "a"), HUB_PERM_JOIN);
  hub_room_perms_unref (second);
  hub_room_perms_unref (NULL);
}
END_TEST

static void
add (Suite *s, const char *name, const TTest *test)
{
  TCase *tc = tcase_create (name);

  tcase_add_test (tc, test);
  suite_add_tcase (s, tc);
}

int
main (void)
{
  Suite *s = suite_create ("room-perms");
  SRunner *sr;
  int failed;

  add (s, "letters", test_letters);
  add (s, "protocol_example", test_protocol_example);
  add (s, "union_of_matches", test_union_of_matches);
  add (s, "no_claim_allows_everything", test_no_claim_allows_everything);
  add (s, "empty_object_allows_nothing", test_empty_object_allows_nothing);
  add (s, "user_substitution", test_user_substitution);
  add (s, "refused_forms", test_refused_forms);
  add (s, "substitution_makes_it_too_long", test_substitution_makes_it_too_long);
  add (s, "refcount", test_refcount);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

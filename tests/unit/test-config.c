/* test-config.c: PROTOCOL.md's defaults and the deep copy of HubConfig. */
#include <check.h>
#include <hub/hub-codec.h>
#include <hub/hub-config.h>
#include <stdlib.h>
#include <string.h>

START_TEST (test_defaults)
{
  HubConfig c;

  hub_config_init (&c);
  ck_assert_uint_eq (c.heartbeat_s, 30);
  ck_assert_uint_eq (c.hello_timeout_s, 10);
  ck_assert_uint_eq (c.history_size, 100);
  ck_assert_uint_eq (c.max_message_bytes, 65536);
  ck_assert_uint_eq (c.max_queue_bytes, 1024 * 1024);
  ck_assert_double_eq (c.rate_per_s, 100);
  ck_assert_double_eq (c.burst, 200);
  ck_assert_uint_eq (c.max_rooms_per_user, 1000);
  ck_assert_msg (c.auto_create, "auto-create is on by default");
  ck_assert_uint_eq (c.presence_grace_s, 0);
  ck_assert_msg (c.secret == NULL && c.secret_len == 0, "no secret by default (development mode)");
  hub_config_clear (&c);
}
END_TEST

START_TEST (test_default_node)
{
  HubConfig c;
  const char *host = g_get_host_name ();

  hub_config_init (&c);
  ck_assert_ptr_nonnull (c.node);
  ck_assert_msg (hub_name_is_valid (c.node), "default node '%s' should be a valid name", c.node);
  ck_assert_uint_eq (strlen (c.node), MIN (strlen (host), HUB_NAME_MAX));
  if (hub_name_is_valid (host))
    ck_assert_str_eq (c.node, host);
  else
    /* Sanitising keeps the valid characters in place and only replaces the others. */
    for (gsize i = 0; c.node[i] != '\0'; i++)
      ck_assert_msg (c.node[i] == host[i] || c.node[i] == '-',
                     "node char %" G_GSIZE_FORMAT " should be the host's or '-'", i);
  hub_config_clear (&c);
}
END_TEST

START_TEST (test_clear)
{
  HubConfig c;

  hub_config_init (&c);
  c.secret = g_strdup ("k");
  c.secret_len = 1;
  hub_config_clear (&c);
  ck_assert_ptr_null (c.node);
  ck_assert_ptr_null (c.secret);
  ck_assert_uint_eq (c.secret_len, 0);
  hub_config_clear (&c); /* twice is harmless */
}
END_TEST

START_TEST (test_copy)
{
  static const char secret[] = "se\0cret";
  HubConfig a, b;

  hub_config_init (&a);
  g_free (a.node);
  a.node = g_strdup ("node-1");
  a.secret = g_memdup2 (secret, sizeof secret);
  a.secret_len = sizeof secret - 1;
  a.heartbeat_s = 5;
  a.rate_per_s = 2.5;
  a.auto_create = FALSE;
  a.presence_grace_s = 7;

  hub_config_copy (&b, &a);
  ck_assert_str_eq (b.node, "node-1");
  ck_assert_ptr_ne (b.node, a.node);
  ck_assert_ptr_ne (b.secret, a.secret);
  ck_assert_uint_eq (b.secret_len, 7);
  ck_assert_msg (memcmp (b.secret, secret, 7) == 0, "the secret is copied byte for byte, NULs too");
  ck_assert_msg (b.secret[7] == '\0', "the copied secret is NUL-terminated");
  ck_assert_uint_eq (b.heartbeat_s, 5);
  ck_assert_double_eq (b.rate_per_s, 2.5);
  ck_assert_msg (!b.auto_create, "auto_create copied");
  ck_assert_uint_eq (b.presence_grace_s, 7);
  ck_assert_uint_eq (b.max_queue_bytes, 1024 * 1024);

  /* Independent: clearing the source leaves the copy intact. */
  hub_config_clear (&a);
  ck_assert_str_eq (b.node, "node-1");
  ck_assert_msg (memcmp (b.secret, secret, 7) == 0, "copy survives the source");
  hub_config_clear (&b);
}
END_TEST

START_TEST (test_copy_without_secret)
{
  HubConfig a, b;

  hub_config_init (&a);
  hub_config_copy (&b, &a);
  ck_assert_ptr_null (b.secret);
  ck_assert_str_eq (b.node, a.node);
  hub_config_clear (&a);
  hub_config_clear (&b);
}
END_TEST

static void
add (Suite *s, const char *name, const TTest *test)
{
  TCase *tc = tcase_create (name);

  tcase_add_test (tc, test);
  suite_add_tcase (s, tc);
}

static Suite *
config_suite (void)
{
  Suite *s = suite_create ("config");

  add (s, "defaults", test_defaults);
  add (s, "default_node", test_default_node);
  add (s, "clear", test_clear);
  add (s, "copy", test_copy);
  add (s, "copy_without_secret", test_copy_without_secret);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (config_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

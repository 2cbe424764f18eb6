/* test-frame.c: HubFrame's single allocation — the RFC 6455 header in front of
 * the JSON for each length class, NUL termination, flags, refcounting and the
 * writable headroom. */
#include <check.h>
#include <hub/hub-frame.h>
#include <stdlib.h>
#include <string.h>

/* A payload of @len bytes of 'x'. (transfer full) */
static char *
filler (gsize len)
{
  char *s = g_malloc (len + 1);

  memset (s, 'x', len);
  s[len] = '\0';
  return s;
}

/* Checks that the wire bytes are @header followed by the payload, contiguous. */
static void
assert_wire (HubFrame *frame, const guint8 *header, gsize header_len, gsize len)
{
  gsize wire_len = 0, payload_len = 0;
  const guint8 *wire = hub_frame_wire (frame, &wire_len);
  const char *payload = hub_frame_payload (frame, &payload_len);

  ck_assert_msg (payload_len == len,
                 "payload length %" G_GSIZE_FORMAT ", expected %" G_GSIZE_FORMAT, payload_len, len);
  ck_assert_msg (wire_len == header_len + len,
                 "wire length %" G_GSIZE_FORMAT ", expected %" G_GSIZE_FORMAT, wire_len,
                 header_len + len);
  ck_assert_msg (memcmp (wire, header, header_len) == 0,
                 "header for length %" G_GSIZE_FORMAT ": got %02x %02x …, expected %02x %02x …",
                 len, wire[0], wire[1], header[0], header[1]);
  ck_assert_msg ((const char *)wire + header_len == payload,
                 "the payload must follow the header in place (no copy)");
  ck_assert_msg (payload[len] == '\0', "payload must be NUL-terminated");
}

START_TEST (test_header_len_0)
{
  static const guint8 header[] = {0x81, 0x00};
  g_autoptr (HubFrame) frame = hub_frame_new ("", 0, HUB_FRAME_FLAG_NONE);

  assert_wire (frame, header, sizeof header, 0);
}
END_TEST

START_TEST (test_header_len_125)
{
  static const guint8 header[] = {0x81, 125};
  g_autofree char *json = filler (125);
  g_autoptr (HubFrame) frame = hub_frame_new (json, 125, HUB_FRAME_FLAG_NONE);

  assert_wire (frame, header, sizeof header, 125);
}
END_TEST

START_TEST (test_header_len_126)
{
  static const guint8 header[] = {0x81, 126, 0x00, 126};
  g_autofree char *json = filler (126);
  g_autoptr (HubFrame) frame = hub_frame_new (json, 126, HUB_FRAME_FLAG_NONE);

  assert_wire (frame, header, sizeof header, 126);
}
END_TEST

START_TEST (test_header_len_65535)
{
  static const guint8 header[] = {0x81, 126, 0xff, 0xff};
  g_autofree char *json = filler (65535);
  g_autoptr (HubFrame) frame = hub_frame_new (json, 65535, HUB_FRAME_FLAG_NONE);

  assert_wire (frame, header, sizeof header, 65535);
}
END_TEST

START_TEST (test_header_len_65536)
{
  static const guint8 header[] = {0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
  g_autofree char *json = filler (65536);
  g_autoptr (HubFrame) frame = hub_frame_new (json, 65536, HUB_FRAME_FLAG_NONE);

  assert_wire (frame, header, sizeof header, 65536);
}
END_TEST

START_TEST (test_header_len_large)
{
  static const guint8 header[] = {0x81, 127, 0, 0, 0, 0, 0, 0x10, 0x00, 0x01};
  gsize len = 0x100001;
  g_autofree char *json = filler (len);
  g_autoptr (HubFrame) frame = hub_frame_new (json, len, HUB_FRAME_FLAG_NONE);

  assert_wire (frame, header, sizeof header, len);
}
END_TEST

START_TEST (test_payload_copied_and_terminated)
{
  char json[] = "{\"type\":\"ping\"}XYZ";
  g_autoptr (HubFrame) frame = hub_frame_new (json, 15, HUB_FRAME_FLAG_NONE);
  gsize len = 0;
  const char *payload;

  json[2] = 'Z'; /* the frame owns a copy */
  payload = hub_frame_payload (frame, &len);
  ck_assert_uint_eq (len, 15);
  ck_assert_str_eq (payload, "{\"type\":\"ping\"}");
  ck_assert_ptr_nonnull (hub_frame_payload (frame, NULL));
  ck_assert_ptr_nonnull (hub_frame_wire (frame, NULL));
}
END_TEST

START_TEST (test_payload_with_nul_bytes_kept)
{
  static const char json[] = {'a', '\0', 'b'};
  g_autoptr (HubFrame) frame = hub_frame_new (json, sizeof json, HUB_FRAME_FLAG_NONE);
  gsize len = 0;
  const char *payload = hub_frame_payload (frame, &len);

  ck_assert_uint_eq (len, 3);
  ck_assert_msg (memcmp (payload, json, 3) == 0 && payload[3] == '\0',
                 "all bytes copied, then a NUL");
}
END_TEST

START_TEST (test_from_gstring)
{
  GString *str = g_string_new ("{\"type\":\"typing\"}");
  g_autoptr (HubFrame) frame = hub_frame_new_from_gstring (str, HUB_FRAME_FLAG_EPHEMERAL);
  static const guint8 header[] = {0x81, 17};

  /* str is freed by the call: LeakSanitizer checks it. */
  ck_assert_str_eq (hub_frame_payload (frame, NULL), "{\"type\":\"typing\"}");
  assert_wire (frame, header, sizeof header, 17);
  ck_assert (hub_frame_is_ephemeral (frame));
}
END_TEST

START_TEST (test_from_gstring_large)
{
  GString *str = g_string_new (NULL);
  g_autoptr (HubFrame) frame = NULL;
  static const guint8 header[] = {0x81, 126, 0x03, 0xe8};

  for (int i = 0; i < 100; i++)
    g_string_append (str, "0123456789");
  frame = hub_frame_new_from_gstring (str, HUB_FRAME_FLAG_NONE);
  assert_wire (frame, header, sizeof header, 1000);
  ck_assert (strncmp (hub_frame_payload (frame, NULL) + 990, "0123456789", 11) == 0);
}
END_TEST

START_TEST (test_flags)
{
  g_autoptr (HubFrame) plain = hub_frame_new ("{}", 2, HUB_FRAME_FLAG_NONE);
  g_autoptr (HubFrame) ephemeral = hub_frame_new ("{}", 2, HUB_FRAME_FLAG_EPHEMERAL);

  ck_assert_msg (!hub_frame_is_ephemeral (plain), "a frame made without flags is not ephemeral");
  ck_assert_int_eq (hub_frame_flags (plain), HUB_FRAME_FLAG_NONE);
  ck_assert_msg (hub_frame_is_ephemeral (ephemeral), "HUB_FRAME_FLAG_EPHEMERAL is kept");
  ck_assert_int_eq (hub_frame_flags (ephemeral), HUB_FRAME_FLAG_EPHEMERAL);
}
END_TEST

START_TEST (test_refcount)
{
  HubFrame *frame = hub_frame_new ("{\"a\":1}", 7, HUB_FRAME_FLAG_NONE);
  HubFrame *second = hub_frame_ref (frame);
  HubFrame *third = hub_frame_ref (frame);

  ck_assert_ptr_eq (second, frame);
  ck_assert_ptr_eq (third, frame);
  hub_frame_unref (frame);
  hub_frame_unref (second);
  /* One reference left: still readable (ASan would flag a use after free). */
  ck_assert_str_eq (hub_frame_payload (third, NULL), "{\"a\":1}");
  hub_frame_unref (third);
  /* Freed now: LeakSanitizer would report it otherwise. */
}
END_TEST

START_TEST (test_headroom_writable)
{
  g_autoptr (HubFrame) frame = hub_frame_new ("{\"a\":1}", 7, HUB_FRAME_FLAG_NONE);
  char *payload = (char *)hub_frame_payload (frame, NULL);

  /* A transport (lws_write) may write its own header into the headroom:
   * ASan checks these bytes belong to the frame's allocation. */
  memset (payload - HUB_FRAME_HEADROOM, 0x55, HUB_FRAME_HEADROOM);
  ck_assert_str_eq (payload, "{\"a\":1}");
  ck_assert_msg (HUB_FRAME_HEADROOM >= 16, "headroom must cover LWS_PRE (16 with lws 4.1)");
}
END_TEST

static Suite *
frame_suite (void)
{
  Suite *s = suite_create ("frame");
  TCase *tc;

  tc = tcase_create ("header");
  tcase_add_test (tc, test_header_len_0);
  tcase_add_test (tc, test_header_len_125);
  tcase_add_test (tc, test_header_len_126);
  tcase_add_test (tc, test_header_len_65535);
  tcase_add_test (tc, test_header_len_65536);
  tcase_add_test (tc, test_header_len_large);
  suite_add_tcase (s, tc);

  tc = tcase_create ("payload");
  tcase_add_test (tc, test_payload_copied_and_terminated);
  tcase_add_test (tc, test_payload_with_nul_bytes_kept);
  tcase_add_test (tc, test_from_gstring);
  tcase_add_test (tc, test_from_gstring_large);
  tcase_add_test (tc, test_headroom_writable);
  suite_add_tcase (s, tc);

  tc = tcase_create ("flags");
  tcase_add_test (tc, test_flags);
  suite_add_tcase (s, tc);

  tc = tcase_create ("refcount");
  tcase_add_test (tc, test_refcount);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *runner = srunner_create (frame_suite ());
  int failed;

  srunner_run_all (runner, CK_NORMAL);
  failed = srunner_ntests_failed (runner);
  srunner_free (runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

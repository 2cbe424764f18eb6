/* test-client-peek.c: HubClient's in-place frame reader
 * (libhub/client/hub-client-peek.c): whatever it takes, JsonParser reads the same
 * way (the same type, room, from, user, seq, id and payload); malformed input
 * is refused, never half read; an integer member of the payload asked for
 * is read in the same pass. */
#include <check.h>
#include <hub/hub-client.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "../../libhub/client/hub-client-peek.h"

/* The frames HubClient receives most, as hub-server writes them, and some odd ones. */
static const char *const frames[] = {
    "{\"type\":\"message\",\"room\":\"lg-r17\",\"seq\":4213,\"from\":\"lg-u204\",\"device\":"
    "\"d1\",\"ts\":1764300000123,\"payload\":{\"t\":81234567890123,\"p\":204,\"n\":17}}",
    "{\"type\":\"message\",\"room\":\"r\",\"seq\":1,\"from\":\"u\",\"device\":\"d\",\"ts\":0,"
    "\"payload\":{\"t\":1,\"p\":0,\"n\":1,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}",
    "{\"type\":\"ok\",\"id\":12,\"room\":\"lobby\",\"seq\":99}",
    "{\"type\":\"error\",\"id\":9,\"code\":\"rate_limited\",\"message\":\"slow down\"}",
    "{\"type\":\"direct\",\"from\":\"bob\",\"to\":\"alice\",\"device\":\"d\",\"ts\":5,"
    "\"payload\":{\"text\":\"hi \\\"there\\\" \\u00e9\\n\",\"ok\":true,\"none\":null,\"neg\":-42,"
    "\"f\":-1.5e-3,\"big\":123456789012345678901234}}",
    "{\"type\":\"resumed\",\"room\":\"r\",\"from\":3,\"to\":9,\"complete\":false}",
    "{\"type\":\"presence\",\"room\":\"r\",\"user\":\"\xc3\xa9l\xc3\xa8ve\",\"event\":\"join\"}",
    "  {\"type\" : \"typing\" ,\r\n\t\"room\" : \"r\" , \"user\" : \"u\" }  \n",
    "{\"type\":\"status\",\"user\":\"u\",\"status\":\"away\"}",
    "{\"type\":\"ok\",\"id\":1,\"rooms\":[{\"room\":\"a\",\"seq\":0},{\"room\":\"b\",\"seq\":"
    "999999999999999999}],\"empty\":{},\"list\":[[],[{}]]}",
    "{\"payload\":[1,\"two\",{\"three\":3}],\"seq\":7,\"type\":\"message\",\"room\":\"late\"}",
    "{}",
    "{\"type\":\"message\",\"room\":\"r\",\"seq\":3,\"from\":\"u\",\"ts\":1,"
    "\"payload\":{\"p\":1,\"pad\":\"x\",\"t\":12345678901234}}",
    "{\"type\":\"direct\",\"from\":\"u\",\"to\":\"v\",\"ts\":1,\"payload\":{\"t\":-5}}",
    "{\"type\":\"message\",\"room\":\"r\",\"seq\":3,\"from\":\"u\",\"ts\":1,"
    "\"payload\":{\"t\":1.5,\"x\":[1,{\"t\":2}]}}",
    "{\"type\":\"message\",\"room\":7,\"from\":null,\"user\":[\"u\"],\"seq\":0}",
};

static JsonObject *
parse (const char *text, gsize len)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, (gssize)len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  return root != NULL && JSON_NODE_HOLDS_OBJECT (root)
             ? json_object_ref (json_node_get_object (root))
             : NULL;
}

static void
check_span (JsonObject *frame, const char *name, const char *span, gsize len, const char *text)
{
  JsonNode *node = json_object_get_member (frame, name);

  /* As json-glib's string getters: a value of another kind is no string. */
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING) {
    ck_assert_msg (span == NULL, "%s: \"%s\" is no string, the reader read one", text, name);
    return;
  }
  ck_assert_msg (span != NULL, "%s: the reader missed \"%s\"", text, name);
  ck_assert_msg (strlen (json_node_get_string (node)) == len &&
                     memcmp (json_node_get_string (node), span, len) == 0,
                 "%s: \"%s\" read as '%.*s'", text, name, (int)len, span);
}

/* Whatever the reader takes, JsonParser reads the same. Returns whether it was taken. */
static gboolean
check_agrees (const char *text, gsize len)
{
  HubClientPeek peek = {0};
  g_autoptr (JsonObject) frame = NULL;
  JsonNode *seq;

  if (!hub_client_peek (text, len, &peek))
    return FALSE;
  ck_assert_msg (!peek.has_payload_int, "no payload member was asked for");
  frame = parse (text, len);
  ck_assert_msg (frame != NULL, "JsonParser should read what the reader took: %.*s", (int)len,
                 text);
  check_span (frame, "type", peek.type, peek.type_len, text);
  check_span (frame, "room", peek.room, peek.room_len, text);
  check_span (frame, "from", peek.from, peek.from_len, text);
  check_span (frame, "user", peek.user, peek.user_len, text);
  ck_assert_msg (peek.has_id == json_object_has_member (frame, "id"), "%s: id", text);
  seq = json_object_get_member (frame, "seq");
  ck_assert_msg (peek.seq == (seq != NULL ? json_node_get_int (seq) : -1), "%s: seq", text);
  if (peek.payload != NULL) {
    g_autofree char *wrapped =
        g_strdup_printf ("{\"p\":%.*s}", (int)peek.payload_len, peek.payload);
    g_autoptr (JsonObject) alone = parse (wrapped, strlen (wrapped));
    g_autoptr (JsonGenerator) g1 = json_generator_new ();
    g_autoptr (JsonGenerator) g2 = json_generator_new ();
    g_autofree char *a = NULL, *b = NULL;

    ck_assert_msg (alone != NULL && json_object_has_member (frame, "payload"),
                   "%s: the payload span should be one JSON value", text);
    json_generator_set_root (g1, json_object_get_member (alone, "p"));
    json_generator_set_root (g2, json_object_get_member (frame, "payload"));
    a = json_generator_to_data (g1, NULL);
    b = json_generator_to_data (g2, NULL);
    ck_assert_msg (strcmp (a, b) == 0, "%s: the payload span should be the payload", text);
  } else {
    ck_assert_msg (!json_object_has_member (frame, "payload"), "%s: payload missed", text);
  }
  /* Asked for the payload's "t": read in the same pass, as JsonParser has it. */
  {
    HubClientPeek with_t = {.payload_int_name = "t"};
    JsonNode *payload = json_object_get_member (frame, "payload");
    JsonNode *t = payload != NULL && JSON_NODE_HOLDS_OBJECT (payload)
                      ? json_object_get_member (json_node_get_object (payload), "t")
                      : NULL;
    gboolean plain_t =
        t != NULL && JSON_NODE_HOLDS_VALUE (t) && json_node_get_value_type (t) == G_TYPE_INT64;

    if (hub_client_peek (text, len, &with_t)) {
      ck_assert_msg (with_t.seq == peek.seq && with_t.payload_len == peek.payload_len,
                     "%s: asking for t changes nothing else", text);
      if (with_t.has_payload_int)
        ck_assert_msg (plain_t && json_node_get_int (t) == with_t.payload_int,
                       "%s: payload t read as %" G_GINT64_FORMAT, text, with_t.payload_int);
      else
        ck_assert_msg (!plain_t || llabs (json_node_get_int (t)) > 999999999999999999LL,
                       "%s: payload t missed", text);
    }
  }
  return TRUE;
}

START_TEST (test_frames_read_like_jsonparser)
{
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    ck_assert_msg (check_agrees (frames[i], strlen (frames[i])), "should take %s", frames[i]);
}
END_TEST

START_TEST (test_fields)
{
  HubClientPeek peek = {0};

  ck_assert (hub_client_peek (frames[0], strlen (frames[0]), &peek));
  ck_assert_msg (peek.type_len == 7 && memcmp (peek.type, "message", 7) == 0, "type");
  ck_assert_msg (peek.room_len == 6 && memcmp (peek.room, "lg-r17", 6) == 0, "room");
  ck_assert_msg (peek.from_len == 7 && memcmp (peek.from, "lg-u204", 7) == 0, "from");
  ck_assert_ptr_null (peek.user);
  ck_assert_int_eq (peek.seq, 4213);
  ck_assert (!peek.has_id);
  ck_assert_msg (peek.payload_len == 35 && memcmp (peek.payload, "{\"t\":81234567890123", 19) == 0,
                 "payload span");
  ck_assert (hub_client_peek (frames[2], strlen (frames[2]), &peek));
  ck_assert_msg (peek.has_id && peek.seq == 99, "a reply: id and seq");
  {
    static const char twice[] = "{\"type\":\"direct\",\"from\":\"u\",\"to\":\"v\",\"ts\":1,"
                                "\"payload\":{\"t\":1,\"t\":2}}";
    HubClientPeek with_t = {.payload_int_name = "t"};

    ck_assert_msg (hub_client_peek (twice, strlen (twice), &peek), "taken when t is not asked for");
    ck_assert_msg (!hub_client_peek (twice, strlen (twice), &with_t),
                   "the asked member twice: left to the slow path");
    ck_assert (hub_client_peek (frames[0], strlen (frames[0]), &with_t));
    ck_assert_msg (with_t.has_payload_int && with_t.payload_int == 81234567890123, "payload t");
  }
}
END_TEST

/* Malformed, or holding what only the slow path reads exactly: refused. */
static const char *const refused[] = {
    "",
    "   ",
    "[1,2]",
    "\"text\"",
    "42",
    "{",
    "{\"type\":\"ok\"",
    "{\"type\":\"ok\",}",
    "{\"type\":\"ok\"}x",
    "{\"type\":\"ok\"}{}",
    "{\"type\" \"ok\"}",
    "{type:\"ok\"}",
    "{'type':'ok'}",
    "{\"type\":ok}",
    "{\"a\":tru}",
    "{\"a\":truex}",
    "{\"a\":nul}",
    "{\"a\":[1,2,]}",
    "{\"a\":[1 2]}",
    "{\"a\":{\"b\":1,}}",
    "{\"a\":\"unterminated}",
    "{\"a\":\"ends in a backslash\\",
    "{\"a\":\"\\x41\"}",
    "{\"a\":\"\\u00g1\"}",
    "{\"a\":\"\\u00\"}",
    "{\"a\":\"tab\there\"}",
    "{\"a\":\"new\nline\"}",
    "{\"a\":-}",
    "{\"a\":--1}",
    "{\"a\":01}",
    "{\"a\":-01}",
    "{\"a\":+1}",
    "{\"a\":1.}",
    "{\"a\":.5}",
    "{\"a\":1e}",
    "{\"a\":1e+}",
    "{\"\":1}",
    "{\"a\":{\"\":1}}",
    "\xef\xbb\xbf{\"a\":1}",
    "{\"a\":1}\f",
    /* members of interest that only the slow path reads exactly */
    "{\"type\":\"mess\\u0061ge\"}",
    "{\"typ\\u0065\":\"message\"}",
    "{\"room\":\"a\",\"room\":7}",
    "{\"seq\":1.0}",
    "{\"seq\":1e2}",
    "{\"seq\":\"1\"}",
    "{\"seq\":-1}",
    "{\"seq\":9223372036854775807}",
    "{\"seq\":1,\"seq\":2}",
    "{\"type\":\"a\",\"type\":\"b\"}",
    "{\"id\":1,\"id\":2}",
    "{\"payload\":{},\"payload\":{}}",
};

START_TEST (test_refused)
{
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    HubClientPeek peek = {0};

    ck_assert_msg (!hub_client_peek (refused[i], strlen (refused[i]), &peek),
                   "the reader should refuse '%s'", refused[i]);
  }
}
END_TEST

START_TEST (test_bounds)
{
  static const char nul[] = "{\"a\":\"x\0y\"}";
  g_autoptr (GString) ok = g_string_new ("{\"a\":");
  g_autoptr (GString) deep = g_string_new ("{\"a\":");
  g_autoptr (GString) hostile = g_string_new ("{\"a\":");
  HubClientPeek peek = {0};

  ck_assert_msg (!hub_client_peek (nul, sizeof nul - 1, &peek), "a NUL inside a string");
  ck_assert_msg (!hub_client_peek (frames[0], strlen (frames[0]) - 1, &peek), "a truncated frame");
  /* 32 levels (the root and 31 arrays) are read; 33 are refused. */
  for (guint i = 0; i < 31; i++)
    g_string_append_c (ok, '[');
  for (guint i = 0; i < 31; i++)
    g_string_append_c (ok, ']');
  g_string_append_c (ok, '}');
  ck_assert_msg (check_agrees (ok->str, ok->len), "32 levels should be read");
  for (guint i = 0; i < 32; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 32; i++)
    g_string_append_c (deep, ']');
  g_string_append_c (deep, '}');
  ck_assert (!hub_client_peek (deep->str, deep->len, &peek));
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (hostile, '[');
  ck_assert_msg (!hub_client_peek (hostile->str, hostile->len, &peek),
                 "100,000 open brackets are refused without recursing deep");
}
END_TEST

/* Strings are crossed eight bytes at a time: a special byte at any offset
 * must still be seen. */
START_TEST (test_special_bytes_at_every_offset)
{
  for (guint len = 0; len < 40; len++) {
    for (guint at = 0; at < len; at++) {
      g_autoptr (GString) text = g_string_new ("{\"type\":\"message\",\"pad\":\"");
      HubClientPeek peek = {0};
      gsize start = text->len;

      for (guint i = 0; i < len; i++)
        g_string_append_c (text, 'a' + (i % 26));
      g_string_append (text, "\",\"room\":\"r\",\"seq\":5}");
      /* a control character: refused */
      text->str[start + at] = '\x1f';
      ck_assert_msg (!hub_client_peek (text->str, text->len, &peek),
                     "a control character at %u of %u should be seen", at, len);
      /* a quote: the string ends there, and what follows is not JSON */
      text->str[start + at] = '"';
      ck_assert_msg (!hub_client_peek (text->str, text->len, &peek) || at == len - 1,
                     "a quote at %u of %u should end the string", at, len);
      /* a backslash escaping the next byte: still one string, read through */
      text->str[start + at] = '\\';
      if (at + 1 < len) {
        text->str[start + at + 1] = 'n';
        ck_assert_msg (check_agrees (text->str, text->len),
                       "an escape at %u of %u should be crossed", at, len);
        ck_assert (hub_client_peek (text->str, text->len, &peek));
        ck_assert_msg (peek.seq == 5 && peek.room_len == 1, "the members after it are read");
      }
    }
  }
}
END_TEST

/* The top-level scalars, as JsonParser reads them. */
START_TEST (test_scalars)
{
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++) {
    g_autoptr (JsonObject) scalars = json_object_new ();
    g_autoptr (JsonObject) tree = NULL;
    g_autoptr (GList) names = NULL;

    if (!hub_client_peek_scalars (frames[i], strlen (frames[i]), scalars))
      continue;
    tree = parse (frames[i], strlen (frames[i]));
    ck_assert_ptr_nonnull (tree);
    names = json_object_get_members (tree);
    for (GList *l = names; l != NULL; l = l->next) {
      JsonNode *want = json_object_get_member (tree, l->data);
      JsonNode *got = json_object_get_member (scalars, l->data);

      if (JSON_NODE_HOLDS_OBJECT (want) || JSON_NODE_HOLDS_ARRAY (want))
        ck_assert_msg (got == NULL, "%s: %s left out", frames[i], (char *)l->data);
      else
        ck_assert_msg (got != NULL && json_node_equal (want, got), "%s: %s as JsonParser has it",
                       frames[i], (char *)l->data);
    }
    ck_assert_int_le (json_object_get_size (scalars), json_object_get_size (tree));
  }
  {
    static const char reply[] = "{\"type\":\"ok\",\"id\":3,\"rooms\":[{\"a\":1}]}";
    static const char escape[] = "{\"a\":\"\\n\"}";
    static const char fraction[] = "{\"a\":1.5}";
    static const char bad[] = "{\"a\":[1,]}";
    g_autoptr (JsonObject) o = json_object_new ();

    ck_assert_msg (hub_client_peek_scalars (reply, strlen (reply), o) &&
                       json_object_get_size (o) == 2,
                   "a reply's scalars");
    ck_assert_msg (!hub_client_peek_scalars (escape, strlen (escape), o), "an escape");
    ck_assert_msg (!hub_client_peek_scalars (fraction, strlen (fraction), o), "a fraction");
    ck_assert_msg (!hub_client_peek_scalars (bad, strlen (bad), o), "a bad array");
  }
}
END_TEST

/* Random damage to the frames (seeded, bounded): whatever the reader still
 * takes must read exactly as JsonParser reads it. JsonParser only sees what
 * the reader took and holds no \u escape (json-glib 1.6 leaks on lone
 * surrogates). */
START_TEST (test_mutations_agree)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261128);
  static const char alphabet[] = "{}[]\":,\\-0123456789.eEtrufalsn \t\nxu";
  guint taken = 0;

  for (guint round = 0; round < 40000; round++) {
    const char *base = frames[g_rand_int_range (rand, 0, G_N_ELEMENTS (frames))];
    g_autofree char *text = g_strdup (base);
    gsize len = strlen (text);
    guint edits = g_rand_int_range (rand, 1, 4);
    HubClientPeek peek = {0};

    for (guint e = 0; e < edits && len > 0; e++) {
      gsize at = g_rand_int_range (rand, 0, (gint32)len);

      switch (g_rand_int_range (rand, 0, 3)) {
        case 0:
          text[at] = alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)];
          break;
        case 1:
          memmove (text + at, text + at + 1, len - at);
          len--;
          break;
        default:
          len = at;
          text[len] = '\0';
          break;
      }
    }
    if (strstr (text, "\\u") != NULL || !g_utf8_validate (text, len, NULL)) {
      hub_client_peek (text, len, &peek); /* must not crash either */
      continue;
    }
    taken += check_agrees (text, len);
  }
  ck_assert_msg (taken > 1000, "some damaged frames stay valid JSON (%u taken)", taken);
}
END_TEST

/* The same read, @a of @text_a and @b of @text_b: spans at the same offsets. */
static void
check_same_read (const HubClientPeek *a, const char *text_a, const HubClientPeek *b,
                 const char *text_b)
{
#define SAME_SPAN(f)                                                                               \
  ck_assert_msg ((a->f == NULL && b->f == NULL) ||                                                 \
                     (a->f != NULL && b->f != NULL && a->f - text_a == b->f - text_b),             \
                 "%s: " #f " differs", text_b)
  SAME_SPAN (type);
  SAME_SPAN (room);
  SAME_SPAN (from);
  SAME_SPAN (user);
  SAME_SPAN (payload);
#undef SAME_SPAN
  ck_assert_msg (a->type_len == b->type_len && a->room_len == b->room_len &&
                     a->from_len == b->from_len && a->user_len == b->user_len &&
                     a->payload_len == b->payload_len,
                 "%s: a span's length differs", text_b);
  ck_assert_msg (a->seq == b->seq && a->has_id == b->has_id && a->id == b->id, "%s: seq or id",
                 text_b);
  ck_assert_msg (a->has_payload_int == b->has_payload_int &&
                     (!a->has_payload_int || a->payload_int == b->payload_int),
                 "%s: the payload integer differs", text_b);
}

/* hub_client_peek_again reads as hub_client_peek whatever came before on the
 * thread: the same frame again (in another buffer, so the spans must be
 * rebased), a frame of the same length with one byte changed, another payload
 * name asked for, frames refused. */
START_TEST (test_again_reads_as_peek)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261208);
  static const char *const names[] = {NULL, "t", "p", ""};
  static const char digits[] = "0123456789x\"";
  guint repeats = 0;

  for (guint round = 0; round < 20000; round++) {
    const char *base = frames[g_rand_int_range (rand, 0, G_N_ELEMENTS (frames))];
    gsize len = strlen (base);
    /* Not NUL-terminated, at a fresh address each time. */
    g_autofree char *text = g_malloc (len + 1);
    const char *name = names[g_rand_int_range (rand, 0, G_N_ELEMENTS (names))];
    guint times = g_rand_int_range (rand, 1, 4);
    HubClientPeek want = {.payload_int_name = name}, got = {.payload_int_name = name};
    gboolean want_ok, got_ok;

    memcpy (text, base, len);
    text[len] = '#';
    /* One in three: one byte changed, the length kept. */
    if (g_rand_int_range (rand, 0, 3) == 0)
      text[g_rand_int_range (rand, 0, (gint32)len)] =
          digits[g_rand_int_range (rand, 0, sizeof digits - 1)];
    want_ok = hub_client_peek (text, len, &want);
    for (guint t = 0; t < times; t++) {
      g_autofree char *copy = g_memdup2 (text, len + 1);

      got.payload_int_name = name;
      got.payload_int_name_len = 0;
      got_ok = hub_client_peek_again (copy, len, &got);
      ck_assert_msg (got_ok == want_ok, "%.*s: taken %d, hub_client_peek %d", (int)len, copy,
                     got_ok, want_ok);
      if (want_ok)
        check_same_read (&want, text, &got, copy);
      repeats += t > 0;
    }
  }
  ck_assert_msg (repeats > 5000, "frames were read again (%u)", repeats);
}
END_TEST

static Suite *
peek_suite (void)
{
  Suite *s = suite_create ("client-peek");
  TCase *tc = tcase_create ("peek");

  tcase_add_test (tc, test_frames_read_like_jsonparser);
  tcase_add_test (tc, test_fields);
  tcase_add_test (tc, test_refused);
  tcase_add_test (tc, test_bounds);
  tcase_add_test (tc, test_special_bytes_at_every_offset);
  tcase_add_test (tc, test_scalars);
  tcase_add_test (tc, test_mutations_agree);
  tcase_add_test (tc, test_again_reads_as_peek);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (peek_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

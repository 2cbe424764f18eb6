/* test-client-scan.c: HubClient's fast frame reader (libhub/client/hub-client-scan.c):
 * it takes the frames servers send, builds exactly the tree JsonParser builds
 * for them, and refuses (NULL: the caller falls back to JsonParser) malformed
 * and hostile input and everything outside its strict subset of JSON. */
#include <check.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "../../libhub/client/hub-client-scan.h"

/* ---- the slow path, and a strict comparison ---- */

static JsonNode *
slow_parse (const char *text, gsize len)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, (gssize)len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  return root != NULL ? json_node_ref (root) : NULL;
}

/* Same node kinds, value types, values and member order. */
static gboolean
same_tree (JsonNode *a, JsonNode *b)
{
  if (JSON_NODE_TYPE (a) != JSON_NODE_TYPE (b))
    return FALSE;
  switch (JSON_NODE_TYPE (a)) {
    case JSON_NODE_NULL:
      return TRUE;
    case JSON_NODE_VALUE:
      if (json_node_get_value_type (a) != json_node_get_value_type (b))
        return FALSE;
      switch (json_node_get_value_type (a)) {
        case G_TYPE_INT64:
          return json_node_get_int (a) == json_node_get_int (b);
        case G_TYPE_BOOLEAN:
          return json_node_get_boolean (a) == json_node_get_boolean (b);
        case G_TYPE_STRING:
          return strcmp (json_node_get_string (a), json_node_get_string (b)) == 0;
        default:
          return json_node_get_double (a) == json_node_get_double (b);
      }
    case JSON_NODE_ARRAY: {
      JsonArray *x = json_node_get_array (a), *y = json_node_get_array (b);

      if (json_array_get_length (x) != json_array_get_length (y))
        return FALSE;
      for (guint i = 0; i < json_array_get_length (x); i++) {
        if (!same_tree (json_array_get_element (x, i), json_array_get_element (y, i)))
          return FALSE;
      }
      return TRUE;
    }
    case JSON_NODE_OBJECT: {
      JsonObject *x = json_node_get_object (a), *y = json_node_get_object (b);
      g_autoptr (GList) mx = json_object_get_members (x);
      g_autoptr (GList) my = json_object_get_members (y);
      GList *l, *m;

      for (l = mx, m = my; l != NULL && m != NULL; l = l->next, m = m->next) {
        if (strcmp (l->data, m->data) != 0 ||
            !same_tree (json_object_get_member (x, l->data), json_object_get_member (y, m->data)))
          return FALSE;
      }
      return l == NULL && m == NULL;
    }
    default:
      return FALSE;
  }
}

/* Whatever the fast reader takes, JsonParser takes too, with the same tree.
 * Returns whether the fast reader took it. */
static gboolean
check_agrees (const char *text, gsize len)
{
  g_autoptr (JsonNode) fast = hub_client_scan_frame (text, len);
  g_autoptr (JsonNode) slow = NULL;

  if (fast == NULL)
    return FALSE;
  slow = slow_parse (text, len);
  ck_assert_msg (slow != NULL, "JsonParser should take what the fast reader took: %.*s", (int)len,
                 text);
  ck_assert_msg (same_tree (fast, slow),
                 "the fast reader's tree should equal JsonParser's for %.*s", (int)len, text);
  ck_assert_msg (JSON_NODE_HOLDS_OBJECT (fast) && json_node_is_immutable (fast),
                 "the fast reader should return a sealed object for %.*s", (int)len, text);
  return TRUE;
}

/* The frames HubClient receives most, as hub-server writes them. */
static const char *const hot_frames[] = {
    "{\"type\":\"message\",\"room\":\"lg-r17\",\"seq\":4213,\"from\":\"lg-u204\",\"device\":"
    "\"d1\",\"ts\":1764300000123,\"payload\":{\"t\":81234567890123,\"p\":204,\"n\":17}}",
    "{\"type\":\"message\",\"room\":\"r\",\"seq\":1,\"from\":\"u\",\"device\":\"d\",\"ts\":0,"
    "\"payload\":{\"t\":1,\"p\":0,\"n\":1,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}",
    "{\"type\":\"ok\",\"id\":12,\"room\":\"lobby\",\"seq\":99}",
    "{\"type\":\"ok\",\"id\":3}",
    "{\"type\":\"pong\",\"id\":7}",
    "{\"type\":\"error\",\"id\":9,\"code\":\"rate_limited\",\"message\":\"slow down\"}",
    "{\"type\":\"welcome\",\"id\":1,\"user\":\"alice\",\"device\":\"d-1\",\"conn\":\"c42\","
    "\"node\":\"vm\",\"rooms\":[\"a\",\"b\"],\"resume\":[]}",
    "{\"type\":\"direct\",\"from\":\"bob\",\"to\":\"alice\",\"device\":\"d\",\"ts\":5,"
    "\"payload\":{\"text\":\"hi \\\"there\\\"\\n\",\"ok\":true,\"none\":null,\"neg\":-42}}",
    "{\"type\":\"resumed\",\"room\":\"r\",\"from\":3,\"to\":9,\"complete\":false}",
    "{\"type\":\"presence\",\"room\":\"r\",\"user\":\"\xc3\xa9l\xc3\xa8ve\",\"event\":\"join\"}",
    "  {\"type\" : \"typing\" ,\r\n\t\"room\" : \"r\" , \"user\" : \"u\" }  \n",
    "{\"type\":\"ok\",\"id\":1,\"rooms\":[{\"room\":\"a\",\"seq\":0},{\"room\":\"b\",\"seq\":"
    "999999999999999999}],\"empty\":{},\"list\":[]}",
};

START_TEST (test_hot_frames_taken_and_equal)
{
  for (guint i = 0; i < G_N_ELEMENTS (hot_frames); i++)
    ck_assert_msg (check_agrees (hot_frames[i], strlen (hot_frames[i])),
                   "the fast reader should take the server frame %s", hot_frames[i]);
}
END_TEST

START_TEST (test_fields_read)
{
  g_autoptr (JsonNode) node = hub_client_scan_frame (hot_frames[0], strlen (hot_frames[0]));
  JsonObject *frame, *payload;

  ck_assert_ptr_nonnull (node);
  frame = json_node_get_object (node);
  ck_assert_str_eq (json_object_get_string_member (frame, "type"), "message");
  ck_assert_str_eq (json_object_get_string_member (frame, "room"), "lg-r17");
  ck_assert_int_eq (json_object_get_int_member (frame, "seq"), 4213);
  ck_assert_int_eq (json_object_get_int_member (frame, "ts"), 1764300000123);
  payload = json_object_get_object_member (frame, "payload");
  ck_assert_ptr_nonnull (payload);
  ck_assert_int_eq (json_object_get_int_member (payload, "t"), 81234567890123);
  ck_assert_int_eq (json_object_get_int_member (payload, "p"), 204);
  ck_assert_int_eq (json_object_get_size (frame), 7);
}
END_TEST

/* Not JSON, or not JSON this reader takes: NULL, never a wrong tree. */
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
    "{\"type\":tru}",
    "{\"type\":truex}",
    "{\"type\":nul}",
    "{\"a\":[1,2,]}",
    "{\"a\":[1 2]}",
    "{\"a\":\"unterminated}",
    "{\"a\":\"ends in a backslash\\",
    "{\"a\":\"\\u00e9\"}",
    "{\"a\":\"\\ud800\"}",
    "{\"a\":\"\\u0000\"}",
    "{\"a\":\"\\x41\"}",
    "{\"a\":\"tab\there\"}",
    "{\"a\":\"new\nline\"}",
    "{\"a\":\"\xff\xfe\"}",
    "{\"a\":\"\xc3\"}",
    "{\"\xed\xa0\x80\":1}",
    "{\"a\":1.5}",
    "{\"a\":1e3}",
    "{\"a\":1E3}",
    "{\"a\":-}",
    "{\"a\":--1}",
    "{\"a\":01}",
    "{\"a\":-01}",
    "{\"a\":+1}",
    "{\"a\":9223372036854775807}",
    "{\"a\":99999999999999999999999}",
    "{\"a\":1,\"a\":2}",
    "{\"\":1}",
    "\xef\xbb\xbf{\"a\":1}",
    "{\"a\":1}\f",
    "\v{\"a\":1}",
};

START_TEST (test_refuses_malformed_and_unusual)
{
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autoptr (JsonNode) node = hub_client_scan_frame (refused[i], strlen (refused[i]));

    ck_assert_msg (node == NULL, "the fast reader should refuse (leave to JsonParser) '%s'",
                   refused[i]);
  }
}
END_TEST

START_TEST (test_refuses_embedded_nul)
{
  static const char text[] = "{\"a\":\"x\0y\"}";
  g_autoptr (JsonNode) node = hub_client_scan_frame (text, sizeof text - 1);

  ck_assert_msg (node == NULL, "a NUL inside a string should be refused");
  /* A length that stops inside the frame is a truncated frame. */
  ck_assert_ptr_null (hub_client_scan_frame (hot_frames[0], strlen (hot_frames[0]) - 1));
  ck_assert_ptr_null (hub_client_scan_frame (hot_frames[0], 0));
}
END_TEST

START_TEST (test_depth_bound)
{
  g_autoptr (GString) ok = g_string_new ("{\"a\":");
  g_autoptr (GString) deep = g_string_new ("{\"a\":");
  g_autoptr (GString) hostile = g_string_new (NULL);
  g_autoptr (JsonNode) hostile_node = NULL;

  /* 32 levels (the root object and 31 arrays) are read; 33 are left to JsonParser. */
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
  ck_assert_ptr_null (hub_client_scan_frame (deep->str, deep->len));
  /* 100,000 open brackets (JsonParser 1.6 crashes on them; the codec guards
   * the server; here the reader must just refuse without recursing deep). */
  g_string_append_c (hostile, '{');
  g_string_append (hostile, "\"a\":");
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (hostile, '[');
  hostile_node = hub_client_scan_frame (hostile->str, hostile->len);
  ck_assert_ptr_null (hostile_node);
}
END_TEST

START_TEST (test_escapes_decoded_like_jsonparser)
{
  static const char text[] = "{\"s\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t end\",\"k\\\"ey\":true}";
  g_autoptr (JsonNode) node = hub_client_scan_frame (text, strlen (text));

  ck_assert_ptr_nonnull (node);
  ck_assert_str_eq (json_object_get_string_member (json_node_get_object (node), "s"),
                    "q\" b\\ s/ \b\f\n\r\t end");
  ck_assert_msg (check_agrees (text, strlen (text)), "escapes should decode as in JsonParser");
}
END_TEST

START_TEST (test_integer_edges)
{
  static const char *const taken[] = {
      "{\"a\":0}",
      "{\"a\":-0}",
      "{\"a\":-1}",
      "{\"a\":999999999999999999}",
      "{\"a\":-999999999999999999}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (taken); i++)
    ck_assert_msg (check_agrees (taken[i], strlen (taken[i])), "should take %s", taken[i]);
}
END_TEST

/* Random damage to real frames (seeded, bounded): whatever the fast reader
 * still takes must be exactly what JsonParser reads. Only inputs the fast
 * reader took reach JsonParser (1.6 leaks on lone surrogates and crashes on
 * deep nesting, which the reader never takes). */
START_TEST (test_mutations_agree)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261128);
  static const char alphabet[] = "{}[]\":,\\-0123456789.eEtrufalsn \t\nxu\x80\xc3\xa9";
  guint taken = 0;

  for (guint round = 0; round < 40000; round++) {
    const char *base = hot_frames[g_rand_int_range (rand, 0, G_N_ELEMENTS (hot_frames))];
    g_autofree char *text = g_strdup (base);
    gsize len = strlen (text);
    guint edits = g_rand_int_range (rand, 1, 4);

    for (guint e = 0; e < edits && len > 0; e++) {
      gsize at = g_rand_int_range (rand, 0, (gint32)len);

      switch (g_rand_int_range (rand, 0, 3)) {
        case 0: /* replace a byte */
          text[at] = alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)];
          break;
        case 1: /* delete a byte */
          memmove (text + at, text + at + 1, len - at);
          len--;
          break;
        default: /* truncate */
          len = at;
          break;
      }
    }
    if (check_agrees (text, len))
      taken++;
  }
  /* Some damage leaves valid JSON (a digit changed): the comparison ran. */
  ck_assert_msg (taken > 1000, "some damaged frames should still be taken (%u were)", taken);
}
END_TEST

static Suite *
client_scan_suite (void)
{
  Suite *s = suite_create ("client-scan");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"hot frames taken and equal", test_hot_frames_taken_and_equal},
      {"fields read", test_fields_read},
      {"refuses malformed and unusual", test_refuses_malformed_and_unusual},
      {"refuses embedded NUL and truncation", test_refuses_embedded_nul},
      {"depth bound", test_depth_bound},
      {"escapes decoded like JsonParser", test_escapes_decoded_like_jsonparser},
      {"integer edges", test_integer_edges},
      {"mutations agree", test_mutations_agree},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_test (tc, cases[i].test);
    suite_add_tcase (s, tc);
  }
  return s;
}

int
main (void)
{
  SRunner *runner = srunner_create (client_scan_suite ());
  int failed;

  srunner_run_all (runner, CK_NORMAL);
  failed = srunner_ntests_failed (runner);
  srunner_free (runner);
  return failed == 0 ? 0 : 1;
}

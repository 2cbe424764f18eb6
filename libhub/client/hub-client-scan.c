/* hub-client-scan.c: HubClient's fast reader of received frames. A
 * JsonParser per frame (a GObject, a GScanner, a signal per member) was the
 * largest cost of receiving a message in hub-loadgen; this reader walks the
 * bytes once and builds the nodes directly. It takes only what it can read
 * exactly as JsonParser does and returns NULL for the rest, so the caller's
 * fallback keeps every odd case (escapes, floats, big numbers, hostile input)
 * on json-glib's behaviour. */
#include "hub-client-scan.h"

#include <string.h>

/* Deeper frames go to JsonParser (the codec bounds what servers may nest). */
#define MAX_DEPTH 32
/* 18 digits always fit in a gint64. */
#define MAX_DIGITS 18

typedef struct {
  const char *p;
  const char *end;
  guint depth;
} Scan;

static JsonNode *scan_value (Scan *s);

static void
skip_space (Scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
    s->p++;
}

/* At a '"': the string's contents (owned), or NULL (not taken). */
static char *
scan_string (Scan *s)
{
  const char *start = ++s->p;
  gboolean escapes = FALSE, high = FALSE;
  GString *out;

  while (s->p < s->end && *s->p != '"') {
    guchar c = (guchar)*s->p;

    if (c < 0x20)
      return NULL;
    if (c == '\\') {
      escapes = TRUE;
      if (++s->p == s->end)
        return NULL;
    } else if (c >= 0x80) {
      high = TRUE;
    }
    s->p++;
  }
  if (s->p == s->end)
    return NULL;
  s->p++; /* the closing quote */
  if (high && !g_utf8_validate (start, s->p - 1 - start, NULL))
    return NULL;
  if (!escapes)
    return g_strndup (start, s->p - 1 - start);

  out = g_string_sized_new (s->p - start);
  for (const char *q = start; q < s->p - 1; q++) {
    if (*q != '\\') {
      g_string_append_c (out, *q);
      continue;
    }
    switch (*++q) {
      case '"':
      case '\\':
      case '/':
        g_string_append_c (out, *q);
        break;
      case 'b':
        g_string_append_c (out, '\b');
        break;
      case 'f':
        g_string_append_c (out, '\f');
        break;
      case 'n':
        g_string_append_c (out, '\n');
        break;
      case 'r':
        g_string_append_c (out, '\r');
        break;
      case 't':
        g_string_append_c (out, '\t');
        break;
      default: /* \u (surrogates, \u0000: JsonParser's own ways) or invalid */
        g_string_free (out, TRUE);
        return NULL;
    }
  }
  return g_string_free (out, FALSE);
}

static JsonNode *
scan_number (Scan *s)
{
  gboolean negative = FALSE;
  const char *digits;
  guint64 value = 0;

  if (*s->p == '-') {
    negative = TRUE;
    s->p++;
  }
  digits = s->p;
  while (s->p < s->end && g_ascii_isdigit (*s->p)) {
    value = value * 10 + (guint64)(*s->p - '0');
    s->p++;
  }
  if (s->p == digits || s->p - digits > MAX_DIGITS || (digits[0] == '0' && s->p - digits > 1))
    return NULL;
  if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
    return NULL;
  return json_node_init_int (json_node_alloc (), negative ? -(gint64)value : (gint64)value);
}

static gboolean
scan_word (Scan *s, const char *word)
{
  gsize n = strlen (word);

  if ((gsize)(s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return FALSE;
  s->p += n;
  return TRUE;
}

static JsonNode *
scan_object (Scan *s)
{
  g_autoptr (JsonObject) object = json_object_new ();

  s->p++; /* '{' */
  skip_space (s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    return json_node_init_object (json_node_alloc (), object);
  }
  for (;;) {
    g_autofree char *name = NULL;
    JsonNode *member;

    /* (JsonParser refuses an empty member name.) */
    if (s->p == s->end || *s->p != '"' || (name = scan_string (s)) == NULL || name[0] == '\0')
      return NULL;
    skip_space (s);
    if (s->p == s->end || *s->p != ':')
      return NULL;
    s->p++;
    skip_space (s);
    if ((member = scan_value (s)) == NULL)
      return NULL;
    if (json_object_has_member (object, name)) {
      json_node_unref (member);
      return NULL;
    }
    json_object_set_member (object, name, member);
    skip_space (s);
    if (s->p == s->end)
      return NULL;
    if (*s->p == '}') {
      s->p++;
      return json_node_init_object (json_node_alloc (), object);
    }
    if (*s->p != ',')
      return NULL;
    s->p++;
    skip_space (s);
  }
}

static JsonNode *
scan_array (Scan *s)
{
  g_autoptr (JsonArray) array = json_array_new ();

  s->p++; /* '[' */
  skip_space (s);
  if (s->p < s->end && *s->p == ']') {
    s->p++;
    return json_node_init_array (json_node_alloc (), array);
  }
  for (;;) {
    JsonNode *element = scan_value (s);

    if (element == NULL)
      return NULL;
    json_array_add_element (array, element);
    skip_space (s);
    if (s->p == s->end)
      return NULL;
    if (*s->p == ']') {
      s->p++;
      return json_node_init_array (json_node_alloc (), array);
    }
    if (*s->p != ',')
      return NULL;
    s->p++;
    skip_space (s);
  }
}

static JsonNode *
scan_value (Scan *s)
{
  JsonNode *node = NULL;

  if (s->p == s->end)
    return NULL;
  switch (*s->p) {
    case '{':
    case '[':
      if (++s->depth > MAX_DEPTH)
        return NULL;
      node = *s->p == '{' ? scan_object (s) : scan_array (s);
      s->depth--;
      return node;
    case '"': {
      char *text = scan_string (s);

      if (text == NULL)
        return NULL;
      node = json_node_init_string (json_node_alloc (), text);
      g_free (text);
      return node;
    }
    case 't':
      return scan_word (s, "true") ? json_node_init_boolean (json_node_alloc (), TRUE) : NULL;
    case 'f':
      return scan_word (s, "false") ? json_node_init_boolean (json_node_alloc (), FALSE) : NULL;
    case 'n':
      return scan_word (s, "null") ? json_node_init_null (json_node_alloc ()) : NULL;
    default:
      if (*s->p == '-' || g_ascii_isdigit (*s->p))
        return scan_number (s);
      return NULL;
  }
}

JsonNode *
hub_client_scan_frame (const char *text, gsize len)
{
  Scan s = {.p = text, .end = text + len};
  JsonNode *root;

  skip_space (&s);
  if (s.p == s.end || *s.p != '{')
    return NULL;
  root = scan_value (&s);
  if (root == NULL)
    return NULL;
  skip_space (&s);
  if (s.p != s.end) {
    json_node_unref (root);
    return NULL;
  }
  json_node_seal (root);
  return root;
}

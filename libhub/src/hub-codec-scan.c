/* hub-codec-scan.c: one strict pass over a client message before json-glib
 * parses it. json-glib recurses per nesting level, accepts more than JSON and
 * silently alters some valid JSON; this scan bounds the first, refuses the second
 * and flags the third, so the decoder can refuse it after reading the id. */
#include <math.h>
#include <string.h>

#include "hub-codec-private.h"

typedef enum {
  EXPECT_VALUE,
  EXPECT_VALUE_OR_CLOSE, /* just after '[' */
  EXPECT_KEY_OR_CLOSE,   /* just after '{' */
  EXPECT_KEY,            /* after ',' in an object */
  EXPECT_COLON,
  EXPECT_COMMA_OR_CLOSE,
  EXPECT_END,
} State;

typedef struct {
  const char *p;
  gsize len, i;
  char stack[HUB_JSON_MAX_DEPTH]; /* '{' or '[' per open container */
  guint depth;
  gboolean in_id_member; /* the current top-level member may be `id` */
  char member;           /* the current top-level member: 'i' id, 't' type, 0 another */
  HubJsonScan *scan;
} Scanner;

static void
skip_ws (Scanner *s)
{
  while (s->i < s->len) {
    char ch = s->p[s->i];

    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
      return;
    s->i++;
  }
}

/* Records valid JSON that json-glib would not read back as written. */
static void
flag (Scanner *s, const char *what)
{
  if (s->scan->unsupported == NULL)
    s->scan->unsupported = what;
  if (s->depth == 1 && s->in_id_member)
    s->scan->id_tainted = TRUE;
}

/* At the opening quote. Returns FALSE on bad grammar; sets *escaped when the
 * string has a backslash. */
static gboolean
scan_string (Scanner *s, gboolean *escaped)
{
  gboolean nul = FALSE;
  gboolean high_pending = FALSE; /* the last escape was a high surrogate */
  guint unit;

  *escaped = FALSE;
  s->i++;
  while (s->i < s->len) {
    guchar ch = (guchar)s->p[s->i];

    if (high_pending && ch != '\\')
      return FALSE;
    if (ch == '"') {
      s->i++;
      if (nul)
        flag (s, "strings must not contain \\u0000");
      return TRUE;
    }
    if (ch < 0x20)
      return FALSE; /* control characters must be escaped */
    if (ch != '\\') {
      s->i++;
      continue;
    }
    *escaped = TRUE;
    if (++s->i >= s->len)
      return FALSE;
    ch = (guchar)s->p[s->i];
    if (high_pending && ch != 'u')
      return FALSE;
    if (ch == 'u') {
      if (s->len - s->i < 5)
        return FALSE;
      unit = 0;
      for (int k = 1; k <= 4; k++) {
        if (!g_ascii_isxdigit (s->p[s->i + k]))
          return FALSE;
        unit = unit * 16 + (guint)g_ascii_xdigit_value (s->p[s->i + k]);
      }
      nul = nul || unit == 0;
      s->i += 5;
      /* A lone surrogate is no character: json-glib 1.6 leaks on some and
       * mangles others, so it never gets one. */
      if (unit >= 0xdc00 && unit <= 0xdfff && !high_pending)
        return FALSE;
      if (high_pending && !(unit >= 0xdc00 && unit <= 0xdfff))
        return FALSE;
      high_pending = unit >= 0xd800 && unit <= 0xdbff;
      continue;
    } else if (ch != '\0' && strchr ("\"\\/bfnrt", ch) != NULL) {
      s->i++;
    } else {
      return FALSE;
    }
  }
  return FALSE;
}

static gsize
scan_digits (Scanner *s)
{
  gsize start = s->i;

  while (s->i < s->len && g_ascii_isdigit (s->p[s->i]))
    s->i++;
  return s->i - start;
}

/* A float literal json-glib would turn into inf (1e400). */
static gboolean
float_overflows (const char *text, gsize n)
{
  char buf[64];
  g_autofree char *big = NULL;
  const char *str = buf;

  if (n < sizeof buf) {
    memcpy (buf, text, n);
    buf[n] = '\0';
  } else {
    str = big = g_strndup (text, n);
  }
  return !isfinite (g_ascii_strtod (str, NULL));
}

/* At '-' or a digit. Returns FALSE on bad grammar. */
static gboolean
scan_number (Scanner *s)
{
  gsize start = s->i, int_start, n_int;
  gboolean negative = FALSE, is_float = FALSE;

  if (s->p[s->i] == '-') {
    negative = TRUE;
    s->i++;
  }
  int_start = s->i;
  n_int = scan_digits (s);
  if (n_int == 0 || (n_int > 1 && s->p[int_start] == '0'))
    return FALSE;
  if (s->i < s->len && s->p[s->i] == '.') {
    s->i++;
    if (scan_digits (s) == 0)
      return FALSE;
    is_float = TRUE;
  }
  if (s->i < s->len && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
    s->i++;
    if (s->i < s->len && (s->p[s->i] == '+' || s->p[s->i] == '-'))
      s->i++;
    if (scan_digits (s) == 0)
      return FALSE;
    is_float = TRUE;
  }

  if (is_float) {
    if (float_overflows (s->p + start, s->i - start))
      flag (s, "number out of range");
  } else {
    /* Beyond gint64, json-glib 1.6 wraps: 9223372036854775808 reads as its negative. */
    const char *max = negative ? "9223372036854775808" : "9223372036854775807";

    if (n_int > 19 || (n_int == 19 && memcmp (s->p + int_start, max, 19) > 0))
      flag (s, "number out of range (integers must fit in 64 bits)");
  }
  return TRUE;
}

static gboolean
scan_literal (Scanner *s, const char *word)
{
  gsize n = strlen (word);

  if (s->len - s->i < n || memcmp (s->p + s->i, word, n) != 0)
    return FALSE;
  s->i += n;
  return TRUE;
}

/* A top-level `type` or `id` value just scanned, from @start to s->i: kept
 * as written (the last one wins, as in json-glib), so that the envelope can
 * be read without a JSON tree (hub_codec_peek). */
static void
note_member_value (Scanner *s, gsize start, HubJsonSpanKind kind)
{
  HubJsonSpan *span;

  if (s->depth != 1 || s->member == 0)
    return;
  span = s->member == 'i' ? &s->scan->id : &s->scan->type;
  span->at = start;
  span->len = s->i - start;
  span->kind = kind;
}

/* A scalar value (string, number, true, false, null). */
static gboolean
scan_scalar (Scanner *s)
{
  char ch = s->p[s->i];
  gsize start = s->i;
  gboolean escaped;

  if (ch == '"') {
    if (!scan_string (s, &escaped))
      return FALSE;
    note_member_value (s, start, escaped ? HUB_JSON_SPAN_ESCAPED_STRING : HUB_JSON_SPAN_STRING);
    return TRUE;
  }
  if (ch == '-' || g_ascii_isdigit (ch)) {
    if (!scan_number (s))
      return FALSE;
    note_member_value (s, start,
                       memchr (s->p + start, '.', s->i - start) != NULL ||
                               memchr (s->p + start, 'e', s->i - start) != NULL ||
                               memchr (s->p + start, 'E', s->i - start) != NULL
                           ? HUB_JSON_SPAN_OTHER
                           : HUB_JSON_SPAN_INTEGER);
    return TRUE;
  }
  if (!scan_literal (s, "true") && !scan_literal (s, "false") && !scan_literal (s, "null"))
    return FALSE;
  note_member_value (s, start, HUB_JSON_SPAN_OTHER);
  return TRUE;
}

/* An object key; at depth 1 it also decides whether the member may be `id`. */
static gboolean
scan_key (Scanner *s)
{
  gsize start = s->i + 1;
  gboolean escaped;

  /* A key with escapes may spell "id": assume it does. Decided before the key
   * is scanned so a \u0000 inside it taints the id too. */
  if (s->depth == 1)
    s->in_id_member = TRUE;
  if (!scan_string (s, &escaped))
    return FALSE;
  if (s->depth == 1) {
    gsize n = s->i - start - 1;

    s->in_id_member = escaped || (n == 2 && memcmp (s->p + start, "id", 2) == 0);
    s->member = 0;
    if (escaped)
      s->scan->escaped_key = TRUE;
    else if (n == 2 && memcmp (s->p + start, "id", 2) == 0)
      s->member = 'i';
    else if (n == 4 && memcmp (s->p + start, "type", 4) == 0)
      s->member = 't';
  }
  return TRUE;
}

static State
close_container (Scanner *s)
{
  s->i++;
  s->depth--;
  return s->depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
}

/* Advances by one token from @state; returns the next state, or sets
 * s->scan->error and returns EXPECT_END with the error set. */
static State
step (Scanner *s, State state)
{
  char ch = s->p[s->i];
  char top = s->depth > 0 ? s->stack[s->depth - 1] : '\0';

  switch (state) {
    case EXPECT_END:
      s->scan->error = "unexpected data after the JSON object";
      return EXPECT_END;

    case EXPECT_COLON:
      if (ch != ':')
        break;
      s->i++;
      return EXPECT_VALUE;

    case EXPECT_COMMA_OR_CLOSE:
      if (ch == ',') {
        s->i++;
        return top == '{' ? EXPECT_KEY : EXPECT_VALUE;
      }
      if ((ch == '}' && top == '{') || (ch == ']' && top == '['))
        return close_container (s);
      break;

    case EXPECT_KEY_OR_CLOSE:
    case EXPECT_KEY:
      if (ch == '}' && state == EXPECT_KEY_OR_CLOSE)
        return close_container (s);
      if (ch != '"' || !scan_key (s))
        break;
      return EXPECT_COLON;

    case EXPECT_VALUE_OR_CLOSE:
    case EXPECT_VALUE:
      if (ch == ']' && state == EXPECT_VALUE_OR_CLOSE)
        return close_container (s);
      s->scan->n_nodes++;
      if (s->depth == 0 && ch != '{') {
        s->scan->error = "a request must be a JSON object";
        return EXPECT_END;
      }
      if (ch == '{' || ch == '[') {
        if (s->depth >= HUB_JSON_MAX_DEPTH) {
          s->scan->error = "JSON nested too deeply";
          return EXPECT_END;
        }
        note_member_value (s, s->i, HUB_JSON_SPAN_OTHER);
        s->stack[s->depth++] = ch;
        s->i++;
        return ch == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
      }
      if (!scan_scalar (s))
        break;
      return EXPECT_COMMA_OR_CLOSE;
  }
  s->scan->error = "invalid JSON";
  return EXPECT_END;
}

void
hub_json_scan (const char *data, gsize len, HubJsonScan *scan)
{
  Scanner s = {.p = data, .len = len, .scan = scan};
  State state = EXPECT_VALUE;

  memset (scan, 0, sizeof *scan);
  /* Each step consumes at least one byte or sets an error: at most len steps. */
  for (;;) {
    skip_ws (&s);
    if (s.i >= len)
      break;
    state = step (&s, state);
    if (scan->error != NULL) {
      scan->error_at = s.i;
      return;
    }
  }
  if (state == EXPECT_END)
    return;
  scan->error = s.depth == 0 ? "empty message" : "truncated JSON";
  scan->error_at = len;
}

/* hub-client-peek.c: the in-place frame reader of hub-client-peek.h. One pass
 * over the bytes with a cursor; strings are crossed by a table lookup per
 * byte, and nothing is copied or allocated. */
#include "hub-client-peek.h"

#include "hub/hub-client.h"

#include <string.h>

/* As hub-client-scan.c: deeper frames and longer numbers go the slow way. */
#define MAX_DEPTH  32
#define MAX_DIGITS 18

typedef struct {
  const char *p;
  const char *end;
} Cur;

/* 1 for the bytes that end a run of plain string bytes: the control
 * characters, '"' (34) and '\\' (92). */
static const guint8 special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
};

static inline void
skip_space (Cur *c)
{
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
    c->p++;
}

/* At '"': moves past the closing quote. FALSE when the string is not closed,
 * holds a control character or a bad escape. *@escaped tells whether it had
 * an escape (its text then differs from its value). */
static gboolean
skip_string (Cur *c, gboolean *escaped)
{
  const char *p = c->p + 1, *end = c->end;

  for (;;) {
    while (p < end && !special[(guchar)*p])
      p++;
    if (p == end)
      return FALSE;
    if (*p == '"') {
      c->p = p + 1;
      return TRUE;
    }
    if (*p != '\\')
      return FALSE; /* a control character */
    *escaped = TRUE;
    if (++p == end)
      return FALSE;
    switch (*p) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        p++;
        break;
      case 'u':
        if (end - p < 5 || !g_ascii_isxdigit (p[1]) || !g_ascii_isxdigit (p[2]) ||
            !g_ascii_isxdigit (p[3]) || !g_ascii_isxdigit (p[4]))
          return FALSE;
        p += 5;
        break;
      default:
        return FALSE;
    }
  }
}

/* A number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static gboolean
skip_number (Cur *c)
{
  const char *p = c->p, *end = c->end, *digits;

  if (p < end && *p == '-')
    p++;
  digits = p;
  while (p < end && g_ascii_isdigit (*p))
    p++;
  if (p == digits || (*digits == '0' && p - digits > 1))
    return FALSE;
  if (p < end && *p == '.') {
    digits = ++p;
    while (p < end && g_ascii_isdigit (*p))
      p++;
    if (p == digits)
      return FALSE;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    digits = p;
    while (p < end && g_ascii_isdigit (*p))
      p++;
    if (p == digits)
      return FALSE;
  }
  c->p = p;
  return TRUE;
}

/* An integer without fraction or exponent, at most MAX_DIGITS digits. */
static gboolean
read_int (Cur *c, gint64 *out)
{
  const char *p = c->p, *end = c->end, *digits;
  gboolean negative = FALSE;
  guint64 value = 0;

  if (p < end && *p == '-') {
    negative = TRUE;
    p++;
  }
  digits = p;
  while (p < end && g_ascii_isdigit (*p))
    value = value * 10 + (guint64)(*p++ - '0');
  if (p == digits || p - digits > MAX_DIGITS || (*digits == '0' && p - digits > 1))
    return FALSE;
  if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
    return FALSE;
  c->p = p;
  *out = negative ? -(gint64)value : (gint64)value;
  return TRUE;
}

static gboolean
skip_word (Cur *c, const char *word, gsize n)
{
  if ((gsize)(c->end - c->p) < n || memcmp (c->p, word, n) != 0)
    return FALSE;
  c->p += n;
  return TRUE;
}

/* Called with the cursor at a member's value; must leave it after the value. */
typedef gboolean (*MemberFunc) (Cur *c, const char *name, gsize name_len, gboolean escaped,
                                gpointer data);

static gboolean skip_value (Cur *c, guint depth);

/* At '{' (@depth counts it): every member, each value through @func, or
 * skipped when @func is NULL. (JsonParser refuses an empty member name, so
 * this reader does too.) */
static gboolean
walk_object (Cur *c, guint depth, MemberFunc func, gpointer data)
{
  c->p++;
  skip_space (c);
  if (c->p < c->end && *c->p == '}') {
    c->p++;
    return TRUE;
  }
  for (;;) {
    const char *name;
    gboolean escaped = FALSE;
    gsize name_len;

    if (c->p == c->end || *c->p != '"')
      return FALSE;
    name = c->p + 1;
    if (!skip_string (c, &escaped))
      return FALSE;
    name_len = (gsize)(c->p - 1 - name);
    if (name_len == 0)
      return FALSE;
    skip_space (c);
    if (c->p == c->end || *c->p != ':')
      return FALSE;
    c->p++;
    skip_space (c);
    if (func != NULL ? !func (c, name, name_len, escaped, data) : !skip_value (c, depth))
      return FALSE;
    skip_space (c);
    if (c->p == c->end)
      return FALSE;
    if (*c->p == '}') {
      c->p++;
      return TRUE;
    }
    if (*c->p != ',')
      return FALSE;
    c->p++;
    skip_space (c);
  }
}

static gboolean
walk_array (Cur *c, guint depth)
{
  c->p++;
  skip_space (c);
  if (c->p < c->end && *c->p == ']') {
    c->p++;
    return TRUE;
  }
  for (;;) {
    if (!skip_value (c, depth))
      return FALSE;
    skip_space (c);
    if (c->p == c->end)
      return FALSE;
    if (*c->p == ']') {
      c->p++;
      return TRUE;
    }
    if (*c->p != ',')
      return FALSE;
    c->p++;
    skip_space (c);
  }
}

/* Any value, at nesting @depth (that of the container holding it). */
static gboolean
skip_value (Cur *c, guint depth)
{
  gboolean escaped = FALSE;

  if (c->p == c->end)
    return FALSE;
  switch (*c->p) {
    case '{':
      return depth < MAX_DEPTH && walk_object (c, depth + 1, NULL, NULL);
    case '[':
      return depth < MAX_DEPTH && walk_array (c, depth + 1);
    case '"':
      return skip_string (c, &escaped);
    case 't':
      return skip_word (c, "true", 4);
    case 'f':
      return skip_word (c, "false", 5);
    case 'n':
      return skip_word (c, "null", 4);
    default:
      return skip_number (c);
  }
}

/* A string value without escapes, as a span. */
static gboolean
read_plain_string (Cur *c, const char **out, gsize *out_len)
{
  const char *start = c->p + 1;
  gboolean escaped = FALSE;

  if (c->p == c->end || *c->p != '"' || !skip_string (c, &escaped) || escaped)
    return FALSE;
  *out = start;
  *out_len = (gsize)(c->p - 1 - start);
  return TRUE;
}

static gboolean
is_name (const char *name, gsize len, const char *want, gsize want_len)
{
  return len == want_len && memcmp (name, want, len) == 0;
}

static gboolean
peek_member (Cur *c, const char *name, gsize len, gboolean escaped, gpointer data)
{
  HubClientPeek *peek = data;
  const char **span = NULL;
  gsize *span_len = NULL;

  /* An escaped name may spell one of ours: only the slow path can tell. */
  if (escaped)
    return FALSE;
  switch (len) {
    case 2:
      if (is_name (name, len, "id", 2)) {
        if (peek->has_id)
          return FALSE;
        peek->has_id = TRUE;
      }
      break;
    case 3:
      if (is_name (name, len, "seq", 3)) {
        if (peek->seq >= 0)
          return FALSE;
        return read_int (c, &peek->seq) && peek->seq >= 0;
      }
      break;
    case 4:
      if (is_name (name, len, "type", 4)) {
        span = &peek->type;
        span_len = &peek->type_len;
      } else if (is_name (name, len, "room", 4)) {
        span = &peek->room;
        span_len = &peek->room_len;
      } else if (is_name (name, len, "from", 4)) {
        span = &peek->from;
        span_len = &peek->from_len;
      } else if (is_name (name, len, "user", 4)) {
        span = &peek->user;
        span_len = &peek->user_len;
      }
      break;
    case 7:
      if (is_name (name, len, "payload", 7)) {
        const char *start = c->p;

        if (peek->payload != NULL || !skip_value (c, 1))
          return FALSE;
        peek->payload = start;
        peek->payload_len = (gsize)(c->p - start);
        return TRUE;
      }
      break;
    default:
      break;
  }
  if (span != NULL && *span != NULL)
    return FALSE; /* twice */
  /* A string with an escape only the slow path reads exactly; a value of
   * another kind is absent, as json-glib's string getters say. */
  if (span != NULL && c->p < c->end && *c->p == '"')
    return read_plain_string (c, span, span_len);
  return skip_value (c, 1);
}

gboolean
hub_client_peek (const char *text, gsize len, HubClientPeek *peek)
{
  Cur c = {text, text + len};

  memset (peek, 0, sizeof *peek);
  peek->seq = -1;
  skip_space (&c);
  if (c.p == c.end || *c.p != '{' || !walk_object (&c, 1, peek_member, peek))
    return FALSE;
  skip_space (&c);
  return c.p == c.end;
}

typedef struct {
  const char *name;
  gsize name_len;
  gint64 *value;
  guint found;
} IntMember;

static gboolean
int_member (Cur *c, const char *name, gsize len, gboolean escaped, gpointer data)
{
  IntMember *want = data;

  if (escaped)
    return FALSE;
  if (is_name (name, len, want->name, want->name_len)) {
    want->found++;
    return want->found == 1 && read_int (c, want->value);
  }
  return skip_value (c, 1);
}

gboolean
hub_client_peek_int (const char *text, gsize len, const char *name, gint64 *value)
{
  Cur c = {text, text + len};
  IntMember want = {name, strlen (name), value, 0};

  skip_space (&c);
  if (c.p == c.end || *c.p != '{' || !walk_object (&c, 1, int_member, &want))
    return FALSE;
  skip_space (&c);
  return c.p == c.end && want.found == 1;
}

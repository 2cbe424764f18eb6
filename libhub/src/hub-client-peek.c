/* hub-client-peek.c: the in-place frame reader of hub-client-peek.h. One pass
 * over the bytes with a cursor; strings are crossed by a table lookup per
 * byte, and nothing is copied or allocated. */
#include "hub-client-peek.h"

#include <string.h>

/* As hub-client-scan.c: deeper frames and longer numbers go the slow way. */
#define MAX_DEPTH  32
#define MAX_DIGITS 18

typedef struct {
  const char *p;
  const char *end;
} Cur;

static inline gboolean
is_digit (char c)
{
  return (guchar)(c - '0') < 10;
}

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
/* The special bytes ('"', '\\', below 0x20) among the 8 of @x, as the high
 * bit of each such byte: the "has a zero byte" and "has a byte less than n"
 * word tricks. A borrow may also flag a byte above a special one, never
 * below it, so the lowest flag always marks the first special byte. */
static inline guint64
special_bytes (guint64 x)
{
  const guint64 ones = G_GUINT64_CONSTANT (0x0101010101010101);
  const guint64 highs = G_GUINT64_CONSTANT (0x8080808080808080);
  guint64 quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
  guint64 found =
      ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | ((x - ones * 0x20) & ~x);

  return found & highs;
}

static gboolean
skip_string (Cur *c, gboolean *escaped)
{
  const char *p = c->p + 1, *end = c->end;

  for (;;) {
    /* Eight bytes at a time (the first special one found by its flag, on a
     * little-endian machine), the last few byte by byte. */
    for (;;) {
      guint64 x, found;

      if (end - p < 8) {
        while (p < end && !special[(guchar)*p])
          p++;
        break;
      }
      memcpy (&x, p, 8);
      found = special_bytes (x);
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
      if (found != 0) {
        p += __builtin_ctzll (found) / 8;
        break;
      }
#else
      if (found != 0) {
        while (!special[(guchar)*p])
          p++;
        break;
      }
#endif
      p += 8;
    }
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
  while (p < end && is_digit (*p))
    p++;
  if (p == digits || (*digits == '0' && p - digits > 1))
    return FALSE;
  if (p < end && *p == '.') {
    digits = ++p;
    while (p < end && is_digit (*p))
      p++;
    if (p == digits)
      return FALSE;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    digits = p;
    while (p < end && is_digit (*p))
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
  while (p < end && is_digit (*p))
    value = value * 10 + (guint64)(*p++ - '0');
  if (p == digits || p - digits > MAX_DIGITS || (*digits == '0' && p - digits > 1))
    return FALSE;
  if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
    return FALSE;
  c->p = p;
  *out = negative ? -(gint64)value : (gint64)value;
  return TRUE;
}

/* An integer as read_int() takes it, not converted. */
static gboolean
skip_integer (Cur *c)
{
  const char *p = c->p, *end = c->end, *digits;

  if (p < end && *p == '-')
    p++;
  digits = p;
  while (p < end && is_digit (*p))
    p++;
  if (p == digits || p - digits > MAX_DIGITS || (*digits == '0' && p - digits > 1))
    return FALSE;
  if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
    return FALSE;
  c->p = p;
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

/* A member of the payload: the integer asked for, if it is that one. */
static gboolean
payload_member (Cur *c, const char *name, gsize len, gboolean escaped, gpointer data)
{
  HubClientPeek *peek = data;

  /* An escaped name may spell the one asked for: only the slow path can tell. */
  if (escaped)
    return FALSE;
  if (is_name (name, len, peek->payload_int_name, strlen (peek->payload_int_name))) {
    if (peek->has_payload_int)
      return FALSE; /* twice */
    peek->has_payload_int = read_int (c, &peek->payload_int);
    return peek->has_payload_int || skip_value (c, 2);
  }
  return skip_value (c, 2);
}

/* The payload value at the cursor (checked whole, and its integer member
 * read when one is asked for and it is an object). */
static gboolean
read_payload (Cur *c, HubClientPeek *peek)
{
  peek->payload = c->p;
  if (peek->payload_int_name != NULL && c->p < c->end && *c->p == '{') {
    if (!walk_object (c, 2, payload_member, peek))
      return FALSE;
  } else if (!skip_value (c, 1)) {
    return FALSE;
  }
  peek->payload_len = (gsize)(c->p - peek->payload);
  return TRUE;
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
      if (is_name (name, len, "payload", 7))
        return peek->payload == NULL && read_payload (c, peek);
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

/* ---- the layouts hub-server writes ----
 *
 * hub-codec-encode.c writes a message as
 *   {"type":"message","room":S,"seq":N,"from":S[,"device":S],"ts":N,"payload":V}
 * and a direct as {"type":"direct","from":S,"to":S[,"device":S],"ts":N,"payload":V}.
 * A frame laid out exactly so is read by matching that layout: the member
 * names are compared where they must be instead of being scanned, which is
 * most of the cost of a small frame. The values are read and checked as the
 * walk below does (the payload is walked whole); any other layout goes to
 * the walk. */

/* Moves past the literal @word (@n bytes) if it is next. */
static inline gboolean
expect (Cur *c, const char *word, gsize n)
{
  if ((gsize)(c->end - c->p) < n || memcmp (c->p, word, n) != 0)
    return FALSE;
  c->p += n;
  return TRUE;
}

#define EXPECT(c, literal) expect ((c), literal, sizeof literal - 1)

/* The rest of a frame after its last member's name: the payload, '}', the end. */
static gboolean
layout_tail (Cur *c, HubClientPeek *peek)
{
  if (!EXPECT (c, ",\"ts\":") || !skip_integer (c) || !EXPECT (c, ",\"payload\":"))
    return FALSE;
  if (!read_payload (c, peek))
    return FALSE;
  if (!EXPECT (c, "}"))
    return FALSE;
  skip_space (c);
  return c->p == c->end;
}

static gboolean
layout_device (Cur *c)
{
  const char *device;
  gsize device_len;

  return !EXPECT (c, ",\"device\":") || read_plain_string (c, &device, &device_len);
}

static gboolean
peek_layout (const char *text, gsize len, HubClientPeek *peek)
{
  Cur c = {text, text + len};

  if (EXPECT (&c, "{\"type\":\"message\",\"room\":")) {
    peek->type = text + 9;
    peek->type_len = 7;
    return read_plain_string (&c, &peek->room, &peek->room_len) && EXPECT (&c, ",\"seq\":") &&
           read_int (&c, &peek->seq) && peek->seq >= 0 && EXPECT (&c, ",\"from\":") &&
           read_plain_string (&c, &peek->from, &peek->from_len) && layout_device (&c) &&
           layout_tail (&c, peek);
  }
  if (EXPECT (&c, "{\"type\":\"direct\",\"from\":")) {
    const char *to;
    gsize to_len;

    peek->type = text + 9;
    peek->type_len = 6;
    return read_plain_string (&c, &peek->from, &peek->from_len) && EXPECT (&c, ",\"to\":") &&
           read_plain_string (&c, &to, &to_len) && layout_device (&c) && layout_tail (&c, peek);
  }
  return FALSE;
}

static void
peek_reset (HubClientPeek *peek)
{
  const char *name = peek->payload_int_name;

  memset (peek, 0, sizeof *peek);
  peek->payload_int_name = name;
  peek->seq = -1;
}

gboolean
hub_client_peek (const char *text, gsize len, HubClientPeek *peek)
{
  Cur c = {text, text + len};

  peek_reset (peek);
  if (peek_layout (text, len, peek))
    return TRUE;
  peek_reset (peek);
  skip_space (&c);
  if (c.p == c.end || *c.p != '{' || !walk_object (&c, 1, peek_member, peek))
    return FALSE;
  skip_space (&c);
  return c.p == c.end;
}

/* hub-client-peek.c: the in-place frame reader of hub-client-peek.h. One pass
 * over the bytes with a pointer (every helper takes the position and returns
 * the next one, or NULL when the text is not what it must be); strings are
 * crossed sixteen bytes at a time and integers eight digits at a time, and
 * nothing is copied or allocated. A frame laid out as hub-server writes it is
 * read by matching that layout; any other is walked member by member. */
#include "hub-client-peek.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* As hub-client-scan.c: deeper frames and longer numbers go the slow way. */
#define MAX_DEPTH  32
#define MAX_DIGITS 18

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

static inline gboolean
is_digit (char c)
{
  return (guchar)(c - '0') < 10;
}

static inline const char *
skip_space (const char *p, const char *end)
{
  /* Servers write no whitespace: one comparison in the common case. */
  while (p < end && (guchar)*p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  return p;
}

/* ---- strings ---- */

#if !defined(__SSE2__)
/* The special bytes among the 8 of @x as the high bit of each: the "has a
 * zero byte" and "has a byte less than n" word tricks. A borrow may also
 * flag a byte after a special one, never before it, so the lowest flag
 * marks the first special byte. */
static inline guint64
special_bytes (guint64 x)
{
  const guint64 ones = G_GUINT64_CONSTANT (0x0101010101010101);
  guint64 quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
  guint64 found =
      ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | ((x - ones * 0x20) & ~x);

  return found & G_GUINT64_CONSTANT (0x8080808080808080);
}
#endif

/* The first special byte at or after @p (or @end). */
static inline const char *
find_special (const char *p, const char *end)
{
#if defined(__SSE2__)
  /* Sixteen bytes at a time: '"', '\\', and the bytes ≤ 0x1f (which min_epu8
   * leaves unchanged). */
  const __m128i quote = _mm_set1_epi8 ('"'), backslash = _mm_set1_epi8 ('\\');
  const __m128i control = _mm_set1_epi8 (0x1f);

  while (end - p >= 16) {
    __m128i x = _mm_loadu_si128 ((const __m128i *)(const void *)p);
    __m128i hit =
        _mm_or_si128 (_mm_or_si128 (_mm_cmpeq_epi8 (x, quote), _mm_cmpeq_epi8 (x, backslash)),
                      _mm_cmpeq_epi8 (_mm_min_epu8 (x, control), x));
    int mask = _mm_movemask_epi8 (hit);

    if (mask != 0)
      return p + __builtin_ctz ((unsigned)mask);
    p += 16;
  }
#elif G_BYTE_ORDER == G_LITTLE_ENDIAN
  while (end - p >= 8) {
    guint64 x, found;

    memcpy (&x, p, 8);
    found = special_bytes (x);
    if (found != 0)
      return p + __builtin_ctzll (found) / 8;
    p += 8;
  }
#endif
  while (p < end && !special[(guchar)*p])
    p++;
  return p;
}

/* @p at '"': past the closing quote, or NULL when the string is not closed,
 * holds a control character or a bad escape. *@escaped is set when it had
 * an escape (its text then differs from its value). */
static const char *
skip_string (const char *p, const char *end, gboolean *escaped)
{
  p++;
  for (;;) {
    p = find_special (p, end);
    if (p == end)
      return NULL;
    if (*p == '"')
      return p + 1;
    if (*p != '\\')
      return NULL; /* a control character */
    *escaped = TRUE;
    if (++p == end)
      return NULL;
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
          return NULL;
        p += 5;
        break;
      default:
        return NULL;
    }
  }
}

/* A string value without escapes at @p, as a span; past it, or NULL. */
static inline const char *
read_plain_string (const char *p, const char *end, const char **out, gsize *out_len)
{
  const char *start = p + 1, *q;

  if (p == end || *p != '"')
    return NULL;
  q = find_special (start, end);
  if (q == end || *q != '"')
    return NULL; /* not closed, an escape or a control character */
  *out = start;
  *out_len = (gsize)(q - start);
  return q + 1;
}

/* ---- numbers ---- */

#if G_BYTE_ORDER == G_LITTLE_ENDIAN
#define ONES(b) (G_GUINT64_CONSTANT (0x0101010101010101) * (b))

/* The number the 8 ASCII digits of @x spell, first byte first (Lemire's three
 * multiplications); zero bytes count as leading zeros. */
static inline guint64
parse_eight (guint64 x)
{
  x = (x & ONES (0x0f)) * 2561 >> 8;
  x = (x & G_GUINT64_CONSTANT (0x00FF00FF00FF00FF)) * 6553601 >> 16;
  return (x & G_GUINT64_CONSTANT (0x0000FFFF0000FFFF)) * G_GUINT64_CONSTANT (42949672960001) >> 32;
}

/* How many of the 8 bytes of @x, from the first, are ASCII digits. (A carry
 * of the +6 comes only out of a byte ≥ 0xfa, a non-digit: it can only touch
 * the bytes after the run.) */
static inline guint
leading_digits (guint64 x)
{
  guint64 off =
      ((x & ONES (0xf0)) ^ ONES (0x30)) | (((x + ONES (0x06)) & ONES (0xf0)) ^ ONES (0x30));

  return off != 0 ? (guint)__builtin_ctzll (off) / 8 : 8;
}
#endif

/* The digits at @p as a number, and where they end (*@stop). The callers
 * refuse more than MAX_DIGITS of them (the value is then meaningless). */
static inline guint64
read_digits (const char *p, const char *end, const char **stop)
{
  guint64 value = 0;

#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  static const guint64 scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};

  /* Eight bytes at a time: all digits, or the run's last ones. */
  while (end - p >= 8) {
    guint64 x;
    guint n;

    memcpy (&x, p, 8);
    n = leading_digits (x);
    if (n < 8) {
      if (n > 0)
        value = value * scale[n] + parse_eight (x << (8 * (8 - n)));
      *stop = p + n;
      return value;
    }
    value = value * 100000000 + parse_eight (x);
    p += 8;
  }
#endif
  while (p < end && is_digit (*p))
    value = value * 10 + (guint64)(*p++ - '0');
  *stop = p;
  return value;
}

/* An integer without fraction or exponent, at most MAX_DIGITS digits: past
 * it, or NULL. */
static inline const char *
read_int (const char *p, const char *end, gint64 *out)
{
  const char *digits, *stop;
  gboolean negative = p < end && *p == '-';
  guint64 value;

  digits = p + negative;
  value = read_digits (digits, end, &stop);
  if (stop == digits || stop - digits > MAX_DIGITS || (*digits == '0' && stop - digits > 1))
    return NULL;
  if (stop < end && (*stop == '.' || *stop == 'e' || *stop == 'E'))
    return NULL;
  *out = negative ? -(gint64)value : (gint64)value;
  return stop;
}

/* A number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static const char *
skip_number (const char *p, const char *end)
{
  const char *digits;

  if (p < end && *p == '-')
    p++;
  digits = p;
  read_digits (digits, end, &p);
  if (p == digits || (*digits == '0' && p - digits > 1))
    return NULL;
  if (p < end && *p == '.') {
    digits = ++p;
    read_digits (digits, end, &p);
    if (p == digits)
      return NULL;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    digits = p;
    read_digits (digits, end, &p);
    if (p == digits)
      return NULL;
  }
  return p;
}

/* ---- values ---- */

static inline const char *
skip_word (const char *p, const char *end, const char *word, gsize n)
{
  return (gsize)(end - p) >= n && memcmp (p, word, n) == 0 ? p + n : NULL;
}

static const char *skip_value (const char *p, const char *end, guint depth);

/* @p at '{' or '[' (of nesting @depth): past the matching bracket, every
 * value inside checked, or NULL. (JsonParser refuses an empty member name, so
 * this reader does too.) */
static const char *
skip_container (const char *p, const char *end, guint depth)
{
  gboolean object = *p == '{';
  char close = object ? '}' : ']';

  p = skip_space (p + 1, end);
  if (p < end && *p == close)
    return p + 1;
  for (;;) {
    if (object) {
      const char *name = p;
      gboolean escaped = FALSE;

      if (p == end || *p != '"' || (p = skip_string (p, end, &escaped)) == NULL || p - name == 2)
        return NULL;
      p = skip_space (p, end);
      if (p == end || *p != ':')
        return NULL;
      p = skip_space (p + 1, end);
    }
    if ((p = skip_value (p, end, depth)) == NULL)
      return NULL;
    p = skip_space (p, end);
    if (p == end)
      return NULL;
    if (*p == close)
      return p + 1;
    if (*p != ',')
      return NULL;
    p = skip_space (p + 1, end);
  }
}

/* Any value, at nesting @depth (that of the container holding it). */
static const char *
skip_value (const char *p, const char *end, guint depth)
{
  gboolean escaped = FALSE;

  if (p == end)
    return NULL;
  switch (*p) {
    case '{':
    case '[':
      return depth < MAX_DEPTH ? skip_container (p, end, depth + 1) : NULL;
    case '"':
      return skip_string (p, end, &escaped);
    case 't':
      return skip_word (p, end, "true", 4);
    case 'f':
      return skip_word (p, end, "false", 5);
    case 'n':
      return skip_word (p, end, "null", 4);
    default:
      return skip_number (p, end);
  }
}

/* @p at a member name of an object: the name's span, past it and its colon
 * (at the value), or NULL. */
static inline const char *
read_name (const char *p, const char *end, const char **name, gsize *len, gboolean *escaped)
{
  const char *start = p + 1;

  *escaped = FALSE;
  if (p == end || *p != '"' || (p = skip_string (p, end, escaped)) == NULL)
    return NULL;
  *name = start;
  *len = (gsize)(p - 1 - start);
  if (*len == 0)
    return NULL;
  p = skip_space (p, end);
  if (p == end || *p != ':')
    return NULL;
  return skip_space (p + 1, end);
}

/* After a member's value: past the ',' (*@more TRUE) or the closing '}'. */
static inline const char *
next_member (const char *p, const char *end, gboolean *more)
{
  p = skip_space (p, end);
  if (p == end)
    return NULL;
  *more = *p == ',';
  if (*p != ',' && *p != '}')
    return NULL;
  return skip_space (p + 1, end);
}

static inline gboolean
is_name (const char *name, gsize len, const char *want, gsize want_len)
{
  if (len != want_len || name[0] != want[0])
    return FALSE;
  for (gsize i = 1; i < len; i++) {
    if (name[i] != want[i])
      return FALSE;
  }
  return TRUE;
}

/* The payload value at @p: checked whole, and when it is an object and an
 * integer member is asked for, that member read. Past it, or NULL. */
static const char *
read_payload (const char *p, const char *end, HubClientPeek *peek)
{
  gboolean more = TRUE;

  peek->payload = p;
  if (peek->payload_int_name == NULL || p == end || *p != '{') {
    p = skip_value (p, end, 1);
  } else {
    p = skip_space (p + 1, end);
    if (p < end && *p == '}') {
      p++;
    } else {
      while (more) {
        const char *name;
        gsize len;
        gboolean escaped;

        if ((p = read_name (p, end, &name, &len, &escaped)) == NULL)
          return NULL;
        /* An escaped name may spell the one asked for: only the slow path can tell. */
        if (escaped)
          return NULL;
        if (is_name (name, len, peek->payload_int_name, peek->payload_int_name_len)) {
          const char *after;

          if (peek->has_payload_int)
            return NULL; /* twice */
          after = read_int (p, end, &peek->payload_int);
          peek->has_payload_int = after != NULL;
          p = after != NULL ? after : skip_value (p, end, 2);
        } else {
          p = skip_value (p, end, 2);
        }
        if (p == NULL || (p = next_member (p, end, &more)) == NULL)
          return NULL;
      }
      /* next_member moved past the '}' and any space: back to just after it. */
      while (p[-1] != '}')
        p--;
    }
  }
  if (p != NULL)
    peek->payload_len = (gsize)(p - peek->payload);
  return p;
}

/* ---- the layouts hub-server writes ----
 *
 * hub-codec-encode.c writes a message as
 *   {"type":"message","room":S,"seq":N,"from":S[,"device":S],"ts":N,"payload":V}
 * and a direct as {"type":"direct","from":S,"to":S[,"device":S],"ts":N,"payload":V}.
 * A frame laid out exactly so is read by matching that layout: the member
 * names are compared where they must be instead of being scanned. The values
 * are read and checked as the walk below does (the payload is walked
 * whole); any other layout goes to the walk. */

#define EXPECT(p, end, literal)                                                                    \
  ((p) != NULL && (gsize)((end) - (p)) >= sizeof literal - 1 &&                                    \
           memcmp ((p), literal, sizeof literal - 1) == 0                                          \
       ? (p) + sizeof literal - 1                                                                  \
       : NULL)

/* The rest of a frame after its from (message) or to (direct): an optional
 * device, the timestamp, the payload, '}', the end. */
static gboolean
layout_tail (const char *p, const char *end, HubClientPeek *peek)
{
  const char *device, *at;
  gsize device_len;
  gint64 ts;

  if ((at = EXPECT (p, end, ",\"device\":")) != NULL)
    p = read_plain_string (at, end, &device, &device_len);
  p = EXPECT (p, end, ",\"ts\":");
  if (p == NULL || (p = read_int (p, end, &ts)) == NULL)
    return FALSE;
  p = EXPECT (p, end, ",\"payload\":");
  if (p == NULL || (p = read_payload (p, end, peek)) == NULL)
    return FALSE;
  p = EXPECT (p, end, "}");
  return p != NULL && skip_space (p, end) == end;
}

static gboolean
peek_layout (const char *text, gsize len, HubClientPeek *peek)
{
  const char *end = text + len, *p;

  if ((p = EXPECT (text, end, "{\"type\":\"message\",\"room\":")) != NULL) {
    peek->type = text + 9;
    peek->type_len = 7;
    p = read_plain_string (p, end, &peek->room, &peek->room_len);
    p = EXPECT (p, end, ",\"seq\":");
    if (p == NULL || (p = read_int (p, end, &peek->seq)) == NULL || peek->seq < 0)
      return FALSE;
    p = EXPECT (p, end, ",\"from\":");
    if (p == NULL || (p = read_plain_string (p, end, &peek->from, &peek->from_len)) == NULL)
      return FALSE;
    return layout_tail (p, end, peek);
  }
  if ((p = EXPECT (text, end, "{\"type\":\"direct\",\"from\":")) != NULL) {
    const char *to;
    gsize to_len;

    peek->type = text + 9;
    peek->type_len = 6;
    p = read_plain_string (p, end, &peek->from, &peek->from_len);
    p = EXPECT (p, end, ",\"to\":");
    if (p == NULL || (p = read_plain_string (p, end, &to, &to_len)) == NULL)
      return FALSE;
    return layout_tail (p, end, peek);
  }
  return FALSE;
}

/* ---- any other layout: member by member ---- */

/* One top-level member: the value read (members of interest) or checked. */
static const char *
peek_member (const char *p, const char *end, const char *name, gsize len, HubClientPeek *peek)
{
  const char **span = NULL;
  gsize *span_len = NULL;

  switch (len) {
    case 2:
      if (is_name (name, len, "id", 2)) {
        const char *after;

        if (peek->has_id)
          return NULL;
        peek->has_id = TRUE;
        if ((after = read_int (p, end, &peek->id)) != NULL && peek->id >= 0)
          return after;
        peek->id = -1;
      }
      break;
    case 3:
      if (is_name (name, len, "seq", 3)) {
        if (peek->seq >= 0)
          return NULL;
        p = read_int (p, end, &peek->seq);
        return p != NULL && peek->seq >= 0 ? p : NULL;
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
        return peek->payload == NULL ? read_payload (p, end, peek) : NULL;
      break;
    default:
      break;
  }
  if (span != NULL && *span != NULL)
    return NULL; /* twice */
  /* A string with an escape only the slow path reads exactly; a value of
   * another kind is absent, as json-glib's string getters say. */
  if (span != NULL && p < end && *p == '"')
    return read_plain_string (p, end, span, span_len);
  return skip_value (p, end, 1);
}

static void
peek_reset (HubClientPeek *peek)
{
  const char *name = peek->payload_int_name;
  gsize name_len = peek->payload_int_name_len;

  memset (peek, 0, sizeof *peek);
  peek->payload_int_name = name;
  peek->payload_int_name_len = name != NULL && name_len == 0 ? strlen (name) : name_len;
  peek->seq = -1;
  peek->id = -1;
}

gboolean
hub_client_peek (const char *text, gsize len, HubClientPeek *peek)
{
  const char *end = text + len, *p;
  gboolean more = TRUE;

  peek_reset (peek);
  if (peek_layout (text, len, peek))
    return TRUE;
  peek_reset (peek);
  p = skip_space (text, end);
  if (p == end || *p != '{')
    return FALSE;
  p = skip_space (p + 1, end);
  if (p < end && *p == '}') {
    p++;
  } else {
    while (more) {
      const char *name;
      gsize name_len;
      gboolean escaped;

      /* An escaped name may spell one of ours: only the slow path can tell. */
      if ((p = read_name (p, end, &name, &name_len, &escaped)) == NULL || escaped ||
          (p = peek_member (p, end, name, name_len, peek)) == NULL ||
          (p = next_member (p, end, &more)) == NULL)
        return FALSE;
    }
    return p == end;
  }
  return skip_space (p, end) == end;
}

/* ---- frames read lately on this thread ---- */

/* A few hundred slots of recently read frames, chosen by a hash of a few words
 * of the frame: the loadgen reads socket by socket, and each socket holds
 * several messages by then (m1, m2, … then the next socket's m1, m2, …), so
 * one slot would never hit. A collision only costs a miss. */
#define MEMO_SLOTS   256
#define MEMO_MIN_LEN 48  /* shorter frames are not kept (the hash reads 8 bytes at 32..40) */
#define MEMO_MAX_LEN 512 /* nor longer ones (deliveries are a few hundred bytes) */

typedef struct {
  gsize len;          /* 0: empty */
  HubClientPeek peek; /* what was read, its spans into text */
  gsize name_len;     /* the payload_int_name it was read with (the pointer is the caller's) */
  gboolean has_name;
  char name[16];
  char text[MEMO_MAX_LEN]; /* a copy of the frame */
} MemoSlot;

static GPrivate memo_key = G_PRIVATE_INIT (g_free); /* MemoSlot[MEMO_SLOTS] */

static inline const char *
rebase (const char *span, const char *from, const char *to)
{
  return span != NULL ? to + (span - from) : NULL;
}

static void
rebase_spans (HubClientPeek *peek, const char *from, const char *to)
{
  peek->type = rebase (peek->type, from, to);
  peek->room = rebase (peek->room, from, to);
  peek->from = rebase (peek->from, from, to);
  peek->user = rebase (peek->user, from, to);
  peek->payload = rebase (peek->payload, from, to);
}

static inline guint64
word_at (const char *p)
{
  guint64 w;

  memcpy (&w, p, 8);
  return w;
}

/* The slot of @text (@len ≥ MEMO_MIN_LEN): the length and four words — where
 * a message's seq sits, the middle, and the end (the payload's stamp). */
static inline guint
memo_slot (const char *text, gsize len)
{
  guint64 h = (guint64)len;

  h = (h ^ word_at (text + 32)) * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  h = (h ^ word_at (text + 40)) * G_GUINT64_CONSTANT (0xc2b2ae3d27d4eb4f);
  h = (h ^ word_at (text + len / 2 - 4)) * G_GUINT64_CONSTANT (0x165667b19e3779f9);
  h = (h ^ word_at (text + len - 16)) * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  return (guint)(h >> 56); /* MEMO_SLOTS = 256 */
}

gboolean
hub_client_peek_again (const char *text, gsize len, HubClientPeek *peek)
{
  MemoSlot *slots = g_private_get (&memo_key), *slot;
  const char *name = peek->payload_int_name;
  gsize name_len = name == NULL                      ? 0
                   : peek->payload_int_name_len == 0 ? strlen (name)
                                                     : peek->payload_int_name_len;

  if (len < MEMO_MIN_LEN || len > MEMO_MAX_LEN || name_len >= sizeof slots->name)
    return hub_client_peek (text, len, peek);
  if (slots == NULL) {
    slots = g_new0 (MemoSlot, MEMO_SLOTS);
    g_private_set (&memo_key, slots);
  }
  slot = &slots[memo_slot (text, len)];
  if (slot->len == len && slot->has_name == (name != NULL) && slot->name_len == name_len &&
      memcmp (slot->name, name != NULL ? name : "", name_len) == 0 &&
      memcmp (slot->text, text, len) == 0) {
    *peek = slot->peek;
    rebase_spans (peek, slot->text, text);
    peek->payload_int_name = name;
    peek->payload_int_name_len = name_len;
    return TRUE;
  }
  if (!hub_client_peek (text, len, peek))
    return FALSE;
  /* Replies are one of a kind. */
  if (peek->has_id)
    return TRUE;
  memcpy (slot->text, text, len);
  slot->len = len;
  slot->peek = *peek;
  rebase_spans (&slot->peek, text, slot->text);
  slot->peek.payload_int_name = NULL;
  slot->has_name = name != NULL;
  slot->name_len = name_len;
  if (name_len > 0)
    memcpy (slot->name, name, name_len);
  return TRUE;
}

gboolean
hub_client_peek_scalars (const char *text, gsize len, JsonObject *into)
{
  const char *end = text + len, *p = skip_space (text, end);
  gboolean more = TRUE;

  if (p == end || *p != '{')
    return FALSE;
  p = skip_space (p + 1, end);
  if (p < end && *p == '}')
    return skip_space (p + 1, end) == end;
  while (more) {
    const char *name, *value;
    gsize name_len;
    gboolean escaped;
    g_autofree char *key = NULL;

    if ((p = read_name (p, end, &name, &name_len, &escaped)) == NULL || escaped)
      return FALSE;
    value = p;
    key = g_strndup (name, name_len);
    switch (p < end ? *p : '\0') {
      case '"': {
        const char *s;
        gsize s_len;
        g_autofree char *copy = NULL;

        if ((p = read_plain_string (p, end, &s, &s_len)) == NULL)
          return FALSE;
        copy = g_strndup (s, s_len);
        json_object_set_string_member (into, key, copy);
        break;
      }
      case 't':
      case 'f':
      case 'n':
        if ((p = skip_value (p, end, 1)) == NULL)
          return FALSE;
        if (*value == 'n')
          json_object_set_null_member (into, key);
        else
          json_object_set_boolean_member (into, key, *value == 't');
        break;
      case '{':
      case '[':
        if ((p = skip_value (p, end, 1)) == NULL)
          return FALSE;
        break;
      default: {
        gint64 v;

        if ((p = read_int (p, end, &v)) == NULL)
          return FALSE;
        json_object_set_int_member (into, key, v);
        break;
      }
    }
    if ((p = next_member (p, end, &more)) == NULL)
      return FALSE;
  }
  return p == end;
}

/* hub-codec-private.h: inside the codec. The JSON writer shared by the decoder
 * (to re-encode a string id) and the encoders, strict RFC 8259 output whatever
 * json-glib's generator does (1.6 writes U+001F unescaped); and the strict scan
 * that guards the decoder. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Appends @str as a quoted JSON string: quotes, backslashes and control
 * characters escaped, other characters passed through as UTF-8. Invalid UTF-8
 * becomes U+FFFD, so the output is always valid JSON. */
void hub_json_append_string (GString *out, const char *str);
/* Appends @node compactly (no spaces), object members in insertion order.
 * Integers stay integers; doubles get the shortest text that reads back the same
 * and keep a fraction ("1.0"); non-finite doubles become null. */
void hub_json_append_node (GString *out, JsonNode *node);

/* ---- The strict scan of client messages (hub-codec-scan.c) ---- */

/* Containers nested deeper than this are refused before json-glib sees them:
 * its parser recurses once per level (1.6 overflows the stack near 100k). */
#define HUB_JSON_MAX_DEPTH 64

/* A top-level member's value as written in the message. */
typedef enum {
  HUB_JSON_SPAN_ABSENT = 0,
  HUB_JSON_SPAN_STRING,         /* a string without escapes: its text is its JSON */
  HUB_JSON_SPAN_ESCAPED_STRING, /* a string with backslash escapes */
  HUB_JSON_SPAN_INTEGER,        /* a number without fraction or exponent */
  HUB_JSON_SPAN_OTHER,          /* a float, true, false, null, an object or an array */
} HubJsonSpanKind;

typedef struct {
  gsize at, len; /* byte range in the message (for containers: where it starts) */
  HubJsonSpanKind kind;
} HubJsonSpan;

typedef struct {
  const char *error; /* (nullable) static text: not one JSON object, or too deep */
  gsize error_at;    /* byte offset of the error */
  /* (nullable) static text: valid JSON that json-glib would silently alter
   * (an integer beyond 64 bits wraps, 1e400 becomes inf, "\u0000" cuts a string). */
  const char *unsupported;
  /* The alteration may hit the top-level `id` (or a key that may spell it with
   * escapes): the id json-glib reads back must not be echoed. */
  gboolean id_tainted;
  /* The last top-level `type` and `id` values (hub_codec_peek), and whether a
   * top-level key had escapes (then either may hide behind it). */
  HubJsonSpan type, id;
  gboolean escaped_key;
  /* Values and object members read (json-glib builds a node for each). */
  gsize n_nodes;
} HubJsonScan;

/* Checks that @data is exactly one JSON object by RFC 8259's grammar (which is
 * stricter than json-glib: no comments, single quotes, hex, leading zeros, raw
 * control characters or a second value), nested at most HUB_JSON_MAX_DEPTH
 * levels. @data must be valid UTF-8 without NUL bytes. Allocates nothing except
 * for a float literal longer than 63 bytes. */
void hub_json_scan (const char *data, gsize len, HubJsonScan *scan);

G_END_DECLS

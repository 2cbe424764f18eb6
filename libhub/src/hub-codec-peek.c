/* hub-codec-peek.c: a request's envelope (its `type` and `id`, PROTOCOL.md §2)
 * read by the strict scan alone, without a JSON tree: linear in the message,
 * no allocation but the id's text. For the frames the server answers without
 * executing them: rate-limited ones, and anything but a hello before hello.
 * json-glib builds a node per value: a 64 KiB `[0,0,…]` cost 8.4 ms to
 * decode, the scan of the same message about 100 µs. */
#include <string.h>

#include "hub-codec-private.h"
#include "hub/hub-codec.h"

/* The canonical JSON of an id as hub_codec_decode() re-encodes it, NULL when
 * the span is not a usable id. (transfer full) */
static char *
id_text (const char *data, const HubJsonSpan *span)
{
  const char *p = data + span->at;

  switch (span->kind) {
    case HUB_JSON_SPAN_STRING:
      /* No escapes, no control characters (the scan refused those): the text
       * as written is already what hub_json_append_string() would write. */
      return g_strndup (p, span->len);
    case HUB_JSON_SPAN_ESCAPED_STRING: {
      /* One string: json-glib on this token alone is cheap. */
      g_autofree char *token = g_strndup (p, span->len);
      g_autoptr (JsonNode) node = json_from_string (token, NULL);
      GString *s;

      if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
          json_node_get_value_type (node) != G_TYPE_STRING)
        return NULL;
      s = g_string_new (NULL);
      hub_json_append_string (s, json_node_get_string (node));
      return g_string_free (s, FALSE);
    }
    case HUB_JSON_SPAN_INTEGER: {
      /* The scan flagged integers beyond 64 bits (id_tainted). */
      char buf[24]; /* at most 20 characters: the scan flagged longer integers */

      if (span->len >= sizeof buf)
        return NULL;
      memcpy (buf, p, span->len);
      buf[span->len] = '\0';
      return g_strdup_printf ("%" G_GINT64_FORMAT, g_ascii_strtoll (buf, NULL, 10));
    }
    case HUB_JSON_SPAN_ABSENT:
    case HUB_JSON_SPAN_OTHER:
    default:
      return NULL;
  }
}

/* A request type from the scanned `type`; HUB_REQ_UNKNOWN for other names. */
static HubRequestType
type_of (const char *data, const HubJsonSpan *span)
{
  /* The span is the quoted string; a name longer than any type is unknown. */
  gsize n = span->len - 2;

  for (int t = HUB_REQ_UNKNOWN + 1; t < HUB_REQ_N_TYPES; t++) {
    const char *name = hub_request_type_to_string ((HubRequestType)t);

    if (strlen (name) == n && memcmp (data + span->at + 1, name, n) == 0)
      return (HubRequestType)t;
  }
  return HUB_REQ_UNKNOWN;
}

void
hub_codec_peek (const char *data, gsize len, HubPeek *peek)
{
  HubJsonScan scan;

  g_return_if_fail (peek != NULL);
  memset (peek, 0, sizeof *peek);
  if (data == NULL || len == 0)
    return;
  hub_json_scan (data, len, &scan);
  /* What only json-glib can tell: invalid JSON (the decoder answers it
   * without building a tree too), a key with escapes that may spell `type`
   * or `id`, a `type` with escapes, an id json-glib would alter. */
  if (scan.error != NULL || scan.escaped_key || scan.id_tainted ||
      scan.type.kind == HUB_JSON_SPAN_ESCAPED_STRING)
    return;
  peek->sure = TRUE;
  peek->n_values = scan.n_nodes;
  if (scan.id.kind != HUB_JSON_SPAN_ABSENT) {
    peek->id_json = id_text (data, &scan.id);
    if (peek->id_json == NULL)
      return; /* an id that is neither an integer nor a string: bad_request */
  }
  if (scan.type.kind != HUB_JSON_SPAN_STRING)
    return; /* no type, or not a string: bad_request */
  peek->envelope_ok = TRUE;
  peek->type = type_of (data, &scan.type);
}

void
hub_peek_clear (HubPeek *peek)
{
  g_clear_pointer (&peek->id_json, g_free);
}

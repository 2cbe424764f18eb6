/* hub-codec-encode.c: server frames (PROTOCOL.md §2–§8) as compact JSON, keys in
 * the order the protocol shows them. Envelopes are written straight into the
 * frame's buffer with a private escaper; only payloads walk a JsonNode. */
#include "hub/hub-codec.h"

#include <math.h>
#include <string.h>

#include "hub-codec-private.h"
#include "hub-frame-private.h"

/* ---- JSON writer ------------------------------------------------------------ */

static const char hex_digits[] = "0123456789abcdef";

/* Escapes @len bytes of valid UTF-8 (no NUL inside), without the quotes. Safe
 * bytes are appended in runs. */
static void
append_escaped (GString *out, const char *str, gsize len)
{
  const char *run = str, *end = str + len;

  for (const char *p = str; p < end; p++) {
    guchar c = (guchar)*p;
    char esc[7] = {'\\', 'u', '0', '0', 0, 0, 0};

    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    g_string_append_len (out, run, p - run);
    run = p + 1;
    switch (c) {
      case '"':
        g_string_append (out, "\\\"");
        break;
      case '\\':
        g_string_append (out, "\\\\");
        break;
      case '\b':
        g_string_append (out, "\\b");
        break;
      case '\f':
        g_string_append (out, "\\f");
        break;
      case '\n':
        g_string_append (out, "\\n");
        break;
      case '\r':
        g_string_append (out, "\\r");
        break;
      case '\t':
        g_string_append (out, "\\t");
        break;
      default:
        esc[4] = hex_digits[c >> 4];
        esc[5] = hex_digits[c & 0xf];
        g_string_append_len (out, esc, 6);
        break;
    }
  }
  g_string_append_len (out, run, end - run);
}

void
hub_json_append_string (GString *out, const char *str)
{
  const char *p = str, *bad;

  if (str == NULL) {
    g_string_append (out, "null");
    return;
  }
  g_string_append_c (out, '"');
  /* Strings from the decoder are valid UTF-8; anything else is repaired one
   * byte at a time rather than put on the wire. */
  while (!g_utf8_validate (p, -1, &bad)) {
    append_escaped (out, p, bad - p);
    g_string_append (out, "\xef\xbf\xbd"); /* U+FFFD */
    p = bad + 1;
  }
  append_escaped (out, p, strlen (p));
  g_string_append_c (out, '"');
}

static void
append_int (GString *out, gint64 value)
{
  char buf[24], *end = buf + sizeof buf, *p = end;
  guint64 u = value < 0 ? (guint64)0 - (guint64)value : (guint64)value;

  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (value < 0)
    *--p = '-';
  g_string_append_len (out, p, end - p);
}

static void
append_double (GString *out, double value)
{
  static const char *const formats[] = {"%.15g", "%.16g", "%.17g"};
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (value)) {
    g_string_append (out, "null"); /* JSON has no inf or nan */
    return;
  }
  /* The shortest of these that reads back as the same double: 0.1, not
   * json-glib's 0.10000000000000001. %.17g always does. */
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    g_ascii_formatd (buf, sizeof buf, formats[i], value);
    if (g_ascii_strtod (buf, NULL) == value)
      break;
  }
  g_string_append (out, buf);
  /* Keep it a float for the reader: "1" would come back as an integer. */
  if (strpbrk (buf, ".eE") == NULL)
    g_string_append (out, ".0");
}

/* Appends `"key":value`, after a comma unless *@first. With @skip_envelope,
 * "type" and "id" are left out: in an ok reply the envelope owns them. */
static void
append_member (GString *out, const char *key, JsonNode *value, gboolean *first,
               gboolean skip_envelope)
{
  if (skip_envelope && (strcmp (key, "type") == 0 || strcmp (key, "id") == 0))
    return;
  if (!*first)
    g_string_append_c (out, ',');
  *first = FALSE;
  hub_json_append_string (out, key);
  g_string_append_c (out, ':');
  hub_json_append_node (out, value);
}

/* The members of @obj in insertion order, comma-separated. */
static void
append_members (GString *out, JsonObject *obj, gboolean first, gboolean skip_envelope)
{
#if JSON_CHECK_VERSION(1, 6, 0)
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  json_object_iter_init_ordered (&iter, obj);
  while (json_object_iter_next_ordered (&iter, &key, &value))
    append_member (out, key, value, &first, skip_envelope);
#else
  g_autoptr (GList) keys = json_object_get_members (obj); /* insertion order */

  for (GList *l = keys; l != NULL; l = l->next)
    append_member (out, l->data, json_object_get_member (obj, l->data), &first, skip_envelope);
#endif
}

/* Recursion depth is the node's depth: decoded payloads have at most 64 levels. */
void
hub_json_append_node (GString *out, JsonNode *node)
{
  if (node == NULL) {
    g_string_append (out, "null");
    return;
  }
  switch (JSON_NODE_TYPE (node)) {
    case JSON_NODE_OBJECT:
      g_string_append_c (out, '{');
      append_members (out, json_node_get_object (node), TRUE, FALSE);
      g_string_append_c (out, '}');
      break;
    case JSON_NODE_ARRAY: {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);

      g_string_append_c (out, '[');
      for (guint i = 0; i < n; i++) {
        if (i > 0)
          g_string_append_c (out, ',');
        hub_json_append_node (out, json_array_get_element (array, i));
      }
      g_string_append_c (out, ']');
      break;
    }
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node)) {
        case G_TYPE_INT64:
          append_int (out, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE:
          append_double (out, json_node_get_double (node));
          break;
        case G_TYPE_BOOLEAN:
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_STRING:
          hub_json_append_string (out, json_node_get_string (node));
          break;
        default:
          g_string_append (out, "null");
          break;
      }
      break;
    case JSON_NODE_NULL:
      g_string_append (out, "null");
      break;
  }
}

/* ---- Frame helpers ------------------------------------------------------------ */

/* Starts `{"type":"<type>"` in a new frame builder. */
static GString *
begin (const char *type, gsize hint)
{
  GString *b = hub_frame_builder_new (hint);

  g_string_append (b, "{\"type\":\"");
  g_string_append (b, type);
  g_string_append_c (b, '"');
  return b;
}

/* `,"id":<id_json>` when there is an id: it is already JSON, spliced verbatim. */
static void
append_id (GString *b, const char *id_json)
{
  if (id_json == NULL)
    return;
  g_string_append (b, ",\"id\":");
  g_string_append (b, id_json);
}

/* `,"<key>":` — keys are literals of this file, never need escaping. */
static void
append_key (GString *b, const char *key)
{
  g_string_append (b, ",\"");
  g_string_append (b, key);
  g_string_append (b, "\":");
}

static void
append_string_member (GString *b, const char *key, const char *value)
{
  append_key (b, key);
  hub_json_append_string (b, value);
}

static void
append_int_member (GString *b, const char *key, gint64 value)
{
  append_key (b, key);
  append_int (b, value);
}

static void
append_bool_member (GString *b, const char *key, gboolean value)
{
  append_key (b, key);
  g_string_append (b, value ? "true" : "false");
}

static HubFrame *
finish (GString *b, HubFrameFlags flags)
{
  g_string_append_c (b, '}');
  return hub_frame_builder_finish (b, flags);
}

/* ---- Replies ---------------------------------------------------------------- */

/* A NULL @message gets the code's string: an error frame always has both. */
HubFrame *
hub_encode_error (const char *id_json, HubErrorCode code, const char *message)
{
  const char *code_str = hub_error_code_to_string (code);
  GString *b = begin ("error", 64 + (message != NULL ? strlen (message) : 0));

  append_id (b, id_json);
  append_string_member (b, "code", code_str);
  append_string_member (b, "message", message != NULL ? message : code_str);
  return finish (b, HUB_FRAME_FLAG_NONE);
}

/* Members of @result named "type" or "id" are skipped: the envelope owns them
 * and a reply must not carry duplicate keys. */
HubFrame *
hub_encode_ok (const char *id_json, JsonObject *result)
{
  GString *b = begin ("ok", 128);

  append_id (b, id_json);
  if (result != NULL)
    append_members (b, result, FALSE, TRUE);
  return finish (b, HUB_FRAME_FLAG_NONE);
}

HubFrame *
hub_encode_history_ok (const char *id_json, HubFrame *const *messages, guint n, gboolean complete,
                       gboolean more)
{
  gsize total = 64 + (id_json != NULL ? strlen (id_json) : 0);
  GString *b;

  g_return_val_if_fail (messages != NULL || n == 0, NULL);

  for (guint i = 0; i < n; i++) {
    gsize len;

    hub_frame_payload (messages[i], &len);
    total += len + 1;
  }
  b = begin ("ok", total);
  append_id (b, id_json);
  append_key (b, "messages");
  g_string_append_c (b, '[');
  for (guint i = 0; i < n; i++) {
    gsize len;
    const char *json = hub_frame_payload (messages[i], &len);

    if (i > 0)
      g_string_append_c (b, ',');
    g_string_append_len (b, json, len);
  }
  g_string_append_c (b, ']');
  append_bool_member (b, "complete", complete);
  append_bool_member (b, "more", more);
  return finish (b, HUB_FRAME_FLAG_NONE);
}

/* A rate: an integer when it is one, else the shortest text that reads back. */
static void
append_rate (GString *b, double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (value == (double)(gint64)value)
    append_int (b, (gint64)value);
  else
    g_string_append (b, g_ascii_dtostr (buf, sizeof buf, value));
}

static void
append_limits (GString *b, const HubWelcomeLimits *l)
{
  append_key (b, "limits");
  g_string_append (b, "{\"rate_per_s\":");
  append_rate (b, l->rate_per_s);
  g_string_append (b, ",\"burst\":");
  append_rate (b, l->burst);
  append_int_member (b, "max_connections_per_user", l->max_connections_per_user);
  append_int_member (b, "max_subscriptions_per_user", l->max_subscriptions_per_user);
  append_int_member (b, "fanout_bytes_per_s", l->fanout_bytes_per_s);
  g_string_append_c (b, '}');
}

/* @w->rooms is read up to its NULL terminator, and no further than
 * @w->n_rooms entries when that is not 0. */
HubFrame *
hub_encode_welcome (const char *id_json, const HubWelcome *w)
{
  GString *b;

  g_return_val_if_fail (w != NULL, NULL);

  b = begin ("welcome", 256 + 24 * w->n_rooms);
  append_id (b, id_json);
  append_string_member (b, "conn", w->conn);
  append_string_member (b, "user", w->user);
  append_string_member (b, "device", w->device);
  append_string_member (b, "node", w->node);
  append_int_member (b, "heartbeat_s", w->heartbeat_s);
  append_int_member (b, "max_message_bytes", w->max_message_bytes);
  append_key (b, "rooms");
  g_string_append_c (b, '[');
  for (guint i = 0; w->rooms != NULL && w->rooms[i] != NULL && (w->n_rooms == 0 || i < w->n_rooms);
       i++) {
    if (i > 0)
      g_string_append_c (b, ',');
    hub_json_append_string (b, w->rooms[i]);
  }
  g_string_append_c (b, ']');
  if (w->n_epochs > 0) {
    append_key (b, "epochs");
    g_string_append_c (b, '{');
    for (guint i = 0; i < w->n_epochs; i++) {
      if (i > 0)
        g_string_append_c (b, ',');
      hub_json_append_string (b, w->epoch_rooms[i]);
      g_string_append_printf (b, ":%" G_GINT64_FORMAT, w->epochs[i]);
    }
    g_string_append_c (b, '}');
  }
  append_string_member (b, "server", w->server);
  if (w->expires_ts > 0)
    append_int_member (b, "expires_ts", w->expires_ts);
  if (w->limits != NULL)
    append_limits (b, w->limits);
  return finish (b, HUB_FRAME_FLAG_NONE);
}

HubFrame *
hub_encode_pong (const char *id_json, gint64 ts_ms)
{
  GString *b = begin ("pong", 64);

  append_id (b, id_json);
  append_int_member (b, "ts", ts_ms);
  return finish (b, HUB_FRAME_FLAG_NONE);
}

/* ---- Delivered frames (hot path: one encode per publish) ----------------------- */

static HubFrame *
finish_with_payload (GString *b, JsonNode *payload)
{
  append_key (b, "payload");
  hub_json_append_node (b, payload);
  return finish (b, HUB_FRAME_FLAG_NONE);
}

/* A NULL @device (a message published over HTTP) leaves the key out. */
HubFrame *
hub_encode_message (const char *room, gint64 seq, const char *from, const char *device,
                    gint64 ts_ms, JsonNode *payload)
{
  GString *b;

  g_return_val_if_fail (room != NULL && from != NULL && payload != NULL, NULL);

  b = begin ("message", 256);
  append_string_member (b, "room", room);
  append_int_member (b, "seq", seq);
  append_string_member (b, "from", from);
  if (device != NULL)
    append_string_member (b, "device", device);
  append_int_member (b, "ts", ts_ms);
  return finish_with_payload (b, payload);
}

HubFrame *
hub_encode_direct (const char *from, const char *to, gint64 ts_ms, JsonNode *payload)
{
  GString *b;

  g_return_val_if_fail (from != NULL && to != NULL && payload != NULL, NULL);

  b = begin ("direct", 256);
  append_string_member (b, "from", from);
  append_string_member (b, "to", to);
  append_int_member (b, "ts", ts_ms);
  return finish_with_payload (b, payload);
}

HubFrame *
hub_encode_multicast (const char *from, gint64 ts_ms, JsonNode *payload)
{
  GString *b;

  g_return_val_if_fail (from != NULL && payload != NULL, NULL);

  b = begin ("multicast", 256);
  append_string_member (b, "from", from);
  append_int_member (b, "ts", ts_ms);
  return finish_with_payload (b, payload);
}

HubFrame *
hub_encode_broadcast (const char *from, gint64 ts_ms, JsonNode *payload)
{
  GString *b;

  g_return_val_if_fail (from != NULL && payload != NULL, NULL);

  b = begin ("broadcast", 256);
  append_string_member (b, "from", from);
  append_int_member (b, "ts", ts_ms);
  return finish_with_payload (b, payload);
}

HubFrame *
hub_encode_typing (const char *room, const char *user)
{
  GString *b;

  g_return_val_if_fail (room != NULL && user != NULL, NULL);

  b = begin ("typing", 96);
  append_string_member (b, "room", room);
  append_string_member (b, "user", user);
  return finish (b, HUB_FRAME_FLAG_EPHEMERAL);
}

HubFrame *
hub_encode_presence (const char *event, const char *room, const char *user)
{
  GString *b;

  g_return_val_if_fail (event != NULL && room != NULL && user != NULL, NULL);

  b = begin ("presence", 128);
  append_string_member (b, "event", event);
  append_string_member (b, "room", room);
  append_string_member (b, "user", user);
  return finish (b, HUB_FRAME_FLAG_EPHEMERAL);
}

HubFrame *
hub_encode_status (const char *user, HubStatus status)
{
  GString *b;

  g_return_val_if_fail (user != NULL, NULL);

  b = begin ("status", 96);
  append_string_member (b, "user", user);
  append_string_member (b, "status", hub_status_to_string (status));
  return finish (b, HUB_FRAME_FLAG_EPHEMERAL);
}

HubFrame *
hub_encode_resumed (const char *room, gint64 from, gint64 to, gboolean complete, gint64 epoch)
{
  GString *b;

  g_return_val_if_fail (room != NULL, NULL);

  b = begin ("resumed", 128);
  append_string_member (b, "room", room);
  append_int_member (b, "from", from);
  append_int_member (b, "to", to);
  append_bool_member (b, "complete", complete);
  if (epoch != 0)
    append_int_member (b, "epoch", epoch);
  return finish (b, HUB_FRAME_FLAG_NONE);
}

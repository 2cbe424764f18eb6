/* hub-memory-sink.c: see hub-memory-sink.h. */
#include "hub-memory-sink.h"

static gboolean
sink_write (gpointer data, HubFrame *frame)
{
  HubMemorySink *sink = data;

  if (sink->blocked || sink->closed || sink->writes_left == 0)
    return FALSE;
  if (sink->writes_left > 0)
    sink->writes_left--;
  g_ptr_array_add (sink->frames, hub_frame_ref (frame));
  return TRUE;
}

static void
sink_request_writable (gpointer data)
{
  HubMemorySink *sink = data;

  sink->writable_requests++;
  /* hub_connection_flush() ignores a call from within itself. */
  if (sink->auto_flush && !sink->blocked && !sink->closed && sink->writes_left != 0 &&
      sink->conn != NULL)
    hub_connection_flush (sink->conn);
}

static void
sink_close (gpointer data, guint16 code, const char *reason)
{
  HubMemorySink *sink = data;

  g_assert (!sink->closed);
  sink->closed = TRUE;
  sink->close_code = code;
  g_free (sink->close_reason);
  sink->close_reason = g_strdup (reason);
}

static void
sink_ping (gpointer data)
{
  HubMemorySink *sink = data;

  sink->pings++;
}

static const HubSinkVTable memory_sink_vtable = {
    .write = sink_write,
    .request_writable = sink_request_writable,
    .close = sink_close,
    .ping = sink_ping,
};

const HubSinkVTable *
hub_memory_sink_vtable (void)
{
  return &memory_sink_vtable;
}

HubMemorySink *
hub_memory_sink_new (void)
{
  HubMemorySink *sink = g_new0 (HubMemorySink, 1);

  sink->frames = g_ptr_array_new_with_free_func ((GDestroyNotify)hub_frame_unref);
  sink->writes_left = -1;
  return sink;
}

void
hub_memory_sink_free (HubMemorySink *sink)
{
  if (sink == NULL)
    return;
  g_ptr_array_unref (sink->frames);
  g_free (sink->close_reason);
  g_free (sink);
}

static JsonObject *
parse_frame (HubFrame *frame)
{
  gsize len;
  const char *text = hub_frame_payload (frame, &len);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, (gssize)len, &error))
    g_error ("server frame is not JSON (%s): %.*s", error->message, (int)len, text);
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    g_error ("server frame is not a JSON object: %.*s", (int)len, text);
  return json_object_ref (json_node_get_object (root));
}

static const char *
frame_type (JsonObject *obj)
{
  return json_object_has_member (obj, "type") ? json_object_get_string_member (obj, "type") : "";
}

guint
hub_memory_sink_count (HubMemorySink *sink, const char *type)
{
  guint n = 0;

  for (guint i = 0; i < sink->frames->len; i++) {
    g_autoptr (JsonObject) obj = parse_frame (g_ptr_array_index (sink->frames, i));

    if (type == NULL || g_strcmp0 (frame_type (obj), type) == 0)
      n++;
  }
  return n;
}

JsonObject *
hub_memory_sink_nth (HubMemorySink *sink, guint i)
{
  g_return_val_if_fail (i < sink->frames->len, NULL);
  return parse_frame (g_ptr_array_index (sink->frames, i));
}

JsonObject *
hub_memory_sink_pop (HubMemorySink *sink)
{
  JsonObject *obj;

  if (sink->frames->len == 0)
    return NULL;
  obj = parse_frame (g_ptr_array_index (sink->frames, 0));
  g_ptr_array_remove_index (sink->frames, 0);
  return obj;
}

JsonObject *
hub_memory_sink_last (HubMemorySink *sink, const char *type)
{
  for (guint i = sink->frames->len; i > 0; i--) {
    JsonObject *obj = parse_frame (g_ptr_array_index (sink->frames, i - 1));

    if (type == NULL || g_strcmp0 (frame_type (obj), type) == 0)
      return obj;
    json_object_unref (obj);
  }
  return NULL;
}

void
hub_memory_sink_clear (HubMemorySink *sink)
{
  g_ptr_array_set_size (sink->frames, 0);
}

void
hub_memory_sink_unblock (HubMemorySink *sink)
{
  sink->blocked = FALSE;
  if (sink->conn != NULL)
    hub_connection_flush (sink->conn);
}

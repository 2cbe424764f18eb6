/* hub-memory-sink.h: an in-memory transport for tests. It records every frame a
 * connection writes, can refuse writes (a client that stops reading) and
 * records the close code, so tests assert on what a client would receive. */
#pragma once

#include <hub/hub.h>
#include <json-glib/json-glib.h>

typedef struct {
  HubConnection *conn; /* (unowned) set by whoever opens the connection */
  GPtrArray *frames;   /* (owned) HubFrame* written, oldest first */
  gboolean blocked;    /* write() refuses while TRUE */
  gint writes_left;    /* ≥ 0: write() takes this many more, then refuses; -1: no limit */
  /* request_writable flushes the connection at once unless blocked, as a
   * transport that is always writable would (a source's later answers,
   * hub-connection.h, are written then) */
  gboolean auto_flush;
  guint writable_requests;
  gboolean closed;
  guint16 close_code;
  char *close_reason; /* (owned) */
  guint pings;
} HubMemorySink;

HubMemorySink *hub_memory_sink_new (void);
void hub_memory_sink_free (HubMemorySink *sink);
const HubSinkVTable *hub_memory_sink_vtable (void);

/* Number of recorded frames whose "type" is @type (NULL: all). */
guint hub_memory_sink_count (HubMemorySink *sink, const char *type);
/* Parses the @i-th recorded frame. (transfer full) */
JsonObject *hub_memory_sink_nth (HubMemorySink *sink, guint i);
/* Parses and removes the oldest recorded frame, NULL when none. (transfer full) */
JsonObject *hub_memory_sink_pop (HubMemorySink *sink);
/* The last recorded frame of @type (NULL: any), parsed, or NULL. (transfer full) */
JsonObject *hub_memory_sink_last (HubMemorySink *sink, const char *type);
void hub_memory_sink_clear (HubMemorySink *sink);
/* Lets writes through again and flushes the connection's queue. */
void hub_memory_sink_unblock (HubMemorySink *sink);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubMemorySink, hub_memory_sink_free)

/* hub-frame.h: one encoded server frame, shared by every recipient's queue.
 * The JSON is written once; the bytes carry a precomputed RFC 6455 header
 * (unmasked text frame, as a server sends it) and writable headroom in front,
 * so a transport can send them as they are or let its library frame them. */
#pragma once

#include <glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

/* Bytes of writable space guaranteed before the payload (≥ libwebsockets' LWS_PRE). */
#define HUB_FRAME_HEADROOM 32

typedef enum {
  HUB_FRAME_FLAG_NONE = 0,
  /* typing, status, presence: may be dropped under backpressure (§8) */
  HUB_FRAME_FLAG_EPHEMERAL = 1 << 0,
} HubFrameFlags;

typedef struct _HubFrame HubFrame;

/* Copies @len bytes of @json (not NUL-terminated needed). (transfer full) */
HUB_API
HubFrame *hub_frame_new (const char *json, gsize len, HubFrameFlags flags);
/* Same, taking the contents of @str (freed). (transfer full) */
HUB_API
HubFrame *hub_frame_new_from_gstring (GString *str, HubFrameFlags flags);
HUB_API
HubFrame *hub_frame_ref (HubFrame *frame);
HUB_API
void hub_frame_unref (HubFrame *frame);

/* The JSON text, NUL-terminated; @len (optional) gets its length. (transfer none)
 * At least HUB_FRAME_HEADROOM bytes before it may be overwritten by a transport. */
HUB_API
const char *hub_frame_payload (const HubFrame *frame, gsize *len);
/* The whole WebSocket frame: header then payload. (transfer none) */
HUB_API
const guint8 *hub_frame_wire (const HubFrame *frame, gsize *len);
HUB_API
gboolean hub_frame_is_ephemeral (const HubFrame *frame);
HUB_API
HubFrameFlags hub_frame_flags (const HubFrame *frame);

/* A copy of @frame carrying @stamp_us, the monotonic time its message was
 * accepted: a transport that finds a stamp measures the delivery lag (the
 * broadcaster stamps a sample of the fan-outs, hub_broadcaster_sample). A
 * copy, so that the frame a room's history shares stays unstamped and a
 * later replay of it is not taken for a late delivery. (transfer full) */
HUB_API
HubFrame *hub_frame_copy_stamped (const HubFrame *frame, gint64 stamp_us);
/* The stamp, 0 for an unstamped frame (nearly all of them). */
HUB_API
gint64 hub_frame_get_stamp (const HubFrame *frame);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubFrame, hub_frame_unref)

G_END_DECLS

/* hub-frame-private.h: building a HubFrame in place, for libhub's encoders.
 * The JSON is appended to a GString that already holds the frame's struct and
 * headroom, so finishing it adopts the buffer instead of copying the text. */
#pragma once

#include "hub/hub-frame.h"

G_BEGIN_DECLS

/* A builder whose JSON text starts empty; @hint is the expected JSON length.
 * Append with the g_string_* functions only, never truncate below the prefix.
 * (transfer full) */
GString *hub_frame_builder_new (gsize hint);
/* Turns @builder (consumed) into a frame without copying the JSON. (transfer full) */
HubFrame *hub_frame_builder_finish (GString *builder, HubFrameFlags flags);

G_END_DECLS

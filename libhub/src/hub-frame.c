/* hub-frame.c: an encoded server frame, refcounted and immutable, in one
 * allocation: [struct][HUB_FRAME_HEADROOM][JSON][NUL]. The RFC 6455 header of an
 * unmasked FIN text frame sits in the last bytes of the headroom, so the wire
 * bytes are contiguous and every recipient's queue shares them. */
#include "hub-frame-private.h"

#include <stddef.h>
#include <string.h>

struct _HubFrame {
  grefcount ref;
  HubFrameFlags flags;
  gint64 stamp_us;   /* see hub_frame_copy_stamped(); 0: none */
  gsize len;         /* JSON bytes, without the NUL */
  guint8 header_len; /* 2, 4 or 10: RFC 6455 header bytes at the end of the headroom */
  guint8 data[];     /* [HUB_FRAME_HEADROOM][len bytes of JSON][NUL] */
};

#define FRAME_PREFIX (offsetof (HubFrame, data) + HUB_FRAME_HEADROOM)

/* A builder shrinks its buffer when it wastes more than this: queued frames may
 * live long, the GString's doubling growth should not live with them. */
#define BUILDER_SLACK 64

/* Writes the header for @len payload bytes so that it ends at @end; returns its size.
 * Minimal length encoding, as RFC 6455 §5.2 requires. */
static guint8
write_header (guint8 *end, gsize len)
{
  guint64 n = len;

  if (n < 126) {
    end[-2] = 0x81;
    end[-1] = (guint8)n;
    return 2;
  }
  if (n <= 0xFFFF) {
    end[-4] = 0x81;
    end[-3] = 126;
    end[-2] = (guint8)(n >> 8);
    end[-1] = (guint8)n;
    return 4;
  }
  end[-10] = 0x81;
  end[-9] = 127;
  for (int i = 0; i < 8; i++)
    end[-8 + i] = (guint8)(n >> (56 - 8 * i));
  return 10;
}

/* Fills the struct of a buffer whose JSON (and NUL) are already in place. */
static HubFrame *
frame_init (HubFrame *frame, gsize len, HubFrameFlags flags)
{
  g_ref_count_init (&frame->ref);
  frame->flags = flags;
  frame->stamp_us = 0;
  frame->len = len;
  frame->data[HUB_FRAME_HEADROOM + len] = '\0';
  frame->header_len = write_header (frame->data + HUB_FRAME_HEADROOM, len);
  return frame;
}

HubFrame *
hub_frame_new (const char *json, gsize len, HubFrameFlags flags)
{
  HubFrame *frame;

  g_return_val_if_fail (json != NULL || len == 0, NULL);
  g_return_val_if_fail (len < G_MAXSIZE - FRAME_PREFIX - 1, NULL);

  frame = g_malloc (FRAME_PREFIX + len + 1);
  memset (frame->data, 0, HUB_FRAME_HEADROOM);
  if (len > 0)
    memcpy (frame->data + HUB_FRAME_HEADROOM, json, len);
  return frame_init (frame, len, flags);
}

/* The one copy is into the frame: a GString's buffer has no room in front for
 * the struct and headroom, and moving the text inside it would copy it anyway. */
HubFrame *
hub_frame_new_from_gstring (GString *str, HubFrameFlags flags)
{
  HubFrame *frame;

  g_return_val_if_fail (str != NULL, NULL);

  frame = hub_frame_new (str->str, str->len, flags);
  g_string_free (str, TRUE);
  return frame;
}

GString *
hub_frame_builder_new (gsize hint)
{
  GString *builder = g_string_sized_new (FRAME_PREFIX + hint + 1);

  g_string_set_size (builder, FRAME_PREFIX);
  memset (builder->str, 0, FRAME_PREFIX);
  return builder;
}

HubFrame *
hub_frame_builder_finish (GString *builder, HubFrameFlags flags)
{
  gsize total, len;
  gboolean shrink;
  char *buf;

  g_return_val_if_fail (builder != NULL && builder->len >= FRAME_PREFIX, NULL);

  total = builder->len;
  len = total - FRAME_PREFIX;
  shrink = builder->allocated_len > total + 1 + BUILDER_SLACK;
  buf = g_string_free (builder, FALSE); /* NUL-terminated at buf[total] */
  if (shrink)
    buf = g_realloc (buf, total + 1);
  return frame_init ((HubFrame *)(gpointer)buf, len, flags);
}

HubFrame *
hub_frame_ref (HubFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  g_ref_count_inc (&frame->ref);
  return frame;
}

void
hub_frame_unref (HubFrame *frame)
{
  g_return_if_fail (frame != NULL);

  if (g_ref_count_dec (&frame->ref))
    g_free (frame);
}

const char *
hub_frame_payload (const HubFrame *frame, gsize *len)
{
  g_return_val_if_fail (frame != NULL, NULL);

  if (len != NULL)
    *len = frame->len;
  return (const char *)frame->data + HUB_FRAME_HEADROOM;
}

const guint8 *
hub_frame_wire (const HubFrame *frame, gsize *len)
{
  g_return_val_if_fail (frame != NULL, NULL);

  if (len != NULL)
    *len = frame->header_len + frame->len;
  return frame->data + HUB_FRAME_HEADROOM - frame->header_len;
}

gboolean
hub_frame_is_ephemeral (const HubFrame *frame)
{
  g_return_val_if_fail (frame != NULL, FALSE);

  return (frame->flags & HUB_FRAME_FLAG_EPHEMERAL) != 0;
}

HubFrameFlags
hub_frame_flags (const HubFrame *frame)
{
  g_return_val_if_fail (frame != NULL, HUB_FRAME_FLAG_NONE);

  return frame->flags;
}

HubFrame *
hub_frame_copy_stamped (const HubFrame *frame, gint64 stamp_us)
{
  gsize size;
  HubFrame *copy;

  g_return_val_if_fail (frame != NULL, NULL);

  size = FRAME_PREFIX + frame->len + 1;
  copy = g_malloc (size);
  memcpy (copy, frame, size);
  g_ref_count_init (&copy->ref);
  copy->stamp_us = stamp_us;
  return copy;
}

gint64
hub_frame_get_stamp (const HubFrame *frame)
{
  return frame->stamp_us;
}

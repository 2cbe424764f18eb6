/* hub-loop-private.h: what hub-loop.c (common part, GLib loop) and
 * hub-loop-uv.c (libuv loop) share: the HubLoop struct and the ops table
 * each implementation fills. */
#pragma once

#include "hub-loop.h"
#include "hub-lws-glib.h"

G_BEGIN_DECLS

typedef struct {
  void (*init) (HubLoop *loop);     /* (nullable) */
  void (*finalize) (HubLoop *loop); /* (nullable) */
  void (*configure_lws) (HubLoop *loop, struct lws_context_creation_info *info);
  void (*context_created) (HubLoop *loop); /* (nullable) loop->context is set */
  void (*destroy_lws_context) (HubLoop *loop);
  void (*run) (HubLoop *loop);
  void (*quit) (HubLoop *loop);
} HubLoopOps;

struct _HubLoop {
  const HubLoopOps *ops;
  HubLoopKind kind;
  GMainContext *main_context;  /* (owned) a ref of the thread default */
  GMainLoop *main_loop;        /* (owned) */
  void *foreign_loops[1];      /* what info->foreign_loops points at (uv) */
  HubLwsGlib *glue;            /* (owned) (nullable) lws on the GMainLoop (glib) */
  struct lws_context *context; /* (unowned) (nullable) lws NULLs it (info->pcontext) once freed */
  gpointer impl;               /* (owned by ops) the implementation's own state */
  HubSignalWatch *signals;     /* (owned) (nullable) */
};

#ifdef HUB_HAVE_LIBUV
extern const HubLoopOps hub_loop_uv_ops;
#endif

G_END_DECLS

/* hub-loop-private.h: what hub-loop.c (common part, GLib loop) and
 * hub-loop-uv.c (libuv loop) share: the HubLoop struct and the ops table
 * each implementation fills; and the descriptor calls hub-loop-uv.c takes
 * from hub-loop-uv-unix.c. */
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

/* The object a descriptor refers to (hub-loop-uv-unix.c). */
typedef struct {
  guint64 dev, ino;
  gboolean distinct; /* FALSE: objects of this kind all look alike (eventfd...) */
} HubLoopFdIdentity;

/* A close-on-exec duplicate of @fd; -1 with errno set. */
int hub_loop_fd_dup (int fd);
void hub_loop_fd_close (int fd);
/* FALSE with errno set when @fd is not open. */
gboolean hub_loop_fd_identity (int fd, HubLoopFdIdentity *id);
#endif

G_END_DECLS

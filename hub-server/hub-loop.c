/* hub-loop.c: event-loop integration and signals (with hub-loop-uv.c).
 * Common code and the GLib loop, where lws runs on our GMainLoop through
 * hub-lws-glib.h (on Unix lws's glib event-lib plugin adds one GSource per
 * socket), so lws, libhub's timers and the signal sources share one thread and
 * one loop. That costs O(connections) per loop iteration (GLib prepares,
 * checks and polls every source each time): docs/performance.md has the
 * measurements. */
#include "hub-loop-private.h"

#include <string.h>

/* ---- GLib: lws as a guest of our GMainLoop ---- */

static void
glib_init (HubLoop *loop)
{
  loop->glue = hub_lws_glib_new (loop->main_loop);
}

static void
glib_finalize (HubLoop *loop)
{
  g_clear_pointer (&loop->glue, hub_lws_glib_free);
}

static void
glib_configure_lws (HubLoop *loop, struct lws_context_creation_info *info)
{
  hub_lws_glib_configure (loop->glue, info);
}

static void
glib_context_created (HubLoop *loop)
{
  hub_lws_glib_attach (loop->glue, loop->context);
}

/* The glib event lib (and the default one) close their sources
 * synchronously: one call frees all. */
static void
glib_destroy_lws_context (HubLoop *loop)
{
  hub_lws_glib_detach (loop->glue);
  lws_context_destroy (loop->context);
}

static void
glib_run (HubLoop *loop)
{
  g_main_loop_run (loop->main_loop);
}

static void
glib_quit (HubLoop *loop)
{
  g_main_loop_quit (loop->main_loop);
}

static const HubLoopOps glib_ops = {
    .init = glib_init,
    .finalize = glib_finalize,
    .configure_lws = glib_configure_lws,
    .context_created = glib_context_created,
    .destroy_lws_context = glib_destroy_lws_context,
    .run = glib_run,
    .quit = glib_quit,
};

/* ---- common ---- */

static const char *const kind_names[] = {
    [HUB_LOOP_GLIB] = "glib",
    [HUB_LOOP_UV] = "uv",
};

HubLoopKind
hub_loop_kind_default (void)
{
  return hub_loop_kind_available (HUB_LOOP_UV) ? HUB_LOOP_UV : HUB_LOOP_GLIB;
}

gboolean
hub_loop_kind_available (HubLoopKind kind)
{
  switch (kind) {
    case HUB_LOOP_GLIB:
      return TRUE;
    case HUB_LOOP_UV:
#ifdef HUB_HAVE_LIBUV
      return TRUE;
#else
      return FALSE;
#endif
    default:
      return FALSE;
  }
}

const char *
hub_loop_kind_to_string (HubLoopKind kind)
{
  g_return_val_if_fail ((guint)kind < G_N_ELEMENTS (kind_names), "?");
  return kind_names[kind];
}

gboolean
hub_loop_kind_from_string (const char *str, HubLoopKind *kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (kind_names); i++) {
    if (g_strcmp0 (str, kind_names[i]) == 0) {
      *kind = (HubLoopKind)i;
      return TRUE;
    }
  }
  return FALSE;
}

HubLoop *
hub_loop_new (HubLoopKind kind)
{
  HubLoop *loop;

  g_return_val_if_fail (hub_loop_kind_available (kind), NULL);

  loop = g_new0 (HubLoop, 1);
  loop->kind = kind;
  switch (kind) {
#ifdef HUB_HAVE_LIBUV
    case HUB_LOOP_UV:
      loop->ops = &hub_loop_uv_ops;
      break;
#endif
    case HUB_LOOP_GLIB:
    default:
      loop->ops = &glib_ops;
      break;
  }
  loop->main_context = g_main_context_ref_thread_default ();
  loop->main_loop = g_main_loop_new (loop->main_context, FALSE);
  if (loop->ops->init != NULL)
    loop->ops->init (loop);
  /* A peer that resets a TLS connection must not kill the process (OpenSSL
   * writes with write()). lws 4.1 does the same at context creation unless
   * built with LWS_AVOID_SIGPIPE_IGN; we do not depend on how it was built. */
  hub_signals_ignore_broken_pipe ();
  return loop;
}

void
hub_loop_free (HubLoop *loop)
{
  if (loop == NULL)
    return;
  g_clear_pointer (&loop->signals, hub_signal_watch_free);
  if (loop->ops->finalize != NULL)
    loop->ops->finalize (loop);
  g_main_loop_unref (loop->main_loop);
  g_main_context_unref (loop->main_context);
  g_free (loop);
}

HubLoopKind
hub_loop_get_kind (HubLoop *loop)
{
  return loop->kind;
}

void
hub_loop_configure_lws (HubLoop *loop, struct lws_context_creation_info *info)
{
  /* lws sets loop->context to NULL when the context is finally freed. */
  info->pcontext = &loop->context;
  loop->ops->configure_lws (loop, info);
}

void
hub_loop_set_lws_context (HubLoop *loop, struct lws_context *context)
{
  loop->context = context;
  if (loop->ops->context_created != NULL)
    loop->ops->context_created (loop);
}

void
hub_loop_service_again (HubLoop *loop, struct lws *wsi)
{
  if (loop->glue != NULL)
    hub_lws_glib_service_again (loop->glue, wsi);
}

void
hub_loop_destroy_lws_context (HubLoop *loop)
{
  if (loop->context == NULL)
    return;
  loop->ops->destroy_lws_context (loop);
  loop->context = NULL;
}

void
hub_loop_watch_signals (HubLoop *loop, HubLoopSignalFunc func, gpointer user_data)
{
  g_return_if_fail (loop->signals == NULL);
  loop->signals = hub_signal_watch_new (loop->main_context, func, user_data);
}

void
hub_loop_run (HubLoop *loop)
{
  loop->ops->run (loop);
}

void
hub_loop_quit (HubLoop *loop)
{
  loop->ops->quit (loop);
}

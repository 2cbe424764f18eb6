/* hub-loop.c: event-loop integration and signals, the one platform-specific
 * file of hub-server. The GLib implementation lets lws's glib event-lib plugin
 * (libwebsockets-evlib_glib.so, loaded by lws_create_context) add one GSource
 * per socket to our GMainLoop, so lws, libhub's timers and the signal sources
 * share one thread and one loop. */
#include "hub-loop.h"

#include <glib-unix.h>
#include <signal.h>

typedef struct {
  void (*configure_lws) (HubLoop *loop, struct lws_context_creation_info *info);
  void (*lws_timers_changed) (HubLoop *loop);
  void (*run) (HubLoop *loop);
  void (*quit) (HubLoop *loop);
} HubLoopOps;

struct _HubLoop {
  const HubLoopOps *ops;
  GMainLoop *main_loop;        /* (owned) */
  void *foreign_loops[1];      /* what info->foreign_loops points at */
  struct lws_context *context; /* (unowned) (nullable) */
  guint signal_sources[2];
  HubLoopSignalFunc signal_func;
  gpointer signal_data;
};

/* ---- GLib: lws as a guest of our GMainLoop ---- */

static void
glib_configure_lws (HubLoop *loop, struct lws_context_creation_info *info)
{
  loop->foreign_loops[0] = loop->main_loop;
  info->options |= LWS_SERVER_OPTION_GLIB;
  info->foreign_loops = loop->foreign_loops;
}

/* lws 4.1's glib plugin re-arms its single GLib timeout only from its own idle
 * source, which it schedules after servicing a socket. A timer set from a GLib
 * callback outside lws (a heartbeat, a slow-consumer close) would wait for the
 * next socket event; lws_cancel_service() makes one happen (its wake pipe). */
static void
glib_lws_timers_changed (HubLoop *loop)
{
  if (loop->context != NULL)
    lws_cancel_service (loop->context);
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
    .configure_lws = glib_configure_lws,
    .lws_timers_changed = glib_lws_timers_changed,
    .run = glib_run,
    .quit = glib_quit,
};

/* ---- common ---- */

HubLoop *
hub_loop_new (HubLoopKind kind)
{
  HubLoop *loop = g_new0 (HubLoop, 1);

  switch (kind) {
    case HUB_LOOP_GLIB:
    default:
      loop->ops = &glib_ops;
      break;
  }
  loop->main_loop = g_main_loop_new (g_main_context_get_thread_default (), FALSE);
  /* A peer that resets a TLS connection must not kill the process (OpenSSL
   * writes with write()). lws 4.1 does the same at context creation unless
   * built with LWS_AVOID_SIGPIPE_IGN; we do not depend on how it was built. */
  signal (SIGPIPE, SIG_IGN);
  return loop;
}

void
hub_loop_free (HubLoop *loop)
{
  if (loop == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (loop->signal_sources); i++) {
    if (loop->signal_sources[i] != 0)
      g_source_remove (loop->signal_sources[i]);
  }
  g_main_loop_unref (loop->main_loop);
  g_free (loop);
}

void
hub_loop_configure_lws (HubLoop *loop, struct lws_context_creation_info *info)
{
  loop->ops->configure_lws (loop, info);
}

void
hub_loop_set_lws_context (HubLoop *loop, struct lws_context *context)
{
  loop->context = context;
}

void
hub_loop_lws_timers_changed (HubLoop *loop)
{
  loop->ops->lws_timers_changed (loop);
}

static gboolean
on_sigint (gpointer user_data)
{
  HubLoop *loop = user_data;

  loop->signal_func (SIGINT, loop->signal_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm (gpointer user_data)
{
  HubLoop *loop = user_data;

  loop->signal_func (SIGTERM, loop->signal_data);
  return G_SOURCE_CONTINUE;
}

void
hub_loop_watch_signals (HubLoop *loop, HubLoopSignalFunc func, gpointer user_data)
{
  g_return_if_fail (loop->signal_sources[0] == 0);
  loop->signal_func = func;
  loop->signal_data = user_data;
  loop->signal_sources[0] = g_unix_signal_add (SIGINT, on_sigint, loop);
  loop->signal_sources[1] = g_unix_signal_add (SIGTERM, on_sigterm, loop);
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

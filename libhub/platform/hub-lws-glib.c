/* hub-lws-glib.c: hub-lws-glib.h, lws on a GMainLoop. Where lws has its glib
 * event library (LWS_WITH_GLIB: Debian's, on Unix) that library adds one
 * GSource per socket. Elsewhere (Windows, where that library is built on Unix
 * descriptors; a macOS or MSYS2 lws built without it) lws keeps its default
 * poll() / WSAPoll() service, which one GSource of ours runs without blocking:
 * at once when lws has buffered work, else every HUB_LWS_GLIB_SERVICE_MS.
 * Only lws and GLib calls: what differs is how lws was built, not the OS. */
#include "hub-lws-glib.h"

/* -DHUB_LWS_POLLED_SERVICE forces the polled service on Unix too: how the
 * Windows path is tested on Linux. */
#if defined(LWS_WITH_GLIB) && !defined(G_OS_WIN32) && !defined(HUB_LWS_POLLED_SERVICE)
#define USE_GLIB_EVENT_LIB 1
#endif

#ifdef USE_GLIB_EVENT_LIB

struct _HubLwsGlib {
  void *foreign_loops[1]; /* what info->foreign_loops points at: the GMainLoop */
};

HubLwsGlib *
hub_lws_glib_new (GMainLoop *loop)
{
  HubLwsGlib *glue = g_new0 (HubLwsGlib, 1);

  glue->foreign_loops[0] = loop;
  return glue;
}

void
hub_lws_glib_free (HubLwsGlib *glue)
{
  g_free (glue);
}

void
hub_lws_glib_configure (HubLwsGlib *glue, struct lws_context_creation_info *info)
{
  info->options |= LWS_SERVER_OPTION_GLIB;
  info->foreign_loops = glue->foreign_loops;
}

void
hub_lws_glib_attach (HubLwsGlib *glue, struct lws_context *context)
{
  /* lws's glib plugin attached its sources when the context was created. */
}

void
hub_lws_glib_detach (HubLwsGlib *glue)
{
  /* lws_context_destroy() removes them. */
}

#else /* lws's default service, driven from a GSource */

typedef struct {
  GSource source;
  struct lws_context *context; /* (unowned) NULL once detached */
  gint64 due_us;               /* monotonic time of the next service, 0: none planned */
} ServiceSource;

struct _HubLwsGlib {
  GMainContext *main_context; /* (owned) the loop's */
  GSource *source;            /* (owned) (nullable) a ServiceSource while attached */
};

static gboolean
service_prepare (GSource *source, gint *timeout)
{
  ServiceSource *s = (ServiceSource *)source;
  gint64 now = g_source_get_time (source);

  *timeout = -1;
  if (s->context == NULL)
    return FALSE;
  /* 0 when a connection has buffered data lws must service without a poll. */
  if (lws_service_adjust_timeout (s->context, 1, 0) == 0)
    s->due_us = now;
  /* Planned once per service, not per prepare: a context iterated without
   * blocking (g_main_context_iteration (ctx, FALSE)) must still get there. */
  if (s->due_us == 0)
    s->due_us = now + HUB_LWS_GLIB_SERVICE_MS * 1000;
  if (now >= s->due_us) {
    *timeout = 0;
    return TRUE;
  }
  *timeout = (gint)((s->due_us - now + 999) / 1000);
  return FALSE;
}

static gboolean
service_check (GSource *source)
{
  ServiceSource *s = (ServiceSource *)source;

  return s->context != NULL && s->due_us != 0 && g_source_get_time (source) >= s->due_us;
}

static gboolean
service_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ServiceSource *s = (ServiceSource *)source;

  /* A negative timeout: service what is ready (WSAPoll with timeout 0) and
   * the lws timers that are due, never wait. */
  s->due_us = 0;
  if (s->context != NULL)
    lws_service (s->context, -1);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs service_funcs = {
    service_prepare, service_check, service_dispatch, NULL, NULL, NULL};

HubLwsGlib *
hub_lws_glib_new (GMainLoop *loop)
{
  HubLwsGlib *glue = g_new0 (HubLwsGlib, 1);

  glue->main_context = g_main_context_ref (g_main_loop_get_context (loop));
  return glue;
}

void
hub_lws_glib_free (HubLwsGlib *glue)
{
  if (glue == NULL)
    return;
  hub_lws_glib_detach (glue);
  g_main_context_unref (glue->main_context);
  g_free (glue);
}

void
hub_lws_glib_configure (HubLwsGlib *glue, struct lws_context_creation_info *info)
{
  /* Nothing: the default event loop, which this glue services. */
}

void
hub_lws_glib_attach (HubLwsGlib *glue, struct lws_context *context)
{
  g_return_if_fail (glue->source == NULL);
  glue->source = g_source_new (&service_funcs, sizeof (ServiceSource));
  ((ServiceSource *)glue->source)->context = context;
  g_source_set_name (glue->source, "libwebsockets service");
  g_source_attach (glue->source, glue->main_context);
}

void
hub_lws_glib_detach (HubLwsGlib *glue)
{
  if (glue->source == NULL)
    return;
  ((ServiceSource *)glue->source)->context = NULL;
  g_source_destroy (glue->source);
  g_clear_pointer (&glue->source, g_source_unref);
}

#endif

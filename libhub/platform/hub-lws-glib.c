/* hub-lws-glib.c: hub-lws-glib.h, lws on a GMainLoop. HUB_LWS_GLIB_UV runs
 * lws's libuv event library on a loop of ours (hub-lws-glib-uv-unix.c) where
 * libhub and lws have libuv. Otherwise, where lws has its glib event library
 * (LWS_WITH_GLIB: Debian's, on Unix) that library adds one GSource per socket.
 * Elsewhere (Windows, where that library is built on Unix descriptors; a macOS
 * or MSYS2 lws built without it) lws keeps its default poll() / WSAPoll()
 * service, which one GSource of ours runs without blocking: at once when lws
 * has buffered work, else every HUB_LWS_GLIB_SERVICE_MS. Only lws and GLib
 * calls: what differs is how lws was built, not the OS. */
#include "hub-lws-glib.h"

#include "hub-lws-glib-uv.h"
#include "hub-timer-resolution.h"

/* -DHUB_LWS_POLLED_SERVICE forces the polled service on Unix too: how the
 * Windows path is tested on Linux. */
#if defined(LWS_WITH_GLIB) && !defined(G_OS_WIN32) && !defined(HUB_LWS_POLLED_SERVICE)
#define USE_GLIB_EVENT_LIB 1
#endif

#ifdef USE_GLIB_EVENT_LIB

#define GLIB_NAME "glib"

typedef struct {
  void *foreign_loops[1]; /* what info->foreign_loops points at: the GMainLoop */
} Glib;

static Glib *
glib_new (GMainLoop *loop)
{
  Glib *glib = g_new0 (Glib, 1);

  glib->foreign_loops[0] = loop;
  return glib;
}

static void
glib_free (Glib *glib)
{
  g_free (glib);
}

static void
glib_configure (Glib *glib, struct lws_context_creation_info *info)
{
  info->options |= LWS_SERVER_OPTION_GLIB;
  info->foreign_loops = glib->foreign_loops;
}

static void
glib_attach (Glib *glib, struct lws_context *context)
{
  /* lws's glib plugin attached its sources when the context was created. */
}

static void
glib_detach (Glib *glib)
{
  /* lws_context_destroy() removes them. */
}

static void
glib_service_again (Glib *glib, struct lws *wsi)
{
  /* Level-triggered: a socket with input left is polled readable again. */
}

#else /* lws's default service, driven from a GSource */

/* How many more reads a connection that filled its rx buffer gets in one
 * dispatch, without a poll in between (see service_dispatch): 31 × 512 bytes
 * (hub-server's rx buffer) and the read of the poll make 16 KiB. */
#define DRAIN_READS 31

typedef struct {
  GSource source;
  struct lws_context *context; /* (unowned) NULL once detached */
  gint64 due_us;               /* monotonic time of the next service, 0: none planned */
  gboolean again;              /* input may be waiting: service at the next iteration */
  GArray *again_fds;           /* (owned) lws_sockfd_type: connections with input left */
  GArray *draining;            /* (owned) lws_sockfd_type: the ones being read in a round */
} ServiceSource;

#define GLIB_NAME "poll"

typedef struct {
  GMainContext *main_context; /* (owned) the loop's */
  GSource *source;            /* (owned) (nullable) a ServiceSource while attached */
} Glib;

static gboolean
service_prepare (GSource *source, gint *timeout)
{
  ServiceSource *s = (ServiceSource *)source;
  gint64 now = g_source_get_time (source);

  *timeout = -1;
  if (s->context == NULL)
    return FALSE;
  /* 0 when a connection has buffered data lws must service without a poll. */
  if (s->again || lws_service_adjust_timeout (s->context, 1, 0) == 0)
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

/* Reads on from the connections whose RECEIVE filled the rx buffer (lws
 * reads at most that much per socket per service: 512 bytes in hub-server),
 * as if the poll had said each is readable again, at most DRAIN_READS rounds.
 * Without this, every 512 bytes of a large message cost a whole loop
 * iteration and a WSAPoll() of every socket: under wine, where a poll is a
 * round trip to wineserver, a client publishing 32 KB messages was read at
 * 400 KB/s with the machine idle and stalled for 20 s under load
 * (test-server-limits, slow_consumer_closed_4009_others_keep_receiving). A
 * socket with nothing more to read costs one recv() (EWOULDBLOCK: lws leaves
 * it); one lws closed meanwhile is not lws's any more (lws_service_fd()
 * ignores a descriptor it does not know); none is kept past this dispatch, so
 * a descriptor reused by a later connection is never read in its stead. */
static void
service_drain (ServiceSource *s)
{
  for (guint round = 0; round < DRAIN_READS && s->again_fds->len > 0 && s->context != NULL;
       round++) {
    GArray *fds = s->again_fds;

    /* RECEIVEs in this round queue their sockets for the next one. */
    s->again_fds = s->draining;
    s->draining = fds;
    for (guint i = 0; i < fds->len && s->context != NULL; i++) {
      struct lws_pollfd pfd = {0};

      pfd.fd = g_array_index (fds, lws_sockfd_type, i);
      pfd.events = LWS_POLLIN;
      pfd.revents = LWS_POLLIN;
      lws_service_fd (s->context, &pfd);
    }
    g_array_set_size (fds, 0);
  }
  /* Input may be left still: the next iteration services at once. */
  s->again = s->again_fds->len > 0;
  g_array_set_size (s->again_fds, 0);
}

static gboolean
service_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ServiceSource *s = (ServiceSource *)source;

  /* A negative timeout: service what is ready (WSAPoll with timeout 0) and
   * the lws timers that are due, never wait. */
  s->due_us = 0;
  s->again = FALSE;
  if (s->context != NULL) {
    lws_service (s->context, -1);
    service_drain (s);
  }
  return G_SOURCE_CONTINUE;
}

static void
service_finalize (GSource *source)
{
  ServiceSource *s = (ServiceSource *)source;

  g_array_unref (s->again_fds);
  g_array_unref (s->draining);
}

static GSourceFuncs service_funcs = {service_prepare,  service_check, service_dispatch,
                                     service_finalize, NULL,          NULL};

static void glib_detach (Glib *glib);

static Glib *
glib_new (GMainLoop *loop)
{
  Glib *glib = g_new0 (Glib, 1);

  glib->main_context = g_main_context_ref (g_main_loop_get_context (loop));
  return glib;
}

static void
glib_free (Glib *glib)
{
  glib_detach (glib);
  g_main_context_unref (glib->main_context);
  g_free (glib);
}

static void
glib_configure (Glib *glib, struct lws_context_creation_info *info)
{
  /* Nothing: the default event loop, which this glue services. */
}

static void
glib_attach (Glib *glib, struct lws_context *context)
{
  g_return_if_fail (glib->source == NULL);
  /* The poll timeout is the service's clock: it must not be rounded up to a
   * 15.6 ms tick (Windows), which would be the latency floor of every frame. */
  hub_timer_resolution_hold ();
  glib->source = g_source_new (&service_funcs, sizeof (ServiceSource));
  ((ServiceSource *)glib->source)->context = context;
  ((ServiceSource *)glib->source)->again_fds = g_array_new (FALSE, FALSE, sizeof (lws_sockfd_type));
  ((ServiceSource *)glib->source)->draining = g_array_new (FALSE, FALSE, sizeof (lws_sockfd_type));
  g_source_set_name (glib->source, "libwebsockets service");
  g_source_attach (glib->source, glib->main_context);
}

static void
glib_detach (Glib *glib)
{
  if (glib->source == NULL)
    return;
  ((ServiceSource *)glib->source)->context = NULL;
  g_source_destroy (glib->source);
  g_clear_pointer (&glib->source, g_source_unref);
  hub_timer_resolution_release ();
}

static void
glib_service_again (Glib *glib, struct lws *wsi)
{
  ServiceSource *s = (ServiceSource *)glib->source;
  lws_sockfd_type fd;

  if (s == NULL)
    return;
  s->again = TRUE;
  fd = lws_get_socket_fd (wsi);
  /* A read may end several pieces: queue its socket once. */
  if (fd != LWS_SOCK_INVALID &&
      (s->again_fds->len == 0 ||
       g_array_index (s->again_fds, lws_sockfd_type, s->again_fds->len - 1) != fd))
    g_array_append_val (s->again_fds, fd);
}

#endif

/* ---- the public face: one of the above, or libuv ---- */

struct _HubLwsGlib {
  Glib *glib; /* (owned) (nullable) unless on libuv */
#ifdef HUB_LWS_GLIB_HAVE_UV
  HubLwsUv *uv; /* (owned) (nullable) on libuv */
#endif
  struct lws_context *context; /* (unowned) (nullable) the attached context */
};

gboolean
hub_lws_glib_uv_available (void)
{
#ifdef HUB_LWS_GLIB_HAVE_UV
  return TRUE;
#else
  return FALSE;
#endif
}

HubLwsGlib *
hub_lws_glib_new_kind (GMainLoop *loop, HubLwsGlibKind kind)
{
  HubLwsGlib *glue = g_new0 (HubLwsGlib, 1);

#ifdef HUB_LWS_GLIB_HAVE_UV
  if (kind == HUB_LWS_GLIB_UV)
    glue->uv = hub_lws_uv_new (g_main_loop_get_context (loop));
  if (glue->uv != NULL)
    return glue;
#endif
  glue->glib = glib_new (loop);
  return glue;
}

HubLwsGlib *
hub_lws_glib_new (GMainLoop *loop)
{
  return hub_lws_glib_new_kind (loop, HUB_LWS_GLIB_GLIB);
}

void
hub_lws_glib_free (HubLwsGlib *glue)
{
  if (glue == NULL)
    return;
#ifdef HUB_LWS_GLIB_HAVE_UV
  g_clear_pointer (&glue->uv, hub_lws_uv_free);
#endif
  g_clear_pointer (&glue->glib, glib_free);
  g_free (glue);
}

HubLwsGlibKind
hub_lws_glib_get_kind (HubLwsGlib *glue)
{
  return glue->glib != NULL ? HUB_LWS_GLIB_GLIB : HUB_LWS_GLIB_UV;
}

const char *
hub_lws_glib_get_name (HubLwsGlib *glue)
{
  return glue->glib != NULL ? GLIB_NAME : "uv";
}

void
hub_lws_glib_configure (HubLwsGlib *glue, struct lws_context_creation_info *info)
{
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL) {
    hub_lws_uv_configure (glue->uv, info);
    return;
  }
#endif
  glib_configure (glue->glib, info);
}

struct lws_context *
hub_lws_glib_create_context (HubLwsGlib *glue, struct lws_context_creation_info *info)
{
  struct lws_context *context;

  hub_lws_glib_configure (glue, info);
  hub_lws_glib_enter (glue);
  context = lws_create_context (info);
  hub_lws_glib_leave (glue);
  if (context != NULL)
    hub_lws_glib_attach (glue, context);
  return context;
}

void
hub_lws_glib_enter (HubLwsGlib *glue)
{
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL)
    hub_lws_uv_enter ();
#endif
}

void
hub_lws_glib_leave (HubLwsGlib *glue)
{
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL) {
    hub_lws_uv_after_call (glue->uv);
    hub_lws_uv_leave ();
  }
#endif
}

void
hub_lws_glib_connect_failed (HubLwsGlib *glue, struct lws *wsi)
{
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL)
    hub_lws_uv_connect_failed (glue->uv, wsi);
#endif
}

void
hub_lws_glib_wsi_destroyed (HubLwsGlib *glue, struct lws *wsi)
{
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL)
    hub_lws_uv_wsi_destroyed (glue->uv, wsi);
#else
  (void)glue;
  (void)wsi;
#endif
}

void
hub_lws_glib_attach (HubLwsGlib *glue, struct lws_context *context)
{
  glue->context = context;
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL) {
    hub_lws_uv_attach (glue->uv, context);
    return;
  }
#endif
  glib_attach (glue->glib, context);
}

void
hub_lws_glib_detach (HubLwsGlib *glue)
{
  glue->context = NULL;
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL) {
    hub_lws_uv_detach (glue->uv);
    return;
  }
#endif
  glib_detach (glue->glib);
}

void
hub_lws_glib_destroy_context (HubLwsGlib *glue, struct lws_context *context)
{
  glue->context = NULL;
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL) {
    hub_lws_uv_destroy_context (glue->uv, context);
    return;
  }
#endif
  /* The glib event library and the default service close synchronously. */
  glib_detach (glue->glib);
  lws_context_destroy (context);
}

void
hub_lws_glib_wake (HubLwsGlib *glue)
{
  if (glue->context == NULL)
    return;
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL)
    hub_lws_uv_wake_writable (glue->uv);
#endif
  lws_cancel_service (glue->context);
}

void
hub_lws_glib_wake_writable (HubLwsGlib *glue)
{
  if (glue->context == NULL)
    return;
#ifdef HUB_LWS_GLIB_HAVE_UV
  if (glue->uv != NULL) {
    hub_lws_uv_wake_writable (glue->uv);
    return;
  }
#endif
  lws_cancel_service (glue->context);
}

void
hub_lws_glib_service_again (HubLwsGlib *glue, struct lws *wsi)
{
  if (glue->glib != NULL)
    glib_service_again (glue->glib, wsi);
}

/* hub-lws-glib.h: the layer that runs a libwebsockets context on a GMainLoop,
 * so lws, libhub's timers and everything else on the loop share one thread.
 * Three ways, chosen by how lws and libhub were built (hub-lws-glib.c):
 * lws's libuv event library on a private uv loop that one GSource polls
 * (HUB_LWS_GLIB_UV, Linux with libuv; hub-lws-glib-uv-unix.c), lws's glib event
 * library (one GSource per socket, Unix), or lws's default poll()/WSAPoll()
 * service driven from a GSource (Windows). */
#pragma once

#include <glib.h>
#include <libwebsockets.h>

G_BEGIN_DECLS

#define HUB_LWS_GLIB_SERVICE_MS 2

typedef struct _HubLwsGlib HubLwsGlib;

typedef enum {
  /* lws's glib event library where lws has it, else its default service polled
   * from a GSource: what hub_lws_glib_new() gives. */
  HUB_LWS_GLIB_GLIB,
  /* lws's libuv event library on a uv loop of the glue's own, polled from the
   * GMainContext through one GSource watching the loop's epoll (kqueue)
   * descriptor: a loop's cost per event does not grow with its sockets. Where
   * lws or libhub lacks libuv, HUB_LWS_GLIB_GLIB instead. */
  HUB_LWS_GLIB_UV,
} HubLwsGlibKind;

/* For contexts on @loop's GMainContext; @loop must outlive the glue. */
HubLwsGlib *hub_lws_glib_new (GMainLoop *loop);
/* The same, on @kind where it is available (see hub_lws_glib_get_kind()). */
HubLwsGlib *hub_lws_glib_new_kind (GMainLoop *loop, HubLwsGlibKind kind);
void hub_lws_glib_free (HubLwsGlib *glue);

/* TRUE when HUB_LWS_GLIB_UV can be had: libhub was built with libuv and lws
 * with its libuv event library (whose plugin must still load at run time). */
gboolean hub_lws_glib_uv_available (void);
/* What @glue runs: HUB_LWS_GLIB_UV only if asked for and available. */
HubLwsGlibKind hub_lws_glib_get_kind (HubLwsGlib *glue);
/* "uv", "glib" (lws's glib event library) or "poll" (its default service). */
const char *hub_lws_glib_get_name (HubLwsGlib *glue);

/* hub_lws_glib_configure(), lws_create_context() and hub_lws_glib_attach():
 * the context on the loop, or NULL when lws cannot make it (on libuv: lws's
 * uv plugin missing; then free the glue and try HUB_LWS_GLIB_GLIB). */
struct lws_context *hub_lws_glib_create_context (HubLwsGlib *glue,
                                                 struct lws_context_creation_info *info);
/* Around any other lws call, outside lws's callbacks, that may make a
 * descriptor for a context of @glue: lws_client_connect_via_info(),
 * lws_create_vhost() (a CA file read). On libuv lws 4.1 closes one descriptor
 * twice when a context is destroyed; these keep other threads' libuv contexts
 * from being given that number meanwhile (hub-lws-glib-uv-unix.c). Nest. */
void hub_lws_glib_enter (HubLwsGlib *glue);
void hub_lws_glib_leave (HubLwsGlib *glue);
/* After lws_client_connect_via_info() returned NULL (@wsi NULL), and from the
 * protocol callback on LWS_CALLBACK_CLIENT_CONNECTION_ERROR: on libuv, lws 4.1
 * leaves behind the uv handle of an attempt that failed once it had a socket;
 * the glue closes it once lws has returned (at the next hub_lws_glib_leave()
 * or after the loop iteration). */
void hub_lws_glib_connect_failed (HubLwsGlib *glue, struct lws *wsi);
/* From the protocol callback on LWS_CALLBACK_WSI_DESTROY: on libuv, closes at
 * once any poll handle lws 4.1 left polling for @wsi, before the loop's next
 * socket can be given its descriptor's number (hub-lws-glib-uv-unix.c). */
void hub_lws_glib_wsi_destroyed (HubLwsGlib *glue, struct lws *wsi);

/* Sets the fields of @info that put the context on the loop: call right
 * before lws_create_context(). Uses info->pcontext if set, else sets it. */
void hub_lws_glib_configure (HubLwsGlib *glue, struct lws_context_creation_info *info);
/* The context created with that info (starts servicing it). */
void hub_lws_glib_attach (HubLwsGlib *glue, struct lws_context *context);
/* Stops servicing it: call right before lws_context_destroy(). Not enough for
 * a context on libuv, whose destroy takes loop iterations: prefer
 * hub_lws_glib_destroy_context(). */
void hub_lws_glib_detach (HubLwsGlib *glue);
/* Stops servicing @context and destroys it, whatever the event library: on
 * libuv lws's two-step destroy of a context on a foreign loop, running the uv
 * loop (never the GMainContext) in between. Every wsi is closed (their
 * callbacks run within) and the context freed when it returns. Not from
 * inside an lws callback. */
void hub_lws_glib_destroy_context (HubLwsGlib *glue, struct lws_context *context);

/* After something done outside lws's callbacks that lws must notice: a new
 * connection, a timeout set, a socket shut down. lws 4.1's event libraries
 * re-arm their timer only after servicing a socket; this makes that happen
 * (lws_cancel_service()). */
void hub_lws_glib_wake (HubLwsGlib *glue);
/* After lws_callback_on_writable() outside lws's callbacks: cheaper than
 * hub_lws_glib_wake() where it can be (on libuv one loop iteration hands the
 * new poll to epoll; no wakeup through lws's pipe). */
void hub_lws_glib_wake_writable (HubLwsGlib *glue);

/* From a callback that may have left input on @wsi's socket (a RECEIVE that
 * filled the protocol's rx buffer: lws reads at most that much per socket per
 * service): the polled service (Windows) reads that socket on in the same
 * dispatch, up to 16 KiB without polling again, and runs again at once
 * instead of in HUB_LWS_GLIB_SERVICE_MS if input may still be left, so a
 * large message is neither read 512 bytes per 2 ms nor 512 bytes per poll of
 * every socket. The event libraries poll level-triggered and need nothing. */
void hub_lws_glib_service_again (HubLwsGlib *glue, struct lws *wsi);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLwsGlib, hub_lws_glib_free)

G_END_DECLS

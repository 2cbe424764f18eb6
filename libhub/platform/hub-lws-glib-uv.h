/* hub-lws-glib-uv.h: private to hub-lws-glib.c, the libuv way of hub-lws-glib.h
 * (hub-lws-glib-uv-unix.c): lws's uv event library on a private uv loop, polled
 * from a GMainContext by one GSource. Built where libhub found libuv
 * (HUB_HAVE_LIBUV), lws has its uv event library and the OS is Linux (uv's
 * backend descriptor is an epoll set, which GLib can poll; elsewhere lws's
 * glib event library, as before). */
#pragma once

#include <glib.h>
#include <libwebsockets.h>

#if defined(HUB_HAVE_LIBUV) && defined(LWS_WITH_LIBUV) && defined(__linux__)
#define HUB_LWS_GLIB_HAVE_UV 1
#endif

G_BEGIN_DECLS

#ifdef HUB_LWS_GLIB_HAVE_UV

typedef struct _HubLwsUv HubLwsUv;

/* NULL if no uv loop could be made. */
HubLwsUv *hub_lws_uv_new (GMainContext *main_context);
/* After hub_lws_uv_destroy_context() (or when no context was made). */
void hub_lws_uv_free (HubLwsUv *uv);
void hub_lws_uv_configure (HubLwsUv *uv, struct lws_context_creation_info *info);
void hub_lws_uv_attach (HubLwsUv *uv, struct lws_context *context);
void hub_lws_uv_detach (HubLwsUv *uv);
void hub_lws_uv_destroy_context (HubLwsUv *uv, struct lws_context *context);
void hub_lws_uv_wake_writable (HubLwsUv *uv);
void hub_lws_uv_connect_failed (HubLwsUv *uv, struct lws *wsi);
void hub_lws_uv_wsi_destroyed (HubLwsUv *uv, struct lws *wsi);
/* After an lws call made outside the loop's iterations (a connect). */
void hub_lws_uv_after_call (HubLwsUv *uv);
/* Around lws calls that may make descriptors (hub-lws-glib-uv-unix.c says why). */
void hub_lws_uv_enter (void);
void hub_lws_uv_leave (void);

#endif

G_END_DECLS

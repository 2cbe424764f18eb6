/* hub-lws-glib.h: the layer that runs a libwebsockets context on a GMainLoop,
 * so lws, libhub's timers and everything else on the loop share one thread:
 * lws's glib event library where lws has it (Unix), else lws's default
 * poll()/WSAPoll() service driven from a GSource (Windows; hub-lws-glib.c). */
#pragma once

#include <glib.h>
#include <libwebsockets.h>

G_BEGIN_DECLS

#define HUB_LWS_GLIB_SERVICE_MS 2

typedef struct _HubLwsGlib HubLwsGlib;

/* For contexts on @loop's GMainContext; @loop must outlive the glue. */
HubLwsGlib *hub_lws_glib_new (GMainLoop *loop);
void hub_lws_glib_free (HubLwsGlib *glue);

/* Sets the fields of @info that put the context on the loop: call right
 * before lws_create_context(). */
void hub_lws_glib_configure (HubLwsGlib *glue, struct lws_context_creation_info *info);
/* The context created with that info (Windows: starts servicing it). */
void hub_lws_glib_attach (HubLwsGlib *glue, struct lws_context *context);
/* Stops servicing it: call right before lws_context_destroy(). */
void hub_lws_glib_detach (HubLwsGlib *glue);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLwsGlib, hub_lws_glib_free)

G_END_DECLS

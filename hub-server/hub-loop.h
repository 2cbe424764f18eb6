/* hub-loop.h: the event loop hub-server runs on, and the signals that stop it.
 * libwebsockets and libhub's timers (HubClock, on the GLib main context) share
 * it. Two implementations behind one small ops table: lws's libuv event lib on
 * a uv loop that also iterates the GLib main context (the default on Unix), and
 * lws on a GMainLoop (hub-lws-glib.h: lws's glib event lib on Unix; the only
 * loop on Windows). docs/performance.md says why uv is the default. */
#pragma once

#include <glib.h>
#include <libwebsockets.h>

#include "hub-signals.h"

G_BEGIN_DECLS

typedef enum {
  HUB_LOOP_GLIB, /* lws as a guest of a GMainLoop (LWS_SERVER_OPTION_GLIB) */
  HUB_LOOP_UV,   /* lws on a libuv loop that drives the GLib context (LWS_SERVER_OPTION_LIBUV) */
} HubLoopKind;

typedef struct _HubLoop HubLoop;
typedef void (*HubLoopSignalFunc) (HubSignal signal, gpointer user_data);

/* The loop used when none is asked for: uv when built with libuv, else glib. */
HubLoopKind hub_loop_kind_default (void);
/* FALSE when this build lacks @kind (uv without libuv at build time). */
gboolean hub_loop_kind_available (HubLoopKind kind);
/* "glib" or "uv". */
const char *hub_loop_kind_to_string (HubLoopKind kind);
gboolean hub_loop_kind_from_string (const char *str, HubLoopKind *kind);

/* Uses the thread-default GMainContext (where HubClock puts its timers).
 * @kind must be available. */
HubLoop *hub_loop_new (HubLoopKind kind);
void hub_loop_free (HubLoop *loop);
HubLoopKind hub_loop_get_kind (HubLoop *loop);

/* Sets the fields of @info that put an lws context on this loop. Call right
 * before lws_create_context(); @loop must outlive the context. */
void hub_loop_configure_lws (HubLoop *loop, struct lws_context_creation_info *info);
/* The context created with that info. */
void hub_loop_set_lws_context (HubLoop *loop, struct lws_context *context);
/* Destroys the context set above, completely: its wsi get CLOSED from here,
 * and no lws callback comes after this returns (with libuv, lws closes its
 * handles asynchronously; this runs the uv loop until they are closed). */
void hub_loop_destroy_lws_context (HubLoop *loop);
/* From an lws callback that may have left input on @wsi's socket (a RECEIVE
 * that filled the rx buffer): where lws is polled (the glib loop on Windows,
 * hub-lws-glib.h) that socket is read on at once. */
void hub_loop_service_again (HubLoop *loop, struct lws *wsi);

/* Calls @func on SIGINT, SIGTERM and SIGHUP, or Windows' console events
 * (hub-signals.h), in the loop, not in signal context. */
void hub_loop_watch_signals (HubLoop *loop, HubLoopSignalFunc func, gpointer user_data);

void hub_loop_run (HubLoop *loop);
/* Makes hub_loop_run() return. */
void hub_loop_quit (HubLoop *loop);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLoop, hub_loop_free)

G_END_DECLS

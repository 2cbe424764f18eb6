/* hub-loop.h: the event loop hub-server runs on, and the signals that stop it.
 * libwebsockets and libhub's timers (HubClock, on the GLib main context) share
 * it. One implementation today, lws's glib event lib on a GMainLoop; the ops
 * table in hub-loop.c is where a second one (lws's poll loop, libuv) goes. */
#pragma once

#include <glib.h>
#include <libwebsockets.h>

G_BEGIN_DECLS

typedef enum {
  HUB_LOOP_GLIB, /* lws as a guest of a GMainLoop (LWS_SERVER_OPTION_GLIB) */
} HubLoopKind;

typedef struct _HubLoop HubLoop;
typedef void (*HubLoopSignalFunc) (int signum, gpointer user_data);

/* Uses the thread-default GMainContext (where HubClock puts its timers). */
HubLoop *hub_loop_new (HubLoopKind kind);
void hub_loop_free (HubLoop *loop);

/* Sets the fields of @info that put an lws context on this loop. Call right
 * before lws_create_context(); @loop must outlive the context. */
void hub_loop_configure_lws (HubLoop *loop, struct lws_context_creation_info *info);
/* The context created with that info (NULL: forget it, before destroying it). */
void hub_loop_set_lws_context (HubLoop *loop, struct lws_context *context);
/* lws timers were changed from outside lws's own service (e.g. lws_set_timeout
 * from a GLib timeout): make lws re-arm its timer on this loop. */
void hub_loop_lws_timers_changed (HubLoop *loop);

/* Calls @func on SIGINT and SIGTERM (in the loop, not in signal context). */
void hub_loop_watch_signals (HubLoop *loop, HubLoopSignalFunc func, gpointer user_data);

void hub_loop_run (HubLoop *loop);
/* Makes hub_loop_run() return. */
void hub_loop_quit (HubLoop *loop);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLoop, hub_loop_free)

G_END_DECLS

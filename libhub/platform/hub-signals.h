/* hub-signals.h: the platform layer for requests from outside: SIGINT,
 * SIGTERM and SIGHUP on Unix (hub-signals-unix.c), Ctrl-C, Ctrl-Break and the
 * console's close, logoff and shutdown events on Windows (hub-signals-win32.c).
 * All of them are stop requests except SIGHUP, which a daemon takes as
 * "re-read your settings" (hub-server); Windows has no such request. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  HUB_SIGNAL_INTERRUPT, /* SIGINT; Ctrl-C or Ctrl-Break */
  HUB_SIGNAL_TERMINATE, /* SIGTERM; logoff or system shutdown */
  HUB_SIGNAL_HANGUP,    /* the console window closed (Windows only) */
  HUB_SIGNAL_RELOAD,    /* SIGHUP (Unix only): a daemon reloads; a program on a
                         * terminal stops (the terminal hung up) */
} HubSignal;

typedef void (*HubSignalFunc) (HubSignal signal, gpointer user_data);
typedef struct _HubSignalWatch HubSignalWatch;

/* Calls @func in @context's thread (NULL: the global default context), never
 * in signal context, for every request from now on until the watch is
 * freed; the default action (ending the process) no longer applies. */
HubSignalWatch *hub_signal_watch_new (GMainContext *context, HubSignalFunc func,
                                      gpointer user_data);
void hub_signal_watch_free (HubSignalWatch *watch);

/* "SIGINT", "SIGTERM", "SIGHUP"; "Ctrl-C", "logoff or shutdown", "console closed". */
const char *hub_signal_to_string (HubSignal signal);

/* A peer resetting a connection must not kill the process (SIGPIPE on Unix,
 * nothing to do on Windows). Idempotent. */
void hub_signals_ignore_broken_pipe (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubSignalWatch, hub_signal_watch_free)

G_END_DECLS

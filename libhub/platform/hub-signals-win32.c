/* hub-signals-win32.c: hub-signals.h on Windows: a console control handler
 * (SetConsoleCtrlHandler). Windows calls it on a thread of its own; it marks
 * each watch's source ready, which dispatches in the watch's context. */
#include "hub-signals.h"

#include <windows.h>

/* After a close, logoff or shutdown event Windows ends the process as soon as
 * the handler returns (at the latest 5 s later): the handler waits this long
 * so the main loop can shut down gracefully (main() returning ends it sooner). */
#define CLOSE_GRACE_MS 4500

typedef struct {
  GSource source;
  HubSignalWatch *watch; /* (unowned) */
} WatchSource;

struct _HubSignalWatch {
  HubSignalFunc func;
  gpointer user_data;
  GSource *source; /* (owned) a WatchSource, made ready by the handler */
  guint pending;   /* (atomic) bit (1 << HubSignal) per request not yet dispatched */
};

static GMutex watches_lock;
static GSList *watches; /* (element-type HubSignalWatch) (unowned) under watches_lock */
static gboolean handler_installed;

static gboolean
source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  HubSignalWatch *watch = ((WatchSource *)source)->watch;
  guint pending = g_atomic_int_and (&watch->pending, 0);

  g_source_set_ready_time (source, -1);
  for (guint s = HUB_SIGNAL_INTERRUPT; s <= HUB_SIGNAL_HANGUP; s++) {
    if (pending & (1u << s))
      watch->func ((HubSignal)s, watch->user_data);
  }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs source_funcs = {NULL, NULL, source_dispatch, NULL, NULL, NULL};

static BOOL WINAPI
on_console_event (DWORD event)
{
  HubSignal signal;
  gboolean handled;

  switch (event) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
      signal = HUB_SIGNAL_INTERRUPT;
      break;
    case CTRL_CLOSE_EVENT:
      signal = HUB_SIGNAL_HANGUP;
      break;
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
      signal = HUB_SIGNAL_TERMINATE;
      break;
    default:
      return FALSE;
  }
  g_mutex_lock (&watches_lock);
  handled = watches != NULL;
  for (GSList *l = watches; l != NULL; l = l->next) {
    HubSignalWatch *watch = l->data;

    g_atomic_int_or (&watch->pending, 1u << signal);
    /* Thread-safe: wakes the context the source is attached to. */
    g_source_set_ready_time (watch->source, 0);
  }
  g_mutex_unlock (&watches_lock);
  if (handled && signal != HUB_SIGNAL_INTERRUPT)
    Sleep (CLOSE_GRACE_MS);
  return handled; /* FALSE: the default handler ends the process */
}

HubSignalWatch *
hub_signal_watch_new (GMainContext *context, HubSignalFunc func, gpointer user_data)
{
  HubSignalWatch *watch = g_new0 (HubSignalWatch, 1);

  watch->func = func;
  watch->user_data = user_data;
  watch->source = g_source_new (&source_funcs, sizeof (WatchSource));
  ((WatchSource *)watch->source)->watch = watch;
  g_source_attach (watch->source, context);
  g_mutex_lock (&watches_lock);
  watches = g_slist_prepend (watches, watch);
  if (!handler_installed)
    handler_installed = SetConsoleCtrlHandler (on_console_event, TRUE);
  g_mutex_unlock (&watches_lock);
  return watch;
}

void
hub_signal_watch_free (HubSignalWatch *watch)
{
  if (watch == NULL)
    return;
  /* Once out of the list the handler no longer touches it. */
  g_mutex_lock (&watches_lock);
  watches = g_slist_remove (watches, watch);
  g_mutex_unlock (&watches_lock);
  g_source_destroy (watch->source);
  g_source_unref (watch->source);
  g_free (watch);
}

const char *
hub_signal_to_string (HubSignal signal)
{
  switch (signal) {
    case HUB_SIGNAL_INTERRUPT:
      return "Ctrl-C";
    case HUB_SIGNAL_TERMINATE:
      return "logoff or shutdown";
    case HUB_SIGNAL_HANGUP:
      return "console closed";
    case HUB_SIGNAL_RELOAD:
      return "reload";
    default:
      return "?";
  }
}

void
hub_signals_ignore_broken_pipe (void)
{
  /* Windows has no SIGPIPE: a write to a reset socket fails with WSAECONNRESET. */
}

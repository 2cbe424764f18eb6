/* hub-signals-unix.c: hub-signals.h on Unix: SIGINT, SIGTERM and SIGHUP as
 * GLib Unix signal sources (the handler only records the signal; the source
 * dispatches in the context's thread). */
#include "hub-signals.h"

#include <glib-unix.h>
#include <signal.h>

/* No console to close here: HUB_SIGNAL_HANGUP never comes (its slot is 0). */
static const int signums[] = {
    [HUB_SIGNAL_INTERRUPT] = SIGINT,
    [HUB_SIGNAL_TERMINATE] = SIGTERM,
    [HUB_SIGNAL_HANGUP] = 0,
    [HUB_SIGNAL_RELOAD] = SIGHUP,
};

typedef struct {
  HubSignalWatch *watch; /* (unowned) */
  HubSignal signal;
} Slot;

struct _HubSignalWatch {
  HubSignalFunc func;
  gpointer user_data;
  GSource *sources[G_N_ELEMENTS (signums)]; /* (owned) */
  Slot slots[G_N_ELEMENTS (signums)];
};

static gboolean
on_signal (gpointer user_data)
{
  Slot *slot = user_data;

  slot->watch->func (slot->signal, slot->watch->user_data);
  return G_SOURCE_CONTINUE;
}

HubSignalWatch *
hub_signal_watch_new (GMainContext *context, HubSignalFunc func, gpointer user_data)
{
  HubSignalWatch *watch = g_new0 (HubSignalWatch, 1);

  watch->func = func;
  watch->user_data = user_data;
  for (guint i = 0; i < G_N_ELEMENTS (signums); i++) {
    if (signums[i] == 0)
      continue;
    watch->slots[i].watch = watch;
    watch->slots[i].signal = (HubSignal)i;
    watch->sources[i] = g_unix_signal_source_new (signums[i]);
    g_source_set_callback (watch->sources[i], on_signal, &watch->slots[i], NULL);
    g_source_attach (watch->sources[i], context);
  }
  return watch;
}

void
hub_signal_watch_free (HubSignalWatch *watch)
{
  if (watch == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (signums); i++) {
    if (watch->sources[i] == NULL)
      continue;
    g_source_destroy (watch->sources[i]);
    g_source_unref (watch->sources[i]);
  }
  g_free (watch);
}

const char *
hub_signal_to_string (HubSignal signal)
{
  switch (signal) {
    case HUB_SIGNAL_INTERRUPT:
      return "SIGINT";
    case HUB_SIGNAL_TERMINATE:
      return "SIGTERM";
    case HUB_SIGNAL_RELOAD:
      return "SIGHUP";
    default:
      return "?";
  }
}

void
hub_signals_ignore_broken_pipe (void)
{
  signal (SIGPIPE, SIG_IGN);
}

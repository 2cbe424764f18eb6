/* hub-reload.c: SIGHUP: compare, apply what can change live, log. */
#include "hub-reload.h"

#include <string.h>

typedef struct {
  GString *applied; /* names, comma separated */
  GString *restart; /* names, comma separated */
} Changes;

static void
on_changed (const char *name, HubOptionApply apply, const char *before, const char *after,
            gpointer user_data)
{
  Changes *c = user_data;
  GString *list = apply == HUB_OPTION_LIVE ? c->applied : c->restart;

  g_string_append_printf (list, "%s%s", list->len > 0 ? ", " : "", name);
  hub_event_log ("hub-server", apply == HUB_OPTION_LIVE ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_WARNING,
                 "reload_change",
                 apply == HUB_OPTION_LIVE ? "setting changed" : "setting changed: needs a restart",
                 "option", name, "before", before, "after", after, NULL);
}

/* @next keeps @running's secret when it would add or remove one (the mode
 * would change under connected clients: hub_dispatcher_reconfigure). */
static void
keep_secret_mode (const HubOptions *running, HubOptions *next)
{
  const HubConfig *r = &running->config;
  HubConfig *n = &next->config;

  if ((r->secret == NULL) == (n->secret == NULL))
    return;
  hub_event_log ("hub-server", G_LOG_LEVEL_WARNING, "reload_change",
                 r->secret == NULL ? "a secret was added: needs a restart (the running server "
                                     "stays in development mode)"
                                   : "the secret was removed: needs a restart (the running "
                                     "server keeps its secret)",
                 "option", "secret", NULL);
  g_free (n->secret);
  n->secret = NULL;
  n->secret_len = 0;
  if (r->secret != NULL) {
    n->secret = g_malloc (r->secret_len + 1);
    memcpy (n->secret, r->secret, r->secret_len + 1);
    n->secret_len = r->secret_len;
  }
}

/* What was applied becomes the running settings; the rest stays as the
 * process runs it (so the next reload names a pending restart again). */
static void
adopt_live (HubOptions *running, HubOptions *next)
{
  HubConfig *r = &running->config, *n = &next->config;

  g_free (r->secret);
  r->secret = g_steal_pointer (&n->secret);
  r->secret_len = n->secret_len;
  r->rate_per_s = n->rate_per_s;
  r->burst = n->burst;
  r->max_queue_bytes = n->max_queue_bytes;
  r->hello_timeout_s = n->hello_timeout_s;
  r->max_connections_per_user = n->max_connections_per_user;
  r->max_subscriptions_per_user = n->max_subscriptions_per_user;
  r->fanout_bytes_per_s = n->fanout_bytes_per_s;
  running->max_connections = next->max_connections;
  running->max_connections_per_address = next->max_connections_per_address;
  running->http_timeout_s = next->http_timeout_s;
  running->secret_grace_s = next->secret_grace_s;
  running->log_level = next->log_level;
  running->log_format = next->log_format;
  running->log_rate = next->log_rate;
}

void
hub_reload (HubOptions *running, HubDispatcher *d, HubWsTransport *transport)
{
  HubOptions next;
  g_autoptr (GError) error = NULL;
  Changes changes = {g_string_new (NULL), g_string_new (NULL)};

  if (!hub_options_reload (running, &next, &error)) {
    hub_event_log ("hub-server", G_LOG_LEVEL_WARNING, "reload_failed",
                   "reload failed: keeping the running settings", "reason", error->message, NULL);
    goto out;
  }
  keep_secret_mode (running, &next);
  hub_options_diff (running, &next, on_changed, &changes);
  if (!hub_dispatcher_reconfigure (d, &next.config, next.secret_grace_s, &error)) {
    /* keep_secret_mode() ruled out the one refusal; say so if that changes. */
    hub_event_log ("hub-server", G_LOG_LEVEL_WARNING, "reload_failed",
                   "reload failed: keeping the running settings", "reason", error->message, NULL);
    hub_options_clear (&next);
    goto out;
  }
  if (transport != NULL)
    hub_ws_transport_reconfigure (transport, next.max_connections, next.max_connections_per_address,
                                  next.http_timeout_s);
  hub_log_configure (next.log_level, next.log_format, next.log_rate);
  if (next.weak_secret_warning != NULL)
    g_warning ("%s", next.weak_secret_warning);
  adopt_live (running, &next);
  hub_options_clear (&next);
  hub_event_log ("hub-server", G_LOG_LEVEL_MESSAGE, "reload", "settings reloaded (SIGHUP)",
                 "applied", changes.applied->len > 0 ? changes.applied->str : "none",
                 "needs_restart", changes.restart->len > 0 ? changes.restart->str : "none", NULL);

out:
  g_string_free (changes.applied, TRUE);
  g_string_free (changes.restart, TRUE);
}

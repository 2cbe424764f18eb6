/* hub-client-sync.c: the synchronous convenience of HubClient (connect, request,
 * join, publish that return their answer): each starts the asynchronous call,
 * then iterates the thread-default main context until the answer or a timeout
 * source, blocking in between. */
#include "hub/hub-client.h"

#include "hub-client-private.h"

/* A bound on a wait: @expired turns TRUE after the timeout (no source when 0). */
typedef struct {
  GSource *source; /* (owned) (nullable) */
  gboolean expired;
} SyncBound;

static gboolean
on_bound_expired (gpointer user_data)
{
  SyncBound *bound = user_data;

  bound->expired = TRUE;
  return G_SOURCE_REMOVE;
}

static void
bound_start (SyncBound *bound, GMainContext *context, guint timeout_ms)
{
  bound->expired = FALSE;
  bound->source = NULL;
  if (timeout_ms == 0)
    return;
  bound->source = g_timeout_source_new (timeout_ms);
  g_source_set_callback (bound->source, on_bound_expired, bound, NULL);
  g_source_attach (bound->source, context);
}

static void
bound_stop (SyncBound *bound)
{
  if (bound->source == NULL)
    return;
  g_source_destroy (bound->source);
  g_clear_pointer (&bound->source, g_source_unref);
}

HubClient *
hub_client_connect_sync (const HubClientOptions *options, const HubClientCallbacks *callbacks,
                         gpointer user_data, guint timeout_ms, GError **error)
{
  g_autoptr (GMainContext) context = g_main_context_ref_thread_default ();
  g_autoptr (HubClient) client = NULL;
  HubClientOptions once;
  SyncBound bound;
  const GError *why;

  if (options != NULL)
    once = *options;
  else
    hub_client_options_init (&once);
  /* One attempt: a refused connection or hello is reported, not retried. */
  once.auto_reconnect = FALSE;
  client = hub_client_new (&once, callbacks, user_data, error);
  if (client == NULL)
    return NULL;

  bound_start (&bound, context, timeout_ms);
  hub_client_connect (client);
  while (hub_client_get_state (client) == HUB_CLIENT_CONNECTING && !bound.expired)
    g_main_context_iteration (context, TRUE);
  bound_stop (&bound);

  switch (hub_client_get_state (client)) {
    case HUB_CLIENT_CONNECTED:
      hub_client_set_auto_reconnect (client, options != NULL ? options->auto_reconnect : TRUE);
      return g_steal_pointer (&client);
    case HUB_CLIENT_CONNECTING:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no welcome from %s within %u ms",
                   hub_client_get_url (client), timeout_ms);
      return NULL;
    case HUB_CLIENT_DISCONNECTED:
    case HUB_CLIENT_RECONNECTING:
    default:
      why = hub_client_get_connect_error (client);
      if (why != NULL)
        g_propagate_error (error, g_error_copy (why));
      else /* a callback called hub_client_disconnect */
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "not connected to %s (%s)",
                     hub_client_get_url (client),
                     hub_client_state_to_string (hub_client_get_state (client)));
      return NULL;
  }
}

/* One request waited for. Owned by the wait, or by the reply callback once the
 * wait gave up (@abandoned): the reply comes exactly once, at the latest when
 * the client is freed. */
typedef struct {
  gboolean done, abandoned;
  JsonObject *reply; /* (owned) (nullable) */
  GError *error;     /* (owned) (nullable) */
} SyncCall;

static void
on_sync_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  SyncCall *call = user_data;

  if (call->abandoned) {
    g_free (call);
    return;
  }
  call->done = TRUE;
  if (error != NULL)
    call->error = g_error_copy (error);
  else
    call->reply = json_object_ref (reply);
}

JsonObject *
hub_client_request_sync (HubClient *client, const char *type, JsonObject *fields, guint timeout_ms,
                         GError **error)
{
  g_autoptr (GMainContext) context = g_main_context_ref_thread_default ();
  SyncCall *call;
  SyncBound bound;
  JsonObject *reply;

  g_return_val_if_fail (client != NULL && type != NULL, NULL);
  call = g_new0 (SyncCall, 1);
  bound_start (&bound, context, timeout_ms);
  hub_client_request (client, type, fields, on_sync_reply, call);
  while (!call->done && !bound.expired)
    g_main_context_iteration (context, TRUE);
  bound_stop (&bound);

  if (!call->done) {
    call->abandoned = TRUE; /* on_sync_reply frees it */
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no reply to %s within %u ms", type,
                 timeout_ms);
    return NULL;
  }
  if (call->error != NULL)
    g_propagate_error (error, call->error);
  reply = call->reply;
  g_free (call);
  return reply;
}

gboolean
hub_client_join_sync (HubClient *client, const char *room, guint timeout_ms, GError **error)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;

  json_object_set_string_member (fields, "room", room);
  reply = hub_client_request_sync (client, "join", fields, timeout_ms, error);
  return reply != NULL;
}

gboolean
hub_client_publish_sync (HubClient *client, const char *room, JsonObject *payload, guint timeout_ms,
                         GError **error)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;

  json_object_set_string_member (fields, "room", room);
  json_object_set_object_member (fields, "payload", json_object_ref (payload));
  reply = hub_client_request_sync (client, "publish", fields, timeout_ms, error);
  return reply != NULL;
}

/* hub-client-token.c: a HubClient's connection token and its lifetime
 * (PROTOCOL.md §12). The application's provider is asked for a fresh token
 * before each reconnect and ahead of the connected token's deadline; its
 * answer may come at once or later (hub_client_supply_token), so a provider
 * that mints in the process costs a call and one that fetches over the
 * network blocks nothing. One ask at a time, bounded by the request timeout. */
#include "hub-client-token.h"

#include "hub-client-private.h"
#include "hub-client-timers.h"

#include <string.h>

struct _HubClientTokens {
  HubClient *client; /* (unowned) the owner */
  HubClock *clock;   /* (unowned) the client's */
  HubClientTokenProvider provider;
  gpointer user_data; /* (unowned) the provider's */
  guint timeout_ms;   /* bound on an answer; 0: none */
  guint64 rng;        /* the refresh's jitter */

  /* The client's token was closed with 4003: spent, whatever its deadline said. */
  gboolean spent;

  gboolean asking; /* the provider was asked and has not answered */
  HubClientTokenNeed need;
  gboolean asked_by_hand; /* by hub_client_refresh_token */
  guint ask_timer;

  gboolean connected; /* between a welcome and the connection's end */
  gint64 expires_ms;  /* the current token's deadline (the server's Unix ms); 0: none */
  /* The refresh, in the thread's queue (one clock timer for all clients). */
  HubClientTimers *timers; /* (owned) (nullable) with a provider */
  HubClientTimer refresh;
};

static void on_refresh_due (gpointer user_data);

static HubClientTokens *
tokens_of (HubClient *client)
{
  return hub_client_get_tokens (client);
}

HubClientTokens *
hub_client_tokens_new (HubClient *client, HubClock *clock, HubClientTokenProvider provider,
                       gpointer user_data, guint timeout_ms, guint64 seed)
{
  HubClientTokens *t = g_new0 (HubClientTokens, 1);

  t->client = client;
  t->clock = clock;
  t->provider = provider;
  t->user_data = user_data;
  t->timeout_ms = timeout_ms;
  /* Not the backoff's sequence: the two draw independently. */
  t->rng = seed ^ 0x5851f42d4c957f2dull;
  if (provider != NULL)
    t->timers = hub_client_timers_ref_for (clock);
  t->refresh.func = on_refresh_due;
  t->refresh.data = t;
  return t;
}

void
hub_client_tokens_free (HubClientTokens *t)
{
  if (t == NULL)
    return;
  hub_clock_cancel (t->clock, t->ask_timer);
  if (t->timers != NULL) {
    hub_client_timers_cancel (t->timers, &t->refresh);
    hub_client_timers_unref (t->timers);
  }
  g_free (t);
}

static void
emit_token_event (HubClientTokens *t, HubClientEventType type, JsonObject *frame, const char *code,
                  const char *text)
{
  HubClientEvent event = {
      .type = type,
      .frame = frame,
      .code = code,
      .text = text,
      .expires_ts = t->expires_ms,
  };

  hub_client_emit_event (t->client, &event);
}

/* ---- asking the provider ---- */

static void
end_ask (HubClientTokens *t)
{
  t->asking = FALSE;
  t->asked_by_hand = FALSE;
  hub_clock_cancel (t->clock, t->ask_timer);
  t->ask_timer = 0;
}

static void
on_ask_timeout (gpointer user_data)
{
  HubClientTokens *t = user_data;
  g_autofree char *why =
      g_strdup_printf ("the token provider did not answer within %.1f s", t->timeout_ms / 1000.0);

  t->ask_timer = 0;
  hub_client_token_unavailable (t->client, why);
}

/* Asks the provider for @need; the answer may come before this returns, and
 * the client may be gone after it: the caller touches nothing more. An ask
 * under way serves a new need (a connection's need wins over a refresh's). */
static void
ask (HubClientTokens *t, HubClientTokenNeed need)
{
  HubClient *client = t->client;

  if (t->asking) {
    if (need == HUB_CLIENT_TOKEN_CONNECT)
      t->need = need;
    return;
  }
  t->asking = TRUE;
  t->need = need;
  /* Held: the provider may free the client (then its memory, and this
   * object, stay until the release; the bound armed below goes with them). */
  hub_client_hold (client);
  t->provider (client, need, t->user_data);
  /* A provider answering inside the call (minting) costs no timer. */
  if (t->asking && t->timeout_ms > 0 && t->ask_timer == 0)
    t->ask_timer = hub_clock_add_timeout (t->clock, t->timeout_ms, on_ask_timeout, t);
  hub_client_release (client);
}

gboolean
hub_client_tokens_before_connect (HubClientTokens *t, gboolean reconnect)
{
  /* The first connection uses the token given with the options, if any. */
  if (t->provider == NULL || (!reconnect && hub_client_get_token (t->client) != NULL))
    return FALSE;
  ask (t, HUB_CLIENT_TOKEN_CONNECT);
  return TRUE;
}

gboolean
hub_client_tokens_can_reconnect (HubClientTokens *t)
{
  return t->provider != NULL || !t->spent;
}

/* TRUE when the current token may still be accepted, as far as we know. */
static gboolean
token_usable (HubClientTokens *t)
{
  return hub_client_get_token (t->client) != NULL && !t->spent &&
         (t->expires_ms == 0 || hub_clock_unix_ms (t->clock) < t->expires_ms);
}

/* ---- the refresh ---- */

static void
cancel_refresh (HubClientTokens *t)
{
  if (t->timers != NULL)
    hub_client_timers_cancel (t->timers, &t->refresh);
}

/* §12: refreshed on our own ahead of the deadline, at a random point between
 * 75 % and 85 % of the way there, so that connections made together do not
 * refresh together. */
static void
schedule_refresh (HubClientTokens *t)
{
  gint64 now;

  cancel_refresh (t);
  if (!t->connected || t->expires_ms == 0 || t->provider == NULL)
    return;
  now = hub_clock_unix_ms (t->clock);
  hub_client_timers_schedule (t->timers, &t->refresh,
                              now + hub_client_refresh_delay_ms (&t->rng, t->expires_ms - now));
}

static void
on_refresh_due (gpointer user_data)
{
  HubClientTokens *t = user_data;

  ask (t, HUB_CLIENT_TOKEN_REFRESH);
}

/* @automatic: sent because the deadline neared (else asked for, or a token
 * given unasked). */
static void
refresh_answered (HubClientTokens *t, JsonObject *reply, const GError *error, gboolean automatic)
{
  JsonNode *expires;
  gint64 new_expires;
  gboolean stale;

  if (error != NULL && reply == NULL) {
    /* A lost connection or a freed client says it by itself. */
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      emit_token_event (t, HUB_CLIENT_EVENT_TOKEN_FAILED, NULL, "timed_out", error->message);
    return;
  }
  if (error != NULL) {
    JsonNode *code = json_object_get_member (reply, "code");
    JsonNode *message = json_object_get_member (reply, "message");

    /* The old deadline stands (§12): the server closes with 4003 then. */
    emit_token_event (
        t, HUB_CLIENT_EVENT_TOKEN_FAILED, reply,
        code != NULL && JSON_NODE_HOLDS_VALUE (code) ? json_node_get_string (code) : "error",
        message != NULL && JSON_NODE_HOLDS_VALUE (message) ? json_node_get_string (message)
                                                           : error->message);
    return;
  }
  /* A token without exp ends the deadline: expires_ts is then absent. */
  expires = json_object_get_member (reply, "expires_ts");
  new_expires = expires != NULL && JSON_NODE_HOLDS_VALUE (expires) &&
                        json_node_get_value_type (expires) == G_TYPE_INT64
                    ? json_node_get_int (expires)
                    : 0;
  stale = new_expires > 0 && t->expires_ms > 0 && new_expires <= t->expires_ms;
  t->expires_ms = new_expires;
  /* A deadline that did not move keeps the schedule it had: after an
   * automatic refresh, none (asking again and again as the deadline nears
   * would only flood the server; the provider had nothing fresher, a file
   * not rewritten yet, say); after another, the automatic one still due. */
  if (!stale)
    schedule_refresh (t);
  if (stale && automatic)
    emit_token_event (t, HUB_CLIENT_EVENT_TOKEN_FAILED, reply, "stale_token",
                      "the new token expires no later than the one it replaces");
  else
    emit_token_event (t, HUB_CLIENT_EVENT_TOKEN_REFRESHED, reply, NULL, NULL);
}

static void
on_automatic_refresh_reply (HubClient *client, JsonObject *reply, const GError *error,
                            gpointer user_data)
{
  refresh_answered (user_data, reply, error, TRUE);
}

static void
on_refresh_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  refresh_answered (user_data, reply, error, FALSE);
}

static void
send_refresh (HubClientTokens *t, gboolean automatic)
{
  g_autoptr (JsonObject) fields = json_object_new ();

  json_object_set_string_member (fields, "token", hub_client_get_token (t->client));
  hub_client_request (t->client, "refresh", fields,
                      automatic ? on_automatic_refresh_reply : on_refresh_reply, t);
}

/* ---- the connection's life ---- */

void
hub_client_tokens_connected (HubClientTokens *t, gint64 expires_ms)
{
  t->connected = TRUE;
  t->spent = FALSE;
  t->expires_ms = MAX (expires_ms, 0);
  schedule_refresh (t);
}

void
hub_client_tokens_disconnected (HubClientTokens *t, guint close_code)
{
  t->connected = FALSE;
  cancel_refresh (t);
  /* Kept: expires_ms, which tells whether the token may serve a reconnect. */
  if (close_code == 4003)
    t->spent = TRUE;
}

/* ---- the application's side ---- */

void
hub_client_supply_token (HubClient *client, const char *token)
{
  HubClientTokens *t;
  gboolean for_connect, automatic;

  g_return_if_fail (client != NULL && token != NULL);
  t = tokens_of (client);
  for_connect = t->asking && t->need == HUB_CLIENT_TOKEN_CONNECT;
  automatic = t->asking && t->need == HUB_CLIENT_TOKEN_REFRESH && !t->asked_by_hand;
  end_ask (t);
  hub_client_set_token (client, token);
  t->spent = FALSE;
  hub_client_hold (client);
  if (for_connect)
    hub_client_token_answered (client, TRUE, NULL);
  else if (t->connected)
    send_refresh (t, automatic);
  hub_client_release (client);
}

void
hub_client_token_unavailable (HubClient *client, const char *reason)
{
  HubClientTokens *t;
  HubClientTokenNeed need;
  g_autofree char *why = NULL;

  g_return_if_fail (client != NULL);
  t = tokens_of (client);
  if (!t->asking)
    return;
  need = t->need;
  end_ask (t);
  why = g_strdup_printf ("no fresh token: %s", reason != NULL ? reason : "the provider had none");
  hub_client_hold (client);
  if (need == HUB_CLIENT_TOKEN_CONNECT && !token_usable (t)) {
    hub_client_token_answered (client, FALSE, why);
  } else {
    /* A refresh: the deadline stands. A connection: the token in hand still
     * serves (the provider is asked again next time). */
    emit_token_event (t, HUB_CLIENT_EVENT_TOKEN_FAILED, NULL, "token_unavailable", why);
    if (need == HUB_CLIENT_TOKEN_CONNECT)
      hub_client_token_answered (client, TRUE, NULL);
  }
  hub_client_release (client);
}

gboolean
hub_client_refresh_token (HubClient *client)
{
  HubClientTokens *t;

  g_return_val_if_fail (client != NULL, FALSE);
  t = tokens_of (client);
  if (t->provider == NULL || !t->connected)
    return FALSE;
  hub_client_hold (client);
  if (!t->asking)
    t->asked_by_hand = TRUE;
  ask (t, HUB_CLIENT_TOKEN_REFRESH);
  hub_client_release (client);
  return TRUE;
}

gboolean
hub_client_has_token_provider (HubClient *client)
{
  return tokens_of (client)->provider != NULL;
}

gint64
hub_client_get_expires_ts (HubClient *client)
{
  HubClientTokens *t = tokens_of (client);

  return t->connected ? t->expires_ms : 0;
}

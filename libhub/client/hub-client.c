/* hub-client.c: the protocol side of HubClient, without sockets: hello and
 * resume, request ids and their replies, server frames parsed into typed
 * events, seq tracking per room, and the reconnect policy. Bytes move through
 * a HubClientTransportClass (libwebsockets in hub-client-lws.c). */
#include "hub/hub-client.h"

#include "hub-client-peek.h"
#include "hub-client-private.h"
#include "hub-client-scan.h"
#include "hub/hub-error.h"

#include <string.h>

#define DEFAULT_URL "ws://127.0.0.1:8080/ws"

typedef enum {
  PENDING_USER,
  PENDING_HELLO,
  PENDING_SYNC,   /* internal `rooms` after a first welcome: learns each room's seq */
  PENDING_CHECK,  /* internal `room_info` of a room a new welcome left out */
  PENDING_REJOIN, /* internal `join` of a room the server no longer knew */
} PendingKind;

typedef struct {
  gint64 id;
  PendingKind kind;
  gboolean is_join, is_leave;
  char *room;       /* (owned) (nullable) join, leave, publish, history; CHECK, REJOIN: the room */
  char *room_token; /* (owned) (nullable) join: the room token it carries (§12) */
  HubClientReplyFunc callback;
  gpointer user_data;     /* (unowned) */
  gint64 deadline_us;     /* 0: none */
  GError *deferred_error; /* (owned) (nullable) failed before sending */
  gboolean lean;          /* hub_client_request_lean: the reply's scalars only */
} Pending;

struct _HubClient {
  HubClientCallbacks callbacks;
  gpointer user_data; /* (unowned) */

  char *url; /* (owned) */
  HubClientUrl parsed;
  char *user, *device, *token; /* (owned) (nullable) as asked */
  char *peek_payload_int;      /* (owned) (nullable) */
  gsize peek_payload_int_len;
  gboolean any_lean; /* a lean request was made: replies are peeked for it */
  gboolean auto_reconnect;
  guint backoff_min_ms, backoff_max_ms, request_timeout_ms;
  guint64 rng;             /* backoff jitter (a GRand would cost 2.5 KiB per client) */
  HubClock *clock;         /* (owned) */
  HubClientTokens *tokens; /* (owned) the token's deadline, its refresh, the provider (§12) */

  const HubClientTransportClass *klass;
  HubClientTransport *transport; /* (owned) */
  gboolean link_open;            /* a connection (or attempt) is under way */

  HubClientState state;
  gboolean stopping;     /* hub_client_disconnect: no reconnect */
  gboolean final;        /* hello refused or a final close code */
  char *final_reason;    /* (owned) (nullable) */
  GError *connect_error; /* (owned) (nullable) why the last attempt ended before its welcome */
  guint attempt;
  guint last_close_code; /* of the last connection that ended (0: none yet) */
  guint retry_timer, timeout_timer, deferred_timer;
  gint64 timeout_deadline_us;

  GQueue pending;  /* Pending* (owned), ascending ids */
  GQueue deferred; /* Pending* (owned) failed before sending, delivered from a timer */
  gint64 next_id;

  GHashTable *rooms; /* room (owned) → RoomState* (owned): last seq seen, its stream */
  /* The room of the last peeked message (a key of rooms) and its slot, so
   * that a run of messages in one room costs no hashing; NULL after any
   * change of rooms. */
  const char *peek_room; /* (unowned) */
  gsize peek_room_len;
  gint64 *peek_seq;                           /* (unowned) */
  char *welcome_user, *welcome_device, *conn; /* (owned) (nullable) */
  gboolean ever_connected;
  guint max_message_bytes; /* from the welcome; 0: not told */
  HubClientCounters counters;

  /* (nullable) room (owned) → the room token (owned) it was joined with
   * (§12); NULL until the first such join. */
  GHashTable *room_tokens;

  guint depth;           /* entries from the loop currently on the stack */
  gboolean free_pending; /* hub_client_free ran: callbacks are silent, memory goes at depth 0 */
  gboolean freeing;      /* hub_client_free is answering the pending requests */
};

static void client_destroy (HubClient *client);

/* ---- small helpers ---- */

static const char *
json_string (JsonObject *object, const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
json_int (JsonObject *object, const char *member, gint64 *value)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

static JsonObject *
json_object_member (JsonObject *object, const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static JsonArray *
json_array_member (JsonObject *object, const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static void
pending_free (Pending *pending)
{
  g_free (pending->room);
  g_free (pending->room_token);
  g_clear_error (&pending->deferred_error);
  g_free (pending);
}

/* What we know of a room we are in. */
typedef struct {
  gint64 seq;   /* the last seq seen (first: room_seq points at it) */
  gint64 epoch; /* the stream the seq belongs to, from the server; 0: not told */
} RoomState;

static gint64 *
room_seq (HubClient *client, const char *room)
{
  RoomState *state = g_hash_table_lookup (client->rooms, room);

  return state != NULL ? &state->seq : NULL;
}

/* Call after any change of client->rooms: the peek cache may point into it. */
static void
rooms_changed (HubClient *client)
{
  client->peek_room = NULL;
  client->peek_seq = NULL;
}

static void
room_track (HubClient *client, const char *room, gint64 seq)
{
  RoomState *state = g_new0 (RoomState, 1);

  state->seq = seq;
  g_hash_table_replace (client->rooms, g_strdup (room), state);
  rooms_changed (client);
}

/* The room's stream as @frame tells it (its "epoch", when it has one). */
static void
room_note_epoch (HubClient *client, const char *room, JsonObject *frame)
{
  RoomState *state = room != NULL ? g_hash_table_lookup (client->rooms, room) : NULL;
  gint64 epoch;

  if (state != NULL && json_int (frame, "epoch", &epoch))
    state->epoch = epoch;
}

/* ---- callbacks out ---- */

static void
emit_state_closed (HubClient *client, HubClientState state, guint close_code, const char *reason,
                   const char *close_reason, guint retry_in_ms)
{
  HubClientStateChange change = {
      .state = state,
      .old_state = client->state,
      .close_code = close_code,
      .reason = reason,
      .retry_in_ms = retry_in_ms,
      .attempt = client->attempt,
      .close_reason = close_reason,
  };

  client->state = state;
  if (!client->free_pending && client->callbacks.state_changed != NULL)
    client->callbacks.state_changed (client, &change, client->user_data);
}

static void
emit_state (HubClient *client, HubClientState state, guint close_code, const char *reason,
            guint retry_in_ms)
{
  emit_state_closed (client, state, close_code, reason, NULL, retry_in_ms);
}

static void
emit_event (HubClient *client, const HubClientEvent *event)
{
  if (!client->free_pending && client->callbacks.event != NULL)
    client->callbacks.event (client, event, client->user_data);
}

void
hub_client_emit_event (HubClient *client, const HubClientEvent *event)
{
  emit_event (client, event);
}

static void
reply (HubClient *client, Pending *pending, JsonObject *frame, const GError *error)
{
  if (pending->callback != NULL && !client->free_pending)
    pending->callback (client, frame, error, pending->user_data);
}

/* Entering from the loop (transport, timers): a callback may free the client,
 * which then happens on the way out. */
static void
enter (HubClient *client)
{
  client->depth++;
}

static void
leave (HubClient *client)
{
  if (--client->depth == 0 && client->free_pending)
    client_destroy (client);
}

void
hub_client_hold (HubClient *client)
{
  enter (client);
}

void
hub_client_release (HubClient *client)
{
  leave (client);
}

/* ---- sending ---- */

static char *
encode_object (JsonObject *object, gsize *len)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonGenerator) generator = json_generator_new ();

  json_node_set_object (node, object);
  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, len);
}

static gboolean
send_object (HubClient *client, JsonObject *object)
{
  gsize len = 0;
  g_autofree char *text = encode_object (object, &len);

  return client->klass->send (client->transport, text, len);
}

static JsonObject *
build_frame (const char *type, gint64 id, JsonObject *fields)
{
  JsonObject *object = json_object_new ();

  json_object_set_string_member (object, "type", type);
  if (id > 0)
    json_object_set_int_member (object, "id", id);
  if (fields != NULL) {
    JsonObjectIter iter;
    const char *name;
    JsonNode *value;

    json_object_iter_init (&iter, fields);
    while (json_object_iter_next (&iter, &name, &value)) {
      if (strcmp (name, "type") != 0 && strcmp (name, "id") != 0)
        json_object_set_member (object, name, json_node_copy (value));
    }
  }
  return object;
}

static void arm_timeout (HubClient *client);

static void
on_timeout (gpointer user_data)
{
  HubClient *client = user_data;
  gint64 now = hub_clock_monotonic_us (client->clock);
  g_autoptr (GError) error = NULL;

  client->timeout_timer = 0;
  client->timeout_deadline_us = 0;
  enter (client);
  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no reply in time");
  /* Deadlines grow with ids (one timeout for all), so the expired are at the head. */
  while (client->pending.length > 0) {
    Pending *pending = g_queue_peek_head (&client->pending);

    if (pending->deadline_us == 0 || pending->deadline_us > now)
      break;
    g_queue_pop_head (&client->pending);
    /* A hello without welcome: the server is stuck; try another connection. */
    if (pending->kind == PENDING_HELLO && client->link_open)
      client->klass->drop (client->transport);
    reply (client, pending, NULL, error);
    pending_free (pending);
  }
  if (!client->free_pending)
    arm_timeout (client);
  leave (client);
}

static void
arm_timeout (HubClient *client)
{
  Pending *head = g_queue_peek_head (&client->pending);
  gint64 now, delay_ms;

  if (head == NULL || head->deadline_us == 0) {
    hub_clock_cancel (client->clock, client->timeout_timer);
    client->timeout_timer = 0;
    client->timeout_deadline_us = 0;
    return;
  }
  if (client->timeout_timer != 0 && client->timeout_deadline_us == head->deadline_us)
    return;
  hub_clock_cancel (client->clock, client->timeout_timer);
  now = hub_clock_monotonic_us (client->clock);
  delay_ms = head->deadline_us > now ? (head->deadline_us - now + 999) / 1000 : 0;
  client->timeout_deadline_us = head->deadline_us;
  client->timeout_timer =
      hub_clock_add_timeout (client->clock, (guint)MIN (delay_ms, G_MAXUINT), on_timeout, client);
}

static void
on_deferred (gpointer user_data)
{
  HubClient *client = user_data;
  Pending *pending;

  client->deferred_timer = 0;
  enter (client);
  while ((pending = g_queue_pop_head (&client->deferred)) != NULL) {
    reply (client, pending, NULL, pending->deferred_error);
    pending_free (pending);
  }
  leave (client);
}

static Pending *
pending_add (HubClient *client, PendingKind kind, HubClientReplyFunc callback, gpointer user_data)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->id = client->next_id++;
  pending->kind = kind;
  pending->callback = callback;
  pending->user_data = user_data;
  if (client->request_timeout_ms > 0)
    pending->deadline_us =
        hub_clock_monotonic_us (client->clock) + (gint64)client->request_timeout_ms * 1000;
  g_queue_push_tail (&client->pending, pending);
  arm_timeout (client);
  return pending;
}

static void
fail_later (HubClient *client, Pending *pending, GError *error /* (transfer full) */)
{
  g_queue_remove (&client->pending, pending);
  pending->deferred_error = error;
  g_queue_push_tail (&client->deferred, pending);
  if (client->deferred_timer == 0)
    client->deferred_timer = hub_clock_add_timeout (client->clock, 0, on_deferred, client);
  arm_timeout (client);
}

gint64
hub_client_request (HubClient *client, const char *type, JsonObject *fields,
                    HubClientReplyFunc callback, gpointer user_data)
{
  g_autoptr (JsonObject) frame = NULL;
  Pending *pending;

  g_return_val_if_fail (client != NULL && type != NULL, 0);
  pending = pending_add (client, PENDING_USER, callback, user_data);
  if (strcmp (type, "join") == 0 || strcmp (type, "leave") == 0 || strcmp (type, "publish") == 0 ||
      strcmp (type, "history") == 0) {
    const char *room = fields != NULL ? json_string (fields, "room") : NULL;

    pending->is_join = type[0] == 'j';
    pending->is_leave = type[0] == 'l';
    pending->room = g_strdup (room);
    if (pending->is_join)
      pending->room_token = g_strdup (json_string (fields, "token"));
  }
  if (client->state != HUB_CLIENT_CONNECTED) {
    fail_later (client, pending,
                g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "not connected (%s)",
                             hub_client_state_to_string (client->state)));
    return pending->id;
  }
  frame = build_frame (type, pending->id, fields);
  {
    gsize len = 0;
    g_autofree char *text = encode_object (frame, &len);

    /* §1: the server would close with 1009 (and every request in flight
     * would be lost with the connection). */
    if (client->max_message_bytes > 0 && len > client->max_message_bytes)
      fail_later (client, pending,
                  g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                               "%s of %" G_GSIZE_FORMAT " bytes not sent: the server takes at most "
                               "%u bytes per message",
                               type, len, client->max_message_bytes));
    else if (!client->klass->send (client->transport, text, len))
      fail_later (client, pending,
                  g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "not connected"));
  }
  return pending->id;
}

gint64
hub_client_request_lean (HubClient *client, const char *type, JsonObject *fields,
                         HubClientReplyFunc callback, gpointer user_data)
{
  gint64 id = hub_client_request (client, type, fields, callback, user_data);

  /* Still waiting for its reply (not failed before sending): mark it. */
  for (GList *l = client->pending.tail; l != NULL; l = l->prev) {
    Pending *pending = l->data;

    if (pending->id == id) {
      pending->lean = TRUE;
      client->any_lean = TRUE;
      break;
    }
  }
  return id;
}

gboolean
hub_client_send (HubClient *client, const char *type, JsonObject *fields)
{
  g_autoptr (JsonObject) frame = NULL;

  g_return_val_if_fail (client != NULL && type != NULL, FALSE);
  if (client->state != HUB_CLIENT_CONNECTED)
    return FALSE;
  frame = build_frame (type, 0, fields);
  return send_object (client, frame);
}

gboolean
hub_client_send_text (HubClient *client, const char *json)
{
  g_return_val_if_fail (client != NULL && json != NULL, FALSE);
  if (client->state != HUB_CLIENT_CONNECTED)
    return FALSE;
  return client->klass->send (client->transport, json, strlen (json));
}

gint64
hub_client_join (HubClient *client, const char *room, HubClientReplyFunc callback,
                 gpointer user_data)
{
  g_autoptr (JsonObject) fields = json_object_new ();

  json_object_set_string_member (fields, "room", room);
  return hub_client_request (client, "join", fields, callback, user_data);
}

gint64
hub_client_join_with_token (HubClient *client, const char *room, const char *room_token,
                            HubClientReplyFunc callback, gpointer user_data)
{
  g_autoptr (JsonObject) fields = json_object_new ();

  json_object_set_string_member (fields, "room", room);
  if (room_token != NULL)
    json_object_set_string_member (fields, "token", room_token);
  return hub_client_request (client, "join", fields, callback, user_data);
}

gint64
hub_client_leave (HubClient *client, const char *room, HubClientReplyFunc callback,
                  gpointer user_data)
{
  g_autoptr (JsonObject) fields = json_object_new ();

  json_object_set_string_member (fields, "room", room);
  return hub_client_request (client, "leave", fields, callback, user_data);
}

gint64
hub_client_publish (HubClient *client, const char *room, JsonObject *payload,
                    HubClientReplyFunc callback, gpointer user_data)
{
  g_autoptr (JsonObject) fields = json_object_new ();

  json_object_set_string_member (fields, "room", room);
  json_object_set_object_member (fields, "payload", json_object_ref (payload));
  return hub_client_request (client, "publish", fields, callback, user_data);
}

gint64
hub_client_direct (HubClient *client, const char *to, JsonObject *payload,
                   HubClientReplyFunc callback, gpointer user_data)
{
  g_autoptr (JsonObject) fields = json_object_new ();

  json_object_set_string_member (fields, "to", to);
  json_object_set_object_member (fields, "payload", json_object_ref (payload));
  return hub_client_request (client, "direct", fields, callback, user_data);
}

gboolean
hub_client_typing (HubClient *client, const char *room)
{
  g_autoptr (JsonObject) fields = json_object_new ();

  json_object_set_string_member (fields, "room", room);
  return hub_client_send (client, "typing", fields);
}

/* ---- connection life ---- */

static void
send_hello (HubClient *client)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  Pending *pending;
  GHashTableIter iter;
  gpointer room, seq;

  if (client->user != NULL)
    json_object_set_string_member (fields, "user", client->user);
  if (client->device != NULL)
    json_object_set_string_member (fields, "device", client->device);
  if (client->token != NULL)
    json_object_set_string_member (fields, "token", client->token);
  if (g_hash_table_size (client->rooms) > 0) {
    JsonObject *resume = json_object_new ();
    JsonObject *epochs = json_object_new ();

    /* `epochs` beside `resume` (the server's addition to §3): a seq of a
     * stream the room no longer has is answered with the new one's. */
    g_hash_table_iter_init (&iter, client->rooms);
    while (g_hash_table_iter_next (&iter, &room, &seq)) {
      const RoomState *state = seq;

      json_object_set_int_member (resume, room, state->seq);
      if (state->epoch != 0)
        json_object_set_int_member (epochs, room, state->epoch);
    }
    json_object_set_object_member (fields, "resume", resume);
    if (json_object_get_size (epochs) > 0)
      json_object_set_object_member (fields, "epochs", epochs);
    else
      json_object_unref (epochs);
  }
  pending = pending_add (client, PENDING_HELLO, NULL, NULL);
  {
    g_autoptr (JsonObject) frame = build_frame ("hello", pending->id, fields);

    send_object (client, frame);
  }
}

static void on_link_closed (HubClient *client, guint close_code, const char *reason);

static void
start_connection (HubClient *client)
{
  g_autoptr (GError) error = NULL;

  client->link_open = TRUE;
  g_clear_error (&client->connect_error);
  if (!client->klass->open (client->transport, &error)) {
    /* Retried like a refused connection. */
    client->link_open = FALSE;
    on_link_closed (client, 0, error != NULL ? error->message : "cannot connect");
  }
}

/* A connection attempt, once CONNECTING: with the current token, or with
 * the one the provider is asked for first (hub_client_token_answered). */
static void
begin_attempt (HubClient *client, gboolean reconnect)
{
  if (!hub_client_tokens_before_connect (client->tokens, reconnect))
    start_connection (client);
}

void
hub_client_token_answered (HubClient *client, gboolean ok, const char *why)
{
  if (client->free_pending || client->state != HUB_CLIENT_CONNECTING || client->link_open ||
      client->stopping)
    return;
  if (ok) {
    start_connection (client);
    return;
  }
  /* No token to log in with: another attempt would fare no better. */
  client->final = TRUE;
  g_free (client->final_reason);
  client->final_reason = g_strdup (why);
  g_clear_error (&client->connect_error);
  client->connect_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, why);
  /* The close code of the connection that ended before (4003: its token
   * expired), so the change does not read as a failed connect. */
  emit_state (client, HUB_CLIENT_DISCONNECTED, client->last_close_code, why, 0);
}

static void
on_retry (gpointer user_data)
{
  HubClient *client = user_data;

  client->retry_timer = 0;
  enter (client);
  emit_state (client, HUB_CLIENT_CONNECTING, 0, NULL, 0);
  if (!client->free_pending && client->state == HUB_CLIENT_CONNECTING)
    begin_attempt (client, TRUE);
  leave (client);
}

/* Fails every request in flight with @code (the connection they went on is gone). */
static void
fail_all_pending (HubClient *client, GIOErrorEnum code, const char *message)
{
  g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, code, message);
  Pending *pending;

  while ((pending = g_queue_pop_head (&client->pending)) != NULL) {
    reply (client, pending, NULL, error);
    pending_free (pending);
  }
  arm_timeout (client);
}

/* The state change's words for a close: the plain meaning of the codes a
 * client acts on (§9), with what the server added, else the code and the
 * server's reason. (transfer full) */
static char *
close_words (guint close_code, const char *reason)
{
  const char *plain = close_code == 4003   ? "token expired"
                      : close_code == 4010 ? "disconnected by the server"
                                           : NULL;
  gboolean said = reason != NULL && reason[0] != '\0';

  if (plain == NULL)
    return g_strdup_printf ("connection closed (code %u%s%s)", close_code, said ? ": " : "",
                            said ? reason : "");
  if (said && g_ascii_strcasecmp (reason, plain) != 0)
    return g_strdup_printf ("%s (close code %u: %s)", plain, close_code, reason);
  return g_strdup_printf ("%s (close code %u)", plain, close_code);
}

static void
on_link_closed (HubClient *client, guint close_code, const char *reason)
{
  g_autofree char *why = NULL;
  g_autofree char *words = NULL;
  guint delay;

  client->link_open = FALSE;
  if (close_code != 0)
    why = g_strdup_printf ("connection closed (code %u%s%s)", close_code,
                           reason != NULL && reason[0] != '\0' ? ": " : "",
                           reason != NULL ? reason : "");
  else
    why = g_strdup (reason != NULL ? reason : "connection failed");
  if (close_code != 0) {
    client->last_close_code = close_code;
    hub_client_tokens_disconnected (client->tokens, close_code);
  }
  fail_all_pending (client, G_IO_ERROR_CLOSED, why);
  if (client->free_pending)
    return;
  words = close_code != 0 ? close_words (close_code, reason) : g_strdup (why);
  /* Ended before its welcome: kept for hub_client_connect_sync (a refused
   * hello set it already). */
  if (client->state == HUB_CLIENT_CONNECTING && client->connect_error == NULL)
    client->connect_error = g_error_new_literal (
        G_IO_ERROR, close_code == 0 ? G_IO_ERROR_CONNECTION_REFUSED : G_IO_ERROR_CLOSED, why);
  /* 4001, 4010; and 4003 when no provider can give a fresh token (§12). */
  if ((hub_client_close_code_is_final (close_code) ||
       !hub_client_tokens_can_reconnect (client->tokens)) &&
      !client->final) {
    client->final = TRUE;
    g_free (client->final_reason);
    client->final_reason = g_strdup (words);
  }
  if (client->stopping || client->final || !client->auto_reconnect) {
    emit_state_closed (client, HUB_CLIENT_DISCONNECTED, close_code,
                       client->final_reason != NULL ? client->final_reason : words, reason, 0);
    return;
  }
  client->attempt++;
  delay = hub_client_backoff_delay_ms (&client->rng, client->backoff_min_ms, client->backoff_max_ms,
                                       client->attempt);
  client->retry_timer = hub_clock_add_timeout (client->clock, delay, on_retry, client);
  emit_state_closed (client, HUB_CLIENT_RECONNECTING, close_code, words, reason, delay);
}

static void
sink_closed (gpointer owner, guint close_code, const char *reason)
{
  HubClient *client = owner;

  enter (client);
  on_link_closed (client, close_code, reason);
  leave (client);
}

static void
sink_opened (gpointer owner)
{
  HubClient *client = owner;

  enter (client);
  send_hello (client);
  leave (client);
}

/* ---- frames in ---- */

static void
handle_welcome (HubClient *client, JsonObject *frame)
{
  HubClientEvent event = {.type = HUB_CLIENT_EVENT_WELCOME, .frame = frame};
  JsonArray *rooms = json_array_member (frame, "rooms");
  g_autoptr (GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer room;
  gboolean need_sync = FALSE;

  g_free (client->welcome_user);
  client->welcome_user = g_strdup (json_string (frame, "user"));
  g_free (client->welcome_device);
  client->welcome_device = g_strdup (json_string (frame, "device"));
  g_free (client->conn);
  client->conn = g_strdup (json_string (frame, "conn"));
  {
    gint64 max = 0;

    client->max_message_bytes =
        json_int (frame, "max_message_bytes", &max) && max > 0 && max <= G_MAXUINT ? (guint)max : 0;
  }

  /* Rooms whose stream is not the one we resumed (deleted and created
   * again, or a store that lost them): their replay starts at the new
   * stream's beginning, which we count from 0. */
  {
    JsonObject *epochs = json_object_member (frame, "epochs");
    JsonObjectIter it;
    const char *name;
    JsonNode *value;

    if (epochs != NULL) {
      json_object_iter_init (&it, epochs);
      while (json_object_iter_next (&it, &name, &value)) {
        RoomState *state = g_hash_table_lookup (client->rooms, name);

        if (state != NULL && JSON_NODE_HOLDS_VALUE (value) &&
            json_node_get_value_type (value) == G_TYPE_INT64) {
          state->seq = 0;
          state->epoch = json_node_get_int (value);
        }
      }
    }
  }
  /* Membership belongs to the user: rooms another device left while we were
   * away are no longer ours; rooms we never saw a seq of need one. */
  for (guint i = 0; rooms != NULL && i < json_array_get_length (rooms); i++) {
    JsonNode *node = json_array_get_element (rooms, i);

    if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING) {
      g_hash_table_add (listed, (gpointer)json_node_get_string (node));
      if (room_seq (client, json_node_get_string (node)) == NULL)
        need_sync = TRUE;
    }
  }
  /* A room we were in that this welcome leaves out: left from another
   * device or removed by the server API while we were away, or forgotten
   * by a server that restarted (in memory). room_info tells which
   * (handle_check); until then the room stays tracked. */
  if (rooms != NULL) {
    g_hash_table_iter_init (&iter, client->rooms);
    while (g_hash_table_iter_next (&iter, &room, NULL)) {
      if (g_hash_table_contains (listed, room))
        continue;
      if (!client->ever_connected) {
        g_hash_table_iter_remove (&iter);
        continue;
      }
      {
        Pending *pending = pending_add (client, PENDING_CHECK, NULL, NULL);
        g_autoptr (JsonObject) fields = json_object_new ();
        g_autoptr (JsonObject) request = NULL;

        pending->room = g_strdup (room);
        json_object_set_string_member (fields, "room", room);
        request = build_frame ("room_info", pending->id, fields);
        send_object (client, request);
      }
    }
    rooms_changed (client);
  }
  if (client->ever_connected)
    client->counters.reconnects++;
  client->ever_connected = TRUE;
  client->attempt = 0;
  /* §12: the token's deadline, refreshed ahead of it with a provider. */
  if (!json_int (frame, "expires_ts", &event.expires_ts) || event.expires_ts < 0)
    event.expires_ts = 0;
  hub_client_tokens_connected (client->tokens, event.expires_ts);

  if (need_sync) {
    Pending *pending = pending_add (client, PENDING_SYNC, NULL, NULL);
    g_autoptr (JsonObject) request = build_frame ("rooms", pending->id, NULL);

    send_object (client, request);
  }

  emit_state (client, HUB_CLIENT_CONNECTED, 0, NULL, 0);
  event.user = client->welcome_user;
  event.device = client->welcome_device;
  event.conn = client->conn;
  event.node = json_string (frame, "node");
  event.rooms = rooms;
  emit_event (client, &event);
}

static void
handle_sync (HubClient *client, JsonObject *frame)
{
  JsonArray *rooms = json_array_member (frame, "rooms");

  for (guint i = 0; rooms != NULL && i < json_array_get_length (rooms); i++) {
    JsonNode *node = json_array_get_element (rooms, i);
    const char *room;
    gint64 seq;

    if (!JSON_NODE_HOLDS_OBJECT (node))
      continue;
    room = json_string (json_node_get_object (node), "room");
    if (room != NULL && json_int (json_node_get_object (node), "seq", &seq) &&
        room_seq (client, room) == NULL) {
      room_track (client, room, seq);
      room_note_epoch (client, room, json_node_get_object (node));
    }
  }
}

/* TRUE while the welcome's checks of @room (or of any room, @room NULL) wait for answers. */
static gboolean
checking (HubClient *client, const char *room)
{
  for (GList *l = client->pending.head; l != NULL; l = l->next) {
    Pending *pending = l->data;

    if ((pending->kind == PENDING_CHECK || pending->kind == PENDING_REJOIN) &&
        (room == NULL || g_strcmp0 (pending->room, room) == 0))
      return TRUE;
  }
  return FALSE;
}

gboolean
hub_client_is_rejoining (HubClient *client)
{
  return checking (client, NULL);
}

/* Tells that @room is no longer ours (and forgets it). */
static void
room_lost (HubClient *client, const char *room, const char *code, const char *text)
{
  HubClientEvent event = {
      .type = HUB_CLIENT_EVENT_ROOM_LOST,
      .room = room,
      .code = code,
      .text = text,
  };

  if (client->room_tokens != NULL)
    g_hash_table_remove (client->room_tokens, room);
  if (room_seq (client, room) == NULL)
    return;
  g_hash_table_remove (client->rooms, room);
  rooms_changed (client);
  emit_event (client, &event);
}

/* The answer to room_info about a room the welcome left out. */
static void
handle_check (HubClient *client, const char *room, JsonObject *frame, gboolean ok)
{
  gint64 *last = room_seq (client, room);
  gint64 seq = -1;
  gboolean forgotten;

  if (last == NULL)
    return; /* left meanwhile */
  /* Missing: the server lost it (a restart) or it was deleted when its last
   * member left. Present with a seq below ours: created again since (the
   * old one is gone). Either way the room we were in no longer exists, and
   * we join the one of that name. Present and not behind: we were removed
   * (left from another device, or by the server API), and stay out. */
  if (ok) {
    RoomState *state = g_hash_table_lookup (client->rooms, room);
    gint64 epoch = 0;

    /* Another stream (its epoch tells, where the server says it): created
     * again since, whatever its seq. */
    forgotten = (json_int (frame, "seq", &seq) && seq < *last) ||
                (state->epoch != 0 && json_int (frame, "epoch", &epoch) && epoch != state->epoch);
  } else
    forgotten = g_strcmp0 (json_string (frame, "code"), "room_not_found") == 0;
  if (forgotten) {
    Pending *pending = pending_add (client, PENDING_REJOIN, NULL, NULL);
    g_autoptr (JsonObject) fields = json_object_new ();
    g_autoptr (JsonObject) request = NULL;

    const char *room_token =
        client->room_tokens != NULL ? g_hash_table_lookup (client->room_tokens, room) : NULL;

    pending->room = g_strdup (room);
    json_object_set_string_member (fields, "room", room);
    /* A room joined with a room token may need it again (§12). */
    if (room_token != NULL)
      json_object_set_string_member (fields, "token", room_token);
    request = build_frame ("join", pending->id, fields);
    send_object (client, request);
    return;
  }
  if (ok)
    room_lost (client, room, "not_member",
               "no longer a member (left from another device or removed)");
  else
    room_lost (client, room, json_string (frame, "code"), json_string (frame, "message"));
}

static void
handle_rejoin (HubClient *client, const char *room, JsonObject *frame, gboolean ok)
{
  HubClientEvent event = {.type = HUB_CLIENT_EVENT_REJOINED, .frame = frame, .room = room};
  gint64 seq = 0;

  if (room_seq (client, room) == NULL)
    return;
  if (!ok) {
    room_lost (client, room, json_string (frame, "code"), json_string (frame, "message"));
    return;
  }
  /* A new room: its seqs start again. */
  json_int (frame, "seq", &seq);
  room_track (client, room, seq);
  room_note_epoch (client, room, frame);
  event.seq = seq;
  emit_event (client, &event);
}

static void
handle_reply (HubClient *client, Pending *pending, JsonObject *frame, const char *type)
{
  gboolean ok = strcmp (type, "error") != 0;
  g_autoptr (GError) error = NULL;

  switch (pending->kind) {
    case PENDING_HELLO:
      if (strcmp (type, "welcome") == 0) {
        handle_welcome (client, frame);
      } else {
        const char *code = json_string (frame, "code");
        const char *text = json_string (frame, "message");
        HubErrorCode value = code != NULL ? hub_error_code_from_string (code) : HUB_ERROR_NONE;

        g_autofree char *why = g_strdup_printf ("hello refused: %s%s%s", code ? code : type,
                                                text ? ": " : "", text ? text : "");

        /* A refused hello (unauthorized, invalid_name) would be refused again;
         * internal (a cluster node that lost Redis, or waits for it) and
         * rate_limited pass: tried again after the backoff (§3: a failed
         * hello may be retried). */
        if (value != HUB_ERROR_INTERNAL && value != HUB_ERROR_RATE_LIMITED) {
          client->final = TRUE;
          g_free (client->final_reason);
          client->final_reason = g_strdup (why);
        }
        g_clear_error (&client->connect_error);
        client->connect_error = g_error_new_literal (
            HUB_ERROR, value != HUB_ERROR_NONE ? value : HUB_ERROR_INTERNAL, why);
        client->klass->close (client->transport, 1000);
      }
      return;
    case PENDING_SYNC:
      if (ok)
        handle_sync (client, frame);
      return;
    case PENDING_CHECK:
      handle_check (client, pending->room, frame, ok);
      return;
    case PENDING_REJOIN:
      handle_rejoin (client, pending->room, frame, ok);
      return;
    case PENDING_USER:
    default:
      break;
  }
  if (ok && pending->is_join) {
    const char *room = json_string (frame, "room");
    gint64 seq;

    if (room != NULL && json_int (frame, "seq", &seq) && room_seq (client, room) == NULL) {
      room_track (client, room, seq);
      room_note_epoch (client, room, frame);
    }
    if (room != NULL && pending->room_token != NULL) {
      if (client->room_tokens == NULL)
        client->room_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_replace (client->room_tokens, g_strdup (room),
                            g_steal_pointer (&pending->room_token));
    }
  } else if (ok && pending->is_leave && pending->room != NULL) {
    if (client->room_tokens != NULL)
      g_hash_table_remove (client->room_tokens, pending->room);
    g_hash_table_remove (client->rooms, pending->room);
    rooms_changed (client);
  }
  if (!ok) {
    const char *code = json_string (frame, "code");
    const char *text = json_string (frame, "message");
    HubErrorCode value = code != NULL ? hub_error_code_from_string (code) : HUB_ERROR_NONE;

    error = g_error_new (HUB_ERROR, value != HUB_ERROR_NONE ? value : HUB_ERROR_INTERNAL, "%s: %s",
                         code != NULL ? code : "error", text != NULL ? text : "");
    /* The server says we are not in a room we thought ours (removed while a
     * presence event was dropped, say): it is not ours any more. */
    if (pending->room != NULL && !pending->is_join && !checking (client, pending->room) &&
        (value == HUB_ERROR_NOT_MEMBER || value == HUB_ERROR_ROOM_NOT_FOUND))
      room_lost (client, pending->room, code, text);
    if (client->free_pending)
      return;
  }
  reply (client, pending, frame, error);
}

static void
handle_message (HubClient *client, JsonObject *frame, HubClientEvent *event)
{
  gint64 *last;

  event->room = json_string (frame, "room");
  event->from = json_string (frame, "from");
  event->device = json_string (frame, "device");
  event->payload = json_object_member (frame, "payload");
  json_int (frame, "ts", &event->ts);
  if (event->room == NULL || !json_int (frame, "seq", &event->seq)) {
    emit_event (client, event);
    return;
  }
  last = room_seq (client, event->room);
  if (last != NULL && event->seq <= *last) {
    client->counters.duplicates++;
    return;
  }
  if (last != NULL && event->seq > *last + 1) {
    HubClientEvent gap = {
        .type = HUB_CLIENT_EVENT_GAP,
        .room = event->room,
        .from_seq = *last + 1,
        .to_seq = event->seq - 1,
    };

    client->counters.gaps++;
    *last = event->seq;
    emit_event (client, &gap);
    if (client->free_pending)
      return;
  }
  if (last != NULL)
    *last = event->seq;
  else
    room_track (client, event->room, event->seq);
  client->counters.messages++;
  emit_event (client, event);
}

static gboolean
leave_pending (HubClient *client, const char *room)
{
  for (GList *l = client->pending.head; l != NULL; l = l->next) {
    Pending *pending = l->data;

    if (pending->is_leave && g_strcmp0 (pending->room, room) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
handle_event (HubClient *client, JsonObject *frame, const char *type)
{
  HubClientEvent event = {.type = HUB_CLIENT_EVENT_OTHER, .frame = frame};

  if (strcmp (type, "message") == 0) {
    event.type = HUB_CLIENT_EVENT_MESSAGE;
    handle_message (client, frame, &event);
    return;
  }
  if (strcmp (type, "direct") == 0 || strcmp (type, "multicast") == 0 ||
      strcmp (type, "broadcast") == 0) {
    event.type = type[0] == 'd'   ? HUB_CLIENT_EVENT_DIRECT
                 : type[0] == 'm' ? HUB_CLIENT_EVENT_MULTICAST
                                  : HUB_CLIENT_EVENT_BROADCAST;
    event.from = json_string (frame, "from");
    event.to = json_string (frame, "to");
    event.device = json_string (frame, "device");
    event.payload = json_object_member (frame, "payload");
    json_int (frame, "ts", &event.ts);
  } else if (strcmp (type, "typing") == 0) {
    event.type = HUB_CLIENT_EVENT_TYPING;
    event.room = json_string (frame, "room");
    event.user = json_string (frame, "user");
  } else if (strcmp (type, "presence") == 0) {
    event.type = HUB_CLIENT_EVENT_PRESENCE;
    event.room = json_string (frame, "room");
    event.user = json_string (frame, "user");
    event.presence = json_string (frame, "event");
    /* Our own leave (from any device) ends the room's seq for us: a room
     * deleted and created again restarts at 1. One we did not ask for here
     * (another device, the server API's remove, §13) is told as ROOM_LOST,
     * after this event. */
    if (event.presence != NULL && strcmp (event.presence, "leave") == 0 && event.room != NULL &&
        event.user != NULL && g_strcmp0 (event.user, client->welcome_user) == 0) {
      if (!leave_pending (client, event.room)) {
        g_autofree char *room = g_strdup (event.room);

        emit_event (client, &event);
        if (!client->free_pending)
          room_lost (client, room, "removed", "left from another device or removed by the server");
        return;
      }
      g_hash_table_remove (client->rooms, event.room);
      rooms_changed (client);
    }
  } else if (strcmp (type, "status") == 0) {
    event.type = HUB_CLIENT_EVENT_STATUS;
    event.user = json_string (frame, "user");
    event.status = json_string (frame, "status");
  } else if (strcmp (type, "resumed") == 0) {
    JsonNode *complete = json_object_get_member (frame, "complete");

    event.type = HUB_CLIENT_EVENT_RESUMED;
    event.room = json_string (frame, "room");
    room_note_epoch (client, event.room, frame);
    json_int (frame, "from", &event.from_seq);
    json_int (frame, "to", &event.to_seq);
    event.complete = complete != NULL && JSON_NODE_HOLDS_VALUE (complete) &&
                     json_node_get_value_type (complete) == G_TYPE_BOOLEAN &&
                     json_node_get_boolean (complete);
  } else if (strcmp (type, "error") == 0) {
    event.type = HUB_CLIENT_EVENT_ERROR;
    event.code = json_string (frame, "code");
    event.text = json_string (frame, "message");
  }
  emit_event (client, &event);
}

static Pending *
take_pending (HubClient *client, gint64 id)
{
  for (GList *l = client->pending.head; l != NULL; l = l->next) {
    Pending *pending = l->data;

    if (pending->id == id) {
      g_queue_delete_link (&client->pending, l);
      return pending;
    }
  }
  return NULL;
}

/* ---- the fast path (HubClientCallbacks.peeked) ---- */

static gboolean
peeked_type (const HubClientPeek *peek, HubClientEventType *type)
{
  const char *t = peek->type;

  if (peek->type_len == 7 && memcmp (t, "message", 7) == 0)
    *type = HUB_CLIENT_EVENT_MESSAGE;
  else if (peek->type_len != 6)
    return FALSE;
  else if (memcmp (t, "direct", 6) == 0)
    *type = HUB_CLIENT_EVENT_DIRECT;
  else if (memcmp (t, "typing", 6) == 0)
    *type = HUB_CLIENT_EVENT_TYPING;
  else if (memcmp (t, "status", 6) == 0)
    *type = HUB_CLIENT_EVENT_STATUS;
  else
    return FALSE;
  return TRUE;
}

/* A presence frame about another user (our own join or leave changes what
 * this client tracks: those go the usual way). */
static gboolean
peeked_presence (HubClient *client, const HubClientPeek *peek)
{
  const char *me = client->welcome_user;

  return peek->type_len == 8 && memcmp (peek->type, "presence", 8) == 0 && peek->user != NULL &&
         me != NULL &&
         (strlen (me) != peek->user_len || memcmp (me, peek->user, peek->user_len) != 0);
}

/* The last seq slot of @room (@len bytes, no NUL), or NULL when untracked. */
static gint64 *
room_seq_span (HubClient *client, const char *room, gsize len)
{
  char stack[128];
  g_autofree char *heap = NULL;
  gpointer key, slot;

  if (client->peek_room != NULL && client->peek_room_len == len) {
    gsize i = 0;

    /* Room names are short: byte by byte beats a call. */
    while (i < len && client->peek_room[i] == room[i])
      i++;
    if (i == len)
      return client->peek_seq;
  }
  if (len < sizeof stack) {
    memcpy (stack, room, len);
    stack[len] = '\0';
  }
  if (!g_hash_table_lookup_extended (
          client->rooms, len < sizeof stack ? stack : (heap = g_strndup (room, len)), &key, &slot))
    return NULL;
  client->peek_room = key;
  client->peek_room_len = len;
  client->peek_seq = &((RoomState *)slot)->seq;
  return client->peek_seq;
}

/* handle_message's bookkeeping for a message the peeked callback handled:
 * seq tracking (for resume), duplicates and gaps counted, GAP events. */
static void
track_peeked (HubClient *client, const HubClientPeekedFrame *frame)
{
  gint64 *last;

  if (frame->room == NULL || frame->seq < 0)
    return;
  last = room_seq_span (client, frame->room, frame->room_len);
  if (last != NULL && frame->seq <= *last) {
    client->counters.duplicates++;
    return;
  }
  if (last == NULL || frame->seq > *last + 1) {
    g_autofree char *room = g_strndup (frame->room, frame->room_len);

    if (last == NULL) {
      room_track (client, room, frame->seq);
    } else {
      HubClientEvent gap = {
          .type = HUB_CLIENT_EVENT_GAP,
          .room = room,
          .from_seq = *last + 1,
          .to_seq = frame->seq - 1,
      };

      client->counters.gaps++;
      *last = frame->seq;
      emit_event (client, &gap);
    }
  } else {
    *last = frame->seq;
  }
  client->counters.messages++;
}

/* Offers @text to the peeked callback; TRUE when it was handled there (or the
 * client was freed meanwhile): nothing more to do with it. */
static gboolean
offer_peeked (HubClient *client, const HubClientPeek *peek, const char *text, gsize len)
{
  HubClientPeekedFrame frame;
  gboolean handled, gone;

  if (peek->type == NULL)
    return FALSE;
  if (peeked_presence (client, peek))
    frame.type = HUB_CLIENT_EVENT_PRESENCE;
  else if (!peeked_type (peek, &frame.type))
    return FALSE;
  /* Every member set (this runs per delivery: no zeroing first). */
  frame.text = text;
  frame.len = len;
  frame.room = peek->room;
  frame.room_len = peek->room_len;
  frame.from = peek->from;
  frame.from_len = peek->from_len;
  frame.user = peek->user;
  frame.user_len = peek->user_len;
  frame.seq = peek->seq;
  frame.payload = peek->payload;
  frame.payload_len = peek->payload_len;
  frame.has_payload_int = peek->has_payload_int;
  frame.payload_int = peek->payload_int;
  enter (client);
  handled = client->callbacks.peeked (client, &frame, client->user_data);
  if (handled && !client->free_pending) {
    client->counters.frames_in++;
    if (frame.type == HUB_CLIENT_EVENT_MESSAGE)
      track_peeked (client, &frame);
  }
  gone = client->free_pending;
  leave (client);
  return handled || gone;
}

/* A frame that is not a JSON object with a string "type": said, not dropped. */
static void
emit_invalid (HubClient *client, const char *text, gsize len)
{
  g_autofree char *copy = g_strndup (text, len);
  HubClientEvent event = {.type = HUB_CLIENT_EVENT_INVALID, .text = copy};

  enter (client);
  emit_event (client, &event);
  leave (client);
}

static void handle_frame (HubClient *client, JsonObject *frame, const char *type, const char *text,
                          gsize len);

static void
receive_tree (HubClient *client, const char *text, gsize len)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (JsonNode) scanned = hub_client_scan_frame (text, len);
  JsonNode *root = scanned;
  JsonObject *frame;
  const char *type;

  /* The fast reader takes the plain frames servers send; JsonParser the rest. */
  if (root == NULL) {
    parser = json_parser_new_immutable ();
    if (json_parser_load_from_data (parser, text, (gssize)len, NULL))
      root = json_parser_get_root (parser);
  }
  frame = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  type = frame != NULL ? json_string (frame, "type") : NULL;
  if (type == NULL) {
    emit_invalid (client, text, len);
    return;
  }
  handle_frame (client, frame, type, text, len);
}

/* A frame read (as a tree, or a lean reply's scalars): the frame callback,
 * then its request's reply callback or its event. */
static void
handle_frame (HubClient *client, JsonObject *frame, const char *type, const char *text, gsize len)
{
  gint64 id;

  enter (client);
  client->counters.frames_in++;
  if (client->callbacks.frame != NULL && !client->free_pending) {
    /* The frame callback gets the text NUL-terminated. */
    g_autofree char *copy = g_strndup (text, len);

    client->callbacks.frame (client, frame, copy, client->user_data);
  }
  if (!client->free_pending) {
    Pending *pending = json_int (frame, "id", &id) ? take_pending (client, id) : NULL;

    if (pending != NULL) {
      handle_reply (client, pending, frame, type);
      pending_free (pending);
      if (!client->free_pending)
        arm_timeout (client);
    } else {
      handle_event (client, frame, type);
    }
  }
  leave (client);
}

/* The reply to a lean request (hub_client_request_lean): its top-level
 * scalars as the reply, the rest not built. FALSE: not one (or not read). */
static gboolean
receive_lean (HubClient *client, const HubClientPeek *peek, const char *text, gsize len)
{
  g_autoptr (JsonObject) reply = NULL;
  const char *type;

  for (GList *l = client->pending.head; l != NULL; l = l->next) {
    Pending *pending = l->data;

    if (pending->id != peek->id)
      continue;
    if (!pending->lean)
      return FALSE;
    reply = json_object_new ();
    if (!hub_client_peek_scalars (text, len, reply) || (type = json_string (reply, "type")) == NULL)
      return FALSE;
    handle_frame (client, reply, type, text, len);
    return TRUE;
  }
  return FALSE;
}

static void
sink_received (gpointer owner, const char *text, gsize len)
{
  HubClient *client = owner;

  /* Read in place first, for the peeked callback and lean replies. */
  if ((client->callbacks.peeked != NULL || client->any_lean) && !client->free_pending) {
    HubClientPeek peek; /* hub_client_peek() fills it all in, but for what it is asked */

    peek.payload_int_name = client->peek_payload_int;
    peek.payload_int_name_len = client->peek_payload_int_len;
    if (hub_client_peek_again (text, len, &peek)) {
      if (!peek.has_id && client->callbacks.peeked != NULL &&
          offer_peeked (client, &peek, text, len))
        return;
      if (peek.has_id && peek.id >= 0 && client->any_lean &&
          receive_lean (client, &peek, text, len))
        return;
    }
  }
  receive_tree (client, text, len);
}

static const HubClientTransportSink sink = {
    .opened = sink_opened,
    .received = sink_received,
    .closed = sink_closed,
};

/* ---- the object ---- */

/* The real clock of a thread's clients, one for all while any: its timers
 * (one queue of token refreshes among them, hub-client-timers.h) are
 * shared, and a client costs no clock of its own. */
typedef struct {
  HubClock *clock; /* (owned) */
  guint users;
} ThreadClock;

static GPrivate thread_clock;

static HubClock *
thread_clock_ref (void)
{
  ThreadClock *shared = g_private_get (&thread_clock);

  if (shared == NULL) {
    shared = g_new0 (ThreadClock, 1);
    shared->clock = hub_clock_new_real ();
    g_private_set (&thread_clock, shared);
  }
  shared->users++;
  return hub_clock_ref (shared->clock);
}

/* Gives back a client's clock, the thread's or its own. */
static void
thread_clock_unref (HubClock *clock)
{
  ThreadClock *shared = g_private_get (&thread_clock);

  if (shared != NULL && shared->clock == clock && --shared->users == 0) {
    hub_clock_unref (shared->clock);
    g_free (shared);
    g_private_set (&thread_clock, NULL);
  }
  hub_clock_unref (clock);
}

static void
room_free (gpointer data)
{
  g_free (data);
}

HubClient *
hub_client_new (const HubClientOptions *options, const HubClientCallbacks *callbacks,
                gpointer user_data, GError **error)
{
  HubClientOptions defaults;
  HubClient *client;

  if (options == NULL) {
    hub_client_options_init (&defaults);
    options = &defaults;
  }
  client = g_new0 (HubClient, 1);
  client->url = g_strdup (options->url != NULL ? options->url : DEFAULT_URL);
  if (!hub_client_url_parse (client->url, &client->parsed, error)) {
    g_free (client->url);
    g_free (client);
    return NULL;
  }
  if (callbacks != NULL)
    client->callbacks = *callbacks;
  client->user_data = user_data;
  client->user = g_strdup (options->user);
  client->device = g_strdup (options->device);
  client->token = g_strdup (options->token);
  client->peek_payload_int = g_strdup (options->peek_payload_int);
  client->peek_payload_int_len =
      options->peek_payload_int != NULL ? strlen (options->peek_payload_int) : 0;
  client->auto_reconnect = options->auto_reconnect;
  client->backoff_min_ms = options->backoff_min_ms;
  client->backoff_max_ms = MAX (options->backoff_max_ms, options->backoff_min_ms);
  client->request_timeout_ms = options->request_timeout_ms;
  client->rng =
      options->seed != 0 ? options->seed : ((guint64)g_random_int () << 32 | g_random_int ());
  client->clock = options->clock != NULL ? hub_clock_ref (options->clock) : thread_clock_ref ();
  client->tokens =
      hub_client_tokens_new (client, client->clock, options->token_provider,
                             options->token_provider_data, client->request_timeout_ms, client->rng);
  client->klass = options->transport != NULL ? options->transport : hub_client_lws_transport ();
  client->transport = client->klass->create (&client->parsed, options->ca_file,
                                             options->allow_self_signed, &sink, client);
  if (options->bind_address != NULL && client->klass->set_bind_address != NULL)
    client->klass->set_bind_address (client->transport, options->bind_address);
  client->state = HUB_CLIENT_DISCONNECTED;
  client->next_id = 1;
  g_queue_init (&client->pending);
  g_queue_init (&client->deferred);
  client->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, room_free);
  return client;
}

static void
client_destroy (HubClient *client)
{
  g_hash_table_unref (client->rooms);
  g_clear_pointer (&client->room_tokens, g_hash_table_unref);
  hub_client_tokens_free (client->tokens);
  g_free (client->welcome_user);
  g_free (client->welcome_device);
  g_free (client->conn);
  g_free (client->final_reason);
  g_clear_error (&client->connect_error);
  thread_clock_unref (client->clock);
  hub_client_url_clear (&client->parsed);
  g_free (client->url);
  g_free (client->user);
  g_free (client->device);
  g_free (client->token);
  g_free (client->peek_payload_int);
  g_free (client);
}

void
hub_client_free (HubClient *client)
{
  g_autoptr (GError) error = NULL;
  Pending *pending;

  if (client == NULL || client->free_pending || client->freeing)
    return;
  client->freeing = TRUE;
  /* Requests are answered exactly once, even now. */
  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "client freed");
  while ((pending = g_queue_pop_head (&client->deferred)) != NULL) {
    reply (client, pending, NULL, error);
    pending_free (pending);
  }
  while ((pending = g_queue_pop_head (&client->pending)) != NULL) {
    reply (client, pending, NULL, error);
    pending_free (pending);
  }
  client->free_pending = TRUE;
  hub_clock_cancel (client->clock, client->retry_timer);
  hub_clock_cancel (client->clock, client->timeout_timer);
  hub_clock_cancel (client->clock, client->deferred_timer);
  client->retry_timer = client->timeout_timer = client->deferred_timer = 0;
  /* The transport may be the one calling us: it defers its own teardown. */
  g_clear_pointer (&client->transport, client->klass->destroy);
  if (client->depth == 0)
    client_destroy (client);
}

void
hub_client_connect (HubClient *client)
{
  g_return_if_fail (client != NULL);
  if (client->state != HUB_CLIENT_DISCONNECTED || client->link_open)
    return;
  client->stopping = FALSE;
  client->final = FALSE;
  g_clear_pointer (&client->final_reason, g_free);
  client->attempt = 0;
  emit_state (client, HUB_CLIENT_CONNECTING, 0, NULL, 0);
  if (client->state == HUB_CLIENT_CONNECTING && !client->free_pending)
    begin_attempt (client, FALSE);
}

void
hub_client_disconnect (HubClient *client)
{
  g_return_if_fail (client != NULL);
  client->stopping = TRUE;
  if (client->retry_timer != 0) {
    hub_clock_cancel (client->clock, client->retry_timer);
    client->retry_timer = 0;
  }
  if (client->link_open)
    client->klass->close (client->transport, 1000);
  else if (client->state != HUB_CLIENT_DISCONNECTED)
    emit_state (client, HUB_CLIENT_DISCONNECTED, 0, "disconnected", 0);
}

void
hub_client_drop_connection (HubClient *client)
{
  g_return_if_fail (client != NULL);
  if (client->link_open)
    client->klass->drop (client->transport);
}

HubClientState
hub_client_get_state (HubClient *client)
{
  return client->state;
}

const char *
hub_client_get_user (HubClient *client)
{
  return client->welcome_user;
}

const char *
hub_client_get_device (HubClient *client)
{
  return client->welcome_device;
}

const char *
hub_client_get_conn (HubClient *client)
{
  return client->conn;
}

const char *
hub_client_get_url (HubClient *client)
{
  return client->url;
}

const HubClientUrl *
hub_client_get_parsed_url (HubClient *client)
{
  return &client->parsed;
}

gint64
hub_client_get_last_seq (HubClient *client, const char *room)
{
  gint64 *seq = room_seq (client, room);

  return seq != NULL ? *seq : -1;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
hub_client_get_rooms (HubClient *client)
{
  GPtrArray *rooms = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer room;

  g_hash_table_iter_init (&iter, client->rooms);
  while (g_hash_table_iter_next (&iter, &room, NULL))
    g_ptr_array_add (rooms, room);
  g_ptr_array_sort (rooms, compare_names);
  return rooms;
}

void
hub_client_get_counters (HubClient *client, HubClientCounters *counters)
{
  *counters = client->counters;
}

guint
hub_client_get_max_message_bytes (HubClient *client)
{
  return client->max_message_bytes;
}

const GError *
hub_client_get_connect_error (HubClient *client)
{
  return client->connect_error;
}

HubClientTokens *
hub_client_get_tokens (HubClient *client)
{
  return client->tokens;
}

const char *
hub_client_get_token (HubClient *client)
{
  return client->token;
}

void
hub_client_set_token (HubClient *client, const char *token)
{
  g_free (client->token);
  client->token = g_strdup (token);
}

void
hub_client_set_auto_reconnect (HubClient *client, gboolean auto_reconnect)
{
  client->auto_reconnect = auto_reconnect;
}

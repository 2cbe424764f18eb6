/* hub-session.c: one hub-client session: command lines become requests,
 * replies and events become lines, and the session keeps the current room,
 * who is typing, what completion offers (rooms and users met), and the
 * copies of its own messages still on their way; it is HubClient's token
 * provider when hub-client has a token source (§12). A connection that cannot
 * be made is looked into (hub-client-probe.h) before it is reported, so the
 * line says what failed in plain words. */
#include "hub-session.h"

#include "hub-commands.h"
#include "hub-format.h"
#include "hub-stats.h"

#include <hub/hub-client-probe.h>
#include <stdio.h>
#include <string.h>

/* A typing indicator shows this long after the last one (the sender repeats
 * them every TYPING_SEND_INTERVAL while typing). */
#define TYPING_SHOW_US          (5 * G_USEC_PER_SEC)
#define TYPING_SEND_INTERVAL_US (3 * G_USEC_PER_SEC)
/* How long the look into a failed connection may take. */
#define PROBE_TIMEOUT_MS 5000

/* A state change held while a failed connection is looked into. */
typedef struct {
  HubClientStateChange change;
  char *reason; /* (owned) (nullable) change.reason points here */
} Held;

struct _HubSession {
  HubClient *client; /* (owned) */
  HubSessionOutput output;
  gpointer user_data; /* (unowned) */
  gboolean colour;
  HubSessionMode mode;
  gboolean auto_reconnect; /* as asked; a batch's first connection is tried once */
  gboolean closing;        /* being freed */
  gboolean stopping;       /* hub_session_disconnect: the close is ours, not news */
  char *room;              /* (owned) (nullable) current room */
  GHashTable *typing;      /* "room\nuser" (owned) → gint64* (owned) monotonic expiry */
  guint typing_source;     /* expires indicators while some show */
  gint64 last_typing_sent_us;
  GCancellable *cancellable; /* (owned) for /stats and the probe */
  gboolean allow_self_signed;
  char *ca_file; /* (owned) (nullable) */

  gboolean probing;
  GQueue held;        /* Held* (owned) */
  char *probe_answer; /* (owned) (nullable) the last probe's plain reason */

  GHashTable *rooms_seen;    /* room (owned) → NULL: rooms met in replies and events */
  GHashTable *members;       /* room (owned) → GHashTable* (owned) of users (owned) */
  GHashTable *subscriptions; /* user (owned) → NULL */
  GHashTable *users_seen;    /* user (owned) → NULL: senders, status changes */
  GHashTable *own;           /* room (owned) → gint64* (owned): seq of our last publish there */

  HubSessionTokens tokens; /* (unowned) members */
  gboolean fetching_token; /* the token source works for HubClient */
  gboolean token_gave_up;  /* HubClient is being told the source has no token to connect */
  struct _Call *refresh;   /* (owned) (nullable) the /refresh waiting for its outcome */
  char *node;              /* (owned) (nullable) the welcome's */
};

typedef struct _Call {
  HubSession *session; /* (unowned) */
  char *type;          /* (owned) */
  char *room;          /* (owned) (nullable) the room the command acts on */
  GStrv users;         /* (owned) (nullable) subscribe / unsubscribe */
  HubSessionDoneFunc done;
  gpointer user_data;
} Call;

static void
call_free (Call *call)
{
  g_free (call->type);
  g_free (call->room);
  g_strfreev (call->users);
  g_free (call);
}

static void
held_free (Held *held)
{
  g_free (held->reason);
  g_free (held);
}

static void
print (HubSession *session, HubSessionLine kind, const char *text)
{
  if (text != NULL && session->output.print != NULL)
    session->output.print (session->user_data, kind, text);
}

static void
status_changed (HubSession *session)
{
  if (session->output.status != NULL)
    session->output.status (session->user_data);
}

void
hub_session_set_room (HubSession *session, const char *room)
{
  if (g_strcmp0 (session->room, room) == 0)
    return;
  g_free (session->room);
  session->room = g_strdup (room);
  status_changed (session);
}

/* ---- what completion knows ---- */

static void
set_add (GHashTable *set, const char *name)
{
  if (name != NULL && !g_hash_table_contains (set, name))
    g_hash_table_add (set, g_strdup (name));
}

static GHashTable *
members_of (HubSession *session, const char *room)
{
  GHashTable *set = g_hash_table_lookup (session->members, room);

  if (set == NULL) {
    set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_insert (session->members, g_strdup (room), set);
  }
  return set;
}

/* [{"user": …}, …] of a join or who reply: the room's members now. */
static void
members_from_reply (HubSession *session, const char *room, JsonObject *reply)
{
  JsonNode *node = json_object_get_member (reply, "members");
  GHashTable *set;
  JsonArray *members;

  if (room == NULL || node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return;
  members = json_node_get_array (node);
  set = members_of (session, room);
  g_hash_table_remove_all (set);
  for (guint i = 0; i < json_array_get_length (members); i++) {
    JsonNode *member = json_array_get_element (members, i);

    if (JSON_NODE_HOLDS_OBJECT (member) &&
        json_object_has_member (json_node_get_object (member), "user"))
      set_add (set, json_object_get_string_member (json_node_get_object (member), "user"));
  }
}

static void
rooms_from_reply (HubSession *session, JsonObject *reply)
{
  JsonNode *node = json_object_get_member (reply, "rooms");
  JsonArray *rooms;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return;
  rooms = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (rooms); i++) {
    JsonNode *room = json_array_get_element (rooms, i);

    if (JSON_NODE_HOLDS_OBJECT (room) &&
        json_object_has_member (json_node_get_object (room), "room"))
      set_add (session->rooms_seen,
               json_object_get_string_member (json_node_get_object (room), "room"));
  }
}

static void
add_matches (GPtrArray *out, GHashTable *set, const char *prefix)
{
  GHashTableIter iter;
  gpointer key;

  if (set == NULL)
    return;
  g_hash_table_iter_init (&iter, set);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    if (g_str_has_prefix (key, prefix))
      g_ptr_array_add (out, g_strdup (key));
  }
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

GStrv
hub_session_complete (HubSession *session, const char *line, gsize start, gsize end)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *prefix = g_strndup (line + start, end - start);
  g_autofree char *before = g_strndup (line, end);
  g_auto (GStrv) words = g_strsplit_set (before, " \t", -1);
  g_autoptr (GPtrArray) given = g_ptr_array_new ();
  gboolean new_word = end == 0 || before[end - 1] == ' ' || before[end - 1] == '\t';
  GPtrArray *result;

  for (guint i = 0; words[i] != NULL; i++) {
    if (words[i][0] != '\0')
      g_ptr_array_add (given, words[i]);
  }
  if (given->len == 0 || (given->len == 1 && !new_word)) {
    /* The first word: a command. */
    if (prefix[0] == '/') {
      for (const char *const *name = hub_command_names (); *name != NULL; name++) {
        g_autofree char *command = g_strconcat ("/", *name, NULL);

        if (g_str_has_prefix (command, prefix))
          g_ptr_array_add (out, g_steal_pointer (&command));
      }
    }
  } else if (((char *)given->pdata[0])[0] == '/') {
    const char *name = (const char *)given->pdata[0] + 1;
    guint index = given->len - (new_word ? 1 : 2);

    switch (hub_command_arg (name, index)) {
      case HUB_COMMAND_ARG_ROOM: {
        g_autoptr (GPtrArray) rooms = hub_client_get_rooms (session->client);

        for (guint i = 0; i < rooms->len; i++) {
          if (g_str_has_prefix (rooms->pdata[i], prefix))
            g_ptr_array_add (out, g_strdup (rooms->pdata[i]));
        }
        add_matches (out, session->rooms_seen, prefix);
        break;
      }
      case HUB_COMMAND_ARG_USER:
      case HUB_COMMAND_ARG_USERS:
        if (session->room != NULL)
          add_matches (out, g_hash_table_lookup (session->members, session->room), prefix);
        add_matches (out, session->subscriptions, prefix);
        add_matches (out, session->users_seen, prefix);
        break;
      case HUB_COMMAND_ARG_STATUS:
        for (const char *const *status = hub_command_statuses (); *status != NULL; status++) {
          if (g_str_has_prefix (*status, prefix))
            g_ptr_array_add (out, g_strdup (*status));
        }
        break;
      case HUB_COMMAND_ARG_OTHER:
      default:
        break;
    }
  }
  g_ptr_array_sort (out, compare_strings);
  result = g_ptr_array_new ();
  for (guint i = 0; i < out->len; i++) {
    if (result->len == 0 || strcmp (result->pdata[result->len - 1], out->pdata[i]) != 0)
      g_ptr_array_add (result, g_strdup (out->pdata[i]));
  }
  g_ptr_array_add (result, NULL);
  return (GStrv)g_ptr_array_free (result, FALSE);
}

/* ---- typing ---- */

static gboolean
expire_typing (gpointer user_data)
{
  HubSession *session = user_data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer expiry;
  gboolean changed = FALSE;

  g_hash_table_iter_init (&iter, session->typing);
  while (g_hash_table_iter_next (&iter, NULL, &expiry)) {
    if (*(gint64 *)expiry <= now) {
      g_hash_table_iter_remove (&iter);
      changed = TRUE;
    }
  }
  if (changed)
    status_changed (session);
  if (g_hash_table_size (session->typing) > 0)
    return G_SOURCE_CONTINUE;
  session->typing_source = 0;
  return G_SOURCE_REMOVE;
}

static void
typing_set (HubSession *session, const char *room, const char *user, gboolean on)
{
  g_autofree char *key = g_strdup_printf ("%s\n%s", room, user);

  if (!on) {
    if (g_hash_table_remove (session->typing, key))
      status_changed (session);
    return;
  }
  {
    gint64 *expiry = g_new (gint64, 1);

    *expiry = g_get_monotonic_time () + TYPING_SHOW_US;
    g_hash_table_replace (session->typing, g_steal_pointer (&key), expiry);
  }
  if (session->typing_source == 0)
    session->typing_source = g_timeout_add (500, expire_typing, session);
  status_changed (session);
}

char *
hub_session_typing_text (HubSession *session)
{
  g_autoptr (GPtrArray) users = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;
  gsize room_len;

  if (session->room == NULL)
    return NULL;
  room_len = strlen (session->room);
  g_hash_table_iter_init (&iter, session->typing);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    const char *k = key;

    if (strncmp (k, session->room, room_len) == 0 && k[room_len] == '\n')
      g_ptr_array_add (users, (gpointer)(k + room_len + 1));
  }
  if (users->len == 0)
    return NULL;
  g_ptr_array_sort (users, compare_strings);
  g_ptr_array_add (users, NULL);
  return g_strjoinv (", ", (char **)users->pdata);
}

void
hub_session_user_typing (HubSession *session, const char *partial_line)
{
  gint64 now = g_get_monotonic_time ();

  if (session->room == NULL || partial_line == NULL || partial_line[0] == '\0' ||
      (partial_line[0] == '/' && partial_line[1] != '/'))
    return;
  /* Only in a room we are in: anywhere else each indicator would come back
   * as an error (§5: typing needs membership). */
  if (hub_client_get_last_seq (session->client, session->room) < 0)
    return;
  if (session->last_typing_sent_us != 0 &&
      now - session->last_typing_sent_us < TYPING_SEND_INTERVAL_US)
    return;
  if (hub_client_typing (session->client, session->room))
    session->last_typing_sent_us = now;
}

/* ---- tokens (§12) ---- */

/* The /refresh under way is over. */
static void
refresh_done (HubSession *session, HubSessionResult result)
{
  struct _Call *call = g_steal_pointer (&session->refresh);

  if (call == NULL)
    return;
  if (call->done != NULL)
    call->done (session, result, call->user_data);
  call_free (call);
}

static void
on_token_fetched (GObject *object, GAsyncResult *result, gpointer user_data)
{
  HubSession *session = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *token = hub_token_source_fetch_finish (result, &error);

  session->fetching_token = FALSE;
  if (session->closing)
    return; /* cancelled: hub_session_free is waiting for this */
  if (token != NULL) {
    hub_client_supply_token (session->client, token);
    return;
  }
  session->token_gave_up = TRUE;
  hub_client_token_unavailable (session->client, error->message);
  session->token_gave_up = FALSE;
}

/* HubClient's token provider: the source works asynchronously (a command
 * runs meanwhile), the loop goes on. */
static void
on_token_needed (HubClient *client, HubClientTokenNeed need, gpointer user_data)
{
  HubSession *session = user_data;

  session->fetching_token = TRUE;
  hub_token_source_fetch_async (session->tokens.source, session->cancellable, on_token_fetched,
                                session);
}

/* ---- connection changes ---- */

/* The current room is no longer ours: the next of ours, or none. */
static void
drop_current_room (HubSession *session, const char *room)
{
  g_autoptr (GPtrArray) rooms = NULL;

  if (g_strcmp0 (session->room, room) != 0)
    return;
  rooms = hub_client_get_rooms (session->client);
  hub_session_set_room (session, rooms->len > 0 ? g_ptr_array_index (rooms, 0) : NULL);
}

/* An attempt that ended before its welcome without a close code: the TCP
 * connect, the TLS handshake or the upgrade failed (not a refused hello,
 * which closes with 1000, and not our own disconnect). */
static gboolean
is_connect_failure (HubSession *session, const HubClientStateChange *change)
{
  return (change->state == HUB_CLIENT_RECONNECTING || change->state == HUB_CLIENT_DISCONNECTED) &&
         change->old_state == HUB_CLIENT_CONNECTING && change->close_code == 0 &&
         !session->stopping;
}

static void
deliver_state (HubSession *session, const HubClientStateChange *change)
{
  HubClient *client = session->client;
  const char *why = is_connect_failure (session, change) && session->probe_answer != NULL
                        ? session->probe_answer
                        : NULL;
  g_autofree char *text = NULL;

  /* Given up for want of a token: HubClient's words say which source failed. */
  if (session->token_gave_up && change->state == HUB_CLIENT_DISCONNECTED)
    why = change->reason;

  if (session->stopping && change->state == HUB_CLIENT_DISCONNECTED)
    text = NULL; /* we closed it: nothing to tell */
  else
    text = hub_format_state (change, hub_client_get_url (client), why,
                             session->mode == HUB_SESSION_INTERACTIVE, session->colour);
  print (session,
         change->state == HUB_CLIENT_CONNECTING ? HUB_SESSION_LINE_INFO : HUB_SESSION_LINE_ERROR,
         text);
  if (change->state == HUB_CLIENT_DISCONNECTED && change->close_code == 4003 &&
      session->tokens.source == NULL) {
    g_autofree char *hint =
        hub_format_info (session->colour, "hub-client refreshes tokens on its own with "
                                          "--token-file, --token-command or --secret");

    print (session, HUB_SESSION_LINE_INFO, hint);
  }
  if (change->state != HUB_CLIENT_CONNECTED && session->refresh != NULL) {
    g_autofree char *lost =
        hub_format_problem (session->colour, "connection lost: /refresh not answered");

    print (session, HUB_SESSION_LINE_ERROR, lost);
    refresh_done (session, HUB_SESSION_CONNECTION);
  }
  if (session->output.state != NULL)
    session->output.state (session->user_data, change);
  status_changed (session);
}

static void
deliver_held (HubSession *session)
{
  Held *held;

  while (!session->closing && (held = g_queue_pop_head (&session->held)) != NULL) {
    deliver_state (session, &held->change);
    held_free (held);
  }
}

static void
on_probed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HubSession *session = user_data;
  g_autoptr (GError) error = NULL;
  gboolean ok = hub_client_probe_finish (result, &error);

  session->probing = FALSE;
  if (session->closing)
    return; /* hub_session_free is waiting for this */
  g_clear_pointer (&session->probe_answer, g_free);
  /* The server answers now (it came back meanwhile): libwebsockets' own
   * words are all there is. */
  if (!ok)
    session->probe_answer = g_strdup (error->message);
  deliver_held (session);
}

static void
hold (HubSession *session, const HubClientStateChange *change)
{
  Held *held = g_new0 (Held, 1);

  held->change = *change;
  held->reason = g_strdup (change->reason);
  held->change.reason = held->reason;
  g_queue_push_tail (&session->held, held);
}

static void
on_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  HubSession *session = user_data;

  if (session->closing)
    return;
  /* A script's first connection is tried once; from its welcome on, the
   * connection is kept as asked. */
  if (change->state == HUB_CLIENT_CONNECTED)
    hub_client_set_auto_reconnect (client, session->auto_reconnect);
  if (session->probing) {
    hold (session, change);
    return;
  }
  if (is_connect_failure (session, change)) {
    hold (session, change);
    session->probing = TRUE;
    hub_client_probe_async (hub_client_get_parsed_url (client), session->ca_file,
                            session->allow_self_signed, PROBE_TIMEOUT_MS, session->cancellable,
                            on_probed, session);
    return;
  }
  deliver_state (session, change);
}

/* ---- events ---- */

static void
on_event (HubClient *client, const HubClientEvent *event, gpointer user_data)
{
  HubSession *session = user_data;
  g_autofree char *text = NULL;

  switch (event->type) {
    case HUB_CLIENT_EVENT_TYPING:
      if (event->room != NULL && event->user != NULL)
        typing_set (session, event->room, event->user, TRUE);
      if (session->mode == HUB_SESSION_INTERACTIVE)
        return;
      break;
    case HUB_CLIENT_EVENT_MESSAGE:
      if (event->room != NULL && event->from != NULL)
        typing_set (session, event->room, event->from, FALSE);
      set_add (session->users_seen, event->from);
      set_add (session->rooms_seen, event->room);
      break;
    case HUB_CLIENT_EVENT_DIRECT:
    case HUB_CLIENT_EVENT_MULTICAST:
    case HUB_CLIENT_EVENT_BROADCAST:
      if (event->from != NULL && event->from[0] != '@')
        set_add (session->users_seen, event->from);
      break;
    case HUB_CLIENT_EVENT_STATUS:
      set_add (session->users_seen, event->user);
      break;
    case HUB_CLIENT_EVENT_PRESENCE:
      if (event->room != NULL && event->user != NULL) {
        if (g_strcmp0 (event->presence, "join") == 0)
          set_add (members_of (session, event->room), event->user);
        else if (g_strcmp0 (event->presence, "leave") == 0)
          g_hash_table_remove (members_of (session, event->room), event->user);
      }
      break;
    case HUB_CLIENT_EVENT_TOKEN_REFRESHED:
    case HUB_CLIENT_EVENT_TOKEN_FAILED: {
      gboolean refused = event->type == HUB_CLIENT_EVENT_TOKEN_FAILED;

      text = hub_format_event (event, session->colour);
      print (session, refused ? HUB_SESSION_LINE_ERROR : HUB_SESSION_LINE_INFO, text);
      /* A refusal is the server's answer (exit 1); no fresh token is the source's (3). */
      refresh_done (session, !refused ? HUB_SESSION_OK
                             : g_strcmp0 (event->code, "token_unavailable") == 0 ||
                                     g_strcmp0 (event->code, "timed_out") == 0 ||
                                     g_strcmp0 (event->code, "stale_token") == 0
                                 ? HUB_SESSION_CONNECTION
                                 : HUB_SESSION_ERROR_REPLY);
      return;
    }
    case HUB_CLIENT_EVENT_WELCOME:
      g_free (session->node);
      session->node = g_strdup (event->node);
      /* After a reconnect, or a first connect of a user who is already a
       * member somewhere: start where the user was. */
      if (session->room == NULL && event->rooms != NULL && json_array_get_length (event->rooms) > 0)
        hub_session_set_room (session, json_array_get_string_element (event->rooms, 0));
      for (guint i = 0; event->rooms != NULL && i < json_array_get_length (event->rooms); i++)
        set_add (session->rooms_seen, json_array_get_string_element (event->rooms, i));
      break;
    case HUB_CLIENT_EVENT_REJOINED:
      status_changed (session);
      break;
    case HUB_CLIENT_EVENT_ROOM_LOST:
      g_hash_table_remove (session->own, event->room);
      text = hub_format_event (event, session->colour);
      print (session, HUB_SESSION_LINE_ERROR, text);
      drop_current_room (session, event->room);
      return;
    default:
      break;
  }
  text = hub_format_event (event, session->colour);
  print (session,
         event->type == HUB_CLIENT_EVENT_ERROR || event->type == HUB_CLIENT_EVENT_GAP
             ? HUB_SESSION_LINE_ERROR
         : event->type == HUB_CLIENT_EVENT_WELCOME || event->type == HUB_CLIENT_EVENT_REJOINED
             ? HUB_SESSION_LINE_INFO
             : HUB_SESSION_LINE_EVENT,
         text);
}

static void
on_frame (HubClient *client, JsonObject *frame, const char *text, gpointer user_data)
{
  HubSession *session = user_data;

  if (session->output.frame != NULL)
    session->output.frame (session->user_data, frame, text);
}

static const HubClientCallbacks callbacks = {
    .state_changed = on_state,
    .event = on_event,
    .frame = on_frame,
};

guint
hub_session_own_copies_pending (HubSession *session)
{
  GHashTableIter iter;
  gpointer room, seq;

  g_hash_table_iter_init (&iter, session->own);
  while (g_hash_table_iter_next (&iter, &room, &seq)) {
    /* A room's messages come in seq order (§5): anything at or past ours means ours came. */
    if (hub_client_get_last_seq (session->client, room) >= *(gint64 *)seq)
      g_hash_table_iter_remove (&iter);
  }
  return g_hash_table_size (session->own);
}

/* ---- commands ---- */

static void
remember_reply (HubSession *session, Call *call, JsonObject *reply)
{
  if (strcmp (call->type, "join") == 0 && call->room != NULL) {
    set_add (session->rooms_seen, call->room);
    members_from_reply (session, call->room, reply);
    hub_session_set_room (session, call->room);
  } else if (strcmp (call->type, "leave") == 0) {
    g_hash_table_remove (session->members, call->room);
    g_hash_table_remove (session->own, call->room);
    drop_current_room (session, call->room);
  } else if (strcmp (call->type, "who") == 0) {
    set_add (session->rooms_seen, call->room);
    members_from_reply (session, call->room, reply);
  } else if (strcmp (call->type, "room_info") == 0) {
    set_add (session->rooms_seen, call->room);
  } else if (strcmp (call->type, "rooms") == 0) {
    rooms_from_reply (session, reply);
  } else if (strcmp (call->type, "subscribe") == 0) {
    for (guint i = 0; call->users != NULL && call->users[i] != NULL; i++)
      set_add (session->subscriptions, call->users[i]);
  } else if (strcmp (call->type, "unsubscribe") == 0) {
    for (guint i = 0; call->users != NULL && call->users[i] != NULL; i++)
      g_hash_table_remove (session->subscriptions, call->users[i]);
  } else if (strcmp (call->type, "publish") == 0 && call->room != NULL &&
             json_object_has_member (reply, "seq")) {
    gint64 *seq = g_new (gint64, 1);

    *seq = json_object_get_int_member (reply, "seq");
    g_hash_table_replace (session->own, g_strdup (call->room), seq);
  }
}

/* HubClient's "connection closed (code 1001: …)" in words. (transfer full) */
static char *
local_error_text (const GError *error)
{
  guint code = 0;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED) &&
      sscanf (error->message, "connection closed (code %u", &code) == 1 &&
      hub_format_close_code (code) != NULL)
    return g_strdup_printf ("connection lost: %s (close code %u)", hub_format_close_code (code),
                            code);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_strdup ("no reply from the server in time");
  return g_strdup (error->message);
}

static void
on_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  Call *call = user_data;
  HubSession *session = call->session;
  HubSessionResult result = HUB_SESSION_OK;

  if (session->closing) {
    call_free (call);
    return;
  }
  if (error != NULL && reply != NULL) {
    JsonNode *code = json_object_get_member (reply, "code");
    JsonNode *message = json_object_get_member (reply, "message");
    g_autofree char *text = hub_format_error (
        code && JSON_NODE_HOLDS_VALUE (code) ? json_node_get_string (code) : NULL,
        message && JSON_NODE_HOLDS_VALUE (message) ? json_node_get_string (message) : NULL,
        session->colour);

    print (session, HUB_SESSION_LINE_ERROR, text);
    result = HUB_SESSION_ERROR_REPLY;
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE)) {
    g_autofree char *text = hub_format_problem (session->colour, "%s", error->message);

    print (session, HUB_SESSION_LINE_ERROR, text);
    result = HUB_SESSION_USAGE;
  } else if (error != NULL) {
    g_autofree char *why = local_error_text (error);
    g_autofree char *text =
        hub_format_problem (session->colour, "%s: %s not answered", why, call->type);

    print (session, HUB_SESSION_LINE_ERROR, text);
    result = HUB_SESSION_CONNECTION;
  } else {
    g_autofree char *text = hub_format_reply (call->type, call->room, reply, session->colour);

    remember_reply (session, call, reply);
    print (session, HUB_SESSION_LINE_REPLY, text);
    /* /info tells about the connection too: its token's deadline (§12). */
    if (strcmp (call->type, "room_info") == 0) {
      g_autofree char *about = hub_format_connection (client, session->node, session->colour);

      print (session, HUB_SESSION_LINE_REPLY, about);
    }
  }
  if (call->done != NULL)
    call->done (session, result, call->user_data);
  call_free (call);
}

static void
on_stats (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  HubSession *session = call->session;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) stats = hub_stats_fetch_finish (result, &error);

  if (stats == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    call_free (call); /* the session is gone */
    return;
  }
  if (stats == NULL) {
    g_autofree char *text = hub_format_problem (session->colour, "/stats: %s", error->message);

    print (session, HUB_SESSION_LINE_ERROR, text);
    if (call->done != NULL)
      call->done (session, HUB_SESSION_CONNECTION, call->user_data);
  } else if (session->output.stats != NULL) {
    session->output.stats (session->user_data, stats);
    if (call->done != NULL)
      call->done (session, HUB_SESSION_OK, call->user_data);
  } else {
    g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
    g_autoptr (JsonGenerator) generator = json_generator_new ();
    g_autofree char *json = NULL;
    g_autofree char *text = NULL;

    json_node_set_object (node, stats);
    json_generator_set_root (generator, node);
    json = json_generator_to_data (generator, NULL);
    text = hub_format_info (session->colour, "stats: %s", json);
    print (session, HUB_SESSION_LINE_REPLY, text);
    if (call->done != NULL)
      call->done (session, HUB_SESSION_OK, call->user_data);
  }
  call_free (call);
}

static void
print_help (HubSession *session)
{
  g_autofree char *text = g_strdup (hub_command_help ());

  g_strchomp (text);
  print (session, HUB_SESSION_LINE_REPLY, text);
}

gboolean
hub_session_line_is_local (const char *line)
{
  g_autoptr (HubCommand) command = hub_command_parse (line, NULL);

  if (command == NULL)
    return TRUE;
  switch (command->kind) {
    case HUB_COMMAND_EMPTY:
    case HUB_COMMAND_QUIT:
    case HUB_COMMAND_HELP:
    case HUB_COMMAND_ROOM:
    case HUB_COMMAND_STATS:
      return TRUE;
    default:
      return FALSE;
  }
}

void
hub_session_execute (HubSession *session, const char *line, HubSessionDoneFunc done,
                     gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HubCommand) command = hub_command_parse (line, &error);
  g_autofree char *type = NULL;
  g_autoptr (JsonObject) fields = NULL;
  const char *room;
  Call *call;

#define DONE(result)                                                                               \
  do {                                                                                             \
    if (done != NULL)                                                                              \
      done (session, (result), user_data);                                                         \
    return;                                                                                        \
  } while (0)

  if (command == NULL) {
    g_autofree char *text = hub_format_problem (session->colour, "%s", error->message);

    print (session, HUB_SESSION_LINE_ERROR, text);
    DONE (HUB_SESSION_USAGE);
  }
  room = hub_command_target_room (command, session->room);
  switch (command->kind) {
    case HUB_COMMAND_EMPTY:
      DONE (HUB_SESSION_OK);
    case HUB_COMMAND_QUIT:
      DONE (HUB_SESSION_QUIT);
    case HUB_COMMAND_HELP:
      print_help (session);
      DONE (HUB_SESSION_OK);
    case HUB_COMMAND_ROOM: {
      g_autofree char *text = NULL;

      if (hub_client_get_last_seq (session->client, command->room) < 0)
        text =
            hub_format_info (session->colour, "%s is now current (you are not a member: /join %s)",
                             command->room, command->room);
      else
        text = hub_format_info (session->colour, "%s is now current", command->room);
      hub_session_set_room (session, command->room);
      print (session, HUB_SESSION_LINE_REPLY, text);
      DONE (HUB_SESSION_OK);
    }
    case HUB_COMMAND_REFRESH:
      if (session->tokens.source == NULL) {
        g_autofree char *text = hub_format_problem (
            session->colour, "/refresh needs a token source: start hub-client with "
                             "--token-file FILE, --token-command CMD or --secret S");

        print (session, HUB_SESSION_LINE_ERROR, text);
        DONE (HUB_SESSION_USAGE);
      }
      if (session->refresh != NULL || !hub_client_refresh_token (session->client)) {
        g_autofree char *text = hub_format_problem (
            session->colour, "%s: /refresh not sent",
            session->refresh != NULL ? "a /refresh is under way" : "not connected");

        print (session, HUB_SESSION_LINE_ERROR, text);
        DONE (session->refresh != NULL ? HUB_SESSION_USAGE : HUB_SESSION_CONNECTION);
      }
      /* The outcome comes as a TOKEN_REFRESHED or TOKEN_FAILED event. */
      session->refresh = g_new0 (Call, 1);
      session->refresh->session = session;
      session->refresh->type = g_strdup ("refresh");
      session->refresh->done = done;
      session->refresh->user_data = user_data;
      return;
    case HUB_COMMAND_INFO:
      if (room == NULL) {
        /* No room to tell about: the connection alone. */
        g_autofree char *text =
            hub_format_connection (session->client, session->node, session->colour);

        print (session, HUB_SESSION_LINE_REPLY, text);
        DONE (HUB_SESSION_OK);
      }
      break;
    case HUB_COMMAND_STATS:
      call = g_new0 (Call, 1);
      call->session = session;
      call->type = g_strdup ("stats");
      call->done = done;
      call->user_data = user_data;
      hub_stats_fetch_async (hub_client_get_parsed_url (session->client),
                             session->allow_self_signed, session->cancellable, on_stats, call);
      return;
    case HUB_COMMAND_RAW: {
      JsonNode *id = json_object_get_member (command->raw, "id");
      guint max = hub_client_get_max_message_bytes (session->client);

      if (id != NULL || !json_object_has_member (command->raw, "type")) {
        /* The user numbers it (or it is not a request): send as typed; any
         * answer shows as an event. */
        if (max > 0 && strlen (command->text) > max) {
          g_autofree char *text = hub_format_problem (session->colour,
                                                      "frame of %" G_GSIZE_FORMAT
                                                      " bytes not sent: the server takes at "
                                                      "most %u bytes per message",
                                                      strlen (command->text), max);

          print (session, HUB_SESSION_LINE_ERROR, text);
          DONE (HUB_SESSION_USAGE);
        }
        if (!hub_client_send_text (session->client, command->text)) {
          g_autofree char *text = hub_format_problem (
              session->colour, "not connected (%s): not sent",
              hub_client_state_to_string (hub_client_get_state (session->client)));

          print (session, HUB_SESSION_LINE_ERROR, text);
          DONE (HUB_SESSION_CONNECTION);
        }
        DONE (HUB_SESSION_OK);
      }
      break;
    }
    default:
      break;
  }
  if (!hub_command_request (command, session->room,
                            room != NULL ? hub_client_get_last_seq (session->client, room) : -1,
                            &type, &fields, &error)) {
    g_autofree char *text = hub_format_problem (session->colour, "%s",
                                                error != NULL ? error->message : "nothing to send");

    print (session, HUB_SESSION_LINE_ERROR, text);
    DONE (HUB_SESSION_USAGE);
  }
  /* A room token given on the command line (--room-token) for this room. */
  if (command->kind == HUB_COMMAND_JOIN && command->token == NULL &&
      session->tokens.room_tokens != NULL &&
      g_hash_table_contains (session->tokens.room_tokens, command->room))
    json_object_set_string_member (
        fields, "token", g_hash_table_lookup (session->tokens.room_tokens, command->room));
  call = g_new0 (Call, 1);
  call->session = session;
  call->type = g_strdup (type);
  call->room = g_strdup (room);
  call->users = g_strdupv (command->users);
  call->done = done;
  call->user_data = user_data;
  hub_client_request (session->client, type, fields, on_reply, call);
#undef DONE
}

/* ---- the object ---- */

HubSession *
hub_session_new (const HubClientOptions *options, const HubSessionTokens *tokens, gboolean colour,
                 HubSessionMode mode, const HubSessionOutput *output, gpointer user_data,
                 GError **error)
{
  HubSession *session = g_new0 (HubSession, 1);
  HubClientOptions client_options = *options;

  session->output = *output;
  session->user_data = user_data;
  session->colour = colour;
  session->mode = mode;
  session->auto_reconnect = options->auto_reconnect;
  session->allow_self_signed = options->allow_self_signed;
  session->ca_file = g_strdup (options->ca_file);
  session->typing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  session->cancellable = g_cancellable_new ();
  g_queue_init (&session->held);
  session->rooms_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  session->members =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  session->subscriptions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  session->users_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  session->own = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* A script learns at once that the server is not there (on_state turns
   * reconnecting on after the welcome). */
  if (mode == HUB_SESSION_BATCH)
    client_options.auto_reconnect = FALSE;
  if (tokens != NULL)
    session->tokens = *tokens;
  /* A provider only with a source: without one, HubClient knows 4003 is final. */
  if (session->tokens.source != NULL) {
    client_options.token_provider = on_token_needed;
    client_options.token_provider_data = session;
  }
  session->client = hub_client_new (&client_options, &callbacks, session, error);
  if (session->client == NULL) {
    hub_session_free (session);
    return NULL;
  }
  return session;
}

void
hub_session_connect (HubSession *session)
{
  session->stopping = FALSE;
  hub_client_connect (session->client);
}

void
hub_session_disconnect (HubSession *session)
{
  session->stopping = TRUE;
  hub_client_disconnect (session->client);
}

void
hub_session_free (HubSession *session)
{
  if (session == NULL)
    return;
  session->closing = TRUE;
  g_cancellable_cancel (session->cancellable);
  /* A cancelled probe answers promptly (and within its own deadline at
   * worst); its task holds this session until then. */
  while (session->probing || session->fetching_token)
    g_main_context_iteration (NULL, TRUE);
  g_clear_pointer (&session->refresh, call_free);
  g_clear_pointer (&session->client, hub_client_free);
  g_clear_handle_id (&session->typing_source, g_source_remove);
  g_hash_table_unref (session->typing);
  g_object_unref (session->cancellable);
  g_queue_clear_full (&session->held, (GDestroyNotify)held_free);
  g_free (session->probe_answer);
  g_hash_table_unref (session->rooms_seen);
  g_hash_table_unref (session->members);
  g_hash_table_unref (session->subscriptions);
  g_hash_table_unref (session->users_seen);
  g_hash_table_unref (session->own);
  g_free (session->ca_file);
  g_free (session->room);
  g_free (session->node);
  g_free (session);
}

HubClient *
hub_session_get_client (HubSession *session)
{
  return session->client;
}

const char *
hub_session_get_room (HubSession *session)
{
  return session->room;
}

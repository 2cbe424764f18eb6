/* hub-session.c: one hub-client session: command lines become requests,
 * replies and events become lines, and the session keeps the current room
 * and who is typing for the interactive status. */
#include "hub-session.h"

#include "hub-commands.h"
#include "hub-format.h"
#include "hub-stats.h"

#include <string.h>

/* A typing indicator shows this long after the last one (the sender repeats
 * them every TYPING_SEND_INTERVAL while typing). */
#define TYPING_SHOW_US          (5 * G_USEC_PER_SEC)
#define TYPING_SEND_INTERVAL_US (3 * G_USEC_PER_SEC)

struct _HubSession {
  HubClient *client; /* (owned) */
  HubSessionOutput output;
  gpointer user_data; /* (unowned) */
  gboolean colour, print_typing;
  gboolean closing;
  char *room;          /* (owned) (nullable) current room */
  GHashTable *typing;  /* "room\nuser" (owned) → gint64* (owned) monotonic expiry */
  guint typing_source; /* expires indicators while some show */
  gint64 last_typing_sent_us;
  GCancellable *cancellable; /* (owned) for /stats */
  gboolean allow_self_signed;
};

typedef struct {
  HubSession *session; /* (unowned) */
  char *type;          /* (owned) */
  char *room;          /* (owned) (nullable) the room the command acts on */
  HubSessionDoneFunc done;
  gpointer user_data;
} Call;

static void
call_free (Call *call)
{
  g_free (call->type);
  g_free (call->room);
  g_free (call);
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

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
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
  g_ptr_array_sort (users, compare_names);
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
  if (session->last_typing_sent_us != 0 &&
      now - session->last_typing_sent_us < TYPING_SEND_INTERVAL_US)
    return;
  if (hub_client_typing (session->client, session->room))
    session->last_typing_sent_us = now;
}

/* ---- client callbacks ---- */

static void
on_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  HubSession *session = user_data;
  g_autofree char *text = hub_format_state (change, hub_client_get_url (client), session->colour);

  print (session, HUB_SESSION_LINE_INFO, text);
  if (session->output.state != NULL)
    session->output.state (session->user_data, change);
  status_changed (session);
}

static void
on_event (HubClient *client, const HubClientEvent *event, gpointer user_data)
{
  HubSession *session = user_data;
  g_autofree char *text = NULL;

  switch (event->type) {
    case HUB_CLIENT_EVENT_TYPING:
      if (event->room != NULL && event->user != NULL)
        typing_set (session, event->room, event->user, TRUE);
      if (!session->print_typing)
        return;
      break;
    case HUB_CLIENT_EVENT_MESSAGE:
      if (event->room != NULL && event->from != NULL)
        typing_set (session, event->room, event->from, FALSE);
      break;
    case HUB_CLIENT_EVENT_WELCOME:
      /* After a reconnect, or a first connect of a user who is already a
       * member somewhere: start where the user was. */
      if (session->room == NULL && event->rooms != NULL && json_array_get_length (event->rooms) > 0)
        hub_session_set_room (session, json_array_get_string_element (event->rooms, 0));
      break;
    default:
      break;
  }
  text = hub_format_event (event, session->colour);
  print (session,
         event->type == HUB_CLIENT_EVENT_ERROR || event->type == HUB_CLIENT_EVENT_GAP
             ? HUB_SESSION_LINE_ERROR
         : event->type == HUB_CLIENT_EVENT_WELCOME ? HUB_SESSION_LINE_INFO
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

/* ---- commands ---- */

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
  } else if (error != NULL) {
    g_autofree char *text = hub_format_error ("local", error->message, session->colour);

    print (session, HUB_SESSION_LINE_ERROR, text);
    result = HUB_SESSION_CONNECTION;
  } else {
    g_autofree char *text = hub_format_reply (call->type, call->room, reply, session->colour);

    if (strcmp (call->type, "join") == 0 && call->room != NULL)
      hub_session_set_room (session, call->room);
    else if (strcmp (call->type, "leave") == 0 && g_strcmp0 (call->room, session->room) == 0) {
      g_autoptr (GPtrArray) rooms = hub_client_get_rooms (session->client);

      hub_session_set_room (session, rooms->len > 0 ? g_ptr_array_index (rooms, 0) : NULL);
    }
    print (session, HUB_SESSION_LINE_REPLY, text);
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
    g_autofree char *text = hub_format_error ("local", error->message, session->colour);

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
    g_autofree char *text = hub_format_error ("usage", error->message, session->colour);

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

      if (id != NULL || !json_object_has_member (command->raw, "type")) {
        /* The user numbers it (or it is not a request): send as typed; any
         * answer shows as an event. */
        if (!hub_client_send_text (session->client, command->text)) {
          g_autofree char *text = hub_format_error ("local", "not connected", session->colour);

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
    g_autofree char *text = hub_format_error (
        "usage", error != NULL ? error->message : "nothing to send", session->colour);

    print (session, HUB_SESSION_LINE_ERROR, text);
    DONE (HUB_SESSION_USAGE);
  }
  call = g_new0 (Call, 1);
  call->session = session;
  call->type = g_strdup (type);
  call->room = g_strdup (room);
  call->done = done;
  call->user_data = user_data;
  hub_client_request (session->client, type, fields, on_reply, call);
#undef DONE
}

/* ---- the object ---- */

HubSession *
hub_session_new (const HubClientOptions *options, gboolean colour, gboolean print_typing,
                 const HubSessionOutput *output, gpointer user_data, GError **error)
{
  HubSession *session = g_new0 (HubSession, 1);

  session->output = *output;
  session->user_data = user_data;
  session->colour = colour;
  session->print_typing = print_typing;
  session->allow_self_signed = options->allow_self_signed;
  session->typing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  session->cancellable = g_cancellable_new ();
  session->client = hub_client_new (options, &callbacks, session, error);
  if (session->client == NULL) {
    hub_session_free (session);
    return NULL;
  }
  return session;
}

void
hub_session_free (HubSession *session)
{
  if (session == NULL)
    return;
  session->closing = TRUE;
  g_cancellable_cancel (session->cancellable);
  g_clear_pointer (&session->client, hub_client_free);
  g_clear_handle_id (&session->typing_source, g_source_remove);
  g_hash_table_unref (session->typing);
  g_object_unref (session->cancellable);
  g_free (session->room);
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

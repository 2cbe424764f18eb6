/* hub-format.c: hub-client's human-readable lines for frames, replies and
 * connection changes. */
#include "hub-format.h"

#include <stdarg.h>
#include <string.h>

#define RESET  "\033[0m"
#define DIM    "\033[2m"
#define BOLD   "\033[1m"
#define RED    "\033[31m"
#define GREEN  "\033[32m"
#define YELLOW "\033[33m"
#define CYAN   "\033[36m"

/* Wraps @text in @code when colouring. (transfer full) */
static char *
paint (gboolean colour, const char *code, const char *text)
{
  return colour ? g_strconcat (code, text, RESET, NULL) : g_strdup (text);
}

/* A stable colour per user, so a conversation is easy to follow. */
static char *
paint_user (gboolean colour, const char *user)
{
  static const char *const palette[] = {"\033[1;31m", "\033[1;32m", "\033[1;33m",
                                        "\033[1;34m", "\033[1;35m", "\033[1;36m"};

  if (user == NULL)
    user = "?";
  return paint (colour, palette[g_str_hash (user) % G_N_ELEMENTS (palette)], user);
}

char *
hub_format_time (gint64 unix_ms)
{
  g_autoptr (GDateTime) when =
      unix_ms > 0 ? g_date_time_new_from_unix_local (unix_ms / 1000) : g_date_time_new_now_local ();

  return g_date_time_format (when, "%H:%M:%S");
}

static const char *
string_member (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gint64
int_member (JsonObject *object, const char *member, gint64 fallback)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return fallback;
  return json_node_get_int (node);
}

static JsonArray *
array_member (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static JsonObject *
object_member (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static char *
json_compact (JsonNode *node)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();

  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, NULL);
}

static char *
object_compact (JsonObject *object)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, object);
  return json_compact (node);
}

char *
hub_format_payload (JsonObject *payload)
{
  const char *text = string_member (payload, "text");

  if (text != NULL)
    return g_strdup (text);
  if (payload == NULL)
    return g_strdup ("");
  return object_compact (payload);
}

/* "12:03:04 " dimmed, then @body. (transfer full) */
static char *
line (gboolean colour, gint64 ts, const char *body)
{
  g_autofree char *time = hub_format_time (ts);
  g_autofree char *stamp = paint (colour, DIM, time);

  return g_strconcat (stamp, " ", body, NULL);
}

static char *
room_tag (gboolean colour, const char *room, gint64 seq)
{
  g_autofree char *inner = seq > 0 ? g_strdup_printf ("[%s #%" G_GINT64_FORMAT "]", room, seq)
                                   : g_strdup_printf ("[%s]", room != NULL ? room : "?");

  return paint (colour, CYAN, inner);
}

static char *
sender (gboolean colour, const char *from, const char *device)
{
  g_autofree char *who = paint_user (colour, from);

  return device != NULL ? g_strdup_printf ("%s (%s)", who, device) : g_steal_pointer (&who);
}

char *
hub_format_message (JsonObject *message, gboolean colour)
{
  g_autofree char *tag =
      room_tag (colour, string_member (message, "room"), int_member (message, "seq", 0));
  g_autofree char *who =
      sender (colour, string_member (message, "from"), string_member (message, "device"));
  g_autofree char *text = hub_format_payload (object_member (message, "payload"));
  g_autofree char *body = g_strdup_printf ("%s %s: %s", tag, who, text);

  return line (colour, int_member (message, "ts", 0), body);
}

char *
hub_format_info (gboolean colour, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;
  g_autofree char *body = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  body = g_strconcat ("* ", text, NULL);
  {
    g_autofree char *painted = paint (colour, YELLOW, body);

    return line (colour, 0, painted);
  }
}

char *
hub_format_error (const char *code, const char *message, gboolean colour)
{
  g_autofree char *body =
      g_strdup_printf ("! error %s%s%s", code != NULL ? code : "?",
                       message != NULL && message[0] != '\0' ? ": " : "", message ? message : "");
  g_autofree char *painted = paint (colour, RED, body);

  return line (colour, 0, painted);
}

static char *
join_strings (JsonArray *array)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++) {
    JsonNode *node = json_array_get_element (array, i);

    if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
      g_string_append_printf (s, "%s%s", s->len > 0 ? ", " : "", json_node_get_string (node));
  }
  return g_string_free (s, FALSE);
}

char *
hub_format_event (const HubClientEvent *event, gboolean colour)
{
  g_autofree char *body = NULL;
  g_autofree char *tag = NULL;
  g_autofree char *who = NULL;
  g_autofree char *text = NULL;

  switch (event->type) {
    case HUB_CLIENT_EVENT_MESSAGE:
      return hub_format_message (event->frame, colour);
    case HUB_CLIENT_EVENT_DIRECT:
    case HUB_CLIENT_EVENT_MULTICAST:
    case HUB_CLIENT_EVENT_BROADCAST: {
      const char *kind = event->type == HUB_CLIENT_EVENT_DIRECT      ? "direct"
                         : event->type == HUB_CLIENT_EVENT_MULTICAST ? "multicast"
                                                                     : "broadcast";
      g_autofree char *k = g_strdup_printf ("[%s]", kind);

      tag = paint (colour, CYAN, k);
      who = sender (colour, event->from, event->device);
      text = hub_format_payload (event->payload);
      if (event->type == HUB_CLIENT_EVENT_DIRECT && event->to != NULL)
        body = g_strdup_printf ("%s %s -> %s: %s", tag, who, event->to, text);
      else
        body = g_strdup_printf ("%s %s: %s", tag, who, text);
      return line (colour, event->ts, body);
    }
    case HUB_CLIENT_EVENT_TYPING:
      tag = room_tag (colour, event->room, 0);
      who = paint_user (colour, event->user);
      body = g_strdup_printf ("%s %s is typing...", tag, who);
      return line (colour, 0, body);
    case HUB_CLIENT_EVENT_PRESENCE:
      tag = room_tag (colour, event->room, 0);
      who = paint_user (colour, event->user);
      body = g_strdup_printf ("%s * %s %s", tag, who,
                              g_strcmp0 (event->presence, "join") == 0    ? "joined"
                              : g_strcmp0 (event->presence, "leave") == 0 ? "left"
                                                                          : event->presence);
      return line (colour, 0, body);
    case HUB_CLIENT_EVENT_STATUS:
      who = paint_user (colour, event->user);
      body = g_strdup_printf ("* %s is now %s", who, event->status ? event->status : "?");
      return line (colour, 0, body);
    case HUB_CLIENT_EVENT_RESUMED:
      tag = room_tag (colour, event->room, 0);
      if (event->to_seq >= event->from_seq)
        body = g_strdup_printf ("%s * resumed: %" G_GINT64_FORMAT
                                " missed message%s (#%" G_GINT64_FORMAT "-#%" G_GINT64_FORMAT ")%s",
                                tag, event->to_seq - event->from_seq + 1,
                                event->to_seq > event->from_seq ? "s" : "", event->from_seq,
                                event->to_seq, event->complete ? "" : ", older ones were lost");
      else
        body = g_strdup_printf ("%s * resumed: nothing missed", tag);
      return line (colour, 0, body);
    case HUB_CLIENT_EVENT_GAP:
      tag = room_tag (colour, event->room, 0);
      text = g_strdup_printf ("! messages #%" G_GINT64_FORMAT "-#%" G_GINT64_FORMAT " were lost",
                              event->from_seq, event->to_seq);
      who = paint (colour, RED, text);
      body = g_strdup_printf ("%s %s", tag, who);
      return line (colour, 0, body);
    case HUB_CLIENT_EVENT_ERROR:
      return hub_format_error (event->code, event->text, colour);
    case HUB_CLIENT_EVENT_WELCOME: {
      g_autofree char *rooms = join_strings (event->rooms);
      g_autofree char *me = sender (colour, event->user, event->device);
      g_autofree char *msg =
          g_strdup_printf ("* connected to %s as %s%s%s", event->node != NULL ? event->node : "hub",
                           me, rooms[0] != '\0' ? "; rooms: " : "", rooms);

      who = paint (colour, GREEN, msg);
      return line (colour, 0, who);
    }
    case HUB_CLIENT_EVENT_REJOINED:
      tag = room_tag (colour, event->room, 0);
      body = g_strdup_printf ("%s * joined again: the server no longer had this room (restarted?); "
                              "its messages start again after #%" G_GINT64_FORMAT,
                              tag, event->seq);
      who = paint (colour, YELLOW, body);
      return line (colour, 0, who);
    case HUB_CLIENT_EVENT_ROOM_LOST:
      tag = room_tag (colour, event->room, 0);
      text =
          g_strdup_printf ("! you are no longer in this room: %s", event->text != NULL ? event->text
                                                                   : event->code       ? event->code
                                                                                       : "?");
      who = paint (colour, RED, text);
      body = g_strdup_printf ("%s %s", tag, who);
      return line (colour, 0, body);
    case HUB_CLIENT_EVENT_TOKEN_REFRESHED:
      text = hub_format_deadline (event->expires_ts, 0);
      body = g_strdup_printf ("* token refreshed: it %s", text);
      who = paint (colour, GREEN, body);
      return line (colour, 0, who);
    case HUB_CLIENT_EVENT_TOKEN_FAILED:
      /* The old deadline stands (§12): the server closes with 4003 then. */
      text = event->expires_ts > 0 ? hub_format_deadline (event->expires_ts, 0) : NULL;
      body = g_strdup_printf (
          "! token not refreshed: %s%s%s%s%s", event->code != NULL ? event->code : "error",
          event->text != NULL ? ": " : "", event->text != NULL ? event->text : "",
          text != NULL ? "; the connection ends when its token " : "", text != NULL ? text : "");
      who = paint (colour, RED, body);
      return line (colour, 0, who);
    case HUB_CLIENT_EVENT_OTHER:
    default:
      text = event->frame != NULL ? object_compact (event->frame) : g_strdup ("?");
      body = g_strdup_printf ("? %s", text);
      return line (colour, 0, body);
  }
}

/* "in 9 s", "in 41 min", "in 2 h 5 min", "12 s ago". (transfer full) */
static char *
format_in (gint64 ms)
{
  gint64 s = (ms >= 0 ? ms + 999 : -ms) / 1000;
  g_autofree char *span = s < 60 ? g_strdup_printf ("%" G_GINT64_FORMAT " s", s)
                          : s < 3600
                              ? g_strdup_printf ("%" G_GINT64_FORMAT " min", s / 60)
                              : g_strdup_printf ("%" G_GINT64_FORMAT " h %" G_GINT64_FORMAT " min",
                                                 s / 3600, s % 3600 / 60);

  return ms >= 0 ? g_strdup_printf ("in %s", span) : g_strdup_printf ("%s ago", span);
}

char *
hub_format_deadline (gint64 expires_ts, gint64 now_ms)
{
  g_autofree char *at = NULL;
  g_autofree char *in = NULL;

  if (expires_ts <= 0)
    return g_strdup ("does not expire");
  if (now_ms <= 0)
    now_ms = g_get_real_time () / 1000;
  {
    g_autoptr (GDateTime) when = g_date_time_new_from_unix_local (expires_ts / 1000);
    g_autoptr (GDateTime) today = g_date_time_new_from_unix_local (now_ms / 1000);

    /* A time of day alone would read as today's (--secret's tokens last 24 h). */
    at = g_date_time_get_day_of_year (when) == g_date_time_get_day_of_year (today) &&
                 g_date_time_get_year (when) == g_date_time_get_year (today)
             ? hub_format_time (expires_ts)
             : g_date_time_format (when, "%Y-%m-%d %H:%M:%S");
  }
  in = format_in (expires_ts - now_ms);
  return g_strdup_printf ("expires at %s (%s)", at, in);
}

char *
hub_format_connection (HubClient *client, const char *node, gboolean colour)
{
  const char *device = hub_client_get_device (client);
  g_autofree char *deadline = hub_format_deadline (hub_client_get_expires_ts (client), 0);
  g_autofree char *me = sender (colour, hub_client_get_user (client), device);
  g_autofree char *text = g_strdup_printf (
      "* connected to %s as %s, connection %s; token %s", node != NULL ? node : "hub", me,
      hub_client_get_conn (client) != NULL ? hub_client_get_conn (client) : "?", deadline);
  g_autofree char *painted = paint (colour, YELLOW, text);

  return line (colour, 0, painted);
}

const char *
hub_format_close_code (guint code)
{
  switch (code) {
    case 1000:
      return "the server closed the connection";
    case 1001:
      return "the server is shutting down";
    case 1003:
      return "the server refused a binary frame";
    case 1006:
      return "the connection dropped (no close frame: the network or the server went away)";
    case 1007:
      return "the server refused a frame that was not valid UTF-8";
    case 1009:
      return "a message was larger than the server takes";
    case 4000:
      return "no hello in time";
    case 4001:
      return "the user or token was refused";
    case 4002:
      return "the server heard nothing from this client for too long";
    case 4003:
      return "token expired";
    case 4008:
      return "too many requests (rate limit abuse)";
    case 4009:
      return "this client fell too far behind (slow consumer)";
    case 4010:
      return "disconnected by the server";
    default:
      return NULL;
  }
}

/* "the server is shutting down (close code 1001: bye)" from a change whose
 * reason is HubClient's "connection closed (code N[: REASON])". (transfer full) */
static char *
close_text (const HubClientStateChange *change)
{
  const char *known = hub_format_close_code (change->close_code);
  g_autofree char *prefix = g_strdup_printf ("connection closed (code %u: ", change->close_code);
  g_autofree char *said = NULL;

  /* The server's own words, unless they only repeat ours. */
  if (change->close_reason != NULL) {
    if (change->close_reason[0] != '\0' &&
        (known == NULL || g_ascii_strcasecmp (change->close_reason, known) != 0))
      said = g_strdup (change->close_reason);
  } else if (change->reason != NULL && g_str_has_prefix (change->reason, prefix)) {
    said = g_strdup (change->reason + strlen (prefix));
    if (said[0] != '\0' && said[strlen (said) - 1] == ')')
      said[strlen (said) - 1] = '\0';
  }
  if (known == NULL)
    return g_strdup_printf ("connection closed with code %u%s%s", change->close_code,
                            said != NULL ? ": " : "", said != NULL ? said : "");
  return g_strdup_printf ("%s (close code %u%s%s)", known, change->close_code,
                          said != NULL ? ": " : "", said != NULL ? said : "");
}

char *
hub_format_state (const HubClientStateChange *change, const char *url, const char *why,
                  gboolean show_retry, gboolean colour)
{
  g_autofree char *text = NULL;
  g_autofree char *painted = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *retry = NULL;
  gboolean failed_attempt = change->old_state == HUB_CLIENT_CONNECTING && change->close_code == 0;

  if (why != NULL)
    reason = g_strdup (why);
  else if (change->close_code != 0 && change->reason != NULL &&
           g_str_has_prefix (change->reason, "hello refused: "))
    reason = g_strdup_printf ("the server refused the login: %s",
                              change->reason + strlen ("hello refused: "));
  else if (change->close_code != 0)
    reason = close_text (change);
  else
    reason = g_strdup (change->reason != NULL ? change->reason : "connection failed");
  if (change->state == HUB_CLIENT_RECONNECTING)
    retry = show_retry ? g_strdup_printf ("; retry %u in %.1f s", change->attempt,
                                          change->retry_in_ms / 1000.0)
                       : g_strdup ("; reconnecting");
  switch (change->state) {
    case HUB_CLIENT_CONNECTING:
      /* Retries show in the status; only the first attempt is a line. */
      if (change->old_state == HUB_CLIENT_RECONNECTING)
        return NULL;
      text = g_strdup_printf ("* connecting to %s...", url);
      break;
    case HUB_CLIENT_RECONNECTING:
    case HUB_CLIENT_DISCONNECTED:
      if (failed_attempt)
        text = g_strdup_printf ("* cannot connect to %s: %s%s", url, reason, retry ? retry : "");
      else if (change->old_state == HUB_CLIENT_CONNECTED)
        text = g_strdup_printf ("* connection lost: %s%s", reason, retry ? retry : "");
      else
        text = g_strdup_printf ("* %s%s", reason, retry ? retry : "");
      break;
    case HUB_CLIENT_CONNECTED:
    default:
      return NULL;
  }
  painted = paint (colour, change->state == HUB_CLIENT_CONNECTING ? YELLOW : RED, text);
  return line (colour, 0, painted);
}

char *
hub_format_problem (gboolean colour, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;
  g_autofree char *body = NULL;
  g_autofree char *painted = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  body = g_strconcat ("! ", text, NULL);
  painted = paint (colour, RED, body);
  return line (colour, 0, painted);
}

/* "alice (online), bob (away, 2 devices)" from [{"user","status","devices"?}]. */
static char *
members_text (JsonArray *members, gboolean colour)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; members != NULL && i < json_array_get_length (members); i++) {
    JsonNode *node = json_array_get_element (members, i);
    JsonObject *member;
    gint64 devices;
    g_autofree char *who = NULL;

    if (!JSON_NODE_HOLDS_OBJECT (node))
      continue;
    member = json_node_get_object (node);
    devices = int_member (member, "devices", -1);
    who = paint_user (colour, string_member (member, "user"));
    g_string_append_printf (s, "%s%s (%s", s->len > 0 ? ", " : "", who,
                            string_member (member, "status") ? string_member (member, "status")
                                                             : "?");
    if (devices >= 0)
      g_string_append_printf (s, ", %" G_GINT64_FORMAT " device%s", devices,
                              devices == 1 ? "" : "s");
    g_string_append_c (s, ')');
  }
  return g_string_free (s, FALSE);
}

char *
hub_format_reply (const char *type, const char *request_room, JsonObject *reply, gboolean colour)
{
  const char *room =
      string_member (reply, "room") != NULL ? string_member (reply, "room") : request_room;

  if (g_strcmp0 (string_member (reply, "type"), "pong") == 0)
    return hub_format_info (colour, "pong");
  if (strcmp (type, "publish") == 0 || strcmp (type, "typing") == 0)
    return NULL;
  if (strcmp (type, "join") == 0) {
    JsonArray *members = array_member (reply, "members");
    g_autofree char *list = members_text (members, colour);

    return hub_format_info (colour, "joined %s (%u member%s: %s)", room ? room : "?",
                            members ? json_array_get_length (members) : 0,
                            members && json_array_get_length (members) == 1 ? "" : "s", list);
  }
  if (strcmp (type, "leave") == 0)
    return hub_format_info (colour, "left %s", room ? room : "?");
  if (strcmp (type, "rooms") == 0) {
    JsonArray *rooms = array_member (reply, "rooms");
    GString *s = g_string_new (NULL);
    g_autofree char *list = NULL;

    for (guint i = 0; rooms != NULL && i < json_array_get_length (rooms); i++) {
      JsonNode *node = json_array_get_element (rooms, i);
      JsonObject *r;
      gint64 n;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      r = json_node_get_object (node);
      n = int_member (r, "members", 0);
      g_string_append_printf (s, "%s%s (%" G_GINT64_FORMAT " member%s, #%" G_GINT64_FORMAT ")",
                              s->len > 0 ? ", " : "", string_member (r, "room"), n,
                              n == 1 ? "" : "s", int_member (r, "seq", 0));
    }
    list = g_string_free (s, FALSE);
    return list[0] != '\0' ? hub_format_info (colour, "rooms: %s", list)
                           : hub_format_info (colour, "you are in no room");
  }
  if (strcmp (type, "room_info") == 0) {
    gint64 created = int_member (reply, "created_ts", 0);
    g_autoptr (GDateTime) when = g_date_time_new_from_unix_local (created / 1000);
    g_autofree char *date = g_date_time_format (when, "%Y-%m-%d %H:%M:%S");

    gint64 members = int_member (reply, "members", 0), messages = int_member (reply, "messages", 0);

    return hub_format_info (
        colour,
        "%s \"%s\": created %s, %" G_GINT64_FORMAT " member%s, %" G_GINT64_FORMAT
        " message%s stored, seq %" G_GINT64_FORMAT,
        room ? room : "?", string_member (reply, "name"), date, members, members == 1 ? "" : "s",
        messages, messages == 1 ? "" : "s", int_member (reply, "seq", 0));
  }
  if (strcmp (type, "who") == 0) {
    g_autofree char *list = members_text (array_member (reply, "members"), colour);

    return hub_format_info (colour, "%s: %s", room ? room : "members", list[0] ? list : "nobody");
  }
  if (strcmp (type, "direct") == 0 || strcmp (type, "broadcast") == 0)
    return hub_format_info (colour, "delivered to %" G_GINT64_FORMAT " connection%s",
                            int_member (reply, "delivered", 0),
                            int_member (reply, "delivered", 0) == 1 ? "" : "s");
  if (strcmp (type, "multicast") == 0) {
    g_autofree char *offline = join_strings (array_member (reply, "offline"));

    return hub_format_info (colour, "delivered to %" G_GINT64_FORMAT " connection%s%s%s",
                            int_member (reply, "delivered", 0),
                            int_member (reply, "delivered", 0) == 1 ? "" : "s",
                            offline[0] ? "; offline: " : "", offline);
  }
  if (strcmp (type, "status") == 0)
    return hub_format_info (colour, "status set");
  if (strcmp (type, "subscribe") == 0) {
    JsonObject *statuses = object_member (reply, "statuses");
    GString *s = g_string_new (NULL);
    g_autofree char *list = NULL;
    JsonObjectIter iter;
    const char *user;
    JsonNode *value;

    if (statuses != NULL) {
      json_object_iter_init (&iter, statuses);
      while (json_object_iter_next (&iter, &user, &value))
        g_string_append_printf (s, "%s%s %s", s->len > 0 ? ", " : "", user,
                                JSON_NODE_HOLDS_VALUE (value) &&
                                        json_node_get_value_type (value) == G_TYPE_STRING
                                    ? json_node_get_string (value)
                                    : "?");
    }
    list = g_string_free (s, FALSE);
    return hub_format_info (colour, "subscribed: %s", list);
  }
  if (strcmp (type, "unsubscribe") == 0)
    return hub_format_info (colour, "unsubscribed");
  if (strcmp (type, "online") == 0) {
    g_autofree char *list = join_strings (array_member (reply, "users"));

    return hub_format_info (colour, "online (%" G_GINT64_FORMAT "): %s",
                            int_member (reply, "count", 0), list);
  }
  if (strcmp (type, "history") == 0) {
    JsonArray *messages = array_member (reply, "messages");
    GString *s = g_string_new (NULL);
    JsonNode *complete = json_object_get_member (reply, "complete");

    for (guint i = 0; messages != NULL && i < json_array_get_length (messages); i++) {
      JsonNode *node = json_array_get_element (messages, i);
      g_autofree char *one = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      one = hub_format_message (json_node_get_object (node), colour);
      g_string_append_printf (s, "%s%s", s->len > 0 ? "\n" : "", one);
    }
    if (s->len == 0) {
      g_autofree char *none = hub_format_info (colour, "no messages");

      g_string_append (s, none);
    }
    if (complete != NULL && JSON_NODE_HOLDS_VALUE (complete) && !json_node_get_boolean (complete)) {
      g_autofree char *older = hub_format_info (colour, "(older messages are no longer stored)");

      g_string_append_printf (s, "\n%s", older);
    }
    return g_string_free (s, FALSE);
  }
  {
    g_autofree char *text = object_compact (reply);

    return hub_format_info (colour, "%s", text);
  }
}

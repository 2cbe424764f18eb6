/* hub-commands.c: parsing hub-client's command lines and mapping each
 * command to the PROTOCOL.md request it sends. */
#include "hub-commands.h"

#include <string.h>

G_DEFINE_QUARK (hub - command - error - quark, hub_command_error)

typedef struct {
  const char *name;
  HubCommandKind kind;
  const char *usage; /* arguments, for the help and usage errors */
  const char *help;
  /* What each argument is, for completion: r room, u user, U users joined
   * by commas, s status, - anything else; the last letter repeats when
   * doubled ("uu": any number of users). */
  const char *args;
} CommandSpec;

static const CommandSpec specs[] = {
    {"join", HUB_COMMAND_JOIN, "ROOM [TOKEN]",
     "join ROOM (created if missing) and make it current; TOKEN: a room token", "r-"},
    {"leave", HUB_COMMAND_LEAVE, "ROOM", "leave ROOM", "r"},
    {"room", HUB_COMMAND_ROOM, "ROOM", "switch the current room (where plain lines go)", "r"},
    {"rooms", HUB_COMMAND_ROOMS, "", "the rooms you are a member of", ""},
    {"who", HUB_COMMAND_WHO, "[ROOM]", "members of ROOM (default: current) and their status", "r"},
    {"info", HUB_COMMAND_INFO, "[ROOM]", "ROOM's name, creation time, members, messages, seq", "r"},
    {"msg", HUB_COMMAND_MSG, "USER TEXT", "direct message to every device of USER", "u"},
    {"multi", HUB_COMMAND_MULTI, "U1,U2 TEXT", "the same message to several users", "U"},
    {"broadcast", HUB_COMMAND_BROADCAST, "TEXT", "a message to everyone connected (admin)", ""},
    {"status", HUB_COMMAND_STATUS, "online|away|busy|offline",
     "set your status (offline: invisible)", "s"},
    {"sub", HUB_COMMAND_SUB, "USER...", "follow the status of users", "uu"},
    {"unsub", HUB_COMMAND_UNSUB, "USER...", "stop following them", "uu"},
    {"online", HUB_COMMAND_ONLINE, "", "who is online", ""},
    {"history", HUB_COMMAND_HISTORY, "[N]",
     "the last N (1-100) messages of the current room (default 20)", ""},
    {"typing", HUB_COMMAND_TYPING, "", "tell the current room you are typing", ""},
    {"raw", HUB_COMMAND_RAW, "JSON", "send any frame (an id is added when it has none)", ""},
    {"stats", HUB_COMMAND_STATS, "", "the server's /api/stats", ""},
    {"refresh", HUB_COMMAND_REFRESH, "", "get a fresh token now and send it (refresh)", ""},
    {"quit", HUB_COMMAND_QUIT, "", "leave hub-client", ""},
    {"help", HUB_COMMAND_HELP, "", "this help", ""},
};

static const char *const statuses[] = {"online", "away", "busy", "offline", NULL};

void
hub_command_free (HubCommand *command)
{
  if (command == NULL)
    return;
  g_free (command->room);
  g_free (command->token);
  g_free (command->user);
  g_free (command->text);
  g_strfreev (command->users);
  g_free (command->status);
  g_clear_pointer (&command->raw, json_object_unref);
  g_free (command);
}

static const CommandSpec *
spec_of (HubCommandKind kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    if (specs[i].kind == kind)
      return &specs[i];
  }
  return NULL;
}

static gboolean
usage (GError **error, HubCommandKind kind)
{
  const CommandSpec *spec = spec_of (kind);

  g_set_error (error, HUB_COMMAND_ERROR, HUB_COMMAND_ERROR_USAGE, "usage: /%s%s%s", spec->name,
               spec->usage[0] != '\0' ? " " : "", spec->usage);
  return FALSE;
}

/* Splits off the first word of *@rest (spaces around it skipped); NULL when none. */
static char *
next_word (const char **rest)
{
  const char *p = *rest, *start;

  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '\0') {
    *rest = p;
    return NULL;
  }
  start = p;
  while (*p != '\0' && *p != ' ' && *p != '\t')
    p++;
  *rest = p;
  return g_strndup (start, p - start);
}

static const char *
skip_blanks (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* The remaining words as a vector; empty words are dropped. */
static GStrv
words (const char *rest, const char *separators)
{
  g_auto (GStrv) parts = g_strsplit_set (rest, separators, -1);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; parts[i] != NULL; i++) {
    if (parts[i][0] != '\0')
      g_ptr_array_add (out, g_strdup (parts[i]));
  }
  g_ptr_array_add (out, NULL);
  return (GStrv)g_ptr_array_free (out, FALSE);
}

static gboolean
parse_args (HubCommand *command, const char *rest, GError **error)
{
  g_autofree char *first = NULL;
  g_autofree char *extra = NULL;

  switch (command->kind) {
    case HUB_COMMAND_JOIN:
      command->room = next_word (&rest);
      command->token = next_word (&rest);
      extra = next_word (&rest);
      if (command->room == NULL || extra != NULL)
        return usage (error, command->kind);
      return TRUE;
    case HUB_COMMAND_LEAVE:
    case HUB_COMMAND_ROOM:
      command->room = next_word (&rest);
      extra = next_word (&rest);
      if (command->room == NULL || extra != NULL)
        return usage (error, command->kind);
      return TRUE;
    case HUB_COMMAND_WHO:
    case HUB_COMMAND_INFO:
      command->room = next_word (&rest);
      extra = next_word (&rest);
      if (extra != NULL)
        return usage (error, command->kind);
      return TRUE;
    case HUB_COMMAND_MSG:
    case HUB_COMMAND_MULTI:
      first = next_word (&rest);
      rest = skip_blanks (rest);
      if (first == NULL || rest[0] == '\0')
        return usage (error, command->kind);
      command->text = g_strdup (rest);
      if (command->kind == HUB_COMMAND_MSG) {
        command->user = g_steal_pointer (&first);
      } else {
        command->users = words (first, ",");
        if (command->users[0] == NULL)
          return usage (error, command->kind);
      }
      return TRUE;
    case HUB_COMMAND_BROADCAST:
      rest = skip_blanks (rest);
      if (rest[0] == '\0')
        return usage (error, command->kind);
      command->text = g_strdup (rest);
      return TRUE;
    case HUB_COMMAND_STATUS:
      command->status = next_word (&rest);
      extra = next_word (&rest);
      if (command->status == NULL || extra != NULL || !g_strv_contains (statuses, command->status))
        return usage (error, command->kind);
      return TRUE;
    case HUB_COMMAND_SUB:
    case HUB_COMMAND_UNSUB:
      command->users = words (rest, " \t,");
      if (command->users[0] == NULL)
        return usage (error, command->kind);
      return TRUE;
    case HUB_COMMAND_HISTORY: {
      char *end = NULL;

      first = next_word (&rest);
      extra = next_word (&rest);
      command->count = HUB_COMMAND_HISTORY_DEFAULT;
      if (extra != NULL)
        return usage (error, command->kind);
      if (first != NULL) {
        command->count = g_ascii_strtoll (first, &end, 10);
        if (*end != '\0')
          return usage (error, command->kind);
        /* §6: a history request returns at most 100 messages. */
        if (command->count < 1 || command->count > HUB_COMMAND_HISTORY_MAX) {
          g_set_error (error, HUB_COMMAND_ERROR, HUB_COMMAND_ERROR_USAGE,
                       "/history N: N from 1 to %d (the server sends at most %d messages at "
                       "a time)",
                       HUB_COMMAND_HISTORY_MAX, HUB_COMMAND_HISTORY_MAX);
          return FALSE;
        }
      }
      return TRUE;
    }
    case HUB_COMMAND_RAW: {
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonNode *root;

      rest = skip_blanks (rest);
      if (rest[0] == '\0' || !json_parser_load_from_data (parser, rest, -1, NULL) ||
          (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
        g_set_error (error, HUB_COMMAND_ERROR, HUB_COMMAND_ERROR_USAGE,
                     "usage: /raw JSON (a JSON object, e.g. /raw {\"type\":\"ping\"})");
        return FALSE;
      }
      command->raw = json_object_ref (json_node_get_object (root));
      command->text = g_strdup (rest);
      return TRUE;
    }
    default:
      /* Commands without arguments. */
      extra = next_word (&rest);
      if (extra != NULL)
        return usage (error, command->kind);
      return TRUE;
  }
}

HubCommand *
hub_command_parse (const char *line, GError **error)
{
  g_autoptr (HubCommand) command = g_new0 (HubCommand, 1);
  g_autofree char *name = NULL;
  const char *rest = line;

  if (line[0] != '/' || line[1] == '/') {
    const char *text = line[0] == '/' ? line + 1 : line;

    /* A line of blanks says nothing; any other text is kept as typed. */
    command->kind = text[strspn (text, " \t\r")] == '\0' ? HUB_COMMAND_EMPTY : HUB_COMMAND_SAY;
    if (command->kind == HUB_COMMAND_SAY)
      command->text = g_strdup (text);
    return g_steal_pointer (&command);
  }
  rest = line + 1;
  name = next_word (&rest);
  if (name == NULL) {
    g_set_error (error, HUB_COMMAND_ERROR, HUB_COMMAND_ERROR_UNKNOWN, "empty command (try /help)");
    return NULL;
  }
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    if (strcmp (specs[i].name, name) == 0) {
      command->kind = specs[i].kind;
      if (!parse_args (command, rest, error))
        return NULL;
      return g_steal_pointer (&command);
    }
  }
  g_set_error (error, HUB_COMMAND_ERROR, HUB_COMMAND_ERROR_UNKNOWN,
               "unknown command /%s (try /help)", name);
  return NULL;
}

static JsonObject *
text_payload (const char *text)
{
  JsonObject *payload = json_object_new ();

  json_object_set_string_member (payload, "text", text);
  return payload;
}

static JsonArray *
string_array (const GStrv strv)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);
  return array;
}

const char *
hub_command_target_room (const HubCommand *command, const char *current_room)
{
  switch (command->kind) {
    case HUB_COMMAND_JOIN:
    case HUB_COMMAND_LEAVE:
    case HUB_COMMAND_ROOM:
      return command->room;
    case HUB_COMMAND_WHO:
    case HUB_COMMAND_INFO:
      return command->room != NULL ? command->room : current_room;
    case HUB_COMMAND_SAY:
    case HUB_COMMAND_HISTORY:
    case HUB_COMMAND_TYPING:
      return current_room;
    default:
      return NULL;
  }
}

gboolean
hub_command_request (const HubCommand *command, const char *current_room, gint64 last_seq,
                     char **type, JsonObject **fields, GError **error)
{
  g_autoptr (JsonObject) f = json_object_new ();
  const char *t = NULL;
  const char *room = hub_command_target_room (command, current_room);
  gboolean needs_room = FALSE;

  *type = NULL;
  *fields = NULL;
  switch (command->kind) {
    case HUB_COMMAND_SAY:
      t = "publish";
      needs_room = TRUE;
      json_object_set_object_member (f, "payload", text_payload (command->text));
      break;
    case HUB_COMMAND_JOIN:
      t = "join";
      if (command->token != NULL)
        json_object_set_string_member (f, "token", command->token);
      break;
    case HUB_COMMAND_LEAVE:
      t = "leave";
      break;
    case HUB_COMMAND_ROOMS:
      t = "rooms";
      break;
    case HUB_COMMAND_WHO:
      t = "who";
      needs_room = TRUE;
      break;
    case HUB_COMMAND_INFO:
      t = "room_info";
      needs_room = TRUE;
      break;
    case HUB_COMMAND_MSG:
      t = "direct";
      json_object_set_string_member (f, "to", command->user);
      json_object_set_object_member (f, "payload", text_payload (command->text));
      break;
    case HUB_COMMAND_MULTI:
      t = "multicast";
      json_object_set_array_member (f, "to", string_array (command->users));
      json_object_set_object_member (f, "payload", text_payload (command->text));
      break;
    case HUB_COMMAND_BROADCAST:
      t = "broadcast";
      json_object_set_object_member (f, "payload", text_payload (command->text));
      break;
    case HUB_COMMAND_STATUS:
      t = "status";
      json_object_set_string_member (f, "status", command->status);
      break;
    case HUB_COMMAND_SUB:
    case HUB_COMMAND_UNSUB:
      t = command->kind == HUB_COMMAND_SUB ? "subscribe" : "unsubscribe";
      json_object_set_array_member (f, "users", string_array (command->users));
      break;
    case HUB_COMMAND_ONLINE:
      t = "online";
      break;
    case HUB_COMMAND_HISTORY:
      t = "history";
      needs_room = TRUE;
      json_object_set_int_member (f, "since",
                                  last_seq > command->count ? last_seq - command->count : 0);
      json_object_set_int_member (f, "limit", command->count);
      break;
    case HUB_COMMAND_TYPING:
      t = "typing";
      needs_room = TRUE;
      break;
    case HUB_COMMAND_RAW: {
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;
      JsonNode *type_node = json_object_get_member (command->raw, "type");

      if (type_node == NULL || !JSON_NODE_HOLDS_VALUE (type_node) ||
          json_node_get_value_type (type_node) != G_TYPE_STRING) {
        /* Not a request we can number: the caller sends the text as it is. */
        *type = NULL;
        return FALSE;
      }
      t = json_node_get_string (type_node);
      json_object_iter_init (&iter, command->raw);
      while (json_object_iter_next (&iter, &name, &value))
        json_object_set_member (f, name, json_node_copy (value));
      break;
    }
    default:
      return FALSE;
  }
  if (needs_room && room == NULL) {
    g_set_error (error, HUB_COMMAND_ERROR, HUB_COMMAND_ERROR_NO_ROOM,
                 "no current room: /join ROOM first");
    return FALSE;
  }
  if (room != NULL && command->kind != HUB_COMMAND_RAW)
    json_object_set_string_member (f, "room", room);
  *type = g_strdup (t);
  *fields = g_steal_pointer (&f);
  return TRUE;
}

const char *const *
hub_command_names (void)
{
  static const char *names[G_N_ELEMENTS (specs) + 1];

  if (names[0] == NULL) {
    for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
      names[i] = specs[i].name;
  }
  return names;
}

HubCommandArg
hub_command_arg (const char *name, guint index)
{
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    const char *args = specs[i].args;
    gsize n = strlen (args);
    char letter;

    if (strcmp (specs[i].name, name) != 0)
      continue;
    if (index < n)
      letter = args[index];
    else if (n >= 2 && args[n - 1] == args[n - 2])
      letter = args[n - 1];
    else
      return HUB_COMMAND_ARG_OTHER;
    switch (letter) {
      case 'r':
        return HUB_COMMAND_ARG_ROOM;
      case 'u':
        return HUB_COMMAND_ARG_USER;
      case 'U':
        return HUB_COMMAND_ARG_USERS;
      case 's':
        return HUB_COMMAND_ARG_STATUS;
      default:
        return HUB_COMMAND_ARG_OTHER;
    }
  }
  return HUB_COMMAND_ARG_OTHER;
}

const char *const *
hub_command_statuses (void)
{
  return statuses;
}

const char *
hub_command_help (void)
{
  static char *help;

  if (help == NULL) {
    GString *s = g_string_new (NULL);

    for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
      g_autofree char *left = g_strdup_printf ("/%s %s", specs[i].name, specs[i].usage);

      g_string_append_printf (s, "  %-36s %s\n", left, specs[i].help);
    }
    g_string_append (s, "  TEXT                                 publish {\"text\": TEXT} to the "
                        "current room (//TEXT for a line starting with /)\n");
    help = g_string_free (s, FALSE);
  }
  return help;
}

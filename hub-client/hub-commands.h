/* hub-commands.h: hub-client's command language, shared by the interactive
 * and the batch modes: one line in, one HubCommand out, and the request a
 * command sends. Pure functions: no I/O, unit-tested. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
  HUB_COMMAND_EMPTY, /* blank line: nothing to do */
  HUB_COMMAND_SAY,   /* a plain line: publish {"text"} to the current room */
  HUB_COMMAND_JOIN,
  HUB_COMMAND_LEAVE,
  HUB_COMMAND_ROOM, /* switch the current room (local) */
  HUB_COMMAND_ROOMS,
  HUB_COMMAND_WHO,
  HUB_COMMAND_INFO,
  HUB_COMMAND_MSG,
  HUB_COMMAND_MULTI,
  HUB_COMMAND_BROADCAST,
  HUB_COMMAND_STATUS,
  HUB_COMMAND_SUB,
  HUB_COMMAND_UNSUB,
  HUB_COMMAND_ONLINE,
  HUB_COMMAND_HISTORY,
  HUB_COMMAND_TYPING,
  HUB_COMMAND_RAW,
  HUB_COMMAND_STATS,   /* HTTP GET /api/stats (local) */
  HUB_COMMAND_REFRESH, /* a fresh token now (§12): hub-session.c, no request of its own */
  HUB_COMMAND_QUIT,
  HUB_COMMAND_HELP,
} HubCommandKind;

#define HUB_COMMAND_HISTORY_DEFAULT 20
/* §6: `history`'s limit is clamped to 100. */
#define HUB_COMMAND_HISTORY_MAX 100

typedef struct {
  HubCommandKind kind;
  char *room;      /* (owned) (nullable) JOIN LEAVE ROOM; WHO INFO (NULL: current room) */
  char *token;     /* (owned) (nullable) JOIN: a room token (§12) */
  char *user;      /* (owned) MSG */
  char *text;      /* (owned) SAY MSG MULTI BROADCAST; RAW: the JSON as typed */
  GStrv users;     /* (owned) MULTI SUB UNSUB */
  char *status;    /* (owned) STATUS */
  gint64 count;    /* HISTORY */
  JsonObject *raw; /* (owned) RAW: the parsed object */
} HubCommand;

#define HUB_COMMAND_ERROR (hub_command_error_quark ())
GQuark hub_command_error_quark (void);

typedef enum {
  HUB_COMMAND_ERROR_UNKNOWN, /* no such command */
  HUB_COMMAND_ERROR_USAGE,   /* wrong arguments */
  HUB_COMMAND_ERROR_NO_ROOM, /* needs a current room and there is none */
} HubCommandError;

/* Parses one line (no newline). Lines starting with "/" are commands ("//x"
 * says "/x"); others are SAY. NULL with @error (HUB_COMMAND_ERROR, message
 * with the command's usage) when malformed. (transfer full) */
HubCommand *hub_command_parse (const char *line, GError **error);
void hub_command_free (HubCommand *command);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubCommand, hub_command_free)

/* The request @command sends: its type and fields (transfer full). FALSE with
 * no error for local commands (ROOM, STATS, QUIT, HELP, EMPTY) and REFRESH
 * (which HubClient sends); FALSE with
 * @error HUB_COMMAND_ERROR_NO_ROOM when it needs @current_room (nullable) and
 * there is none. @last_seq is the last seq seen of the room (-1: unknown), for
 * HISTORY's `since`. */
gboolean hub_command_request (const HubCommand *command, const char *current_room, gint64 last_seq,
                              char **type, JsonObject **fields, GError **error);

/* The room a command acts on (JOIN, LEAVE, or the current room), or NULL. (transfer none) */
const char *hub_command_target_room (const HubCommand *command, const char *current_room);

/* The help text: one line per command. (transfer none) */
const char *hub_command_help (void);

/* The command names, without '/', NULL-terminated. (transfer none) */
const char *const *hub_command_names (void);
/* The values a status takes, NULL-terminated. (transfer none) */
const char *const *hub_command_statuses (void);

typedef enum {
  HUB_COMMAND_ARG_OTHER,  /* text, a number, JSON, or nothing */
  HUB_COMMAND_ARG_ROOM,   /* a room id */
  HUB_COMMAND_ARG_USER,   /* a user id */
  HUB_COMMAND_ARG_USERS,  /* user ids joined by commas */
  HUB_COMMAND_ARG_STATUS, /* online, away, busy, offline */
} HubCommandArg;

/* What argument @index (0: the first after the command) of /@name is. */
HubCommandArg hub_command_arg (const char *name, guint index);

G_END_DECLS

/* hub-mint.c: `hub-client token`: a JWT for testing, minted with libhub's
 * hub_auth_mint_claims from the server's secret, after checking every option
 * the way the server would check the token (names, the `rooms` claim's
 * patterns and letters, `allow`'s letters), so that a mistake shows here in
 * one line rather than as a refused hello later. */
#include "hub-mint.h"

#include <hub/hub.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

static gboolean bad (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
bad (GError **error, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (error,
                     g_error_new_valist (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, format, args));
  va_end (args);
  return FALSE;
}

/* Adds the `rooms` claim: a JSON object the server would accept (§12). */
static gboolean
add_rooms (JsonObject *claims, const char *json, const char *user, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (JsonNode) node = json_from_string (json, &local);
  g_autoptr (HubRoomPerms) perms = NULL;

  if (node == NULL)
    return bad (error, "--rooms: not JSON (%s); e.g. --rooms '{\"team.*\":\"jpc\"}'",
                local != NULL ? local->message : "empty");
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return bad (error, "--rooms: a JSON object of pattern: letters, e.g. '{\"team.*\":\"jpc\"}'");
  perms = hub_room_perms_parse (node, user, &local);
  if (perms == NULL)
    return bad (error, "--rooms: %s", local->message);
  json_object_set_member (claims, "rooms", g_steal_pointer (&node));
  return TRUE;
}

/* Every option as the server will see the token (§2, §12). */
static gboolean
check (const HubMintOptions *o, GError **error)
{
  guint letters;

  if (o->secret == NULL || o->secret_len == 0)
    return bad (error, "--secret (or --secret-file) is required and may not be empty");
  if (o->user == NULL)
    return bad (error, "--user NAME is required (the token's subject)");
  if (!hub_name_is_valid (o->user))
    return bad (error,
                "--user: '%s' is not a valid name (1-64 of A-Z a-z 0-9 _ . @ -, not starting "
                "with @)",
                o->user);
  if (o->ttl_s <= 0 || o->ttl_s > HUB_MINT_MAX_TTL_S)
    return bad (error,
                "--ttl: seconds from 1 to %" G_GINT64_FORMAT " (ten years), got %" G_GINT64_FORMAT,
                HUB_MINT_MAX_TTL_S, o->ttl_s);
  if (o->room == NULL) {
    if (o->allow != NULL)
      return bad (error, "--allow needs --room (it is a room token's letters)");
    return TRUE;
  }
  if (o->rooms_json != NULL || o->admin)
    return bad (error, "--rooms and --admin are for connection tokens, not with --room");
  if (!hub_name_is_valid (o->room))
    return bad (error, "--room: '%s' is not a valid room id", o->room);
  if (o->allow != NULL && !hub_perm_from_letters (o->allow, &letters))
    return bad (error, "--allow: letters from j (join), p (publish), c (create), got '%s'",
                o->allow);
  return TRUE;
}

char *
hub_mint_token (const HubMintOptions *o, gint64 now_unix_s, GError **error)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  if (!check (o, error))
    return NULL;
  json_object_set_string_member (claims, "sub", o->user);
  json_object_set_int_member (claims, "exp", now_unix_s + o->ttl_s);
  if (o->room != NULL) {
    /* A room token (§12): sub, room, allow, exp; nothing of a connection's. */
    json_object_set_string_member (claims, "room", o->room);
    if (o->allow != NULL)
      json_object_set_string_member (claims, "allow", o->allow);
  } else {
    if (o->rooms_json != NULL && !add_rooms (claims, o->rooms_json, o->user, error))
      return NULL;
    if (o->admin)
      json_object_set_boolean_member (claims, "admin", TRUE);
  }
  return hub_auth_mint_claims (o->secret, o->secret_len, claims);
}

/* The secret of --secret-file, as hub-server reads it: trailing newlines removed. */
static char *
read_secret (const char *path, gsize *len, GError **error)
{
  g_autoptr (GError) local = NULL;
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, len, &local)) {
    bad (error, "--secret-file: %s", local->message);
    return NULL;
  }
  while (*len > 0 && (contents[*len - 1] == '\n' || contents[*len - 1] == '\r'))
    contents[--*len] = '\0';
  if (*len == 0) {
    g_free (contents);
    bad (error, "--secret-file: '%s' is empty", path);
    return NULL;
  }
  return contents;
}

int
hub_mint_main (int argc, char **argv)
{
  g_autofree char *secret = NULL;
  g_autofree char *secret_file = NULL;
  g_autofree char *user = NULL;
  g_autofree char *rooms = NULL;
  g_autofree char *room = NULL;
  g_autofree char *allow = NULL;
  g_autofree char *file_secret = NULL;
  gboolean admin = FALSE;
  gint64 ttl = HUB_MINT_DEFAULT_TTL_S;
  GOptionEntry entries[] = {
      {"secret", 's', 0, G_OPTION_ARG_STRING, &secret, "The server's secret", "S"},
      {"secret-file", 0, 0, G_OPTION_ARG_FILENAME, &secret_file,
       "Read the secret from FILE (trailing newlines removed, as hub-server does)", "FILE"},
      {"user", 'u', 0, G_OPTION_ARG_STRING, &user, "The user (`sub`)", "NAME"},
      {"rooms", 0, 0, G_OPTION_ARG_STRING, &rooms,
       "The `rooms` claim: a JSON object of pattern: letters (j join, p publish, c create)",
       "JSON"},
      {"admin", 0, 0, G_OPTION_ARG_NONE, &admin, "`admin: true` (may broadcast; every room)", NULL},
      {"ttl", 0, 0, G_OPTION_ARG_INT64, &ttl, "Lifetime in seconds (default 3600)", "S"},
      {"room", 0, 0, G_OPTION_ARG_STRING, &room, "Mint a room token for joining ROOM instead",
       "ROOM"},
      {"allow", 0, 0, G_OPTION_ARG_STRING, &allow, "With --room: the grant's letters (default jp)",
       "LETTERS"},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- mint a token for testing");
  g_autoptr (GError) error = NULL;
  g_autofree char *token = NULL;
  HubMintOptions options = {0};

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (
      context, "Prints a JWT signed with the server's secret (HS256), for hub-client --token,\n"
               "--token-file or an application's tests. The secret is never printed.");
  g_option_context_set_description (
      context, "Examples:\n"
               "  hub-client token --secret-file secret --user alice --rooms "
               "'{\"team.*\":\"jpc\",\"lobby\":\"j\"}'\n"
               "  hub-client token --secret-file secret --user bob --room vault --allow jp\n"
               "See docs/hub-client.md.\n");
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("hub-client token: %s\n", error->message);
    return 2;
  }
  if (argc > 1) {
    g_printerr ("hub-client token: unexpected argument '%s' (hub-client token --help)\n", argv[1]);
    return 2;
  }
  if (secret != NULL && secret_file != NULL) {
    g_printerr ("hub-client token: --secret and --secret-file exclude each other\n");
    return 2;
  }
  if (secret_file != NULL) {
    file_secret = read_secret (secret_file, &options.secret_len, &error);
    if (file_secret == NULL) {
      g_printerr ("hub-client token: %s\n", error->message);
      return 2;
    }
    options.secret = file_secret;
  } else if (secret != NULL) {
    options.secret = secret;
    options.secret_len = strlen (secret);
  }
  options.user = user;
  options.rooms_json = rooms;
  options.admin = admin;
  options.ttl_s = ttl;
  options.room = room;
  options.allow = allow;
  token = hub_mint_token (&options, g_get_real_time () / G_USEC_PER_SEC, &error);
  if (file_secret != NULL)
    memset (file_secret, 0, options.secret_len);
  if (token == NULL) {
    g_printerr ("hub-client token: %s\n", error->message);
    return 2;
  }
  printf ("%s\n", token);
  return 0;
}

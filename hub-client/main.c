/* main.c: hub-client's options, then the interactive mode (stdin is a
 * terminal) or the batch mode (a pipe, a file, or --batch); or, first
 * word `token`, the token minter (hub-mint.h). */
#include <hub/hub.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "hub-batch.h"
#include "hub-mint.h"
#include "hub-token-source.h"
#include "hub-tty.h"

#define DEFAULT_URL "ws://127.0.0.1:8080/ws"

typedef struct {
  char *user, *device, *token, *secret, *wait_for, *ca_file, *token_file, *token_command;
  gboolean admin, batch, json, interactive, insecure, no_reconnect, version;
  double timeout_s;
  char **room_tokens;
  char **rest;
} Options;

static void
options_clear (Options *o)
{
  g_free (o->user);
  g_free (o->device);
  g_free (o->token);
  g_free (o->secret);
  g_free (o->wait_for);
  g_free (o->ca_file);
  g_free (o->token_file);
  g_free (o->token_command);
  g_strfreev (o->room_tokens);
  g_strfreev (o->rest);
}

/* One line, as other command-line tools do; --help has the rest. */
static int
usage_error (GOptionContext *context, const char *message)
{
  g_printerr ("hub-client: %s (hub-client --help lists the options)\n", message);
  return HUB_EXIT_USAGE;
}

int
main (int argc, char **argv)
{
  Options o = {0};
  GOptionEntry entries[] = {
      {"user", 'u', 0, G_OPTION_ARG_STRING, &o.user, "User name (required without --token)",
       "NAME"},
      {"device", 'd', 0, G_OPTION_ARG_STRING, &o.device, "Device label (server default: default)",
       "LABEL"},
      {"token", 't', 0, G_OPTION_ARG_STRING, &o.token, "JWT for a server started with a secret",
       "JWT"},
      {"secret", 's', 0, G_OPTION_ARG_STRING, &o.secret,
       "Mint the token from the server's secret (development)", "S"},
      {"admin", 0, 0, G_OPTION_ARG_NONE, &o.admin, "With --secret: a token allowed to broadcast",
       NULL},
      {"token-file", 0, 0, G_OPTION_ARG_FILENAME, &o.token_file,
       "Read the token from FILE, again for each refresh and reconnect", "FILE"},
      {"token-command", 0, 0, G_OPTION_ARG_STRING, &o.token_command,
       "Run CMD for each token (its stdout is the token; at most 10 s)", "CMD"},
      {"room-token", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.room_tokens,
       "A room token, used by /join of its room (repeatable)", "JWT"},
      {"batch", 'b', 0, G_OPTION_ARG_NONE, &o.batch,
       "Scriptable mode even on a terminal (default when stdin is not a terminal)", NULL},
      {"interactive", 'i', 0, G_OPTION_ARG_NONE, &o.interactive,
       "Interactive mode even when stdin is not a terminal", NULL},
      {"json", 'j', 0, G_OPTION_ARG_NONE, &o.json,
       "Batch: print every received frame as a JSON line", NULL},
      {"wait-for", 'w', 0, G_OPTION_ARG_STRING, &o.wait_for,
       "Batch: after the commands, wait for a frame containing this JSON object, then exit 0",
       "JSON"},
      {"timeout", 'T', 0, G_OPTION_ARG_DOUBLE, &o.timeout_s,
       "Batch: give up after S seconds (exit 4)", "S"},
      {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &o.ca_file, "wss: trust this PEM CA bundle", "FILE"},
      {"insecure", 'k', 0, G_OPTION_ARG_NONE, &o.insecure,
       "wss: accept any certificate (self-signed test servers)", NULL},
      {"no-reconnect", 0, 0, G_OPTION_ARG_NONE, &o.no_reconnect,
       "Do not reconnect when the connection is lost", NULL},
      {"version", 'V', 0, G_OPTION_ARG_NONE, &o.version, "Print the version and exit", NULL},
      /* No arg_description: the parameter string below names [URL] once. */
      {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.rest, NULL, NULL},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) wait_for = NULL;
  g_autoptr (HubTokenSource) source = NULL;
  g_autoptr (GHashTable) room_tokens = NULL;
  g_autofree char *first_token = NULL;
  HubSessionTokens tokens = {0};
  HubClientOptions client;
  HubBatchOptions batch = {0};
  int code;

  /* `hub-client token …` mints a token; nothing of the client. */
  if (argc > 1 && strcmp (argv[1], "token") == 0)
    return hub_mint_main (argc - 1, argv + 1);
  /* GOption's help speaks the locale's language and characters ("[OPTION…]"). */
  setlocale (LC_ALL, "");
  context = g_option_context_new ("[URL] - chat with a hub-server");

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context, "URL defaults to " DEFAULT_URL ". Type /help in the client for its commands.\n"
               "Exit codes: 0 done, 1 error reply, 2 bad usage, 3 connection failure, 4 timeout.\n"
               "`hub-client token --help`: mint a token for testing from the server's secret.\n"
               "See docs/hub-client.md.\n");
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    code = usage_error (context, error->message);
    options_clear (&o);
    return code;
  }
  if (o.version) {
    printf ("hub-client %s\n", HUB_VERSION);
    options_clear (&o);
    return HUB_EXIT_OK;
  }
#define FAIL(msg)                                                                                  \
  do {                                                                                             \
    code = usage_error (context, msg);                                                             \
    options_clear (&o);                                                                            \
    return code;                                                                                   \
  } while (0)
  if (o.rest != NULL && g_strv_length (o.rest) > 1)
    FAIL ("at most one URL");
  if ((o.token != NULL) + (o.secret != NULL) + (o.token_file != NULL) + (o.token_command != NULL) >
      1)
    FAIL ("--token, --secret, --token-file and --token-command exclude each other");
  /* A token names its user; --secret needs one to mint for (below). */
  if (o.user == NULL && o.secret == NULL && o.token == NULL && o.token_file == NULL &&
      o.token_command == NULL)
    FAIL ("--user NAME is required (or a token: --token, --token-file, --token-command)");
  if (o.secret != NULL && o.user == NULL)
    FAIL ("--secret needs --user (the token's subject)");
  if (o.batch && o.interactive)
    FAIL ("--batch and --interactive exclude each other");
  if (o.timeout_s < 0 || o.timeout_s > 24 * 3600)
    FAIL ("--timeout: seconds between 0 and 86400");
  if (o.wait_for != NULL) {
    wait_for = json_from_string (o.wait_for, &error);
    if (wait_for == NULL || !JSON_NODE_HOLDS_OBJECT (wait_for))
      FAIL ("--wait-for: a JSON object, e.g. '{\"type\":\"message\",\"room\":\"general\"}'");
  }
  if (o.rest != NULL && o.rest[0] != NULL) {
    HubClientUrl parsed;

    if (!hub_client_url_parse (o.rest[0], &parsed, &error))
      FAIL (error->message);
    hub_client_url_clear (&parsed);
  }
  if (o.admin && o.secret == NULL)
    FAIL ("--admin needs --secret (it mints an admin token)");
  /* Room tokens: each names its room (`room`, read here; the server checks them). */
  room_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; o.room_tokens != NULL && o.room_tokens[i] != NULL; i++) {
    g_autoptr (GError) bad = NULL;
    g_autofree char *room = hub_token_peek_room (o.room_tokens[i], &bad);
    g_autofree char *message = NULL;

    if (room == NULL) {
      message = g_strdup_printf ("--room-token: %s", bad->message);
      FAIL (message);
    }
    g_hash_table_replace (room_tokens, g_steal_pointer (&room), g_strdup (o.room_tokens[i]));
  }
  /* §12: a source gives a fresh token for each refresh and reconnect; the
   * first one is taken now, so that a bad source is a usage error. */
  if (o.secret != NULL) {
    source = hub_token_source_new_secret (o.secret, o.user, o.admin);
  } else if (o.token_file != NULL) {
    source = hub_token_source_new_file (o.token_file);
  } else if (o.token_command != NULL) {
    source = hub_token_source_new_command (o.token_command, &error);
    if (source == NULL) {
      g_autofree char *message = g_strdup_printf ("--token-command: %s", error->message);

      FAIL (message);
    }
  }
  if (source != NULL) {
    first_token = hub_token_source_fetch_sync (source, &error);
    if (first_token == NULL) {
      g_printerr ("hub-client: %s\n", error->message);
      options_clear (&o);
      return HUB_EXIT_USAGE;
    }
  }
  tokens.source = source;
  tokens.room_tokens = room_tokens;

  hub_client_options_init (&client);
  client.url = o.rest != NULL && o.rest[0] != NULL ? o.rest[0] : DEFAULT_URL;
  client.user = o.user;
  client.device = o.device;
  client.token = first_token != NULL ? first_token : o.token;
  client.ca_file = o.ca_file;
  client.allow_self_signed = o.insecure;
  client.auto_reconnect = !o.no_reconnect;

  if (o.interactive || (!o.batch && hub_tty_stdin_is_terminal ())) {
    if (o.json || o.wait_for != NULL || o.timeout_s > 0)
      FAIL ("--json, --wait-for and --timeout are for the batch mode");
    code = hub_tty_run (&client, &tokens, hub_tty_wants_colour ());
  } else {
    batch.json = o.json;
    batch.wait_for = wait_for;
    batch.timeout_ms = (guint)(o.timeout_s * 1000);
    code = hub_batch_run (&client, &tokens, &batch);
  }
#undef FAIL
  options_clear (&o);
  return code;
}

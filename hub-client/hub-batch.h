/* hub-batch.h: hub-client's scriptable mode: commands from stdin one by one,
 * each waiting for its reply; --json prints every frame as a JSON line;
 * --wait-for exits 0 once a frame matching a JSON subset arrived. */
#pragma once

#include <hub/hub-client.h>

#include "hub-session.h"

G_BEGIN_DECLS

/* Exit codes of hub-client (both modes). */
typedef enum {
  HUB_EXIT_OK = 0,
  HUB_EXIT_ERROR_REPLY = 1, /* the server answered a command with `error` */
  HUB_EXIT_USAGE = 2,       /* bad options or a bad command line */
  HUB_EXIT_CONNECTION = 3,  /* could not connect, hello refused, connection lost mid-request */
  HUB_EXIT_TIMEOUT = 4,     /* --timeout passed first */
} HubExitCode;

typedef struct {
  gboolean json;
  JsonNode *wait_for; /* (nullable) (unowned) the pattern */
  guint timeout_ms;   /* 0: none */
} HubBatchOptions;

/* Runs until stdin ends and every command was answered (and, with
 * wait_for, a matching frame arrived); returns the exit code. */
int hub_batch_run (const HubClientOptions *client_options, const HubSessionTokens *tokens,
                   const HubBatchOptions *options);

/* TRUE when @value contains @pattern: objects match when each member of the
 * pattern matches the value's member of that name (extra members allowed);
 * arrays when they have the same length and match element by element;
 * scalars when equal (integers and doubles compare as numbers). */
gboolean hub_json_subset_match (JsonNode *pattern, JsonNode *value);

G_END_DECLS

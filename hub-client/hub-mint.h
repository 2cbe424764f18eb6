/* hub-mint.h: `hub-client token`, which mints a token for testing from the
 * server's secret (PROTOCOL.md §3, §12): a connection token with `sub`,
 * `exp`, optionally `rooms` and `admin`, or a room token with `room` and
 * `allow`. The token goes to stdout, the secret nowhere. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The longest lifetime `--ttl` takes: ten years. */
#define HUB_MINT_MAX_TTL_S     ((gint64)10 * 366 * 24 * 3600)
#define HUB_MINT_DEFAULT_TTL_S 3600

typedef struct {
  const char *secret; /* the server's secret, @secret_len bytes */
  gsize secret_len;
  const char *user;       /* `sub` */
  const char *rooms_json; /* (nullable) the `rooms` claim as JSON: {"team.*":"jpc"} */
  gboolean admin;         /* `admin: true` */
  gint64 ttl_s;           /* `exp` = now + ttl_s; 1 to HUB_MINT_MAX_TTL_S */
  const char *room;       /* (nullable) a room token for this room */
  const char *allow;      /* (nullable) the room token's letters (default: the server's, jp) */
} HubMintOptions;

/* The token @options describe, minted at @now_unix_s, or NULL with @error
 * (G_OPTION_ERROR_BAD_VALUE) saying in one line which option is wrong and
 * why (never quoting the secret). (transfer full) */
char *hub_mint_token (const HubMintOptions *options, gint64 now_unix_s, GError **error);

/* `hub-client token ARGS…` (@argv[0] is "token"): prints the token and
 * returns 0, or prints one line to stderr and returns 2. */
int hub_mint_main (int argc, char **argv);

G_END_DECLS

/* hub-options.h: hub-server's settings from the command line and from an
 * optional GLib key file (--config FILE, group [hub], keys named like the
 * flags); flags override the file. Bad values are reported naming the flag. */
#pragma once

#include <glib.h>
#include <hub/hub.h>

#include "hub-log.h"
#include "hub-loop.h"

G_BEGIN_DECLS

typedef struct {
  HubConfig config;   /* what the dispatcher gets (owned strings) */
  char *host;         /* as given, for the start line (owned) */
  char *bind_address; /* numeric address lws binds to (owned) */
  gboolean ipv6;      /* bind_address is an IPv6 address */
  gboolean loopback;  /* bind_address is a loopback address */
  guint port;         /* 0: any free port */
  char *cert;         /* PEM certificate: wss (owned) (nullable) */
  char *key;          /* its private key (owned) (nullable) */
  HubLogLevel log_level;
  char *redis_url;        /* cluster mode: redis://HOST:PORT[/DB] (owned) (nullable) */
  char *redis_prefix;     /* key and channel prefix in Redis (owned) */
  HubLoopKind event_loop; /* --event-loop */
  gboolean io_uring;      /* --io-uring: batched sends where available */
  /* Who may connect (hub-admission.h); the bounds per user are in config. */
  guint max_connections; /* 0: the open-file limit less HUB_WS_RESERVED_DESCRIPTORS */
  guint max_connections_per_address;
  char *address_limit_exempt; /* (owned) as given, for --help */
  GPtrArray *exempt;          /* (owned) GInetAddressMask* */
  guint http_timeout_s;
  gboolean http2;
} HubOptions;

/* Fills @opts with the defaults. */
void hub_options_init (HubOptions *opts);
void hub_options_clear (HubOptions *opts);

/* Parses @argv (GOption: --help prints every option with its default and
 * exits 0, so does --version). Returns FALSE with a one-line @error naming the offending flag or
 * key; hub-server then exits with status 2. */
gboolean hub_options_parse (HubOptions *opts, int *argc, char ***argv, GError **error);

G_END_DECLS

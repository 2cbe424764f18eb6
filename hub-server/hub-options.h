/* hub-options.h: hub-server's settings from three sources: the command line,
 * the environment (HUB_<OPTION>: upper case, '-' as '_') and an optional GLib
 * key file (--config FILE, group [hub], keys named like the flags). The
 * command line wins over the environment, which wins over the key file. Bad
 * values are reported naming the flag, the variable or the file. SIGHUP
 * re-reads the key file and the secret file (hub_options_reload). */
#pragma once

#include <glib.h>
#include <hub/hub.h>

#include "hub-log.h"
#include "hub-loop.h"

G_BEGIN_DECLS

/* A secret shorter than this is refused beyond loopback, warned about on it. */
#define HUB_OPTIONS_MIN_SECRET_BYTES 32

/* Where the settings came from, kept for reloads (opaque, refcounted). */
typedef struct _HubOptionSources HubOptionSources;

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
  HubLogFormat log_format;
  guint log_rate;         /* lines of one kind per second before a count line; 0: no limit */
  guint secret_grace_s;   /* the previous secret's tokens pass this long after a rotation */
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
  /* The secret is set, shorter than HUB_OPTIONS_MIN_SECRET_BYTES, and the
   * server listens on loopback only (beyond it, such a secret is refused):
   * the text of the warning to log, else NULL. (owned) (nullable) */
  char *weak_secret_warning;
  HubOptionSources *sources; /* (owned) (nullable) NULL until parsed */
} HubOptions;

/* Fills @opts with the defaults. */
void hub_options_init (HubOptions *opts);
void hub_options_clear (HubOptions *opts);

/* Parses @argv and the environment, then reads the key file (GOption: --help
 * prints every option with its default and exits 0, so does --version).
 * Returns FALSE with a one-line @error naming the offending flag, variable or
 * key; hub-server then exits with status 2. */
gboolean hub_options_parse (HubOptions *opts, int *argc, char ***argv, GError **error);

/* Builds @next (initialised here) from @running's command line and
 * environment and a fresh read of its key file and secret file, with the
 * same checks as at start. FALSE with @error (and @next cleared) when either
 * file cannot be read or holds a bad value: the running settings stay. */
gboolean hub_options_reload (const HubOptions *running, HubOptions *next, GError **error);

/* How a changed option takes effect. */
typedef enum {
  HUB_OPTION_LIVE,    /* at once (for new connections, where it is a limit) */
  HUB_OPTION_RESTART, /* at the next start only */
} HubOptionApply;

/* Called for each option whose value differs: its flag name, how it applies,
 * and both values as text (a secret is shown as "(hidden)"). */
typedef void (*HubOptionsDiffFunc) (const char *name, HubOptionApply apply, const char *before,
                                    const char *after, gpointer user_data);
void hub_options_diff (const HubOptions *before, const HubOptions *after, HubOptionsDiffFunc func,
                       gpointer user_data);

G_END_DECLS

/* hub-options.c: the command line, environment and key file of hub-server.
 * Every setting is read as a string from its three sources (the command line
 * wins over the environment, which wins over the key file), then checked by
 * one function, so every source gives the same messages. What was given stays
 * in HubOptionSources, so SIGHUP can build the settings again from a fresh
 * read of the key file and the secret file. */
#include "hub-options.h"
#include "hub-ws-transport.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_FILE_GROUP "hub"

typedef enum {
  OPT_HOST,
  OPT_PORT,
  OPT_NODE,
  OPT_SECRET,
  OPT_SECRET_FILE,
  OPT_SECRET_GRACE,
  OPT_HEARTBEAT,
  OPT_HELLO_TIMEOUT,
  OPT_HISTORY,
  OPT_HISTORY_BYTES,
  OPT_HISTORY_TOTAL_BYTES,
  OPT_MAX_MESSAGE_BYTES,
  OPT_MAX_QUEUE_BYTES,
  OPT_RATE,
  OPT_BURST,
  OPT_MAX_ROOMS_PER_USER,
  OPT_MAX_EMPTY_ROOMS_PER_USER,
  OPT_EMPTY_ROOM_TTL,
  OPT_NO_AUTO_CREATE,
  OPT_PRESENCE_GRACE,
  OPT_CERT,
  OPT_KEY,
  OPT_LOG_LEVEL,
  OPT_LOG_FORMAT,
  OPT_LOG_RATE,
  OPT_REDIS,
  OPT_REDIS_PREFIX,
  OPT_REDIS_TIMEOUT,
  OPT_EVENT_LOOP,
  OPT_IO_URING,
  OPT_MAX_CONNECTIONS,
  OPT_MAX_CONNECTIONS_PER_ADDRESS,
  OPT_ADDRESS_LIMIT_EXEMPT,
  OPT_MAX_CONNECTIONS_PER_USER,
  OPT_MAX_SUBSCRIPTIONS_PER_USER,
  OPT_FANOUT_RATE,
  OPT_HTTP_TIMEOUT,
  OPT_HTTP2,
  N_OPTS
} OptId;

typedef enum {
  KIND_STRING,
  KIND_PATH,
  KIND_FLAG,
} OptKind;

typedef struct {
  const char *name; /* flag without dashes, and key file key */
  OptKind kind;
  const char *arg;  /* GOption's arg_description */
  const char *help; /* "%s" is replaced by the default */
  HubOptionApply apply;
} OptSpec;

/* Ranges: 0 only where it means something (port, presence grace); upper
 * bounds keep seconds within a guint of milliseconds and buffers sane. */
#define MAX_SECONDS       86400
#define MAX_MESSAGE_BYTES (64u * 1024 * 1024)
#define MAX_QUEUE_BYTES   (1024u * 1024 * 1024)
#define MAX_LOG_RATE      1000000
#define MAX_HISTORY_BYTES (G_GUINT64_CONSTANT (1) << 40)
#define MAX_COUNT         100000000u

#define LIVE    HUB_OPTION_LIVE
#define RESTART HUB_OPTION_RESTART

/* --max-connections' default is relative: its help names the number kept
 * (value_text gives a value only once one was set, for a reload to compare). */
#define RESERVED G_STRINGIFY (HUB_WS_RESERVED_DESCRIPTORS)

static const OptSpec specs[N_OPTS] = {
    [OPT_HOST] = {"host", KIND_STRING, "ADDRESS", "Address to listen on (default %s)", RESTART},
    [OPT_PORT] = {"port", KIND_STRING, "PORT", "TCP port, 0 picks a free one (default %s)",
                  RESTART},
    [OPT_NODE] = {"node", KIND_STRING, "NAME",
                  "Node name (default: the host name, made a valid name)", RESTART},
    [OPT_SECRET] = {"secret", KIND_STRING, "SECRET",
                    "HS256 secret for hello tokens, at least 32 bytes beyond loopback "
                    "(openssl rand -base64 48 makes one) (default: none, development mode)",
                    LIVE},
    [OPT_SECRET_FILE] = {"secret-file", KIND_PATH, "FILE",
                         "Read the secret from FILE (trailing newlines removed; read again on "
                         "SIGHUP)",
                         LIVE},
    [OPT_SECRET_GRACE] = {"secret-grace", KIND_STRING, "SECONDS",
                          "After a new secret is loaded on SIGHUP, tokens signed with the "
                          "previous one still pass this long (default %s)",
                          LIVE},
    [OPT_HEARTBEAT] = {"heartbeat", KIND_STRING, "SECONDS",
                       "Ping interval; 3 missed ones close (default %s)", RESTART},
    [OPT_HELLO_TIMEOUT] = {"hello-timeout", KIND_STRING, "SECONDS",
                           "Time allowed before a successful hello (default %s)", LIVE},
    [OPT_HISTORY] = {"history", KIND_STRING, "N", "Messages kept per room (default %s)", RESTART},
    [OPT_HISTORY_BYTES] = {"history-bytes", KIND_STRING, "BYTES",
                           "Bytes of messages kept per room, oldest evicted first; 0: no bound "
                           "(default %s)",
                           RESTART},
    [OPT_HISTORY_TOTAL_BYTES] = {"history-total-bytes", KIND_STRING, "BYTES",
                                 "Bytes of messages kept in all rooms together, the oldest "
                                 "evicted first; 0: no bound (default %s)",
                                 RESTART},
    [OPT_MAX_MESSAGE_BYTES] = {"max-message-bytes", KIND_STRING, "BYTES",
                               "Largest client message, larger closes 1009 (default %s)", RESTART},
    [OPT_MAX_QUEUE_BYTES] = {"max-queue-bytes", KIND_STRING, "BYTES",
                             "Send queue bound per connection (default %s)", LIVE},
    [OPT_RATE] = {"rate", KIND_STRING, "PER_SECOND",
                  "Requests per second per connection (default %s)", LIVE},
    [OPT_BURST] = {"burst", KIND_STRING, "N", "Request burst per connection (default %s)", LIVE},
    [OPT_MAX_ROOMS_PER_USER] = {"max-rooms-per-user", KIND_STRING, "N",
                                "Rooms a user may be a member of (default %s)", RESTART},
    [OPT_MAX_EMPTY_ROOMS_PER_USER] = {"max-empty-rooms-per-user", KIND_STRING, "N",
                                      "Rooms a user created that never had a member, at a time; "
                                      "0: no bound (default %s)",
                                      RESTART},
    [OPT_EMPTY_ROOM_TTL] = {"empty-room-ttl", KIND_STRING, "SECONDS",
                            "A room that never had a member is deleted this long after its "
                            "creation (default %s)",
                            RESTART},
    [OPT_NO_AUTO_CREATE] = {"no-auto-create", KIND_FLAG, NULL,
                            "join does not create missing rooms (default: it does)", RESTART},
    [OPT_PRESENCE_GRACE] = {"presence-grace", KIND_STRING, "SECONDS",
                            "Delay before a disconnected user goes offline (default %s)", RESTART},
    [OPT_CERT] = {"cert", KIND_PATH, "FILE", "PEM certificate: serve wss:// (needs --key)",
                  RESTART},
    [OPT_KEY] = {"key", KIND_PATH, "FILE", "PEM private key of --cert", RESTART},
    [OPT_REDIS] = {"redis", KIND_STRING, "URL",
                   "Cluster mode: share state with other nodes through the Redis at "
                   "redis://HOST:PORT[/DB] (default: none, in-memory)",
                   RESTART},
    [OPT_REDIS_PREFIX] = {"redis-prefix", KIND_STRING, "PREFIX",
                          "Prefix of every Redis key and channel (default %s)", RESTART},
    [OPT_REDIS_TIMEOUT] = {"redis-timeout", KIND_STRING, "MS",
                           "A request that Redis has not answered within MS is answered "
                           "internal, and /healthz says 503 until Redis answers again "
                           "(default %s)",
                           RESTART},
    [OPT_LOG_LEVEL] = {"log-level", KIND_STRING, "LEVEL",
                       "error, warning, info (a line per connection) or debug (default %s)", LIVE},
    [OPT_LOG_FORMAT] = {"log-format", KIND_STRING, "FORMAT",
                        "text, or json: one JSON object a line (default %s)", LIVE},
    [OPT_LOG_RATE] = {"log-rate", KIND_STRING, "N",
                      "Lines of one kind written per second; beyond, one line counts the rest "
                      "(0: no limit) (default %s)",
                      LIVE},
    [OPT_EVENT_LOOP] = {"event-loop", KIND_STRING, "LOOP",
                        "uv (libuv, epoll) or glib (GMainLoop, polls every socket each "
                        "iteration; docs/performance.md) (default %s)",
                        RESTART},
    [OPT_IO_URING] = {"io-uring", KIND_STRING, "on|off",
                      "on: a loop iteration's sends to many sockets go to the kernel in one "
                      "io_uring call where the kernel allows (Linux 6.1 or later; not with --cert) "
                      "(default %s)",
                      RESTART},
    [OPT_MAX_CONNECTIONS] = {"max-connections", KIND_STRING, "N",
                             "WebSocket connections in all; beyond, an upgrade gets HTTP 503 "
                             "(default: the open-file limit less " RESERVED
                             " kept for HTTP and the rest)",
                             LIVE},
    [OPT_MAX_CONNECTIONS_PER_ADDRESS] = {"max-connections-per-address", KIND_STRING, "N",
                                         "WebSocket connections from one address (an IPv6 /64); "
                                         "0: no bound (default %s)",
                                         LIVE},
    [OPT_ADDRESS_LIMIT_EXEMPT] = {"address-limit-exempt", KIND_STRING, "CIDR,...",
                                  "Addresses not bound per address (a proxy, the host "
                                  "itself), or none (default %s)",
                                  RESTART},
    [OPT_MAX_CONNECTIONS_PER_USER] = {"max-connections-per-user", KIND_STRING, "N",
                                      "Connections one user may hold; beyond, hello is "
                                      "rate_limited; 0: no bound (default %s)",
                                      LIVE},
    [OPT_MAX_SUBSCRIPTIONS_PER_USER] = {"max-subscriptions-per-user", KIND_STRING, "N",
                                        "Presence subscriptions of one user's connections "
                                        "together; 0: no bound (default %s)",
                                        LIVE},
    [OPT_FANOUT_RATE] = {"fanout-rate", KIND_STRING, "BYTES_PER_SECOND",
                         "Bytes one user's direct, multicast and join may send to others per "
                         "second, counted per recipient (in debt, typing and leave wait too); "
                         "0: no bound (default %s)",
                         LIVE},
    [OPT_HTTP_TIMEOUT] = {"http-timeout", KIND_STRING, "SECONDS",
                          "Time for a whole HTTP request, headers and body; 0: none (default %s)",
                          LIVE},
    [OPT_HTTP2] = {"http2", KIND_STRING, "on|off",
                   "on: allow HTTP/2 (h2c upgrade, h2 by ALPN with --cert) (default %s)", RESTART},
};

/* Where a value came from, for messages and for reading relative paths. */
typedef enum {
  FROM_COMMAND_LINE,
  FROM_ENVIRONMENT,
  FROM_KEY_FILE,
} From;

typedef struct {
  From from;
  const char *file; /* FROM_KEY_FILE: its path */
} Source;

struct _HubOptionSources {
  grefcount ref;
  char *cl[N_OPTS];       /* from the command line (owned) (nullable) */
  char *env[N_OPTS];      /* from the environment (owned) (nullable) */
  gboolean cl_flag;       /* --no-auto-create given */
  int env_flag;           /* HUB_NO_AUTO_CREATE: -1 absent, else its value */
  char *config_path;      /* the key file, absolute (owned) (nullable) */
  const char *config_via; /* "--config" or "HUB_CONFIG" */
};

static HubOptionSources *
sources_ref (HubOptionSources *src)
{
  g_ref_count_inc (&src->ref);
  return src;
}

static void
sources_unref (HubOptionSources *src)
{
  if (src == NULL || !g_ref_count_dec (&src->ref))
    return;
  for (guint i = 0; i < N_OPTS; i++) {
    g_free (src->cl[i]);
    g_free (src->env[i]);
  }
  g_free (src->config_path);
  g_free (src);
}

void
hub_options_init (HubOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  hub_config_init (&opts->config);
  opts->host = g_strdup ("127.0.0.1");
  opts->bind_address = g_strdup ("127.0.0.1");
  opts->loopback = TRUE;
  opts->port = 8080;
  opts->log_level = HUB_LOG_LEVEL_WARNING;
  opts->log_format = HUB_LOG_FORMAT_TEXT;
  opts->log_rate = 50;
  opts->secret_grace_s = 300;
  opts->redis_prefix = g_strdup ("hub:");
  opts->event_loop = hub_loop_kind_default ();
  opts->io_uring = TRUE;
  opts->max_connections = 0;
  opts->max_connections_per_address = 1000;
  opts->address_limit_exempt = g_strdup ("127.0.0.0/8,::1");
  opts->exempt = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (opts->exempt, g_inet_address_mask_new_from_string ("127.0.0.0/8", NULL));
  g_ptr_array_add (opts->exempt, g_inet_address_mask_new_from_string ("::1", NULL));
  opts->http_timeout_s = 10;
  opts->http2 = FALSE;
}

void
hub_options_clear (HubOptions *opts)
{
  hub_config_clear (&opts->config);
  g_clear_pointer (&opts->host, g_free);
  g_clear_pointer (&opts->bind_address, g_free);
  g_clear_pointer (&opts->cert, g_free);
  g_clear_pointer (&opts->key, g_free);
  g_clear_pointer (&opts->redis_url, g_free);
  g_clear_pointer (&opts->redis_prefix, g_free);
  g_clear_pointer (&opts->weak_secret_warning, g_free);
  g_clear_pointer (&opts->sources, sources_unref);
  g_clear_pointer (&opts->address_limit_exempt, g_free);
  g_clear_pointer (&opts->exempt, g_ptr_array_unref);
}

/* The value of option @id in @opts as text: the default --help shows, and
 * what a reload compares. NULL when it has none (a flag, an unset path). A
 * secret is never shown. (transfer full) (nullable) */
static char *
value_text (const HubOptions *opts, OptId id)
{
  const HubConfig *c = &opts->config;

  switch (id) {
    case OPT_HOST:
      return g_strdup (opts->host);
    case OPT_PORT:
      return g_strdup_printf ("%u", opts->port);
    case OPT_NODE:
      return g_strdup (c->node);
    case OPT_HEARTBEAT:
      return g_strdup_printf ("%u", c->heartbeat_s);
    case OPT_HELLO_TIMEOUT:
      return g_strdup_printf ("%u", c->hello_timeout_s);
    case OPT_HISTORY:
      return g_strdup_printf ("%u", c->history_size);
    case OPT_HISTORY_BYTES:
      return g_strdup_printf ("%" G_GSIZE_FORMAT, c->history_room_bytes);
    case OPT_HISTORY_TOTAL_BYTES:
      return g_strdup_printf ("%" G_GSIZE_FORMAT, c->history_total_bytes);
    case OPT_MAX_MESSAGE_BYTES:
      return g_strdup_printf ("%" G_GSIZE_FORMAT, c->max_message_bytes);
    case OPT_MAX_QUEUE_BYTES:
      return g_strdup_printf ("%" G_GSIZE_FORMAT, c->max_queue_bytes);
    case OPT_RATE:
      return g_strdup_printf ("%g", c->rate_per_s);
    case OPT_BURST:
      return g_strdup_printf ("%g", c->burst);
    case OPT_MAX_ROOMS_PER_USER:
      return g_strdup_printf ("%u", c->max_rooms_per_user);
    case OPT_MAX_EMPTY_ROOMS_PER_USER:
      return g_strdup_printf ("%u", c->max_empty_rooms_per_user);
    case OPT_EMPTY_ROOM_TTL:
      return g_strdup_printf ("%u", c->empty_room_ttl_s);
    case OPT_PRESENCE_GRACE:
      return g_strdup_printf ("%u", c->presence_grace_s);
    case OPT_LOG_LEVEL:
      return g_strdup (hub_log_level_to_string (opts->log_level));
    case OPT_LOG_FORMAT:
      return g_strdup (hub_log_format_to_string (opts->log_format));
    case OPT_LOG_RATE:
      return g_strdup_printf ("%u", opts->log_rate);
    case OPT_SECRET_GRACE:
      return g_strdup_printf ("%u", opts->secret_grace_s);
    case OPT_REDIS:
      return g_strdup (opts->redis_url);
    case OPT_REDIS_PREFIX:
      return g_strdup (opts->redis_prefix);
    case OPT_REDIS_TIMEOUT:
      return g_strdup_printf ("%u", c->store_timeout_ms);
    case OPT_EVENT_LOOP:
      return g_strdup (hub_loop_kind_to_string (opts->event_loop));
    case OPT_IO_URING:
      return g_strdup (opts->io_uring ? "on" : "off");
    case OPT_CERT:
      return g_strdup (opts->cert);
    case OPT_KEY:
      return g_strdup (opts->key);
    case OPT_NO_AUTO_CREATE:
      return g_strdup (c->auto_create ? "off" : "on");
    case OPT_MAX_CONNECTIONS:
      return opts->max_connections > 0 ? g_strdup_printf ("%u", opts->max_connections) : NULL;
    case OPT_MAX_CONNECTIONS_PER_ADDRESS:
      return g_strdup_printf ("%u", opts->max_connections_per_address);
    case OPT_ADDRESS_LIMIT_EXEMPT:
      return g_strdup (opts->address_limit_exempt);
    case OPT_MAX_CONNECTIONS_PER_USER:
      return g_strdup_printf ("%u", c->max_connections_per_user);
    case OPT_MAX_SUBSCRIPTIONS_PER_USER:
      return g_strdup_printf ("%u", c->max_subscriptions_per_user);
    case OPT_FANOUT_RATE:
      return g_strdup_printf ("%" G_GSIZE_FORMAT, c->fanout_bytes_per_s);
    case OPT_HTTP_TIMEOUT:
      return g_strdup_printf ("%u", opts->http_timeout_s);
    case OPT_HTTP2:
      return g_strdup (opts->http2 ? "on" : "off");
    case OPT_SECRET:
    case OPT_SECRET_FILE:
    case N_OPTS:
    default:
      return NULL;
  }
}

/* The environment variable of option @id: HUB_ and the name in upper case,
 * '-' as '_'. (transfer full) */
static char *
env_name (const char *name)
{
  g_autofree char *upper = g_ascii_strup (name, -1);

  g_strdelimit (upper, "-", '_');
  return g_strconcat ("HUB_", upper, NULL);
}

static gboolean bad_value (GError **error, OptId id, const Source *src, const char *fmt, ...)
    G_GNUC_PRINTF (4, 5);

/* Sets @error to one line naming where the value came from: "--NAME: MESSAGE"
 * (plus "(in FILE)" for a key file) or "HUB_NAME: MESSAGE". */
static gboolean
bad_value (GError **error, OptId id, const Source *src, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (src != NULL && src->from == FROM_ENVIRONMENT) {
    g_autofree char *var = env_name (specs[id].name);

    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s: %s", var, msg);
  } else if (src != NULL && src->from == FROM_KEY_FILE) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s: %s (in %s)",
                 specs[id].name, msg, src->file);
  } else {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s: %s", specs[id].name, msg);
  }
  return FALSE;
}

static gboolean
parse_uint (OptId id, const char *value, const Source *src, guint64 min, guint64 max, guint64 *out,
            GError **error)
{
  g_autoptr (GError) local = NULL;

  if (g_ascii_string_to_unsigned (value, 10, min, max, out, &local))
    return TRUE;
  if (g_error_matches (local, G_NUMBER_PARSER_ERROR, G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS))
    return bad_value (error, id, src,
                      "%s is out of range (%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT ")", value,
                      min, max);
  return bad_value (error, id, src, "'%s' is not a whole number", value);
}

static gboolean
parse_double (OptId id, const char *value, const Source *src, double min, double max, double *out,
              GError **error)
{
  char *end = NULL;
  double v;

  if (value[0] == '\0' || g_ascii_isspace (value[0]))
    return bad_value (error, id, src, "'%s' is not a number", value);
  v = g_ascii_strtod (value, &end);
  if (end == value || *end != '\0' || !isfinite (v))
    return bad_value (error, id, src, "'%s' is not a number", value);
  if (v < min || v > max)
    return bad_value (error, id, src, "%s is out of range (%g-%g)", value, min, max);
  *out = v;
  return TRUE;
}

/* "true"/"false" and the usual spellings (key files say true and false). */
static gboolean
parse_bool (const char *value, gboolean *out)
{
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};

  for (guint i = 0; i < G_N_ELEMENTS (yes); i++) {
    if (g_ascii_strcasecmp (value, yes[i]) == 0) {
      *out = TRUE;
      return TRUE;
    }
    if (g_ascii_strcasecmp (value, no[i]) == 0) {
      *out = FALSE;
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
check_readable (OptId id, const char *path, const Source *src, GError **error)
{
  FILE *f;

  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) || (f = g_fopen (path, "rb")) == NULL)
    return bad_value (error, id, src, "cannot read '%s'", path);
  fclose (f);
  return TRUE;
}

static gboolean
read_secret_file (HubOptions *opts, const char *path, const Source *src, GError **error)
{
  g_autoptr (GError) local = NULL;
  char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, &local))
    return bad_value (error, OPT_SECRET_FILE, src, "%s", local->message);
  while (len > 0 && (contents[len - 1] == '\n' || contents[len - 1] == '\r'))
    contents[--len] = '\0';
  if (len == 0) {
    g_free (contents);
    return bad_value (error, OPT_SECRET_FILE, src, "'%s' is empty", path);
  }
  g_free (opts->config.secret);
  opts->config.secret = contents;
  opts->config.secret_len = len;
  return TRUE;
}

/* Resolves @host to the numeric address lws binds to, preferring IPv4 (a
 * name like "localhost" then means 127.0.0.1, which is what clients use). */
static gboolean
resolve_host (HubOptions *opts, const char *host, const Source *src, GError **error)
{
  g_autoptr (GInetAddress) numeric = NULL;
  GInetAddress *pick = NULL;
  GList *found = NULL;

  if (host[0] == '\0')
    return bad_value (error, OPT_HOST, src, "empty address");
  numeric = g_inet_address_new_from_string (host);
  if (numeric == NULL) {
    g_autoptr (GResolver) resolver = g_resolver_get_default ();
    g_autoptr (GError) local = NULL;

    found = g_resolver_lookup_by_name (resolver, host, NULL, &local);
    if (found == NULL)
      return bad_value (error, OPT_HOST, src, "cannot resolve '%s': %s", host, local->message);
    for (GList *l = found; l != NULL && pick == NULL; l = l->next) {
      if (g_inet_address_get_family (l->data) == G_SOCKET_FAMILY_IPV4)
        pick = l->data;
    }
    for (GList *l = found; l != NULL && pick == NULL; l = l->next) {
      if (g_inet_address_get_family (l->data) == G_SOCKET_FAMILY_IPV6)
        pick = l->data;
    }
    if (pick == NULL) {
      g_resolver_free_addresses (found);
      return bad_value (error, OPT_HOST, src, "no IPv4 or IPv6 address for '%s'", host);
    }
    numeric = g_object_ref (pick);
    g_resolver_free_addresses (found);
  }
  opts->ipv6 = g_inet_address_get_family (numeric) == G_SOCKET_FAMILY_IPV6;
  opts->loopback = g_inet_address_get_is_loopback (numeric);
  g_free (opts->bind_address);
  opts->bind_address = g_inet_address_to_string (numeric);
  g_free (opts->host);
  opts->host = g_strdup (host);
  return TRUE;
}

/* --address-limit-exempt: CIDR blocks (or single addresses) separated by
 * commas, or "none". */
static gboolean
parse_exempt (HubOptions *opts, const char *value, const Source *src, GError **error)
{
  g_autoptr (GPtrArray) masks = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto (GStrv) items = NULL;

  if (g_strcmp0 (value, "none") != 0) {
    items = g_strsplit (value, ",", -1);
    for (guint i = 0; items[i] != NULL; i++) {
      GInetAddressMask *mask = g_inet_address_mask_new_from_string (g_strstrip (items[i]), NULL);

      if (mask == NULL)
        return bad_value (error, OPT_ADDRESS_LIMIT_EXEMPT, src,
                          "'%s' is not an address or CIDR block (e.g. 10.0.0.0/8, ::1)", items[i]);
      g_ptr_array_add (masks, mask);
    }
  }
  g_ptr_array_unref (opts->exempt);
  opts->exempt = g_steal_pointer (&masks);
  g_free (opts->address_limit_exempt);
  opts->address_limit_exempt = g_strdup (value);
  return TRUE;
}

/* Checks @value for option @id and stores it in @opts; @src says where it
 * came from. */
static gboolean
apply (HubOptions *opts, OptId id, const char *value, const Source *src, GError **error)
{
  HubConfig *c = &opts->config;
  guint64 u = 0;

  switch (id) {
    case OPT_HOST:
      return resolve_host (opts, value, src, error);
    case OPT_PORT:
      if (!parse_uint (id, value, src, 0, 65535, &u, error))
        return FALSE;
      opts->port = (guint)u;
      return TRUE;
    case OPT_REDIS:
      if (!g_str_has_prefix (value, "redis://") || value[strlen ("redis://")] == '\0')
        return bad_value (error, id, src, "'%s' is not redis://HOST:PORT[/DB]", value);
      g_free (opts->redis_url);
      opts->redis_url = g_strdup (value);
      return TRUE;
    case OPT_REDIS_PREFIX:
      if (value[0] == '\0' || strpbrk (value, " \t\r\n") != NULL)
        return bad_value (error, id, src, "'%s' is empty or has white space", value);
      g_free (opts->redis_prefix);
      opts->redis_prefix = g_strdup (value);
      return TRUE;
    case OPT_REDIS_TIMEOUT:
      if (!parse_uint (id, value, src, 1, MAX_SECONDS * 1000, &u, error))
        return FALSE;
      c->store_timeout_ms = (guint)u;
      return TRUE;
    case OPT_NODE:
      if (!hub_name_is_valid (value))
        return bad_value (error, id, src,
                          "'%s' is not a name (1-64 of A-Z a-z 0-9 _ . @ -, not starting with @)",
                          value);
      g_free (c->node);
      c->node = g_strdup (value);
      return TRUE;
    case OPT_SECRET:
      if (value[0] == '\0')
        return bad_value (error, id, src, "empty secret");
      g_free (c->secret);
      c->secret = g_strdup (value);
      c->secret_len = strlen (value);
      return TRUE;
    case OPT_SECRET_FILE:
      return read_secret_file (opts, value, src, error);
    case OPT_HEARTBEAT:
      if (!parse_uint (id, value, src, 1, MAX_SECONDS, &u, error))
        return FALSE;
      c->heartbeat_s = (guint)u;
      return TRUE;
    case OPT_HELLO_TIMEOUT:
      if (!parse_uint (id, value, src, 1, MAX_SECONDS, &u, error))
        return FALSE;
      c->hello_timeout_s = (guint)u;
      return TRUE;
    case OPT_HISTORY:
      if (!parse_uint (id, value, src, 1, 1000000, &u, error))
        return FALSE;
      c->history_size = (guint)u;
      return TRUE;
    case OPT_HISTORY_BYTES:
      if (!parse_uint (id, value, src, 0, MIN (MAX_HISTORY_BYTES, G_MAXSIZE), &u, error))
        return FALSE;
      c->history_room_bytes = (gsize)u;
      return TRUE;
    case OPT_HISTORY_TOTAL_BYTES:
      if (!parse_uint (id, value, src, 0, MIN (MAX_HISTORY_BYTES, G_MAXSIZE), &u, error))
        return FALSE;
      c->history_total_bytes = (gsize)u;
      return TRUE;
    case OPT_MAX_MESSAGE_BYTES:
      if (!parse_uint (id, value, src, 1, MAX_MESSAGE_BYTES, &u, error))
        return FALSE;
      c->max_message_bytes = (gsize)u;
      return TRUE;
    case OPT_MAX_QUEUE_BYTES:
      if (!parse_uint (id, value, src, 1, MAX_QUEUE_BYTES, &u, error))
        return FALSE;
      c->max_queue_bytes = (gsize)u;
      return TRUE;
    case OPT_RATE:
      return parse_double (id, value, src, 0.001, 1e6, &c->rate_per_s, error);
    case OPT_BURST:
      return parse_double (id, value, src, 1, 1e9, &c->burst, error);
    case OPT_MAX_ROOMS_PER_USER:
      if (!parse_uint (id, value, src, 1, 1000000, &u, error))
        return FALSE;
      c->max_rooms_per_user = (guint)u;
      return TRUE;
    case OPT_MAX_EMPTY_ROOMS_PER_USER:
      if (!parse_uint (id, value, src, 0, 1000000, &u, error))
        return FALSE;
      c->max_empty_rooms_per_user = (guint)u;
      return TRUE;
    case OPT_EMPTY_ROOM_TTL:
      if (!parse_uint (id, value, src, 1, MAX_SECONDS, &u, error))
        return FALSE;
      c->empty_room_ttl_s = (guint)u;
      return TRUE;
    case OPT_PRESENCE_GRACE:
      if (!parse_uint (id, value, src, 0, MAX_SECONDS, &u, error))
        return FALSE;
      c->presence_grace_s = (guint)u;
      return TRUE;
    case OPT_CERT:
      if (!check_readable (id, value, src, error))
        return FALSE;
      g_free (opts->cert);
      opts->cert = g_strdup (value);
      return TRUE;
    case OPT_KEY:
      if (!check_readable (id, value, src, error))
        return FALSE;
      g_free (opts->key);
      opts->key = g_strdup (value);
      return TRUE;
    case OPT_LOG_LEVEL:
      if (!hub_log_level_from_string (value, &opts->log_level))
        return bad_value (error, id, src, "'%s' is not one of error, warning, info, debug", value);
      return TRUE;
    case OPT_LOG_FORMAT:
      if (!hub_log_format_from_string (value, &opts->log_format))
        return bad_value (error, id, src, "'%s' is not one of text, json", value);
      return TRUE;
    case OPT_LOG_RATE:
      if (!parse_uint (id, value, src, 0, MAX_LOG_RATE, &u, error))
        return FALSE;
      opts->log_rate = (guint)u;
      return TRUE;
    case OPT_SECRET_GRACE:
      if (!parse_uint (id, value, src, 0, MAX_SECONDS, &u, error))
        return FALSE;
      opts->secret_grace_s = (guint)u;
      return TRUE;
    case OPT_EVENT_LOOP:
      if (!hub_loop_kind_from_string (value, &opts->event_loop))
        return bad_value (error, id, src, "'%s' is not one of uv, glib", value);
      if (!hub_loop_kind_available (opts->event_loop))
        return bad_value (error, id, src, "this hub-server was built without libuv");
      return TRUE;
    case OPT_IO_URING:
      if (g_strcmp0 (value, "on") != 0 && g_strcmp0 (value, "off") != 0)
        return bad_value (error, id, src, "'%s' is not one of on, off", value);
      opts->io_uring = g_strcmp0 (value, "on") == 0;
      return TRUE;
    case OPT_MAX_CONNECTIONS:
      if (!parse_uint (id, value, src, 1, MAX_COUNT, &u, error))
        return FALSE;
      opts->max_connections = (guint)u;
      return TRUE;
    case OPT_MAX_CONNECTIONS_PER_ADDRESS:
      if (!parse_uint (id, value, src, 0, MAX_COUNT, &u, error))
        return FALSE;
      opts->max_connections_per_address = (guint)u;
      return TRUE;
    case OPT_ADDRESS_LIMIT_EXEMPT:
      return parse_exempt (opts, value, src, error);
    case OPT_MAX_CONNECTIONS_PER_USER:
      if (!parse_uint (id, value, src, 0, MAX_COUNT, &u, error))
        return FALSE;
      c->max_connections_per_user = (guint)u;
      return TRUE;
    case OPT_MAX_SUBSCRIPTIONS_PER_USER:
      if (!parse_uint (id, value, src, 0, MAX_COUNT, &u, error))
        return FALSE;
      c->max_subscriptions_per_user = (guint)u;
      return TRUE;
    case OPT_FANOUT_RATE:
      if (!parse_uint (id, value, src, 0, G_MAXUINT32, &u, error))
        return FALSE;
      c->fanout_bytes_per_s = (gsize)u;
      return TRUE;
    case OPT_HTTP_TIMEOUT:
      if (!parse_uint (id, value, src, 0, MAX_SECONDS, &u, error))
        return FALSE;
      opts->http_timeout_s = (guint)u;
      return TRUE;
    case OPT_HTTP2:
      if (g_strcmp0 (value, "on") != 0 && g_strcmp0 (value, "off") != 0)
        return bad_value (error, id, src, "'%s' is not one of on, off", value);
      opts->http2 = g_strcmp0 (value, "on") == 0;
      return TRUE;
    case OPT_NO_AUTO_CREATE:
    case N_OPTS:
    default:
      g_assert_not_reached ();
  }
}

static gboolean
opt_by_name (const char *name, OptId *id)
{
  for (guint i = 0; i < N_OPTS; i++) {
    if (strcmp (specs[i].name, name) == 0) {
      *id = (OptId)i;
      return TRUE;
    }
  }
  return FALSE;
}

/* Reads @path: group [hub] only, known keys only. Fills @values (owned
 * strings) and @flag (-1: absent). A relative path in it names a file in the
 * key file's directory. */
static gboolean
load_key_file (const char *path, char **values, int *flag, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) groups = NULL;
  g_auto (GStrv) keys = NULL;
  g_autofree char *dir = g_path_get_dirname (path);
  Source src = {FROM_KEY_FILE, path};

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--config: %s: %s", path,
                 local->message);
    return FALSE;
  }
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    if (strcmp (groups[i], KEY_FILE_GROUP) != 0) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--config: unknown group [%s] in %s (expected [" KEY_FILE_GROUP "])", groups[i],
                   path);
      return FALSE;
    }
  }
  keys = g_key_file_get_keys (kf, KEY_FILE_GROUP, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
    OptId id;

    if (!opt_by_name (keys[i], &id)) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--config: unknown key '%s' in [" KEY_FILE_GROUP "] of %s", keys[i], path);
      return FALSE;
    }
    if (specs[id].kind == KIND_FLAG) {
      gboolean b = g_key_file_get_boolean (kf, KEY_FILE_GROUP, keys[i], &local);

      if (local != NULL)
        return bad_value (error, id, &src, "not true or false");
      *flag = b;
    } else {
      char *v = g_key_file_get_string (kf, KEY_FILE_GROUP, keys[i], &local);

      if (v == NULL)
        return bad_value (error, id, &src, "%s", local->message);
      g_strstrip (v);
      if (specs[id].kind == KIND_PATH && v[0] != '\0' && !g_path_is_absolute (v)) {
        char *abs = g_build_filename (dir, v, NULL);

        g_free (v);
        v = abs;
      }
      g_free (values[id]);
      values[id] = v;
    }
  }
  return TRUE;
}

/* The secret refused or warned about by its length (PROTOCOL.md §3: HS256;
 * RFC 7518 §3.2 wants a key of at least the hash's 256 bits). */
#define SECRET_ADVICE                                                                              \
  "use at least 32 random bytes, e.g. the output of 'openssl rand -base64 48' in a file "          \
  "given with --secret-file"

/* Where option @id's value comes from; FROM_KEY_FILE + 1 when unset. */
static From
source_of (const HubOptionSources *srcs, char *const *file_values, OptId id)
{
  if (srcs->cl[id] != NULL)
    return FROM_COMMAND_LINE;
  if (srcs->env[id] != NULL)
    return FROM_ENVIRONMENT;
  if (file_values[id] != NULL)
    return FROM_KEY_FILE;
  return FROM_KEY_FILE + 1;
}

/* Fills @opts (defaults already in) from @srcs: the command line, then the
 * environment, then a fresh read of the key file; checks every value. */
static gboolean
resolve (HubOptions *opts, HubOptionSources *srcs, GError **error)
{
  char *file_values[N_OPTS] = {0};
  int file_flag = -1;
  Source secret_src = {FROM_COMMAND_LINE, NULL};
  OptId secret_id = OPT_SECRET;
  gboolean ok = FALSE;

  opts->sources = sources_ref (srcs);
  if (srcs->config_path != NULL &&
      !load_key_file (srcs->config_path, file_values, &file_flag, error))
    goto out;

  for (guint i = 0; i < N_OPTS; i++) {
    const char *value = srcs->cl[i];
    Source src = {FROM_COMMAND_LINE, NULL};

    if (value == NULL && srcs->env[i] != NULL) {
      value = srcs->env[i];
      src.from = FROM_ENVIRONMENT;
    }
    if (value == NULL && file_values[i] != NULL) {
      value = file_values[i];
      src = (Source){FROM_KEY_FILE, srcs->config_path};
    }
    if (specs[i].kind == KIND_FLAG || value == NULL)
      continue;
    if (i == OPT_SECRET || i == OPT_SECRET_FILE) {
      /* One setting in two forms: the higher source wins; both from one
       * source is a mistake. */
      From other = source_of (srcs, file_values, i == OPT_SECRET ? OPT_SECRET_FILE : OPT_SECRET);

      if (other == src.from) {
        bad_value (error, OPT_SECRET_FILE, &src, "cannot be used with --secret");
        goto out;
      }
      if (other < src.from)
        continue;
      secret_src = src;
      secret_id = (OptId)i;
    }
    if (!apply (opts, (OptId)i, value, &src, error))
      goto out;
  }
  if (srcs->cl_flag)
    opts->config.auto_create = FALSE;
  else if (srcs->env_flag >= 0)
    opts->config.auto_create = !srcs->env_flag;
  else if (file_flag >= 0)
    opts->config.auto_create = !file_flag;
  if ((opts->cert != NULL) != (opts->key != NULL)) {
    if (opts->cert != NULL)
      bad_value (error, OPT_KEY, NULL, "missing: --cert needs its private key");
    else
      bad_value (error, OPT_CERT, NULL, "missing: --key needs its certificate");
    goto out;
  }
  if (opts->config.secret != NULL && opts->config.secret_len < HUB_OPTIONS_MIN_SECRET_BYTES) {
    if (!opts->loopback) {
      bad_value (error, secret_id, &secret_src,
                 "the secret is %" G_GSIZE_FORMAT " bytes, too short for a server listening "
                 "on %s (beyond loopback): " SECRET_ADVICE,
                 opts->config.secret_len, opts->host);
      goto out;
    }
    opts->weak_secret_warning = g_strdup_printf ("the secret is %" G_GSIZE_FORMAT
                                                 " bytes: anyone who guesses it can sign tokens; "
                                                 "accepted on loopback only: " SECRET_ADVICE,
                                                 opts->config.secret_len);
  }
  ok = TRUE;

out:
  for (guint i = 0; i < N_OPTS; i++)
    g_free (file_values[i]);
  return ok;
}

/* Reads HUB_<OPTION> for every option (and HUB_CONFIG). Unknown HUB_*
 * variables are left alone: other programs (and hub's tests) use the prefix. */
static gboolean
read_environment (HubOptionSources *srcs, GError **error)
{
  for (guint i = 0; i < N_OPTS; i++) {
    g_autofree char *var = env_name (specs[i].name);
    const char *value = g_getenv (var);
    gboolean b;

    if (value == NULL)
      continue;
    if (specs[i].kind == KIND_FLAG) {
      if (!parse_bool (value, &b)) {
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                     "%s: '%s' is not true or false", var, value);
        return FALSE;
      }
      srcs->env_flag = b;
    } else {
      srcs->env[i] = g_strdup (value);
    }
  }
  return TRUE;
}

/* The --config file, made absolute so that a reload reads the same file. */
static gboolean
set_config_path (HubOptionSources *srcs, const char *path, const char *via, GError **error)
{
  if (path == NULL)
    return TRUE;
  if (path[0] == '\0') {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s: empty file name", via);
    return FALSE;
  }
  srcs->config_path = g_canonicalize_filename (path, NULL);
  srcs->config_via = via;
  return TRUE;
}

#define HELP_DESCRIPTION                                                                           \
  "Every option can also be set in the environment as HUB_<OPTION>, upper case with '_' for "      \
  "'-' (HUB_PORT=9000, HUB_SECRET_FILE=/etc/hub/secret, HUB_NO_AUTO_CREATE=true, "                 \
  "HUB_CONFIG=FILE), and in the key file of --config (group [hub], keys named like the "           \
  "options; a relative path there is read from the key file's directory). The command line "       \
  "wins over the environment, which wins over the key file.\n\n"                                   \
  "SIGTERM or SIGINT stops: no new connections, every connection closed with 1001 once its "       \
  "queue is written, exit 0 within 5 seconds. SIGHUP re-reads the key file and the secret file "   \
  "and applies, without closing any connection, the secret (tokens signed with the previous one "  \
  "still pass for --secret-grace seconds), the log settings, the limits for new connections "      \
  "(--rate, --burst, --max-queue-bytes, --hello-timeout), the bounds per user "                    \
  "(--max-connections-per-user, --max-subscriptions-per-user, --fanout-rate: every connection's "  \
  "next request) and on connections (--max-connections, --max-connections-per-address: the "       \
  "next upgrades; --http-timeout: the next requests); the other options need a restart, which "    \
  "is logged. A file that cannot be read or holds a bad value keeps the running settings.\n\n"     \
  "GET /metrics serves Prometheus metrics, GET /healthz the health, GET /api/stats the figures "   \
  "as JSON (docs/operations.md)."

gboolean
hub_options_parse (HubOptions *opts, int *argc, char ***argv, GError **error)
{
  HubOptionSources *srcs = g_new0 (HubOptionSources, 1);
  g_autofree char *config_arg = NULL;
  gboolean version = FALSE;
  GOptionEntry entries[N_OPTS + 3];
  GPtrArray *help = g_ptr_array_new_with_free_func (g_free);
  GOptionContext *ctx;
  gboolean ok = FALSE;

  g_ref_count_init (&srcs->ref);
  srcs->env_flag = -1;
  memset (entries, 0, sizeof entries);
  for (guint i = 0; i < N_OPTS; i++) {
    g_autofree char *def = value_text (opts, (OptId)i);
    char *text = def != NULL && strstr (specs[i].help, "%s") != NULL
                     ? g_strdup_printf (specs[i].help, def)
                     : g_strdup (specs[i].help);

    g_ptr_array_add (help, text);
    entries[i].long_name = specs[i].name;
    entries[i].description = text;
    entries[i].arg_description = specs[i].arg;
    switch (specs[i].kind) {
      case KIND_FLAG:
        entries[i].arg = G_OPTION_ARG_NONE;
        entries[i].arg_data = &srcs->cl_flag;
        break;
      case KIND_PATH:
        entries[i].arg = G_OPTION_ARG_FILENAME;
        entries[i].arg_data = &srcs->cl[i];
        break;
      case KIND_STRING:
      default:
        entries[i].arg = G_OPTION_ARG_STRING;
        entries[i].arg_data = &srcs->cl[i];
        break;
    }
  }
  entries[N_OPTS] = (GOptionEntry){"config",
                                   0,
                                   0,
                                   G_OPTION_ARG_FILENAME,
                                   &config_arg,
                                   "Read settings from group [hub] of this key file "
                                   "(keys named like the options; the command line and the "
                                   "environment win; read again on SIGHUP)",
                                   "FILE"};
  entries[N_OPTS + 1] = (GOptionEntry){
      "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL};

  ctx = g_option_context_new ("- hub real-time messaging server");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx, HELP_DESCRIPTION);
  if (!g_option_context_parse (ctx, argc, argv, error))
    goto out;
  if (*argc > 1) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unexpected argument '%s'",
                 (*argv)[1]);
    goto out;
  }
  if (version) {
    printf ("hub-server %s\n", HUB_VERSION);
    ok = TRUE;
    goto out;
  }
  if (!read_environment (srcs, error))
    goto out;
  if (config_arg != NULL ? !set_config_path (srcs, config_arg, "--config", error)
                         : !set_config_path (srcs, g_getenv ("HUB_CONFIG"), "HUB_CONFIG", error))
    goto out;
  ok = resolve (opts, srcs, error);

out:
  g_option_context_free (ctx);
  g_ptr_array_unref (help);
  sources_unref (srcs);
  if (ok && version)
    exit (EXIT_SUCCESS); /* like --help */
  return ok;
}

gboolean
hub_options_reload (const HubOptions *running, HubOptions *next, GError **error)
{
  g_return_val_if_fail (running->sources != NULL, FALSE);

  hub_options_init (next);
  if (resolve (next, running->sources, error))
    return TRUE;
  hub_options_clear (next);
  return FALSE;
}

void
hub_options_diff (const HubOptions *before, const HubOptions *after, HubOptionsDiffFunc func,
                  gpointer user_data)
{
  for (guint i = 0; i < N_OPTS; i++) {
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;

    if (i == OPT_SECRET_FILE)
      continue; /* one line for the secret, wherever it came from */
    if (i == OPT_SECRET) {
      const HubConfig *x = &before->config, *y = &after->config;

      if (x->secret_len != y->secret_len || (x->secret == NULL) != (y->secret == NULL) ||
          (x->secret != NULL && memcmp (x->secret, y->secret, x->secret_len) != 0))
        func (specs[i].name, specs[i].apply, x->secret != NULL ? "(hidden)" : "(none)",
              y->secret != NULL ? "(hidden)" : "(none)", user_data);
      continue;
    }
    a = value_text (before, (OptId)i);
    b = value_text (after, (OptId)i);
    if (g_strcmp0 (a, b) != 0)
      func (specs[i].name, specs[i].apply, a != NULL ? a : "(none)", b != NULL ? b : "(none)",
            user_data);
  }
}

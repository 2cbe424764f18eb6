/* hub-lg-config.h: hub-loadgen's settings: command-line flags over an
 * optional scenario key file (group [loadgen], keys named like the long
 * flags), over the defaults. One table describes every setting, so the flags,
 * the key file, --help and the report's "config" object cannot disagree. */
#pragma once

#include "hub-lg-dist.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
  /* server */
  char *url;         /* (owned) */
  char *metrics_url; /* (owned) http(s)://…/metrics, derived from url unless given */
  char *secret;      /* (owned) (nullable) mint a token per user */
  char *source_ips;  /* (owned) (nullable) as given */
  guint threads;     /* 0: automatic (hub_lg_config_threads) */
  /* population */
  guint users;
  char *devices; /* (owned) as given: "2" or "1:60,2:30,3:10" */
  guint rooms, rooms_per_user;
  double room_skew;
  char *prefix;      /* (owned) (nullable) NULL: random per run */
  char *user_prefix; /* (owned) (nullable) of user names only; NULL: prefix */
  guint seed;        /* 0: random per run */
  /* traffic */
  double rate;   /* actions per second per user */
  char *mix;     /* (owned) as given */
  char *arrival; /* (owned) "poisson" or "uniform" */
  guint payload_bytes;
  /* phases */
  double ramp_s;
  double connect_rate; /* per second; 0: users × devices / ramp */
  double duration_s;
  double churn;   /* % of devices per minute */
  double drain_s; /* longest wait for the last deliveries */
  gboolean no_reconnect;
  /* gates */
  char *max_loss;    /* (owned) as given: "0", "12" or "0.1%" */
  double max_p99_ms; /* 0: no limit */
  gint64 max_errors; /* -1: no limit */
  /* capacity search */
  gboolean find_capacity;
  double step_factor;
  guint max_steps;
  /* distributed runs */
  char *shard; /* (owned) (nullable) "I/N": this process runs shard I of N */
  /* output */
  char *json_path;   /* (owned) (nullable) "-" is stdout */
  char *series_path; /* (owned) (nullable) JSON Lines, one a second; "-" is stdout */
  char *hgrm_path;   /* (owned) (nullable) */
  char *html_path;   /* (owned) (nullable) */
  char *scenario;    /* (owned) (nullable) */
  gboolean quiet;

  /* Derived by hub_lg_config_parse: */
  HubLgDiscrete device_dist;
  HubLgMix mix_shares;
  GPtrArray *source_addresses; /* (owned) (nullable) dotted strings */
  gboolean max_loss_is_ratio;
  double max_loss_value;          /* a count, or a fraction of the expected deliveries */
  guint shard_index, shard_count; /* from shard; 0 and 1 without it */
} HubLgConfig;

/* Fills @config with the defaults. */
void hub_lg_config_init (HubLgConfig *config);
void hub_lg_config_clear (HubLgConfig *config);

/* Parses @argv (argv[0] is the program): defaults, then the --scenario file,
 * then the flags. FALSE with @error (G_OPTION_ERROR) on bad usage: an unknown
 * flag or key, a value that does not parse, or settings that contradict each
 * other. --help prints and exits 0 (GOption's behaviour), so does --version. */
gboolean hub_lg_config_parse (HubLgConfig *config, int argc, char **argv, GError **error);
/* Same, from a key file's text only (tests, and --scenario itself). */
gboolean hub_lg_config_load_scenario (HubLgConfig *config, const char *data, gsize len,
                                      GError **error);
/* Checks the settings and computes the derived fields. */
gboolean hub_lg_config_finish (HubLgConfig *config, GError **error);
/* Sets what the JSON object @o (hub_lg_config_to_json()'s form, from a
 * report) says, except the secret, the output and the scenario file. Does not
 * call hub_lg_config_finish(). */
gboolean hub_lg_config_load_json (HubLgConfig *config, JsonObject *o, GError **error);

/* The settings as a JSON object, one member per setting (the secret masked). (transfer full) */
JsonObject *hub_lg_config_to_json (const HubLgConfig *config);

/* Connections per event loop when --threads is 0 (automatic). A GLib loop
 * walks every source and polls every descriptor on each iteration, and lws
 * keeps its timers in a sorted list, so a loop's cost per event grows with
 * its connections: a few thousand per loop keep it cheap. */
#define HUB_LG_CONNECTIONS_PER_THREAD 2000

/* The event loops in effect for @connections: --threads, or one per
 * HUB_LG_CONNECTIONS_PER_THREAD connections (1 to 16). */
guint hub_lg_config_threads (const HubLgConfig *config, guint connections);

/* The connect rate in effect (connections per second). */
double hub_lg_config_connect_rate (const HubLgConfig *config, guint connections);

G_END_DECLS

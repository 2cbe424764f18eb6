/* hub-admission.c: see hub-admission.h. A table of the connections lws holds
 * (by wsi), a table of remote addresses with their counts, and the queue of
 * connections waiting for a request, in deadline order (every deadline is
 * now + http_timeout_s when set, so appending keeps the order), with one timer
 * for its head. */
#include "hub-admission.h"

#include <string.h>

#include "hub-log.h"

/* hub_connections_refused_total's reasons, shown from the first scrape. */
#define REFUSED_FULL      "max_connections"
#define REFUSED_ADDRESS   "max_connections_per_address"
#define REFUSED_WAITING   "waiting_per_address"
#define REFUSED_TIMEOUT   "http_timeout"
#define REFUSED_MADE_ROOM "made_room"
static const char *const refused_reasons[] = {REFUSED_FULL, REFUSED_ADDRESS, REFUSED_WAITING,
                                              REFUSED_TIMEOUT, REFUSED_MADE_ROOM};

typedef struct {
  char *key; /* (owned) the address, an IPv6 one cut to its /64 */
  guint waiting;
  guint websockets;
  guint total;
} Address;

typedef struct {
  struct lws *wsi;    /* (unowned) */
  Address *address;   /* (unowned) (nullable) NULL when exempt */
  gint64 waiting_us;  /* monotonic: since when it waits for a request */
  gint64 deadline_us; /* monotonic: its request must be read by then */
  GList link;         /* in a->waiting while link.data != NULL */
  gboolean websocket;
  gboolean answered; /* it had a response: what it waits for is a next request */
} Peer;

struct _HubAdmission {
  HubAdmissionOptions options; /* exempt: a ref of the array */
  GHashTable *peers;           /* struct lws* → Peer* (owned) */
  GHashTable *addresses;       /* key → Address* (owned) */
  GQueue waiting;              /* Peer* (via link), oldest first */
  guint timer;                 /* for the head of waiting, 0 when none */
  guint websockets;
  guint64 refused;
  HubMetric *refusals; /* (unowned) (nullable) hub_connections_refused_total{reason} */
};

static void
address_free (gpointer data)
{
  Address *address = data;

  g_free (address->key);
  g_free (address);
}

HubAdmission *
hub_admission_new (const HubAdmissionOptions *options)
{
  HubAdmission *a = g_new0 (HubAdmission, 1);

  a->options = *options;
  if (a->options.exempt != NULL)
    g_ptr_array_ref (a->options.exempt);
  a->peers = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  a->addresses = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, address_free);
  g_queue_init (&a->waiting);
  if (options->metrics != NULL) {
    a->refusals = hub_metrics_add_counter (
        options->metrics, "hub_connections_refused_total",
        "Connections refused or ended by a bound before they could make a request: an upgrade "
        "answered 503 (max_connections, max_connections_per_address), too many waiting from "
        "one address, a request not whole within --http-timeout, the longest waiter ended to "
        "make room.",
        "reason");
    for (guint i = 0; i < G_N_ELEMENTS (refused_reasons); i++)
      hub_metric_declare (a->refusals, refused_reasons[i]);
  }
  return a;
}

/* Counts and logs a connection refused or ended for @reason (one of
 * refused_reasons). Warning when the server is full: the operator acts. */
static void
refused (HubAdmission *a, struct lws *wsi, const char *reason, const char *message)
{
  gboolean full = strcmp (reason, REFUSED_FULL) == 0;
  char peer[64];

  a->refused++;
  if (a->refusals != NULL)
    hub_metric_inc (a->refusals, reason, 1);
  if (!hub_log_enabled (full ? HUB_LOG_LEVEL_WARNING : HUB_LOG_LEVEL_INFO))
    return;
  if (lws_get_peer_simple (wsi, peer, sizeof peer) == NULL)
    peer[0] = '\0';
  hub_event_log ("hub-server", full ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_INFO, "connection_refused",
                 message, "peer", peer[0] != '\0' ? peer : NULL, "reason", reason, NULL);
}

void
hub_admission_free (HubAdmission *a)
{
  if (a == NULL)
    return;
  if (a->timer != 0)
    g_source_remove (a->timer);
  g_hash_table_unref (a->peers);
  g_hash_table_unref (a->addresses);
  if (a->options.exempt != NULL)
    g_ptr_array_unref (a->options.exempt);
  g_free (a);
}

/* ---- addresses ---- */

/* @wsi's remote address as the key it is counted under, NULL when it is
 * exempt or unknown. (transfer full) */
static char *
address_key (HubAdmission *a, struct lws *wsi)
{
  char text[64];
  g_autoptr (GInetAddress) inet = NULL;
  const char *plain = text;

  if (lws_get_peer_simple (wsi, text, sizeof text) == NULL)
    return NULL;
  /* An IPv4 client of an IPv6 socket. */
  if (g_str_has_prefix (text, "::ffff:") && strchr (text, '.') != NULL)
    plain = text + strlen ("::ffff:");
  inet = g_inet_address_new_from_string (plain);
  if (inet == NULL)
    return g_strdup (plain);
  for (guint i = 0; a->options.exempt != NULL && i < a->options.exempt->len; i++) {
    GInetAddressMask *mask = g_ptr_array_index (a->options.exempt, i);

    if (g_inet_address_mask_get_family (mask) == g_inet_address_get_family (inet) &&
        g_inet_address_mask_matches (mask, inet))
      return NULL;
  }
  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6) {
    /* One subscriber gets a /64 (RFC 6177): counting single IPv6 addresses
     * would count nothing. */
    guint8 bytes[16];
    g_autoptr (GInetAddress) prefix = NULL;
    g_autofree char *prefix_text = NULL;

    memcpy (bytes, g_inet_address_to_bytes (inet), sizeof bytes);
    memset (bytes + 8, 0, 8);
    prefix = g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV6);
    prefix_text = g_inet_address_to_string (prefix);
    return g_strconcat (prefix_text, "/64", NULL);
  }
  return g_inet_address_to_string (inet);
}

static Address *
address_get (HubAdmission *a, char *key /* (transfer full) */)
{
  Address *address = g_hash_table_lookup (a->addresses, key);

  if (address != NULL) {
    g_free (key);
    return address;
  }
  address = g_new0 (Address, 1);
  address->key = key;
  g_hash_table_insert (a->addresses, address->key, address);
  return address;
}

/* ---- waiting for a request ---- */

static void arm_timer (HubAdmission *a);

static void
stop_waiting (HubAdmission *a, Peer *peer)
{
  if (peer->link.data == NULL)
    return;
  g_queue_unlink (&a->waiting, &peer->link);
  peer->link.data = NULL;
  if (peer->address != NULL)
    peer->address->waiting--;
}

static void
start_waiting (HubAdmission *a, Peer *peer)
{
  gint64 now = g_get_monotonic_time ();

  stop_waiting (a, peer);
  peer->waiting_us = now;
  peer->deadline_us = a->options.http_timeout_s > 0
                          ? now + (gint64)a->options.http_timeout_s * G_USEC_PER_SEC
                          : G_MAXINT64;
  peer->link.data = peer;
  g_queue_push_tail_link (&a->waiting, &peer->link);
  if (peer->address != NULL)
    peer->address->waiting++;
  /* Past the bound, the head may be due before its deadline: arm again. */
  if (a->waiting.length == HUB_ADMISSION_MAX_WAITING + 1 && a->timer != 0) {
    g_source_remove (a->timer);
    a->timer = 0;
  }
  arm_timer (a);
}

/* Ends @peer's connection: lws destroys it from in here (its
 * hub_admission_destroyed() comes before this returns). */
static void
end (HubAdmission *a, Peer *peer)
{
  stop_waiting (a, peer);
  lws_set_timeout (peer->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}

/* The oldest waiter may be ended to make room once it is this old. */
static gint64
evictable_at (const Peer *peer)
{
  return peer->waiting_us + HUB_ADMISSION_EVICT_MIN_AGE_MS * 1000;
}

static gboolean
on_timer (gpointer user_data)
{
  HubAdmission *a = user_data;
  gint64 now = g_get_monotonic_time ();

  a->timer = 0;
  while (a->waiting.length > 0) {
    Peer *peer = g_queue_peek_head (&a->waiting);

    if (peer->deadline_us <= now) {
      /* Its request (headers and body) did not come whole in time: a client
       * that sends a byte now and then holds nothing longer than this. An
       * idle keep-alive connection (a scraper's between two scrapes) is
       * closed as well, without a word: it was answered. */
      if (peer->answered)
        g_debug ("admission: an idle keep-alive connection after %u s: closing",
                 a->options.http_timeout_s);
      else
        refused (a, peer->wsi, REFUSED_TIMEOUT, "a request not read whole within --http-timeout");
      end (a, peer);
    } else if (a->waiting.length > HUB_ADMISSION_MAX_WAITING && evictable_at (peer) <= now) {
      /* A crowd came faster than it could be told apart: the longest
       * waiters go, so that the next connection finds a header buffer. */
      refused (a, peer->wsi, REFUSED_MADE_ROOM,
               "too many connections waiting for their request: the longest waiter ends");
      end (a, peer);
    } else {
      break;
    }
  }
  arm_timer (a);
  return G_SOURCE_REMOVE;
}

static void
arm_timer (HubAdmission *a)
{
  Peer *head;
  gint64 at, wait_us;

  if (a->timer != 0 || a->waiting.length == 0)
    return;
  head = g_queue_peek_head (&a->waiting);
  at = a->options.http_timeout_s > 0 ? head->deadline_us : G_MAXINT64;
  if (a->waiting.length > HUB_ADMISSION_MAX_WAITING)
    at = MIN (at, evictable_at (head));
  if (at == G_MAXINT64)
    return;
  wait_us = MAX (at - g_get_monotonic_time (), 0);
  a->timer = g_timeout_add ((guint)((wait_us + 999) / 1000), on_timer, a);
}

/* ---- the connection's life ---- */

gboolean
hub_admission_accepted (HubAdmission *a, struct lws *wsi)
{
  char *key = address_key (a, wsi);
  Peer *peer;

  if (key != NULL) {
    Address *address = g_hash_table_lookup (a->addresses, key);

    if (address != NULL && address->waiting >= HUB_ADMISSION_PENDING_PER_ADDRESS) {
      g_free (key);
      refused (a, wsi, REFUSED_WAITING,
               "too many connections from this address waiting for their request");
      return FALSE;
    }
  }
  /* A crowd waiting (slow clients from many addresses): the longest waiter goes. */
  if (a->waiting.length >= HUB_ADMISSION_MAX_WAITING)
    hub_admission_make_room (a);
  peer = g_new0 (Peer, 1);
  peer->wsi = wsi;
  if (key != NULL) {
    peer->address = address_get (a, key);
    peer->address->total++;
  }
  g_hash_table_insert (a->peers, wsi, peer);
  start_waiting (a, peer);
  return TRUE;
}

const char *
hub_admission_check_upgrade (HubAdmission *a, struct lws *wsi)
{
  Peer *peer = g_hash_table_lookup (a->peers, wsi);
  const char *why;

  if (a->options.max_connections > 0 && a->websockets >= a->options.max_connections) {
    why = "the server holds as many connections as it may (--max-connections)";
    refused (a, wsi, REFUSED_FULL, why);
    return why;
  }
  if (peer != NULL && peer->address != NULL && a->options.max_connections_per_address > 0 &&
      peer->address->websockets >= a->options.max_connections_per_address) {
    why = "too many connections from this address (--max-connections-per-address)";
    refused (a, wsi, REFUSED_ADDRESS, why);
    return why;
  }
  return NULL;
}

void
hub_admission_upgraded (HubAdmission *a, struct lws *wsi)
{
  Peer *peer = g_hash_table_lookup (a->peers, wsi);

  if (peer == NULL || peer->websocket)
    return;
  stop_waiting (a, peer);
  peer->websocket = TRUE;
  a->websockets++;
  if (peer->address != NULL)
    peer->address->websockets++;
}

void
hub_admission_request_read (HubAdmission *a, struct lws *wsi)
{
  Peer *peer = g_hash_table_lookup (a->peers, wsi);

  if (peer != NULL)
    stop_waiting (a, peer);
}

void
hub_admission_awaiting_request (HubAdmission *a, struct lws *wsi)
{
  Peer *peer = g_hash_table_lookup (a->peers, wsi);

  if (peer != NULL && !peer->websocket) {
    peer->answered = TRUE;
    start_waiting (a, peer);
  }
}

void
hub_admission_destroyed (HubAdmission *a, struct lws *wsi)
{
  Peer *peer = g_hash_table_lookup (a->peers, wsi);

  if (peer == NULL)
    return;
  stop_waiting (a, peer);
  if (peer->websocket)
    a->websockets--;
  if (peer->address != NULL) {
    if (peer->websocket)
      peer->address->websockets--;
    if (--peer->address->total == 0)
      g_hash_table_remove (a->addresses, peer->address->key);
  }
  g_hash_table_remove (a->peers, wsi);
}

gboolean
hub_admission_make_room (HubAdmission *a)
{
  Peer *oldest = g_queue_peek_head (&a->waiting);

  if (oldest == NULL || evictable_at (oldest) > g_get_monotonic_time ())
    return FALSE;
  refused (a, oldest->wsi, REFUSED_MADE_ROOM,
           "out of descriptors: the connection that waited longest for its request ends");
  end (a, oldest);
  return TRUE;
}

void
hub_admission_configure (HubAdmission *a, guint max_connections, guint max_connections_per_address,
                         guint http_timeout_s)
{
  a->options.max_connections = max_connections;
  a->options.max_connections_per_address = max_connections_per_address;
  a->options.http_timeout_s = http_timeout_s;
  if (http_timeout_s == 0)
    return;
  /* Every deadline becomes at most waiting_us + the new timeout: the queue
   * (in waiting_us order) stays in deadline order, as on_timer reads it. */
  for (GList *l = a->waiting.head; l != NULL; l = l->next) {
    Peer *peer = l->data;

    peer->deadline_us =
        MIN (peer->deadline_us, peer->waiting_us + (gint64)http_timeout_s * G_USEC_PER_SEC);
  }
  if (a->timer != 0) {
    g_source_remove (a->timer);
    a->timer = 0;
  }
  arm_timer (a);
}

guint
hub_admission_n_websockets (HubAdmission *a)
{
  return a->websockets;
}

guint
hub_admission_n_waiting (HubAdmission *a)
{
  return a->waiting.length;
}

guint64
hub_admission_n_refused (HubAdmission *a)
{
  return a->refused;
}

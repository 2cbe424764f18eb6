/* hub-admission.h: who may hold a connection to hub-server, and for how long
 * before it has said what it wants (PROTOCOL.md §8). Every connection the
 * listener accepts is counted against its remote address (an IPv6 address by
 * its /64) until lws destroys it. A WebSocket upgrade is refused with HTTP
 * 503 beyond max_connections WebSockets in all (what is left of the
 * descriptors stays for HTTP: /healthz and /metrics answer however many
 * clients there are) or max_connections_per_address from one address. A
 * connection waiting for a request has http_timeout_s for all of it, headers
 * and body (lws restarts its own timeout at every byte); one address may have
 * at most HUB_ADMISSION_PENDING_PER_ADDRESS such connections; and when the
 * process runs out of descriptors, or more than HUB_ADMISSION_MAX_WAITING
 * wait, the one that waited longest makes room. */
#pragma once

#include <gio/gio.h>
#include <hub/hub.h>
#include <libwebsockets.h>

G_BEGIN_DECLS

/* Connections one address may have waiting for a request at once. */
#define HUB_ADMISSION_PENDING_PER_ADDRESS 64
/* Connections waiting for a request at once, beyond which each new one makes
 * room by ending the one that waited longest. lws gives every connection a
 * header buffer from a pool (HUB_HTTP_HEADER_POOL, twice this) as soon as it
 * is adopted, and one that finds the pool empty waits behind the others: a
 * crowd of slow clients would hold /healthz up for their whole deadline. */
#define HUB_ADMISSION_MAX_WAITING 128
/* A waiting connection younger than this is never ended to make room: every
 * new connection waits a little before its request is read. */
#define HUB_ADMISSION_EVICT_MIN_AGE_MS 1000

typedef struct {
  guint max_connections;             /* WebSockets in all; 0: no bound */
  guint max_connections_per_address; /* 0: no bound */
  GPtrArray *exempt;    /* (unowned) (nullable) GInetAddressMask*: not counted per address */
  guint http_timeout_s; /* for a whole request; 0: none */
  /* (unowned) (nullable) where hub_connections_refused_total{reason} goes:
   * every connection refused or ended by a bound above is counted there and
   * logged (event connection_refused: info, warning when the server is full). */
  HubMetrics *metrics;
} HubAdmissionOptions;

typedef struct _HubAdmission HubAdmission;

HubAdmission *hub_admission_new (const HubAdmissionOptions *options);
/* Forgets every connection (the lws context is gone). */
void hub_admission_free (HubAdmission *a);

/* The listener accepted a connection that lws adopted as @wsi: counted from
 * now, its request due within http_timeout_s. FALSE when its address has too
 * many connections waiting already: the caller ends it. */
gboolean hub_admission_accepted (HubAdmission *a, struct lws *wsi);
/* A WebSocket upgrade of @wsi: NULL to go on, else why it gets 503 (static). */
const char *hub_admission_check_upgrade (HubAdmission *a, struct lws *wsi);
/* @wsi is a WebSocket now (ESTABLISHED): no request deadline any more. */
void hub_admission_upgraded (HubAdmission *a, struct lws *wsi);
/* @wsi's request is read whole (headers, and body if any): its deadline stops. */
void hub_admission_request_read (HubAdmission *a, struct lws *wsi);
/* @wsi was answered and waits for its next request (keep-alive): a new deadline. */
void hub_admission_awaiting_request (HubAdmission *a, struct lws *wsi);
/* lws destroys @wsi: uncounted. Unknown wsis are ignored. */
void hub_admission_destroyed (HubAdmission *a, struct lws *wsi);
/* Out of descriptors: ends the connection that has waited longest for its
 * request, if it waited at least HUB_ADMISSION_EVICT_MIN_AGE_MS. FALSE when
 * none could go. */
gboolean hub_admission_make_room (HubAdmission *a);

/* SIGHUP: new bounds for the upgrades checked from now on, and a new request
 * deadline (0: none) for connections that start waiting from now; a shorter
 * one also brings in the deadlines of those waiting already. The connections
 * open are never ended for a lower bound. */
void hub_admission_configure (HubAdmission *a, guint max_connections,
                              guint max_connections_per_address, guint http_timeout_s);

/* Figures, for the transport's logs and the tests. */
guint hub_admission_n_websockets (HubAdmission *a);
guint hub_admission_n_waiting (HubAdmission *a);
guint64 hub_admission_n_refused (HubAdmission *a);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubAdmission, hub_admission_free)

G_END_DECLS

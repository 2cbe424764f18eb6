/* hub-http.h: the HTTP endpoints of PROTOCOL.md §10 on the WebSocket port
 * (healthz, metrics, stats, publish), and the check that refuses WebSocket
 * upgrades to other paths or subprotocols. Called from the lws protocol
 * callback in hub-ws-transport.c for the HTTP-side reasons. */
#pragma once

#include <glib.h>
#include <hub/hub.h>
#include <libwebsockets.h>

G_BEGIN_DECLS

/* The WebSocket path and subprotocol. */
#define HUB_WS_PATH        "/ws"
#define HUB_WS_SUBPROTOCOL "hub.v1"

/* Per-connection HTTP state, part of lws's per-session data (zeroed by lws).
 * What it holds is released at the end of each transaction. */
typedef struct {
  GByteArray *body;       /* a POST's body read so far (owned) (nullable) */
  char *authorization;    /* its Authorization header (owned) (nullable) */
  gboolean awaiting_body; /* a POST waits for HTTP_BODY_COMPLETION */
  HubApiAction action;    /* the POST's (/api/publish, §13's) */
  char *target;           /* (owned) (nullable) the room or user of a §13 path */
  /* An API call waiting for its answer (a cluster node waits for Redis). */
  struct lws *wsi;        /* the session's wsi, for the answer */
  HubApiPublish *pending; /* (nullable) until the answer comes */
  gboolean in_publish;    /* inside hub_api_start() */
  char *answer;           /* (owned) (nullable) the answer's JSON body, to write */
  guint answer_status;
} HubHttpSession;

/* Handles the HTTP-side lws callback reasons (HTTP, HTTP_BODY,
 * HTTP_BODY_COMPLETION, CLOSED_HTTP, the rest to lws's defaults). Returns
 * what the lws callback must return. */
int hub_http_callback (HubDispatcher *d, struct lws *wsi, enum lws_callback_reasons reason,
                       HubHttpSession *s, void *in, size_t len);

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE (before lws allocates per-session data)
 * with @upgrade the Upgrade header value. Returns 0 to let a WebSocket
 * upgrade of GET /ws offering hub.v1 (or no subprotocol) go on; otherwise
 * writes the refusal (404, 405 or 400 with a JSON body, never 101) and
 * returns 1 (lws then completes the transaction). */
int hub_http_confirm_upgrade (struct lws *wsi, const char *upgrade);

/* Frees what @s holds; idempotent. A pending publish must be cancelled
 * first (hub_http_callback does on CLOSED_HTTP). */
void hub_http_session_clear (HubHttpSession *s);

G_END_DECLS

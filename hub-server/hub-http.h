/* hub-http.h: the HTTP side of hub-server's port (PROTOCOL.md §10): a table
 * of routes (path, method, whether it needs an admin token, whether it reads a
 * body, its handler), the checks every request passes in §13's order before
 * its handler runs, and the check that refuses WebSocket upgrades to other
 * paths or subprotocols, beyond the connection bounds (503), and h2c. Called
 * from the lws protocol callback in hub-ws-transport.c for the HTTP-side
 * reasons. */
#pragma once

#include <glib.h>
#include <hub/hub.h>
#include <libwebsockets.h>

#include "hub-admission.h"

G_BEGIN_DECLS

/* The WebSocket path and subprotocol. */
#define HUB_WS_PATH        "/ws"
#define HUB_WS_SUBPROTOCOL "hub.v1"

/* A request line's target longer than this is answered 414, a header longer
 * than this 431 (nginx's large_client_header_buffers). lws keeps at most
 * HUB_HTTP_HEADER_BYTES of a request's headers: beyond, lws 4.1 drops the
 * connection without an answer (its parser has no other way out); headers it
 * knows are cut at HUB_HTTP_HEADER_MAX, so only many unknown ones get there. */
#define HUB_HTTP_URI_MAX      8192
#define HUB_HTTP_HEADER_MAX   8192
#define HUB_HTTP_HEADER_BYTES (32 * 1024)
/* Connections lws reads headers for at once (each holds a buffer of
 * HUB_HTTP_HEADER_BYTES: 8 MiB in all); more wait their turn in lws. The
 * admission keeps fewer than this waiting (HUB_ADMISSION_MAX_WAITING), so a
 * new connection finds a buffer. */
#define HUB_HTTP_HEADER_POOL (2 * HUB_ADMISSION_MAX_WAITING)

/* Per-connection HTTP state, part of lws's per-session data (zeroed by lws).
 * What it holds is released at the end of each transaction. */
typedef struct {
  const void *route;      /* (nullable) the route of a request that reads a body */
  char *path;             /* (owned) (nullable) its path, and */
  char *query;            /* (owned) (nullable) its query string, for the handler */
  char *authorization;    /* (owned) (nullable) its Authorization header */
  GByteArray *body;       /* (owned) (nullable) the body read so far, grown as it comes */
  gsize body_expected;    /* its Content-Length */
  gboolean awaiting_body; /* a body route waits for HTTP_BODY_COMPLETION */
  /* An answer that may come later (a cluster node waits for Redis). */
  struct lws *wsi;        /* the session's wsi, for the answer */
  HubApiPublish *pending; /* (nullable) until the answer comes */
  gboolean in_handler;    /* inside the handler: an answer is written on return */
  char *answer;           /* (owned) (nullable) the answer's JSON body, to write */
  guint answer_status;
} HubHttpSession;

typedef struct _HubHttp HubHttp;

/* @dispatcher and @admission are unowned and outlive it; @http2 allows the
 * h2c upgrade (off: a request asking for it is answered in HTTP/1.1). */
HubHttp *hub_http_new (HubDispatcher *dispatcher, HubAdmission *admission, gboolean http2);
void hub_http_free (HubHttp *http);

/* The header limits above, in the lws context's creation info. */
void hub_http_configure_context (struct lws_context_creation_info *info);

/* Handles the HTTP-side lws callback reasons (HTTP, HTTP_BODY,
 * HTTP_BODY_COMPLETION, HTTP_WRITEABLE, CLOSED_HTTP, the rest to lws's
 * defaults). Returns what the lws callback must return. */
int hub_http_callback (HubHttp *http, struct lws *wsi, enum lws_callback_reasons reason,
                       HubHttpSession *s, void *in, size_t len);

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE (before lws allocates per-session data)
 * with @upgrade the Upgrade header value (lws's own buffer). Returns 0 to let
 * a WebSocket upgrade of GET /ws offering hub.v1 (or no subprotocol) go on,
 * or an h2c upgrade be served as a plain HTTP/1.1 request; otherwise writes
 * the refusal (414, 431, 404, 405, 400 or 503 with a JSON body, never 101)
 * and returns 1 (lws then completes the transaction). */
int hub_http_confirm_upgrade (HubHttp *http, struct lws *wsi, char *upgrade);

/* Frees what @s holds; idempotent. A pending publish must be cancelled
 * first (hub_http_callback does on CLOSED_HTTP). */
void hub_http_session_clear (HubHttpSession *s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubHttp, hub_http_free)

G_END_DECLS

/* hub-codec.h: bytes ⇄ typed requests and server frames (PROTOCOL.md), with
 * json-glib. Knows nothing of rooms or connections: it validates shapes and
 * names, the dispatcher validates against state. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "hub-api.h"
#include "hub-error.h"
#include "hub-frame.h"

G_BEGIN_DECLS

#define HUB_NAME_MAX      64
#define HUB_ROOM_NAME_MAX 200
#define HUB_MULTICAST_MAX 1000

typedef enum {
  HUB_REQ_UNKNOWN = 0, /* a string type this protocol does not know */
  HUB_REQ_HELLO,
  HUB_REQ_CREATE,
  HUB_REQ_JOIN,
  HUB_REQ_LEAVE,
  HUB_REQ_ROOMS,
  HUB_REQ_ROOM_INFO,
  HUB_REQ_WHO,
  HUB_REQ_PUBLISH,
  HUB_REQ_DIRECT,
  HUB_REQ_MULTICAST,
  HUB_REQ_BROADCAST,
  HUB_REQ_TYPING,
  HUB_REQ_HISTORY,
  HUB_REQ_STATUS,
  HUB_REQ_SUBSCRIBE,
  HUB_REQ_UNSUBSCRIBE,
  HUB_REQ_ONLINE,
  HUB_REQ_PING,
  HUB_REQ_REFRESH, /* §12 */
  HUB_REQ_N_TYPES
} HubRequestType;

typedef enum {
  HUB_STATUS_OFFLINE = 0, /* not connected, or connected and invisible */
  HUB_STATUS_ONLINE,
  HUB_STATUS_AWAY,
  HUB_STATUS_BUSY,
} HubStatus;

HUB_API
const char *hub_status_to_string (HubStatus status);
/* FALSE for anything but "online", "away", "busy", "offline". */
HUB_API
gboolean hub_status_from_string (const char *str, HubStatus *out);
HUB_API
const char *hub_request_type_to_string (HubRequestType type);

/* TRUE when @name is 1–64 chars of A-Z a-z 0-9 _ . @ - not starting with '@'. */
HUB_API
gboolean hub_name_is_valid (const char *name);

/* A decoded, validated request. Only the fields of its type are set; optional
 * fields that were absent or null are NULL / FALSE. All strings owned. */
typedef struct _HubRequest {
  HubRequestType type;
  char *id_json; /* the id re-encoded as JSON ("7", "\"a\""), NULL when absent */

  char *user;                /* hello */
  char *device;              /* hello (NULL: default) */
  char *token;               /* hello; join (room token, §12); refresh (required) */
  gboolean token_not_string; /* hello: `token` present, not null, not a string (→ unauthorized) */
  GHashTable *resume; /* hello: room (char*) → gint64* last seq; only valid entries; may be NULL */
  /* hello: room (char*) → gint64* epoch (> 0) of the stream its resume seq
   * belongs to (the server's addition to §3: README, Stream epochs); may be NULL */
  GHashTable *epochs;

  char *room;        /* create join leave room_info who publish typing history */
  char *name;        /* create join (NULL: absent) */
  char *to;          /* direct */
  GPtrArray *users;  /* multicast `to`, subscribe/unsubscribe `users` (char*) */
  JsonNode *payload; /* publish direct multicast broadcast: a JSON object */

  gint64 since; /* history */
  gint64 limit; /* history, online; valid when has_limit */
  gboolean has_limit;
  HubStatus status; /* status */

  /* Not decoded: set by whoever executes the request. @done (nullable) runs
   * in hub_request_free(), which a handler calls once the reply is queued
   * (the dispatcher's request latency, from @received_us, monotonic). */
  gint64 received_us;
  void (*done) (const struct _HubRequest *req, gpointer data);
  gpointer done_data;
} HubRequest;

HUB_API
void hub_request_free (HubRequest *req);

/* Result of decoding one client text message. */
typedef struct {
  /* TRUE when the message is a JSON object with a string `type` and an id that is
   * absent, an integer or a string. Needed to answer not_authenticated (§2). */
  gboolean envelope_ok;
  HubRequestType type; /* valid when envelope_ok */
  char *type_string;   /* the raw type, when it was a string (owned) */
  char *id_json;       /* the id when it was an integer or string (owned, nullable) */
  HubErrorCode code;   /* HUB_ERROR_NONE on success */
  char *message;       /* human text for the error (owned, nullable) */
  HubRequest *request; /* on success (owned) */
} HubDecodeResult;

/* Decodes and validates @len bytes (need not be NUL-terminated). Never fails
 * silently: either result->request is set, or result->code says why, with the
 * exact code PROTOCOL.md gives for that form. Call hub_decode_result_clear() after. */
HUB_API
void hub_codec_decode (const char *data, gsize len, HubDecodeResult *result);
HUB_API
void hub_decode_result_clear (HubDecodeResult *result);

/* A request's envelope read without decoding it (a strict scan, no JSON
 * tree): for answering a frame the server will not execute (rate-limited,
 * or not a hello before hello) at the cost of reading its bytes once. */
typedef struct {
  /* TRUE when the fields below are what hub_codec_decode() would find; FALSE
   * when only decoding can tell (invalid JSON, escapes in a top-level key or
   * in `type`, an id json-glib would alter). */
  gboolean sure;
  gboolean envelope_ok; /* a string `type`, and an `id` absent, integer or string */
  HubRequestType type;  /* when envelope_ok; HUB_REQ_UNKNOWN for other names */
  char *id_json;        /* (owned) (nullable) the id as the decoder re-encodes it */
  gsize n_values;       /* JSON values in the message (json-glib's cost is in these) */
} HubPeek;

HUB_API
void hub_codec_peek (const char *data, gsize len, HubPeek *peek);
HUB_API
void hub_peek_clear (HubPeek *peek);

/* --- Encoding server frames. Every function returns a new frame (transfer full).
 * `id_json` is the request's id as returned by the decoder, NULL for none. --- */

/* {"type":"error","id":…,"code":…,"message":…} */
HUB_API
HubFrame *hub_encode_error (const char *id_json, HubErrorCode code, const char *message);

/* {"type":"ok","id":…, <fields of @result>}: @result is a JSON object whose
 * members are appended (may be NULL). */
HUB_API
HubFrame *hub_encode_ok (const char *id_json, JsonObject *result);

/* {"type":"ok","id":…,"messages":[<stored frames, verbatim>],"complete":…,"more":…}:
 * history replies splice the stored message frames without re-encoding them. */
HUB_API
HubFrame *hub_encode_history_ok (const char *id_json, HubFrame *const *messages, guint n,
                                 gboolean complete, gboolean more);

/* The bounds a client paces itself by (PROTOCOL.md §8), in welcome's
 * `limits`: {"rate_per_s","burst","max_connections_per_user",
 * "max_subscriptions_per_user","fanout_bytes_per_s"} (0: no bound). */
typedef struct {
  double rate_per_s, burst;
  guint max_connections_per_user;
  guint max_subscriptions_per_user;
  gint64 fanout_bytes_per_s;
} HubWelcomeLimits;

typedef struct {
  const char *conn, *user, *device, *node, *server;
  gint heartbeat_s;
  gint64 max_message_bytes;
  const char *const *rooms; /* NULL-terminated */
  guint n_rooms;
  /* `epochs`: the rooms (of @rooms) whose stream is not the one the hello's
   * `epochs` named, with the epoch of their stream now; none: no member. */
  const char *const *epoch_rooms;
  const gint64 *epochs;
  guint n_epochs;
  gint64 expires_ts;              /* Unix ms of the token's `exp` (§12); 0: absent */
  const HubWelcomeLimits *limits; /* (nullable) no `limits` when NULL */
} HubWelcome;
HUB_API
HubFrame *hub_encode_welcome (const char *id_json, const HubWelcome *w);

HUB_API
HubFrame *hub_encode_message (const char *room, gint64 seq, const char *from, const char *device,
                              gint64 ts_ms, JsonNode *payload);
HUB_API
HubFrame *hub_encode_direct (const char *from, const char *to, gint64 ts_ms, JsonNode *payload);
HUB_API
HubFrame *hub_encode_multicast (const char *from, gint64 ts_ms, JsonNode *payload);
HUB_API
HubFrame *hub_encode_broadcast (const char *from, gint64 ts_ms, JsonNode *payload);
/* Ephemeral frames (HUB_FRAME_FLAG_EPHEMERAL set). */
HUB_API
HubFrame *hub_encode_typing (const char *room, const char *user);
HUB_API
HubFrame *hub_encode_presence (const char *event /* "join"|"leave" */, const char *room,
                               const char *user);
HUB_API
HubFrame *hub_encode_status (const char *user, HubStatus status);
/* {"type":"resumed","room":…,"from":…,"to":…,"complete":…,"epoch":…}; no epoch
 * when @epoch is 0 (unknown). */
HUB_API
HubFrame *hub_encode_resumed (const char *room, gint64 from, gint64 to, gboolean complete,
                              gint64 epoch);
/* {"type":"pong","id":…,"ts":…} */
HUB_API
HubFrame *hub_encode_pong (const char *id_json, gint64 ts_ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubRequest, hub_request_free)

G_END_DECLS

/* hub-client.h: an asynchronous client of PROTOCOL.md on the GLib main loop.
 * It says hello, numbers requests and hands each reply to its callback exactly
 * once, turns server frames into typed events, tracks the last seq seen per
 * room, and reconnects with exponential backoff and full jitter, resuming
 * every room so that no message is lost or delivered twice. A client owns no
 * thread: all clients of a thread share one libwebsockets context on the
 * thread-default GMainContext, so thousands of them fit in one process
 * (about 8 KiB each). That context sizes its descriptor table from
 * RLIMIT_NOFILE when the first client connects: raise the limit before. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "hub-api.h"
#include "hub-clock.h"

G_BEGIN_DECLS

typedef struct _HubClient HubClient;

typedef enum {
  HUB_CLIENT_DISCONNECTED, /* not started, hub_client_disconnect(), or gave up */
  HUB_CLIENT_CONNECTING,   /* (the provider's token,) socket, TLS, upgrade, hello until welcome */
  HUB_CLIENT_CONNECTED,    /* welcome received: requests may be sent */
  HUB_CLIENT_RECONNECTING, /* connection lost: waiting for the backoff timer */
} HubClientState;

/* "disconnected", "connecting", … (transfer none) */
HUB_CLIENT_API
const char *hub_client_state_to_string (HubClientState state);

/* What a state change tells. */
typedef struct {
  HubClientState state;
  HubClientState old_state;
  /* DISCONNECTED / RECONNECTING after a connection: the close code the server
   * sent, 1006 when the connection ended without one, 0 when no connection was
   * established (connect error) or the client closed it itself. DISCONNECTED
   * because the token provider had no token for a reconnect: the close code
   * of the connection that ended before (4003 after a token expiry). */
  guint close_code;
  const char *reason; /* (nullable) human text: close code and reason, connect or hello error */
  guint retry_in_ms;  /* RECONNECTING: delay before the next attempt */
  guint attempt;      /* RECONNECTING: 1 for the first retry since the last welcome */
  /* (nullable) the reason the server's close frame carried, as it came
   * (@reason is the client's own words: for 4003 "token expired", for 4010
   * "disconnected by the server", §9). */
  const char *close_reason;
} HubClientStateChange;

typedef enum {
  HUB_CLIENT_EVENT_WELCOME,   /* user, device, conn, node, rooms, frame */
  HUB_CLIENT_EVENT_MESSAGE,   /* room, seq, from, device, ts, payload */
  HUB_CLIENT_EVENT_DIRECT,    /* from, to, ts, payload */
  HUB_CLIENT_EVENT_MULTICAST, /* from, ts, payload */
  HUB_CLIENT_EVENT_BROADCAST, /* from, ts, payload */
  HUB_CLIENT_EVENT_TYPING,    /* room, user */
  HUB_CLIENT_EVENT_PRESENCE,  /* room, user, presence ("join" / "leave") */
  HUB_CLIENT_EVENT_STATUS,    /* user, status */
  HUB_CLIENT_EVENT_RESUMED,   /* room, from_seq, to_seq, complete */
  HUB_CLIENT_EVENT_ERROR,     /* code, text: an error frame that answers no pending request */
  HUB_CLIENT_EVENT_GAP,       /* room, from_seq..to_seq: messages this client never saw */
  HUB_CLIENT_EVENT_OTHER,     /* any other frame (unknown type, reply to a /raw id…) */
  /* After a reconnect, a room this client was in that the server no longer
   * had (it restarted, in memory): joined again. room; seq: its last seq
   * now (a new room: seqs start again); frame: the join reply. */
  HUB_CLIENT_EVENT_REJOINED,
  /* A room this client was in is no longer its own: left from another
   * device or removed by the server API (§13) — seen as a `presence`
   * `leave` of its user, or in a welcome that no longer lists it — or a
   * request for it answered `not_member`. room; code, text: why. The room
   * is no longer tracked (hub_client_get_rooms). frame: NULL. */
  HUB_CLIENT_EVENT_ROOM_LOST,
  /* §12: a `refresh` was accepted. expires_ts: the new deadline (Unix ms),
   * 0 when the new token has none. frame: the `ok` reply. */
  HUB_CLIENT_EVENT_TOKEN_REFRESHED,
  /* No fresh token this time: the refresh was refused (code "unauthorized",
   * "bad_request": the server's `error`), went unanswered ("timed_out"), the
   * token provider had none ("token_unavailable"), or, for a refresh the
   * client sent by itself, the server took a token that ends no later than
   * the one it replaced ("stale_token": the provider had nothing fresher;
   * asked with hub_client_refresh_token that is a TOKEN_REFRESHED); text: why.
   * expires_ts: the deadline that stands (the server closes with 4003 then
   * unless a later refresh succeeds), 0 when none. frame: the `error` reply
   * or NULL. The client does not try again by itself before that deadline
   * (hub_client_refresh_token does). */
  HUB_CLIENT_EVENT_TOKEN_FAILED,
} HubClientEventType;

/* A server frame that is not the reply to a request, typed. Every pointer is
 * (transfer none) and valid during the callback only; absent fields are NULL
 * or 0. */
typedef struct {
  HubClientEventType type;
  JsonObject *frame; /* the whole frame; NULL for GAP and ROOM_LOST */
  const char *room;
  gint64 seq;
  const char *from;
  const char *device;
  const char *to;
  const char *user;
  const char *presence; /* "join" or "leave" */
  const char *status;
  gint64 ts;
  JsonObject *payload;
  gint64 from_seq, to_seq; /* RESUMED; GAP: the first and last missing seq */
  gboolean complete;       /* RESUMED */
  const char *code;        /* ERROR, ROOM_LOST */
  const char *text;        /* ERROR: the message field; ROOM_LOST: why */
  const char *conn;        /* WELCOME */
  const char *node;        /* WELCOME */
  JsonArray *rooms;        /* WELCOME */
  gint64 expires_ts; /* WELCOME, TOKEN_REFRESHED, TOKEN_FAILED: the token's deadline, 0: none */
} HubClientEvent;

/* Every member is optional. Callbacks run on the client's main context;
 * replies and events never run from inside a hub_client_*() call (state
 * changes may, from hub_client_connect and hub_client_disconnect), except the
 * *_sync() calls, which iterate the main context. Any callback may free the
 * client: nothing runs for it afterwards (but not while a *_sync() call on it
 * is waiting). */
typedef struct {
  void (*state_changed) (HubClient *client, const HubClientStateChange *change, gpointer user_data);
  void (*event) (HubClient *client, const HubClientEvent *event, gpointer user_data);
  /* Every frame received, replies included, before it is handled (for a raw
   * JSON log). @text is the frame as it came. */
  void (*frame) (HubClient *client, JsonObject *frame, const char *text, gpointer user_data);
} HubClientCallbacks;

/* The reply to a request: @reply is the `ok` (or other reply) frame, or the
 * `error` frame with @error in the HUB_ERROR domain (code from its `code`);
 * on a local failure @reply is NULL and @error is G_IO_ERROR_CLOSED
 * (connection lost or hub_client_disconnect), G_IO_ERROR_TIMED_OUT,
 * G_IO_ERROR_MESSAGE_TOO_LARGE (the frame is larger than the server takes;
 * not sent),
 * G_IO_ERROR_NOT_CONNECTED (sent while not connected) or G_IO_ERROR_CANCELLED
 * (the client was freed; then the callback runs inside hub_client_free). */
typedef void (*HubClientReplyFunc) (HubClient *client, JsonObject *reply, const GError *error,
                                    gpointer user_data);

/* ---- transport (libwebsockets by default; tests plug in a fake) ---- */

typedef struct _HubClientTransport HubClientTransport;

/* What the transport tells its client; @owner is the client. */
typedef struct {
  void (*opened) (gpointer owner);
  void (*received) (gpointer owner, const char *text, gsize len);
  /* The connection (or the attempt) ended: @close_code as in
   * HubClientStateChange; @reason may be NULL. Called once per open(). */
  void (*closed) (gpointer owner, guint close_code, const char *reason);
} HubClientTransportSink;

typedef struct {
  gboolean tls;
  char *host; /* (owned) without brackets */
  guint16 port;
  char *path; /* (owned) with its query */
} HubClientUrl;

typedef struct {
  /* A transport for one client; the sink is called with @owner. (transfer full) */
  HubClientTransport *(*create) (const HubClientUrl *url, const char *ca_file,
                                 gboolean allow_self_signed, const HubClientTransportSink *sink,
                                 gpointer owner);
  /* Starts a connection; FALSE when it cannot even start (then no closed()). */
  gboolean (*open) (HubClientTransport *transport, GError **error);
  /* Queues one text frame; FALSE when there is no open connection. */
  gboolean (*send) (HubClientTransport *transport, const char *text, gsize len);
  /* Sends a close frame with @code; closed() follows. */
  void (*close) (HubClientTransport *transport, guint16 code);
  /* Ends the connection abruptly (no close frame, like a network failure);
   * closed() follows with 1006. */
  void (*drop) (HubClientTransport *transport);
  /* Ends any connection; no sink call afterwards. */
  void (*destroy) (HubClientTransport *transport);
  /* (nullable) Binds the next connections to the local @address (an IP
   * literal) before connecting. */
  void (*set_bind_address) (HubClientTransport *transport, const char *address);
} HubClientTransportClass;

/* The libwebsockets transport (ws:// and wss://). (transfer none) */
HUB_CLIENT_API
const HubClientTransportClass *hub_client_lws_transport (void);

/* ---- options ---- */

/* Why the token provider is asked for a token (HubClientOptions.token_provider). */
typedef enum {
  /* For the hello of a connection about to be made: every reconnect, and
   * the first connection when HubClientOptions.token is NULL. */
  HUB_CLIENT_TOKEN_CONNECT,
  /* For a `refresh` (§12): the deadline approaches, or hub_client_refresh_token. */
  HUB_CLIENT_TOKEN_REFRESH,
} HubClientTokenNeed;

/* The token provider (PROTOCOL.md §12): the client needs a fresh connection
 * token, for @need. Answer with hub_client_supply_token() or
 * hub_client_token_unavailable(), either inside this call (a token minted in
 * the process: no thread, no allocation but the token's) or later from the
 * main context (fetched over the network, made by another program: nothing
 * blocks the loop every client of the thread shares), within
 * request_timeout_ms (after it the ask counts as failed). One ask at a time:
 * the client asks again only after an answer.
 *
 * With a provider the client refreshes on its own: at a random point between
 * 75 % and 85 % of the time from the welcome (or the last refresh) to the
 * token's deadline (`expires_ts`), so that many connections spread their
 * refreshes, it asks here and sends `refresh`; and before every reconnect it
 * asks here for the token of the new hello. After a 4003 close (token
 * expired) it reconnects only with a token from here; a provider that has
 * none then ends it (DISCONNECTED). Without a provider the token of
 * HubClientOptions is used for every hello, and 4003 is final. */
typedef void (*HubClientTokenProvider) (HubClient *client, HubClientTokenNeed need,
                                        gpointer user_data);

typedef struct {
  /* (nullable) Where fresh connection tokens come from (above), and its
   * @user_data; NULL: HubClientOptions.token is the only one. */
  HubClientTokenProvider token_provider;
  gpointer token_provider_data;
  const char *url;          /* ws://HOST[:PORT][/PATH] or wss://…; NULL: ws://127.0.0.1:8080/ws */
  const char *user;         /* (nullable) with a token */
  const char *device;       /* (nullable) server default "default" */
  const char *token;        /* (nullable) JWT */
  gboolean auto_reconnect;  /* default TRUE */
  guint backoff_min_ms;     /* default 250: the first retry waits up to this */
  guint backoff_max_ms;     /* default 30000: the cap of the exponential */
  guint request_timeout_ms; /* default 30000; 0: never time out */
  guint32 seed;             /* jitter randomness; 0: seeded from the system */
  const char *ca_file;      /* (nullable) PEM CA bundle for wss */
  gboolean allow_self_signed;               /* wss: accept any certificate (tests only) */
  HubClock *clock;                          /* (nullable) timers; NULL: a real clock */
  const HubClientTransportClass *transport; /* (nullable) NULL: libwebsockets */
  /* (nullable) Local IP address to bind the connection to (e.g. one of
   * 127.0.0.1-127.0.0.20, so that one machine can open more connections to a
   * server than one source address has ports); NULL: the system's choice. */
  const char *bind_address;
} HubClientOptions;

/* Fills @options with the defaults above. */
HUB_CLIENT_API
void hub_client_options_init (HubClientOptions *options);

/* Splits a ws:// or wss:// URL; an empty path becomes "/ws". FALSE with
 * @error (G_IO_ERROR_INVALID_ARGUMENT) when it is not one. */
HUB_CLIENT_API
gboolean hub_client_url_parse (const char *url, HubClientUrl *out, GError **error);
HUB_CLIENT_API
void hub_client_url_clear (HubClientUrl *url);

/* ---- the client ---- */

/* Copies what it needs from @options (strings included); NULL with @error
 * when the URL is bad. The client starts DISCONNECTED and lives on the
 * thread-default main context of the thread that created it. (transfer full) */
HUB_CLIENT_API
HubClient *hub_client_new (const HubClientOptions *options, const HubClientCallbacks *callbacks,
                           gpointer user_data, GError **error);
/* Closes the connection and fails pending requests with G_IO_ERROR_CANCELLED;
 * no event or state callback runs after it. Safe inside the client's own
 * callbacks (the memory goes when the callback returns). */
HUB_CLIENT_API
void hub_client_free (HubClient *client);

/* Starts connecting (DISCONNECTED → CONNECTING); a no-op in other states. */
HUB_CLIENT_API
void hub_client_connect (HubClient *client);
/* Closes with 1000 and stops reconnecting; pending requests fail with
 * G_IO_ERROR_CLOSED; the state becomes DISCONNECTED once closed. */
HUB_CLIENT_API
void hub_client_disconnect (HubClient *client);
/* Test hook: ends the connection as a network failure would (no close frame);
 * the client then reconnects and resumes like after any loss. */
HUB_CLIENT_API
void hub_client_drop_connection (HubClient *client);

/* Whether the client reconnects after a loss, from the next one on (as
 * HubClientOptions.auto_reconnect; e.g. FALSE until a first welcome, TRUE
 * after it, for a first connection that is tried once). */
HUB_CLIENT_API
void hub_client_set_auto_reconnect (HubClient *client, gboolean auto_reconnect);

HUB_CLIENT_API
HubClientState hub_client_get_state (HubClient *client);
/* From the last welcome (NULL before): (transfer none) (nullable) */
HUB_CLIENT_API
const char *hub_client_get_user (HubClient *client);
HUB_CLIENT_API
const char *hub_client_get_device (HubClient *client);
HUB_CLIENT_API
const char *hub_client_get_conn (HubClient *client);
/* The largest message the server takes (welcome's max_message_bytes, §1),
 * 0 before a welcome told it. A request whose frame is larger is not sent:
 * its callback gets G_IO_ERROR_MESSAGE_TOO_LARGE. */
HUB_CLIENT_API
guint hub_client_get_max_message_bytes (HubClient *client);
/* The URL as given (or the default). (transfer none) */
HUB_CLIENT_API
const char *hub_client_get_url (HubClient *client);
HUB_CLIENT_API
const HubClientUrl *hub_client_get_parsed_url (HubClient *client);

/* Sends {"type": @type, "id": N, …@fields} (fields: (transfer none) (nullable),
 * copied; its own "type" and "id" are replaced). @callback (nullable) gets the
 * reply exactly once. Returns N (> 0). */
HUB_CLIENT_API
gint64 hub_client_request (HubClient *client, const char *type, JsonObject *fields,
                           HubClientReplyFunc callback, gpointer user_data);
/* Fire-and-forget: no id, errors arrive as ERROR events. FALSE when not connected. */
HUB_CLIENT_API
gboolean hub_client_send (HubClient *client, const char *type, JsonObject *fields);
/* Sends @json as it is. FALSE when not connected. */
HUB_CLIENT_API
gboolean hub_client_send_text (HubClient *client, const char *json);

/* Shorthands of hub_client_request. @payload: (transfer none) */
HUB_CLIENT_API
gint64 hub_client_join (HubClient *client, const char *room, HubClientReplyFunc callback,
                        gpointer user_data);
/* `join` with a room token (§12: a JWT of the same secret with `sub`, `room`
 * and `allow`), which allows the join whatever the connection token says and
 * sets the membership's grant. The client keeps the token of a room joined
 * this way, for the join it sends itself if the server lost the room
 * (REJOINED). @room_token: (transfer none) */
HUB_CLIENT_API
gint64 hub_client_join_with_token (HubClient *client, const char *room, const char *room_token,
                                   HubClientReplyFunc callback, gpointer user_data);
HUB_CLIENT_API
gint64 hub_client_leave (HubClient *client, const char *room, HubClientReplyFunc callback,
                         gpointer user_data);
HUB_CLIENT_API
gint64 hub_client_publish (HubClient *client, const char *room, JsonObject *payload,
                           HubClientReplyFunc callback, gpointer user_data);
HUB_CLIENT_API
gint64 hub_client_direct (HubClient *client, const char *to, JsonObject *payload,
                          HubClientReplyFunc callback, gpointer user_data);
/* Fire-and-forget typing indicator for @room. */
HUB_CLIENT_API
gboolean hub_client_typing (HubClient *client, const char *room);

/* ---- synchronous convenience ----
 *
 * For short programs and scripts without a main loop of their own: each call
 * iterates the thread-default GMainContext (the client's) until its answer
 * arrives, at most @timeout_ms (0: no bound of its own), sleeping in between
 * (g_main_context_iteration blocking, never polling). Everything else on that
 * context runs meanwhile: the client's callbacks, other clients, timers. Call
 * them from the thread that created the client, not from inside one of its
 * callbacks. */

/* hub_client_new + hub_client_connect, then waits for the welcome. The first
 * connection is attempted once, whatever @options->auto_reconnect says; once
 * connected, the client reconnects after a loss as @options->auto_reconnect
 * says (default TRUE: it resumes its rooms while the context runs). @options,
 * @callbacks, @user_data: as hub_client_new (the callbacks see the CONNECTING
 * and CONNECTED changes and the WELCOME event before this returns). Returns
 * the CONNECTED client, or NULL with @error: the URL is bad
 * (G_IO_ERROR_INVALID_ARGUMENT), no connection could be made
 * (G_IO_ERROR_CONNECTION_REFUSED: refused, unreachable, TLS or upgrade
 * failure), the hello was refused (HUB_ERROR with the code of the server's
 * `error` frame, e.g. HUB_ERROR_UNAUTHORIZED, and its message), the token
 * provider had no token (G_IO_ERROR_PERMISSION_DENIED), the
 * connection closed before the welcome (G_IO_ERROR_CLOSED), or no welcome
 * within @timeout_ms (G_IO_ERROR_TIMED_OUT; the attempt is abandoned).
 * (transfer full) */
HUB_CLIENT_API
HubClient *hub_client_connect_sync (const HubClientOptions *options,
                                    const HubClientCallbacks *callbacks, gpointer user_data,
                                    guint timeout_ms, GError **error);
/* hub_client_request, then waits for its reply: returns the reply frame
 * (transfer full), or NULL with @error as HubClientReplyFunc gets it
 * (HUB_ERROR for an `error` reply; G_IO_ERROR_NOT_CONNECTED, _CLOSED or
 * _TIMED_OUT), G_IO_ERROR_TIMED_OUT also when @timeout_ms passed first (a
 * reply arriving later is dropped). */
HUB_CLIENT_API
JsonObject *hub_client_request_sync (HubClient *client, const char *type, JsonObject *fields,
                                     guint timeout_ms, GError **error);
/* Shorthands of hub_client_request_sync: TRUE when the server said `ok`.
 * @payload: (transfer none) */
HUB_CLIENT_API
gboolean hub_client_join_sync (HubClient *client, const char *room, guint timeout_ms,
                               GError **error);
HUB_CLIENT_API
gboolean hub_client_publish_sync (HubClient *client, const char *room, JsonObject *payload,
                                  guint timeout_ms, GError **error);

/* ---- token lifetime (§12) ---- */

/* Answers the token provider's ask with a fresh connection token
 * (transfer none, copied). It becomes the client's token for every later
 * hello; asked for a connection, the connection starts with it; asked for
 * a refresh, or given unasked while connected, it is sent in a `refresh`
 * (whose outcome is a TOKEN_REFRESHED or TOKEN_FAILED event). On the client's
 * main context only, like every call here. */
HUB_CLIENT_API
void hub_client_supply_token (HubClient *client, const char *token);
/* Answers the token provider's ask: no token now, @reason (nullable)
 * says why. For a refresh: a TOKEN_FAILED event, and the deadline stands.
 * For a connection: the current token is used if, as far as the client
 * knows, it has not expired (a TOKEN_FAILED event says the provider failed);
 * after a 4003, or with no token at all, the client gives up (DISCONNECTED
 * with close code 4003 or 0 and the reason). */
HUB_CLIENT_API
void hub_client_token_unavailable (HubClient *client, const char *reason);
/* Asks the provider for a token now and sends `refresh` with it, whatever the
 * deadline. FALSE (nothing asked) without a provider or when not connected. */
HUB_CLIENT_API
gboolean hub_client_refresh_token (HubClient *client);
/* TRUE when the client has a token provider. */
HUB_CLIENT_API
gboolean hub_client_has_token_provider (HubClient *client);
/* The connection token's deadline while connected: `expires_ts` of the
 * welcome or of the last successful refresh (Unix ms, the server's clock),
 * 0 when the token has none, or when not connected. */
HUB_CLIENT_API
gint64 hub_client_get_expires_ts (HubClient *client);
/* When the client refreshes a token whose deadline is @remaining_ms away: a
 * delay drawn uniformly from [75 %, 85 %] of it from the generator whose
 * state is @rng_state (advanced by the call); 0 when @remaining_ms ≤ 0.
 * Exposed for tests. */
HUB_CLIENT_API
gint64 hub_client_refresh_delay_ms (guint64 *rng_state, gint64 remaining_ms);

/* The last seq this client saw of @room, or -1 when it tracks no seq there.
 * A room is tracked from its join reply, a message, or the welcome. */
HUB_CLIENT_API
gint64 hub_client_get_last_seq (HubClient *client, const char *room);
/* The tracked rooms, sorted. (transfer container) */
HUB_CLIENT_API
GPtrArray *hub_client_get_rooms (HubClient *client);
/* TRUE while the rooms a new welcome left out are being checked and joined
 * again (REJOINED / ROOM_LOST follow): a request for one of them sent now
 * could reach the server before the room is back. */
HUB_CLIENT_API
gboolean hub_client_is_rejoining (HubClient *client);

typedef struct {
  guint64 frames_in;
  guint64 messages;   /* MESSAGE events delivered */
  guint64 duplicates; /* messages dropped: seq not above the last seen */
  guint64 gaps;       /* GAP events */
  guint64 reconnects; /* welcomes after the first */
} HubClientCounters;

HUB_CLIENT_API
void hub_client_get_counters (HubClient *client, HubClientCounters *counters);

/* The delay before retry @attempt (1-based): uniform in [0, min(max, min·2^(attempt-1))]
 * (full jitter), drawn from the generator whose state is @rng_state (any
 * seed; advanced by the call). Exposed for tests. */
HUB_CLIENT_API
guint hub_client_backoff_delay_ms (guint64 *rng_state, guint min_ms, guint max_ms, guint attempt);

/* Close codes after which the client does not reconnect: 4001 (the token or
 * user was refused; retrying cannot help) and 4010 (disconnected by the
 * server API, §13). (4003, token expired, is final only for a client without
 * a token provider.) */
HUB_CLIENT_API
gboolean hub_client_close_code_is_final (guint close_code);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubClient, hub_client_free)

G_END_DECLS

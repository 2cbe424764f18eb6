/* hub-test-ws.h: a synchronous WebSocket test client over libwebsockets' client
 * API (one lws_context per test process), plus a raw-socket client for the
 * hostile forms lws will not produce (no handshake, half a handshake, never
 * answering pings). Every wait is bounded; helpers fail the running Check test
 * with a message saying what was expected and what came instead. */
#pragma once

#include <check.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define HUB_TEST_WS_SUBPROTOCOL "hub.v1"
/* Default bound of the helpers that take no timeout. */
#define HUB_TEST_WS_TIMEOUT_MS (5000 * hub_test_time_scale ())

/* $HUB_TEST_TIME_SCALE (1 to 20, default 1): what the tests' bounded waits are multiplied by
 * where the system is known to be slower than the waits assume, as under wine
 * (scripts/windows-check.sh sets 4): every socket call costs tens of times more there, and a
 * 13 MB flood that takes 2 s natively needs minutes on a loaded machine. A bound, never a
 * sleep: the waits still end as soon as what they wait for happened. */
int hub_test_time_scale (void);
/* wait_closed's code when the connection ended without a close frame. */
#define HUB_TEST_WS_CLOSED_ABNORMALLY 1006

typedef struct _HubTestWs HubTestWs;

/* Opens ws://127.0.0.1:@port@path offering @subprotocol (NULL: offer none)
 * and waits at most 5 s for the upgrade. NULL with @error when the handshake
 * fails (refused, not 101, …). (transfer full) */
HubTestWs *hub_test_ws_connect (guint16 port, const char *path, const char *subprotocol,
                                GError **error);
/* hub_test_ws_connect (port, "/ws", "hub.v1"); fails the test on error. */
HubTestWs *hub_test_ws_open (guint16 port);
/* The subprotocol the server selected, NULL when none. (transfer none) */
const char *hub_test_ws_selected_protocol (HubTestWs *ws);

/* Each send waits (bounded) until lws has taken the whole frame; fails the test
 * when the connection is closed. */
void hub_test_ws_send_text (HubTestWs *ws, const char *text);
/* As send_text, but returns FALSE instead of failing when the connection is
 * (or gets) closed: for floods that the server ends. */
gboolean hub_test_ws_try_send_text (HubTestWs *ws, const char *text);
void hub_test_ws_send_binary (HubTestWs *ws, const void *data, gsize len);
/* A text frame with these exact bytes (no UTF-8 check: for invalid UTF-8). */
void hub_test_ws_send_raw_text_bytes (HubTestWs *ws, const void *data, gsize len);
/* One text message split into @n_parts frames of about equal size. */
void hub_test_ws_send_fragmented (HubTestWs *ws, const char *text, guint n_parts);
/* Formats JSON where every ' stands for " (test JSON never needs an apostrophe),
 * then sends it as a text frame. */
void hub_test_ws_sendf (HubTestWs *ws, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* The oldest received frame not yet taken, parsed, waiting at most
 * @timeout_ms; NULL on timeout or when the connection is closed with nothing
 * left. A frame that is not a JSON text object fails the test. (transfer full) */
JsonObject *hub_test_ws_recv_json (HubTestWs *ws, guint timeout_ms);
/* The next frame, which must have this "type" (fails the test with what came
 * instead, or on timeout). (transfer full) */
JsonObject *hub_test_ws_expect_type (HubTestWs *ws, const char *type, guint timeout_ms);
/* Round-trips a ping: fails the test if any frame arrives before its pong. The
 * server answers a connection's requests in order, and one node queues the
 * events a request causes while handling it, so there this proves nothing was
 * queued for @ws before the barrier. In a cluster (@redis) events travel
 * through Redis and may come later (§11): wait for an event that must come
 * (hub_test_ws_await_presence, hub_test_ws_expect_type), never on a barrier. */
void hub_test_ws_barrier (HubTestWs *ws);
/* Round-trips a ping and discards every frame received before its pong. */
void hub_test_ws_drain (HubTestWs *ws);
/* Takes received frames until the `presence` frame of @event ("join",
 * "leave") for @user in @room, dropping the ones before it; fails the test
 * when none comes within 5 s. In a cluster, presence events may arrive after
 * the reply to the request that caused them and after a round trip
 * (PROTOCOL.md §11): a test waits for the event instead. */
void hub_test_ws_await_presence (HubTestWs *ws, const char *event, const char *room,
                                 const char *user);
/* Joins @room as @user (the reply must be ok) and waits for the join's own
 * presence event (hub_test_ws_await_presence). */
void hub_test_ws_join (HubTestWs *ws, const char *user, const char *room);
/* Number of received frames not yet taken. */
guint hub_test_ws_pending (HubTestWs *ws);

/* Sends @json (which must carry an "id") and returns the frame with that same
 * id; other frames stay queued for recv_json. NULL on timeout. (transfer full) */
JsonObject *hub_test_ws_request (HubTestWs *ws, const char *json, guint timeout_ms);
/* Formats a request without id (' stands for "), adds a fresh integer id,
 * returns the reply; fails the test on timeout. (transfer full) */
JsonObject *hub_test_ws_call (HubTestWs *ws, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* As hub_test_ws_call; the reply must be "ok". (transfer full) */
JsonObject *hub_test_ws_ok (HubTestWs *ws, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* As hub_test_ws_call; the reply must be an "error" with @code. */
void hub_test_ws_err (HubTestWs *ws, const char *code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
/* Sends hello {user, device (NULL: none)} and returns the welcome; fails the
 * test otherwise. (transfer full) */
JsonObject *hub_test_ws_hello (HubTestWs *ws, const char *user, const char *device);
/* hub_test_ws_open + hub_test_ws_hello, the welcome discarded. */
HubTestWs *hub_test_ws_login (guint16 port, const char *user, const char *device);

/* Waits at most @timeout_ms for the connection to end and returns the close
 * code the server sent, HUB_TEST_WS_CLOSED_ABNORMALLY when it ended without a
 * close frame, 0 on timeout. Received frames stay queued. */
guint hub_test_ws_wait_closed (HubTestWs *ws, guint timeout_ms);
gboolean hub_test_ws_is_closed (HubTestWs *ws);
/* Stops (TRUE) or resumes reading from the socket (lws_rx_flow_control). */
void hub_test_ws_pause_reading (HubTestWs *ws, gboolean paused);
/* Sends a close frame with @code and waits (bounded) for the end. */
void hub_test_ws_close (HubTestWs *ws, guint16 code);
/* Ends the TCP connection abruptly, without a close frame. */
void hub_test_ws_drop (HubTestWs *ws);
/* Drops the connection if it is open and frees @ws. */
void hub_test_ws_free (HubTestWs *ws);
/* Services every connection of this process for @ms milliseconds. */
void hub_test_ws_service (guint ms);
/* Frees every client still alive and the lws context (test teardown). */
void hub_test_ws_free_all (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubTestWs, hub_test_ws_free)

/* ---- suites ---- */

/* Frees every client and server left (the checked teardown of every TCase). */
void hub_test_cleanup (void);
/* Adds a TCase named @name holding @test, with hub_test_cleanup as checked
 * teardown, the server logs fixture of hub-test-server.h, and a @timeout_s
 * timeout (scaled by CK_TIMEOUT_MULTIPLIER). */
void hub_test_add_tcase (Suite *suite, const char *name, const TTest *test, double timeout_s);
#define HUB_TEST_ADD(suite, test, timeout_s)                                                       \
  hub_test_add_tcase ((suite), #test, (test), (timeout_s))
/* Runs @suite and returns the process exit status (0 when every test passed). */
int hub_test_run (Suite *suite);

/* ---- raw socket client ---- */

typedef struct _HubTestRawWs HubTestRawWs;

/* A TCP connection with nothing sent yet. (transfer full) */
HubTestRawWs *hub_test_raw_ws_new (guint16 port, GError **error);
/* Sends raw bytes (a half handshake…). */
gboolean hub_test_raw_ws_send_bytes (HubTestRawWs *raw, const void *data, gsize len);
/* Sends a complete upgrade request for @path offering @subprotocol (NULL:
 * none) and reads the answer's head; returns its HTTP status (0 on error). */
guint hub_test_raw_ws_handshake (HubTestRawWs *raw, const char *path, const char *subprotocol);
/* Sends one masked text frame. */
gboolean hub_test_raw_ws_send_text (HubTestRawWs *raw, const char *text);
/* Sends one masked frame with @opcode (0x8 close, 0x9 ping…) and @data. */
gboolean hub_test_raw_ws_send_frame (HubTestRawWs *raw, guint8 opcode, const void *data, gsize len);
/* Reads one frame within @timeout_ms: returns its opcode, -1 on timeout, -2 on
 * EOF or error. Control frames are returned too (pings are not answered). */
int hub_test_raw_ws_read_frame (HubTestRawWs *raw, guint timeout_ms, GBytes **payload);
/* Reads frames (skipping them) until a close frame, EOF or @timeout_ms: the
 * close code, HUB_TEST_WS_CLOSED_ABNORMALLY on EOF, 0 on timeout. */
guint hub_test_raw_ws_wait_closed (HubTestRawWs *raw, guint timeout_ms);
/* Closes the socket without a close frame (abortive: RST when @reset). */
void hub_test_raw_ws_free (HubTestRawWs *raw);
void hub_test_raw_ws_abort (HubTestRawWs *raw, gboolean reset);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubTestRawWs, hub_test_raw_ws_free)

G_END_DECLS

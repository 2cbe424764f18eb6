/* hub-test-server.h: runs the real hub-server binary ($HUB_SERVER_BIN) for an
 * integration test on an ephemeral port, and speaks plain HTTP/1.1 and raw TCP
 * to it. Every server started here is killed when the test process exits; the
 * output of servers a test did not free (a failed test) is printed by
 * hub_test_server_logs_end. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "hub-test-platform.h"

G_BEGIN_DECLS

typedef struct _HubTestServer HubTestServer;

/* Starts `$HUB_SERVER_BIN --host 127.0.0.1 --port 0 ARGS…` and waits (at most
 * 10 s) for its first stdout line, `hub-server listening on ws://127.0.0.1:PORT/ws
 * node=NAME mode=memory`. @args is NULL-terminated (may be NULL). Returns NULL
 * with @error set when the binary cannot start or prints something else.
 * (transfer full) */
HubTestServer *hub_test_server_startv (const char *const *args, GError **error);
/* Servers started from now on run under this open-file limit (soft and hard;
 * 0: the test process's own), where hub_test_platform_can_limit_open_files(). */
void hub_test_server_set_open_files (guint64 limit);
/* Same, with the arguments as a list ending with NULL (just NULL: no
 * arguments); fails the test on error. */
HubTestServer *hub_test_server_start (const char *first_arg, ...);
/* As hub_test_server_startv without the leading `--host 127.0.0.1 --port
 * 0`: the address must come from @args, the environment (HUB_HOST,
 * HUB_PORT) or a key file, and be 127.0.0.1 and port 0. */
HubTestServer *hub_test_server_startv_bare (const char *const *args, GError **error);

guint16 hub_test_server_port (HubTestServer *server);
/* The node name announced on the first line. (transfer none) */
const char *hub_test_server_node (HubTestServer *server);
/* The whole first line, without its newline. (transfer none) */
const char *hub_test_server_first_line (HubTestServer *server);

/* Asks the server to stop (HUB_TEST_STOP_TERM: SIGTERM, Ctrl-Break on Windows;
 * HUB_TEST_STOP_INT where that cannot be delivered, as under wine) and waits at
 * most @timeout_ms for the process to exit; on timeout it is killed (SIGKILL)
 * and FALSE returned. Where no graceful stop can be asked (hub-test-platform.h)
 * it is killed at once and TRUE returned: a test that needs the graceful exit
 * uses HUB_TEST_REQUIRE_STOP_REQUEST. @exit_status gets the exit code (or 128 +
 * signal), @elapsed_ms how long the exit took. */
gboolean hub_test_server_stop (HubTestServer *server, guint timeout_ms, int *exit_status,
                               gint64 *elapsed_ms);
/* Waits at most @timeout_ms for the process to exit on its own (after
 * hub_test_server_request_stop); FALSE on timeout. */
gboolean hub_test_server_wait (HubTestServer *server, guint timeout_ms, int *exit_status);
/* Asks the server to stop gracefully (SIGTERM / SIGINT, Ctrl-Break / Ctrl-C) without
 * waiting; FALSE (nothing sent) when it already exited or the platform cannot
 * (see HUB_TEST_REQUIRE_STOP_REQUEST). */
gboolean hub_test_server_request_stop (HubTestServer *server, HubTestStopRequest how);
/* Ends the server at once, as a crash would (SIGKILL on Unix, TerminateProcess
 * on Windows: g_subprocess_force_exit), without waiting. */
void hub_test_server_kill (HubTestServer *server);
/* Stops (SIGSTOP) or resumes (SIGCONT) the server, as a VM pause would;
 * FALSE where a process cannot be paused from outside (Windows). */
gboolean hub_test_server_pause (HubTestServer *server, gboolean pause);
/* The server's resident memory in KiB and its open descriptors; -1 where
 * unknown (only Linux has /proc). */
long hub_test_server_rss_kib (HubTestServer *server);
long hub_test_server_open_files (HubTestServer *server);
/* TRUE while the process has not exited. */
gboolean hub_test_server_is_running (HubTestServer *server);
/* The server's process id (0 once it exited), for signals a test sends
 * itself (SIGSTOP, SIGCONT: hub-test-platform.h has no such thing). */
guint hub_test_server_pid (HubTestServer *server);
/* What the server printed so far (stdout after the first line, then stderr). (transfer full) */
char *hub_test_server_output (HubTestServer *server);
/* Polls the output every 20 ms until it holds @text @count times or more;
 * FALSE after @timeout_ms. */
gboolean hub_test_server_wait_output (HubTestServer *server, const char *text, guint count,
                                      guint timeout_ms);
/* How many times @text occurs in the output so far. */
guint hub_test_server_count_output (HubTestServer *server, const char *text);
/* Asks the server to reload its settings (SIGHUP on Unix); FALSE where it
 * cannot (Windows). */
gboolean hub_test_server_reload (HubTestServer *server);
/* Kills the server if it still runs (SIGKILL), removes its temp dir, frees it. */
void hub_test_server_free (HubTestServer *server);
/* Frees every server still alive in this process (test teardown). */
void hub_test_server_free_all (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubTestServer, hub_test_server_free)

/* Around each test, in Check's parent process (an unchecked fixture): begin
 * makes a directory where the test's servers write their output; a server
 * freed normally removes its files, so what end finds there was left by a
 * failed (or killed) test: end prints it to stderr, then removes it. */
void hub_test_server_logs_begin (void);
void hub_test_server_logs_end (void);

/* An HTTP/1.1 exchange with 127.0.0.1:port. */
typedef struct {
  guint status;        /* 101, 200, 404…; 0 when no status line arrived */
  char *status_line;   /* (owned) */
  GHashTable *headers; /* (owned) lower-case name → value (owned strings) */
  char *body;          /* (owned) NUL-terminated, chunked encoding removed */
  gsize body_len;
  gboolean upgraded; /* a 101: the body was not read, the socket is left open */
} HubTestHttpResponse;

void hub_test_http_response_free (HubTestHttpResponse *response);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubTestHttpResponse, hub_test_http_response_free)

/* Sends `METHOD PATH HTTP/1.1` with Host, `Connection: close` unless
 * @extra_headers sets Connection, a Content-Length when @body is not NULL, and
 * @extra_headers ("Name: value", NULL-terminated, may be NULL); reads the
 * answer within 5 s. NULL with @error on a socket error. (transfer full) */
HubTestHttpResponse *hub_test_http_request (guint16 port, const char *method, const char *path,
                                            const char *const *extra_headers, const char *body,
                                            GError **error);
/* GET @path; fails the test on a socket error. (transfer full) */
HubTestHttpResponse *hub_test_http_get (guint16 port, const char *path);
/* POST @body (JSON) to @path with `Authorization: Bearer @token` when @token is
 * not NULL; fails the test on a socket error. (transfer full) */
HubTestHttpResponse *hub_test_http_post (guint16 port, const char *path, const char *token,
                                         const char *body);
/* The body parsed as a JSON object; fails the test when it is not one. (transfer full) */
JsonObject *hub_test_http_response_json (HubTestHttpResponse *response);
/* A header's value (name in any case), or NULL. (transfer none) */
const char *hub_test_http_response_header (HubTestHttpResponse *response, const char *name);

/* Opens a plain TCP connection to 127.0.0.1:@port (5 s timeouts), for the
 * hostile forms the WebSocket client cannot produce. (transfer full) */
GSocketConnection *hub_test_tcp_connect (guint16 port, GError **error);
/* Sends @len bytes of @request on a new connection and reads the answer's
 * status line within @timeout_ms: the HTTP status, 0 when the connection
 * ended (or the time ran out) without one. @head (nullable) gets the answer's
 * head (transfer full). */
guint hub_test_raw_http (guint16 port, const void *request, gsize len, guint timeout_ms,
                         char **head);

/* Parses @text as a JSON object; NULL when it is not one. (transfer full) */
JsonObject *hub_test_json_parse (const char *text, gsize len);
/* Encodes @object compactly. (transfer full) */
char *hub_test_json_encode (JsonObject *object);

/* @member as a string; NULL when absent or not a string. (transfer none) */
const char *hub_test_json_string (JsonObject *object, const char *member);
/* @member as an integer; fails the test when absent or not an integer. */
gint64 hub_test_json_int (JsonObject *object, const char *member);
/* @member as a boolean; fails the test when absent or not a boolean. */
gboolean hub_test_json_bool (JsonObject *object, const char *member);
/* @member as an array / object; fails the test when absent or of another
 * type. (transfer none) */
JsonArray *hub_test_json_array (JsonObject *object, const char *member);
JsonObject *hub_test_json_object (JsonObject *object, const char *member);
/* TRUE when @array holds the string @value. */
gboolean hub_test_json_array_has_string (JsonArray *array, const char *value);
/* The element of @array (of objects) whose @key is the string @value, or NULL. (transfer none) */
JsonObject *hub_test_json_array_find (JsonArray *array, const char *key, const char *value);

/* The value of a Prometheus sample `name value` (no labels) in @text; FALSE
 * when absent. */
gboolean hub_test_metric_value (const char *text, const char *name, double *value);

G_END_DECLS

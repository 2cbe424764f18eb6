/* test-transport.c: PROTOCOL.md §1 over real sockets: the upgrade (path,
 * subprotocol), frame kinds, UTF-8, the message size limit, unknown types. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>

/* A ping request of exactly @size bytes: {"type":"ping","id":N,"pad":"xx…"}. */
static char *
ping_of_size (int id, gsize size)
{
  g_autofree char *head = g_strdup_printf ("{\"type\":\"ping\",\"id\":%d,\"pad\":\"", id);
  gsize fixed = strlen (head) + 2; /* the closing "} */
  GString *text;

  g_assert (size > fixed);
  text = g_string_new (head);
  for (gsize i = 0; i < size - fixed; i++)
    g_string_append_c (text, 'x');
  g_string_append (text, "\"}");
  g_assert (text->len == size);
  return g_string_free (text, FALSE);
}

static void
expect_pong (HubTestWs *ws, gint64 id)
{
  g_autoptr (JsonObject) pong = hub_test_ws_expect_type (ws, "pong", HUB_TEST_WS_TIMEOUT_MS);

  ck_assert_int_eq (hub_test_json_int (pong, "id"), id);
}

START_TEST (first_line_names_node_and_port)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--node", "itest-node-1", NULL);
  g_autoptr (HubTestHttpResponse) health = NULL;
  g_autoptr (JsonObject) body = NULL;

  ck_assert_str_eq (hub_test_server_node (server), "itest-node-1");
  ck_assert_uint_gt (hub_test_server_port (server), 0);
  health = hub_test_http_get (hub_test_server_port (server), "/healthz");
  ck_assert_uint_eq (health->status, 200);
  body = hub_test_http_response_json (health);
  ck_assert_str_eq (hub_test_json_string (body, "node"), "itest-node-1");
}
END_TEST

START_TEST (subprotocol_selected_when_offered)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autoptr (GError) error = NULL;
  HubTestWs *ws = hub_test_ws_connect (hub_test_server_port (server), "/ws", "hub.v1", &error);

  ck_assert_msg (ws != NULL, "an upgrade offering hub.v1 should succeed: %s",
                 error ? error->message : "");
  ck_assert_msg (g_strcmp0 (hub_test_ws_selected_protocol (ws), "hub.v1") == 0,
                 "the server should select hub.v1, selected %s",
                 hub_test_ws_selected_protocol (ws) ? hub_test_ws_selected_protocol (ws)
                                                    : "nothing");
  json_object_unref (hub_test_ws_hello (ws, "alice", NULL));
}
END_TEST

START_TEST (subprotocol_selected_from_a_list)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autoptr (HubTestRawWs) raw = hub_test_raw_ws_new (hub_test_server_port (server), NULL);
  guint status;

  ck_assert_ptr_nonnull (raw);
  status = hub_test_raw_ws_handshake (raw, "/ws", "chat.v9, hub.v1");
  ck_assert_msg (status == 101, "an upgrade offering \"chat.v9, hub.v1\" should get 101, got %u",
                 status);
}
END_TEST

START_TEST (no_subprotocol_accepted)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autoptr (GError) error = NULL;
  HubTestWs *ws = hub_test_ws_connect (hub_test_server_port (server), "/ws", NULL, &error);

  ck_assert_msg (ws != NULL, "an upgrade offering no subprotocol should succeed: %s",
                 error ? error->message : "");
  ck_assert_msg (hub_test_ws_selected_protocol (ws) == NULL,
                 "no subprotocol was offered, the server selected %s",
                 hub_test_ws_selected_protocol (ws));
  json_object_unref (hub_test_ws_hello (ws, "alice", NULL));
}
END_TEST

START_TEST (only_other_subprotocol_refused)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autoptr (GError) error = NULL;
  HubTestWs *ws = hub_test_ws_connect (hub_test_server_port (server), "/ws", "chat.v9", &error);
  g_autoptr (HubTestRawWs) raw = NULL;
  guint status;

  ck_assert_msg (ws == NULL, "an upgrade offering only chat.v9 must be refused (selected %s)",
                 ws ? hub_test_ws_selected_protocol (ws) : "");
  raw = hub_test_raw_ws_new (hub_test_server_port (server), NULL);
  ck_assert_ptr_nonnull (raw);
  status = hub_test_raw_ws_handshake (raw, "/ws", "chat.v9");
  ck_assert_msg (status != 101, "offering only chat.v9 must not get 101");
  /* The server still serves others. */
  hub_test_ws_free (hub_test_ws_login (hub_test_server_port (server), "alice", NULL));
}
END_TEST

START_TEST (other_path_is_404)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestHttpResponse) plain = hub_test_http_get (port, "/chat");
  g_autoptr (HubTestRawWs) raw = hub_test_raw_ws_new (port, NULL);
  g_autoptr (GError) error = NULL;
  guint status;

  ck_assert_msg (plain->status == 404, "GET /chat should be 404, got %s", plain->status_line);
  ck_assert_ptr_nonnull (raw);
  status = hub_test_raw_ws_handshake (raw, "/chat", "hub.v1");
  ck_assert_msg (status == 404, "an upgrade on /chat should be 404, got %u", status);
  ck_assert_msg (hub_test_ws_connect (port, "/ws/extra", "hub.v1", &error) == NULL,
                 "an upgrade on /ws/extra must fail");
}
END_TEST

START_TEST (binary_frame_closes_1003)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  HubTestWs *before_hello = hub_test_ws_open (hub_test_server_port (server));
  const char bytes[] = "{\"type\":\"ping\",\"id\":1}";
  guint code;

  hub_test_ws_send_binary (ws, bytes, strlen (bytes));
  code = hub_test_ws_wait_closed (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (code == 1003, "a binary frame should close with 1003, got %u", code);
  hub_test_ws_send_binary (before_hello, bytes, strlen (bytes));
  code = hub_test_ws_wait_closed (before_hello, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (code == 1003, "a binary frame before hello should close with 1003, got %u", code);
}
END_TEST

START_TEST (invalid_utf8_closes_1007)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  const char bytes[] = "{\"type\":\"ping\",\"id\":1,\"x\":\"\xc3\x28\xff\"}";
  guint code;

  hub_test_ws_send_raw_text_bytes (ws, bytes, strlen (bytes));
  code = hub_test_ws_wait_closed (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (code == 1007, "invalid UTF-8 should close with 1007, got %u", code);
}
END_TEST

START_TEST (overlong_utf8_closes_1007)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  /* An overlong encoding of '/', never valid UTF-8. */
  const char bytes[] = "{\"type\":\"ping\",\"id\":1,\"x\":\"\xc0\xaf\"}";
  guint code;

  hub_test_ws_send_raw_text_bytes (ws, bytes, strlen (bytes));
  code = hub_test_ws_wait_closed (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (code == 1007, "an overlong UTF-8 sequence should close with 1007, got %u", code);
}
END_TEST

START_TEST (utf8_char_split_across_fragments_accepted)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  const char *prefix = "{\"type\":\"ping\",\"id\":5,\"x\":\"";
  g_autoptr (GString) text = NULL;
  g_autoptr (JsonObject) pong = NULL;
  guint m = 4;

  /* Pick a count of 2-byte "é" so that the midpoint (where send_fragmented
   * splits in two) falls between the two bytes of one of them. */
  while (((strlen (prefix) + 2 * m + 2) / 2 - strlen (prefix)) % 2 == 0)
    m++;
  text = g_string_new (prefix);
  for (guint i = 0; i < m; i++)
    g_string_append (text, "\xc3\xa9");
  g_string_append (text, "\"}");
  hub_test_ws_send_fragmented (ws, text->str, 2);
  pong = hub_test_ws_expect_type (ws, "pong", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_int_eq (hub_test_json_int (pong, "id"), 5);
}
END_TEST

START_TEST (default_message_limit_is_65536)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = hub_test_ws_hello (ws, "alice", NULL);
  g_autofree char *exact = ping_of_size (2, 65536);
  g_autofree char *over = ping_of_size (3, 65537);
  guint code;

  ck_assert_int_eq (hub_test_json_int (welcome, "max_message_bytes"), 65536);
  hub_test_ws_send_text (ws, exact);
  expect_pong (ws, 2);
  hub_test_ws_send_text (ws, over);
  code = hub_test_ws_wait_closed (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (code == 1009, "65537 bytes should close with 1009, got %u", code);
}
END_TEST

START_TEST (message_limit_exact_accepted_one_more_closes_1009)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--max-message-bytes", "1024", NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = hub_test_ws_hello (ws, "alice", NULL);
  g_autofree char *exact = ping_of_size (1, 1024);
  g_autofree char *over = ping_of_size (4, 1025);
  guint code;

  ck_assert_int_eq (hub_test_json_int (welcome, "max_message_bytes"), 1024);
  hub_test_ws_send_text (ws, exact);
  expect_pong (ws, 1);
  /* Two requests, then the oversized one, all sent before reading: the
   * replies to the first two come before the close. */
  hub_test_ws_send_text (ws, "{\"type\":\"ping\",\"id\":2}");
  hub_test_ws_send_text (ws, "{\"type\":\"ping\",\"id\":3}");
  hub_test_ws_send_text (ws, over);
  code = hub_test_ws_wait_closed (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (code == 1009, "1025 bytes over a 1024 limit should close with 1009, got %u", code);
  expect_pong (ws, 2);
  expect_pong (ws, 3);
  ck_assert_msg (hub_test_ws_recv_json (ws, 0) == NULL, "nothing answers the oversized request");
}
END_TEST

START_TEST (message_limit_applies_to_reassembled_message)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--max-message-bytes", "1024", NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autofree char *exact = ping_of_size (1, 1024);
  g_autofree char *over = ping_of_size (2, 1025);
  guint code;

  hub_test_ws_send_fragmented (ws, exact, 4);
  expect_pong (ws, 1);
  hub_test_ws_send_fragmented (ws, over, 4); /* each fragment is well under the limit */
  code = hub_test_ws_wait_closed (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (code == 1009, "a 1025-byte message in 4 fragments should close with 1009, got %u",
                 code);
}
END_TEST

START_TEST (fragmented_message_is_one_request)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = NULL;

  hub_test_ws_send_fragmented (ws, "{\"type\":\"hello\",\"id\":9,\"user\":\"alice\"}", 3);
  welcome = hub_test_ws_expect_type (ws, "welcome", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_int_eq (hub_test_json_int (welcome, "id"), 9);
  hub_test_ws_barrier (ws);
}
END_TEST

START_TEST (unknown_type_keeps_connection)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) reply = NULL;

  hub_test_ws_err (ws, "unknown_type", "{'type':'frobnicate'}");
  hub_test_ws_sendf (ws, "{'type':'frobnicate'}");
  reply = hub_test_ws_expect_type (ws, "error", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (reply, "code"), "unknown_type");
  ck_assert_msg (!json_object_has_member (reply, "id"), "no id in, no id out");
  hub_test_ws_barrier (ws);
  ck_assert_msg (!hub_test_ws_is_closed (ws), "unknown_type leaves the connection open");
}
END_TEST

START_TEST (unknown_keys_are_ignored)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome =
      hub_test_ws_call (ws, "{'type':'hello','user':'alice','future':{'x':[1,2]},'v':2}");
  g_autoptr (JsonObject) joined = NULL;

  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  joined = hub_test_ws_ok (ws, "{'type':'join','room':'general','color':'blue'}");
  ck_assert_str_eq (hub_test_json_string (joined, "room"), "general");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("transport");

  HUB_TEST_ADD (suite, first_line_names_node_and_port, 30);
  HUB_TEST_ADD (suite, subprotocol_selected_when_offered, 30);
  HUB_TEST_ADD (suite, subprotocol_selected_from_a_list, 30);
  HUB_TEST_ADD (suite, no_subprotocol_accepted, 30);
  HUB_TEST_ADD (suite, only_other_subprotocol_refused, 30);
  HUB_TEST_ADD (suite, other_path_is_404, 30);
  HUB_TEST_ADD (suite, binary_frame_closes_1003, 30);
  HUB_TEST_ADD (suite, invalid_utf8_closes_1007, 30);
  HUB_TEST_ADD (suite, overlong_utf8_closes_1007, 30);
  HUB_TEST_ADD (suite, utf8_char_split_across_fragments_accepted, 30);
  HUB_TEST_ADD (suite, default_message_limit_is_65536, 30);
  HUB_TEST_ADD (suite, message_limit_exact_accepted_one_more_closes_1009, 30);
  HUB_TEST_ADD (suite, message_limit_applies_to_reassembled_message, 30);
  HUB_TEST_ADD (suite, fragmented_message_is_one_request, 30);
  HUB_TEST_ADD (suite, unknown_type_keeps_connection, 30);
  HUB_TEST_ADD (suite, unknown_keys_are_ignored, 30);
  return hub_test_run (suite);
}

/* test-server-stall.c: PROTOCOL.md §8's liveness across a stall of the server
 * itself (SIGSTOP, then SIGCONT: what a VM pause or a swapped-out process
 * does). The clients keep sending while it is stopped; once it runs again it
 * must read and execute everything they sent, close none of them with 4002,
 * and still close a client that really stopped answering. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>

#define N_CLIENTS   30
#define HEARTBEAT_S 1
/* More than 3 × heartbeat: before the fix, every client was closed with 4002
 * within milliseconds of SIGCONT and the publishes sent meanwhile were lost. */
#define STALL_MS         5000
#define SENDS_PER_CLIENT 10

static double
metric (guint16 port, const char *name)
{
  g_autoptr (HubTestHttpResponse) response = hub_test_http_get (port, "/metrics");
  double value = -1;

  ck_assert_msg (hub_test_metric_value (response->body, name, &value), "/metrics lacks %s", name);
  return value;
}

/* Reads @raw's frames for up to @ms without answering pings; the close code
 * once one came (0 while none). */
static guint
read_raw (HubTestRawWs *raw, guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64)ms * 1000;

  while (g_get_monotonic_time () < end) {
    g_autoptr (GBytes) payload = NULL;
    int opcode = hub_test_raw_ws_read_frame (raw, 10, &payload);

    if (opcode == 0x8) {
      gsize len = 0;
      const guint8 *p = g_bytes_get_data (payload, &len);

      return len >= 2 ? (guint)(p[0] << 8 | p[1]) : 1005;
    }
    if (opcode == -2)
      return HUB_TEST_WS_CLOSED_ABNORMALLY;
    hub_test_ws_service (1);
  }
  return 0;
}

START_TEST (stall_longer_than_three_heartbeats_loses_nothing)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--heartbeat", G_STRINGIFY (HEARTBEAT_S), NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *clients[N_CLIENTS];
  guint acked[N_CLIENTS] = {0};
  guint received[N_CLIENTS] = {0};
  g_autoptr (HubTestRawWs) mute = NULL;
  double frames_before, messages_before, frames_after, messages_after;
  gint64 start, resumed;
  guint sent = 0, mute_code = 0;
  g_autofree char *output = NULL;

  if (!hub_test_server_pause (server, FALSE)) {
    fprintf (stderr, "%s: skipped: a process cannot be paused from outside here\n", __func__);
    return;
  }
  for (int i = 0; i < N_CLIENTS; i++) {
    g_autofree char *user = g_strdup_printf ("u%02d", i);

    clients[i] = hub_test_ws_login (port, user, NULL);
    json_object_unref (hub_test_ws_ok (clients[i], "{'type':'join','room':'stall'}"));
  }
  for (int i = 0; i < N_CLIENTS; i++)
    hub_test_ws_drain (clients[i]);
  /* A client that says hello and then answers nothing, pings included. */
  mute = hub_test_raw_ws_new (port, NULL);
  ck_assert_ptr_nonnull (mute);
  ck_assert_uint_eq (hub_test_raw_ws_handshake (mute, "/ws", "hub.v1"), 101);
  ck_assert (hub_test_raw_ws_send_text (mute, "{\"type\":\"hello\",\"id\":1,\"user\":\"mute\"}"));
  frames_before = metric (port, "hub_frames_in_total");
  messages_before = metric (port, "hub_messages_in_total");

  ck_assert (hub_test_server_pause (server, TRUE));
  start = g_get_monotonic_time ();
  /* Every client publishes every STALL_MS / SENDS_PER_CLIENT ms into the
   * stopped server's socket buffers. */
  for (int round = 0; round < SENDS_PER_CLIENT; round++) {
    for (int i = 0; i < N_CLIENTS; i++) {
      g_autofree char *request = g_strdup_printf (
          "{\"type\":\"publish\",\"id\":%d,\"room\":\"stall\",\"payload\":{\"from\":%d}}", round,
          i);

      hub_test_ws_send_text (clients[i], request);
      sent++;
    }
    while (g_get_monotonic_time () - start <
           (gint64)(round + 1) * STALL_MS / SENDS_PER_CLIENT * 1000)
      hub_test_ws_service (10);
  }
  ck_assert (hub_test_server_pause (server, FALSE));
  resumed = g_get_monotonic_time ();
  g_print ("stall: server stopped %" G_GINT64_FORMAT " ms with heartbeat %d s, %u publishes "
           "sent meanwhile by %d clients\n",
           (resumed - start) / 1000, HEARTBEAT_S, sent, N_CLIENTS);

  /* Every publish is answered ok, every message reaches every member. */
  for (int i = 0; i < N_CLIENTS; i++) {
    gint64 deadline = g_get_monotonic_time () + 20 * G_TIME_SPAN_SECOND;

    while ((acked[i] < SENDS_PER_CLIENT || received[i] < sent) &&
           g_get_monotonic_time () < deadline) {
      g_autoptr (JsonObject) frame = hub_test_ws_recv_json (clients[i], 200);
      const char *type;

      if (frame == NULL) {
        ck_assert_msg (!hub_test_ws_is_closed (clients[i]),
                       "client %d was closed (%u) after the stall", i,
                       hub_test_ws_wait_closed (clients[i], 0));
        continue;
      }
      type = hub_test_json_string (frame, "type");
      if (g_strcmp0 (type, "ok") == 0)
        acked[i]++;
      else if (g_strcmp0 (type, "message") == 0)
        received[i]++;
      else {
        g_autofree char *text = hub_test_json_encode (frame);

        ck_assert_msg (FALSE, "client %d: unexpected %s", i, text);
      }
    }
    ck_assert_msg (acked[i] == SENDS_PER_CLIENT && received[i] == sent,
                   "client %d: %u of %d publishes acknowledged, %u of %u messages received", i,
                   acked[i], SENDS_PER_CLIENT, received[i], sent);
  }
  frames_after = metric (port, "hub_frames_in_total");
  messages_after = metric (port, "hub_messages_in_total");
  g_print ("stall: after SIGCONT all %d clients open, %u/%u publishes acknowledged, "
           "hub_frames_in_total +%.0f, hub_messages_in_total +%.0f\n",
           N_CLIENTS, sent, sent, frames_after - frames_before, messages_after - messages_before);
  ck_assert_msg (messages_after - messages_before == sent,
                 "hub_messages_in_total grew by %.0f, %u were sent",
                 messages_after - messages_before, sent);
  ck_assert_msg (frames_after - frames_before >= sent, "hub_frames_in_total grew by %.0f",
                 frames_after - frames_before);
  for (int i = 0; i < N_CLIENTS; i++)
    ck_assert_msg (!hub_test_ws_is_closed (clients[i]), "client %d closed", i);

  /* The mute client is still closed with 4002, 3 × heartbeat after the
   * stall at most one heartbeat late (its silence started over). */
  mute_code = read_raw (mute, 8000);
  g_print ("stall: the mute client closed with %u, %" G_GINT64_FORMAT " ms after SIGCONT\n",
           mute_code, (g_get_monotonic_time () - resumed) / 1000);
  ck_assert_msg (mute_code == 4002, "the client that answers nothing: expected 4002, got %u",
                 mute_code);
  ck_assert_msg (g_get_monotonic_time () - resumed >= 2 * G_TIME_SPAN_SECOND,
                 "not before its silence after the stall reached 3 heartbeats");
  output = hub_test_server_output (server);
  ck_assert_msg (strstr (output, "stalled") != NULL, "the server says it stalled:\n%s", output);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("server-stall");

  HUB_TEST_ADD (s, stall_longer_than_three_heartbeats_loses_nothing, 120);
  return hub_test_run (s);
}

/* test-client-commands.c: hub-client's command parser, the requests commands
 * map to, the line formatter, and --wait-for's JSON subset match. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub-batch.h"
#include "hub-commands.h"
#include "hub-format.h"

static HubCommand *
parse_ok (const char *line)
{
  g_autoptr (GError) error = NULL;
  HubCommand *command = hub_command_parse (line, &error);

  ck_assert_msg (command != NULL, "'%s' should parse, got: %s", line, error ? error->message : "?");
  return command;
}

static void
parse_fails (const char *line, HubCommandError code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HubCommand) command = hub_command_parse (line, &error);

  ck_assert_msg (command == NULL, "'%s' should be refused", line);
  ck_assert_msg (g_error_matches (error, HUB_COMMAND_ERROR, code),
                 "'%s' should fail with code %d, got %s", line, code,
                 error ? error->message : "no error");
}

static JsonObject *
json (const char *text)
{
  g_autoptr (JsonNode) node = json_from_string (text, NULL);

  ck_assert_msg (node != NULL && JSON_NODE_HOLDS_OBJECT (node), "bad test JSON %s", text);
  return json_object_ref (json_node_get_object (node));
}

static char *
encode (JsonObject *object)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, object);
  return json_to_string (node, FALSE);
}

/* ---- parsing ---- */

START_TEST (test_plain_lines)
{
  g_autoptr (HubCommand) say = parse_ok ("hello  there ");
  g_autoptr (HubCommand) slash = parse_ok ("//etc/passwd is a file");
  g_autoptr (HubCommand) blank = parse_ok ("   ");

  ck_assert_int_eq (say->kind, HUB_COMMAND_SAY);
  ck_assert_str_eq (say->text, "hello  there ");
  ck_assert_msg (slash->kind == HUB_COMMAND_SAY &&
                     strcmp (slash->text, "/etc/passwd is a file") == 0,
                 "//x should say /x, got '%s'", slash->text);
  ck_assert_msg (blank->kind == HUB_COMMAND_EMPTY, "a blank line should do nothing");
}
END_TEST

START_TEST (test_room_commands)
{
  g_autoptr (HubCommand) join = parse_ok ("/join general");
  g_autoptr (HubCommand) who = parse_ok ("/who");
  g_autoptr (HubCommand) who_room = parse_ok ("/who   tech");
  g_autoptr (HubCommand) history = parse_ok ("/history");
  g_autoptr (HubCommand) history5 = parse_ok ("/history 5");
  g_autoptr (HubCommand) with_token = parse_ok ("/join vault eyJ.x.y");
  g_autoptr (HubCommand) refresh = parse_ok ("/refresh");

  ck_assert_int_eq (join->kind, HUB_COMMAND_JOIN);
  ck_assert_str_eq (join->room, "general");
  ck_assert_msg (join->token == NULL, "/join ROOM carries no room token");
  ck_assert_str_eq (with_token->token, "eyJ.x.y");
  ck_assert_int_eq (refresh->kind, HUB_COMMAND_REFRESH);
  ck_assert_msg (who->kind == HUB_COMMAND_WHO && who->room == NULL, "/who takes the current room");
  ck_assert_str_eq (who_room->room, "tech");
  ck_assert_int_eq (history->count, HUB_COMMAND_HISTORY_DEFAULT);
  ck_assert_int_eq (history5->count, 5);
  parse_fails ("/join", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/join a b c", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/leave", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/history 0", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/history many", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/rooms now", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/refresh now", HUB_COMMAND_ERROR_USAGE);
}
END_TEST

START_TEST (test_message_commands)
{
  g_autoptr (HubCommand) msg = parse_ok ("/msg bob  hi, how are you?");
  g_autoptr (HubCommand) multi = parse_ok ("/multi bob,carol,,dave see you");
  g_autoptr (HubCommand) broadcast = parse_ok ("/broadcast server restarts at 5");

  ck_assert_str_eq (msg->user, "bob");
  ck_assert_str_eq (msg->text, "hi, how are you?");
  ck_assert_int_eq (g_strv_length (multi->users), 3);
  ck_assert_str_eq (multi->users[2], "dave");
  ck_assert_str_eq (multi->text, "see you");
  ck_assert_str_eq (broadcast->text, "server restarts at 5");
  parse_fails ("/msg bob", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/multi , hi", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/broadcast", HUB_COMMAND_ERROR_USAGE);
}
END_TEST

START_TEST (test_presence_commands)
{
  g_autoptr (HubCommand) status = parse_ok ("/status away");
  g_autoptr (HubCommand) sub = parse_ok ("/sub bob carol");
  g_autoptr (HubCommand) unsub = parse_ok ("/unsub bob");

  ck_assert_str_eq (status->status, "away");
  ck_assert_int_eq (g_strv_length (sub->users), 2);
  ck_assert_int_eq (unsub->kind, HUB_COMMAND_UNSUB);
  parse_fails ("/status sleeping", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/sub", HUB_COMMAND_ERROR_USAGE);
}
END_TEST

START_TEST (test_raw_and_unknown)
{
  g_autoptr (HubCommand) raw = parse_ok ("/raw {\"type\":\"ping\"}");

  ck_assert_int_eq (raw->kind, HUB_COMMAND_RAW);
  ck_assert_msg (json_object_has_member (raw->raw, "type"), "the JSON should be kept parsed");
  parse_fails ("/raw [1,2]", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/raw {nope", HUB_COMMAND_ERROR_USAGE);
  parse_fails ("/frobnicate", HUB_COMMAND_ERROR_UNKNOWN);
  parse_fails ("/", HUB_COMMAND_ERROR_UNKNOWN);
  parse_fails ("/quit now", HUB_COMMAND_ERROR_USAGE);
}
END_TEST

/* ---- requests ---- */

static char *
request_of (const char *line, const char *room, gint64 last_seq, char **type)
{
  g_autoptr (HubCommand) command = parse_ok (line);
  g_autoptr (JsonObject) fields = NULL;
  g_autoptr (GError) error = NULL;

  ck_assert_msg (hub_command_request (command, room, last_seq, type, &fields, &error),
                 "'%s' should make a request: %s", line, error ? error->message : "local?");
  return encode (fields);
}

START_TEST (test_requests)
{
  struct {
    const char *line, *room, *type, *fields;
    gint64 last_seq;
  } cases[] = {
      {"hi all", "general", "publish", "{\"payload\":{\"text\":\"hi all\"},\"room\":\"general\"}",
       -1},
      {"/join tech", "general", "join", "{\"room\":\"tech\"}", -1},
      {"/join vault eyJ.x.y", NULL, "join", "{\"token\":\"eyJ.x.y\",\"room\":\"vault\"}", -1},
      {"/leave tech", NULL, "leave", "{\"room\":\"tech\"}", -1},
      {"/rooms", NULL, "rooms", "{}", -1},
      {"/who", "general", "who", "{\"room\":\"general\"}", -1},
      {"/info tech", "general", "room_info", "{\"room\":\"tech\"}", -1},
      {"/msg bob yo", NULL, "direct", "{\"to\":\"bob\",\"payload\":{\"text\":\"yo\"}}", -1},
      {"/multi a,b yo", NULL, "multicast", "{\"to\":[\"a\",\"b\"],\"payload\":{\"text\":\"yo\"}}",
       -1},
      {"/broadcast yo", NULL, "broadcast", "{\"payload\":{\"text\":\"yo\"}}", -1},
      {"/status busy", NULL, "status", "{\"status\":\"busy\"}", -1},
      {"/sub a b", NULL, "subscribe", "{\"users\":[\"a\",\"b\"]}", -1},
      {"/unsub a", NULL, "unsubscribe", "{\"users\":[\"a\"]}", -1},
      {"/online", NULL, "online", "{}", -1},
      {"/history 5", "general", "history", "{\"since\":53,\"limit\":5,\"room\":\"general\"}", 58},
      {"/history 5", "general", "history", "{\"since\":0,\"limit\":5,\"room\":\"general\"}", 3},
      {"/typing", "general", "typing", "{\"room\":\"general\"}", -1},
      {"/raw {\"type\":\"ping\",\"x\":1}", NULL, "ping", "{\"type\":\"ping\",\"x\":1}", -1},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *type = NULL;
    g_autofree char *fields = request_of (cases[i].line, cases[i].room, cases[i].last_seq, &type);

    ck_assert_msg (strcmp (type, cases[i].type) == 0, "'%s' should send %s, got %s", cases[i].line,
                   cases[i].type, type);
    ck_assert_msg (strcmp (fields, cases[i].fields) == 0, "'%s' should send %s, got %s",
                   cases[i].line, cases[i].fields, fields);
  }
}
END_TEST

START_TEST (test_local_and_roomless)
{
  /* /refresh sends nothing of its own: HubClient does (hub_client_refresh_token). */
  const char *local[] = {"/room tech", "/stats", "/quit", "/help", "", "/refresh"};

  for (guint i = 0; i < G_N_ELEMENTS (local); i++) {
    g_autoptr (HubCommand) command = parse_ok (local[i]);
    g_autofree char *type = NULL;
    g_autoptr (JsonObject) fields = NULL;
    g_autoptr (GError) error = NULL;

    ck_assert_msg (!hub_command_request (command, "general", -1, &type, &fields, &error) &&
                       error == NULL && type == NULL,
                   "'%s' is local: no request, no error", local[i]);
  }
  {
    const char *need_room[] = {"hello", "/who", "/info", "/history", "/typing"};

    for (guint i = 0; i < G_N_ELEMENTS (need_room); i++) {
      g_autoptr (HubCommand) command = parse_ok (need_room[i]);
      g_autofree char *type = NULL;
      g_autoptr (JsonObject) fields = NULL;
      g_autoptr (GError) error = NULL;

      ck_assert_msg (!hub_command_request (command, NULL, -1, &type, &fields, &error),
                     "'%s' needs a current room", need_room[i]);
      ck_assert_msg (g_error_matches (error, HUB_COMMAND_ERROR, HUB_COMMAND_ERROR_NO_ROOM),
                     "'%s' without a room should say so", need_room[i]);
    }
  }
  ck_assert_msg (strstr (hub_command_help (), "/multi U1,U2 TEXT") != NULL,
                 "the help should list every command with its arguments");
}
END_TEST

/* ---- formatting ---- */

/* 2024-11-28 12:03:04.123 UTC */
#define TS 1732795384123

START_TEST (test_format_message)
{
  g_autoptr (JsonObject) frame =
      json ("{\"type\":\"message\",\"room\":\"general\",\"seq\":58,\"from\":\"alice\","
            "\"device\":\"phone\",\"ts\":1732795384123,\"payload\":{\"text\":\"hi\"}}");
  g_autoptr (JsonObject) other =
      json ("{\"type\":\"message\",\"room\":\"general\",\"seq\":59,"
            "\"from\":\"bob\",\"ts\":1732795384123,\"payload\":{\"n\":1}}");
  g_autofree char *plain = hub_format_message (frame, FALSE);
  g_autofree char *coloured = hub_format_message (frame, TRUE);
  g_autofree char *object = hub_format_message (other, FALSE);

  ck_assert_str_eq (plain, "12:03:04 [general #58] alice (phone): hi");
  ck_assert_msg (strchr (coloured, '\033') != NULL && strstr (coloured, "alice") != NULL,
                 "colours should add escapes around the same text: %s", coloured);
  ck_assert_msg (strchr (plain, '\033') == NULL, "no escape without colour");
  ck_assert_str_eq (object, "12:03:04 [general #59] bob: {\"n\":1}");
}
END_TEST

START_TEST (test_format_events)
{
  g_autoptr (JsonObject) payload = json ("{\"text\":\"psst\"}");
  HubClientEvent direct = {
      .type = HUB_CLIENT_EVENT_DIRECT, .from = "alice", .to = "bob", .ts = TS, .payload = payload};
  HubClientEvent presence = {
      .type = HUB_CLIENT_EVENT_PRESENCE, .room = "general", .user = "bob", .presence = "join"};
  HubClientEvent status = {.type = HUB_CLIENT_EVENT_STATUS, .user = "bob", .status = "away"};
  HubClientEvent error = {
      .type = HUB_CLIENT_EVENT_ERROR, .code = "rate_limited", .text = "slow down"};
  HubClientEvent gap = {
      .type = HUB_CLIENT_EVENT_GAP, .room = "general", .from_seq = 4, .to_seq = 6};
  g_autofree char *d = hub_format_event (&direct, FALSE);
  g_autofree char *p = hub_format_event (&presence, FALSE);
  g_autofree char *s = hub_format_event (&status, FALSE);
  g_autofree char *e = hub_format_event (&error, FALSE);
  g_autofree char *g = hub_format_event (&gap, FALSE);

  ck_assert_str_eq (d, "12:03:04 [direct] alice -> bob: psst");
  ck_assert_msg (g_str_has_suffix (p, " [general] * bob joined"), "presence line: %s", p);
  ck_assert_msg (g_str_has_suffix (s, " * bob is now away"), "status line: %s", s);
  ck_assert_msg (g_str_has_suffix (e, " ! error rate_limited: slow down"), "error line: %s", e);
  ck_assert_msg (g_str_has_suffix (g, " [general] ! messages #4-#6 were lost"), "gap line: %s", g);
}
END_TEST

START_TEST (test_format_replies)
{
  g_autoptr (JsonObject) join = json ("{\"type\":\"ok\",\"room\":\"general\",\"seq\":3,\"members\":"
                                      "[{\"user\":\"alice\",\"status\":\"online\"},"
                                      "{\"user\":\"bob\",\"status\":\"away\"}]}");
  g_autoptr (JsonObject) who = json ("{\"type\":\"ok\",\"members\":[{\"user\":\"bob\","
                                     "\"status\":\"busy\",\"devices\":2}]}");
  g_autoptr (JsonObject) history = json (
      "{\"type\":\"ok\",\"complete\":false,\"messages\":[{\"type\":\"message\",\"room\":\"g\","
      "\"seq\":1,\"from\":\"a\",\"ts\":1732795384123,\"payload\":{\"text\":\"one\"}},"
      "{\"type\":\"message\",\"room\":\"g\",\"seq\":2,\"from\":\"b\",\"ts\":1732795384123,"
      "\"payload\":{\"text\":\"two\"}}]}");
  g_autoptr (JsonObject) published = json ("{\"type\":\"ok\",\"seq\":4}");
  g_autofree char *j = hub_format_reply ("join", NULL, join, FALSE);
  g_autofree char *w = hub_format_reply ("who", "general", who, FALSE);
  g_autofree char *h = hub_format_reply ("history", "g", history, FALSE);
  g_autofree char *p = hub_format_reply ("publish", "g", published, FALSE);
  g_auto (GStrv) lines = g_strsplit (h, "\n", -1);

  ck_assert_msg (g_str_has_suffix (j, "* joined general (2 members: alice (online), bob (away))"),
                 "join reply: %s", j);
  ck_assert_msg (g_str_has_suffix (w, "* general: bob (busy, 2 devices)"), "who reply: %s", w);
  ck_assert_int_eq (g_strv_length (lines), 3);
  ck_assert_str_eq (lines[0], "12:03:04 [g #1] a: one");
  ck_assert_str_eq (lines[1], "12:03:04 [g #2] b: two");
  ck_assert_msg (strstr (lines[2], "no longer stored") != NULL, "incomplete history says so");
  ck_assert_msg (p == NULL, "a publish reply prints nothing: the message itself shows");
}
END_TEST

START_TEST (test_format_state)
{
  HubClientStateChange lost = {.state = HUB_CLIENT_RECONNECTING,
                               .old_state = HUB_CLIENT_CONNECTED,
                               .close_code = 1001,
                               .reason = "connection closed (code 1001: bye)",
                               .retry_in_ms = 1200,
                               .attempt = 2};
  HubClientStateChange refused = {.state = HUB_CLIENT_DISCONNECTED,
                                  .old_state = HUB_CLIENT_CONNECTING,
                                  .reason = "cannot connect: closed before established"};
  HubClientStateChange retrying = refused;
  HubClientStateChange login = {.state = HUB_CLIENT_DISCONNECTED,
                                .old_state = HUB_CLIENT_CONNECTING,
                                .close_code = 1000,
                                .reason = "hello refused: unauthorized: bad token"};
  HubClientStateChange connected = {.state = HUB_CLIENT_CONNECTED};
  HubClientStateChange again = {.state = HUB_CLIENT_CONNECTING,
                                .old_state = HUB_CLIENT_RECONNECTING};
  g_autofree char *l = hub_format_state (&lost, "ws://x/ws", NULL, TRUE, FALSE);
  g_autofree char *b = hub_format_state (&lost, "ws://x/ws", NULL, FALSE, FALSE);
  g_autofree char *r = NULL;
  g_autofree char *t = NULL;
  g_autofree char *h = hub_format_state (&login, "ws://x/ws", NULL, FALSE, FALSE);

  retrying.state = HUB_CLIENT_RECONNECTING;
  retrying.attempt = 1;
  retrying.retry_in_ms = 250;
  r = hub_format_state (&refused, "ws://x/ws", "connection refused by x:80", FALSE, FALSE);
  t = hub_format_state (&retrying, "ws://x/ws", "connection refused by x:80", TRUE, FALSE);
  ck_assert_msg (g_str_has_suffix (l, "* connection lost: the server is shutting down (close code "
                                      "1001: bye); retry 2 in 1.2 s"),
                 "reconnect line: %s", l);
  ck_assert_msg (g_str_has_suffix (b, "; reconnecting"), "a script is promised no schedule: %s", b);
  ck_assert_msg (g_str_has_suffix (r, "* cannot connect to ws://x/ws: connection refused by x:80"),
                 "the plain reason, no retry promised: %s", r);
  ck_assert_msg (g_str_has_suffix (t, "* cannot connect to ws://x/ws: connection refused by x:80; "
                                      "retry 1 in 0.2 s"),
                 "interactive retry: %s", t);
  ck_assert_msg (g_str_has_suffix (h, "* the server refused the login: unauthorized: bad token"),
                 "refused hello: %s", h);
  {
    /* §12, §13: the two closes a person must understand, with the server's words. */
    HubClientStateChange expired = {.state = HUB_CLIENT_DISCONNECTED,
                                    .old_state = HUB_CLIENT_CONNECTED,
                                    .close_code = 4003,
                                    .reason = "token expired (close code 4003)",
                                    .close_reason = "token expired"};
    HubClientStateChange removed = {.state = HUB_CLIENT_DISCONNECTED,
                                    .old_state = HUB_CLIENT_CONNECTED,
                                    .close_code = 4010,
                                    .reason = "disconnected by the server (close code 4010: ban)",
                                    .close_reason = "banned for 60 s"};
    g_autofree char *e = hub_format_state (&expired, "ws://x/ws", NULL, TRUE, FALSE);
    g_autofree char *d = hub_format_state (&removed, "ws://x/ws", NULL, TRUE, FALSE);

    ck_assert_msg (g_str_has_suffix (e, "* connection lost: token expired (close code 4003)"),
                   "4003: %s", e);
    ck_assert_msg (
        g_str_has_suffix (d, "* connection lost: disconnected by the server (close code 4010: "
                             "banned for 60 s)"),
        "4010: %s", d);
  }
  ck_assert_msg (hub_format_state (&connected, "ws://x/ws", NULL, TRUE, FALSE) == NULL,
                 "the welcome line says we are connected");
  ck_assert_msg (hub_format_state (&again, "ws://x/ws", NULL, TRUE, FALSE) == NULL,
                 "retries show in the status, not as lines");
}
END_TEST

START_TEST (test_format_tokens)
{
  gint64 now = 1700000000000;
  g_autofree char *in_40 = hub_format_deadline (now + 40 * 1000, now);
  g_autofree char *in_41m = hub_format_deadline (now + 41 * 60 * 1000 + 5000, now);
  g_autofree char *in_2h = hub_format_deadline (now + (2 * 3600 + 5 * 60) * 1000, now);
  g_autofree char *never = hub_format_deadline (0, now);
  g_autofree char *in_25h = hub_format_deadline (now + 25 * 3600 * 1000, now);
  g_autoptr (GDateTime) tomorrow =
      g_date_time_new_from_unix_local ((now + 25 * 3600 * 1000) / 1000);
  g_autofree char *tomorrow_text = g_date_time_format (tomorrow, "expires at %Y-%m-%d %H:%M:%S");
  g_autofree char *at = hub_format_time (now + 40 * 1000);
  g_autofree char *expected = g_strdup_printf ("expires at %s (in 40 s)", at);
  HubClientEvent refreshed = {.type = HUB_CLIENT_EVENT_TOKEN_REFRESHED, .expires_ts = 0};
  HubClientEvent refused = {.type = HUB_CLIENT_EVENT_TOKEN_FAILED,
                            .code = "unauthorized",
                            .text = "the token is for another user",
                            .expires_ts = g_get_real_time () / 1000 + 30000};
  g_autofree char *r = hub_format_event (&refreshed, FALSE);
  g_autofree char *f = hub_format_event (&refused, FALSE);

  ck_assert_str_eq (in_40, expected);
  ck_assert_msg (g_str_has_suffix (in_41m, "(in 41 min)"), "%s", in_41m);
  ck_assert_msg (g_str_has_suffix (in_2h, "(in 2 h 5 min)"), "%s", in_2h);
  ck_assert_str_eq (never, "does not expire");
  ck_assert_msg (g_str_has_prefix (in_25h, tomorrow_text) &&
                     g_str_has_suffix (in_25h, "(in 25 h 0 min)"),
                 "another day's deadline has its date: %s", in_25h);
  ck_assert_msg (g_str_has_suffix (r, "* token refreshed: it does not expire"), "%s", r);
  ck_assert_msg (strstr (f, "! token not refreshed: unauthorized: the token is for another user; "
                            "the connection ends when its token expires at ") != NULL,
                 "%s", f);
}
END_TEST

/* ---- --wait-for ---- */

static gboolean
matches (const char *pattern, const char *value)
{
  g_autoptr (JsonNode) p = json_from_string (pattern, NULL);
  g_autoptr (JsonNode) v = json_from_string (value, NULL);

  return hub_json_subset_match (p, v);
}

START_TEST (test_subset_match)
{
  const char *frame = "{\"type\":\"message\",\"room\":\"general\",\"seq\":5,"
                      "\"payload\":{\"text\":\"hi\",\"n\":1.0},\"tags\":[\"a\",\"b\"]}";

  ck_assert_msg (matches ("{}", frame), "the empty object matches everything");
  ck_assert_msg (matches ("{\"type\":\"message\",\"room\":\"general\"}", frame),
                 "a subset matches");
  ck_assert_msg (matches ("{\"payload\":{\"text\":\"hi\"}}", frame), "nested subsets match");
  ck_assert_msg (matches ("{\"seq\":5.0,\"payload\":{\"n\":1}}", frame),
                 "numbers compare as numbers");
  ck_assert_msg (matches ("{\"tags\":[\"a\",\"b\"]}", frame), "equal arrays match");
  ck_assert_msg (!matches ("{\"tags\":[\"a\"]}", frame), "arrays must have the same length");
  ck_assert_msg (!matches ("{\"room\":\"tech\"}", frame), "another value does not match");
  ck_assert_msg (!matches ("{\"from\":\"bob\"}", frame), "a missing member does not match");
  ck_assert_msg (!matches ("{\"seq\":\"5\"}", frame), "a string is not a number");
}
END_TEST

static Suite *
commands_suite (void)
{
  Suite *s = suite_create ("client-commands");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"plain_lines", test_plain_lines},
      {"room_commands", test_room_commands},
      {"message_commands", test_message_commands},
      {"presence_commands", test_presence_commands},
      {"raw_and_unknown", test_raw_and_unknown},
      {"requests", test_requests},
      {"local_and_roomless", test_local_and_roomless},
      {"format_message", test_format_message},
      {"format_events", test_format_events},
      {"format_replies", test_format_replies},
      {"format_state", test_format_state},
      {"format_tokens", test_format_tokens},
      {"subset_match", test_subset_match},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_test (tc, cases[i].test);
    suite_add_tcase (s, tc);
  }
  return s;
}

int
main (void)
{
  SRunner *sr;
  int failed;

  /* The formatter prints local time; the expected lines are in UTC. */
  g_setenv ("TZ", "UTC", TRUE); /* setenv is POSIX-only */
  tzset ();
  sr = srunner_create (commands_suite ());
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

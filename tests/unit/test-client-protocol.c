/* test-client-protocol.c: HubClient's protocol logic over a fake transport
 * and the fake clock: hello and resume, replies exactly once, timeouts, seq
 * tracking (duplicates, gaps), the reconnect policy and its backoff, the
 * token's lifetime (§12: the provider, the refresh ahead of the deadline,
 * 4003 and 4010). */
#include <check.h>
#include <hub/hub.h>
#include <stdlib.h>
#include <string.h>

/* ---- a transport that records what the client does ---- */

struct _HubClientTransport {
  const HubClientTransportSink *sink;
  gpointer owner;
  guint opens;         /* open() calls */
  gboolean open;       /* a connection is under way */
  GPtrArray *sent;     /* JsonObject* (owned) frames sent */
  guint closes, drops; /* close() / drop() calls */
  guint16 close_code;
};

static HubClientTransport *fake;

static HubClientTransport *
fake_create (const HubClientUrl *url, const char *ca_file, gboolean allow_self_signed,
             const HubClientTransportSink *sink, gpointer owner)
{
  HubClientTransport *t = g_new0 (HubClientTransport, 1);

  t->sink = sink;
  t->owner = owner;
  t->sent = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);
  fake = t;
  return t;
}

static gboolean
fake_open (HubClientTransport *t, GError **error)
{
  t->opens++;
  t->open = TRUE;
  return TRUE;
}

static gboolean
fake_send (HubClientTransport *t, const char *text, gsize len)
{
  g_autoptr (JsonNode) node = json_from_string (text, NULL);

  ck_assert_msg (node != NULL && JSON_NODE_HOLDS_OBJECT (node), "the client sent bad JSON: %s",
                 text);
  if (!t->open)
    return FALSE;
  g_ptr_array_add (t->sent, json_object_ref (json_node_get_object (node)));
  return TRUE;
}

static void
fake_close (HubClientTransport *t, guint16 code)
{
  t->closes++;
  t->close_code = code;
}

static void
fake_drop (HubClientTransport *t)
{
  t->drops++;
}

static void
fake_destroy (HubClientTransport *t)
{
  g_ptr_array_unref (t->sent);
  if (fake == t)
    fake = NULL;
  g_free (t);
}

static const HubClientTransportClass fake_class = {
    .create = fake_create,
    .open = fake_open,
    .send = fake_send,
    .close = fake_close,
    .drop = fake_drop,
    .destroy = fake_destroy,
};

/* The server side of the fake. */
static void
server_accepts (void)
{
  fake->sink->opened (fake->owner);
}

static void
server_sends (const char *json)
{
  fake->sink->received (fake->owner, json, strlen (json));
}

static void
server_closes_with (guint code, const char *reason)
{
  fake->open = FALSE;
  fake->sink->closed (fake->owner, code, reason);
}

static void
server_closes (guint code)
{
  server_closes_with (code, NULL);
}

static JsonObject *
last_sent (void)
{
  ck_assert_msg (fake->sent->len > 0, "the client should have sent a frame");
  return g_ptr_array_index (fake->sent, fake->sent->len - 1);
}

static gint64
last_id (void)
{
  return json_object_get_int_member (last_sent (), "id");
}

/* ---- what the client reports ---- */

typedef struct {
  GPtrArray *events;  /* char* (owned) "type:room:seq" */
  GArray *states;     /* HubClientStateChange (reasons dropped) */
  char *reason;       /* (owned) the last state change's reason */
  char *close_reason; /* (owned) the last state change's close_reason */
  GPtrArray *tokens;  /* char* (owned) "refreshed:EXPIRES", "failed:CODE:EXPIRES" */
  guint gaps;
  HubClient *free_on_event; /* frees the client from its own event callback */
} Recorder;

static Recorder rec;
static HubClock *clock_;
static HubClient *client;

static void
on_state (HubClient *c, const HubClientStateChange *change, gpointer user_data)
{
  HubClientStateChange copy = *change;

  copy.reason = NULL;
  copy.close_reason = NULL;
  g_array_append_val (rec.states, copy);
  g_free (rec.reason);
  rec.reason = g_strdup (change->reason);
  g_free (rec.close_reason);
  rec.close_reason = g_strdup (change->close_reason);
}

static void
on_event (HubClient *c, const HubClientEvent *event, gpointer user_data)
{
  if (event->type == HUB_CLIENT_EVENT_TOKEN_REFRESHED)
    g_ptr_array_add (rec.tokens,
                     g_strdup_printf ("refreshed:%" G_GINT64_FORMAT, event->expires_ts));
  else if (event->type == HUB_CLIENT_EVENT_TOKEN_FAILED)
    g_ptr_array_add (rec.tokens, g_strdup_printf ("failed:%s:%" G_GINT64_FORMAT, event->code,
                                                  event->expires_ts));
  g_ptr_array_add (
      rec.events,
      g_strdup_printf ("%d:%s:%" G_GINT64_FORMAT, event->type, event->room ? event->room : "",
                       event->type == HUB_CLIENT_EVENT_GAP ? event->from_seq : event->seq));
  if (rec.free_on_event != NULL) {
    hub_client_free (rec.free_on_event);
    rec.free_on_event = NULL;
    client = NULL;
  }
}

static const HubClientCallbacks callbacks = {.state_changed = on_state, .event = on_event};

static HubClientState
last_state (void)
{
  ck_assert_msg (rec.states->len > 0, "a state change should have been reported");
  return g_array_index (rec.states, HubClientStateChange, rec.states->len - 1).state;
}

static void
setup (void)
{
  HubClientOptions options;

  memset (&rec, 0, sizeof rec);
  rec.events = g_ptr_array_new_with_free_func (g_free);
  rec.states = g_array_new (FALSE, FALSE, sizeof (HubClientStateChange));
  rec.tokens = g_ptr_array_new_with_free_func (g_free);
  clock_ = hub_clock_new_fake (1700000000000);
  hub_client_options_init (&options);
  options.url = "ws://127.0.0.1:1/ws";
  options.user = "alice";
  options.device = "phone";
  options.token = "T";
  options.seed = 42;
  options.backoff_min_ms = 100;
  options.backoff_max_ms = 1000;
  options.request_timeout_ms = 5000;
  options.clock = clock_;
  options.transport = &fake_class;
  client = hub_client_new (&options, &callbacks, NULL, NULL);
  ck_assert_msg (client != NULL, "the client should be created");
}

static void
teardown (void)
{
  g_clear_pointer (&client, hub_client_free);
  g_ptr_array_unref (rec.events);
  g_array_unref (rec.states);
  g_ptr_array_unref (rec.tokens);
  g_free (rec.reason);
  g_free (rec.close_reason);
  hub_clock_unref (clock_);
}

/* Connects and answers the hello with a welcome listing @rooms_json and,
 * unless 0, @max_message_bytes. */
static void
connect_with_limit (const char *rooms_json, guint max_message_bytes)
{
  g_autofree char *welcome = NULL;
  g_autofree char *limit = max_message_bytes > 0
                               ? g_strdup_printf (",\"max_message_bytes\":%u", max_message_bytes)
                               : g_strdup ("");

  hub_client_connect (client);
  server_accepts ();
  welcome = g_strdup_printf ("{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT
                             ",\"conn\":\"c1\",\"user\":\"alice\",\"device\":\"phone\","
                             "\"rooms\":%s%s}",
                             last_id (), rooms_json, limit);
  server_sends (welcome);
  ck_assert_int_eq (hub_client_get_state (client), HUB_CLIENT_CONNECTED);
}

static void
connect_with (const char *rooms_json)
{
  connect_with_limit (rooms_json, 0);
}

/* Answers the join just sent: @room's last seq is @seq. */
static void
join_answered (const char *room, gint64 seq)
{
  g_autofree char *ok =
      g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                       ",\"room\":\"%s\",\"seq\":%" G_GINT64_FORMAT ",\"members\":[]}",
                       last_id (), room, seq);

  server_sends (ok);
}

static void
message (const char *room, gint64 seq)
{
  g_autofree char *json =
      g_strdup_printf ("{\"type\":\"message\",\"room\":\"%s\",\"seq\":%" G_GINT64_FORMAT
                       ",\"from\":\"bob\",\"ts\":1,\"payload\":{}}",
                       room, seq);

  server_sends (json);
}

/* Joins @room whose last seq is @seq. */
static void
join (const char *room, gint64 seq)
{
  g_autofree char *ok = NULL;

  hub_client_join (client, room, NULL, NULL);
  ok = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                        ",\"room\":\"%s\",\"seq\":%" G_GINT64_FORMAT ",\"members\":[]}",
                        last_id (), room, seq);
  server_sends (ok);
}

/* ---- tests ---- */

START_TEST (test_hello)
{
  JsonObject *hello;

  hub_client_connect (client);
  ck_assert_int_eq (fake->opens, 1);
  ck_assert_int_eq (last_state (), HUB_CLIENT_CONNECTING);
  server_accepts ();
  hello = last_sent ();
  ck_assert_str_eq (json_object_get_string_member (hello, "type"), "hello");
  ck_assert_str_eq (json_object_get_string_member (hello, "user"), "alice");
  ck_assert_str_eq (json_object_get_string_member (hello, "device"), "phone");
  ck_assert_str_eq (json_object_get_string_member (hello, "token"), "T");
  ck_assert_msg (!json_object_has_member (hello, "resume"), "a first hello resumes nothing");
  server_sends ("{\"type\":\"welcome\",\"id\":1,\"conn\":\"c1\",\"user\":\"alice\","
                "\"device\":\"phone\",\"rooms\":[]}");
  ck_assert_int_eq (last_state (), HUB_CLIENT_CONNECTED);
  ck_assert_str_eq (hub_client_get_conn (client), "c1");
  ck_assert_msg (rec.events->len == 1 && g_str_has_prefix (g_ptr_array_index (rec.events, 0), "0:"),
                 "a WELCOME event should follow");
}
END_TEST

typedef struct {
  guint calls;
  gboolean ok;
  int domain_code;
  GQuark domain;
} Reply;

static void
on_reply (HubClient *c, JsonObject *reply, const GError *error, gpointer user_data)
{
  Reply *r = user_data;

  r->calls++;
  r->ok = error == NULL;
  if (error != NULL) {
    r->domain = error->domain;
    r->domain_code = error->code;
  }
}

START_TEST (test_replies_once)
{
  Reply a = {0}, b = {0}, c = {0};
  gint64 ida, idb, idc;
  g_autofree char *ra = NULL, *rb = NULL;

  connect_with ("[]");
  ida = hub_client_request (client, "rooms", NULL, on_reply, &a);
  idb = hub_client_request (client, "online", NULL, on_reply, &b);
  idc = hub_client_request (client, "who", NULL, on_reply, &c);
  ck_assert_msg (ida < idb && idb < idc, "ids should grow");
  /* Out of order, an error, and a duplicate reply. */
  rb = g_strdup_printf ("{\"type\":\"error\",\"id\":%" G_GINT64_FORMAT
                        ",\"code\":\"room_not_found\",\"message\":\"x\"}",
                        idb);
  server_sends (rb);
  ra = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT "}", ida);
  server_sends (ra);
  server_sends (ra);
  ck_assert_msg (a.calls == 1 && a.ok, "the ok reply should reach its callback once");
  ck_assert_msg (b.calls == 1 && !b.ok && b.domain == HUB_ERROR &&
                     b.domain_code == HUB_ERROR_ROOM_NOT_FOUND,
                 "the error reply should map to HUB_ERROR_ROOM_NOT_FOUND");
  ck_assert_int_eq (c.calls, 0);
  /* The connection goes: the last pending request fails, once. */
  server_closes (1006);
  ck_assert_msg (c.calls == 1 && c.domain == G_IO_ERROR && c.domain_code == G_IO_ERROR_CLOSED,
                 "a lost connection fails pending requests with G_IO_ERROR_CLOSED");
  ck_assert_int_eq (a.calls, 1);
}
END_TEST

START_TEST (test_not_connected_and_timeout)
{
  Reply early = {0}, slow = {0};
  gint64 id;
  g_autofree char *late = NULL;

  hub_client_request (client, "rooms", NULL, on_reply, &early);
  ck_assert_msg (early.calls == 0, "a failure is never reported from inside the call");
  hub_fake_clock_advance (clock_, 0);
  ck_assert_msg (early.calls == 1 && early.domain_code == G_IO_ERROR_NOT_CONNECTED,
                 "a request before the welcome fails with NOT_CONNECTED");

  connect_with ("[]");
  id = hub_client_request (client, "rooms", NULL, on_reply, &slow);
  hub_fake_clock_advance (clock_, 4999);
  ck_assert_int_eq (slow.calls, 0);
  hub_fake_clock_advance (clock_, 1);
  ck_assert_msg (slow.calls == 1 && slow.domain_code == G_IO_ERROR_TIMED_OUT,
                 "no reply within request_timeout_ms: TIMED_OUT");
  late = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT "}", id);
  server_sends (late);
  ck_assert_msg (slow.calls == 1, "a late reply does not reach the callback again");
}
END_TEST

START_TEST (test_seq_tracking)
{
  connect_with ("[]");
  join ("general", 10);
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 10);
  g_ptr_array_set_size (rec.events, 0);
  message ("general", 11);
  message ("general", 11); /* duplicate */
  message ("general", 9);  /* older */
  message ("general", 14); /* 12 and 13 missed */
  ck_assert_int_eq (rec.events->len, 3);
  ck_assert_str_eq (g_ptr_array_index (rec.events, 0), "1:general:11");
  ck_assert_str_eq (g_ptr_array_index (rec.events, 1), "10:general:12");
  ck_assert_str_eq (g_ptr_array_index (rec.events, 2), "1:general:14");
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 14);
  {
    HubClientCounters counters;

    hub_client_get_counters (client, &counters);
    ck_assert_msg (counters.duplicates == 2 && counters.gaps == 1 && counters.messages == 2,
                   "2 duplicates, 1 gap, 2 messages; got %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
                   "/%" G_GUINT64_FORMAT,
                   counters.duplicates, counters.gaps, counters.messages);
  }
  /* Our own leave ends tracking. */
  server_sends (
      "{\"type\":\"presence\",\"event\":\"leave\",\"room\":\"general\",\"user\":\"alice\"}");
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), -1);
}
END_TEST

START_TEST (test_reconnect_resumes)
{
  JsonObject *hello, *resume;
  const HubClientStateChange *change;
  guint delay;

  connect_with ("[]");
  join ("general", 3);
  join ("tech", 0);
  message ("general", 4);
  server_closes (1006);
  change = &g_array_index (rec.states, HubClientStateChange, rec.states->len - 1);
  ck_assert_int_eq (change->state, HUB_CLIENT_RECONNECTING);
  ck_assert_int_eq (change->close_code, 1006);
  ck_assert_int_eq (change->attempt, 1);
  delay = change->retry_in_ms;
  ck_assert_msg (delay <= 100, "the first retry waits at most backoff_min_ms, got %u", delay);
  hub_fake_clock_advance (clock_, delay);
  ck_assert_int_eq (fake->opens, 2);
  server_accepts ();
  hello = last_sent ();
  resume = json_object_get_object_member (hello, "resume");
  ck_assert_msg (resume != NULL, "the hello after a loss resumes");
  ck_assert_int_eq (json_object_get_int_member (resume, "general"), 4);
  ck_assert_int_eq (json_object_get_int_member (resume, "tech"), 0);
  /* The server no longer lists tech (left from another device). */
  {
    g_autofree char *welcome = g_strdup_printf (
        "{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT ",\"rooms\":[\"general\"]}", last_id ());

    server_sends (welcome);
  }
  /* Which it was, room_info tells: tech is there, not behind: we were removed. */
  ck_assert_str_eq (json_object_get_string_member (last_sent (), "type"), "room_info");
  ck_assert_str_eq (json_object_get_string_member (last_sent (), "room"), "tech");
  ck_assert_int_eq (hub_client_get_last_seq (client, "tech"), 0);
  g_ptr_array_set_size (rec.events, 0);
  {
    g_autofree char *info = g_strdup_printf (
        "{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT ",\"room\":\"tech\",\"seq\":2}", last_id ());

    server_sends (info);
  }
  ck_assert_int_eq (hub_client_get_last_seq (client, "tech"), -1);
  ck_assert_int_eq (rec.events->len, 1);
  {
    g_autofree char *lost = g_strdup_printf ("%d:tech:0", HUB_CLIENT_EVENT_ROOM_LOST);

    ck_assert_str_eq (g_ptr_array_index (rec.events, 0), lost);
  }
  message ("general", 5);
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 5);
}
END_TEST

/* After a reconnect to a server that lost its rooms (a restart in memory),
 * they are joined again; a room created again since (its seq behind ours)
 * too; one that says not_member later is dropped. */
START_TEST (test_rejoin_after_restart)
{
  g_autofree char *rejoined_general = g_strdup_printf ("%d:general:0", HUB_CLIENT_EVENT_REJOINED);
  g_autofree char *rejoined_tech = g_strdup_printf ("%d:tech:1", HUB_CLIENT_EVENT_REJOINED);
  g_autofree char *lost_tech = g_strdup_printf ("%d:tech:0", HUB_CLIENT_EVENT_ROOM_LOST);
  gint64 info_general, info_tech;
  guint sent;

  connect_with ("[]");
  join ("general", 7);
  join ("tech", 3);
  server_closes (1006);
  hub_fake_clock_advance (clock_, 1000);
  server_accepts ();
  {
    g_autofree char *welcome = g_strdup_printf (
        "{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT ",\"rooms\":[]}", last_id ());

    sent = fake->sent->len;
    server_sends (welcome);
  }
  ck_assert_int_eq (fake->sent->len, sent + 2);
  info_general = json_object_get_int_member (g_ptr_array_index (fake->sent, sent), "id");
  info_tech = json_object_get_int_member (g_ptr_array_index (fake->sent, sent + 1), "id");
  if (strcmp (json_object_get_string_member (g_ptr_array_index (fake->sent, sent), "room"),
              "general") != 0) {
    gint64 t = info_general;

    info_general = info_tech;
    info_tech = t;
  }
  g_ptr_array_set_size (rec.events, 0);
  {
    g_autofree char *missing =
        g_strdup_printf ("{\"type\":\"error\",\"id\":%" G_GINT64_FORMAT
                         ",\"code\":\"room_not_found\",\"message\":\"no such room\"}",
                         info_general);
    g_autofree char *behind = g_strdup_printf (
        "{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT ",\"room\":\"tech\",\"seq\":1}", info_tech);

    server_sends (missing);
    ck_assert_str_eq (json_object_get_string_member (last_sent (), "type"), "join");
    ck_assert_str_eq (json_object_get_string_member (last_sent (), "room"), "general");
    join_answered ("general", 0);
    server_sends (behind);
    ck_assert_str_eq (json_object_get_string_member (last_sent (), "room"), "tech");
    join_answered ("tech", 1);
  }
  ck_assert_int_eq (rec.events->len, 2);
  ck_assert_str_eq (g_ptr_array_index (rec.events, 0), rejoined_general);
  ck_assert_str_eq (g_ptr_array_index (rec.events, 1), rejoined_tech);
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 0);
  ck_assert_int_eq (hub_client_get_last_seq (client, "tech"), 1);
  message ("general", 1);
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 1);

  /* Removed meanwhile by the server API: a publish there says not_member. */
  {
    g_autoptr (JsonObject) payload = json_object_new ();
    g_autofree char *no = NULL;

    hub_client_publish (client, "tech", payload, NULL, NULL);
    no = g_strdup_printf ("{\"type\":\"error\",\"id\":%" G_GINT64_FORMAT
                          ",\"code\":\"not_member\",\"message\":\"not a member\"}",
                          last_id ());
    g_ptr_array_set_size (rec.events, 0);
    server_sends (no);
  }
  ck_assert_int_eq (hub_client_get_last_seq (client, "tech"), -1);
  ck_assert_int_eq (rec.events->len, 1);
  ck_assert_str_eq (g_ptr_array_index (rec.events, 0), lost_tech);
}
END_TEST

/* A request larger than welcome's max_message_bytes is not sent (§1: the
 * server would close with 1009): its callback says why. */
START_TEST (test_too_large_not_sent)
{
  g_autoptr (JsonObject) payload = json_object_new ();
  g_autofree char *big = g_strnfill (300, 'x');
  Reply answer = {0};
  guint sent;

  connect_with_limit ("[]", 256);
  ck_assert_int_eq (hub_client_get_max_message_bytes (client), 256);
  json_object_set_string_member (payload, "text", big);
  sent = fake->sent->len;
  hub_client_publish (client, "general", payload, on_reply, &answer);
  hub_fake_clock_advance (clock_, 0);
  ck_assert_int_eq (fake->sent->len, sent);
  ck_assert_msg (answer.calls == 1 && answer.domain_code == G_IO_ERROR_MESSAGE_TOO_LARGE,
                 "the callback gets MESSAGE_TOO_LARGE, got %u calls, code %d", answer.calls,
                 answer.domain_code);
  ck_assert_int_eq (hub_client_get_state (client), HUB_CLIENT_CONNECTED);
}
END_TEST

START_TEST (test_backoff_grows_and_resets)
{
  guint64 elapsed = 0;

  connect_with ("[]");
  for (guint attempt = 1; attempt <= 6; attempt++) {
    const HubClientStateChange *change;
    guint cap = MIN (1000u, 100u << (attempt - 1));

    server_closes (attempt == 1 ? 1001 : 0);
    change = &g_array_index (rec.states, HubClientStateChange, rec.states->len - 1);
    ck_assert_int_eq (change->state, HUB_CLIENT_RECONNECTING);
    ck_assert_int_eq (change->attempt, attempt);
    ck_assert_msg (change->retry_in_ms <= cap, "retry %u waits at most %u ms, got %u", attempt, cap,
                   change->retry_in_ms);
    elapsed += change->retry_in_ms;
    hub_fake_clock_advance (clock_, change->retry_in_ms);
    ck_assert_int_eq (fake->opens, attempt + 1);
  }
  /* A welcome resets the count. */
  server_accepts ();
  {
    g_autofree char *welcome = g_strdup_printf (
        "{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT ",\"rooms\":[]}", last_id ());

    server_sends (welcome);
  }
  server_closes (1006);
  ck_assert_int_eq (g_array_index (rec.states, HubClientStateChange, rec.states->len - 1).attempt,
                    1);
  ck_assert_msg (elapsed > 0, "six full-jitter draws should not all be zero");
}
END_TEST

START_TEST (test_backoff_function)
{
  guint64 a = 7, b = 7;
  guint max_seen = 0;

  for (guint attempt = 1; attempt <= 40; attempt++) {
    guint da = hub_client_backoff_delay_ms (&a, 250, 30000, attempt);
    guint db = hub_client_backoff_delay_ms (&b, 250, 30000, attempt);
    guint64 cap = MIN (30000, (guint64)250 << MIN (attempt - 1, 20));

    ck_assert_msg (da == db, "the same seed gives the same delays");
    ck_assert_msg (da <= cap, "attempt %u: %u above the cap %" G_GUINT64_FORMAT, attempt, da, cap);
    max_seen = MAX (max_seen, da);
  }
  ck_assert_msg (max_seen > 250, "later attempts should draw from a larger range");
}
END_TEST

START_TEST (test_final_close_codes)
{
  connect_with ("[]");
  server_closes (4001);
  ck_assert_int_eq (last_state (), HUB_CLIENT_DISCONNECTED);
  hub_fake_clock_advance (clock_, 60000);
  ck_assert_msg (fake->opens == 1, "no reconnect after 4001");
  ck_assert_msg (hub_client_close_code_is_final (4001) && !hub_client_close_code_is_final (1001) &&
                     !hub_client_close_code_is_final (4009),
                 "only 4001 is final");
}
END_TEST

START_TEST (test_hello_refused)
{
  hub_client_connect (client);
  server_accepts ();
  {
    g_autofree char *error = g_strdup_printf (
        "{\"type\":\"error\",\"id\":%" G_GINT64_FORMAT ",\"code\":\"invalid_name\"}", last_id ());

    server_sends (error);
  }
  ck_assert_msg (fake->closes == 1 && fake->close_code == 1000, "a refused hello closes with 1000");
  server_closes (1000);
  ck_assert_int_eq (last_state (), HUB_CLIENT_DISCONNECTED);
  hub_fake_clock_advance (clock_, 60000);
  ck_assert_msg (fake->opens == 1, "a refused hello is not retried");
}
END_TEST

/* §3: a hello refused for a passing reason (internal: a cluster node that
 * lost Redis, or waits for it) is tried again after the backoff. */
START_TEST (test_hello_refused_internal_is_retried)
{
  hub_client_connect (client);
  server_accepts ();
  {
    g_autofree char *error =
        g_strdup_printf ("{\"type\":\"error\",\"id\":%" G_GINT64_FORMAT
                         ",\"code\":\"internal\",\"message\":\"cluster broker unavailable\"}",
                         last_id ());

    server_sends (error);
  }
  ck_assert_msg (fake->closes == 1 && fake->close_code == 1000, "a refused hello closes with 1000");
  server_closes (1000);
  ck_assert_int_eq (last_state (), HUB_CLIENT_RECONNECTING);
  hub_fake_clock_advance (clock_, 60000);
  ck_assert_msg (fake->opens == 2, "a hello refused internal is tried again");
}
END_TEST

START_TEST (test_welcome_rooms_sync)
{
  JsonObject *sync;

  connect_with ("[\"general\",\"tech\"]");
  sync = last_sent ();
  ck_assert_msg (strcmp (json_object_get_string_member (sync, "type"), "rooms") == 0,
                 "rooms of the welcome without a known seq are asked for");
  {
    g_autofree char *ok = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                                           ",\"rooms\":[{\"room\":\"general\",\"seq\":7},"
                                           "{\"room\":\"tech\",\"seq\":2}]}",
                                           json_object_get_int_member (sync, "id"));

    server_sends (ok);
  }
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 7);
  ck_assert_int_eq (hub_client_get_last_seq (client, "tech"), 2);
}
END_TEST

START_TEST (test_free_inside_callback)
{
  connect_with ("[]");
  join ("general", 0);
  rec.free_on_event = client;
  message ("general", 1);
  ck_assert_msg (client == NULL, "the callback freed the client");
  /* The client went with its transport; ASan checks nothing was touched after. */
}
END_TEST

START_TEST (test_disconnect)
{
  Reply r = {0};

  connect_with ("[]");
  hub_client_request (client, "rooms", NULL, on_reply, &r);
  hub_client_disconnect (client);
  ck_assert_msg (fake->closes == 1 && fake->close_code == 1000, "disconnect closes with 1000");
  server_closes (1000);
  ck_assert_msg (r.calls == 1 && r.domain_code == G_IO_ERROR_CLOSED,
                 "pending requests fail when the connection is closed");
  ck_assert_int_eq (last_state (), HUB_CLIENT_DISCONNECTED);
  hub_fake_clock_advance (clock_, 60000);
  ck_assert_msg (fake->opens == 1, "no reconnect after disconnect");
}
END_TEST

/* ---- the peeked fast path ---- */

typedef struct {
  GPtrArray *seen;  /* char* (owned) "type:room:seq:from:payload" */
  gboolean decline; /* return FALSE: the frame goes the usual way */
  gboolean free_client;
} Peeked;

static Peeked peeked;

static gboolean
on_peeked (HubClient *c, const HubClientPeekedFrame *frame, gpointer user_data)
{
  g_ptr_array_add (peeked.seen,
                   g_strdup_printf ("%d:%.*s:%" G_GINT64_FORMAT ":%.*s:%.*s", frame->type,
                                    (int)frame->room_len, frame->room ? frame->room : "",
                                    frame->seq, (int)frame->from_len,
                                    frame->from ? frame->from : "", (int)frame->payload_len,
                                    frame->payload ? frame->payload : ""));
  if (peeked.free_client) {
    hub_client_free (client);
    client = NULL;
    return FALSE; /* even so, nothing more runs for it */
  }
  return !peeked.decline;
}

static const HubClientCallbacks peeking_callbacks = {
    .state_changed = on_state, .event = on_event, .peeked = on_peeked};

/* Replaces the fixture's client with one that has a peeked callback. */
static void
use_peeking_client (void)
{
  HubClientOptions options;

  g_clear_pointer (&client, hub_client_free);
  memset (&peeked, 0, sizeof peeked);
  peeked.seen = g_ptr_array_new_with_free_func (g_free);
  hub_client_options_init (&options);
  options.url = "ws://127.0.0.1:1/ws";
  options.user = "alice";
  options.seed = 42;
  options.backoff_min_ms = 100;
  options.clock = clock_;
  options.transport = &fake_class;
  client = hub_client_new (&options, &peeking_callbacks, NULL, NULL);
}

START_TEST (test_peeked_messages)
{
  HubClientCounters counters;

  use_peeking_client ();
  connect_with ("[]");
  join ("general", 10);
  g_ptr_array_set_size (rec.events, 0);
  message ("general", 11);
  message ("general", 11); /* duplicate: offered too */
  message ("general", 14); /* 12 and 13 missed */
  server_sends ("{\"type\":\"direct\",\"from\":\"bob\",\"to\":\"alice\",\"ts\":1,"
                "\"payload\":{\"t\":77}}");
  server_sends ("{\"type\":\"typing\",\"room\":\"general\",\"user\":\"bob\"}");
  ck_assert_int_eq (peeked.seen->len, 5);
  ck_assert_str_eq (g_ptr_array_index (peeked.seen, 0), "1:general:11:bob:{}");
  ck_assert_str_eq (g_ptr_array_index (peeked.seen, 1), "1:general:11:bob:{}");
  ck_assert_str_eq (g_ptr_array_index (peeked.seen, 2), "1:general:14:bob:{}");
  ck_assert_str_eq (g_ptr_array_index (peeked.seen, 3), "2::-1:bob:{\"t\":77}");
  ck_assert_str_eq (g_ptr_array_index (peeked.seen, 4), "5:general:-1::");
  /* Handled there: no MESSAGE, DIRECT or TYPING event, but the gap is still told. */
  ck_assert_int_eq (rec.events->len, 1);
  ck_assert_str_eq (g_ptr_array_index (rec.events, 0), "10:general:12");
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 14);
  hub_client_get_counters (client, &counters);
  ck_assert_msg (counters.duplicates == 1 && counters.gaps == 1 && counters.messages == 2 &&
                     counters.frames_in == 7,
                 "1 duplicate, 1 gap, 2 messages, 7 frames (welcome and join reply too)");
  /* A message of a room never joined is tracked from its first seq, as on the slow path. */
  message ("other", 3);
  ck_assert_int_eq (hub_client_get_last_seq (client, "other"), 3);
  /* Replies, presence and welcome never go through it. */
  ck_assert_int_eq (peeked.seen->len, 6);
  server_sends (
      "{\"type\":\"presence\",\"event\":\"leave\",\"room\":\"other\",\"user\":\"alice\"}");
  ck_assert_int_eq (peeked.seen->len, 6);
  ck_assert_int_eq (hub_client_get_last_seq (client, "other"), -1);
  /* After a loss the hello resumes from the seqs seen through the fast path. */
  server_closes (1006);
  hub_fake_clock_advance (clock_, 100);
  server_accepts ();
  ck_assert_int_eq (json_object_get_int_member (
                        json_object_get_object_member (last_sent (), "resume"), "general"),
                    14);
  g_ptr_array_unref (peeked.seen);
}
END_TEST

START_TEST (test_peeked_declined_and_unreadable)
{
  use_peeking_client ();
  connect_with ("[]");
  join ("general", 0);
  g_ptr_array_set_size (rec.events, 0);
  /* Declined: the usual MESSAGE event follows, and seq tracking happens once. */
  peeked.decline = TRUE;
  message ("general", 1);
  ck_assert_int_eq (peeked.seen->len, 1);
  ck_assert_int_eq (rec.events->len, 1);
  ck_assert_str_eq (g_ptr_array_index (rec.events, 0), "1:general:1");
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 1);
  peeked.decline = FALSE;
  /* What the in-place reader does not take goes the slow way: an escaped
   * name, a seq that is not a plain integer. */
  server_sends ("{\"type\":\"message\",\"r\\u006fom\":\"general\",\"seq\":2,\"from\":\"bob\","
                "\"payload\":{}}");
  server_sends ("{\"type\":\"message\",\"room\":\"general\",\"seq\":3.0,\"from\":\"bob\","
                "\"payload\":{}}");
  ck_assert_int_eq (peeked.seen->len, 1);
  ck_assert_int_eq (rec.events->len, 3);
  ck_assert_str_eq (g_ptr_array_index (rec.events, 1), "1:general:2");
  /* Frames that are not a JSON object with a type are told as INVALID, not dropped. */
  server_sends ("not json");
  server_sends ("{\"no\":\"type\"}");
  ck_assert_int_eq (rec.events->len, 5);
  {
    g_autofree char *invalid = g_strdup_printf ("%d:", HUB_CLIENT_EVENT_INVALID);

    ck_assert_msg (g_str_has_prefix (g_ptr_array_index (rec.events, 3), invalid) &&
                       g_str_has_prefix (g_ptr_array_index (rec.events, 4), invalid),
                   "two INVALID events");
  }
  /* The callback may free the client: nothing runs for it afterwards (ASan checks). */
  peeked.free_client = TRUE;
  message ("general", 4);
  ck_assert_ptr_null (client);
  g_ptr_array_unref (peeked.seen);
}
END_TEST

static JsonObject *lean_reply;

static void
on_lean_reply (HubClient *c, JsonObject *reply, const GError *error, gpointer user_data)
{
  g_clear_pointer (&lean_reply, json_object_unref);
  if (reply != NULL)
    lean_reply = json_object_ref (reply);
}

START_TEST (test_lean_replies)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  g_autofree char *ok = NULL, *escaped = NULL;
  gint64 id;

  connect_with ("[]");
  json_object_set_string_member (fields, "room", "big");
  id = hub_client_request_lean (client, "join", fields, on_lean_reply, NULL);
  ok = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                        ",\"room\":\"big\",\"name\":\"Big\",\"seq\":41,\"members\":"
                        "[{\"user\":\"a\",\"status\":\"online\"},{\"user\":\"b\"}],\"x\":true}",
                        id);
  server_sends (ok);
  ck_assert_ptr_nonnull (lean_reply);
  ck_assert_str_eq (json_object_get_string_member (lean_reply, "room"), "big");
  ck_assert_int_eq (json_object_get_int_member (lean_reply, "seq"), 41);
  ck_assert (json_object_get_boolean_member (lean_reply, "x"));
  ck_assert_msg (!json_object_has_member (lean_reply, "members"), "the member list is left out");
  ck_assert_int_eq (hub_client_get_last_seq (client, "big"), 41);
  /* A reply it cannot read exactly in place comes whole. */
  id = hub_client_request_lean (client, "join", fields, on_lean_reply, NULL);
  escaped = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                             ",\"room\":\"big\",\"name\":\"B\\u00efg\",\"seq\":41,"
                             "\"members\":[]}",
                             id);
  server_sends (escaped);
  ck_assert_msg (lean_reply != NULL && json_object_has_member (lean_reply, "members"),
                 "an escape: the reply whole");
  g_clear_pointer (&lean_reply, json_object_unref);
}
END_TEST

START_TEST (test_peeked_presence)
{
  use_peeking_client ();
  connect_with ("[]");
  join ("general", 0);
  g_ptr_array_set_size (rec.events, 0);
  /* Another user's presence: offered and handled there. */
  server_sends ("{\"type\":\"presence\",\"event\":\"join\",\"room\":\"general\","
                "\"user\":\"bob\"}");
  ck_assert_int_eq (peeked.seen->len, 1);
  ck_assert_int_eq (rec.events->len, 0);
  /* Our own goes the usual way: it changes the rooms tracked. */
  server_sends ("{\"type\":\"presence\",\"event\":\"leave\",\"room\":\"general\","
                "\"user\":\"alice\"}");
  ck_assert_int_eq (peeked.seen->len, 1);
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), -1);
  g_ptr_array_unref (peeked.seen);
}
END_TEST

START_TEST (test_url_parse)
{
  HubClientUrl url;
  g_autoptr (GError) error = NULL;

  ck_assert (hub_client_url_parse ("wss://[::1]:9443", &url, NULL));
  ck_assert_msg (url.tls && strcmp (url.host, "::1") == 0 && url.port == 9443 &&
                     strcmp (url.path, "/ws") == 0,
                 "wss, IPv6 host, port, default path /ws");
  hub_client_url_clear (&url);
  ck_assert (hub_client_url_parse ("ws://example.org/chat?x=1", &url, NULL));
  ck_assert_msg (!url.tls && url.port == 80 && strcmp (url.path, "/chat?x=1") == 0,
                 "ws defaults to port 80, the path is kept");
  hub_client_url_clear (&url);
  ck_assert_msg (!hub_client_url_parse ("http://x/ws", &url, &error), "http:// is refused");
  ck_assert_msg (!hub_client_url_parse ("ws://x:99999/ws", &url, NULL), "a bad port is refused");
  ck_assert_msg (!hub_client_url_parse ("ws://:80/ws", &url, NULL), "an empty host is refused");
}
END_TEST

/* ---- the token's lifetime (§12) ---- */

typedef enum {
  PROVIDE_NOW,   /* answers inside the call: T1, T2, … */
  PROVIDE_LATER, /* the test answers */
  PROVIDE_NONE,  /* hub_client_token_unavailable inside the call */
  PROVIDE_FREE,  /* frees the client inside the call */
} ProvideMode;

typedef struct {
  ProvideMode mode;
  guint asks;
  HubClientTokenNeed need;
  guint minted;
} Provider;

static Provider provider;

static void
on_token_needed (HubClient *c, HubClientTokenNeed need, gpointer user_data)
{
  provider.asks++;
  provider.need = need;
  switch (provider.mode) {
    case PROVIDE_NOW: {
      g_autofree char *token = g_strdup_printf ("T%u", ++provider.minted);

      hub_client_supply_token (c, token);
      break;
    }
    case PROVIDE_NONE:
      hub_client_token_unavailable (c, "backend down");
      break;
    case PROVIDE_FREE:
      hub_client_free (c);
      client = NULL;
      break;
    case PROVIDE_LATER:
    default:
      break;
  }
}

/* Replaces the fixture's client by one with the provider above (@token: the
 * options' token, NULL for none). */
static void
use_provider (ProvideMode mode, const char *token)
{
  HubClientOptions options;

  g_clear_pointer (&client, hub_client_free);
  memset (&provider, 0, sizeof provider);
  provider.mode = mode;
  hub_client_options_init (&options);
  options.url = "ws://127.0.0.1:1/ws";
  options.user = "alice";
  options.token = token;
  options.seed = 42;
  options.backoff_min_ms = 100;
  options.backoff_max_ms = 1000;
  options.request_timeout_ms = 5000;
  options.clock = clock_;
  options.transport = &fake_class;
  options.token_provider = on_token_needed;
  client = hub_client_new (&options, &callbacks, NULL, NULL);
  ck_assert_msg (client != NULL, "the client should be created");
}

static gint64
now_ms (void)
{
  return hub_clock_unix_ms (clock_);
}

/* Accepts the connection under way and welcomes it with a token deadline of
 * @expires_ms (0: none). */
static void
welcome_expiring (gint64 expires_ms)
{
  g_autofree char *welcome = NULL;
  g_autofree char *expiry = expires_ms > 0
                                ? g_strdup_printf (",\"expires_ts\":%" G_GINT64_FORMAT, expires_ms)
                                : g_strdup ("");

  server_accepts ();
  welcome = g_strdup_printf ("{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT
                             ",\"conn\":\"c1\",\"user\":\"alice\",\"rooms\":[]%s}",
                             last_id (), expiry);
  server_sends (welcome);
  ck_assert_int_eq (hub_client_get_state (client), HUB_CLIENT_CONNECTED);
}

static const char *
sent_type (void)
{
  return json_object_get_string_member (last_sent (), "type");
}

static guint
count_sent (const char *type)
{
  guint n = 0;

  for (guint i = 0; i < fake->sent->len; i++)
    n += strcmp (json_object_get_string_member (g_ptr_array_index (fake->sent, i), "type"), type) ==
         0;
  return n;
}

static const HubClientStateChange *
last_change (void)
{
  ck_assert_msg (rec.states->len > 0, "a state change should have been reported");
  return &g_array_index (rec.states, HubClientStateChange, rec.states->len - 1);
}

/* The refresh goes out between 75 % and 85 % of the way to the deadline,
 * with a fresh token from the provider, and again after each success: the
 * connection outlives several token lifetimes. */
START_TEST (test_refresh_ahead_of_deadline)
{
  gint64 start, deadline;

  use_provider (PROVIDE_NOW, "T0");
  hub_client_connect (client);
  ck_assert_msg (provider.asks == 0, "the first connection uses the options' token");
  start = now_ms ();
  deadline = start + 10000;
  welcome_expiring (deadline);
  ck_assert_int_eq (hub_client_get_expires_ts (client), deadline);
  for (guint round = 1; round <= 3; round++) {
    gint64 lifetime = deadline - start;
    gint64 earliest = start + lifetime * 75 / 100, latest = start + lifetime * 85 / 100;
    g_autofree char *ok = NULL;
    JsonObject *refresh;

    hub_fake_clock_advance (clock_, (guint64)(earliest - now_ms () - 1));
    ck_assert_msg (provider.asks == round - 1 && count_sent ("refresh") == round - 1,
                   "round %u: nothing before 75 %% of the lifetime", round);
    hub_fake_clock_advance (clock_, (guint64)(latest - now_ms ()));
    ck_assert_msg (provider.asks == round && provider.need == HUB_CLIENT_TOKEN_REFRESH,
                   "round %u: the provider is asked by 85 %% of the lifetime", round);
    refresh = last_sent ();
    ck_assert_str_eq (json_object_get_string_member (refresh, "type"), "refresh");
    {
      g_autofree char *expected = g_strdup_printf ("T%u", round);

      ck_assert_str_eq (json_object_get_string_member (refresh, "token"), expected);
    }
    /* The server takes it: a new deadline, 10 s from now. */
    start = now_ms ();
    deadline = start + 10000;
    ok = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                          ",\"expires_ts\":%" G_GINT64_FORMAT "}",
                          json_object_get_int_member (refresh, "id"), deadline);
    server_sends (ok);
    ck_assert_int_eq (hub_client_get_expires_ts (client), deadline);
    ck_assert_int_eq (rec.tokens->len, round);
    {
      g_autofree char *expected = g_strdup_printf ("refreshed:%" G_GINT64_FORMAT, deadline);

      ck_assert_str_eq (g_ptr_array_index (rec.tokens, round - 1), expected);
    }
  }
  /* A token without exp ends the deadline: no more refreshes. */
  hub_fake_clock_advance (clock_, 8500);
  {
    g_autofree char *ok = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT "}",
                                           json_object_get_int_member (last_sent (), "id"));

    ck_assert_int_eq (provider.asks, 4);
    server_sends (ok);
  }
  ck_assert_int_eq (hub_client_get_expires_ts (client), 0);
  hub_fake_clock_advance (clock_, 3600 * 1000);
  ck_assert_msg (provider.asks == 4, "no deadline, no refresh");
  ck_assert_int_eq (hub_client_get_state (client), HUB_CLIENT_CONNECTED);
}
END_TEST

/* The delay is drawn from [75 %, 85 %] of the time left, reproducibly, and
 * spread (many connections do not refresh together). */
START_TEST (test_refresh_delay_function)
{
  guint64 a = 9, b = 9;
  gint64 lowest = G_MAXINT64, highest = 0;

  for (guint i = 0; i < 1000; i++) {
    gint64 da = hub_client_refresh_delay_ms (&a, 100000);
    gint64 db = hub_client_refresh_delay_ms (&b, 100000);

    ck_assert_msg (da == db, "the same seed gives the same delays");
    ck_assert_msg (da >= 75000 && da <= 85000, "%" G_GINT64_FORMAT " out of [75000, 85000]", da);
    lowest = MIN (lowest, da);
    highest = MAX (highest, da);
  }
  ck_assert_msg (lowest < 76000 && highest > 84000,
                 "1000 draws should cover the range, got %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT,
                 lowest, highest);
  ck_assert_int_eq (hub_client_refresh_delay_ms (&a, 0), 0);
  ck_assert_int_eq (hub_client_refresh_delay_ms (&a, -5000), 0);
  /* A deadline decades away: no overflow. */
  ck_assert_msg (hub_client_refresh_delay_ms (&a, G_MAXINT64) > 0, "a far deadline stays positive");
}
END_TEST

/* A refresh the server takes whose token ends no later than the old one
 * (the provider had nothing fresher) is reported, and not repeated: no
 * flood of refreshes as the deadline nears. */
START_TEST (test_stale_refresh)
{
  gint64 deadline;

  use_provider (PROVIDE_NOW, "T0");
  hub_client_connect (client);
  deadline = now_ms () + 10000;
  welcome_expiring (deadline);
  hub_fake_clock_advance (clock_, 8500);
  ck_assert_int_eq (provider.asks, 1);
  {
    g_autofree char *ok = g_strdup_printf (
        "{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT ",\"expires_ts\":%" G_GINT64_FORMAT "}",
        json_object_get_int_member (last_sent (), "id"), deadline);
    g_autofree char *expected = g_strdup_printf ("failed:stale_token:%" G_GINT64_FORMAT, deadline);

    server_sends (ok);
    ck_assert_int_eq (rec.tokens->len, 1);
    ck_assert_str_eq (g_ptr_array_index (rec.tokens, 0), expected);
  }
  hub_fake_clock_advance (clock_, 1499);
  ck_assert_msg (provider.asks == 1 && count_sent ("refresh") == 1,
                 "no second refresh before the deadline (%u asks)", provider.asks);
}
END_TEST

/* Many clients with providers on one clock: their refreshes wait under one
 * clock timer (not one each), and each comes in its own window. */
START_TEST (test_many_clients_one_timer)
{
  enum { N = 200 };
  HubClient *clients[N];
  HubClientTransport *transports[N];
  HubClientOptions options;
  gint64 deadline = now_ms () + 10000;
  guint refreshes = 0;

  memset (&provider, 0, sizeof provider);
  provider.mode = PROVIDE_NOW;
  hub_client_options_init (&options);
  options.url = "ws://127.0.0.1:1/ws";
  options.token = "T0";
  options.request_timeout_ms = 5000;
  options.clock = clock_;
  options.transport = &fake_class;
  options.token_provider = on_token_needed;
  for (guint i = 0; i < N; i++) {
    g_autofree char *welcome = NULL;

    options.seed = i + 1;
    clients[i] = hub_client_new (&options, NULL, NULL, NULL);
    transports[i] = fake;
    hub_client_connect (clients[i]);
    transports[i]->sink->opened (transports[i]->owner);
    welcome = g_strdup_printf (
        "{\"type\":\"welcome\",\"id\":1,\"rooms\":[],\"expires_ts\":%" G_GINT64_FORMAT "}",
        deadline);
    transports[i]->sink->received (transports[i]->owner, welcome, strlen (welcome));
  }
  /* The fixture's client has no provider and no timer; each client here
   * has answered its hello: what is left is the refresh queue's timer. */
  ck_assert_msg (hub_fake_clock_pending (clock_) == 1, "one clock timer for %d refreshes, got %u",
                 N, hub_fake_clock_pending (clock_));
  hub_fake_clock_advance (clock_, 7499);
  ck_assert_int_eq (provider.asks, 0);
  hub_fake_clock_advance (clock_, 1001);
  ck_assert_int_eq (provider.asks, N);
  for (guint i = 0; i < N; i++) {
    JsonObject *last = g_ptr_array_index (transports[i]->sent, transports[i]->sent->len - 1);

    refreshes += strcmp (json_object_get_string_member (last, "type"), "refresh") == 0;
  }
  ck_assert_int_eq (refreshes, N);
  for (guint i = 0; i < N; i++)
    hub_client_free (clients[i]);
  ck_assert_msg (hub_fake_clock_pending (clock_) == 0, "no timer left after the clients");
}
END_TEST

/* An asynchronous provider: the refresh waits for its answer. A refused
 * refresh is reported and not retried: the deadline closes the connection
 * (4003), and the reconnect asks the provider for the hello's token. */
START_TEST (test_refresh_refused_then_4003)
{
  gint64 deadline;
  JsonObject *refresh, *hello;
  const HubClientStateChange *change;

  use_provider (PROVIDE_LATER, "T0");
  hub_client_connect (client);
  deadline = now_ms () + 10000;
  welcome_expiring (deadline);
  hub_fake_clock_advance (clock_, 8500);
  ck_assert_int_eq (provider.asks, 1);
  ck_assert_msg (count_sent ("refresh") == 0, "no refresh before the provider answers");
  hub_client_supply_token (client, "T-late");
  refresh = last_sent ();
  ck_assert_str_eq (json_object_get_string_member (refresh, "type"), "refresh");
  ck_assert_str_eq (json_object_get_string_member (refresh, "token"), "T-late");
  {
    g_autofree char *error = g_strdup_printf (
        "{\"type\":\"error\",\"id\":%" G_GINT64_FORMAT
        ",\"code\":\"unauthorized\",\"message\":\"the token is for another user\"}",
        json_object_get_int_member (refresh, "id"));
    g_autofree char *expected = g_strdup_printf ("failed:unauthorized:%" G_GINT64_FORMAT, deadline);

    server_sends (error);
    ck_assert_int_eq (rec.tokens->len, 1);
    ck_assert_str_eq (g_ptr_array_index (rec.tokens, 0), expected);
  }
  ck_assert_int_eq (hub_client_get_expires_ts (client), deadline);
  hub_fake_clock_advance (clock_, 1400);
  ck_assert_msg (provider.asks == 1 && count_sent ("refresh") == 1,
                 "a refused refresh is not retried before the deadline");

  server_closes_with (4003, "token expired");
  change = last_change ();
  ck_assert_int_eq (change->state, HUB_CLIENT_RECONNECTING);
  ck_assert_int_eq (change->close_code, 4003);
  ck_assert_str_eq (rec.reason, "token expired (close code 4003)");
  ck_assert_str_eq (rec.close_reason, "token expired");
  ck_assert_int_eq (hub_client_get_expires_ts (client), 0);
  hub_fake_clock_advance (clock_, change->retry_in_ms);
  ck_assert_msg (provider.asks == 2 && provider.need == HUB_CLIENT_TOKEN_CONNECT,
                 "the reconnect asks for a token");
  ck_assert_msg (fake->opens == 1, "no connection before the token is there");
  ck_assert_int_eq (hub_client_get_state (client), HUB_CLIENT_CONNECTING);
  hub_client_supply_token (client, "T-fresh");
  ck_assert_int_eq (fake->opens, 2);
  server_accepts ();
  hello = last_sent ();
  ck_assert_str_eq (json_object_get_string_member (hello, "type"), "hello");
  ck_assert_str_eq (json_object_get_string_member (hello, "token"), "T-fresh");
}
END_TEST

/* Without a provider, 4003 is final: reported with its code and words, and
 * nothing reconnects. */
START_TEST (test_4003_without_provider)
{
  connect_with ("[]");
  server_closes_with (4003, "token expired");
  ck_assert_int_eq (last_change ()->state, HUB_CLIENT_DISCONNECTED);
  ck_assert_int_eq (last_change ()->close_code, 4003);
  ck_assert_str_eq (rec.reason, "token expired (close code 4003)");
  hub_fake_clock_advance (clock_, 600000);
  ck_assert_msg (fake->opens == 1, "no reconnect after 4003 without a provider, %u opens",
                 fake->opens);
  ck_assert_int_eq (hub_client_get_state (client), HUB_CLIENT_DISCONNECTED);
}
END_TEST

/* 4010 is final even with a provider, and says so in plain words. */
START_TEST (test_4010_final)
{
  use_provider (PROVIDE_NOW, "T0");
  hub_client_connect (client);
  welcome_expiring (now_ms () + 60000);
  server_closes_with (4010, "banned for 60 s");
  ck_assert_int_eq (last_change ()->state, HUB_CLIENT_DISCONNECTED);
  ck_assert_int_eq (last_change ()->close_code, 4010);
  ck_assert_str_eq (rec.reason, "disconnected by the server (close code 4010: banned for 60 s)");
  ck_assert_str_eq (rec.close_reason, "banned for 60 s");
  hub_fake_clock_advance (clock_, 600000);
  ck_assert_msg (fake->opens == 1 && provider.asks == 0,
                 "no reconnect, no token asked after 4010 (%u opens, %u asks)", fake->opens,
                 provider.asks);
  ck_assert_msg (hub_client_close_code_is_final (4010), "4010 is final");
}
END_TEST

/* Every reconnect asks the provider; the first connection too when the
 * options carry no token. */
START_TEST (test_connect_asks_provider)
{
  use_provider (PROVIDE_NOW, NULL);
  hub_client_connect (client);
  ck_assert_msg (provider.asks == 1 && provider.need == HUB_CLIENT_TOKEN_CONNECT,
                 "no token in the options: the provider is asked first");
  server_accepts ();
  ck_assert_str_eq (json_object_get_string_member (last_sent (), "token"), "T1");
  server_sends ("{\"type\":\"welcome\",\"id\":1,\"rooms\":[]}");
  for (guint i = 2; i <= 3; i++) {
    g_autofree char *expected = g_strdup_printf ("T%u", i);

    server_closes (1006);
    hub_fake_clock_advance (clock_, last_change ()->retry_in_ms);
    ck_assert_int_eq (provider.asks, i);
    server_accepts ();
    ck_assert_str_eq (json_object_get_string_member (last_sent (), "token"), expected);
    server_sends ("{\"type\":\"welcome\",\"id\":99,\"rooms\":[]}");
  }
}
END_TEST

/* A provider without a token: a reconnect after a plain loss goes on with the
 * token in hand (still valid, as far as the client knows); one after 4003
 * gives up; a first connection without any token too. */
START_TEST (test_provider_has_none)
{
  use_provider (PROVIDE_NONE, "T0");
  hub_client_connect (client);
  welcome_expiring (now_ms () + 60000);
  server_closes (1006);
  hub_fake_clock_advance (clock_, last_change ()->retry_in_ms);
  ck_assert_int_eq (provider.asks, 1);
  ck_assert_msg (rec.tokens->len == 1 && g_str_has_prefix (g_ptr_array_index (rec.tokens, 0),
                                                           "failed:token_unavailable"),
                 "the provider's failure is reported");
  ck_assert_int_eq (fake->opens, 2);
  server_accepts ();
  ck_assert_str_eq (json_object_get_string_member (last_sent (), "token"), "T0");
  server_sends ("{\"type\":\"welcome\",\"id\":2,\"rooms\":[],\"expires_ts\":1}");

  server_closes (4003);
  ck_assert_int_eq (last_change ()->state, HUB_CLIENT_RECONNECTING);
  hub_fake_clock_advance (clock_, last_change ()->retry_in_ms);
  ck_assert_int_eq (provider.asks, 2);
  ck_assert_int_eq (last_change ()->state, HUB_CLIENT_DISCONNECTED);
  ck_assert_int_eq (last_change ()->close_code, 4003);
  ck_assert_str_eq (rec.reason, "no fresh token: backend down");
  hub_fake_clock_advance (clock_, 600000);
  ck_assert_msg (fake->opens == 2, "given up: no connection without a token");

  use_provider (PROVIDE_NONE, NULL);
  hub_client_connect (client);
  ck_assert_int_eq (last_change ()->state, HUB_CLIENT_DISCONNECTED);
  ck_assert_msg (fake->opens == 0, "no token at all: no connection");
}
END_TEST

/* A provider that never answers: the ask ends after request_timeout_ms. */
START_TEST (test_provider_timeout)
{
  use_provider (PROVIDE_LATER, "T0");
  hub_client_connect (client);
  welcome_expiring (now_ms () + 100000);
  ck_assert (hub_client_refresh_token (client));
  ck_assert_int_eq (provider.asks, 1);
  hub_fake_clock_advance (clock_, 4999);
  ck_assert_int_eq (rec.tokens->len, 0);
  hub_fake_clock_advance (clock_, 1);
  ck_assert_msg (rec.tokens->len == 1 && g_str_has_prefix (g_ptr_array_index (rec.tokens, 0),
                                                           "failed:token_unavailable"),
                 "the unanswered ask is reported as a failure");
  /* A late answer is still welcome: it refreshes. */
  hub_client_supply_token (client, "T-late");
  ck_assert_str_eq (sent_type (), "refresh");
}
END_TEST

/* hub_client_refresh_token: at once, whatever the deadline; nothing without a
 * provider or a connection. */
START_TEST (test_refresh_now)
{
  gint64 deadline;

  ck_assert_msg (!hub_client_refresh_token (client), "no provider: nothing to ask");
  ck_assert (!hub_client_has_token_provider (client));
  use_provider (PROVIDE_NOW, "T0");
  ck_assert (hub_client_has_token_provider (client));
  ck_assert_msg (!hub_client_refresh_token (client), "not connected: nothing to refresh");
  hub_client_connect (client);
  deadline = now_ms () + 10000;
  welcome_expiring (deadline);
  ck_assert (hub_client_refresh_token (client));
  ck_assert_str_eq (sent_type (), "refresh");
  ck_assert_str_eq (json_object_get_string_member (last_sent (), "token"), "T1");
  /* The same deadline (a token minted in the same second): taken, so
   * refreshed; and the automatic refresh is still due. */
  {
    g_autofree char *ok = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                                           ",\"expires_ts\":%" G_GINT64_FORMAT "}",
                                           last_id (), deadline);
    g_autofree char *expected = g_strdup_printf ("refreshed:%" G_GINT64_FORMAT, deadline);

    server_sends (ok);
    ck_assert_int_eq (rec.tokens->len, 1);
    ck_assert_str_eq (g_ptr_array_index (rec.tokens, 0), expected);
  }
  hub_fake_clock_advance (clock_, 8500);
  ck_assert_msg (provider.asks == 2, "the automatic refresh still comes, %u asks", provider.asks);
}
END_TEST

/* A provider may free the client from inside its call (ASan watches). */
START_TEST (test_free_inside_provider)
{
  use_provider (PROVIDE_FREE, "T0");
  hub_client_connect (client);
  welcome_expiring (now_ms () + 10000);
  hub_fake_clock_advance (clock_, 9000);
  ck_assert_msg (client == NULL && provider.asks == 1, "the provider freed the client");
  hub_fake_clock_advance (clock_, 60000);
}
END_TEST

/* A room joined with a room token: the join carries it, and so does the
 * join the client sends itself when the server lost the room. */
START_TEST (test_room_token_rejoin)
{
  JsonObject *join_frame;

  connect_with ("[]");
  hub_client_join_with_token (client, "vault", "RT", NULL, NULL);
  join_frame = last_sent ();
  ck_assert_str_eq (json_object_get_string_member (join_frame, "token"), "RT");
  join_answered ("vault", 5);
  server_closes (1006);
  hub_fake_clock_advance (clock_, last_change ()->retry_in_ms);
  server_accepts ();
  {
    g_autofree char *welcome = g_strdup_printf (
        "{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT ",\"rooms\":[]}", last_id ());
    g_autofree char *missing = NULL;

    server_sends (welcome);
    ck_assert_str_eq (sent_type (), "room_info");
    missing = g_strdup_printf ("{\"type\":\"error\",\"id\":%" G_GINT64_FORMAT
                               ",\"code\":\"room_not_found\",\"message\":\"x\"}",
                               last_id ());
    server_sends (missing);
  }
  join_frame = last_sent ();
  ck_assert_str_eq (json_object_get_string_member (join_frame, "type"), "join");
  ck_assert_str_eq (json_object_get_string_member (join_frame, "room"), "vault");
  ck_assert_str_eq (json_object_get_string_member (join_frame, "token"), "RT");
}
END_TEST

/* Stream epochs (the server's addition to §3 and §6): the hello resumes
 * with the epoch of each room's seq; a welcome that names another stream
 * resets the room's seq, so its replay (from seq 1) is taken, not dropped as
 * duplicates; a room created again with a higher seq is told by its epoch. */
START_TEST (test_epochs_resume_across_a_new_stream)
{
  JsonObject *hello, *epochs;

  connect_with ("[]");
  hub_client_join (client, "general", NULL, NULL);
  {
    g_autofree char *ok = g_strdup_printf (
        "{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
        ",\"room\":\"general\",\"seq\":40,\"epoch\":1700000000000001,\"members\":[]}",
        last_id ());

    server_sends (ok);
  }
  message ("general", 41);
  server_closes (1006);
  hub_fake_clock_advance (clock_, 100);
  server_accepts ();
  hello = last_sent ();
  ck_assert_int_eq (
      json_object_get_int_member (json_object_get_object_member (hello, "resume"), "general"), 41);
  epochs = json_object_get_object_member (hello, "epochs");
  ck_assert_msg (epochs != NULL, "the hello says which stream 41 belongs to");
  ck_assert_int_eq (json_object_get_int_member (epochs, "general"), 1700000000000001);
  {
    g_autofree char *welcome =
        g_strdup_printf ("{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT
                         ",\"rooms\":[\"general\"],\"epochs\":{\"general\":1700000000000009}}",
                         last_id ());

    server_sends (welcome);
  }
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 0);
  g_ptr_array_set_size (rec.events, 0);
  message ("general", 1);
  message ("general", 2);
  server_sends ("{\"type\":\"resumed\",\"room\":\"general\",\"from\":1,\"to\":2,"
                "\"complete\":false,\"epoch\":1700000000000009}");
  ck_assert_int_eq (hub_client_get_last_seq (client, "general"), 2);
  {
    HubClientCounters counters;

    hub_client_get_counters (client, &counters);
    ck_assert_int_eq (counters.duplicates, 0);
  }
  ck_assert_uint_eq (rec.events->len, 3);
  ck_assert_str_eq (g_ptr_array_index (rec.events, 0), "1:general:1");
  /* The next hello names the new stream. */
  server_closes (1006);
  hub_fake_clock_advance (clock_, 1000);
  server_accepts ();
  epochs = json_object_get_object_member (last_sent (), "epochs");
  ck_assert_int_eq (json_object_get_int_member (epochs, "general"), 1700000000000009);
}
END_TEST

/* A room the welcome leaves out, present again with a seq past ours: its
 * epoch tells it was created again (not that we were removed): rejoined. */
START_TEST (test_epochs_tell_a_room_created_again)
{
  connect_with ("[]");
  hub_client_join (client, "tech", NULL, NULL);
  {
    g_autofree char *ok =
        g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                         ",\"room\":\"tech\",\"seq\":2,\"epoch\":5,\"members\":[]}",
                         last_id ());

    server_sends (ok);
  }
  server_closes (1006);
  hub_fake_clock_advance (clock_, 100);
  server_accepts ();
  {
    g_autofree char *welcome = g_strdup_printf (
        "{\"type\":\"welcome\",\"id\":%" G_GINT64_FORMAT ",\"rooms\":[]}", last_id ());

    server_sends (welcome);
  }
  ck_assert_str_eq (json_object_get_string_member (last_sent (), "type"), "room_info");
  {
    g_autofree char *info = g_strdup_printf ("{\"type\":\"ok\",\"id\":%" G_GINT64_FORMAT
                                             ",\"room\":\"tech\",\"seq\":9,\"epoch\":6}",
                                             last_id ());

    server_sends (info);
  }
  ck_assert_msg (g_strcmp0 (json_object_get_string_member (last_sent (), "type"), "join") == 0,
                 "another stream: joined again, not told removed");
}
END_TEST

static Suite *
protocol_suite (void)
{
  Suite *s = suite_create ("client-protocol");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"hello", test_hello},
      {"replies_once", test_replies_once},
      {"not_connected_and_timeout", test_not_connected_and_timeout},
      {"seq_tracking", test_seq_tracking},
      {"reconnect_resumes", test_reconnect_resumes},
      {"rejoin_after_restart", test_rejoin_after_restart},
      {"too_large_not_sent", test_too_large_not_sent},
      {"backoff_grows_and_resets", test_backoff_grows_and_resets},
      {"backoff_function", test_backoff_function},
      {"final_close_codes", test_final_close_codes},
      {"hello_refused", test_hello_refused},
      {"hello_refused_internal_is_retried", test_hello_refused_internal_is_retried},
      {"welcome_rooms_sync", test_welcome_rooms_sync},
      {"free_inside_callback", test_free_inside_callback},
      {"disconnect", test_disconnect},
      {"url_parse", test_url_parse},
      {"refresh_ahead_of_deadline", test_refresh_ahead_of_deadline},
      {"refresh_delay_function", test_refresh_delay_function},
      {"stale_refresh", test_stale_refresh},
      {"many_clients_one_timer", test_many_clients_one_timer},
      {"refresh_refused_then_4003", test_refresh_refused_then_4003},
      {"4003_without_provider", test_4003_without_provider},
      {"4010_final", test_4010_final},
      {"connect_asks_provider", test_connect_asks_provider},
      {"provider_has_none", test_provider_has_none},
      {"provider_timeout", test_provider_timeout},
      {"refresh_now", test_refresh_now},
      {"free_inside_provider", test_free_inside_provider},
      {"room_token_rejoin", test_room_token_rejoin},
      {"peeked_messages", test_peeked_messages},
      {"peeked_declined_and_unreadable", test_peeked_declined_and_unreadable},
      {"lean_replies", test_lean_replies},
      {"peeked_presence", test_peeked_presence},
      {"epochs_resume_across_a_new_stream", test_epochs_resume_across_a_new_stream},
      {"epochs_tell_a_room_created_again", test_epochs_tell_a_room_created_again},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, cases[i].test);
    suite_add_tcase (s, tc);
  }
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (protocol_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* hub-batch.c: the scriptable mode. stdin is read asynchronously into a
 * queue; a command runs once connected and the previous one was answered;
 * the run ends at EOF (plus --wait-for), on /quit, on an error, or at
 * --timeout. Content goes to stdout, connection remarks and errors to stderr. */
#include "hub-batch.h"

#include "hub-session.h"

#include <stdio.h>
#include <string.h>

/* How long a clean close may take once the run is over. */
#define CLOSE_GRACE_MS 1000
/* How long the end waits for the copies of our own messages (§5: a publish's
 * sender gets it too), so that --json shows every message published. */
#define OWN_COPY_WAIT_MS 5000

typedef struct {
  const HubBatchOptions *options;
  GMainLoop *loop;     /* (owned) */
  HubSession *session; /* (owned) */
  GIOChannel *input;   /* (owned) stdin */
  guint input_source;  /* reads stdin while lines may come */
  GQueue lines;        /* char* (owned) waiting to run */
  gboolean eof;
  gboolean busy; /* a command awaits its reply */
  gboolean connected_once;
  gboolean matched; /* --wait-for saw its frame */
  gboolean finishing;
  int exit_code;
  guint timeout_source, grace_source, next_source;
  gint64 own_copy_deadline_us; /* 0: not waiting for them yet */
  guint own_copy_source;       /* ends that wait */
} Batch;

gboolean
hub_json_subset_match (JsonNode *pattern, JsonNode *value)
{
  if (pattern == NULL || value == NULL)
    return pattern == value;
  if (JSON_NODE_HOLDS_OBJECT (pattern)) {
    JsonObject *p, *v;
    JsonObjectIter iter;
    const char *name;
    JsonNode *member;

    if (!JSON_NODE_HOLDS_OBJECT (value))
      return FALSE;
    p = json_node_get_object (pattern);
    v = json_node_get_object (value);
    json_object_iter_init (&iter, p);
    while (json_object_iter_next (&iter, &name, &member)) {
      if (!hub_json_subset_match (member, json_object_get_member (v, name)))
        return FALSE;
    }
    return TRUE;
  }
  if (JSON_NODE_HOLDS_ARRAY (pattern)) {
    JsonArray *p, *v;

    if (!JSON_NODE_HOLDS_ARRAY (value))
      return FALSE;
    p = json_node_get_array (pattern);
    v = json_node_get_array (value);
    if (json_array_get_length (p) != json_array_get_length (v))
      return FALSE;
    for (guint i = 0; i < json_array_get_length (p); i++) {
      if (!hub_json_subset_match (json_array_get_element (p, i), json_array_get_element (v, i)))
        return FALSE;
    }
    return TRUE;
  }
  if (JSON_NODE_HOLDS_NULL (pattern))
    return JSON_NODE_HOLDS_NULL (value);
  if (!JSON_NODE_HOLDS_VALUE (value))
    return FALSE;
  {
    GType pt = json_node_get_value_type (pattern), vt = json_node_get_value_type (value);
    gboolean p_num = pt == G_TYPE_INT64 || pt == G_TYPE_DOUBLE;
    gboolean v_num = vt == G_TYPE_INT64 || vt == G_TYPE_DOUBLE;

    if (p_num && v_num) {
      if (pt == G_TYPE_INT64 && vt == G_TYPE_INT64)
        return json_node_get_int (pattern) == json_node_get_int (value);
      return json_node_get_double (pattern) == json_node_get_double (value);
    }
    if (pt != vt)
      return FALSE;
    if (pt == G_TYPE_STRING)
      return strcmp (json_node_get_string (pattern), json_node_get_string (value)) == 0;
    if (pt == G_TYPE_BOOLEAN)
      return json_node_get_boolean (pattern) == json_node_get_boolean (value);
    return FALSE;
  }
}

static void
stop_reading (Batch *batch)
{
  g_clear_handle_id (&batch->input_source, g_source_remove);
}

static void
quit (Batch *batch)
{
  g_main_loop_quit (batch->loop);
}

static gboolean
on_grace (gpointer user_data)
{
  Batch *batch = user_data;

  batch->grace_source = 0;
  quit (batch);
  return G_SOURCE_REMOVE;
}

/* Ends the run with @code: closes the connection cleanly (bounded), then quits. */
static void
finish (Batch *batch, int code)
{
  HubClient *client = hub_session_get_client (batch->session);

  if (batch->finishing)
    return;
  batch->finishing = TRUE;
  batch->exit_code = code;
  stop_reading (batch);
  if (hub_client_get_state (client) == HUB_CLIENT_DISCONNECTED) {
    quit (batch);
    return;
  }
  batch->grace_source = g_timeout_add (CLOSE_GRACE_MS, on_grace, batch);
  hub_session_disconnect (batch->session);
}

static void run_next (Batch *batch);

static gboolean
on_next (gpointer user_data)
{
  Batch *batch = user_data;

  batch->next_source = 0;
  run_next (batch);
  return G_SOURCE_REMOVE;
}

/* Schedules run_next from the loop (done callbacks may come from inside execute). */
static void
schedule_next (Batch *batch)
{
  if (batch->next_source == 0 && !batch->finishing)
    batch->next_source = g_idle_add (on_next, batch);
}

static void
on_done (HubSession *session, HubSessionResult result, gpointer user_data)
{
  Batch *batch = user_data;

  batch->busy = FALSE;
  switch (result) {
    case HUB_SESSION_OK:
      schedule_next (batch);
      break;
    case HUB_SESSION_QUIT:
      /* Like the end of input: no more commands, but --wait-for still waits. */
      batch->eof = TRUE;
      stop_reading (batch);
      g_queue_clear_full (&batch->lines, g_free);
      schedule_next (batch);
      break;
    case HUB_SESSION_ERROR_REPLY:
      finish (batch, HUB_EXIT_ERROR_REPLY);
      break;
    case HUB_SESSION_USAGE:
      finish (batch, HUB_EXIT_USAGE);
      break;
    case HUB_SESSION_CONNECTION:
    default:
      finish (batch, HUB_EXIT_CONNECTION);
      break;
  }
}

static gboolean
on_own_copy_deadline (gpointer user_data)
{
  Batch *batch = user_data;

  batch->own_copy_source = 0;
  run_next (batch);
  return G_SOURCE_REMOVE;
}

/* TRUE when the copies of what we published have arrived, or waiting for
 * them took OWN_COPY_WAIT_MS (then the run ends with a remark); FALSE while
 * waiting: on_frame, or the deadline, tries again. */
static gboolean
own_copies_in (Batch *batch)
{
  guint pending = hub_session_own_copies_pending (batch->session);
  gint64 now = g_get_monotonic_time ();

  if (pending == 0)
    return TRUE;
  if (batch->own_copy_deadline_us == 0) {
    batch->own_copy_deadline_us = now + OWN_COPY_WAIT_MS * 1000;
    batch->own_copy_source = g_timeout_add (OWN_COPY_WAIT_MS + 1, on_own_copy_deadline, batch);
    return FALSE;
  }
  if (now < batch->own_copy_deadline_us)
    return FALSE;
  g_printerr ("hub-client: the copy of our own last message did not come back in %u room%s "
              "within %.0f s\n",
              pending, pending == 1 ? "" : "s", OWN_COPY_WAIT_MS / 1000.0);
  return TRUE;
}

static void
run_next (Batch *batch)
{
  HubClient *client = hub_session_get_client (batch->session);
  g_autofree char *line = NULL;

  if (batch->finishing || batch->busy || hub_client_get_state (client) != HUB_CLIENT_CONNECTED ||
      hub_client_is_rejoining (client))
    return;
  line = g_queue_pop_head (&batch->lines);
  if (line == NULL) {
    if (batch->eof && (batch->options->wait_for == NULL || batch->matched) && own_copies_in (batch))
      finish (batch, HUB_EXIT_OK);
    return;
  }
  batch->busy = TRUE;
  hub_session_execute (batch->session, line, on_done, batch);
}

static gboolean
on_input (GIOChannel *channel, GIOCondition condition, gpointer user_data)
{
  Batch *batch = user_data;

  /* Whole lines only; a partial one waits for the rest (non-blocking reads). */
  for (guint n = 0; n < 1000; n++) {
    g_autoptr (GError) error = NULL;
    char *line = NULL;
    gsize terminator = 0;
    GIOStatus status = g_io_channel_read_line (channel, &line, NULL, &terminator, &error);

    if (status == G_IO_STATUS_AGAIN)
      break;
    if (status == G_IO_STATUS_ERROR || status == G_IO_STATUS_EOF) {
      if (error != NULL)
        g_printerr ("hub-client: stdin: %s\n", error->message);
      batch->input_source = 0;
      batch->eof = TRUE;
      g_free (line);
      run_next (batch);
      return G_SOURCE_REMOVE;
    }
    if (line == NULL)
      break;
    line[terminator] = '\0';
    if (terminator > 0 && line[terminator - 1] == '\r')
      line[terminator - 1] = '\0';
    g_queue_push_tail (&batch->lines, line);
  }
  run_next (batch);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_timeout (gpointer user_data)
{
  Batch *batch = user_data;

  batch->timeout_source = 0;
  g_printerr ("hub-client: timed out after %.1f s%s\n", batch->options->timeout_ms / 1000.0,
              batch->options->wait_for != NULL && !batch->matched
                  ? " without a frame matching --wait-for"
                  : "");
  finish (batch, HUB_EXIT_TIMEOUT);
  return G_SOURCE_REMOVE;
}

static void
print_line (gpointer user_data, HubSessionLine kind, const char *text)
{
  Batch *batch = user_data;

  if (kind == HUB_SESSION_LINE_INFO || kind == HUB_SESSION_LINE_ERROR) {
    fprintf (stderr, "%s\n", text);
    fflush (stderr);
    return;
  }
  if (batch->options->json)
    return; /* the frames themselves are printed */
  fprintf (stdout, "%s\n", text);
  fflush (stdout);
}

static void
on_frame (gpointer user_data, JsonObject *frame, const char *text)
{
  Batch *batch = user_data;

  if (batch->options->json) {
    if (strchr (text, '\n') == NULL) {
      fprintf (stdout, "%s\n", text);
    } else {
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      g_autoptr (JsonGenerator) generator = json_generator_new ();
      g_autofree char *one = NULL;

      json_node_set_object (node, frame);
      json_generator_set_root (generator, node);
      one = json_generator_to_data (generator, NULL);
      fprintf (stdout, "%s\n", one);
    }
    fflush (stdout);
  }
  /* Handled after this call: run_next (from the loop) then sees it. */
  if (batch->own_copy_deadline_us != 0 ||
      hub_client_is_rejoining (hub_session_get_client (batch->session)))
    schedule_next (batch);
  if (batch->options->wait_for != NULL && !batch->matched) {
    g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

    json_node_set_object (node, frame);
    if (hub_json_subset_match (batch->options->wait_for, node)) {
      batch->matched = TRUE;
      schedule_next (batch); /* ends the run if the commands are done */
    }
  }
}

static void
on_state (gpointer user_data, const HubClientStateChange *change)
{
  Batch *batch = user_data;

  if (batch->finishing) {
    if (change->state == HUB_CLIENT_DISCONNECTED)
      quit (batch);
    return;
  }
  switch (change->state) {
    case HUB_CLIENT_CONNECTED:
      batch->connected_once = TRUE;
      schedule_next (batch);
      break;
    case HUB_CLIENT_RECONNECTING:
      /* A script wants to know at once that the server is not there. */
      if (!batch->connected_once)
        finish (batch, HUB_EXIT_CONNECTION);
      break;
    case HUB_CLIENT_DISCONNECTED:
      finish (batch, HUB_EXIT_CONNECTION);
      break;
    default:
      break;
  }
}

static void
on_stats (gpointer user_data, JsonObject *stats)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_node_set_object (node, stats);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  fprintf (stdout, "%s\n", text);
  fflush (stdout);
}

int
hub_batch_run (const HubClientOptions *client_options, const HubSessionTokens *tokens,
               const HubBatchOptions *options)
{
  const HubSessionOutput output = {
      .print = print_line,
      .frame = on_frame,
      .state = on_state,
      .stats = on_stats,
  };
  g_autoptr (GError) error = NULL;
  Batch batch = {
      .options = options,
      .exit_code = HUB_EXIT_OK,
  };

  g_queue_init (&batch.lines);
  batch.loop = g_main_loop_new (NULL, FALSE);
  batch.session =
      hub_session_new (client_options, tokens, FALSE, HUB_SESSION_BATCH, &output, &batch, &error);
  if (batch.session == NULL) {
    g_printerr ("hub-client: %s\n", error->message);
    g_main_loop_unref (batch.loop);
    return HUB_EXIT_USAGE;
  }
  batch.input = g_io_channel_unix_new (0);
  g_io_channel_set_flags (batch.input, G_IO_FLAG_NONBLOCK, NULL);
  batch.input_source =
      g_io_add_watch (batch.input, G_IO_IN | G_IO_HUP | G_IO_ERR, on_input, &batch);
  if (options->timeout_ms > 0)
    batch.timeout_source = g_timeout_add (options->timeout_ms, on_timeout, &batch);
  hub_session_connect (batch.session);

  g_main_loop_run (batch.loop);

  g_clear_handle_id (&batch.timeout_source, g_source_remove);
  g_clear_handle_id (&batch.grace_source, g_source_remove);
  g_clear_handle_id (&batch.next_source, g_source_remove);
  g_clear_handle_id (&batch.own_copy_source, g_source_remove);
  stop_reading (&batch);
  hub_session_free (batch.session);
  g_queue_clear_full (&batch.lines, g_free);
  g_io_channel_unref (batch.input);
  g_main_loop_unref (batch.loop);
  return batch.exit_code;
}

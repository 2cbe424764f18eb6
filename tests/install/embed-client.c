/* embed-client.c: a program outside the hub tree, built against the installed libhub
 * (`cc embed-client.c $(pkg-config --cflags --libs libhub)`): it connects to the hub at
 * argv[1], joins room "lobby" and exits 0 once the join is accepted, 1 otherwise. */
#include <hub/hub.h>
#include <stdio.h>

static int status = 1;

static void
on_joined (HubClient *client, JsonObject *reply, const GError *error, gpointer loop)
{
  printf ("join: %s\n", error == NULL ? "ok" : error->message);
  status = error == NULL ? 0 : 1;
  g_main_loop_quit (loop);
}

static void
on_event (HubClient *client, const HubClientEvent *event, gpointer loop)
{
  if (event->type != HUB_CLIENT_EVENT_WELCOME)
    return;
  printf ("welcome: user %s, server %s, libhub %s\n", event->user,
          json_object_get_string_member (event->frame, "server"), hub_version_string ());
  hub_client_join (client, "lobby", on_joined, loop);
}

static void
on_state (HubClient *client, const HubClientStateChange *change, gpointer loop)
{
  if (change->state == HUB_CLIENT_DISCONNECTED) /* could not connect (no reconnection) */
    g_main_loop_quit (loop);
}

static gboolean
give_up (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  HubClientCallbacks callbacks = {.state_changed = on_state, .event = on_event};
  HubClientOptions options;
  HubClient *client;

  hub_client_options_init (&options);
  options.url = argc > 1 ? argv[1] : NULL; /* NULL: ws://127.0.0.1:8080/ws */
  options.user = "embedded";
  options.auto_reconnect = FALSE;
  client = hub_client_new (&options, &callbacks, loop, NULL);
  if (client == NULL)
    return 1;
  hub_client_connect (client);
  g_timeout_add_seconds (10, give_up, loop);
  g_main_loop_run (loop);
  hub_client_free (client);
  g_main_loop_unref (loop);
  return status;
}

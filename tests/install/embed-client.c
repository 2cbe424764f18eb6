/* embed-client.c: a program outside the hub tree, built against the installed libhub
 * (`cc embed-client.c $(pkg-config --cflags --libs libhub)`): it connects to the hub at
 * argv[1] as "embedded", joins room "lobby" and exits 0 once the join is accepted, 1 otherwise. */
#include <hub/hub.h>
#include <stdio.h>

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  HubClientOptions options;
  hub_client_options_init (&options);
  options.url = argc > 1 ? argv[1] : NULL; /* NULL: ws://127.0.0.1:8080/ws */
  options.user = "embedded";
  g_autoptr (HubClient) client = hub_client_connect_sync (&options, NULL, NULL, 10000, &error);
  if (client != NULL)
    printf ("welcome: user %s, libhub %s\n", hub_client_get_user (client), hub_version_string ());
  if (client == NULL || !hub_client_join_sync (client, "lobby", 10000, &error)) {
    fprintf (stderr, "error: %s\n", error->message);
    return 1;
  }
  printf ("join: ok\n");
  return 0;
}

/* hub-broker-memory.c: the broker of one node on its own (the default):
 * rooms, presence and deliveries live in this process (the dispatcher's room
 * manager, presence and broadcaster); requests run at once
 * (hub-dispatcher-requests.c). hub-broker-cluster.c is the other broker. */
#include "hub-dispatcher-private.h"
#include "hub/hub-version.h"

#include <string.h>

static void
memory_free (HubBroker *b)
{
  g_free (b);
}

/* §6: for each listed room the user is still a member of, the missed messages
 * in order, then `resumed`. Single-threaded: nothing live can interleave. */
static void
replay (HubDispatcher *d, HubConnection *conn, GHashTable *resume)
{
  const char *user = hub_connection_get_user (conn);
  g_autoptr (GPtrArray) rooms = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, resume);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (hub_room_manager_is_member (d->rooms, user, key))
      g_ptr_array_add (rooms, key);
  g_ptr_array_sort (rooms, hub_dispatcher_compare_strings);

  for (guint i = 0; i < rooms->len; i++) {
    const char *room_id = g_ptr_array_index (rooms, i);
    HubRoom *room = hub_room_manager_lookup (d->rooms, room_id);
    gint64 given = *(gint64 *)g_hash_table_lookup (resume, room_id);
    gboolean complete = TRUE;
    g_autoptr (GPtrArray) missed = hub_history_query (room->history, given, G_MAXUINT, &complete);
    /* Nothing missed: the empty range after @given (a hostile resume may say
     * G_MAXINT64, which has no successor: then from = to = @given). */
    gint64 from = given < G_MAXINT64 ? given + 1 : given, to = given;
    g_autoptr (HubFrame) resumed = NULL;

    for (guint j = 0; j < missed->len; j++)
      hub_broadcaster_to_connection (d->broadcaster, conn, g_ptr_array_index (missed, j));
    if (missed->len > 0) {
      from = room->seq - (gint64)missed->len + 1;
      to = room->seq;
    }
    resumed = hub_encode_resumed (room_id, from, to, complete);
    hub_dispatcher_send (conn, resumed);
  }
}

static void
memory_hello (HubBroker *b, HubConnection *conn, HubRequest *req, const char *user,
              const char *device, gboolean admin)
{
  HubDispatcher *d = b->d;
  g_auto (GStrv) rooms = NULL;
  HubWelcome welcome = {0};
  g_autoptr (HubFrame) frame = NULL;

  hub_clock_cancel (d->clock, hub_connection_get_hello_timer (conn));
  hub_connection_set_hello_timer (conn, 0);
  hub_connection_authenticate (conn, user, device, admin);
  hub_connection_manager_bind_user (d->conns, conn);

  rooms = hub_room_manager_list_user_rooms (d->rooms, user);
  welcome.conn = hub_connection_get_id (conn);
  welcome.user = user;
  welcome.device = device;
  welcome.node = d->config.node;
  welcome.server = "hub-server " HUB_VERSION;
  welcome.heartbeat_s = (gint)d->config.heartbeat_s;
  welcome.max_message_bytes = (gint64)d->config.max_message_bytes;
  welcome.rooms = (const char *const *)rooms;
  welcome.n_rooms = g_strv_length (rooms);
  welcome.limits = &d->guard.welcome_limits; /* §8 (hub-dispatcher-guard.c) */
  /* welcome answers hello even without an id: the client needs its fields. */
  frame = hub_encode_welcome (req->id_json, &welcome);
  hub_dispatcher_send (conn, frame);

  if (req->resume != NULL)
    replay (d, conn, req->resume);
  hub_presence_connected (d->presence, user);
  hub_request_free (req);
}

static void
memory_execute (HubBroker *b, HubConnection *conn, HubRequest *req)
{
  hub_dispatcher_execute (b->d, conn, req);
  hub_request_free (req);
}

static void
memory_connection_closed (HubBroker *b, HubConnection *conn)
{
  HubDispatcher *d = b->d;
  const char *user = hub_connection_get_user (conn);
  g_autofree char *who = g_strdup (user);

  if (user != NULL) {
    GHashTableIter iter;
    gpointer watched;

    g_hash_table_iter_init (&iter, hub_connection_get_subscriptions (conn));
    while (g_hash_table_iter_next (&iter, &watched, NULL))
      hub_presence_unsubscribe (d->presence, conn, watched);
  }
  hub_connection_manager_remove (d->conns, conn);
  /* After removal, so the offline event (if any) goes to the others only. */
  if (who != NULL)
    hub_presence_disconnected (d->presence, who);
}

static gboolean
memory_is_up (HubBroker *b)
{
  return TRUE;
}

static void
memory_get_counts (HubBroker *b, guint *rooms, guint *users_online)
{
  *rooms = hub_room_manager_n_rooms (b->d->rooms);
  *users_online = hub_presence_n_online (b->d->presence);
}

static char *
memory_api_publish (HubBroker *b, const char *room_id, const char *to, gboolean broadcast,
                    JsonNode *payload, guint *http_status)
{
  HubDispatcher *d = b->d;
  g_autoptr (HubFrame) frame = NULL;
  guint delivered;

  if (room_id != NULL) {
    HubRoom *room = hub_room_manager_lookup (d->rooms, room_id);

    if (room == NULL)
      return hub_dispatcher_api_error (http_status, 404, HUB_ERROR_ROOM_NOT_FOUND, "no such room");
    return hub_dispatcher_api_result (
        http_status, "seq",
        hub_dispatcher_publish_to_room (d, room, HUB_API_SENDER, HUB_API_DEVICE, payload));
  }
  if (to != NULL) {
    if (hub_connection_manager_count_user (d->conns, to) == 0)
      return hub_dispatcher_api_error (http_status, 404, HUB_ERROR_USER_OFFLINE,
                                       "the user has no connection");
    frame = hub_encode_direct (HUB_API_SENDER, to, hub_clock_unix_ms (d->clock), payload);
    delivered = hub_broadcaster_to_user (d->broadcaster, to, frame, NULL);
  } else {
    frame = hub_encode_broadcast (HUB_API_SENDER, hub_clock_unix_ms (d->clock), payload);
    delivered = hub_broadcaster_to_all (d->broadcaster, frame);
  }
  d->messages_in_total++;
  return hub_dispatcher_api_result (http_status, "delivered", delivered);
}

static HubApiPublish *
memory_api_publish_async (HubBroker *b, const char *room, const char *to, gboolean broadcast,
                          JsonNode *payload, HubApiPublishFunc func, gpointer user_data)
{
  guint status = 500;
  g_autofree char *body = memory_api_publish (b, room, to, broadcast, payload, &status);

  func (status, body, user_data);
  return NULL;
}

static const HubBrokerVTable memory_vtable = {
    .free = memory_free,
    .hello = memory_hello,
    .execute = memory_execute,
    .connection_closed = memory_connection_closed,
    .is_up = memory_is_up,
    .get_counts = memory_get_counts,
    .api_publish = memory_api_publish,
    .api_publish_async = memory_api_publish_async,
};

HubBroker *
hub_broker_memory_new (HubDispatcher *d)
{
  HubBroker *b = g_new0 (HubBroker, 1);

  b->vtable = &memory_vtable;
  b->d = d;
  return b;
}

void
hub_broker_free (HubBroker *b)
{
  if (b != NULL)
    b->vtable->free (b);
}

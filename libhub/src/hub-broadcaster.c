/* hub-broadcaster.c: hands one encoded frame to the send queues of the right
 * connections and counts what happened (PROTOCOL.md §5, §8). Every recipient
 * gets the same HubFrame: nothing is copied or encoded here.
 *
 * While a delivery runs, a send may close a slow consumer (4009). The sink's
 * close() must not remove connections from the managers synchronously (the
 * transport defers that to its own callback), so the sets walked here stay
 * valid. */
#include "hub/hub-broadcaster.h"

struct _HubBroadcaster {
  HubConnectionManager *conns; /* (unowned) */
  HubBroadcasterStats stats;
  guint sample_every; /* 0: no sampling */
  guint until_sample; /* message fan-outs before the next sampled one */
  GHashTable
      *seen; /* (owned) scratch set of user ids (unowned) for to_users, empty between calls */
};

HubBroadcaster *
hub_broadcaster_new (HubConnectionManager *conns)
{
  HubBroadcaster *b;

  g_return_val_if_fail (conns != NULL, NULL);

  b = g_new0 (HubBroadcaster, 1);
  b->conns = conns;
  b->seen = g_hash_table_new (g_str_hash, g_str_equal);
  return b;
}

void
hub_broadcaster_free (HubBroadcaster *b)
{
  if (b == NULL)
    return;
  g_hash_table_unref (b->seen);
  g_free (b);
}

static gboolean
reached (HubSendResult result)
{
  return result == HUB_SEND_WRITTEN || result == HUB_SEND_QUEUED;
}

HubSendResult
hub_broadcaster_to_connection (HubBroadcaster *b, HubConnection *conn, HubFrame *frame)
{
  HubSendResult result;

  g_return_val_if_fail (b != NULL, HUB_SEND_IGNORED);
  g_return_val_if_fail (conn != NULL, HUB_SEND_IGNORED);
  g_return_val_if_fail (frame != NULL, HUB_SEND_IGNORED);

  result = hub_connection_send (conn, frame);
  switch (result) {
    case HUB_SEND_WRITTEN:
    case HUB_SEND_QUEUED:
      if (!hub_frame_is_ephemeral (frame))
        b->stats.deliveries++;
      break;
    case HUB_SEND_DROPPED:
      b->stats.dropped++;
      break;
    case HUB_SEND_CLOSED:
      b->stats.slow_consumer_closes++;
      break;
    case HUB_SEND_IGNORED:
      break;
  }
  return result;
}

/* The delivery lag is measured on a sample of the fan-outs: a stamp costs a
 * copy of the frame and a clock read for each of its deliveries, too much
 * for every message of a fan-out bench (docs/operations.md, Metrics). The
 * time is the real monotonic clock, not the dispatcher's: the transport
 * that measures the lag knows no other. */
void
hub_broadcaster_sample (HubBroadcaster *b, HubFrame **frame)
{
  HubFrame *stamped;

  if (b->sample_every == 0 || hub_frame_is_ephemeral (*frame) || hub_frame_get_stamp (*frame) != 0)
    return;
  if (b->until_sample > 0) {
    b->until_sample--;
    return;
  }
  b->until_sample = b->sample_every - 1;
  stamped = hub_frame_copy_stamped (*frame, g_get_monotonic_time ());
  hub_frame_unref (*frame);
  *frame = stamped;
}

void
hub_broadcaster_set_sampling (HubBroadcaster *b, guint every)
{
  b->sample_every = every;
  b->until_sample = 0;
}

/* to_user without sampling (to_room's and to_users' inner loop). */
static guint
deliver_to_user (HubBroadcaster *b, const char *user, HubFrame *frame, HubConnection *except)
{
  GPtrArray *conns;
  guint n = 0;

  conns = hub_connection_manager_get_user_connections (b->conns, user);
  if (conns == NULL)
    return 0;
  for (guint i = 0; i < conns->len; i++) {
    HubConnection *conn = g_ptr_array_index (conns, i);

    if (conn != except && reached (hub_broadcaster_to_connection (b, conn, frame)))
      n++;
  }
  return n;
}

guint
hub_broadcaster_to_user (HubBroadcaster *b, const char *user, HubFrame *frame,
                         HubConnection *except)
{
  g_autoptr (HubFrame) live = NULL;

  g_return_val_if_fail (b != NULL, 0);
  g_return_val_if_fail (user != NULL, 0);
  g_return_val_if_fail (frame != NULL, 0);

  live = hub_frame_ref (frame);
  hub_broadcaster_sample (b, &live);
  return deliver_to_user (b, user, live, except);
}

guint
hub_broadcaster_to_room (HubBroadcaster *b, HubRoom *room, HubFrame *frame, const char *except_user)
{
  g_autoptr (HubFrame) live = NULL;
  GHashTableIter iter;
  gpointer user;
  guint n = 0;

  g_return_val_if_fail (b != NULL, 0);
  g_return_val_if_fail (room != NULL, 0);
  g_return_val_if_fail (frame != NULL, 0);

  live = hub_frame_ref (frame);
  hub_broadcaster_sample (b, &live);
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &user, NULL)) {
    if (except_user != NULL && g_str_equal (user, except_user))
      continue;
    n += deliver_to_user (b, user, live, NULL);
  }
  return n;
}

typedef struct {
  HubBroadcaster *b;
  HubFrame *frame;
  guint n;
} AllData;

static void
send_one (HubConnection *conn, gpointer user_data)
{
  AllData *data = user_data;

  if (reached (hub_broadcaster_to_connection (data->b, conn, data->frame)))
    data->n++;
}

guint
hub_broadcaster_to_all (HubBroadcaster *b, HubFrame *frame)
{
  g_autoptr (HubFrame) live = NULL;
  AllData data = {b, NULL, 0};

  g_return_val_if_fail (b != NULL, 0);
  g_return_val_if_fail (frame != NULL, 0);

  live = hub_frame_ref (frame);
  hub_broadcaster_sample (b, &live);
  data.frame = live;
  hub_connection_manager_foreach_authenticated (b->conns, send_one, &data);
  return data.n;
}

guint
hub_broadcaster_to_users (HubBroadcaster *b, GPtrArray *users, HubFrame *frame, GPtrArray *offline)
{
  g_autoptr (HubFrame) live = NULL;
  guint n = 0;

  g_return_val_if_fail (b != NULL, 0);
  g_return_val_if_fail (users != NULL, 0);
  g_return_val_if_fail (frame != NULL, 0);

  live = hub_frame_ref (frame);
  hub_broadcaster_sample (b, &live);
  for (guint i = 0; i < users->len; i++) {
    const char *user = g_ptr_array_index (users, i);

    if (!g_hash_table_add (b->seen, (gpointer)user))
      continue; /* listed twice: one copy */
    if (hub_connection_manager_count_user (b->conns, user) == 0) {
      if (offline != NULL)
        g_ptr_array_add (offline, g_strdup (user));
      continue;
    }
    n += deliver_to_user (b, user, live, NULL);
  }
  g_hash_table_remove_all (b->seen);
  return n;
}

guint
hub_broadcaster_to_set (HubBroadcaster *b, GHashTable *subscribers, HubFrame *frame)
{
  GHashTableIter iter;
  gpointer conn;
  guint n = 0;

  g_return_val_if_fail (b != NULL, 0);
  g_return_val_if_fail (subscribers != NULL, 0);
  g_return_val_if_fail (frame != NULL, 0);

  g_hash_table_iter_init (&iter, subscribers);
  while (g_hash_table_iter_next (&iter, &conn, NULL)) {
    if (reached (hub_broadcaster_to_connection (b, conn, frame)))
      n++;
  }
  return n;
}

const HubBroadcasterStats *
hub_broadcaster_get_stats (HubBroadcaster *b)
{
  g_return_val_if_fail (b != NULL, NULL);
  return &b->stats;
}

/* hub-broadcaster.h: puts one encoded frame into the queues of the right
 * connections (PROTOCOL.md §5): a user's devices, a room's members' devices,
 * everyone, a list of users. It never encodes: every recipient shares the same
 * bytes. Counts deliveries of non-ephemeral frames and ephemeral drops. */
#pragma once

#include "hub-api.h"

#include <glib.h>

#include "hub-connection-manager.h"
#include "hub-room-manager.h"

G_BEGIN_DECLS

typedef struct _HubBroadcaster HubBroadcaster;

typedef struct {
  guint64 deliveries; /* non-ephemeral frames queued or written */
  guint64 dropped;    /* ephemeral frames dropped under backpressure */
  guint64 slow_consumer_closes;
} HubBroadcasterStats;

/* @conns is not owned and must outlive the broadcaster. */
HUB_API
HubBroadcaster *hub_broadcaster_new (HubConnectionManager *conns);
HUB_API
void hub_broadcaster_free (HubBroadcaster *b);

/* Sends to one connection, accounting the result. */
HUB_API
HubSendResult hub_broadcaster_to_connection (HubBroadcaster *b, HubConnection *conn,
                                             HubFrame *frame);
/* Every connection of @user except @except (nullable). Returns connections reached. */
HUB_API
guint hub_broadcaster_to_user (HubBroadcaster *b, const char *user, HubFrame *frame,
                               HubConnection *except);
/* Every connection of every member of @room, except the connections of
 * @except_user (nullable). Returns connections reached. */
HUB_API
guint hub_broadcaster_to_room (HubBroadcaster *b, HubRoom *room, HubFrame *frame,
                               const char *except_user);
/* Every authenticated connection. */
HUB_API
guint hub_broadcaster_to_all (HubBroadcaster *b, HubFrame *frame);
/* Every connection of each user in @users (a user listed twice gets it once);
 * users with no connection are appended to @offline (nullable, char* owned by
 * the array's free func if it has one: pass g_ptr_array_new_with_free_func (g_free)). */
HUB_API
guint hub_broadcaster_to_users (HubBroadcaster *b, GPtrArray *users, HubFrame *frame,
                                GPtrArray *offline);
/* Every connection in the set @subscribers (keys are HubConnection*). */
HUB_API
guint hub_broadcaster_to_set (HubBroadcaster *b, GHashTable *subscribers, HubFrame *frame);

/* With sampling on, one fan-out in @every of a message (a frame that is not
 * ephemeral) is sampled for the delivery lag: its recipients get a copy
 * stamped with the time now (hub_frame_copy_stamped), whose deliveries a
 * transport measures. 0 (the default): off, every recipient gets the very
 * frame given. The dispatcher turns it on (HUB_BROADCASTER_SAMPLE_EVERY). */
#define HUB_BROADCASTER_SAMPLE_EVERY 16
HUB_API
void hub_broadcaster_set_sampling (HubBroadcaster *b, guint every);
/* Replaces *@frame (dropping its ref) by its stamped copy when this fan-out
 * is sampled. to_user, to_room, to_users and to_all sample by themselves;
 * who delivers with to_connection calls this first (the dispatcher, for the
 * store's deliveries). Replays use to_connection with the stored frame:
 * never sampled. */
HUB_API
void hub_broadcaster_sample (HubBroadcaster *b, HubFrame **frame);

HUB_API
const HubBroadcasterStats *hub_broadcaster_get_stats (HubBroadcaster *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubBroadcaster, hub_broadcaster_free)

G_END_DECLS

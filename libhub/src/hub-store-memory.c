/* hub-store-memory.c: the store of one node on its own (hub-store.h): rooms,
 * membership, seq and history in a HubRoomManager, connections and statuses in
 * a HubPresence, all in this process. Every operation answers before it
 * returns, and its deliveries have been handed to the node's events by then
 * (single-threaded: nothing interleaves). libhub/redis/ holds the other store. */
#include "hub/hub-presence.h"
#include "hub/hub-room-manager.h"
#include "hub/hub-store.h"

#include <string.h>

typedef struct {
  HubStore parent;
  HubRoomManager *rooms; /* (owned) */
  HubPresence *presence; /* (owned) */
  HubClock *clock;       /* (owned) */
  gboolean auto_create;  /* join creates missing rooms (§4) */
  const HubStoreEvents *events;
  gpointer node;
  guint empty_room_ttl_ms;
  guint expiry_timer; /* deletes rooms that never had a member, 0 when none waits */
} MemoryStore;

#define SELF(store) ((MemoryStore *)(store))

static void
answer (HubStoreFunc done, gpointer data, const HubStoreResult *result)
{
  if (done != NULL)
    done (result, data);
}

static void
fail (HubStoreFunc done, gpointer data, HubStoreError error)
{
  HubStoreResult r = {.error = error};

  answer (done, data, &r);
}

/* The room manager's GError codes, as the store's. */
static HubStoreError
from_gerror (const GError *error)
{
  switch (error->code) {
    case HUB_ERROR_ROOM_NOT_FOUND:
      return HUB_STORE_ROOM_NOT_FOUND;
    case HUB_ERROR_ROOM_EXISTS:
      return HUB_STORE_ROOM_EXISTS;
    case HUB_ERROR_NOT_MEMBER:
      return HUB_STORE_NOT_MEMBER;
    case HUB_ERROR_TOO_MANY_ROOMS:
      return HUB_STORE_TOO_MANY_ROOMS;
    default:
      return HUB_STORE_UNAVAILABLE;
  }
}

static void
describe (HubRoom *room, HubStoreRoom *out)
{
  out->room = room->id;
  out->name = room->name;
  out->created_ts = room->created_ts;
  out->seq = room->seq;
  out->members = g_hash_table_size (room->members);
  out->messages = hub_history_length (room->history);
  out->epoch = room->epoch;
}

static void
deliver_members (MemoryStore *s, HubRoom *room, HubFrame *frame, const char *except_user,
                 gint64 seq)
{
  HubDelivery delivery = {
      .frame = frame,
      .members = room->members,
      .except_user = except_user,
      .room = seq > 0 ? room->id : NULL,
      .seq = seq,
  };

  s->events->deliver (s->node, &delivery);
}

/* Looks up @room and, when @user is set, checks @user is a member. */
static HubRoom *
member_room (MemoryStore *s, const char *room_id, const char *user, HubStoreError *error)
{
  HubRoom *room = hub_room_manager_lookup (s->rooms, room_id);

  if (room == NULL)
    *error = HUB_STORE_ROOM_NOT_FOUND;
  else if (user != NULL && !g_hash_table_contains (room->members, user))
    *error = HUB_STORE_NOT_MEMBER;
  else
    return room;
  return NULL;
}

/* §12: TRUE when @need is 0 or @user's grant in @room_id holds all of it. */
static gboolean
allowed (MemoryStore *s, const char *room_id, const char *user, guint need)
{
  return need == 0 ||
         hub_room_grant_holds (hub_room_manager_lookup (s->rooms, room_id), user, need);
}

static void
on_presence_change (const char *user, HubStatus status, gpointer user_data)
{
  MemoryStore *s = user_data;

  if (s->events != NULL)
    s->events->status (s->node, user, status);
}

/* --- §4 Rooms --------------------------------------------------------------------------------- */

static void schedule_expiry (MemoryStore *s);

/* §8: rooms that never had a member, empty_room_ttl_s after their creation. */
static void
on_expiry (gpointer data)
{
  MemoryStore *s = data;

  s->expiry_timer = 0;
  hub_room_manager_expire_empty (s->rooms,
                                 hub_clock_unix_ms (s->clock) - (gint64)s->empty_room_ttl_ms);
  schedule_expiry (s);
}

/* One timer, for the oldest room that never had a member (the TTL is the
 * same for all, so the others are due after it). */
static void
schedule_expiry (MemoryStore *s)
{
  gint64 oldest = hub_room_manager_oldest_empty (s->rooms);
  gint64 delay;

  if (s->expiry_timer != 0 || oldest < 0)
    return;
  delay = oldest + (gint64)s->empty_room_ttl_ms - hub_clock_unix_ms (s->clock);
  s->expiry_timer =
      hub_clock_add_timeout (s->clock, (guint)CLAMP (delay, 0, (gint64)G_MAXUINT), on_expiry, s);
}

static void
memory_create (HubStore *store, const HubStoreCreate *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  g_autoptr (GError) error = NULL;
  HubRoom *room = NULL;
  HubStoreResult r = {0};

  if (!allowed (SELF (store), args->room, args->user, args->need)) {
    fail (done, data, HUB_STORE_FORBIDDEN);
    return;
  }
  room = hub_room_manager_create_by (s->rooms, args->user, args->room, args->name, args->now_ms,
                                     &error);
  if (room == NULL) {
    fail (done, data,
          g_error_matches (error, HUB_ERROR, HUB_ERROR_TOO_MANY_ROOMS)
              ? HUB_STORE_TOO_MANY_EMPTY_ROOMS
              : from_gerror (error));
    return;
  }
  schedule_expiry (s);
  describe (room, &r.room);
  answer (done, data, &r);
}

static void
memory_join (HubStore *store, const HubStoreJoin *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  g_autoptr (GError) error = NULL;
  gboolean joined = FALSE;
  HubRoom *room = hub_room_manager_lookup (s->rooms, args->room);
  g_autofree HubStoreMember *members = NULL;
  HubStoreResult r = {0};
  GHashTableIter iter;
  gpointer member;
  guint n = 0;

  /* §12: the grant of a member joining again; a join that would create the room. */
  if (!allowed (s, args->room, args->user, args->need) ||
      (room == NULL && s->auto_create && !args->may_create)) {
    fail (done, data, HUB_STORE_FORBIDDEN);
    return;
  }
  room = hub_room_manager_join (s->rooms, args->user, args->room, args->name, args->now_ms, &joined,
                                &error);
  if (room == NULL) {
    fail (done, data, from_gerror (error));
    return;
  }
  if (args->set_grant)
    hub_room_set_grant (room, args->user, args->grant);
  if (joined)
    deliver_members (s, room, args->event, NULL, 0);
  members = g_new (HubStoreMember, g_hash_table_size (room->members));
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &member, NULL)) {
    members[n].user = member;
    members[n].status = hub_presence_get_own_status (s->presence, member);
    members[n].devices = hub_presence_count_connections (s->presence, member);
    n++;
  }
  describe (room, &r.room);
  r.joined = joined;
  r.members = members;
  r.n_members = n;
  answer (done, data, &r);
}

static void
memory_leave (HubStore *store, const HubStoreLeave *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  HubStoreError error = HUB_STORE_OK;
  HubRoom *room = member_room (s, args->room, args->user, &error);
  HubStoreResult r = {0};
  gboolean deleted;

  if (room == NULL) {
    fail (done, data, error);
    return;
  }
  /* The leaver's connections get this last event of the room too (§4). */
  deliver_members (s, room, args->event, NULL, 0);
  hub_room_manager_leave (s->rooms, args->user, args->room, &deleted, NULL);
  answer (done, data, &r);
}

static void
memory_rooms (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  g_auto (GStrv) ids = hub_room_manager_list_user_rooms (s->rooms, args->user);
  guint n = ids != NULL ? g_strv_length (ids) : 0;
  g_autofree HubStoreRoom *rooms = g_new0 (HubStoreRoom, MAX (n, 1));
  HubStoreResult r = {0};

  for (guint i = 0; i < n; i++)
    describe (hub_room_manager_lookup (s->rooms, ids[i]), &rooms[i]);
  r.rooms = rooms;
  r.n_rooms = n;
  answer (done, data, &r);
}

static void
memory_room_info (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data)
{
  HubRoom *room = hub_room_manager_lookup (SELF (store)->rooms, args->room);
  HubStoreResult r = {0};

  if (!allowed (SELF (store), args->room, args->user, args->need)) {
    fail (done, data, HUB_STORE_FORBIDDEN);
    return;
  }
  if (room == NULL) {
    fail (done, data, HUB_STORE_ROOM_NOT_FOUND);
    return;
  }
  describe (room, &r.room);
  answer (done, data, &r);
}

static int
compare_members (gconstpointer a, gconstpointer b)
{
  return strcmp (((const HubStoreMember *)a)->user, ((const HubStoreMember *)b)->user);
}

static void
memory_who (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  HubRoom *room = hub_room_manager_lookup (s->rooms, args->room);
  g_autoptr (GArray) members = NULL;
  HubStoreResult r = {0};
  GHashTableIter iter;
  gpointer user;

  if (!allowed (s, args->room, args->user, args->need)) {
    fail (done, data, HUB_STORE_FORBIDDEN);
    return;
  }
  if (room == NULL) {
    fail (done, data, HUB_STORE_ROOM_NOT_FOUND);
    return;
  }
  members =
      g_array_sized_new (FALSE, FALSE, sizeof (HubStoreMember), g_hash_table_size (room->members));
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &user, NULL)) {
    HubStoreMember m = {
        .user = user,
        .status = hub_presence_get_own_status (s->presence, user),
        .devices = hub_presence_count_connections (s->presence, user),
    };

    g_array_append_val (members, m);
  }
  g_array_sort (members, compare_members);
  r.members = (const HubStoreMember *)(gpointer)members->data;
  r.n_members = members->len;
  answer (done, data, &r);
}

/* --- §5 Messages ------------------------------------------------------------------------------ */

static void
memory_publish (HubStore *store, const HubStorePublish *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  HubStoreError error = HUB_STORE_OK;
  HubRoom *room = allowed (s, args->room, args->from, args->need)
                      ? member_room (s, args->room, args->member_only ? args->from : NULL, &error)
                      : NULL;
  g_autoptr (HubFrame) frame = NULL;
  HubStoreResult r = {0};

  if (error == HUB_STORE_OK && room == NULL)
    error = HUB_STORE_FORBIDDEN;
  if (room == NULL) {
    fail (done, data, error);
    return;
  }
  r.seq = hub_room_next_seq (room);
  frame =
      hub_encode_message (room->id, r.seq, args->from, args->device, args->now_ms, args->payload);
  hub_history_push (room->history, r.seq, frame);
  deliver_members (s, room, frame, NULL, r.seq);
  answer (done, data, &r);
}

static void
memory_direct (HubStore *store, const HubStoreDirect *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  guint reachable = hub_presence_count_connections (s->presence, args->to);
  gboolean to_self = strcmp (args->from, args->to) == 0;
  const char *users[3] = {args->to, NULL, NULL};
  HubDelivery delivery = {.frame = args->frame, .users = users, .except_conn = args->except_conn};
  HubStoreResult r = {0};

  if (reachable == 0) {
    fail (done, data, HUB_STORE_USER_OFFLINE);
    return;
  }
  if (args->copy_to_sender && !to_self)
    users[1] = args->from;
  s->events->deliver (s->node, &delivery);
  r.delivered = reachable - (to_self && args->except_conn != NULL ? 1 : 0);
  answer (done, data, &r);
}

static void
memory_multicast (HubStore *store, const HubStoreMulticast *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) online = g_ptr_array_sized_new (args->n_users + 1);
  g_autoptr (GPtrArray) offline = g_ptr_array_new ();
  HubDelivery delivery = {.frame = args->frame};
  HubStoreResult r = {0};

  for (guint i = 0; i < args->n_users; i++) {
    const char *user = args->users[i];
    guint n;

    if (!g_hash_table_add (seen, (gpointer)user))
      continue; /* listed twice: one copy */
    n = hub_presence_count_connections (s->presence, user);
    if (n == 0) {
      g_ptr_array_add (offline, (gpointer)user);
      continue;
    }
    r.delivered += n;
    g_ptr_array_add (online, (gpointer)user);
  }
  g_ptr_array_add (online, NULL);
  delivery.users = (const char *const *)online->pdata;
  s->events->deliver (s->node, &delivery);
  r.users = (const char *const *)offline->pdata;
  r.n_users = offline->len;
  answer (done, data, &r);
}

static void
memory_broadcast (HubStore *store, const HubStoreSend *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  HubStoreResult r = {0};

  s->events->deliver_all (s->node, args->frame);
  answer (done, data, &r);
}

static void
memory_typing (HubStore *store, const HubStoreSend *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  HubStoreError error = HUB_STORE_OK;
  HubRoom *room = allowed (s, args->room, args->user, args->need)
                      ? member_room (s, args->room, args->user, &error)
                      : NULL;
  HubStoreResult r = {0};

  if (error == HUB_STORE_OK && room == NULL)
    error = HUB_STORE_FORBIDDEN;
  if (room == NULL) {
    fail (done, data, error);
    return;
  }
  deliver_members (s, room, args->frame, args->user, 0);
  answer (done, data, &r);
}

/* --- §6 History ------------------------------------------------------------------------------- */

static void
memory_history (HubStore *store, const HubStoreHistory *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  HubStoreError error = HUB_STORE_OK;
  HubRoom *room = allowed (s, args->room, args->user, args->need)
                      ? member_room (s, args->room, args->user, &error)
                      : NULL;
  g_autoptr (GPtrArray) frames = NULL;
  HubStoreResult r = {0};

  if (error == HUB_STORE_OK && room == NULL)
    error = HUB_STORE_FORBIDDEN;
  if (room == NULL) {
    fail (done, data, error);
    return;
  }
  {
    HubHistoryPage page = {
        .since = args->since,
        .until = args->until,
        .limit = args->limit,
        .max_bytes = args->max_bytes,
    };

    frames = hub_history_page (room->history, &page, &r.complete, &r.more);
  }
  r.messages = (HubFrame *const *)frames->pdata;
  r.n_messages = frames->len;
  r.first_seq = hub_history_first_after (room->history, args->since);
  r.epoch = room->epoch;
  answer (done, data, &r);
}

static void
memory_resume (HubStore *store, const HubStoreResume *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  g_autoptr (GArray) resumed = g_array_new (FALSE, TRUE, sizeof (HubStoreResumed));
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func ((GDestroyNotify)g_ptr_array_unref);
  HubStoreResult r = {0};
  gsize left = args->max_bytes;
  gboolean any = FALSE;

  for (guint i = 0; i < args->n_rooms; i++) {
    HubRoom *room = hub_room_manager_lookup (s->rooms, args->rooms[i]);
    gint64 epoch = args->epochs != NULL ? args->epochs[i] : 0;
    HubHistoryPage page = {.limit = G_MAXUINT};
    HubStoreResumed e = {.room = args->rooms[i]};
    GPtrArray *first;

    if (room == NULL || !g_hash_table_contains (room->members, args->user) ||
        (args->needs != NULL && !hub_room_grant_holds (room, args->user, args->needs[i])))
      continue;
    /* A seq of another stream says nothing about this one: all of it. */
    e.since = epoch != 0 && epoch != room->epoch ? 0 : args->seqs[i];
    e.last = room->seq;
    e.epoch = room->epoch;
    /* The first messages, within what is left of the budget: one at least
     * in the first room that has any, only what fits after it. */
    page.since = e.since;
    page.until = e.last;
    page.max_bytes = left;
    page.strict = any;
    if (args->max_bytes > 0 && left == 0)
      page.limit = 0;
    first = hub_history_page (room->history, &page, &e.complete, &e.more);
    for (guint j = 0; args->max_bytes > 0 && j < first->len; j++) {
      gsize len;

      hub_frame_payload (g_ptr_array_index (first, j), &len);
      left -= MIN (len, left);
    }
    any = any || first->len > 0;
    g_ptr_array_add (keep, first);
    e.messages = (HubFrame *const *)first->pdata;
    e.n_messages = first->len;
    e.first = hub_history_first_after (room->history, e.since);
    g_array_append_val (resumed, e);
  }
  r.resumed = (const HubStoreResumed *)(gpointer)resumed->data;
  r.n_resumed = resumed->len;
  answer (done, data, &r);
}

/* --- §7 Presence ------------------------------------------------------------------------------ */

static void
memory_status (HubStore *store, const HubStoreStatus *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  HubStoreResult r = {0};

  if (hub_presence_is_online (s->presence, args->user))
    hub_presence_set_status (s->presence, args->user, args->status);
  answer (done, data, &r);
}

static void
memory_subscribe (HubStore *store, const HubStoreWatch *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  g_autofree HubStatus *statuses = g_new (HubStatus, MAX (args->n_users, 1));
  HubStoreResult r = {0};

  /* Every status change reaches the node's events: nothing to watch here. */
  for (guint i = 0; i < args->n_users; i++)
    statuses[i] = hub_presence_get_own_status (s->presence, args->users[i]);
  r.statuses = statuses;
  answer (done, data, &r);
}

static void
memory_unwatch (HubStore *store, const HubStoreWatch *args, HubStoreFunc done, gpointer data)
{
  HubStoreResult r = {0};

  answer (done, data, &r);
}

static void
memory_online (HubStore *store, const HubStoreOnline *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) users = NULL;
  HubStoreResult r = {0};

  r.count = hub_presence_list_visible (SELF (store)->presence, args->limit, &users);
  r.users = (const char *const *)users->pdata;
  r.n_users = users->len;
  answer (done, data, &r);
}

/* --- Connections ------------------------------------------------------------------------------ */

static void
memory_hello (HubStore *store, const HubStoreSession *args, HubStoreFunc done, gpointer data)
{
  MemoryStore *s = SELF (store);
  g_auto (GStrv) ids = hub_room_manager_list_user_rooms (s->rooms, args->user);
  guint n = ids != NULL ? g_strv_length (ids) : 0;
  g_autofree HubStoreRoom *rooms = g_new0 (HubStoreRoom, MAX (n, 1));
  HubStoreResult r = {0};

  hub_presence_connected (s->presence, args->user);
  for (guint i = 0; i < n; i++)
    rooms[i].room = ids[i];
  r.rooms = rooms;
  r.n_rooms = n;
  answer (done, data, &r);
}

static void
memory_bye (HubStore *store, const HubStoreSession *args, HubStoreFunc done, gpointer data)
{
  HubStoreResult r = {0};

  hub_presence_disconnected (SELF (store)->presence, args->user);
  answer (done, data, &r);
}

static void
memory_sync (HubStore *store, HubStoreFunc done, gpointer data)
{
  HubStoreResult r = {0};

  answer (done, data, &r);
}

/* --- The node's side -------------------------------------------------------------------------- */

static void
memory_attach (HubStore *store, const HubStoreEvents *events, gpointer node)
{
  SELF (store)->events = events;
  SELF (store)->node = node;
}

static gboolean
memory_is_up (HubStore *store)
{
  return TRUE;
}

static guint
memory_n_rooms (HubStore *store)
{
  return hub_room_manager_n_rooms (SELF (store)->rooms);
}

static void
memory_free (HubStore *store)
{
  MemoryStore *s = SELF (store);

  /* Presence first: its grace timers notify. */
  s->events = NULL;
  hub_clock_cancel (s->clock, s->expiry_timer);
  hub_presence_free (s->presence);
  hub_room_manager_free (s->rooms);
  hub_clock_unref (s->clock);
  g_free (s);
}

static const HubStoreVTable memory_vtable = {
    .free = memory_free,
    .attach = memory_attach,
    .create = memory_create,
    .join = memory_join,
    .leave = memory_leave,
    .rooms = memory_rooms,
    .room_info = memory_room_info,
    .who = memory_who,
    .publish = memory_publish,
    .direct = memory_direct,
    .multicast = memory_multicast,
    .broadcast = memory_broadcast,
    .typing = memory_typing,
    .history = memory_history,
    .status = memory_status,
    .subscribe = memory_subscribe,
    .unwatch = memory_unwatch,
    .online = memory_online,
    .hello = memory_hello,
    .resume = memory_resume,
    .bye = memory_bye,
    .sync = memory_sync,
    .is_up = memory_is_up,
    .n_rooms = memory_n_rooms,
};

HubStore *
hub_store_memory_new (const HubConfig *config, HubClock *clock)
{
  MemoryStore *s = g_new0 (MemoryStore, 1);

  g_return_val_if_fail (config != NULL && clock != NULL, NULL);
  s->parent.vtable = &memory_vtable;
  s->clock = hub_clock_ref (clock);
  s->auto_create = config->auto_create;
  s->rooms =
      hub_room_manager_new (config->history_size, config->max_rooms_per_user, config->auto_create);
  hub_room_manager_bound_history (s->rooms, config->history_room_bytes,
                                  config->history_total_bytes);
  hub_room_manager_set_max_empty_rooms (s->rooms, config->max_empty_rooms_per_user);
  s->empty_room_ttl_ms = config->empty_room_ttl_s * 1000;
  s->presence = hub_presence_new (clock, config->presence_grace_s * 1000, on_presence_change, s);
  return &s->parent;
}

/* hub-store.h: the store, the seam between one node and a cluster, *below* the
 * protocol's rules (PROTOCOL.md §11). A store holds the state nodes share
 * (rooms, membership, seq, history, statuses, which users are connected) and
 * fans frames out; it never validates a request, picks an error text or shapes
 * a reply: the request handlers (hub-dispatcher-requests.c) do that, once, for
 * every store.
 * Two stores exist: in memory (hub_store_memory_new, one node) and on Redis
 * (libhub/redis, hub-store-redis.h, a cluster).
 *
 * Operations are asynchronous: each takes its arguments as a struct (fields
 * may be added; unset ones are zero) and calls @done exactly once with a
 * HubStoreResult, maybe before it returns (the memory store always does; the
 * Redis store when Redis is unreachable), and with HUB_STORE_UNAVAILABLE when
 * the store is freed first. A store runs the operations it is given in the
 * order it is given them, and answers them in that order (but disconnect,
 * which is answered once every node confirmed it: the operations after it may
 * be answered first). @done may be NULL when nobody waits for the answer.
 *
 * Deliveries and status changes come back through HubStoreEvents, which the
 * node (the dispatcher) gives the store when it adopts it (the vtable's
 * attach, from hub_dispatcher_use_store()): the store never reaches into the
 * node (centrifuge's Broker and BrokerEventHandler).
 *
 * The store grows by operations and fields, not by reshaping: a new rule's
 * state check is a new field of an operation's arguments or a new
 * HubStoreError, a new request of the server API a new operation, a new
 * cluster-wide effect on connections a new event. */
#pragma once

#include "hub-api.h"

#include <glib.h>
#include <json-glib/json-glib.h>

#include "hub-clock.h"
#include "hub-codec.h"
#include "hub-config.h"
#include "hub-frame.h"

G_BEGIN_DECLS

typedef struct _HubStore HubStore;

/* What went wrong in the state, for the handlers to turn into the protocol's
 * error code and text (one text per error, hub-dispatcher-reply.c). */
typedef enum {
  HUB_STORE_OK = 0,
  HUB_STORE_ROOM_NOT_FOUND,
  HUB_STORE_ROOM_EXISTS,
  HUB_STORE_NOT_MEMBER,
  HUB_STORE_TOO_MANY_ROOMS,
  HUB_STORE_USER_OFFLINE,
  /* create: the user's rooms that never had a member are at
   * max_empty_rooms_per_user (§8). */
  HUB_STORE_TOO_MANY_EMPTY_ROOMS,
  /* The letters an operation's `need` names are not in the user's grant in
   * that room (§12; no membership, no grant). Checked before every other state. */
  HUB_STORE_FORBIDDEN,
  /* hello: the user is banned (§13's disconnect with ban_s) until its ban
   * expires; nothing was registered. */
  HUB_STORE_BANNED,
  /* The shared state could not be reached (Redis down, or no answer): the
   * operation may or may not have happened. */
  HUB_STORE_UNAVAILABLE,
  HUB_STORE_N_ERRORS
} HubStoreError;

/* --- Results (transfer none: valid during the @done call only) ------------------- */

typedef struct {
  const char *room;
  const char *name;
  gint64 created_ts; /* Unix ms */
  gint64 seq;        /* the last seq taken, 0 before the first message */
  guint members;     /* count */
  guint messages;    /* stored in the history now */
  /* Names the room's stream of seqs (§6): a room deleted and created again,
   * or one whose store lost its data, has another. 0: unknown. */
  gint64 epoch;
} HubStoreRoom;

typedef struct {
  const char *user;
  /* The status the user set while connected (or within its presence grace),
   * HUB_STATUS_OFFLINE when invisible or not connected (§7). */
  HubStatus status;
  guint devices; /* its connections, on every node */
} HubStoreMember;

/* A connection past hello, on some node (§13's user details). */
typedef struct {
  const char *conn;
  const char *device;
  const char *node;
} HubStoreConnection;

/* A room to resume: what the replay is to send (the stored messages with
 * since < seq ≤ last), and the first of them. */
typedef struct {
  const char *room;
  gint64 since;              /* the given seq, or 0 when the given epoch was another's */
  gint64 last;               /* the room's last seq when the resume read it: the replay's end */
  gint64 epoch;              /* the room's */
  gboolean complete;         /* FALSE when one with seq > since was evicted */
  HubFrame *const *messages; /* the first stored `message` frames with seq > since, ascending */
  guint n_messages;
  gint64 first;  /* the seq of messages[0] (the others follow it one by one) */
  gboolean more; /* stored messages after these (up to last) remain: read with history */
} HubStoreResumed;

/* One struct for every operation: each says which fields it fills. */
typedef struct {
  HubStoreError error; /* HUB_STORE_OK, or why nothing else is set */
  /* create (room, name), join (room, name, seq), room_info, who (all but members) */
  HubStoreRoom room;
  gboolean joined;               /* join: FALSE when the user already was a member (no event) */
  const HubStoreMember *members; /* join (user, status), who (all, sorted by user) */
  guint n_members;
  /* rooms, list_rooms (sorted by id); hello, user_info (ids only, sorted) */
  const HubStoreRoom *rooms;
  guint n_rooms;
  gint64 seq;               /* publish: the seq taken */
  guint delivered;          /* direct, multicast: connections reached; disconnect: closed */
  const char *const *users; /* multicast: the listed users without a connection;
                               online: the visible online users, sorted */
  guint n_users;
  guint count; /* online: every visible online user; list_rooms: every matching room */
  /* user_info: the user's connections on every node (sorted by id), and its
   * status as others see it (§7) */
  const HubStoreConnection *connections;
  guint n_connections;
  HubStatus status;
  HubFrame *const *messages; /* history: stored `message` frames, ascending */
  guint n_messages;
  gboolean complete;         /* history: FALSE when one with seq > since was evicted */
  gboolean more;             /* history: stored messages after the last returned were left out */
  gint64 first_seq;          /* history: the seq of messages[0] (the others follow it one by one) */
  gint64 epoch;              /* history: the room's (HubStoreRoom.epoch) */
  const HubStatus *statuses; /* subscribe: one per asked user, in order */
  const HubStoreResumed *resumed; /* resume: one per room resumed, sorted by room */
  guint n_resumed;
} HubStoreResult;

typedef void (*HubStoreFunc) (const HubStoreResult *result, gpointer user_data);

/* --- Arguments (transfer none: the store copies what it keeps) --------------------- */

/* Permissions (§12): the handlers know what a connection's token allows; what
 * a membership's grant allows is the store's. An operation on a room whose
 * `need` (HubPerm letters: those its request needs that the token does not
 * give) is not 0 is FORBIDDEN unless @user is a member of the room whose grant
 * holds every one of them, checked first, atomically with the rest. */

/* ROOM_EXISTS; TOO_MANY_EMPTY_ROOMS when @user (nullable: nobody counts
 * it) already created max_empty_rooms_per_user rooms that never had a member.
 * A room that never had a member is deleted empty_room_ttl_s after its
 * creation (§8). */
typedef struct {
  const char *user; /* who creates it */
  const char *room;
  const char *name; /* NULL: the room id */
  gint64 now_ms;
  guint need; /* HubPerm letters the user's grant in @room must hold */
} HubStoreCreate;

/* Makes @user a member (creating the room unless the config's auto_create is
 * off: ROOM_NOT_FOUND; TOO_MANY_ROOMS at max_rooms_per_user). When it joined,
 * @event goes to every member, the new one included. */
typedef struct {
  const char *user;
  const char *room;
  const char *name; /* names a room this join creates; NULL: the room id */
  gint64 now_ms;
  HubFrame *event; /* `presence` join */
  guint need;      /* §12: a member's grant must hold these (a join again is a no-op) */
  /* §12: FALSE when a join that would create the room is FORBIDDEN (it needs
   * c and j; auto-create off still answers ROOM_NOT_FOUND). */
  gboolean may_create;
  /* §12: the membership's grant becomes @grant (HubPerm letters), replacing
   * the one it had; else a new membership has none and an old one keeps its. */
  gboolean set_grant;
  guint grant;
} HubStoreJoin;

/* ROOM_NOT_FOUND, NOT_MEMBER; else @event to every member (the leaver
 * included), then the membership ends; the last member's leave deletes the
 * room with its history. */
typedef struct {
  const char *user;
  const char *room;
  HubFrame *event; /* `presence` leave */
} HubStoreLeave;

/* rooms: @user's; room_info and who: @room's (@user: who asks, for @need;
 * NULL: the server API, which needs nothing); user_info: @user's status,
 * connections and rooms. */
typedef struct {
  const char *user;
  const char *room;
  guint need;
} HubStoreQuery;

/* Takes the room's next seq, stores the `message` frame (encoded here, once,
 * with that seq) in the history (history_size) and delivers it to every
 * member. ROOM_NOT_FOUND; NOT_MEMBER when @member_only and @from is not one. */
typedef struct {
  const char *room;
  const char *from;
  const char *device;
  gint64 now_ms;
  JsonNode *payload;
  gboolean member_only;
  guint need; /* of @from's grant */
} HubStorePublish;

/* @frame to every connection of @to and, with @copy_to_sender, of @from,
 * except the connection @except_conn (nullable). USER_OFFLINE when @to has
 * no connection. delivered: @to's connections, but @except_conn. */
typedef struct {
  const char *from;
  const char *to;
  const char *except_conn;
  gboolean copy_to_sender;
  HubFrame *frame;
} HubStoreDirect;

/* @frame to every connection of each listed user (once per user). */
typedef struct {
  const char *const *users;
  guint n_users;
  HubFrame *frame;
} HubStoreMulticast;

/* typing: ROOM_NOT_FOUND, NOT_MEMBER; else @frame to the members but @user.
 * broadcast: @frame to every connection past hello, on every node. */
typedef struct {
  const char *user;
  const char *room;
  HubFrame *frame;
  guint need; /* typing */
} HubStoreSend;

/* ROOM_NOT_FOUND; NOT_MEMBER when @user (nullable: anyone) is not a member;
 * else the oldest @limit stored messages with seq > @since (and ≤ @until
 * when it is not 0), no more than @max_bytes of them (0: no bound) but
 * always one when any is due. */
typedef struct {
  const char *user;
  const char *room;
  gint64 since;
  guint limit;
  gsize max_bytes;
  gint64 until;
  guint need;
} HubStoreHistory;

/* The user's own status; ignored while it has no connection. */
typedef struct {
  const char *user;
  HubStatus status;
} HubStoreStatus;

/* subscribe: the statuses of @users; this node starts receiving the status
 * changes of @watch (the users no local connection watched before).
 * unwatch: this node stops receiving those of @watch. */
typedef struct {
  const char *const *users;
  guint n_users;
  const char *const *watch;
  guint n_watch;
} HubStoreWatch;

typedef struct {
  guint limit;
} HubStoreOnline;

/* hello: registers the connection @conn_id of @user on @device (§7: the
 * first one makes the user online); answers the user's rooms; BANNED while
 * the user is banned (§13). bye: unregisters it (with the presence grace;
 * nothing when a disconnect did already), and this node stops watching
 * @unwatch. */
typedef struct {
  const char *user;
  const char *conn_id;
  const char *device;
  const char *const *unwatch; /* bye */
  guint n_unwatch;
} HubStoreSession;

/* For each listed room @user is a member of: what a replay is to send (§6),
 * the stored messages after the given seq, and the first of them, no more
 * than @max_bytes in all (but one when any is due). A seq belongs to the
 * stream of its epoch: when @epochs holds one (not 0) that is not the room's,
 * the replay starts at the room's beginning (since 0). A room whose need
 * (§12; @needs NULL: none) the user's grant does not hold is left out, as if
 * not listed. */
typedef struct {
  const char *user;
  const char *const *rooms; /* sorted */
  const gint64 *seqs;
  const gint64 *epochs; /* (nullable) one per room, 0: not given */
  const guint *needs;   /* (nullable) one per room */
  guint n_rooms;
  gsize max_bytes;
} HubStoreResume;

/* §13: rooms whose id starts with @prefix ("" or NULL: all), sorted by id:
 * the first @limit of them, and the count of all. */
typedef struct {
  const char *prefix;
  guint limit;
} HubStoreListRooms;

/* §13: with @ban_ms > 0, every hello of @user is BANNED for that long from
 * now; then every connection of @user (only those of @device when it is set)
 * is unregistered (as its bye would: presence goes as usual) and closed by
 * its node with 4010 (the events' disconnect). Answered once every node that
 * holds one of them closed them: delivered counts the connections closed. */
typedef struct {
  const char *user;
  const char *device; /* (nullable) */
  gint64 ban_ms;
} HubStoreDisconnect;

/* --- The node's side ----------------------------------------------------------------- */

/* A frame for this node's connections of some users. Recipients are the
 * users of @members (a set of user ids: a room's members) or of @users
 * (NULL-terminated), but @except_user; the connection @except_conn (nullable,
 * an id) is left out. @room and @seq name a room `message` (seq > 0): a
 * connection whose resume's replay sends that message leaves it out (the
 * rest waits behind the replay). */
typedef struct {
  HubFrame *frame;
  GHashTable *members;
  const char *const *users;
  const char *except_user;
  const char *except_conn;
  const char *room;
  gint64 seq;
} HubDelivery;

typedef struct {
  void (*deliver) (gpointer node, const HubDelivery *delivery);
  /* Every connection of this node past hello (broadcast). */
  void (*deliver_all) (gpointer node, HubFrame *frame);
  /* @user's status as others see it changed to @status: a `status` frame
   * to this node's connections that watch @user. */
  void (*status) (gpointer node, const char *user, HubStatus status);
  /* This node's figures as the JSON object of /api/stats, for a store that
   * shares them with the other nodes. (transfer full) */
  char *(*node_stats) (gpointer node);
  /* §13: closes the connections of this node named in @conn_ids (those
   * still open) with 4010; returns how many it closed. */
  guint (*disconnect) (gpointer node, const char *const *conn_ids, guint n_conn_ids);
  /* This node's open connections of @user past hello, appended to @out (of
   * HubStoreConnection, strings valid until the loop runs again): a store of
   * one node keeps no connections of its own, the node's are the state. */
  void (*connections) (gpointer node, const char *user, GArray *out);
  /* Deliveries owed to these connections of this node (ids) may be lost:
   * the node was cut off from the others, or declared dead, while they were
   * open. The node closes them (1001), and their clients resume (§6) what
   * they missed. */
  void (*lost) (gpointer node, const char *const *conn_ids, guint n_conn_ids);
} HubStoreEvents;

/* A cluster's figures (/metrics, /api/stats). */
typedef struct {
  gboolean up;
  guint nodes; /* live nodes, as of the last liveness refresh */
  guint rooms;
  guint users_online;
  guint64 resyncs;
  const char *nodes_json; /* "\"name\":{…},…" (transfer none) */
} HubStoreFigures;

/* --- The interface --------------------------------------------------------------------- */

typedef struct {
  void (*free) (HubStore *store);
  /* Called once, by the node that adopts the store; a store that connects
   * somewhere starts connecting here. */
  void (*attach) (HubStore *store, const HubStoreEvents *events, gpointer node);

  void (*create) (HubStore *store, const HubStoreCreate *args, HubStoreFunc done, gpointer data);
  void (*join) (HubStore *store, const HubStoreJoin *args, HubStoreFunc done, gpointer data);
  void (*leave) (HubStore *store, const HubStoreLeave *args, HubStoreFunc done, gpointer data);
  void (*rooms) (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data);
  void (*room_info) (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data);
  void (*who) (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data);
  void (*publish) (HubStore *store, const HubStorePublish *args, HubStoreFunc done, gpointer data);
  void (*direct) (HubStore *store, const HubStoreDirect *args, HubStoreFunc done, gpointer data);
  void (*multicast) (HubStore *store, const HubStoreMulticast *args, HubStoreFunc done,
                     gpointer data);
  void (*broadcast) (HubStore *store, const HubStoreSend *args, HubStoreFunc done, gpointer data);
  void (*typing) (HubStore *store, const HubStoreSend *args, HubStoreFunc done, gpointer data);
  void (*history) (HubStore *store, const HubStoreHistory *args, HubStoreFunc done, gpointer data);
  void (*status) (HubStore *store, const HubStoreStatus *args, HubStoreFunc done, gpointer data);
  void (*subscribe) (HubStore *store, const HubStoreWatch *args, HubStoreFunc done, gpointer data);
  void (*unwatch) (HubStore *store, const HubStoreWatch *args, HubStoreFunc done, gpointer data);
  void (*online) (HubStore *store, const HubStoreOnline *args, HubStoreFunc done, gpointer data);
  void (*hello) (HubStore *store, const HubStoreSession *args, HubStoreFunc done, gpointer data);
  void (*resume) (HubStore *store, const HubStoreResume *args, HubStoreFunc done, gpointer data);
  void (*bye) (HubStore *store, const HubStoreSession *args, HubStoreFunc done, gpointer data);
  /* §13's server API. */
  void (*list_rooms) (HubStore *store, const HubStoreListRooms *args, HubStoreFunc done,
                      gpointer data);
  void (*user_info) (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data);
  void (*disconnect) (HubStore *store, const HubStoreDisconnect *args, HubStoreFunc done,
                      gpointer data);
  /* Answers once every operation given before has been answered and the
   * deliveries they caused on this node were handed to the events. */
  void (*sync) (HubStore *store, HubStoreFunc done, gpointer data);

  /* Every quarter heartbeat or every second, whichever is more often (the
   * figures a cluster's /metrics sums are at most that old). NULL: nothing
   * to do. */
  void (*tick) (HubStore *store);
  /* FALSE while the shared state cannot be reached, or answers late, or this
   * node is not (yet, or no longer) part of it (/healthz 503). */
  gboolean (*is_up) (HubStore *store);
  /* Rooms that exist (in a cluster, as of the last liveness refresh). */
  guint (*n_rooms) (HubStore *store);
  /* NULL (or FALSE) for a store of one node. */
  gboolean (*get_figures) (HubStore *store, HubStoreFigures *out);
} HubStoreVTable;

struct _HubStore {
  const HubStoreVTable *vtable;
};

/* The store of one node on its own: everything in this process. Takes the
 * limits it keeps (history_size, history_room_bytes, history_total_bytes,
 * max_rooms_per_user, max_empty_rooms_per_user, empty_room_ttl_s,
 * auto_create, presence_grace_s) from @config. */
HUB_API
HubStore *hub_store_memory_new (const HubConfig *config, HubClock *clock);
HUB_API
void hub_store_free (HubStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubStore, hub_store_free)

G_END_DECLS

/* hub-dispatcher-reply.c: every reply leaves through here (PROTOCOL.md §2): `ok`
 * only to a request with an id, `error` always; the one error code and text of
 * each store error. Each goes to its request's reply slot, so replies leave
 * in request order whichever store answered (hub_connection_reply); they go
 * to the connection's queue directly: they are not deliveries (the
 * broadcaster's). */
#include "hub-dispatcher-private.h"

#include <string.h>

/* One code and one text per store error, whichever store said it. */
static const struct {
  HubErrorCode code;
  const char *text;
} store_errors[HUB_STORE_N_ERRORS] = {
    [HUB_STORE_OK] = {HUB_ERROR_INTERNAL, "no error"},
    [HUB_STORE_ROOM_NOT_FOUND] = {HUB_ERROR_ROOM_NOT_FOUND, "no such room"},
    [HUB_STORE_ROOM_EXISTS] = {HUB_ERROR_ROOM_EXISTS, "the room already exists"},
    [HUB_STORE_NOT_MEMBER] = {HUB_ERROR_NOT_MEMBER, "you are not a member of this room"},
    [HUB_STORE_TOO_MANY_ROOMS] = {HUB_ERROR_TOO_MANY_ROOMS, "you are a member of too many rooms"},
    [HUB_STORE_USER_OFFLINE] = {HUB_ERROR_USER_OFFLINE, "the user has no connection"},
    [HUB_STORE_TOO_MANY_EMPTY_ROOMS] = {HUB_ERROR_TOO_MANY_ROOMS,
                                        "you created too many rooms that never had a member"},
    [HUB_STORE_FORBIDDEN] = {HUB_ERROR_FORBIDDEN, "your token does not allow this in this room"},
    /* §13: a disconnect with ban_s. */
    [HUB_STORE_BANNED] = {HUB_ERROR_UNAUTHORIZED, "this user is banned for now"},
    /* §11: accepted and lost is never an answer; the client may retry. */
    [HUB_STORE_UNAVAILABLE] = {HUB_ERROR_INTERNAL, "cluster broker unavailable"},
};

HubErrorCode
hub_dispatcher_store_error_code (HubStoreError error)
{
  return error < HUB_STORE_N_ERRORS ? store_errors[error].code : HUB_ERROR_INTERNAL;
}

const char *
hub_dispatcher_store_error_text (HubStoreError error)
{
  return error < HUB_STORE_N_ERRORS ? store_errors[error].text
                                    : store_errors[HUB_STORE_UNAVAILABLE].text;
}

void
hub_dispatcher_reply_ok (HubConnection *conn, guint64 slot, const char *id_json, JsonObject *result)
{
  g_autoptr (HubFrame) frame = id_json != NULL ? hub_encode_ok (id_json, result) : NULL;

  hub_connection_reply (conn, slot, frame);
  if (result != NULL)
    json_object_unref (result);
}

void
hub_dispatcher_reply_error (HubConnection *conn, guint64 slot, const char *id_json,
                            HubErrorCode code, const char *message)
{
  g_autoptr (HubFrame) frame = hub_encode_error (id_json, code, message);

  hub_dispatcher_note_error (conn, code, message);
  hub_connection_reply (conn, slot, frame);
}

void
hub_dispatcher_reply_store_error (HubConnection *conn, guint64 slot, const char *id_json,
                                  HubStoreError error)
{
  hub_dispatcher_reply_error (conn, slot, id_json, hub_dispatcher_store_error_code (error),
                              hub_dispatcher_store_error_text (error));
}

void
hub_dispatcher_reply_error_now (HubConnection *conn, const char *id_json, HubErrorCode code,
                                const char *message)
{
  hub_dispatcher_reply_error (conn, hub_connection_take_reply_slot (conn), id_json, code, message);
}

JsonArray *
hub_dispatcher_room_list (const HubStoreRoom *rooms, guint n)
{
  JsonArray *list = json_array_sized_new (n);

  for (guint i = 0; i < n; i++) {
    JsonObject *r = json_object_new ();

    json_object_set_string_member (r, "room", rooms[i].room);
    json_object_set_string_member (r, "name", rooms[i].name);
    json_object_set_int_member (r, "members", rooms[i].members);
    json_object_set_int_member (r, "seq", rooms[i].seq);
    /* The room's stream epoch (the server's addition to §4 and §6). */
    if (rooms[i].epoch != 0)
      json_object_set_int_member (r, "epoch", rooms[i].epoch);
    json_array_add_object_element (list, r);
  }
  return list;
}

JsonArray *
hub_dispatcher_member_list (const HubStoreMember *members, guint n, const char *viewer)
{
  JsonArray *list = json_array_sized_new (n);

  for (guint i = 0; i < n; i++) {
    const HubStoreMember *m = &members[i];
    JsonObject *o = json_object_new ();
    /* §7: an invisible user shows no devices to others (a user sees its own,
     * an administrator all). */
    gboolean hidden =
        viewer != NULL && m->status == HUB_STATUS_OFFLINE && strcmp (viewer, m->user) != 0;

    json_object_set_string_member (o, "user", m->user);
    json_object_set_string_member (o, "status", hub_status_to_string (m->status));
    json_object_set_int_member (o, "devices", hidden ? 0 : m->devices);
    json_array_add_object_element (list, o);
  }
  return list;
}

char *
hub_dispatcher_api_error (guint *http_status, guint status, HubErrorCode code, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  *http_status = status;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, hub_error_code_to_string (code));
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

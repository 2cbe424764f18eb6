/* hub-dispatcher-reply.c: every reply leaves through here (PROTOCOL.md §2): `ok`
 * only to a request with an id, `error` always; the one error code and text of
 * each store error. Each goes to its request's reply slot, so replies leave
 * in request order whichever store answered (hub_connection_reply); they go
 * to the connection's queue directly: they are not deliveries (the
 * broadcaster's). */
#include "hub-dispatcher-private.h"

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

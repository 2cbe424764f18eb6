/* hub-broker-call.c: a cluster request waiting for Redis, and readers of the
 * Lua scripts' replies, shared by hub-broker-requests.c and hub-broker-cluster.c. */
#include "hub-broker-call.h"

#include <string.h>

HubCall *
hub_call_new (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  HubCall *call = g_new0 (HubCall, 1);

  call->d = d;
  call->conn = hub_connection_ref (conn);
  call->req = req;
  hub_cluster_count_call (d, conn, 1);
  return call;
}

void
hub_call_free (HubCall *call)
{
  hub_cluster_count_call (call->d, call->conn, -1);
  hub_connection_unref (call->conn);
  hub_request_free (call->req);
  g_free (call);
}

const char *
hub_cluster_error_text (HubErrorCode code)
{
  switch (code) {
    case HUB_ERROR_ROOM_NOT_FOUND:
      return "no such room";
    case HUB_ERROR_ROOM_EXISTS:
      return "the room already exists";
    case HUB_ERROR_NOT_MEMBER:
      return "you are not a member of this room";
    case HUB_ERROR_USER_OFFLINE:
      return "the user has no connection";
    case HUB_ERROR_TOO_MANY_ROOMS:
      return "you are a member of too many rooms";
    default:
      return HUB_CLUSTER_UNAVAILABLE;
  }
}

/* The reply's status: HUB_ERROR_NONE for {"ok", …}; HUB_ERROR_INTERNAL when
 * Redis did not answer (or answered something unexpected). */
HubErrorCode
hub_reply_code (redisReply *reply)
{
  HubErrorCode code;

  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
      reply->element[0]->type != REDIS_REPLY_STRING)
    return HUB_ERROR_INTERNAL;
  if (strcmp (reply->element[0]->str, "ok") == 0)
    return HUB_ERROR_NONE;
  code = hub_error_code_from_string (reply->element[0]->str);
  return code == HUB_ERROR_NONE ? HUB_ERROR_INTERNAL : code;
}

/* FALSE after answering the error (or when there is no one left to answer). */
gboolean
hub_call_check (HubCall *call, redisReply *reply)
{
  HubErrorCode code;

  if (!hub_cluster_conn_alive (call->d, call->conn))
    return FALSE;
  code = hub_reply_code (reply);
  if (code == HUB_ERROR_NONE)
    return TRUE;
  hub_dispatcher_reply_error (call->conn, call->req->id_json, code, hub_cluster_error_text (code));
  return FALSE;
}

redisReply *
hub_reply_elem (redisReply *reply, gsize i)
{
  return reply != NULL && reply->type == REDIS_REPLY_ARRAY && i < reply->elements
             ? reply->element[i]
             : NULL;
}

const char *
hub_reply_str (redisReply *reply, gsize i)
{
  redisReply *e = hub_reply_elem (reply, i);

  return e != NULL && e->type == REDIS_REPLY_STRING ? e->str : "";
}

gint64
hub_reply_int (redisReply *reply, gsize i)
{
  redisReply *e = hub_reply_elem (reply, i);

  if (e == NULL)
    return 0;
  if (e->type == REDIS_REPLY_INTEGER)
    return e->integer;
  if (e->type == REDIS_REPLY_STRING)
    return g_ascii_strtoll (e->str, NULL, 10);
  return 0;
}

GPtrArray *
hub_args_new (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

void
hub_args_add (GPtrArray *args, const char *s)
{
  g_ptr_array_add (args, g_strdup (s));
}

void
hub_args_add_int (GPtrArray *args, gint64 v)
{
  g_ptr_array_add (args, g_strdup_printf ("%" G_GINT64_FORMAT, v));
}

void
hub_args_add_frame (GPtrArray *args, HubFrame *frame)
{
  hub_args_add (args, hub_frame_payload (frame, NULL));
}

void
hub_call_run (HubCall *call, HubScript script, GPtrArray *args, HubRedisReplyFunc done)
{
  hub_redis_eval (hub_cluster_get_redis (hub_cluster_of (call->d)), script, args, done, call);
}

/* The message frame with seq 0, split around that 0: the script puts the seq
 * it takes between the halves, so the frame is encoded once, here. */
void
hub_args_add_message_halves (GPtrArray *args, HubFrame *frame)
{
  const char *text = hub_frame_payload (frame, NULL);
  /* The first "seq" member: only "type" and "room" (a name, no quotes) precede it. */
  const char *at = strstr (text, "\"seq\":0");

  g_assert (at != NULL);
  at += strlen ("\"seq\":");
  g_ptr_array_add (args, g_strndup (text, (gsize)(at - text)));
  hub_args_add (args, at + 1);
}

/* TRUE while @conn is still one of this node's open connections. */
gboolean
hub_cluster_conn_alive (HubDispatcher *d, HubConnection *conn)
{
  return hub_connection_manager_lookup (d->conns, hub_connection_get_id (conn)) == conn &&
         !hub_connection_is_closing (conn);
}

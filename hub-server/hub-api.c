/* hub-api.c: §13's routes on the HTTP port (hub-api.h). The routes are lines
 * of hub-http.c's table, the rules libhub's (hub-dispatcher-server-api.c);
 * this file only reads a path's shape and name and the query, and hands them
 * over with the body. */
#include "hub-api.h"

#include <string.h>

#define ROOMS_PREFIX   "/api/rooms/"
#define USERS_PREFIX   "/api/users/"
#define HISTORY_SUFFIX "/history"

/* The part of @path after @prefix when it is a non-empty segment followed by
 * @suffix (the rest of the path exactly), else NULL. */
static const char *
segment_then (const char *path, const char *prefix, const char *suffix)
{
  const char *rest, *slash;

  if (!g_str_has_prefix (path, prefix))
    return NULL;
  rest = path + strlen (prefix);
  slash = strchr (rest, '/');
  if (slash == rest || *rest == '\0')
    return NULL;
  if (slash == NULL)
    return *suffix == '\0' ? rest : NULL;
  return strcmp (slash, suffix) == 0 ? rest : NULL;
}

gboolean
hub_api_is_room_path (const char *path)
{
  return segment_then (path, ROOMS_PREFIX, "") != NULL;
}

gboolean
hub_api_is_history_path (const char *path)
{
  return segment_then (path, ROOMS_PREFIX, HISTORY_SUFFIX) != NULL;
}

gboolean
hub_api_is_user_path (const char *path)
{
  return segment_then (path, USERS_PREFIX, "") != NULL;
}

char *
hub_api_path_target (const char *path)
{
  /* After "/api/" and the family's segment ("rooms", "users"). */
  const char *rest = g_str_has_prefix (path, "/api/") ? strchr (path + 5, '/') : NULL;

  g_return_val_if_fail (rest != NULL, NULL);
  rest++;
  return g_strndup (rest, strcspn (rest, "/"));
}

/* The query's parameters, each "key=value" or "key" (an empty value), as lws
 * keeps them: one fragment per '&'-separated part, percent-decoded (lws
 * answers 403 itself to a bad percent-encoding). (transfer full: owned
 * strings, keys and values in turn) */
static GPtrArray *
query_strings (struct lws *wsi)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  for (int i = 0;; i++) {
    int len = lws_hdr_fragment_length (wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    g_autofree char *frag = NULL;
    const char *eq;

    if (len <= 0) {
      char empty[1];

      /* An empty part ("a=1&&b=2") has length 0 but is not the end. */
      if (lws_hdr_copy_fragment (wsi, empty, sizeof empty, WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
        break;
      continue;
    }
    frag = g_malloc ((gsize)len + 1);
    if (lws_hdr_copy_fragment (wsi, frag, len + 1, WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
      break;
    eq = strchr (frag, '=');
    g_ptr_array_add (out, eq != NULL ? g_strndup (frag, (gsize)(eq - frag)) : g_strdup (frag));
    g_ptr_array_add (out, g_strdup (eq != NULL ? eq + 1 : ""));
  }
  return out;
}

HubApiCall *
hub_api_start (HubDispatcher *d, struct lws *wsi, HubApiAction action, const char *target,
               const char *body, gsize len, const char *authorization, HubApiFunc func,
               gpointer user_data)
{
  g_autoptr (GPtrArray) strings = query_strings (wsi);
  g_autofree HubApiParam *params = g_new0 (HubApiParam, strings->len / 2 + 1);
  HubApiRequest req = {
      .authorization = authorization,
      .target = target,
      .params = params,
      .n_params = strings->len / 2,
      .body = body,
      .body_len = len,
  };

  for (guint i = 0; i < req.n_params; i++) {
    params[i].key = g_ptr_array_index (strings, 2 * i);
    params[i].value = g_ptr_array_index (strings, 2 * i + 1);
  }
  return hub_dispatcher_api_call_async (d, action, &req, func, user_data);
}

/* hub-api.c: §13's routes on the HTTP port (hub-api.h). The rules live in
 * libhub (hub-dispatcher-server-api.c); this file only names the action and
 * hands over the path's target, the query and the body. */
#include "hub-api.h"

#include <string.h>

/* The exact paths, and the two families with a name in them. */
static const struct {
  const char *path;
  HubApiAction action;
  const char *method;
} exact[] = {
    {"/api/join", HUB_API_JOIN, "POST"},
    {"/api/remove", HUB_API_REMOVE, "POST"},
    {"/api/disconnect", HUB_API_DISCONNECT, "POST"},
    {"/api/rooms", HUB_API_ROOMS, "GET"},
};

#define ROOMS_PREFIX   "/api/rooms/"
#define USERS_PREFIX   "/api/users/"
#define HISTORY_SUFFIX "/history"

gboolean
hub_api_route (const char *path, HubApiAction *action, char **target, const char **method)
{
  const char *rest, *slash;

  *target = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (exact); i++) {
    if (strcmp (path, exact[i].path) == 0) {
      *action = exact[i].action;
      *method = exact[i].method;
      return TRUE;
    }
  }
  *method = "GET";
  if (g_str_has_prefix (path, USERS_PREFIX)) {
    rest = path + strlen (USERS_PREFIX);
    if (*rest == '\0' || strchr (rest, '/') != NULL)
      return FALSE;
    *action = HUB_API_USER;
    *target = g_strdup (rest);
    return TRUE;
  }
  if (!g_str_has_prefix (path, ROOMS_PREFIX))
    return FALSE;
  /* A room id has no '/' (§2's names), so ROOM ends at the first one. */
  rest = path + strlen (ROOMS_PREFIX);
  slash = strchr (rest, '/');
  if (*rest == '\0' || slash == rest)
    return FALSE;
  if (slash == NULL) {
    *action = HUB_API_ROOM;
    *target = g_strdup (rest);
    return TRUE;
  }
  if (strcmp (slash, HISTORY_SUFFIX) != 0)
    return FALSE;
  *action = HUB_API_HISTORY;
  *target = g_strndup (rest, (gsize)(slash - rest));
  return TRUE;
}

gboolean
hub_api_knows (const char *path)
{
  HubApiAction action;
  g_autofree char *target = NULL;
  const char *method;

  return hub_api_route (path, &action, &target, &method);
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

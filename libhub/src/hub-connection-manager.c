/* hub-connection-manager.c: the connections of this node, by id and by user
 * (a user's devices in the order they authenticated). The id index holds the
 * references; the user index borrows them. */
#include "hub/hub-connection-manager.h"

struct _HubConnectionManager {
  /* (owned) id (borrowed from the connection, which the value keeps alive) →
   * HubConnection* (owned ref) */
  GHashTable *by_id;
  /* (owned) user id (owned) → GPtrArray (owned) of HubConnection* (unowned:
   * by_id holds them), never empty */
  GHashTable *by_user;
};

HubConnectionManager *
hub_connection_manager_new (void)
{
  HubConnectionManager *mgr = g_new0 (HubConnectionManager, 1);

  mgr->by_id =
      g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)hub_connection_unref);
  mgr->by_user =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  return mgr;
}

void
hub_connection_manager_free (HubConnectionManager *mgr)
{
  if (mgr == NULL)
    return;
  /* The user index borrows from by_id: drop it first. */
  g_hash_table_unref (mgr->by_user);
  g_hash_table_unref (mgr->by_id);
  g_free (mgr);
}

void
hub_connection_manager_add (HubConnectionManager *mgr, HubConnection *conn)
{
  const char *id;

  g_return_if_fail (mgr != NULL);
  g_return_if_fail (conn != NULL);
  id = hub_connection_get_id (conn);
  g_return_if_fail (!g_hash_table_contains (mgr->by_id, id));

  g_hash_table_insert (mgr->by_id, (gpointer)id, hub_connection_ref (conn));
}

static gboolean
is_bound (HubConnectionManager *mgr, HubConnection *conn, GPtrArray **conns, guint *index)
{
  const char *user = hub_connection_get_user (conn);
  GPtrArray *arr;

  if (user == NULL)
    return FALSE;
  arr = g_hash_table_lookup (mgr->by_user, user);
  if (conns != NULL)
    *conns = arr;
  if (arr == NULL)
    return FALSE;
  return g_ptr_array_find (arr, conn, index);
}

void
hub_connection_manager_bind_user (HubConnectionManager *mgr, HubConnection *conn)
{
  const char *user;
  GPtrArray *arr = NULL;

  g_return_if_fail (mgr != NULL);
  g_return_if_fail (conn != NULL);
  g_return_if_fail (hub_connection_is_authenticated (conn));
  g_return_if_fail (g_hash_table_lookup (mgr->by_id, hub_connection_get_id (conn)) == conn);

  if (is_bound (mgr, conn, &arr, NULL))
    return;
  user = hub_connection_get_user (conn);
  if (arr == NULL) {
    arr = g_ptr_array_new ();
    g_hash_table_insert (mgr->by_user, g_strdup (user), arr);
  }
  g_ptr_array_add (arr, conn);
}

void
hub_connection_manager_remove (HubConnectionManager *mgr, HubConnection *conn)
{
  GPtrArray *arr = NULL;
  guint index;

  g_return_if_fail (mgr != NULL);
  g_return_if_fail (conn != NULL);

  if (g_hash_table_lookup (mgr->by_id, hub_connection_get_id (conn)) != conn)
    return;
  if (is_bound (mgr, conn, &arr, &index)) {
    /* Keeps the other devices in authentication order. */
    g_ptr_array_remove_index (arr, index);
    if (arr->len == 0)
      g_hash_table_remove (mgr->by_user, hub_connection_get_user (conn));
  }
  /* Last: this may drop the last ref on @conn. */
  g_hash_table_remove (mgr->by_id, hub_connection_get_id (conn));
}

HubConnection *
hub_connection_manager_lookup (HubConnectionManager *mgr, const char *id)
{
  g_return_val_if_fail (mgr != NULL, NULL);
  g_return_val_if_fail (id != NULL, NULL);
  return g_hash_table_lookup (mgr->by_id, id);
}

GPtrArray *
hub_connection_manager_get_user_connections (HubConnectionManager *mgr, const char *user)
{
  g_return_val_if_fail (mgr != NULL, NULL);
  g_return_val_if_fail (user != NULL, NULL);
  return g_hash_table_lookup (mgr->by_user, user);
}

guint
hub_connection_manager_count_user (HubConnectionManager *mgr, const char *user)
{
  GPtrArray *arr = hub_connection_manager_get_user_connections (mgr, user);

  return arr != NULL ? arr->len : 0;
}

guint
hub_connection_manager_n_connections (HubConnectionManager *mgr)
{
  g_return_val_if_fail (mgr != NULL, 0);
  return g_hash_table_size (mgr->by_id);
}

static void
count_one (HubConnection *conn, gpointer user_data)
{
  (*(guint *)user_data)++;
}

guint
hub_connection_manager_n_authenticated (HubConnectionManager *mgr)
{
  guint n = 0;

  g_return_val_if_fail (mgr != NULL, 0);
  hub_connection_manager_foreach_authenticated (mgr, count_one, &n);
  return n;
}

guint
hub_connection_manager_n_users (HubConnectionManager *mgr)
{
  g_return_val_if_fail (mgr != NULL, 0);
  return g_hash_table_size (mgr->by_user);
}

void
hub_connection_manager_foreach (HubConnectionManager *mgr, HubConnectionFunc func,
                                gpointer user_data)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (mgr != NULL);
  g_return_if_fail (func != NULL);

  g_hash_table_iter_init (&iter, mgr->by_id);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    func (value, user_data);
}

void
hub_connection_manager_foreach_authenticated (HubConnectionManager *mgr, HubConnectionFunc func,
                                              gpointer user_data)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (mgr != NULL);
  g_return_if_fail (func != NULL);

  /* The id index, not the user index: a connection counts from
   * hub_connection_authenticate() on, even before bind_user. No allocation. */
  g_hash_table_iter_init (&iter, mgr->by_id);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    if (hub_connection_is_authenticated (value))
      func (value, user_data);
  }
}

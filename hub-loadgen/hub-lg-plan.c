/* hub-lg-plan.c: draws the population of hub-lg-plan.h from one seeded GRand,
 * in a fixed order, so the same seed and sizes give the same run. */
#include "hub-lg-plan.h"

#include <string.h>

HubLgPlan *
hub_lg_plan_new (const char *prefix, guint n_users, const HubLgDiscrete *devices, guint n_rooms,
                 guint rooms_per_user, double skew, guint32 seed, guint max_devices)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  HubLgPlan *plan = g_new0 (HubLgPlan, 1);
  HubLgWeights weights;
  guint *counts;
  guint64 total = 0;

  g_return_val_if_fail (n_users > 0 && n_rooms > 0 && rooms_per_user > 0, NULL);
  plan->prefix = g_strdup (prefix != NULL ? prefix : "");
  plan->prefix_len = strlen (plan->prefix);
  plan->user_prefix = g_strdup (plan->prefix);
  plan->n_rooms = n_rooms;
  plan->rooms_per_user = MIN (rooms_per_user, n_rooms);

  /* Device counts in exact proportions (user i at quantile (i + ½)/n), then
   * shuffled so that big and small users mix along the connect ramp. */
  counts = g_new (guint, n_users);
  for (guint i = 0; i < n_users; i++)
    counts[i] = hub_lg_discrete_at (devices, ((double)i + 0.5) / n_users);
  for (guint i = n_users; i > 1; i--) {
    guint j = (guint)g_rand_int_range (rand, 0, (gint32)i);
    guint t = counts[i - 1];

    counts[i - 1] = counts[j];
    counts[j] = t;
  }
  plan->n_users = n_users;
  for (guint i = 0; i < n_users; i++) {
    if (max_devices > 0 && i > 0 && total + counts[i] > max_devices) {
      plan->n_users = i;
      break;
    }
    total += counts[i];
  }
  plan->user_devices = counts;
  plan->n_devices = (guint)total;
  plan->user_first_device = g_new (guint, plan->n_users);
  total = 0;
  for (guint i = 0; i < plan->n_users; i++) {
    plan->user_first_device[i] = (guint)total;
    total += counts[i];
  }

  hub_lg_weights_init_zipf (&weights, n_rooms, skew);
  plan->user_rooms = g_new (guint, (gsize)plan->n_users * plan->rooms_per_user);
  plan->room_members = g_new0 (guint, n_rooms);
  plan->room_cover = g_new (guint, n_rooms);
  memset (plan->room_cover, 0xff, sizeof (guint) * n_rooms);
  for (guint u = 0; u < plan->n_users; u++) {
    guint *rooms = plan->user_rooms + (gsize)u * plan->rooms_per_user;

    hub_lg_weights_sample_distinct (&weights, rand, plan->rooms_per_user, rooms);
    for (guint k = 0; k < plan->rooms_per_user; k++) {
      plan->room_members[rooms[k]]++;
      plan->memberships++;
      plan->device_memberships += counts[u];
      if (plan->room_cover[rooms[k]] == G_MAXUINT)
        plan->room_cover[rooms[k]] = u;
    }
  }
  hub_lg_weights_clear (&weights);
  return plan;
}

void
hub_lg_plan_free (HubLgPlan *plan)
{
  if (plan == NULL)
    return;
  g_free (plan->prefix);
  g_free (plan->user_prefix);
  g_free (plan->user_devices);
  g_free (plan->user_first_device);
  g_free (plan->user_rooms);
  g_free (plan->room_members);
  g_free (plan->room_cover);
  g_free (plan);
}

const guint *
hub_lg_plan_rooms_of (const HubLgPlan *plan, guint user)
{
  g_return_val_if_fail (user < plan->n_users, NULL);
  return plan->user_rooms + (gsize)user * plan->rooms_per_user;
}

guint
hub_lg_plan_largest_room (const HubLgPlan *plan)
{
  guint max = 0;

  for (guint r = 0; r < plan->n_rooms; r++)
    max = MAX (max, plan->room_members[r]);
  return max;
}

guint
hub_lg_plan_rooms_used (const HubLgPlan *plan)
{
  guint n = 0;

  for (guint r = 0; r < plan->n_rooms; r++)
    n += plan->room_members[r] > 0;
  return n;
}

char *
hub_lg_plan_user_name (const HubLgPlan *plan, guint user)
{
  return g_strdup_printf ("%su%u", plan->user_prefix, user);
}

char *
hub_lg_plan_room_name (const HubLgPlan *plan, guint room)
{
  return g_strdup_printf ("%sr%u", plan->prefix, room);
}

char *
hub_lg_plan_device_name (guint slot)
{
  return g_strdup_printf ("d%u", slot);
}

/* The index in "<prefix><kind><digits>" (@len bytes), below @limit. */
static guint
index_after (const HubLgPlan *plan, const char *name, gsize len, char kind, guint limit)
{
  const char *prefix = kind == 'u' ? plan->user_prefix : plan->prefix;
  gsize n = kind == 'u' ? strlen (prefix) : plan->prefix_len;
  guint64 v = 0;

  if (name == NULL || len < n + 2 || name[n] != kind)
    return G_MAXUINT;
  /* (A room name per delivery: byte by byte beats a call for short prefixes.) */
  for (gsize i = 0; i < n; i++) {
    if (name[i] != prefix[i])
      return G_MAXUINT;
  }
  /* "r007" is not ours: we never write leading zeros. */
  if (name[n + 1] == '0' && len > n + 2)
    return G_MAXUINT;
  for (gsize i = n + 1; i < len; i++) {
    if (!g_ascii_isdigit (name[i]) || i - n > 10)
      return G_MAXUINT;
    v = v * 10 + (guint64)(name[i] - '0');
  }
  return v < limit ? (guint)v : G_MAXUINT;
}

guint
hub_lg_plan_room_index (const HubLgPlan *plan, const char *name)
{
  return hub_lg_plan_room_index_len (plan, name, name != NULL ? strlen (name) : 0);
}

guint
hub_lg_plan_room_index_len (const HubLgPlan *plan, const char *name, gsize len)
{
  return index_after (plan, name, len, 'r', plan->n_rooms);
}

guint
hub_lg_plan_user_index (const HubLgPlan *plan, const char *name)
{
  return index_after (plan, name, name != NULL ? strlen (name) : 0, 'u', plan->n_users);
}

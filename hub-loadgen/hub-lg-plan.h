/* hub-lg-plan.h: the simulated population of a run, fixed by the seed before
 * anything connects: how many devices each user has, which rooms each user
 * joins (Zipf-like popularity, so a few rooms are big), and the names they
 * carry on the wire. Pure data; the workers read it, nobody changes it. */
#pragma once

#include "hub-lg-dist.h"

G_BEGIN_DECLS

typedef struct {
  char *prefix; /* (owned) of every user and room name: runs do not share state */
  gsize prefix_len;
  char *user_prefix; /* (owned) of user names: the prefix unless set apart (--user-prefix) */
  guint n_users, n_devices, n_rooms;
  guint rooms_per_user;       /* min(asked, n_rooms): every user has exactly this many */
  guint *user_devices;        /* (owned) [n_users] devices of each user (≥ 1) */
  guint *user_first_device;   /* (owned) [n_users] global index of each user's first device */
  guint *user_rooms;          /* (owned) [n_users × rooms_per_user] each user's rooms, ascending */
  guint *room_members;        /* (owned) [n_rooms] users per room */
  guint *room_cover;          /* (owned) [n_rooms] one member of each room, G_MAXUINT when none */
  guint64 memberships;        /* Σ room_members */
  guint64 device_memberships; /* Σ over rooms of the member users' devices */
} HubLgPlan;

/* Draws the population: @n_users users whose device counts follow @devices
 * (in exact proportions, shuffled), each joining @rooms_per_user distinct rooms
 * of @n_rooms drawn with weight ∝ 1/(rank+1)^@skew. When the devices would
 * exceed @max_devices (0: no limit), users are dropped from the end until they
 * fit (at least one user stays). (transfer full) */
HubLgPlan *hub_lg_plan_new (const char *prefix, guint n_users, const HubLgDiscrete *devices,
                            guint n_rooms, guint rooms_per_user, double skew, guint32 seed,
                            guint max_devices);
void hub_lg_plan_free (HubLgPlan *plan);

/* The rooms of @user (rooms_per_user of them). (transfer none) */
const guint *hub_lg_plan_rooms_of (const HubLgPlan *plan, guint user);
/* The largest room's member count. */
guint hub_lg_plan_largest_room (const HubLgPlan *plan);
/* Rooms with at least one member. */
guint hub_lg_plan_rooms_used (const HubLgPlan *plan);

/* Wire names: "<prefix>u17", "<prefix>r3", and "d0"… for devices. (transfer full) */
char *hub_lg_plan_user_name (const HubLgPlan *plan, guint user);
char *hub_lg_plan_room_name (const HubLgPlan *plan, guint room);
char *hub_lg_plan_device_name (guint slot);
/* The room index in a wire name, or G_MAXUINT when it is not one of ours. */
guint hub_lg_plan_room_index (const HubLgPlan *plan, const char *name);
/* The same for @len bytes of @name (no NUL needed). */
guint hub_lg_plan_room_index_len (const HubLgPlan *plan, const char *name, gsize len);
/* The user index in a wire name, or G_MAXUINT. */
guint hub_lg_plan_user_index (const HubLgPlan *plan, const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLgPlan, hub_lg_plan_free)

G_END_DECLS

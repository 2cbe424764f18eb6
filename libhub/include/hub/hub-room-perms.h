/* hub-room-perms.h: what a connection may do in a room (PROTOCOL.md §12): the
 * `rooms` claim of its token (patterns → letters j, p, c) and the letters of
 * a membership's grant. Pure data: parsed once per token, looked up per request. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

/* The permission letters of §12, as bits. */
typedef enum {
  HUB_PERM_NONE = 0,
  HUB_PERM_JOIN = 1 << 0,    /* j: join, history, resume, room_info, who */
  HUB_PERM_PUBLISH = 1 << 1, /* p: publish, typing */
  HUB_PERM_CREATE = 1 << 2,  /* c: create; a join that creates needs c and j */
  HUB_PERM_ALL = HUB_PERM_JOIN | HUB_PERM_PUBLISH | HUB_PERM_CREATE,
} HubPerm;

/* The default letters of a room token's `allow` and of a server-side join (§12, §13). */
#define HUB_PERM_GRANT_DEFAULT (HUB_PERM_JOIN | HUB_PERM_PUBLISH)

/* Parses a string of letters from "jpc" (any order, repeats allowed; "" allows
 * nothing) into @out. FALSE for any other character or a NULL string. */
HUB_API
gboolean hub_perm_from_letters (const char *letters, guint *out);
/* The canonical letters of @mask ("", "j", "jp", "jpc", …). (transfer none) */
HUB_API
const char *hub_perm_to_letters (guint mask);

typedef struct _HubRoomPerms HubRoomPerms;

/* Parses the value of a token's `rooms` claim for the user @sub: every
 * `{user}` in a pattern is replaced by @sub first; then a pattern must be a
 * room id (§2) or a prefix of one followed by a single `*` at its end (`*`
 * alone matches every room), and a value a string of letters. Returns NULL
 * with @error (HUB_ERROR_UNAUTHORIZED) saying what was wrong. (transfer full) */
HUB_API
HubRoomPerms *hub_room_perms_parse (JsonNode *rooms, const char *sub, GError **error);

HUB_API
HubRoomPerms *hub_room_perms_ref (HubRoomPerms *perms);
HUB_API
void hub_room_perms_unref (HubRoomPerms *perms);

/* The union of the letters of every pattern matching @room. @perms NULL (no
 * `rooms` claim) allows everything (§12: as in version 1.0). */
HUB_API
guint hub_room_perms_lookup (const HubRoomPerms *perms, const char *room);

/* Number of patterns (tests, logs). */
HUB_API
guint hub_room_perms_size (const HubRoomPerms *perms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubRoomPerms, hub_room_perms_unref)

G_END_DECLS

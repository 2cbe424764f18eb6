/* hub-room-perms.c: a token's `rooms` claim (PROTOCOL.md §12) as a hash of
 * exact room ids and a short list of prefixes, so that a lookup per request
 * costs one hash probe plus a compare per prefix pattern. */
#include "hub/hub-room-perms.h"

#include <string.h>

#include "hub/hub-codec.h"
#include "hub/hub-error.h"

typedef struct {
  char *prefix; /* (owned) what a room id must start with ("" for `*`) */
  gsize len;
  guint mask;
} Prefix;

struct _HubRoomPerms {
  grefcount ref;
  GHashTable *exact; /* (owned) room id → GUINT_TO_POINTER (mask) */
  GArray *prefixes;  /* (owned) Prefix */
};

static const char *const letter_strings[HUB_PERM_ALL + 1] = {
    [0] = "",
    [HUB_PERM_JOIN] = "j",
    [HUB_PERM_PUBLISH] = "p",
    [HUB_PERM_JOIN | HUB_PERM_PUBLISH] = "jp",
    [HUB_PERM_CREATE] = "c",
    [HUB_PERM_JOIN | HUB_PERM_CREATE] = "jc",
    [HUB_PERM_PUBLISH | HUB_PERM_CREATE] = "pc",
    [HUB_PERM_ALL] = "jpc",
};

gboolean
hub_perm_from_letters (const char *letters, guint *out)
{
  guint mask = 0;

  if (letters == NULL)
    return FALSE;
  for (const char *p = letters; *p != '\0'; p++) {
    switch (*p) {
      case 'j':
        mask |= HUB_PERM_JOIN;
        break;
      case 'p':
        mask |= HUB_PERM_PUBLISH;
        break;
      case 'c':
        mask |= HUB_PERM_CREATE;
        break;
      default:
        return FALSE;
    }
  }
  *out = mask;
  return TRUE;
}

const char *
hub_perm_to_letters (guint mask)
{
  return letter_strings[mask & HUB_PERM_ALL];
}

static void
prefix_clear (gpointer p)
{
  g_free (((Prefix *)p)->prefix);
}

void
hub_room_perms_unref (HubRoomPerms *perms)
{
  if (perms == NULL || !g_ref_count_dec (&perms->ref))
    return;
  g_hash_table_unref (perms->exact);
  g_array_unref (perms->prefixes);
  g_free (perms);
}

HubRoomPerms *
hub_room_perms_ref (HubRoomPerms *perms)
{
  g_return_val_if_fail (perms != NULL, NULL);
  g_ref_count_inc (&perms->ref);
  return perms;
}

/* TRUE when @prefix (@len bytes) can begin a room id: the characters of §2,
 * not starting with '@', short enough to leave room for nothing more. */
static gboolean
prefix_is_valid (const char *prefix, gsize len)
{
  if (len > HUB_NAME_MAX || (len > 0 && prefix[0] == '@'))
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = prefix[i];

    if (!g_ascii_isalnum (c) && c != '_' && c != '.' && c != '@' && c != '-')
      return FALSE;
  }
  return TRUE;
}

/* @pattern with every "{user}" replaced by @sub (g_string_replace is GLib 2.68). */
static GString *
substitute_user (const char *pattern, const char *sub)
{
  GString *out = g_string_sized_new (strlen (pattern));
  const char *p = pattern, *hit;

  while ((hit = strstr (p, "{user}")) != NULL) {
    g_string_append_len (out, p, hit - p);
    g_string_append (out, sub);
    p = hit + strlen ("{user}");
  }
  g_string_append (out, p);
  return out;
}

static gpointer
fail (GError **error, const char *format, const char *detail)
{
  g_set_error (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED, format, detail);
  return NULL;
}

HubRoomPerms *
hub_room_perms_parse (JsonNode *rooms, const char *sub, GError **error)
{
  g_autoptr (HubRoomPerms) perms = NULL;
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  g_return_val_if_fail (sub != NULL, NULL);

  if (rooms == NULL || !JSON_NODE_HOLDS_OBJECT (rooms))
    return fail (error, "invalid rooms claim: %s", "not an object");
  perms = g_new0 (HubRoomPerms, 1);
  g_ref_count_init (&perms->ref);
  perms->exact = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  perms->prefixes = g_array_new (FALSE, FALSE, sizeof (Prefix));
  g_array_set_clear_func (perms->prefixes, prefix_clear);

  json_object_iter_init (&iter, json_node_get_object (rooms));
  while (json_object_iter_next (&iter, &key, &value)) {
    g_autoptr (GString) pattern = NULL;
    const char *star;
    guint mask;

    if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING ||
        !hub_perm_from_letters (json_node_get_string (value), &mask))
      return fail (error, "invalid rooms claim: the letters of '%s' are not a string of j, p, c",
                   key);
    pattern = substitute_user (key, sub);
    star = strchr (pattern->str, '*');
    if (star == NULL) {
      if (!hub_name_is_valid (pattern->str))
        return fail (error, "invalid rooms claim: '%s' is not a room id or a prefix ending in *",
                     key);
      mask |= GPOINTER_TO_UINT (g_hash_table_lookup (perms->exact, pattern->str));
      g_hash_table_replace (perms->exact, g_strdup (pattern->str), GUINT_TO_POINTER (mask));
    } else {
      Prefix p;

      if (star[1] != '\0' || !prefix_is_valid (pattern->str, pattern->len - 1))
        return fail (error, "invalid rooms claim: '%s' is not a room id or a prefix ending in *",
                     key);
      p.len = pattern->len - 1;
      p.prefix = g_strndup (pattern->str, p.len);
      p.mask = mask;
      g_array_append_val (perms->prefixes, p);
    }
  }
  return g_steal_pointer (&perms);
}

guint
hub_room_perms_lookup (const HubRoomPerms *perms, const char *room)
{
  guint mask;

  if (perms == NULL)
    return HUB_PERM_ALL;
  mask = GPOINTER_TO_UINT (g_hash_table_lookup (perms->exact, room));
  for (guint i = 0; i < perms->prefixes->len && mask != HUB_PERM_ALL; i++) {
    const Prefix *p = &g_array_index (perms->prefixes, Prefix, i);

    if (strncmp (room, p->prefix, p->len) == 0)
      mask |= p->mask;
  }
  return mask;
}

guint
hub_room_perms_size (const HubRoomPerms *perms)
{
  return perms == NULL ? 0 : g_hash_table_size (perms->exact) + perms->prefixes->len;
}

/* hub-keyring.c: the current secret and the previous one with its deadline. */
#include "hub-keyring.h"

#include <string.h>

#include "hub/hub-error.h"

typedef struct {
  char *bytes; /* (owned) (nullable) */
  gsize len;
} Secret;

struct _HubKeyring {
  Secret current;
  Secret previous;
  gint64 previous_until_ms; /* the previous secret verifies before this */
};

static void
secret_set (Secret *s, const char *bytes, gsize len)
{
  if (s->bytes != NULL)
    memset (s->bytes, 0, s->len); /* not left behind in freed memory */
  g_free (s->bytes);
  s->bytes = NULL;
  s->len = 0;
  if (bytes == NULL)
    return;
  s->bytes = g_malloc (len + 1);
  memcpy (s->bytes, bytes, len);
  s->bytes[len] = '\0';
  s->len = len;
}

static gboolean
secret_equal (const Secret *s, const char *bytes, gsize len)
{
  if (s->bytes == NULL || bytes == NULL)
    return s->bytes == NULL && bytes == NULL;
  return s->len == len && memcmp (s->bytes, bytes, len) == 0;
}

HubKeyring *
hub_keyring_new (const char *secret, gsize len)
{
  HubKeyring *k = g_new0 (HubKeyring, 1);

  secret_set (&k->current, secret, len);
  return k;
}

void
hub_keyring_free (HubKeyring *k)
{
  if (k == NULL)
    return;
  secret_set (&k->current, NULL, 0);
  secret_set (&k->previous, NULL, 0);
  g_free (k);
}

void
hub_keyring_rotate (HubKeyring *k, const char *secret, gsize len, gint64 now_ms, guint64 grace_ms)
{
  if (secret_equal (&k->current, secret, len))
    return;
  secret_set (&k->previous, k->current.bytes, k->current.len);
  k->previous_until_ms = grace_ms > 0 ? now_ms + (gint64)grace_ms : now_ms;
  secret_set (&k->current, secret, len);
}

/* One verification of a token against one secret. */
typedef gboolean (*Check) (const Secret *secret, gint64 now_s, gpointer data, GError **error);

/* @check with the current secret, then, when that fails, with the previous
 * one while its grace lasts; the error is the current secret's. */
static gboolean
check_secrets (HubKeyring *k, gint64 now_ms, Check check, gpointer data, GError **error)
{
  g_autoptr (GError) current_error = NULL;

  if (k->current.bytes == NULL) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED, "no secret configured");
    return FALSE;
  }
  if (check (&k->current, now_ms / 1000, data, &current_error))
    return TRUE;
  if (k->previous.bytes != NULL && now_ms < k->previous_until_ms &&
      check (&k->previous, now_ms / 1000, data, NULL))
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&current_error));
  return FALSE;
}

typedef struct {
  const char *token;
  HubAuthClaims *claims; /* (owned) (nullable) the result */
} ConnectionToken;

static gboolean
check_connection_token (const Secret *secret, gint64 now_s, gpointer data, GError **error)
{
  ConnectionToken *t = data;

  t->claims = hub_auth_verify (t->token, secret->bytes, secret->len, now_s, error);
  return t->claims != NULL;
}

HubAuthClaims *
hub_keyring_verify (HubKeyring *k, const char *token, gint64 now_ms, GError **error)
{
  ConnectionToken t = {token, NULL};

  check_secrets (k, now_ms, check_connection_token, &t, error);
  return t.claims;
}

typedef struct {
  const char *token, *user, *room;
  guint *allow;
} RoomToken;

static gboolean
check_room_token (const Secret *secret, gint64 now_s, gpointer data, GError **error)
{
  RoomToken *t = data;

  return hub_auth_verify_room_token (t->token, secret->bytes, secret->len, now_s, t->user, t->room,
                                     t->allow, error);
}

gboolean
hub_keyring_verify_room_token (HubKeyring *k, const char *token, gint64 now_ms, const char *user,
                               const char *room, guint *allow, GError **error)
{
  RoomToken t = {token, user, room, allow};

  return check_secrets (k, now_ms, check_room_token, &t, error);
}

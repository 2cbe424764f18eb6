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

HubAuthClaims *
hub_keyring_verify (HubKeyring *k, const char *token, gint64 now_ms, GError **error)
{
  g_autoptr (GError) current_error = NULL;
  HubAuthClaims *claims;

  if (k->current.bytes == NULL) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED, "no secret configured");
    return NULL;
  }
  claims = hub_auth_verify (token, k->current.bytes, k->current.len, now_ms / 1000, &current_error);
  if (claims != NULL)
    return claims;
  if (k->previous.bytes != NULL && now_ms < k->previous_until_ms) {
    claims = hub_auth_verify (token, k->previous.bytes, k->previous.len, now_ms / 1000, NULL);
    if (claims != NULL)
      return claims;
  }
  g_propagate_error (error, g_steal_pointer (&current_error));
  return NULL;
}

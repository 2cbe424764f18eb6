/* hub-auth.h: HS256 JSON Web Tokens (PROTOCOL.md §3), with GLib's HMAC and
 * base64 only. Verification is strict: alg must be HS256, the signature must
 * match, `sub` must be a valid name, `exp` (when present) must be in the future. */
#pragma once

#include <glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

typedef struct {
  char *sub;      /* (owned) */
  gboolean admin; /* `admin: true` */
  gboolean has_exp;
  gint64 exp; /* Unix seconds */
} HubAuthClaims;

HUB_API
void hub_auth_claims_free (HubAuthClaims *claims);

/* Verifies @token against @secret at @now_unix_s. Returns the claims, or NULL
 * with @error set (HUB_ERROR, HUB_ERROR_UNAUTHORIZED) saying what was wrong. */
HUB_API
HubAuthClaims *hub_auth_verify (const char *token, const char *secret, gsize secret_len,
                                gint64 now_unix_s, GError **error);

/* Mints a token (for tests, hub-client --secret and hub-loadgen). @exp_unix_s
 * ≤ 0 omits `exp`. (transfer full) */
HUB_API
char *hub_auth_mint (const char *secret, gsize secret_len, const char *sub, gboolean admin,
                     gint64 exp_unix_s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubAuthClaims, hub_auth_claims_free)

G_END_DECLS

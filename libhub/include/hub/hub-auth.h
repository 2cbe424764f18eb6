/* hub-auth.h: HS256 JSON Web Tokens (PROTOCOL.md §3), with GLib's HMAC and
 * base64 only. Verification is strict: alg must be HS256, the signature must
 * match, `sub` must be a valid name, `exp` (when present) must be in the future. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "hub-room-perms.h"

#include "hub-api.h"

G_BEGIN_DECLS

typedef struct {
  char *sub;      /* (owned) */
  gboolean admin; /* `admin: true` */
  gboolean has_exp;
  gint64 exp;          /* Unix seconds */
  HubRoomPerms *rooms; /* (owned) (nullable) the `rooms` claim (§12); NULL: every room */
} HubAuthClaims;

HUB_API
void hub_auth_claims_free (HubAuthClaims *claims);
/* The token's `exp` in Unix ms (§12's expires_ts), 0 when it has none. */
HUB_API
gint64 hub_auth_claims_expires_ms (const HubAuthClaims *claims);

/* Verifies @token against @secret at @now_unix_s. Returns the claims, or NULL
 * with @error set (HUB_ERROR, HUB_ERROR_UNAUTHORIZED) saying what was wrong. */
HUB_API
HubAuthClaims *hub_auth_verify (const char *token, const char *secret, gsize secret_len,
                                gint64 now_unix_s, GError **error);

/* Verifies a room token (§12) of @user for joining @room: signed with
 * @secret, `sub` = @user, `room` = @room, `exp` (when present) in the future,
 * `allow` letters (default "jp") into @allow. FALSE with @error
 * (HUB_ERROR_UNAUTHORIZED) saying what was wrong. */
HUB_API
gboolean hub_auth_verify_room_token (const char *token, const char *secret, gsize secret_len,
                                     gint64 now_unix_s, const char *user, const char *room,
                                     guint *allow, GError **error);

/* Signs @claims (any JSON object: `sub`, `exp`, `rooms`, `room`, `allow`, …) as
 * an HS256 token. (transfer full) */
HUB_API
char *hub_auth_mint_claims (const char *secret, gsize secret_len, JsonObject *claims);

/* Mints a token (for tests, hub-client --secret and hub-loadgen). @exp_unix_s
 * ≤ 0 omits `exp`. (transfer full) */
HUB_API
char *hub_auth_mint (const char *secret, gsize secret_len, const char *sub, gboolean admin,
                     gint64 exp_unix_s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubAuthClaims, hub_auth_claims_free)

G_END_DECLS

/* hub-keyring.h: the secrets tokens are checked against (PROTOCOL.md §3 and
 * §12: connection and room tokens): the current one, and after a rotation
 * the previous one until its grace ends, so that a secret rotated on a
 * running server refuses no token signed just before. Private to libhub. */
#pragma once

#include "hub/hub-auth.h"

G_BEGIN_DECLS

typedef struct _HubKeyring HubKeyring;

/* @secret: @len bytes (may hold NULs), copied; NULL: no secret. (transfer full) */
HubKeyring *hub_keyring_new (const char *secret, gsize len);
void hub_keyring_free (HubKeyring *k);

/* Makes @secret (copied) the current one; the one it replaces verifies until
 * @now_ms + @grace_ms (not at all with 0). The same secret again changes nothing. */
void hub_keyring_rotate (HubKeyring *k, const char *secret, gsize len, gint64 now_ms,
                         guint64 grace_ms);

/* hub_auth_verify() with the current secret, then, when that fails, with the
 * previous one while its grace lasts; the error is the current secret's. */
HubAuthClaims *hub_keyring_verify (HubKeyring *k, const char *token, gint64 now_ms, GError **error);
/* hub_auth_verify_room_token() (§12) likewise. */
gboolean hub_keyring_verify_room_token (HubKeyring *k, const char *token, gint64 now_ms,
                                        const char *user, const char *room, guint *allow,
                                        GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubKeyring, hub_keyring_free)

G_END_DECLS

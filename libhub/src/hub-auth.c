/* hub-auth.c: strict HS256 JWT verification and minting (PROTOCOL.md §3) with
 * GLib's GHmac and json-glib. Every input is hostile until the signature has
 * matched; every failure is a HUB_ERROR_UNAUTHORIZED GError saying what was wrong. */
#include "hub/hub-auth.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "hub/hub-codec.h"
#include "hub/hub-error.h"

/* Tokens travel in a hello frame; nothing legitimate comes near this. */
#define MAX_TOKEN_LEN 8192
/* Header and claims are flat objects; deeper JSON is refused before it reaches
 * the (recursive) parser. */
#define MAX_JSON_DEPTH 32
#define SHA256_LEN     32

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
hub_auth_claims_free (HubAuthClaims *claims)
{
  if (claims == NULL)
    return;
  g_free (claims->sub);
  g_clear_pointer (&claims->rooms, hub_room_perms_unref);
  g_free (claims);
}

gint64
hub_auth_claims_expires_ms (const HubAuthClaims *claims)
{
  g_return_val_if_fail (claims != NULL, 0);
  if (!claims->has_exp)
    return 0;
  /* An exp too far away for milliseconds is as good as none, but kept. */
  return MIN (claims->exp, G_MAXINT64 / 1000) * 1000;
}

static char *
b64url_encode (const guint8 *data, gsize len)
{
  GString *out = g_string_sized_new ((len + 2) / 3 * 4);
  gsize i;

  for (i = 0; i + 2 < len; i += 3) {
    guint32 v = (guint32)data[i] << 16 | (guint32)data[i + 1] << 8 | data[i + 2];

    g_string_append_c (out, b64url_alphabet[(v >> 18) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 12) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 6) & 63]);
    g_string_append_c (out, b64url_alphabet[v & 63]);
  }
  if (len - i == 1) {
    guint32 v = (guint32)data[i] << 16;

    g_string_append_c (out, b64url_alphabet[(v >> 18) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 12) & 63]);
  } else if (len - i == 2) {
    guint32 v = (guint32)data[i] << 16 | (guint32)data[i + 1] << 8;

    g_string_append_c (out, b64url_alphabet[(v >> 18) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 12) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 6) & 63]);
  }
  return g_string_free (out, FALSE);
}

static int
b64url_value (char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/* Decodes unpadded base64url. Refuses padding, characters outside the url-safe
 * alphabet, impossible lengths and non-zero trailing bits (so one byte string
 * has exactly one encoding). Returns NULL on any of these. */
static GBytes *
b64url_decode (const char *text, gsize len)
{
  g_autoptr (GByteArray) out = NULL;
  guint32 acc = 0;
  guint bits = 0;

  if (len % 4 == 1)
    return NULL;
  out = g_byte_array_sized_new (len / 4 * 3 + 2);
  for (gsize i = 0; i < len; i++) {
    int v = b64url_value (text[i]);

    if (v < 0)
      return NULL;
    acc = (acc << 6) | (guint32)v;
    bits += 6;
    if (bits >= 8) {
      guint8 byte = (guint8)(acc >> (bits - 8));

      g_byte_array_append (out, &byte, 1);
      bits -= 8;
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0)
    return NULL;
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* What json-glib is not trusted with: nesting deeper than MAX_JSON_DEPTH (its
 * parser recurses) and the escape \u0000, which it would turn into a C string
 * cut short ("a\u0000b" would read as "a"). Scans @len bytes of JSON text,
 * counting brackets outside strings. */
static gboolean
json_is_acceptable (const char *text, gsize len)
{
  guint depth = 0;
  gboolean in_string = FALSE;

  for (gsize i = 0; i < len; i++) {
    char c = text[i];

    if (in_string) {
      if (c == '\\') {
        if (i + 5 < len && text[i + 1] == 'u' && memcmp (text + i + 2, "0000", 4) == 0)
          return FALSE;
        i++;
      } else if (c == '"') {
        in_string = FALSE;
      }
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '{' || c == '[') {
      if (++depth > MAX_JSON_DEPTH)
        return FALSE;
    } else if ((c == '}' || c == ']') && depth > 0) {
      depth--;
    }
  }
  return TRUE;
}

/* Parses decoded bytes as a JSON object, or says in @why what it is not.
 * (transfer full) */
static JsonObject *
parse_json_object (GBytes *bytes, const char **why)
{
  g_autoptr (JsonParser) parser = NULL;
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);
  JsonNode *root;

  /* g_utf8_validate with a length also refuses embedded NUL bytes. */
  if (!g_utf8_validate (data, (gssize)size, NULL)) {
    *why = "not UTF-8 text";
    return NULL;
  }
  if (!json_is_acceptable (data, size)) {
    *why = "JSON nested too deeply or holding \\u0000";
    return NULL;
  }
  parser = json_parser_new_immutable ();
  if (size == 0 || !json_parser_load_from_data (parser, data, (gssize)size, NULL)) {
    *why = "not JSON";
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    *why = "not a JSON object";
    return NULL;
  }
  return json_object_ref (json_node_get_object (root));
}

static gboolean
equal_constant_time (const guint8 *a, const guint8 *b, gsize len)
{
  guint8 diff = 0;

  for (gsize i = 0; i < len; i++)
    diff |= a[i] ^ b[i];
  return diff == 0;
}

static void
hmac_sha256 (const char *secret, gsize secret_len, const char *data, gsize len,
             guint8 out[SHA256_LEN])
{
  static const guint8 empty_key = 0;
  g_autoptr (GHmac) hmac = g_hmac_new (
      G_CHECKSUM_SHA256, secret_len > 0 ? (const guint8 *)secret : &empty_key, secret_len);
  gsize out_len = SHA256_LEN;

  g_hmac_update (hmac, (const guchar *)data, (gssize)len);
  g_hmac_get_digest (hmac, out, &out_len);
  g_assert (out_len == SHA256_LEN);
}

static gboolean
node_is_number (JsonNode *node)
{
  GType type;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

static gpointer
fail (GError **error, const char *message)
{
  g_set_error_literal (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED, message);
  return NULL;
}

static gboolean
fail_false (GError **error, const char *message)
{
  fail (error, message);
  return FALSE;
}

static gpointer
fail_detail (GError **error, const char *message, const char *detail)
{
  g_set_error (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED, "%s%s", message, detail);
  return NULL;
}

/* The signed payload of @token: checks its form, `alg` and signature against
 * @secret, then parses the payload. (transfer full) */
static JsonObject *
verify_signed_payload (const char *token, const char *secret, gsize secret_len, GError **error)
{
  g_autoptr (JsonObject) header = NULL;
  g_autoptr (GBytes) header_bytes = NULL;
  g_autoptr (GBytes) payload_bytes = NULL;
  g_autoptr (GBytes) signature = NULL;
  guint8 expected[SHA256_LEN];
  const char *dot1, *dot2, *alg, *why = NULL;
  JsonObject *payload;
  JsonNode *node;
  gsize len;

  if (token == NULL)
    return fail (error, "malformed token: missing");
  len = strnlen (token, MAX_TOKEN_LEN + 1);
  if (len > MAX_TOKEN_LEN)
    return fail (error, "malformed token: longer than 8 KiB");

  /* header.payload.signature, nothing more, nothing empty. */
  dot1 = memchr (token, '.', len);
  dot2 = dot1 != NULL ? memchr (dot1 + 1, '.', len - (gsize)(dot1 + 1 - token)) : NULL;
  if (dot1 == NULL || dot2 == NULL || memchr (dot2 + 1, '.', len - (gsize)(dot2 + 1 - token)))
    return fail (error, "malformed token: expected three dot-separated parts");
  if (dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
    return fail (error, "malformed token: empty part");

  header_bytes = b64url_decode (token, (gsize)(dot1 - token));
  payload_bytes = b64url_decode (dot1 + 1, (gsize)(dot2 - dot1 - 1));
  signature = b64url_decode (dot2 + 1, len - (gsize)(dot2 + 1 - token));
  if (header_bytes == NULL || payload_bytes == NULL || signature == NULL)
    return fail (error, "malformed token: invalid base64url");

  header = parse_json_object (header_bytes, &why);
  if (header == NULL)
    return fail_detail (error, "malformed token: header is ", why);
  node = json_object_get_member (header, "alg");
  alg = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
                json_node_get_value_type (node) == G_TYPE_STRING
            ? json_node_get_string (node)
            : NULL;
  if (g_strcmp0 (alg, "HS256") != 0)
    return fail (error, "unsupported alg: only HS256 is accepted");

  hmac_sha256 (secret, secret_len, token, (gsize)(dot2 - token), expected);
  if (g_bytes_get_size (signature) != SHA256_LEN ||
      !equal_constant_time (g_bytes_get_data (signature, NULL), expected, SHA256_LEN))
    return fail (error, "bad signature");

  /* Only now, signed by the holder of the secret, is the payload parsed. */
  payload = parse_json_object (payload_bytes, &why);
  if (payload == NULL)
    return fail_detail (error, "malformed token: payload is ", why);
  return payload;
}

/* The string member @key of @payload, or NULL when absent or not a string. */
static const char *
string_member (JsonObject *payload, const char *key)
{
  JsonNode *node = json_object_get_member (payload, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* `sub`: a valid user name. (transfer none) */
static const char *
check_sub (JsonObject *payload, GError **error)
{
  const char *sub = string_member (payload, "sub");

  if (sub == NULL)
    return fail (error, "invalid sub: missing or not a string");
  if (!hub_name_is_valid (sub))
    return fail (error, "invalid sub: not a valid user name");
  return sub;
}

/* `exp`, when present: a number after @now_unix_s (no leeway: exp == now is
 * expired). Sets *@has_exp and *@exp. */
static gboolean
check_exp (JsonObject *payload, gint64 now_unix_s, gboolean *has_exp, gint64 *exp, GError **error)
{
  JsonNode *node = json_object_get_member (payload, "exp");

  *has_exp = FALSE;
  *exp = 0;
  if (node == NULL)
    return TRUE;
  if (!node_is_number (node))
    return fail_false (error, "invalid exp: not a number");
  if (json_node_get_value_type (node) == G_TYPE_INT64) {
    *exp = json_node_get_int (node);
    if (*exp <= now_unix_s)
      return fail_false (error, "token expired");
  } else {
    double value = json_node_get_double (node);

    if (!(value > (double)now_unix_s))
      return fail_false (error, "token expired");
    /* Clamp before converting: a huge float would be undefined behaviour. */
    *exp = value >= 9.2e18 ? G_MAXINT64 : (gint64)floor (value);
  }
  *has_exp = TRUE;
  return TRUE;
}

HubAuthClaims *
hub_auth_verify (const char *token, const char *secret, gsize secret_len, gint64 now_unix_s,
                 GError **error)
{
  g_autoptr (JsonObject) payload = NULL;
  g_autoptr (HubAuthClaims) claims = NULL;
  const char *sub;
  JsonNode *node;

  g_return_val_if_fail (secret != NULL || secret_len == 0, NULL);

  payload = verify_signed_payload (token, secret, secret_len, error);
  if (payload == NULL)
    return NULL;
  claims = g_new0 (HubAuthClaims, 1);
  sub = check_sub (payload, error);
  if (sub == NULL)
    return NULL;
  claims->sub = g_strdup (sub);
  if (!check_exp (payload, now_unix_s, &claims->has_exp, &claims->exp, error))
    return NULL;

  node = json_object_get_member (payload, "admin");
  claims->admin = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
                  json_node_get_value_type (node) == G_TYPE_BOOLEAN && json_node_get_boolean (node);

  /* §12: no `rooms` claim allows every room, as in 1.0. */
  node = json_object_get_member (payload, "rooms");
  if (node != NULL) {
    claims->rooms = hub_room_perms_parse (node, claims->sub, error);
    if (claims->rooms == NULL)
      return NULL;
  }
  return g_steal_pointer (&claims);
}

gboolean
hub_auth_verify_room_token (const char *token, const char *secret, gsize secret_len,
                            gint64 now_unix_s, const char *user, const char *room, guint *allow,
                            GError **error)
{
  g_autoptr (JsonObject) payload = NULL;
  const char *sub, *token_room, *letters;
  gboolean has_exp;
  gint64 exp;

  g_return_val_if_fail (secret != NULL || secret_len == 0, FALSE);
  g_return_val_if_fail (user != NULL && room != NULL && allow != NULL, FALSE);

  payload = verify_signed_payload (token, secret, secret_len, error);
  if (payload == NULL)
    return FALSE;
  sub = check_sub (payload, error);
  if (sub == NULL)
    return FALSE;
  if (strcmp (sub, user) != 0)
    return fail_false (error, "room token for another user");
  token_room = string_member (payload, "room");
  if (token_room == NULL)
    return fail_false (error, "invalid room token: room missing or not a string");
  if (strcmp (token_room, room) != 0)
    return fail_false (error, "room token for another room");
  if (!check_exp (payload, now_unix_s, &has_exp, &exp, error))
    return FALSE;
  if (json_object_get_member (payload, "allow") == NULL) {
    *allow = HUB_PERM_GRANT_DEFAULT;
    return TRUE;
  }
  letters = string_member (payload, "allow");
  if (!hub_perm_from_letters (letters, allow))
    return fail_false (error, "invalid room token: allow is not a string of j, p, c");
  return TRUE;
}

char *
hub_auth_mint_claims (const char *secret, gsize secret_len, JsonObject *claims)
{
  static const char header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *payload_json = NULL;
  g_autofree char *header_b64 = NULL;
  g_autofree char *payload_b64 = NULL;
  g_autofree char *signing_input = NULL;
  g_autofree char *signature_b64 = NULL;
  guint8 digest[SHA256_LEN];
  gsize payload_len;

  g_return_val_if_fail (secret != NULL || secret_len == 0, NULL);
  g_return_val_if_fail (claims != NULL, NULL);

  json_node_set_object (root, claims);
  json_generator_set_root (generator, root);
  payload_json = json_generator_to_data (generator, &payload_len);

  header_b64 = b64url_encode ((const guint8 *)header_json, sizeof header_json - 1);
  payload_b64 = b64url_encode ((const guint8 *)payload_json, payload_len);
  signing_input = g_strconcat (header_b64, ".", payload_b64, NULL);
  hmac_sha256 (secret, secret_len, signing_input, strlen (signing_input), digest);
  signature_b64 = b64url_encode (digest, SHA256_LEN);
  return g_strconcat (signing_input, ".", signature_b64, NULL);
}

char *
hub_auth_mint (const char *secret, gsize secret_len, const char *sub, gboolean admin,
               gint64 exp_unix_s)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  g_return_val_if_fail (secret != NULL || secret_len == 0, NULL);
  g_return_val_if_fail (sub != NULL, NULL);

  json_object_set_string_member (claims, "sub", sub);
  if (admin)
    json_object_set_boolean_member (claims, "admin", TRUE);
  if (exp_unix_s > 0)
    json_object_set_int_member (claims, "exp", exp_unix_s);
  return hub_auth_mint_claims (secret, secret_len, claims);
}

/* test-auth.c: HS256 JWT verification and minting (PROTOCOL.md §3). Tokens are
 * signed here with GLib's own base64 and HMAC, independently of hub-auth.c, plus
 * tokens computed with Python's hmac module and hard-coded. */
#include <check.h>
#include <hub/hub-auth.h>
#include <hub/hub-error.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "test-secret"
#define NOW    ((gint64)1700000000)

/* Computed at development time with Python:
 *   h = b64url('{"alg":"HS256","typ":"JWT"}')
 *   p = b64url('{"sub":"carol.w-1_x@example","admin":true,"exp":2000000000,"name":"Carol"}')
 *   s = b64url(hmac.new(b"python-independent-secret", (h+"."+p).encode(), sha256).digest()) */
#define PY_SECRET "python-independent-secret"
#define PY_TOKEN                                                                                   \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                          \
  "eyJzdWIiOiJjYXJvbC53LTFfeEBleGFtcGxlIiwiYWRtaW4iOnRydWUsImV4cCI6MjAwMDAwMDAwMCwibmFtZSI6IkNh"   \
  "cm9sIn0.ddhFhDpev8k16dNM5eeGPJ89rCIVOQhgYWGKb6Qs9FQ"
/* Same secret, header '{"alg":"HS256"}' (no typ), payload '{"sub":"dave","exp":1700000000.5}'. */
#define PY_TOKEN_FLOAT_EXP                                                                         \
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkYXZlIiwiZXhwIjoxNzAwMDAwMDAwLjV9."                             \
  "M-aBtzhqyp8KBJJ0ymPqfD9rJU_7Wvdrr9zzdS0mujY"
/* Secret "s3cret", payload '{"sub":"alice","admin":true,"exp":1900000000}': what
 * hub_auth_mint must produce byte for byte. */
#define PY_MINTED                                                                                  \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                          \
  "eyJzdWIiOiJhbGljZSIsImFkbWluIjp0cnVlLCJleHAiOjE5MDAwMDAwMDB9."                                  \
  "E3mf3LPgRb7dw9Y68vjCa2eIy0UUSL5kNxMAGHVTkrM"

#define HS256_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* base64url without padding, through GLib's standard base64. */
static char *
b64url (const void *data, gsize len)
{
  char *s = g_base64_encode (data, len);
  char *end = s + strlen (s);

  while (end > s && end[-1] == '=')
    *--end = '\0';
  for (char *p = s; *p; p++) {
    if (*p == '+')
      *p = '-';
    else if (*p == '/')
      *p = '_';
  }
  return s;
}

/* header.payload signed with HS256 under @secret; raw bytes, so NULs and
 * invalid UTF-8 can be signed too. */
static char *
sign_raw (const char *header, gsize header_len, const char *payload, gsize payload_len,
          const char *secret)
{
  g_autofree char *h = b64url (header, header_len);
  g_autofree char *p = b64url (payload, payload_len);
  g_autofree char *input = g_strconcat (h, ".", p, NULL);
  g_autoptr (GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *)secret, strlen (secret));
  guint8 digest[32];
  gsize digest_len = sizeof digest;
  g_autofree char *sig = NULL;

  g_hmac_update (hmac, (const guchar *)input, -1);
  g_hmac_get_digest (hmac, digest, &digest_len);
  sig = b64url (digest, digest_len);
  return g_strconcat (input, ".", sig, NULL);
}

static char *
sign (const char *header, const char *payload)
{
  return sign_raw (header, strlen (header), payload, strlen (payload), SECRET);
}

static HubAuthClaims *
verify (const char *token, GError **error)
{
  return hub_auth_verify (token, SECRET, strlen (SECRET), NOW, error);
}

/* Asserts that @token is refused as unauthorized with a message containing @what. */
static void
assert_refused (const char *token, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HubAuthClaims) claims = verify (token, &error);

  ck_assert_msg (claims == NULL, "token %.80s should be refused (%s)", token, what);
  ck_assert_msg (g_error_matches (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED),
                 "refusal should be HUB_ERROR_UNAUTHORIZED, got %s",
                 error ? error->message : "no error");
  ck_assert_msg (strstr (error->message, what) != NULL, "error message '%s' should mention '%s'",
                 error->message, what);
}

static HubAuthClaims *
assert_accepted (const char *token)
{
  g_autoptr (GError) error = NULL;
  HubAuthClaims *claims = verify (token, &error);

  ck_assert_msg (claims != NULL, "token %.80s should verify, got: %s", token,
                 error ? error->message : "?");
  ck_assert_msg (error == NULL, "no error expected on success");
  return claims;
}

static void
assert_payload_refused (const char *payload, const char *what)
{
  g_autofree char *token = sign (HS256_HEADER, payload);

  assert_refused (token, what);
}

START_TEST (test_valid)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\"}");
  g_autoptr (HubAuthClaims) claims = assert_accepted (token);

  ck_assert_str_eq (claims->sub, "alice");
  ck_assert_msg (!claims->admin, "admin should default to FALSE");
  ck_assert_msg (!claims->has_exp, "has_exp should be FALSE without exp");
}
END_TEST

START_TEST (test_valid_without_typ)
{
  g_autofree char *token = sign ("{\"alg\":\"HS256\"}", "{\"sub\":\"alice\",\"extra\":[1,{}]}");
  g_autoptr (HubAuthClaims) claims = assert_accepted (token);

  ck_assert_str_eq (claims->sub, "alice");
}
END_TEST

START_TEST (test_admin_true)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"root\",\"admin\":true}");
  g_autoptr (HubAuthClaims) claims = assert_accepted (token);

  ck_assert_msg (claims->admin, "admin:true should grant admin");
}
END_TEST

START_TEST (test_admin_not_true)
{
  static const char *const payloads[] = {
      "{\"sub\":\"bob\",\"admin\":false}",  "{\"sub\":\"bob\",\"admin\":\"true\"}",
      "{\"sub\":\"bob\",\"admin\":1}",      "{\"sub\":\"bob\",\"admin\":null}",
      "{\"sub\":\"bob\",\"admin\":[true]}",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (payloads); i++) {
    g_autofree char *token = sign (HS256_HEADER, payloads[i]);
    g_autoptr (HubAuthClaims) claims = assert_accepted (token);

    ck_assert_msg (!claims->admin, "%s should not grant admin", payloads[i]);
  }
}
END_TEST

START_TEST (test_expired)
{
  assert_payload_refused ("{\"sub\":\"alice\",\"exp\":1699999999}", "token expired");
  assert_payload_refused ("{\"sub\":\"alice\",\"exp\":-5}", "token expired");
}
END_TEST

START_TEST (test_exp_equal_now)
{
  assert_payload_refused ("{\"sub\":\"alice\",\"exp\":1700000000}", "token expired");
}
END_TEST

START_TEST (test_exp_future)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\",\"exp\":1700000001}");
  g_autoptr (HubAuthClaims) claims = assert_accepted (token);

  ck_assert_msg (claims->has_exp, "has_exp should be set");
  ck_assert_int_eq (claims->exp, 1700000001);
}
END_TEST

START_TEST (test_exp_float)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HubAuthClaims) claims =
      hub_auth_verify (PY_TOKEN_FLOAT_EXP, PY_SECRET, strlen (PY_SECRET), 1700000000, &error);
  g_autoptr (HubAuthClaims) late = NULL;
  g_autofree char *huge = NULL;

  ck_assert_msg (claims != NULL, "exp 1700000000.5 is after 1700000000: %s",
                 error ? error->message : "");
  ck_assert_str_eq (claims->sub, "dave");
  ck_assert_msg (claims->has_exp, "a float exp is an exp");
  ck_assert_int_eq (claims->exp, 1700000000);

  late = hub_auth_verify (PY_TOKEN_FLOAT_EXP, PY_SECRET, strlen (PY_SECRET), 1700000001, &error);
  ck_assert_msg (late == NULL && strstr (error->message, "expired"),
                 "exp 1700000000.5 is before 1700000001");

  /* A float too large for gint64 must not overflow. */
  huge = sign (HS256_HEADER, "{\"sub\":\"alice\",\"exp\":1e300}");
  {
    g_autoptr (HubAuthClaims) c = assert_accepted (huge);

    ck_assert_msg (c->exp == G_MAXINT64, "exp 1e300 should clamp to G_MAXINT64");
  }
}
END_TEST

START_TEST (test_exp_not_number)
{
  assert_payload_refused ("{\"sub\":\"alice\",\"exp\":\"2000000000\"}", "invalid exp");
  assert_payload_refused ("{\"sub\":\"alice\",\"exp\":true}", "invalid exp");
  assert_payload_refused ("{\"sub\":\"alice\",\"exp\":null}", "invalid exp");
  assert_payload_refused ("{\"sub\":\"alice\",\"exp\":{}}", "invalid exp");
}
END_TEST

START_TEST (test_missing_sub)
{
  assert_payload_refused ("{\"admin\":true}", "invalid sub");
  assert_payload_refused ("{}", "invalid sub");
  assert_payload_refused ("{\"sub\":42}", "invalid sub");
  assert_payload_refused ("{\"sub\":null}", "invalid sub");
}
END_TEST

START_TEST (test_invalid_sub)
{
  g_autofree char *sub64 = g_strnfill (64, 'a');
  g_autofree char *sub65 = g_strnfill (65, 'a');
  g_autofree char *ok64 = g_strdup_printf ("{\"sub\":\"%s\"}", sub64);
  g_autofree char *bad65 = g_strdup_printf ("{\"sub\":\"%s\"}", sub65);
  g_autofree char *token64 = sign (HS256_HEADER, ok64);
  g_autoptr (HubAuthClaims) claims = assert_accepted (token64);

  ck_assert_str_eq (claims->sub, sub64);
  assert_payload_refused (bad65, "invalid sub");
  assert_payload_refused ("{\"sub\":\"al ice\"}", "invalid sub");
  assert_payload_refused ("{\"sub\":\"alice/x\"}", "invalid sub");
  assert_payload_refused ("{\"sub\":\"@api\"}", "invalid sub");
  assert_payload_refused ("{\"sub\":\"\"}", "invalid sub");
  assert_payload_refused ("{\"sub\":\"caf\\u00e9\"}", "invalid sub");
  /* json-glib would read this sub as "a": refused before parsing. */
  assert_payload_refused ("{\"sub\":\"a\\u0000b\"}", "u0000");
  assert_payload_refused ("{\"sub\":\"a\\\\u0000b\"}", "invalid sub");
}
END_TEST

START_TEST (test_alg_none)
{
  g_autofree char *signed_none = sign ("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"alice\"}");
  /* The classic attack: alg none and an empty signature. */
  g_autofree char *unsigned_none = g_strdup (signed_none);

  *(strrchr (unsigned_none, '.') + 1) = '\0';
  assert_refused (signed_none, "unsupported alg");
  assert_refused (unsigned_none, "malformed token");
}
END_TEST

START_TEST (test_alg_other)
{
  static const char *const headers[] = {
      "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
      "{\"typ\":\"JWT\"}",
      "{\"alg\":\"hs256\"}",
      "{\"alg\":\"HS256 \"}",
      "{\"alg\":null}",
      "{\"alg\":256}",
      "{\"alg\":[\"HS256\"]}",
      "{\"alg\":\"RS256\"}",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (headers); i++) {
    g_autofree char *token = sign (headers[i], "{\"sub\":\"alice\"}");

    assert_refused (token, "unsupported alg");
  }
}
END_TEST

START_TEST (test_tampered_payload)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\"}");
  g_autofree char *evil = b64url ("{\"sub\":\"alice\",\"admin\":true}", 29);
  char **parts = g_strsplit (token, ".", -1);
  g_autofree char *forged = g_strjoin (".", parts[0], evil, parts[2], NULL);

  g_strfreev (parts);
  assert_refused (forged, "bad signature");
}
END_TEST

START_TEST (test_tampered_signature)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\"}");
  char *sig = strrchr (token, '.') + 1;

  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  assert_refused (token, "bad signature");
}
END_TEST

START_TEST (test_truncated_signature)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\"}");

  /* 40 base64 chars: valid base64url, but 30 bytes, not 32. */
  token[strlen (token) - 3] = '\0';
  assert_refused (token, "bad signature");
}
END_TEST

START_TEST (test_wrong_secret)
{
  g_autofree char *token = hub_auth_mint ("other-secret", 12, "alice", FALSE, 0);

  assert_refused (token, "bad signature");
}
END_TEST

START_TEST (test_part_count)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\"}");
  g_autofree char *two = g_strndup (token, strrchr (token, '.') - token);
  g_autofree char *four = g_strconcat (token, ".AAAA", NULL);

  assert_refused (two, "malformed token");
  assert_refused (four, "malformed token");
  assert_refused ("", "malformed token");
  assert_refused ("abc", "malformed token");
  assert_refused ("...", "malformed token");
}
END_TEST

START_TEST (test_empty_parts)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\"}");
  char **p = g_strsplit (token, ".", -1);
  g_autofree char *no_header = g_strjoin (".", "", p[1], p[2], NULL);
  g_autofree char *no_payload = g_strjoin (".", p[0], "", p[2], NULL);
  g_autofree char *no_sig = g_strjoin (".", p[0], p[1], "", NULL);

  g_strfreev (p);
  assert_refused (no_header, "malformed token");
  assert_refused (no_payload, "malformed token");
  assert_refused (no_sig, "malformed token");
  assert_refused ("..", "malformed token");
}
END_TEST

START_TEST (test_invalid_base64)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\"}");
  g_autofree char *padded = g_strconcat (token, "=", NULL);
  g_autofree char *std_alphabet = g_strdup (token);
  g_autofree char *bad_len = NULL;
  g_autofree char *junk = NULL;
  char *sig = strrchr (std_alphabet, '.') + 1;
  char **p = g_strsplit (token, ".", -1);

  /* '+' and '/' belong to standard base64, not base64url. */
  sig[0] = '+';
  sig[1] = '/';
  /* A part of 4k+1 characters cannot be base64. */
  bad_len = g_strjoin (".", "eyJhb", p[1], p[2], NULL);
  junk = g_strjoin (".", p[0], "eyJz*WIiOiJhbGljZSJ9", p[2], NULL);
  g_strfreev (p);

  assert_refused (padded, "malformed token");
  assert_refused (std_alphabet, "malformed token");
  assert_refused (bad_len, "malformed token");
  assert_refused (junk, "malformed token");
  assert_refused ("eyJhbGciOiJIUzI1NiJ9=.eyJzdWIiOiJhbGljZSJ9.AAAA", "malformed token");
  assert_refused ("e y.J z.A A", "malformed token");
}
END_TEST

START_TEST (test_non_canonical_base64)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\"}");
  char *last = token + strlen (token) - 1;
  const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  /* A 32-byte signature is 43 chars whose last one carries 2 unused bits; any
   * other char with the same 4 data bits encodes the same bytes and must be refused. */
  int idx = (int)(strchr (alphabet, *last) - alphabet);

  *last = alphabet[idx | 1];
  assert_refused (token, "malformed token");
}
END_TEST

START_TEST (test_header_not_json)
{
  g_autofree char *not_json = sign ("not json", "{\"sub\":\"alice\"}");
  g_autofree char *array = sign ("[\"HS256\"]", "{\"sub\":\"alice\"}");
  g_autofree char *string = sign ("\"HS256\"", "{\"sub\":\"alice\"}");
  g_autofree char *trailing = sign (HS256_HEADER "x", "{\"sub\":\"alice\"}");

  assert_refused (not_json, "malformed token");
  assert_refused (array, "malformed token");
  assert_refused (string, "malformed token");
  assert_refused (trailing, "malformed token");
}
END_TEST

START_TEST (test_payload_not_object)
{
  assert_payload_refused ("[{\"sub\":\"alice\"}]", "malformed token");
  assert_payload_refused ("\"alice\"", "malformed token");
  assert_payload_refused ("42", "malformed token");
  assert_payload_refused ("null", "malformed token");
  assert_payload_refused ("{\"sub\":\"alice\"", "malformed token");
  assert_payload_refused ("sub=alice", "malformed token");
}
END_TEST

START_TEST (test_payload_nul_and_utf8)
{
  static const char with_nul[] = "{\"sub\":\"alice\"}\0{\"sub\":\"bob\"}";
  static const char bad_utf8[] = "{\"sub\":\"alice\",\"x\":\"\xff\xfe\"}";
  g_autofree char *nul_token =
      sign_raw (HS256_HEADER, strlen (HS256_HEADER), with_nul, sizeof with_nul - 1, SECRET);
  g_autofree char *utf8_token =
      sign_raw (HS256_HEADER, strlen (HS256_HEADER), bad_utf8, sizeof bad_utf8 - 1, SECRET);

  assert_refused (nul_token, "malformed token");
  assert_refused (utf8_token, "malformed token");
}
END_TEST

START_TEST (test_deeply_nested)
{
  GString *payload = g_string_new ("{\"sub\":\"alice\",\"x\":");
  g_autofree char *token = NULL;
  g_autofree char *shallow = NULL;

  for (int i = 0; i < 2000; i++)
    g_string_append_c (payload, '[');
  for (int i = 0; i < 2000; i++)
    g_string_append_c (payload, ']');
  g_string_append_c (payload, '}');
  token = sign (HS256_HEADER, payload->str);
  g_string_free (payload, TRUE);
  ck_assert_msg (strlen (token) <= 8192,
                 "the nested token should fit in 8 KiB to reach the parser");
  assert_refused (token, "malformed token");

  shallow = sign (HS256_HEADER, "{\"sub\":\"alice\",\"x\":[[[{\"y\":[1]}]]]}");
  {
    g_autoptr (HubAuthClaims) claims = assert_accepted (shallow);

    ck_assert_str_eq (claims->sub, "alice");
  }
}
END_TEST

/* A valid token of exactly 8 KiB is accepted; one byte more is refused. */
START_TEST (test_size_limit)
{
  g_autofree char *exact = NULL;

  for (gsize filler = 5000; filler < 7000 && exact == NULL; filler++) {
    g_autofree char *pad = g_strnfill (filler, 'x');
    g_autofree char *payload = g_strdup_printf ("{\"sub\":\"alice\",\"pad\":\"%s\"}", pad);
    char *token = sign (HS256_HEADER, payload);

    if (strlen (token) == 8192)
      exact = token;
    else
      g_free (token);
  }
  ck_assert_msg (exact != NULL, "a filler giving an 8192-char token should exist");
  {
    g_autoptr (HubAuthClaims) claims = assert_accepted (exact);
    g_autofree char *pad = g_strnfill (9000, 'A');
    g_autofree char *longer = g_strconcat (exact, "A", NULL);

    ck_assert_str_eq (claims->sub, "alice");
    assert_refused (longer, "8 KiB");
    assert_refused (pad, "8 KiB");
  }
}
END_TEST

START_TEST (test_huge_token)
{
  gsize len = 4 * 1024 * 1024;
  char *huge = g_malloc (len + 1);

  memset (huge, 'A', len);
  huge[len / 3] = '.';
  huge[2 * len / 3] = '.';
  huge[len] = '\0';
  assert_refused (huge, "8 KiB");
  g_free (huge);
}
END_TEST

START_TEST (test_null_token_and_error)
{
  g_autofree char *token = sign (HS256_HEADER, "{\"sub\":\"alice\",\"exp\":1}");

  assert_refused (NULL, "malformed token");
  /* Callers that do not want the error may pass NULL. */
  ck_assert_msg (verify (token, NULL) == NULL, "expired token refused without a GError");
}
END_TEST

START_TEST (test_every_mutation_refused)
{
  g_autofree char *token = hub_auth_mint (SECRET, strlen (SECRET), "alice", TRUE, 0);
  gsize len = strlen (token);
  static const char subst[] = {'A', 'g', '0', '-', '_', '.', '=', '+', '\x7f', '\xc3'};
  guint checked = 0;

  for (gsize i = 0; i < len; i++) {
    for (gsize k = 0; k < G_N_ELEMENTS (subst); k++) {
      g_autoptr (GError) error = NULL;
      g_autoptr (HubAuthClaims) claims = NULL;
      char saved = token[i];

      if (saved == subst[k])
        continue;
      token[i] = subst[k];
      claims = verify (token, &error);
      token[i] = saved;
      ck_assert_msg (claims == NULL,
                     "changing byte %" G_GSIZE_FORMAT " to 0x%02x should invalidate the token", i,
                     (guint8)subst[k]);
      ck_assert_msg (g_error_matches (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED),
                     "mutation at %" G_GSIZE_FORMAT " should be unauthorized", i);
      checked++;
    }
  }
  ck_assert_uint_gt (checked, len * 8);
}
END_TEST

START_TEST (test_mint_roundtrip)
{
  g_autofree char *plain = hub_auth_mint (SECRET, strlen (SECRET), "bob", FALSE, 0);
  g_autofree char *full = hub_auth_mint (SECRET, strlen (SECRET), "root", TRUE, NOW + 60);
  g_autoptr (HubAuthClaims) a = assert_accepted (plain);
  g_autoptr (HubAuthClaims) b = assert_accepted (full);
  g_autofree char *expired = hub_auth_mint (SECRET, strlen (SECRET), "bob", FALSE, NOW);

  ck_assert_str_eq (a->sub, "bob");
  ck_assert_msg (!a->admin && !a->has_exp, "plain mint: no admin, no exp");
  ck_assert_str_eq (b->sub, "root");
  ck_assert_msg (b->admin && b->has_exp, "full mint: admin and exp");
  ck_assert_int_eq (b->exp, NOW + 60);
  assert_refused (expired, "token expired");
}
END_TEST

START_TEST (test_mint_format)
{
  g_autofree char *token = hub_auth_mint ("s3cret", 6, "alice", TRUE, 1900000000);
  g_autofree char *plain = hub_auth_mint ("s3cret", 6, "alice", FALSE, -1);

  ck_assert_str_eq (token, PY_MINTED);
  /* {"alg":"HS256","typ":"JWT"} . {"sub":"alice"} */
  ck_assert_msg (
      g_str_has_prefix (plain, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9."),
      "minted without admin/exp should be exactly {\"sub\":\"alice\"}, got %s", plain);
}
END_TEST

START_TEST (test_mint_invalid_sub_refused)
{
  g_autofree char *at = hub_auth_mint (SECRET, strlen (SECRET), "@api", TRUE, 0);
  g_autofree char *quote = hub_auth_mint (SECRET, strlen (SECRET), "a\"b", FALSE, 0);

  assert_refused (at, "invalid sub");
  assert_refused (quote, "invalid sub");
}
END_TEST

START_TEST (test_python_token)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HubAuthClaims) claims =
      hub_auth_verify (PY_TOKEN, PY_SECRET, strlen (PY_SECRET), NOW, &error);
  g_autoptr (HubAuthClaims) wrong = NULL;

  ck_assert_msg (claims != NULL, "the Python-signed token should verify: %s",
                 error ? error->message : "");
  ck_assert_str_eq (claims->sub, "carol.w-1_x@example");
  ck_assert_msg (claims->admin, "admin:true");
  ck_assert_msg (claims->has_exp, "has exp");
  ck_assert_int_eq (claims->exp, 2000000000);

  wrong = hub_auth_verify (PY_TOKEN, PY_SECRET, strlen (PY_SECRET) - 1, NOW, &error);
  ck_assert_msg (wrong == NULL, "a shorter secret should not verify");
}
END_TEST

START_TEST (test_secret_with_nul)
{
  static const char secret[] = "ab\0cd";
  g_autofree char *token = hub_auth_mint (secret, 5, "alice", FALSE, 0);
  g_autoptr (HubAuthClaims) full = hub_auth_verify (token, secret, 5, NOW, NULL);
  g_autoptr (HubAuthClaims) cut = hub_auth_verify (token, secret, 2, NOW, NULL);

  ck_assert_msg (full != NULL, "the whole 5-byte secret should verify");
  ck_assert_msg (cut == NULL, "the secret must be used up to secret_len, not to the first NUL");
}
END_TEST

/* --- §12: the `rooms` claim and room tokens ------------------------------------------- */

START_TEST (test_rooms_claim)
{
  g_autofree char *token = sign (
      HS256_HEADER, "{\"sub\":\"alice\",\"rooms\":{\"lobby\":\"j\",\"dm.{user}.*\":\"jpc\"}}");
  g_autofree char *without = sign (HS256_HEADER, "{\"sub\":\"alice\"}");
  g_autoptr (HubAuthClaims) claims = assert_accepted (token);
  g_autoptr (HubAuthClaims) plain = assert_accepted (without);

  ck_assert_msg (claims->rooms != NULL, "the rooms claim should be parsed");
  ck_assert_uint_eq (hub_room_perms_lookup (claims->rooms, "lobby"), HUB_PERM_JOIN);
  ck_assert_uint_eq (hub_room_perms_lookup (claims->rooms, "dm.alice.x"), HUB_PERM_ALL);
  ck_assert_uint_eq (hub_room_perms_lookup (claims->rooms, "general"), HUB_PERM_NONE);
  ck_assert_msg (plain->rooms == NULL, "no rooms claim: NULL, every room allowed");
}
END_TEST

START_TEST (test_rooms_claim_invalid_refuses_token)
{
  assert_payload_refused ("{\"sub\":\"alice\",\"rooms\":[\"lobby\"]}", "invalid rooms claim");
  assert_payload_refused ("{\"sub\":\"alice\",\"rooms\":\"*\"}", "invalid rooms claim");
  assert_payload_refused ("{\"sub\":\"alice\",\"rooms\":null}", "invalid rooms claim");
  assert_payload_refused ("{\"sub\":\"alice\",\"rooms\":{\"a*b\":\"j\"}}", "invalid rooms claim");
  assert_payload_refused ("{\"sub\":\"alice\",\"rooms\":{\"lobby\":\"jx\"}}",
                          "invalid rooms claim");
  assert_payload_refused ("{\"sub\":\"alice\",\"rooms\":{\"lobby\":7}}", "invalid rooms claim");
}
END_TEST

static gboolean
room_token (const char *payload, const char *user, const char *room, guint *allow, GError **error)
{
  g_autofree char *token = sign (HS256_HEADER, payload);

  return hub_auth_verify_room_token (token, SECRET, strlen (SECRET), NOW, user, room, allow, error);
}

static void
room_token_refused (const char *payload, const char *user, const char *room, const char *what)
{
  g_autoptr (GError) error = NULL;
  guint allow = 99;

  ck_assert_msg (!room_token (payload, user, room, &allow, &error),
                 "room token %s for %s in %s should be refused (%s)", payload, user, room, what);
  ck_assert_msg (g_error_matches (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED),
                 "refusal should be unauthorized");
  ck_assert_msg (strstr (error->message, what) != NULL, "'%s' should mention '%s'", error->message,
                 what);
}

START_TEST (test_room_token_valid)
{
  guint allow = 0;
  g_autoptr (GError) error = NULL;

  ck_assert_msg (
      room_token ("{\"sub\":\"alice\",\"room\":\"team\"}", "alice", "team", &allow, &error),
      "valid room token refused: %s", error ? error->message : "?");
  ck_assert_uint_eq (allow, HUB_PERM_JOIN | HUB_PERM_PUBLISH);
  ck_assert (room_token ("{\"sub\":\"alice\",\"room\":\"team\",\"allow\":\"j\",\"exp\":1800000000}",
                         "alice", "team", &allow, NULL));
  ck_assert_uint_eq (allow, HUB_PERM_JOIN);
  ck_assert (room_token ("{\"sub\":\"alice\",\"room\":\"team\",\"allow\":\"\"}", "alice", "team",
                         &allow, NULL));
  ck_assert_uint_eq (allow, HUB_PERM_NONE);
  ck_assert (room_token ("{\"sub\":\"alice\",\"room\":\"team\",\"allow\":\"cpj\"}", "alice", "team",
                         &allow, NULL));
  ck_assert_uint_eq (allow, HUB_PERM_ALL);
}
END_TEST

START_TEST (test_room_token_refused)
{
  g_autoptr (GError) error = NULL;
  guint allow;

  room_token_refused ("{\"sub\":\"bob\",\"room\":\"team\"}", "alice", "team", "another user");
  room_token_refused ("{\"sub\":\"alice\",\"room\":\"other\"}", "alice", "team", "another room");
  room_token_refused ("{\"sub\":\"alice\"}", "alice", "team", "room missing");
  room_token_refused ("{\"sub\":\"alice\",\"room\":7}", "alice", "team", "room missing");
  room_token_refused ("{\"sub\":\"alice\",\"room\":\"team\",\"exp\":1600000000}", "alice", "team",
                      "expired");
  room_token_refused ("{\"sub\":\"alice\",\"room\":\"team\",\"allow\":\"x\"}", "alice", "team",
                      "allow");
  room_token_refused ("{\"sub\":\"alice\",\"room\":\"team\",\"allow\":null}", "alice", "team",
                      "allow");
  room_token_refused ("{\"sub\":\"alice\",\"room\":\"team\",\"allow\":[\"j\"]}", "alice", "team",
                      "allow");
  room_token_refused ("{\"room\":\"team\"}", "alice", "team", "invalid sub");
  /* Signed otherwise, and not a token at all. */
  {
    g_autofree char *other =
        sign_raw (HS256_HEADER, strlen (HS256_HEADER), "{\"sub\":\"alice\",\"room\":\"team\"}",
                  strlen ("{\"sub\":\"alice\",\"room\":\"team\"}"), "x");
    ck_assert (!hub_auth_verify_room_token (other, SECRET, strlen (SECRET), NOW, "alice", "team",
                                            &allow, &error));
    ck_assert_msg (strstr (error->message, "bad signature") != NULL, "%s", error->message);
    g_clear_error (&error);
    ck_assert (!hub_auth_verify_room_token ("garbage", SECRET, strlen (SECRET), NOW, "alice",
                                            "team", &allow, &error));
    ck_assert_msg (strstr (error->message, "malformed") != NULL, "%s", error->message);
  }
}
END_TEST

START_TEST (test_mint_claims_roundtrip)
{
  g_autoptr (JsonObject) claims = json_object_new ();
  g_autoptr (JsonObject) rooms = json_object_new ();
  g_autofree char *token = NULL;
  g_autoptr (HubAuthClaims) verified = NULL;
  guint allow = 0;

  json_object_set_string_member (rooms, "team-*", "jp");
  json_object_set_string_member (claims, "sub", "alice");
  json_object_set_object_member (claims, "rooms", json_object_ref (rooms));
  json_object_set_int_member (claims, "exp", NOW + 60);
  token = hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
  verified = assert_accepted (token);
  ck_assert_msg (verified->has_exp && verified->exp == NOW + 60, "exp kept");
  ck_assert_uint_eq (hub_room_perms_lookup (verified->rooms, "team-1"),
                     HUB_PERM_JOIN | HUB_PERM_PUBLISH);

  json_object_set_string_member (claims, "room", "team-1");
  json_object_set_string_member (claims, "allow", "j");
  g_free (token);
  token = hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
  ck_assert (hub_auth_verify_room_token (token, SECRET, strlen (SECRET), NOW, "alice", "team-1",
                                         &allow, NULL));
  ck_assert_uint_eq (allow, HUB_PERM_JOIN);
}
END_TEST

static void
add (Suite *s, const char *name, const TTest *test)
{
  TCase *tc = tcase_create (name);

  tcase_add_test (tc, test);
  suite_add_tcase (s, tc);
}

static Suite *
auth_suite (void)
{
  Suite *s = suite_create ("auth");

  add (s, "valid", test_valid);
  add (s, "valid_without_typ", test_valid_without_typ);
  add (s, "admin_true", test_admin_true);
  add (s, "admin_not_true", test_admin_not_true);
  add (s, "expired", test_expired);
  add (s, "exp_equal_now", test_exp_equal_now);
  add (s, "exp_future", test_exp_future);
  add (s, "exp_float", test_exp_float);
  add (s, "exp_not_number", test_exp_not_number);
  add (s, "missing_sub", test_missing_sub);
  add (s, "invalid_sub", test_invalid_sub);
  add (s, "alg_none", test_alg_none);
  add (s, "alg_other", test_alg_other);
  add (s, "tampered_payload", test_tampered_payload);
  add (s, "tampered_signature", test_tampered_signature);
  add (s, "truncated_signature", test_truncated_signature);
  add (s, "wrong_secret", test_wrong_secret);
  add (s, "part_count", test_part_count);
  add (s, "empty_parts", test_empty_parts);
  add (s, "invalid_base64", test_invalid_base64);
  add (s, "non_canonical_base64", test_non_canonical_base64);
  add (s, "header_not_json", test_header_not_json);
  add (s, "payload_not_object", test_payload_not_object);
  add (s, "payload_nul_and_utf8", test_payload_nul_and_utf8);
  add (s, "deeply_nested", test_deeply_nested);
  add (s, "size_limit", test_size_limit);
  add (s, "huge_token", test_huge_token);
  add (s, "null_token_and_error", test_null_token_and_error);
  add (s, "every_mutation_refused", test_every_mutation_refused);
  add (s, "mint_roundtrip", test_mint_roundtrip);
  add (s, "mint_format", test_mint_format);
  add (s, "mint_invalid_sub_refused", test_mint_invalid_sub_refused);
  add (s, "python_token", test_python_token);
  add (s, "secret_with_nul", test_secret_with_nul);
  add (s, "rooms_claim", test_rooms_claim);
  add (s, "rooms_claim_invalid_refuses_token", test_rooms_claim_invalid_refuses_token);
  add (s, "room_token_valid", test_room_token_valid);
  add (s, "room_token_refused", test_room_token_refused);
  add (s, "mint_claims_roundtrip", test_mint_claims_roundtrip);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (auth_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

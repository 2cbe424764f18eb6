/* fuzz-decode.c: libFuzzer target for the codec. Feeds arbitrary bytes to hub_codec_decode(),
 * as any client can, checks the decoder's contract, then encodes what the server would send
 * back (error, ok, welcome, delivered frames) so the encoders run on whatever the decoder let
 * through. Every encoded frame must be one JSON object, correctly framed for the wire. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub-codec.h"

#define FUZZ_TS 1732752000123

/* Stops the run (a crash libFuzzer reports and keeps the input of) when @cond is false. */
#define fuzz_assert(cond)                                                                          \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf (stderr, "fuzz-decode: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);   \
      abort ();                                                                                    \
    }                                                                                              \
  } while (0)

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* A g_critical () reached from client bytes is a bug (a g_return_if_fail the input got
   * past), so it aborts the run like any other crash. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  return 0;
}

/* Checks that @consumed (transfer full) is a server text frame whose payload is one JSON
 * object with a string "type" equal to @type. */
static void
check_frame (HubFrame *consumed, const char *type)
{
  g_autoptr (HubFrame) frame = consumed;
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize payload_len = 0, wire_len = 0, header_len, declared_len;
  const char *payload;
  const guint8 *wire;
  JsonNode *root;

  fuzz_assert (frame != NULL);
  payload = hub_frame_payload (frame, &payload_len);
  wire = hub_frame_wire (frame, &wire_len);
  fuzz_assert (payload != NULL && wire != NULL);
  fuzz_assert (strlen (payload) == payload_len);

  /* RFC 6455: FIN + text opcode, unmasked, length in 7, 7+16 or 7+64 bits. */
  fuzz_assert (wire_len >= 2 && wire[0] == 0x81 && (wire[1] & 0x80) == 0);
  declared_len = wire[1] & 0x7f;
  header_len = 2;
  if (declared_len == 126) {
    fuzz_assert (wire_len >= 4);
    declared_len = ((gsize)wire[2] << 8) | wire[3];
    header_len = 4;
  } else if (declared_len == 127) {
    fuzz_assert (wire_len >= 10);
    declared_len = 0;
    for (int i = 2; i < 10; i++)
      declared_len = (declared_len << 8) | wire[i];
    header_len = 10;
  }
  fuzz_assert (declared_len == payload_len);
  fuzz_assert (wire_len == header_len + payload_len);
  fuzz_assert (memcmp (wire + header_len, payload, payload_len) == 0);

  fuzz_assert (json_parser_load_from_data (parser, payload, (gssize)payload_len, NULL));
  root = json_parser_get_root (parser);
  fuzz_assert (root != NULL && JSON_NODE_HOLDS_OBJECT (root));
  fuzz_assert (g_strcmp0 (json_object_get_string_member_with_default (json_node_get_object (root),
                                                                      "type", NULL),
                          type) == 0);
}

/* The ok reply echoes the decoded fields back, so every string the decoder kept goes
 * through the encoder's escaping. */
static JsonObject *
echo_fields (const HubRequest *req)
{
  JsonObject *fields = json_object_new ();
  const char *const strings[][2] = {
      {"user", req->user}, {"device", req->device}, {"token", req->token},
      {"room", req->room}, {"name", req->name},     {"to", req->to},
  };

  json_object_set_string_member (fields, "request", hub_request_type_to_string (req->type));
  for (gsize i = 0; i < G_N_ELEMENTS (strings); i++) {
    if (strings[i][1] != NULL)
      json_object_set_string_member (fields, strings[i][0], strings[i][1]);
  }
  if (req->users != NULL) {
    JsonArray *users = json_array_new ();
    for (guint i = 0; i < req->users->len; i++)
      json_array_add_string_element (users, g_ptr_array_index (req->users, i));
    json_object_set_array_member (fields, "users", users);
  }
  if (req->payload != NULL)
    json_object_set_member (fields, "payload", json_node_copy (req->payload));
  json_object_set_int_member (fields, "since", req->since);
  if (req->has_limit)
    json_object_set_int_member (fields, "limit", req->limit);
  json_object_set_string_member (fields, "status", hub_status_to_string (req->status));
  return fields;
}

/* Encodes what the server sends for @req besides its ok reply. */
static void
encode_deliveries (const HubRequest *req, const char *id_json)
{
  switch (req->type) {
    case HUB_REQ_HELLO: {
      g_autoptr (GPtrArray) rooms = g_ptr_array_new ();
      HubWelcome w = {
          .conn = "c1",
          .user = req->user != NULL ? req->user : "fuzz",
          .device = req->device != NULL ? req->device : "default",
          .node = "node-1",
          .server = "hub-server fuzz",
          .heartbeat_s = 30,
          .max_message_bytes = 65536,
      };
      if (req->resume != NULL) {
        GHashTableIter iter;
        gpointer room, seq;
        g_hash_table_iter_init (&iter, req->resume);
        while (g_hash_table_iter_next (&iter, &room, &seq)) {
          gint64 last = *(const gint64 *)seq;
          fuzz_assert (last >= 0);
          g_ptr_array_add (rooms, room);
          /* As the server does (hub-dispatcher-hello.c): G_MAXINT64 has no successor. */
          check_frame (
              hub_encode_resumed (room, last < G_MAXINT64 ? last + 1 : last, last, TRUE, 1),
              "resumed");
        }
      }
      w.n_rooms = rooms->len;
      g_ptr_array_add (rooms, NULL);
      w.rooms = (const char *const *)rooms->pdata;
      check_frame (hub_encode_welcome (id_json, &w), "welcome");
      break;
    }
    case HUB_REQ_PUBLISH:
      check_frame (hub_encode_message (req->room, 1, "fuzz", "default", FUZZ_TS, req->payload),
                   "message");
      break;
    case HUB_REQ_DIRECT:
      check_frame (hub_encode_direct ("fuzz", req->to, FUZZ_TS, req->payload), "direct");
      break;
    case HUB_REQ_MULTICAST:
      check_frame (hub_encode_multicast ("fuzz", FUZZ_TS, req->payload), "multicast");
      break;
    case HUB_REQ_BROADCAST:
      check_frame (hub_encode_broadcast ("fuzz", FUZZ_TS, req->payload), "broadcast");
      break;
    case HUB_REQ_TYPING:
      check_frame (hub_encode_typing (req->room, "fuzz"), "typing");
      break;
    case HUB_REQ_JOIN:
    case HUB_REQ_LEAVE:
      check_frame (
          hub_encode_presence (req->type == HUB_REQ_JOIN ? "join" : "leave", req->room, "fuzz"),
          "presence");
      break;
    case HUB_REQ_STATUS:
      check_frame (hub_encode_status ("fuzz", req->status), "status");
      break;
    case HUB_REQ_HISTORY: {
      g_autoptr (JsonNode) payload = json_from_string ("{\"text\":\"hi\"}", NULL);
      g_autoptr (HubFrame) stored =
          hub_encode_message (req->room, 1, "fuzz", "default", FUZZ_TS, payload);
      check_frame (hub_encode_history_ok (id_json, &stored, 1, FALSE, TRUE), "ok");
      break;
    }
    case HUB_REQ_PING:
      check_frame (hub_encode_pong (id_json, FUZZ_TS), "pong");
      break;
    default:
      break;
  }
}

/* The envelope read by the scan alone (the frames the server answers without
 * executing them) is, where the scan is sure, what decoding found. Only what
 * the transport passes on is peeked: valid UTF-8 without NUL bytes. */
static void
check_peek (const char *data, size_t size, const HubDecodeResult *result)
{
  HubPeek peek;

  if (memchr (data, '\0', size) != NULL || !g_utf8_validate (data, (gssize)size, NULL))
    return;
  hub_codec_peek (data, size, &peek);
  /* json-glib may still refuse what the strict scan accepts ("invalid JSON"). */
  if (peek.sure &&
      !(result->message != NULL && g_str_has_prefix (result->message, "invalid JSON"))) {
    fuzz_assert (peek.envelope_ok == result->envelope_ok);
    fuzz_assert (g_strcmp0 (peek.id_json, result->id_json) == 0);
    if (peek.envelope_ok)
      fuzz_assert (peek.type == result->type);
  }
  hub_peek_clear (&peek);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  HubDecodeResult result = {0};

  hub_codec_decode ((const char *)data, size, &result);

  if (result.request != NULL) {
    g_autoptr (JsonObject) fields = NULL;

    /* Success: a known type, no error code, the payload of every message an object. */
    fuzz_assert (result.code == HUB_ERROR_NONE);
    fuzz_assert (result.envelope_ok);
    fuzz_assert (result.request->type == result.type);
    fuzz_assert (result.type > HUB_REQ_UNKNOWN && result.type < HUB_REQ_N_TYPES);
    fuzz_assert (g_strcmp0 (result.request->id_json, result.id_json) == 0);
    if (result.request->payload != NULL)
      fuzz_assert (JSON_NODE_HOLDS_OBJECT (result.request->payload));
    /* Every name the decoder lets through obeys PROTOCOL.md §2. */
    if (result.request->user != NULL)
      fuzz_assert (hub_name_is_valid (result.request->user));
    if (result.request->device != NULL)
      fuzz_assert (hub_name_is_valid (result.request->device));
    if (result.request->room != NULL)
      fuzz_assert (hub_name_is_valid (result.request->room));
    if (result.request->to != NULL)
      fuzz_assert (hub_name_is_valid (result.request->to));
    for (guint i = 0; result.request->users != NULL && i < result.request->users->len; i++)
      fuzz_assert (hub_name_is_valid (g_ptr_array_index (result.request->users, i)));

    fields = echo_fields (result.request);
    check_frame (hub_encode_ok (result.id_json, fields), "ok");
    encode_deliveries (result.request, result.id_json);
  } else {
    /* Failure is never silent: a code, and the reply carrying it encodes. */
    fuzz_assert (result.code != HUB_ERROR_NONE && result.code < HUB_ERROR_N_CODES);
    fuzz_assert (hub_error_code_to_string (result.code) != NULL);
    check_frame (hub_encode_error (result.id_json, result.code,
                                   result.message != NULL ? result.message
                                                          : hub_error_code_to_string (result.code)),
                 "error");
  }

  /* Before hello, any well-formed envelope is answered not_authenticated (§2). */
  if (result.envelope_ok)
    check_frame (hub_encode_error (result.id_json, HUB_ERROR_NOT_AUTHENTICATED, "say hello first"),
                 "error");

  check_peek ((const char *)data, size, &result);
  hub_decode_result_clear (&result);
  return 0;
}

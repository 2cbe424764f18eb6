/* hub-client-peek.h: HubClient's in-place reader of received frames (private
 * to libhub). Where hub-client-scan.h builds the JsonNode tree of a frame,
 * this one builds nothing: it walks the text once, checks that it is one
 * well-formed JSON object, and hands back where the few members HubClient's
 * fast path needs sit in the text. A program that only counts what it
 * receives (hub-loadgen) so pays no allocation per frame. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Spans of the frame's text (not NUL-terminated); NULL and 0 when absent. */
typedef struct {
  const char *type, *room, *from, *user;
  gsize type_len, room_len, from_len, user_len;
  const char *payload; /* the payload's JSON text, whatever its kind */
  gsize payload_len;
  gint64 seq;      /* -1 when absent */
  gboolean has_id; /* an "id" member of any kind: a reply */
  gint64 id;       /* its value when it is a non-negative integer, else -1 */
  /* The payload's top-level integer member named payload_int_name (set by
   * the caller, NULL: none), when it is there once and is an integer of at
   * most 18 digits. */
  const char *payload_int_name;
  gsize payload_int_name_len; /* its length (0: hub_client_peek() measures it) */
  gboolean has_payload_int;
  gint64 payload_int;
} HubClientPeek;

/* Reads @text (@len bytes) into @peek (whose payload_int_name the caller
 * sets; the rest is filled in). TRUE when it is one JSON object (and
 * whitespace) whose structure is well formed — strings closed and free of
 * control characters, escapes valid, numbers in JSON's grammar, brackets
 * balanced and at most 32 deep — and whose members of interest read
 * exactly: "type", "room", "from", "user" strings without escapes (a value of
 * another kind is reported absent, as json-glib's string getters do), "seq" a
 * non-negative integer of at most 18 digits, none of them twice, no top-level
 * member name with an escape. FALSE otherwise: the caller then reads the frame the slow way
 * (JsonParser), which keeps every odd case on json-glib's behaviour. Strings
 * are not checked for valid UTF-8 (the names read are compared with ASCII
 * names by their users; the tree path checks it). */
gboolean hub_client_peek (const char *text, gsize len, HubClientPeek *peek);

/* As hub_client_peek(), remembering per thread the frames it read well
 * lately (not replies; 48 to 512 bytes; 256 slots chosen by a hash of a few
 * of the frame's words): a frame of the same bytes read again on this thread
 * is answered by a compare and a copy of the spans, rebased onto @text. The
 * server encodes a message once and sends the same bytes to every recipient,
 * and a program that holds many of them on one thread (hub-loadgen) reads
 * each message once per member: every copy is still checked byte for byte
 * against one that was read whole. */
gboolean hub_client_peek_again (const char *text, gsize len, HubClientPeek *peek);

/* Adds to @into the top-level members of the JSON object @text (@len bytes)
 * that are strings, integers, true, false or null, as JsonParser would read
 * them; arrays and objects are checked and left out. FALSE (@into then holds
 * some of them) when @text is not a well-formed object, or a member this
 * reader would not read exactly: a string or a name with an escape, a number
 * with a fraction, an exponent or more than 18 digits. */
gboolean hub_client_peek_scalars (const char *text, gsize len, JsonObject *into);

G_END_DECLS

/* hub-client-scan.h: HubClient's fast reader of received frames (private to
 * libhub). It builds the same JsonNode tree json-glib's JsonParser would, for
 * the plain JSON servers send, and refuses anything else so that the caller
 * falls back to JsonParser. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The frame @text (@len bytes, not NUL-terminated) as a sealed JSON object
 * node, equal to what json_parser_new_immutable() would load, or NULL when it
 * is not an object this reader takes: a string with a \u escape or a control
 * character or invalid UTF-8, a number with a fraction, an exponent, a leading
 * zero or more than 18 digits, an empty or duplicate member name, nesting deeper than 32,
 * anything that is not strict JSON. NULL means "use JsonParser", never "not
 * JSON". (transfer full) */
JsonNode *hub_client_scan_frame (const char *text, gsize len);

G_END_DECLS

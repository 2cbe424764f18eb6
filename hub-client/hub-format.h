/* hub-format.h: the lines hub-client prints, for a person reading at a
 * glance: events (`12:03:04 [general #58] alice (phone): hi`), replies to
 * commands, connection changes and errors. Pure functions, optional ANSI
 * colours, unit-tested. */
#pragma once

#include <hub/hub-client.h>

G_BEGIN_DECLS

/* "HH:MM:SS" local time of @unix_ms (≤ 0: now). (transfer full) */
char *hub_format_time (gint64 unix_ms);

/* The text a payload shows: its "text" member, else the payload as compact JSON. (transfer full) */
char *hub_format_payload (JsonObject *payload);

/* One line per event (NULL for an event not worth a line). (transfer full) (nullable) */
char *hub_format_event (const HubClientEvent *event, gboolean colour);
/* A `message` frame (live or from history). (transfer full) */
char *hub_format_message (JsonObject *message, gboolean colour);
/* A connection change (NULL when the welcome line or the status says it):
 * "* cannot connect to URL: WHY; retry 2 in 0.4 s", "* connection lost: the
 * server is shutting down (close code 1001)"… @why (nullable) replaces the
 * change's own reason (a probe's plain words); @show_retry: the retry's
 * number and delay, else just "reconnecting". (transfer full) (nullable) */
char *hub_format_state (const HubClientStateChange *change, const char *url, const char *why,
                        gboolean show_retry, gboolean colour);
/* What a close code means, in words; NULL for codes PROTOCOL.md does not name. (transfer none) */
const char *hub_format_close_code (guint code);
/* "expires at HH:MM:SS (in 41 min)" for @expires_ts (Unix ms), seen at
 * @now_ms (≤ 0: now); "does not expire" for 0. (transfer full) */
char *hub_format_deadline (gint64 expires_ts, gint64 now_ms);
/* /info's line about the connection: "* connected to NODE as USER (DEVICE),
 * connection CONN; token expires at …". (transfer full) */
char *hub_format_connection (HubClient *client, const char *node, gboolean colour);
/* A local problem ("! …": a usage error, a message not sent). (transfer full) */
char *hub_format_problem (gboolean colour, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* The `ok` reply to a request of @type about @room (nullable), possibly several lines joined by
 * '\n' (no final newline); NULL when the reply says nothing worth a line
 * (publish, typing: their effect shows as events). (transfer full) (nullable) */
char *hub_format_reply (const char *type, const char *room, JsonObject *reply, gboolean colour);
/* "error CODE: MESSAGE". (transfer full) */
char *hub_format_error (const char *code, const char *message, gboolean colour);
/* A local remark ("* …"). (transfer full) */
char *hub_format_info (gboolean colour, const char *format, ...) G_GNUC_PRINTF (2, 3);

G_END_DECLS

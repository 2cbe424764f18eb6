/* hub-error.h: the one error domain of libhub. Codes mirror PROTOCOL.md §2 and
 * each has the exact wire string clients see in `error` frames. */
#pragma once

#include <glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

#define HUB_ERROR (hub_error_quark ())
HUB_API
GQuark hub_error_quark (void);

typedef enum {
  HUB_ERROR_NONE = 0, /* not an error; never put in a GError */
  HUB_ERROR_BAD_REQUEST,
  HUB_ERROR_UNKNOWN_TYPE,
  HUB_ERROR_NOT_AUTHENTICATED,
  HUB_ERROR_UNAUTHORIZED,
  HUB_ERROR_FORBIDDEN,
  HUB_ERROR_ROOM_NOT_FOUND,
  HUB_ERROR_ROOM_EXISTS,
  HUB_ERROR_NOT_MEMBER,
  HUB_ERROR_USER_OFFLINE,
  HUB_ERROR_RATE_LIMITED,
  HUB_ERROR_TOO_MANY_ROOMS,
  HUB_ERROR_INVALID_NAME,
  HUB_ERROR_INTERNAL,
  HUB_ERROR_N_CODES
} HubErrorCode;

/* The wire string of @code ("bad_request", …). (transfer none) */
HUB_API
const char *hub_error_code_to_string (HubErrorCode code);
/* The code for a wire string, or HUB_ERROR_NONE when unknown. */
HUB_API
HubErrorCode hub_error_code_from_string (const char *str);

/* WebSocket close codes of PROTOCOL.md §9. */
typedef enum {
  HUB_CLOSE_NORMAL = 1000,
  HUB_CLOSE_GOING_AWAY = 1001,
  HUB_CLOSE_UNSUPPORTED_DATA = 1003,
  HUB_CLOSE_INVALID_PAYLOAD = 1007,
  HUB_CLOSE_MESSAGE_TOO_BIG = 1009,
  HUB_CLOSE_HELLO_TIMEOUT = 4000,
  HUB_CLOSE_UNAUTHORIZED = 4001,
  HUB_CLOSE_LIVENESS = 4002,
  HUB_CLOSE_TOKEN_EXPIRED = 4003, /* §12 */
  HUB_CLOSE_RATE_ABUSE = 4008,
  HUB_CLOSE_SLOW_CONSUMER = 4009,
  HUB_CLOSE_DISCONNECTED = 4010, /* §13: by the server API */
} HubCloseCode;

G_END_DECLS

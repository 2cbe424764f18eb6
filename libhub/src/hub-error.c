/* hub-error.c: the HUB_ERROR domain and the wire strings of its codes
 * (PROTOCOL.md §2). The table is the one place a code meets its string. */
#include "hub/hub-error.h"

#include <string.h>

/* clang-format would put spaces around the dashes of the quark's name. */
// clang-format off
G_DEFINE_QUARK (hub-error-quark, hub_error)
// clang-format on

/* Indexed by HubErrorCode; HUB_ERROR_NONE has no wire string. */
static const char *const code_strings[HUB_ERROR_N_CODES] = {
    [HUB_ERROR_NONE] = NULL,
    [HUB_ERROR_BAD_REQUEST] = "bad_request",
    [HUB_ERROR_UNKNOWN_TYPE] = "unknown_type",
    [HUB_ERROR_NOT_AUTHENTICATED] = "not_authenticated",
    [HUB_ERROR_UNAUTHORIZED] = "unauthorized",
    [HUB_ERROR_FORBIDDEN] = "forbidden",
    [HUB_ERROR_ROOM_NOT_FOUND] = "room_not_found",
    [HUB_ERROR_ROOM_EXISTS] = "room_exists",
    [HUB_ERROR_NOT_MEMBER] = "not_member",
    [HUB_ERROR_USER_OFFLINE] = "user_offline",
    [HUB_ERROR_RATE_LIMITED] = "rate_limited",
    [HUB_ERROR_TOO_MANY_ROOMS] = "too_many_rooms",
    [HUB_ERROR_INVALID_NAME] = "invalid_name",
    [HUB_ERROR_INTERNAL] = "internal",
};

/* Anything outside the table (HUB_ERROR_NONE, a stray int) maps to "internal":
 * an error frame must always carry a code a client knows. */
const char *
hub_error_code_to_string (HubErrorCode code)
{
  if ((int)code <= HUB_ERROR_NONE || code >= HUB_ERROR_N_CODES)
    return code_strings[HUB_ERROR_INTERNAL];
  return code_strings[code];
}

HubErrorCode
hub_error_code_from_string (const char *str)
{
  if (str == NULL)
    return HUB_ERROR_NONE;
  for (int code = HUB_ERROR_NONE + 1; code < HUB_ERROR_N_CODES; code++) {
    if (strcmp (str, code_strings[code]) == 0)
      return (HubErrorCode)code;
  }
  return HUB_ERROR_NONE;
}

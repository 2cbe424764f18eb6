/* embed-core.c: a program that wants only the protocol links only the core (pkg-config
 * libhub-core: GLib and json-glib, no sockets). It decodes a request the way hub-server
 * would and prints the error frame it gets. The install test builds and runs it. */
#include <hub/hub-core.h>
#include <stdio.h>
#include <string.h>

int
main (void)
{
  const char *text = "{\"type\":\"join\",\"id\":1}"; /* no room: bad_request */
  HubDecodeResult result;
  gsize len = 0;

  hub_codec_decode (text, strlen (text), &result);
  g_autoptr (HubFrame) frame = hub_encode_error (result.id_json, result.code, result.message);
  const char *payload = hub_frame_payload (frame, &len);
  printf ("libhub-core %s: %.*s\n", hub_version_string (), (int)len, payload);
  hub_decode_result_clear (&result);
  return 0;
}

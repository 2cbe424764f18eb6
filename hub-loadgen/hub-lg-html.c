/* hub-lg-html.c: the JSON report poured into the page template. */
#include "hub-lg-html.h"

#include <string.h>

/* hub-lg-report.html, NUL-terminated (generated at build time by embed-file.cmake). */
extern const char hub_lg_report_html[];

#define MARKER "/*HUB_LG_REPORT_JSON*/"

char *
hub_lg_report_to_html (const HubLgReport *report)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *json = NULL;
  const char *at = strstr (hub_lg_report_html, MARKER);
  GString *page = g_string_new (NULL);

  json_node_take_object (root, hub_lg_report_to_json (report));
  json_generator_set_root (generator, root);
  json = json_generator_to_data (generator, NULL);
  g_assert (at != NULL);
  g_string_append_len (page, hub_lg_report_html, at - hub_lg_report_html);
  /* Inside <script>, "</" could end the element: JSON lets it be written "<\/". */
  for (const char *p = json; *p != '\0'; p++) {
    if (p[0] == '<' && p[1] == '/')
      g_string_append (page, "<\\");
    else
      g_string_append_c (page, *p);
  }
  g_string_append (page, at + strlen (MARKER));
  return g_string_free (page, FALSE);
}

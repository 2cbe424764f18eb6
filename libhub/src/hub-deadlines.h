/* hub-deadlines.h: the tokens' deadlines of a node's connections (PROTOCOL.md
 * §12): one clock timer for all of them, armed for the earliest, so a node with
 * many expiring tokens keeps one timer, not one per connection. */
#pragma once

#include "hub/hub-clock.h"
#include "hub/hub-connection.h"

G_BEGIN_DECLS

typedef struct _HubDeadlines HubDeadlines;

/* Called once per connection whose deadline came, in deadline order. */
typedef void (*HubDeadlineFunc) (HubConnection *conn, gpointer user_data);

HubDeadlines *hub_deadlines_new (HubClock *clock, HubDeadlineFunc func, gpointer user_data);
void hub_deadlines_free (HubDeadlines *dl);
/* Sets @conn's deadline to @unix_ms (0: none), replacing any earlier one. The
 * connection is not referenced: hub_deadlines_set (dl, conn, 0) before it goes. */
void hub_deadlines_set (HubDeadlines *dl, HubConnection *conn, gint64 unix_ms);
guint hub_deadlines_size (HubDeadlines *dl);

G_END_DECLS

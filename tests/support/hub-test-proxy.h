/* hub-test-proxy.h: a TCP proxy between WebSocket clients and a real
 * hub-server that reads the server's frames and, for one chosen device (the
 * connection whose welcome names target_user/target_device), can drop one
 * `message` frame (a gap on a live connection) or cut the connection after a
 * number of them; it records what it forwarded to that device and its join
 * replies, so a test knows the truth of what the device must have missed.
 * Blocking GSockets, a thread per direction; every wait ends with
 * hub_test_proxy_free(). */
#pragma once

#include <check.h>
#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _HubTestProxy HubTestProxy;

struct _HubTestProxy {
  GSocket *listener;    /* (owned) */
  GCancellable *cancel; /* (owned) stops the acceptor */
  guint16 port, server_port;
  GThread *acceptor; /* (owned) */
  GMutex lock;
  GPtrArray *pairs; /* Pair* (owned) */
  gboolean stopping;
  /* policy, for the connection that says welcome to target_user/target_device */
  const char *target_user, *target_device;
  const char *drop_room;
  gint64 drop_seq;
  guint cut_after; /* message frames; 0: never */
  /* what happened to the target (under lock) */
  GHashTable *forwarded; /* room (owned) → GHashTable of seqs (as pointers) */
  GHashTable *baseline;  /* room (owned) → join reply seq + 1 (as pointer) */
  guint dropped, cut, targets;
};

/* Listens on a free port of 127.0.0.1 and forwards to 127.0.0.1:@server_port. */
HubTestProxy *hub_test_proxy_start (guint16 server_port, const char *target_user,
                                    const char *target_device);
void hub_test_proxy_free (HubTestProxy *p);

/* "ROOM SEQ" strings the target should have had (every seq after its join
 * reply up to the room's final seq, which @member — any member of the rooms —
 * asks the server for) and was not forwarded. (transfer full) */
GHashTable *hub_test_proxy_missing (HubTestProxy *p, guint16 server_port, const char *member,
                                    const char *const *rooms);

G_END_DECLS

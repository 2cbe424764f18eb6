/* hub-test-proxy.c: the frame-reading proxy of hub-test-proxy.h. */
#include "hub-test-proxy.h"

/* IPPROTO_TCP, TCP_NODELAY: GLib's portable networking header. */
#include <gio/gnetworking.h>
#include <string.h>

#include "hub-test-server.h"
#include "hub-test-ws.h"

/* Blocking GSockets, one thread per direction; a cut shuts both sockets
 * down and cancels the pair's waits (which wakes them on every platform).
 * The sockets are closed by proxy_free, after both threads ended. */
typedef struct {
  HubTestProxy *proxy;
  GSocket *client, *server; /* (owned) */
  GCancellable *cancel;     /* (owned) */
  GThread *up, *down;       /* (owned) */
} Pair;

/* GSocket retries EINTR and never raises SIGPIPE (MSG_NOSIGNAL where it exists). */
static gboolean
write_all (GSocket *sock, const guint8 *data, gsize len, GCancellable *cancel)
{
  while (len > 0) {
    gssize n = g_socket_send (sock, (const char *)data, len, cancel, NULL);

    if (n <= 0)
      return FALSE;
    data += n;
    len -= (gsize)n;
  }
  return TRUE;
}

static gboolean
read_exact (GSocket *sock, guint8 *buf, gsize len, GCancellable *cancel)
{
  while (len > 0) {
    gssize n = g_socket_receive (sock, (char *)buf, len, cancel, NULL);

    if (n <= 0)
      return FALSE;
    buf += n;
    len -= (gsize)n;
  }
  return TRUE;
}

static void
pair_cut (Pair *pair)
{
  g_socket_shutdown (pair->client, TRUE, TRUE, NULL);
  g_socket_shutdown (pair->server, TRUE, TRUE, NULL);
  g_cancellable_cancel (pair->cancel);
}

/* Client → server: bytes as they come. */
static gpointer
pump_up (gpointer data)
{
  Pair *pair = data;
  guint8 buf[16384];
  gssize n;

  while ((n = g_socket_receive (pair->client, (char *)buf, sizeof buf, pair->cancel, NULL)) > 0) {
    if (!write_all (pair->server, buf, (gsize)n, pair->cancel))
      break;
  }
  pair_cut (pair);
  return NULL;
}

static void
record (HubTestProxy *p, GHashTable *table, const char *room, gint64 value)
{
  GHashTable *seqs = g_hash_table_lookup (table, room);

  if (seqs == NULL) {
    seqs = g_hash_table_new (g_direct_hash, g_direct_equal);
    g_hash_table_insert (table, g_strdup (room), seqs);
  }
  g_hash_table_add (seqs, GSIZE_TO_POINTER ((gsize)value));
}

/* Looks at one server text frame for the target; FALSE: do not forward it.
 * Sets *cut when the connection must end after this frame. */
static gboolean
inspect (HubTestProxy *p, gboolean *is_target, const char *text, gsize len, gboolean *cut)
{
  g_autoptr (JsonObject) frame = hub_test_json_parse (text, len);
  const char *type = frame != NULL ? hub_test_json_string (frame, "type") : NULL;
  gboolean forward = TRUE;

  if (type == NULL)
    return TRUE;
  g_mutex_lock (&p->lock);
  if (strcmp (type, "welcome") == 0) {
    *is_target = g_strcmp0 (hub_test_json_string (frame, "user"), p->target_user) == 0 &&
                 g_strcmp0 (hub_test_json_string (frame, "device"), p->target_device) == 0;
    p->targets += *is_target;
  } else if (*is_target && strcmp (type, "ok") == 0 && json_object_has_member (frame, "members") &&
             json_object_has_member (frame, "seq")) {
    const char *room = hub_test_json_string (frame, "room");

    if (!g_hash_table_contains (p->baseline, room))
      g_hash_table_insert (p->baseline, g_strdup (room),
                           GSIZE_TO_POINTER ((gsize)json_object_get_int_member (frame, "seq") + 1));
  } else if (*is_target && strcmp (type, "message") == 0) {
    const char *room = hub_test_json_string (frame, "room");
    gint64 seq = json_object_get_int_member (frame, "seq");

    if (p->drop_room != NULL && strcmp (room, p->drop_room) == 0 && seq == p->drop_seq &&
        p->dropped == 0) {
      p->dropped++;
      forward = FALSE;
    } else {
      GHashTable *seqs;
      guint n = 0;
      GHashTableIter iter;

      record (p, p->forwarded, room, seq);
      g_hash_table_iter_init (&iter, p->forwarded);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&seqs))
        n += g_hash_table_size (seqs);
      if (p->cut_after > 0 && n >= p->cut_after && p->cut == 0) {
        p->cut++;
        *cut = TRUE;
      }
    }
  }
  g_mutex_unlock (&p->lock);
  return forward;
}

/* Server → client: the HTTP answer, then frame by frame. */
static gpointer
pump_down (gpointer data)
{
  Pair *pair = data;
  HubTestProxy *p = pair->proxy;
  GByteArray *head = g_byte_array_new ();
  gboolean is_target = FALSE;
  guint8 c;

  /* The upgrade answer, byte by byte up to its blank line. */
  while (head->len < 8192 && read_exact (pair->server, &c, 1, pair->cancel)) {
    g_byte_array_append (head, &c, 1);
    if (head->len >= 4 && memcmp (head->data + head->len - 4, "\r\n\r\n", 4) == 0)
      break;
  }
  if (!write_all (pair->client, head->data, head->len, pair->cancel))
    goto out;
  for (;;) {
    guint8 hdr[14];
    gsize hlen = 2;
    guint64 plen;
    g_autofree guint8 *frame = NULL;
    gboolean cut = FALSE, forward = TRUE;

    if (!read_exact (pair->server, hdr, 2, pair->cancel))
      break;
    plen = hdr[1] & 0x7f;
    if (plen == 126) {
      if (!read_exact (pair->server, hdr + 2, 2, pair->cancel))
        break;
      plen = (guint64)hdr[2] << 8 | hdr[3];
      hlen = 4;
    } else if (plen == 127) {
      if (!read_exact (pair->server, hdr + 2, 8, pair->cancel))
        break;
      plen = 0;
      for (int i = 0; i < 8; i++)
        plen = plen << 8 | hdr[2 + i];
      hlen = 10;
    }
    if (plen > (16u << 20))
      break;
    frame = g_malloc (hlen + plen + 1);
    memcpy (frame, hdr, hlen);
    if (!read_exact (pair->server, frame + hlen, plen, pair->cancel))
      break;
    frame[hlen + plen] = '\0';
    /* A whole text frame from the server (never masked, never fragmented here). */
    if ((hdr[0] & 0x8f) == 0x81)
      forward = inspect (p, &is_target, (const char *)frame + hlen, plen, &cut);
    if (forward && !write_all (pair->client, frame, hlen + plen, pair->cancel))
      break;
    if (cut)
      break;
  }
out:
  g_byte_array_unref (head);
  pair_cut (pair);
  return NULL;
}

static gpointer
accept_loop (gpointer data)
{
  HubTestProxy *p = data;

  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) server_addr = g_inet_socket_address_new (lo, p->server_port);

  for (;;) {
    /* Woken by proxy_free's cancel (a blocked accept cannot be shut down portably). */
    g_autoptr (GSocket) client = g_socket_accept (p->listener, p->cancel, NULL);
    g_autoptr (GSocket) server = NULL;
    Pair *pair;

    if (client == NULL)
      return NULL;
    server = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    if (server == NULL || !g_socket_connect (server, server_addr, p->cancel, NULL)) {
      if (g_cancellable_is_cancelled (p->cancel))
        return NULL;
      continue;
    }
    g_socket_set_option (client, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    g_socket_set_option (server, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    g_mutex_lock (&p->lock);
    if (p->stopping) {
      g_mutex_unlock (&p->lock);
      return NULL;
    }
    pair = g_new0 (Pair, 1);
    pair->proxy = p;
    pair->client = g_steal_pointer (&client);
    pair->server = g_steal_pointer (&server);
    pair->cancel = g_cancellable_new ();
    g_ptr_array_add (p->pairs, pair);
    pair->up = g_thread_new ("proxy-up", pump_up, pair);
    pair->down = g_thread_new ("proxy-down", pump_down, pair);
    g_mutex_unlock (&p->lock);
  }
}

static void
seqs_free (gpointer data)
{
  g_hash_table_unref (data);
}

HubTestProxy *
hub_test_proxy_start (guint16 server_port, const char *target_user, const char *target_device)
{
  HubTestProxy *p = g_new0 (HubTestProxy, 1);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  p->server_port = server_port;
  p->target_user = target_user;
  p->target_device = target_device;
  g_mutex_init (&p->lock);
  p->pairs = g_ptr_array_new ();
  p->forwarded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, seqs_free);
  p->baseline = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  p->cancel = g_cancellable_new ();
  p->listener =
      g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  if (p->listener != NULL)
    g_socket_set_listen_backlog (p->listener, 128);
  ck_assert_msg (p->listener != NULL && g_socket_bind (p->listener, any_port, FALSE, &error) &&
                     g_socket_listen (p->listener, &error) &&
                     (bound = g_socket_get_local_address (p->listener, &error)) != NULL,
                 "the proxy should listen on 127.0.0.1: %s", error ? error->message : "?");
  p->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  p->acceptor = g_thread_new ("proxy-accept", accept_loop, p);
  return p;
}

void
hub_test_proxy_free (HubTestProxy *p)
{
  g_mutex_lock (&p->lock);
  p->stopping = TRUE;
  g_mutex_unlock (&p->lock);
  g_cancellable_cancel (p->cancel);
  g_thread_join (p->acceptor);
  g_socket_close (p->listener, NULL);
  for (guint i = 0; i < p->pairs->len; i++)
    pair_cut (g_ptr_array_index (p->pairs, i));
  for (guint i = 0; i < p->pairs->len; i++) {
    Pair *pair = g_ptr_array_index (p->pairs, i);

    g_thread_join (pair->up);
    g_thread_join (pair->down);
    g_object_unref (pair->client);
    g_object_unref (pair->server);
    g_object_unref (pair->cancel);
    g_free (pair);
  }
  g_object_unref (p->listener);
  g_object_unref (p->cancel);
  g_ptr_array_unref (p->pairs);
  g_hash_table_unref (p->forwarded);
  g_hash_table_unref (p->baseline);
  g_mutex_clear (&p->lock);
  g_free (p);
}

/* The room's final seq, asked of the server as a member (membership outlives
 * the loadgen's connections). */
static gint64
final_seq (guint16 port, const char *member, const char *room)
{
  g_autoptr (HubTestWs) ws = hub_test_ws_login (port, member, "probe");
  g_autoptr (JsonObject) reply = hub_test_ws_ok (ws, "{'type':'rooms'}");
  JsonObject *entry = hub_test_json_array_find (hub_test_json_array (reply, "rooms"), "room", room);

  ck_assert_msg (entry != NULL, "%s should be a member of %s", member, room);
  return hub_test_json_int (entry, "seq");
}

/* "room seq" strings the target should have had and did not. (transfer full) */
GHashTable *
hub_test_proxy_missing (HubTestProxy *p, guint16 port, const char *member, const char *const *rooms)
{
  GHashTable *missing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; rooms[i] != NULL; i++) {
    gsize base = GPOINTER_TO_SIZE (g_hash_table_lookup (p->baseline, rooms[i]));
    GHashTable *seen = g_hash_table_lookup (p->forwarded, rooms[i]);
    gint64 last = final_seq (port, member, rooms[i]);

    ck_assert_msg (base > 0, "the proxy saw the target's join reply for %s", rooms[i]);
    for (gint64 s = (gint64)base; s <= last; s++) {
      if (seen == NULL || !g_hash_table_contains (seen, GSIZE_TO_POINTER ((gsize)s)))
        g_hash_table_add (missing, g_strdup_printf ("%s %" G_GINT64_FORMAT, rooms[i], s));
    }
  }
  return missing;
}

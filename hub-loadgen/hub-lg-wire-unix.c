/* hub-lg-wire-unix.c: hub-lg-wire.h on Linux. One WireLoop per thread: the
 * engine that waits on the sockets (io_uring, hub-lg-wire-uring-unix.c, or
 * epoll, here) polled by one GSource of the thread's GMainContext, and a
 * once-a-second ticker for deadlines and keepalive. The bytes a socket holds
 * are taken in one go, its complete frames handed on where they lie, and only
 * an unfinished frame's bytes are kept (copied to the connection) until the
 * rest comes. A connection that ends goes to the loop's dead list; its sink
 * hears of it from the source's next dispatch, never from inside a call the
 * client made. */
#include "hub-lg-wire-unix.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SUBPROTOCOL "hub.v1"
#define WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Bytes one recv() may take (epoll engine): many frames of many publishes at once. */
#define READ_BUF (256 * 1024)
/* Ready sockets taken from epoll per call, and calls per dispatch. */
#define MAX_EVENTS 256
#define MAX_ROUNDS 4
/* As the lws transport: a larger server message ends the connection. */
#define MAX_MESSAGE_BYTES (16u * 1024 * 1024)
#define MAX_HEAD_BYTES    8192
#define CONNECT_TIMEOUT_S 20
#define CLOSE_TIMEOUT_S   5
/* Keepalive, as the lws transport's: a ping after 20 s of silence, the
 * connection given up after 65 s. */
#define PING_AFTER_S   20
#define HANGUP_AFTER_S 65
#define PING_PAYLOAD   "hub"

enum {
  OP_CONTINUATION = 0x0,
  OP_TEXT = 0x1,
  OP_BINARY = 0x2,
  OP_CLOSE = 0x8,
  OP_PING = 0x9,
  OP_PONG = 0xa,
};

struct _HubClientTransport {
  WireLoop *loop; /* (owned) a reference */
  HubClientUrl url;
  char *host_header; /* (owned) */
  const HubClientTransportSink *sink;
  gpointer owner;     /* (unowned) */
  char *bind_address; /* (owned) (nullable) */
  WireConn *conn;     /* (unowned) (nullable) the connection under way; the loop frees it */
};

typedef struct {
  GSource source;
  WireLoop *loop; /* (unowned) */
} WireSource;

/* The calling thread's loop (each worker thread has its own context). */
static GPrivate loop_key;
/* When the bytes being handed on were found read (CLOCK_MONOTONIC ns), 0
 * outside a dispatch: see hub_lg_wire_read_time_ns(). */
static __thread gint64 read_time_ns;

static void conn_end (WireConn *conn, guint code, const char *reason);
static void loop_free (WireLoop *loop);

/* ---- small helpers ---- */

static guint64
next_random (WireLoop *loop)
{
  /* xorshift64*: masking keys need not be secret here (RFC 6455 masks
   * against proxies that cache, and there are none on a load test's path). */
  loop->rng ^= loop->rng >> 12;
  loop->rng ^= loop->rng << 25;
  loop->rng ^= loop->rng >> 27;
  return loop->rng * G_GUINT64_CONSTANT (2685821657736338717);
}

static gint64
clock_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64)ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

/* Watches @conn's socket for room to write (@on), or stops. */
static void
watch_write (WireConn *conn, gboolean on)
{
  WireLoop *loop = conn->loop;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = conn};

  if (conn->want_out == on)
    return;
  conn->want_out = on;
  if (loop->uring != NULL) {
    if (on)
      hub_lg_wire_uring_watch_write (loop->uring, conn); /* one-shot: nothing to undo */
    return;
  }
  epoll_ctl (loop->epfd, EPOLL_CTL_MOD, conn->fd, &ev);
}

static void
ensure (guint8 **buf, gsize *cap, gsize need)
{
  if (need <= *cap)
    return;
  *cap = MAX (need, MAX (*cap * 2, 256));
  *buf = g_realloc (*buf, *cap);
}

/* ---- sending ---- */

/* Writes what is queued; arms EPOLLOUT when the socket is full. */
static void
flush (WireConn *conn)
{
  while (conn->out_off < conn->out_len) {
    ssize_t n = send (conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off,
                      MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n > 0) {
      conn->out_off += (gsize)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch_write (conn, TRUE);
      return;
    }
    conn_end (conn, conn->state == WIRE_UPGRADING ? 0 : 1006,
              conn->state == WIRE_UPGRADING ? "cannot connect: send failed" : g_strerror (errno));
    return;
  }
  conn->out_off = conn->out_len = 0;
  if (conn->out_cap > 64 * 1024) {
    g_clear_pointer (&conn->out, g_free);
    conn->out_cap = 0;
  }
  watch_write (conn, FALSE);
}

void
hub_lg_wire_conn_writable (WireConn *conn)
{
  if (conn->state != WIRE_DEAD && conn->state != WIRE_CONNECTING)
    flush (conn);
}

/* One masked frame (RFC 6455 §5.3: every client frame is masked). */
static void
send_frame (WireConn *conn, guint8 op, const guint8 *data, gsize len)
{
  guint8 *p;
  guint32 key = (guint32)next_random (conn->loop);
  guint8 mask[4] = {key >> 24, key >> 16, key >> 8, key};

  ensure (&conn->out, &conn->out_cap, conn->out_len + 14 + len);
  p = conn->out + conn->out_len;
  *p++ = 0x80 | op;
  if (len < 126) {
    *p++ = 0x80 | (guint8)len;
  } else if (len <= 0xffff) {
    *p++ = 0x80 | 126;
    *p++ = (guint8)(len >> 8);
    *p++ = (guint8)len;
  } else {
    *p++ = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      *p++ = (guint8)((guint64)len >> (8 * i));
  }
  memcpy (p, mask, 4);
  p += 4;
  for (gsize i = 0; i < len; i++)
    p[i] = data[i] ^ mask[i & 3];
  conn->out_len = (gsize)(p + len - conn->out);
  flush (conn);
}

static void
send_close (WireConn *conn, guint16 code)
{
  guint8 payload[2] = {code >> 8, code & 0xff};

  conn->close_sent = code;
  send_frame (conn, OP_CLOSE, payload, sizeof payload);
}

/* ---- the upgrade ---- */

static void
send_upgrade (WireConn *conn)
{
  HubClientTransport *t = conn->transport;
  guint8 nonce[16];
  g_autofree char *key = NULL;
  g_autofree char *request = NULL;
  gsize len;

  for (guint i = 0; i < sizeof nonce; i += 8) {
    guint64 r = next_random (conn->loop);

    memcpy (nonce + i, &r, 8);
  }
  key = g_base64_encode (nonce, sizeof nonce);
  g_strlcpy (conn->key, key, sizeof conn->key);
  request = g_strdup_printf ("GET %s HTTP/1.1\r\n"
                             "Host: %s\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "Sec-WebSocket-Protocol: " SUBPROTOCOL "\r\n\r\n",
                             t->url.path, t->host_header, conn->key);
  len = strlen (request);
  ensure (&conn->out, &conn->out_cap, conn->out_len + len);
  memcpy (conn->out + conn->out_len, request, len);
  conn->out_len += len;
  conn->state = WIRE_UPGRADING;
  flush (conn);
}

void
hub_lg_wire_conn_connected (WireConn *conn, int error)
{
  WireLoop *loop = conn->loop;

  if (conn->state != WIRE_CONNECTING)
    return;
  if (error != 0) {
    g_autofree char *why = g_strdup_printf ("cannot connect: %s", g_strerror (error));

    conn_end (conn, 0, why);
    return;
  }
  if (loop->uring != NULL) {
    hub_lg_wire_uring_watch_read (loop->uring, conn);
  } else {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = conn};

    epoll_ctl (loop->epfd, EPOLL_CTL_MOD, conn->fd, &ev);
  }
  send_upgrade (conn);
}

/* The value of header @name in @head (NUL-terminated), trimmed, or NULL. (transfer full) */
static char *
header_value (const char *head, const char *name)
{
  gsize n = strlen (name);

  for (const char *line = strstr (head, "\r\n"); line != NULL; line = strstr (line, "\r\n")) {
    line += 2;
    if (g_ascii_strncasecmp (line, name, n) == 0 && line[n] == ':') {
      const char *end = strstr (line, "\r\n");

      return g_strstrip (g_strndup (line + n + 1, end != NULL ? (gsize)(end - line - n - 1) : 0));
    }
  }
  return NULL;
}

/* Checks the server's answer (@head, NUL-terminated, without its blank line);
 * NULL when it accepted the upgrade, else why not. (transfer full) */
static char *
check_upgrade (WireConn *conn, const char *head)
{
  g_autofree char *accept = header_value (head, "Sec-WebSocket-Accept");
  g_autofree char *upgrade = header_value (head, "Upgrade");
  g_autofree char *protocol = header_value (head, "Sec-WebSocket-Protocol");
  g_autofree char *expected = NULL;
  g_autoptr (GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 digest[20];
  gsize digest_len = sizeof digest;

  if (!g_str_has_prefix (head, "HTTP/1.1 101 ") && !g_str_has_prefix (head, "HTTP/1.1 101\r"))
    return g_strdup_printf ("cannot connect: upgrade refused: %.*s", (int)strcspn (head, "\r\n"),
                            head);
  g_checksum_update (sha1, (const guchar *)conn->key, (gssize)strlen (conn->key));
  g_checksum_update (sha1, (const guchar *)WS_GUID, (gssize)strlen (WS_GUID));
  g_checksum_get_digest (sha1, digest, &digest_len);
  expected = g_base64_encode (digest, digest_len);
  if (upgrade == NULL || g_ascii_strcasecmp (upgrade, "websocket") != 0)
    return g_strdup ("cannot connect: upgrade refused: no Upgrade: websocket");
  if (accept == NULL || strcmp (accept, expected) != 0)
    return g_strdup ("cannot connect: upgrade refused: wrong Sec-WebSocket-Accept");
  if (protocol == NULL || strcmp (protocol, SUBPROTOCOL) != 0)
    return g_strdup ("cannot connect: upgrade refused: subprotocol " SUBPROTOCOL " not chosen");
  return NULL;
}

static gsize read_frames (WireConn *conn, const guint8 *buf, gsize len);

/* The upgrade answer, then any frames right behind it; returns the bytes used. */
static gsize
read_upgrade (WireConn *conn, const guint8 *buf, gsize len)
{
  const guint8 *end = NULL;
  g_autofree char *head = NULL;
  g_autofree char *why = NULL;
  gsize used;

  for (gsize i = 3; i < len && end == NULL; i++) {
    if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
      end = buf + i + 1;
  }
  if (end == NULL) {
    if (len > MAX_HEAD_BYTES)
      conn_end (conn, 0, "cannot connect: upgrade answer too long");
    return 0;
  }
  used = (gsize)(end - buf);
  head = g_strndup ((const char *)buf, used - 2);
  why = check_upgrade (conn, head);
  if (why != NULL) {
    conn_end (conn, 0, why);
    return used;
  }
  conn->state = WIRE_OPEN;
  conn->deadline_us = 0;
  conn->last_rx = conn->loop->tick;
  if (conn->transport != NULL)
    conn->transport->sink->opened (conn->transport->owner);
  return used + read_frames (conn, end, len - used);
}

/* ---- receiving ---- */

static void
deliver (WireConn *conn, const guint8 *text, gsize len)
{
  HubClientTransport *t = conn->transport;

  /* The protocol has text frames only; a binary one goes on as it is, and
   * HubClient reports what it cannot read as an INVALID event. */
  if (t != NULL)
    t->sink->received (t->owner, (const char *)text, len);
}

static void
protocol_error (WireConn *conn, const char *why)
{
  if (conn->close_sent == 0)
    send_close (conn, 1002);
  conn_end (conn, 1002, why);
}

static void
on_frame (WireConn *conn, gboolean fin, guint8 op, const guint8 *payload, gsize len)
{
  switch (op) {
    case OP_TEXT:
    case OP_BINARY:
      if (conn->message != NULL) {
        protocol_error (conn, "a new message inside a fragmented one");
      } else if (fin) {
        deliver (conn, payload, len);
      } else {
        conn->message = g_byte_array_sized_new ((guint)MIN (len * 2, MAX_MESSAGE_BYTES));
        g_byte_array_append (conn->message, payload, (guint)len);
      }
      return;
    case OP_CONTINUATION:
      if (conn->message == NULL) {
        protocol_error (conn, "a continuation without a message");
      } else if (conn->message->len + len > MAX_MESSAGE_BYTES) {
        send_close (conn, 1009);
        conn_end (conn, 1009, "message too big");
      } else {
        g_byte_array_append (conn->message, payload, (guint)len);
        if (fin) {
          g_autoptr (GByteArray) whole = g_steal_pointer (&conn->message);

          deliver (conn, whole->data, whole->len);
        }
      }
      return;
    case OP_CLOSE: {
      guint code = len >= 2 ? (guint)(payload[0] << 8 | payload[1]) : 1005;

      /* Answer a close we did not start, then end (RFC 6455 §5.5.1). */
      if (conn->close_sent == 0) {
        if (len >= 2)
          send_close (conn, (guint16)code);
        else
          send_frame (conn, OP_CLOSE, NULL, 0);
      }
      conn_end (conn, code, NULL);
      return;
    }
    case OP_PING:
      if (!fin || len > 125)
        protocol_error (conn, "a bad ping");
      else if (conn->state == WIRE_OPEN)
        send_frame (conn, OP_PONG, payload, len);
      return;
    case OP_PONG:
      return;
    default:
      protocol_error (conn, "an unknown opcode");
      return;
  }
}

/* Walks the complete frames of @buf; returns the bytes they took (an
 * unfinished frame at the end is left). */
static gsize
read_frames (WireConn *conn, const guint8 *buf, gsize len)
{
  WireLoop *loop = conn->loop;
  gsize at = 0;

  while (conn->state == WIRE_OPEN || conn->state == WIRE_CLOSING) {
    const guint8 *p = buf + at;
    gsize left = len - at, head = 2;
    guint64 plen;

    if (left < 2)
      break;
    if (p[1] & 0x80) {
      protocol_error (conn, "a masked frame from the server");
      break;
    }
    if (p[0] & 0x70) {
      protocol_error (conn, "reserved bits set (no extension was agreed)");
      break;
    }
    plen = p[1] & 0x7f;
    if (plen == 126) {
      if (left < 4)
        break;
      plen = (guint64)p[2] << 8 | p[3];
      head = 4;
    } else if (plen == 127) {
      if (left < 10)
        break;
      plen = 0;
      for (int i = 2; i < 10; i++)
        plen = plen << 8 | p[i];
      head = 10;
    }
    if (plen > MAX_MESSAGE_BYTES) {
      send_close (conn, 1009);
      conn_end (conn, 1009, "message too big");
      break;
    }
    if (left - head < plen)
      break;
    at += head + (gsize)plen;
    loop->counters.frames++;
    conn->last_rx = loop->tick;
    conn->pinged = FALSE;
    on_frame (conn, (p[0] & 0x80) != 0, p[0] & 0x0f, p + head, (gsize)plen);
  }
  return at;
}

/* Keeps @len bytes at @p (an unfinished frame) for the next read. */
static void
keep (WireConn *conn, const guint8 *p, gsize len)
{
  if (len == 0) {
    conn->in_len = 0;
    if (conn->in_cap > 64 * 1024) {
      g_clear_pointer (&conn->in, g_free);
      conn->in_cap = 0;
    }
    return;
  }
  if (p != conn->in) {
    ensure (&conn->in, &conn->in_cap, len);
    memmove (conn->in, p, len);
  }
  conn->in_len = len;
}

void
hub_lg_wire_conn_data (WireConn *conn, const guint8 *data, gsize len)
{
  const guint8 *buf = data;
  gsize total = len, used;

  if (conn->state == WIRE_DEAD || conn->state == WIRE_CONNECTING || len == 0)
    return;
  conn->loop->counters.reads++;
  if (conn->in_len > 0) {
    /* The rest of an unfinished frame: joined behind what was kept. */
    ensure (&conn->in, &conn->in_cap, conn->in_len + len);
    memcpy (conn->in + conn->in_len, data, len);
    conn->in_len += len;
    buf = conn->in;
    total = conn->in_len;
  }
  used = conn->state == WIRE_UPGRADING ? read_upgrade (conn, buf, total)
                                       : read_frames (conn, buf, total);
  if (conn->state == WIRE_DEAD)
    return;
  if (conn->in_len + len > MAX_MESSAGE_BYTES + 16) {
    send_close (conn, 1009);
    conn_end (conn, 1009, "message too big");
    return;
  }
  keep (conn, buf + used, total - used);
}

void
hub_lg_wire_conn_ended (WireConn *conn, int error)
{
  if (conn->state == WIRE_DEAD)
    return;
  if (conn->state == WIRE_UPGRADING || conn->state == WIRE_CONNECTING)
    conn_end (conn, 0,
              error == 0 ? "cannot connect: closed during the upgrade"
                         : "cannot connect: read failed");
  else
    conn_end (conn, conn->close_sent != 0 ? conn->close_sent : 1006,
              error == 0 ? NULL : g_strerror (error));
}

/* ---- the epoll engine ---- */

/* Reads what the socket holds, and walks it. */
static void
epoll_read (WireConn *conn)
{
  WireLoop *loop = conn->loop;

  for (guint round = 0; round < MAX_ROUNDS && conn->state != WIRE_DEAD; round++) {
    ssize_t n = recv (conn->fd, loop->buf, READ_BUF, 0);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
    if (n <= 0) {
      hub_lg_wire_conn_ended (conn, n == 0 ? 0 : errno);
      return;
    }
    /* Every byte just read was there before this moment. */
    read_time_ns = clock_ns ();
    hub_lg_wire_conn_data (conn, loop->buf, (gsize)n);
    if (n < READ_BUF)
      return; /* the socket is empty */
  }
}

static void
epoll_event_on (WireConn *conn, guint32 events)
{
  if (conn->state == WIRE_DEAD)
    return;
  if (conn->state == WIRE_CONNECTING) {
    int error = 0;
    socklen_t len = sizeof error;

    if (getsockopt (conn->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
      error = errno;
    if (error != 0 || (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
      hub_lg_wire_conn_connected (conn, error);
    return;
  }
  if ((events & EPOLLOUT) && conn->want_out)
    hub_lg_wire_conn_writable (conn);
  if (conn->state != WIRE_DEAD && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
    epoll_read (conn);
}

static void
epoll_dispatch (WireLoop *loop)
{
  struct epoll_event events[MAX_EVENTS];

  for (guint round = 0; round < MAX_ROUNDS; round++) {
    int n = epoll_wait (loop->epfd, events, MAX_EVENTS, 0);

    /* A connection ended earlier in this batch stays allocated (in dead)
     * until the sweep, so its events are just skipped. */
    for (int i = 0; i < n; i++)
      epoll_event_on (events[i].data.ptr, events[i].events);
    if (n < MAX_EVENTS)
      break;
  }
}

/* ---- endings ---- */

/* Ends @conn: closes its socket and queues it for its sink (if it still has
 * one), which the next dispatch tells. Idempotent. */
static void
conn_end (WireConn *conn, guint code, const char *reason)
{
  WireLoop *loop = conn->loop;

  if (conn->state == WIRE_DEAD)
    return;
  conn->state = WIRE_DEAD;
  /* io_uring's requests hold the socket open: cancel them first. */
  if (loop->uring != NULL)
    hub_lg_wire_uring_forget (loop->uring, conn);
  close (conn->fd); /* leaves the epoll set with it */
  conn->fd = -1;
  g_queue_unlink (&loop->conns, &conn->link);
  conn->end_code = code;
  conn->end_reason = g_strdup (reason);
  g_clear_pointer (&conn->in, g_free);
  g_clear_pointer (&conn->out, g_free);
  conn->in_len = conn->in_cap = conn->out_len = conn->out_off = conn->out_cap = 0;
  g_clear_pointer (&conn->message, g_byte_array_unref);
  g_ptr_array_add (loop->dead, conn);
  if (loop->conns.length == 0 && loop->ticker != NULL) {
    g_source_destroy (loop->ticker);
    g_clear_pointer (&loop->ticker, g_source_unref);
  }
}

void
hub_lg_wire_conn_free (WireConn *conn)
{
  g_free (conn->end_reason);
  g_free (conn);
}

void
hub_lg_wire_sweep (WireLoop *loop)
{
  loop->depth++;
  while (loop->dead->len > 0) {
    WireConn *conn = g_ptr_array_steal_index_fast (loop->dead, loop->dead->len - 1);
    HubClientTransport *t = conn->transport;

    if (t != NULL) {
      conn->transport = NULL;
      if (t->conn == conn)
        t->conn = NULL;
      t->sink->closed (t->owner, conn->end_code, conn->end_reason);
    }
    /* A request still in flight holds it: the io_uring engine frees it at its last completion. */
    if (conn->inflight == 0)
      hub_lg_wire_conn_free (conn);
    else
      conn->swept = TRUE;
  }
  loop->depth--;
}

/* ---- the loop ---- */

static gboolean
keepalive_tick (gpointer user_data)
{
  WireLoop *loop = user_data;
  gint64 now = g_get_monotonic_time ();
  GList *next;

  loop->tick++;
  for (GList *l = loop->conns.head; l != NULL; l = next) {
    WireConn *conn = l->data;
    guint idle = loop->tick - conn->last_rx;

    next = l->next; /* conn_end unlinks */
    switch (conn->state) {
      case WIRE_CONNECTING:
      case WIRE_UPGRADING:
        if (now >= conn->deadline_us)
          conn_end (conn, 0, "cannot connect: timed out");
        break;
      case WIRE_CLOSING:
        if (now >= conn->deadline_us)
          conn_end (conn, conn->close_sent, NULL);
        break;
      case WIRE_OPEN:
        if (idle > HANGUP_AFTER_S) {
          conn_end (conn, 1006, "no answer to our pings");
        } else if (idle > PING_AFTER_S && !conn->pinged) {
          conn->pinged = TRUE;
          send_frame (conn, OP_PING, (const guint8 *)PING_PAYLOAD, sizeof PING_PAYLOAD - 1);
        }
        break;
      default:
        break;
    }
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
loop_prepare (GSource *source, gint *timeout)
{
  WireLoop *loop = ((WireSource *)source)->loop;

  *timeout = -1;
  return loop->dead->len > 0 || (loop->uring != NULL && hub_lg_wire_uring_pending (loop->uring));
}

static gboolean
loop_check (GSource *source)
{
  WireLoop *loop = ((WireSource *)source)->loop;

  return loop->dead->len > 0 || (loop->uring != NULL && hub_lg_wire_uring_pending (loop->uring)) ||
         (g_source_query_unix_fd (source, loop->tag) & G_IO_IN) != 0;
}

static gboolean
wire_loop_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  WireLoop *loop = ((WireSource *)source)->loop;

  loop->depth++;
  loop->counters.wakeups++;
  if (loop->uring != NULL)
    hub_lg_wire_uring_dispatch (loop->uring);
  else
    epoll_dispatch (loop);
  read_time_ns = 0;
  hub_lg_wire_sweep (loop);
  loop->depth--;
  if (loop->doomed && loop->depth == 0)
    loop_free (loop);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs loop_funcs = {loop_prepare, loop_check, wire_loop_dispatch, NULL, NULL, NULL};

static WireLoop *
loop_ref (void)
{
  WireLoop *loop = g_private_get (&loop_key);
  WireSource *source;
  int fd;

  if (loop != NULL) {
    loop->refs++;
    return loop;
  }
  loop = g_new0 (WireLoop, 1);
  loop->refs = 1;
  loop->epfd = -1;
  loop->dead = g_ptr_array_new ();
  loop->rng = ((guint64)g_random_int () << 32 | g_random_int ()) | 1;
  g_queue_init (&loop->conns);
  /* io_uring where the kernel lets us (HUB_LOADGEN_URING=off: epoll, to compare). */
  if (g_strcmp0 (g_getenv ("HUB_LOADGEN_URING"), "off") != 0)
    loop->uring = hub_lg_wire_uring_new (loop);
  if (loop->uring != NULL) {
    fd = hub_lg_wire_uring_fd (loop->uring);
    loop->counters.uring_loops = 1;
  } else {
    loop->counters.epoll_loops = 1;
    fd = loop->epfd = epoll_create1 (EPOLL_CLOEXEC);
    if (fd < 0) {
      g_ptr_array_unref (loop->dead);
      g_free (loop);
      return NULL;
    }
    loop->buf = g_malloc (READ_BUF);
  }
  loop->context = g_main_context_ref_thread_default ();
  source = (WireSource *)g_source_new (&loop_funcs, sizeof (WireSource));
  source->loop = loop;
  loop->source = &source->source;
  g_source_set_name (loop->source, "hub-loadgen wire");
  loop->tag = g_source_add_unix_fd (loop->source, fd, G_IO_IN);
  g_source_attach (loop->source, loop->context);
  g_private_set (&loop_key, loop);
  return loop;
}

static void
loop_free (WireLoop *loop)
{
  /* Only detached connections are left: no sink to tell. */
  hub_lg_wire_sweep (loop);
  g_ptr_array_unref (loop->dead);
  if (loop->ticker != NULL) {
    g_source_destroy (loop->ticker);
    g_source_unref (loop->ticker);
  }
  g_source_destroy (loop->source);
  g_source_unref (loop->source);
  if (loop->uring != NULL)
    hub_lg_wire_uring_free (loop->uring);
  if (loop->epfd >= 0)
    close (loop->epfd);
  g_main_context_unref (loop->context);
  g_free (loop->addr_key);
  g_free (loop->buf);
  if (g_private_get (&loop_key) == loop)
    g_private_set (&loop_key, NULL);
  g_free (loop);
}

static void
loop_unref (WireLoop *loop)
{
  if (--loop->refs > 0)
    return;
  if (loop->depth > 0)
    loop->doomed = TRUE; /* freed when the dispatch on the stack returns */
  else
    loop_free (loop);
}

/* The address of @url, looked up once per loop for a given host and port. */
static gboolean
resolve (WireLoop *loop, const HubClientUrl *url, GError **error)
{
  g_autofree char *key = g_strdup_printf ("%s %u", url->host, url->port);
  char port[8];
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found = NULL;
  int rc;

  if (loop->addr_key != NULL && strcmp (loop->addr_key, key) == 0)
    return TRUE;
  g_snprintf (port, sizeof port, "%u", url->port);
  rc = getaddrinfo (url->host, port, &hints, &found);
  if (rc != 0 || found == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "cannot connect to %s:%u: %s",
                 url->host, url->port, rc != 0 ? gai_strerror (rc) : "no address");
    return FALSE;
  }
  memcpy (&loop->addr, found->ai_addr, found->ai_addrlen);
  loop->addr_len = found->ai_addrlen;
  freeaddrinfo (found);
  g_free (loop->addr_key);
  loop->addr_key = g_steal_pointer (&key);
  return TRUE;
}

/* ---- the transport class ---- */

static HubClientTransport *
transport_create (const HubClientUrl *url, const char *ca_file, gboolean allow_self_signed,
                  const HubClientTransportSink *sink, gpointer owner)
{
  HubClientTransport *t = g_new0 (HubClientTransport, 1);
  gboolean v6 = strchr (url->host, ':') != NULL;

  t->loop = loop_ref ();
  t->url.host = g_strdup (url->host);
  t->url.port = url->port;
  t->url.path = g_strdup (url->path);
  t->host_header = url->port == 80
                       ? g_strdup_printf (v6 ? "[%s]" : "%s", url->host)
                       : g_strdup_printf (v6 ? "[%s]:%u" : "%s:%u", url->host, url->port);
  t->sink = sink;
  t->owner = owner;
  return t;
}

static gboolean
transport_open (HubClientTransport *t, GError **error)
{
  WireLoop *loop = t->loop;
  WireConn *conn;
  struct epoll_event ev;
  int fd, one = 1;

  g_return_val_if_fail (t->conn == NULL, FALSE);
  if (loop == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create an epoll descriptor");
    return FALSE;
  }
  if (!resolve (loop, &t->url, error))
    return FALSE;
  fd = socket (loop->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "cannot connect to %s:%u: %s",
                 t->url.host, t->url.port, g_strerror (errno));
    return FALSE;
  }
  /* A publish must leave at once, not wait behind an unacknowledged one. */
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (t->bind_address != NULL) {
    struct addrinfo hints = {.ai_family = loop->addr.ss_family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE},
                    *local = NULL;

    /* The port is chosen at connect() (for this destination), not at bind():
     * each source address then has its whole port range per server. */
#ifdef IP_BIND_ADDRESS_NO_PORT
    setsockopt (fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    if (getaddrinfo (t->bind_address, NULL, &hints, &local) != 0 || local == NULL ||
        bind (fd, local->ai_addr, local->ai_addrlen) < 0) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "cannot bind to %s: %s",
                   t->bind_address, local == NULL ? "not an address" : g_strerror (errno));
      if (local != NULL)
        freeaddrinfo (local);
      close (fd);
      return FALSE;
    }
    freeaddrinfo (local);
  }
  if (connect (fd, (struct sockaddr *)&loop->addr, loop->addr_len) < 0 && errno != EINPROGRESS) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "cannot connect to %s:%u: %s",
                 t->url.host, t->url.port, g_strerror (errno));
    close (fd);
    return FALSE;
  }
  conn = g_new0 (WireConn, 1);
  conn->loop = loop;
  conn->transport = t;
  conn->fd = fd;
  conn->state = WIRE_CONNECTING;
  conn->deadline_us = g_get_monotonic_time () + CONNECT_TIMEOUT_S * G_USEC_PER_SEC;
  conn->link.data = conn;
  ev.events = EPOLLOUT;
  ev.data.ptr = conn;
  if (loop->uring != NULL) {
    hub_lg_wire_uring_watch_connect (loop->uring, conn);
  } else if (epoll_ctl (loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "cannot watch a socket: %s",
                 g_strerror (errno));
    close (fd);
    g_free (conn);
    return FALSE;
  }
  g_queue_push_tail_link (&loop->conns, &conn->link);
  if (loop->ticker == NULL) {
    loop->ticker = g_timeout_source_new_seconds (1);
    g_source_set_name (loop->ticker, "hub-loadgen wire keepalive");
    g_source_set_callback (loop->ticker, keepalive_tick, loop, NULL);
    g_source_attach (loop->ticker, loop->context);
  }
  t->conn = conn;
  return TRUE;
}

static gboolean
transport_send (HubClientTransport *t, const char *text, gsize len)
{
  WireConn *conn = t->conn;

  if (conn == NULL || conn->state != WIRE_OPEN)
    return FALSE;
  send_frame (conn, OP_TEXT, (const guint8 *)text, len);
  return TRUE;
}

static void
transport_close (HubClientTransport *t, guint16 code)
{
  WireConn *conn = t->conn;

  if (conn == NULL || conn->state == WIRE_DEAD || conn->state == WIRE_CLOSING)
    return;
  if (conn->state != WIRE_OPEN) {
    conn_end (conn, 0, "closed before it was open");
    return;
  }
  conn->state = WIRE_CLOSING;
  conn->deadline_us = g_get_monotonic_time () + CLOSE_TIMEOUT_S * G_USEC_PER_SEC;
  send_close (conn, code);
}

static void
transport_drop (HubClientTransport *t)
{
  WireConn *conn = t->conn;

  if (conn == NULL || conn->state == WIRE_DEAD)
    return;
  /* What a dead network looks like: the socket ends, no close frame. */
  conn_end (conn, conn->state == WIRE_OPEN || conn->state == WIRE_CLOSING ? 1006 : 0,
            conn->state == WIRE_OPEN || conn->state == WIRE_CLOSING ? NULL : "dropped");
}

static void
transport_destroy (HubClientTransport *t)
{
  WireConn *conn = t->conn;

  if (conn != NULL) {
    conn->transport = NULL;
    t->conn = NULL;
    conn_end (conn, 0, NULL);
  }
  if (t->loop != NULL)
    loop_unref (t->loop);
  hub_client_url_clear (&t->url);
  g_free (t->host_header);
  g_free (t->bind_address);
  g_free (t);
}

static void
transport_set_bind_address (HubClientTransport *t, const char *address)
{
  g_free (t->bind_address);
  t->bind_address = g_strdup (address);
}

static const HubClientTransportClass wire_class = {
    .create = transport_create,
    .open = transport_open,
    .send = transport_send,
    .close = transport_close,
    .drop = transport_drop,
    .destroy = transport_destroy,
    .set_bind_address = transport_set_bind_address,
};

const HubClientTransportClass *
hub_lg_wire_transport (const char *url)
{
  if (g_strcmp0 (g_getenv ("HUB_LOADGEN_TRANSPORT"), "lws") == 0)
    return NULL;
  if (url != NULL && g_ascii_strncasecmp (url, "wss:", 4) == 0)
    return NULL;
  return &wire_class;
}

gint64
hub_lg_wire_read_time_ns (void)
{
  return read_time_ns;
}

void
hub_lg_wire_set_read_time_ns (gint64 ns)
{
  read_time_ns = ns;
}

void
hub_lg_wire_get_counters (HubLgWireCounters *counters)
{
  WireLoop *loop = g_private_get (&loop_key);

  if (loop != NULL)
    *counters = loop->counters;
  else
    memset (counters, 0, sizeof *counters);
}

const char *
hub_lg_wire_kind (const char *url)
{
  static gint uring = -1;

  if (hub_lg_wire_transport (url) == NULL)
    return "libwebsockets";
  /* Whether the kernel takes our ring (asked once: a ring made and freed). */
  if (g_atomic_int_get (&uring) < 0) {
    WireLoop probe = {0};
    WireUring *u = g_strcmp0 (g_getenv ("HUB_LOADGEN_URING"), "off") != 0
                       ? hub_lg_wire_uring_new (&probe)
                       : NULL;

    g_atomic_int_set (&uring, u != NULL);
    if (u != NULL)
      hub_lg_wire_uring_free (u);
  }
  return g_atomic_int_get (&uring) ? "io_uring" : "epoll";
}

/* floor-server.c: a MEASURING INSTRUMENT, not a part of hub. The least a server can do for the
 * bench driver's `--adapter hub` fan-out (WebSocket upgrade, hello -> welcome, join -> ok,
 * publish -> one prebuilt `message` frame sent to every member), so the driver's latency with
 * it is the harness's floor: what no hub-server change can beat. scripts/bench-floor.sh runs it.
 *
 *   floor-server --port N [--host 127.0.0.1] [--mode send|uring] [--chunk K]
 *
 * --mode send: one send() per member, in join order. --mode uring: one io_uring send per member
 * pointing at the same frame bytes (no copy), submitted every K sends (--chunk, default all).
 * One room (every join goes to it; the room name is echoed), no auth, no checks beyond what the
 * driver needs; every loop is bounded by the number of connections or bytes at hand. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 20000
#define RX_MAX    (64 * 1024)
#define RING_SIZE 4096

typedef struct {
  int fd;
  gboolean ws;     /* upgraded */
  gboolean member; /* joined the room */
  gboolean epout;  /* EPOLLOUT armed */
  char user[64];
  GByteArray *rx;  /* unparsed input */
  GByteArray *out; /* bytes the socket did not take yet */
} Conn;

static Conn *conns[MAX_CONNS];
static int members[MAX_CONNS];
static int n_members;
static int ep;
static gboolean use_uring;
static int chunk = 1 << 30;
static struct io_uring ring;
static gint64 room_seq;
static char room_name[128] = "bench";

static void
conn_close (Conn *c)
{
  if (c->member) {
    for (int i = 0; i < n_members; i++)
      if (members[i] == c->fd) {
        memmove (members + i, members + i + 1, (size_t)(n_members - i - 1) * sizeof (int));
        n_members--;
        break;
      }
  }
  epoll_ctl (ep, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  conns[c->fd] = NULL;
  g_byte_array_unref (c->rx);
  g_byte_array_unref (c->out);
  g_free (c);
}

static void
arm_out (Conn *c, gboolean on)
{
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.fd = c->fd};

  if (c->epout == on)
    return;
  c->epout = on;
  epoll_ctl (ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* What the socket does not take now waits in c->out for EPOLLOUT. */
static void
after_send (Conn *c, const guint8 *data, gsize len, gssize sent)
{
  if (sent < 0)
    sent = 0;
  if ((gsize)sent < len) {
    g_byte_array_append (c->out, data + sent, (guint)(len - (gsize)sent));
    arm_out (c, TRUE);
  }
}

static void
conn_write (Conn *c, const guint8 *data, gsize len)
{
  gssize n = -1;

  if (c->out->len == 0)
    n = send (c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0 && c->out->len == 0 && errno != EAGAIN) {
    n = (gssize)len; /* a dead peer: EPOLLHUP/EOF closes it */
  }
  after_send (c, data, len, n);
}

static void
on_writable (Conn *c)
{
  gssize n = send (c->fd, c->out->data, c->out->len, MSG_DONTWAIT | MSG_NOSIGNAL);

  if (n > 0)
    g_byte_array_remove_range (c->out, 0, (guint)n);
  if (c->out->len == 0)
    arm_out (c, FALSE);
}

/* A server frame: FIN + opcode, unmasked, 16-bit length when needed. */
static gsize
frame_header (guint8 *h, int opcode, gsize len)
{
  h[0] = (guint8)(0x80 | opcode);
  if (len < 126) {
    h[1] = (guint8)len;
    return 2;
  }
  h[1] = 126;
  h[2] = (guint8)(len >> 8);
  h[3] = (guint8)len;
  return 4;
}

static void
send_frame (Conn *c, int opcode, const char *text, gsize len)
{
  guint8 buf[4 + 4096];
  gsize h;

  if (len > 4096)
    return;
  h = frame_header (buf, opcode, len);
  memcpy (buf + h, text, len);
  conn_write (c, buf, h + len);
}

static void
fanout_uring (const guint8 *frame, gsize len)
{
  int n = 0, pending = 0, reaped = 0;

  for (int i = 0; i < n_members; i++) {
    Conn *c = conns[members[i]];

    if (c->out->len > 0) {
      g_byte_array_append (c->out, frame, (guint)len);
      continue;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe (&ring);
    if (sqe == NULL) {
      conn_write (c, frame, len);
      continue;
    }
    io_uring_prep_send (sqe, c->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64 (sqe, (guint64)c->fd);
    n++;
    pending++;
    if (pending >= chunk) {
      io_uring_submit (&ring);
      pending = 0;
    }
  }
  if (n == 0)
    return;
  /* Non-blocking sends complete inside the submit (DEFER_TASKRUN: reaped here). */
  while (reaped < n) {
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    struct __kernel_timespec ts = {.tv_sec = 1};
    int rc = io_uring_submit_and_wait_timeout (&ring, &cqe, 1, &ts, NULL);

    if (rc < 0 && rc != -EINTR) {
      fprintf (stderr, "floor-server: io_uring wait: %s\n", strerror (-rc));
      exit (1);
    }
    io_uring_for_each_cqe (&ring, head, cqe)
    {
      Conn *c = conns[io_uring_cqe_get_data64 (cqe)];

      if (c != NULL)
        after_send (c, frame, len,
                    cqe->res == -EAGAIN ? 0 : (cqe->res < 0 ? (gssize)len : cqe->res));
      seen++;
    }
    io_uring_cq_advance (&ring, seen);
    reaped += (int)seen;
  }
}

/* Finds `"key":` in [p, end) and returns its value's first byte. */
static const char *
json_val (const char *p, const char *end, const char *key)
{
  gsize klen = strlen (key);
  const char *k = memmem (p, (gsize)(end - p), key, klen);

  if (k == NULL)
    return NULL;
  k += klen;
  while (k < end && (*k == ' ' || *k == ':'))
    k++;
  return k < end ? k : NULL;
}

/* Copies a JSON string value (no escapes expected) into @out. */
static void
json_str (const char *v, const char *end, char *out, gsize size)
{
  gsize n = 0;

  if (v == NULL || *v != '"')
    return;
  v++;
  while (v < end && *v != '"' && n + 1 < size)
    out[n++] = *v++;
  out[n] = '\0';
}

/* The end of the JSON object starting at @v (strings skipped), or NULL. */
static const char *
object_end (const char *v, const char *end)
{
  int depth = 0;
  gboolean in_str = FALSE;

  for (; v < end; v++) {
    if (in_str) {
      if (*v == '\\')
        v++;
      else if (*v == '"')
        in_str = FALSE;
    } else if (*v == '"') {
      in_str = TRUE;
    } else if (*v == '{') {
      depth++;
    } else if (*v == '}' && --depth == 0) {
      return v + 1;
    }
  }
  return NULL;
}

static void
on_text (Conn *c, const char *p, gsize len)
{
  const char *end = p + len, *type = json_val (p, end, "\"type\"");
  char reply[512];
  int n;

  if (type == NULL)
    return;
  if (g_str_has_prefix (type, "\"hello\"")) {
    json_str (json_val (p, end, "\"user\""), end, c->user, sizeof c->user);
    n = g_snprintf (
        reply, sizeof reply,
        "{\"type\":\"welcome\",\"id\":1,\"conn\":\"c%d\",\"user\":\"%s\",\"device\":"
        "\"bench\",\"server\":\"floor\",\"heartbeat_s\":30,\"max_message_bytes\":65536}",
        c->fd, c->user);
    send_frame (c, 1, reply, (gsize)n);
  } else if (g_str_has_prefix (type, "\"join\"")) {
    json_str (json_val (p, end, "\"room\""), end, room_name, sizeof room_name);
    if (!c->member) {
      c->member = TRUE;
      members[n_members++] = c->fd;
    }
    n = g_snprintf (reply, sizeof reply,
                    "{\"type\":\"ok\",\"id\":2,\"room\":\"%s\",\"seq\":%" G_GINT64_FORMAT "}",
                    room_name, room_seq);
    send_frame (c, 1, reply, (gsize)n);
  } else if (g_str_has_prefix (type, "\"publish\"")) {
    const char *pl = json_val (p, end, "\"payload\""), *pl_end;
    guint8 frame[4 + 4096];
    char body[4096];
    gsize h;

    if (pl == NULL || (pl_end = object_end (pl, end)) == NULL || !c->member)
      return;
    /* hub-server's shape: hub_encode_message() (room, seq, from, device, ts, payload). */
    n = g_snprintf (
        body, sizeof body,
        "{\"type\":\"message\",\"room\":\"%s\",\"seq\":%" G_GINT64_FORMAT
        ",\"from\":\"%s\",\"device\":\"bench\",\"ts\":%" G_GINT64_FORMAT ",\"payload\":%.*s}",
        room_name, ++room_seq, c->user, g_get_real_time () / 1000, (int)(pl_end - pl), pl);
    if (n <= 0 || (gsize)n >= sizeof body)
      return;
    h = frame_header (frame, 1, (gsize)n);
    memcpy (frame + h, body, (gsize)n);
    if (use_uring) {
      fanout_uring (frame, h + (gsize)n);
    } else {
      for (int i = 0; i < n_members; i++)
        conn_write (conns[members[i]], frame, h + (gsize)n);
    }
  }
}

/* Client frames (masked). Returns FALSE when the connection is to be closed. */
static gboolean
on_ws_input (Conn *c)
{
  GByteArray *rx = c->rx;
  gsize off = 0;

  while (rx->len - off >= 6) {
    guint8 *p = rx->data + off;
    int opcode = p[0] & 0x0f;
    gsize len = p[1] & 0x7f, hl = 2;

    if (len == 126) {
      len = ((gsize)p[2] << 8) | p[3];
      hl = 4;
    } else if (len == 127) {
      return FALSE; /* the driver never sends 64-bit lengths */
    }
    if (rx->len - off < hl + 4 + len)
      break;
    guint8 *mask = p + hl, *data = p + hl + 4;
    for (gsize i = 0; i < len; i++)
      data[i] ^= mask[i & 3];
    if (opcode == 1)
      on_text (c, (const char *)data, len);
    else if (opcode == 9)
      send_frame (c, 10, (const char *)data, len);
    else if (opcode == 8) {
      send_frame (c, 8, (const char *)data, MIN (len, (gsize)125));
      return FALSE;
    }
    off += hl + 4 + len;
  }
  g_byte_array_remove_range (rx, 0, (guint)off);
  return TRUE;
}

/* The HTTP upgrade: answers any request that carries a Sec-WebSocket-Key. */
static gboolean
on_http_input (Conn *c)
{
  const char *req = (const char *)c->rx->data;
  const char *eoh = g_strstr_len (req, c->rx->len, "\r\n\r\n");
  const char *key;
  char k[64] = "", resp[512];
  int n;

  if (eoh == NULL)
    return c->rx->len < 8192;
  key = g_strstr_len (req, eoh - req, "Sec-WebSocket-Key:");
  if (key == NULL)
    return FALSE;
  key += strlen ("Sec-WebSocket-Key:");
  while (*key == ' ')
    key++;
  for (gsize i = 0; i + 1 < sizeof k && key[i] != '\r'; i++)
    k[i] = key[i], k[i + 1] = '\0';

  g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 digest[20];
  gsize dlen = sizeof digest;
  g_checksum_update (sha, (const guchar *)k, (gssize)strlen (k));
  g_checksum_update (sha, (const guchar *)"258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
  g_checksum_get_digest (sha, digest, &dlen);
  g_autofree char *accept = g_base64_encode (digest, dlen);

  n = g_snprintf (
      resp, sizeof resp,
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: hub.v1\r\n\r\n",
      accept);
  conn_write (c, (const guint8 *)resp, (gsize)n);
  g_byte_array_remove_range (c->rx, 0, (guint)(eoh + 4 - req));
  c->ws = TRUE;
  return on_ws_input (c);
}

static void
on_readable (Conn *c)
{
  guint8 buf[16384];

  for (int round = 0; round < 16; round++) {
    gssize n = recv (c->fd, buf, sizeof buf, MSG_DONTWAIT);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      conn_close (c);
      return;
    }
    if (n < 0)
      return;
    g_byte_array_append (c->rx, buf, (guint)n);
    if (c->rx->len > RX_MAX || !(c->ws ? on_ws_input (c) : on_http_input (c))) {
      conn_close (c);
      return;
    }
    if ((gsize)n < sizeof buf)
      return;
  }
}

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  (void)sig;
  stop = 1;
}

int
main (int argc, char **argv)
{
  const char *host = "127.0.0.1", *mode = "send";
  int port = 0, lfd, one = 1;
  struct sockaddr_in sa = {.sin_family = AF_INET};

  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp (argv[i], "--port") == 0)
      port = atoi (argv[i + 1]);
    else if (strcmp (argv[i], "--host") == 0)
      host = argv[i + 1];
    else if (strcmp (argv[i], "--mode") == 0)
      mode = argv[i + 1];
    else if (strcmp (argv[i], "--chunk") == 0)
      chunk = MAX (atoi (argv[i + 1]), 1);
  }
  if (port <= 0 || (strcmp (mode, "send") != 0 && strcmp (mode, "uring") != 0)) {
    fprintf (stderr, "usage: floor-server --port N [--host H] [--mode send|uring] [--chunk K]\n");
    return 2;
  }
  use_uring = strcmp (mode, "uring") == 0;
  if (use_uring) {
    int rc = io_uring_queue_init (RING_SIZE, &ring,
                                  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    if (rc < 0) {
      fprintf (stderr, "floor-server: io_uring: %s\n", strerror (-rc));
      return 1;
    }
  }
  signal (SIGTERM, on_signal);
  signal (SIGINT, on_signal);
  signal (SIGPIPE, SIG_IGN);

  lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sa.sin_port = htons ((guint16)port);
  inet_pton (AF_INET, host, &sa.sin_addr);
  if (bind (lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen (lfd, 4096) < 0) {
    perror ("floor-server: bind/listen");
    return 1;
  }
  ep = epoll_create1 (EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl (ep, EPOLL_CTL_ADD, lfd, &lev);
  fprintf (stderr, "floor-server: %s mode on %s:%d\n", mode, host, port);

  while (!stop) {
    struct epoll_event evs[256];
    int n = epoll_wait (ep, evs, 256, 1000);

    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;

      if (fd == lfd) {
        for (int k = 0; k < 256; k++) {
          int cfd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0)
            break;
          if (cfd >= MAX_CONNS) {
            close (cfd);
            continue;
          }
          setsockopt (cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          Conn *c = g_new0 (Conn, 1);
          c->fd = cfd;
          c->rx = g_byte_array_new ();
          c->out = g_byte_array_new ();
          conns[cfd] = c;
          struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
          epoll_ctl (ep, EPOLL_CTL_ADD, cfd, &ev);
        }
        continue;
      }
      Conn *c = conns[fd];
      if (c != NULL && (evs[i].events & EPOLLOUT))
        on_writable (c);
      if ((c = conns[fd]) != NULL && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable (c);
    }
  }
  for (int fd = 0; fd < MAX_CONNS; fd++)
    if (conns[fd] != NULL)
      conn_close (conns[fd]);
  close (lfd);
  close (ep);
  if (use_uring)
    io_uring_queue_exit (&ring);
  return 0;
}

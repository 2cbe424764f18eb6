/* hub-lg-wire-uring-unix.c: hub-lg-wire's io_uring engine (Linux 6.1 or
 * later, built where liburing is found). Each open socket has one multishot
 * recv armed for its whole life; the kernel reads whatever arrives into a
 * buffer it takes from a ring of provided buffers and posts a completion.
 * The loop's source polls the ring's descriptor; one io_uring_enter() per
 * dispatch then runs every pending read (DEFER_TASKRUN: the reads happen
 * there, together, not at interrupts) and the completions are walked in
 * order. With epoll the same work costs an epoll_wait() and a recv() per
 * ready socket: in bench.sh's fan-out (one small frame per socket per
 * message) this engine takes a third off the loadgen's kernel time per
 * delivery (docs/performance.md). Connects and full send buffers are waited
 * for with one-shot polls. */
#include "hub-lg-wire-unix.h"

#ifdef HUB_HAVE_LIBURING

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SQ_ENTRIES 1024
/* Completions can come in bursts of one per socket: room for a large burst
 * (the kernel keeps any overflow, and the dispatch loops until it is taken). */
#define CQ_ENTRIES 16384
/* Provided buffers: one per read in flight. A burst that finds none left ends
 * that socket's multishot recv with ENOBUFS, and it is armed again once the
 * buffers are back (the bytes wait in the socket meanwhile). */
#define BUF_COUNT  512 /* a power of two */
#define BUF_SIZE   (16 * 1024)
#define BUF_GROUP  0
#define MAX_ROUNDS 8

/* user_data: a WireConn pointer (malloc-aligned) with the request kind in
 * its low bits; cancel requests carry no connection. */
enum {
  TAG_RECV = 1,
  TAG_POLL = 2,
  TAG_CANCEL = 3,
  TAG_MASK = 7,
};

struct _WireUring {
  WireLoop *loop; /* (unowned) */
  struct io_uring ring;
  struct io_uring_buf_ring *buf_ring; /* (owned) */
  guint8 *bufs;                       /* (owned) BUF_COUNT × BUF_SIZE */
  guint returned;                     /* buffers added back since the last advance */
  GHashTable *held;                   /* WireConn* set: connections with a request in flight */
};

static gint64
clock_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64)ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

WireUring *
hub_lg_wire_uring_new (WireLoop *loop)
{
  WireUring *u = g_new0 (WireUring, 1);
  struct io_uring_params params = {
      .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
      .cq_entries = CQ_ENTRIES,
  };
  struct io_uring_buf_reg reg = {.ring_entries = BUF_COUNT, .bgid = BUF_GROUP};
  int rc = io_uring_queue_init_params (SQ_ENTRIES, &u->ring, &params);

  /* DEFER_TASKRUN (Linux 6.1) also says multishot recv and buffer rings are there. */
  if (rc < 0) {
    g_debug ("io_uring not available (%s): epoll", g_strerror (-rc));
    g_free (u);
    return NULL;
  }
  if (posix_memalign ((void **)&u->buf_ring, 4096, BUF_COUNT * sizeof (struct io_uring_buf)) != 0) {
    io_uring_queue_exit (&u->ring);
    g_free (u);
    return NULL;
  }
  u->bufs = g_malloc (BUF_COUNT * BUF_SIZE);
  io_uring_buf_ring_init (u->buf_ring);
  reg.ring_addr = (guint64)(uintptr_t)u->buf_ring;
  rc = io_uring_register_buf_ring (&u->ring, &reg, 0);
  if (rc < 0) {
    g_debug ("io_uring buffer rings not available (%s): epoll", g_strerror (-rc));
    io_uring_queue_exit (&u->ring);
    free (u->buf_ring);
    g_free (u->bufs);
    g_free (u);
    return NULL;
  }
  for (guint i = 0; i < BUF_COUNT; i++)
    io_uring_buf_ring_add (u->buf_ring, u->bufs + (gsize)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                           io_uring_buf_ring_mask (BUF_COUNT), (int)i);
  io_uring_buf_ring_advance (u->buf_ring, BUF_COUNT);
  u->loop = loop;
  u->held = g_hash_table_new (g_direct_hash, g_direct_equal);
  return u;
}

void
hub_lg_wire_uring_free (WireUring *u)
{
  GHashTableIter iter;
  gpointer conn;

  /* Ends every request: no completion comes after this. */
  io_uring_queue_exit (&u->ring);
  /* The loop swept every connection before: those still held are only ours to free. */
  g_hash_table_iter_init (&iter, u->held);
  while (g_hash_table_iter_next (&iter, &conn, NULL))
    hub_lg_wire_conn_free (conn);
  g_hash_table_unref (u->held);
  free (u->buf_ring);
  g_free (u->bufs);
  g_free (u);
}

int
hub_lg_wire_uring_fd (WireUring *u)
{
  return u->ring.ring_fd;
}

gboolean
hub_lg_wire_uring_pending (WireUring *u)
{
  return io_uring_sq_ready (&u->ring) > 0;
}

static struct io_uring_sqe *
get_sqe (WireUring *u)
{
  struct io_uring_sqe *sqe = io_uring_get_sqe (&u->ring);

  if (sqe == NULL) {
    /* The submission queue is full: hand it over now. */
    io_uring_submit (&u->ring);
    sqe = io_uring_get_sqe (&u->ring);
  }
  return sqe;
}

static void
hold (WireUring *u, WireConn *conn)
{
  if (conn->inflight++ == 0)
    g_hash_table_add (u->held, conn);
}

/* A request of @conn gave its last completion; a connection the loop already
 * swept goes with its last one. */
static void
release (WireUring *u, WireConn *conn)
{
  if (--conn->inflight > 0)
    return;
  g_hash_table_remove (u->held, conn);
  if (conn->swept)
    hub_lg_wire_conn_free (conn);
}

static void
arm_poll (WireUring *u, WireConn *conn)
{
  struct io_uring_sqe *sqe;

  if (conn->poll_armed)
    return;
  sqe = get_sqe (u);
  io_uring_prep_poll_add (sqe, conn->fd, POLLOUT);
  io_uring_sqe_set_data64 (sqe, (guint64)(uintptr_t)conn | TAG_POLL);
  conn->poll_armed = TRUE;
  hold (u, conn);
}

void
hub_lg_wire_uring_watch_connect (WireUring *u, WireConn *conn)
{
  arm_poll (u, conn);
}

void
hub_lg_wire_uring_watch_write (WireUring *u, WireConn *conn)
{
  arm_poll (u, conn);
}

void
hub_lg_wire_uring_watch_read (WireUring *u, WireConn *conn)
{
  struct io_uring_sqe *sqe;

  if (conn->recv_armed)
    return;
  sqe = get_sqe (u);
  io_uring_prep_recv_multishot (sqe, conn->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BUF_GROUP;
  io_uring_sqe_set_data64 (sqe, (guint64)(uintptr_t)conn | TAG_RECV);
  conn->recv_armed = TRUE;
  hold (u, conn);
}

static void
cancel (WireUring *u, WireConn *conn, guint tag)
{
  struct io_uring_sqe *sqe = get_sqe (u);

  /* By user_data, not by descriptor: the number may be reused at once. */
  io_uring_prep_cancel64 (sqe, (guint64)(uintptr_t)conn | tag, 0);
  io_uring_sqe_set_data64 (sqe, TAG_CANCEL);
}

void
hub_lg_wire_uring_forget (WireUring *u, WireConn *conn)
{
  if (conn->recv_armed)
    cancel (u, conn, TAG_RECV);
  if (conn->poll_armed)
    cancel (u, conn, TAG_POLL);
}

static void
give_back (WireUring *u, guint bid)
{
  io_uring_buf_ring_add (u->buf_ring, u->bufs + (gsize)bid * BUF_SIZE, BUF_SIZE,
                         (unsigned short)bid, io_uring_buf_ring_mask (BUF_COUNT), (int)u->returned);
  u->returned++;
}

static void
on_recv (WireUring *u, WireConn *conn, const struct io_uring_cqe *cqe)
{
  gboolean more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  gboolean has_buffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
  guint bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

  if (!more)
    conn->recv_armed = FALSE;
  if (cqe->res > 0 && has_buffer)
    hub_lg_wire_conn_data (conn, u->bufs + (gsize)bid * BUF_SIZE, (gsize)cqe->res);
  if (has_buffer)
    give_back (u, bid);
  if (conn->state == WIRE_DEAD) {
    /* ended meanwhile: nothing to re-arm */
  } else if (cqe->res == 0) {
    hub_lg_wire_conn_ended (conn, 0);
  } else if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED) {
    hub_lg_wire_conn_ended (conn, -cqe->res);
  } else if (!more) {
    /* Out of buffers (they are back now), or the kernel ended the multishot. */
    hub_lg_wire_uring_watch_read (u, conn);
  }
  if (!more)
    release (u, conn);
}

static void
on_poll (WireUring *u, WireConn *conn, const struct io_uring_cqe *cqe)
{
  conn->poll_armed = FALSE;
  if (conn->state == WIRE_CONNECTING) {
    int error = 0;
    socklen_t len = sizeof error;

    if (cqe->res < 0)
      error = -cqe->res;
    else if (getsockopt (conn->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
      error = errno;
    hub_lg_wire_conn_connected (conn, error);
  } else if (conn->state != WIRE_DEAD && conn->want_out) {
    conn->want_out = FALSE; /* the poll was one-shot */
    hub_lg_wire_conn_writable (conn);
  }
  release (u, conn);
}

void
hub_lg_wire_uring_dispatch (WireUring *u)
{
  for (guint round = 0; round < MAX_ROUNDS; round++) {
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;

    /* Submits what was asked for and runs every read that is due. */
    io_uring_submit_and_get_events (&u->ring);
    /* Every byte in these completions was there before this moment. */
    hub_lg_wire_set_read_time_ns (clock_ns ());
    io_uring_for_each_cqe (&u->ring, head, cqe)
    {
      guint64 data = cqe->user_data;
      WireConn *conn = (WireConn *)(uintptr_t)(data & ~(guint64)TAG_MASK);

      seen++;
      switch (data & TAG_MASK) {
        case TAG_RECV:
          on_recv (u, conn, cqe);
          break;
        case TAG_POLL:
          on_poll (u, conn, cqe);
          break;
        default:
          break;
      }
    }
    io_uring_cq_advance (&u->ring, seen);
    if (u->returned > 0) {
      io_uring_buf_ring_advance (u->buf_ring, (int)u->returned);
      u->returned = 0;
    }
    if (seen == 0)
      break;
  }
}

#else /* !HUB_HAVE_LIBURING */

WireUring *
hub_lg_wire_uring_new (WireLoop *loop)
{
  return NULL;
}

void
hub_lg_wire_uring_free (WireUring *u)
{
}

int
hub_lg_wire_uring_fd (WireUring *u)
{
  return -1;
}

gboolean
hub_lg_wire_uring_pending (WireUring *u)
{
  return FALSE;
}

void
hub_lg_wire_uring_dispatch (WireUring *u)
{
}

void
hub_lg_wire_uring_watch_connect (WireUring *u, WireConn *conn)
{
}

void
hub_lg_wire_uring_watch_read (WireUring *u, WireConn *conn)
{
}

void
hub_lg_wire_uring_watch_write (WireUring *u, WireConn *conn)
{
}

void
hub_lg_wire_uring_forget (WireUring *u, WireConn *conn)
{
}

#endif

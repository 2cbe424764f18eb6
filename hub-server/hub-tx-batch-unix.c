/* hub-tx-batch-unix.c: HubTxBatch on Linux's io_uring (built only where liburing is
 * found, so Linux). One fan-out message to a thousand sockets costs a thousand send()
 * system calls otherwise, and a system call is what costs most here (docs/performance.md);
 * through one io_uring_enter() the kernel does the same sends for about half the CPU. */
#include "hub-tx-batch.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/socket.h>

/* Sends per submit (the ring's size) and bytes they may hold together: a
 * fan-out of 1,000 small frames is one submit. */
#define BATCH_SENDS 1024
#define BATCH_BYTES (256 * 1024)
/* The most one send may carry (the write path gathers up to 16 KiB). */
#define MAX_SEND (16 * 1024)

typedef struct {
  gpointer tag;
  gsize offset, len;
} Send;

struct _HubTxBatch {
  struct io_uring ring;
  guint n;     /* sends added */
  gsize bytes; /* arena bytes used */
  Send sends[BATCH_SENDS];
  guint8 arena[BATCH_BYTES];
};

HubTxBatch *
hub_tx_batch_new (void)
{
  HubTxBatch *batch = g_new0 (HubTxBatch, 1);
  /* One thread submits, and completions are collected only when it waits:
   * the cheapest mode (Linux 6.1). Older kernels refuse the flags: no batches
   * then, rather than sends that might wait in the kernel (a MSG_DONTWAIT send
   * must complete inline, as it does with these flags' kernels). */
  int rc = io_uring_queue_init (BATCH_SENDS, &batch->ring,
                                IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);

  if (rc < 0) {
    g_debug ("io_uring not available (%s): one send per connection", g_strerror (-rc));
    g_free (batch);
    return NULL;
  }
  return batch;
}

void
hub_tx_batch_free (HubTxBatch *batch)
{
  if (batch == NULL)
    return;
  io_uring_queue_exit (&batch->ring);
  g_free (batch);
}

gsize
hub_tx_batch_max_len (HubTxBatch *batch)
{
  (void)batch;
  return MAX_SEND;
}

guint
hub_tx_batch_pending (HubTxBatch *batch)
{
  return batch->n;
}

gboolean
hub_tx_batch_add (HubTxBatch *batch, int fd, const guint8 *data, gsize len, gpointer tag)
{
  struct io_uring_sqe *sqe;
  Send *send;

  g_return_val_if_fail (len > 0 && len <= MAX_SEND, FALSE);
  if (batch->n == BATCH_SENDS || len > BATCH_BYTES - batch->bytes)
    return FALSE;
  sqe = io_uring_get_sqe (&batch->ring);
  if (sqe == NULL)
    return FALSE;
  send = &batch->sends[batch->n];
  send->tag = tag;
  send->offset = batch->bytes;
  send->len = len;
  /* Gathered in place (hub_tx_batch_reserve): nothing to copy. Gathered at
   * a reservation made before a submit: moved (it may overlap). */
  if (data != batch->arena + batch->bytes) {
    if (data >= batch->arena && data < batch->arena + BATCH_BYTES)
      memmove (batch->arena + batch->bytes, data, len);
    else
      memcpy (batch->arena + batch->bytes, data, len);
  }
  /* MSG_DONTWAIT: a full socket answers -EAGAIN at once instead of the ring
   * waiting for it; MSG_NOSIGNAL: a reset peer is an error, not SIGPIPE. */
  io_uring_prep_send (sqe, fd, batch->arena + batch->bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  io_uring_sqe_set_data64 (sqe, batch->n);
  batch->n++;
  batch->bytes += len;
  return TRUE;
}

guint8 *
hub_tx_batch_reserve (HubTxBatch *batch, gsize *available)
{
  if (batch->n == BATCH_SENDS) {
    *available = 0;
    return NULL;
  }
  *available = BATCH_BYTES - batch->bytes;
  return batch->arena + batch->bytes;
}

/* Waits for @n completions, storing each result in results[index]. */
static guint
reap (HubTxBatch *batch, guint n, int *results, int timeout_ms)
{
  struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = (long long)timeout_ms * 1000000};
  guint got = 0;

  while (got < n) {
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    int rc = io_uring_submit_and_wait_timeout (&batch->ring, &cqe, 1, &ts, NULL);

    if (rc < 0 && rc != -EINTR)
      break; /* -ETIME: nothing more came within the timeout */
    io_uring_for_each_cqe (&batch->ring, head, cqe)
    {
      guint64 i = io_uring_cqe_get_data64 (cqe);

      if (i < batch->n)
        results[i] = cqe->res;
      seen++;
    }
    io_uring_cq_advance (&batch->ring, seen);
    got += seen;
  }
  return got;
}

void
hub_tx_batch_submit (HubTxBatch *batch, HubTxBatchDoneFunc done, gpointer user_data)
{
  int results[BATCH_SENDS];
  guint n = batch->n;

  if (n == 0)
    return;
  for (guint i = 0; i < n; i++)
    results[i] = -EAGAIN;
  /* Non-blocking sends complete inside the submit; the timeout is only a
   * guard against a kernel that would park one (then it is cancelled and
   * counted as not sent, and the caller writes it itself). */
  guint got = reap (batch, n, results, 1000);

  if (got < n) {
    struct io_uring_sqe *sqe = io_uring_get_sqe (&batch->ring);

    g_warning ("io_uring: sends did not complete; cancelling them");
    if (sqe != NULL) {
      io_uring_prep_cancel64 (sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64 (sqe, G_MAXUINT64);
    }
    reap (batch, n - got + (sqe != NULL), results, 1000);
  }
  for (guint i = 0; i < n; i++) {
    const Send *send = &batch->sends[i];
    int res = results[i];
    gssize sent = res >= 0 ? res : (res == -EAGAIN || res == -ECANCELED ? 0 : -1);

    done (send->tag, batch->arena + send->offset, send->len, sent, user_data);
  }
  batch->n = 0;
  batch->bytes = 0;
}

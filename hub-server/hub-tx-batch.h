/* hub-tx-batch.h: many sends to many sockets in one system call. The write
 * path gathers one send per connection and submits them together; on Linux
 * with io_uring (hub-tx-batch-unix.c) that is one io_uring_enter() for all of
 * them, elsewhere (hub-tx-batch-none.c) batches are not available and the
 * caller writes each connection itself. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HubTxBatch HubTxBatch;

/* Called once per added send after hub_tx_batch_submit(): @sent is how many
 * bytes of @data the kernel took (0..@len; 0 also when the socket was full),
 * or -1 when the socket failed (reset, closed). @data stays valid only during
 * the call: the caller writes the rest another way. */
typedef void (*HubTxBatchDoneFunc) (gpointer tag, const guint8 *data, gsize len, gssize sent,
                                    gpointer user_data);

/* NULL when batching is not available here (no io_uring in this build, or
 * the kernel refuses it: old, disabled by sysctl or a seccomp filter). */
HubTxBatch *hub_tx_batch_new (void);
void hub_tx_batch_free (HubTxBatch *batch);

/* Copies @len bytes (at most hub_tx_batch_max_len()) for non-blocking socket
 * @fd into the batch. FALSE when the batch is full: submit it, then add again.
 * Bytes already in the batch's memory (written at hub_tx_batch_reserve()'s
 * pointer) are not copied when @data is where the next send's bytes go. */
gboolean hub_tx_batch_add (HubTxBatch *batch, int fd, const guint8 *data, gsize len, gpointer tag);
/* Where the next add's bytes go, and in *@available how many bytes are free
 * there for this and the following sends (one send is still at most
 * hub_tx_batch_max_len()): the caller may gather a send there and add it from
 * there without a copy; the next send's bytes then go right after it. NULL
 * (and 0) when the batch holds as many sends as it can, or batches are not
 * available. Bytes written there stay until the next add; submit does not
 * touch them, so a gathered send survives a submit (hub_tx_batch_add() then
 * moves it to the new free space). */
guint8 *hub_tx_batch_reserve (HubTxBatch *batch, gsize *available);
/* The largest single send hub_tx_batch_add() takes. */
gsize hub_tx_batch_max_len (HubTxBatch *batch);
/* Sends added since the last submit. */
guint hub_tx_batch_pending (HubTxBatch *batch);
/* Sends everything added, calls @done for each in the order added, and empties
 * the batch. Never blocks: sends the kernel cannot take at once come back as
 * partial or 0. */
void hub_tx_batch_submit (HubTxBatch *batch, HubTxBatchDoneFunc done, gpointer user_data);

G_END_DECLS

/* hub-tx-batch-none.c: builds without io_uring (not Linux, or no liburing at
 * build time): no batches; the write path sends each connection itself. */
#include "hub-tx-batch.h"

HubTxBatch *
hub_tx_batch_new (void)
{
  return NULL;
}

void
hub_tx_batch_free (HubTxBatch *batch)
{
  (void)batch;
}

gboolean
hub_tx_batch_add (HubTxBatch *batch, int fd, const guint8 *data, gsize len, gpointer tag)
{
  (void)batch, (void)fd, (void)data, (void)len, (void)tag;
  return FALSE;
}

guint8 *
hub_tx_batch_reserve (HubTxBatch *batch, gsize *available)
{
  (void)batch;
  *available = 0;
  return NULL;
}

gsize
hub_tx_batch_max_len (HubTxBatch *batch)
{
  (void)batch;
  return 0;
}

guint
hub_tx_batch_pending (HubTxBatch *batch)
{
  (void)batch;
  return 0;
}

void
hub_tx_batch_submit (HubTxBatch *batch, HubTxBatchDoneFunc done, gpointer user_data)
{
  (void)batch, (void)done, (void)user_data;
}

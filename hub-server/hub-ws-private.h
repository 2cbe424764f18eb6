/* hub-ws-private.h: inside hub-server's WebSocket transport, what its files
 * share: a connection's session and its close lifecycle (one state, moved only
 * by hub_ws_session_set_state()), the transport's struct, and each job's entry
 * points. hub-ws-transport.c: lifetime and the lws callback; hub-ws-receive.c:
 * messages in; hub-ws-send.c: frames out (the flush queue, batched sends);
 * hub-ws-close.c: the state machine, the close handshake and its deadlines. */
#pragma once

#include <glib.h>
#include <hub/hub.h>
#include <libwebsockets.h>

#include "hub-admission.h"
#include "hub-conn-events.h"
#include "hub-http.h"
#include "hub-listener.h"
#include "hub-tx-batch.h"
#include "hub-ws-transport.h"

G_BEGIN_DECLS

/* lws's per-connection rx buffer (its default would be pt_serv_buf_size, 4
 * KiB), allocated for every WebSocket connection when it is established and
 * kept until it closes: it was most of what an idle connection costs (lws
 * cannot free or shrink it while the connection lives). lws hands a message
 * to RECEIVE in pieces of at most this size; a piece that is the whole
 * message is dispatched straight from lws's buffer, larger messages are
 * reassembled in HubWsSession. Client messages are requests of a few hundred
 * bytes at most (a publish with a 100-byte payload is ~170 bytes, a hello
 * with a typical token ~300-400), so 512 bytes holds nearly all of them whole
 * and saves 3.5 KiB per connection (70 MiB at 20k connections) over lws's
 * default. lws keeps control frames (≤ 125 bytes of payload) in it too. */
#define HUB_WS_RX_BUFFER_SIZE 512
/* Frames gathered into one send (one buffer for the whole transport, as only
 * one connection writes at a time). 16 KiB is ~80 typical 200-byte frames:
 * a syscall per 80 frames instead of per frame, while what a full socket makes
 * lws copy into its per-connection buffer stays at most this much. */
#define HUB_WS_TX_BATCH_BYTES (16 * 1024)

/* A WebSocket connection's close lifecycle, in one place (hub-ws-close.c has
 * the table of legal moves; an illegal one is a bug and aborts):
 *
 *   HTTP --ESTABLISHED--> OPEN --our close--> CLOSE_QUEUED --its frame written--> CLOSE_SENT
 *                          |                     |                                   |
 *                          | client's close      | client's close                    | answer
 *                          v                     |                                   v
 *                     PEER_CLOSED <--------------+                              (lws: CLOSED)
 *
 *   OPEN, CLOSE_QUEUED, CLOSE_SENT, PEER_CLOSED --a write failed--> FAILED
 *   CLOSE_QUEUED, CLOSE_SENT, PEER_CLOSED (once our close is decided)
 *                                         --deadline passed--> TIMED_OUT (reset)
 *   every state --lws's CLOSED--> CLOSED (the session memory goes with the wsi)
 *
 * Frames are written only in OPEN and CLOSE_QUEUED (the close frame last, in
 * CLOSE_QUEUED); the HubConnection is held from OPEN until the close frame is
 * written or CLOSED, whichever comes first. FAILED and TIMED_OUT last only
 * until lws is told to end the connection (at the end of the flush, or at
 * once), which brings CLOSED. */
typedef enum {
  HUB_WS_HTTP = 0,     /* not a WebSocket (yet): lws zeroes the session */
  HUB_WS_OPEN,         /* ESTABLISHED: frames flow both ways */
  HUB_WS_CLOSE_QUEUED, /* our close is decided: its frame follows the queue */
  HUB_WS_CLOSE_SENT,   /* our close frame is written: the client's answer ends it */
  HUB_WS_PEER_CLOSED,  /* the client's close came first: lws answers it, we write nothing */
  HUB_WS_FAILED,       /* a write failed: the socket is gone, lws is to end it */
  HUB_WS_TIMED_OUT,    /* the close did not finish in time: ended with a reset */
  HUB_WS_CLOSED,       /* lws's CLOSED came: nothing more happens */
  HUB_WS_N_STATES
} HubWsState;

/* One WebSocket connection. Lives in lws's per-session data, which lws
 * allocates for every connection: kept small (flags as bits, the rare close
 * reason on the heap). */
typedef struct {
  HubWsTransport *transport; /* (unowned) */
  struct lws *wsi;           /* (unowned) */
  HubConnection *conn;       /* (owned) (nullable) a ref, held as the state says */
  guint8 *rx;                /* reassembly buffer (owned) (nullable) */
  gsize rx_len, rx_alloc;
  GList flush_link;         /* in transport->flush_queue when flush_pending */
  GList closing_link;       /* in transport->closing (data NULL when not) */
  gint64 close_deadline_us; /* monotonic: dropped when not CLOSED by then */
  char *close_reason;       /* (owned) (nullable) non-NULL once our close is decided */
  char *peer;               /* (owned) (nullable) the peer's address, for the close line */
  guint16 close_code;
  guint16 peer_close_code; /* the client's close frame's code (1005: none given), 0: none came */
  guint8 close_reason_len;
  guint8 state; /* HubWsState: only hub_ws_session_set_state() changes it */
  /* receiving (hub-ws-receive.c) */
  guint rx_binary : 1;  /* the current message is binary */
  guint rx_discard : 1; /* ignore the rest of the current message */
  /* sending (hub-ws-send.c) */
  guint flush_pending : 1;      /* to be written at the end of this loop iteration */
  guint writing : 1;            /* inside write_out(): the sink may write */
  guint choked : 1;             /* lws holds unsent bytes: wait for WRITEABLE */
  guint writable_requested : 1; /* lws_callback_on_writable() pending */
  guint in_batch : 1;           /* has a send in transport->batch (see tx_send) */
  guint ping_pending : 1;
} HubWsSession;

/* lws's per-session data: HTTP state first (a keep-alive connection may serve
 * requests before it upgrades), WebSocket state after the upgrade. */
typedef struct {
  HubHttpSession http;
  HubWsSession ws;
} HubSession;

/* A shutdown's wait for the store (hub-ws-transport.c): its answer may come
 * after the transport is gone (the store is freed after it, answering what is
 * pending), and finds @t NULL then. */
typedef struct {
  HubWsTransport *t; /* (unowned) (nullable) */
} HubWsShutdownSync;

struct _HubWsTransport {
  HubDispatcher *dispatcher;   /* (unowned) */
  HubLoop *loop;               /* (unowned) */
  HubConnEvents *events;       /* (owned) open and close lines, closes and lag metrics */
  struct lws_context *context; /* (owned) */
  struct lws_vhost *vhost;     /* (unowned) owned by the context */
  HubListener *listener;       /* (owned) */
  gboolean tls;
  struct lws_protocols protocols[2]; /* lws keeps a pointer: lives here */
  guint port;
  guint n_connections;   /* sessions past HTTP and not yet CLOSED */
  GSource *flush_source; /* (owned) writes flush_queue once per loop iteration */
  GQueue flush_queue;    /* HubWsSession* (unowned, via their flush_link) */
  GQueue closing;        /* HubWsSession* closing (unowned, via closing_link), by deadline */
  guint close_timer;     /* drops those past their deadline, 0 when none */
  gsize tx_len;          /* bytes gathered in tx */
  HubTxBatch *batch;     /* (owned) (nullable) sends of one flush, when available */
  gboolean flushing;     /* inside the flush: FAILED sessions are ended after it */
  gboolean batching;     /* flushing with a batch: tx_send() defers */
  GPtrArray *failed;     /* HubWsSession* (unowned) FAILED in this flush, ended after it */
  guint8 *tx;            /* (unowned) where a send is gathered: tx_own, or in a
                          * flush that batches, the batch's own memory (tx_begin) */
  guint8 tx_own[HUB_WS_TX_BATCH_BYTES];
  gsize batch_max_len; /* hub_tx_batch_max_len() */
  gboolean shutting_down;
  HubAdmission *admission; /* (owned) who may connect, and for how long before a request */
  HubHttp *http;           /* (owned) the HTTP routes */
  guint max_connections;
  guint descriptor_bound; /* max_connections when none is given: the descriptors less those kept */
  /* Shutdown waits (at most SHUTDOWN_SYNC_MS) for the deliveries of the
   * messages already accepted before it closes everyone (§9). */
  guint shutdown_sync_timer;
  HubWsShutdownSync *shutdown_sync; /* (nullable) the sync under way */
  gboolean closed_all;
  HubWsTransportDrainedFunc drained; /* (nullable) called once */
  gpointer drained_data;
};

/* ---- the state (hub-ws-close.c) ---- */

/* Moves @s to @to; aborts on a move the diagram above does not have. */
void hub_ws_session_set_state (HubWsSession *s, HubWsState to);
const char *hub_ws_state_to_string (HubWsState state);
/* Frames may be written (the close frame included): OPEN or CLOSE_QUEUED. */
static inline gboolean
hub_ws_session_can_write (const HubWsSession *s)
{
  return s->state == HUB_WS_OPEN || s->state == HUB_WS_CLOSE_QUEUED;
}

/* ---- closing (hub-ws-close.c) ---- */

/* A write to @s failed: → FAILED. Inside the flush it is ended once the flush
 * is over; elsewhere (a WRITEABLE callback) the caller returns -1 to lws. */
void hub_ws_session_fail (HubWsSession *s);
/* After the write that carried the close frame: the client gets
 * CLOSE_TIMEOUT_S to answer, and the HubConnection goes back to the
 * dispatcher. */
void hub_ws_session_close_written (HubWsSession *s);
/* Ends every session FAILED in this flush. */
void hub_ws_transport_end_failed (HubWsTransport *t);
/* LWS_CALLBACK_WS_PEER_INITIATED_CLOSE with the close frame's payload (lws's
 * buffer, echoed after this returns); returns what the callback returns. */
int hub_ws_session_on_peer_close (HubWsSession *s, guint8 *payload, gsize len);
/* LWS_CALLBACK_CLOSED. */
void hub_ws_session_on_closed (HubWsTransport *t, struct lws *wsi, HubSession *session);
/* HubSinkVTable.close. */
void hub_ws_sink_close (gpointer data, guint16 code, const char *reason);

/* ---- receiving (hub-ws-receive.c) ---- */

/* LWS_CALLBACK_RECEIVE. */
int hub_ws_session_on_receive (HubWsSession *s, struct lws *wsi, const char *in, gsize len);
/* LWS_CALLBACK_RECEIVE_PONG. */
void hub_ws_session_on_pong (HubWsSession *s);
/* Frees the reassembly buffer. */
void hub_ws_session_rx_clear (HubWsSession *s);

/* ---- sending (hub-ws-send.c) ---- */

/* The source that writes the flush queue once per loop iteration; destroyed
 * by the transport. (transfer full) */
GSource *hub_ws_flush_source_new (HubWsTransport *t);
/* Takes @s off the flush queue (when it is on it). */
void hub_ws_session_flush_unlink (HubWsSession *s);
/* LWS_CALLBACK_SERVER_WRITEABLE; returns what the callback returns. */
int hub_ws_session_on_writeable (HubWsSession *s);
/* HubSinkVTable.write, .request_writable and .ping. */
gboolean hub_ws_sink_write (gpointer data, HubFrame *frame);
void hub_ws_sink_request_writable (gpointer data);
void hub_ws_sink_ping (gpointer data);

G_END_DECLS

/* hub-lg-stats.h: the figures a worker thread keeps while a run goes on —
 * counters, errors and close codes by kind, latency histograms — in a form
 * the main thread can copy and add up (one HubLgStats per worker, merged for
 * the progress line and the report). */
#pragma once

#include "hub-lg-histogram.h"

G_BEGIN_DECLS

typedef enum {
  /* gauges: how things stand now */
  HUB_LG_DEVICES,
  HUB_LG_CONNECTED, /* welcomed, not yet closed */
  HUB_LG_READY,     /* connected and every join answered */
  HUB_LG_GONE,      /* disconnected for good (no reconnect, or refused) */
  HUB_LG_INFLIGHT,  /* requests sent and not yet answered */
  /* connections */
  HUB_LG_CONNECTS,         /* first welcomes */
  HUB_LG_RECONNECTS,       /* later welcomes (each resumes) */
  HUB_LG_CONNECT_FAILURES, /* attempts that ended before a welcome */
  HUB_LG_CHURN_DROPS,      /* connections the loadgen dropped on purpose */
  HUB_LG_CLOSES,           /* connections lost otherwise */
  /* sends, by action (same order as HubLgAction) */
  HUB_LG_SENT_PUBLISH,
  HUB_LG_SENT_DIRECT,
  HUB_LG_SENT_TYPING,
  HUB_LG_SENT_STATUS,
  HUB_LG_DEFERRED, /* sent late: no device of the user was up at the scheduled time */
  HUB_LG_SKIPPED,  /* never sent: still waiting for a device when the phase ended */
  /* replies */
  HUB_LG_PUBLISH_ACKED,
  HUB_LG_PUBLISH_REJECTED, /* an error reply */
  HUB_LG_PUBLISH_UNKNOWN,  /* no reply: connection lost or timed out */
  HUB_LG_DIRECT_ACKED,
  HUB_LG_DIRECT_OFFLINE,  /* user_offline: nobody to deliver to (not an error) */
  HUB_LG_DIRECT_EXPECTED, /* Σ `delivered` of the direct replies */
  HUB_LG_JOINS_FAILED,
  /* received */
  HUB_LG_MESSAGES_LIVE,     /* message frames outside a resume replay */
  HUB_LG_MESSAGES_REPLAYED, /* message frames of a resume replay */
  HUB_LG_MESSAGES_FOREIGN,  /* for a room the device does not follow */
  HUB_LG_GAPS,              /* receipts that skipped seqs */
  HUB_LG_DUPLICATES,
  HUB_LG_OUT_OF_ORDER,
  HUB_LG_DIRECT_RECEIVED, /* direct frames to the device's user */
  HUB_LG_DIRECT_ECHOES,   /* copies of the user's own directs on its other devices */
  HUB_LG_TYPING_RECEIVED,
  HUB_LG_STATUS_RECEIVED,
  HUB_LG_PRESENCE_RECEIVED,
  HUB_LG_FRAMES_UNREADABLE,  /* not JSON, no type, an unknown type, a late reply (errors too) */
  HUB_LG_RESUMES,            /* resumed frames */
  HUB_LG_RESUMES_INCOMPLETE, /* … with complete:false */
  HUB_LG_ERRORS,             /* everything counted in the errors table */
  /* hub-lg-wire's loops, so far (0 on libwebsockets) */
  HUB_LG_WIRE_READS,       /* reads that brought bytes */
  HUB_LG_WIRE_FRAMES,      /* WebSocket frames received */
  HUB_LG_WIRE_WAKEUPS,     /* dispatches of a loop */
  HUB_LG_WIRE_URING_LOOPS, /* loops on io_uring */
  HUB_LG_WIRE_EPOLL_LOOPS, /* loops on epoll */
  HUB_LG_N_COUNTERS
} HubLgCounter;

typedef struct {
  guint64 c[HUB_LG_N_COUNTERS];
  GHashTable *errors; /* kind (owned) → guint64* (owned): "error:rate_limited", "close:4009"… */
  GHashTable *closes; /* close code as text (owned) → guint64* (owned), every close */
  HubLgHistogram *latency; /* (owned) ns, scheduled send → delivery, live messages */
  HubLgHistogram *recent;  /* (owned) the same, since the last snapshot (a worker records
                            * here only, and adds it to latency at each snapshot) */
  HubLgHistogram *direct;  /* (owned) ns, scheduled send → delivery, directs */
  HubLgHistogram *ack;     /* (owned) ns, scheduled send → publish reply */
  HubLgHistogram *connect; /* (owned) ns, connect → welcome (first connection) */
} HubLgStats;

HubLgStats *hub_lg_stats_new (void);
void hub_lg_stats_free (HubLgStats *stats);
/* Adds @from into @into (gauges add too: they are per worker). */
void hub_lg_stats_merge (HubLgStats *into, const HubLgStats *from);
void hub_lg_stats_reset (HubLgStats *stats);

/* Counts one error of @kind ("connect", "error:CODE", "close:CODE", "timeout"…). */
void hub_lg_stats_error (HubLgStats *stats, const char *kind);
/* Counts a close with @code. */
void hub_lg_stats_close (HubLgStats *stats, guint code);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLgStats, hub_lg_stats_free)

G_END_DECLS

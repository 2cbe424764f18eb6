/* hub-client-lws.c: HubClient's WebSocket transport over libwebsockets, the
 * only libhub file that includes libwebsockets.h (with the platform layer's
 * hub-lws-glib*.c). Every client of a thread shares one lws_context living on
 * that thread's GMainContext (hub-lws-glib.h: by default lws's libuv event lib
 * on a uv loop of its own polled by one GSource, where lws and libhub have
 * libuv; else, or with HUB_CLIENT_EVENT_LOOP=glib, lws's glib event lib, one
 * GSource per socket, or its default service driven from a GSource, as on
 * Windows), created with the first connection and destroyed with the last
 * transport; each connection is one wsi. Liveness is ours, not lws's (whose
 * per-wsi validity timer costs a linear insert into the context's sorted
 * timer list each time it is re-armed): one GLib timeout per Shared ticks
 * every second over that thread's established connections, pings the idle
 * ones and ends the silent ones. */
#include "hub/hub-client.h"

#include <libwebsockets.h>
#include <string.h>

#include "hub-lws-glib.h"
#include "hub-net.h"
#include "hub-signals.h"

#define SUBPROTOCOL "hub.v1"
/* Seconds with nothing received before we ping the server, and before we
 * give up on it (HUB_CLIENT_KEEPALIVE_S="PING,HANGUP" changes them, for tests
 * and diagnostics). */
#define PING_AFTER_S   20
#define HANGUP_AFTER_S 65
/* The keepalive ticker's period: a tick is the unit of the idle counts. */
#define TICK_MS 1000
/* What our pings carry (lws reports no pong to an empty ping). */
#define PING_PAYLOAD "hub"
/* How long a close handshake we started may take. */
#define CLOSE_TIMEOUT_S 5
/* A server message larger than this ends the connection (the server's own
 * limit is far lower; this only bounds what a hostile peer can make us hold). */
#define MAX_MESSAGE_BYTES (16u * 1024 * 1024)

typedef struct _Shared Shared;
typedef struct _Conn Conn;

/* One lws_context per GMainContext. */
struct _Shared {
  guint refs;
  GMainContext *main_context;  /* (owned) */
  GMainLoop *loop;             /* (owned) never run: the glue's handle on the context */
  HubLwsGlib *glue;            /* (owned) */
  struct lws_context *context; /* (owned) */
  GHashTable *vhosts;          /* CA file (owned) → struct lws_vhost* (owned by the context) */
  guint depth;                 /* our lws callback is on the stack */
  GSource *destroy_idle;       /* (owned) (nullable) the last unref came from inside lws */
  GQueue alive;    /* Conn* (unowned) established, not ended: links are Conn.alive_link */
  GSource *ticker; /* (owned) (nullable) while alive is not empty */
  guint tick;      /* ticks of ticker so far */
};

typedef struct {
  guint8 *buf; /* (owned) LWS_PRE bytes, then the frame */
  gsize len;
} OutFrame;

/* One connection attempt: lives until lws destroys its wsi. */
struct _Conn {
  guint refs;                    /* lws's (until WSI_DESTROY) and open()'s while it runs */
  HubClientTransport *transport; /* (unowned) (nullable) NULL once detached */
  Shared *shared;                /* (unowned) the transport keeps it alive */
  struct lws *wsi;               /* (unowned) */
  GQueue out;                    /* OutFrame* (owned) */
  GString *partial;              /* (owned) (nullable) message being reassembled */
  guint peer_close_code;
  char *peer_close_reason; /* (owned) (nullable) the text of the server's close frame */
  guint16 want_close;
  gboolean established;
  gboolean notified;    /* closed() was sent to the transport's sink */
  gboolean in_callback; /* this wsi's callback is on the stack */
  gboolean kill;        /* return -1 from the callback on the stack */
  gboolean wsi_gone;    /* lws destroyed the wsi */
  GList alive_link;     /* in shared->alive while in_alive */
  gboolean in_alive;
  guint last_rx;         /* shared->tick when something last arrived */
  gboolean pinged;       /* a ping went out (or is due) since then */
  gboolean ping_pending; /* WRITEABLE sends a ping once the queue is empty */
};

struct _HubClientTransport {
  Shared *shared; /* (owned) (nullable) from the first open() */
  HubClientUrl url;
  char *host_header; /* (owned) */
  char *ca_file;     /* (owned) (nullable) */
  gboolean allow_self_signed;
  const HubClientTransportSink *sink;
  gpointer owner;     /* (unowned) */
  Conn *conn;         /* (unowned) (nullable) the current connection; freed by lws's destroy */
  gboolean opening;   /* inside lws_client_connect_via_info: closed() is not sent */
  char *open_error;   /* (owned) (nullable) why the connection ended while opening */
  char *bind_address; /* (owned) (nullable) local address of the socket */
};

/* GMainContext* → Shared*. Clients of different threads may come and go at
 * once; each Shared is then used by its own thread only. */
static GHashTable *shared_by_context;
G_LOCK_DEFINE_STATIC (shared_by_context);

/* ---- the shared context ---- */

static int callback (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

static const struct lws_protocols protocols[] = {
    {"hub-client", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* No lws validity timer (lws 4.1 skips it when secs_since_valid_hangup is 0;
 * with no policy at all a wsi gets the context's, 300 s / 310 s): the
 * keepalive ticker below does its work. */
static const lws_retry_bo_t no_validity_policy = {
    .secs_since_valid_ping = 0,
    .secs_since_valid_hangup = 0,
};

typedef struct {
  guint ping_after;   /* ticks */
  guint hangup_after; /* ticks */
} Keepalive;

/* HUB_CLIENT_KEEPALIVE_S="PING,HANGUP" (seconds, 0 < PING < HANGUP), read once. */
static const Keepalive *
keepalive_get (void)
{
  static Keepalive keepalive;
  static gsize once;

  if (g_once_init_enter (&once)) {
    const char *text = g_getenv ("HUB_CLIENT_KEEPALIVE_S");
    guint64 ping = 0, hangup = 0;
    char *end = NULL;

    keepalive.ping_after = PING_AFTER_S * 1000 / TICK_MS;
    keepalive.hangup_after = HANGUP_AFTER_S * 1000 / TICK_MS;
    if (text != NULL) {
      ping = g_ascii_strtoull (text, &end, 10);
      if (end != text && *end == ',') {
        const char *second = end + 1;

        hangup = g_ascii_strtoull (second, &end, 10);
        if (end == second)
          hangup = 0;
      }
      if (end == NULL || *end != '\0' || ping == 0 || hangup <= ping || hangup > 86400)
        g_warning ("HUB_CLIENT_KEEPALIVE_S=%s: not PING,HANGUP seconds with 0 < PING < "
                   "HANGUP <= 86400; using %u,%u",
                   text, PING_AFTER_S, HANGUP_AFTER_S);
      else {
        keepalive.ping_after = (guint)(ping * 1000 / TICK_MS);
        keepalive.hangup_after = (guint)(hangup * 1000 / TICK_MS);
      }
    }
    g_once_init_leave (&once, 1);
  }
  return &keepalive;
}

static void
log_to_glib (int level, const char *line)
{
  g_debug ("lws: %.*s", (int)strcspn (line, "\n"), line);
}

static void
shared_destroy (Shared *shared)
{
  g_hash_table_remove (shared_by_context, shared->main_context);
  if (g_hash_table_size (shared_by_context) == 0)
    g_clear_pointer (&shared_by_context, g_hash_table_unref);
  if (shared->destroy_idle != NULL) {
    g_source_destroy (shared->destroy_idle);
    g_source_unref (shared->destroy_idle);
  }
  if (shared->ticker != NULL) {
    g_source_destroy (shared->ticker);
    g_clear_pointer (&shared->ticker, g_source_unref);
  }
  /* Closes every wsi: their WSI_DESTROY callbacks still find this Shared. */
  hub_lws_glib_destroy_context (shared->glue, shared->context);
  hub_lws_glib_free (shared->glue);
  g_hash_table_unref (shared->vhosts);
  g_main_loop_unref (shared->loop);
  g_main_context_unref (shared->main_context);
  g_free (shared);
}

/* HUB_CLIENT_EVENT_LOOP=glib: lws's glib event lib even where libuv is there
 * (the default, "uv", where it is). */
static HubLwsGlibKind
wanted_kind (void)
{
  const char *name = g_getenv ("HUB_CLIENT_EVENT_LOOP");

  if (name != NULL && g_strcmp0 (name, "glib") != 0 && g_strcmp0 (name, "uv") != 0)
    g_warning ("HUB_CLIENT_EVENT_LOOP=%s: neither uv nor glib; uv where it is available", name);
  return g_strcmp0 (name, "glib") == 0 ? HUB_LWS_GLIB_GLIB : HUB_LWS_GLIB_UV;
}

static struct lws_context *
create_context (Shared *shared, HubLwsGlibKind kind)
{
  struct lws_context_creation_info info;

  shared->glue = hub_lws_glib_new_kind (shared->loop, kind);
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.user = shared;
  shared->context = hub_lws_glib_create_context (shared->glue, &info);
  if (shared->context == NULL)
    g_clear_pointer (&shared->glue, hub_lws_glib_free);
  return shared->context;
}

static Shared *
shared_ref (GError **error)
{
  g_autoptr (GMainContext) main_context = g_main_context_ref_thread_default ();
  HubLwsGlibKind kind = wanted_kind ();
  Shared *shared;

  G_LOCK (shared_by_context);
  shared = shared_by_context != NULL ? g_hash_table_lookup (shared_by_context, main_context) : NULL;
  G_UNLOCK (shared_by_context);
  if (shared != NULL) {
    shared->refs++;
    return shared;
  }
  shared = g_new0 (Shared, 1);
  shared->refs = 1;
  shared->main_context = g_steal_pointer (&main_context);
  shared->loop = g_main_loop_new (shared->main_context, FALSE);
  shared->vhosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init (&shared->alive);

  /* A server resetting a TLS connection must not kill us (OpenSSL writes with write()). */
  hub_signals_ignore_broken_pipe ();
  lws_set_log_level (LLL_ERR | LLL_WARN, log_to_glib);
  /* On libuv unless lws's uv plugin cannot be loaded: then as before. */
  if (create_context (shared, kind) == NULL &&
      (kind == HUB_LWS_GLIB_GLIB || create_context (shared, HUB_LWS_GLIB_GLIB) == NULL)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 "cannot create the libwebsockets context (is its glib event library "
                 "installed?)");
    g_main_loop_unref (shared->loop);
    g_main_context_unref (shared->main_context);
    g_hash_table_unref (shared->vhosts);
    g_free (shared);
    return NULL;
  }
  G_LOCK (shared_by_context);
  if (shared_by_context == NULL)
    shared_by_context = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_hash_table_insert (shared_by_context, shared->main_context, shared);
  G_UNLOCK (shared_by_context);
  return shared;
}

static gboolean
destroy_when_idle (gpointer user_data)
{
  Shared *shared = user_data;

  g_clear_pointer (&shared->destroy_idle, g_source_unref);
  if (shared->refs == 0)
    shared_destroy (shared);
  return G_SOURCE_REMOVE;
}

static void
shared_unref (Shared *shared)
{
  if (--shared->refs > 0)
    return;
  if (shared->depth == 0) {
    shared_destroy (shared);
    return;
  }
  /* lws is servicing one of our sockets: it must not be destroyed under its feet. */
  if (shared->destroy_idle == NULL) {
    shared->destroy_idle = g_idle_source_new ();
    g_source_set_callback (shared->destroy_idle, destroy_when_idle, shared, NULL);
    g_source_attach (shared->destroy_idle, shared->main_context);
  }
}

/* The vhost whose client TLS trusts @ca_file (NULL: the context's default). */
static struct lws_vhost *
shared_vhost (Shared *shared, const char *ca_file, GError **error)
{
  struct lws_context_creation_info info;
  struct lws_vhost *vhost;
  g_autofree char *name = NULL;

  if (ca_file == NULL)
    return NULL;
  vhost = g_hash_table_lookup (shared->vhosts, ca_file);
  if (vhost != NULL)
    return vhost;
  name = g_strdup_printf ("hub-client-ca-%u", g_hash_table_size (shared->vhosts) + 1);
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.vhost_name = name;
  info.client_ssl_ca_filepath = ca_file;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  hub_lws_glib_enter (shared->glue);
  vhost = lws_create_vhost (shared->context, &info);
  hub_lws_glib_leave (shared->glue);
  if (vhost == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot load the CA file %s", ca_file);
    return NULL;
  }
  g_hash_table_insert (shared->vhosts, g_strdup (ca_file), vhost);
  return vhost;
}

/* lws 4.1's event libs re-arm their timer only after servicing a socket; a
 * wsi created or changed from outside lws (a GLib timer, the app) would wait
 * for the next socket event. Waking the service makes that event. */
static void
shared_kick (Shared *shared)
{
  hub_lws_glib_wake (shared->glue);
}

/* After lws_callback_on_writable() from outside lws: no timer is involved,
 * so on libuv one loop iteration is enough (a kick costs two more syscalls
 * and a wakeup per frame sent). */
static void
shared_poke_writable (Shared *shared)
{
  hub_lws_glib_wake_writable (shared->glue);
}

/* ---- connections ---- */

static void
out_frame_free (OutFrame *frame)
{
  g_free (frame->buf);
  g_free (frame);
}

static void alive_remove (Conn *conn);

static void
conn_unref (Conn *conn)
{
  if (--conn->refs > 0)
    return;
  alive_remove (conn);
  g_queue_clear_full (&conn->out, (GDestroyNotify)out_frame_free);
  if (conn->partial != NULL)
    g_string_free (conn->partial, TRUE);
  g_free (conn->peer_close_reason);
  g_free (conn);
}

/* Tells the sink, once, that this connection ended, and forgets it. */
static void
conn_ended (Conn *conn, guint close_code, const char *reason)
{
  HubClientTransport *transport = conn->transport;

  alive_remove (conn);
  if (conn->notified)
    return;
  conn->notified = TRUE;
  g_queue_clear_full (&conn->out, (GDestroyNotify)out_frame_free);
  if (transport == NULL)
    return;
  conn->transport = NULL;
  if (transport->conn == conn)
    transport->conn = NULL;
  if (transport->opening) {
    g_free (transport->open_error);
    transport->open_error = g_strdup (reason != NULL ? reason : "connection failed");
    return;
  }
  transport->sink->closed (transport->owner, close_code, reason);
}

/* Closes @conn's wsi now, or as soon as lws lets us. */
static void
conn_kill (Conn *conn)
{
  if (conn->wsi_gone || conn->wsi == NULL)
    return;
  if (conn->in_callback) {
    conn->kill = TRUE;
  } else if (conn->shared->depth > 0) {
    lws_set_timeout (conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  } else {
    lws_set_timeout (conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  }
}

static void
received (Conn *conn, const char *in, size_t len)
{
  gboolean final =
      lws_is_final_fragment (conn->wsi) && lws_remaining_packet_payload (conn->wsi) == 0;

  /* The protocol has no binary frames; a partial text message is never binary. */
  if (conn->transport == NULL || (conn->partial == NULL && lws_frame_is_binary (conn->wsi)))
    return;
  if (final && conn->partial == NULL) {
    conn->transport->sink->received (conn->transport->owner, in, len);
    return;
  }
  if (conn->partial == NULL)
    conn->partial = g_string_sized_new (len * 2);
  if (conn->partial->len + len > MAX_MESSAGE_BYTES) {
    conn->kill = TRUE;
    return;
  }
  g_string_append_len (conn->partial, in, len);
  if (final) {
    /* Hand over and drop the buffer: a big message should not pin memory. */
    GString *whole = g_steal_pointer (&conn->partial);

    conn->transport->sink->received (conn->transport->owner, whole->str, whole->len);
    g_string_free (whole, TRUE);
  }
}

static int
writeable (Conn *conn)
{
  OutFrame *frame = g_queue_pop_head (&conn->out);

  if (frame == NULL) {
    if (conn->want_close != 0) {
      lws_close_reason (conn->wsi, conn->want_close, NULL, 0);
      return -1;
    }
    if (conn->ping_pending) {
      guint8 ping[LWS_PRE + sizeof PING_PAYLOAD];

      conn->ping_pending = FALSE;
      memcpy (ping + LWS_PRE, PING_PAYLOAD, sizeof PING_PAYLOAD - 1);
      if (lws_write (conn->wsi, ping + LWS_PRE, sizeof PING_PAYLOAD - 1, LWS_WRITE_PING) < 0)
        return -1;
    }
    return 0;
  }
  if (lws_write (conn->wsi, frame->buf + LWS_PRE, frame->len, LWS_WRITE_TEXT) < (int)frame->len) {
    out_frame_free (frame);
    return -1;
  }
  out_frame_free (frame);
  if (conn->out.length > 0 || conn->want_close != 0 || conn->ping_pending)
    lws_callback_on_writable (conn->wsi);
  return 0;
}

/* ---- keepalive ---- */

/* Something arrived: no syscall, no timer, this runs per frame. */
static inline void
conn_heard (Conn *conn)
{
  conn->last_rx = conn->shared->tick;
  conn->pinged = FALSE;
}

/* One tick: pings the connections idle for ping_after ticks, ends those idle
 * for hangup_after (closed() with 1006, as for a lost network). A
 * connection heard during tick T has last_rx T, so "idle > N" means at least
 * N whole ticks of silence. */
static gboolean
keepalive_tick (gpointer user_data)
{
  Shared *shared = user_data;
  const Keepalive *keepalive = keepalive_get ();
  g_autoptr (GPtrArray) dead = NULL;
  gboolean poke = FALSE;

  shared->tick++;
  for (GList *link = shared->alive.head; link != NULL; link = link->next) {
    Conn *conn = link->data;
    guint idle = shared->tick - conn->last_rx;

    if (idle > keepalive->hangup_after) {
      if (dead == NULL)
        dead = g_ptr_array_new ();
      conn->refs++;
      g_ptr_array_add (dead, conn);
    } else if (idle > keepalive->ping_after && !conn->pinged && conn->want_close == 0) {
      conn->pinged = TRUE;
      conn->ping_pending = TRUE;
      lws_callback_on_writable (conn->wsi);
      poke = TRUE;
    }
  }
  if (poke)
    shared_poke_writable (shared);
  if (dead == NULL)
    return G_SOURCE_CONTINUE;
  /* Closing a wsi tells its client, which may free clients, this Shared's
   * last included (then its destruction waits for an idle callback). */
  g_debug ("hub-client: %u connection(s) silent for %u s, ending them", dead->len,
           keepalive->hangup_after * TICK_MS / 1000);
  shared->depth++;
  for (guint i = 0; i < dead->len; i++) {
    Conn *conn = dead->pdata[i];

    if (!conn->wsi_gone && conn->wsi != NULL)
      lws_set_timeout (conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    conn_unref (conn);
  }
  shared->depth--;
  /* A kill asked for meanwhile (by a client freed from closed()) is async. */
  shared_kick (shared);
  return G_SOURCE_CONTINUE;
}

/* @conn is established: the ticker watches it from now on. */
static void
alive_add (Conn *conn)
{
  Shared *shared = conn->shared;

  if (conn->in_alive)
    return;
  conn->in_alive = TRUE;
  conn->alive_link.data = conn;
  g_queue_push_tail_link (&shared->alive, &conn->alive_link);
  conn_heard (conn);
  if (shared->ticker == NULL) {
    shared->ticker = g_timeout_source_new (TICK_MS);
    g_source_set_name (shared->ticker, "hub-client keepalive");
    g_source_set_callback (shared->ticker, keepalive_tick, shared, NULL);
    g_source_attach (shared->ticker, shared->main_context);
  }
}

/* The ticker forgets @conn; with its last connection it stops. */
static void
alive_remove (Conn *conn)
{
  Shared *shared = conn->shared;

  if (!conn->in_alive)
    return;
  conn->in_alive = FALSE;
  g_queue_unlink (&shared->alive, &conn->alive_link);
  if (shared->alive.length == 0 && shared->ticker != NULL) {
    g_source_destroy (shared->ticker);
    g_clear_pointer (&shared->ticker, g_source_unref);
  }
}

static int
conn_callback (Conn *conn, struct lws *wsi, enum lws_callback_reasons reason, void *in, size_t len)
{
  switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      g_autofree char *why = g_strdup_printf ("cannot connect: %s",
                                              in != NULL ? (const char *)in : "connection error");

      hub_lws_glib_connect_failed (conn->shared->glue, wsi);
      conn_ended (conn, 0, why);
      break;
    }

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      conn->established = TRUE;
      alive_add (conn);
      if (conn->transport != NULL)
        conn->transport->sink->opened (conn->transport->owner);
      break;

    case LWS_CALLBACK_CLIENT_RECEIVE:
      conn_heard (conn);
      received (conn, in, len);
      break;

    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
      conn_heard (conn);
      break;

    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (writeable (conn) < 0)
        return -1;
      break;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      const guint8 *p = in;

      conn->peer_close_code = len >= 2 ? (guint)(p[0] << 8 | p[1]) : 1005;
      /* Its reason, for the words of the state change (4010's, say). */
      g_clear_pointer (&conn->peer_close_reason, g_free);
      if (len > 2 && g_utf8_validate ((const char *)p + 2, (gssize)len - 2, NULL))
        conn->peer_close_reason = g_strndup ((const char *)p + 2, len - 2);
      break;
    }

    case LWS_CALLBACK_CLIENT_CLOSED:
      conn_ended (conn,
                  conn->peer_close_code != 0 ? conn->peer_close_code
                  : conn->want_close != 0    ? conn->want_close
                                             : 1006,
                  conn->peer_close_reason);
      break;

    default:
      break;
  }
  return 0;
}

static int
callback (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  Conn *conn = lws_get_opaque_user_data (wsi);
  Shared *shared;
  int result;

  if (conn == NULL)
    return 0;
  if (conn->wsi == NULL)
    conn->wsi = wsi;
  shared = conn->shared;
  if (reason == LWS_CALLBACK_WSI_DESTROY) {
    hub_lws_glib_wsi_destroyed (shared->glue, wsi);
    lws_set_opaque_user_data (wsi, NULL);
    conn->wsi_gone = TRUE;
    shared->depth++;
    conn_ended (conn,
                conn->established ? (conn->peer_close_code ? conn->peer_close_code : 1006) : 0,
                conn->established ? conn->peer_close_reason : "connection failed");
    shared->depth--;
    conn_unref (conn);
    return 0;
  }
  shared->depth++;
  conn->in_callback = TRUE;
  result = conn_callback (conn, wsi, reason, in, len);
  conn->in_callback = FALSE;
  shared->depth--;
  if (conn->kill)
    return -1;
  return result;
}

/* ---- the transport class ---- */

static HubClientTransport *
transport_create (const HubClientUrl *url, const char *ca_file, gboolean allow_self_signed,
                  const HubClientTransportSink *sink, gpointer owner)
{
  HubClientTransport *transport = g_new0 (HubClientTransport, 1);
  gboolean v6 = strchr (url->host, ':') != NULL;
  gboolean default_port = url->port == (url->tls ? 443 : 80);

  transport->url.tls = url->tls;
  transport->url.host = g_strdup (url->host);
  transport->url.port = url->port;
  transport->url.path = g_strdup (url->path);
  transport->host_header = default_port
                               ? g_strdup_printf (v6 ? "[%s]" : "%s", url->host)
                               : g_strdup_printf (v6 ? "[%s]:%u" : "%s:%u", url->host, url->port);
  transport->ca_file = g_strdup (ca_file);
  transport->allow_self_signed = allow_self_signed;
  transport->sink = sink;
  transport->owner = owner;
  return transport;
}

static gboolean
transport_open (HubClientTransport *transport, GError **error)
{
  struct lws_client_connect_info info;
  struct lws_vhost *vhost = NULL;
  Conn *conn;
  struct lws *wsi;

  g_return_val_if_fail (transport->conn == NULL, FALSE);
  if (transport->shared == NULL && (transport->shared = shared_ref (error)) == NULL)
    return FALSE;
  if (transport->url.tls && transport->ca_file != NULL &&
      (vhost = shared_vhost (transport->shared, transport->ca_file, error)) == NULL)
    return FALSE;

  conn = g_new0 (Conn, 1);
  conn->refs = 2;
  conn->transport = transport;
  conn->shared = transport->shared;
  g_queue_init (&conn->out);
  transport->conn = conn;

  memset (&info, 0, sizeof info);
  info.context = transport->shared->context;
  info.vhost = vhost;
  info.address = transport->url.host;
  info.port = transport->url.port;
  info.path = transport->url.path;
  info.host = transport->host_header;
  info.origin = transport->host_header;
  info.protocol = SUBPROTOCOL;
  info.local_protocol_name = protocols[0].name;
  info.iface = transport->bind_address; /* lws binds a client socket to an IP given here */
  info.opaque_user_data = conn;
  info.retry_and_idle_policy = &no_validity_policy;
  if (transport->url.tls) {
    info.ssl_connection = LCCSCF_USE_SSL;
    if (transport->allow_self_signed)
      info.ssl_connection |=
          LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK | LCCSCF_ALLOW_EXPIRED;
  }
  transport->opening = TRUE;
  transport->shared->depth++;
  hub_lws_glib_enter (transport->shared->glue);
  wsi = lws_client_connect_via_info (&info);
  if (wsi == NULL)
    hub_lws_glib_connect_failed (transport->shared->glue, NULL);
  hub_lws_glib_leave (transport->shared->glue);
  transport->shared->depth--;
  transport->opening = FALSE;
  if (wsi != NULL)
    conn->wsi = wsi;
  if (wsi == NULL && !conn->wsi_gone)
    conn_unref (conn); /* lws freed its wsi without telling us */
  if (wsi == NULL || conn->notified) {
    conn->transport = NULL;
    if (transport->conn == conn)
      transport->conn = NULL;
    if (wsi != NULL)
      conn_kill (conn);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "cannot connect to %s:%u%s%s",
                 transport->url.host, transport->url.port, transport->open_error ? ": " : "",
                 transport->open_error ? transport->open_error : "");
    g_clear_pointer (&transport->open_error, g_free);
    conn_unref (conn);
    return FALSE;
  }
  conn_unref (conn);
  shared_kick (transport->shared);
  return TRUE;
}

static gboolean
transport_send (HubClientTransport *transport, const char *text, gsize len)
{
  Conn *conn = transport->conn;
  OutFrame *frame;

  if (conn == NULL || !conn->established || conn->want_close != 0 || conn->wsi_gone)
    return FALSE;
  frame = g_new (OutFrame, 1);
  frame->buf = g_malloc (LWS_PRE + len);
  memcpy (frame->buf + LWS_PRE, text, len);
  frame->len = len;
  g_queue_push_tail (&conn->out, frame);
  if (conn->out.length == 1) {
    lws_callback_on_writable (conn->wsi);
    if (conn->shared->depth == 0)
      shared_poke_writable (conn->shared);
  }
  return TRUE;
}

static void
transport_close (HubClientTransport *transport, guint16 code)
{
  Conn *conn = transport->conn;

  if (conn == NULL || conn->wsi_gone)
    return;
  if (!conn->established) {
    conn_kill (conn);
    return;
  }
  if (conn->want_close != 0)
    return;
  conn->want_close = code;
  lws_set_timeout (conn->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_TIMEOUT_S);
  lws_callback_on_writable (conn->wsi);
  if (conn->shared->depth == 0)
    shared_kick (conn->shared);
}

static void
transport_drop (HubClientTransport *transport)
{
  Conn *conn = transport->conn;

  if (conn == NULL || conn->wsi_gone)
    return;
  if (!conn->established) {
    conn_kill (conn);
    return;
  }
  /* What a dead network looks like to lws: the socket ends, no close frame. */
  hub_net_shutdown ((int)lws_get_socket_fd (conn->wsi));
  if (conn->shared->depth == 0)
    shared_kick (conn->shared);
}

static void
transport_destroy (HubClientTransport *transport)
{
  Conn *conn = transport->conn;

  if (conn != NULL) {
    conn->transport = NULL;
    transport->conn = NULL;
    conn_kill (conn);
  }
  if (transport->shared != NULL)
    shared_unref (transport->shared);
  hub_client_url_clear (&transport->url);
  g_free (transport->host_header);
  g_free (transport->ca_file);
  g_free (transport->open_error);
  g_free (transport->bind_address);
  g_free (transport);
}

static void
transport_set_bind_address (HubClientTransport *transport, const char *address)
{
  g_free (transport->bind_address);
  transport->bind_address = g_strdup (address);
}

static const HubClientTransportClass lws_class = {
    .create = transport_create,
    .open = transport_open,
    .send = transport_send,
    .close = transport_close,
    .drop = transport_drop,
    .destroy = transport_destroy,
    .set_bind_address = transport_set_bind_address,
};

const HubClientTransportClass *
hub_client_lws_transport (void)
{
  return &lws_class;
}

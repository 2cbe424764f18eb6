/* hub-lws-glib-uv-unix.c: hub-lws-glib.h's libuv way (hub-lws-glib-uv.h). lws's
 * uv event library (libwebsockets-evlib_uv.so) keeps every socket of the context
 * in one epoll set of a uv loop of ours; GLib polls only that set's
 * descriptor, through one GSource whose dispatch runs one non-blocking uv
 * iteration (uv timers, ready sockets, lws's idle work). Linux only for now
 * (hub-lws-glib-uv.h): GLib polls the backend descriptor with poll(), which
 * epoll's supports; a kqueue descriptor in poll() is untested. */
#include "hub-lws-glib-uv.h"

#ifdef HUB_LWS_GLIB_HAVE_UV

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <uv.h>

/* Bounds, never reached when lws keeps its contract, on the uv iterations a
 * destroy runs: each completes every close that was pending when it began,
 * and lws needs two (its sockets' handles, then its timer and idle handles). */
#define DESTROY_ITERATIONS 64

typedef struct {
  GSource source;
  HubLwsUv *uv; /* (unowned) owns the source */
  gpointer fd_tag;
} UvSource;

struct _HubLwsUv {
  uv_loop_t loop;
  GMainContext *main_context;    /* (owned) */
  void *foreign_loops[1];        /* what info->foreign_loops points at: &loop */
  GSource *source;               /* (owned) (nullable) a UvSource while attached */
  struct lws_context **pcontext; /* lws NULLs *pcontext when it frees the context */
  struct lws_context *context;   /* *pcontext unless the caller had its own */
  /* A socket's uv poll was started from outside a uv callback: libuv hands it
   * to epoll only at its next iteration, so the source runs one at once. */
  gboolean dirty;
  guint running;  /* uv_run() of this loop is on the stack */
  gboolean sweep; /* a connect failed: look for handles lws left (see below) */
};

static void hub_lws_uv_reclaim (HubLwsUv *uv);

/* ---- the descriptors lock ----
 *
 * lws 4.1 closes the descriptor of a context's event pipe (an eventfd) twice
 * when the context is on libuv: lws_context_destroy() closes it at once
 * (lws_destroy_event_pipe: lws_plat_pipe_close), and the close callback of
 * the pipe's uv handle, in the next uv iteration, closes the wsi's copy of the
 * same number again (__lws_close_free_wsi_final). In between, another thread
 * may have been given that number for a socket: the second close then closes
 * that thread's socket under its lws context, whose table still maps the
 * number to the old wsi, and the next socket given that number trips lws's
 * assert in insert_wsi (unix-fds.c). (lws 4.2 reworked the pipe's destroy.)
 * So the destroy of a context on libuv runs under this lock, exclusive, and
 * everything of ours that may make descriptors for a context on libuv (its
 * creation, connects, its uv iterations) holds it shared: between the two
 * closes no other libuv context of the process can be given the number. */
static GRWLock descriptors_lock;
static _Thread_local guint descriptors_depth; /* shared holds of this thread */

void
hub_lws_uv_enter (void)
{
  if (descriptors_depth++ == 0)
    g_rw_lock_reader_lock (&descriptors_lock);
}

void
hub_lws_uv_leave (void)
{
  g_return_if_fail (descriptors_depth > 0);
  if (--descriptors_depth == 0)
    g_rw_lock_reader_unlock (&descriptors_lock);
}

/* ---- the GSource ---- */

/* Milliseconds until uv has work (-1: none); 0 when it has work now (due
 * timers, idle handles, pending callbacks, handles closing). */
static gint
loop_timeout (uv_loop_t *loop)
{
  if (!uv_loop_alive (loop))
    return -1;
  uv_update_time (loop);
  return uv_backend_timeout (loop);
}

static gboolean
source_prepare (GSource *source, gint *timeout)
{
  HubLwsUv *uv = ((UvSource *)source)->uv;

  *timeout = uv->dirty ? 0 : loop_timeout (&uv->loop);
  return *timeout == 0;
}

static gboolean
source_check (GSource *source)
{
  UvSource *s = (UvSource *)source;

  return s->uv->dirty || (g_source_query_unix_fd (source, s->fd_tag) & G_IO_IN) != 0 ||
         loop_timeout (&s->uv->loop) == 0;
}

static gboolean
source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  HubLwsUv *uv = ((UvSource *)source)->uv;

  uv->dirty = FALSE;
  hub_lws_uv_enter ();
  uv->running++;
  uv_run (&uv->loop, UV_RUN_NOWAIT);
  uv->running--;
  hub_lws_uv_reclaim (uv);
  hub_lws_uv_leave ();
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
};

/* ---- the glue ---- */

HubLwsUv *
hub_lws_uv_new (GMainContext *main_context)
{
  HubLwsUv *uv = g_new0 (HubLwsUv, 1);
  int failed;

  /* uv_loop_init() makes descriptors (epoll's, the loop's signal pipe, whose
   * read end it watches at once): under the descriptors lock, like lws's. The
   * second close of another context's event pipe once closed this loop's
   * signal pipe; that number then went to the new context's event pipe,
   * uv_poll_init() failed with UV_EEXIST (still watched), lws 4.1 went on with
   * the uninitialised handle and libuv asserted in uv_poll_start(), inside
   * lws_create_context() (caught in gdb in test-client-teardown's threads). */
  hub_lws_uv_enter ();
  failed = uv_loop_init (&uv->loop);
  hub_lws_uv_leave ();
  if (failed != 0) {
    g_free (uv);
    return NULL;
  }
  uv->main_context = g_main_context_ref (main_context);
  uv->foreign_loops[0] = &uv->loop;
  return uv;
}

void
hub_lws_uv_free (HubLwsUv *uv)
{
  hub_lws_uv_detach (uv);
  /* Only our loop's own handles can be left (none when lws made no context). */
  for (guint i = 0; i < DESTROY_ITERATIONS && uv_loop_alive (&uv->loop); i++)
    uv_run (&uv->loop, UV_RUN_NOWAIT);
  if (uv_loop_close (&uv->loop) != 0) {
    /* A handle left would use the freed loop: leak it all instead. */
    g_warning ("the libuv loop of a libwebsockets context still has handles");
    return;
  }
  g_main_context_unref (uv->main_context);
  g_free (uv);
}

void
hub_lws_uv_configure (HubLwsUv *uv, struct lws_context_creation_info *info)
{
  info->options |= LWS_SERVER_OPTION_LIBUV;
  info->foreign_loops = uv->foreign_loops;
  if (info->pcontext == NULL)
    info->pcontext = &uv->context;
  uv->pcontext = info->pcontext;
}

void
hub_lws_uv_attach (HubLwsUv *uv, struct lws_context *context)
{
  UvSource *source;

  g_return_if_fail (uv->source == NULL);
  /* lws only ever NULLs *pcontext; hub-server's HubLoop has set its own. */
  *uv->pcontext = context;
  source = (UvSource *)g_source_new (&source_funcs, sizeof (UvSource));
  source->uv = uv;
  source->fd_tag = g_source_add_unix_fd (&source->source, uv_backend_fd (&uv->loop), G_IO_IN);
  g_source_set_name (&source->source, "libwebsockets on libuv");
  g_source_attach (&source->source, uv->main_context);
  uv->source = &source->source;
  /* lws started polling its sockets while it made the context. */
  uv->dirty = TRUE;
}

void
hub_lws_uv_detach (HubLwsUv *uv)
{
  if (uv->source == NULL)
    return;
  g_source_destroy (uv->source);
  g_clear_pointer (&uv->source, g_source_unref);
}

void
hub_lws_uv_wake_writable (HubLwsUv *uv)
{
  uv->dirty = TRUE;
}

/* ---- what lws leaves behind ----
 *
 * lws 4.1 gives a connecting wsi a uv poll handle as soon as it has a socket.
 * When that attempt fails in lws_client_connect_3_connect() (a bind to the
 * source address or connect() failing at once, the connect timeout), lws
 * closes the socket itself and frees the wsi without ever closing the handle:
 * it stays on the loop, stopped, its data the freed wsi (176 bytes each, and
 * uv_loop_close() refuses a loop with it). After such a failure (the connect
 * returned NULL, or CLIENT_CONNECTION_ERROR came with the wsi's socket gone),
 * once lws has returned to us, the loop's poll handles are looked at: one that
 * is neither polling nor closing and whose descriptor is closed is such a
 * leftover (lws cannot be using a handle on a closed descriptor) and is
 * closed. One whose number was given to a new socket meanwhile waits for a
 * later look, or the context's destroy.
 *
 * Worse, such a handle may still be polling (the attempt failed while lws
 * waited for the connect to complete). libuv then keeps the closed
 * descriptor's number as watched by it, so when this loop's next socket is
 * given that number uv_poll_init() fails with UV_EEXIST, which lws 4.1 ignores
 * (elops_accept_uv): it goes on with an uninitialised handle, and libuv
 * asserts in uv_poll_start() (seen in test-client-teardown's four threads,
 * where the number is often another thread's socket by the time of the look
 * above). So on LWS_CALLBACK_WSI_DESTROY every poll handle whose data is that
 * wsi and that lws is not closing is closed at once: lws made it for that wsi
 * (elops_accept_uv sets the data) and frees the wsi right after, so nothing
 * of lws's will touch it again, and closing it stops it before lws can make
 * another socket. */

static void
free_abandoned (uv_handle_t *handle)
{
  free (handle); /* lws_malloc()'s: libc's allocator, lws's default */
}

static void
close_if_abandoned (uv_handle_t *handle, void *arg)
{
  uv_os_fd_t fd;

  if (handle->type != UV_POLL || uv_is_closing (handle) || uv_is_active (handle) ||
      uv_fileno (handle, &fd) != 0)
    return;
  if (fcntl (fd, F_GETFD) == -1 && errno == EBADF) {
    uv_close (handle, free_abandoned);
    (*(guint *)arg)++;
  }
}

void
hub_lws_uv_connect_failed (HubLwsUv *uv, struct lws *wsi)
{
  if (wsi == NULL || lws_get_socket_fd (wsi) == LWS_SOCK_INVALID)
    uv->sweep = TRUE;
}

typedef struct {
  struct lws *wsi;
  guint closed;
} WsiHandles;

static void
close_if_of_wsi (uv_handle_t *handle, void *arg)
{
  WsiHandles *of = arg;

  if (handle->type == UV_POLL && handle->data == of->wsi && !uv_is_closing (handle)) {
    uv_close (handle, free_abandoned);
    of->closed++;
  }
}

void
hub_lws_uv_wsi_destroyed (HubLwsUv *uv, struct lws *wsi)
{
  WsiHandles of = {wsi, 0};

  uv_walk (&uv->loop, close_if_of_wsi, &of);
  if (of.closed > 0)
    uv->dirty = TRUE; /* the closes complete in the next iteration */
}

/* The look above, unless a uv iteration of this loop is running (lws may
 * still stop the handle on its way out): the dispatch does it after. */
static void
hub_lws_uv_reclaim (HubLwsUv *uv)
{
  guint closed = 0;

  if (uv->running > 0 || !uv->sweep)
    return;
  uv->sweep = FALSE;
  uv_walk (&uv->loop, close_if_abandoned, &closed);
  if (closed > 0)
    uv->dirty = TRUE; /* the closes complete in the next iteration */
}

void
hub_lws_uv_after_call (HubLwsUv *uv)
{
  hub_lws_uv_reclaim (uv);
}

/* ---- destroying the context ---- */

static void
note_closing (uv_handle_t *handle, void *arg)
{
  if (uv_is_closing (handle))
    *(gboolean *)arg = TRUE;
}

static gboolean
handles_closing (uv_loop_t *loop)
{
  gboolean closing = FALSE;

  uv_walk (loop, note_closing, &closing);
  return closing;
}

static void
close_abandoned (uv_handle_t *handle, void *arg)
{
  if (!uv_is_closing (handle)) {
    uv_close (handle, free_abandoned);
    (*(guint *)arg)++;
  }
}

/* Runs @loop until no handle is closing. */
static void
finish_closes (uv_loop_t *loop)
{
  for (guint i = 0; i < DESTROY_ITERATIONS && handles_closing (loop); i++)
    uv_run (loop, UV_RUN_NOWAIT);
}

/* lws 4.1's contract for a context on a foreign uv loop (lib/core/context.c,
 * lib/event-libs/libuv/libuv.c): the first lws_context_destroy() closes every
 * wsi that has a socket and starts uv_close() on their poll handles; their
 * close callbacks free the wsi, and the last one closes lws's own timer and
 * idle handles. Only once those closes completed may a second
 * lws_context_destroy() free the context. Each uv iteration completes every
 * close pending when it started, so that takes two; the loop runs until no
 * handle is closing.
 *
 * What may be left then: handles of failed connects (above) not yet closed.
 * Nothing of lws's points at those any more; they are closed here, or the
 * loop could not be closed (and their memory would leak).
 *
 * All of it under the descriptors lock (above), held exclusive. */
void
hub_lws_uv_destroy_context (HubLwsUv *uv, struct lws_context *context)
{
  guint abandoned = 0;
  /* From inside another context's uv iteration (a callback of a client of
   * another GMainContext of this thread) the lock is held shared here and
   * cannot be had exclusive: destroyed without it then. */
  gboolean exclusive = descriptors_depth == 0;

  g_return_if_fail (uv->pcontext != NULL); /* configured by hub_lws_uv_configure() */
  hub_lws_uv_detach (uv);
  if (exclusive)
    g_rw_lock_writer_lock (&descriptors_lock);
  lws_context_destroy (context);
  finish_closes (&uv->loop);
  if (*uv->pcontext != NULL)
    lws_context_destroy (context);
  if (exclusive)
    g_rw_lock_writer_unlock (&descriptors_lock);
  if (*uv->pcontext != NULL) {
    g_warning ("libwebsockets did not free its context on libuv");
    return;
  }
  uv_walk (&uv->loop, close_abandoned, &abandoned);
  finish_closes (&uv->loop);
  if (abandoned > 0)
    g_debug ("closed %u libuv handles libwebsockets had left", abandoned);
  uv->dirty = FALSE;
}

#endif

/* hub-loop-uv.c: hub-server on a libuv loop. lws's libuv event lib
 * (libwebsockets-evlib_uv.so) watches every socket in uv's one epoll set, so a
 * loop iteration costs what is active, not what is connected; the GLib main
 * context (libhub's timers, the listener, the signal sources) is iterated from
 * the uv loop: prepare+query before uv polls, check+dispatch after. */
#include "hub-loop-private.h"

#ifdef HUB_HAVE_LIBUV

#include <uv.h>

/* lws closes its uv handles asynchronously: loop iterations allowed for that
 * when its context is destroyed (each one completes every pending close). */
#define DESTROY_ITERATIONS 100

/* A descriptor GLib wants polled (the context's wakeup eventfd, the listener,
 * any g_unix_fd_add source). GLib usually has two or three: a linear search is
 * the right structure. */
typedef struct {
  uv_poll_t handle; /* first: the handle is the watch */
  int fd;
  int uv_events;      /* what uv polls for now (UV_READABLE...) */
  int wanted;         /* what this prepare asked for */
  gboolean cancelled; /* uv_poll_init failed: nothing to close */
} GlibWatch;

typedef struct {
  uv_loop_t loop;
  uv_prepare_t prepare;
  uv_check_t check;
  uv_timer_t timer;           /* wakes uv's poll when GLib's next timeout is due */
  GMainContext *main_context; /* (unowned) the HubLoop's */
  GPollFD *fds;               /* (owned) what g_main_context_query() filled */
  gint n_fds, fds_alloc;
  gint max_priority;
  gboolean prepared;  /* prepare ran this iteration: check and dispatch follow */
  GPtrArray *watches; /* (owned) GlibWatch*, freed by their close callback */
  gboolean warned_fd; /* told once that a GLib fd could not be watched */
} UvState;

static void
on_timer (uv_timer_t *timer)
{
  /* Nothing to do: being due made uv's poll return; check dispatches. */
  (void)timer;
}

static int
uv_events_from_glib (gushort events)
{
  int uv_events = 0;

  if (events & (G_IO_IN | G_IO_PRI))
    uv_events |= UV_READABLE;
  if (events & G_IO_OUT)
    uv_events |= UV_WRITABLE;
  /* uv cannot poll for nothing: HUP alone is UV_DISCONNECT (EPOLLRDHUP). */
  if (uv_events == 0)
    uv_events = UV_DISCONNECT;
  return uv_events;
}

static void
on_glib_fd (uv_poll_t *handle, int status, int events)
{
  GlibWatch *w = (GlibWatch *)handle;
  UvState *u = handle->loop->data;
  gushort revents = 0;

  if (status < 0) {
    revents = G_IO_ERR;
  } else {
    if (events & UV_READABLE)
      revents |= G_IO_IN;
    if (events & UV_WRITABLE)
      revents |= G_IO_OUT;
    if (events & UV_DISCONNECT)
      revents |= G_IO_HUP;
  }
  for (gint i = 0; i < u->n_fds; i++) {
    if (u->fds[i].fd == w->fd)
      u->fds[i].revents |= revents & (u->fds[i].events | G_IO_ERR | G_IO_HUP | G_IO_NVAL);
  }
}

static void
free_watch (uv_handle_t *handle)
{
  g_free (handle);
}

static void
close_watch (GlibWatch *w)
{
  if (w->cancelled) {
    g_free (w);
    return;
  }
  uv_poll_stop (&w->handle);
  uv_close ((uv_handle_t *)&w->handle, free_watch);
}

/* Makes the uv poll handles match what GLib asked for in u->fds. uv_poll_start
 * costs epoll_ctl calls, so only a change of events restarts a handle. */
static void
sync_watches (UvState *u)
{
  for (guint j = 0; j < u->watches->len; j++)
    ((GlibWatch *)g_ptr_array_index (u->watches, j))->wanted = 0;

  for (gint i = 0; i < u->n_fds; i++) {
    GlibWatch *w = NULL;

    for (guint j = 0; j < u->watches->len && w == NULL; j++) {
      GlibWatch *c = g_ptr_array_index (u->watches, j);

      if (c->fd == u->fds[i].fd)
        w = c;
    }
    if (w == NULL) {
      w = g_new0 (GlibWatch, 1);
      w->fd = u->fds[i].fd;
      /* uv allows one handle per descriptor: fails if lws watches it too. */
      if (uv_poll_init (&u->loop, &w->handle, w->fd) != 0) {
        if (!u->warned_fd)
          g_warning ("cannot watch GLib's descriptor %d on the uv loop", w->fd);
        u->warned_fd = TRUE;
        w->cancelled = TRUE;
      }
      g_ptr_array_add (u->watches, w);
    }
    w->wanted |= uv_events_from_glib (u->fds[i].events);
  }

  for (guint j = u->watches->len; j-- > 0;) {
    GlibWatch *w = g_ptr_array_index (u->watches, j);

    if (w->wanted == 0) {
      g_ptr_array_remove_index_fast (u->watches, j);
      close_watch (w);
    } else if (!w->cancelled && w->wanted != w->uv_events) {
      w->uv_events = w->wanted;
      uv_poll_start (&w->handle, w->uv_events, on_glib_fd);
    }
  }
}

static void
on_prepare (uv_prepare_t *prepare)
{
  UvState *u = prepare->loop->data;
  gint timeout = -1;
  gint n;

  g_main_context_prepare (u->main_context, &u->max_priority);
  while ((n = g_main_context_query (u->main_context, u->max_priority, &timeout, u->fds,
                                    u->fds_alloc)) > u->fds_alloc) {
    u->fds_alloc = n;
    u->fds = g_renew (GPollFD, u->fds, u->fds_alloc);
  }
  u->n_fds = n;
  for (gint i = 0; i < n; i++)
    u->fds[i].revents = 0;
  sync_watches (u);
  if (timeout < 0) {
    uv_timer_stop (&u->timer);
  } else {
    /* uv computes its poll timeout from the loop's cached time. */
    uv_update_time (&u->loop);
    uv_timer_start (&u->timer, on_timer, (guint64)timeout, 0);
  }
  u->prepared = TRUE;
}

static void
on_check (uv_check_t *check)
{
  UvState *u = check->loop->data;

  if (!u->prepared)
    return;
  u->prepared = FALSE;
  if (g_main_context_check (u->main_context, u->max_priority, u->fds, u->n_fds))
    g_main_context_dispatch (u->main_context);
}

static void
uv_init (HubLoop *loop)
{
  UvState *u = g_new0 (UvState, 1);

  /* Only fails without memory or descriptors (its epoll fd): nothing to run on. */
  if (uv_loop_init (&u->loop) != 0)
    g_error ("cannot create the libuv loop");
  u->loop.data = u;
  u->main_context = loop->main_context;
  u->watches = g_ptr_array_new ();
  uv_prepare_init (&u->loop, &u->prepare);
  uv_check_init (&u->loop, &u->check);
  uv_timer_init (&u->loop, &u->timer);
  /* The timer only wakes the poll: it must not keep the loop alive. */
  uv_unref ((uv_handle_t *)&u->timer);
  uv_prepare_start (&u->prepare, on_prepare);
  uv_check_start (&u->check, on_check);
  loop->impl = u;
}

static void
ignore_close (uv_handle_t *handle)
{
  (void)handle;
}

static void
uv_finalize (HubLoop *loop)
{
  UvState *u = loop->impl;

  uv_prepare_stop (&u->prepare);
  uv_check_stop (&u->check);
  uv_timer_stop (&u->timer);
  uv_close ((uv_handle_t *)&u->prepare, ignore_close);
  uv_close ((uv_handle_t *)&u->check, ignore_close);
  uv_close ((uv_handle_t *)&u->timer, ignore_close);
  for (guint j = 0; j < u->watches->len; j++)
    close_watch (g_ptr_array_index (u->watches, j));
  g_ptr_array_set_size (u->watches, 0);
  /* Every close completes in one iteration; more than a few means a handle
   * that is not ours, which uv_loop_close() reports. */
  for (guint i = 0; i < DESTROY_ITERATIONS && uv_loop_alive (&u->loop); i++)
    uv_run (&u->loop, UV_RUN_NOWAIT);
  if (uv_loop_close (&u->loop) != 0)
    g_warning ("the libuv loop still has handles at exit");
  g_ptr_array_unref (u->watches);
  g_free (u->fds);
  g_free (u);
  loop->impl = NULL;
}

static void
uv_configure_lws (HubLoop *loop, struct lws_context_creation_info *info)
{
  UvState *u = loop->impl;

  loop->foreign_loops[0] = &u->loop;
  info->options |= LWS_SERVER_OPTION_LIBUV;
  info->foreign_loops = loop->foreign_loops;
}

static gboolean
is_glue (UvState *u, uv_handle_t *handle)
{
  if (handle == (uv_handle_t *)&u->prepare || handle == (uv_handle_t *)&u->check ||
      handle == (uv_handle_t *)&u->timer)
    return TRUE;
  for (guint j = 0; j < u->watches->len; j++) {
    if (handle == g_ptr_array_index (u->watches, j))
      return TRUE;
  }
  return FALSE;
}

static void
count_lws_handle (uv_handle_t *handle, void *arg)
{
  gpointer *args = arg;

  if (!is_glue (args[0], handle))
    (*(guint *)args[1])++;
}

/* Handles on the loop that are lws's (open or closing). */
static guint
lws_handles (UvState *u)
{
  guint n = 0;
  gpointer args[2] = {u, &n};

  uv_walk (&u->loop, count_lws_handle, args);
  return n;
}

/* lws_context_destroy() on a foreign uv loop closes every wsi (their CLOSED
 * callbacks run in it) and then starts uv_close() on its handles; the context
 * can only be freed once those closes completed, by a second
 * lws_context_destroy() (lws 4.1's foreign-loop contract, see its
 * minimal-http-server-eventlib-foreign example). GLib is not iterated
 * meanwhile, as with the glib loop, where the destroy is one synchronous call. */
static void
uv_destroy_lws_context (HubLoop *loop)
{
  UvState *u = loop->impl;
  struct lws_context *context = loop->context;

  uv_prepare_stop (&u->prepare);
  uv_check_stop (&u->check);
  u->prepared = FALSE;
  lws_context_destroy (context);
  for (guint i = 0; i < DESTROY_ITERATIONS && loop->context != NULL && lws_handles (u) > 0; i++)
    uv_run (&u->loop, UV_RUN_NOWAIT);
  /* Still handles: freeing the context now would let their close callbacks
   * use it. Leak it instead (the process is exiting). */
  if (loop->context != NULL && lws_handles (u) == 0)
    lws_context_destroy (context);
  if (loop->context != NULL)
    g_warning ("libwebsockets did not finish closing its libuv handles");
  uv_prepare_start (&u->prepare, on_prepare);
  uv_check_start (&u->check, on_check);
}

static void
uv_run_loop (HubLoop *loop)
{
  UvState *u = loop->impl;
  gboolean acquired = g_main_context_acquire (u->main_context);

  if (!acquired)
    g_warning ("the GLib main context belongs to another thread");
  /* Returns after uv_stop() (hub_loop_quit): the prepare and check handles
   * keep the loop alive until then. */
  uv_run (&u->loop, UV_RUN_DEFAULT);
  if (acquired)
    g_main_context_release (u->main_context);
}

static void
uv_quit (HubLoop *loop)
{
  UvState *u = loop->impl;

  uv_stop (&u->loop);
}

const HubLoopOps hub_loop_uv_ops = {
    .init = uv_init,
    .finalize = uv_finalize,
    .configure_lws = uv_configure_lws,
    .destroy_lws_context = uv_destroy_lws_context,
    .run = uv_run_loop,
    .quit = uv_quit,
};

#endif /* HUB_HAVE_LIBUV */

/* hub-loop-uv.c: hub-server on a libuv loop. lws's libuv event lib
 * (libwebsockets-evlib_uv.so) watches every socket in uv's one epoll set, so a
 * loop iteration costs what is active, not what is connected; the GLib main
 * context (libhub's timers, the listener, the signal sources) is iterated from
 * the uv loop: prepare+query before uv polls, check+dispatch after. */
#include "hub-loop-private.h"

#ifdef HUB_HAVE_LIBUV

#include <errno.h>
#include <uv.h>

/* lws closes its uv handles asynchronously: loop iterations allowed for that
 * when its context is destroyed (each one completes every pending close). */
#define DESTROY_ITERATIONS 100

/* A descriptor GLib wants polled (the context's wakeup eventfd, the listener,
 * the Redis connections, any g_unix_fd_add source). GLib usually has two to
 * four: a linear search is the right structure.
 *
 * The uv handle never polls GLib's own descriptor but a duplicate that only
 * this watch owns. GLib's sources close their descriptors whenever they like
 * (hiredis frees a lost Redis connection in the middle of a dispatch), and we
 * only learn of it at the next prepare. Polling GLib's number itself, the
 * handle would meanwhile still claim that number in uv: the listener,
 * dispatched right after in the same g_main_context_dispatch(), accepts a
 * connection that gets the number, lws 4.1's uv_poll_init for it fails with
 * UV_EEXIST (ignored: elops_accept_uv) and uv_poll_start runs on the
 * uninitialised handle (the abort "uv_poll_start: Assertion
 * '!uv__is_closing(handle)'"); and closing our handle later would delete the
 * new connection's descriptor from uv's epoll set (uv_close does EPOLL_CTL_DEL
 * on the number). The duplicate keeps the number ours until the watch is
 * closed, whatever GLib does with its own. */
typedef struct {
  uv_poll_t handle;     /* first: the handle is the watch */
  int fd;               /* GLib's descriptor (what u->fds says) */
  int own_fd;           /* (owned) the duplicate uv polls; -1 once closed */
  HubLoopFdIdentity id; /* what fd referred to when the watch was made: a new
                         * object behind the same number is a new watch */
  int uv_events;        /* what uv polls for now (UV_READABLE...) */
  int wanted;           /* what this prepare asked for */
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
  gboolean prepared;   /* prepare ran this iteration: check and dispatch follow */
  gboolean dispatched; /* GLib dispatched since the last check of the watches' objects */
  guint64 verified_at; /* uv_now() of that check */
  GPtrArray *watches;  /* (owned) GlibWatch*, freed by their close callback */
  GArray *unwatched;   /* (owned) indexes in fds of descriptors without a watch */
  gboolean warned_fd;  /* told once that a GLib fd could not be watched */
} UvState;

/* How often, at most, the watches are checked to be on GLib's objects still
 * (an fstat each), and only after GLib dispatched. */
#define VERIFY_INTERVAL_MS 100

/* While a GLib descriptor has no watch (no descriptor left to duplicate it):
 * uv's poll is bounded by this, and check polls that descriptor itself. */
#define UNWATCHED_POLL_MS 10

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
    /* uv stopped the handle (POLLERR): poll again at the next prepare. */
    revents = G_IO_ERR;
    w->uv_events = 0;
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

/* uv_close() stops the handle (its EPOLL_CTL_DEL is on own_fd, still open
 * here); libuv allows closing the descriptor right after it. */
static void
close_watch (GlibWatch *w)
{
  uv_close ((uv_handle_t *)&w->handle, free_watch);
  hub_loop_fd_close (w->own_fd);
  w->own_fd = -1;
}

/* A watch on GLib's descriptor @fd; NULL with errno set when it cannot be
 * made (out of descriptors, or not something uv can poll). */
static GlibWatch *
watch_new (UvState *u, int fd)
{
  GlibWatch *w = g_new0 (GlibWatch, 1);
  int err;

  w->fd = fd;
  w->own_fd = -1;
  if (!hub_loop_fd_identity (fd, &w->id) || (w->own_fd = hub_loop_fd_dup (fd)) < 0)
    err = errno;
  else if ((err = uv_poll_init (&u->loop, &w->handle, w->own_fd)) == 0)
    return w;
  else
    err = -err; /* uv's errors are negated errno values on Unix */
  if (w->own_fd >= 0)
    hub_loop_fd_close (w->own_fd);
  g_free (w);
  errno = err;
  return NULL;
}

/* FALSE when GLib's number now names another object than the one the watch
 * duplicated: GLib closed it and reused the number between two prepares.
 * Objects that all look alike (eventfd...) are taken as unchanged: here that
 * is GLib's wakeup eventfd, which lives as long as its context. */
static gboolean
watch_is_current (GlibWatch *w)
{
  HubLoopFdIdentity now;

  if (!w->id.distinct)
    return TRUE;
  return hub_loop_fd_identity (w->fd, &now) && now.dev == w->id.dev && now.ino == w->id.ino;
}

/* Makes the uv poll handles match what GLib asked for in u->fds. uv_poll_start
 * costs epoll_ctl calls, so only a change of events restarts a handle.
 *
 * A source may also close its descriptor and get a new object under the same
 * number between two prepares (nothing in hub-server does today: Redis
 * reconnects from a timer, after a prepare). The old watch would then poll the
 * dead object and the new one be deaf; checking every kept watch after every
 * dispatch costs an fstat each, +40 % system calls in cluster mode (GLib
 * dispatches Redis replies almost every iteration), so the check runs after a
 * dispatch at most every VERIFY_INTERVAL_MS: such a source would wait that long
 * (or until the loop next wakes up) for its first events. */
static void
sync_watches (UvState *u)
{
  gboolean verify = u->dispatched && uv_now (&u->loop) - u->verified_at >= VERIFY_INTERVAL_MS;

  if (verify) {
    u->dispatched = FALSE;
    u->verified_at = uv_now (&u->loop);
  }
  g_array_set_size (u->unwatched, 0);
  for (guint j = 0; j < u->watches->len; j++)
    ((GlibWatch *)g_ptr_array_index (u->watches, j))->wanted = 0;

  for (gint i = 0; i < u->n_fds; i++) {
    GlibWatch *w = NULL;
    guint j;

    for (j = 0; j < u->watches->len && w == NULL; j++) {
      GlibWatch *c = g_ptr_array_index (u->watches, j);

      if (c->fd == u->fds[i].fd)
        w = c;
    }
    if (w != NULL && w->wanted == 0 && verify && !watch_is_current (w)) {
      g_ptr_array_remove_index_fast (u->watches, j - 1);
      close_watch (w);
      w = NULL;
    }
    if (w == NULL) {
      w = watch_new (u, u->fds[i].fd);
      if (w == NULL) {
        if (!u->warned_fd)
          g_warning ("cannot watch GLib's descriptor %d on the uv loop: %s; polling it every %d ms",
                     u->fds[i].fd, g_strerror (errno), UNWATCHED_POLL_MS);
        u->warned_fd = TRUE;
        g_array_append_val (u->unwatched, i);
        continue;
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
    } else if (w->wanted != w->uv_events) {
      w->uv_events = w->wanted;
      uv_poll_start (&w->handle, w->uv_events, on_glib_fd);
    }
  }
}

/* The descriptors without a watch: polled here, without waiting. */
static void
poll_unwatched (UvState *u)
{
  GPollFD pfds[8];
  guint n = MIN (u->unwatched->len, G_N_ELEMENTS (pfds));

  for (guint k = 0; k < n; k++)
    pfds[k] = u->fds[g_array_index (u->unwatched, gint, k)];
  if (g_poll (pfds, n, 0) <= 0)
    return;
  for (guint k = 0; k < n; k++)
    u->fds[g_array_index (u->unwatched, gint, k)].revents |= pfds[k].revents;
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
  if (u->unwatched->len > 0 && (timeout < 0 || timeout > UNWATCHED_POLL_MS))
    timeout = UNWATCHED_POLL_MS;
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
  if (u->unwatched->len > 0)
    poll_unwatched (u);
  if (g_main_context_check (u->main_context, u->max_priority, u->fds, u->n_fds)) {
    u->dispatched = TRUE;
    g_main_context_dispatch (u->main_context);
  }
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
  u->unwatched = g_array_new (FALSE, FALSE, sizeof (gint));
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
  g_array_unref (u->unwatched);
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

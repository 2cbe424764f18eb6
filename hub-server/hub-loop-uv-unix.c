/* hub-loop-uv-unix.c: the POSIX side of hub-loop-uv.c's watches on GLib's
 * descriptors: a duplicate of each for uv to poll, and what object a
 * descriptor refers to. Built where hub-loop-uv.c is (HUB_HAVE_LIBUV, never on
 * Windows). */
#include "hub-loop-private.h"

#ifdef HUB_HAVE_LIBUV

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int
hub_loop_fd_dup (int fd)
{
  return fcntl (fd, F_DUPFD_CLOEXEC, 0);
}

void
hub_loop_fd_close (int fd)
{
  (void)close (fd);
}

gboolean
hub_loop_fd_identity (int fd, HubLoopFdIdentity *id)
{
  struct stat st;

  if (fstat (fd, &st) != 0)
    return FALSE;
  id->dev = (guint64)st.st_dev;
  id->ino = (guint64)st.st_ino;
  /* eventfd, timerfd, signalfd...: one shared inode without a file type. */
  id->distinct = (st.st_mode & S_IFMT) != 0;
  return TRUE;
}

#endif /* HUB_HAVE_LIBUV */

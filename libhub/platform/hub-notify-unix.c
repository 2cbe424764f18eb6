/* hub-notify-unix.c: hub-notify.h on Unix: one AF_UNIX datagram socket,
 * sendto() the manager's address (sd_notify(3)'s protocol, without
 * libsystemd). */
#include "hub-notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct _HubNotify {
  int fd;
  struct sockaddr_un addr;
  socklen_t addr_len;
  guint64 watchdog_usec;
};

HubNotify *
hub_notify_new (void)
{
  const char *path = g_getenv ("NOTIFY_SOCKET");
  const char *usec = g_getenv ("WATCHDOG_USEC");
  const char *pid = g_getenv ("WATCHDOG_PID");
  HubNotify *n;
  gsize len;

  if (path == NULL || (path[0] != '/' && path[0] != '@'))
    return NULL;
  len = strlen (path);
  n = g_new0 (HubNotify, 1);
  if (len >= sizeof n->addr.sun_path) {
    g_free (n);
    return NULL;
  }
  n->addr.sun_family = AF_UNIX;
  memcpy (n->addr.sun_path, path, len);
  if (path[0] == '@')
    n->addr.sun_path[0] = '\0'; /* the abstract namespace */
  n->addr_len = (socklen_t)(offsetof (struct sockaddr_un, sun_path) + len);
  n->fd = socket (AF_UNIX, SOCK_DGRAM, 0);
  if (n->fd < 0) {
    g_free (n);
    return NULL;
  }
  (void)fcntl (n->fd, F_SETFD, FD_CLOEXEC);
  if (usec != NULL && (pid == NULL || g_ascii_strtoll (pid, NULL, 10) == (gint64)getpid ()))
    n->watchdog_usec = g_ascii_strtoull (usec, NULL, 10);
  g_unsetenv ("NOTIFY_SOCKET");
  g_unsetenv ("WATCHDOG_USEC");
  g_unsetenv ("WATCHDOG_PID");
  return n;
}

void
hub_notify_free (HubNotify *n)
{
  if (n == NULL)
    return;
  close (n->fd);
  g_free (n);
}

gboolean
hub_notify_send (HubNotify *n, const char *state)
{
  gssize sent;

  if (n == NULL)
    return FALSE;
  do
    sent = sendto (n->fd, state, strlen (state), 0, (struct sockaddr *)&n->addr, n->addr_len);
  while (sent < 0 && errno == EINTR);
  return sent == (gssize)strlen (state);
}

guint64
hub_notify_watchdog_usec (HubNotify *n)
{
  return n != NULL ? n->watchdog_usec : 0;
}

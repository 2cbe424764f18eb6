/* test-loadgen-transport.c: every way hub-loadgen receives gives the same
 * exact accounting against a real hub-server, and the report says which one
 * ran: hub-lg-wire on io_uring where the kernel allows it, on epoll when told
 * (HUB_LOADGEN_URING=off) and when io_uring is refused (a seccomp filter, as a
 * container's default profile does: the fallback must be automatic), and
 * HubClient's libwebsockets transport (HUB_LOADGEN_TRANSPORT=lws, the one
 * macOS, Windows and wss:// use). */
#include <check.h>
#include <stdio.h>

#include "test-loadgen-util.h"

/* One run of a small chat with directs, typing and status, two threads:
 * zero loss, every delivery the server counted received, and nothing the
 * loadgen could not read. Returns the report's transport.kind. (transfer full) */
static char *
run_chat (const char *const *env, gboolean deny_io_uring)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url =
      g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  const char *args[] = {url,
                        "--users=40",
                        "--devices=1:50,2:50",
                        "--rooms=8",
                        "--rooms-per-user=2",
                        "--rate=2",
                        "--ramp=1",
                        "--duration=3",
                        "--threads=2",
                        "--mix=publish=80,direct=10,typing=5,status=5",
                        "--seed=11",
                        "--quiet",
                        NULL};
  LoadgenRun run;
  JsonObject *transport, *agreement;
  gint64 expected;
  char *kind;

  child_no_leak_check = TRUE; /* two threads: see test-loadgen-util.h */
  child_env = env;
  child_deny_io_uring = deny_io_uring;
  loadgen_run (&run, args, 60000);
  child_no_leak_check = child_deny_io_uring = FALSE;
  child_env = NULL;
  EXPECT_STATUS (&run, 0, "a clean run");
  expected = report_int (&run, "deliveries", "expected");
  ck_assert_msg (expected > 100, "deliveries were expected (%" G_GINT64_FORMAT ")", expected);
  ck_assert_msg (report_int (&run, "deliveries", "received") == expected &&
                     report_int (&run, "deliveries", "lost") == 0,
                 "every expected delivery received: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT,
                 report_int (&run, "deliveries", "received"), expected);
  ck_assert_msg (report_int (&run, "direct", "received") == report_int (&run, "direct", "expected"),
                 "every direct the server promised arrived");
  ck_assert_msg (report_int (&run, "errors", "total") == 0, "no error");
  agreement = hub_test_json_object (hub_test_json_object (run.report, "server"), "agreement");
  ck_assert_msg (hub_test_json_bool (hub_test_json_object (agreement, "deliveries"), "match"),
                 "the deliveries agree with the server's hub_deliveries_total");

  transport = hub_test_json_object (run.report, "transport");
  kind = g_strdup (hub_test_json_string (transport, "kind"));
  if (strcmp (kind, "libwebsockets") != 0) {
    /* hub-lg-wire: both threads' loops, every frame read through them. */
    ck_assert_msg (hub_test_json_int (transport, "loops") == 2, "two loops, one per thread");
    ck_assert_msg (hub_test_json_int (transport, "frames") >= expected,
                   "the wire read at least the %" G_GINT64_FORMAT " deliveries (%" G_GINT64_FORMAT
                   " frames)",
                   expected, hub_test_json_int (transport, "frames"));
    ck_assert_msg (hub_test_json_int (transport, "reads") > 0, "the wire counted its reads");
  } else {
    ck_assert_msg (hub_test_json_int (transport, "frames") == 0,
                   "libwebsockets: the wire's counters are 0");
  }
  loadgen_run_clear (&run);
  return kind;
}

/* The platform's default: hub-lg-wire where there is one (io_uring or, on a
 * kernel without it, epoll), else libwebsockets. */
START_TEST (default_transport_is_exact)
{
  g_autofree char *kind = run_chat (NULL, FALSE);

  ck_assert_msg (strcmp (kind, "io_uring") == 0 || strcmp (kind, "epoll") == 0 ||
                     strcmp (kind, "libwebsockets") == 0,
                 "a known transport: %s", kind);
}
END_TEST

START_TEST (libwebsockets_transport_is_exact)
{
  const char *env[] = {"HUB_LOADGEN_TRANSPORT=lws", NULL};
  g_autofree char *kind = run_chat (env, FALSE);

  ck_assert_str_eq (kind, "libwebsockets");
}
END_TEST

/* Where the default is hub-lg-wire, HUB_LOADGEN_URING=off puts it on epoll. */
START_TEST (epoll_when_told)
{
  const char *env[] = {"HUB_LOADGEN_URING=off", NULL};
  g_autofree char *kind = run_chat (env, FALSE);

  if (strcmp (kind, "libwebsockets") == 0) {
    fprintf (stderr, "%s: skipped: this platform's loadgen has no transport of its own\n",
             __func__);
    return;
  }
  ck_assert_str_eq (kind, "epoll");
}
END_TEST

/* io_uring_setup() refused with EPERM (a seccomp filter, what Docker's default
 * profile does): the loops fall back to epoll by themselves, nothing lost. */
START_TEST (epoll_when_io_uring_is_refused)
{
  g_autofree char *kind = NULL;

  if (!hub_test_platform_can_deny_io_uring ()) {
    fprintf (stderr, "%s: skipped: no way to refuse io_uring to a child here\n", __func__);
    return;
  }
  kind = run_chat (NULL, TRUE);
  ck_assert_str_eq (kind, "epoll");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("loadgen-transport");

  HUB_TEST_ADD (suite, default_transport_is_exact, 90);
  HUB_TEST_ADD (suite, libwebsockets_transport_is_exact, 90);
  HUB_TEST_ADD (suite, epoll_when_told, 90);
  HUB_TEST_ADD (suite, epoll_when_io_uring_is_refused, 90);
  return hub_test_run (suite);
}

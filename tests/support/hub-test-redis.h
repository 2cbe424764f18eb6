/* hub-test-redis.h: a real redis-server for the cluster tests, on a free port
 * of 127.0.0.1 in its own temp dir, with an append-only file fsynced on every
 * write so that a stop and restart keeps its data. Missing redis-server fails
 * the test loudly (never a silent skip) where the platform has it; where it
 * has none (Windows) hub_test_skip_without skips the whole test program. */
#pragma once

#include <glib.h>

#include "hub-test-server.h"

G_BEGIN_DECLS

typedef struct _HubTestRedis HubTestRedis;

/* The exit status of a test program that skipped itself (ctest's SKIP_RETURN_CODE). */
#define HUB_TEST_SKIP_EXIT 77

/* In main(), for a test program every test of which needs @program
 * ("redis-server" or "haproxy", found as the tests would find it): where it is
 * absent and the platform has none (hub_test_platform_absent_program_reason),
 * says so on stderr and exits HUB_TEST_SKIP_EXIT; otherwise returns (absent on
 * Unix, the tests fail loudly). */
void hub_test_skip_without (const char *program);

/* Starts redis-server ($REDIS_SERVER_BIN, else redis-server on PATH, else
 * /usr/bin/redis-server) and waits (at most 10 s) until it answers PING;
 * fails the test otherwise. Freed by hub_test_cleanup. (transfer none) */
HubTestRedis *hub_test_redis_start (void);
guint16 hub_test_redis_port (HubTestRedis *redis);
/* "redis://127.0.0.1:PORT" (transfer none) */
const char *hub_test_redis_url (HubTestRedis *redis);
/* Asks Redis to stop (SIGTERM: it writes its append-only file and exits;
 * where no stop can be asked, Windows, it is killed: every write is fsynced
 * already), waits at most 5 s. */
void hub_test_redis_stop (HubTestRedis *redis);
/* Sends @signum to the running redis-server (SIGSTOP pauses it: connections
 * stay open and nothing is answered until SIGCONT). */
/* Pauses or resumes redis-server (hub_test_platform_pause()); FALSE where that
 * cannot be done (the caller skips). */
gboolean hub_test_redis_pause (HubTestRedis *redis, gboolean pause);
/* The running redis-server's process id (0 when it is not running). */
guint hub_test_redis_pid (HubTestRedis *redis);
/* Starts it again on the same port and directory (its data comes back). */
void hub_test_redis_restart (HubTestRedis *redis);
/* Stops it, removes its data and starts it again on the same port: a Redis
 * that lost everything (restarted without persistence). */
void hub_test_redis_restart_empty (HubTestRedis *redis);
/* Kills every redis-server this process started and removes their dirs. */
void hub_test_redis_free_all (void);

/* A hub-server node of the cluster on @redis: `--redis URL --node NODE
 * --heartbeat 1` plus the extra arguments (NULL-terminated), then waits (at
 * most 10 s) until its /healthz says ok. Fails the test otherwise. */
HubTestServer *hub_test_redis_node (HubTestRedis *redis, const char *node,
                                    ...) G_GNUC_NULL_TERMINATED;
/* Polls GET /healthz of 127.0.0.1:@port every 20 ms until it answers @status
 * (200 or 503); FALSE after @timeout_ms. */
gboolean hub_test_wait_health (guint16 port, guint status, guint timeout_ms);

/* The store the suites run on. With $HUB_TEST_STORE=redis (ctest's @redis
 * variants, tests/CMakeLists.txt) every hub-server a test starts and every
 * test node (hub-test-node.h) keeps its state in Redis, as a one-node
 * cluster, so that both stores are held to the same cases. */
gboolean hub_test_store_is_redis (void);
/* In redis mode: the URL of this test's redis-server, started on first use
 * (without persistence) and freed by hub_test_redis_free_all(). Each store
 * keeps apart from the others on it by a key prefix of its own. (transfer none) */
const char *hub_test_store_redis_url (void);
/* A key prefix no other store of this test uses ("t<pid>.<n>:"). (transfer full) */
char *hub_test_redis_unique_prefix (void);

G_END_DECLS

G_BEGIN_DECLS

/* haproxy (PATH or /usr/sbin/haproxy; missing fails the test) on a free port
 * of 127.0.0.1, balancing (leastconn) over the nodes at @ports, with
 * WebSocket-friendly timeouts; returns its port once a /healthz through it
 * answers 200. Killed by hub_test_cleanup. */
guint16 hub_test_haproxy_start (const guint16 *ports, guint n);

G_END_DECLS

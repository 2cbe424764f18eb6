/* hub-test-node.h: a whole node (dispatcher, fake clock) with in-memory
 * clients, for tests that run PROTOCOL.md without sockets. In redis mode
 * ($HUB_TEST_STORE=redis, hub-test-redis.h) the node keeps its state on a
 * real redis-server, and every helper that acts (send, disconnect, advance)
 * returns once the store has answered and delivered what it caused
 * (hub_dispatcher_sync): the same cases hold both stores to the same rules. */
#pragma once

#include <check.h>

#include "hub-memory-sink.h"
#include <hub/hub.h>

typedef struct {
  HubDispatcher *dispatcher; /* (owned) */
  HubClock *clock;           /* (owned) fake */
  GPtrArray *clients;        /* (owned) TestClient*, freed with the node */
} TestNode;

typedef struct {
  TestNode *node;      /* (unowned) */
  HubMemorySink *sink; /* (owned) */
  HubConnection *conn; /* (unowned) valid until test_client_disconnect() */
  gboolean gone;
} TestClient;

/* A node with PROTOCOL.md's defaults, changed by @tweak (nullable); in
 * redis mode connected to Redis (fails the test otherwise). */
TestNode *test_node_new (void (*tweak) (HubConfig *config));
void test_node_free (TestNode *node);
/* Waits (bounded) until the store answered everything asked before and its
 * deliveries were made; returns at once with the memory store. */
void test_node_sync (TestNode *node);
/* Advances the fake clock by @ms, then test_node_sync. */
void test_node_advance (TestNode *node, gint64 ms);
/* TRUE when @user is a member of @room, as `who` by a connection of its own
 * (opened and closed here) says. */
gboolean test_node_is_member (TestNode *node, const char *user, const char *room);

/* A connection that has not said hello. */
TestClient *test_client_open (TestNode *node);
/* A connection past hello (no secret) as @user on @device (nullable). Its sink
 * is cleared after the welcome. */
TestClient *test_client_hello (TestNode *node, const char *user, const char *device);
/* Sends one text message. */
void test_client_send (TestClient *c, const char *json);
/* Sends @json (which must carry "id":N) and returns the reply with that id
 * (ok, error, welcome or pong), removing it from the sink. Fails the test when
 * there is none. (transfer full) */
JsonObject *test_client_request (TestClient *c, const char *json, gint64 id);
/* test_client_request() with id 1, the id the dispatcher tests use. (transfer full) */
JsonObject *test_client_req (TestClient *c, const char *json);
/* Joins @room and asserts the ok. */
void test_client_join (TestClient *c, const char *room);
/* Pops frames until one of @type; NULL when none. (transfer full) */
JsonObject *test_client_next (TestClient *c, const char *type);
/* Frames of @type received since the last clear. */
guint test_client_count (TestClient *c, const char *type);
void test_client_clear (TestClient *c);
/* The transport went away. */
void test_client_disconnect (TestClient *c);

/* Convenience assertions on a reply. */
#define ck_assert_reply_ok(obj)                                                                    \
  ck_assert_msg (g_strcmp0 (json_object_get_string_member (obj, "type"), "ok") == 0,               \
                 "expected an ok reply, got %s", test_json (obj))
#define ck_assert_reply_error(obj, code_str)                                                       \
  do {                                                                                             \
    ck_assert_msg (g_strcmp0 (json_object_get_string_member (obj, "type"), "error") == 0,          \
                   "expected error %s, got %s", code_str, test_json (obj));                        \
    ck_assert_str_eq (json_object_get_string_member (obj, "code"), code_str);                      \
  } while (0)

/* Runs @suite (taking it) and returns main()'s exit status. */
int test_run_suite (Suite *suite);

/* TRUE when @obj's array @member holds the string @value. */
gboolean test_json_array_has (JsonObject *obj, const char *member, const char *value);

/* The object as compact JSON, for messages; valid until the next call. */
const char *test_json (JsonObject *obj);

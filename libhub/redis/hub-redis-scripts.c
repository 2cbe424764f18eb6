/* hub-redis-scripts.c: the Lua scripts the Redis store runs (EVALSHA, EVAL
 * when Redis lost its script cache). Each runs atomically in Redis: every
 * multi-key change of the cluster state (seq, history, membership, presence)
 * and its pub/sub fan-out happen in one script, which checks the state and
 * returns a code; the rules (which error, its text, the reply) are the
 * request handlers'. ARGV[1] is the key prefix, ARGV[2] the calling node,
 * ARGV[3] its presence grace in ms (taken out of ARGV by the prelude, so each
 * script's own arguments start at ARGV[3]); docs/cluster.md lists the keys
 * and channels. */
#include "hub-redis-scripts.h"

/* Helpers every script starts with. fanout() groups the users by the nodes
 * holding their connections and publishes one message per node on its channel:
 * "<kind> <room> <seq> <except conn> <user,user…>\n<frame>"; notify() a status
 * change to the nodes that watch the user: "s - 0 - <user>\n<status>". */
static const char prelude[] =
    "local P = ARGV[1]\n"
    "local NODE = ARGV[2]\n"
    "local GRACE = tonumber(ARGV[3])\n"
    "table.remove(ARGV, 3)\n"
    "local function now_ms()\n"
    "  local t = redis.call('TIME')\n"
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "end\n"
    "local function ck(u) return P .. 'user:' .. u .. ':conns' end\n"
    /* conn → device, beside ck's conn → node (§13's user details and device
     * filter). */
    "local function dk(u) return P .. 'user:' .. u .. ':devices' end\n"
    /* §13: a ban is a key that expires with it. */
    "local function banned(u) return redis.call('EXISTS', P .. 'ban:' .. u) == 1 end\n"
    /* The room index: a sorted set (all scores 0) of the room ids, in
     * lexicographic order, so that the server API lists a prefix's rooms a
     * page at a time (ZRANGEBYLEX) without reading them all. */
    "local function index_room(r) redis.call('ZADD', P .. 'rooms', 0, r) end\n"
    "local function unindex_room(r) redis.call('ZREM', P .. 'rooms', r) end\n"
    /* A delivery to node n reached no subscriber (n is cut off from Redis, or
     * dead), or n was reaped: n's connections may lack deliveries they were
     * owed, which n learns when it registers again (RESYNC). Kept a day: a
     * node that never comes back leaves no key for good. */
    "local function missed(n)\n"
    "  redis.call('SET', P .. 'node:' .. n .. ':lost', '1', 'PX', 86400000)\n"
    "end\n"
    "local function status_of(u)\n"
    "  if redis.call('SISMEMBER', P .. 'online', u) == 0 then return 'offline' end\n"
    "  return redis.call('GET', P .. 'user:' .. u .. ':status') or 'online'\n"
    "end\n"
    "local function fanout(kind, room, seq, ex, users, frame)\n"
    "  local by_node, order = {}, {}\n"
    "  for _, u in ipairs(users) do\n"
    "    local seen = {}\n"
    "    for _, n in ipairs(redis.call('HVALS', ck(u))) do\n"
    "      if not seen[n] then\n"
    "        seen[n] = true\n"
    "        if not by_node[n] then by_node[n] = {}; order[#order + 1] = n end\n"
    "        local l = by_node[n]; l[#l + 1] = u\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  for _, n in ipairs(order) do\n"
    "    if redis.call('PUBLISH', P .. 'ch:node:' .. n,\n"
    "      kind .. ' ' .. room .. ' ' .. seq .. ' ' .. ex .. ' ' .. table.concat(by_node[n], ',') "
    ".. '\\n' .. frame) == 0 and kind ~= 'e' then missed(n) end\n"
    "  end\n"
    "end\n"
    "local function notify(u, st)\n"
    "  for _, n in ipairs(redis.call('SMEMBERS', P .. 'watch:' .. u)) do\n"
    "    if redis.call('PUBLISH', P .. 'ch:node:' .. n, 's - 0 - ' .. u .. '\\n' .. st) == 0 then\n"
    "      missed(n)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function add_conn(n, c, u, dev)\n"
    "  if redis.call('HEXISTS', ck(u), c) == 1 then return end\n"
    "  local was = redis.call('HLEN', ck(u))\n"
    "  redis.call('HSET', ck(u), c, n)\n"
    "  redis.call('HSET', dk(u), c, dev)\n"
    "  redis.call('HSET', P .. 'node:' .. n .. ':conns', c, u)\n"
    /* Back within its grace: still online, with its status, no event. */
    "  if was == 0 and redis.call('ZREM', P .. 'leaving', u) == 0 then\n"
    "    redis.call('DEL', P .. 'user:' .. u .. ':status')\n"
    "    redis.call('SADD', P .. 'online', u)\n"
    "    redis.call('SADD', P .. 'visible', u)\n"
    "    notify(u, 'online')\n"
    "  end\n"
    "end\n"
    "local function go_offline(u)\n"
    "  local before = status_of(u)\n"
    "  redis.call('SREM', P .. 'online', u)\n"
    "  redis.call('SREM', P .. 'visible', u)\n"
    "  redis.call('DEL', P .. 'user:' .. u .. ':status')\n"
    "  if before ~= 'offline' then notify(u, 'offline') end\n"
    "end\n"
    /* The user's last connection in the cluster went: offline now, or, with
     * a grace, once the deadline it returns passes (`leaving`, by deadline). */
    "local function drop_conn(n, c, u)\n"
    "  redis.call('HDEL', P .. 'node:' .. n .. ':conns', c)\n"
    "  redis.call('HDEL', dk(u), c)\n"
    "  if redis.call('HDEL', ck(u), c) == 1 and redis.call('HLEN', ck(u)) == 0 then\n"
    "    if GRACE > 0 then\n"
    "      local deadline = now_ms() + GRACE\n"
    "      redis.call('ZADD', P .. 'leaving', deadline, u)\n"
    "      return deadline\n"
    "    end\n"
    "    go_offline(u)\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "local function expire_leaving()\n"
    "  for _, u in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leaving', '-inf', now_ms())) do\n"
    "    redis.call('ZREM', P .. 'leaving', u)\n"
    "    if redis.call('HLEN', ck(u)) == 0 then go_offline(u) end\n"
    "  end\n"
    "end\n"
    "local function drop_node(n)\n"
    "  local conns = redis.call('HGETALL', P .. 'node:' .. n .. ':conns')\n"
    "  for i = 1, #conns, 2 do drop_conn(n, conns[i], conns[i + 1]) end\n"
    "  redis.call('DEL', P .. 'node:' .. n .. ':conns')\n"
    "  for _, u in ipairs(redis.call('SMEMBERS', P .. 'node:' .. n .. ':watch')) do\n"
    "    redis.call('SREM', P .. 'watch:' .. u, n)\n"
    "  end\n"
    "  redis.call('DEL', P .. 'node:' .. n .. ':watch', P .. 'node:' .. n .. ':since')\n"
    "end\n"
    "local function room_key(r) return P .. 'room:' .. r end\n"
    /* §12: a request's `need`, the letters (bits j=1, p=2, c=4) its token does
     * not give, must all be in the user's grant for the room: a member's, kept
     * in room:<r>:grants (no entry: no grant). */
    "local function forbidden(r, u, need)\n"
    "  need = tonumber(need) or 0\n"
    "  if need == 0 then return false end\n"
    "  local g = tonumber(redis.call('HGET', room_key(r) .. ':grants', u) or '0')\n"
    "  return bit.band(g, need) ~= need\n"
    "end\n";

/* Rooms' streams and histories (PROTOCOL.md §6, §8), after the prelude. A
 * room's hash holds `epoch` (its stream: a room created again has another),
 * `hbytes` (its history's bytes) and, while it never had a member, `creator`;
 * `epoch` holds the last epoch given, `hbytes` every history's bytes,
 * `holdest` each room with history by the ts of its oldest message (who
 * goes first when over the total), `empty` the rooms that never had a member
 * by creation time, and user:U:empty those U created. Epochs are µs since
 * the epoch (below 2^53: exact in Lua's doubles and in JSON), never
 * concatenated with `..` (which would print them in %.14g). */
static const char history_prelude[] =
    "local function new_epoch()\n"
    "  local t = redis.call('TIME')\n"
    "  local e = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "  local last = tonumber(redis.call('GET', P .. 'epoch') or '0')\n"
    "  if e <= last then e = last + 1 end\n"
    "  redis.call('SET', P .. 'epoch', e)\n"
    "  return e\n"
    "end\n"
    "local function epoch_of(k) return tonumber(redis.call('HGET', k, 'epoch') or '0') end\n"
    /* The ts of a stored message frame: the first "ts" member (room and user
     * names cannot hold a quote, and the payload comes after it). */
    "local function frame_ts(f) return tonumber(string.match(f, '\"ts\":(%d+)') or '0') end\n"
    "local function hist_pop(r)\n"
    "  local k = room_key(r)\n"
    "  local f = redis.call('RPOP', k .. ':hist')\n"
    "  if not f then return end\n"
    "  redis.call('HINCRBY', k, 'hbytes', -#f)\n"
    "  redis.call('DECRBY', P .. 'hbytes', #f)\n"
    "  local o = redis.call('LINDEX', k .. ':hist', -1)\n"
    "  if o then redis.call('ZADD', P .. 'holdest', frame_ts(o), r)\n"
    "  else redis.call('ZREM', P .. 'holdest', r) end\n"
    "end\n"
    /* Stores @f as @r's newest message, then evicts (oldest first) while the
     * room holds more than @h messages or @rb bytes, then while all rooms
     * hold more than @tb bytes (0: no bound). */
    "local function hist_push(r, f, h, rb, tb)\n"
    "  local k = room_key(r)\n"
    "  if redis.call('LPUSH', k .. ':hist', f) == 1 then\n"
    "    redis.call('ZADD', P .. 'holdest', frame_ts(f), r)\n"
    "  end\n"
    "  redis.call('HINCRBY', k, 'hbytes', #f)\n"
    "  redis.call('INCRBY', P .. 'hbytes', #f)\n"
    "  while redis.call('LLEN', k .. ':hist') > h or\n"
    "        (rb > 0 and tonumber(redis.call('HGET', k, 'hbytes')) > rb) do hist_pop(r) end\n"
    "  while tb > 0 and tonumber(redis.call('GET', P .. 'hbytes') or '0') > tb do\n"
    "    local o = redis.call('ZRANGE', P .. 'holdest', 0, 0)\n"
    "    if #o == 0 then break end\n"
    "    hist_pop(o[1])\n"
    "  end\n"
    "end\n"
    "local function delete_room(r)\n"
    "  local k = room_key(r)\n"
    "  local b = tonumber(redis.call('HGET', k, 'hbytes') or '0')\n"
    "  if b ~= 0 then redis.call('DECRBY', P .. 'hbytes', b) end\n"
    "  redis.call('ZREM', P .. 'holdest', r)\n"
    "  redis.call('DEL', k, k .. ':members', k .. ':hist', k .. ':grants')\n"
    "  unindex_room(r)\n"
    "end\n"
    /* @r had its first member (or goes): no longer counted nor expiring. */
    "local function forget_empty(r)\n"
    "  if redis.call('ZREM', P .. 'empty', r) == 0 then return end\n"
    "  local k = room_key(r)\n"
    "  local c = redis.call('HGET', k, 'creator')\n"
    "  if c then\n"
    "    redis.call('SREM', P .. 'user:' .. c .. ':empty', r)\n"
    "    redis.call('HDEL', k, 'creator')\n"
    "  end\n"
    "end\n"
    /* The stored messages of room key @k (last seq @seq) from seq @first to
     * @top, oldest first, appended to @out: no more than @maxb bytes (0: no
     * bound), but one at least unless @strict. Returns how many, and their
     * bytes. Read a few at a time: the bound usually stops it early. */
    "local function read_range(k, seq, first, top, maxb, strict, out)\n"
    "  local n, bytes, i = 0, 0, seq - first\n"
    "  local stop = seq - top\n"
    "  while i >= stop do\n"
    "    local lo = math.max(stop, i - 15)\n"
    "    local chunk = redis.call('LRANGE', k .. ':hist', lo, i)\n"
    "    for j = #chunk, 1, -1 do\n"
    "      local f = chunk[j]\n"
    "      if maxb > 0 and bytes + #f > maxb and (n > 0 or strict) then return n, bytes end\n"
    "      out[#out + 1] = f\n"
    "      n = n + 1\n"
    "      bytes = bytes + #f\n"
    "    end\n"
    "    i = lo - 1\n"
    "  end\n"
    "  return n, bytes\n"
    "end\n";

static const char *const bodies[HUB_SCRIPT_N] = {
    /* user, conn, device */
    [HUB_SCRIPT_HELLO] =
        "if banned(ARGV[3]) then return {'banned'} end\n"
        "add_conn(NODE, ARGV[4], ARGV[3], ARGV[5])\n"
        "local rooms = redis.call('SMEMBERS', P .. 'user:' .. ARGV[3] .. ':rooms')\n"
        "table.sort(rooms)\n"
        "return {'ok', rooms}\n",
    /* ARGV[3] the user, ARGV[4] the bytes of messages to read at most (0:
     * no bound; one at least in the first room that has any), then room,
     * last seen seq, its epoch (0: not given) and need (§12) quadruples (rooms
     * sorted). Per room: {room, since (the given seq as given, or 0 in
     * another stream), last, epoch, complete, more, the seq of the first
     * read, frames…}. */
    [HUB_SCRIPT_RESUME] =
        "local ur = P .. 'user:' .. ARGV[3] .. ':rooms'\n"
        "local maxb = tonumber(ARGV[4])\n"
        "local left, any = maxb, false\n"
        "local resumed = {}\n"
        "for i = 5, #ARGV, 4 do\n"
        "  local r, since, ge = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])\n"
        "  if redis.call('SISMEMBER', ur, r) == 1 and not forbidden(r, ARGV[3], ARGV[i + 3]) then\n"
        "    local k = room_key(r)\n"
        "    local seq = tonumber(redis.call('HGET', k, 'seq') or '0')\n"
        "    local len = redis.call('LLEN', k .. ':hist')\n"
        "    local e = epoch_of(k)\n"
        "    if ge ~= 0 and ge ~= e then since = 0 end\n"
        "    local g = tonumber(since)\n"
        "    local entry = {r, since, seq, e, 1, 0, 0}\n"
        "    if seq > g then\n"
        "      local first = math.max(g + 1, seq - len + 1)\n"
        "      if first > g + 1 then entry[5] = 0 end\n"
        "      if first <= seq then\n"
        "        local n, b = 0, 0\n"
        "        if maxb == 0 or left > 0 then\n"
        "          n, b = read_range(k, seq, first, seq, left, any, entry)\n"
        "        end\n"
        "        if n > 0 then\n"
        "          any = true\n"
        "          entry[7] = first\n"
        "          left = math.max(left - b, 0)\n"
        "        end\n"
        "        if first + n - 1 < seq then entry[6] = 1 end\n"
        "      end\n"
        "    end\n"
        "    resumed[#resumed + 1] = entry\n"
        "  end\n"
        "end\n"
        "return {'ok', resumed}\n",
    [HUB_SCRIPT_BYE] = "for i = 5, #ARGV do\n"
                       "  redis.call('SREM', P .. 'watch:' .. ARGV[i], NODE)\n"
                       "  redis.call('SREM', P .. 'node:' .. NODE .. ':watch', ARGV[i])\n"
                       "end\n"
                       "return {'ok', drop_conn(NODE, ARGV[4], ARGV[3])}\n",
    /* The grace of ARGV[3] that BYE started (deadline ARGV[4]) ran out on
     * the node that started it; a later BYE has another deadline. */
    [HUB_SCRIPT_GRACE] = "local u = ARGV[3]\n"
                         "local s = redis.call('ZSCORE', P .. 'leaving', u)\n"
                         "if s and tonumber(s) == tonumber(ARGV[4]) then\n"
                         "  redis.call('ZREM', P .. 'leaving', u)\n"
                         "  if redis.call('HLEN', ck(u)) == 0 then go_offline(u) end\n"
                         "end\n"
                         "return {'ok'}\n",
    /* ARGV[3] the TTL, ARGV[4] the node's figures, ARGV[5] 1 when the node
     * registered before (in this Redis or another), ARGV[6] k, then k
     * (connection, user, device) triples, then the watched users. Watches
     * first, so that this node's watchers get the status events of the
     * connections dropped and added here, like everyone else's. When the node
     * was reaped or missed deliveries (lost), or registered before and Redis
     * no longer knows it (Redis lost its data: restarted empty, flushed;
     * memberships and history went with it), its connections are not
     * registered again: the node closes them, and their clients resume what
     * they missed. Otherwise the connections of users banned meanwhile are
     * not registered either: they are returned, for the node to close
     * (§13). */
    [HUB_SCRIPT_RESYNC] =
        "local me = P .. 'node:' .. NODE\n"
        "local lost = redis.call('GET', me .. ':lost') and 1 or 0\n"
        "if ARGV[5] == '1' and redis.call('SISMEMBER', P .. 'nodes', NODE) == 0 then lost = 1 end\n"
        "redis.call('DEL', me .. ':lost')\n"
        "for _, u in ipairs(redis.call('SMEMBERS', me .. ':watch')) do\n"
        "  redis.call('SREM', P .. 'watch:' .. u, NODE)\n"
        "end\n"
        "redis.call('DEL', me .. ':watch')\n"
        "local k = tonumber(ARGV[6])\n"
        "for i = 7 + 3 * k, #ARGV do\n"
        "  redis.call('SADD', P .. 'watch:' .. ARGV[i], NODE)\n"
        "  redis.call('SADD', me .. ':watch', ARGV[i])\n"
        "end\n"
        "local want, refused = {}, {}\n"
        "if lost == 0 then\n"
        "  for i = 0, k - 1 do\n"
        "    local c, u = ARGV[7 + 3 * i], ARGV[8 + 3 * i]\n"
        "    if banned(u) then refused[#refused + 1] = c else want[c] = u end\n"
        "  end\n"
        "end\n"
        "local have = redis.call('HGETALL', me .. ':conns')\n"
        "for i = 1, #have, 2 do\n"
        "  if want[have[i]] ~= have[i + 1] then drop_conn(NODE, have[i], have[i + 1]) end\n"
        "end\n"
        "for i = 0, k - 1 do\n"
        "  local c = ARGV[7 + 3 * i]\n"
        "  if want[c] then add_conn(NODE, c, want[c], ARGV[9 + 3 * i]) end\n"
        "end\n"
        "redis.call('SADD', P .. 'nodes', NODE)\n"
        "redis.call('SET', me .. ':since', now_ms())\n"
        "redis.call('SET', me .. ':alive', ARGV[4], 'PX', ARGV[3])\n"
        /* The other nodes list it in their /api/stats from now on (§10). */
        "redis.call('PUBLISH', P .. 'ch:all', 'N ' .. NODE .. '\\n' .. ARGV[4])\n"
        "return {'ok', lost, refused}\n",
    /* A node reaps others only once it has itself been alive for a whole
     * TTL: when its own key had expired too, Redis or this node stalled, the
     * others' keys expired for the same reason, and they get the same TTL to
     * refresh them as it had. (A stalled Redis runs every queued script the
     * moment it resumes: the first to run would otherwise reap the nodes
     * whose refresh is queued just behind it.) */
    [HUB_SCRIPT_TICK] =
        "local me = P .. 'node:' .. NODE\n"
        "local now, ttl = now_ms(), tonumber(ARGV[3])\n"
        "if redis.call('EXISTS', me .. ':alive') == 0 or redis.call('EXISTS', me .. ':since') == 0 "
        "then\n"
        "  redis.call('SET', me .. ':since', now)\n"
        "end\n"
        "redis.call('SET', me .. ':alive', ARGV[4], 'PX', ttl)\n"
        "local known = redis.call('SISMEMBER', P .. 'nodes', NODE)\n"
        "local reap = known == 1 and now - tonumber(redis.call('GET', me .. ':since')) >= ttl\n"
        "local stats = {}\n"
        "local reaped = {}\n"
        "for _, n in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do\n"
        "  local s = redis.call('GET', P .. 'node:' .. n .. ':alive')\n"
        "  if s then\n"
        "    stats[#stats + 1] = n\n"
        "    stats[#stats + 1] = s\n"
        "  elseif n ~= NODE and reap then\n"
        "    drop_node(n)\n"
        "    redis.call('SREM', P .. 'nodes', n)\n"
        "    missed(n)\n"
        "    reaped[#reaped + 1] = n\n"
        "  end\n"
        "end\n"
        "expire_leaving()\n"
        "return {'ok', known, redis.call('ZCARD', P .. 'rooms'), redis.call('SCARD', P .. "
        "'online'), stats, reaped}\n",
    /* room, name, created, user ('': nobody counts it), need,
     * max_empty_rooms_per_user (0: none) */
    [HUB_SCRIPT_CREATE] =
        "local r, u = ARGV[3], ARGV[6]\n"
        "local k = room_key(r)\n"
        "local ue = P .. 'user:' .. u .. ':empty'\n"
        "if forbidden(r, u, ARGV[7]) then return {'forbidden'} end\n"
        "if redis.call('EXISTS', k) == 1 then return {'room_exists'} end\n"
        "if u ~= '' and tonumber(ARGV[8]) > 0 and redis.call('SCARD', ue) >= tonumber(ARGV[8]) "
        "then\n"
        "  return {'too_many_empty_rooms'}\n"
        "end\n"
        "local e = new_epoch()\n"
        "redis.call('HSET', k, 'name', ARGV[4], 'created', ARGV[5], 'seq', 0, 'epoch', e)\n"
        "index_room(r)\n"
        "redis.call('ZADD', P .. 'empty', ARGV[5], r)\n"
        "if u ~= '' then\n"
        "  redis.call('HSET', k, 'creator', u)\n"
        "  redis.call('SADD', ue, r)\n"
        "end\n"
        "return {'ok', ARGV[4], e}\n",
    /* Rooms that never had a member and were created at or before ARGV[3]
     * (Unix ms by the nodes' clocks, as their creation time), a few at a
     * time. */
    [HUB_SCRIPT_EXPIRE] =
        "local n = 0\n"
        "for _, r in ipairs(redis.call('ZRANGEBYSCORE', P .. 'empty', '-inf', ARGV[3],\n"
        "                              'LIMIT', 0, 1000)) do\n"
        "  forget_empty(r)\n"
        "  if redis.call('SCARD', room_key(r) .. ':members') == 0 then\n"
        "    delete_room(r)\n"
        "    n = n + 1\n"
        "  end\n"
        "end\n"
        "return {'ok', n}\n",
    /* user, room, name, created, auto-create, max rooms, event, need, may
     * create, set the grant ('1'), grant (§12) */
    [HUB_SCRIPT_JOIN] =
        "local u, r = ARGV[3], ARGV[4]\n"
        "local k = room_key(r)\n"
        "local ur = P .. 'user:' .. u .. ':rooms'\n"
        "local joined = 0\n"
        "if forbidden(r, u, ARGV[10]) then return {'forbidden'} end\n"
        "if redis.call('EXISTS', k) == 0 then\n"
        "  if ARGV[7] ~= '1' then return {'room_not_found'} end\n"
        "  if ARGV[11] ~= '1' then return {'forbidden'} end\n"
        "end\n"
        "if redis.call('SISMEMBER', k .. ':members', u) == 0 then\n"
        "  if redis.call('SCARD', ur) >= tonumber(ARGV[8]) then return {'too_many_rooms'} end\n"
        "  if redis.call('EXISTS', k) == 0 then\n"
        "    redis.call('HSET', k, 'name', ARGV[5], 'created', ARGV[6], 'seq', 0, 'epoch',\n"
        "               new_epoch())\n"
        "    index_room(r)\n"
        "  end\n"
        "  forget_empty(r)\n"
        "  redis.call('SADD', k .. ':members', u)\n"
        "  redis.call('SADD', ur, r)\n"
        "  joined = 1\n"
        "end\n"
        "if ARGV[12] == '1' then\n"
        "  if ARGV[13] == '0' then redis.call('HDEL', k .. ':grants', u)\n"
        "  else redis.call('HSET', k .. ':grants', u, ARGV[13]) end\n"
        "end\n"
        "local members = redis.call('SMEMBERS', k .. ':members')\n"
        "local out = {'ok', redis.call('HGET', k, 'name'), tonumber(redis.call('HGET', k, 'seq')), "
        "joined, epoch_of(k)}\n"
        "for _, m in ipairs(members) do\n"
        "  out[#out + 1] = m\n"
        "  out[#out + 1] = status_of(m)\n"
        "end\n"
        "if joined == 1 then fanout('e', r, 0, '-', members, ARGV[9]) end\n"
        "return out\n",
    [HUB_SCRIPT_LEAVE] =
        "local u, r = ARGV[3], ARGV[4]\n"
        "local k = room_key(r)\n"
        "if redis.call('EXISTS', k) == 0 then return {'room_not_found'} end\n"
        "if redis.call('SISMEMBER', k .. ':members', u) == 0 then return {'not_member'} end\n"
        "fanout('e', r, 0, '-', redis.call('SMEMBERS', k .. ':members'), ARGV[5])\n"
        "redis.call('SREM', k .. ':members', u)\n"
        "redis.call('HDEL', k .. ':grants', u)\n"
        "redis.call('SREM', P .. 'user:' .. u .. ':rooms', r)\n"
        "if redis.call('SCARD', k .. ':members') == 0 then delete_room(r) end\n"
        "return {'ok'}\n",
    [HUB_SCRIPT_ROOMS] =
        "local rooms = redis.call('SMEMBERS', P .. 'user:' .. ARGV[3] .. ':rooms')\n"
        "table.sort(rooms)\n"
        "local out = {'ok'}\n"
        "for _, r in ipairs(rooms) do\n"
        "  local k = room_key(r)\n"
        "  out[#out + 1] = r\n"
        "  out[#out + 1] = redis.call('HGET', k, 'name') or r\n"
        "  out[#out + 1] = redis.call('SCARD', k .. ':members')\n"
        "  out[#out + 1] = tonumber(redis.call('HGET', k, 'seq') or '0')\n"
        "  out[#out + 1] = epoch_of(k)\n"
        "end\n"
        "return out\n",
    /* room, user, need */
    [HUB_SCRIPT_INFO] =
        "local k = room_key(ARGV[3])\n"
        "if forbidden(ARGV[3], ARGV[4], ARGV[5]) then return {'forbidden'} end\n"
        "if redis.call('EXISTS', k) == 0 then return {'room_not_found'} end\n"
        "local h = redis.call('HMGET', k, 'name', 'created', 'seq', 'epoch')\n"
        "return {'ok', h[1], tonumber(h[2]), redis.call('SCARD', k .. ':members'),\n"
        "        redis.call('LLEN', k .. ':hist'), tonumber(h[3]), tonumber(h[4] or '0')}\n",
    /* room, user, need; answers the room's name, created, messages, seq,
     * then its members */
    [HUB_SCRIPT_WHO] =
        "local k = room_key(ARGV[3])\n"
        "if forbidden(ARGV[3], ARGV[4], ARGV[5]) then return {'forbidden'} end\n"
        "if redis.call('EXISTS', k) == 0 then return {'room_not_found'} end\n"
        "local members = redis.call('SMEMBERS', k .. ':members')\n"
        "table.sort(members)\n"
        "local h = redis.call('HMGET', k, 'name', 'created', 'seq')\n"
        "local out = {'ok', h[1], tonumber(h[2]), redis.call('LLEN', k .. ':hist'),\n"
        "             tonumber(h[3])}\n"
        "for _, m in ipairs(members) do\n"
        "  out[#out + 1] = m\n"
        "  out[#out + 1] = status_of(m)\n"
        "  out[#out + 1] = redis.call('HLEN', ck(m))\n"
        "end\n"
        "return out\n",
    /* from, room, the frame's halves, history size, member only, need,
     * history bytes per room and in all (0: no bound) */
    [HUB_SCRIPT_PUBLISH] =
        "local k = room_key(ARGV[4])\n"
        "if forbidden(ARGV[4], ARGV[3], ARGV[9]) then return {'forbidden'} end\n"
        "if redis.call('EXISTS', k) == 0 then return {'room_not_found'} end\n"
        "if ARGV[8] == '1' and redis.call('SISMEMBER', k .. ':members', ARGV[3]) == 0 then\n"
        "  return {'not_member'}\n"
        "end\n"
        "local seq = redis.call('HINCRBY', k, 'seq', 1)\n"
        "local frame = ARGV[5] .. seq .. ARGV[6]\n"
        "local h = tonumber(ARGV[7])\n"
        "if h > 0 then hist_push(ARGV[4], frame, h, tonumber(ARGV[10]), tonumber(ARGV[11])) end\n"
        "fanout('m', ARGV[4], seq, '-', redis.call('SMEMBERS', k .. ':members'), frame)\n"
        "return {'ok', seq}\n",
    /* user, room, frame, need */
    [HUB_SCRIPT_TYPING] =
        "local k = room_key(ARGV[4])\n"
        "if forbidden(ARGV[4], ARGV[3], ARGV[6]) then return {'forbidden'} end\n"
        "if redis.call('EXISTS', k) == 0 then return {'room_not_found'} end\n"
        "if redis.call('SISMEMBER', k .. ':members', ARGV[3]) == 0 then return {'not_member'} end\n"
        "local others = {}\n"
        "for _, m in ipairs(redis.call('SMEMBERS', k .. ':members')) do\n"
        "  if m ~= ARGV[3] then others[#others + 1] = m end\n"
        "end\n"
        "fanout('e', ARGV[4], 0, '-', others, ARGV[5])\n"
        "return {'ok'}\n",
    /* user ('': anyone), room, since, limit, need, bytes at most (0: no
     * bound; one message at least), until (0: none) */
    [HUB_SCRIPT_HISTORY] =
        "local k = room_key(ARGV[4])\n"
        "if forbidden(ARGV[4], ARGV[3], ARGV[7]) then return {'forbidden'} end\n"
        "if redis.call('EXISTS', k) == 0 then return {'room_not_found'} end\n"
        "if ARGV[3] ~= '' and redis.call('SISMEMBER', k .. ':members', ARGV[3]) == 0 then\n"
        "  return {'not_member'}\n"
        "end\n"
        "local seq = tonumber(redis.call('HGET', k, 'seq') or '0')\n"
        "local len = redis.call('LLEN', k .. ':hist')\n"
        "local g, limit = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
        "local maxb, top = tonumber(ARGV[8]), tonumber(ARGV[9])\n"
        "if top == 0 or top > seq then top = seq end\n"
        /* ok, complete, more, the seq of the first returned, epoch, frames */
        "local out = {'ok', 1, 0, 0, epoch_of(k)}\n"
        "if seq > g then\n"
        "  local first = math.max(g + 1, seq - len + 1)\n"
        "  if first > g + 1 then out[2] = 0 end\n"
        "  local last = math.min(top, first + limit - 1)\n"
        "  if first <= last then\n"
        "    local n = read_range(k, seq, first, last, maxb, false, out)\n"
        "    out[4] = first\n"
        "    if first + n - 1 < top then out[3] = 1 end\n"
        "  end\n"
        "end\n"
        "return out\n",
    /* from, to, except conn ('-': none), '1' to copy to the sender, frame */
    [HUB_SCRIPT_DIRECT] = "local from, to, ex = ARGV[3], ARGV[4], ARGV[5]\n"
                          "local n = redis.call('HLEN', ck(to))\n"
                          "if n == 0 then return {'user_offline'} end\n"
                          "local users = {to}\n"
                          "if from == to then\n"
                          "  if ex ~= '-' then n = n - 1 end\n"
                          "elseif ARGV[6] == '1' then\n"
                          "  users[2] = from\n"
                          "end\n"
                          "fanout('n', '-', 0, ex, users, ARGV[7])\n"
                          "return {'ok', n}\n",
    [HUB_SCRIPT_MULTICAST] = "local seen, users, offline, delivered = {}, {}, {}, 0\n"
                             "for i = 4, #ARGV do\n"
                             "  local u = ARGV[i]\n"
                             "  if not seen[u] then\n"
                             "    seen[u] = true\n"
                             "    local n = redis.call('HLEN', ck(u))\n"
                             "    if n == 0 then\n"
                             "      offline[#offline + 1] = u\n"
                             "    else\n"
                             "      users[#users + 1] = u\n"
                             "      delivered = delivered + n\n"
                             "    end\n"
                             "  end\n"
                             "end\n"
                             "fanout('n', '-', 0, '-', users, ARGV[3])\n"
                             "return {'ok', delivered, offline}\n",
    [HUB_SCRIPT_STATUS] =
        "local u = ARGV[3]\n"
        "if redis.call('SISMEMBER', P .. 'online', u) == 0 then return {'ok'} end\n"
        "local before = status_of(u)\n"
        "redis.call('SET', P .. 'user:' .. u .. ':status', ARGV[4])\n"
        "if ARGV[4] == 'offline' then\n"
        "  redis.call('SREM', P .. 'visible', u)\n"
        "else\n"
        "  redis.call('SADD', P .. 'visible', u)\n"
        "end\n"
        "if before ~= ARGV[4] then notify(u, ARGV[4]) end\n"
        "return {'ok'}\n",
    [HUB_SCRIPT_SUBSCRIBE] = "local k = tonumber(ARGV[3])\n"
                             "for i = 4, 3 + k do\n"
                             "  redis.call('SADD', P .. 'watch:' .. ARGV[i], NODE)\n"
                             "  redis.call('SADD', P .. 'node:' .. NODE .. ':watch', ARGV[i])\n"
                             "end\n"
                             "local out = {'ok'}\n"
                             "for i = 4 + k, #ARGV do out[#out + 1] = status_of(ARGV[i]) end\n"
                             "return out\n",
    [HUB_SCRIPT_UNWATCH] = "for i = 3, #ARGV do\n"
                           "  redis.call('SREM', P .. 'watch:' .. ARGV[i], NODE)\n"
                           "  redis.call('SREM', P .. 'node:' .. NODE .. ':watch', ARGV[i])\n"
                           "end\n"
                           "return {'ok'}\n",
    [HUB_SCRIPT_ONLINE] =
        "local users = redis.call('SORT', P .. 'visible', 'ALPHA', 'LIMIT', 0, tonumber(ARGV[3]))\n"
        "return {'ok', redis.call('SCARD', P .. 'visible'), users}\n",
    /* A node shutting down: its users' connections go now, not when its
     * liveness key expires. */
    /* §13: prefix ('': all), limit */
    [HUB_SCRIPT_LIST] =
        "local min, max = '-', '+'\n"
        "if ARGV[3] ~= '' then min, max = '[' .. ARGV[3], '(' .. ARGV[3] .. '\\255' end\n"
        "local out = {'ok', redis.call('ZLEXCOUNT', P .. 'rooms', min, max)}\n"
        "if tonumber(ARGV[4]) == 0 then return out end\n"
        "for _, r in ipairs(redis.call('ZRANGEBYLEX', P .. 'rooms', min, max, 'LIMIT', 0, "
        "ARGV[4])) "
        "do\n"
        "  local k = room_key(r)\n"
        "  local h = redis.call('HMGET', k, 'name', 'seq')\n"
        "  out[#out + 1] = r\n"
        "  out[#out + 1] = h[1] or r\n"
        "  out[#out + 1] = redis.call('SCARD', k .. ':members')\n"
        "  out[#out + 1] = tonumber(h[2] or '0')\n"
        "  out[#out + 1] = epoch_of(k)\n"
        "end\n"
        "return out\n",
    /* §13: user; answers its status, its connections (conn, device, node
     * triples, by id) and its rooms */
    [HUB_SCRIPT_USER] = "local u = ARGV[3]\n"
                        "local ids = redis.call('HKEYS', ck(u))\n"
                        "table.sort(ids)\n"
                        "local conns = {}\n"
                        "for _, c in ipairs(ids) do\n"
                        "  conns[#conns + 1] = c\n"
                        "  conns[#conns + 1] = redis.call('HGET', dk(u), c) or 'default'\n"
                        "  conns[#conns + 1] = redis.call('HGET', ck(u), c)\n"
                        "end\n"
                        "local st = 'offline'\n"
                        "if #ids > 0 then st = status_of(u) end\n"
                        "local rooms = redis.call('SMEMBERS', P .. 'user:' .. u .. ':rooms')\n"
                        "table.sort(rooms)\n"
                        "return {'ok', st, conns, rooms}\n",
    /* §13: user, device ('': all), ban ms (0: none), the request's id. The
     * connections are unregistered here, at once, and each live node holding
     * some is told to close them ("d - <id> <origin> <conn,…>") and confirms
     * to the origin ("k - <id> - <node>\n<closed>"). Answers how many were
     * unregistered, the user's grace deadline (0: none), the nodes told, and
     * how many live nodes could not be told (not subscribed: cut off). */
    [HUB_SCRIPT_DISCONNECT] =
        "local u, dev, ban, id = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]\n"
        "if ban > 0 then redis.call('SET', P .. 'ban:' .. u, '1', 'PX', ban) end\n"
        "local all = redis.call('HGETALL', ck(u))\n"
        "local by_node, order, n, deadline = {}, {}, 0, 0\n"
        "for i = 1, #all, 2 do\n"
        "  local c, node = all[i], all[i + 1]\n"
        "  if dev == '' or redis.call('HGET', dk(u), c) == dev then\n"
        "    if not by_node[node] then by_node[node] = {}; order[#order + 1] = node end\n"
        "    local l = by_node[node]; l[#l + 1] = c\n"
        "    local d = drop_conn(node, c, u)\n"
        "    if d > 0 then deadline = d end\n"
        "    n = n + 1\n"
        "  end\n"
        "end\n"
        "local told, cut = {}, 0\n"
        "for _, node in ipairs(order) do\n"
        /* A node whose liveness key expired is dead: its connections are
         * gone with it (the reaper would have unregistered them). */
        "  if redis.call('EXISTS', P .. 'node:' .. node .. ':alive') == 1 then\n"
        "    local m = 'd - ' .. id .. ' ' .. NODE .. ' ' .. table.concat(by_node[node], ',') .. "
        "'\\n'\n"
        "    if redis.call('PUBLISH', P .. 'ch:node:' .. node, m) > 0 then\n"
        "      told[#told + 1] = node\n"
        "    else\n"
        "      cut = cut + 1\n"
        "    end\n"
        "  end\n"
        "end\n"
        "return {'ok', n, deadline, told, cut}\n",
    [HUB_SCRIPT_DOWN] = "drop_node(NODE)\n"
                        "redis.call('SREM', P .. 'nodes', NODE)\n"
                        "redis.call('DEL', P .. 'node:' .. NODE .. ':alive')\n"
                        "redis.call('PUBLISH', P .. 'ch:all', 'G ' .. NODE .. '\\n')\n"
                        "return {'ok'}\n",
};

/* Every operation of a node that Redis does not count as registered is
 * refused ({"unregistered"}) and changes nothing: the node was reaped (it
 * stalled longer than its TTL) or Redis lost its data, so its connections
 * are not in Redis and a publish would be acknowledged without reaching
 * them. The node registers again (RESYNC) and retries nothing: the request
 * is answered `internal`. Only what keeps the node's own registration
 * (TICK, RESYNC, DOWN) and a grace's end, which concerns no connection of
 * the node, run regardless. */
static const char gate[] =
    "if redis.call('SISMEMBER', P .. 'nodes', NODE) == 0 then return {'unregistered'} end\n";

static gboolean
is_gated (HubScript script)
{
  return script != HUB_SCRIPT_TICK && script != HUB_SCRIPT_RESYNC && script != HUB_SCRIPT_DOWN &&
         script != HUB_SCRIPT_GRACE;
}

static char *scripts[HUB_SCRIPT_N];

const char *
hub_redis_script_source (HubScript script)
{
  g_return_val_if_fail (script < HUB_SCRIPT_N, NULL);
  /* Built once per process; never freed (a few kB). */
  if (scripts[script] == NULL)
    scripts[script] =
        g_strconcat (prelude, history_prelude, is_gated (script) ? gate : "", bodies[script], NULL);
  return scripts[script];
}

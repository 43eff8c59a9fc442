-- Shared by every script: ARGV[1] is the key prefix; the helpers keep the indexes in step
-- with the records they point at. Keys are computed here, from the prefix and ids, which a
-- single Redis (not a cluster) allows.
local P = ARGV[1]
-- Seconds a record outlives its expiry in Redis: readers compare the expiry with the caller's
-- `now`, so the TTL only frees memory, and this margin absorbs clock skew between instances.
local GRACE = 300

local function wall()
  return tonumber(redis.call('TIME')[1])
end

-- Expires `key` `extra` seconds after `expires_at`, and never sooner than GRACE from now.
local function expire_at(key, expires_at, extra)
  local at = math.max(tonumber(expires_at), wall()) + GRACE + extra
  redis.call('EXPIREAT', key, at)
end

-- Like expire_at, but only ever later than the key's current expiry.
local function extend_expiry(key, expires_at)
  local at = math.max(tonumber(expires_at), wall()) + GRACE
  local current = redis.call('EXPIRETIME', key)
  if current < 0 or current < at then
    redis.call('EXPIREAT', key, at)
  end
end

local function split_pair(pair)
  local space = string.find(pair, ' ', 1, true)
  return string.sub(pair, 1, space - 1), string.sub(pair, space + 1)
end

local function drop_code(hash)
  local owners = redis.call('HGET', P .. 'codes:owners', hash)
  if owners then
    local user, client = split_pair(owners)
    redis.call('SREM', P .. 'user:' .. user .. ':codes', hash)
    redis.call('SREM', P .. 'client:' .. client .. ':codes', hash)
  end
  redis.call('HDEL', P .. 'codes:owners', hash)
  redis.call('ZREM', P .. 'codes:by_expiry', hash)
  redis.call('DEL', P .. 'code:' .. hash)
end

local function drop_token(hash)
  local grant = redis.call('HGET', P .. 'refresh_tokens:grant', hash)
  if grant then
    redis.call('SREM', P .. 'grant:' .. grant .. ':tokens', hash)
  end
  redis.call('HDEL', P .. 'refresh_tokens:grant', hash)
  redis.call('ZREM', P .. 'refresh_tokens:by_expiry', hash)
  redis.call('DEL', P .. 'refresh_token:' .. hash)
end

local function drop_grant(grant)
  local owners = redis.call('HGET', P .. 'grants:owners', grant)
  if owners then
    local user, client = split_pair(owners)
    redis.call('SREM', P .. 'user:' .. user .. ':grants', grant)
    redis.call('SREM', P .. 'client:' .. client .. ':grants', grant)
  end
  for _, hash in ipairs(redis.call('SMEMBERS', P .. 'grant:' .. grant .. ':tokens')) do
    drop_token(hash)
  end
  redis.call('DEL', P .. 'grant:' .. grant .. ':tokens')
  redis.call('HDEL', P .. 'grants', grant)
  redis.call('HDEL', P .. 'grants:owners', grant)
  redis.call('HDEL', P .. 'grants:revoked', grant)
  redis.call('ZREM', P .. 'grants:by_creation', grant)
end

local function drop_consent(user, client)
  redis.call('HDEL', P .. 'consents', user .. ' ' .. client)
  redis.call('SREM', P .. 'user:' .. user .. ':consents', client)
  redis.call('SREM', P .. 'client:' .. client .. ':consents', user)
end

-- Removes the entries of `index` (a sorted set by expiry) expired at `now`, and the records
-- `record_prefix .. member`; returns how many.
local function drop_expired(index, record_prefix, now)
  local expired = redis.call('ZRANGEBYSCORE', P .. index, '-inf', now)
  for _, member in ipairs(expired) do
    redis.call('DEL', P .. record_prefix .. member)
  end
  redis.call('ZREMRANGEBYSCORE', P .. index, '-inf', now)
  return #expired
end

-- Makes room for one more entry in an index bounded to `max`: drops the entries expired at
-- `now`, then those expiring soonest.
local function make_room(index, record_prefix, now, max)
  drop_expired(index, record_prefix, now)
  local excess = redis.call('ZCARD', P .. index) + 1 - tonumber(max)
  if excess > 0 then
    for _, member in ipairs(redis.call('ZRANGE', P .. index, 0, excess - 1)) do
      redis.call('DEL', P .. record_prefix .. member)
      redis.call('ZREM', P .. index, member)
    end
  end
end

local function require_user_and_client(user, client)
  if redis.call('HEXISTS', P .. 'users', user) == 0 then
    return 'no user'
  end
  if redis.call('HEXISTS', P .. 'clients', client) == 0 then
    return 'no client'
  end
  return nil
end

local function add_token(hash, grant, record, expires_at)
  local key = P .. 'refresh_token:' .. hash
  redis.call('HSET', key, 'record', record, 'grant', grant, 'expires_at', expires_at)
  expire_at(key, expires_at, 0)
  redis.call('HSET', P .. 'refresh_tokens:grant', hash, grant)
  redis.call('ZADD', P .. 'refresh_tokens:by_expiry', expires_at, hash)
  redis.call('SADD', P .. 'grant:' .. grant .. ':tokens', hash)
end

-- The sorted set (by expiry) of `owner`'s sessions counted against the caps.
local function counted_by_owner(owner)
  return P .. 'mcp_sessions:counted:owner:' .. owner
end

-- Counts session `id` (of `owner`, '' for none) as live until `expires_at`: in total and by
-- owner. An owner's set lives as long as its latest session.
local function count_session(id, owner, expires_at)
  redis.call('ZADD', P .. 'mcp_sessions:counted', expires_at, id)
  if owner ~= '' then
    local owned = counted_by_owner(owner)
    redis.call('ZADD', owned, expires_at, id)
    extend_expiry(owned, expires_at)
  end
end

-- Throttle `key`'s attempts (a sorted set by expiry, returned) with those expired at `now`
-- forgotten, and how many are live.
local function live_attempts(key, now)
  local attempts = P .. 'throttle:' .. key
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', attempts, '-inf', now)) do
    redis.call('ZREM', P .. 'throttles:by_expiry', id)
    redis.call('HDEL', P .. 'throttles:keys', id)
  end
  redis.call('ZREMRANGEBYSCORE', attempts, '-inf', now)
  return attempts, redis.call('ZCARD', attempts)
end

-- When a budget of `allowed` attempts, `live` of them live, has room again: once all but
-- `allowed - 1` of the live attempts have expired (`fallback` when none says).
local function room_again(attempts, live, allowed, fallback)
  local frees = redis.call('ZRANGE', attempts, live - allowed, live - allowed, 'WITHSCORES')
  return frees[2] or tostring(fallback)
end

-- Records attempt `id` of throttle `key` in `attempts` until `expires_at`.
local function add_attempt(attempts, key, id, expires_at)
  redis.call('ZADD', attempts, expires_at, id)
  redis.call('ZADD', P .. 'throttles:by_expiry', expires_at, id)
  redis.call('HSET', P .. 'throttles:keys', id, key)
end

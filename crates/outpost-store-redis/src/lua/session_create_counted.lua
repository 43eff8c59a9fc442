-- ARGV: 2 session id, 3 state, 4 owner ('' for none), 5 now, 6 expires_at, 7 most per owner,
-- 8 most in total. Creates a session counted against the caps, unless the owner's live
-- sessions or all live ones are at their cap: 'ok', 'owner at cap', 'store at cap' or
-- 'conflict' (the id exists, checked first). The counted sessions are sorted sets by expiry, in total and
-- per owner; expired members leave them here, before counting.
local key = P .. 'mcp_session:' .. ARGV[2]
local all = P .. 'mcp_sessions:counted'
local owner = ARGV[4]
local now = tonumber(ARGV[5])
local expires_at = tonumber(ARGV[6])
if redis.call('EXISTS', key) == 1 then
  return 'conflict'
end
if owner ~= '' then
  local owned = counted_by_owner(owner)
  redis.call('ZREMRANGEBYSCORE', owned, '-inf', now)
  if redis.call('ZCARD', owned) >= tonumber(ARGV[7]) then
    return 'owner at cap'
  end
end
redis.call('ZREMRANGEBYSCORE', all, '-inf', now)
if redis.call('ZCARD', all) >= tonumber(ARGV[8]) then
  return 'store at cap'
end
redis.call('HSET', key, 'v', 1, 'created_at', now, 'state', ARGV[3], 'expires_at', expires_at,
  'counted', 1)
if owner ~= '' then
  redis.call('HSET', key, 'owner', owner)
end
expire_at(key, expires_at, 0)
redis.call('ZADD', P .. 'mcp_sessions:by_expiry', expires_at, ARGV[2])
count_session(ARGV[2], owner, expires_at)
return 'ok'

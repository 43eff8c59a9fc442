-- ARGV: 2 session id, 3 field ('state' or 'owner'), 4 its value, 5 now, 6 expires_at.
-- Creates the session or sets the field, the expiry only ever moving later; an owner is
-- never replaced; tells the other instances (`P sessions`). 'ok' or 'conflict'.
local key = P .. 'mcp_session:' .. ARGV[2]
local current = redis.call('HMGET', key, 'expires_at', 'owner')
if ARGV[3] == 'owner' and current[2] and current[2] ~= ARGV[4] then
  return 'conflict'
end
local expires_at = tonumber(ARGV[6])
if current[1] then
  expires_at = math.max(expires_at, tonumber(current[1]))
else
  redis.call('HSET', key, 'v', 1, 'created_at', ARGV[5])
end
redis.call('HSET', key, ARGV[3], ARGV[4], 'expires_at', expires_at)
expire_at(key, expires_at, 0)
redis.call('ZADD', P .. 'mcp_sessions:by_expiry', expires_at, ARGV[2])
redis.call('PUBLISH', P .. 'sessions', ARGV[2])
return 'ok'

-- ARGV: 2 session id, 3 expires_at. 1 = pushed (never earlier), 0 = no such session.
local key = P .. 'mcp_session:' .. ARGV[2]
local current = redis.call('HMGET', key, 'expires_at', 'owner', 'counted')
if not current[1] then
  return 0
end
local expires_at = math.max(tonumber(ARGV[3]), tonumber(current[1]))
redis.call('HSET', key, 'expires_at', expires_at)
expire_at(key, expires_at, 0)
redis.call('ZADD', P .. 'mcp_sessions:by_expiry', expires_at, ARGV[2])
if current[3] then
  count_session(ARGV[2], current[2] or '', expires_at)
end
return 1

-- ARGV: 2 session id, 3 the data read ('' when there was none), 4 its replacement. Replaces the
-- session's handler data only if it is still the one read, and tells the other instances
-- (`P sessions`). 'ok', 'changed' or 'no session'.
local key = P .. 'mcp_session:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then
  return 'no session'
end
if (redis.call('HGET', key, 'data') or '') ~= ARGV[3] then
  return 'changed'
end
redis.call('HSET', key, 'data', ARGV[4])
redis.call('PUBLISH', P .. 'sessions', ARGV[2])
return 'ok'

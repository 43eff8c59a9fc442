-- ARGV: 2 session id. 1 = removed (and the other instances told: `P sessions`), 0 = no such
-- session.
local key = P .. 'mcp_session:' .. ARGV[2]
local owner = redis.call('HGET', key, 'owner')
redis.call('ZREM', P .. 'mcp_sessions:by_expiry', ARGV[2])
redis.call('ZREM', P .. 'mcp_sessions:counted', ARGV[2])
if owner then
  redis.call('ZREM', counted_by_owner(owner), ARGV[2])
end
local removed = redis.call('DEL', key)
if removed == 1 then
  redis.call('PUBLISH', P .. 'sessions', ARGV[2])
end
return removed

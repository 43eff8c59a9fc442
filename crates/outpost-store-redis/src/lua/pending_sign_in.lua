-- ARGV: 2 id hash, 3 user id, 4 now. {record} once signed in, {} if unknown or expired.
local key = P .. 'pending:' .. ARGV[2]
local request = redis.call('HMGET', key, 'record', 'expires_at')
if not request[1] or tonumber(request[2]) <= tonumber(ARGV[4]) then
  return {}
end
redis.call('HSET', key, 'user', ARGV[3])
return {request[1]}

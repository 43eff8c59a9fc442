-- ARGV: 2 id hash, 3 now. Removes a live, signed-in request: {record, user id}, else {}.
local key = P .. 'pending:' .. ARGV[2]
local request = redis.call('HMGET', key, 'record', 'expires_at', 'user')
if not request[1] or not request[3] or tonumber(request[2]) <= tonumber(ARGV[3]) then
  return {}
end
redis.call('DEL', key)
redis.call('ZREM', P .. 'pending:by_expiry', ARGV[2])
return {request[1], request[3]}

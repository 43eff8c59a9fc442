-- ARGV: 2 grant id, 3 user id, 4 client id, 5 record, 6 created_at.
-- 'ok', 'no user', 'no client' or 'conflict'.
local missing = require_user_and_client(ARGV[3], ARGV[4])
if missing then
  return missing
end
local grant = ARGV[2]
if redis.call('HEXISTS', P .. 'grants', grant) == 1 then
  return 'conflict'
end
redis.call('HSET', P .. 'grants', grant, ARGV[5])
redis.call('HSET', P .. 'grants:owners', grant, ARGV[3] .. ' ' .. ARGV[4])
redis.call('ZADD', P .. 'grants:by_creation', ARGV[6], grant)
redis.call('SADD', P .. 'user:' .. ARGV[3] .. ':grants', grant)
redis.call('SADD', P .. 'client:' .. ARGV[4] .. ':grants', grant)
return 'ok'

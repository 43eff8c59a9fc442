-- ARGV: 2 code hash, 3 user id, 4 client id, 5 record, 6 expires_at, 7 seconds to keep it
-- past its expiry (so a replay is still recognised). 'ok', 'no user', 'no client', 'conflict'.
local missing = require_user_and_client(ARGV[3], ARGV[4])
if missing then
  return missing
end
local hash, key = ARGV[2], P .. 'code:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 or redis.call('HEXISTS', P .. 'codes:owners', hash) == 1 then
  return 'conflict'
end
redis.call('HSET', key, 'record', ARGV[5], 'expires_at', ARGV[6])
expire_at(key, ARGV[6], tonumber(ARGV[7]))
redis.call('HSET', P .. 'codes:owners', hash, ARGV[3] .. ' ' .. ARGV[4])
redis.call('ZADD', P .. 'codes:by_expiry', ARGV[6], hash)
redis.call('SADD', P .. 'user:' .. ARGV[3] .. ':codes', hash)
redis.call('SADD', P .. 'client:' .. ARGV[4] .. ':codes', hash)
return 'ok'

-- ARGV: 2 user id, 3 client id, 4 record. 'ok', 'no user' or 'no client'.
local missing = require_user_and_client(ARGV[2], ARGV[3])
if missing then
  return missing
end
redis.call('HSET', P .. 'consents', ARGV[2] .. ' ' .. ARGV[3], ARGV[4])
redis.call('SADD', P .. 'user:' .. ARGV[2] .. ':consents', ARGV[3])
redis.call('SADD', P .. 'client:' .. ARGV[3] .. ':consents', ARGV[2])
return 'ok'

-- ARGV: 2 kid, 3 at. 1 = retired, 0 = no such key.
if redis.call('HEXISTS', P .. 'signing_keys', ARGV[2]) == 0 then
  return 0
end
redis.call('HSET', P .. 'signing_keys:retired', ARGV[2], ARGV[3])
return 1

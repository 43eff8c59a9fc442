-- ARGV: 2 id hash, 3 record, 4 expires_at, 5 now, 6 max live. 1 = stored, 0 = id taken.
local key = P .. 'pending:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then
  return 0
end
make_room('pending:by_expiry', 'pending:', ARGV[5], ARGV[6])
redis.call('HSET', key, 'record', ARGV[3], 'expires_at', ARGV[4])
expire_at(key, ARGV[4], 0)
redis.call('ZADD', P .. 'pending:by_expiry', ARGV[4], ARGV[2])
return 1

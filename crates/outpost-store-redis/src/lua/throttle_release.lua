-- ARGV: 2 throttle key, 3 attempt id. Forgets the attempt, if still there.
redis.call('ZREM', P .. 'throttle:' .. ARGV[2], ARGV[3])
redis.call('ZREM', P .. 'throttles:by_expiry', ARGV[3])
redis.call('HDEL', P .. 'throttles:keys', ARGV[3])
return 1

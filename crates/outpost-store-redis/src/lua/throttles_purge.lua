-- ARGV: 2 now. Forgets every attempt whose window has ended; returns how many.
local expired = redis.call('ZRANGEBYSCORE', P .. 'throttles:by_expiry', '-inf', ARGV[2])
for _, id in ipairs(expired) do
  local key = redis.call('HGET', P .. 'throttles:keys', id)
  if key then
    redis.call('ZREM', P .. 'throttle:' .. key, id)
  end
  redis.call('HDEL', P .. 'throttles:keys', id)
end
redis.call('ZREMRANGEBYSCORE', P .. 'throttles:by_expiry', '-inf', ARGV[2])
return #expired

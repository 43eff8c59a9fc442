-- ARGV: 2 throttle key, 3 attempts allowed, 4 window seconds, 5 now, 6 attempts wanted.
-- {'granted', how many} or {'refused', when the budget has room again}.
local attempts = P .. 'throttle:' .. ARGV[2]
local now = tonumber(ARGV[5])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', attempts, '-inf', now)) do
  redis.call('ZREM', P .. 'throttles:by_expiry', id)
  redis.call('HDEL', P .. 'throttles:keys', id)
end
redis.call('ZREMRANGEBYSCORE', attempts, '-inf', now)
local live = redis.call('ZCARD', attempts)
local allowed = tonumber(ARGV[3])
local expires_at = now + tonumber(ARGV[4])
if live >= allowed then
  -- Room comes back when all but `allowed - 1` of the live attempts have expired.
  local frees = redis.call('ZRANGE', attempts, live - allowed, live - allowed, 'WITHSCORES')
  return {'refused', frees[2] or tostring(expires_at)}
end
local granted = math.min(allowed - live, math.max(tonumber(ARGV[6]), 1))
local last = redis.call('INCRBY', P .. 'throttles:next_id', granted)
for id = last - granted + 1, last do
  redis.call('ZADD', attempts, expires_at, id)
  redis.call('ZADD', P .. 'throttles:by_expiry', expires_at, id)
  redis.call('HSET', P .. 'throttles:keys', id, ARGV[2])
end
extend_expiry(attempts, expires_at)
return {'granted', tostring(granted)}

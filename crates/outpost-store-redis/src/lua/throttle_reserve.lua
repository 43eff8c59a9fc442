-- ARGV: 2 throttle key, 3 attempts allowed, 4 window seconds, 5 now.
-- {'reserved', id, remaining} or {'refused', when the budget has room again}.
local attempts, live = live_attempts(ARGV[2], tonumber(ARGV[5]))
local allowed = tonumber(ARGV[3])
local expires_at = tonumber(ARGV[5]) + tonumber(ARGV[4])
if live >= allowed then
  return {'refused', room_again(attempts, live, allowed, expires_at)}
end
local id = redis.call('INCR', P .. 'throttles:next_id')
add_attempt(attempts, ARGV[2], id, expires_at)
extend_expiry(attempts, expires_at)
return {'reserved', tostring(id), tostring(allowed - live - 1)}

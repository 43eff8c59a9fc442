-- ARGV: 2 throttle key, 3 attempts allowed, 4 window seconds, 5 now, 6 attempts wanted.
-- {'granted', how many} or {'refused', when the budget has room again}.
local attempts, live = live_attempts(ARGV[2], tonumber(ARGV[5]))
local allowed = tonumber(ARGV[3])
local expires_at = tonumber(ARGV[5]) + tonumber(ARGV[4])
if live >= allowed then
  return {'refused', room_again(attempts, live, allowed, expires_at)}
end
local granted = math.min(allowed - live, math.max(tonumber(ARGV[6]), 1))
local last = redis.call('INCRBY', P .. 'throttles:next_id', granted)
for id = last - granted + 1, last do
  add_attempt(attempts, ARGV[2], id, expires_at)
end
extend_expiry(attempts, expires_at)
return {'granted', tostring(granted)}

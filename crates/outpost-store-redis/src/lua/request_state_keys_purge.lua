-- ARGV: 2 before. Removes the keys activating before the newest one active at `before`;
-- returns how many.
local by_activation = P .. 'request_state_keys:by_activation'
local newest = redis.call('ZREVRANGEBYSCORE', by_activation, ARGV[2], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
if not newest[2] then
  return 0
end
local superseded = redis.call('ZRANGEBYSCORE', by_activation, '-inf', '(' .. newest[2])
for _, kid in ipairs(superseded) do
  redis.call('HDEL', P .. 'request_state_keys', kid)
  redis.call('ZREM', P .. 'request_state_keys:by_creation', kid)
  redis.call('ZREM', by_activation, kid)
end
return #superseded

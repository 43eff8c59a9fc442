-- ARGV: 2 kid, 3 record, 4 created_at, 5 activates_at, 6 'first' to store only into an empty
-- set, else a time: store only if no key was published after it.
-- 1 = stored, 0 = not due (or not first), -1 = the kid is taken.
if ARGV[6] == 'first' then
  if redis.call('HLEN', P .. 'request_state_keys') > 0 then
    return 0
  end
elseif redis.call('ZCOUNT', P .. 'request_state_keys:by_creation', '(' .. ARGV[6], '+inf') > 0 then
  return 0
end
if redis.call('HSETNX', P .. 'request_state_keys', ARGV[2], ARGV[3]) == 0 then
  return -1
end
redis.call('ZADD', P .. 'request_state_keys:by_creation', ARGV[4], ARGV[2])
redis.call('ZADD', P .. 'request_state_keys:by_activation', ARGV[5], ARGV[2])
return 1

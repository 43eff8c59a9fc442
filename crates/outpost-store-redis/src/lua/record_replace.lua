-- ARGV: 2 hash (after the prefix), 3 field, 4 the value read, 5 its replacement. Replaces the
-- value only if it is still the one read. 1 = replaced, 0 = changed or gone meanwhile.
local hash = P .. ARGV[2]
if redis.call('HGET', hash, ARGV[3]) ~= ARGV[4] then
  return 0
end
redis.call('HSET', hash, ARGV[3], ARGV[5])
return 1

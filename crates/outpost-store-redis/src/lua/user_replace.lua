-- ARGV: 2 user id, 3 record. Replaces an existing user's record: 1, or 0 if there is none.
if redis.call('HEXISTS', P .. 'users', ARGV[2]) == 0 then
  return 0
end
redis.call('HSET', P .. 'users', ARGV[2], ARGV[3])
return 1

-- ARGV: 2 user id, 3 lowercase username, 4 record. 1 = created, 0 = id or name taken.
if redis.call('HEXISTS', P .. 'users', ARGV[2]) == 1
  or redis.call('HEXISTS', P .. 'usernames', ARGV[3]) == 1 then
  return 0
end
redis.call('HSET', P .. 'users', ARGV[2], ARGV[4])
redis.call('HSET', P .. 'usernames', ARGV[3], ARGV[2])
return 1

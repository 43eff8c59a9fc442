-- ARGV: 2 lowercase username. Removes the user with its codes, grants (and their tokens)
-- and consents: 1, or 0 if there is no such user.
local user = redis.call('HGET', P .. 'usernames', ARGV[2])
if not user then
  return 0
end
local base = P .. 'user:' .. user
for _, hash in ipairs(redis.call('SMEMBERS', base .. ':codes')) do drop_code(hash) end
for _, grant in ipairs(redis.call('SMEMBERS', base .. ':grants')) do drop_grant(grant) end
for _, client in ipairs(redis.call('SMEMBERS', base .. ':consents')) do drop_consent(user, client) end
redis.call('DEL', base .. ':codes', base .. ':grants', base .. ':consents')
redis.call('HDEL', P .. 'users', user)
redis.call('HDEL', P .. 'usernames', ARGV[2])
return 1

-- ARGV: 2 user id, 3 now. Revokes every grant of the user (its `user:<id>:grants` index) not
-- revoked yet (an earlier revocation keeps its time); returns how many it revoked.
local revoked = 0
for _, grant in ipairs(redis.call('SMEMBERS', P .. 'user:' .. ARGV[2] .. ':grants')) do
  if redis.call('HEXISTS', P .. 'grants', grant) == 1 then
    revoked = revoked + redis.call('HSETNX', P .. 'grants:revoked', grant, ARGV[3])
  end
end
return revoked

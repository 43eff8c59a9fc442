-- ARGV: 2 user id, 3 now. Revokes every grant of the user not revoked yet (an earlier
-- revocation keeps its time); returns how many it revoked. Reads every grant: an operator's
-- command (a password change), not a request's.
local revoked = 0
local grants = redis.call('HGETALL', P .. 'grants')
for i = 1, #grants, 2 do
  if cjson.decode(grants[i + 1]).user_id == ARGV[2] then
    revoked = revoked + redis.call('HSETNX', P .. 'grants:revoked', grants[i], ARGV[3])
  end
end
return revoked

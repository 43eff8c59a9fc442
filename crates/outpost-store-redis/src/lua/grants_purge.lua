-- ARGV: 2 now, 3 idle_grants_before. Removes refresh tokens expired at `now`, revoked
-- grants, and grants created before `idle_grants_before` left without tokens; returns how
-- many records went.
local removed = 0
local expired = redis.call('ZRANGEBYSCORE', P .. 'refresh_tokens:by_expiry', '-inf', ARGV[2])
for _, hash in ipairs(expired) do drop_token(hash) end
removed = removed + #expired
for _, grant in ipairs(redis.call('HKEYS', P .. 'grants:revoked')) do
  drop_grant(grant)
  removed = removed + 1
end
local idle = redis.call('ZRANGEBYSCORE', P .. 'grants:by_creation', '-inf', '(' .. ARGV[3])
for _, grant in ipairs(idle) do
  if redis.call('SCARD', P .. 'grant:' .. grant .. ':tokens') == 0 then
    drop_grant(grant)
    removed = removed + 1
  end
end
return removed

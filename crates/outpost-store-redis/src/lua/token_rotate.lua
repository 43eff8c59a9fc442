-- ARGV: 2 presented token hash, 3 successor hash, 4 successor record, 5 successor
-- expires_at, 6 now, 7 concurrent_since (a token rotated at or after it is rotated again: a
-- racing request; before it, replayed). {'rotated', grant record}, {'reused', grant id},
-- {'revoked', grant id}, {'expired'}, {'unknown'} or {'conflict'} (the successor hash is
-- taken).
local key = P .. 'refresh_token:' .. ARGV[2]
local token = redis.call('HMGET', key, 'grant', 'expires_at', 'rotated_at')
if not token[1] then
  return {'unknown'}
end
local grant = token[1]
local record = redis.call('HGET', P .. 'grants', grant)
if not record then
  return {'unknown'}
end
if redis.call('HEXISTS', P .. 'grants:revoked', grant) == 1 then
  return {'revoked', grant}
end
if token[3] and tonumber(token[3]) < tonumber(ARGV[7]) then
  redis.call('HSET', P .. 'grants:revoked', grant, ARGV[6])
  return {'reused', grant}
end
if tonumber(token[2]) <= tonumber(ARGV[6]) then
  return {'expired'}
end
if redis.call('EXISTS', P .. 'refresh_token:' .. ARGV[3]) == 1
  or redis.call('HEXISTS', P .. 'refresh_tokens:grant', ARGV[3]) == 1 then
  return {'conflict'}
end
if not token[3] then
  redis.call('HSET', key, 'rotated_at', ARGV[6])
end
add_token(ARGV[3], grant, ARGV[4], ARGV[5])
return {'rotated', record}

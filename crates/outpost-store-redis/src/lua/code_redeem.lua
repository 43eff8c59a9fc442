-- ARGV: 2 code hash, 3 grant id, 4 now. {'redeemed', record}, {'replayed', grant id} or
-- {'invalid'}.
local key = P .. 'code:' .. ARGV[2]
local code = redis.call('HMGET', key, 'record', 'expires_at', 'spent')
if not code[1] then
  return {'invalid'}
end
if code[3] then
  return {'replayed', code[3]}
end
if tonumber(code[2]) <= tonumber(ARGV[4]) then
  return {'invalid'}
end
redis.call('HSET', key, 'spent', ARGV[3])
return {'redeemed', code[1]}

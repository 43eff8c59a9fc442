-- ARGV: 2 user id, 3 now. Every code of the user (its `user:<id>:codes` index) not redeemed
-- yet expires at `now` (an earlier expiry stays); returns how many it ended.
local ended = 0
for _, hash in ipairs(redis.call('SMEMBERS', P .. 'user:' .. ARGV[2] .. ':codes')) do
  local key = P .. 'code:' .. hash
  local code = redis.call('HMGET', key, 'expires_at', 'spent')
  if code[1] and not code[2] and tonumber(code[1]) > tonumber(ARGV[3]) then
    redis.call('HSET', key, 'expires_at', ARGV[3])
    ended = ended + 1
  end
end
return ended

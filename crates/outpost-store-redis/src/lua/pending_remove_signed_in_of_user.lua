-- ARGV: 2 user id. Removes every request the user signed in to (`pending:by_expiry` lists
-- every request); returns how many.
local removed = 0
for _, hash in ipairs(redis.call('ZRANGE', P .. 'pending:by_expiry', 0, -1)) do
  local key = P .. 'pending:' .. hash
  if redis.call('HGET', key, 'user') == ARGV[2] then
    redis.call('DEL', key)
    redis.call('ZREM', P .. 'pending:by_expiry', hash)
    removed = removed + 1
  end
end
return removed

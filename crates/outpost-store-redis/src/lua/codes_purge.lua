-- ARGV: 2 before. Removes the codes that expired before it, spent or not; returns how many.
local expired = redis.call('ZRANGEBYSCORE', P .. 'codes:by_expiry', '-inf', '(' .. ARGV[2])
for _, hash in ipairs(expired) do drop_code(hash) end
return #expired

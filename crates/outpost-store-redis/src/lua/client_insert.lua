-- ARGV: 2 client id, 3 record, 4 created_at, 5 '1' to replace an existing client's record
-- (keeping its created_at). 1 = stored, 0 = the id is taken (insert only).
local exists = redis.call('HEXISTS', P .. 'clients', ARGV[2]) == 1
if exists and ARGV[5] ~= '1' then
  return 0
end
redis.call('HSET', P .. 'clients', ARGV[2], ARGV[3])
redis.call('HSETNX', P .. 'clients:created', ARGV[2], ARGV[4])
return 1

-- ARGV: 2 client id. Removes the client with its codes, grants (and their tokens) and
-- consents: 1, or 0 if there is no such client.
local client = ARGV[2]
if redis.call('HDEL', P .. 'clients', client) == 0 then
  return 0
end
redis.call('HDEL', P .. 'clients:created', client)
local base = P .. 'client:' .. client
for _, hash in ipairs(redis.call('SMEMBERS', base .. ':codes')) do drop_code(hash) end
for _, grant in ipairs(redis.call('SMEMBERS', base .. ':grants')) do drop_grant(grant) end
for _, user in ipairs(redis.call('SMEMBERS', base .. ':consents')) do drop_consent(user, client) end
redis.call('DEL', base .. ':codes', base .. ':grants', base .. ':consents')
return 1

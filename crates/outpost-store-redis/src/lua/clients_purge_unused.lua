-- ARGV: 2 before, 3 the id prefix of metadata-document clients. Removes those created
-- before `before` to which nothing is issued; returns their ids.
local before, id_prefix = tonumber(ARGV[2]), ARGV[3]
local removed = {}
local created = redis.call('HGETALL', P .. 'clients:created')
for i = 1, #created, 2 do
  local client, at = created[i], tonumber(created[i + 1])
  local base = P .. 'client:' .. client
  if string.sub(client, 1, #id_prefix) == id_prefix and at < before
    and redis.call('SCARD', base .. ':codes') == 0
    and redis.call('SCARD', base .. ':grants') == 0
    and redis.call('SCARD', base .. ':consents') == 0 then
    redis.call('HDEL', P .. 'clients', client)
    redis.call('HDEL', P .. 'clients:created', client)
    table.insert(removed, client)
  end
end
return removed

-- ARGV: 2 grant id, 3 now. Keeps the first revocation time: 1, or 0 if there is no grant.
if redis.call('HEXISTS', P .. 'grants', ARGV[2]) == 0 then
  return 0
end
redis.call('HSETNX', P .. 'grants:revoked', ARGV[2], ARGV[3])
return 1

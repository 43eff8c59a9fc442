-- ARGV: 2 kid, 3 record. 1 = stored, 0 = an unretired key exists, -1 = the kid is taken.
if redis.call('HLEN', P .. 'signing_keys') > redis.call('HLEN', P .. 'signing_keys:retired') then
  return 0
end
if redis.call('HSETNX', P .. 'signing_keys', ARGV[2], ARGV[3]) == 0 then
  return -1
end
return 1

-- ARGV: 2 token hash, 3 grant id, 4 record, 5 expires_at. 'ok', 'no grant' or 'conflict'.
if redis.call('HEXISTS', P .. 'grants', ARGV[3]) == 0 then
  return 'no grant'
end
if redis.call('EXISTS', P .. 'refresh_token:' .. ARGV[2]) == 1
  or redis.call('HEXISTS', P .. 'refresh_tokens:grant', ARGV[2]) == 1 then
  return 'conflict'
end
add_token(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 'ok'

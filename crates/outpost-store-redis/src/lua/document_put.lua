-- ARGV: 2 client id, 3 record, 4 expires_at, 5 now, 6 max entries.
local key = P .. 'client_document:' .. ARGV[2]
redis.call('DEL', key)
redis.call('ZREM', P .. 'client_documents:by_expiry', ARGV[2])
make_room('client_documents:by_expiry', 'client_document:', ARGV[5], ARGV[6])
redis.call('SET', key, ARGV[3])
expire_at(key, ARGV[4], 0)
redis.call('ZADD', P .. 'client_documents:by_expiry', ARGV[4], ARGV[2])
return 1

-- ARGV: 2 session id. 1 = removed, 0 = no such session.
redis.call('ZREM', P .. 'mcp_sessions:by_expiry', ARGV[2])
return redis.call('DEL', P .. 'mcp_session:' .. ARGV[2])

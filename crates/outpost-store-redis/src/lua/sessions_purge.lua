-- ARGV: 2 now. Removes the MCP sessions expired at `now` and their records, and tells the
-- other instances (`P sessions`, `*`) when it removed any; returns how many.
local removed = drop_expired('mcp_sessions:by_expiry', 'mcp_session:', ARGV[2])
if removed > 0 then
  redis.call('PUBLISH', P .. 'sessions', '*')
end
return removed

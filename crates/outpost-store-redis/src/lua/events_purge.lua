-- ARGV: 2 the oldest append time kept (ms). Removes older events from every stream (whole
-- streams when their newest event is older); returns how many events went.
local oldest = tonumber(ARGV[2])
local threshold = string.format('%.0f', oldest)
local removed = 0
local streams = redis.call('ZRANGE', P .. 'events:streams', 0, -1, 'WITHSCORES')
for i = 1, #streams, 2 do
  local stream, newest = streams[i], tonumber(streams[i + 1])
  local key = P .. 'event_stream:' .. stream
  if newest < oldest then
    removed = removed + redis.call('XLEN', key)
    redis.call('DEL', key)
    redis.call('ZREM', P .. 'events:streams', stream)
  else
    removed = removed + redis.call('XTRIM', key, 'MINID', threshold)
  end
end
return removed

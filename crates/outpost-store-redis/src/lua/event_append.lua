-- ARGV: 2 stream, 3 data, 4 now (ms), 5 max count, 6 max age (ms). Returns the new id.
-- Ids are `{ms}-{seq}`, greater than every id this prefix gave before (`P events:last`), so
-- they are unique and ordered across every instance and survive a stream's deletion.
local stream = ARGV[2]
local key = P .. 'event_stream:' .. stream
local now = tonumber(ARGV[4])
local max_age = tonumber(ARGV[6])
local ms, seq = now, 0
local last = redis.call('GET', P .. 'events:last')
if last then
  local dash = string.find(last, '-', 1, true)
  local last_ms = tonumber(string.sub(last, 1, dash - 1))
  if last_ms >= now then
    ms, seq = last_ms, tonumber(string.sub(last, dash + 1)) + 1
  end
end
local id = string.format('%.0f-%.0f', ms, seq)
redis.call('SET', P .. 'events:last', id)
redis.call('XADD', key, 'MAXLEN', ARGV[5], id, 'data', ARGV[3])
redis.call('XTRIM', key, 'MINID', string.format('%.0f', now - max_age))
redis.call('PEXPIRE', key, max_age + GRACE * 1000)
redis.call('ZADD', P .. 'events:streams', ms, stream)
redis.call('PUBLISH', P .. 'events', stream)
return id

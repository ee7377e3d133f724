-- Appends order events to the data-platform stream, each at most once.
-- KEYS[1] stream:orders
-- KEYS[2] {stream:orders}:published   the highest order id already appended (same cluster slot)
-- ARGV    order_id_1, event_1, order_id_2, event_2, ...   ascending order ids
-- An id at or below the watermark was appended by an earlier attempt whose "sent" mark never
-- reached SQLite (a crash, a timeout): it is skipped, so a retry does not repeat it.
-- Returns how many events were appended.
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local appended = 0
for i = 1, #ARGV, 2 do
  local id = tonumber(ARGV[i])
  if id > last then
    redis.call('XADD', KEYS[1], '*', 'event', ARGV[i + 1])
    last = id
    appended = appended + 1
  end
end
redis.call('SET', KEYS[2], last)
return appended

-- Appends order events to the data-platform stream, each at most once.
-- KEYS[1] stream:orders
-- KEYS[2] {stream:orders}:published   the highest outbox position already appended (same cluster slot)
-- ARGV[1] the publisher's cursor: the position its batch starts after
-- ARGV[2..] position_1, event_1, position_2, event_2, ...   ascending outbox positions
-- Returns {appended, watermark}.
--
-- A position at or below the watermark was appended by an earlier attempt whose cursor move never
-- reached the database (a crash, a timeout): it is skipped, so a retry does not repeat it.
-- A watermark below the cursor means Redis lost events it had acknowledged (e.g. the last second
-- of its append-only file in a crash): nothing is appended and {-1, watermark} tells the
-- publisher to move its cursor back and publish the lost ones again. So does no watermark at
-- all behind a cursor past 0: Redis lost the stream (a flush, an empty restart, a failover to a
-- replica that never had it), never "a fresh start" — then every order goes out again.
local stored = redis.call('GET', KEYS[2])
local last = tonumber(stored or '0')
if last < tonumber(ARGV[1]) then
  return {-1, last}
end
local appended = 0
for i = 2, #ARGV, 2 do
  local id = tonumber(ARGV[i])
  if id > last then
    redis.call('XADD', KEYS[1], '*', 'event', ARGV[i + 1])
    last = id
    appended = appended + 1
  end
end
redis.call('SET', KEYS[2], last)
return {appended, last}

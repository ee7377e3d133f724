-- Counts paid orders in one day's sales ranking, each order once.
-- KEYS[1] rank:{sales}:<day>           sorted set: item id (zero-padded, see RankingKeys) -> units
-- KEYS[2] rank:{sales}:<day>:applied   the highest outbox position already counted on that day
-- KEYS[3..] rank:{sales}:top3:<day>    cached windows that contain the day (dropped when it changes)
-- ARGV[1] when the day's keys expire (unix seconds)
-- ARGV[2..] position, line_count, member_1, units_1, ..., member_n, units_n   ascending outbox positions
-- Returns how many orders were counted.
--
-- The relay hands orders over by outbox position (commit order), so one watermark per day is
-- enough: an order at or below it was counted by an earlier attempt whose cursor move never
-- reached the database (a crash, a timeout) and is skipped, so a retry never counts it twice.
local applied = tonumber(redis.call('GET', KEYS[2]) or '0')
local counted = 0
local i = 2
while i <= #ARGV do
  local id = tonumber(ARGV[i])
  local lines = tonumber(ARGV[i + 1])
  if id > applied then
    for j = 0, lines - 1 do
      local at = i + 2 + 2 * j
      redis.call('ZINCRBY', KEYS[1], ARGV[at + 1], ARGV[at])
    end
    applied = id
    counted = counted + 1
  end
  i = i + 2 + 2 * lines
end
if counted > 0 then
  redis.call('SET', KEYS[2], applied)
  -- A day already past its expiry (the relay caught up after a long outage) vanishes at once.
  redis.call('EXPIREAT', KEYS[1], ARGV[1])
  redis.call('EXPIREAT', KEYS[2], ARGV[1])
  for k = 3, #KEYS do redis.call('DEL', KEYS[k]) end
end
return counted

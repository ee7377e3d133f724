-- Replaces one day's sales ranking with sums recomputed from the database (the reconcile job).
-- KEYS[1] rank:{sales}:<day>, KEYS[2] rank:{sales}:<day>:applied, KEYS[3..] windows containing the day
-- ARGV[1] when the day's keys expire (unix seconds)
-- ARGV[2] the outbox position the sums include every order up to (and none after)
-- ARGV[3] 'apply' or 'check' (compare only)
-- ARGV[4..] member_1, units_1, ...   the day's sums
-- Returns -1 when the relay already counted an order newer than the snapshot (take a fresh
-- snapshot and call again), 0 when the day already held exactly these sums, 1 when rewritten
-- (or, with 'check', when it would be).
--
-- Setting the day's watermark to the snapshot's position makes the relay skip what the sums
-- already include, and count everything after it: no order is lost or counted twice.
local snapshot = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') > snapshot then
  return -1
end
local same = redis.call('ZCARD', KEYS[1]) == (#ARGV - 3) / 2
if same then
  for i = 4, #ARGV, 2 do
    if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]) or '-1') ~= tonumber(ARGV[i + 1]) then
      same = false
      break
    end
  end
end
if ARGV[3] ~= 'apply' then
  if same then return 0 end
  return 1
end
if not same then
  redis.call('DEL', KEYS[1])
  -- ZADD in slices: unpack() of a whole large day would overflow Lua's stack.
  local slice = {}
  for i = 4, #ARGV, 2 do
    slice[#slice + 1] = ARGV[i + 1]
    slice[#slice + 1] = ARGV[i]
    if #slice >= 1000 or i + 2 > #ARGV then
      redis.call('ZADD', KEYS[1], unpack(slice))
      slice = {}
    end
  end
  for k = 3, #KEYS do redis.call('DEL', KEYS[k]) end
end
redis.call('SET', KEYS[2], snapshot)
redis.call('EXPIREAT', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[2], ARGV[1])
if same then return 0 end
return 1

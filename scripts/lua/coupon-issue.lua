-- Issues one coupon, first come first served, to a batch of requests in arrival order.
-- KEYS[1] coupon:{id}:meta       hash: valid_from, valid_until (ms since the epoch), stock
-- KEYS[2] coupon:{id}:remaining  integer: how many may still be issued
-- KEYS[3] coupon:{id}:issued     hash: user id -> issue time (ms)
-- ARGV    user_1, now_1, user_2, now_2, ...   each request's user and time (ms since the epoch);
--         the time is checked against the issue window and becomes the issue time
-- Returns {remaining, status_1, status_2, ...}, remaining being the count afterwards and each
-- status 0 issued, 1 no such coupon, 2 outside its issue window, 3 the user already has it
-- (also when an earlier request of the same batch got it), 4 sold out.
--
-- Per request the duplicate is checked before the stock, so a user's repeated clicks never use
-- up stock, and the stock before anything is written, so remaining never goes below zero. A
-- missing remaining count (lost data) reads as sold out: the reconcile job restores it, never an
-- oversell.
local window = redis.call('HMGET', KEYS[1], 'valid_from', 'valid_until')
local result = {0}
if not window[1] or not window[2] then
  for i = 1, #ARGV, 2 do result[#result + 1] = 1 end
  return result
end
local from, ends = tonumber(window[1]), tonumber(window[2])
local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
local issued = 0
for i = 1, #ARGV, 2 do
  local now = tonumber(ARGV[i + 1])
  local status
  if now < from or now > ends then
    status = 2
  elseif redis.call('HEXISTS', KEYS[3], ARGV[i]) == 1 then
    status = 3
  elseif remaining - issued <= 0 then
    status = 4
  else
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    issued = issued + 1
    status = 0
  end
  result[#result + 1] = status
end
if issued > 0 then
  redis.call('DECRBY', KEYS[2], issued)
end
result[1] = remaining - issued
return result

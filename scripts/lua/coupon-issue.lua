-- Issues one coupon to one user, first come first served.
-- KEYS[1] coupon:{id}:meta       hash: valid_from, valid_until (ms since the epoch), stock
-- KEYS[2] coupon:{id}:remaining  integer: how many may still be issued
-- KEYS[3] coupon:{id}:issued     hash: user id -> issue time (ms)
-- ARGV[1] user id   ARGV[2] now (ms since the epoch), which becomes the issue time
-- Returns {status, remaining}: 0 issued, 1 no such coupon, 2 outside its issue window,
-- 3 the user already has it, 4 sold out. `remaining` is the count after this call.
--
-- The duplicate is checked before the stock, so a user's repeated clicks never use up stock;
-- the stock is checked before anything is written, so remaining never goes below zero. A missing
-- remaining count (lost data) reads as sold out: the reconcile job restores it, never an oversell.
local window = redis.call('HMGET', KEYS[1], 'valid_from', 'valid_until')
if not window[1] or not window[2] then
  return {1, 0}
end
local now = tonumber(ARGV[2])
if now < tonumber(window[1]) or now > tonumber(window[2]) then
  return {2, 0}
end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return {3, 0}
end
local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
if remaining <= 0 then
  return {4, 0}
end
redis.call('DECR', KEYS[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return {0, remaining - 1}

-- Changes a live coupon's stock and issue window (the admin's PATCH), atomically with issuing.
-- KEYS[1] coupon:{id}:meta   KEYS[2] coupon:{id}:remaining   KEYS[3] coupon:{id}:issued
-- ARGV    valid_from, valid_until (ms since the epoch), stock
-- Returns {status, remaining, issued}: status 0 changed, 1 Redis does not know the coupon,
-- 2 the stock is below the users already issued it (nothing changed).
--
-- Remaining is derived from the issued hash in the same step (as the reconcile job's repair
-- does), so a raise adds exactly the difference and a cut never lets anyone past the new stock,
-- however much issuing is going on.
local issued = redis.call('HLEN', KEYS[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {1, 0, issued}
end
local stock = tonumber(ARGV[3])
if stock < issued then
  return {2, 0, issued}
end
redis.call('HSET', KEYS[1], 'valid_from', ARGV[1], 'valid_until', ARGV[2], 'stock', ARGV[3])
redis.call('SET', KEYS[2], stock - issued)
return {0, stock - issued, issued}

-- Gives Redis a live coupon's changed stock and issue window (the admin's PATCH), atomically
-- with issuing. The store decided the change (it refuses a stock below its holders); Redis
-- takes it in the store's order, however late or often it arrives.
-- KEYS[1] coupon:{id}:meta   KEYS[2] coupon:{id}:remaining   KEYS[3] coupon:{id}:issued
-- ARGV    valid_from, valid_until (ms since the epoch), stock, terms version
-- Returns {status, remaining, issued}: status 0 changed, 1 Redis does not know the coupon,
-- 3 Redis holds this version or a later one already (nothing changed: a repeat, or superseded).
--
-- Remaining is derived from the issued hash in the same step (as the reconcile job's repair
-- does), so a raise adds exactly the difference and a cut never lets anyone past the new stock,
-- however much issuing is going on. Users Redis admitted past a cut are refused by the store.
local issued = redis.call('HLEN', KEYS[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {1, 0, issued}
end
if tonumber(redis.call('HGET', KEYS[1], 'version') or '0') >= tonumber(ARGV[4]) then
  return {3, tonumber(redis.call('GET', KEYS[2]) or '0'), issued}
end
local remaining = math.max(0, tonumber(ARGV[3]) - issued)
redis.call('HSET', KEYS[1], 'valid_from', ARGV[1], 'valid_until', ARGV[2], 'stock', ARGV[3], 'version', ARGV[4])
redis.call('SET', KEYS[2], remaining)
return {0, remaining, issued}

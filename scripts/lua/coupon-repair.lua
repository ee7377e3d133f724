-- Makes a coupon's terms and remaining stock in Redis what SQLite says (the reconcile job).
-- KEYS[1] coupon:{id}:meta   KEYS[2] coupon:{id}:remaining   KEYS[3] coupon:{id}:issued
-- ARGV[1] valid_from, ARGV[2] valid_until (ms), ARGV[3] stock, ARGV[4] 'apply' or 'check'
-- Returns {changed, remaining}: changed is 1 when the terms or the remaining count were (or,
-- with 'check', would be) corrected; remaining is stock - issued, floored at 0.
--
-- Remaining is derived from the issued hash in the same step that sets it, so it is exact
-- however much issuing is going on.
local want = math.max(0, tonumber(ARGV[3]) - redis.call('HLEN', KEYS[3]))
local terms = redis.call('HMGET', KEYS[1], 'valid_from', 'valid_until', 'stock')
local changed = 0
if terms[1] ~= ARGV[1] or terms[2] ~= ARGV[2] or terms[3] ~= ARGV[3] or tonumber(redis.call('GET', KEYS[2])) ~= want then
  changed = 1
end
if changed == 1 and ARGV[4] == 'apply' then
  redis.call('HSET', KEYS[1], 'valid_from', ARGV[1], 'valid_until', ARGV[2], 'stock', ARGV[3])
  redis.call('SET', KEYS[2], want)
end
return {changed, want}

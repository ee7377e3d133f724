-- Makes a coupon's terms and remaining stock in Redis what the store says (the reconcile job).
-- KEYS[1] coupon:{id}:meta   KEYS[2] coupon:{id}:remaining   KEYS[3] coupon:{id}:issued
-- ARGV[1] valid_from, ARGV[2] valid_until (ms), ARGV[3] stock, ARGV[4] 'apply' or 'check',
-- ARGV[5] the terms' version
-- Returns {changed, remaining}: changed is 1 when the terms or the remaining count were (or,
-- with 'check', would be) corrected; remaining is stock - issued, floored at 0.
--
-- Remaining is derived from the issued hash in the same step that sets it, so it is exact
-- however much issuing is going on. Redis holding a later version than the job read (a change
-- made meanwhile) is left as it is: that change set its own remaining.
local held = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if held > tonumber(ARGV[5]) then
  return {0, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
local want = math.max(0, tonumber(ARGV[3]) - redis.call('HLEN', KEYS[3]))
local terms = redis.call('HMGET', KEYS[1], 'valid_from', 'valid_until', 'stock', 'version')
local changed = 0
if terms[1] ~= ARGV[1] or terms[2] ~= ARGV[2] or terms[3] ~= ARGV[3] or terms[4] ~= ARGV[5]
   or tonumber(redis.call('GET', KEYS[2])) ~= want then
  changed = 1
end
if changed == 1 and ARGV[4] == 'apply' then
  redis.call('HSET', KEYS[1], 'valid_from', ARGV[1], 'valid_until', ARGV[2], 'stock', ARGV[3], 'version', ARGV[5])
  redis.call('SET', KEYS[2], want)
end
return {changed, want}

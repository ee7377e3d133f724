-- Puts issuances that SQLite holds back into a coupon's issued hash (the reconcile job).
-- KEYS[1] coupon:{id}:issued   KEYS[2] coupon:{id}:remaining
-- ARGV[1] 'apply' or 'check' (count only)
-- ARGV[2..] user_1, issued_at_1, ...
-- Returns how many of them Redis lacked (and, with 'apply', now has).
--
-- Each entry put back takes one unit of remaining stock in the same step, so issuing that goes
-- on meanwhile never sees more stock than stock - issued (floored at 0; the job then sets the
-- exact count with coupon-repair.lua).
local apply = ARGV[1] == 'apply'
local missing = 0
for i = 2, #ARGV, 2 do
  if apply then
    missing = missing + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  elseif redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    missing = missing + 1
  end
end
if apply and missing > 0 then
  local remaining = redis.call('GET', KEYS[2])
  if remaining then
    redis.call('SET', KEYS[2], math.max(0, tonumber(remaining) - missing))
  end
end
return missing

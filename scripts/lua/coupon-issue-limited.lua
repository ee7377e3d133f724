-- The rate limit and the issue of one batch in one call, for a single Redis server: there the
-- buckets and the coupon can be touched by one script (on a cluster they sit in different hash
-- slots, and the gate makes two calls: rate-limit.lua, then coupon-issue.lua).
--! include rate-limit.lua as rate_limit
--! include coupon-issue.lua as issue
--! keys span slots
-- KEYS    the batch's buckets (rate-limit.lua's KEYS), then coupon:{id}:meta, :remaining, :issued
-- ARGV[1] how many bucket keys; ARGV[2] how many rate-limit arguments (n);
-- ARGV[3..2+n] rate-limit.lua's ARGV; then user_1, now_1, user_2, now_2, ... for every request
-- Returns {waits, decided}: waits as rate-limit.lua returns them (0 = passed), and decided as
-- coupon-issue.lua returns it for the requests that passed, in order ({0} when none did).
local bucket_count, limit_count = tonumber(ARGV[1]), tonumber(ARGV[2])
local bucket_keys, limit_args = {}, {}
for i = 1, bucket_count do bucket_keys[i] = KEYS[i] end
for i = 1, limit_count do limit_args[i] = ARGV[2 + i] end
local waits = rate_limit(bucket_keys, limit_args)
local passed = {}
local base = 2 + limit_count
for r = 1, #waits do
  if waits[r] == 0 then
    passed[#passed + 1] = ARGV[base + 2 * r - 1]
    passed[#passed + 1] = ARGV[base + 2 * r]
  end
end
local decided = {0}
if #passed > 0 then
  decided = issue({KEYS[bucket_count + 1], KEYS[bucket_count + 2], KEYS[bucket_count + 3]}, passed)
end
return {waits, decided}

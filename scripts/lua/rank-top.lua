-- The candidates for the best sellers of a window of days.
-- KEYS[1] rank:{sales}:top3:<last day>   the window's union, cached ARGV[2] ms
-- KEYS[2..] the window's day sets
-- ARGV[1] how many items are wanted, ARGV[2] how long the union is kept (ms)
-- Returns {member, units, ...}: the wanted number of best sellers, plus more members tied with
-- the last of them; the caller sorts by units, then member.
--
-- Redis orders equal scores by member in reverse, so the top ARGV[1] of ZREVRANGE may hold the
-- wrong members of a tie. Members are zero-padded ids, so the first ARGV[1] members tied at the
-- boundary score (ZRANGEBYSCORE, ascending) are the smallest ids: with everything above the
-- boundary, that set surely contains the right answer.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZUNIONSTORE', KEYS[1], #KEYS - 1, unpack(KEYS, 2))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local want = tonumber(ARGV[1])
local top = redis.call('ZREVRANGE', KEYS[1], 0, want - 1, 'WITHSCORES')
if #top < 2 * want then
  return top
end
local boundary = top[#top]
local result = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '(' .. boundary, 'WITHSCORES')
local tied = redis.call('ZRANGEBYSCORE', KEYS[1], boundary, boundary, 'WITHSCORES', 'LIMIT', 0, want)
for i = 1, #tied do result[#result + 1] = tied[i] end
return result

-- Token buckets for a batch of requests, in arrival order: a request passes when every bucket
-- it names holds a token, and then takes one from each; a refused request takes nothing.
-- KEYS    the batch's buckets, each named once
-- ARGV    per key: the interval between tokens (microseconds) and the burst (bucket size);
--         then per request two key indexes (1-based into KEYS; 0 = no bucket of that kind)
-- Returns per request 0 (passed) or the milliseconds until it would pass.
--
-- Each bucket is kept as one number, the time at which it will be full again (the "theoretical
-- arrival time" of GCRA, the token bucket's one-value form): a bucket holds a token while that
-- time is at most (burst - 1) intervals ahead of now, and taking a token moves it one interval
-- later. One GET and one SET per bucket, and the key expires exactly when the bucket is full
-- again, so idle users cost nothing. Time is Redis's own (TIME), shared by every server.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval, slack, full_at, changed = {}, {}, {}, {}
for i = 1, #KEYS do
  interval[i] = tonumber(ARGV[2 * i - 1])
  slack[i] = interval[i] * (tonumber(ARGV[2 * i]) - 1)
  full_at[i] = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
end
local result = {}
for r = 2 * #KEYS + 1, #ARGV, 2 do
  local first, second = tonumber(ARGV[r]), tonumber(ARGV[r + 1])
  local wait = 0
  if first > 0 then wait = math.max(wait, full_at[first] - slack[first] - now) end
  if second > 0 then wait = math.max(wait, full_at[second] - slack[second] - now) end
  if wait <= 0 then
    if first > 0 then full_at[first] = full_at[first] + interval[first]; changed[first] = true end
    if second > 0 then full_at[second] = full_at[second] + interval[second]; changed[second] = true end
    result[#result + 1] = 0
  else
    result[#result + 1] = math.ceil(wait / 1000)
  end
end
for i = 1, #KEYS do
  if changed[i] then
    redis.call('SET', KEYS[i], string.format('%.0f', full_at[i]), 'PX', math.ceil((full_at[i] - now) / 1000))
  end
end
return result

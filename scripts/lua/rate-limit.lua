-- Token buckets for a batch of requests, in arrival order: a request passes when every bucket
-- it names holds a whole token, and then takes one from each; a refused request takes nothing.
-- KEYS    the batch's buckets, each named once: hash {tokens, at}
-- ARGV    per key: rate (tokens a second), burst (bucket size); then per request two key
--         indexes (1-based into KEYS; 0 = no bucket of that kind)
-- Returns per request 0 (passed) or the milliseconds until it would pass.
--
-- Buckets refill continuously from Redis's own clock (TIME), so servers with skewed clocks
-- share one limit; an idle bucket expires once it would be full again anyway.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local rate, burst, tokens = {}, {}, {}
for i = 1, #KEYS do
  rate[i] = tonumber(ARGV[2 * i - 1]) / 1000
  burst[i] = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local level, at = tonumber(state[1]), tonumber(state[2])
  if level == nil or at == nil then
    tokens[i] = burst[i]
  else
    tokens[i] = math.min(burst[i], level + math.max(0, now - at) * rate[i])
  end
end
local result = {}
for r = 2 * #KEYS + 1, #ARGV, 2 do
  local first, second = tonumber(ARGV[r]), tonumber(ARGV[r + 1])
  local wait = 0
  for _, k in ipairs({first, second}) do
    if k > 0 and tokens[k] < 1 then
      wait = math.max(wait, math.ceil((1 - tokens[k]) / rate[k]))
    end
  end
  if wait == 0 then
    for _, k in ipairs({first, second}) do
      if k > 0 then tokens[k] = tokens[k] - 1 end
    end
  end
  result[#result + 1] = wait
end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tokens[i]), 'at', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst[i] / rate[i]) + 1000)
end
return result

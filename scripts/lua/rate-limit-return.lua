-- Gives tokens back to buckets of rate-limit.lua: a request that took a token from one bucket
-- and was then refused by its other bucket (on another cluster slot, so not in the same call)
-- takes nothing in the end.
-- KEYS    buckets, each named once
-- ARGV    per key: the interval between tokens (microseconds) and how many tokens go back
-- Returns how many buckets changed.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local changed = 0
for i = 1, #KEYS do
  local stored = redis.call('GET', KEYS[i])
  if stored then
    local full_at = tonumber(stored) - tonumber(ARGV[2 * i - 1]) * tonumber(ARGV[2 * i])
    if full_at <= now then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], string.format('%.0f', full_at), 'PX', math.ceil((full_at - now) / 1000))
    end
    changed = changed + 1
  end
end
return changed

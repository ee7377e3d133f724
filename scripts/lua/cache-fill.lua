-- Stores a value read from the database in a versioned cache hash, unless the hash was invalidated
-- since the reader looked: a slow reader cannot put back a value older than an invalidation.
-- KEYS[1] the cache hash: field `v` is its version, every other field a cached value
-- ARGV[1] the version the reader saw ('' when the hash did not exist)
-- ARGV[2] field, ARGV[3] value, ARGV[4] how long the hash lives (ms)
-- Returns 1 when stored, 0 when the version moved on.
local version = redis.call('HGET', KEYS[1], 'v')
if (version or '') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', version or '0', ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1

-- Drops every value of a versioned cache hash (see cache-fill.lua) and moves its version on, so
-- fills by readers that looked before this call are refused.
-- KEYS[1] the cache hash, ARGV[1] how long the version is kept (ms)
-- Returns the new version.
local version = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', version)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return version

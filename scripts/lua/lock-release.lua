-- Releases a lock taken with SET key token NX PX, only if the caller still holds it.
-- KEYS[1] the lock   ARGV[1] the holder's token
-- Returns 1 when released, 0 when it was not the caller's (expired, taken by another).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

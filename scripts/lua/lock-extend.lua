-- Keeps a lock taken with SET key token NX PX: extends it while the caller still holds it.
-- KEYS[1] the lock   ARGV[1] the holder's token   ARGV[2] new lifetime (ms)
-- Returns 1 when extended, 0 when the lock is no longer the caller's.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0

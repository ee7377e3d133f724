-- Takes a lock: SET key token NX PX, or, when the caller already holds it (an earlier take ran
-- but its reply was lost on the way back), extends it. Without the second half a lost reply
-- would leave the lock held by nobody until it expires, and every run waits that long.
-- KEYS[1] the lock   ARGV[1] the taker's token   ARGV[2] lifetime (ms)
-- Returns 1 when the caller holds the lock, 0 when another does.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0

-- The benchmark's small script: one read-modify-write on one key.
return redis.call('INCR', KEYS[1])

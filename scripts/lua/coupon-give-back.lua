-- Undoes one issuance: used when its durable record could not be written.
-- KEYS[1] coupon:{id}:remaining   KEYS[2] coupon:{id}:issued
-- ARGV[1] user id   ARGV[2] the issue time that issuance recorded (ms)
-- Returns 1 when it was undone, 0 when there was nothing to undo.
--
-- Only an entry with exactly that issue time is removed, so a give-back that is retried, or
-- that arrives after the user was issued the coupon again by a later request, changes nothing.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[1])
return 1

-- Publishes a coupon's terms and, unless Redis already counts it, its remaining stock.
-- KEYS[1] coupon:{id}:meta   KEYS[2] coupon:{id}:remaining
-- ARGV    valid_from, valid_until (ms since the epoch), stock, remaining
-- A live remaining count is never overwritten (SET NX): after a fault the reconcile job fixes it.
redis.call('HSET', KEYS[1], 'valid_from', ARGV[1], 'valid_until', ARGV[2], 'stock', ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'NX')
return 1

-- Publishes a coupon's terms and, unless Redis already counts it, its remaining stock.
-- KEYS[1] coupon:{id}:meta   KEYS[2] coupon:{id}:remaining
-- ARGV    valid_from, valid_until (ms since the epoch), stock, remaining, terms version
-- A live remaining count is never overwritten (SET NX): after a fault the reconcile job fixes it.
-- Terms of a version below the one Redis holds are not taken (a later change is already there).
local held = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if held > tonumber(ARGV[5]) then
  return 0
end
redis.call('HSET', KEYS[1], 'valid_from', ARGV[1], 'valid_until', ARGV[2], 'stock', ARGV[3], 'version', ARGV[5])
redis.call('SET', KEYS[2], ARGV[4], 'NX')
return 1

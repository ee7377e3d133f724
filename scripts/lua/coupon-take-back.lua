-- Takes issuances out of a coupon's issued hash that the store refused or never recorded
-- (Redis admitted more than the stock, or the reconcile job found entries without rows).
-- KEYS[1] coupon:{id}:issued
-- ARGV    user_1, issued_at_1, user_2, issued_at_2, ...
-- Returns how many were taken out.
--
-- Only an entry with exactly that issue time goes (a later issuance of the same user stays). No
-- stock is given back: the store found none left, so Redis's remaining count was too high, and
-- the next decisions or the repair's `remaining = stock - issued` bring it down.
local taken = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    taken = taken + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return taken

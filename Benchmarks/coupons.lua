-- wrk script: POST /coupons/issue for BENCH_COUPON, a distinct user per request (BENCH_USER_BASE + n).
-- It does not look at the responses (a response() callback would cost wrk more CPU than the
-- trivial route's run pays, on the same two cores): scripts/bench-coupons checks the outcomes
-- from wrk's non-2xx count and the server's per-coupon counters instead.
local coupon = tonumber(os.getenv("BENCH_COUPON") or "1")
local base = tonumber(os.getenv("BENCH_USER_BASE") or "0")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local sent = 0
function request()
  sent = sent + 1
  return wrk.format(nil, "/coupons/issue", nil, string.format('{"user_id": %d, "coupon_id": %d}', base + sent, coupon))
end

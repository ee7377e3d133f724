-- wrk script: POST /coupons/issue for BENCH_COUPON, a distinct user per request (BENCH_USER_BASE + n),
-- each with its own bearer token: line n of BENCH_TOKENS (Benchmarks/tokens.py, users from
-- BENCH_USER_BASE + 1). Without BENCH_TOKENS no token is sent (a server in --insecure-dev).
-- It does not look at the responses (a response() callback would cost wrk more CPU than the
-- trivial route's run pays, on the same two cores): scripts/bench-coupons checks the outcomes
-- from wrk's non-2xx count and the server's per-coupon counters instead.
local coupon = tonumber(os.getenv("BENCH_COUPON") or "1")
local base = tonumber(os.getenv("BENCH_USER_BASE") or "0")
local tokens = {}
local tokens_file = os.getenv("BENCH_TOKENS")
if tokens_file == "" then tokens_file = nil end
if tokens_file then
  for line in io.lines(tokens_file) do tokens[#tokens + 1] = "Authorization: Bearer " .. line .. "\r\n" end
end

-- The request is put together by concatenation rather than wrk.format (which walks a headers
-- table per call): wrk shares the two cores with the server, and the trivial route it is
-- compared with costs wrk nothing per request.
local head
local sent = 0
function request()
  sent = sent + 1
  head = head or string.format("POST /coupons/issue HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n",
    wrk.headers["Host"])
  local body = string.format('{"user_id": %d, "coupon_id": %d}', base + sent, coupon)
  local auth = tokens_file and tokens[sent] or ""
  return head .. auth .. "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

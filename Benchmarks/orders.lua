-- wrk script: POST /orders, one unit of a random item for a random user per request.
-- BENCH_USERS and BENCH_ITEMS (environment) must match what the benchmark seeded.
local users = tonumber(os.getenv("BENCH_USERS") or "1000")
local items = tonumber(os.getenv("BENCH_ITEMS") or "100")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  math.randomseed(os.time())
end

function request()
  local body = string.format('{"user_id": %d, "items": [{"item_id": %d, "quantity": 1}]}',
    math.random(1, users), math.random(1, items))
  return wrk.format(nil, "/orders", nil, body)
end

"""The checker catches what it claims: a clean history passes, and each seeded bug — the kind a
product bug would leave behind — breaks exactly the promise it should. Run by scripts/test
(`python3 -m unittest discover scripts/chaos-lib`)."""
import copy
import unittest

from checker import PROMISES, check


def entry(op, user, status, reply=None, request=None, key=None, t=1.0, **extra):
    return {"op": op, "target": "nginx", "user": user, "t0": t, "t1": t + 0.01, "status": status, "error": None,
            "request": request, "key": key, "reply": reply, **extra}


def issue(user, coupon, status, code=None, t=1.0):
    reply = {"user_id": user, "coupon_id": coupon} if status == 201 else ({"code": code} if code else None)
    return entry("issue", user, status, reply, {"user_id": user, "coupon_id": coupon}, t=t)


def clean():
    """Coupon 1 (stock 2): users 1 and 2 got it, user 3 was refused sold out, user 4 got a 503 and
    then sold out, user 5's answer was lost (and it holds nothing). Two charges, two orders (one
    retried after a 503), a restock answered 200 and a later one answered 503."""
    history = [
        issue(1, 1, 201), issue(2, 1, 201), issue(3, 1, 409, "COUPON_SOLD_OUT"),
        issue(4, 1, 503, "SERVICE_UNAVAILABLE"), issue(4, 1, 409, "COUPON_SOLD_OUT", t=2.0), issue(5, 1, None),
        entry("charge", 1, 200, {"user_id": 1, "balance": 20000}, {"user_id": 1, "amount": 20000}, "charge-1"),
        entry("charge", 2, 200, {"user_id": 2, "balance": 20000}, {"user_id": 2, "amount": 20000}, "charge-2"),
        entry("order", 1, 201, {"order_id": 10}, {"user_id": 1}, "order-1"),
        entry("order", 2, 503, {"code": "SERVICE_UNAVAILABLE"}, {"user_id": 2}, "order-2"),
        entry("order", 2, 201, {"order_id": 11}, {"user_id": 2}, "order-2", t=2.0),
        entry("restock", 1, 200, {"stock": 2}, {"stock": 2}, coupon_id=1, t=0.5),
        entry("restock", 1, 503, {"code": "SERVICE_UNAVAILABLE"}, {"stock": 12}, coupon_id=1, t=3.0),
        entry("popular", 3, 502, None, t=3.0),  # nginx, its server gone: not the service's 5xx
    ]
    state = {
        "setup": {"coupons": {"1": 1}, "items": {"7": 100}},
        "coupons": {"1": {"stock": 2, "holders": [1, 2], "redis_holders": [2, 1]}},
        "items": {"7": {"stock": 97, "sold": 3, "api_stock": 97}},
        "orders": {"10": 1, "11": 2},
        "points": {"1": {"balance": 18000, "ledger_sum": 18000, "last_after": 18000, "min_after": 18000},
                   "2": {"balance": 19000, "ledger_sum": 19000, "last_after": 19000, "min_after": 19000}},
        "keys": {"1 charge-1": 200, "2 charge-2": 200, "1 order-1": 201, "2 order-2": 201},
        "events": [10, 11, 11],
        "reconcile": {"status": 0, "output": "{}"},
    }
    return history, state


class CheckerTests(unittest.TestCase):
    def broken(self, history, state):
        return [promise for promise, ok, _ in check(history, state) if not ok]

    def test_a_clean_history_keeps_every_promise(self):
        self.assertEqual(self.broken(*clean()), [])
        self.assertEqual([p for p, _, _ in check(*clean())], PROMISES)

    def test_the_store_guard_skipped_is_an_oversell(self):
        history, state = clean()
        history.append(issue(6, 1, 201))
        state["coupons"]["1"] = {"stock": 2, "holders": [1, 2, 6], "redis_holders": [1, 2, 6]}
        self.assertEqual(self.broken(history, state), ["holders <= stock"])

    def test_one_dropped_event_is_caught(self):
        history, state = clean()
        state["events"] = [10]
        self.assertEqual(self.broken(history, state), ["every acknowledged order's event in the stream"])

    def test_a_lost_issuance_is_caught_and_redis_disagrees(self):
        history, state = clean()
        state["coupons"]["1"]["holders"] = [1]
        self.assertEqual(self.broken(history, state), ["every 201 issuance durable", "redis and the database agree after healing"])

    def test_a_503_that_issued_is_caught_but_a_lost_answer_may_have(self):
        history, state = clean()
        history[-3]["request"]["stock"] = 3  # the restock answered 200 raised the stock to 3
        state["coupons"]["1"] = {"stock": 3, "holders": [1, 2, 4], "redis_holders": [1, 2, 4]}
        self.assertEqual(self.broken(history, state), ["a refusal changed nothing"])
        state["coupons"]["1"] = {"stock": 3, "holders": [1, 2, 5], "redis_holders": [1, 2, 5]}
        self.assertEqual(self.broken(history, state), [])

    def test_a_user_holding_twice_is_caught(self):
        history, state = clean()
        state["coupons"]["1"]["redis_holders"] = [1, 2, 2]
        history.append(issue(1, 1, 201, t=5.0))
        self.assertEqual(self.broken(history, state), ["holders <= stock", "no user holds a coupon twice"])

    def test_a_refused_charge_applied_and_a_lost_order_are_caught(self):
        history, state = clean()
        history.append(entry("charge", 3, 503, {"code": "SERVICE_UNAVAILABLE"}, {"user_id": 3, "amount": 5}, "charge-3"))
        state["keys"]["3 charge-3"] = 200
        self.assertEqual(self.broken(history, state), ["a refusal changed nothing"])
        history, state = clean()
        del state["orders"]["11"]
        self.assertIn("every acknowledged charge and order durable", self.broken(history, state))

    def test_a_balance_off_its_ledger_or_negative_is_caught(self):
        history, state = clean()
        state["points"]["1"]["ledger_sum"] = 17000
        self.assertEqual(self.broken(history, state), ["balance = ledger, never negative"])
        history, state = clean()
        state["points"]["2"].update(balance=-5, ledger_sum=-5, last_after=-5)
        self.assertEqual(self.broken(history, state), ["balance = ledger, never negative"])

    def test_stock_off_its_sales_or_a_stale_cache_is_caught(self):
        history, state = clean()
        state["items"]["7"]["sold"] = 4
        self.assertEqual(self.broken(history, state), ["item stock = initial - sold, never negative"])
        history, state = clean()
        state["items"]["7"]["api_stock"] = 98
        self.assertEqual(self.broken(history, state), ["item stock = initial - sold, never negative"])

    def test_a_restock_refused_but_kept_is_caught(self):
        history, state = clean()
        state["coupons"]["1"]["stock"] = 12
        self.assertEqual(self.broken(history, state), ["a refusal changed nothing"])
        history[-2]["status"], history[-2]["reply"] = None, None  # its answer lost instead: may have happened
        self.assertEqual(self.broken(history, state), [])

    def test_a_500_from_the_service_is_a_bug(self):
        history, state = clean()
        history.append(entry("order", 3, 500, {"code": "INTERNAL"}, {"user_id": 3}, "order-3"))
        self.assertEqual(self.broken(history, state), ["no 5xx but 503"])

    def test_reconcile_finding_work_after_healing_is_caught(self):
        history, state = clean()
        state["reconcile"] = {"status": 1, "output": '{"rows_inserted": 1}'}
        self.assertEqual(self.broken(history, state), ["redis and the database agree after healing"])

    def test_the_state_read_back_from_json_checks_the_same(self):
        import json
        history, state = clean()
        self.assertEqual(check(history, json.loads(json.dumps(state))), check(history, copy.deepcopy(state)))


if __name__ == "__main__":
    unittest.main()

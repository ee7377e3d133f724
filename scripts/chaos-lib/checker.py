"""Reads a sale's history and the final state, and says for each promise whether it held.

The history is a list of requests (see sale.py): op, user, status (None: no answer — a timeout or
a lost connection), reply, key, request. An answer is *ambiguous* when there was none or when
nginx answered for a server it lost (a 5xx without the service's problem `code`): the request may
or may not have been applied. Every other answer is definite, and a definite refusal (a 503, a
409, a 429) promises that the request changed nothing.

The state is what the database and Redis hold once every fault has healed (collected by
chaos.py): {"setup": {"coupons": {id: stock}, "items": {id: stock}},
"coupons": {id: {"stock", "holders": [user], "redis_holders": [user]}},
"items": {id: {"stock", "sold", "api_stock"}}, "orders": {id: user},
"points": {user: {"balance", "ledger_sum", "last_after", "min_after"}},
"keys": {"USER KEY": status}, "events": [order_id], "reconcile": {"status", "output"}}.
"""
import bisect
from collections import defaultdict

PROMISES = [
    "holders <= stock",
    "every 201 issuance durable",
    "no user holds a coupon twice",
    "a refusal changed nothing",
    "balance = ledger, never negative",
    "every acknowledged charge and order durable",
    "item stock = initial - sold, never negative",
    "every acknowledged order's event in the stream",
    "no 5xx but 503",
    "redis and the database agree after healing",
]


def code(entry):
    """The service's problem `code`; None for a success, no answer, or a page nginx made."""
    return entry["reply"].get("code") if isinstance(entry.get("reply"), dict) else None


def from_service(entry):
    return code(entry) is not None


def ambiguous(entry):
    status = entry["status"]
    return status is None or (status >= 500 and not from_service(entry))


def check(history, state):
    """Returns [(promise, ok, detail)] in PROMISES order."""
    problems = defaultdict(list)

    def broken(promise, detail):
        problems[promise].append(detail)

    # Written as JSON, the state's ids are strings.
    state = dict(state, coupons={int(k): v for k, v in state["coupons"].items()},
                 items={int(k): v for k, v in state["items"].items()},
                 setup={part: {int(k): v for k, v in ids.items()} for part, ids in state["setup"].items()})
    coupons = state["coupons"]
    by_pair = defaultdict(list)
    for entry in history:
        if entry["op"] == "issue":
            by_pair[(entry["user"], entry["request"]["coupon_id"])].append(entry)

    for coupon, held in coupons.items():
        holders, in_redis = held["holders"], held.get("redis_holders") or []
        if len(holders) > held["stock"]:
            broken("holders <= stock", f"coupon {coupon}: {len(holders)} holders, stock {held['stock']}")
        if len(in_redis) > held["stock"]:
            broken("holders <= stock", f"coupon {coupon}: {len(in_redis)} holders in Redis, stock {held['stock']}")
        for name, users in (("database", holders), ("Redis", in_redis)):
            if len(set(users)) != len(users):
                broken("no user holds a coupon twice", f"coupon {coupon}: {len(users) - len(set(users))} repeated holders in the {name}")
        if sorted(set(holders)) != sorted(set(in_redis)):
            only_db, only_redis = set(holders) - set(in_redis), set(in_redis) - set(holders)
            broken("redis and the database agree after healing",
                   f"coupon {coupon}: {len(only_db)} holders only in the database, {len(only_redis)} only in Redis")

    for (user, coupon), entries in by_pair.items():
        holders = set(coupons.get(coupon, {}).get("holders", []))
        created = [e for e in entries if e["status"] == 201]
        if len(created) > 1:
            broken("no user holds a coupon twice", f"user {user} told 201 {len(created)} times for coupon {coupon}")
        if created and user not in holders:
            broken("every 201 issuance durable", f"user {user}, coupon {coupon}: 201 at {created[0]['t1']} s, no row")
        holds_per_answer = created or any(code(e) == "COUPON_ALREADY_ISSUED" for e in entries)
        if user in holders and not holds_per_answer and not any(ambiguous(e) for e in entries):
            answers = ", ".join(f"{e['status']} {code(e)}" for e in entries)
            broken("a refusal changed nothing", f"user {user} holds coupon {coupon} though every answer refused it ({answers})")

    check_keyed(history, state, "charge", 200, broken)
    check_keyed(history, state, "order", 201, broken)
    check_restocks(history, state, broken)

    for user, points in state["points"].items():
        if not (points["balance"] == points["ledger_sum"] == points["last_after"]):
            broken("balance = ledger, never negative", f"user {user}: balance {points['balance']}, ledger sums to "
                   f"{points['ledger_sum']}, last entry says {points['last_after']}")
        if points["balance"] < 0 or points["min_after"] < 0:
            broken("balance = ledger, never negative", f"user {user}: negative balance")

    orders = {int(k): v for k, v in state["orders"].items()}
    for entry in history:
        if entry["op"] == "order" and entry["status"] == 201:
            order_id = entry["reply"]["order_id"]
            if orders.get(order_id) != entry["user"]:
                broken("every acknowledged charge and order durable", f"order {order_id} (user {entry['user']}) told 201, not in the database")

    for item, stock in state["setup"]["items"].items():
        now = state["items"][item]
        if now["stock"] != stock - now["sold"] or now["stock"] < 0:
            broken("item stock = initial - sold, never negative", f"item {item}: {now['stock']} in stock, {stock} - {now['sold']} sold expected")
        if now.get("api_stock") is not None and now["api_stock"] != now["stock"]:
            broken("item stock = initial - sold, never negative", f"item {item}: the API says {now['api_stock']}, the database {now['stock']}")

    in_stream = set(state["events"])
    acknowledged = [e["reply"]["order_id"] for e in history if e["op"] == "order" and e["status"] == 201]
    missing = [o for o in acknowledged if o not in in_stream]
    if missing:
        broken("every acknowledged order's event in the stream", f"{len(missing)} acknowledged orders have no event, e.g. {missing[:5]}")
    unpublished = [o for o in orders if o not in in_stream]
    if unpublished:
        broken("every acknowledged order's event in the stream", f"{len(unpublished)} orders in the database have no event, e.g. {unpublished[:5]}")

    for entry in history:
        if entry["status"] is not None and entry["status"] >= 500 and entry["status"] != 503 and from_service(entry):
            broken("no 5xx but 503", f"{entry['op']} by user {entry['user']}: {entry['status']} {code(entry)}")

    if state["reconcile"]["status"] != 0:
        broken("redis and the database agree after healing", f"reconcile --dry-run exit {state['reconcile']['status']}: "
               f"{state['reconcile']['output'].strip()[:300]}")

    return [(p, not problems[p], problems[p]) for p in PROMISES]


def check_keyed(history, state, op, success, broken):
    """Charges and orders carry an Idempotency-Key: the store remembers each applied one with its
    answer. A key answered with success is durable; a key only ever refused (definite answers)
    left nothing."""
    by_key = defaultdict(list)
    for entry in history:
        if entry["op"] == op:
            by_key[(entry["user"], entry["key"])].append(entry)
    for (user, key), entries in by_key.items():
        stored = state["keys"].get(f"{user} {key}")
        if any(e["status"] == success for e in entries) and stored != success:
            broken("every acknowledged charge and order durable", f"{op} {key} of user {user}: {success}, stored {stored}")
        if not any(e["status"] == success or ambiguous(e) for e in entries) and stored == success:
            answers = ", ".join(f"{e['status']} {code(e)}" for e in entries)
            broken("a refusal changed nothing", f"{op} {key} of user {user} applied though refused ({answers})")


def check_restocks(history, state, broken):
    """A restock is sequential per admin: the final stock is the last one answered 200, or one sent
    after it without a definite answer; a stock only ever refused is never the final one."""
    by_coupon = defaultdict(list)
    for entry in history:
        if entry["op"] == "restock":
            by_coupon[entry["coupon_id"]].append(entry)
    for coupon, entries in by_coupon.items():
        entries.sort(key=lambda e: e["t0"])
        final = state["coupons"][coupon]["stock"]
        allowed = {state["setup"]["coupons"][coupon]}
        for entry in entries:
            if entry["status"] == 200:
                allowed = {entry["request"]["stock"]}
            elif ambiguous(entry):
                allowed.add(entry["request"]["stock"])
        # Issuing raises nothing: a stock never sent and never the initial one is a change from nowhere.
        if final not in allowed:
            broken("a refusal changed nothing", f"coupon {coupon}: stock {final} at the end; acknowledged or in doubt: {sorted(allowed)}")


def costs(history):
    """What the faults cost, from the history."""
    unavailable = [e for e in history if e["status"] == 503]
    no_answer = [e for e in history if ambiguous(e)]
    return {
        "requests": len(history),
        "503s": len(unavailable),
        "503_span": (round(min(e["t0"] for e in unavailable), 1), round(max(e["t1"] for e in unavailable), 1)) if unavailable else None,
        "no_answer": len(no_answer),
        "issued": sum(1 for e in history if e["op"] == "issue" and e["status"] == 201),
        "orders": sum(1 for e in history if e["op"] == "order" and e["status"] == 201),
    }


def costs_by_kind(history, fault_log, after=2.0):
    """Per kind of fault: how many there were, and per fault the 503s and unanswered requests
    sent while it lasted or within `after` seconds of its heal, and how long after the heal the
    last of those 503s came (the time to heal, as clients saw it)."""
    by_kind = {}
    history = sorted(history, key=lambda e: e["t0"])
    starts = [e["t0"] for e in history]
    for fault in fault_log:
        window = history[bisect.bisect_left(starts, fault["start"]):bisect.bisect_left(starts, fault["end"] + after)]
        refused = [e for e in window if e["status"] == 503]
        row = by_kind.setdefault(fault["kind"], {"faults": 0, "503s": 0, "no_answer": 0, "requests": 0, "tail": 0.0})
        row["faults"] += 1
        row["requests"] += len(window)
        row["503s"] += len(refused)
        row["no_answer"] += sum(1 for e in window if ambiguous(e))
        row["tail"] += max([e["t1"] - fault["end"] for e in refused] + [0.0])
    return by_kind


def cost_table(history, fault_log):
    lines = ["kind               faults  requests/fault  503s/fault  no-answer/fault  503s end after heal"]
    for kind, row in sorted(costs_by_kind(history, fault_log).items()):
        n = row["faults"]
        lines.append(f"{kind:18} {n:6d} {row['requests'] / n:15.0f} {row['503s'] / n:11.1f} {row['no_answer'] / n:16.1f} "
                     f"{row['tail'] / n:17.1f} s")
    return "\n".join(lines)

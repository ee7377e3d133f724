"""scripts/chaos: the scaled-out shape on separate network hosts, a flash sale through it, faults
on a schedule, then the checker over the whole history. See `scripts/chaos --help`."""
import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from checker import check, cost_table, costs  # noqa: E402
from faults import KINDS, Faults  # noqa: E402
from sale import History, Sale, token  # noqa: E402
from testbed import Testbed  # noqa: E402


def say(line):
    print(f"==> {line}", flush=True)


def parse():
    parser = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Exit status: 0 when every promise held, 1 when one broke, 2 when the test bed failed.")
    parser.add_argument("--short", action="store_true", help="one fault of each kind, about 1.5 minutes (what .ci/run runs)")
    parser.add_argument("--per-kind", type=int, default=20, help="faults of each kind without --short (default 20)")
    parser.add_argument("--seed", type=int, help="a random schedule (kinds, order, targets, durations) replayable by its seed; "
                        "default: the fixed default schedule")
    parser.add_argument("--bin", default=os.environ.get("COMMERCE_BIN"), required=not os.environ.get("COMMERCE_BIN"),
                        help="the commerce executable (COMMERCE_BIN)")
    parser.add_argument("--dir", default="var/chaos", help="logs, the history and the report (default var/chaos)")
    parser.add_argument("--check-only", action="store_true",
                        help="no run: check the history and state an earlier run left in --dir again, and report")
    return parser.parse_args()


def schedule(args):
    """[(kind, hold seconds)]: every kind `per-kind` times; the default order is round-robin over
    the kinds, a seed shuffles kinds and holds."""
    per_kind = 1 if args.short else args.per_kind
    rng = random.Random(args.seed if args.seed is not None else 0)
    kinds = [kind for _ in range(per_kind) for kind in KINDS]
    if args.seed is not None:
        rng.shuffle(kinds)
    # Long enough for the timeouts to matter (the node timeout is 3 s; a paused or killed primary
    # is replaced after it).
    return [(kind, round(rng.uniform(4.0, 6.0) if kind in ("kill-primary", "pause-primary", "isolate-primary")
                         else rng.uniform(1.5, 3.0), 1)) for kind in kinds]


def admin(bed, method, path, body=None):
    request = urllib.request.Request(bed.base_url("nginx") + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token(bed.jwt_secret, 1, admin=True)}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


def set_up_catalog(bed, short):
    coupons = {}
    for stock in ((30, 60, 100) if short else (200, 400, 800)):
        coupon = admin(bed, "POST", "/admin/coupons", {"name": f"Flash {stock}", "discount_type": "FIXED", "discount_value": 500,
                                                       "stock": stock, "valid_from": "2000-01-01T00:00:00Z",
                                                       "valid_until": "2100-01-01T00:00:00Z"})
        coupons[coupon["coupon_id"]] = stock
    items = {}
    for n, price in enumerate((1000, 2500, 4000, 7000, 9000)):
        item = admin(bed, "POST", "/admin/items", {"name": f"Item {n + 1}", "price": price, "stock": 100_000})
        items[item["item_id"]] = 100_000
    return {"coupons": coupons, "items": items}


def ready(bed, name):
    try:
        with urllib.request.urlopen(bed.base_url(name) + "/health/ready", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def collect(bed, setup):
    """The final state, read from the database, Redis and the API."""
    state = {"setup": setup, "coupons": {}, "items": {}, "points": {}, "keys": {}}
    for coupon in setup["coupons"]:
        stock = int(bed.psql(f"SELECT stock FROM coupons WHERE id = {coupon}")[0][0])
        holders = [int(r[0]) for r in bed.psql(f"SELECT user_id FROM user_coupons WHERE coupon_id = {coupon}")]
        out = bed.redis("redis1", "-c", "HKEYS", f"coupon:{{{coupon}}}:issued")
        state["coupons"][coupon] = {"stock": stock, "holders": holders, "redis_holders": [int(u) for u in out.split()]}
    sold = dict((int(i), int(q)) for i, q in bed.psql("SELECT item_id, sum(quantity) FROM order_items GROUP BY item_id"))
    for item in setup["items"]:
        stock = int(bed.psql(f"SELECT stock FROM items WHERE id = {item}")[0][0])
        api = admin(bed, "GET", f"/items/{item}")["stock"]
        state["items"][item] = {"stock": stock, "sold": sold.get(item, 0), "api_stock": api}
    state["orders"] = {int(o): int(u) for o, u in bed.psql("SELECT id, user_id FROM orders")}
    for user, balance, total, last, low in bed.psql("""
            SELECT p.user_id, p.balance, coalesce(sum(h.amount), 0),
                   coalesce((SELECT balance_after FROM point_history l WHERE l.user_id = p.user_id ORDER BY id DESC LIMIT 1), 0),
                   coalesce(min(h.balance_after), 0)
            FROM user_point p LEFT JOIN point_history h ON h.user_id = p.user_id GROUP BY p.user_id, p.balance"""):
        state["points"][user] = {"balance": int(balance), "ledger_sum": int(total), "last_after": int(last), "min_after": int(low)}
    for user, key, status in bed.psql("SELECT user_id, key, response_status FROM idempotency_keys"):
        state["keys"][f"{user} {key}"] = int(status)
    events = []
    last = "-"
    while True:
        out = bed.redis("redis1", "-c", "XRANGE", "stream:orders", last, "+", "COUNT", 5000)
        ids = re.findall(r"^(\d+-\d+)$", out, re.M)
        events += [int(o) for o in re.findall(r'"order":\{[^{]*?"order_id":(\d+)', out)]
        if len(ids) < 5000:
            break
        last = "(" + ids[-1]
    state["events"] = events
    return state


def reconcile_dry_run(bed):
    done = subprocess.run([bed.commerce_bin, "reconcile", "--db", bed.db_url(), "--redis", bed.redis_url(), "--dry-run", "--json"],
                          capture_output=True, text=True, env=dict(os.environ, COMMERCE_JWT_SECRET=bed.jwt_secret))
    return {"status": done.returncode, "output": done.stdout + done.stderr}


def counts(history, width):
    """Per bucket of `width` seconds (by answer time): coupons issued, orders placed, 503s, and
    requests without an answer."""
    buckets = [{"issued": 0, "ordered": 0, "refused": 0, "lost": 0}
               for _ in range(int(max((e["t1"] for e in history), default=0) // width) + 1)]
    for e in history:
        bucket = buckets[int(e["t1"] // width)]
        if e["status"] == 201 and e["op"] in ("issue", "order"):
            bucket["issued" if e["op"] == "issue" else "ordered"] += 1
        if e["status"] == 503:
            bucket["refused"] += 1
        if e["status"] is None:
            bucket["lost"] += 1
    return buckets


def timeline(history, fault_log, bucket=5.0):
    """Issues per second and 503s per bucket, with the faults active in it."""
    lines = ["   time  issued/s  503s  no-answer  faults"]
    for n, c in enumerate(counts(history, bucket)):
        t = n * bucket
        active = [f["kind"] for f in fault_log if f["start"] < t + bucket and f["end"] > t]
        lines.append(f"{t:6.0f}s {c['issued'] / bucket:8.1f} {c['refused']:5d} {c['lost']:10d}  {' '.join(active)}  "
                     f"{'#' * min(60, c['refused'] // 5)}")
    return "\n".join(lines)


def plot(entries, fault_log, path):
    """The run as a picture (gnuplot, when installed): issues, orders and 503s per second, each
    fault a shaded span labelled with its kind."""
    per_second = counts(entries, 1)
    end = len(per_second)
    data = path.with_suffix(".dat")
    data.write_text("".join(f"{t} {c['issued']} {c['refused']} {c['lost']} {c['ordered']}\n" for t, c in enumerate(per_second)))
    top = max([v for c in per_second for v in c.values()] + [1]) * 1.25
    spans = "".join(
        f"set object {n + 1} rect from {f['start']},0 to {f['end']},{top} fc rgb '{'#f4c7c3' if n % 2 else '#fce8b2'}' fs solid 0.6 noborder behind\n"
        f"set label {n + 1} '{f['kind']}' at {f['start']},{top * (0.97 - 0.06 * (n % 4))} font ',7'\n"
        for n, f in enumerate(fault_log))
    script = f"""set terminal pngcairo size {max(1000, min(4000, end * 8))},420
set output '{path}'
set xlabel 'seconds into the sale'
set ylabel 'requests per second'
set yrange [0:{top}]
set key outside top center horizontal
{spans}plot '{data}' using 1:2 with lines lw 2 lc rgb '#1a73e8' title 'coupons issued (201)', \\
     '' using 1:5 with lines lw 1 lc rgb '#188038' title 'orders (201)', \\
     '' using 1:3 with impulses lw 2 lc rgb '#d93025' title '503', \\
     '' using 1:4 with points pt 7 ps 0.4 lc rgb '#5f6368' title 'no answer'
"""
    done = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True) if shutil.which("gnuplot") else None
    return done is not None and done.returncode == 0


def main():
    args = parse()
    out = Path(args.dir).resolve()
    if args.check_only:
        return report(out, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    plan = schedule(args)
    rng = random.Random(args.seed if args.seed is not None else 0)
    secret = secrets.token_hex(32)
    # Ctrl-C and SIGTERM unwind through the test bed's tear-down (SIGINT also when started from
    # a shell that had it ignored, as a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    fault_log = []
    with Testbed(args.bin, out, secret, log=say) as bed:
        setup = set_up_catalog(bed, args.short)
        say(f"catalog: coupons {setup['coupons']} (id: stock), items {list(setup['items'])}")
        history = History(time.time())
        targets = [(n, bed.base_url(n).removeprefix("http://")) for n in ["nginx", *bed.serve_names()]]
        sale = Sale(targets, history, secret, list(setup["coupons"]), list(setup["items"]), range(1, 10_000_000),
                    rng_seed=args.seed or 0, workers=24)
        sale.start()
        faults = Faults(bed, rng, list(setup["coupons"]))
        time.sleep(3)
        say(f"{len(plan)} faults: " + ", ".join(sorted({k for k, _ in plan})))
        for kind, hold in plan:
            start = time.time() - history.started
            what, heal = faults.inject(kind)
            time.sleep(hold)
            heal()
            end = time.time() - history.started
            fault_log.append({"kind": kind, "what": what, "start": round(start, 1), "end": round(end, 1)})
            say(f"{start:6.1f}s {kind:17} {what} (healed after {end - start:.1f} s)")
            time.sleep(0.5)
        time.sleep(3)
        sale.stop()
        healed_at = time.time()
        say("sale over; waiting for every server to be ready and Redis to agree with the database")
        for name in bed.serve_names():
            bed.wait_until(lambda n=name: ready(bed, n), f"{name} to be ready", 60)
        state = None
        deadline = time.time() + 90
        while True:
            reconcile = reconcile_dry_run(bed)
            state = collect(bed, setup)
            state["reconcile"] = reconcile
            published = set(state["events"]) >= set(state["orders"])
            if (reconcile["status"] == 0 and published) or time.time() > deadline:
                break
            time.sleep(3)
        converged = time.time() - healed_at
    history.write(out / "history.jsonl")
    (out / "state.json").write_text(json.dumps(dict(state, converged_seconds=round(converged, 1)), default=str, indent=1))
    (out / "faults.json").write_text(json.dumps(fault_log, indent=1))
    return report(out, args.seed)


def report(out, seed):
    """Checks the history and state in `out`, prints the verdicts and the costs; the exit status."""
    entries = sorted((json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()), key=lambda e: e["t0"])
    state = json.loads((out / "state.json").read_text())
    fault_log = json.loads((out / "faults.json").read_text())
    converged = state.get("converged_seconds", 0)
    chart = timeline(entries, fault_log)
    (out / "timeline.txt").write_text(chart + "\n")
    print(chart)
    if plot(entries, fault_log, out / "chaos.png"):
        say(f"the run as a picture: {out / 'chaos.png'}")
    results = check(entries, state)
    cost = costs(entries)
    for promise, ok, details in results:
        print(f"{'ok    ' if ok else 'BROKEN'} {promise}" + ("" if ok else f": {len(details)} problems"))
        for detail in details[:10]:
            print(f"         {detail}")
    span = f"{cost['503_span'][0]}-{cost['503_span'][1]} s" if cost["503_span"] else "none"
    table = cost_table(entries, fault_log)
    (out / "costs.txt").write_text(table + "\n")
    print(table)
    print(f"costs: {cost['503s']} answers 503 (between {span}), {cost['no_answer']} without an answer, "
          f"converged {converged:.1f} s after the sale")
    verdict = "history ok" if all(ok for _, ok, _ in results) else "history broken"
    print(f"{verdict}: {cost['requests']} requests, {len(fault_log)} faults, {cost['issued']} issuances, "
          f"{cost['orders']} orders, {len(state['events'])} events ({len(set(state['events']))} orders)"
          f"{'' if seed is None else f', seed {seed}'}")
    return 0 if verdict == "history ok" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except (RuntimeError, subprocess.SubprocessError) as error:
        # The test bed, not the service: no verdict.
        print(f"chaos: the test bed failed: {error}", file=sys.stderr)
        sys.exit(2)

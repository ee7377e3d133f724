"""A flash sale as the load: clients through nginx and straight to each serve, every request and its
answer recorded with timestamps (the history the checker reads).

Each user, once: charges points (an Idempotency-Key, the same key again after a timeout or a
503), asks for every hot coupon (asked again after a 503: a 503 changed nothing), orders one or
two items paying with a coupon it got (its own Idempotency-Key, retried the same way), and now
and then reads the popular list or an item. One admin restocks a hot coupon every two seconds.
"""
import base64
import hashlib
import hmac
import http.client
import json
import random
import threading
import time

TIMEOUT = 5.0


def token(secret, user, admin=False):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=")
    claims = {"sub": str(user), "exp": int(time.time()) + 86400}
    if admin:
        claims["role"] = "admin"
    signing = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(claims)
    signature = base64.urlsafe_b64encode(hmac.new(secret.encode(), signing, hashlib.sha256).digest()).rstrip(b"=")
    return (signing + b"." + signature).decode()


class History:
    """Every request with its answer, in the order answers came (thread-safe)."""

    def __init__(self, started):
        self.started = started
        self.entries = []
        self.lock = threading.Lock()

    def add(self, entry):
        with self.lock:
            self.entries.append(entry)

    def write(self, path):
        with open(path, "w") as out:
            for entry in self.entries:
                out.write(json.dumps(entry) + "\n")


class Client:
    """One keep-alive connection to one target; every call goes into the history."""

    def __init__(self, target, address, history, secret):
        self.target, self.address, self.history, self.secret = target, address, history, secret
        self.connection = None
        self.tokens = {}

    def call(self, op, method, path, user, body=None, key=None, admin=False, info=None):
        if (user, admin) not in self.tokens:
            self.tokens[(user, admin)] = token(self.secret, user, admin)
        headers = {"Authorization": f"Bearer {self.tokens[(user, admin)]}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        started = time.time() - self.history.started
        status, reply, error = None, None, None
        try:
            if self.connection is None:
                host, _, port = self.address.partition(":")
                self.connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
            self.connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = self.connection.getresponse()
            status, data = response.status, response.read()
            try:
                reply = json.loads(data) if data else None
            except ValueError:
                reply = {"raw": data[:200].decode(errors="replace")}
        except (OSError, http.client.HTTPException) as caught:
            error = type(caught).__name__ if not isinstance(caught, TimeoutError) else "timeout"
            if self.connection is not None:
                self.connection.close()
            self.connection = None
        entry = {"op": op, "target": self.target, "user": user, "t0": round(started, 4),
                 "t1": round(time.time() - self.history.started, 4), "status": status, "error": error,
                 "request": body, "key": key, "reply": reply, **(info or {})}
        self.history.add(entry)
        return status, reply


class Sale:
    def __init__(self, targets, history, secret, hot_coupons, items, users, rng_seed, workers=24):
        self.targets, self.history, self.secret = targets, history, secret
        self.hot_coupons, self.items = hot_coupons, items
        self.users = iter(users)
        self.users_lock = threading.Lock()
        self.workers = workers
        self.rng_seed = rng_seed
        self.stopping = threading.Event()
        self.threads = []

    def start(self, restock_every=2.0):
        """Starts the clients and the restocker; they go on until ``stop``."""
        self.threads = [threading.Thread(target=self.worker, args=(n,), daemon=True) for n in range(self.workers)]
        self.threads.append(threading.Thread(target=self.restocker, args=(restock_every,), daemon=True))
        for thread in self.threads:
            thread.start()

    def stop(self):
        """Lets each client finish the request it is in, then returns."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(TIMEOUT * 3)

    def worker(self, n):
        rng = random.Random(self.rng_seed * 1000 + n)
        target, address = self.targets[n % len(self.targets)]
        client = Client(target, address, self.history, self.secret)
        while not self.stopping.is_set():
            with self.users_lock:
                user = next(self.users, None)
            if user is None:
                return
            self.shop(client, user, rng)

    def retrying(self, call, attempts=4):
        """Calls again after a timeout, a lost connection or a 503 (same key, same body)."""
        for attempt in range(attempts):
            status, reply = call()
            if status is not None and status != 503:
                return status, reply
            if self.stopping.is_set():
                break
            time.sleep(0.2 * (attempt + 1))
        return status, reply

    def shop(self, client, user, rng):
        self.retrying(lambda: client.call("charge", "POST", "/points/charge", user, {"user_id": user, "amount": 20000},
                                          key=f"charge-{user}"))
        held = []
        for coupon in rng.sample(self.hot_coupons, len(self.hot_coupons)):
            status, _ = self.retrying(lambda c=coupon: client.call(
                "issue", "POST", "/coupons/issue", user, {"user_id": user, "coupon_id": c}), attempts=3)
            if status == 201:
                held.append(coupon)
        lines = [{"item_id": item, "quantity": rng.randint(1, 2)} for item in rng.sample(self.items, rng.randint(1, 2))]
        order = {"user_id": user, "items": lines}
        if held:
            order["coupon_id"] = rng.choice(held)
        self.retrying(lambda: client.call("order", "POST", "/orders", user, order, key=f"order-{user}"))
        if rng.random() < 0.3:
            client.call("popular", "GET", "/items/popular", user)
        if rng.random() < 0.3:
            client.call("item", "GET", f"/items/{rng.choice(self.items)}", user)

    def restocker(self, every):
        client = Client("nginx", self.targets[0][1], self.history, self.secret)
        rng = random.Random(self.rng_seed)
        while not self.stopping.wait(every):
            coupon = rng.choice(self.hot_coupons)
            status, reply = client.call("coupon", "GET", f"/admin/coupons/{coupon}", 1, admin=True)
            if status != 200:
                continue
            stock = reply["stock"] + 10
            # Every restock names a new stock, so the checker can tell whose value the store kept.
            client.call("restock", "PATCH", f"/admin/coupons/{coupon}", 1, {"stock": stock}, admin=True,
                        info={"coupon_id": coupon})

#!/usr/bin/env python3
"""The live event board in a real browser: headless Chromium, driven over the DevTools protocol,
loads GET /admin/board against a running server, an admin token is typed into it, and a burst
of issue requests sells a coupon out. Passes when the page showed the stock falling to 0 and
the refusals by reason, and its numbers equal GET /admin/coupons/{id} afterwards.

Usage: board_in_chromium.py BASE_URL ADMIN_TOKEN TOKENS_FILE COUPON_ID STOCK SCREENSHOT.png
(TOKENS_FILE: user n's token on line n, as Benchmarks/tokens.py 1 N prints them)
"""
import base64, http.client, json, os, shutil, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

import websocket  # Debian's python3-websocket

base, admin, coupon, stock, screenshot = sys.argv[1], sys.argv[2], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
user_tokens = open(sys.argv[3]).read().split()
failures = []


def check(condition, message):
    print(("ok:   " if condition else "FAIL: ") + message, flush=True)
    if not condition:
        failures.append(message)


def user_token(user):
    return user_tokens[user - 1]


def admin_coupon():
    request = urllib.request.Request(f"{base}/admin/coupons/{coupon}", headers={"Authorization": f"Bearer {admin}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


class Browser:
    """One Chromium page, over the DevTools protocol's WebSocket."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="board-chromium.")
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        # A phone's viewport (412 x 915 CSS px, 2x): the board must be readable there.
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={self.profile}",
             "--window-size=412,915", "--force-device-scale-factor=2", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.profile, "chromium.log"), "w"))
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        for _ in range(300):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, seconds=15):
        deadline = time.time() + seconds
        while time.time() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        return None

    def close(self):
        self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


# The coupon's numbers as the page shows them: every element with data-field for this coupon.
READ = f"""(() => {{
  const values = {{}};
  for (const element of document.querySelectorAll('[data-coupon="{coupon}"][data-field]'))
    values[element.dataset.field] = element.dataset.value === "" ? null : Number(element.dataset.value);
  return Object.keys(values).length ? values : null;
}})()"""


def burst(stop, counts):
    """Issue requests at about 150 a second over 6 connections: distinct users (each once),
    every fifth request a user who already asked (ALREADY_ISSUED or SOLD_OUT)."""
    parsed = urllib.parse.urlparse(base)
    lock = threading.Lock()
    next_user = [0]

    def worker():
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        while not stop.is_set():
            with lock:
                next_user[0] += 1
                n = next_user[0]
            user = max(1, n // 2) if n % 5 == 0 else n
            body = json.dumps({"user_id": user, "coupon_id": coupon})
            try:
                connection.request("POST", "/coupons/issue", body, {"Authorization": f"Bearer {user_token(user)}", "Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read()
                code = json.loads(answer).get("code", "") if response.status != 201 else ""
                with lock:
                    counts[(response.status, code)] = counts.get((response.status, code), 0) + 1
            except OSError:
                connection.close()
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
            time.sleep(6 / 150)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    return threads


browser = Browser()
try:
    browser.call("Page.navigate", url=f"{base}/admin/board")
    check(browser.wait_for("document.readyState === 'complete' && !!document.getElementById('token')") is True, "the board page loads")
    # Typed in, as a person would: focus the field, insert the text, press the button.
    browser.evaluate("document.getElementById('token').focus()")
    browser.call("Input.insertText", text=admin)
    browser.evaluate("document.querySelector('#login button').click()")
    shown = browser.wait_for(READ)
    check(shown is not None and shown.get("remaining") == stock, f"the board shows the coupon with its stock of {stock}: {shown}")

    stop, counts, seen = threading.Event(), {}, []
    threads = burst(stop, counts)
    screenshot_taken = None
    started = time.time()
    while time.time() - started < 9:
        values = browser.evaluate(READ) or {}
        seen.append(values.get("remaining"))
        if (screenshot_taken is None and values.get("remaining") == 0 and (values.get("sold_out_per_second") or 0) > 0
                and (values.get("already_issued_per_second") or 0) > 0 and time.time() - started > 5):
            data = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
            with open(screenshot, "wb") as file:
                file.write(base64.b64decode(data))
            screenshot_taken = values
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()

    falling = [v for v in seen if v is not None]
    between = sorted({v for v in falling if 0 < v < stock})
    check(len(between) >= 2, f"the page showed the stock falling: {len(between)} values between {stock} and 0 ({between[:8]}...)")
    check(all(a >= b for a, b in zip(falling, falling[1:])), "the stock shown never went up")
    check(falling[-1:] == [0], f"the page ends at 0 remaining (last values {falling[-5:]})")
    check(screenshot_taken is not None, f"a screenshot with 0 remaining and refusals per second by reason: {screenshot_taken}")
    if screenshot_taken:
        size = os.path.getsize(screenshot)
        check(size > 20_000, f"the screenshot {screenshot} holds a drawn page ({size} bytes)")

    # After the burst: the page's numbers equal the admin API's, once a poll has caught up.
    api, page = None, None
    deadline = time.time() + 5
    while time.time() < deadline:
        api, page = admin_coupon(), browser.evaluate(READ)
        expected = {"remaining": api["remaining"], "issued": api["issued"],
                    **{f"{reason}_total": count for reason, count in api["issue_requests"].items()}}
        if page and all(page.get(k) == v for k, v in expected.items()):
            break
        time.sleep(0.25)
    for field in ["remaining", "issued"]:
        check(page.get(field) == api[field], f"{field}: page {page.get(field)}, GET /admin/coupons/{coupon} {api[field]}")
    for reason, count in api["issue_requests"].items():
        check(page.get(f"{reason}_total") == count, f"{reason}: page {page.get(f'{reason}_total')}, API {count}")
    answered = {f"{status} {code}".strip(): n for (status, code), n in sorted(counts.items())}
    check(api["issued"] == stock and counts.get((201, ""), 0) == stock, f"exactly {stock} issued; the burst got {answered}")
    check(api["issue_requests"]["sold_out"] > 0 and api["issue_requests"]["already_issued"] > 0,
          f"refusals by reason: {api['issue_requests']}")
finally:
    browser.close()

print(f"screenshot: {screenshot}")
sys.exit(1 if failures else 0)

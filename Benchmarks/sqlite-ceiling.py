#!/usr/bin/env python3
"""What SQLite alone allows for the order transaction on this disk, without HTTP or Swift.

Runs the same statements `OrderBook.place` runs for a one-line order (stock decrement, balance
debit, order row, ledger entry, order line, each in a savepoint) on a database with the
service's schema (created by `commerce seed`), with synchronous=FULL in WAL mode, for several
batch sizes (orders per transaction). Prints orders/s per batch size and each one's ratio to
batch size 1: the ceiling the server's group commit can approach at the batch sizes its load
produces.

Usage: Benchmarks/sqlite-ceiling.py PATH/TO/commerce [SECONDS_PER_SIZE]
"""
import os, random, sqlite3, subprocess, sys, tempfile, time

commerce = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
USERS, ITEMS = 1000, 100


def fresh_database(directory):
    path = os.path.join(directory, f"ceiling-{random.random()}.sqlite")
    subprocess.run([commerce, "seed", "--db", path, "--redis", "redis://127.0.0.1:1/0"], check=True, capture_output=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = FULL")
    db.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ITEMS}) "
               "INSERT INTO items (name, price, stock, created_at, updated_at) SELECT 'Item ' || i, 1, 1000000000, 0, 0 FROM n")
    db.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {USERS}) "
               "INSERT INTO users (id, created_at) SELECT i, 0 FROM n")
    db.execute("INSERT INTO user_point (user_id, balance, updated_at) SELECT id, 1000000000, 0 FROM users")
    return db


def order(cur):
    user, item = random.randint(1, USERS), random.randint(1, ITEMS)
    cur.execute("SAVEPOINT request")
    cur.execute("UPDATE items SET stock = stock - 1, updated_at = 1 WHERE id = ? AND deleted_at IS NULL AND stock >= 1 "
                "RETURNING name, price", (item,)).fetchall()
    cur.execute("UPDATE user_point SET balance = balance - 1, updated_at = 1 WHERE user_id = ? AND balance >= 1 "
                "RETURNING balance", (user,)).fetchall()
    cur.execute("INSERT INTO orders (user_id, status, subtotal, discount, total, coupon_id, balance_after, ordered_at) "
                "VALUES (?, 'PAID', 1, 0, 1, NULL, 5, 1)", (user,))
    order_id = cur.lastrowid
    cur.execute("INSERT INTO point_history (user_id, kind, amount, balance_after, order_id, created_at) "
                "VALUES (?, 'USE', -1, 5, ?, 1)", (user, order_id))
    cur.execute("INSERT INTO order_items VALUES (?, ?, 'Item', 1, 1, 1)", (order_id, item))
    cur.execute("RELEASE SAVEPOINT request")


with tempfile.TemporaryDirectory() as directory:
    rates = {}
    for batch in (1, 16, 32, 64, 256):
        db = fresh_database(directory)
        cur = db.cursor()
        done, start = 0, time.time()
        while time.time() - start < seconds:
            cur.execute("BEGIN IMMEDIATE")
            for _ in range(batch):
                order(cur)
            cur.execute("COMMIT")
            done += batch
        rates[batch] = done / (time.time() - start)
        db.close()
        print(f"batch {batch:4d}: {rates[batch]:8.0f} orders/s  ({rates[batch] / rates[1]:.2f} x batch 1)", flush=True)

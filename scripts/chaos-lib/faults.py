"""Faults as verbs on a Testbed: each `inject` returns a `heal` to call when the fault should end.

Kinds (the names the schedule and the report use):
  partition-redis    a serve cut off from every Redis node (both ways)
  partition-db       a serve cut off from PostgreSQL (both ways)
  partition-oneway   a serve's packets to one Redis primary dropped (replies still arrive)
  isolate-primary    a Redis primary cut off from everyone: its replica takes over, it rejoins as a replica
  lossy-link         a serve loses a third of its packets both ways (no netem on this kernel)
  kill-serve         kill -9 a serve; started again at heal
  kill-primary       kill -9 a Redis primary: its replica is promoted by timeout; restarted at heal
  failover           CLUSTER FAILOVER FORCE on a replica while its primary is up
  migrate-slot       a hot coupon's slot moved to another primary mid-sale
  pause-serve        SIGSTOP a serve past the timeouts; SIGCONT at heal
  pause-primary      SIGSTOP a Redis primary past the node timeout; SIGCONT at heal
  restart-db         PostgreSQL stopped (fast) and started again at heal
  lose-redis-data    a primary and its replicas killed and restarted without their data (same
                     node ids and slots, empty): the service must find the loss and repair it
"""
import random
import shutil
import signal
import time

from testbed import REDIS_PORT

KINDS = ["partition-redis", "partition-db", "partition-oneway", "isolate-primary", "lossy-link", "kill-serve",
         "kill-primary", "failover", "migrate-slot", "pause-serve", "pause-primary", "restart-db", "lose-redis-data"]


class Faults:
    def __init__(self, bed, rng: random.Random, hot_coupons):
        self.bed, self.rng, self.hot_coupons = bed, rng, hot_coupons

    def inject(self, kind):
        """Starts a fault of `kind`; returns (what, heal)."""
        return getattr(self, kind.replace("-", "_"))()

    # -- helpers ---------------------------------------------------------------------------
    def any_serve(self):
        return self.rng.choice(self.bed.serve_names())

    def primaries(self):
        return [n for n in self.bed.cluster_nodes() if n["role"] == "primary" and not n["failed"] and n["slots"]]

    def cut(self, name, others, way="both"):
        """Cuts host `name` from `others` (names) in `name`'s own filter (both ways: what it sends
        to them and what it hears from them); the heal restores the rules as they were."""
        host = self.bed.hosts[name]
        addresses = [self.bed.hosts[o].address for o in others]
        for address in addresses:
            host.cut_from[address] = way
        host.apply_rules()

        def heal():
            for address in addresses:
                host.cut_from.pop(address, None)
            host.apply_rules()
        return heal

    # -- the verbs -------------------------------------------------------------------------
    def partition_redis(self):
        serve = self.any_serve()
        return f"{serve} | redis", self.cut(serve, self.bed.redis_names())

    def partition_db(self):
        serve = self.any_serve()
        return f"{serve} | postgres", self.cut(serve, ["postgres"])

    def partition_oneway(self):
        serve = self.any_serve()
        primary = self.rng.choice(self.primaries())["name"]
        return f"{serve} -> {primary} dropped", self.cut(serve, [primary], way="out")

    def isolate_primary(self):
        primary = self.rng.choice(self.primaries())["name"]
        others = [n for n in self.bed.hosts if n != primary]
        heal_cut = self.cut(primary, others)

        def heal():
            heal_cut()
            self.await_cluster()
        return f"{primary} | everyone", heal

    def lossy_link(self):
        serve = self.any_serve()
        host = self.bed.hosts[serve]
        host.drop_percent = 33
        host.apply_rules()

        def heal():
            host.drop_percent = 0
            host.apply_rules()
        return f"{serve} drops 33%", heal

    def kill_serve(self):
        serve = self.any_serve()
        process = self.bed.processes[serve]
        process.kill9()

        def heal():
            process.start()
            self.bed.await_http(serve)
        return f"kill -9 {serve}", heal

    def kill_primary(self):
        primary = self.rng.choice(self.primaries())["name"]
        process = self.bed.processes[primary]
        process.kill9()

        def heal():
            process.start()
            self.await_cluster()
        return f"kill -9 {primary}", heal

    def failover(self):
        # A primary with a replica in sync (a node restarted by an earlier fault may still be
        # joining: the cluster's view of it catches up within a few seconds).
        deadline = time.monotonic() + 15
        while True:
            nodes = self.bed.cluster_nodes()
            pairs = [(p, r) for p in nodes if p["role"] == "primary" and p["slots"] for r in nodes
                     if r["primary_id"] == p["id"] and not r["failed"] and self.bed.processes[r["name"]].alive()
                     and self.bed.replica_link_up(r["name"])]
            if pairs or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if not pairs:
            raise RuntimeError("failover: no primary has a replica in sync")
        primary, replica = self.rng.choice(pairs)
        self.bed.redis(replica["name"], "CLUSTER", "FAILOVER", "FORCE")
        return f"{replica['name']} takes over from {primary['name']}", self.await_cluster

    def migrate_slot(self):
        coupon = self.rng.choice(self.hot_coupons)
        slot = int(self.bed.redis(self.bed.redis_names()[0], "CLUSTER", "KEYSLOT", f"coupon:{{{coupon}}}").strip())
        primaries = self.primaries()
        source = next(p for p in primaries if any(self.slot_in(slot, r) for r in p["slots"]))
        target = self.rng.choice([p for p in primaries if p is not source])
        bed = self.bed
        bed.redis(target["name"], "CLUSTER", "SETSLOT", slot, "IMPORTING", source["id"])
        bed.redis(source["name"], "CLUSTER", "SETSLOT", slot, "MIGRATING", target["id"])
        # Keys move while the sale goes on: between batches the servers meet ASK redirections.
        while True:
            keys = bed.redis(source["name"], "CLUSTER", "GETKEYSINSLOT", slot, 10).split()
            if not keys:
                break
            bed.redis(source["name"], "MIGRATE", bed.hosts[target["name"]].address, REDIS_PORT, "", 0, 5000, "KEYS", *keys)
            time.sleep(0.05)
        for primary in [target, source] + [p for p in primaries if p is not source and p is not target]:
            bed.redis(primary["name"], "CLUSTER", "SETSLOT", slot, "NODE", target["id"])
        return f"coupon {coupon}'s slot {slot}: {source['name']} -> {target['name']}", lambda: None

    @staticmethod
    def slot_in(slot, text):
        if text.startswith("["):
            return False
        low, _, high = text.partition("-")
        return int(low) <= slot <= int(high or low)

    def pause_serve(self):
        serve = self.any_serve()
        process = self.bed.processes[serve]
        process.signal(signal.SIGSTOP)
        return f"SIGSTOP {serve}", lambda: process.signal(signal.SIGCONT)

    def pause_primary(self):
        primary = self.rng.choice(self.primaries())["name"]
        process = self.bed.processes[primary]
        process.signal(signal.SIGSTOP)

        def heal():
            process.signal(signal.SIGCONT)
            self.await_cluster()
        return f"SIGSTOP {primary}", heal

    def restart_db(self):
        self.bed.pg_ctl("stop", "-m", "fast", "-w")

        return "postgres stopped", self.bed.start_postgres_server

    def lose_redis_data(self):
        primary = self.rng.choice(self.primaries())
        shard = [primary["name"]] + [n["name"] for n in self.bed.cluster_nodes() if n["primary_id"] == primary["id"]]
        for name in shard:
            self.bed.processes[name].kill9()
        for name in shard:
            # The data (AOF and snapshots) goes; nodes.conf stays, so each comes back as itself, empty.
            for path in (self.bed.dir / name).iterdir():
                if path.name != "nodes.conf":
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        for name in shard:
            self.bed.processes[name].start()
        return f"{'+'.join(shard)} restarted empty", self.await_cluster

    def await_cluster(self):
        """Until every node is ok and every slot has a live primary again."""
        self.bed.wait_cluster_ok(timeout=60)

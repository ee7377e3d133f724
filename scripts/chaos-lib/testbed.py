"""The scaled-out shape as separate hosts on one machine, and the faults a shop meets between them.

Every host (PostgreSQL, six Redis Cluster nodes, three `commerce serve`, nginx) gets its own Linux
network namespace with its own address on a private bridge, so traffic between them is real TCP
between distinct addresses that can be cut, one way or both, per pair of hosts (nftables rules in
the namespace of the host whose traffic is cut). Everything made is named after this run's tag and
removed by that name; processes are stopped by PID.
"""
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

REDIS_PORT = 6379
SERVE_PORT = 8080
PG_PORT = 5432
NGINX_PORT = 80


def run(*args, check=True, **kw):
    """Runs a command; its output is returned (text)."""
    done = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def free_subnet():
    """A /24 under 10.177.0.0/16 that no route of this machine covers."""
    routes = run("ip", "-4", "route", "show", "table", "all")
    taken = set()
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        if word.startswith("10.177."):
            taken.add(word.split(".")[2])
    for third in [str((os.getpid() + n) % 200 + 20) for n in range(200)]:
        if third not in taken:
            return f"10.177.{third}"
    raise RuntimeError("no free 10.177.x.0/24 subnet")


class Host:
    """One network namespace with one address, and the packet filter that cuts it off."""

    def __init__(self, bed, name, address):
        self.bed, self.name, self.address = bed, name, address
        self.netns = f"{bed.tag}-{name}"
        self.veth = f"{bed.tag}{name}"[:15]
        self.cut_from = {}  # address -> "both" | "out" | "in"
        self.drop_percent = 0

    def create(self):
        run("ip", "netns", "add", self.netns)
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        run("ip", "link", "set", self.veth, "master", self.bed.bridge, "up")
        self.exec_ip("addr", "add", f"{self.address}/24", "dev", "eth0")
        self.exec_ip("link", "set", "eth0", "up")
        self.exec_ip("link", "set", "lo", "up")
        self.apply_rules()

    def exec_ip(self, *args):
        run("ip", "-n", self.netns, *args)

    def command(self, *args):
        """`args` to run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *map(str, args)]

    def apply_rules(self):
        """Rewrites this host's nftables table from `cut_from` and `drop_percent`."""
        def chain(hook, peer, interface, ways):
            rules = [f"  chain {hook} {{ type filter hook {hook} priority 0; policy accept;"]
            rules += [f"    ip {peer} {address} drop" for address, way in sorted(self.cut_from.items()) if way in ways]
            if self.drop_percent:
                rules.append(f"    {interface} \"eth0\" numgen random mod 100 < {self.drop_percent} drop")
            return rules + ["  }"]
        rules = ["table inet chaos", "delete table inet chaos", "table inet chaos {",
                 *chain("output", "daddr", "oifname", ("both", "out")), *chain("input", "saddr", "iifname", ("both", "in")), "}"]
        run(*self.command("nft", "-f", "-"), input="\n".join(rules) + "\n")


class Process:
    """A process this run started, by PID, and how to start it again."""

    def __init__(self, host, name, argv, log, env=None, stop_signal=signal.SIGTERM):
        self.host, self.name, self.argv, self.log, self.env = host, name, argv, log, env
        self.stop_signal = stop_signal
        self.popen = None

    def start(self):
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.host.command(*self.argv), stdout=out, stderr=subprocess.STDOUT,
                                          env=self.env, start_new_session=True)

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def ask_to_stop(self):
        """Sends the stop signal (waking it first if paused); ``stop`` waits."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGCONT)
            os.kill(self.popen.pid, self.stop_signal)

    def stop(self, timeout=10):
        if not self.alive():
            return
        self.ask_to_stop()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def kill9(self):
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


class Testbed:
    """The hosts and processes of one chaos run. Use as a context manager: everything it made is
    removed on the way out, also after an error or Ctrl-C."""

    def __init__(self, commerce_bin, workdir, jwt_secret, log=print):
        self.tag = f"cx{os.getpid() % 100000}"
        self.bridge = f"{self.tag}br"
        self.commerce_bin = commerce_bin
        self.dir = Path(workdir)
        self.jwt_secret = jwt_secret
        self.log = log
        self.subnet = free_subnet()
        self.hosts = {}
        self.processes = {}
        self.made_bridge = False
        self.pg_dir = None

    # -- addresses -------------------------------------------------------------------------
    def add_host(self, name, last):
        host = Host(self, name, f"{self.subnet}.{last}")
        self.hosts[name] = host
        host.create()
        return host

    @property
    def root_address(self):
        return f"{self.subnet}.1"

    def redis_names(self):
        return [f"redis{n}" for n in range(1, 7)]

    def serve_names(self):
        return [f"serve{n}" for n in range(1, 4)]

    def redis_url(self):
        return "redis+cluster://" + ",".join(f"{self.hosts[n].address}:{REDIS_PORT}" for n in self.redis_names())

    def db_url(self):
        return f"postgres://postgres@{self.hosts['postgres'].address}:{PG_PORT}/commerce"

    def base_url(self, name):
        host = self.hosts[name]
        return f"http://{host.address}:{NGINX_PORT if name == 'nginx' else SERVE_PORT}"

    # -- set-up ----------------------------------------------------------------------------
    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def up(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        # What an earlier run left here (a cluster's nodes.conf would refuse the new cluster).
        for name in self.redis_names() + ["nginx"]:
            shutil.rmtree(self.dir / name, ignore_errors=True)
        for log in self.dir.glob("*.log"):
            log.unlink()
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self.made_bridge = True
        run("ip", "addr", "add", f"{self.root_address}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        self.add_host("postgres", 10)
        for n, name in enumerate(self.redis_names()):
            self.add_host(name, 21 + n)
        for n, name in enumerate(self.serve_names()):
            self.add_host(name, 31 + n)
        self.add_host("nginx", 40)
        self.log(f"hosts on {self.subnet}.0/24 (bridge {self.bridge}): " +
                 ", ".join(f"{h.name} {h.address}" for h in self.hosts.values()))
        self.start_postgres()
        self.start_redis_cluster()
        env = dict(os.environ, COMMERCE_JWT_SECRET=self.jwt_secret)
        run(self.commerce_bin, "seed", "--db", self.db_url(), "--redis", self.redis_url(), env=env)
        for name in self.serve_names():
            host = self.hosts[name]
            self.processes[name] = Process(host, name, [
                self.commerce_bin, "serve", "--host", host.address, "--port", SERVE_PORT, "--db", self.db_url(),
                "--redis", self.redis_url(), "--trusted-proxy", f"{self.hosts['nginx'].address}/32",
                "--issue-limit-address", "off", "--log-level", "notice", "--reconcile-at", "off"],
                self.dir / f"{name}.log", env=env)
            self.processes[name].start()
        for name in self.serve_names():
            self.await_http(name)
        self.start_nginx()
        self.await_http("nginx")

    def start_postgres(self):
        host = self.hosts["postgres"]
        bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self.pg_bin = bin_dir
        # Outside the checkout: the postgres user may not be allowed into it.
        self.pg_dir = Path(run("mktemp", "-d", "/tmp/commerce-chaos-pg.XXXXXX").strip())
        os.chown(self.pg_dir, *self._postgres_ids())
        run("runuser", "-u", "postgres", "--", bin_dir / "initdb", "-D", self.pg_dir / "data", "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--locale=C")
        with open(self.pg_dir / "data" / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.subnet}.0/24 trust\n")
        self.start_postgres_server()
        run("runuser", "-u", "postgres", "--", bin_dir / "psql", "-h", host.address, "-p", str(PG_PORT), "-U",
            "postgres", "-q", "-c", "CREATE DATABASE commerce")

    def start_postgres_server(self):
        """Starts the PostgreSQL server on its data (at set-up, and again after a restart fault)."""
        self.pg_ctl("start", "-w", "-o", f"-p {PG_PORT} -k {self.pg_dir} -c listen_addresses={self.hosts['postgres'].address} "
                    "-c max_connections=300")

    def _postgres_ids(self):
        entry = pwd.getpwnam("postgres")
        return entry.pw_uid, entry.pw_gid

    def pg_ctl(self, *args):
        host = self.hosts["postgres"]
        return run(*host.command("runuser", "-u", "postgres", "--", self.pg_bin / "pg_ctl", "-D", self.pg_dir / "data",
                                 "-l", self.pg_dir / "postgres.log", "-s", *args))

    def psql(self, sql):
        """Rows of `sql` on the shared database, as lists of strings."""
        out = run(self.pg_bin / "psql", "-h", self.hosts["postgres"].address, "-p", str(PG_PORT), "-U", "postgres",
                  "-d", "commerce", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return [line.split("\t") for line in out.splitlines() if line]

    def start_redis_cluster(self):
        for name in self.redis_names():
            host = self.hosts[name]
            data = self.dir / name
            data.mkdir(parents=True, exist_ok=True)
            self.processes[name] = Process(host, name, [
                "redis-server", "--bind", host.address, "--port", REDIS_PORT, "--dir", data, "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "3000", "--appendonly", "yes",
                "--appendfsync", "everysec", "--save", "", "--protected-mode", "no"], self.dir / f"{name}.log")
            self.processes[name].start()
        for name in self.redis_names():
            self.wait_until(lambda n=name: self.redis(n, "PING", check=False).strip() == "PONG", f"{name} to answer")
        run("redis-cli", "--cluster", "create", *[f"{self.hosts[n].address}:{REDIS_PORT}" for n in self.redis_names()],
            "--cluster-replicas", "1", "--cluster-yes")
        self.wait_cluster_ok()

    def wait_cluster_ok(self, timeout=30):
        """Until every live node says the cluster is ok and every replica is in sync with its
        primary (so that the next fault meets a whole cluster)."""
        def ok():
            for name in self.redis_names():
                if not self.processes[name].alive():
                    continue
                if "cluster_state:ok" not in self.redis(name, "CLUSTER", "INFO", check=False):
                    return False
                if self.replica_link_up(name) is False:
                    return False
            return True
        self.wait_until(ok, "the Redis Cluster to be ok", timeout)

    def replica_link_up(self, name):
        """None for a primary; for a replica, whether it is in sync with its primary."""
        replication = self.redis(name, "INFO", "replication", check=False)
        return "master_link_status:up" in replication if "role:slave" in replication else None

    def redis(self, name, *args, check=True):
        host = self.hosts[name]
        return run("redis-cli", "-h", host.address, "-p", str(REDIS_PORT), *map(str, args), check=check, timeout=10)

    def cluster_nodes(self):
        """The cluster as one live node sees it: [{id, name, role, primary_id, slots}]."""
        for name in self.redis_names():
            if not self.processes[name].alive():
                continue
            out = self.redis(name, "CLUSTER", "NODES", check=False)
            if "myself" not in out:
                continue
            by_address = {f"{h.address}:{REDIS_PORT}": h.name for h in self.hosts.values()}
            nodes = []
            for line in out.splitlines():
                fields = line.split()
                address = fields[1].split("@")[0]
                nodes.append({"id": fields[0], "name": by_address.get(address, address),
                              "role": "primary" if "master" in fields[2] else "replica",
                              "failed": "fail" in fields[2] and "pfail" not in fields[2],
                              "primary_id": fields[3], "slots": fields[8:]})
            return nodes
        raise RuntimeError("no Redis node answers CLUSTER NODES")

    def start_nginx(self):
        host = self.hosts["nginx"]
        conf_dir = self.dir / "nginx"
        (conf_dir / "logs").mkdir(parents=True, exist_ok=True)
        upstreams = "".join(f"    server {self.hosts[n].address}:{SERVE_PORT} max_fails=0;\n" for n in self.serve_names())
        (conf_dir / "nginx.conf").write_text(f"""user root root;
worker_processes 1;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/logs/error.log notice;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {conf_dir}/body;
  proxy_temp_path {conf_dir}/proxy;
  fastcgi_temp_path {conf_dir}/fastcgi;
  uwsgi_temp_path {conf_dir}/uwsgi;
  scgi_temp_path {conf_dir}/scgi;
  upstream commerce {{
{upstreams}    keepalive 64;
  }}
  server {{
    listen {host.address}:{NGINX_PORT};
    location / {{
      proxy_pass http://commerce;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_connect_timeout 1s;
      proxy_read_timeout 10s;
      # A request is sent to one server only: retrying a POST elsewhere could apply it twice.
      proxy_next_upstream off;
    }}
  }}
}}
""")
        nginx = "/usr/sbin/nginx"
        self.processes["nginx"] = Process(host, "nginx", [nginx, "-p", conf_dir, "-c", conf_dir / "nginx.conf", "-g", "daemon off;"],
                                          self.dir / "nginx.log", stop_signal=signal.SIGQUIT)
        self.processes["nginx"].start()

    def await_http(self, name, timeout=30):
        url = self.base_url(name) + "/health/live"

        def live():
            try:
                with urllib.request.urlopen(url, timeout=1) as reply:
                    return reply.status == 200
            except OSError:
                return False
        self.wait_until(live, f"{name} to answer", timeout, process=self.processes.get(name))

    def wait_until(self, condition, what, timeout=30, process=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if process is not None and not process.alive():
                raise RuntimeError(f"{process.name} exited while waiting for {what}; see {process.log}")
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    # -- tear-down -------------------------------------------------------------------------
    def down(self):
        # All at once (each drains for a while), then each waited for.
        for process in self.processes.values():
            try:
                process.ask_to_stop()
            except OSError:
                pass
        for process in reversed(list(self.processes.values())):
            try:
                process.stop()
            except Exception as error:  # noqa: BLE001 - keep tearing down the rest
                self.log(f"stopping {process.name}: {error}")
        if self.pg_dir is not None:
            pidfile = self.pg_dir / "data" / "postmaster.pid"
            if pidfile.exists():
                pid = int(pidfile.read_text().split()[0])
                try:
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGINT)
                    for _ in range(100):
                        os.kill(pid, 0)
                        time.sleep(0.1)
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            shutil.rmtree(self.pg_dir, ignore_errors=True)
        for host in self.hosts.values():
            run("ip", "netns", "del", host.netns, check=False)
            run("ip", "link", "del", host.veth, check=False)
        if self.made_bridge:
            run("ip", "link", "del", self.bridge, check=False)
        self.hosts = {}
        self.processes = {}
        self.pg_dir = None

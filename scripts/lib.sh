# Shared shell helpers for the project's scripts: sourced, not run.
# Installs what is missing, finds free loopback ports, starts and stops our own redis-server
# by PID (never the system service, never by name).

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ensure_packages PKG...: apt-get installs the Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing ${missing[*]} with apt-get"
  $sudo apt-get update -qq
  # RUNLEVEL=1 keeps invoke-rc.d from starting the system redis service: we run our own.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on, from 10000-22699: below
# Linux's ephemeral range (32768+), so no outgoing connection holds it when a server binds it,
# and a cluster node's bus port (port + 10000) stays below that range too.
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$(( RANDOM % 12700 + 10000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# free_cluster_port: a free port whose cluster bus port (port + 10000) is free too.
free_cluster_port() {
  local port
  for _ in $(seq 1 100); do
    port=$(free_port)
    if [ "$port" -le 55535 ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free cluster port found" >&2
  return 1
}

# start_redis_cluster DIR COUNT [redis-server options...]: COUNT primaries (no replicas), each in
# DIR/redis-N on a free port with a free bus port, joined by `redis-cli --cluster create`;
# waits for cluster_state:ok; prints "PID PORT" per node, one per line. On failure it stops the
# nodes it started, so the caller has nothing to clean up.
start_redis_cluster() {
  local dir=$1 count=$2 n port pid ok=true ports=() pids=()
  shift 2
  mkdir -p "$dir"
  for n in $(seq 1 "$count"); do
    if port=$(free_cluster_port) &&
      pid=$(start_redis "$dir/redis-$n" "$port" --cluster-enabled yes --cluster-config-file nodes.conf "$@"); then
      pids+=("$pid")
      ports+=("$port")
    else
      ok=false
      break
    fi
  done
  if $ok && ! redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-yes >"$dir/cluster-create.log" 2>&1; then
    cat "$dir/cluster-create.log" >&2
    ok=false
  fi
  $ok && wait_cluster_ok "${ports[@]}" || ok=false
  if ! $ok; then
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
    return 1
  fi
  for n in "${!pids[@]}"; do echo "${pids[n]} ${ports[n]}"; done
}

# wait_cluster_ok PORT...: waits until every node says cluster_state:ok.
wait_cluster_ok() {
  for _ in $(seq 1 100); do
    local ok=true
    for port in "$@"; do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=false
    done
    $ok && return 0
    sleep 0.1
  done
  echo "the Redis Cluster on ports $* did not become ok" >&2
  return 1
}

# start_nginx DIR PORT UPSTREAM_PORT...: nginx in the foreground of a background process (its own
# prefix, config and logs in DIR), balancing 127.0.0.1:PORT over the local upstream ports and
# passing the client's address in X-Forwarded-For; waits until it answers, prints its PID.
start_nginx() {
  local dir=$1 port=$2 upstreams=""
  shift 2
  for upstream in "$@"; do upstreams+="    server 127.0.0.1:$upstream;"$'\n'; done
  mkdir -p "$dir/logs" "$dir/tmp"
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log notice;
events { worker_connections 4096; }
http {
  access_log $dir/logs/access.log;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  upstream commerce {
$upstreams    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://commerce;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
  local nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  "$nginx" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >>"$dir/logs/stderr.log" 2>&1 &
  await_http $! "$port" "nginx" "$dir/logs"
}

# await_http PID PORT NAME LOG: waits (20 s at most) until 127.0.0.1:PORT answers /health/live
# and prints PID; fails, naming LOG, if it does not or the process PID ends first.
await_http() {
  local pid=$1 port=$2
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/health/live"; then
      echo "$pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$3 did not start on port $port; see $4" >&2
  # The caller's cleanup may remove LOG: show its end here, where CI keeps it.
  if [ -f "$4" ]; then tail -n 40 "$4" >&2; fi
  return 1
}

# await_ready BASE_URL: waits (10 s at most) until BASE_URL/health/ready answers 200, e.g. for a
# fresh Redis's start-up repair (issuing answers 503 until it is done).
await_ready() {
  for _ in $(seq 1 100); do
    curl -sf "$1/health/ready" >/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not become ready" >&2
  return 1
}

# start_redis DIR PORT [redis-server options...]: starts redis-server daemonized with its data,
# log and pidfile in DIR, waits until it answers, prints its PID.
start_redis() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  stop_pidfile "$dir/redis.pid"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile redis.log "$@"
  for _ in $(seq 1 100); do
    if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && [ -s "$dir/redis.pid" ]; then
      cat "$dir/redis.pid"
      return 0
    fi
    sleep 0.1
  done
  echo "redis-server did not start on port $port; see $dir/redis.log" >&2
  return 1
}

# stop_pid PID [SIGNAL]: SIGNAL (TERM unless given), then SIGKILL after 5 s; returns once the
# process is gone (a zombie left for a PID 1 that does not reap counts as gone).
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -"${2:-TERM}" "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null || grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null; then
      return 0
    fi
    [ "$i" -eq 50 ] && kill -KILL "$pid" 2>/dev/null
    sleep 0.1
  done
}

# stop_pidfile FILE: stops the process whose PID FILE holds, if it still runs.
stop_pidfile() {
  [ -s "$1" ] && stop_pid "$(cat "$1")"
  rm -f "$1"
}

# ensure_swift: fails early with a clear message when the Swift toolchain is not on PATH.
ensure_swift() {
  if ! command -v swift >/dev/null; then
    [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
  fi
  command -v swift >/dev/null || { echo "swift is not on PATH: install the Swift 6.3 toolchain first" >&2; exit 1; }
}

# The system packages the build and the tests need.
BUILD_PACKAGES=(redis-server redis-tools libhiredis-dev libsqlite3-dev pkg-config)
# nginx, for the load-balancer test and scripts/run --scale.
PROXY_PACKAGES=(nginx)
# PostgreSQL, for the tests of its driver and the PostgreSQL benchmark (not for scripts/run).
POSTGRES_PACKAGES=(postgresql postgresql-contrib)

# postgres_bin: prints the folder of Debian's newest installed PostgreSQL programs.
postgres_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] || { echo "PostgreSQL is not installed" >&2; return 1; }
  echo "$dir"
}

# as_postgres CMD...: runs CMD as the postgres user (PostgreSQL refuses to run as root).
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR PORT [postgres -c options...]: a private PostgreSQL server: initdb into
# DIR/data (trust auth on loopback, superuser `postgres`), started on 127.0.0.1:PORT with its
# socket and log in DIR; waits until it accepts connections, prints its PID.
start_postgres() {
  local dir=$1 port=$2 bin
  shift 2
  bin=$(postgres_bin)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  local options="-p $port -k $dir -c listen_addresses=127.0.0.1"
  for option in "$@"; do options+=" -c $option"; done
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -s -o "$options" start ||
    { cat "$dir/postgres.log" >&2; return 1; }
  head -1 "$dir/data/postmaster.pid"
}

# stop_postgres DIR: fast shutdown (SIGINT) of the server whose data is in DIR/data, by the PID
# on the first line of its postmaster.pid.
stop_postgres() {
  local pidfile=$1/data/postmaster.pid
  [ -s "$pidfile" ] && stop_pid "$(head -1 "$pidfile")" INT
  return 0
}

# start_commerce BIN PORT LOG [serve options...]: starts `commerce serve` in the background on
# 127.0.0.1:PORT (log in LOG), waits until /health/live answers, prints its PID.
start_commerce() {
  local bin=$1 port=$2 log=$3
  shift 3
  "$bin" serve --port "$port" "$@" >>"$log" 2>&1 &
  await_http $! "$port" "commerce serve" "$log"
}

# create_coupon BASE_URL ADMIN_TOKEN STOCK: creates a coupon valid for a century, prints its id.
create_coupon() {
  curl -sf "$1/admin/coupons" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d "{\"name\": \"Bench $3\",
    \"discount_type\": \"FIXED\", \"discount_value\": 1000, \"stock\": $3,
    \"valid_from\": \"2000-01-01T00:00:00Z\", \"valid_until\": \"2100-01-01T00:00:00Z\"}" |
    sed -E 's/.*"coupon_id":([0-9]+).*/\1/'
}

# random_secret: 32 random bytes as 64 hex digits (a JWT secret).
random_secret() {
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# ensure_jwt_secret: exports COMMERCE_JWT_SECRET (a fresh random one unless already set), so
# that servers started from here and `commerce token` agree.
ensure_jwt_secret() {
  if [ -z "${COMMERCE_JWT_SECRET:-}" ]; then
    COMMERCE_JWT_SECRET=$(random_secret)
  fi
  export COMMERCE_JWT_SECRET
}

# measure_wrk SECONDS CONNECTIONS URL [LUA_SCRIPT]: one wrk run (one thread); prints
# "requests_per_second p50 p99 errors requests", errors counting socket errors and non-2xx
# responses; with WRK_REFUSALS_EXPECTED=1 non-2xx are not errors (the caller checks them).
# WRK_TOKEN, when set, goes out as `Authorization: Bearer` on every request.
measure_wrk() {
  local seconds=$1 connections=$2 url=$3 script=${4:-}
  local out
  out=$(wrk -t1 -c"$connections" -d"${seconds}s" --latency ${script:+-s "$script"} \
    ${WRK_TOKEN:+-H "Authorization: Bearer $WRK_TOKEN"} "$url")
  awk -v refusals_expected="${WRK_REFUSALS_EXPECTED:-0}" '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    / requests in / { requests = $1 }
    /Non-2xx or 3xx responses/ { if (!refusals_expected) errors += $NF }
    /Socket errors/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    END { printf "%s %s %s %d %d\n", rps, p50, p99, errors, requests }' <<<"$out"
}

# The commerce binary a benchmark measures: $COMMERCE_BIN (one built elsewhere, another commit's,
# to compare in one session), else this tree's release build.
release_commerce_bin() {
  if [ -n "${COMMERCE_BIN:-}" ]; then
    echo "$COMMERCE_BIN"
    return
  fi
  say "building (release)"
  swift build -c release --product commerce >&2
  echo "$(swift build -c release --show-bin-path)/commerce"
}

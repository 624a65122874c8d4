#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis run on 127.0.0.1 (installing them with apt-get when
# missing) and that the test database exists. Fails loudly when either stays unreachable.
# Used by scripts/test.sh (the README's test command) and so by .ci/run.
set -euo pipefail

PGHOST_ADDR=127.0.0.1
PGPORT_NUM=5432
REDIS_PORT=6379
TEST_DB=${DURIN_TEST_DB:-durin_test}

log() { printf '[services] %s\n' "$*" >&2; }

need_apt_update=1
apt_install() {
  if [ "$need_apt_update" = 1 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    need_apt_update=0
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { pg_isready -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -q 2>/dev/null; }

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql postgresql-client
  fi
  if ! pg_ready; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  fi
  pg_ready || { log "PostgreSQL is not reachable on $PGHOST_ADDR:$PGPORT_NUM"; exit 1; }
  # Trust auth on loopback is the machine's setup; fall back to the postgres OS user.
  local psql=(psql -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres -tAq)
  if ! "${psql[@]}" -c 'select 1' >/dev/null 2>&1; then
    psql=(su postgres -c "psql -tAq -d postgres")
    log "loopback login as postgres failed; using the postgres OS user"
    if ! su postgres -c "psql -tAq -d postgres -c 'select 1'" >/dev/null 2>&1; then
      log "cannot log in to PostgreSQL"; exit 1
    fi
    if [ -z "$(su postgres -c "psql -tAq -d postgres -c \"select 1 from pg_database where datname='$TEST_DB'\"")" ]; then
      su postgres -c "psql -q -d postgres -c 'create database $TEST_DB'"
    fi
    return
  fi
  # A fresh test database each run: the tests create a schema per test in it.
  log "recreating database $TEST_DB"
  "${psql[@]}" -c "drop database if exists $TEST_DB with (force)" >/dev/null
  "${psql[@]}" -c "create database $TEST_DB" >/dev/null
}

redis_ready() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if ! redis_ready; then
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis_ready && break; sleep 0.5; done
  fi
  redis_ready || { log "Redis is not reachable on 127.0.0.1:$REDIS_PORT"; exit 1; }
}

# A Redis Cluster of 3 masters and 3 replicas on loopback ports 7001-7006 (no
# persistence; each node's files in /tmp/durin-cluster/<port>), for durin-redis's
# cluster tests (REDIS_CLUSTER_URL). Skipped when the cluster already answers
# cluster_state:ok; nodes that run but belong to no healthy cluster are reset first.
CLUSTER_PORTS=(7001 7002 7003 7004 7005 7006)
CLUSTER_DIR=/tmp/durin-cluster

cluster_ok() {
  redis-cli -p "${CLUSTER_PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  [ "$(redis-cli -p "${CLUSTER_PORTS[0]}" cluster nodes 2>/dev/null | grep -c 'connected')" -ge 6 ]
}

ensure_redis_cluster() {
  if cluster_ok; then
    return
  fi
  log "starting a Redis Cluster on 127.0.0.1:${CLUSTER_PORTS[0]}-${CLUSTER_PORTS[-1]}"
  local port
  for port in "${CLUSTER_PORTS[@]}"; do
    if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
      # A node left over from a broken cluster: empty it and forget its peers.
      redis-cli -p "$port" flushall >/dev/null 2>&1 || true
      redis-cli -p "$port" cluster reset hard >/dev/null
    else
      rm -rf "${CLUSTER_DIR:?}/$port"
      mkdir -p "$CLUSTER_DIR/$port"
      redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$CLUSTER_DIR/$port/nodes.conf" --cluster-node-timeout 2000 \
        --appendonly no --save "" --daemonize yes --dir "$CLUSTER_DIR/$port" \
        --logfile "$CLUSTER_DIR/$port/redis.log"
    fi
  done
  for port in "${CLUSTER_PORTS[@]}"; do
    for _ in $(seq 1 30); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.2; done
  done
  local nodes=()
  for port in "${CLUSTER_PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  for _ in $(seq 1 60); do cluster_ok && break; sleep 0.5; done
  cluster_ok || { log "the Redis Cluster on ${CLUSTER_PORTS[0]}-${CLUSTER_PORTS[-1]} is not healthy"; exit 1; }
}

# Two streaming replicas of the local PostgreSQL, for durin-sqlx's read-replica tests
# (DATABASE_REPLICA_URL, DATABASE_DELAYED_REPLICA_URL): 127.0.0.1:5433 replays at once,
# 127.0.0.1:5434 applies each commit 2 s late (recovery_min_apply_delay), so a revocation
# is visible on it seconds after the primary. Each is a pg_basebackup (-R writes
# standby.signal and primary_conninfo) in /tmp/durin-replica-<port>, run by the postgres
# OS user with the cluster's own binaries. The primary needs a `replication` line in
# pg_hba.conf for 127.0.0.1 (trust, like the machine's other loopback lines) and
# wal_level=replica (PostgreSQL's default). Skipped when the replica already answers.
# A throwaway copy: fsync=off (no data-directory sync at start, which takes minutes on
# a database holding many test schemas).
REPLICA_PORTS=(5433 5434)
REPLICA_DELAYS=(0 2s)

ensure_pg_replicas() {
  local version bin hba
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  bin=/usr/lib/postgresql/$version/bin
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    log "allowing replication connections from 127.0.0.1 in $hba"
    echo 'host replication all 127.0.0.1/32 trust' >>"$hba"
    su postgres -c "psql -tAq -d postgres -c 'select pg_reload_conf()'" >/dev/null
  fi
  local i port delay dir
  for i in "${!REPLICA_PORTS[@]}"; do
    port=${REPLICA_PORTS[$i]}
    delay=${REPLICA_DELAYS[$i]}
    dir=/tmp/durin-replica-$port
    if pg_isready -h "$PGHOST_ADDR" -p "$port" -q 2>/dev/null; then
      continue
    fi
    if [ ! -f "$dir/standby.signal" ]; then
      log "creating a streaming replica in $dir"
      rm -rf "$dir"
      install -d -o postgres -g postgres -m 700 "$dir"
      su postgres -c "$bin/pg_basebackup -h $PGHOST_ADDR -p $PGPORT_NUM -U postgres -D $dir -R -X stream -c fast --no-sync"
      # Debian keeps the primary's configuration in /etc: the copy gets its own.
      su postgres -c "touch $dir/postgresql.conf $dir/pg_ident.conf && printf '%s\\n' 'local all all trust' 'host all all 127.0.0.1/32 trust' >$dir/pg_hba.conf"
    fi
    log "starting the replica on $PGHOST_ADDR:$port (apply delay $delay)"
    su postgres -c "$bin/pg_ctl -D $dir -l $dir/log -w -t 120 start -o \"-c port=$port -c listen_addresses=$PGHOST_ADDR -c unix_socket_directories=$dir -c hot_standby=on -c recovery_min_apply_delay=$delay -c hot_standby_feedback=on -c fsync=off\"" >/dev/null
    for _ in $(seq 1 30); do pg_isready -h "$PGHOST_ADDR" -p "$port" -q 2>/dev/null && break; sleep 0.5; done
    pg_isready -h "$PGHOST_ADDR" -p "$port" -q 2>/dev/null \
      || { log "the replica on $PGHOST_ADDR:$port did not start (see $dir/log)"; exit 1; }
  done
}

# Headless Chromium and its WebDriver for the sessions page's browser test
# (crates/durin-contract/tests/browser.rs), which fails without them.
ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver
  fi
  chromedriver --version >/dev/null || { log "chromedriver does not run"; exit 1; }
}

# nginx: the forward-auth test (crates/durin-contract/tests/gateway.rs) runs the real
# nginx in front of a test upstream; it starts its own instance, so only the binary is
# needed (the package's service is not started).
ensure_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || apt_install nginx
  { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } \
    || { log "nginx is not installed"; exit 1; }
}

ensure_postgres
ensure_pg_replicas
ensure_redis
ensure_redis_cluster
ensure_chromium
ensure_nginx
log "PostgreSQL (replicas on 5433 and 5434), Redis and the Redis Cluster are up (database $TEST_DB); chromium, chromedriver and nginx are installed"

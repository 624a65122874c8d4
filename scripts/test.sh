#!/usr/bin/env bash
# The README's test command: starts PostgreSQL and Redis when they are not running
# (installing them with apt-get when missing), then runs every test of the workspace
# against the real servers. Nothing skips: a backend that cannot be reached fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/durin_test}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
# The streaming replicas scripts/services.sh starts: at once, and 2 s behind.
export DATABASE_REPLICA_URL=${DATABASE_REPLICA_URL:-postgres://postgres@127.0.0.1:5433/durin_test}
export DATABASE_DELAYED_REPLICA_URL=${DATABASE_DELAYED_REPLICA_URL:-postgres://postgres@127.0.0.1:5434/durin_test}
# The Redis Cluster scripts/services.sh starts (3 masters, 3 replicas).
export REDIS_CLUSTER_URL=${REDIS_CLUSTER_URL:-redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003}
# The black-box contract suite (crates/durin-contract) drives every example server on
# every backend.
export DURIN_CONTRACT_SERVERS=${DURIN_CONTRACT_SERVERS:-axum-server,actix-server}
export DURIN_CONTRACT_BACKENDS=${DURIN_CONTRACT_BACKENDS:-sqlite,postgres,redis,redis-cluster}

# The contract suite runs the server binaries: build them fresh first.
cargo build --workspace --bins --locked

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --locked --no-fail-fast "$@"
  # nextest does not run doc tests.
  cargo test --workspace --all-features --locked --doc
else
  cargo test --workspace --all-features --locked --no-fail-fast "$@"
fi

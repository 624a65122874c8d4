#!/usr/bin/env bash
# Times `durin import` of N django-rest-durin tokens (default 100000) from a Django
# SQLite database (made with the sqlite3 command and the checked-in sqlmigrate DDL) into
# a fresh SQLite file and, when DATABASE_URL is set, a fresh PostgreSQL schema.
#
#   scripts/bench-import.sh [N]        # uses target/debug/durin unless DURIN_BIN is set
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
BIN=${DURIN_BIN:-target/debug/durin}
[ -x "$BIN" ] || cargo build -p durin-cli
command -v sqlite3 >/dev/null || { echo "bench-import: needs the sqlite3 command" >&2; exit 1; }
FIX=crates/durin-cli/tests/fixtures
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/django.sqlite3"
{
  cat "$FIX/django-auth.sqlite.sql" "$FIX/django-rest-durin.sqlite.sql"
  cat <<SQL
BEGIN;
INSERT INTO durin_client (id, name, token_ttl, throttle_rate) VALUES (1, 'web', 86400000000, '');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,
  is_staff, is_active, date_joined)
SELECT i, '!', 0, 'user' || i, '', '', '', 0, 1, '2024-01-01 00:00:00' FROM n;
INSERT INTO durin_authtoken (token, created, expiry, client_id, user_id)
SELECT lower(hex(randomblob(32))), strftime('%Y-%m-%d %H:%M:%f', 'now'),
  strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 days'), 1, id FROM auth_user;
COMMIT;
SQL
} | sqlite3 "$SRC"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/durin.key"

run() { # $1 = label, $2 = destination URL
  local start end
  start=$(date +%s.%N)
  "$BIN" --database-url="$2" --key-file="$WORK/durin.key" --json \
    import django-rest-durin --source "sqlite://$SRC" > "$WORK/report.json"
  end=$(date +%s.%N)
  printf '%-10s %d tokens in %.1f s (%s)\n' "$1" "$N" "$(echo "$end - $start" | bc)" \
    "$(tr -d ' \n' < "$WORK/report.json" | grep -o '"imported":[0-9]*')"
}

run sqlite "sqlite://$WORK/durin.db"
if [ -n "${DATABASE_URL:-}" ]; then
  SCHEMA="bench_import_$$"
  psql "$DATABASE_URL" -qc "CREATE SCHEMA $SCHEMA"
  sep='?'; case "$DATABASE_URL" in *\?*) sep='&';; esac
  run postgres "${DATABASE_URL}${sep}options=-c%20search_path%3D$SCHEMA" || true
  psql "$DATABASE_URL" -qc "DROP SCHEMA $SCHEMA CASCADE"
fi

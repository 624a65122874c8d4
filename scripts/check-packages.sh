#!/usr/bin/env bash
# Packages every publishable crate (`cargo package --workspace --no-verify`: path
# dependencies between unpublished workspace crates resolve locally) and checks that
# what a crate reads at build or run time is in its package: durin-sqlx's migrations,
# durin-redis's Lua scripts, and both license files in every package.
set -euo pipefail
cd "$(dirname "$0")/.."

# `cargo package` would also package the `publish = false` crates (examples, test
# crates), whose path dependencies have no version: leave them out.
excludes=()
for manifest in crates/*/Cargo.toml examples/*/Cargo.toml; do
  if grep -q '^publish = false' "$manifest"; then
    excludes+=(--exclude "$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)")
  fi
done
cargo package --workspace "${excludes[@]}" --no-verify --locked "$@"

fail=0
expect() { # crate, files...
  local crate=$1; shift
  local list
  list=$(cargo package --list --locked -p "$crate" "${PACKAGE_FLAGS[@]}")
  for file in "$@"; do
    if ! grep -qxF "$file" <<<"$list"; then
      echo "the $crate package lacks $file" >&2
      fail=1
    fi
  done
}
PACKAGE_FLAGS=("$@")

for manifest in crates/*/Cargo.toml; do
  grep -q '^publish = false' "$manifest" && continue
  crate=$(basename "$(dirname "$manifest")")
  expect "$crate" LICENSE-MIT LICENSE-APACHE README.md
done
# shellcheck disable=SC2046 # one word per file
expect durin-sqlx $(cd crates/durin-sqlx && find migrations -type f | sort)
# shellcheck disable=SC2046
expect durin-redis $(cd crates/durin-redis && find src/lua -name '*.lua' | sort)

if [[ $fail -ne 0 ]]; then
  exit 1
fi
echo "check-packages: every package holds its migrations, Lua scripts, README and licenses"

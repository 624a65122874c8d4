#!/usr/bin/env bash
# Checks that ARCHITECTURE.md's codemap names only files and directories that exist.
# Under each "### `dir`" heading a backticked path is looked up relative to the
# heading's directories, their `src/`, and the repository root (a bare file name also
# anywhere below the heading's directories); `{a,b}` expands.
# A backticked word counts as a path when it has a `/` or a file extension we use.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=0
checked=0
bases=(.)
in_codemap=false
while IFS= read -r line; do
  case "$line" in
    "## Codemap"*) in_codemap=true; continue ;;
    "## "*) in_codemap=false; continue ;;
  esac
  $in_codemap || continue
  tokens=$(grep -o '`[^`]*`' <<<"$line" | tr -d '`' || true)
  if [[ "$line" == "### "* ]]; then
    bases=()
    for t in $tokens; do bases+=("${t%/}"); done
  fi
  for token in $tokens; do
    [[ "$token" =~ ^[A-Za-z0-9_.{},/*-]+$ ]] || continue
    [[ "$token" == */* || "$token" =~ \.(rs|md|sql|lua|toml|sh)$ ]] || continue
    [[ "$token" =~ ^[0-9]+/ || "$token" == /* ]] && continue # a rate (`5/m`) or a route
    # Brace expansion of our own, checked-charset text.
    for path in $(eval "printf '%s\n' $token"); do
      checked=$((checked + 1))
      found=false
      for base in "${bases[@]}" .; do
        for candidate in "$base/$path" "$base/src/$path"; do
          # shellcheck disable=SC2086 # globs (`*.sql`) are meant to expand
          if compgen -G "${candidate%/}" >/dev/null; then found=true; break 2; fi
        done
      done
      # A bare file name in a list under a directory item (`service/` — `mod.rs`, ...):
      # anywhere below the heading's directories.
      if ! $found && [[ "$path" != */* ]]; then
        for base in "${bases[@]}"; do
          if [[ -n "$(find "$base" -path '*/target' -prune -o -name "$path" -print -quit)" ]]; then
            found=true
            break
          fi
        done
      fi
      if ! $found; then
        echo "ARCHITECTURE.md codemap names a missing path: $path (under ${bases[*]})" >&2
        missing=$((missing + 1))
      fi
    done
  done
done < ARCHITECTURE.md

if [[ $checked -lt 20 ]]; then
  echo "check-codemap: only $checked paths found; is the codemap still under '## Codemap'?" >&2
  exit 1
fi
if [[ $missing -gt 0 ]]; then
  exit 1
fi
echo "check-codemap: $checked paths, all present"

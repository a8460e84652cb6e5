#!/usr/bin/env bash
# Runs one bench at an earlier commit and at the working tree alternately (before, after, before,
# after...), on PGlite and on PostgreSQL, so that both see the same state of the machine (these
# machines vary by 2x from day to day). Reports go to $OUT (default /tmp/back-to-back).
#   bench/back-to-back.sh <before-commit> <bench/file.ts> [rounds]
# The earlier commit is checked out as a detached worktree sharing this node_modules; PostgreSQL is
# the local one (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"; bench="$2"; rounds="${3:-2}"
out="${OUT:-/tmp/back-to-back}"; mkdir -p "$out"
pg="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
wt="$(mktemp -d /tmp/bench-before-XXXX)"
git worktree add -q --detach "$wt" "$before"
ln -s "$PWD/node_modules" "$wt/node_modules"
# A bench newer than the earlier commit runs there too: copy in bench/ files it lacks (never replacing).
cp -rn bench/. "$wt/bench/"
trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT
name="$(basename "$bench" .ts)"
for r in $(seq 1 "$rounds"); do
  for backend in pglite postgresql; do
    for side in before after; do
      dir=$([ "$side" = before ] && echo "$wt" || echo "$PWD")
      url=$([ "$backend" = postgresql ] && echo "$pg" || echo "")
      echo "round $r $backend $side" >&2
      (cd "$dir" && DATABASE_URL="$url" node_modules/.bin/node "$bench" 2>/dev/null | sed -n '/^{/,/^}/p') \
        > "$out/$name-$backend-$side-$r.json"
      # A full run rewrites the checkout's bench/results file: the earlier commit's copy is thrown
      # away with its worktree; the working tree's is this run's, as when the bench runs alone.
    done
  done
done
echo "reports in $out" >&2

#!/usr/bin/env bash
# What a production host does, on a clean clone of this commit: `npm ci --omit=dev && npm start`,
# then /readyz must answer 200 and SIGTERM must stop the service. Also what the Dockerfile runs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
port="${PRODUCTION_START_PORT:-18080}"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

git clone -q --no-hardlinks "$repo" "$work/app"
git -C "$work/app" checkout -q "$(git -C "$repo" rev-parse HEAD)"
cd "$work/app"
npm ci --omit=dev --no-audit --no-fund
for dev in vitest @biomejs/biome dependency-cruiser fast-check; do
  if [ -e "node_modules/$dev" ]; then echo "a dev dependency was installed: $dev"; exit 1; fi
done

PORT="$port" HOST=127.0.0.1 DATA_DIR="$work/data" LOG_LEVEL=warn npm start >"$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 1 90); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "the service exited:"; cat "$work/service.log"; exit 1; fi
  sleep 1
done
curl -fsS "http://127.0.0.1:$port/readyz"; echo
# The trial page's bundle is built by esbuild, a production dependency now.
curl -fsS -o /dev/null "http://127.0.0.1:$port/app/assets/trial-page.js"
curl -fsS "http://127.0.0.1:$port/" | grep -q 'KHE trial FHIR adapter'
kill -TERM "$pid"
for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$pid" 2>/dev/null; then echo "the service did not stop on SIGTERM"; exit 1; fi
pid=""
echo "production start: ok"

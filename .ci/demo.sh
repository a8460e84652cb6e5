#!/usr/bin/env bash
# `npm run demo` as a newcomer runs it: the service up (npm start, embedded store, a fresh data
# folder), the synthetic cohort loaded through the API within a minute, and the coordinator
# overview listing every child of the cohort.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
port="${DEMO_PORT:-18081}"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

PORT="$port" HOST=127.0.0.1 DATA_DIR="$work/data" LOG_LEVEL=warn node_modules/.bin/node src/main.ts >"$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 1 90); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$pid" 2>/dev/null; then echo "the service exited:"; cat "$work/service.log"; exit 1; fi
  sleep 1
done

start=$(date +%s)
ADAPTER_URL="http://127.0.0.1:$port" DATA_DIR="$work/data" timeout 60 npm run -s demo
echo "demo loaded in $(($(date +%s) - start)) s"

# The overview (admin) must list the 30 synthetic children.
ADAPTER_URL="http://127.0.0.1:$port" DATA_DIR="$work/data" node_modules/.bin/node -e '
  const { readFileSync } = require("node:fs");
  const url = process.env.ADAPTER_URL;
  const admin = JSON.parse(readFileSync(process.env.DATA_DIR + "/dev-clients.json", "utf8")).clients.find((c) => c.role === "admin");
  (async () => {
    const t = await fetch(url + "/auth/token", { method: "POST",
      headers: { authorization: "Basic " + Buffer.from(admin.clientId + ":" + admin.clientSecret).toString("base64"),
        "content-type": "application/x-www-form-urlencoded" }, body: "grant_type=client_credentials" });
    const { access_token } = await t.json();
    const rows = await (await fetch(url + "/app/api/overview", { headers: { authorization: "Bearer " + access_token } })).json();
    const synthetic = rows.filter((r) => /^syn-\d+$/.test(r.patientId));
    console.log("coordinator overview: " + synthetic.length + " synthetic children");
    if (synthetic.length !== 30) process.exit(1);
  })().catch((e) => { console.error(e); process.exit(1); });
'

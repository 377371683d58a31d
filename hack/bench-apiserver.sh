#!/usr/bin/env bash
# Benchmarks the local API server over HTTP: N ConfigMaps created by concurrent clients while
# W watchers watch them, then full lists. Prints a table (writes/s, list latency, watch
# delivery p50/p99, server RSS per 10k objects) and fails if a watcher missed an event.
#
#   hack/bench-apiserver.sh [--objects 10000] [--writers 8] [--watchers 100] [--lists 5]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target kfaas-local kfaas-apiserver-bench >/dev/null

home=$(mktemp -d /tmp/kfaas-bench.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$home"
}
trap cleanup EXIT

"$build/local/kfaas-local" --home "$home" --secure-port 0 --insecure-port auto \
  --log-level warning --watch-queue-limit 200000 >"$home/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  [ -f "$home/apiserver.json" ] && break
  sleep 0.1
done
if [ ! -f "$home/apiserver.json" ]; then
  echo "kfaas-local did not start:" >&2
  cat "$home/server.log" >&2
  exit 1
fi
port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['insecurePort'])" \
  "$home/apiserver.json")
echo "kfaas-local pid $pid, plain HTTP port $port ($(nproc) cores)"
"$build/local/kfaas-apiserver-bench" --port "$port" --pid "$pid" "$@"

#!/usr/bin/env bash
# Benchmarks the local API server over HTTP: N ConfigMaps created by concurrent clients while
# W watchers watch them, then full lists. Prints a table (writes/s, list latency, watch
# delivery p50/p99, server RSS per 10k objects) and fails if a watcher missed an event.
#
#   hack/bench-apiserver.sh [--objects 10000] [--writers 8] [--watchers 100] [--lists 5]
#                           [--server-bin PATH] [--bench-bin PATH] [--server-arg ARG]...
#                           [--perf-stat]
# --server-bin / --bench-bin run other binaries (e.g. a saved copy of an older kfaas-local for
# an A/B run); --server-arg passes a flag to kfaas-local (e.g. --server-arg --watch-batch-ms=0).
# --perf-stat prints the server's and the load generator's CPU time, context switches and
# syscalls per write.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
server_bin=$build/local/kfaas-local
bench_bin=$build/local/kfaas-apiserver-bench
perf_stat=""
server_args=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --server-bin) server_bin=$2; shift 2 ;;
    --bench-bin) bench_bin=$2; shift 2 ;;
    --server-arg) server_args+=("$2"); shift 2 ;;
    --perf-stat) perf_stat=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
cmake --build "$build" -j "$(nproc)" --target kfaas-local kfaas-apiserver-bench >/dev/null

home=$(mktemp -d /tmp/kfaas-bench.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$home"
}
trap cleanup EXIT

"$server_bin" --home "$home" --secure-port 0 --insecure-port auto \
  --log-level warning --watch-queue-limit 200000 ${server_args[@]+"${server_args[@]}"} \
  >"$home/server.log" 2>&1 &
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
echo "kfaas-local pid $pid, plain HTTP port $port ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "server: $server_bin ${server_args[*]+${server_args[*]}}"
if [ -z "$perf_stat" ]; then
  "$bench_bin" --port "$port" --pid "$pid" "${args[@]}"
  exit
fi
# CPU time and syscalls of the server (whole run, from the first write to the last list) and
# of the load generator, divided by the number of objects written.
objects=10000
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--objects" ] && objects=${args[$((i + 1))]}
done
events=cpu-clock,context-switches,raw_syscalls:sys_enter
perf stat -x, -e "$events" -p "$pid" -o "$home/server.perf" &
perf_pid=$!
sleep 0.2
rc=0
perf stat -x, -e "$events" -o "$home/bench.perf" \
  "$bench_bin" --port "$port" --pid "$pid" "${args[@]}" || rc=$?
kill -INT "$perf_pid" 2>/dev/null || true
wait "$perf_pid" 2>/dev/null || true
python3 - "$home/server.perf" "$home/bench.perf" "$objects" <<'PY'
import sys
def read(p):
    out = {}
    for line in open(p):
        f = line.strip().split(",")
        if len(f) > 3 and f[0] and f[0][0].isdigit():
            out[f[2]] = float(f[0])
    return out
n = int(sys.argv[3])
for name, p in (("server", sys.argv[1]), ("load generator", sys.argv[2])):
    d = read(p)
    print("%-44s %.2f s CPU, %.0f us CPU/write, %.1f syscalls/write, %.1f ctx switches/write" % (
        name, d.get("cpu-clock", 0) / 1e3, d.get("cpu-clock", 0) * 1e3 / n,
        d.get("raw_syscalls:sys_enter", 0) / n, d.get("context-switches", 0) / n))
PY
exit $rc

#!/usr/bin/env bash
# Operator benchmark: applies N Functions (default 10,000) through the API, concurrently, and
# times until every one has its Deployment, its Service and a written status; reports the
# operator's RSS. Starts its own kfaas-local (API server, and its node unless --node=false) and
# kfaas-operator on free ports.
#
#   hack/bench-operator.sh [--count N] [--concurrency C] [--workers W] [--operator BINARY]
#                          [--node true|false] [--operator-args "ARGS"] [--local BINARY]
#   KFAAS_BUILD_DIR=/tmp/b hack/bench-operator.sh
# --operator runs another kfaas-operator binary (an A/B against a saved copy of the old one);
# --node=false runs kfaas-local without its node (no Deployment/Endpoints controllers).
# --operator-args passes more flags to the operator (e.g. "--kube-transport cpprest").
# --local runs another kfaas-local binary (an A/B of its node's controllers).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}
count=10000
concurrency=32
workers=8
operator_bin=
operator_args=
local_bin=
node=true
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --operator) operator_bin=$2; shift 2 ;;
    --operator-args) operator_args=$2; shift 2 ;;
    --local) local_bin=$2; shift 2 ;;
    --node) node=$2; shift 2 ;;
    --node=*) node=${1#--node=}; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-operator: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
echo "==> building kfaas-local, kfaas-operator, operator_bench"
cmake --build "$build" -j "$(nproc)" --target kfaas-local kfaas-operator operator_bench >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/kfaas-bench-operator.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KFAAS_BENCH_KEEP:-}" ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
admin_port=$(free_port)

echo "==> starting kfaas-local (API server) on :$api_port"
read -r -a api_wrapper <<<"${KFAAS_BENCH_API_WRAPPER:-}"
KFAAS_HOME="$work/home" "${api_wrapper[@]}" "${local_bin:-$build/local/kfaas-local}" --home "$work/home" --secure-port "$api_port" \
  --preload crds/functions.kfaas.dev.yaml --node="$node" --log-level warning >"$work/kfaas-local.log" 2>&1 &
pids+=($!)
kubeconfig="$work/home/kubeconfig"
kc() { kubectl --kubeconfig "$kubeconfig" --cache-dir "$work/kube-cache" "$@"; }
for _ in $(seq 1 300); do
  [ -f "$kubeconfig" ] && kc get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.1
done
for _ in $(seq 1 100); do kc get fn >/dev/null 2>&1 && break; sleep 0.1; done

# KFAAS_BENCH_PERF=1 records a CPU profile of the operator to $KFAAS_BENCH_PERF_OUT (perf.data).
if [ -n "${KFAAS_BENCH_PERF:-}" ]; then
  wrapper=(perf record ${KFAAS_BENCH_PERF_ARGS:--g} -o "${KFAAS_BENCH_PERF_OUT:-$root/perf-operator.data}" --)
elif [ -n "${KFAAS_BENCH_WRAPPER:-}" ]; then
  read -r -a wrapper <<<"$KFAAS_BENCH_WRAPPER"
else
  wrapper=()
fi
operator_bin=${operator_bin:-$build/operator/kfaas-operator}
echo "==> starting $operator_bin ($workers workers)"
"${wrapper[@]}" "$operator_bin" --kubeconfig "$kubeconfig" --leader-elect=false \
  --workers "$workers" --qps 0 --admin-address 127.0.0.1 --admin-port "$admin_port" \
  --log-level warning $operator_args >"$work/operator.log" 2>&1 &
op_pid=$!
pids+=($op_pid)
if [ ${#wrapper[@]} -gt 0 ]; then
  for _ in $(seq 1 50); do
    child=$(pgrep -P "$op_pid" | head -1 || true)  # the wrapped operator, whatever its name
    [ -n "$child" ] && break
    sleep 0.1
  done
  op_pid=${child:-$op_pid}
  pids+=($op_pid)
fi
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
load_before=$(cut -d' ' -f1 /proc/loadavg)
rss_idle=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$op_pid/status)

echo "==> creating $count Functions ($concurrency concurrent)"
set +e
"$build/tests/operator/operator_bench" --kubeconfig "$kubeconfig" --count "$count" \
  --concurrency "$concurrency" --operator-pid "$op_pid" >"$work/result.txt"
rc=$?
set -e
metrics=$(curl -sf "http://127.0.0.1:$admin_port/metrics" || true)
faults=$(kc get --raw /kfaas/faults 2>/dev/null || echo '{}')
api_counter() { echo "$faults" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('counters',{}).get('$1','?'))"; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"; }
op_cpu=$(cpu_seconds "$op_pid")
api_cpu=$(cpu_seconds "${pids[0]}")
m() { echo "$metrics" | awk -v k="$1" '$1 == k {print $2}'; }

echo
echo "kfaas-operator bench ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ))"
printf '%-44s %s\n' "metric" "value"
printf '%-44s %s\n' "--------------------------------------------" "----------"
printf '%-44s %s\n' "Functions" "$count"
printf '%-44s %s\n' "operator workers" "$workers"
printf '%-44s %s\n' "kfaas-local node (Deployment controller)" "$node"
printf '%-44s %s\n' "operator RSS idle, MiB" "$rss_idle"
cat "$work/result.txt"
printf '%-44s %s\n' "operator CPU, s" "$op_cpu"
printf '%-44s %s\n' "API server CPU, s" "$api_cpu"
printf '%-44s %s\n' "API requests / writes (all clients)" "$(api_counter requests) / $(api_counter writes)"
printf '%-44s %s\n' "load average before / after" "$load_before / $(cut -d' ' -f1 /proc/loadavg)"
# The operator's own requests (kfaas_operator_api_requests_total), per Function.
echo "$metrics" | awk -v n="$count" '
  /^kfaas_operator_api_requests_total\{/ {
    match($1, /verb="[^"]*"/); v = substr($1, RSTART + 6, RLENGTH - 7)
    match($1, /resource="[^"]*"/); r = substr($1, RSTART + 10, RLENGTH - 11)
    if ($2 == 0) next
    total += $2; if (v != "get" && v != "list" && v != "watch") writes += $2
    printf "%-44s %d (%.2f per Function)\n", "operator requests: " v " " r, $2, $2 / n
  }
  END { printf "%-44s %d (%.2f per Function, %.2f writes)\n", "operator requests: total", total, total / n, writes / n }'
printf '%-44s %s\n' "reconciles: success" "$(m 'kfaas_operator_reconcile_total{result="success"}')"
printf '%-44s %s\n' "reconciles: skipped, unchanged (of success)" "$(m kfaas_operator_reconcile_skipped_total)"
printf '%-44s %s\n' "reconciles: requeue" "$(m 'kfaas_operator_reconcile_total{result="requeue"}')"
printf '%-44s %s\n' "reconciles: error" "$(m 'kfaas_operator_reconcile_total{result="error"}')"
for r in functions deployments services; do
  printf '%-44s %s\n' "informer lists/watches/410s: $r" \
    "$(m "kfaas_operator_informer_lists_total{resource=\"$r\"}")/$(m "kfaas_operator_informer_watches_total{resource=\"$r\"}")/$(m "kfaas_operator_informer_expired_total{resource=\"$r\"}")"
done
printf '%-44s %s\n' "aim" "<= 30 s and <= 300 MiB"
if [ $rc -ne 0 ]; then
  echo "bench-operator: FAILED (see the logs below)" >&2
  tail -20 "$work/operator.log" >&2
  tail -20 "$work/kfaas-local.log" >&2
  exit 1
fi

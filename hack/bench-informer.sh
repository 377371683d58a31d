#!/usr/bin/env bash
# Informer benchmark against kfaas-local's API server over HTTPS: time and RSS for an informer
# (in its own process) to list+sync N objects, watch-event throughput, and (for reference)
# RestClient write throughput. Prints a table.
#
#   hack/bench-informer.sh [--objects N] [--events M] [--writes W] [--threads T]
#                          (defaults: 10000, 20000, 5000, 8)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}
objects=10000
events=20000
writes=5000
threads=8
while [ $# -gt 0 ]; do
  case "$1" in
    --objects) objects=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --writes) writes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target kube_informer_bench >/dev/null
bench="$build/tests/common/kube_informer_bench"

tmp=$(mktemp -d "${KFAAS_TEST_TMP:-/tmp}/bench-informer.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

seed_start=$(date +%s.%N)
"$bench" server --home "$tmp/home" --objects "$objects" --events "$events" >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 1 1200); do
  grep -q '^READY ' "$tmp/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.err" >&2; exit 1; }
  sleep 0.1
done
grep -q '^READY ' "$tmp/server.out" || { echo "server did not start" >&2; exit 1; }
seed_end=$(date +%s.%N)
kubeconfig=$(awk '/^READY /{print $2}' "$tmp/server.out")

"$bench" informer --kubeconfig "$kubeconfig" --objects "$objects" --events "$events" \
  --server-pid "$server_pid" >"$tmp/informer.out" 2>"$tmp/informer.err" || {
  cat "$tmp/informer.err" >&2; exit 1; }
"$bench" writes --kubeconfig "$kubeconfig" --writes "$writes" --threads "$threads" \
  >"$tmp/writes.out" 2>"$tmp/writes.err" || { cat "$tmp/writes.err" >&2; exit 1; }
val() { awk -v k="$1" '$1==k{print $2}' "$tmp/informer.out" "$tmp/writes.out"; }

sync_s=$(val sync_seconds)
rss_before=$(val rss_before_kib)
rss_after=$(val rss_after_kib)
ev=$(val events)
ev_s=$(val event_seconds)
rss_end=$(val rss_end_kib)

printf '\nInformer benchmark (kfaas-local API server over HTTPS, RestClient/cpprestsdk, %s ConfigMaps of ~1 KiB)\n\n' "$objects"
printf '| %-38s | %12s | %12s |\n' "measurement" "value" "unit"
printf '|%s|%s|%s|\n' "----------------------------------------" "--------------" "--------------"
printf '| %-38s | %12.2f | %12s |\n' "server start + seed (in-process)" "$(echo "$seed_end - $seed_start" | bc)" "s"
printf '| %-38s | %12.3f | %12s |\n' "informer list+sync time" "$sync_s" "s"
printf '| %-38s | %12.0f | %12s |\n' "sync rate" "$(echo "$objects / $sync_s" | bc -l)" "objects/s"
printf '| %-38s | %12.1f | %12s |\n' "informer process RSS before start" "$(echo "$rss_before / 1024" | bc -l)" "MiB"
printf '| %-38s | %12.1f | %12s |\n' "informer process RSS after sync" "$(echo "$rss_after / 1024" | bc -l)" "MiB"
printf '| %-38s | %12.2f | %12s |\n' "RSS per cached object" "$(echo "($rss_after - $rss_before) / $objects" | bc -l)" "KiB"
if [ -n "$ev" ] && [ "$ev" != "0" ]; then
  printf '| %-38s | %12s | %12s |\n' "watch events received (updates)" "$ev" "events"
  printf '| %-38s | %12.3f | %12s |\n' "time to receive them" "$ev_s" "s"
  printf '| %-38s | %12.0f | %12s |\n' "watch-event throughput (end to end)" "$(echo "$ev / $ev_s" | bc -l)" "events/s"
  printf '| %-38s | %12.1f | %12s |\n' "informer process RSS at the end" "$(echo "$rss_end / 1024" | bc -l)" "MiB"
fi
create_s=$(val create_seconds)
patch_s=$(val patch_seconds)
printf '| %-38s | %12.0f | %12s |\n' "RestClient creates, $threads threads" "$(echo "$writes / $create_s" | bc -l)" "writes/s"
printf '| %-38s | %12.0f | %12s |\n' "RestClient merge patches, $threads threads" "$(echo "$writes / $patch_s" | bc -l)" "writes/s"
echo

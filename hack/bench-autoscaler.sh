#!/usr/bin/env bash
# How fast and how well replicas follow load.
#
#   burst  (default) on the local platform, through the real binaries: kfaas-local +
#          kfaas-activator + kfaas-operator (hosting the loop) + hello-function. N clients start
#          at once against a function at 1 replica; prints a table of the time from the burst
#          start to ceil(N / target) replicas written (the loop's /scale write, seen by a
#          kubectl watch) and ready, per run, with KEDA + HPA defaults as a stated reference.
#   step   real time through real gRPC: a fake activator's in-flight count steps (1 -> 200 at
#          target 10, ...); milliseconds until the loop's /scale write reaches
#          ceil(in-flight / target) (activator poll -> stats stream -> loop -> decision -> write).
#   spike  the seed's Hacker News spike (10 -> 50,000 requests a minute in five minutes) replayed
#          in simulated time through kfaas' decider and a model of KEDA + HPA defaults:
#          tracking error against ceil(concurrency / target).
#   e2e    one burst run with the whole replicas-vs-time trace (and, with --down, the fall).
#
#   hack/bench-autoscaler.sh                             # burst: 3 runs, 20 clients, target 2
#   hack/bench-autoscaler.sh --runs 5 --clients 40 --target 4
#   hack/bench-autoscaler.sh --mode step                 # or spike, or all (step and spike)
#   hack/bench-autoscaler.sh --mode spike --duration-ms 500 --startup-ms 3000
#   hack/bench-autoscaler.sh --mode e2e --clients 40 --target 4
#   KFAAS_BUILD_DIR=/tmp/b hack/bench-autoscaler.sh
# Flags go to autoscaler_bench (--mode step|spike|all --steps N --duration-ms D --startup-ms S
# --target T --seed N) or, for burst/e2e, to tests/autoscaler/e2e/autoscaler_e2e.py (--clients N
# --target T --sleep-ms S --load-seconds L).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${KFAAS_BUILD_DIR:-$(pwd)/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
mode=burst
if [ "${1:-}" = "--mode" ]; then
  mode=${2:?--mode needs a value}
  shift 2
fi
e2e=tests/autoscaler/e2e/autoscaler_e2e.py
platform() {
  cmake --build "$build" --target kfaas-local kfaas-operator kfaas-activator hello-function \
    >/dev/null || {
    echo "bench-autoscaler: cannot build the local platform" \
         "(kfaas-local kfaas-operator kfaas-activator hello-function)" >&2
    exit 1
  }
}
case "$mode" in
  e2e)
    platform
    exec /usr/bin/python3 "$e2e" --build "$build" --bench --no-down "$@"
    ;;
  burst)
    runs=3 clients=20 target=2
    pass=()
    while [ $# -gt 0 ]; do
      case "$1" in
        --runs) runs=$2; shift 2 ;;
        --clients) clients=$2; pass+=("$1" "$2"); shift 2 ;;
        --target) target=$2; pass+=("$1" "$2"); shift 2 ;;
        *) pass+=("$1"); shift ;;
      esac
    done
    platform
    want=$(( (clients + target - 1) / target ))
    printf 'burst: %d clients (500 ms requests) at a function at 1 replica, scale.target %d -> %d replicas\n\n' \
      "$clients" "$target" "$want"
    printf '%-44s %14s %14s\n' "RUN" "WRITTEN (s)" "READY (s)"
    written=() ready=()
    for i in $(seq 1 "$runs"); do
      out=$(/usr/bin/python3 "$e2e" --build "$build" --bench --no-down --load-seconds 5 \
        "${pass[@]}" 2>&1) || true
      line=$(grep '^RESULT' <<<"$out" || true)
      w=$(sed -n 's/.*written=\([^ ]*\).*/\1/p' <<<"$line")
      r=$(sed -n 's/.*ready=\([^ ]*\).*/\1/p' <<<"$line")
      if [ -z "$line" ]; then
        echo "run $i failed:" >&2
        tail -20 <<<"$out" >&2
        w=never r=never
      fi
      printf '%-44s %14s %14s\n' "kfaas loop, run $i (measured)" "$w" "$r"
      written+=("$w") ready+=("$r")
    done
    stats() {  # median and max of numbers ("never" counts as missing)
      printf '%s\n' "$@" | grep -v never | sort -g |
        awk '{v[NR]=$1} END {if (NR==0) {print "never never"; exit}
             m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.2f %.2f\n", m, v[NR]}'
    }
    read -r wm wx <<<"$(stats "${written[@]}")"
    read -r rm rx <<<"$(stats "${ready[@]}")"
    printf '%-44s %14s %14s\n' "kfaas loop, median (measured)" "$wm" "$rm"
    printf '%-44s %14s %14s\n' "kfaas loop, worst (measured)" "$wx" "$rx"
    printf '%-44s %14s %14s\n' "KEDA + HPA defaults, worst (reference)" "45" "45 + start"
    printf '%-44s %14s %14s\n' "KEDA + HPA defaults, average (reference)" "~22.5" "~22.5 + start"
    echo
    echo "Reference, not measured (/work/shared/reference/anchors.md): KEDA reads the external"
    echo "scaler every pollingInterval (30 s) and the HPA syncs every 15 s, so a burst reaches the"
    echo "Deployment within up to 30 + 15 = 45 s. kfaas: the activator's stats stream pushes a burst"
    echo "at once (<= 50 ms poll), the loop decides on it at once (panic) and writes /scale."
    ;;
  *)
    cmake --build "$build" --target autoscaler_bench >/dev/null
    exec "$build/tests/autoscaler/autoscaler_bench" --mode "$mode" "$@"
    ;;
esac

#!/usr/bin/env bash
# How well replicas follow load. Prints two tables:
#   step   real time through real gRPC: a fake activator's in-flight count steps (1 -> 200 at
#          target 10, ...); milliseconds until the loop's /scale write reaches
#          ceil(in-flight / target) (activator poll -> stats stream -> loop -> decision -> write).
#   spike  the seed's Hacker News spike (10 -> 50,000 requests a minute in five minutes) replayed
#          in simulated time through kfaas' decider and a model of KEDA + HPA defaults:
#          tracking error against ceil(concurrency / target).
#
#   e2e    on the local platform (kfaas-local + kfaas-activator + kfaas-operator hosting the loop,
#          real function processes): N clients through the activator; replicas vs. time, and
#          how long until ceil(clients / target) replicas are written and ready.
#
#   hack/bench-autoscaler.sh                     # step and spike
#   hack/bench-autoscaler.sh --mode spike --duration-ms 500 --startup-ms 3000
#   hack/bench-autoscaler.sh --mode e2e --clients 40 --target 4 --down
#   KFAAS_BUILD_DIR=/tmp/b hack/bench-autoscaler.sh
# Flags go to autoscaler_bench (--mode step|spike|all --steps N --duration-ms D --startup-ms S
# --target T --seed N) or, for e2e, to tests/autoscaler/e2e/autoscaler_e2e.py (--clients N
# --target T --sleep-ms S --load-seconds L --down).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${KFAAS_BUILD_DIR:-$(pwd)/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
if [ "${1:-}" = "--mode" ] && [ "${2:-}" = "e2e" ]; then
  shift 2
  cmake --build "$build" --target kfaas-local kfaas-operator kfaas-activator >/dev/null || {
    echo "bench-autoscaler: the local platform (kfaas-local, kfaas-operator, kfaas-activator)" \
         "is not buildable here yet" >&2
    exit 1
  }
  exec /usr/bin/python3 tests/autoscaler/e2e/autoscaler_e2e.py --build "$build" --bench "$@"
fi
cmake --build "$build" --target autoscaler_bench >/dev/null
exec "$build/tests/autoscaler/autoscaler_bench" "$@"

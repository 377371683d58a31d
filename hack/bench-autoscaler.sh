#!/usr/bin/env bash
# How well replicas follow load. Prints two tables:
#   step   real time through real gRPC: a fake activator's in-flight count steps (1 -> 200 at
#          target 10, ...); milliseconds until the loop's /scale write reaches
#          ceil(in-flight / target) (activator poll -> stats stream -> loop -> decision -> write).
#   spike  the seed's Hacker News spike (10 -> 50,000 requests a minute in five minutes) replayed
#          in simulated time through kfaas' decider and a model of KEDA + HPA defaults:
#          tracking error against ceil(concurrency / target).
#
#   hack/bench-autoscaler.sh                     # both
#   hack/bench-autoscaler.sh --mode spike --duration-ms 500 --startup-ms 3000
#   KFAAS_BUILD_DIR=/tmp/b hack/bench-autoscaler.sh
# Flags go to autoscaler_bench: --mode step|spike|all --steps N --duration-ms D --startup-ms S
# --target T --seed N.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${KFAAS_BUILD_DIR:-$(pwd)/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target autoscaler_bench >/dev/null
exec "$build/tests/autoscaler/autoscaler_bench" "$@"

#!/usr/bin/env bash
# Cold starts on kfaas-local's node, phase by phase: from a scale 0 -> 1 write to the pod's
# process exec, its first successful readiness probe (the function's own start-up), the Pod
# Ready watch event and the EndpointSlice (published, then ready). p50/p99 over N runs.
#
#   hack/bench-coldstart-node.sh                 # hello (C++), in-process and over HTTPS, 50 runs
#   hack/bench-coldstart-node.sh --runs 200 --function python [--http]
#
# The API server and the node run in-process (kfaas-node-bench); --http makes the scale write
# and the watches go through the HTTPS API with the REST client, as the activator's do.
# Numbers depend on the machine's load: the load average is printed with them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}

if [ ! -f "$build/build.ninja" ]; then
  echo "==> configuring $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
echo "==> building kfaas-node-bench hello-function"
cmake --build "$build" --target kfaas-node-bench hello-function >/dev/null

bench=("$build/local/kfaas-node-bench" --hello "$build/examples/hello/hello-function"
  --source-dir "$root")
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ $# -eq 0 ]; then
  "${bench[@]}" --runs 50
  "${bench[@]}" --runs 50 --http
else
  "${bench[@]}" "$@"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Runs the whole kfaas platform on this machine, in the foreground, with one command:
# installs and builds what is missing, then starts kfaas-local (an in-memory Kubernetes API
# server plus a node that runs pods as local processes), applies the Function CRD, and starts
# kfaas-operator and kfaas-activator. Ctrl-C stops everything; no process is left behind.
#
#   hack/local-up.sh [--no-build] [--help] [-- extra kfaas-local flags]
#
#   --no-build   use the binaries already in the build dir (no apt, no cmake)
#
# Environment (defaults in brackets):
#   KFAAS_HOME                  state: kubeconfig, logs/, bin/            [~/.kfaas]
#   KFAAS_BUILD_DIR             CMake build dir                           [build/]
#   KFAAS_API_PORT              API server (HTTPS)                        [6443]
#   KFAAS_ACTIVATOR_PORT        function traffic (HTTP)                   [8080]
#   KFAAS_ACTIVATOR_ADMIN_PORT  activator /metrics /healthz /readyz       [9090]
#   KFAAS_ACTIVATOR_GRPC_PORT   activator gRPC (reserved)                 [9095]
#   KFAAS_OPERATOR_ADMIN_PORT   operator /metrics /healthz /readyz        [9091]
#   KFAAS_POD_PORTS             ports given to function processes         [20000-32000]
#   KFAAS_OPERATOR_FLAGS, KFAAS_ACTIVATOR_FLAGS   extra flags (word-split)
#
# Each component's output is printed with its name and kept in $KFAAS_HOME/logs/<name>.log;
# function (pod) output goes to $KFAAS_HOME/logs/<namespace>_<pod>_<container>.log
# (`kubectl logs`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}
home=${KFAAS_HOME:-$HOME/.kfaas}
api_port=${KFAAS_API_PORT:-6443}
activator_port=${KFAAS_ACTIVATOR_PORT:-8080}
activator_admin_port=${KFAAS_ACTIVATOR_ADMIN_PORT:-9090}
activator_grpc_port=${KFAAS_ACTIVATOR_GRPC_PORT:-9095}
operator_admin_port=${KFAAS_OPERATOR_ADMIN_PORT:-9091}
pod_ports=${KFAAS_POD_PORTS:-20000-32000}

do_build=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    --no-build) do_build=0 ;;
    --) shift; extra+=("$@"); break ;;
    *) echo "local-up: unknown argument '$1' (see --help; kfaas-local flags go after --)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "local-up: $*" >&2; exit 1; }

# 1. Dependencies and build.
if [ "$do_build" = 1 ]; then
  if ! hack/install-deps.sh --check >/dev/null 2>&1; then
    say "installing missing Debian packages (hack/install-deps.sh)"
    hack/install-deps.sh
  fi
  if [ ! -f "$build/build.ninja" ]; then
    say "configuring $build"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  targets=(kfaas-local kfaas-operator kfaas-activator hello-function)
  say "building ${targets[*]} (up to date: seconds; the first build: several minutes on 2 cores)"
  cmake --build "$build" --target "${targets[@]}"
fi
command -v kubectl >/dev/null || die "kubectl is not on PATH: install kubectl v1.32 (https://kubernetes.io/docs/tasks/tools/)"
curl --version >/dev/null 2>&1 || die "curl is missing: run hack/install-deps.sh"
local_bin=$build/local/kfaas-local
operator_bin=$build/operator/kfaas-operator
activator_bin=$build/activator/kfaas-activator
for b in "$local_bin" "$operator_bin" "$activator_bin"; do
  [ -x "$b" ] || die "$b is missing: run without --no-build (or KFAAS_BUILD_DIR=<your build dir>)"
done

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "KFAAS_API_PORT=$api_port" "KFAAS_ACTIVATOR_PORT=$activator_port" \
  "KFAAS_ACTIVATOR_ADMIN_PORT=$activator_admin_port" "KFAAS_OPERATOR_ADMIN_PORT=$operator_admin_port"; do
  if port_in_use "${p#*=}"; then
    die "port ${p#*=} is in use (another local-up?): stop that process or choose another with ${p%%=*}=..."
  fi
done

# 2. The example functions in the node's bin dir (bare command names in manifests resolve there).
mkdir -p "$home/bin" "$home/logs"
ln -sfn "$build/examples/hello/hello-function" "$home/bin/hello-function"
ln -sfn "$root/examples/python/main.py" "$home/bin/hello-python"
kubeconfig=$home/kubeconfig
kube_cache=$home/kube-cache
rm -rf "$kube_cache"
kc() { kubectl --kubeconfig "$kubeconfig" --cache-dir "$kube_cache" "$@"; }

# 3. Start everything; stop everything on Ctrl-C, on exit, or when one component dies.
pids=()
names=()
# shellcheck disable=SC2317  # invoked by the traps
cleanup() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    say "stopping ${names[*]}"
    # Activator and operator first, kfaas-local (and with it every function process) last.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      kill -TERM "${pids[$i]}" 2>/dev/null || continue
      for _ in $(seq 1 100); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.05; done
      kill -KILL "${pids[$i]}" 2>/dev/null && echo "local-up: ${names[$i]} did not stop in 5 s: killed" >&2
    done
    wait 2>/dev/null || true
    say "stopped"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pdeathsig=
setpriv --help 2>&1 | grep -q -- --pdeathsig && pdeathsig="setpriv --pdeathsig TERM"
start() { # start <name> <command...>: in the background; output prefixed and kept in logs/<name>.log
  local name=$1
  shift
  # The filter ignores Ctrl-C so the components' last words (shutdown logs) still get through;
  # it ends when the component closes its output. tee + line-buffered sed rather than `sed -u`,
  # which reads its input a byte per system call (~150 per log line, on the CPUs a cold start
  # needs).
  # setpriv --pdeathsig: the component gets SIGTERM even if this script is SIGKILLed.
  $pdeathsig "$@" > >(trap '' INT TERM; tee "$home/logs/$name.log" | stdbuf -oL sed "s/^/[$name] /") 2>&1 &
  pids+=($!)
  names+=("$name")
}
alive() { kill -0 "${pids[$1]}" 2>/dev/null || die "${names[$1]} exited; see $home/logs/${names[$1]}.log"; }
wait_for() { # wait_for <component index> <what> <command...>: polls for 30 s
  local i=$1 what=$2
  shift 2
  for _ in $(seq 1 300); do
    "$@" >/dev/null 2>&1 && return 0
    alive "$i"
    sleep 0.1
  done
  die "${names[$i]}: $what not reached in 30 s; see $home/logs/${names[$i]}.log"
}
# shellcheck disable=SC2317  # invoked through wait_for
ready() { curl -sf --max-time 2 "http://127.0.0.1:$1/readyz"; }

say "starting kfaas-local: API server on https://127.0.0.1:$api_port and the node"
start kfaas-local "$local_bin" --home "$home" --secure-port "$api_port" --pod-ports "$pod_ports" "${extra[@]}"
wait_for 0 "API server ready" kc get --raw /readyz
say "applying crds/functions.kfaas.dev.yaml"
kc apply -f "$root/crds/functions.kfaas.dev.yaml" >/dev/null
wait_for 0 "CRD Established" kc wait --for condition=Established --timeout=5s crd/functions.kfaas.dev

say "starting kfaas-operator (admin http://127.0.0.1:$operator_admin_port)"
# shellcheck disable=SC2086  # the extra flags are meant to be word-split
# The operator's autoscaler loop reads the activator's concurrency over gRPC (1 <-> N replicas).
start operator "$operator_bin" --kubeconfig="$kubeconfig" --local --leader-elect=false \
  --admin-address=127.0.0.1 --admin-port="$operator_admin_port" \
  --activator-stats-address="127.0.0.1:$activator_grpc_port" ${KFAAS_OPERATOR_FLAGS:-}
say "starting kfaas-activator (http://127.0.0.1:$activator_port, admin http://127.0.0.1:$activator_admin_port)"
# shellcheck disable=SC2086
start activator "$activator_bin" --kubeconfig="$kubeconfig" --address=127.0.0.1 \
  --port="$activator_port" --admin-port="$activator_admin_port" --grpc-port="$activator_grpc_port" \
  --drain-timeout=5 ${KFAAS_ACTIVATOR_FLAGS:-}
wait_for 1 "/readyz" ready "$operator_admin_port"
wait_for 2 "/readyz" ready "$activator_admin_port"

cat <<EOF

$(say "kfaas is running")
  kubeconfig:  $kubeconfig
  activator:   http://127.0.0.1:$activator_port
  logs:        $home/logs/

In another terminal:

  export KUBECONFIG=$kubeconfig
  kubectl apply -f $root/examples/hello.yaml
  curl -i http://127.0.0.1:$activator_port/fn/default/hello/     # the first call is a cold start
  kubectl get fn                                                  # Ready, Last Cold Start (ms)
  kubectl get deployments,pods,endpointslices

Ctrl-C stops everything.

EOF

# Foreground until Ctrl-C or until a component exits.
set +e
wait -n "${pids[@]}"
code=$?
echo "local-up: a component exited (status $code); stopping the rest" >&2
exit "$code"

#!/usr/bin/env bash
# Starts the whole local kfaas platform in the foreground: installs and builds what is missing,
# then runs kfaas-local (API server + node running pods as processes), kfaas-operator and
# kfaas-activator (when built). Ctrl-C stops everything; no process is left behind.
#
#   hack/local-up.sh [--no-build] [-- extra kfaas-local flags]
#
# Environment: KFAAS_HOME (default ~/.kfaas: kubeconfig, logs/, bin/), KFAAS_BUILD_DIR (build/),
# KFAAS_API_PORT (6443), KFAAS_ACTIVATOR_PORT (8080), KFAAS_ACTIVATOR_ADMIN_PORT (9090),
# KFAAS_OPERATOR_ADMIN_PORT (9091).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}
home=${KFAAS_HOME:-$HOME/.kfaas}
api_port=${KFAAS_API_PORT:-6443}
activator_port=${KFAAS_ACTIVATOR_PORT:-8080}
activator_admin_port=${KFAAS_ACTIVATOR_ADMIN_PORT:-9090}
operator_admin_port=${KFAAS_OPERATOR_ADMIN_PORT:-9091}

do_build=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    --no-build) do_build=0 ;;
    --) shift; extra+=("$@"); break ;;
    *) extra+=("$1") ;;
  esac
  shift
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. Dependencies and build.
if [ "$do_build" = 1 ]; then
  if ! hack/install-deps.sh --check >/dev/null 2>&1; then
    say "installing missing packages"
    hack/install-deps.sh
  fi
  if [ ! -f "$build/build.ninja" ]; then
    say "configuring $build"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  targets=(kfaas-local hello-function)
  for t in kfaas-operator kfaas-activator; do
    if ninja -C "$build" -t targets all 2>/dev/null | grep -q "^$t:"; then targets+=("$t"); fi
  done
  say "building ${targets[*]} (the first build takes several minutes on 2 cores)"
  cmake --build "$build" --target "${targets[@]}"
fi
local_bin=$build/local/kfaas-local
operator_bin=$build/operator/kfaas-operator
activator_bin=$build/activator/kfaas-activator
if [ ! -x "$local_bin" ]; then
  echo "local-up: $local_bin is missing; run without --no-build" >&2
  exit 1
fi

# 2. The example functions on the node's bin dir (bare command names in manifests resolve there).
mkdir -p "$home/bin" "$home/logs"
[ -x "$build/examples/hello/hello-function" ] &&
  ln -sfn "$build/examples/hello/hello-function" "$home/bin/hello-function"
ln -sfn "$root/examples/python/main.py" "$home/bin/hello-python"

# 3. Start everything; stop everything on Ctrl-C, on exit, or when one component dies.
pids=()
names=()
cleanup() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    say "stopping ${names[*]}"
    # Operator and activator first, the API server (and with it every function process) last.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
      alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() {  # start <name> <command...>: runs in the background, output prefixed with the name
  local name=$1
  shift
  # sed ignores Ctrl-C so the components' last words (shutdown logs) still get through.
  "$@" > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
  names+=("$name")
}

say "starting kfaas-local (API server on https://127.0.0.1:$api_port, node, logs in $home/logs)"
start kfaas-local "$local_bin" --home "$home" --secure-port "$api_port" "${extra[@]}"
export KUBECONFIG=$home/kubeconfig

for _ in $(seq 1 300); do
  if [ -f "$home/apiserver.json" ] && grep -q "\"pid\": *${pids[0]}\b" "$home/apiserver.json" 2>/dev/null &&
    kubectl get --raw /readyz >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "local-up: kfaas-local exited; is port $api_port in use? (KFAAS_API_PORT=... to change)" >&2
    exit 1
  fi
  sleep 0.1
done
kubectl get --raw /readyz >/dev/null || { echo "local-up: kfaas-local is not ready" >&2; exit 1; }
if [ -d "$root/crds" ]; then
  say "applying the CRDs in crds/"
  kubectl apply -f "$root/crds" >/dev/null
fi

with_kubeconfig() {  # the flag if the binary has one, else rely on $KUBECONFIG
  if "$1" --help 2>&1 | grep -q -- '--kubeconfig'; then echo "--kubeconfig=$KUBECONFIG"; fi
}
if [ -x "$operator_bin" ]; then
  say "starting kfaas-operator (admin :$operator_admin_port)"
  flags=($(with_kubeconfig "$operator_bin"))
  "$operator_bin" --help 2>&1 | grep -q -- '--local' && flags+=(--local)
  "$operator_bin" --help 2>&1 | grep -q -- '--admin-port' && flags+=(--admin-port "$operator_admin_port")
  start operator "$operator_bin" "${flags[@]}"
else
  echo "local-up: $operator_bin not built yet: Functions will not be reconciled (Deployments work)"
fi
if [ -x "$activator_bin" ]; then
  say "starting kfaas-activator (http://127.0.0.1:$activator_port, admin :$activator_admin_port)"
  flags=($(with_kubeconfig "$activator_bin"))
  "$activator_bin" --help 2>&1 | grep -q -- '--port' && flags+=(--port "$activator_port")
  "$activator_bin" --help 2>&1 | grep -q -- '--admin-port' &&
    flags+=(--admin-port "$activator_admin_port")
  start activator "$activator_bin" "${flags[@]}"
else
  echo "local-up: $activator_bin not built yet: no HTTP data path (use the pods' ports directly)"
fi

cat <<EOF

kfaas is running. In another terminal:

  export KUBECONFIG=$KUBECONFIG
  kubectl apply -f $root/examples/hello.yaml
  curl -i http://127.0.0.1:$activator_port/fn/default/hello/      # first call: a cold start
  kubectl get functions,deployments,pods,endpointslices

Without the operator, the node alone:
  kubectl apply -f $root/examples/deployments/hello.yaml
  kubectl scale deployment hello-deployment --replicas=3
  kubectl logs -l app=hello-deployment

Function logs: $home/logs/   Ctrl-C stops everything.

EOF

# Foreground until Ctrl-C or until a component exits.
set +e
wait -n "${pids[@]}"
code=$?
echo "local-up: a component exited (status $code); stopping the rest" >&2
exit "$code"

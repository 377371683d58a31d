#!/usr/bin/env bash
# Throughput and latency of the activator's data path against nginx as a reverse proxy.
#
#   hack/bench-activator.sh                 # 64 and 256 connections, 10 s each
#   DURATION=5s CONNS="64" hack/bench-activator.sh
#
# Same backend for every row: nginx `return 200` (1 worker, its own process). Rows: direct to the
# backend, through nginx as a reverse proxy (2 workers, keepalive 256 upstream), through
# kfaas-activator (function warm; routed by Host and by path). nginx runs as this user with a
# generated config in a temp dir; never the system service. Prints a table with ratios to nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}
duration=${DURATION:-10s}
conns=${CONNS:-"64 256"}
threads=${WRK_THREADS:-2}
act_threads=${ACTIVATOR_THREADS:-2}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx" >&2; exit 1; }
if [[ ! -x $build/activator/kfaas-activator ]]; then
  cmake -S "$root" -B "$build" -G Ninja >/dev/null
  cmake --build "$build" --target kfaas-activator
fi

tmp=$(mktemp -d /tmp/kfaas-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -f $tmp/backend/nginx.pid ]] && kill "$(cat "$tmp/backend/nginx.pid")" 2>/dev/null || true
  [[ -f $tmp/proxy/nginx.pid ]] && kill "$(cat "$tmp/proxy/nginx.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
backend_port=$(free_port)
proxy_port=$(free_port)
act_port=$(free_port)
admin_port=$(free_port)

nginx_conf() {  # dir workers body
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<CONF
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log warn;
daemon on;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  keepalive_requests 1000000;
  $3
}
CONF
}
nginx_conf "$tmp/backend" 1 "server { listen 127.0.0.1:$backend_port; location / { return 200 'hello'; } }"
nginx_conf "$tmp/proxy" 2 "upstream be { server 127.0.0.1:$backend_port; keepalive 256; }
  server { listen 127.0.0.1:$proxy_port; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
nginx -c "$tmp/backend/nginx.conf" -e "$tmp/backend/error.log"
nginx -c "$tmp/proxy/nginx.conf" -e "$tmp/proxy/error.log"

cat >"$tmp/functions.yaml" <<YAML
apiVersion: kfaas.dev/v1alpha1
kind: Function
metadata: {name: hello, namespace: default}
spec: {image: x, timeoutSeconds: 300}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: hello-1
  namespace: default
  labels: {kubernetes.io/service-name: hello}
addressType: IPv4
ports: [{name: http, port: $backend_port}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
YAML
"$build/activator/kfaas-activator" --static-functions "$tmp/functions.yaml" --address 127.0.0.1 \
  --port "$act_port" --admin-port "$admin_port" --grpc-port -1 --threads "$act_threads" --log-level warning \
  --max-concurrency 100000 >"$tmp/activator.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$act_port/fn/default/hello/" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$proxy_port/" >/dev/null

# run NAME URL [HOST]: prints "rps p50 p99" (ms)
run() {
  local url=$2 host=${3:-} c=$4 args=()
  [[ -n $host ]] && args=(-H "Host: $host")
  wrk -t"$threads" -c"$c" -d1s "${args[@]}" "$url" >/dev/null 2>&1 || true  # warm-up
  local out
  out=$(wrk -t"$threads" -c"$c" -d"$duration" --latency "${args[@]}" "$url" 2>&1)
  local rps p50 p99 errs
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${errs:-}"
}
to_ms() {  # wrk prints 1.23ms / 456.00us / 1.2s
  awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/,"",v); printf "%.3f", v/1000 }
    else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.3f", v*1000 } else print v }'
}

echo "kfaas activator benchmark: wrk -t$threads, $duration per row, backend nginx return 200,"
echo "activator --threads $act_threads, nginx proxy 2 workers keepalive 256; $(nproc) cores shared by all."
printf "\n%-22s %5s %12s %9s %9s %9s %12s\n" "path" "conns" "req/s" "p50 ms" "p99 ms" "x nginx" "p99-nginx"
for c in $conns; do
  read -r d_rps d_p50 d_p99 d_err < <(run direct "http://127.0.0.1:$backend_port/" "" "$c")
  read -r n_rps n_p50 n_p99 n_err < <(run nginx "http://127.0.0.1:$proxy_port/" "" "$c")
  read -r h_rps h_p50 h_p99 h_err < <(run host "http://127.0.0.1:$act_port/" "hello.default.kfaas.local" "$c")
  read -r p_rps p_p50 p_p99 p_err < <(run path "http://127.0.0.1:$act_port/fn/default/hello/" "" "$c")
  row() { printf "%-22s %5s %12s %9s %9s %9s %12s %s\n" "$1" "$c" "$2" "$3" "$4" \
    "$(awk -v a="$2" -v b="$n_rps" 'BEGIN{printf "%.2f", a/b}')" \
    "$(awk -v a="$4" -v b="$n_p99" 'BEGIN{printf "%+.3f", a-b}')" "${5:-}"; }
  row "direct (backend)" "$d_rps" "$d_p50" "$d_p99" "$d_err"
  row "nginx proxy" "$n_rps" "$n_p50" "$n_p99" "$n_err"
  row "activator (Host)" "$h_rps" "$h_p50" "$h_p99" "$h_err"
  row "activator (/fn/ path)" "$p_rps" "$p_p50" "$p_p99" "$p_err"
done
echo
echo "activator RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/"${pids[0]}"/status)"

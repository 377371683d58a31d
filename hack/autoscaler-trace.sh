#!/usr/bin/env bash
# Prints the autoscaler's recorded decisions as a table: time, function, in-flight (observed
# concurrency over all activators), its stable and panic averages, desired replicas, the
# Deployment's replicas and ready replicas, panic mode, and what was written.
#
#   hack/autoscaler-trace.sh                          # all functions, from the operator on :9091
#   hack/autoscaler-trace.sh -f default/hello         # one function
#   hack/autoscaler-trace.sh -u http://10.0.0.5:9091  # another operator admin address
#   hack/autoscaler-trace.sh -w 2 -f default/hello    # refresh every 2 s (Ctrl-C to stop)
#   hack/autoscaler-trace.sh trace.txt                # a trace saved earlier
#   hack/autoscaler-trace.sh -c                       # only rows where replicas were written
#
# The trace is served by the leading kfaas-operator at /debug/autoscaler/trace (its admin port,
# default 9091; `kubectl port-forward deploy/kfaas-operator 9091` on a cluster).
set -euo pipefail
url=${KFAAS_OPERATOR_ADMIN:-http://127.0.0.1:9091}
fn=""
watch=""
changes=""
file=""
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -u|--url) url=$2; shift 2 ;;
    -f|--function) fn=$2; shift 2 ;;
    -w|--watch) watch=$2; shift 2 ;;
    -c|--changes) changes=1; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "autoscaler-trace: unknown flag $1" >&2; usage 2 ;;
    *) file=$1; shift ;;
  esac
done

fetch() {
  if [ -n "$file" ]; then
    cat "$file"
    return
  fi
  local q=""
  [ -n "$fn" ] && q="?function=${fn//\//%2F}"
  if ! curl -fsS --max-time 5 "$url/debug/autoscaler/trace$q"; then
    echo "autoscaler-trace: cannot read $url/debug/autoscaler/trace: is kfaas-operator running" \
         "and leading, and is its admin port $url? (set -u or KFAAS_OPERATOR_ADMIN)" >&2
    return 1
  fi
}

show() {
  local out
  out=$(fetch) || return 1
  if [ -n "$fn" ] && [ -n "$file" ]; then
    out=$(printf '%s\n' "$out" | awk -v f="$fn" 'NR == 1 || $2 == f')
  fi
  if [ -n "$changes" ]; then
    out=$(printf '%s\n' "$out" | awk 'NR == 1 || $NF != "-"')
  fi
  printf '%s\n' "$out"
  local rows
  rows=$(printf '%s\n' "$out" | tail -n +2 | grep -c . || true)
  [ "$rows" -gt 0 ] || echo "(no decisions recorded yet: the trace lists functions with load or changes)"
}

if [ -n "$watch" ]; then
  while true; do
    clear 2>/dev/null || true
    show | tail -n 40 || true
    sleep "$watch"
  done
else
  show
fi

#!/usr/bin/env bash
# End-to-end cold starts through the activator on the local platform (hack/local-up.sh with
# free ports and a temporary KFAAS_HOME): for each example function, N times: wait until it is
# at zero (Deployment 0 replicas, its process gone, the activator without instances), then
# time one request from sending it to the first byte of the answer (in a client process of its
# own). Prints p50/p90/p99 of that and of the activator's phases
# (kfaas_cold_start_phase_seconds, each from the request's arrival; per run from the
# histogram's sum/count deltas), then the stated anchors.
#
#   hack/bench-coldstart.sh [--runs N] [--functions hello,hello-python] [--no-build]
#
#   --compare OLD_ACTIVATOR   A/B: also runs a second local platform whose activator is the
#                             binary OLD_ACTIVATOR (e.g. a copy of a previous build), alternating
#                             cold starts between the two (in alternating order, each with both
#                             platforms at zero) so both see the same load; prints both tables
#                             and the new/old ratios.
#   --compare-local OLD_LOCAL  A/B of kfaas-local instead (or as well): the old platform runs the
#                             kfaas-local binary OLD_LOCAL.
#   --compare-operator OLD_OP  the same for kfaas-operator (alone or with the others).
#   --local-flags 'F...'      extra kfaas-local flags of the new platform (word-split), e.g.
#   --old-local-flags 'F...'  '--watch-batch-ms 0' vs '--watch-batch-ms 5': an A/B of one
#                             binary's settings (either flag alone also makes it an A/B).
#
# Numbers depend on the machine's load: the load average is printed with them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}
runs=20
functions=hello,hello-python
do_build=1
compare=
compare_local=
compare_operator=
local_flags=
old_local_flags=
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --runs | -n) runs=$2; shift ;;
    --functions) functions=$2; shift ;;
    --no-build) do_build=0 ;;
    --compare) compare=$2; shift ;;
    --compare-local) compare_local=$2; shift ;;
    --compare-operator) compare_operator=$2; shift ;;
    --local-flags) local_flags=$2; shift ;;
    --old-local-flags) old_local_flags=$2; shift ;;
    *) echo "bench-coldstart: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$do_build" = 1 ]; then
  if [ ! -f "$build/build.ninja" ]; then
    echo "==> configuring $build"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  echo "==> building kfaas-local kfaas-operator kfaas-activator hello-function"
  cmake --build "$build" --target kfaas-local kfaas-operator kfaas-activator hello-function >/dev/null
fi

if [ -n "$compare" ]; then
  [ -x "$compare" ] || { echo "bench-coldstart: --compare $compare is not an executable" >&2; exit 2; }
  compare=$(readlink -f "$compare")
fi
if [ -n "$compare_operator" ]; then
  [ -x "$compare_operator" ] || { echo "bench-coldstart: --compare-operator $compare_operator is not an executable" >&2; exit 2; }
  compare_operator=$(readlink -f "$compare_operator")
fi
if [ -n "$compare_local" ]; then
  [ -x "$compare_local" ] || { echo "bench-coldstart: --compare-local $compare_local is not an executable" >&2; exit 2; }
  compare_local=$(readlink -f "$compare_local")
fi

exec /usr/bin/python3 - "$root" "$build" "$runs" "$functions" "$compare" "$compare_local" \
  "$local_flags" "$old_local_flags" "$compare_operator" <<'EOF'
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

root, build, runs, functions = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
compare, compare_local, local_flags, old_local_flags, compare_operator = sys.argv[5:10]
ab = bool(compare or compare_local or compare_operator or old_local_flags or local_flags)
sys.path.insert(0, os.path.join(root, "tests", "e2e"))
from localup import LocalUp, alive, wait_until  # noqa: E402

MANIFESTS = {"hello": "examples/hello.yaml", "hello-python": "examples/python.yaml"}
COMMANDS = {"hello": "hello-function", "hello-python": "hello-python"}
STARTUP = "ready - appeared"  # ~ the function's own start-up (exec to first good probe)
PHASES = ["scale_acknowledged", "instance_appeared", "instance_ready", "first_byte_forwarded"]


def phase_sums(p, name):
    out, text = {}, p.metrics()
    for ph in PHASES:
        sel = r'\{[^}]*function="%s"[^}]*phase="%s"[^}]*\}' % (re.escape(name), ph)
        s = re.search(r"^kfaas_cold_start_phase_seconds_sum%s (\S+)$" % sel, text, re.M)
        c = re.search(r"^kfaas_cold_start_phase_seconds_count%s (\S+)$" % sel, text, re.M)
        out[ph] = (float(s.group(1)) if s else 0.0, float(c.group(1)) if c else 0.0)
    return out


def at_zero(p, name):
    r = p.kubectl("get", "deployment", name, "-o", "jsonpath={.spec.replicas} {.status.replicas}")
    if r.stdout.split()[:1] != ["0"] or p.function_pids(COMMANDS[name]):
        return False
    with urllib.request.urlopen("http://127.0.0.1:%d/debug/functions" % p.admin_port, timeout=5) as f:
        fns = {x["name"]: x for x in json.load(f)}
    f = fns.get(name, {})
    return f.get("instances", 1) == 0 and not f.get("activating") and f.get("inFlight", 1) == 0


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def prepare(p, name):
    p.kubectl("apply", "-f", MANIFESTS[name])
    p.kubectl("patch", "fn", name, "--type=merge", "-p", '{"spec":{"scale":{"idleWindowSeconds":1}}}')
    wait_until("%s routed" % name, lambda: p.get("/fn/default/%s/" % name)[0] == 200, timeout=30)
    rows = {"end to end (client)": [], "X-Kfaas-Cold-Start": []}
    rows.update({ph: [] for ph in PHASES})
    rows[STARTUP] = []
    return rows


# The timed client is a process of its own: in this one, the platforms' log readers (threads,
# one per platform) would hold the GIL now and then just as the answer arrives.
CLIENT = r"""
import http.client, sys, time
for line in sys.stdin:
    port, path = line.split()
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    conn.connect()
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()  # returns once the status line (the first bytes) arrived
    t1 = time.perf_counter()
    resp.read()
    conn.close()
    print(resp.status, resp.getheader("X-Kfaas-Cold-Start") or "-", (t1 - t0) * 1000, flush=True)
"""
client = subprocess.Popen([sys.executable, "-c", CLIENT], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)


def timed_get(port, path):
    client.stdin.write("%d %s\n" % (port, path))
    client.stdin.flush()
    status, cold, ms = client.stdout.readline().split()
    return int(status), (None if cold == "-" else cold), float(ms)


def run_once(p, name, rows, i):
    wait_until("%s at zero" % name, lambda: at_zero(p, name), timeout=30, interval=0.1)
    before = phase_sums(p, name)
    status, cold, ms = timed_get(p.port, "/fn/default/%s/" % name)
    if status != 200 or cold is None:
        raise SystemExit("%s run %d: %d, X-Kfaas-Cold-Start %r: not a cold start" %
                         (name, i, status, cold))
    rows["end to end (client)"].append(ms)
    rows["X-Kfaas-Cold-Start"].append(float(cold))
    after = wait_until("phase metrics of run %d" % i,
                       lambda: (lambda a: a if a["first_byte_forwarded"][1] > before["first_byte_forwarded"][1] else None)(phase_sums(p, name)))
    got = {ph: (after[ph][0] - before[ph][0]) * 1000 for ph in PHASES if after[ph][1] > before[ph][1]}
    for ph, v in got.items():
        rows[ph].append(v)
    if "instance_appeared" in got and "instance_ready" in got:
        rows[STARTUP].append(got["instance_ready"] - got["instance_appeared"])


def overlay_build(activator, local, flags, operator):
    """A build dir whose binaries are the real build's, but with the given kfaas-activator,
    kfaas-operator and kfaas-local (a wrapper script adding `flags` when there are any)."""
    d = tempfile.mkdtemp(prefix="kfaas-bench-")
    for rel, target in (("operator/kfaas-operator", operator),
                        ("examples/hello/hello-function", os.path.join(build, "examples/hello/hello-function"))):
        os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
        os.symlink(target, os.path.join(d, rel))
    os.makedirs(os.path.join(d, "activator"))
    os.symlink(activator, os.path.join(d, "activator", "kfaas-activator"))
    os.makedirs(os.path.join(d, "local"))
    target = os.path.join(d, "local", "kfaas-local")
    if flags:
        with open(target, "w") as f:
            f.write('#!/bin/sh\nexec %s %s "$@"\n' % (shlex.quote(local), flags))
        os.chmod(target, 0o755)
    else:
        os.symlink(local, target)
    return d


print("machine: %d cores, load average %s; %d cold starts per function" %
      (os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3]), runs), flush=True)
variants = [("new", build)]
overlays = []
if ab:
    new_act = os.path.join(build, "activator", "kfaas-activator")
    new_local = os.path.join(build, "local", "kfaas-local")
    new_op = os.path.join(build, "operator", "kfaas-operator")
    old_b = overlay_build(compare or new_act, compare_local or new_local, old_local_flags,
                          compare_operator or new_op)
    overlays.append(old_b)
    new_b = build
    if local_flags:
        new_b = overlay_build(new_act, new_local, local_flags, new_op)
        overlays.append(new_b)
    variants = [("old", old_b), ("new", new_b)]
    print("A/B, runs alternate: old = activator %s, operator %s, kfaas-local %s %s; new = "
          "activator %s, operator %s, kfaas-local %s %s" %
          (compare or new_act, compare_operator or new_op, compare_local or new_local,
           old_local_flags, new_act, new_op, new_local, local_flags), flush=True)
results = {v: {} for v, _ in variants}
try:
    platforms = {}
    try:
        for v, b in variants:
            platforms[v] = LocalUp(root, b).__enter__()
        for name in functions:
            print("==> %s: %d cold starts (idleWindowSeconds 1)" % (name, runs), flush=True)
            rows = {v: prepare(platforms[v], name) for v, _ in variants}
            for i in range(runs):
                # Each run starts with every platform at zero (the other one's scale-down done,
                # so no control-plane work of it overlaps), and the order alternates.
                order = variants if i % 2 == 0 else variants[::-1]
                for v, _ in order:
                    for w, _ in variants:
                        wait_until("%s at zero (%s)" % (name, w), lambda: at_zero(platforms[w], name),
                                   timeout=30, interval=0.1)
                    run_once(platforms[v], name, rows[v], i)
            for v, _ in variants:
                results[v][name] = rows[v]
    finally:
        for p in platforms.values():
            p.__exit__(None, None, None)
finally:
    client.stdin.close()
    client.wait()
    for d in overlays:
        shutil.rmtree(d, ignore_errors=True)

print()
print("Cold start through the activator, from the request to its first byte (ms);")
print("the indented phases (kfaas_cold_start_phase_seconds) are measured from the request's arrival;")
print("ready - appeared: from the instance's pod appearing to its first good probe (~ its own start-up).")
for v, _ in variants:
    print()
    if ab:
        print("[%s]" % v)
    print("%-14s %-24s %5s %8s %8s %8s %8s" % ("function", "measure", "n", "p50", "p90", "p99", "max"))
    for name, rows in results[v].items():
        for measure, xs in rows.items():
            label = measure if measure in ("end to end (client)", "X-Kfaas-Cold-Start") else "  " + measure
            print("%-14s %-24s %5d %8.1f %8.1f %8.1f %8.1f" %
                  (name, label, len(xs), pct(xs, .5), pct(xs, .9), pct(xs, .99), max(xs) if xs else float("nan")))
if ab:
    print()
    print("new / old (lower is better)")
    print("%-14s %-24s %8s %8s %8s" % ("function", "measure", "p50", "p90", "p99"))
    for name in results["new"]:
        for measure, xs in results["new"][name].items():
            ys = results["old"][name].get(measure, [])
            if not xs or not ys:
                continue
            label = measure if measure in ("end to end (client)", "X-Kfaas-Cold-Start") else "  " + measure
            print("%-14s %-24s %8.2f %8.2f %8.2f" % (name, label, pct(xs, .5) / pct(ys, .5),
                                                     pct(xs, .9) / pct(ys, .9), pct(xs, .99) / pct(ys, .99)))
print("load average after the runs: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
print()
print("Stated references (/work/shared/reference/anchors.md), not measured here:")
print("  Knative Serving   ~0.8 s normally, 2-10 s with the ClusterIP fallback (users, #15477)")
print("  KEDA HTTP add-on  3-20 s though the pod was ready in 2-3 s (users, #586, #1385)")
print("  OpenFaaS          1-2 s on Kubernetes with a pre-pulled image (published)")
print("  Fission           ~100 ms from a warm pool (vendor claim)")
print("  AWS Lambda        Rust 10-50 ms, Python 100-400 ms")
EOF

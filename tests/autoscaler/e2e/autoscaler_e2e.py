#!/usr/bin/python3
"""End to end: replicas follow load on the local platform, through the real binaries.

Starts kfaas-local (API server + node), kfaas-activator (--grpc-port=0: its bound port is read
from its log) and kfaas-operator (hosting the autoscaler loop, fed by the activator's stats
stream) from a build directory, deploys hello-function (examples/hello), then:

  1. burst: N clients through the activator; the loop writes ceil(N / target) replicas (panic,
     at once) - within 10 s of the burst start - and they become ready;
  2. while the load runs, a Python gRPC client generated from proto/externalscaler.proto calls
     the real activator's four KEDA RPCs (the activator has one unreachable --peers entry,
     which must not fail or slow the answers), and the operator's /metrics exports
     kfaas_autoscaler_desired_replicas and kfaas_autoscaler_panic_mode;
  3. the load stops: replicas fall gradually (not before the scale-down delay, never straight
     from N to 1), to 1 - never to 0;
  4. idle: the activator takes the Deployment to 0 after the Function's idleWindowSeconds;
  and the Function carries ScaledUp / ScaledDown Events. Beside it, with a stand-in of KEDA's
  ScaledObject CRD installed, a Function with spec.scale.autoscaler: keda gets a ScaledObject
  pointing at the activator's gRPC port.

  autoscaler_e2e.py --build build                  # test: exits 0/1 (77 = skipped)
  autoscaler_e2e.py --build build --bench          # prints the tracking table, no asserts
  options: --clients 20 --target 2 --sleep-ms 500 --load-seconds 15 --no-down

Skips (exit 77) only when a binary is not built.
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SKIP = 77
ROOT = os.environ.get("KFAAS_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception:  # noqa: BLE001 - a condition that is not there yet
            pass
        time.sleep(step)
    return None


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


class Platform:
    def __init__(self, build, tmp):
        self.build, self.tmp = build, tmp
        self.home = os.path.join(tmp, "home")
        self.procs = []
        self.env = dict(os.environ, HOME=tmp, KUBECONFIG=os.path.join(self.home, "kubeconfig"),
                        KFAAS_HOME=self.home)

    def start(self, name, args, stdout=None):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(args, stdout=stdout or log,
                             stderr=log if stdout else subprocess.STDOUT, env=self.env)
        self.procs.append((name, p))
        return p

    def kubectl(self, *args, check=True):
        r = subprocess.run(["kubectl", "--cache-dir", os.path.join(self.tmp, "kcache"), *args],
                           capture_output=True, text=True, env=self.env, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("kubectl %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log")) as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, name, lines=30):
        return "".join(self.log(name).splitlines(True)[-lines:])


class Load:
    """N clients calling the function in a loop; counts requests in flight."""

    def __init__(self, url, clients):
        self.url, self.clients = url, clients
        self.in_flight = 0
        self.ok = self.errors = 0
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def run(self):
        while not self.stop_event.is_set():
            with self.lock:
                self.in_flight += 1
            try:
                status, _ = http_get(self.url, timeout=30)
                good = status == 200
            except Exception:  # noqa: BLE001 - counted as an error
                good = False
            with self.lock:
                self.in_flight -= 1
                if good:
                    self.ok += 1
                else:
                    self.errors += 1

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=60)


class DeploymentWatch:
    """`kubectl get deployment -w`: when spec.replicas and status.readyReplicas changed (precise
    timing; the polling loop's kubectl calls take ~0.1-0.5 s each)."""

    def __init__(self, plat, name):
        self.changes = []  # (monotonic time, replicas, ready)
        self.proc = plat.start("watch", ["kubectl", "--cache-dir", os.path.join(plat.tmp, "kcache"),
                                         "get", "deployment", name, "-w", "-o", "json"],
                               stdout=subprocess.PIPE)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        dec = json.JSONDecoder()
        buf = ""
        for line in self.proc.stdout:
            buf += line.decode()
            while True:
                buf = buf.lstrip()
                try:
                    obj, end = dec.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                state = (obj.get("spec", {}).get("replicas", 1),
                         obj.get("status", {}).get("readyReplicas", 0))
                if not self.changes or self.changes[-1][1:] != state:
                    self.changes.append((time.monotonic(),) + state)

    def first(self, pred, after):
        for t, replicas, ready in list(self.changes):
            if t >= after and pred(replicas, ready):
                return t
        return None


def keda_client(tmp):
    """Python stubs generated from proto/externalscaler.proto (Debian's grpc_tools)."""
    out = os.path.join(tmp, "keda-py")
    os.makedirs(out, exist_ok=True)
    subprocess.check_call([
        sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "proto"),
        "--python_out=" + out, "--grpc_python_out=" + out, "externalscaler.proto"])
    sys.path.insert(0, out)
    import grpc  # noqa: E402
    import externalscaler_pb2 as pb  # noqa: E402
    import externalscaler_pb2_grpc as pb_grpc  # noqa: E402
    return grpc, pb, pb_grpc


def check_keda(tmp, address, fn, target, clients, failures):
    """All four KEDA RPCs against the real activator while the load runs."""
    grpc, pb, pb_grpc = keda_client(tmp)
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.ExternalScalerStub(channel)
    ref = pb.ScaledObjectRef(name=fn, namespace="default", scalerMetadata={})
    metric = "kfaas-default-%s-concurrency" % fn
    try:
        start = time.monotonic()
        active = stub.IsActive(ref, timeout=5).result
        spec = stub.GetMetricSpec(ref, timeout=5)
        metrics = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName=metric),
                                  timeout=5)
        elapsed = time.monotonic() - start
        stream = stub.StreamIsActive(ref, timeout=10)
        first = next(stream)
        stream.cancel()
    except grpc.RpcError as e:
        failures.append("KEDA RPC against the activator failed: %s %s" % (e.code(), e.details()))
        return
    finally:
        channel.close()
    value = metrics.metricValues[0].metricValue if metrics.metricValues else -1
    print("KEDA client -> %s: IsActive %s, GetMetricSpec %s/%d, GetMetrics %d, StreamIsActive %s "
          "(%.0f ms for the three unary calls, one peer unreachable)"
          % (address, active, spec.metricSpecs[0].metricName if spec.metricSpecs else "-",
             spec.metricSpecs[0].targetSize if spec.metricSpecs else -1, value, first.result,
             elapsed * 1000))
    if not active or not first.result:
        failures.append("IsActive/StreamIsActive not true under load")
    if len(spec.metricSpecs) != 1 or spec.metricSpecs[0].metricName != metric or \
            spec.metricSpecs[0].targetSize != target:
        failures.append("GetMetricSpec: want %s/%d, got %s" % (metric, target, spec))
    if not (clients // 2 <= value <= clients):
        failures.append("GetMetrics: concurrency %d, want between %d and %d (the clients)"
                        % (value, clients // 2, clients))
    if elapsed > 2.0:
        failures.append("KEDA answers took %.1f s with one peer unreachable" % elapsed)


def metric_value(text, name, fn):
    m = re.search(r'^%s\{[^}]*function="%s"[^}]*\} ([0-9.eE+-]+)$' % (name, fn), text, re.M)
    return float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("KFAAS_BINARY_DIR", os.path.join(ROOT, "build")))
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--target", type=int, default=2)
    ap.add_argument("--sleep-ms", type=int, default=500)
    ap.add_argument("--load-seconds", type=float, default=15)
    ap.add_argument("--stable-window", type=int, default=20)
    ap.add_argument("--scale-down-delay", type=int, default=10)
    ap.add_argument("--idle-window", type=int, default=60)
    ap.add_argument("--no-down", action="store_true", help="stop after the load")
    args = ap.parse_args()

    local = os.path.join(args.build, "local", "kfaas-local")
    operator = os.path.join(args.build, "operator", "kfaas-operator")
    activator = os.path.join(args.build, "activator", "kfaas-activator")
    hello = os.path.join(args.build, "examples", "hello", "hello-function")
    for b in (local, operator, activator, hello):
        if not os.access(b, os.X_OK):
            print("SKIP: %s is not built" % b)
            return SKIP

    tmp = tempfile.mkdtemp(prefix="kfaas-as-e2e-", dir=os.environ.get("KFAAS_TEST_TMP") or None)
    plat = Platform(args.build, tmp)
    try:
        return run(args, plat, local, operator, activator, hello)
    finally:
        plat.stop()
        if os.environ.get("KFAAS_KEEP_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, plat, local, operator, activator, hello):
    os.makedirs(os.path.join(plat.home, "bin"), exist_ok=True)
    os.symlink(os.path.abspath(hello), os.path.join(plat.home, "bin", "hello-function"))
    plat.start("kfaas-local", [local, "--home=" + plat.home, "--secure-port=auto"])
    if not wait_for(lambda: plat.kubectl("get", "--raw", "/readyz") is not None, 60, 0.2):
        print("kfaas-local did not become ready:\n" + plat.log_tail("kfaas-local"))
        return 1
    plat.kubectl("apply", "-f", os.path.join(ROOT, "crds"))

    port, admin, op_admin, dead_peer = free_port(), free_port(), free_port(), free_port()
    kubeconfig = plat.env["KUBECONFIG"]
    plat.start("activator", [activator, "--kubeconfig=" + kubeconfig, "--address=127.0.0.1",
                             "--port=%d" % port, "--admin-port=%d" % admin, "--grpc-port=0",
                             "--peers=127.0.0.1:%d" % dead_peer])
    grpc_port = wait_for(lambda: int(re.search(r"gRPC serving on port (\d+)",
                                                plat.log("activator")).group(1)), 30, 0.1)
    if not grpc_port:
        print("the activator did not log its gRPC port:\n" + plat.log_tail("activator"))
        return 1
    grpc_address = "127.0.0.1:%d" % grpc_port
    plat.start("operator", [operator, "--kubeconfig=" + kubeconfig, "--local",
                            "--leader-elect=false", "--admin-port=%d" % op_admin,
                            "--activator-stats-address=" + grpc_address,
                            "--autoscaler-stable-window-seconds=%d" % args.stable_window,
                            "--autoscaler-scale-down-delay-seconds=%d" % args.scale_down_delay])
    op_url = "http://127.0.0.1:%d" % op_admin
    if not wait_for(lambda: http_get(op_url + "/debug/autoscaler/trace")[0] == 200, 30, 0.2):
        print("kfaas-operator does not serve /debug/autoscaler/trace:\n"
              + plat.log_tail("operator"))
        return 1

    # KEDA mode: the operator creates the ScaledObject once the CRD is there.
    plat.kubectl("apply", "-f", os.path.join(ROOT, "tests", "autoscaler", "testdata",
                                             "keda-scaledobject-crd.yaml"))
    keda_fn = {
        "apiVersion": "kfaas.dev/v1alpha1", "kind": "Function",
        "metadata": {"name": "keda-scaled", "namespace": "default"},
        "spec": {"image": "example/hello-function", "command": ["hello-function"],
                 "scale": {"min": 0, "max": 7, "target": 3, "autoscaler": "keda"}},
    }
    keda_path = os.path.join(plat.tmp, "keda-fn.json")
    with open(keda_path, "w") as f:
        json.dump(keda_fn, f)
    plat.kubectl("apply", "-f", keda_path)

    fn = "autoscaled"
    manifest = {
        "apiVersion": "kfaas.dev/v1alpha1", "kind": "Function",
        "metadata": {"name": fn, "namespace": "default"},
        "spec": {"image": "example/hello-function", "command": ["hello-function"],
                 "readinessPath": "/healthz",
                 "scale": {"min": 0, "max": 50, "target": args.target,
                           "idleWindowSeconds": args.idle_window}},
    }
    path = os.path.join(plat.tmp, "fn.json")
    with open(path, "w") as f:
        json.dump(manifest, f)
    plat.kubectl("apply", "-f", path)

    base = "http://127.0.0.1:%d/fn/default/%s" % (port, fn)
    if not wait_for(lambda: http_get(base + "/", timeout=30)[0] == 200, 90, 0.5):
        print("the function never answered through the activator:\n" + plat.log_tail("activator"))
        return 1

    def deployment():
        d = json.loads(plat.kubectl("get", "deployment", fn, "-o", "json"))
        return d["spec"].get("replicas", 1), d.get("status", {}).get("readyReplicas", 0)

    watch = DeploymentWatch(plat, fn)
    wait_for(lambda: watch.changes, 10)
    failures = []
    want = min(50, math.ceil(args.clients / args.target))
    load = Load("%s/sleep?ms=%d" % (base, args.sleep_ms), args.clients)
    samples = []
    t0 = time.monotonic()
    load.start()
    reached = reached_ready = None
    checked = False
    while time.monotonic() - t0 < args.load_seconds:
        replicas, ready = deployment()
        t = time.monotonic() - t0
        samples.append((t, load.in_flight, replicas, ready))
        if reached is None and replicas >= want:
            reached = t
        if reached_ready is None and ready >= want:
            reached_ready = t
        if reached_ready is not None and not checked and not args.bench:
            checked = True
            check_keda(plat.tmp, grpc_address, fn, args.target, args.clients, failures)
            text = http_get(op_url + "/metrics")[1].decode()
            desired = metric_value(text, "kfaas_autoscaler_desired_replicas", fn)
            panic = metric_value(text, "kfaas_autoscaler_panic_mode", fn)
            print("operator /metrics: kfaas_autoscaler_desired_replicas %s, "
                  "kfaas_autoscaler_panic_mode %s" % (desired, panic))
            if desired != want or panic is None:
                failures.append("operator /metrics: desired %s (want %d), panic gauge %s"
                                % (desired, want, panic))
        time.sleep(0.25)
    load.stop()
    t_stop = time.monotonic() - t0

    first_down = reached_one = zero = None
    went_zero_early = False
    if not args.no_down:
        deadline = t_stop + args.stable_window + args.scale_down_delay + args.idle_window + 60
        while time.monotonic() - t0 < deadline:
            replicas, ready = deployment()
            t = time.monotonic() - t0
            samples.append((t, load.in_flight, replicas, ready))
            if first_down is None and replicas < want:
                first_down = t
            if reached_one is None and replicas == 1:
                reached_one = t
            if replicas == 0:
                zero = t
                went_zero_early = reached_one is None
                break
            time.sleep(0.5)

    # The watch's timing where it saw the change (the polling loop's otherwise).
    w_reached = watch.first(lambda r, _: r >= want, t0)
    w_ready = watch.first(lambda _, ready: ready >= want, t0)
    if w_reached is not None:
        reached = w_reached - t0
    if w_ready is not None:
        reached_ready = w_ready - t0

    print("%8s %10s %9s %9s %8s" % ("T(s)", "IN-FLIGHT", "DESIRED", "REPLICAS", "READY"))
    last = None
    for t, inflight, replicas, ready in samples:
        row = (inflight, replicas, ready)
        if row != last:  # only the changes
            print("%8.2f %10d %9d %9d %8d" % (t, inflight, math.ceil(inflight / args.target),
                                              replicas, ready))
        last = row
    print()
    print("clients %d, target %d -> %d replicas; requests ok %d, errors %d"
          % (args.clients, args.target, want, load.ok, load.errors))
    fmt = lambda v: "%.2f" % v if v is not None else "never"  # noqa: E731
    print("burst at 0: replicas written %s s, ready %s s; load stopped %.2f s; first scale-down "
          "%s s; at 1 %s s; at 0 (activator) %s s"
          % (fmt(reached), fmt(reached_ready), t_stop, fmt(first_down), fmt(reached_one),
             fmt(zero)))
    print("RESULT written=%s ready=%s" % (fmt(reached), fmt(reached_ready)))
    print()
    subprocess.run([os.path.join(ROOT, "hack", "autoscaler-trace.sh"), "-c", "-u", op_url,
                    "-f", "default/" + fn], stdout=sys.stdout)

    if args.bench:
        return 0
    so = wait_for(lambda: json.loads(plat.kubectl("get", "scaledobjects.keda.sh", "keda-scaled",
                                                  "-o", "json")), 20, 0.5)
    if not so:
        failures.append("no ScaledObject for the Function with spec.scale.autoscaler: keda")
    else:
        trigger = so["spec"]["triggers"][0]
        print("ScaledObject keda-scaled: %s -> %s (min %s, max %s)"
              % (trigger["type"], trigger["metadata"]["scalerAddress"],
                 so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]))
        if trigger["metadata"]["scalerAddress"] != grpc_address or \
                so["spec"]["maxReplicaCount"] != 7:
            failures.append("ScaledObject does not point at %s with max 7: %s"
                            % (grpc_address, so["spec"]))
    if reached is None or reached > 10:
        failures.append("replicas did not reach %d within 10 s of the burst" % want)
    if reached_ready is None:
        failures.append("%d replicas never became ready during the load" % want)
    if max(s[2] for s in samples) > 50:
        failures.append("replicas went above scale.max")
    if not args.no_down:
        down = [s[2] for s in samples if s[0] > t_stop]
        if first_down is None or first_down - t_stop < args.scale_down_delay - 1:
            failures.append("scale-down came %s s after the load stopped, before the %d s delay"
                            % (fmt(first_down and first_down - t_stop), args.scale_down_delay))
        if reached_one is None or went_zero_early:
            failures.append("replicas did not fall to 1 before the activator's scale to zero")
        elif not any(1 < r < want for r in down):
            failures.append("replicas fell from %d to 1 in one step (not rate-limited)" % want)
        if zero is None:
            failures.append("the activator did not scale the idle function to zero")
        elif zero - t_stop < args.idle_window - 2:
            failures.append("scaled to zero %.1f s after the last request, before the idle "
                            "window (%d s)" % (zero - t_stop, args.idle_window))
        events = json.loads(plat.kubectl("get", "events", "--field-selector",
                                         "involvedObject.name=" + fn, "-o", "json"))
        reasons = {e.get("reason") for e in events.get("items", [])
                   if e.get("involvedObject", {}).get("kind") == "Function"}
        for e in events.get("items", []):
            if e.get("reason") == "ScaledUp":
                print("event:", e.get("reason"), e.get("message"))
        print("events on the Function:", sorted(r for r in reasons if r))
        for r in ("ScaledUp", "ScaledDown"):
            if r not in reasons:
                failures.append("no %s Event on the Function" % r)
    for f in failures:
        print("FAIL:", f)
    if failures:
        print("--- operator log\n" + plat.log_tail("operator", 40))
        print("--- activator log\n" + plat.log_tail("activator", 20))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

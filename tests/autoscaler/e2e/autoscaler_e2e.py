#!/usr/bin/python3
"""End to end: replicas follow load on the local platform.

Starts kfaas-local (API server + node), kfaas-activator and kfaas-operator (which hosts the
autoscaler loop) from a build directory, deploys a Python function that sleeps per request,
drives N concurrent clients through the activator, and samples the Deployment's replicas.

  autoscaler_e2e.py --build build                  # test: exits 0/1 (77 = skipped)
  autoscaler_e2e.py --build build --bench          # prints the tracking table, no asserts
  options: --clients 20 --target 2 --sleep-ms 500 --load-seconds 20 --down (wait for the fall)

Skips (exit 77) when a binary is missing or the operator does not serve the autoscaler's trace
(/debug/autoscaler/trace): the platform is not assembled yet.
"""
import argparse
import json
import math
import os
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


def has_flag(binary, flag):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    return flag in (out.stdout + out.stderr)


def wait_for(cond, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except Exception:  # noqa: BLE001 - a condition that is not there yet
            pass
        time.sleep(step)
    return False


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

    def start(self, name, args):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.procs.append((name, p))
        return p

    def kubectl(self, *args, check=True):
        r = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=self.env,
                           timeout=60)
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

    def log_tail(self, name, lines=30):
        try:
            with open(os.path.join(self.tmp, name + ".log")) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("KFAAS_BINARY_DIR", os.path.join(ROOT, "build")))
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--target", type=int, default=2)
    ap.add_argument("--sleep-ms", type=int, default=500)
    ap.add_argument("--load-seconds", type=float, default=20)
    ap.add_argument("--down", action="store_true", help="also wait for the fall to 1 after the load")
    args = ap.parse_args()

    local = os.path.join(args.build, "local", "kfaas-local")
    operator = os.path.join(args.build, "operator", "kfaas-operator")
    activator = os.path.join(args.build, "activator", "kfaas-activator")
    for b in (local, operator, activator):
        if not os.access(b, os.X_OK):
            print("SKIP: %s is not built (the platform is not assembled yet)" % b)
            return SKIP

    tmp = tempfile.mkdtemp(prefix="kfaas-as-e2e-", dir=os.environ.get("KFAAS_TEST_TMP") or None)
    plat = Platform(args.build, tmp)
    try:
        return run(args, plat, local, operator, activator)
    finally:
        plat.stop()
        if os.environ.get("KFAAS_KEEP_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, plat, local, operator, activator):
    os.makedirs(os.path.join(plat.home, "bin"), exist_ok=True)
    os.symlink(os.path.join(ROOT, "examples", "python", "main.py"),
               os.path.join(plat.home, "bin", "hello-python"))
    lp = plat.start("kfaas-local", [local, "--home=" + plat.home, "--secure-port=auto"])
    if not wait_for(lambda: plat.kubectl("get", "--raw", "/readyz") is not None, 60, 0.2):
        print("kfaas-local did not become ready:\n" + plat.log_tail("kfaas-local"))
        return 1
    plat.kubectl("apply", "-f", os.path.join(ROOT, "crds"))

    port, admin, grpc, op_admin = free_port(), free_port(), free_port(), free_port()
    kubeconfig = plat.env["KUBECONFIG"]
    a_args = [activator]
    for flag, value in (("--kubeconfig", kubeconfig), ("--port", port), ("--admin-port", admin),
                        ("--grpc-port", grpc)):
        if has_flag(activator, flag):
            a_args.append("%s=%s" % (flag, value))
    plat.start("activator", a_args)
    o_args = [operator, "--kubeconfig=" + kubeconfig, "--local", "--leader-elect=false",
              "--admin-port=%d" % op_admin, "--activator-stats-address=127.0.0.1:%d" % grpc]
    plat.start("operator", o_args)

    trace_url = "http://127.0.0.1:%d/debug/autoscaler/trace" % op_admin
    if not wait_for(lambda: http_get(trace_url)[0] == 200, 30, 0.2):
        print("SKIP: kfaas-operator does not serve %s: it does not host the autoscaler yet\n%s"
              % (trace_url, plat.log_tail("operator")))
        return SKIP

    fn = "autoscaled"
    manifest = {
        "apiVersion": "kfaas.dev/v1alpha1", "kind": "Function",
        "metadata": {"name": fn, "namespace": "default"},
        "spec": {"image": "example/hello-python", "command": ["hello-python"],
                 "readinessPath": "/healthz",
                 "scale": {"min": 0, "max": 50, "target": args.target, "idleWindowSeconds": 600}},
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

    want = min(50, math.ceil(args.clients / args.target))
    load = Load("%s/sleep?ms=%d" % (base, args.sleep_ms), args.clients)
    samples = []
    t0 = time.monotonic()
    load.start()
    reached = reached_ready = None
    while time.monotonic() - t0 < args.load_seconds:
        replicas, ready = deployment()
        t = time.monotonic() - t0
        samples.append((t, load.in_flight, replicas, ready))
        if reached is None and replicas >= want:
            reached = t
        if reached_ready is None and ready >= want:
            reached_ready = t
        time.sleep(0.25)
    load.stop()
    never_zero = True
    if args.down:
        t1 = time.monotonic()
        while time.monotonic() - t1 < 240:
            replicas, ready = deployment()
            samples.append((time.monotonic() - t0, load.in_flight, replicas, ready))
            never_zero = never_zero and replicas > 0
            if replicas <= 1:
                break
            time.sleep(1)

    print("%8s %10s %9s %9s %8s" % ("T(s)", "IN-FLIGHT", "DESIRED", "REPLICAS", "READY"))
    for t, inflight, replicas, ready in samples:
        print("%8.2f %10d %9d %9d %8d" % (t, inflight, math.ceil(inflight / args.target),
                                          replicas, ready))
    print()
    print("clients %d, target %d -> %d replicas; requests ok %d, errors %d"
          % (args.clients, args.target, want, load.ok, load.errors))
    print("replicas written: %s s after the load started; ready: %s s"
          % ("%.2f" % reached if reached is not None else "never",
             "%.2f" % reached_ready if reached_ready is not None else "never"))
    print()
    subprocess.run([os.path.join(ROOT, "hack", "autoscaler-trace.sh"), "-c", "-u",
                    "http://127.0.0.1:%d" % op_admin, "-f", "default/" + fn])

    if args.bench:
        return 0
    failures = []
    if reached is None or reached > 10:
        failures.append("replicas did not reach %d within 10 s of the load" % want)
    if max(s[2] for s in samples) > 50:
        failures.append("replicas went above scale.max")
    if args.down and not never_zero:
        failures.append("the autoscaler let replicas reach 0")
    for f in failures:
        print("FAIL:", f)
    if failures:
        print(plat.log_tail("operator"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

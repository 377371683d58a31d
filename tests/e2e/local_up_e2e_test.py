#!/usr/bin/python3
"""The whole platform, end to end, the way the README runs it: hack/local-up.sh (free ports, a
temporary KFAAS_HOME), the real kubectl, and real processes for every component and function.

  1. kubectl apply -f examples/hello.yaml; the first request through the activator answers 200
     with X-Kfaas-Cold-Start; `kubectl get fn hello` shows Ready and the last cold start.
  2. With idleWindowSeconds lowered, a trickle of requests spaced well inside the window keeps
     the function warm for more than two windows (no new cold start, the same process).
  3. Once the trickle stops, the function scales to zero: Deployment replicas 0, no pod, the
     process gone - not before the idle window.
  4. examples/python.yaml works too, beside a warm hello (each answers with its own body).
  5. kubectl delete fn hello removes its Deployment, Service and pods, and the process.
  6. Ctrl-C (SIGINT to local-up.sh's process group) stops everything: no process survives.
  Also: a taken port is refused naming its variable; a SIGKILLed local-up.sh leaves nothing.

Skips (77) when the binaries are not built (cmake --build build --target kfaas-local
kfaas-operator kfaas-activator hello-function)."""
import base64
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localup import (BUILD, SOURCE, alive, cold_starts_total, descendants, expect, LocalUp, missing_binaries, step, wait_until)  # noqa: E402

IDLE_WINDOW = 3  # seconds, patched into the Function for steps 2 and 3


def first_request(p, path):
    """The first answer other than 404 (the activator learns of a new Function from its watch a
    few ms after kubectl apply returns; a 404 starts nothing)."""
    return wait_until("%s to be routed" % path, lambda: (lambda r: r if r[0] != 404 else None)(p.get(path)), timeout=20)


def replicas(p, name):
    r = p.kubectl("get", "deployment", name, "-o", "jsonpath={.spec.replicas}")
    return int(r.stdout or "0")


def python_beside_hello(p):
    """examples/python.yaml while hello is warm. Each function's requests reach its own
    instances (the activator once reused function A's keep-alive connections for function B:
    both functions' first instances had the same id)."""
    step("examples/python.yaml beside a warm hello")
    p.kubectl("apply", "-f", "examples/python.yaml")
    status, headers, body = first_request(p, "/fn/default/hello-python/")
    expect(status == 200, "hello-python first request: %d %s" % (status, body))
    expect("x-kfaas-cold-start" in headers, "hello-python: no X-Kfaas-Cold-Start header: %s" % headers)
    expect(body.strip() == "Hello from Python on kfaas!", "hello-python body: %r" % body)
    print("hello-python cold start: %s ms" % headers["x-kfaas-cold-start"])
    for i in range(20):
        name, want = (("hello", "Hello from kfaas!"), ("hello-python", "Hello from Python on kfaas!"))[i % 2]
        status, headers, body = p.get("/fn/default/%s/" % name)
        expect(status == 200 and body.strip() == want and headers.get("x-kfaas-instance", "").startswith(name + "-"),
               "%s answered by %s: %r" % (name, headers.get("x-kfaas-instance"), body))


def scenario(p):
    # 1. Apply, cold start, status.
    step("kubectl apply -f examples/hello.yaml; first request")
    p.kubectl("apply", "-f", "examples/hello.yaml")
    status, headers, body = first_request(p, "/fn/default/hello/")
    expect(status == 200, "first request: %d %s" % (status, body))
    expect("x-kfaas-cold-start" in headers, "first request has no X-Kfaas-Cold-Start header: %s" % headers)
    expect(body.strip() == "Hello from kfaas!", "body: %r" % body)
    cold_ms = int(headers["x-kfaas-cold-start"])
    print("cold start (X-Kfaas-Cold-Start): %d ms" % cold_ms)

    step("kubectl get fn hello: Ready and lastColdStart")

    def fn_ready_with_cold_start():
        out = p.kubectl("get", "fn", "hello", "-o",
                        'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.lastColdStart.durationMilliseconds}').stdout.split()
        return out if len(out) == 2 and out[0] == "True" else None

    ready, last_ms = wait_until("Function hello Ready with status.lastColdStart", fn_ready_with_cold_start)
    expect(abs(int(last_ms) - cold_ms) <= 1, "lastColdStart %s ms != header %d ms" % (last_ms, cold_ms))
    table = p.kubectl("get", "fn", "hello").stdout
    print(table)
    expect(re.search(r"^hello\s+True\s+1\s+\S+\s+%s\s" % last_ms, table, re.M), "kubectl get fn hello:\n" + table)
    pids = wait_until("one hello-function process", lambda: p.function_pids("hello-function"))
    expect(len(pids) == 1, "hello-function processes: %s" % pids)
    pid = pids[0]
    python_beside_hello(p)

    # 2. A trickle keeps it warm over more than two idle windows.
    step("idleWindowSeconds=%d; a trickle every %.1f s for %d s" % (IDLE_WINDOW, IDLE_WINDOW / 4, 2 * IDLE_WINDOW + 1))
    p.kubectl("patch", "fn", "hello", "--type=merge", "-p",
              '{"spec":{"scale":{"idleWindowSeconds":%d}}}' % IDLE_WINDOW)
    before = cold_starts_total(p, "hello")
    end = time.monotonic() + 2 * IDLE_WINDOW + 1
    n = 0
    while time.monotonic() < end:
        status, headers, body = p.get("/fn/default/hello/")
        last_request = time.monotonic()
        n += 1
        expect(status == 200 and "x-kfaas-cold-start" not in headers,
               "trickle request %d: %d %s %s (scaled to zero while warm?)" % (n, status, headers, body))
        time.sleep(IDLE_WINDOW / 4)  # the trickle's spacing, not a wait for a condition
    expect(cold_starts_total(p, "hello") == before, "a cold start happened during the trickle")
    expect(alive(pid) and replicas(p, "hello") == 1, "hello-function %d did not stay up during the trickle" % pid)

    # 3. Scale to zero after the idle window.
    step("scale to zero after the idle window")
    wait_until("Deployment hello at 0 replicas", lambda: replicas(p, "hello") == 0, timeout=IDLE_WINDOW + 15)
    idle_for = time.monotonic() - last_request
    expect(idle_for >= IDLE_WINDOW - 0.3, "scaled to zero %.1f s after the last request (window %d s)" % (idle_for, IDLE_WINDOW))
    wait_until("hello's pods gone", lambda: p.kubectl("get", "pods", "-l", "kfaas.dev/function=hello",
                                                      "-o", "name").stdout.strip() == "")
    wait_until("hello-function process %d gone" % pid, lambda: not alive(pid))
    print("scaled to zero %.1f s after the last request" % idle_for)

    # 4. From zero again.
    step("hello from zero again")
    status, headers, _ = p.get("/fn/default/hello/")
    expect(status == 200 and "x-kfaas-cold-start" in headers, "hello from zero: %d %s" % (status, headers))
    py_pids = wait_until("a hello-python process", lambda: p.function_pids("hello-python"))

    # 5. Delete.
    step("kubectl delete fn hello")
    hello_pids = p.function_pids("hello-function")
    expect(hello_pids, "no hello-function process before the delete")
    p.kubectl("delete", "fn", "hello")
    for kind in ("deployment", "service"):
        wait_until("%s hello deleted" % kind, lambda: "NotFound" in p.kubectl("get", kind, "hello", check=False).stderr)
    wait_until("hello's pods deleted", lambda: p.kubectl("get", "pods", "-l", "kfaas.dev/function=hello",
                                                         "-o", "name").stdout.strip() == "")
    wait_until("hello-function processes %s gone" % hello_pids, lambda: not any(alive(x) for x in hello_pids))
    wait_until("hello unknown to the activator (404)", lambda: p.get("/fn/default/hello/")[0] == 404)
    expect(all(alive(x) for x in py_pids), "deleting hello stopped hello-python")

    # 6. Secrets stay out of every log: the kubeconfig's token and client key, which the
    # operator and the activator authenticate with, and a wrong token presented to the API server.
    step("no token or key in any log")
    with open(p.kubeconfig) as f:
        kubeconfig = f.read()
    secrets = re.findall(r"^\s*(?:token|client-key-data):\s*\"?([^\s\"]+)", kubeconfig, re.M)
    expect(secrets, "no token or client key found in %s" % p.kubeconfig)
    wrong = "kfaas-wrong-token-%d" % os.getpid()
    server = re.search(r"^\s*server:\s*(\S+)", kubeconfig, re.M).group(1)
    ca = base64.b64decode(re.search(r"certificate-authority-data:\s*(\S+)", kubeconfig).group(1)).decode()
    req = urllib.request.Request(server + "/apis/kfaas.dev/v1alpha1/functions",
                                 headers={"Authorization": "Bearer " + wrong})
    try:
        urllib.request.urlopen(req, timeout=10, context=ssl.create_default_context(cadata=ca))
        code = 200
    except urllib.error.HTTPError as e:
        code = e.code
    expect(code == 401, "a wrong bearer token got %d from the API server, not 401" % code)
    for secret in secrets + [wrong]:
        leaked = [l for l in p.lines if secret in l or secret[:24] in l]
        expect(not leaked, "a secret (%s...) appears in the logs: %s" % (secret[:6], leaked[:3]))
    print("%d secrets checked against %d log lines: none appears" % (len(secrets) + 1, len(p.lines)))

    # 7. Ctrl-C.
    step("Ctrl-C")
    everything = descendants(p.proc.pid)
    expect(len(everything) >= 7, "expected kfaas-local, operator, activator, log filters and hello-python: %s" % everything)
    code = p.interrupt()
    left = {pid: cmd for pid, cmd in everything.items() if alive(pid)}
    expect(not left, "processes left after Ctrl-C: %s" % left)
    left = p.pids_using_home()
    expect(not left, "pgrep -f %s after Ctrl-C: %s" % (p.env["KFAAS_HOME"], left))
    expect(code in (0, 130), "local-up.sh exited with %d after Ctrl-C" % code)
    expect(any("stopped" in l for l in p.lines[-10:]), "no 'stopped' in the last lines:\n" + p.output(10))
    print("Ctrl-C: local-up.sh exited %d; %d processes stopped, none left" % (code, len(everything)))


def port_in_use_is_refused():
    """A port already taken: local-up.sh says which variable changes it and starts nothing."""
    step("local-up.sh with KFAAS_ACTIVATOR_PORT taken")
    p = LocalUp(SOURCE, BUILD)
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        p.env["KFAAS_ACTIVATOR_PORT"] = str(taken.getsockname()[1])
        r = subprocess.run([os.path.join(SOURCE, "hack", "local-up.sh"), "--no-build"], cwd=SOURCE, env=p.env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        expect(r.returncode != 0 and "KFAAS_ACTIVATOR_PORT=" in r.stderr,
               "local-up.sh with a taken port: exit %d, stderr %r" % (r.returncode, r.stderr))
        expect(not p.pids_using_home(), "a process was started despite the taken port")
    finally:
        taken.close()
        shutil.rmtree(p.home, ignore_errors=True)


def killed_script_leaves_nothing():
    """Even when local-up.sh itself is SIGKILLed (no trap runs), every component and function
    process goes (setpriv --pdeathsig, then kfaas-local's own clean-up)."""
    step("SIGKILL of local-up.sh")
    with LocalUp(SOURCE, BUILD) as p:
        p.kubectl("apply", "-f", "examples/hello.yaml")
        wait_until("hello answering", lambda: p.get("/fn/default/hello/")[0] == 200, timeout=20)
        everything = descendants(p.proc.pid)
        expect(p.function_pids("hello-function"), "no hello-function process: %s" % everything)
        os.kill(p.proc.pid, signal.SIGKILL)
        p.proc.wait()
        wait_until("every process of the killed local-up.sh gone (%s)" % everything,
                   lambda: not [x for x in everything if alive(x)] and not p.pids_using_home(), timeout=20)


def main():
    missing = missing_binaries(BUILD)
    if missing:
        print("SKIP: not built in %s: %s" % (BUILD, ", ".join(missing)))
        return 77
    port_in_use_is_refused()
    p = LocalUp(SOURCE, BUILD)
    try:
        with p:
            scenario(p)
    except Exception:
        print("=== local-up.sh output (last lines) ===\n" + p.output(120), flush=True)
        raise
    killed_script_leaves_nothing()
    step("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The end-to-end fault suite (issue 9) on the local platform (hack/local-up.sh, real kubectl,
real processes). Each case runs a load generator through the activator while it injects one
fault, records every request's outcome, waits for the system to converge and adds a row to a
table:

  fault | sent | 2xx | explicit errors (by code) | lost | conn retries | converged in

A request is "lost" when it was sent and got no HTTP response (reset, closed, or no answer
within its timeout): the suite fails when any is lost. "conn retries" counts connections that
were refused before anything was sent (a load balancer's retry to another activator), which
is not a loss. Cases (each its own platform, in priority order):

  sigterm   graceful SIGTERM of an activator under load: its in-flight requests finish (drain),
            clients move to a new activator started beside it.
  sigterm-cold  the same while the activator holds a burst for a cold start (the API server
            delays the /scale write by 1 s): the held requests are answered during the drain.
  sigterm-keepalive  the same with 20 keep-alive connections sending back to back: the draining
            activator answers with Connection: close, clients reconnect to the new one.
  sigterm-bound  SIGTERM while requests are held for a cold start longer than the drain
            bound: they must get an explicit 503 (a bug this case found, fixed).
  sigterm-bound-forwarded  SIGTERM while requests already forwarded to an instance outlast
            the drain bound: each gets an explicit 503, none a closed connection.
  watches   the API server drops every watch and compacts its history as a burst arrives at a
            function at zero and again 1.5 s into the scale-up (3 rounds).
  watch-storm  the same, six times within 2 s per round: the informers back off (client-go's
            backoff after very short watches), so scale-ups take seconds; none is lost.
  writes    the API server fails the activator's writes with 409, then 500, for 3 s during a
            cold start (the /scale write is retried, every request is answered), then every
            client's writes with 500 for 3 s from 30 ms into a cold start.
  kill      SIGKILL of one of two function instances under load: cut requests get an explicit
            502, later ones reach the other instance, the Deployment replaces the process.
  operator  an operator SIGKILLed while it reconciles 1,000 Functions, then restarted: every
            Function gets its Deployment, Service and status. Requests to the last Functions
            all along are held by the activator until their Deployment exists.
  failover  two operators with leader election; the leader is SIGKILLed while Functions are
            being created; the other takes over and converges (requests as above).

"converged" is measured from the fault (the SIGTERM, the last injection, the restart, the kill)
to the check passing: Deployment replicas == ready, Function Ready=True, every activator's
/debug/functions readyInstances == the Deployment's ready replicas (operator cases: every
Function has a Deployment, a Service and a Ready condition for its generation).

  fault_suite.py [case ...]      (default: every case)

Exits 1 when a case fails (lost requests, no convergence), 77 when the binaries are not built.
"""
import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localup import (BUILD, SOURCE, alive, expect, free_ports, LocalUp, missing_binaries, step, wait_until)  # noqa: E402



# --- the API server, directly (admin token) -----------------------------------------------
class Api:
    def __init__(self, p):
        home = p.env["KFAAS_HOME"]
        with open(os.path.join(home, "admin-token")) as f:
            self.token = f.read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(home, "pki", "ca.crt"))
        self.base = "https://127.0.0.1:%d" % p.api_port

    def call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ctx) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def get(self, path):
        code, obj = self.call("GET", path)
        expect(code == 200, "GET %s: %d %s" % (path, code, obj))
        return obj

    def fault(self, **req):
        code, obj = self.call("POST", "/kfaas/faults", req)
        expect(code == 200, "POST /kfaas/faults %s: %d %s" % (req, code, obj))
        return obj

    def counters(self):
        return self.get("/kfaas/faults")["counters"]


def condition(obj, ctype):
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == ctype:
            return c.get("status")
    return None


# --- the load generator -------------------------------------------------------------------
class Targets:
    """The activator ports requests go to (round robin); a driver swaps them under load."""

    def __init__(self, ports):
        self.ports = list(ports)
        self.n = 0

    def pick(self):
        if not self.ports:
            return None
        self.n += 1
        return self.ports[self.n % len(self.ports)]


async def one_request(targets, path, results, i, timeout):
    """results[i] = (outcome, detail, t_sent, t_done, conn_retries); outcome is the HTTP status,
    or "hung" / "no-response" / "error" (lost) / "refused" (never sent: no activator)."""
    deadline = time.monotonic() + timeout
    retries = 0
    while True:
        port = targets.pick()
        if port is None or time.monotonic() > deadline:
            if port is None and time.monotonic() <= deadline:
                await asyncio.sleep(0.02)
                continue
            results[i] = ("refused", "no activator accepted the connection", None, time.monotonic(), retries)
            return
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            break
        except (ConnectionRefusedError, asyncio.TimeoutError, OSError):
            retries += 1  # nothing was sent: a load balancer tries another activator
            await asyncio.sleep(0.01)
    t_sent = time.monotonic()
    try:
        writer.write(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = await asyncio.wait_for(reader.read(-1), max(1.0, deadline - time.monotonic()))
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.1 (\d{3})", head)
        if m:
            results[i] = (int(m.group(1)), body.decode(errors="replace"), t_sent, time.monotonic(), retries)
        else:
            results[i] = ("no-response", repr(data[:200]), t_sent, time.monotonic(), retries)
    except asyncio.TimeoutError:
        results[i] = ("hung", "no answer in %.0f s" % timeout, t_sent, time.monotonic(), retries)
    except Exception as e:  # noqa: BLE001 - recorded
        results[i] = ("error", repr(e), t_sent, time.monotonic(), retries)
    finally:
        writer.close()


async def load(targets, path, n, spacing, timeout=40, during=None):
    """Sends n requests, one every `spacing` s (0: all at once); `during(i)` is called (in a
    thread) before request i is sent, for faults timed by the load. Returns the results."""
    results = [None] * n
    tasks = []
    loop = asyncio.get_running_loop()
    for i in range(n):
        if during is not None:
            await loop.run_in_executor(None, during, i)
        tasks.append(asyncio.ensure_future(one_request(targets, path, results, i, timeout)))
        if spacing:
            await asyncio.sleep(spacing)
    await asyncio.gather(*tasks)
    return results


async def keepalive_client(targets, path, results, stop, timeout):
    """Sequential requests on one persistent connection (reconnecting to the current targets
    when the server answers Connection: close) until stop is set; appends to results."""
    reader = writer = None
    while not stop.is_set():
        retries = 0
        while writer is None:
            port = targets.pick()
            try:
                if port is None:
                    raise ConnectionRefusedError("no activator")
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            except (ConnectionRefusedError, asyncio.TimeoutError, OSError):
                retries += 1
                await asyncio.sleep(0.01)
        t_sent = time.monotonic()
        close = False
        try:
            writer.write(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            m = re.match(rb"HTTP/1\.1 (\d{3})", head)
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            body = await asyncio.wait_for(reader.readexactly(int(length.group(1)) if length else 0), timeout)
            close = re.search(rb"(?i)\r\nconnection: *close", head) is not None
            results.append((int(m.group(1)) if m else "no-response", body.decode(errors="replace"), t_sent,
                            time.monotonic(), retries))
        except asyncio.IncompleteReadError as e:
            results.append(("no-response", "connection closed after %d bytes" % len(e.partial), t_sent,
                            time.monotonic(), retries))
            close = True
        except asyncio.TimeoutError:
            results.append(("hung", "no answer in %.0f s" % timeout, t_sent, time.monotonic(), retries))
            close = True
        except Exception as e:  # noqa: BLE001 - recorded
            results.append(("error", repr(e), t_sent, time.monotonic(), retries))
            close = True
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


class BackgroundLoad:
    """A request every `spacing` s, round robin over `paths`, from its own thread and event loop,
    until the with-block ends; then every request is awaited. .results as load()'s."""

    def __init__(self, port, paths, spacing, timeout):
        self.targets = Targets([port])
        self.paths, self.spacing, self.timeout = paths, spacing, timeout
        self.stop = threading.Event()
        self.results = []

    async def _run(self):
        tasks = []
        i = 0
        while not self.stop.is_set():
            self.results.append(None)
            tasks.append(asyncio.ensure_future(one_request(
                self.targets, self.paths[i % len(self.paths)], self.results, i, self.timeout)))
            i += 1
            await asyncio.sleep(self.spacing)
        await asyncio.gather(*tasks)

    def __enter__(self):
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(self.timeout + 10)
        return False


LOST = ("hung", "no-response", "error", None)


class Row:
    def __init__(self, fault):
        self.fault = fault
        self.results = []
        self.converge_s = None
        self.note = ""
        self.failed = None

    def add(self, results):
        self.results.extend(results)

    def counts(self):
        ok = sum(1 for r in self.results if r and isinstance(r[0], int) and 200 <= r[0] < 300)
        errors = {}
        for r in self.results:
            if r and (r[0] == "refused" or (isinstance(r[0], int) and not 200 <= r[0] < 300)):
                errors[r[0]] = errors.get(r[0], 0) + 1
        lost = [r for r in self.results if r is None or r[0] in LOST]
        retries = sum(r[4] for r in self.results if r)
        return ok, errors, lost, retries

    def max_latency(self):
        return max((r[3] - r[2] for r in self.results if r and r[2] is not None), default=0.0)


def print_table(rows):
    print()
    fmt = "%-17s %6s %6s %-18s %5s %8s %8s %10s  %s"
    print(fmt % ("fault", "sent", "2xx", "explicit errors", "lost", "conn-rtr", "max-lat", "converged", "result"))
    for row in rows:
        ok, errors, lost, retries = row.counts()
        err = ",".join("%s:%d" % (k, v) for k, v in sorted(errors.items(), key=lambda kv: str(kv[0]))) or "0"
        sent = len(row.results)
        conv = "%.1f s" % row.converge_s if row.converge_s is not None else "-"
        result = "FAIL: " + row.failed if row.failed else "ok"
        print(fmt % (row.fault, sent if sent else "-", ok if sent else "-", err if sent else "-",
                     len(lost) if sent else "-", retries if sent else "-",
                     "%.2f s" % row.max_latency() if sent else "-", conv,
                     result + (" " + row.note if row.note else "")))
    print(flush=True)


def check_no_loss(row):
    _, errors, lost, _ = row.counts()
    expect(not lost, "%d requests lost, e.g. %s" % (len(lost), lost[:3]))
    bad = {k: v for k, v in errors.items() if k not in (502, 503, 504)}
    expect(not bad, "answers that are neither 2xx nor an explicit 502/503/504: %s" % bad)
    for r in row.results:
        if isinstance(r[0], int) and r[0] >= 500:
            expect(r[1].strip(), "a %d without a body naming its reason" % r[0])


# --- the platform's state -----------------------------------------------------------------
def debug_function(admin_port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/debug/functions" % admin_port, timeout=5) as f:
        return {x["name"]: x for x in json.load(f)}.get(name, {})


def converged(api, admin_ports, ns, name, want_ready, state=None):
    """The Deployment has want_ready (or, None: >= 1) ready replicas and matches its spec, the
    Function is Ready, and every activator forwards to exactly the ready instances. Records
    what it saw in state["last"]."""
    state = state if state is not None else {}
    dep = api.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (ns, name))
    spec, ready = dep["spec"].get("replicas", 0), dep.get("status", {}).get("readyReplicas", 0)
    fn = api.get("/apis/kfaas.dev/v1alpha1/namespaces/%s/functions/%s" % (ns, name))
    seen = [debug_function(port, name).get("readyInstances") for port in admin_ports]
    state["last"] = "deployment replicas %d ready %d; Function Ready=%s; activators' readyInstances %s" % (
        spec, ready, condition(fn, "Ready"), seen)
    if spec != ready or (want_ready is None and ready < 1) or (want_ready is not None and ready != want_ready):
        return False
    return condition(fn, "Ready") == "True" and all(x == ready for x in seen)


def wait_converged(api, admin_ports, name, want_ready=None, since=None, timeout=60, ns="default"):
    state = {}
    try:
        wait_until("%s converged" % name, lambda: converged(api, admin_ports, ns, name, want_ready, state),
                   timeout=timeout)
    except AssertionError as e:
        raise AssertionError("%s; last seen: %s" % (str(e).splitlines()[0], state.get("last")))
    return time.monotonic() - since if since is not None else None


def apply_hello(p, spec):
    p.kubectl("apply", "-f", "examples/hello.yaml")
    p.kubectl("patch", "fn", "hello", "--type=merge", "-p", json.dumps({"spec": spec}))
    wait_until("hello known to the activator", lambda: debug_function(p.admin_port, "hello"), timeout=20)


def wait_zero(p, api):
    wait_until("hello at zero",
               lambda: api.get("/apis/apps/v1/namespaces/default/deployments/hello")["spec"].get("replicas", 0) == 0
               and not p.function_pids("hello-function")
               and debug_function(p.admin_port, "hello").get("instances", 0) == 0, timeout=60)


# --- cases --------------------------------------------------------------------------------
def start_activator(p, name, warm=True, drain_timeout=20):
    """An activator of our own beside local-up's (which local-up owns). Returns (process, port,
    admin port, ready()); ready(): /readyz, and hello known (warm: with a ready instance)."""
    port, admin = free_ports(2)
    log = open(os.path.join(p.home, name + ".log"), "wb")
    proc = subprocess.Popen(
        [os.path.join(BUILD, "activator", "kfaas-activator"), "--kubeconfig=" + p.kubeconfig,
         "--address=127.0.0.1", "--port=%d" % port, "--admin-port=%d" % admin, "--grpc-port=-1",
         "--drain-timeout=%g" % drain_timeout], env=p.env, stdout=log, stderr=subprocess.STDOUT)
    log.close()

    def ready():
        if proc.poll() is not None:
            raise AssertionError("%s exited with %s" % (name, proc.returncode))
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % admin, timeout=2) as r:
            fn = debug_function(admin, "hello")
            return r.status == 200 and fn and (not warm or fn.get("readyInstances", 0) >= 1)
    return proc, port, admin, ready


def case_sigterm_keepalive(p, row, clients=20):
    """Persistent (keep-alive) connections, each sending 100 ms requests back to back, through
    the SIGTERM of activator-1: a request on a connection the draining activator is closing
    must still get its answer (or the connection closes before it is sent)."""
    api = Api(p)
    apply_hello(p, {"scale": {"min": 1, "max": 2, "idleWindowSeconds": 60}})
    wait_converged(api, [p.admin_port], "hello", 1)
    procs = []
    try:
        a1, port1, _, ready1 = start_activator(p, "activator-1")
        procs.append(a1)
        wait_until("activator-1 ready", ready1, timeout=20)
        a2, port2, admin2, ready2 = start_activator(p, "activator-2")
        procs.append(a2)
        wait_until("activator-2 ready", ready2, timeout=20)
        targets = Targets([port1])
        stop = threading.Event()

        async def run():
            results = []
            tasks = [asyncio.ensure_future(keepalive_client(targets, "/fn/default/hello/sleep?ms=100", results,
                                                            stop, 40)) for _ in range(clients)]
            await asyncio.sleep(1.0)
            targets.ports = [port2]  # new connections go to activator-2...
            t = time.monotonic()
            a1.send_signal(signal.SIGTERM)  # ... and activator-1 drains its open ones
            await asyncio.sleep(2.0)
            stop.set()
            await asyncio.gather(*tasks)
            return results, t

        step("%d keep-alive clients through activator-1; SIGTERM after 1 s; new connections to activator-2"
             % clients)
        results, t_term = asyncio.run(run())
        row.add(results)
        rc = a1.wait(timeout=30)
        moved = sum(1 for r in results if r[2] > t_term + 0.5 and r[0] == 200)
        print("activator-1 exited %d; %d requests, %d answered after the SIGTERM (+0.5 s)" % (rc, len(results), moved))
        check_no_loss(row)
        expect(rc == 0, "activator-1 did not drain cleanly (exit %d)" % rc)
        row.converge_s = wait_converged(api, [p.admin_port, admin2], "hello", 1, since=t_term)
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
            pr.wait()


def case_sigterm_bound(p, row, n=20):
    """SIGTERM while requests are held for a cold start that outlasts --drain-timeout (1 s; the
    API server delays the /scale write by 3 s): when the bound is reached the held requests must
    still get an answer (an explicit 503), not a closed connection. (Found by this case: Drain
    used to stop the io threads at the bound with the held connections unanswered.)"""
    api = Api(p)
    apply_hello(p, {"scale": {"min": 0, "max": 2, "idleWindowSeconds": 60}})
    wait_zero(p, api)
    a1, port1, _, ready1 = start_activator(p, "activator-1", warm=False, drain_timeout=1)
    try:
        wait_until("activator-1 ready", ready1, timeout=20)
        api.fault(latency={"ms": 3000, "resource": "deployments", "verb": "patch"})
        targets = Targets([port1])
        threading.Timer(0.5, a1.send_signal, args=(signal.SIGTERM,)).start()  # all n are held by then
        step("%d requests held for a cold start (3 s /scale write); SIGTERM, drain bound 1 s" % n)
        row.add(asyncio.run(load(targets, "/fn/default/hello/", n, 0, timeout=10)))
        api.fault(reset=True)
        rc = a1.wait(timeout=30)
        print("activator-1 exited %d" % rc)
        check_no_loss(row)
    finally:
        if a1.poll() is None:
            a1.kill()
        a1.wait()


def case_sigterm_bound_forwarded(p, row, n=20):
    """SIGTERM while n 3 s requests are in flight at a warm instance and the drain bound is 1 s:
    at the bound each forwarded request must get an explicit 503 (ShuttingDown, its body saying
    the request may have been processed), not a closed connection; the activator exits 1 (its
    drain was cut short)."""
    api = Api(p)
    apply_hello(p, {"scale": {"min": 1, "max": 1, "target": 100, "idleWindowSeconds": 60}})
    wait_converged(api, [p.admin_port], "hello", 1)
    a1, port1, admin1, ready1 = start_activator(p, "activator-1", drain_timeout=1)
    try:
        wait_until("activator-1 ready", ready1, timeout=20)
        targets = Targets([port1])
        state = {}

        def forwarded():
            fn = debug_function(admin1, "hello")
            return fn.get("inFlight", 0) >= n

        def term():
            # SIGTERM once every request is at the instance (or after 2 s: then the row says so).
            try:
                wait_until("%d requests forwarded" % n, forwarded, timeout=2, interval=0.02)
            except AssertionError:
                print("not every request was seen in flight before the SIGTERM", flush=True)
            state["term"] = time.monotonic()
            a1.send_signal(signal.SIGTERM)
        threading.Thread(target=term, daemon=True).start()
        step("%d requests of 3 s forwarded to hello; SIGTERM, drain bound 1 s" % n)
        results = asyncio.run(load(targets, "/fn/default/hello/sleep?ms=3000", n, 0, timeout=10))
        row.add(results)
        rc = a1.wait(timeout=30)
        codes = sorted(set(r[0] for r in results))
        print("activator-1 exited %d; answers: %s" % (rc, codes), flush=True)
        check_no_loss(row)
        # Exit 1: the drain did not finish every request (the activator's way of saying so).
        expect(rc == 1, "activator-1 exited %d after cutting requests at its drain bound, not 1" % rc)
        expect(all(r[0] == 503 for r in results),
               "a request forwarded at the drain bound got %s, not an explicit 503" % codes)
        expect(all("ShuttingDown" in r[1] and "may have been processed" in r[1] for r in results),
               "a 503 without a body naming the shutdown: %r" % results[0][1][:200])
    finally:
        if a1.poll() is None:
            a1.kill()
        a1.wait()


def case_sigterm(p, row, cold=False):
    """warm: hello has an instance, 300 ms requests are in flight at the SIGTERM. cold: hello is
    at zero, the API server delays the /scale write by 1 s, the SIGTERM comes while activator-1
    holds a burst for the cold start."""
    api = Api(p)
    apply_hello(p, {"scale": {"min": 0 if cold else 1, "max": 2, "idleWindowSeconds": 60}})
    if cold:
        wait_zero(p, api)
    else:
        wait_converged(api, [p.admin_port], "hello", 1)
    procs = []
    try:
        a1, port1, admin1, ready1 = start_activator(p, "activator-1", warm=not cold)
        procs.append(a1)
        wait_until("activator-1 ready", ready1, timeout=20)
        targets = Targets([port1])
        n, spacing, path = (300, 0, "/fn/default/hello/") if cold else (400, 0.01, "/fn/default/hello/sleep?ms=300")
        at = n // 2 if cold else n // 3
        state = {}

        def during(i):
            if i == at:
                if cold:
                    time.sleep(0.2)  # the loop sends the first half meanwhile; hello still at zero
                state["term"] = time.monotonic()
                targets.ports = []  # the endpoint leaves the Service...
                a1.send_signal(signal.SIGTERM)  # ... and the activator drains
                a2, port2, admin2, ready2 = start_activator(p, "activator-2", warm=False)
                procs.append(a2)
                state["a2"] = (port2, admin2, ready2)

                def serve():
                    wait_until("activator-2 ready", ready2, timeout=20)
                    targets.ports.append(port2)
                    state["serving"] = time.monotonic()
                threading.Thread(target=serve, daemon=True).start()

        if cold:  # a slow /scale write (1 s): the cold start outlasts the SIGTERM
            api.fault(latency={"ms": 1000, "resource": "deployments", "verb": "patch"})
        step("%d requests (%s) through activator-1, SIGTERM after %d, then a new activator" % (n, path, at))
        row.add(asyncio.run(load(targets, path, n, spacing, during=during)))
        api.fault(reset=True)
        rc = a1.wait(timeout=30)
        print("activator-1 exited %d (0: every in-flight request finished); activator-2 serving %.2f s after "
              "the SIGTERM" % (rc, state["serving"] - state["term"]))
        in_flight = [r for r in row.results if r and r[2] and r[2] < state["term"] < r[3]]
        print("requests in flight on activator-1 at the SIGTERM: %d, answered 200: %d"
              % (len(in_flight), sum(1 for r in in_flight if r[0] == 200)))
        check_no_loss(row)
        expect(rc == 0, "activator-1 did not drain cleanly (exit %d)" % rc)
        expect(in_flight, "no request was in flight at the SIGTERM")
        row.converge_s = wait_converged(api, [p.admin_port, state["a2"][1]], "hello", None if cold else 1,
                                        since=state["term"])
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
            pr.wait()


def burst_round(p, api, row, n, faults_at, inject):
    """A burst of n requests at zero; inject() at each offset in faults_at (s after the burst)."""
    wait_zero(p, api)
    targets = Targets([p.port])
    marks = []

    def injector():
        t0 = time.monotonic()
        for at in faults_at:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            inject()
            marks.append(time.monotonic())

    th = threading.Thread(target=injector, daemon=True)
    th.start()
    row.add(asyncio.run(load(targets, "/fn/default/hello/", n, 0)))
    th.join()
    return marks


def case_watches(p, row, rounds=3, storm=False):
    """Each round: a burst of 200 at zero; the API server drops every watch and compacts its
    history as the burst arrives and again 1.5 s into the scale-up. storm: six times within 2 s
    (then the clients' informers back off, as client-go's do after very short watches, and the
    scale-ups take seconds: requests are held, not lost)."""
    api = Api(p)
    # The idle window outlasts the injections (2 s): convergence is checked with hello up.
    apply_hello(p, {"scale": {"min": 0, "max": 3, "target": 10, "idleWindowSeconds": 4}})
    before = api.counters()
    worst = 0.0
    schedule = [0, 0.05, 0.2, 0.5, 1.0, 2.0] if storm else [0, 1.5]
    for k in range(rounds):
        step("round %d: a burst of 200 at zero; the API server drops every watch and compacts at %s s"
             % (k, schedule))
        marks = burst_round(p, api, row, 200, schedule, lambda: api.fault(dropWatches=True, compact=True))
        worst = max(worst, wait_converged(api, [p.admin_port], "hello", since=marks[-1], timeout=150 if storm else 60))
        check_no_loss(row)
        lat = sorted(r[3] - r[2] for r in row.results[-200:])
        print("round %d: latency p50 %.2f s, max %.2f s" % (k, lat[len(lat) // 2], lat[-1]), flush=True)
    after = api.counters()
    row.note = "(%d watches dropped)" % (after["watchesDropped"] - before["watchesDropped"])
    expect(after["watchesDropped"] > before["watchesDropped"], "no watch was dropped")
    row.converge_s = worst


def case_writes(p, row, seconds=3.0):
    api = Api(p)
    # The idle window (from the burst's last response) outlasts the injections by 5 s: the
    # convergence check needs hello up, and the controllers retry at most 1 s apart.
    apply_hello(p, {"scale": {"min": 0, "max": 3, "target": 10, "idleWindowSeconds": int(seconds) + 5}})
    worst = 0.0
    failed = 0
    # The activator's writes (its /scale PATCH, its cold-start status) fail with 409, then 500;
    # then, from 30 ms into the cold start (the /scale write done), every client's writes
    # (the controllers', the node's, the operator's) fail with 500.
    for code, agent, at in ((409, "kfaas-activator", 0), (500, "kfaas-activator", 0), (500, "", 0.03)):
        who = agent or "every client"
        step("a burst of 100 at zero; the writes of %s fail with %d for %.0f s" % (who, code, seconds))
        before = api.counters()["injectedFailures"]

        def inject(code=code, agent=agent):
            if inject.armed:
                api.fault(reset=True)
                return
            api.fault(failWrites={"count": 100000, "code": code, "userAgent": agent,
                                  "message": "injected %d" % code})
            inject.armed = True
        inject.armed = False
        marks = burst_round(p, api, row, 100, [at, at + seconds], inject)
        n_failed = api.counters()["injectedFailures"] - before
        failed += n_failed
        print("%d writes failed" % n_failed)
        expect(n_failed > 0, "no write of %s failed (%d)" % (who, code))
        worst = max(worst, wait_converged(api, [p.admin_port], "hello", since=marks[-1]))
        check_no_loss(row)
    row.note = "(%d writes failed)" % failed
    row.converge_s = worst


def port_of(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    return int(env[b"PORT"])


def case_kill(p, row):
    api = Api(p)
    apply_hello(p, {"scale": {"min": 2, "max": 2, "idleWindowSeconds": 60}})
    wait_converged(api, [p.admin_port], "hello", 2, timeout=30)
    victim, survivor = p.function_pids("hello-function")
    n = 300
    state = {}

    def during(i):
        if i == n // 3:
            os.kill(victim, signal.SIGKILL)
            state["kill"] = time.monotonic()

    step("%d requests of 400 ms; SIGKILL of instance pid %d after %d" % (n, victim, n // 3))
    row.add(asyncio.run(load(Targets([p.port]), "/fn/default/hello/sleep?ms=400", n, 0.005, during=during)))
    check_no_loss(row)
    late = [r for r in row.results if r[2] > state["kill"] + 0.05 and r[0] != 200]
    expect(not late, "requests sent after the kill not answered by the other instance: %s" % late[:3])
    expect(alive(survivor), "the other instance died")
    row.converge_s = wait_converged(api, [p.admin_port], "hello", 2, since=state["kill"], timeout=30)


# --- operators ----------------------------------------------------------------------------
FLEET = "fleet"
# The activator's --cold-start-timeout (60 s) plus a margin: a request held longer is hung.
COLD_START_BOUND = 70


def start_operator(p, name, leader_elect):
    admin, = free_ports(1)
    log = open(os.path.join(p.home, name + ".log"), "ab")
    args = [os.path.join(BUILD, "operator", "kfaas-operator"), "--kubeconfig=" + p.kubeconfig, "--local",
            "--namespace=" + FLEET, "--admin-address=127.0.0.1", "--admin-port=%d" % admin]
    if leader_elect:
        args += ["--leader-elect=true", "--lease-namespace=" + FLEET, "--identity=" + name,
                 "--lease-duration-seconds=4", "--renew-deadline-seconds=3", "--retry-period-seconds=1"]
    else:
        args += ["--leader-elect=false"]
    proc = subprocess.Popen(args, env=p.env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, admin


def is_leader(admin):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=2) as r:
            return re.search(r"^kfaas_operator_leader(\{[^}]*\})? 1$", r.read().decode(), re.M) is not None
    except OSError:
        return False


def fleet_function(i):
    return {"apiVersion": "kfaas.dev/v1alpha1", "kind": "Function",
            "metadata": {"name": "fn-%04d" % i, "namespace": FLEET},
            "spec": {"image": "registry.example.com/kfaas/hello-function:0.1", "command": ["hello-function"],
                     "port": 8080, "scale": {"min": 0, "max": 2}}}


def create_functions(api, lo, hi, threads=8):
    errors = []

    def worker(k):
        for i in range(lo + k, hi, threads):
            code, obj = api.call("POST", "/apis/kfaas.dev/v1alpha1/namespaces/%s/functions" % FLEET, fleet_function(i))
            if code not in (201, 409):
                errors.append((i, code, obj))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    expect(not errors, "creating Functions: %s" % errors[:3])


def fleet_state(api):
    """(#Functions, #with a Deployment, #with a Service, #with status Ready set) in FLEET."""
    fns = api.get("/apis/kfaas.dev/v1alpha1/namespaces/%s/functions" % FLEET)["items"]
    deps = {d["metadata"]["name"] for d in api.get("/apis/apps/v1/namespaces/%s/deployments" % FLEET)["items"]}
    svcs = {s["metadata"]["name"] for s in api.get("/api/v1/namespaces/%s/services" % FLEET)["items"]}
    names = [f["metadata"]["name"] for f in fns]
    with_status = sum(1 for f in fns if condition(f, "Ready") is not None
                      and f.get("status", {}).get("observedGeneration") == f["metadata"].get("generation"))
    return len(names), sum(1 for n in names if n in deps), sum(1 for n in names if n in svcs), with_status


def fleet_converged(api, n):
    st = fleet_state(api)
    return st == (n, n, n, n)


def wait_activator_knows(p, indexes):
    wait_until("the activator knows the Functions", lambda: all(
        debug_function(p.admin_port, "fn-%04d" % i) for i in indexes), timeout=30)


def create_fleet_ns(p):
    p.kubectl("create", "namespace", FLEET)


def case_operator(p, row, n=1000):
    api = Api(p)
    create_fleet_ns(p)
    procs = []
    try:
        step("creating %d Functions in %s" % (n, FLEET))
        create_functions(api, 0, n)
        # Requests to the last Functions (reconciled after the restart) all along: the activator
        # holds them until their Deployment exists and an instance is ready. (Before its watch
        # delivers a Function, the activator rightly answers 404: wait for that first.)
        wait_activator_knows(p, range(n - 5, n))
        with BackgroundLoad(p.port, ["/fn/%s/fn-%04d/" % (FLEET, i) for i in range(n - 5, n)], 0.05,
                            COLD_START_BOUND) as bg:
            o1, _ = start_operator(p, "operator-1", False)
            procs.append(o1)
            wait_until("operator-1 part way through the reconcile",
                       lambda: fleet_state(api)[1] >= n // 4, timeout=60, interval=0.1)
            o1.kill()
            o1.wait()
            killed_state = fleet_state(api)
            step("operator-1 SIGKILLed with (functions, deployments, services, statuses) = %s" % (killed_state,))
            expect(killed_state[3] < n, "operator-1 finished before it was killed")
            t = time.monotonic()
            o2, _ = start_operator(p, "operator-2", False)
            procs.append(o2)
            wait_until("every Function with a Deployment, a Service and a status",
                       lambda: fleet_converged(api, n), timeout=120, interval=0.5)
            row.converge_s = time.monotonic() - t
        row.add(bg.results)
        check_no_loss(row)
        row.note = "(killed at %d/%d Deployments)" % (killed_state[1], n)
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
            pr.wait()


def case_failover(p, row, n=300):
    api = Api(p)
    create_fleet_ns(p)
    procs = {}
    try:
        for name in ("operator-a", "operator-b"):
            procs[name] = start_operator(p, name, True)
        leader = wait_until("a leader", lambda: [k for k, (_, a) in procs.items() if is_leader(a)], timeout=30)
        expect(len(leader) == 1, "two leaders: %s" % leader)
        leader = leader[0]
        other = [k for k in procs if k != leader][0]
        step("%s leads; creating %d Functions, SIGKILL of the leader part way" % (leader, n))
        create_functions(api, 0, n // 2)
        wait_until("the leader part way", lambda: fleet_state(api)[1] >= n // 4, timeout=60, interval=0.1)
        procs[leader][0].kill()
        t = time.monotonic()
        create_functions(api, n // 2, n)
        # Requests to Functions created after the kill: held until the new leader reconciles them.
        wait_activator_knows(p, range(n - 5, n))
        with BackgroundLoad(p.port, ["/fn/%s/fn-%04d/" % (FLEET, i) for i in range(n - 5, n)], 0.05,
                            COLD_START_BOUND) as bg:
            wait_until("%s leads" % other, lambda: is_leader(procs[other][1]), timeout=30)
            took_over = time.monotonic() - t
            wait_until("every Function with a Deployment, a Service and a status",
                       lambda: fleet_converged(api, n), timeout=120, interval=0.5)
            row.converge_s = time.monotonic() - t
        row.add(bg.results)
        check_no_loss(row)
        row.note = "(%s leads %.1f s after the kill)" % (other, took_over)
    finally:
        for pr, _ in procs.values():
            if pr.poll() is None:
                pr.kill()
            pr.wait()


CASES = {
    "sigterm": (case_sigterm, None),
    "sigterm-cold": (lambda p, row: case_sigterm(p, row, cold=True), None),
    "sigterm-keepalive": (case_sigterm_keepalive, None),
    "sigterm-bound": (case_sigterm_bound, None),
    "sigterm-bound-forwarded": (case_sigterm_bound_forwarded, None),
    "watches": (case_watches, None),
    "watch-storm": (lambda p, row: case_watches(p, row, storm=True), None),
    "writes": (case_writes, None),
    "kill": (case_kill, None),
    # The operator cases run their own operators in FLEET; local-up's watches only default.
    "operator": (case_operator, "--namespace=default"),
    "failover": (case_failover, "--namespace=default"),
}


def main():
    names = sys.argv[1:] or list(CASES)
    unknown = [c for c in names if c not in CASES]
    if unknown:
        print("usage: fault_suite.py [%s ...]" % "|".join(CASES), file=sys.stderr)
        return 2
    missing = missing_binaries(BUILD)
    if missing:
        print("SKIP: not built in %s: %s" % (BUILD, ", ".join(missing)))
        return 77
    rows = []
    for name in names:
        fn, operator_flags = CASES[name]
        row = Row(name)
        rows.append(row)
        step("case %s" % name)
        p = LocalUp(SOURCE, BUILD, extra_env={"KFAAS_OPERATOR_FLAGS": operator_flags} if operator_flags else None,
                    echo=os.environ.get("FAULT_SUITE_VERBOSE") == "1")
        try:
            with p:
                fn(p, row)
        except Exception as e:  # noqa: BLE001 - reported in the table
            row.failed = str(e).splitlines()[0][:200]
            print("=== %s failed: %s\n=== local-up.sh output (last lines) ===\n%s" % (name, e, p.output(40)), flush=True)
    print_table(rows)
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The activator's data path end to end on the local platform (hack/local-up.sh, real kubectl,
real processes), one scenario per run (each is its own ctest test):

  burst    10,000 connections opened to the activator, then a request sent on each at once to
           examples/hello at zero: every one ends with 200 (or an explicit 503 above the buffer
           bound); none hangs, none is lost. Prints the activator's peak RSS (VmHWM).
  trickle  A steady trickle of 50 ms requests (/sleep?ms=50) spaced under the idle window keeps
           the function up: one cold start only, the same process; then it scales to zero.
  kill     Two instances; SIGKILL of one while requests are in flight: those cut mid-flight get
           502 with a body naming the cause, later ones go to the other instance; every request
           ends with a response. Prints an outcome table.

  data_path_e2e_test.py burst|trickle|kill

Skips (77) when the binaries are not built."""
import asyncio
import json
import os
import re
import resource
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localup import (BUILD, SOURCE, alive, cold_starts_total, expect, LocalUp, missing_binaries, step, wait_until)  # noqa: E402



def debug_function(p, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/debug/functions" % p.admin_port, timeout=5) as f:
        return {x["name"]: x for x in json.load(f)}.get(name, {})


def replicas(p, name):
    return int(p.kubectl("get", "deployment", name, "-o", "jsonpath={.spec.replicas}").stdout or "0")


def apply_hello(p, patch):
    p.kubectl("apply", "-f", "examples/hello.yaml")
    p.kubectl("patch", "fn", "hello", "--type=merge", "-p", json.dumps({"spec": patch}))
    # The activator knows the Function (a request would answer 404 until its watch delivers it).
    wait_until("hello known to the activator", lambda: debug_function(p, "hello"), timeout=20)


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def activator_pid(p):
    pids = p.function_pids("kfaas-activator")
    expect(len(pids) == 1, "kfaas-activator processes: %s" % pids)
    return pids[0]


# --- a raw asyncio HTTP/1.1 client: one connection per request, Connection: close ----------
async def one_request(port, path, start, results, i, timeout, connected=None):
    """Fills results[i] with (status, body, t_sent, t_done) or ("error", why, t_sent, t_done).
    `start` (an Event) gates the send once the connection is open."""
    t_sent = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except Exception as e:  # noqa: BLE001 - recorded
        results[i] = ("connect-error", repr(e), None, time.monotonic())
        if connected:
            connected()
        return
    try:
        if connected:
            connected()
        if start is not None:
            await start.wait()
        t_sent = time.monotonic()
        writer.write(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = await asyncio.wait_for(reader.read(-1), timeout)
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.1 (\d{3})", head)
        if m:
            results[i] = (int(m.group(1)), body.decode(errors="replace"), t_sent, time.monotonic())
        else:
            results[i] = ("no-response", repr(data[:200]), t_sent, time.monotonic())
    except asyncio.TimeoutError:
        results[i] = ("hung", "no answer in %.0f s" % timeout, t_sent, time.monotonic())
    except Exception as e:  # noqa: BLE001 - recorded
        results[i] = ("error", repr(e), t_sent, time.monotonic())
    finally:
        writer.close()


def outcome_table(results):
    counts = {}
    for r in results:
        counts[r[0] if r else "lost"] = counts.get(r[0] if r else "lost", 0) + 1
    print("%-14s %7s" % ("outcome", "count"))
    print("%-14s %7d" % ("sent", len(results)))
    for k in sorted(counts, key=str):
        print("%-14s %7d" % (k, counts[k]))
    if "lost" not in counts:
        print("%-14s %7d" % ("lost", 0))
    return counts


# --- burst -------------------------------------------------------------------------------
N_BURST = 10000
# The activator runs with --max-concurrency=N_BURST (the default 1000 answers 429 to arrivals
# once 1000 are in flight) and the default --max-buffered-per-function=10000; 503s come only
# from the buffer bound, so nearly all must be 200.
BURST_FLAGS = "--max-concurrency=%d" % N_BURST
BUFFER_SLACK = 0


def burst(p):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = N_BURST + 1000
    if soft < want:
        expect(hard >= want, "the burst needs %d open files; ulimit -Hn is %d" % (want, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    apply_hello(p, {"scale": {"idleWindowSeconds": 60}})
    apid = activator_pid(p)
    expect(replicas(p, "hello") == 0 and not p.function_pids("hello-function"), "hello is not at zero")
    rss_before = vm_hwm_kb(apid)

    async def run():
        results = [None] * N_BURST
        start = asyncio.Event()
        n_connected = [0]

        def connected():
            n_connected[0] += 1

        # Connections are opened in waves (the listen backlog), then every request is sent at
        # once: 10,000 requests in flight while the function is at zero.
        tasks = []
        for i in range(N_BURST):
            tasks.append(asyncio.ensure_future(
                one_request(p.port, "/fn/default/hello/", start, results, i, 60, connected)))
            if i % 500 == 499:
                while n_connected[0] <= i - 500:
                    await asyncio.sleep(0.005)
        while n_connected[0] < N_BURST:
            await asyncio.sleep(0.005)
        t_open = time.monotonic() - t0
        still_zero = not p.function_pids("hello-function")
        start.set()
        await asyncio.gather(*tasks)
        return results, t_open, still_zero

    step("opening %d connections, then sending every request at once" % N_BURST)
    t0 = time.monotonic()
    results, t_open, still_zero = asyncio.run(run())
    took = time.monotonic() - t0
    expect(still_zero, "hello started before the burst was sent")
    hwm = vm_hwm_kb(apid)
    counts = outcome_table(results)
    print("connections opened in %.1f s; all answered %.1f s after that" % (t_open, took - t_open))
    print("activator peak RSS (VmHWM): %.1f MiB (%.1f MiB before the burst)" % (hwm / 1024, rss_before / 1024))
    print("cold starts: %d; hello processes now: %d" % (cold_starts_total(p, "hello"), len(p.function_pids("hello-function"))))
    bad = [r for r in results if r is None or r[0] not in (200, 503)]
    expect(not bad, "%d requests without a 200/503 answer, e.g. %s" % (len(bad), bad[:3]))
    refused = [r for r in results if r[0] == 503]
    expect(all("buffer" in r[1] for r in refused), "a 503 without its reason: %s" % refused[:1])
    expect(counts.get(200, 0) >= N_BURST - BUFFER_SLACK, "fewer than %d answered 200: %s" % (N_BURST - BUFFER_SLACK, counts))
    expect(hwm < 512 * 1024, "activator peak RSS %.0f MiB" % (hwm / 1024))


# --- trickle -----------------------------------------------------------------------------
IDLE = 2  # seconds


def trickle(p):
    apply_hello(p, {"scale": {"idleWindowSeconds": IDLE}})
    step("a 50 ms request every %.2f s for %d s (idle window %d s)" % (IDLE / 3, 3 * IDLE + 1, IDLE))
    end = time.monotonic() + 3 * IDLE + 1
    n, pid = 0, None
    while time.monotonic() < end:
        t = time.monotonic()
        status, headers, body = p.get("/fn/default/hello/sleep?ms=50")
        last = time.monotonic()
        expect(status == 200, "request %d: %d %s" % (n, status, body))
        expect((n == 0) == ("x-kfaas-cold-start" in headers),
               "request %d: X-Kfaas-Cold-Start %r (one cold start only, the first)" % (n, headers.get("x-kfaas-cold-start")))
        expect(last - t >= 0.05, "request %d took %.3f s (< 50 ms: not /sleep?)" % (n, last - t))
        if pid is None:
            pid = wait_until("a hello-function process", lambda: p.function_pids("hello-function"))[0]
        n += 1
        time.sleep(max(0.0, IDLE / 3 - (last - t)))  # the trickle's spacing, not a wait
    expect(cold_starts_total(p, "hello") == 1, "cold starts: %s (want 1)" % cold_starts_total(p, "hello"))
    expect(p.function_pids("hello-function") == [pid] and replicas(p, "hello") == 1,
           "hello-function %d replaced or scaled during the trickle: %s" % (pid, p.function_pids("hello-function")))
    print("%d requests of 50 ms over %.1f s: one cold start, the same process %d" % (n, 3 * IDLE + 1, pid))
    step("the trickle stops: scale to zero after the window")
    wait_until("hello-function %d gone" % pid, lambda: not alive(pid), timeout=IDLE + 15)
    idle_for = time.monotonic() - last
    expect(idle_for >= IDLE - 0.3, "stopped %.1f s after the last request (window %d s)" % (idle_for, IDLE))
    print("process gone %.1f s after the last request" % idle_for)


# --- kill --------------------------------------------------------------------------------
def port_of(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    return int(env[b"PORT"])


def kill(p):
    apply_hello(p, {"scale": {"min": 2, "max": 2, "idleWindowSeconds": 60}})
    wait_until("2 hello-function processes", lambda: len(p.function_pids("hello-function")) == 2, timeout=20)
    wait_until("the activator with 2 ready instances",
               lambda: debug_function(p, "hello").get("readyInstances") == 2,
               timeout=20)
    pids = p.function_pids("hello-function")
    victim, survivor = pids
    print("instances: pid %d port %d (to be killed), pid %d port %d" % (victim, port_of(victim), survivor, port_of(survivor)))

    n, spacing, sleep_ms = 300, 0.005, 400

    async def run():
        results = [None] * n
        tasks = []
        killed_at = None
        for i in range(n):
            tasks.append(asyncio.ensure_future(
                one_request(p.port, "/fn/default/hello/sleep?ms=%d" % sleep_ms, None, results, i, 30)))
            await asyncio.sleep(spacing)
            if i == n // 3:
                os.kill(victim, signal.SIGKILL)
                killed_at = time.monotonic()
        await asyncio.gather(*tasks)
        return results, killed_at

    step("%d requests of %d ms, one every %.0f ms; SIGKILL of pid %d after %d" % (n, sleep_ms, spacing * 1000, victim, n // 3))
    results, killed_at = asyncio.run(run())
    counts = outcome_table(results)
    bad = [r for r in results if r is None or r[0] not in (200, 502)]
    expect(not bad, "requests without a 200/502 answer: %s" % bad[:5])
    cut = [r for r in results if r[0] == 502]
    expect(cut, "no request was cut by the kill (none in flight on pid %d?)" % victim)
    print("a 502's body: %s" % cut[0][1].strip())
    expect(all("connection" in r[1].lower() or "instance" in r[1].lower() for r in cut),
           "a 502 without a clear reason: %s" % cut[:1])
    # Cut mid-flight: sent before the kill. Sent after it (with a margin for the kernel closing
    # the dead process's sockets): the other instance answered.
    late = [r for r in results if r[2] is not None and r[2] > killed_at + 0.05]
    late_bad = [r for r in late if r[0] != 200]
    print("sent after the kill: %d, of which not 200: %d" % (len(late), len(late_bad)))
    expect(not late_bad, "requests sent after the kill did not reach the other instance: %s" % late_bad[:3])
    # SIGKILL is delivered asynchronously: a request sent in the few ms before the process is
    # gone may still be cut.
    late_cut = [r[2] - killed_at for r in cut if r[2] > killed_at]
    print("502s for requests sent after os.kill returned: %d (at +%s ms)" %
          (len(late_cut), ", ".join("%.1f" % (x * 1000) for x in late_cut)))
    expect(all(x <= 0.05 for x in late_cut), "a 502 for a request sent well after the kill")
    expect(alive(survivor), "the other instance died")


SCENARIOS = {"burst": burst, "trickle": trickle, "kill": kill}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: data_path_e2e_test.py %s" % "|".join(SCENARIOS), file=sys.stderr)
        return 2
    missing = missing_binaries(BUILD)
    if missing:
        print("SKIP: not built in %s: %s" % (BUILD, ", ".join(missing)))
        return 77
    p = LocalUp(SOURCE, BUILD, extra_env={"KFAAS_ACTIVATOR_FLAGS": BURST_FLAGS} if sys.argv[1] == "burst" else None)
    try:
        with p:
            SCENARIOS[sys.argv[1]](p)
    except Exception:
        print("=== local-up.sh output (last lines) ===\n" + p.output(60), flush=True)
        raise
    step("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Drives hack/local-up.sh (the README's one command) for end-to-end tests and benchmarks.

    with LocalUp(source_dir, build_dir) as p:      # free ports, a temporary KFAAS_HOME
        p.kubectl("apply", "-f", "examples/hello.yaml")
        status, headers, body = p.get("/fn/default/hello/")

Everything waits on conditions with a deadline (no fixed sleeps). On exit the platform gets
SIGINT like a terminal's Ctrl-C (to its whole process group), then SIGKILL if it lingers; the
temporary home is removed.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

# The checkout and build directory the tests run against (ctest sets both).
SOURCE = os.environ.get("KFAAS_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KFAAS_BINARY_DIR") or os.path.join(SOURCE, "build")
T0 = time.monotonic()


def step(msg):
    """A progress line with the seconds since the test started."""
    print("--- %s (%.1f s)" % (msg, time.monotonic() - T0), flush=True)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def cold_starts_total(p, name):
    """kfaas_cold_starts_total of one function on the activator's /metrics (0 before the first)."""
    m = re.search(r'^kfaas_cold_starts_total\{[^}]*function="%s"[^}]*\} (\S+)$' % re.escape(name), p.metrics(), re.M)
    return float(m.group(1)) if m else 0.0


BINARIES = ("local/kfaas-local", "operator/kfaas-operator", "activator/kfaas-activator",
            "examples/hello/hello-function")


def missing_binaries(build_dir):
    return [b for b in BINARIES if not os.access(os.path.join(build_dir, b), os.X_OK)]


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(what, fn, timeout=30.0, interval=0.05):
    """Polls fn() until it returns a truthy value; returns it, or raises naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - reported if the deadline passes
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


def proc_table():
    """{pid: (ppid, cmdline)} of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            out[int(d)] = (int(ppid), cmd)
    return out


def descendants(root):
    table = proc_table()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out[c] = table[c][1]
            todo.append(c)
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LocalUp:
    def __init__(self, source_dir, build_dir, extra_env=None, echo=False):
        self.source_dir = source_dir
        self.build_dir = build_dir
        self.home = tempfile.mkdtemp(prefix="kfaas-e2e-", dir=os.environ.get("KFAAS_TEST_TMP"))
        (self.api_port, self.port, self.admin_port, self.grpc_port,
         self.operator_admin_port) = free_ports(5)
        self.env = dict(os.environ)
        self.env.update({
            "HOME": self.home,  # kubectl's discovery cache and config stay in the test's home
            "KFAAS_HOME": os.path.join(self.home, "kfaas"),
            "KFAAS_BUILD_DIR": build_dir,
            "KFAAS_API_PORT": str(self.api_port),
            "KFAAS_ACTIVATOR_PORT": str(self.port),
            "KFAAS_ACTIVATOR_ADMIN_PORT": str(self.admin_port),
            "KFAAS_ACTIVATOR_GRPC_PORT": str(self.grpc_port),
            "KFAAS_OPERATOR_ADMIN_PORT": str(self.operator_admin_port),
        })
        self.env.pop("KUBECONFIG", None)
        self.env.update(extra_env or {})
        self.kubeconfig = os.path.join(self.env["KFAAS_HOME"], "kubeconfig")
        self.echo = echo
        self.lines = []
        self.proc = None

    # --- lifecycle -----------------------------------------------------------------------
    def __enter__(self):
        self.proc = subprocess.Popen(
            [os.path.join(self.source_dir, "hack", "local-up.sh"), "--no-build"],
            cwd=self.source_dir, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until("local-up.sh to print 'kfaas is running'",
                   lambda: self._check_running() and any("kfaas is running" in l for l in self.lines),
                   timeout=90)
        return self

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(line, flush=True)

    def _check_running(self):
        if self.proc.poll() is not None:
            raise AssertionError("local-up.sh exited with %s:\n%s" % (self.proc.returncode, self.output()))
        return True

    def output(self, last=80):
        return "\n".join(self.lines[-last:])

    def interrupt(self, timeout=30):
        """Ctrl-C: SIGINT to local-up.sh's process group, as a terminal sends it. Returns its
        exit code."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._reader.join(timeout=5)

    def __exit__(self, *exc):
        try:
            if self.proc and self.proc.poll() is None:
                try:
                    self.interrupt(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc:
                # Whatever is left (a failed test), in the group or started from the home.
                for pid in list(descendants(self.proc.pid)) + self.pids_using_home():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
        return False

    # --- helpers -------------------------------------------------------------------------
    def pids_using_home(self):
        """`pgrep -f <KFAAS_HOME>`: kfaas-local (--home), the operator and activator
        (--kubeconfig), the log filters and the Python function (its path)."""
        r = subprocess.run(["pgrep", "-f", self.env["KFAAS_HOME"]], capture_output=True, text=True)
        return [int(p) for p in r.stdout.split() if int(p) != os.getpid()]

    def kubectl(self, *args, check=True, timeout=30):
        r = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "--request-timeout=10s"] + list(args),
                           env=self.env, cwd=self.source_dir, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("kubectl %s failed (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, timeout=30):
        req = urllib.request.Request(self.url(path))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin_port, timeout=10) as r:
            return r.read().decode()

    def function_pids(self, command):
        """Processes of the node (children of kfaas-local) whose command line contains `command`."""
        return sorted(pid for pid, cmd in descendants(self.proc.pid).items()
                      if command in cmd and "kfaas-local" not in cmd and "sed " not in cmd)

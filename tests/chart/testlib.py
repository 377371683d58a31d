"""Shared helpers of the chart/monitoring tests: paths, the unittest runner that turns "skipped"
into ctest's skip code, free ports, processes that are always reaped, polling with a deadline."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.environ.get("KFAAS_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("KFAAS_BINARY_DIR") or os.path.join(ROOT, "build")
SKIP = 77  # ctest SKIP_RETURN_CODE


def main():
    """unittest.main(), but exit 77 when tests were skipped and none failed, so ctest reports
    "Skipped" (with the reasons printed) rather than "Passed"."""
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.skipped:
        print("\nSKIPPED (ctest exit 77):", file=sys.stderr)
        for test, reason in r.skipped:
            print("  %s: %s" % (test.id(), reason), file=sys.stderr)
        sys.exit(SKIP)
    sys.exit(0)


def tmpdir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("KFAAS_TEST_TMP"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name):
    """A built executable of the tree (kfaas-local, kfaas-operator, ...), or None."""
    for d, _, files in os.walk(BUILD):
        if name in files:
            p = os.path.join(d, name)
            if os.access(p, os.X_OK) and os.path.isfile(p):
                return p
    return None


def wait_for(what, fn, timeout=30, interval=0.1):
    """Polls fn() until it returns a truthy value; fails with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_err = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last_err = e
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last error: %r)" % (timeout, what, last_err))


class Processes:
    """Starts processes in their own process groups and kills and reaps all of them on close()."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.procs = []

    def start(self, name, argv, env=None, cwd=None):
        log = open(os.path.join(self.logdir, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                             start_new_session=True)
        p.kfaas_name = name
        p.kfaas_log = log.name
        log.close()
        self.procs.append(p)
        return p

    def log(self, p):
        with open(p.kfaas_log, errors="replace") as f:
            return f.read()

    def check_alive(self, p):
        if p.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (p.kfaas_name, p.returncode, self.log(p)[-4000:]))

    def stop(self, p, timeout=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    def close(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.procs = []

    def dump_logs(self, limit=3000):
        out = []
        for p in self.procs:
            out.append("==== %s (%s) ====\n%s" % (p.kfaas_name, p.kfaas_log, self.log(p)[-limit:]))
        return "\n".join(out)


def rmtree(path):
    if path and os.path.isdir(path) and not os.environ.get("KFAAS_KEEP_TMP"):
        shutil.rmtree(path, ignore_errors=True)

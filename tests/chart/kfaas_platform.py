"""Starting the local platform for the chart's e2e tests: kfaas-local (API server on a plain-HTTP
port, optionally with its node), kfaas-operator and kfaas-activator, each component talking to the
API server through its own recording proxy. Everything missing makes the test skip (exit 77) with
the reason; everything started is killed and reaped in close()."""
import json
import os
import subprocess
import unittest
import urllib.error
import urllib.request

import kube_audit_proxy as kap
import testlib


def need_binary(name):
    p = testlib.find_binary(name)
    if not p:
        raise unittest.SkipTest("%s is not built in %s (it has not landed, or build it: "
                                "cmake --build %s --target %s)" % (name, testlib.BUILD, testlib.BUILD, name))
    return p


def help_text(exe):
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=20)
    return r.stdout + r.stderr


def need_flags(exe, flags):
    text = help_text(exe)
    missing = [f for f in flags if f not in text]
    if missing:
        raise unittest.SkipTest("%s has no %s flag (per --help); the test needs it" % (os.path.basename(exe), ", ".join(missing)))
    return text


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


class Platform:
    def __init__(self, name):
        self.tmp = testlib.tmpdir("kfaas-%s." % name)
        self.procs = testlib.Processes(self.tmp)
        self.proxies = []
        self.audit_log = os.path.join(self.tmp, "audit.jsonl")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.cache_dir = os.path.join(self.tmp, "kube-cache")
        self.kubeconfig = os.path.join(self.tmp, "kubeconfig")
        self.api = None

    # --- the API server -------------------------------------------------------------------------
    def start_local(self, node=True):
        """kfaas-local with a plain-HTTP port; node=False runs the API server only (if supported)."""
        exe = need_binary("kfaas-local")
        text = need_flags(exe, ["--insecure-port"])
        port = testlib.free_port()
        argv = [exe, "--insecure-port", str(port)]
        if "--home" in text:
            argv += ["--home", self.home]
        if "--secure-port" in text:
            argv += ["--secure-port", str(testlib.free_port())]
        if not node:
            if "--no-node" in text:
                argv += ["--no-node"]
            elif "--node=" in text or "--node " in text:
                argv += ["--node=false"]
        env = dict(os.environ, HOME=self.home, KFAAS_HOME=self.home)
        self.local = self.procs.start("kfaas-local", argv, env=env)
        self.api = "http://127.0.0.1:%d" % port
        testlib.wait_for("kfaas-local /version on %s" % self.api,
                         lambda: self._alive(self.local) and http_get(self.api + "/version")[0] == 200, timeout=60)
        kap.write_kubeconfig(self.kubeconfig, self.api)
        return self.api

    def _alive(self, p):
        self.procs.check_alive(p)
        return True

    def kubectl(self, *args, check=True, input=None, timeout=120):
        argv = ["kubectl", "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache_dir] + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout,
                           env=dict(os.environ, HOME=self.home))
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        return r

    def create_namespace(self, name):
        # Not `kubectl create namespace`: it sends protobuf, which kfaas-local does not accept.
        self.kubectl("apply", "-f", "-", input='{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "%s"}}' % name)

    def served_kinds(self):
        """{(group, kind)} the API server serves, from `kubectl api-resources`."""
        lines = self.kubectl("api-resources").stdout.splitlines()
        header = lines[0]
        iv, ik = header.index("APIVERSION"), header.index("KIND")
        kinds = set()
        for line in lines[1:]:
            ver, kind = line[iv:].split()[0], line[ik:].split()[0]
            kinds.add((ver.split("/")[0] if "/" in ver else "", kind))
        return kinds

    # --- components -----------------------------------------------------------------------------
    def proxy_kubeconfig(self, component, namespace="default"):
        p = kap.AuditProxy(component, self.api, self.audit_log)
        self.proxies.append(p)
        path = os.path.join(self.tmp, "kubeconfig-" + component)
        kap.write_kubeconfig(path, p.url, namespace)
        return path

    def records(self):
        return kap.read_log(self.audit_log) if os.path.exists(self.audit_log) else []

    def metrics(self, port):
        return http_get("http://127.0.0.1:%d/metrics" % port)[1]

    def close(self):
        self.procs.close()
        for p in self.proxies:
            p.close()
        self.proxies = []
        testlib.rmtree(self.tmp)


def docs_of(path):
    import yaml
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def dump_json(obj):
    return json.dumps(obj, indent=2, sort_keys=True)


class Prometheus:
    """The real Prometheus server (Debian's), own config and storage, scraping the given targets
    every second on a free loopback port."""

    def __init__(self, platform, targets, scrape_interval="1s"):
        import shutil
        exe = shutil.which("prometheus")
        if not exe:
            raise unittest.SkipTest("prometheus is not installed (apt-get install prometheus)")
        self.port = testlib.free_port()
        self.scrape_interval_s = float(scrape_interval.rstrip("s"))
        d = os.path.join(platform.tmp, "prometheus")
        os.makedirs(os.path.join(d, "data"))
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n"
                    "scrape_configs:\n" % (scrape_interval, scrape_interval, scrape_interval))
            for job, addr in sorted(targets.items()):
                # honor_labels: the metrics' own "namespace" label (the function's) wins, as the
                # chart's ServiceMonitor sets honorLabels.
                f.write("  - job_name: %s\n    honor_labels: true\n    static_configs:\n"
                        "      - targets: ['%s']\n" % (job, addr))
        r = subprocess.run(["promtool", "check", "config", cfg], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("promtool check config: %s%s" % (r.stdout, r.stderr))
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = platform.procs.start("prometheus", [
            exe, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(d, "data"),
            "--web.listen-address=127.0.0.1:%d" % self.port, "--storage.tsdb.retention.time=1h",
            "--log.level=warn"])
        self.platform = platform
        testlib.wait_for("prometheus /-/ready", lambda: platform._alive(self.proc) and
                         http_get(self.url + "/-/ready")[0] == 200, timeout=60)

    def _api(self, path, params):
        import urllib.parse
        url = self.url + path + "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
            raise AssertionError("%s %r: %s %s" % (path, params, e.code, body.get("error")))
        if body.get("status") != "success":
            raise AssertionError("%s %r: %s" % (path, params, body))
        return body["data"]

    def query(self, expr, at=None):
        """The instant vector/scalar result of expr at time `at` (default now):
        [{"metric": {...}, "value": [t, "v"]}]."""
        params = {"query": expr}
        if at is not None:
            params["time"] = "%.3f" % at
        data = self._api("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def query_range(self, expr, start, end, step):
        """The range query result of expr: [{"metric": {...}, "values": [[t, "v"], ...]}]."""
        return self._api("/api/v1/query_range", {"query": expr, "start": "%.3f" % start,
                                                 "end": "%.3f" % end, "step": "%gs" % step})["result"]

    def wait_scraped(self, jobs, after, timeout=60):
        """Waits until every job has been scraped successfully at a time later than `after`
        (seconds since the epoch) and returns the latest of those scrape times: an instant at which
        Prometheus holds every value the targets exposed at `after`. (Prometheus applies a new
        configuration's targets only some seconds after it reports ready, so its first scrape can
        come well after /-/ready.)"""
        def scraped():
            seen = {}
            for r in self.query("timestamp(up == 1)"):
                seen[r["metric"]["job"]] = float(r["value"][1])
            if all(seen.get(j, 0) > after for j in jobs):
                return max(seen[j] for j in jobs)
            return None
        return testlib.wait_for("Prometheus to scrape %s after t=%.3f" % (", ".join(sorted(jobs)), after),
                                scraped, timeout=timeout, interval=0.2)

    def targets_up(self):
        res = self.query("up")
        return {r["metric"]["job"]: r["value"][1] == "1" for r in res}

#!/usr/bin/python3
"""The chart's runtime contract, end to end, on the local platform:

  kfaas-local (API server + node) <- recording proxy <- kfaas-operator  (the chart's container args)
                                  <- recording proxy <- kfaas-activator (the chart's container args)
  Prometheus (real, 1 s scrapes) -> both admin ports

The chart is rendered with keda.enabled=true (its RBAC is the default's plus the scaledobjects
rule, which tests/chart/rbac_rules_test.py checks) and a stand-in of KEDA's ScaledObject CRD is
installed.

A scenario drives what a user does: Functions created, a cold start, traffic, a burst over the
cluster concurrency limit (429) that the operator's autoscaler loop answers by scaling the
Function up through /scale, an invocation timeout (504), an unknown function (404), an invalid
Function (a Warning Event), a spec update, a Function scaled by KEDA (its ScaledObject
created, updated, deleted when it goes back to kfaas' autoscaler), a hand-edited Service (put back), a Deployment deleted by hand
(created again), scale to zero after the idle window, a delete, an operator shutdown. Then:

  - RBAC: every request each component sent is allowed by the chart's rules for its
    ServiceAccount, and every rule was used (or is listed below with the reason it cannot be);
  - metrics: `promtool check metrics` passes on both /metrics; the expected series have the
    expected values in Prometheus;
  - the dashboard: every expression, queried as Grafana does (a range query over the scenario,
    $__rate_interval from the scrape interval), shows data, and every variable query finds the
    scenario's namespace and functions.

Prometheus is queried at a fixed instant: the first scrape of both components after the scenario
ended (so every final value is in, and the operator's shutdown afterwards, which makes its series
stale, does not matter). The scenario starts only after Prometheus has scraped both components
once, so every counter has a sample from before the traffic to rate against.

Skips (exit 77) naming what is missing while kfaas-local, the operator or the activator have not
landed."""
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_lib  # noqa: E402
import kfaas_platform as kp  # noqa: E402
import rbac_lib  # noqa: E402
import testlib  # noqa: E402

CHART = os.path.join(testlib.ROOT, "charts", "kfaas")
RELEASE_NS = "kfaas"
FN_NS = "default"
CONCURRENCY_LIMIT = 4
KEDA_CRD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keda-scaledobject-crd.yaml")
# Permissions the chart grants that this scenario cannot make the code use, with the reason: rare
# paths (a run may still hit them).
NOT_EXERCISED = {
    "operator": {
        ("apps", "deployments/scale", "get"): "the autoscaler loop, only after a 409 Conflict on its "
                                              "/scale patch (the activator scaled meanwhile)",
        ("", "events", "patch"): "only when the same Event repeats within 10 minutes (aggregation)",
    },
    "activator": {},
}
# Permissions for code that has not landed in the binaries yet: the test fails once a request uses
# one (remove it from here then).
NOT_YET_USED = {
    "operator": {},
    "activator": {},
}
JOBS = ("kfaas-activator", "kfaas-operator")


def renderer():
    return os.environ.get("KFAAS_HELM_TEMPLATE") or os.path.join(testlib.BUILD, "hack", "helm-template", "helm-template")


def container_args(docs, component):
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["labels"].get("app.kubernetes.io/component") == component:
            c = d["spec"]["template"]["spec"]["containers"][0]
            return list(c.get("args", [])), {e["name"]: e.get("value") for e in c.get("env", [])}
    raise AssertionError("no %s Deployment rendered" % component)


def rewrite_args(args, replace, drop=()):
    """--flag=value args with some values replaced (ports, addresses) and some flags dropped."""
    out = []
    for a in args:
        name = a.split("=", 1)[0]
        if name in drop:
            continue
        out.append("%s=%s" % (name, replace[name]) if name in replace else a)
    return out


def http(method, url, headers=None, timeout=30):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class PlatformE2ETest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for b in ("kfaas-local", "kfaas-operator", "kfaas-activator", "hello-function"):
            kp.need_binary(b)
        cls.p = kp.Platform("chart-e2e")
        try:
            cls._start()
            cls._scenario()
        except BaseException:
            print(cls.p.procs.dump_logs(), file=sys.stderr)
            cls.p.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("KFAAS_TEST_VERBOSE"):
            print(cls.p.procs.dump_logs(), file=sys.stderr)
        cls.p.close()

    # --- setup ------------------------------------------------------------------------------------
    @classmethod
    def _start(cls):
        p = cls.p
        p.start_local(node=True)
        p.create_namespace(RELEASE_NS)
        p.kubectl("apply", "-f", os.path.join(CHART, "crds"))
        p.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/functions.kfaas.dev")
        p.kubectl("apply", "-f", KEDA_CRD)
        p.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/scaledobjects.keda.sh")

        out = subprocess.run([renderer(), "kfaas", CHART, "-n", RELEASE_NS, "--set",
                              "activator.replicas=1,clusterConcurrencyLimit=%d,keda.enabled=true" % CONCURRENCY_LIMIT],
                             capture_output=True, text=True, check=True).stdout
        cls.rendered = os.path.join(p.tmp, "rendered.yaml")
        with open(cls.rendered, "w") as f:
            f.write(out)
        docs = kp.docs_of(cls.rendered)
        cls.rules = rbac_lib.rules_by_component(docs)

        cls.act_http, cls.act_admin, cls.act_grpc, cls.op_admin = (testlib.free_port() for _ in range(4))
        act_args, act_env = container_args(docs, "activator")
        op_args, op_env = container_args(docs, "operator")
        # The headless Service's name resolves to this one activator (which --peers leaves out).
        grpc_addr = "127.0.0.1:%d" % cls.act_grpc
        cls.activator = cls._start_component("activator", kp.need_binary("kfaas-activator"), rewrite_args(act_args, {
            "--port": cls.act_http, "--admin-port": cls.act_admin, "--grpc-port": cls.act_grpc,
            "--peers": grpc_addr}), act_env)
        cls.operator = cls._start_component("operator", kp.need_binary("kfaas-operator"), rewrite_args(op_args, {
            "--admin-port": cls.op_admin, "--activator-stats-address": grpc_addr, "--keda-scaler-address": grpc_addr}),
            op_env)
        for name, port, proc in (("activator", cls.act_admin, cls.activator), ("operator", cls.op_admin, cls.operator)):
            testlib.wait_for("%s /readyz" % name, lambda port=port, proc=proc: p._alive(proc) and
                             kp.http_get("http://127.0.0.1:%d/readyz" % port)[0] == 200, timeout=60)
        # The operator's autoscaler loop (the leader's) reads the activator's stats stream before
        # any traffic, or the burst below could go unseen.
        testlib.wait_for("the operator's autoscaler connected to the activator", lambda: cls.op_metric(
            "kfaas_autoscaler_activators_connected") == 1, timeout=60)
        cls.prom = kp.Prometheus(p, {"kfaas-activator": "127.0.0.1:%d" % cls.act_admin,
                                     "kfaas-operator": "127.0.0.1:%d" % cls.op_admin})
        # Before any traffic: a sample of every counter at its starting value, or rate() and
        # increase() over the scenario have nothing to start from.
        cls.prom.wait_scraped(JOBS, after=time.time())
        cls.t_start = time.time()

    @classmethod
    def op_metric(cls, name, labels=""):
        """The value of one sample on the operator's /metrics (name{labels} verbatim), or None."""
        want = name + ("{%s}" % labels if labels else "")
        for line in cls.p.metrics(cls.op_admin).splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return None

    @classmethod
    def _start_component(cls, name, exe, args, env):
        p = cls.p
        extra = ["--kubeconfig=" + p.proxy_kubeconfig(name, FN_NS)]
        help_text = kp.help_text(exe)
        if name == "operator" and "--local" in help_text:
            extra.append("--local")  # the node runs spec.command instead of pulling images
        e = dict(os.environ, HOME=p.home, POD_NAME="%s-0" % name, POD_NAMESPACE=RELEASE_NS)
        for k, v in env.items():
            if v is not None:
                e[k] = v
        return p.procs.start(name, [exe] + args + extra, env=e)

    # --- the scenario -----------------------------------------------------------------------------
    @classmethod
    def apply_function(cls, name, spec):
        obj = {"apiVersion": "kfaas.dev/v1alpha1", "kind": "Function",
               "metadata": {"name": name, "namespace": FN_NS}, "spec": spec}
        cls.p.kubectl("apply", "-f", "-", input=json.dumps(obj))

    @classmethod
    def fn_url(cls, name, path="/"):
        return "http://127.0.0.1:%d/fn/%s/%s%s" % (cls.act_http, FN_NS, name, path)

    @classmethod
    def events_about(cls, name):
        out = cls.p.kubectl("get", "events", "-n", FN_NS, "-o", "json").stdout
        return [e for e in json.loads(out)["items"]
                if e.get("involvedObject", {}).get("kind") == "Function" and e["involvedObject"].get("name") == name]

    @classmethod
    def scaled_object(cls, name):
        r = cls.p.kubectl("get", "scaledobjects.keda.sh", name, "-n", FN_NS, "-o", "json", check=False)
        if r.returncode != 0:
            if "NotFound" not in r.stderr:
                raise AssertionError("kubectl get scaledobject %s: %s" % (name, r.stderr))
            return None
        return json.loads(r.stdout)

    @classmethod
    def _scenario(cls):
        p = cls.p
        hello = kp.need_binary("hello-function")
        cls.sent = {}  # (function, code) -> count
        base = {"image": "example.com/hello:1", "command": [hello], "port": 8080}
        cls.apply_function("hello", dict(base, scale={"min": 0, "max": 3, "target": 1, "idleWindowSeconds": 3},
                                         timeoutSeconds=10))
        cls.apply_function("slow", dict(base, timeoutSeconds=1, scale={"min": 0, "max": 1, "idleWindowSeconds": 60}))
        testlib.wait_for("the hello Deployment", lambda: p.kubectl("get", "deployment", "hello", "-n", FN_NS,
                                                                   check=False).returncode == 0, timeout=60)
        # Functions usually exist for a while before their first call; here the call follows at
        # once, so first let Prometheus see hello's counters at 0 (the activator creates them when
        # it learns of the Function). Otherwise a cold start inside the first scrape interval is
        # the series' first sample, and increase() cannot count it.
        testlib.wait_for("Prometheus to hold hello's cold start counter at 0", lambda: cls.prom.query(
            'kfaas_cold_starts_total{namespace="%s", function="hello"} == 0' % FN_NS), timeout=30)

        def call(fn, path="/", expect=None):
            code, headers, body = http("GET", cls.fn_url(fn, path))
            cls.sent[(fn, code)] = cls.sent.get((fn, code), 0) + 1
            if expect is not None and code != expect:
                raise AssertionError("GET %s: %d %r, want %d" % (cls.fn_url(fn, path), code, body[:300], expect))
            return code, headers, body

        # A cold start: the first request waits for an instance and says how long it took.
        _, headers, _ = call("hello", expect=200)
        cls.cold_start_header = {k.lower(): v for k, v in headers.items()}.get("x-kfaas-cold-start")
        for _ in range(20):
            call("hello", expect=200)
        # A burst over the cluster-wide concurrency limit: some get 429.
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY_LIMIT * 3) as ex:
            codes = list(ex.map(lambda _: call("hello", "/sleep?ms=1500")[0], range(CONCURRENCY_LIMIT * 3)))
        cls.burst_codes = codes
        # The operator's autoscaler saw the burst (4 in flight at target 1) and scaled hello up
        # through /scale (to max 3). Its counters, not the Deployment: the activator scales hello
        # back to zero 3 s after the burst.
        testlib.wait_for("the autoscaler writing hello's /scale", lambda: (cls.op_metric(
            "kfaas_autoscaler_scale_writes_total", 'result="ok"') or 0) >= 1, timeout=30)
        cls.desired_after_burst = cls.op_metric("kfaas_autoscaler_desired_replicas",
                                                'namespace="%s",function="hello"' % FN_NS)
        # An invocation over its timeoutSeconds (1 s): 504.
        call("slow", "/sleep?ms=3000", expect=504)
        # An unknown function: 404 naming it.
        code, _, cls.unknown_body = http("GET", cls.fn_url("nope"))
        cls.unknown_code = code
        # A spec change the operator rolls out.
        p.kubectl("patch", "function", "hello", "-n", FN_NS, "--type=merge",
                  "-p", json.dumps({"spec": {"env": [{"name": "GREETING", "value": "hey"}]}}))
        testlib.wait_for("the GREETING env on the hello Deployment", lambda: "hey" in p.kubectl(
            "get", "deployment", "hello", "-n", FN_NS, "-o", "jsonpath={.spec.template.spec.containers[0].env}").stdout,
            timeout=60)
        # A spec the schema accepts and the operator cannot serve (scale.min > scale.max): the
        # Function reports Ready=False and the operator emits a Warning Event about it.
        cls.apply_function("inverted", dict(base, scale={"min": 3, "max": 1}))
        cls.inverted_events = testlib.wait_for("a Warning Event about the inverted Function",
                                               lambda: cls.events_about("inverted"), timeout=60)
        # A Function scaled by KEDA: the operator creates its ScaledObject (the CRD is there), updates
        # it with the Function's spec, and deletes it once the Function goes back to kfaas.
        cls.apply_function("bykeda", dict(base, scale={"autoscaler": "keda", "min": 0, "max": 2, "target": 1}))
        cls.keda_created = testlib.wait_for("the bykeda ScaledObject", lambda: cls.scaled_object("bykeda"), timeout=60)
        p.kubectl("patch", "function", "bykeda", "-n", FN_NS, "--type=merge", "-p", json.dumps({"spec": {"scale": {"max": 5}}}))
        cls.keda_updated = testlib.wait_for("the bykeda ScaledObject's maxReplicaCount updated to 5", lambda: (
            lambda so: so if so and so["spec"].get("maxReplicaCount") == 5 else None)(cls.scaled_object("bykeda")), timeout=60)
        p.kubectl("patch", "function", "bykeda", "-n", FN_NS, "--type=merge",
                  "-p", json.dumps({"spec": {"scale": {"autoscaler": "kfaas"}}}))
        testlib.wait_for("the bykeda ScaledObject deleted", lambda: cls.scaled_object("bykeda") is None, timeout=60)
        # Someone edits the operator's Service by hand: the operator puts its spec back.
        p.kubectl("patch", "service", "hello", "-n", FN_NS, "--type=json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 9999}]))
        testlib.wait_for("the hello Service's targetPort put back to \"http\"", lambda: p.kubectl(
            "get", "service", "hello", "-n", FN_NS, "-o", "jsonpath={.spec.ports[0].targetPort}").stdout == "http",
            timeout=60)
        # Idle: back to zero after idleWindowSeconds.
        testlib.wait_for("hello scaled to zero", lambda: p.kubectl(
            "get", "deployment", "hello", "-n", FN_NS, "-o", "jsonpath={.spec.replicas}").stdout == "0", timeout=90)
        # Someone deletes the operator's Deployment by hand: the operator makes sure the Function
        # still exists, and creates it again.
        uid = p.kubectl("get", "deployment", "slow", "-n", FN_NS, "-o", "jsonpath={.metadata.uid}").stdout
        p.kubectl("delete", "deployment", "slow", "-n", FN_NS)
        testlib.wait_for("the slow Deployment created again", lambda: p.kubectl(
            "get", "deployment", "slow", "-n", FN_NS, "-o", "jsonpath={.metadata.uid}", check=False).stdout
            not in ("", uid), timeout=60)
        # Delete: the operator sees it, the API server's GC removes the Deployment and Service.
        p.kubectl("delete", "function", "slow", "-n", FN_NS)
        testlib.wait_for("the slow Deployment gone", lambda: p.kubectl(
            "get", "deployment", "slow", "-n", FN_NS, check=False).returncode != 0, timeout=60)
        # The instant every check queries Prometheus at: both scraped after all of the above.
        cls.t_end = time.time()
        cls.eval_time = cls.prom.wait_scraped(JOBS, after=cls.t_end)
        cls.metrics_text = {"activator": p.metrics(cls.act_admin), "operator": p.metrics(cls.op_admin)}
        # Last: the operator stops and releases its Lease.
        p.procs.stop(cls.operator, timeout=30)
        cls.records = p.records()

    # --- the checks -------------------------------------------------------------------------------
    def test_scenario_outcomes(self):
        self.assertIsNotNone(self.cold_start_header, "the cold start response lacks X-Kfaas-Cold-Start")
        self.assertGreaterEqual(int(self.cold_start_header), 0)
        self.assertIn(429, self.burst_codes, "no 429 over clusterConcurrencyLimit=%d: %s" % (CONCURRENCY_LIMIT, self.burst_codes))
        self.assertEqual(self.desired_after_burst, 3, "the autoscaler's desired replicas for hello after the burst")
        so = self.keda_created
        self.assertEqual(so["spec"]["scaleTargetRef"]["name"], "bykeda", so)
        self.assertEqual([r["kind"] for r in so["metadata"].get("ownerReferences", [])], ["Function"], so)
        self.assertEqual(so["spec"]["triggers"][0]["metadata"]["scalerAddress"], "127.0.0.1:%d" % self.act_grpc, so)
        self.assertEqual(self.unknown_code, 404)
        self.assertIn(b"nope", self.unknown_body)
        ev = self.inverted_events[0]
        self.assertEqual(ev.get("type"), "Warning", ev)
        self.assertIn("max", ev.get("message", ""), ev)

    def test_rbac_matches_traffic(self):
        listed = {c: {**NOT_EXERCISED.get(c, {}), **NOT_YET_USED.get(c, {})} for c in ("operator", "activator")}
        denied, unused = rbac_lib.compare(self.records, self.rules, listed)
        stale = rbac_lib.listed_but_used(self.records, NOT_YET_USED)
        self.assertFalse(stale, "permissions listed in NOT_YET_USED that the scenario did use: remove them "
                         "from the list:\n  %s" % "\n  ".join(map(str, stale)))
        table = "\n".join("  %-9s %-16s %-45s %-7s %s" % r for r in rbac_lib.observed(self.records))
        self.assertFalse(denied, "requests the chart's RBAC does not allow (add rules to "
                         "charts/kfaas/templates/rbac.yaml):\n  %s\nall requests:\n%s" % ("\n  ".join(map(str, denied)), table))
        self.assertFalse(unused, "permissions no request used (remove them, or list them in NOT_EXERCISED/NOT_YET_USED with "
                         "the reason):\n  %s\nall requests:\n%s" % ("\n  ".join(map(str, unused)), table))
        for comp in ("operator", "activator"):
            self.assertTrue([r for r in self.records if r["component"] == comp], "no requests from the %s" % comp)

    def test_promtool_check_metrics(self):
        for comp, text in self.metrics_text.items():
            r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, "promtool check metrics on the %s's /metrics:\n%s%s" % (comp, r.stdout, r.stderr))

    def q1(self, expr):
        res = self.prom.query(expr, at=self.eval_time)
        self.assertEqual(len(res), 1, "%s: %s" % (expr, res))
        return float(res[0]["value"][1])

    def test_expected_series(self):
        hello = 'namespace="%s", function="hello"' % FN_NS
        ok = self.sent.get(("hello", 200), 0)
        self.assertEqual(self.q1('kfaas_activator_requests_total{%s, code="200"}' % hello), ok)
        self.assertEqual(self.q1('kfaas_activator_requests_total{%s, code="429"}' % hello), self.sent.get(("hello", 429)))
        self.assertEqual(self.q1('kfaas_activator_throttled_requests_total{%s}' % hello), self.sent.get(("hello", 429)))
        self.assertEqual(self.q1('kfaas_activator_timeouts_total{namespace="%s", function="slow"}' % FN_NS), 1)
        self.assertGreaterEqual(self.q1('kfaas_cold_starts_total{%s}' % hello), 1)
        # What the dashboard's rate()/increase() see: the counter went up inside the scenario (from
        # the sample before the traffic), not just "exists".
        _, kw = self.grafana_window()
        self.assertGreaterEqual(self.q1('increase(kfaas_cold_starts_total{%s}[%s])' % (hello, kw["range_"])), 1)
        self.assertGreaterEqual(self.q1('kfaas_cold_start_duration_seconds_count{%s}' % hello), 1)
        self.assertEqual(self.q1('kfaas_function_duration_seconds_count{%s}' % hello), ok)
        # The burst's sleeping requests alone are 1.5 s each: billable seconds add up.
        self.assertGreater(self.q1('kfaas_function_duration_seconds_sum{%s}' % hello), 1.4)
        self.assertGreater(self.q1('sum(kfaas_operator_reconcile_total)'), 0)
        # The operator's autoscaler loop: connected to the activator, wrote hello's /scale.
        self.assertEqual(self.q1('kfaas_autoscaler_activators_connected'), 1)
        self.assertGreaterEqual(self.q1('kfaas_autoscaler_scale_writes_total{result="ok"}'), 1)

    def grafana_window(self):
        """What Grafana substitutes for a dashboard time range from the scenario's start to the
        evaluation instant, with the data source's scrape interval set to Prometheus's: the query
        step is the scrape interval, $__rate_interval = max(4 x scrape interval, step + scrape
        interval), $__range reaches back to the samples from before the traffic."""
        scrape = self.prom.scrape_interval_s
        step = scrape
        return step, {"rate_interval": "%ds" % math.ceil(max(4 * scrape, step + scrape)),
                      "range_": "%ds" % math.ceil(self.eval_time - self.t_start + 2 * scrape),
                      "interval": "%ds" % math.ceil(step)}

    def samples_report(self, expr, kw):
        """For a failure message: how many samples Prometheus holds of each metric the expression
        reads, within its window."""
        out = []
        window = kw["range_"]
        for m in sorted(dashboard_lib.metric_names(expr)):
            res = self.prom.query('count_over_time({__name__="%s"}[%s])' % (m, window), at=self.eval_time)
            counts = sorted(int(r["value"][1]) for r in res)
            out.append("%s: %d series, samples per series %s" % (m, len(res), counts[:3] + (["..."] if len(counts) > 3 else [])))
        return "; ".join(out)

    def test_dashboard_expressions_return_data(self):
        dash = dashboard_lib.load()
        exported = set()
        for text in self.metrics_text.values():
            for line in text.splitlines():
                if line.startswith("# TYPE "):
                    exported.add(line.split()[2])
        step, kw = self.grafana_window()
        empty, not_exported = [], []
        for title, ref, expr in dashboard_lib.expressions(dash):
            q = dashboard_lib.substitute(expr, **kw)
            res = self.prom.query_range(q, self.t_start, self.eval_time, step)
            # A panel shows a point for every finite value (NaN, e.g. a quantile of no requests, is a gap).
            if any(not math.isnan(float(v)) for r in res for _, v in r["values"]):
                continue
            families = {m for m in dashboard_lib.metric_names(expr)}
            missing = sorted(f for f in families if dashboard_lib.family_of(f) not in exported)
            if missing:
                not_exported.append("%s/%s: %s" % (title, ref, ", ".join(missing)))
            else:
                empty.append("%s/%s: %s\n    (%s)" % (title, ref, q, self.samples_report(expr, kw)))
        for name, query in dashboard_lib.variable_queries(dash):
            q, label = dashboard_lib.label_values_as_promql(query)
            values = {r["metric"].get(label) for r in self.prom.query(q, at=self.eval_time)}
            if FN_NS not in values and "hello" not in values:
                empty.append("variable %s: %s -> %s" % (name, q, values))
        self.assertFalse(empty, "dashboard expressions without data over the scenario (%.0f s, step %gs, %s):\n  %s" % (
            self.eval_time - self.t_start, step, kw, "\n  ".join(empty)))
        if not_exported:
            self.skipTest("all other expressions returned data; these use metrics neither component exports "
                          "yet:\n  " + "\n  ".join(not_exported))


if __name__ == "__main__":
    testlib.main()

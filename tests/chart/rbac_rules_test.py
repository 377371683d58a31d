#!/usr/bin/python3
"""Unit tests of the RBAC comparison the e2e test relies on (request parsing, rule evaluation,
denied/unused detection), on the chart's real rendered RBAC."""
import os
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_audit_proxy as kap  # noqa: E402
import rbac_lib  # noqa: E402
import testlib  # noqa: E402


def render(*args):
    renderer = os.environ.get("KFAAS_HELM_TEMPLATE") or os.path.join(testlib.BUILD, "hack", "helm-template", "helm-template")
    out = subprocess.run([renderer, "kfaas", os.path.join(testlib.ROOT, "charts", "kfaas"), "-n", "kfaas"] + list(args),
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def rec(component, method, path):
    r = {"component": component, "method": method}
    r.update(kap.request_info(method, path))
    return r


class RequestInfoTest(unittest.TestCase):
    def test_paths(self):
        cases = [
            ("GET", "/apis/kfaas.dev/v1alpha1/functions?limit=500", ("list", "kfaas.dev", "functions", "", "", "")),
            ("GET", "/apis/kfaas.dev/v1alpha1/functions?watch=true&resourceVersion=5",
             ("watch", "kfaas.dev", "functions", "", "", "")),
            ("PUT", "/apis/kfaas.dev/v1alpha1/namespaces/default/functions/hello/status",
             ("update", "kfaas.dev", "functions", "status", "default", "hello")),
            ("PATCH", "/apis/apps/v1/namespaces/d/deployments/hello/scale", ("patch", "apps", "deployments", "scale", "d", "hello")),
            ("POST", "/api/v1/namespaces/d/events", ("create", "", "events", "", "d", "")),
            ("DELETE", "/api/v1/namespaces/d/services", ("deletecollection", "", "services", "", "d", "")),
            ("GET", "/api/v1/namespaces/d", ("get", "", "namespaces", "", "d", "d")),
            ("GET", "/apis/coordination.k8s.io/v1/namespaces/kfaas/leases/kfaas-operator",
             ("get", "coordination.k8s.io", "leases", "", "kfaas", "kfaas-operator")),
        ]
        for method, path, want in cases:
            i = kap.request_info(method, path)
            self.assertTrue(i["resourceRequest"], path)
            self.assertEqual((i["verb"], i["apiGroup"], i["resource"], i["subresource"], i["namespace"], i["name"]), want, path)
        for path in ("/version?timeout=5s", "/apis", "/api", "/openapi/v3", "/apis/apps/v1"):
            self.assertFalse(kap.request_info("GET", path)["resourceRequest"], path)


class RulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rules = rbac_lib.rules_by_component(render())

    def test_components_bound(self):
        self.assertEqual(set(self.rules), {"operator", "activator"})
        self.assertEqual({ns for _, ns in self.rules["activator"]}, {None}, "the activator needs no namespaced Role")

    def test_lease_only_in_release_namespace(self):
        ok = rec("operator", "PUT", "/apis/coordination.k8s.io/v1/namespaces/kfaas/leases/kfaas-operator")
        other = rec("operator", "PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/kfaas-operator")
        self.assertTrue(rbac_lib.allowed(self.rules["operator"], ok))
        self.assertFalse(rbac_lib.allowed(self.rules["operator"], other))
        self.assertFalse(rbac_lib.allowed(self.rules["activator"], ok))
        other_lease = rec("operator", "PUT", "/apis/coordination.k8s.io/v1/namespaces/kfaas/leases/someone-else")
        self.assertFalse(rbac_lib.allowed(self.rules["operator"], other_lease))
        create = rec("operator", "POST", "/apis/coordination.k8s.io/v1/namespaces/kfaas/leases")
        self.assertTrue(rbac_lib.allowed(self.rules["operator"], create))

    def test_discovery_always_allowed(self):
        self.assertTrue(rbac_lib.allowed([], rec("activator", "GET", "/version?timeout=5s")))
        self.assertFalse(rbac_lib.allowed([], rec("activator", "GET", "/metrics")))

    def test_denied_and_unused(self):
        records = [
            rec("activator", "GET", "/apis/kfaas.dev/v1alpha1/functions?limit=500"),
            rec("activator", "DELETE", "/apis/apps/v1/namespaces/d/deployments/x"),  # not granted
        ]
        denied, unused = rbac_lib.compare(records, {"activator": self.rules["activator"]})
        self.assertEqual(denied, [("activator", "delete", "apps/deployments", "d")])
        self.assertIn(("activator", "*", "kfaas.dev", "functions", "watch"), unused)
        self.assertNotIn(("activator", "*", "kfaas.dev", "functions", "list"), unused)
        _, unused = rbac_lib.compare(records, {"activator": self.rules["activator"]},
                                     {"activator": {("kfaas.dev", "functions", "watch"): "test"}})
        self.assertNotIn(("activator", "*", "kfaas.dev", "functions", "watch"), unused)

    def test_listed_but_used(self):
        records = [rec("operator", "GET", "/apis/kfaas.dev/v1alpha1/functions?limit=500")]
        listed = {"operator": {("kfaas.dev", "functions", "list"): "stale", ("kfaas.dev", "functions", "watch"): "ok"},
                  "activator": {("kfaas.dev", "functions", "list"): "another component"}}
        self.assertEqual(rbac_lib.listed_but_used(records, listed), [("operator", "kfaas.dev", "functions", "list")])

    def test_no_leader_election_role_without_leader_election(self):
        docs = render("--set", "operator.replicas=1,operator.leaderElection.enabled=false")
        self.assertFalse([d for d in docs if d["kind"] in ("Role", "RoleBinding")])
        self.assertFalse(any(ns for _, ns in rbac_lib.rules_by_component(docs)["operator"]))

    def test_keda_adds_exactly_scaledobjects(self):
        """platform_e2e proves the keda.enabled rules against traffic; the default's rules are
        those minus exactly the operator's scaledobjects rule (so both variants are covered)."""
        def grants(docs):
            return {c: rbac_lib.grants(r) for c, r in rbac_lib.rules_by_component(docs).items()}
        default, keda = grants(render()), grants(render("--set", "keda.enabled=true"))
        self.assertEqual(keda["activator"], default["activator"])
        self.assertEqual(keda["operator"] - default["operator"],
                         {("*", "keda.sh", "scaledobjects", v) for v in ("list", "get", "create", "update", "delete")})
        self.assertLessEqual(default["operator"], keda["operator"])
        self.assertFalse([g for g in default["operator"] if g[1] == "keda.sh"])

    def test_no_wildcards(self):
        for comp, rules in self.rules.items():
            for r, _ in rules:
                for field in ("apiGroups", "resources", "verbs"):
                    self.assertNotIn("*", r[field], "%s: wildcard in %s" % (comp, field))


class ProxyTest(unittest.TestCase):
    """The recording proxy forwards bodies and streams chunked responses (watches) as they come."""

    def test_forward_and_stream(self):
        import http.server
        import json
        import threading
        import urllib.request

        release = threading.Event()

        class Upstream(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(2):
                    line = b'{"type":"ADDED","n":%d}\n' % i
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                    release.wait(10)
                self.wfile.write(b"0\r\n\r\n")

            def do_PATCH(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                out = json.dumps({"got": json.loads(body), "ct": self.headers["Content-Type"]}).encode()
                self.send_response(201)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        up = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        threading.Thread(target=up.serve_forever, daemon=True).start()
        tmp = testlib.tmpdir("proxy.")
        proxy = kap.AuditProxy("operator", "http://127.0.0.1:%d" % up.server_address[1], os.path.join(tmp, "log"))
        try:
            req = urllib.request.Request(proxy.url + "/apis/apps/v1/namespaces/d/deployments/x/scale", method="PATCH",
                                         data=b'{"spec":{"replicas":1}}',
                                         headers={"Content-Type": "application/merge-patch+json", "User-Agent": "ua/1"})
            with urllib.request.urlopen(req, timeout=10) as r:
                self.assertEqual(r.status, 201)
                self.assertEqual(json.loads(r.read()), {"got": {"spec": {"replicas": 1}}, "ct": "application/merge-patch+json"})
            watch = urllib.request.Request(proxy.url + "/apis/apps/v1/deployments?watch=true",
                                           headers={"User-Agent": "watcher/1"})
            with urllib.request.urlopen(watch, timeout=10) as r:
                self.assertEqual(json.loads(r.readline())["n"], 0)  # before the upstream finishes
                release.set()
                self.assertEqual(json.loads(r.readline())["n"], 1)
        finally:
            release.set()
            proxy.close()
            up.shutdown()
        log = kap.read_log(os.path.join(tmp, "log"))
        testlib.rmtree(tmp)
        self.assertEqual([(r["verb"], r["resource"], r["subresource"], r["code"], r["userAgent"]) for r in log],
                         [("patch", "deployments", "scale", 201, "ua/1"), ("watch", "deployments", "", 200, "watcher/1")])


if __name__ == "__main__":
    testlib.main()

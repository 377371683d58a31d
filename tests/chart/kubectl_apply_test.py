#!/usr/bin/python3
"""The rendered chart applied with the real kubectl to kfaas-local: the CRD from crds/ first (as
helm install does), then every manifest of the default values and of each variant
(tests/chart/values/*.yaml, each in its own namespace), then once more (idempotent)."""
import glob
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfaas_platform as kp  # noqa: E402
import testlib  # noqa: E402

CHART = os.path.join(testlib.ROOT, "charts", "kfaas")
SERVICEMONITOR_CRD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "servicemonitor-crd.yaml")


def renderer():
    return os.environ.get("KFAAS_HELM_TEMPLATE") or os.path.join(testlib.BUILD, "hack", "helm-template", "helm-template")


def variants():
    out = [("default", [])]
    for f in sorted(glob.glob(os.path.join(testlib.ROOT, "tests", "chart", "values", "*.yaml"))):
        out.append((os.path.basename(f)[:-5], ["-f", f]))
    return out


class KubectlApplyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = kp.Platform("chart-apply")
        try:
            cls.p.start_local(node=False)
        except BaseException:
            cls.p.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.p.close()

    def render(self, name, namespace, args):
        path = os.path.join(self.p.tmp, name + ".yaml")
        r = subprocess.run([renderer(), "kfaas", CHART, "--namespace", namespace] + args,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path, "w") as f:
            f.write(r.stdout)
        return path

    def test_apply(self):
        p = self.p
        docs_kinds = set()
        rendered = []
        for name, args in variants():
            ns = "kfaas-" + name
            path = self.render(name, ns, args)
            rendered.append((name, ns, path))
            docs_kinds |= {(d["apiVersion"].split("/")[0] if "/" in d["apiVersion"] else "", d["kind"])
                           for d in kp.docs_of(path)}
        served = p.served_kinds()
        missing = sorted(k for k in docs_kinds if k not in served and k != ("monitoring.coreos.com", "ServiceMonitor"))
        if missing:
            self.skipTest("kfaas-local does not serve %s; the chart needs them"
                          % ", ".join("%s/%s" % (g or "core", k) for g, k in missing))

        # As helm install: the chart's crds/ first, then wait until the API serves them.
        for crd in sorted(glob.glob(os.path.join(CHART, "crds", "*.yaml"))) + [SERVICEMONITOR_CRD]:
            p.kubectl("apply", "-f", crd)
        p.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                  "crd/functions.kfaas.dev", "crd/servicemonitors.monitoring.coreos.com")

        for name, ns, path in rendered:
            with self.subTest(variant=name):
                p.kubectl("create", "namespace", ns)
                extra_ns = {d["metadata"].get("namespace") for d in kp.docs_of(path)} - {None, ns}
                for e in sorted(extra_ns):  # e.g. dashboard.namespace
                    if p.kubectl("get", "namespace", e, check=False).returncode != 0:
                        p.kubectl("create", "namespace", e)
                r = p.kubectl("apply", "-f", path)
                want = ["%s/%s" % (d["kind"].lower(), d["metadata"]["name"]) for d in kp.docs_of(path)]
                got = r.stdout
                for w in want:
                    self.assertIn(w, got.replace(".apps/", "/").replace(".rbac.authorization.k8s.io/", "/")
                                  .replace(".policy/", "/").replace(".autoscaling/", "/")
                                  .replace(".monitoring.coreos.com/", "/"), "kubectl apply output lacks %s:\n%s" % (w, got))
                names = p.kubectl("get", "-f", path, "-o", "name").stdout.split()
                self.assertEqual(len(names), len(want), names)
                again = p.kubectl("apply", "-f", path).stdout
                self.assertNotIn("created", again, "second apply created objects:\n" + again)
                # The Deployments kept their security settings through the API server.
                for d in kp.docs_of(path):
                    if d["kind"] != "Deployment":
                        continue
                    got = p.kubectl("get", "deployment", d["metadata"]["name"], "-n", ns, "-o",
                                    "jsonpath={.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem}"
                                    "{' '}{.spec.template.spec.securityContext.runAsNonRoot}").stdout
                    self.assertEqual(got, "true true", d["metadata"]["name"])


if __name__ == "__main__":
    testlib.main()

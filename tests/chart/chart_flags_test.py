#!/usr/bin/python3
"""The chart's container args against the built binaries: for the default values and each
tests/chart/values/*.yaml, every arg the operator's and the activator's Deployments pass is a flag
the binary has, with a value its parser accepts (the binary parses them followed by --help: an
unknown flag or a bad value exits 2, like a crash-looping pod would on a cluster). Skips (exit 77),
naming them, while the binaries are not built."""
import glob
import os
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402

CHART = os.path.join(testlib.ROOT, "charts", "kfaas")
BINARIES = {"operator": "kfaas-operator", "activator": "kfaas-activator"}


def renderer():
    return os.environ.get("KFAAS_HELM_TEMPLATE") or os.path.join(testlib.BUILD, "hack", "helm-template", "helm-template")


def variants():
    out = [("default", [])]
    for f in sorted(glob.glob(os.path.join(testlib.ROOT, "tests", "chart", "values", "*.yaml"))):
        out.append((os.path.basename(f)[:-5], ["-f", f]))
    return out


def container_args(docs):
    """{component: args} of the chart's Deployments."""
    out = {}
    for d in docs:
        if d.get("kind") == "Deployment":
            comp = d["metadata"]["labels"].get("app.kubernetes.io/component")
            out[comp] = list(d["spec"]["template"]["spec"]["containers"][0].get("args", []))
    return out


class ChartFlagsTest(unittest.TestCase):
    def test_args_parse(self):
        built = {comp: testlib.find_binary(b) for comp, b in BINARIES.items()}
        if not any(built.values()):
            self.skipTest("neither kfaas-operator nor kfaas-activator is built")
        checked = 0
        for name, args in variants():
            r = subprocess.run([renderer(), "kfaas", CHART, "-n", "kfaas"] + args, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            for comp, cargs in container_args([d for d in yaml.safe_load_all(r.stdout) if d]).items():
                exe = built.get(comp)
                if not exe:
                    continue
                with self.subTest(variant=name, component=comp):
                    p = subprocess.run([exe] + cargs + ["--help"], capture_output=True, text=True, timeout=30)
                    self.assertEqual(p.returncode, 0, "%s rejects the chart's args (values %s):\n  %s\n%s" % (
                        BINARIES[comp], name, " ".join(cargs), p.stderr.strip()))
                    checked += 1
        self.assertGreater(checked, 0)
        missing = [b for comp, b in BINARIES.items() if not built[comp]]
        if missing:
            self.skipTest("%s not built: only the other binary's args were checked" % ", ".join(missing))


if __name__ == "__main__":
    testlib.main()

#!/usr/bin/python3
"""The Grafana dashboard (dashboards/kfaas.json): structure, variables, coverage of the metrics a
user needs, and every PromQL expression parsed by the real Prometheus parser (promtool)."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_lib as dl  # noqa: E402


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dash = dl.load()

    def test_identity_and_time(self):
        d = self.dash
        self.assertEqual(d["uid"], "kfaas-overview")
        self.assertEqual(d["title"], "kfaas")
        self.assertIn("schemaVersion", d)
        self.assertNotIn("__inputs", d, "the Grafana sidecar cannot provision dashboards with __inputs")
        self.assertNotIn("id", d, "a provisioned dashboard must not carry a database id")

    def test_variables(self):
        vs = {v["name"]: v for v in self.dash["templating"]["list"]}
        self.assertEqual(vs["datasource"]["type"], "datasource")
        self.assertEqual(vs["datasource"]["query"], "prometheus")
        for name in ("namespace", "function"):
            v = vs[name]
            self.assertEqual(v["type"], "query")
            self.assertEqual(v["datasource"]["uid"], "${datasource}")
            self.assertTrue(v["multi"] and v["includeAll"], name)
            self.assertEqual(v["allValue"], ".*", name)
        self.assertIn("$namespace", dict(dl.variable_queries(self.dash))["function"],
                      "the function list must follow the namespace selection")

    def test_panels(self):
        ids = set()
        cells = {}
        for p in dl.panels(self.dash):
            self.assertNotIn(p["id"], ids, "duplicate panel id %d" % p["id"])
            ids.add(p["id"])
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((x, y), cells, "%r overlaps %r" % (p["title"], cells.get((x, y))))
                    cells[(x, y)] = p["title"]
            if p["type"] == "row":
                continue
            self.assertTrue(p.get("title") and p.get("description"), "panel %d needs a title and description" % p["id"])
            self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${datasource}"}, p["title"])
            self.assertTrue(p["targets"], p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${datasource}", p["title"])
                self.assertIn("fieldConfig", p)
            self.assertTrue(p["fieldConfig"]["defaults"].get("unit"), "%r has no unit" % p["title"])

    def test_covers_required_metrics(self):
        text = " ".join(e for _, _, e in dl.expressions(self.dash))
        for m in dl.REQUIRED_METRICS:
            self.assertIn(m, text, "no panel shows %s" % m)

    def test_per_function_panels_filter_by_variables(self):
        for title, ref, expr in dl.expressions(self.dash):
            if "kfaas_operator_" in expr or "kfaas_autoscaler_activators_connected" in expr:
                continue  # the operator's own metrics are not per function
            self.assertIn('namespace=~"$namespace"', expr, "%s/%s" % (title, ref))
            self.assertIn('function=~"$function"', expr, "%s/%s" % (title, ref))

    def test_every_expression_parses_with_promtool(self):
        exprs = [(t, r, dl.substitute(e)) for t, r, e in dl.expressions(self.dash)]
        for name, q in dl.variable_queries(self.dash):
            exprs.append(("variable " + name, "", dl.label_values_as_promql(q)[0]))
        with tempfile.TemporaryDirectory(dir=os.environ.get("KFAAS_TEST_TMP")) as tmp:
            path = os.path.join(tmp, "rules.yaml")
            with open(path, "w") as f:
                f.write("groups:\n  - name: dashboard\n    rules:\n")
                for i, (title, ref, e) in enumerate(exprs):
                    f.write("      # %s %s\n      - record: kfaas:dashboard_expr_%d\n        expr: %s\n"
                            % (title, ref, i, _yaml_str(e)))
            r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
            if r.returncode != 0:
                with open(path) as f:
                    self.fail("promtool check rules:\n%s%s\n%s" % (r.stdout, r.stderr, f.read()))
            self.assertIn("SUCCESS: %d rules found" % len(exprs), r.stdout)


def _yaml_str(s):
    return "'" + s.replace("'", "''") + "'"


if __name__ == "__main__":
    unittest.main()

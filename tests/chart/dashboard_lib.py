"""Reading dashboards/kfaas.json: its PromQL expressions with Grafana's variables substituted."""
import json
import os
import re

ROOT = os.environ.get("KFAAS_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "dashboards", "kfaas.json")

# What a user asks the dashboard to show, by the metric that shows it (DESIGN.md's names).
REQUIRED_METRICS = [
    "kfaas_activator_requests_total",
    "kfaas_activator_in_flight_requests",
    "kfaas_activator_queued_requests",
    "kfaas_cold_starts_total",
    "kfaas_cold_start_duration_seconds_bucket",
    "kfaas_cold_start_phase_seconds_bucket",
    "kfaas_activator_throttled_requests_total",
    "kfaas_activator_buffer_rejected_requests_total",
    "kfaas_activator_timeouts_total",
    "kfaas_function_duration_seconds_bucket",
    "kfaas_function_duration_seconds_sum",
    "kfaas_operator_reconcile_total",
    "kfaas_autoscaler_desired_replicas",
    "kfaas_autoscaler_panic_mode",
]

LABEL_VALUES_RE = re.compile(r"^label_values\((?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\)$")


def load(path=DASHBOARD):
    with open(path) as f:
        return json.load(f)


def panels(dash):
    """Every panel, rows' nested panels included."""
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def expressions(dash):
    """(panel title, refId, expr) for every Prometheus target."""
    out = []
    for p in panels(dash):
        for t in p.get("targets", []):
            if "expr" in t:
                out.append((p.get("title", ""), t.get("refId", ""), t["expr"]))
    return out


def variable_queries(dash):
    """(name, query) of every query variable."""
    out = []
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            if isinstance(q, dict):
                q = q.get("query")
            out.append((v["name"], q))
    return out


def substitute(expr, namespace=".*", function=".*", rate_interval="1m", range_="5m",
               interval="15s"):
    """Grafana's variables replaced the way Grafana would for an "All" selection."""
    subs = {
        "$__rate_interval": rate_interval,
        "$__range": range_,
        "$__interval": interval,
        "${namespace}": namespace,
        "$namespace": namespace,
        "${function}": function,
        "$function": function,
    }
    for k in sorted(subs, key=len, reverse=True):
        expr = expr.replace(k, subs[k])
    if "$" in expr:
        raise ValueError("unknown Grafana variable left in %r" % expr)
    return expr


def label_values_as_promql(query, **kw):
    """label_values(<selector>, <label>) -> (PromQL over the selector's series, label)."""
    m = LABEL_VALUES_RE.match(query.strip())
    if not m:
        raise ValueError("not a label_values() query: %r" % query)
    selector, label = m.group(1), m.group(2)
    if not selector:
        raise ValueError("label_values(%s) without a metric scans every series: name one" % label)
    return "count by (%s) (%s)" % (label, substitute(selector, **kw)), label


METRIC_RE = re.compile(r"\b(kfaas_[a-zA-Z0-9_]+)")


def metric_names(expr):
    """The kfaas_* metric names an expression reads."""
    return set(METRIC_RE.findall(expr))


def family_of(name):
    """The metric family a sample name belongs to (x_bucket/x_sum/x_count -> x)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name

"""Kubernetes RBAC evaluation of recorded API requests against the chart's rendered Roles.

rules_by_component(docs): the rules bound (ClusterRoleBinding / RoleBinding) to each component's
ServiceAccount ("operator", "activator" from the app.kubernetes.io/component label).
compare(records, rules): the requests no rule allows, and the rule grants no request used."""
import fnmatch

# Non-resource URLs every authenticated client may GET on a real cluster (the system:discovery and
# system:public-info-viewer ClusterRoles bound to system:authenticated).
DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/version", "/version/", "/openapi",
                  "/openapi/*", "/healthz", "/livez", "/readyz"]


def _component(doc):
    return doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component")


def rules_by_component(docs):
    """{component: [(rule, namespace or None)]}, namespace set for Role rules."""
    sa_component = {}
    for d in docs:
        if d and d.get("kind") == "ServiceAccount":
            sa_component[(d["metadata"]["namespace"], d["metadata"]["name"])] = _component(d)
    roles = {}
    for d in docs:
        if d and d.get("kind") in ("ClusterRole", "Role"):
            roles[(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])] = d.get("rules") or []
    out = {}
    for d in docs:
        if not d or d.get("kind") not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        ref = d["roleRef"]
        ns = d["metadata"].get("namespace") if d["kind"] == "RoleBinding" else None
        key = (ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"])
        if key not in roles:
            raise AssertionError("%s %s refers to a missing %s %s" % (d["kind"], d["metadata"]["name"], ref["kind"], ref["name"]))
        for s in d.get("subjects") or []:
            if s.get("kind") != "ServiceAccount":
                raise AssertionError("%s %s binds a %s: only ServiceAccounts expected" % (d["kind"], d["metadata"]["name"], s.get("kind")))
            comp = sa_component.get((s["namespace"], s["name"]))
            if comp is None:
                raise AssertionError("%s %s binds ServiceAccount %s/%s, which the chart does not create" % (
                    d["kind"], d["metadata"]["name"], s["namespace"], s["name"]))
            out.setdefault(comp, []).extend((r, ns) for r in roles[key])
    return out


def _resource_key(rec):
    return rec["resource"] + ("/" + rec["subresource"] if rec.get("subresource") else "")


def _matches(values, v):
    return "*" in values or v in values


def rule_allows(rule, ns, rec):
    if not rec.get("resourceRequest"):
        urls = rule.get("nonResourceURLs") or []
        return rec["verb"] in ("get", "head") and any(fnmatch.fnmatchcase(rec["path"], u) for u in urls)
    if ns is not None and rec.get("namespace") != ns:
        return False
    if not _matches(rule.get("verbs", []), rec["verb"]):
        return False
    if not _matches(rule.get("apiGroups", []), rec.get("apiGroup", "")):
        return False
    if not _matches(rule.get("resources", []), _resource_key(rec)):
        return False
    names = rule.get("resourceNames") or []
    return not names or rec.get("name") in names


def allowed(rules, rec):
    if not rec.get("resourceRequest") and rec["verb"] in ("get", "head") and any(
            fnmatch.fnmatchcase(rec["path"], u) for u in DISCOVERY_URLS):
        return True
    return any(rule_allows(r, ns, rec) for r, ns in rules)


def grants(rules):
    """Every (scope, apiGroup, resource, verb) the rules grant; scope is the Role's namespace or "*"."""
    out = set()
    for r, ns in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    out.add((ns or "*", g, res, v))
    return out


def used_grant(grant, rec):
    scope, g, res, v = grant
    if not rec.get("resourceRequest"):
        return False
    return ((scope == "*" or rec.get("namespace") == scope) and g == rec.get("apiGroup", "")
            and res == _resource_key(rec) and v == rec["verb"])


def compare(records, rules_by_comp, not_exercised=None):
    """-> (denied, unused): denied = sorted distinct (component, verb, "group/resource[/sub]",
    namespace) of requests no rule allows; unused = sorted (component, scope, group, resource,
    verb) grants no request used, except those listed in not_exercised {component: {(group,
    resource, verb): reason}} (permissions a rare path needs that the scenario cannot reach)."""
    not_exercised = not_exercised or {}
    denied = set()
    for rec in records:
        comp = rec["component"]
        if not allowed(rules_by_comp.get(comp, []), rec):
            denied.add((comp, rec["verb"], "%s/%s" % (rec.get("apiGroup", ""), _resource_key(rec)) if rec.get("resourceRequest")
                        else rec["path"], rec.get("namespace", "")))
    unused = set()
    for comp, rules in rules_by_comp.items():
        mine = [r for r in records if r["component"] == comp]
        for gr in grants(rules):
            if any(used_grant(gr, r) for r in mine):
                continue
            if (gr[1], gr[2], gr[3]) in not_exercised.get(comp, {}):
                continue
            unused.add((comp,) + gr)
    return sorted(denied), sorted(unused)


def listed_but_used(records, not_exercised):
    """Sorted (component, group, resource, verb) listed in not_exercised that a request did use:
    the list is stale there."""
    out = set()
    for comp, entries in (not_exercised or {}).items():
        mine = [r for r in records if r["component"] == comp]
        for g, res, v in entries:
            if any(used_grant(("*", g, res, v), r) for r in mine):
                out.add((comp, g, res, v))
    return sorted(out)


def observed(records):
    """A table of distinct (component, verb, group/resource[/sub], namespace?) for reports."""
    rows = set()
    for r in records:
        if r.get("resourceRequest"):
            rows.add((r["component"], r["verb"], "%s/%s" % (r.get("apiGroup") or "core", _resource_key(r)),
                      "ns" if r.get("namespace") else "cluster", r.get("code")))
        else:
            rows.add((r["component"], r["verb"], r["path"], "-", r.get("code")))
    return sorted(rows, key=lambda x: tuple(str(v) for v in x))

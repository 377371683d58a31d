#include "operator/controller/reconciler.h"

#include <optional>
#include <set>

#include "common/base/log.h"
#include "common/kube/errors.h"
#include "operator/controller/compare.h"
#include "operator/controller/status.h"

namespace kfaas::op {

using kube::resources::kDeployments;
using kube::resources::kFunctions;
using kube::resources::kServices;

std::string_view ResultName(Result::Kind k) {
  switch (k) {
    case Result::Kind::kSuccess:
      return "success";
    case Result::Kind::kRequeue:
      return "requeue";
    case Result::Kind::kError:
      return "error";
  }
  return "unknown";
}

bool SplitKey(const std::string& key, std::string* ns, std::string* name) {
  size_t slash = key.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == key.size() ||
      key.find('/', slash + 1) != std::string::npos) {
    return false;
  }
  *ns = key.substr(0, slash);
  *name = key.substr(slash + 1);
  return true;
}

// The result of reconciling one child.
struct Reconciler::ChildOutcome {
  std::optional<Json> live;  // the child as it now is, when it is ours
  // A definitive problem to report (the object belongs to someone else, or the API refused
  // our object): reason and message for the child's condition.
  std::string failed_reason;
  std::string failed_message;
  bool conflict = false;  // failed because someone else's object has the name
  // Transient: retry with backoff and do not touch status meanwhile.
  bool requeue = false;
  // The Function is gone (deleted while the cache still had it): nothing more to do.
  bool owner_gone = false;
  absl::Status error;
};

namespace {

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// 4xx other than 409/429: the API will refuse the same object again; report it in status.
bool IsPermanent(const absl::Status& s) {
  int code = kube::HttpCode(s);
  return code >= 400 && code < 500 && code != 409 && code != 429 && code != 404;
}

int64_t IntAt(const Json& obj, const char* a, const char* b, int64_t def) {
  auto ia = obj.find(a);
  if (ia == obj.end() || !ia->is_object()) return def;
  auto ib = ia->find(b);
  if (ib == ia->end() || !ib->is_number()) return def;
  return ib->get<int64_t>();
}

// The child's labels and our ownerReference are in place.
bool MetadataMatches(const Json& desired, const Json& live, const std::string& uid,
                     std::string* diff) {
  static const Json kEmpty = Json::object();
  auto md = live.find("metadata");
  const Json& lmd = md != live.end() && md->is_object() ? *md : kEmpty;
  if (!IsDerivative(desired.at("metadata").at("labels"), lmd.value("labels", Json::object()))) {
    *diff = "metadata.labels";
    return false;
  }
  const Json& want_ref = desired.at("metadata").at("ownerReferences").at(0);
  for (const auto& ref : lmd.value("ownerReferences", Json::array())) {
    if (ref.value("uid", "") == uid) {
      if (IsDerivative(want_ref, ref)) return true;
      break;
    }
  }
  *diff = "metadata.ownerReferences";
  return false;
}

// The live object with our labels, ownerReference and spec fields put in.
Json Merge(const Json& live, const Json& desired, const std::string& uid) {
  Json merged = live;
  merged.erase("status");
  Json& md = merged["metadata"];
  md.erase("managedFields");
  for (const auto& [k, v] : desired["metadata"]["labels"].items()) md["labels"][k] = v;
  Json refs = Json::array();
  for (const auto& ref : md.value("ownerReferences", Json::array())) {
    if (ref.value("uid", "") != uid) refs.push_back(ref);
  }
  refs.push_back(desired["metadata"]["ownerReferences"][0]);
  md["ownerReferences"] = std::move(refs);
  for (const auto& [k, v] : desired["spec"].items()) merged["spec"][k] = v;
  return merged;
}

Condition ChildFailure(const std::string& type, const std::string& reason,
                       const std::string& message) {
  return {type, kFalse, reason, message, /*warn=*/true};
}

Condition DeploymentCondition(const Json& d) {
  int64_t replicas = IntAt(d, "spec", "replicas", 1);
  int64_t ready = IntAt(d, "status", "readyReplicas", 0);
  if (replicas == 0) {
    return {kConditionDeploymentReady, kTrue, "ScaledToZero",
            "scaled to zero: the activator starts an instance on the next request"};
  }
  std::string counts =
      ready <= replicas
          ? std::to_string(ready) + " of " + std::to_string(replicas) + " instances ready"
          : std::to_string(ready) + " instances ready, scaling to " + std::to_string(replicas);
  if (ready >= 1) return {kConditionDeploymentReady, kTrue, "Available", counts};
  Json conditions = Json::array();
  if (auto st = d.find("status"); st != d.end() && st->is_object()) {
    conditions = st->value("conditions", Json::array());
  }
  const Json* progressing = FindCondition(conditions, "Progressing");
  if (progressing && progressing->value("reason", "") == "ProgressDeadlineExceeded") {
    return {kConditionDeploymentReady, kFalse, "ProgressDeadlineExceeded",
            "no instance became ready in time (" + progressing->value("message", "") +
                "): check the image, command and readinessPath",
            /*warn=*/true};
  }
  return {kConditionDeploymentReady, kFalse, "InstancesNotReady", counts};
}

std::string ResourceVersion(const Json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return "";
  auto rv = md->find("resourceVersion");
  return rv != md->end() && rv->is_string() ? rv->get<std::string>() : "";
}

std::string JoinProblems(const std::vector<Problem>& ps) {
  std::string out;
  for (const auto& p : ps) {
    if (!out.empty()) out += "; ";
    out += p.message;
  }
  return out;
}

}  // namespace

Reconciler::Reconciler(kube::Client& client, Cache& cache, EventSink& events, Clock& clock,
                       ReconcilerOptions opts)
    : client_(client), cache_(cache), events_(events), clock_(clock), opts_(std::move(opts)) {}

std::vector<HostClaim> Reconciler::HostClaims(const Function& fn) {
  std::vector<HostClaim> claims;
  std::set<std::string> seen;
  const std::string suffix = "." + opts_.domain;
  for (const auto& h : fn.spec.hosts) {
    if (!seen.insert(h).second) continue;
    for (const auto& o : cache_.FunctionsListingHost(h)) claims.push_back(ClaimFromObject(*o));
    // A generated host "<name>.<namespace>.<domain>" belongs to that Function if it exists.
    if (h.size() > suffix.size() &&
        h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string rest = h.substr(0, h.size() - suffix.size());
      size_t dot = rest.find('.');
      if (dot != std::string::npos && rest.find('.', dot + 1) == std::string::npos) {
        if (auto o = cache_.GetFunction(rest.substr(dot + 1), rest.substr(0, dot))) {
          claims.push_back(ClaimFromObject(*o));
        }
      }
    }
  }
  return claims;
}

Reconciler::ChildOutcome Reconciler::ReconcileChild(const kube::Resource& r, const Function& fn,
                                                    const ObjectPtr& cached, Json desired,
                                                    Result& result) {
  ChildOutcome out;
  const std::string what = r.kind + " " + fn.ns + "/" + fn.name;
  auto fail = [&](const std::string& verb, const absl::Status& s) {
    if (kube::IsConflict(s) || absl::IsNotFound(s) || absl::IsAlreadyExists(s)) {
      KFAAS_VLOG(1) << fn.Key() << ": " << verb << " " << what << ": " << Msg(s) << " (will retry)";
      out.requeue = true;
    } else if (IsPermanent(s)) {
      KFAAS_LOG(WARNING) << fn.Key() << ": the API refused to " << verb << " " << what << ": "
                         << Msg(s);
      out.failed_reason = r.kind + "Failed";
      out.failed_message = "the API server refused to " + verb + " the " + r.kind + ": " + Msg(s);
      out.error = s;
    } else {
      KFAAS_LOG(WARNING) << fn.Key() << ": " << verb << " " << what << " failed: " << Msg(s);
      out.error = s;
    }
  };
  const kube::WriteOptions wopts{.field_manager = opts_.field_manager};

  Json live;
  bool fresh = false;  // `live` came from the API, not the (slim, maybe stale) cache
  if (cached) {
    live = *cached;
  } else {
    // A child that existed (the Function has a status) and vanished: most often the garbage
    // collector removing it because the Function was just deleted, which this cache may not
    // have seen yet. Make sure before re-creating it.
    if (fn.status.contains("conditions")) {
      auto owner = client_.Get(kFunctions, fn.ns, fn.name);
      if (absl::IsNotFound(owner.status()) ||
          (owner.ok() && (*owner)["metadata"].value("uid", "") != fn.uid)) {
        KFAAS_VLOG(1) << fn.Key() << ": deleted; not re-creating its " << r.kind;
        out.owner_gone = true;
        return out;
      }
      if (!owner.ok()) {
        fail("get", owner.status());
        return out;
      }
      if ((*owner)["metadata"].contains("deletionTimestamp")) {
        out.owner_gone = true;
        return out;
      }
    }
    auto created = client_.Create(r, fn.ns, desired, wopts);
    if (created.ok()) {
      KFAAS_LOG(INFO) << fn.Key() << ": created " << what;
      result.writes.push_back("create " + r.resource);
      out.live = std::move(*created);
      return out;
    }
    if (!absl::IsAlreadyExists(created.status())) {
      fail("create", created.status());
      return out;
    }
    // Not in the cache but on the server: ours (the cache is behind, or the label was
    // removed) or someone else's.
    auto got = client_.Get(r, fn.ns, fn.name);
    if (!got.ok()) {
      fail("get", got.status());
      return out;
    }
    live = std::move(*got);
    fresh = true;
  }

  std::string diff;
  for (int pass = 0; pass < 2; ++pass) {
    if (ControllerFunctionUid(live) != fn.uid) {
      out.conflict = true;
      out.failed_reason = r.kind + "Conflict";
      out.failed_message = "a " + r.kind + " named \"" + fn.name +
                           "\" already exists and is not controlled by this Function: delete or "
                           "rename that " +
                           r.kind + ", or rename the Function";
      return out;
    }
    if (r == kDeployments) {
      desired["spec"]["replicas"] =
          DesiredReplicas(fn.spec.scale, IntAt(live, "spec", "replicas", 1));
    }
    if (MetadataMatches(desired, live, fn.uid, &diff) &&
        IsDerivative(desired["spec"], live.value("spec", Json::object()), &diff)) {
      out.live = std::move(live);
      return out;
    }
    if (fresh) break;
    // The cache holds slim objects and may be behind: decide and write from the full,
    // current object.
    auto got = client_.Get(r, fn.ns, fn.name);
    if (!got.ok()) {
      fail("get", got.status());
      return out;
    }
    live = std::move(*got);
    fresh = true;
  }
  if (!diff.empty() && diff.rfind("metadata", 0) != 0) diff = "spec." + diff;
  auto updated = client_.Update(r, fn.ns, Merge(live, desired, fn.uid), {}, wopts);
  if (!updated.ok()) {
    fail("update", updated.status());
    return out;
  }
  KFAAS_LOG(INFO) << fn.Key() << ": updated " << what << " (" << diff << " differed)";
  result.writes.push_back("update " + r.resource);
  out.live = std::move(*updated);
  return out;
}

Result Reconciler::Reconcile(const std::string& key) {
  Result result;
  std::string ns, name;
  if (!SplitKey(key, &ns, &name)) {
    KFAAS_LOG(ERROR) << "ignoring malformed key \"" << key << "\" (want namespace/name)";
    return result;
  }
  ObjectPtr obj = cache_.GetFunction(ns, name);
  if (!obj) {
    scaling_status_hold_.Clear(key);
    KFAAS_VLOG(2) << key << ": gone (its children go with it through ownerReferences)";
    return result;
  }

  Function fn;
  std::vector<Problem> problems;
  if (auto parsed = ParseFunction(*obj); parsed.ok()) {
    fn = std::move(*parsed);
  } else {
    // A spec of the wrong shape (a server that did not validate it): report, do not crash.
    const Json& md = (*obj)["metadata"];
    fn.ns = ns;
    fn.name = name;
    fn.uid = md.value("uid", "");
    fn.generation = md.contains("generation") && md["generation"].is_number_integer()
                        ? md["generation"].get<int64_t>()
                        : 0;
    if (auto st = obj->find("status"); st != obj->end() && st->is_object()) fn.status = *st;
    problems.push_back({"InvalidSpec", Msg(parsed.status())});
  }
  if (fn.being_deleted) return result;
  if (problems.empty()) {
    problems = Validate(fn, {.require_command = opts_.require_command, .domain = opts_.domain},
                        HostClaims(fn));
  }

  Condition spec_cond{kConditionSpecValid, kTrue, "Valid", "the spec can be served"};
  if (!problems.empty()) {
    spec_cond = {kConditionSpecValid, kFalse, problems[0].reason, JoinProblems(problems), true};
  }

  Condition dcond, scond;
  std::optional<Json> deployment;
  std::string deployment_rv, service_rv;  // of the children as this reconcile leaves them
  bool transient = false;
  absl::Status error;
  if (problems.empty()) {
    ChildOutcome d = ReconcileChild(kDeployments, fn, cache_.GetDeployment(ns, name),
                                    MakeDeployment(fn, opts_.resources), result);
    ChildOutcome s = ReconcileChild(kServices, fn, cache_.GetService(ns, name),
                                    MakeService(fn, opts_.resources), result);
    if (d.owner_gone || s.owner_gone) return result;
    for (ChildOutcome* c : {&d, &s}) {
      if (c->requeue) transient = true;
      if (!c->error.ok() && error.ok()) error = c->error;
      if (!c->error.ok() && c->failed_reason.empty()) transient = true;
      if (c->conflict) result.requeue_after = opts_.conflict_recheck;
    }
    if (d.live) deployment_rv = ResourceVersion(*d.live);
    if (s.live) service_rv = ResourceVersion(*s.live);
    deployment = std::move(d.live);
    if (!d.failed_reason.empty()) {
      dcond = ChildFailure(kConditionDeploymentReady, d.failed_reason, d.failed_message);
    } else if (deployment) {
      dcond = DeploymentCondition(*deployment);
    }
    if (!s.failed_reason.empty()) {
      scond = ChildFailure(kConditionServiceReady, s.failed_reason, s.failed_message);
    } else if (s.live) {
      scond = {kConditionServiceReady, kTrue, "Routed",
               "Service " + fn.name + " routes port 80 to the instances' port http"};
    }
  } else {
    // The children keep running the last valid spec; report them as they are.
    ObjectPtr d = cache_.GetDeployment(ns, name);
    if (d && ControllerFunctionUid(*d) == fn.uid) {
      deployment = *d;
      dcond = DeploymentCondition(*d);
    } else {
      dcond = {kConditionDeploymentReady, kUnknown, "SpecInvalid",
               "not created until the spec is fixed"};
    }
    ObjectPtr s = cache_.GetService(ns, name);
    if (s && ControllerFunctionUid(*s) == fn.uid) {
      scond = {kConditionServiceReady, kTrue, "Routed",
               "Service " + fn.name + " routes port 80 to the instances' port http"};
    } else {
      scond = {kConditionServiceReady, kUnknown, "SpecInvalid",
               "not created until the spec is fixed"};
    }
  }

  if (transient) {
    // Do not publish a half-known state; try again.
    result.kind = error.ok() ? Result::Kind::kRequeue : Result::Kind::kError;
    result.error = error;
    return result;
  }

  Condition ready = SummarizeReady({spec_cond, dcond, scond}, dcond);
  std::vector<Condition> conds = {ready, spec_cond, dcond, scond};
  Json old_conditions = fn.status.value("conditions", Json::array());
  Json owned = {
      {"observedGeneration", fn.generation},
      {"conditions", MergeConditions(old_conditions, conds, fn.generation, clock_.WallNow())},
      {"replicas", deployment ? IntAt(*deployment, "status", "replicas", 0) : 0},
      {"readyReplicas", deployment ? IntAt(*deployment, "status", "readyReplicas", 0) : 0},
      {"url", FunctionUrl(fn.name, fn.ns, opts_.domain)}};

  std::string function_rv = ResourceVersion(*obj);
  bool write_status = !OwnedStatusEqual(fn.status, owned);
  if (write_status && opts_.scaling_status_delay > Duration::zero() &&
      OnlyScalingDiffers(fn.status, owned)) {
    SteadyTime now = clock_.Now();
    scaling_status_hold_.Arm(key, now + opts_.scaling_status_delay);
    if (Duration wait = scaling_status_hold_.Remaining(key, now); wait > Duration::zero()) {
      // Written on the requeue (or by an earlier reconcile with a change that cannot wait).
      write_status = false;
      result.requeue_after =
          result.requeue_after == Duration::zero() ? wait : std::min(result.requeue_after, wait);
    }
  }
  if (write_status || OwnedStatusEqual(fn.status, owned)) scaling_status_hold_.Clear(key);
  if (write_status) {
    const Json* old_ready = FindCondition(old_conditions, kConditionReady);
    bool ready_changed = !old_ready || old_ready->value("status", "") != ready.status ||
                         old_ready->value("reason", "") != ready.reason ||
                         old_ready->value("message", "") != ready.message;
    auto patched = client_.Patch(kFunctions, ns, name, kube::PatchType::kMerge, {{"status", owned}},
                                 "status", {.field_manager = opts_.field_manager});
    if (!patched.ok()) {
      if (absl::IsNotFound(patched.status())) return result;  // deleted meanwhile
      KFAAS_LOG(WARNING) << key << ": writing status failed: " << Msg(patched.status());
      result.kind = Result::Kind::kError;
      result.error = patched.status();
      return result;
    }
    result.writes.push_back("status");
    // The patched object is the one reconciled plus our status only when no spec change
    // (which bumps metadata.generation) reached the server after the cached copy was read;
    // otherwise the next reconcile must not be skipped.
    const Json& pmd = (*patched)["metadata"];
    bool same_spec = pmd.value("uid", "") == fn.uid && pmd.contains("generation") &&
                     pmd["generation"].is_number_integer() &&
                     pmd["generation"].get<int64_t>() == fn.generation;
    function_rv = same_spec ? ResourceVersion(*patched) : "";
    if (ready_changed) {
      KFAAS_LOG(INFO) << key << ": Ready=" << ready.status << " " << ready.reason << ": "
                      << ready.message << " (generation " << fn.generation << ")";
      if (ready.status == kFalse && ready.warn) {
        events_.Record(*obj, "Warning", ready.reason, ready.message);
      }
    }
  }

  if (!error.ok()) {
    result.kind = Result::Kind::kError;
    result.error = error;
  } else if (problems.empty() && fn.spec.hosts.empty() &&
             result.requeue_after == Duration::zero() && !function_rv.empty() &&
             !deployment_rv.empty() && !service_rv.empty()) {
    result.converged = Result::Versions{function_rv, deployment_rv, service_rv};
  }
  return result;
}

}  // namespace kfaas::op

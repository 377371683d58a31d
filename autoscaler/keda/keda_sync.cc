#include "autoscaler/keda/keda_sync.h"

#include "common/base/log.h"

namespace kfaas::autoscaler {

namespace {

bool OwnedBy(const nlohmann::json& obj, const nlohmann::json& function) {
  const std::string uid = function.value("/metadata/uid"_json_pointer, std::string());
  const auto refs = obj.value("/metadata/ownerReferences"_json_pointer, nlohmann::json::array());
  for (const auto& r : refs) {
    if (r.value("kind", "") == "Function" && r.value("controller", false) &&
        (uid.empty() || r.value("uid", "") == uid)) {
      return true;
    }
  }
  return false;
}

}  // namespace

KedaSync::KedaSync(kube::Client& client, EventFn events, Clock& clock, KedaSyncOptions opts)
    : client_(client), events_(std::move(events)), clock_(clock), opts_(std::move(opts)) {}

bool KedaSync::CrdInstalled(SteadyTime now) {
  if (crd_checked_ && (crd_installed_ || now - crd_checked_at_ < opts_.crd_recheck)) {
    return crd_installed_;
  }
  kube::ListOptions lo;
  lo.limit = 1;
  absl::StatusOr<nlohmann::json> list = client_.List(kScaledObjects, "", lo);
  if (list.ok()) {
    if (!crd_installed_) {
      KFAAS_LOG(INFO) << "KEDA's ScaledObject CRD is installed";
    }
    crd_installed_ = true;
    crd_forbidden_ = false;
  } else if (absl::IsNotFound(list.status())) {
    crd_installed_ = false;
    crd_forbidden_ = false;
  } else if (absl::IsPermissionDenied(list.status())) {
    // Remembered like a missing CRD (re-checked after crd_recheck), but reported as what it is.
    if (!crd_forbidden_) {
      KFAAS_LOG(WARNING) << "not allowed to list scaledobjects.keda.sh (" << list.status().message()
                         << "): grant it (Helm: --set keda.enabled=true) to use KEDA";
    }
    crd_installed_ = false;
    crd_forbidden_ = true;
  } else {
    KFAAS_LOG(WARNING) << "cannot tell whether KEDA is installed (listing scaledobjects.keda.sh: "
                       << list.status().message() << "); trying again";
    return false;  // not remembered: look again next pass
  }
  crd_checked_ = true;
  crd_checked_at_ = now;
  return crd_installed_;
}

void KedaSync::Sync(const std::vector<Target>& targets) {
  const SteadyTime now = clock_.Now();
  std::vector<const Target*> keda, back;
  std::set<std::string> present;
  for (const Target& t : targets) {
    present.insert(t.scale.Key());
    if (t.scale.UsesKeda()) {
      keda.push_back(&t);
    } else if (applied_.count(t.scale.Key())) {
      back.push_back(&t);
    }
  }
  // Deleted Functions: their ScaledObjects go with them (ownerReference).
  for (auto it = applied_.begin(); it != applied_.end();) {
    it = present.count(it->first) ? std::next(it) : applied_.erase(it);
  }
  if (keda.empty() && back.empty()) return;
  if (!CrdInstalled(now)) {
    for (const Target* t : keda) {
      if (warned_.insert(t->scale.Key() + "/KedaNotInstalled").second) {
        if (crd_forbidden_) {
          KFAAS_LOG(WARNING) << t->scale.Key()
                             << " asks for KEDA, but the operator may not list ScaledObjects";
          events_(*t, "Warning", "KedaNotPermitted",
                  "spec.scale.autoscaler is keda, but kfaas-operator is not allowed to manage KEDA "
                  "ScaledObjects (scaledobjects.keda.sh): install the chart with "
                  "keda.enabled=true, or set spec.scale.autoscaler: kfaas");
        } else {
          KFAAS_LOG(WARNING) << t->scale.Key()
                             << " asks for KEDA, but the ScaledObject CRD is not installed";
          events_(
              *t, "Warning", "KedaNotInstalled",
              "spec.scale.autoscaler is keda, but KEDA's ScaledObject CRD (scaledobjects.keda.sh) "
              "is not installed: install KEDA, or set spec.scale.autoscaler: kfaas");
        }
      }
    }
    return;
  }
  for (const Target* t : keda) {
    warned_.erase(t->scale.Key() + "/KedaNotInstalled");
    Apply(*t, now);
  }
  for (const Target* t : back) Remove(*t);
}

void KedaSync::Apply(const Target& t, SteadyTime now) {
  const std::string key = t.scale.Key();
  if (!t.function) return;
  absl::StatusOr<nlohmann::json> desired = MakeScaledObject(*t.function, opts_.scaled_object);
  if (!desired.ok()) {
    if (warned_.insert(key + "/ScaledObjectInvalid").second) {
      events_(t, "Warning", "ScaledObjectInvalid",
              "Cannot build the KEDA ScaledObject: " + std::string(desired.status().message()));
    }
    return;
  }
  const std::string want = (*desired)["spec"].dump();
  if (auto it = applied_.find(key);
      it != applied_.end() && it->second.desired == want && now - it->second.at < opts_.reverify) {
    return;
  }
  const std::string& ns = t.scale.ns;
  const std::string& name = t.scale.name;
  absl::StatusOr<nlohmann::json> live = client_.Get(kScaledObjects, ns, name);
  absl::Status s;
  const char* reason = nullptr;  // set when written
  bool created = false;
  if (absl::IsNotFound(live.status())) {
    s = client_.Create(kScaledObjects, ns, *desired).status();
    reason = "ScaledObjectCreated";
    created = true;
  } else if (!live.ok()) {
    s = live.status();
  } else if (!OwnedBy(*live, *t.function)) {
    if (warned_.insert(key + "/ScaledObjectConflict").second) {
      events_(t, "Warning", "ScaledObjectConflict",
              "ScaledObject " + name +
                  " exists and is not owned by this Function: kfaas leaves it alone (delete it "
                  "to let kfaas manage it)");
    }
    return;
  } else if ((*live)["spec"].dump() != want ||
             live->value("/metadata/labels"_json_pointer, nlohmann::json::object()) !=
                 (*desired)["metadata"]["labels"]) {
    nlohmann::json obj = *live;
    obj["spec"] = (*desired)["spec"];
    obj["metadata"]["labels"] = (*desired)["metadata"]["labels"];
    s = client_.Update(kScaledObjects, ns, obj).status();
    reason = "ScaledObjectUpdated";
  }
  if (!s.ok()) {
    applied_.erase(key);
    KFAAS_LOG(WARNING) << "ScaledObject " << key << ": " << s.message();
    if (!kube::IsConflict(s)) {
      events_(t, "Warning", "ScaledObjectFailed",
              "Could not write the KEDA ScaledObject: " + std::string(s.message()));
    }
    return;
  }
  applied_[key] = {want, now};
  warned_.erase(key + "/ScaledObjectConflict");
  if (reason) {
    KFAAS_LOG(INFO) << (created ? "created" : "updated") << " ScaledObject " << key
                    << " (KEDA scales it through " << opts_.scaled_object.scaler_address << ")";
    events_(t, "Normal", reason,
            std::string(created ? "Created" : "Updated") + " KEDA ScaledObject " + name +
                ": KEDA moves replicas through the activators' external scaler at " +
                opts_.scaled_object.scaler_address);
  }
}

void KedaSync::Remove(const Target& t) {
  const std::string key = t.scale.Key();
  absl::StatusOr<nlohmann::json> live = client_.Get(kScaledObjects, t.scale.ns, t.scale.name);
  if (absl::IsNotFound(live.status())) {
    applied_.erase(key);
    return;
  }
  if (!live.ok()) return;  // next pass
  if (t.function && !OwnedBy(*live, *t.function)) {
    applied_.erase(key);
    return;
  }
  kube::DeleteOptions d;
  d.precondition_uid = live->value("/metadata/uid"_json_pointer, std::string());
  absl::Status s = client_.Delete(kScaledObjects, t.scale.ns, t.scale.name, d).status();
  if (!s.ok() && !absl::IsNotFound(s)) {
    KFAAS_LOG(WARNING) << "deleting ScaledObject " << key << ": " << s.message();
    return;
  }
  applied_.erase(key);
  events_(t, "Normal", "ScaledObjectDeleted",
          "Deleted KEDA ScaledObject " + t.scale.name +
              ": spec.scale.autoscaler is kfaas, so kfaas' own loop moves replicas");
}

}  // namespace kfaas::autoscaler

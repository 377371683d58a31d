// KedaSync: keeps a KEDA ScaledObject (MakeScaledObject) for every Function with
// spec.scale.autoscaler: keda, as the operator's leader runs it (Autoscaler calls Sync()
// every couple of seconds with the informers' Functions).
//
//   - No call at all while no Function asks for KEDA (and none was handed to KEDA before).
//   - The ScaledObject CRD is looked for by listing keda.sh/v1alpha1 scaledobjects (404: not
//     installed; looked for again every `crd_recheck`). While it is missing, each KEDA Function
//     gets one Warning Event KedaNotInstalled naming the fix.
//   - Missing ScaledObject: created (Event ScaledObjectCreated). Different from what the
//     Function asks: updated, if the Function owns it (controller ownerReference); one owned by
//     someone else is left alone (Warning ScaledObjectConflict). Unchanged Functions are not
//     looked at again before `reverify` has passed.
//   - A Function switched back to autoscaler: kfaas: its own ScaledObject is deleted (Event
//     ScaledObjectDeleted), so the kfaas loop and the HPA do not both move replicas. A deleted
//     Function's ScaledObject goes with it (garbage collector, ownerReference).
//
// API calls: scaledobjects.keda.sh list (limit 1), get, create, update, delete.
// Not thread-safe: one caller (the Autoscaler's discovery thread).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "autoscaler/keda/scaled_object.h"
#include "autoscaler/loop/interfaces.h"
#include "common/base/clock.h"
#include "common/kube/client.h"

namespace kfaas::autoscaler {

inline const kube::Resource kScaledObjects{"keda.sh", "v1alpha1", "scaledobjects", "ScaledObject",
                                           true};

struct KedaSyncOptions {
  ScaledObjectOptions scaled_object;  // its scaler_address: the activators' gRPC host:port
  Duration crd_recheck = std::chrono::seconds(30);
  Duration reverify = std::chrono::seconds(60);
};

class KedaSync {
 public:
  using EventFn = std::function<void(const Target& target, std::string_view type,
                                     std::string_view reason, std::string_view message)>;
  KedaSync(kube::Client& client, EventFn events, Clock& clock, KedaSyncOptions opts);

  // One pass over the Functions (every Target, KEDA or not).
  void Sync(const std::vector<Target>& targets);
  // Whether the CRD was found at the last look (false before the first).
  bool crd_installed() const { return crd_installed_; }

 private:
  bool CrdInstalled(SteadyTime now);
  void Apply(const Target& t, SteadyTime now);
  void Remove(const Target& t);

  kube::Client& client_;
  EventFn events_;
  Clock& clock_;
  const KedaSyncOptions opts_;
  bool crd_checked_ = false;
  bool crd_installed_ = false;
  bool crd_forbidden_ = false;  // the list was refused (403): RBAC, not a missing CRD
  SteadyTime crd_checked_at_{};
  struct Applied {
    std::string desired;  // the ScaledObject's spec as applied (dump)
    SteadyTime at;
  };
  std::map<std::string, Applied> applied_;  // "ns/name" -> last applied
  std::set<std::string> warned_;            // "ns/name/reason": one Warning each
};

}  // namespace kfaas::autoscaler

// Reconciler: one idempotent, level-triggered pass over a Function.
//
// Reconcile("namespace/name") reads the Function and its children from a Cache (the
// informers' stores), builds the desired Deployment and Service (operator/resources), creates
// or updates them only when a field kfaas owns differs, and writes the Function's status with
// a merge patch of only the fields the operator owns (status.lastColdStart, written by the
// activator, is never touched). A spec the CRD schema cannot reject (see
// operator/api/function.h Validate) leaves the children as they are and reports Ready=False
// with the reason, plus a Warning Event. Deleting a Function deletes the children through
// their ownerReferences (the API server's garbage collector); the reconciler does nothing.
//
// Thread-safe for distinct keys (the work queue never hands one key to two workers).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/base/clock.h"
#include "common/kube/client.h"
#include "common/kube/workqueue.h"
#include "operator/api/function.h"
#include "operator/resources/resources.h"

namespace kfaas::op {

using ObjectPtr = std::shared_ptr<const Json>;

// What the reconciler reads. The controller implements it over informers; unit tests over a
// FakeClient's objects.
class Cache {
 public:
  virtual ~Cache() = default;
  virtual ObjectPtr GetFunction(const std::string& ns, const std::string& name) = 0;
  virtual ObjectPtr GetDeployment(const std::string& ns, const std::string& name) = 0;
  virtual ObjectPtr GetService(const std::string& ns, const std::string& name) = 0;
  // Functions whose spec.hosts lists `host`.
  virtual std::vector<ObjectPtr> FunctionsListingHost(const std::string& host) = 0;
};

// Where Events go (kube::EventRecorder in the binary; a recording fake in tests).
class EventSink {
 public:
  virtual ~EventSink() = default;
  // `type` is "Normal" or "Warning".
  virtual void Record(const Json& object, std::string_view type, std::string_view reason,
                      std::string_view message) = 0;
};

struct ReconcilerOptions {
  std::string domain = "kfaas.local";  // url and generated hosts: <name>.<namespace>.<domain>
  bool require_command = false;        // kfaas-local: spec.command is required
  Options resources;
  std::string field_manager = "kfaas-operator";
  // When a child of the Function's name exists but belongs to someone else, look again after
  // this long (such objects are outside the informers' label selector, so no event comes).
  Duration conflict_recheck = std::chrono::seconds(30);
  // A status change that only a Deployment's scaling drives (replicas, readyReplicas, the
  // DeploymentReady and Ready conditions: OnlyScalingDiffers) is written this long after the
  // first reconcile that saw it (the key is requeued for then), so a scale-up's several
  // Deployment status changes become one write, made after the cold start it belongs to, and
  // its API write and the watch events it causes do not compete for the CPU with the starting
  // instance. Any other status change is written at once (with the pending one). 0: at once.
  Duration scaling_status_delay{0};
};

struct Result {
  enum class Kind {
    kSuccess,  // done; forget the key's backoff
    kRequeue,  // retry with backoff (optimistic-concurrency conflict, cache behind the server)
    kError,    // failed (error says why); retry with backoff
  };
  Kind kind = Kind::kSuccess;
  absl::Status error;
  Duration requeue_after{0};  // kSuccess with > 0: look again after this long
  // What was written, for logs and tests: "create deployments", "update services", "status".
  std::vector<std::string> writes;
  // Set when the Function is converged and its outcome depends only on the Function and its
  // children (kSuccess, no requeue_after, no spec.hosts): their resourceVersions as this
  // reconcile left them (after its own writes). While the cache holds exactly these versions,
  // another reconcile would compute the same objects and write nothing, so the controller
  // skips it (a change to any of the three changes its resourceVersion).
  struct Versions {
    std::string function, deployment, service;
    bool operator==(const Versions&) const = default;
  };
  std::optional<Versions> converged;
};
std::string_view ResultName(Result::Kind k);  // "success", "requeue", "error"

class Reconciler {
 public:
  Reconciler(kube::Client& client, Cache& cache, EventSink& events, Clock& clock,
             ReconcilerOptions opts);
  Result Reconcile(const std::string& key);

  const ReconcilerOptions& options() const { return opts_; }

 private:
  struct ChildOutcome;
  ChildOutcome ReconcileChild(const kube::Resource& r, const Function& fn, const ObjectPtr& cached,
                              Json desired, Result& result);
  std::vector<HostClaim> HostClaims(const Function& fn);

  kube::Client& client_;
  Cache& cache_;
  EventSink& events_;
  Clock& clock_;
  ReconcilerOptions opts_;
  // Keys with a scaling-only status change not written yet, until when (scaling_status_delay).
  kube::WriteHold scaling_status_hold_;
};

// Splits "namespace/name".
bool SplitKey(const std::string& key, std::string* ns, std::string* name);

}  // namespace kfaas::op

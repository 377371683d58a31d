// The narrow interfaces the activator core declares for what lies outside it. Kubernetes
// implementations live in activator/kube (kfaas::activator_kube); the network ones in
// activator/net; tests use fakes.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "common/base/clock.h"

namespace kfaas::activator {

// Moves a function's Deployment /scale. Thread-safe.
class Scaler {
 public:
  virtual ~Scaler() = default;
  // Sets spec.replicas of Deployment `name` in `ns`. Must not block: `done` is called exactly
  // once, on any thread, after the write was acknowledged (OK) or failed.
  virtual void ScaleTo(const std::string& ns, const std::string& name, int replicas,
                       std::function<void(absl::Status)> done) = 0;
  // The Deployment's spec.replicas as last observed; nullopt when unknown.
  virtual std::optional<int> CurrentReplicas(const std::string& ns, const std::string& name) = 0;
};

// One cold start, timed from the first request's arrival. Phases are offsets from the start;
// nullopt when not observed (e.g. no scale write was needed).
struct ColdStartRecord {
  std::string ns;
  std::string name;
  WallTime time;   // when it started
  Duration total;  // to the first byte forwarded
  std::optional<Duration> scale_acknowledged;
  std::optional<Duration> instance_appeared;
  std::optional<Duration> instance_ready;
  std::optional<Duration> first_byte_forwarded;
};

// Reports finished cold starts (the kube adapter PATCHes the Function's status). Must not
// block: called on a data-path thread.
class ColdStartReporter {
 public:
  virtual ~ColdStartReporter() = default;
  virtual void Report(const ColdStartRecord& record) = 0;
};

// What the core accepts from the control plane (implemented by Registry).
class UpdateSink {
 public:
  virtual ~UpdateSink() = default;
  virtual void OnFunction(const nlohmann::json& function) = 0;
  virtual void OnFunctionDeleted(const std::string& ns, const std::string& name) = 0;
  virtual void OnEndpointSlice(const nlohmann::json& slice) = 0;
  virtual void OnEndpointSliceDeleted(const nlohmann::json& slice) = 0;
  // The function's Pods (label kfaas.dev/function): starting instances to probe early.
  virtual void OnPod(const nlohmann::json& pod) = 0;
  virtual void OnPodDeleted(const nlohmann::json& pod) = 0;
};

// A source of Function, EndpointSlice and Pod updates (the kube adapter's informers).
class UpdateSource {
 public:
  virtual ~UpdateSource() = default;
  virtual void Start(UpdateSink* sink) = 0;
  virtual void Stop() = 0;
  virtual bool HasSynced() const = 0;
};

class FunctionState;
class Instance;

// Probes instances that are not (yet) known ready, so a request is forwarded the moment an
// instance answers rather than when endpoint propagation says so. Implemented in net/.
class Prober {
 public:
  virtual ~Prober() = default;
  // Starts probing `instance` until fn->ContinueProbing(*instance) is false; results go to
  // fn->OnProbeResult. Thread-safe; called with no lock held.
  virtual void Probe(std::shared_ptr<FunctionState> fn, std::shared_ptr<Instance> instance) = 0;
};

}  // namespace kfaas::activator

// The narrow interfaces the autoscaler loop needs from the cluster and the activators.
// Kubernetes implementations: autoscaler/loop/kube_adapters.h; tests use fakes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "autoscaler/core/function_scale.h"

namespace kfaas::v1 {
class StatsReport;
}

namespace kfaas::autoscaler {

// A Function and its Deployment as last observed.
struct Target {
  FunctionScale scale;
  std::shared_ptr<const nlohmann::json> function;  // the object, for events (may be null)
  bool has_deployment = false;
  int replicas = 0;        // Deployment spec.replicas
  int ready_replicas = 0;  // Deployment status.readyReplicas
  // The Deployment's metadata.resourceVersion: a write made with it fails with a conflict if
  // the Deployment changed meanwhile (e.g. the activator scaled it to zero). "" = unconditional.
  std::string resource_version;
};

// Functions and their Deployments (informer caches). Thread-safe.
class TargetLister {
 public:
  virtual ~TargetLister() = default;
  virtual std::vector<Target> List() = 0;
  virtual bool HasSynced() = 0;
};

// Writes a Deployment's replicas through its /scale subresource. Thread-safe; may block on I/O.
class ScaleWriter {
 public:
  virtual ~ScaleWriter() = default;
  // Sets spec.replicas of Deployment `name`. With a resource_version the write is conditional;
  // an implementation retries a conflict itself when the Deployment is still above zero, and
  // gives up (FailedPrecondition) when it went to zero meanwhile: that is the activator's.
  virtual absl::Status Scale(const std::string& ns, const std::string& name, int replicas,
                             const std::string& resource_version) = 0;
};

// Explains decisions on the Function (kubectl describe fn). Must not block.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Event(const Target& target, std::string_view type, std::string_view reason,
                     std::string_view message) = 0;
};

// Where the activators' gRPC ports are ("host:port"). Thread-safe.
class ActivatorDiscovery {
 public:
  virtual ~ActivatorDiscovery() = default;
  virtual std::vector<std::string> Addresses() = 0;
};

class StaticDiscovery : public ActivatorDiscovery {
 public:
  explicit StaticDiscovery(std::vector<std::string> addresses) : addresses_(std::move(addresses)) {}
  std::vector<std::string> Addresses() override { return addresses_; }

 private:
  std::vector<std::string> addresses_;
};

// Receives the activators' stats (StatsCollector -> ScalingLoop). Thread-safe, fast.
class StatsSink {
 public:
  virtual ~StatsSink() = default;
  // A report from the stream to `address`.
  virtual void OnReport(const std::string& address, const kfaas::v1::StatsReport& report) = 0;
  // The stream to `address` ended (its activator's figures no longer count).
  virtual void OnDisconnected(const std::string& address) = 0;
};

// Splits "a:1,b:2, c:3" into addresses (empty items dropped).
std::vector<std::string> SplitAddresses(std::string_view list);

}  // namespace kfaas::autoscaler

// The loop's interfaces over the Kubernetes client:
//   KubeTargets            Functions and their Deployments from two informers
//   KubeScaleWriter        PATCH deployments/<name>/scale, merge patch
//                          {"metadata":{"resourceVersion":rv},"spec":{"replicas":N}}
//   EndpointSliceDiscovery the activators' gRPC addresses from their Service's EndpointSlices
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "autoscaler/loop/interfaces.h"
#include "common/base/clock.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"

namespace kfaas::autoscaler {

class KubeTargets : public TargetLister {
 public:
  // `ns` "" = every namespace. `on_replicas_changed` (optional) is called, on an informer
  // thread, when a kfaas Deployment's spec.replicas changes (e.g. the activator scaled it from
  // zero): the loop then decides at once.
  KubeTargets(std::shared_ptr<kube::Client> client, std::string ns, Clock& clock,
              std::function<void()> on_replicas_changed = nullptr);
  ~KubeTargets() override;
  void Start();
  void Stop();
  std::vector<Target> List() override;
  bool HasSynced() override;

 private:
  std::unique_ptr<kube::Informer> functions_;
  std::unique_ptr<kube::Informer> deployments_;
};

class KubeScaleWriter : public ScaleWriter {
 public:
  explicit KubeScaleWriter(std::shared_ptr<kube::Client> client) : client_(std::move(client)) {}
  // On a conflict it re-reads the Scale: at zero it gives up (FailedPrecondition: the
  // activator's), otherwise it writes again once with the fresh resourceVersion.
  absl::Status Scale(const std::string& ns, const std::string& name, int replicas,
                     const std::string& resource_version) override;

 private:
  std::shared_ptr<kube::Client> client_;
};

class EndpointSliceDiscovery : public ActivatorDiscovery {
 public:
  // The EndpointSlices of Service `service` in `ns` (label kubernetes.io/service-name); the
  // port named `port_name` (or numbered, when port_name is a number). Terminating endpoints
  // are left out; not-ready ones count (a starting activator already reports).
  EndpointSliceDiscovery(std::shared_ptr<kube::Client> client, std::string ns, std::string service,
                         std::string port_name, Clock& clock);
  ~EndpointSliceDiscovery() override;
  void Start();
  void Stop();
  std::vector<std::string> Addresses() override;

 private:
  std::string port_name_;
  std::unique_ptr<kube::Informer> slices_;
};

// The addresses an EndpointSlice publishes for `port_name` (pure; for tests).
std::vector<std::string> SliceAddresses(const nlohmann::json& slice, const std::string& port_name);
// A Target from a Function and its Deployment (null when absent). Pure; for tests.
std::optional<Target> MakeTarget(const kube::ObjectPtr& function,
                                 const kube::ObjectPtr& deployment);

}  // namespace kfaas::autoscaler

// The activator-side interfaces (autoscaler/service/interfaces.h) over the activator core's
// Registry, so kfaas-activator's main wires its gRPC port in a few lines:
//
//   autoscaler::RegistryStatsSource stats(registry);
//   autoscaler::RegistryFunctionInfo functions(registry);
//   autoscaler::StaticPeers peers(autoscaler::SplitAddresses(flag_peers));  // optional
//   autoscaler::ActivatorScalerServer grpc_server(
//       {.stats = &stats, .functions = &functions, .peers = &peers, .clock = &clock,
//        .registry = &metrics},
//       {.address = "0.0.0.0:" + std::to_string(grpc_port), .activator_id = pod_name});
//   grpc_server.Start();   ...   grpc_server.Stop();   // before the Registry goes
#pragma once

#include "activator/core/registry.h"
#include "autoscaler/service/interfaces.h"

namespace kfaas::autoscaler {

class RegistryStatsSource : public StatsSource {
 public:
  explicit RegistryStatsSource(const activator::Registry& registry) : registry_(registry) {}
  std::vector<FunctionCounters> Snapshot() override;

 private:
  const activator::Registry& registry_;
};

class RegistryFunctionInfo : public FunctionInfo {
 public:
  explicit RegistryFunctionInfo(const activator::Registry& registry) : registry_(registry) {}
  std::optional<FunctionScale> Lookup(const std::string& ns, const std::string& name) override;

 private:
  const activator::Registry& registry_;
};

}  // namespace kfaas::autoscaler

// ActivatorScalerServer: the activator's gRPC port (default 9095), serving KEDA's
// ExternalScaler and kfaas.v1.Stats over one StatsHub. What the activator's main wires:
//
//   MyStatsSource stats(registry);        // implements autoscaler::StatsSource
//   MyFunctionInfo functions(registry);   // implements autoscaler::FunctionInfo
//   autoscaler::StaticPeers peers(flag_peer_list);   // or an EndpointSlice-backed PeerSource
//   autoscaler::ActivatorScalerServer grpc_server(
//       {.stats = &stats, .functions = &functions, .peers = &peers, .clock = &clock,
//        .registry = &metrics},
//       {.address = "0.0.0.0:9095", .activator_id = pod_name});
//   if (auto s = grpc_server.Start(); !s.ok()) { ...exit... }
//   ...
//   grpc_server.Stop();   // before the registry/stats go away
//
// Notify() may be called from the data path when a function gets its first request after
// idleness: the idle -> busy push then leaves at once instead of at the next poll (<= 50 ms).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "autoscaler/service/external_scaler_service.h"
#include "autoscaler/service/interfaces.h"
#include "autoscaler/service/peer_client.h"
#include "autoscaler/service/stats_hub.h"
#include "autoscaler/service/stats_service.h"

namespace grpc {
class Server;
}

namespace kfaas::autoscaler {

struct ActivatorScalerDeps {
  StatsSource* stats = nullptr;           // required
  FunctionInfo* functions = nullptr;      // required
  PeerSource* peers = nullptr;            // optional: other activator replicas
  Clock* clock = nullptr;                 // nullptr = RealClock
  metrics::Registry* registry = nullptr;  // optional
};

struct ActivatorScalerOptions {
  std::string address = "0.0.0.0:9095";  // port 0 picks a free one (see port())
  std::string activator_id;              // in stats reports; "" = the bound address
  Duration peer_deadline = std::chrono::milliseconds(300);
  StatsHubOptions hub;
  ExternalScalerOptions external_scaler;
  StatsServiceOptions stats;  // its activator_id is taken from above
};

class ActivatorScalerServer {
 public:
  ActivatorScalerServer(ActivatorScalerDeps deps, ActivatorScalerOptions opts);
  ~ActivatorScalerServer();  // Stop()

  // Binds, starts serving and polling. Fails (naming the address) when it cannot bind.
  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  void Notify() { hub_->Notify(); }
  StatsHub& hub() { return *hub_; }

 private:
  ActivatorScalerDeps deps_;
  ActivatorScalerOptions opts_;
  std::unique_ptr<StatsHub> hub_;
  std::unique_ptr<PeerClient> peer_client_;
  std::unique_ptr<ExternalScalerService> external_scaler_;
  std::unique_ptr<StatsService> stats_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace kfaas::autoscaler

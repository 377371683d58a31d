// Autoscaler: kfaas' own scaling loop as the operator hosts it - informers on Functions and
// Deployments, one stats stream per activator, the ScalingLoop deciding and writing /scale.
// Start() when the operator becomes leader, Stop() when it stops leading (restartable).
//
// What kfaas-operator's main does (flags as in the chart):
//
//   autoscaler::AutoscalerOptions as_opts;
//   as_opts.ns = flag_namespace;                                  // "" = all namespaces
//   as_opts.activator_addresses =
//       autoscaler::SplitAddresses(flag_activator_stats_address);  // --activator-stats-address
//   as_opts.activator_service = flag_activator_service;           // optional "ns/name"
//   as_opts.record_event = [&recorder](const nlohmann::json& obj, std::string_view type,
//                                      std::string_view reason, std::string_view msg) {
//     recorder.Record(obj, type, reason, msg);                    // kube::EventRecorder
//   };
//   autoscaler::Autoscaler autoscaler(client, as_opts, registry, clock);
//   admin.Handle("/debug/autoscaler/trace", autoscaler.TraceHandler());   // before admin.Start()
//   leader_config.on_started_leading = [&] { autoscaler.Start(); ... };
//   leader_config.on_stopped_leading = [&] { autoscaler.Stop(); ... };
//   ... on shutdown: autoscaler.Stop();
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "autoscaler/keda/keda_sync.h"
#include "autoscaler/loop/discovery.h"
#include "autoscaler/loop/kube_adapters.h"
#include "autoscaler/loop/scaling_loop.h"
#include "autoscaler/loop/stats_collector.h"
#include "common/http/admin_server.h"
#include "common/kube/client.h"

namespace kfaas::autoscaler {

struct AutoscalerOptions {
  std::string ns;  // Functions in this namespace; "" = all
  // host:port of the activators' gRPC port; names resolving to several addresses (a headless
  // Service) expand to one stream per activator.
  std::vector<std::string> activator_addresses;
  // "namespace/name" of the activators' Service whose EndpointSlices list them ("" = off).
  std::string activator_service;
  std::string activator_port_name = "grpc";  // the slice port (a name, or a number)
  Duration discovery_refresh = std::chrono::seconds(2);
  // Where ScaledObjects of Functions with spec.scale.autoscaler: keda point KEDA (the
  // activators' gRPC host:port); "" = the first of activator_addresses. Synced every
  // discovery_refresh (see autoscaler/keda/keda_sync.h).
  std::string keda_scaler_address;
  // Writes an Event (kube::EventRecorder::Record). Optional; must not block.
  std::function<void(const nlohmann::json& object, std::string_view type, std::string_view reason,
                     std::string_view message)>
      record_event;
  LoopOptions loop;
  CollectorOptions collector;
};

class Autoscaler {
 public:
  Autoscaler(std::shared_ptr<kube::Client> client, AutoscalerOptions opts,
             metrics::Registry& registry, Clock& clock = RealClock::Get());
  ~Autoscaler();  // Stop()

  void Start();
  void Stop();
  bool running() const;

  // GET /debug/autoscaler/trace[?function=ns/name]: the decision trace as a text table.
  http::AdminServer::Handler TraceHandler();
  ScalingLoop& loop() { return *loop_; }
  StatsCollector& collector() { return *collector_; }

 private:
  class Events;
  class Targets;
  void Discover();

  std::shared_ptr<kube::Client> client_;
  const AutoscalerOptions opts_;
  metrics::Registry& registry_;
  Clock& clock_;
  std::unique_ptr<Events> events_;
  std::unique_ptr<Targets> targets_;  // delegates to the current term's KubeTargets
  KubeScaleWriter writer_;
  std::unique_ptr<ScalingLoop> loop_;
  std::unique_ptr<StatsCollector> collector_;
  ResolvingDiscovery static_discovery_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  std::unique_ptr<KubeTargets> kube_targets_;
  std::unique_ptr<EndpointSliceDiscovery> slices_;
  std::unique_ptr<KedaSync> keda_;  // used by the discovery thread only
  std::thread discovery_;
};

}  // namespace kfaas::autoscaler

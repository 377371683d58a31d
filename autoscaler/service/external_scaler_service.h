// ExternalScalerService: KEDA's external scaler protocol (proto/externalscaler.proto), served by
// every activator so a cluster that runs KEDA can drive a Function's scaling (its
// spec.scale.autoscaler: keda; the ScaledObject from autoscaler/keda/scaled_object.h).
//
// The function is named by the trigger's metadata (ScaledObjectRef.scalerMetadata "namespace"
// and "function"), defaulting to the ScaledObject's own namespace and name.
//   IsActive          true when anything is in flight or queued, or a request arrived within
//                     the function's idle window (spec.scale.idleWindowSeconds), on any activator.
//   StreamIsActive    the same, pushed at once when it changes here and every `heartbeat`
//                     (peers are re-checked at the heartbeat while this activator is idle).
//   GetMetricSpec     {metricName: "kfaas-<ns>-<name>-concurrency", targetSize: scale.target}.
//   GetMetrics        concurrency (in flight + queued) now, summed over this activator and its
//                     peers.
//   StreamMetricSpec  the spec at once, then again whenever scale.target changes.
// Peers are asked through PeerClient (short deadline); one that does not answer is left out
// and logged, never failing the answer. An unknown function is NOT_FOUND with a message that
// names it.
//
// Synchronous gRPC service: streams hold a server thread each and end when the client cancels
// or on Shutdown().
#pragma once

#include <atomic>

#include "autoscaler/service/interfaces.h"
#include "autoscaler/service/peer_client.h"
#include "autoscaler/service/stats_hub.h"
#include "externalscaler.grpc.pb.h"

namespace kfaas::metrics {
class Registry;
class Gauge;
}  // namespace kfaas::metrics

namespace kfaas::autoscaler {

struct ExternalScalerOptions {
  // StreamIsActive / StreamMetricSpec resend the current answer this often (and re-check
  // peers while this activator is idle).
  Duration heartbeat = std::chrono::seconds(1);
};

class ExternalScalerService final : public externalscaler::ExternalScaler::Service {
 public:
  // `peers` and `peer_client` may be null (a single activator). `registry` (optional) gets
  // kfaas_activator_external_scaler_requests_total{method} and
  // kfaas_activator_external_scaler_streams.
  ExternalScalerService(StatsHub& hub, FunctionInfo& functions, PeerSource* peers,
                        PeerClient* peer_client, ExternalScalerOptions opts = {},
                        metrics::Registry* registry = nullptr);

  grpc::Status IsActive(grpc::ServerContext* ctx, const externalscaler::ScaledObjectRef* ref,
                        externalscaler::IsActiveResponse* out) override;
  grpc::Status StreamIsActive(grpc::ServerContext* ctx, const externalscaler::ScaledObjectRef* ref,
                              grpc::ServerWriter<externalscaler::IsActiveResponse>* out) override;
  grpc::Status GetMetricSpec(grpc::ServerContext* ctx, const externalscaler::ScaledObjectRef* ref,
                             externalscaler::GetMetricSpecResponse* out) override;
  grpc::Status GetMetrics(grpc::ServerContext* ctx, const externalscaler::GetMetricsRequest* req,
                          externalscaler::GetMetricsResponse* out) override;
  grpc::Status StreamMetricSpec(
      grpc::ServerContext* ctx, const externalscaler::ScaledObjectRef* ref,
      grpc::ServerWriter<externalscaler::GetMetricSpecResponse>* out) override;

  // The function a ScaledObjectRef names: scalerMetadata "namespace"/"function" over the
  // ScaledObject's namespace/name.
  static std::pair<std::string, std::string> FunctionOf(const externalscaler::ScaledObjectRef& r);

 private:
  struct Target {
    std::string ns, name;
    FunctionScale scale;
  };
  grpc::Status Resolve(const externalscaler::ScaledObjectRef& ref, Target* out);
  bool LocallyActive(const HubSnapshot& snap, const Target& t) const;
  // Asks the peers; true when any peer is active for `t`. `concurrency` (optional) gets their sum.
  bool PeersActive(const Target& t, int64_t* concurrency);
  void Count(const char* method);
  std::vector<std::string> PeerAddresses();

  StatsHub& hub_;
  FunctionInfo& functions_;
  PeerSource* peers_;
  PeerClient* peer_client_;
  const ExternalScalerOptions opts_;
  metrics::Registry* registry_;
  metrics::Gauge* streams_ = nullptr;
};

}  // namespace kfaas::autoscaler

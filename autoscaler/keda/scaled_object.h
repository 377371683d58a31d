// MakeScaledObject: the KEDA ScaledObject (keda.sh/v1alpha1) for a Function whose
// spec.scale.autoscaler is "keda". Pure (no I/O); golden-tested in
// tests/autoscaler/scaled_object_test.cc. kfaas-operator creates it, owned by the Function,
// when the ScaledObject CRD is installed.
//
// The ScaledObject:
//   metadata      named after the Function, in its namespace, with kfaas' labels and the
//                 Function as controller owner (when it has a uid)
//   scaleTargetRef   the Function's Deployment (apps/v1, same name)
//   min/maxReplicaCount   spec.scale.min / spec.scale.max
//   cooldownPeriod   spec.scale.idleWindowSeconds (how long KEDA waits before going to 0)
//   pollingInterval  options.polling_interval_seconds
//   triggers      one `external-push` (or `external`) trigger at the activators' gRPC Service
//                 with metadata {scalerAddress, namespace, function}, metricType AverageValue:
//                 the HPA then sets replicas = ceil(concurrency / scale.target).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kfaas::autoscaler {

struct ScaledObjectOptions {
  // The activators' gRPC Service, host:port (the chart's headless "<release>-activator-grpc";
  // KEDA balances its calls over the activators, each of which answers for all of them).
  std::string scaler_address = "kfaas-activator-grpc.kfaas-system.svc:9095";
  // "external-push" (StreamIsActive: scale from zero at once) or "external" (polled).
  std::string trigger_type = "external-push";
  int polling_interval_seconds = 15;
};

// Fails (InvalidArgument, naming the field) without metadata.name, with an unknown trigger
// type, or with scale.min > scale.max.
absl::StatusOr<nlohmann::json> MakeScaledObject(const nlohmann::json& function,
                                                const ScaledObjectOptions& opts = {});

inline constexpr char kScaledObjectApiVersion[] = "keda.sh/v1alpha1";
inline constexpr char kScaledObjectKind[] = "ScaledObject";

}  // namespace kfaas::autoscaler

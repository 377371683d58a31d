// Pure builders of a Function's children: the Deployment that runs its instances and the
// Service in front of them. No I/O; golden-tested (tests/operator/resources_test.cc).
//
// Conventions other components rely on:
//   - Both children are named after the Function and live in its namespace.
//   - Labels (on the Deployment, its pod template and the Service):
//       kfaas.dev/function: <name>            the selector of the Deployment and Service
//       app.kubernetes.io/name: <name>
//       app.kubernetes.io/managed-by: kfaas
//   - ownerReferences: the Function, controller=true, blockOwnerDeletion=true.
//   - One container named "function"; its port is named "http" (containerPort spec.port) and
//     $PORT, $KFAAS_FUNCTION_NAME, $KFAAS_FUNCTION_NAMESPACE are set.
//   - The Service: ClusterIP, port 80 (name "http") -> targetPort "http".
//   - spec.replicas belongs to the activator and the autoscaler: scale.min on create; later
//     the live value, clamped into [scale.min, scale.max] (DesiredReplicas).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/api/function.h"

namespace kfaas::op {

inline constexpr char kLabelFunction[] = "kfaas.dev/function";
inline constexpr char kLabelName[] = "app.kubernetes.io/name";
inline constexpr char kLabelManagedBy[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "kfaas";
inline constexpr char kContainerName[] = "function";
inline constexpr char kPortName[] = "http";
inline constexpr int kServicePort = 80;

struct Options {
  // terminationGracePeriodSeconds = spec.timeoutSeconds + this, so an invocation that started
  // just before SIGTERM can finish.
  int64_t grace_period_padding_seconds = 5;
  // Readiness probe period. The local node and real kubelets honour >= 1 s.
  int64_t probe_period_seconds = 1;
};

// The labels of every child (and the pod template) of the Function `name`.
Json Labels(const std::string& name);
// {"kfaas.dev/function": name}
Json Selector(const std::string& name);
// The controller ownerReference to `fn`.
Json OwnerReference(const Function& fn);

// Replicas to write: scale.min on create (live absent); otherwise the live value clamped into
// [scale.min, scale.max].
int64_t DesiredReplicas(const ScaleSpec& scale, std::optional<int64_t> live);

// The desired Deployment, with spec.replicas = DesiredReplicas(fn.spec.scale, live_replicas).
Json MakeDeployment(const Function& fn, const Options& opts,
                    std::optional<int64_t> live_replicas = std::nullopt);
Json MakeService(const Function& fn, const Options& opts);

// The controller ownerReference's uid in `obj` if it points at a kfaas Function, else "".
std::string ControllerFunctionUid(const Json& obj);
// The Function "namespace/name" controlling `obj` (by its controller ownerReference), or "".
std::string ControllerFunctionKey(const Json& obj);

}  // namespace kfaas::op

// The part of a Function the autoscaler acts on (spec.scale), parsed tolerantly from its JSON:
// a missing or mistyped field takes the CRD's default (the schema refuses bad specs before they
// get here; the autoscaler must still never fail on one). Only a missing name is an error.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "autoscaler/core/decider.h"

namespace kfaas::autoscaler {

inline constexpr char kAutoscalerKfaas[] = "kfaas";
inline constexpr char kAutoscalerKeda[] = "keda";

struct FunctionScale {
  std::string ns;
  std::string name;
  ScaleBounds bounds;                         // spec.scale.{min,max,target}
  int idle_window_seconds = 60;               // spec.scale.idleWindowSeconds
  std::string autoscaler = kAutoscalerKfaas;  // spec.scale.autoscaler: "kfaas" or "keda"

  bool UsesKeda() const { return autoscaler == kAutoscalerKeda; }
  std::string Key() const { return ns + "/" + name; }
  bool operator==(const FunctionScale&) const = default;
};

absl::StatusOr<FunctionScale> ParseFunctionScale(const nlohmann::json& function);

// The external metric a function is scaled on: "kfaas-<namespace>-<name>-concurrency".
std::string ConcurrencyMetricName(std::string_view ns, std::string_view name);

}  // namespace kfaas::autoscaler

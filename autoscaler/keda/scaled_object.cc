#include "autoscaler/keda/scaled_object.h"

#include "autoscaler/core/function_scale.h"

namespace kfaas::autoscaler {

absl::StatusOr<nlohmann::json> MakeScaledObject(const nlohmann::json& function,
                                                const ScaledObjectOptions& opts) {
  using nlohmann::json;
  absl::StatusOr<FunctionScale> scale = ParseFunctionScale(function);
  if (!scale.ok()) return scale.status();
  if (opts.trigger_type != "external-push" && opts.trigger_type != "external") {
    return absl::InvalidArgumentError("KEDA trigger type \"" + opts.trigger_type +
                                      "\" is not supported: use \"external-push\" or \"external\"");
  }
  if (opts.scaler_address.empty()) {
    return absl::InvalidArgumentError(
        "no KEDA scaler address: set the activators' gRPC Service host:port");
  }
  if (scale->bounds.min > scale->bounds.max) {
    return absl::InvalidArgumentError("spec.scale.min (" + std::to_string(scale->bounds.min) +
                                      ") is above spec.scale.max (" +
                                      std::to_string(scale->bounds.max) + ")");
  }
  const std::string& name = scale->name;
  const std::string& ns = scale->ns;
  json metadata = {
      {"name", name},
      {"namespace", ns},
      {"labels",
       {{"kfaas.dev/function", name},
        {"app.kubernetes.io/name", name},
        {"app.kubernetes.io/managed-by", "kfaas"}}},
  };
  const json& meta = function.at("metadata");
  if (auto uid = meta.find("uid"); uid != meta.end() && uid->is_string() && !uid->empty()) {
    metadata["ownerReferences"] = json::array({{
        {"apiVersion", function.value("apiVersion", std::string("kfaas.dev/v1alpha1"))},
        {"kind", "Function"},
        {"name", name},
        {"uid", *uid},
        {"controller", true},
        {"blockOwnerDeletion", true},
    }});
  }
  return json{
      {"apiVersion", kScaledObjectApiVersion},
      {"kind", kScaledObjectKind},
      {"metadata", std::move(metadata)},
      {"spec",
       {
           {"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", name}}},
           {"minReplicaCount", scale->bounds.min},
           {"maxReplicaCount", scale->bounds.max},
           {"cooldownPeriod", scale->idle_window_seconds},
           {"pollingInterval", opts.polling_interval_seconds},
           {"triggers",
            json::array({{
                {"type", opts.trigger_type},
                {"metricType", "AverageValue"},
                {"metadata",
                 {{"scalerAddress", opts.scaler_address}, {"namespace", ns}, {"function", name}}},
            }})},
       }},
  };
}

}  // namespace kfaas::autoscaler

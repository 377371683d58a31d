#include "autoscaler/core/function_scale.h"

#include <limits>

namespace kfaas::autoscaler {
namespace {

int IntOr(const nlohmann::json& obj, const char* key, int def, int lo) {
  if (!obj.is_object()) return def;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return def;
  const double v = it->get<double>();
  if (v < lo || v > std::numeric_limits<int>::max()) return def;
  return static_cast<int>(v);
}

}  // namespace

absl::StatusOr<FunctionScale> ParseFunctionScale(const nlohmann::json& function) {
  FunctionScale out;
  const auto& meta = function.is_object() ? function.value("metadata", nlohmann::json::object())
                                          : nlohmann::json::object();
  if (meta.is_object()) {
    if (auto it = meta.find("name"); it != meta.end() && it->is_string()) out.name = *it;
    if (auto it = meta.find("namespace"); it != meta.end() && it->is_string()) out.ns = *it;
  }
  if (out.name.empty()) {
    return absl::InvalidArgumentError("Function has no metadata.name");
  }
  if (out.ns.empty()) out.ns = "default";
  nlohmann::json scale = nlohmann::json::object();
  if (auto spec = function.find("spec"); spec != function.end() && spec->is_object()) {
    if (auto s = spec->find("scale"); s != spec->end() && s->is_object()) scale = *s;
  }
  out.bounds.min = IntOr(scale, "min", 0, 0);
  out.bounds.max = IntOr(scale, "max", 100, 1);
  out.bounds.target = IntOr(scale, "target", 10, 1);
  out.idle_window_seconds = IntOr(scale, "idleWindowSeconds", 60, 1);
  if (auto a = scale.find("autoscaler");
      a != scale.end() && a->is_string() && (*a == kAutoscalerKfaas || *a == kAutoscalerKeda)) {
    out.autoscaler = *a;
  }
  return out;
}

std::string ConcurrencyMetricName(std::string_view ns, std::string_view name) {
  std::string m = "kfaas-";
  m.append(ns).append("-").append(name).append("-concurrency");
  return m;
}

}  // namespace kfaas::autoscaler

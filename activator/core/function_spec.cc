#include "activator/core/function_spec.h"

#include <algorithm>

#include "common/base/json_fields.h"

namespace kfaas::activator {
namespace {

using Json = nlohmann::json;

int IntField(const Json& obj, const char* key, int def, int lo, int hi) {
  if (!obj.is_object()) return def;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return def;
  double v = it->get<double>();
  if (v < lo || v > hi) return def;
  return static_cast<int>(v);
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

absl::StatusOr<FunctionSpec> ParseFunctionSpec(const Json& fn) {
  FunctionSpec s;
  if (!fn.is_object()) return absl::InvalidArgumentError("function: not a JSON object");
  const Json& md = json::FieldOrEmptyObject(fn, "metadata");
  if (!md.is_object() || !md.contains("name") || !md["name"].is_string() ||
      !md.contains("namespace") || !md["namespace"].is_string()) {
    return absl::InvalidArgumentError("function: metadata.name and metadata.namespace required");
  }
  s.name = md["name"].get<std::string>();
  s.ns = md["namespace"].get<std::string>();
  if (auto it = md.find("creationTimestamp"); it != md.end() && it->is_string()) {
    s.created = it->get<std::string>();
  }
  Json spec = json::FieldOrEmptyObject(fn, "spec");
  if (!spec.is_object()) spec = Json::object();
  s.port = IntField(spec, "port", 8080, 1, 65535);
  s.timeout_seconds = IntField(spec, "timeoutSeconds", 300, 1, 900);
  s.concurrency = IntField(spec, "concurrency", 0, 0, 1 << 30);
  if (auto it = spec.find("readinessPath"); it != spec.end() && it->is_string()) {
    s.readiness_path = it->get<std::string>();
    if (!s.readiness_path.empty() && s.readiness_path[0] != '/') {
      s.readiness_path = "/" + s.readiness_path;
    }
  }
  if (auto it = spec.find("hosts"); it != spec.end() && it->is_array()) {
    for (const auto& h : *it) {
      if (h.is_string() && !h.get<std::string>().empty()) {
        s.hosts.push_back(Lower(h.get<std::string>()));
      }
    }
  }
  Json scale = spec.value("scale", Json::object());
  s.scale_min = IntField(scale, "min", 0, 0, 1 << 20);
  s.scale_max = IntField(scale, "max", 100, 0, 1 << 20);
  s.scale_target = IntField(scale, "target", 10, 1, 1 << 20);
  s.idle_window_seconds = IntField(scale, "idleWindowSeconds", 60, 1, 1 << 30);
  if (s.scale_max < std::max(1, s.scale_min)) s.scale_max = std::max(1, s.scale_min);
  return s;
}

}  // namespace kfaas::activator

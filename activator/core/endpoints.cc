#include "activator/core/endpoints.h"

#include <cstdlib>

#include "common/base/json_fields.h"

namespace kfaas::activator {

using Json = nlohmann::json;

SliceInfo ParseEndpointSlice(const Json& slice) {
  SliceInfo s;
  if (!slice.is_object()) return s;
  const Json& md = json::FieldOrEmptyObject(slice, "metadata");
  if (md.is_object()) {
    if (md.contains("namespace") && md["namespace"].is_string()) s.ns = md["namespace"];
    if (md.contains("name") && md["name"].is_string()) s.name = md["name"];
    const Json labels = md.value("labels", Json::object());
    if (labels.is_object() && labels.contains(kServiceNameLabel) &&
        labels[kServiceNameLabel].is_string()) {
      s.function = labels[kServiceNameLabel];
    }
  }
  int port = 0;
  const Json ports = slice.value("ports", Json::array());
  if (ports.is_array()) {
    for (const auto& p : ports) {
      if (!p.is_object() || !p.contains("port") || !p["port"].is_number_integer()) continue;
      int v = p["port"];
      if (v <= 0 || v > 65535) continue;
      if (p.value("name", std::string()) == "http") {
        port = v;
        break;
      }
      if (port == 0) port = v;
    }
  }
  if (port == 0) return s;
  const Json eps = slice.value("endpoints", Json::array());
  if (!eps.is_array()) return s;
  for (const auto& ep : eps) {
    if (!ep.is_object()) continue;
    const Json cond = ep.value("conditions", Json::object());
    bool ready = false, terminating = false;
    if (cond.is_object()) {
      // A nil ready means "unknown, assume ready" in discovery/v1.
      auto r = cond.find("ready");
      ready = r == cond.end() || r->is_null() || (r->is_boolean() && r->get<bool>());
      auto t = cond.find("terminating");
      terminating = t != cond.end() && t->is_boolean() && t->get<bool>();
    } else {
      ready = true;
    }
    const Json addrs = ep.value("addresses", Json::array());
    if (!addrs.is_array()) continue;
    for (const auto& a : addrs) {
      if (!a.is_string() || a.get<std::string>().empty()) continue;
      s.endpoints.push_back(
          {a.get<std::string>(), static_cast<uint16_t>(port), ready, terminating});
    }
  }
  return s;
}

namespace {
const Json& Field(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}
std::string Str(const Json& j, const char* key) {
  const Json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}
int ContainerPort(const Json& pod) {
  const Json& containers = Field(Field(pod, "spec"), "containers");
  if (!containers.is_array() || containers.empty()) return 0;
  const Json& ports = Field(containers[0], "ports");
  if (!ports.is_array()) return 0;
  int first = 0;
  for (const auto& p : ports) {
    const Json& v = Field(p, "containerPort");
    if (!v.is_number_integer()) continue;
    int port = v.get<int>();
    if (port <= 0 || port > 65535) continue;
    if (Str(p, "name") == "http") return port;
    if (first == 0) first = port;
  }
  return first;
}
}  // namespace

PodInfo ParsePod(const Json& pod, int default_port) {
  PodInfo p;
  const Json& md = Field(pod, "metadata");
  p.ns = Str(md, "namespace");
  p.name = Str(md, "name");
  p.function = Str(Field(md, "labels"), kFunctionLabel);
  if (Field(md, "deletionTimestamp").is_string()) return p;  // terminating: never again
  const Json& st = Field(pod, "status");
  std::string phase = Str(st, "phase");
  if (phase == "Succeeded" || phase == "Failed") return p;
  std::string address = Str(st, "podIP");
  int port = 0;
  std::string annotated = Str(Field(md, "annotations"), kLocalPortAnnotation);
  if (!annotated.empty()) {
    port = std::atoi(annotated.c_str());
    if (address.empty()) address = "127.0.0.1";
  } else {
    port = ContainerPort(pod);
    if (port == 0) port = default_port;
  }
  if (address.empty() || port <= 0 || port > 65535) return p;
  p.endpoint = EndpointInfo{address, static_cast<uint16_t>(port), false, false};
  return p;
}

}  // namespace kfaas::activator

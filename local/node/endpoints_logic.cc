#include "local/node/endpoints_logic.h"

#include <algorithm>
#include <cstdint>

#include "common/base/json_fields.h"
#include "local/node/node_agent.h"

namespace kfaas::node {
namespace {

using json::Field;
using json::Str;

std::string Hex32(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[9];
  snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

Json OwnerRef(const Json& service) {
  const Json& md = Field(service, "metadata");
  return Json::array({{{"apiVersion", "v1"},
                       {"kind", "Service"},
                       {"name", Str(md, "name")},
                       {"uid", Str(md, "uid")},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

// The Service's labels plus ours (the upstream controllers copy the Service's labels).
Json Labels(const Json& service, const char* key, const char* value, bool service_name) {
  Json labels = Field(Field(service, "metadata"), "labels").is_object()
                    ? Field(Field(service, "metadata"), "labels")
                    : Json::object();
  labels.erase("service.kubernetes.io/headless");
  if (service_name) labels[kServiceNameLabel] = Str(Field(service, "metadata"), "name");
  labels[key] = value;
  return labels;
}

// A port name for a Service port: its own name, else the name of the container port it targets.
std::string PortName(const Json& service_port, const Json& container_ports) {
  std::string name = Str(service_port, "name");
  if (!name.empty()) return name;
  const Json& target = Field(service_port, "targetPort");
  if (target.is_string()) return "";  // an unnamed service port targeting a named port
  int number =
      target.is_number_integer()
          ? target.get<int>()
          : (Field(service_port, "port").is_number_integer() ? service_port["port"].get<int>() : 0);
  if (container_ports.is_array()) {
    for (const auto& cp : container_ports) {
      if (Field(cp, "containerPort").is_number_integer() && cp["containerPort"] == number) {
        return Str(cp, "name");
      }
    }
  }
  return "";
}

Json Ports(const Json& service, const PodEndpoint& ep, bool for_endpoints) {
  Json ports = Json::array();
  const Json& sps = Field(Field(service, "spec"), "ports");
  if (!sps.is_array()) return ports;
  for (const auto& sp : sps) {
    Json p = {{"name", PortName(sp, ep.container_ports)},
              {"port", ep.port},
              {"protocol", Str(sp, "protocol").empty() ? "TCP" : Str(sp, "protocol")}};
    if (for_endpoints && p["name"] == "") p.erase("name");
    if (!Str(sp, "appProtocol").empty()) p["appProtocol"] = Str(sp, "appProtocol");
    ports.push_back(std::move(p));
  }
  return ports;
}

Json TargetRef(const Json& service, const PodEndpoint& ep) {
  return {{"kind", "Pod"},
          {"namespace", Str(Field(service, "metadata"), "namespace")},
          {"name", ep.name},
          {"uid", ep.uid}};
}

// Whether `have` says at least what `want` says: fields the API server adds (defaults) are
// ignored, so a stored object never looks out of date forever.
bool Covers(const Json& have, const Json& want) {
  if (want.is_object()) {
    if (!have.is_object()) return false;
    for (const auto& [k, v] : want.items()) {
      auto it = have.find(k);
      if (it == have.end() || !Covers(*it, v)) return false;
    }
    return true;
  }
  if (want.is_array()) {
    if (!have.is_array() || have.size() != want.size()) return false;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!Covers(have[i], want[i])) return false;
    }
    return true;
  }
  return have == want;
}

}  // namespace

std::optional<PodEndpoint> PodEndpointFor(const Json& pod) {
  const Json& md = Field(pod, "metadata");
  const Json& st = Field(pod, "status");
  std::string phase = Str(st, "phase");
  bool pending_on_node =
      (phase == "Pending" || phase.empty()) && !Str(Field(pod, "spec"), "nodeName").empty();
  if (phase != "Running" && !pending_on_node) return std::nullopt;
  std::string port_s = Str(Field(md, "annotations"), kPortAnnotation);
  int port = port_s.empty() ? 0 : std::atoi(port_s.c_str());
  if (port <= 0 || port > 65535) return std::nullopt;
  PodEndpoint ep;
  ep.name = Str(md, "name");
  ep.uid = Str(md, "uid");
  ep.node_name = Str(Field(pod, "spec"), "nodeName");
  ep.port = static_cast<uint16_t>(port);
  ep.terminating = Field(md, "deletionTimestamp").is_string();
  bool ready = false;
  if (Field(st, "conditions").is_array()) {
    for (const auto& c : st["conditions"]) {
      if (Str(c, "type") == "Ready") ready = Str(c, "status") == "True";
    }
  }
  ep.serving = ready;
  ep.ready = ready && !ep.terminating;
  const Json& containers = Field(Field(pod, "spec"), "containers");
  if (containers.is_array() && !containers.empty() && Field(containers[0], "ports").is_array()) {
    ep.container_ports = containers[0]["ports"];
  }
  return ep;
}

bool SameEndpoint(const std::optional<PodEndpoint>& a, const std::optional<PodEndpoint>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->port == b->port && a->ready == b->ready && a->serving == b->serving &&
         a->terminating == b->terminating && a->uid == b->uid;
}

std::string SliceName(const std::string& service, const std::string& pod) {
  std::string name = service + "-" + pod;
  if (name.size() <= 253) return name;
  return service.substr(0, 200) + "-" + Hex32(name);
}

Json MakeEndpointSlice(const Json& service, const PodEndpoint& ep) {
  const Json& md = Field(service, "metadata");
  Json endpoint = {
      {"addresses", Json::array({"127.0.0.1"})},
      {"conditions",
       {{"ready", ep.ready}, {"serving", ep.serving}, {"terminating", ep.terminating}}},
      {"targetRef", TargetRef(service, ep)}};
  if (!ep.node_name.empty()) endpoint["nodeName"] = ep.node_name;
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", SliceName(Str(md, "name"), ep.name)},
            {"namespace", Str(md, "namespace")},
            {"labels", Labels(service, kManagedByLabel, kManagedByValue, true)},
            {"ownerReferences", OwnerRef(service)}}},
          {"addressType", "IPv4"},
          {"endpoints", Json::array({endpoint})},
          {"ports", Ports(service, ep, false)}};
}

Json MakeEndpoints(const Json& service, const std::vector<PodEndpoint>& eps) {
  const Json& md = Field(service, "metadata");
  bool publish_not_ready = Field(Field(service, "spec"), "publishNotReadyAddresses") == true;
  std::vector<PodEndpoint> sorted = eps;
  std::sort(sorted.begin(), sorted.end(),
            [](const PodEndpoint& a, const PodEndpoint& b) { return a.name < b.name; });
  Json subsets = Json::array();
  for (const auto& ep : sorted) {
    if (ep.terminating && !publish_not_ready) continue;
    Json addr = {{"ip", "127.0.0.1"}, {"targetRef", TargetRef(service, ep)}};
    if (!ep.node_name.empty()) addr["nodeName"] = ep.node_name;
    Json subset = Json::object();
    subset[(ep.ready || publish_not_ready) ? "addresses" : "notReadyAddresses"] =
        Json::array({addr});
    subset["ports"] = Ports(service, ep, true);
    subsets.push_back(std::move(subset));
  }
  Json out = {
      {"apiVersion", "v1"},
      {"kind", "Endpoints"},
      {"metadata",
       {{"name", Str(md, "name")},
        {"namespace", Str(md, "namespace")},
        {"labels", Labels(service, kEndpointsManagedByLabel, kEndpointsManagedByValue, false)}}}};
  if (!subsets.empty()) out["subsets"] = subsets;
  return out;
}

bool SliceUpToDate(const Json& existing, const Json& desired) {
  const Json& emd = Field(existing, "metadata");
  const Json& dmd = Field(desired, "metadata");
  return Covers(Field(emd, "labels"), Field(dmd, "labels")) &&
         Covers(Field(emd, "ownerReferences"), Field(dmd, "ownerReferences")) &&
         Covers(Field(existing, "addressType"), Field(desired, "addressType")) &&
         Covers(Field(existing, "endpoints"), Field(desired, "endpoints")) &&
         Covers(Field(existing, "ports"), Field(desired, "ports"));
}

bool EndpointsUpToDate(const Json& existing, const Json& desired) {
  const Json& es = Field(existing, "subsets");
  const Json& ds = Field(desired, "subsets");
  bool same_subsets = (es.is_null() || es.empty()) ? (ds.is_null() || ds.empty()) : Covers(es, ds);
  return same_subsets && Covers(Field(Field(existing, "metadata"), "labels"),
                                Field(Field(desired, "metadata"), "labels"));
}

std::string ServiceSelector(const Json& service) {
  const Json& sel = Field(Field(service, "spec"), "selector");
  if (!sel.is_object() || sel.empty()) return "";
  std::string out;
  for (const auto& [k, v] : sel.items()) {
    if (!v.is_string()) continue;
    if (!out.empty()) out += ",";
    out += k + "=" + v.get<std::string>();
  }
  return out;
}

}  // namespace kfaas::node

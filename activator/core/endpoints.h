// EndpointSlice parsing: the instances (address:port) a slice publishes for a function.
//
// A slice belongs to the function named by its label kubernetes.io/service-name, in the
// slice's namespace. The port is the one named "http", else the first. kfaas-local publishes
// one slice per pod; real clusters put many pods in one slice: both are handled by the
// registry keeping endpoints per slice and taking their union.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kfaas::activator {

struct EndpointInfo {
  std::string address;  // an IP (v4 or v6) or host name
  uint16_t port = 0;
  bool ready = false;
  bool terminating = false;
  bool operator==(const EndpointInfo&) const = default;
  std::string Key() const { return address + ":" + std::to_string(port); }
};

struct SliceInfo {
  std::string ns;
  std::string name;      // the slice's own name
  std::string function;  // from kubernetes.io/service-name ("" when missing)
  std::vector<EndpointInfo> endpoints;
};

inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";

// Never fails: a malformed slice yields fewer endpoints.
SliceInfo ParseEndpointSlice(const nlohmann::json& slice);

// A function's Pod, watched so that a starting instance can be probed as soon as its address is
// known, before its EndpointSlice propagates. Pods only add instances to probe: readiness and warm
// routing stay with the EndpointSlices (a pod's instance becomes usable by answering a probe).
struct PodInfo {
  std::string ns;
  std::string name;      // the pod's own name
  std::string function;  // from the label kfaas.dev/function ("" when missing)
  // Where the instance will listen; nullopt while unknown (no IP yet) or when it never will
  // again (finished, terminating).
  std::optional<EndpointInfo> endpoint;
};

inline constexpr char kFunctionLabel[] = "kfaas.dev/function";
// kfaas-local's node reserves a pod's port at creation and records it here; its pods all listen
// on the loopback address (the node runs them as local processes), so the address is known at
// once. On a cluster the address is status.podIP and the port the container's.
inline constexpr char kLocalPortAnnotation[] = "local.kfaas.dev/port";

// Never fails: a malformed pod yields no endpoint. The port is the annotation's, else the first
// container's port named "http", else its first port, else `default_port` (the function's
// spec.port; 0: unknown, no endpoint).
PodInfo ParsePod(const nlohmann::json& pod, int default_port = 0);

}  // namespace kfaas::activator

// What the Endpoints controller publishes for a Service, as pure functions.
//
// Every local pod listens on its own port, so one EndpointSlice cannot hold several pods with
// one port list: kfaas-local publishes ONE EndpointSlice PER POD, named "<service>-<pod>",
// labelled kubernetes.io/service-name=<service> and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io, addressType IPv4, one
// endpoint {addresses: ["127.0.0.1"], conditions: {ready, serving, terminating}, targetRef: the
// pod, nodeName} and, for each Service port, a port {name: the Service port's name (or the
// target container port's name when it has none), port: the pod's local port, protocol}.
// A pod is published once its process runs (phase Running, local port annotated; ready=false
// until its readiness probe passes) and while it terminates (ready=false, terminating=true).
// The core/v1 Endpoints object has one subset per published, non-terminating pod.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kfaas::node {

using Json = nlohmann::json;

inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
inline constexpr char kManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "endpointslice-controller.k8s.io";
inline constexpr char kEndpointsManagedByLabel[] = "endpoints.kubernetes.io/managed-by";
inline constexpr char kEndpointsManagedByValue[] = "endpoint-controller";

struct PodEndpoint {
  std::string name, uid, node_name;
  uint16_t port = 0;
  bool ready = false;                    // Ready condition True and not terminating
  bool serving = false;                  // Ready condition True
  bool terminating = false;              // deletionTimestamp set
  Json container_ports = Json::array();  // the first container's ports (for port names)
};

// The pod's endpoint, or nullopt when it is not published (finished, no port). A pod created
// with its port (kfaas-local's Deployment controller reserves it) is published, not ready, while
// still Pending on its node: its address is known before its process runs, so the activator can
// probe it the moment it listens instead of waiting for the Running status to propagate.
std::optional<PodEndpoint> PodEndpointFor(const Json& pod);

// Ready/terminating/port changes that matter to endpoints (to skip irrelevant pod updates).
bool SameEndpoint(const std::optional<PodEndpoint>& a, const std::optional<PodEndpoint>& b);

std::string SliceName(const std::string& service, const std::string& pod);
Json MakeEndpointSlice(const Json& service, const PodEndpoint& ep);
Json MakeEndpoints(const Json& service, const std::vector<PodEndpoint>& eps);

// True when `existing` already says what `desired` says (labels, owner, endpoints, ports /
// subsets), so no write is needed.
bool SliceUpToDate(const Json& existing, const Json& desired);
bool EndpointsUpToDate(const Json& existing, const Json& desired);

// "k=v,k2=v2" for a Service's spec.selector map ("" when it has none).
std::string ServiceSelector(const Json& service);

}  // namespace kfaas::node

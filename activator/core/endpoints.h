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

// Never fails: a malformed slice yields fewer endpoints. `default_port` is used when the
// slice lists no port (the function's spec.port is not known here: 0 means "unknown").
SliceInfo ParseEndpointSlice(const nlohmann::json& slice);

}  // namespace kfaas::activator

// FunctionSpec: the part of a Function object the activator acts on, parsed from its JSON.
//
// Parsing is tolerant: a missing or mistyped field takes its default (the CRD's schema refuses
// bad specs before they get here; the activator must still never fail on one). Only a missing
// metadata.name/namespace is an error.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kfaas::activator {

struct FunctionSpec {
  std::string ns;
  std::string name;
  std::string created;             // metadata.creationTimestamp (RFC 3339), "" when unknown
  std::vector<std::string> hosts;  // spec.hosts, lower-cased
  std::string readiness_path;      // "" = probe with a TCP connect
  int port = 8080;
  int timeout_seconds = 300;  // per invocation, 1..900
  int concurrency = 0;        // per instance in flight, 0 = unlimited
  int scale_min = 0;
  int scale_max = 100;
  int scale_target = 10;
  int idle_window_seconds = 60;

  std::string Key() const { return ns + "/" + name; }
  bool operator==(const FunctionSpec&) const = default;
};

absl::StatusOr<FunctionSpec> ParseFunctionSpec(const nlohmann::json& function);

// "<ns>/<name>" for the key maps.
inline std::string FunctionKey(std::string_view ns, std::string_view name) {
  std::string k;
  k.reserve(ns.size() + name.size() + 1);
  k.append(ns).append("/").append(name);
  return k;
}

}  // namespace kfaas::activator

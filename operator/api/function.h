// The Function API (kfaas.dev/v1alpha1) as C++: a typed mirror of crds/functions.kfaas.dev.yaml,
// parsing with the CRD's defaults, and the checks the CRD's schema cannot express.
//
// Parse() is tolerant: a missing field takes the CRD's default (so objects from a server that
// did not default, or written by an older CRD, still parse); a field of the wrong type is an
// error naming it. Validate() returns every problem with a CamelCase reason and a message that
// says what to fix; the operator reports them as a Ready=False condition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kfaas::op {

using Json = nlohmann::json;

inline constexpr char kGroup[] = "kfaas.dev";
inline constexpr char kVersion[] = "v1alpha1";
inline constexpr char kApiVersion[] = "kfaas.dev/v1alpha1";
inline constexpr char kKind[] = "Function";

// The CRD's defaults (tests/operator check these against the CRD file).
inline constexpr int kDefaultPort = 8080;
inline constexpr int kDefaultTimeoutSeconds = 300;
inline constexpr int kMaxTimeoutSeconds = 900;
inline constexpr int kDefaultConcurrency = 0;
inline constexpr int kDefaultScaleMin = 0;
inline constexpr int kDefaultScaleMax = 100;
inline constexpr int kDefaultScaleTarget = 10;
inline constexpr int kDefaultIdleWindowSeconds = 60;
inline constexpr char kDefaultAutoscaler[] = "kfaas";

// Environment variables kfaas sets in every instance; a Function may not set them itself.
inline constexpr char kEnvPort[] = "PORT";
inline constexpr char kEnvFunctionName[] = "KFAAS_FUNCTION_NAME";
inline constexpr char kEnvFunctionNamespace[] = "KFAAS_FUNCTION_NAMESPACE";

struct EnvVar {
  std::string name;
  std::string value;
  bool operator==(const EnvVar&) const = default;
};

struct ScaleSpec {
  int64_t min = kDefaultScaleMin;
  int64_t max = kDefaultScaleMax;
  int64_t target = kDefaultScaleTarget;
  int64_t idle_window_seconds = kDefaultIdleWindowSeconds;
  std::string autoscaler = kDefaultAutoscaler;  // "kfaas" or "keda"
  bool operator==(const ScaleSpec&) const = default;
};

struct FunctionSpec {
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  int64_t port = kDefaultPort;
  // {"requests": {"cpu": "100m"}, "limits": {...}}: quantities kept as the user wrote them
  // (strings or integers); an empty object when unset.
  Json resources = Json::object();
  std::string readiness_path;  // "" = no HTTP probe
  int64_t timeout_seconds = kDefaultTimeoutSeconds;
  int64_t concurrency = kDefaultConcurrency;  // 0 = unlimited
  ScaleSpec scale;
  std::vector<std::string> hosts;
  bool operator==(const FunctionSpec&) const = default;
};

struct LastColdStart {
  std::string time;  // RFC 3339
  int64_t duration_milliseconds = 0;
};

struct Function {
  // Metadata.
  std::string name;
  std::string ns;
  std::string uid;
  int64_t generation = 0;
  std::string resource_version;
  std::string creation_timestamp;  // RFC 3339, "" if unknown
  bool being_deleted = false;      // metadata.deletionTimestamp is set

  FunctionSpec spec;

  // The object's status as read (conditions etc. are handled as JSON by the controller).
  Json status = Json::object();

  std::string Key() const { return ns + "/" + name; }
};

// Parses a Function object (as served by the API). Errors name the field:
// `spec.port: must be an integer, not "x"`.
absl::StatusOr<Function> ParseFunction(const Json& obj);
// Parses just the spec (a missing or null spec is all defaults).
absl::StatusOr<FunctionSpec> ParseFunctionSpec(const Json& spec);

// The spec as JSON with every default filled in (what the API server stores).
Json SpecToJson(const FunctionSpec& spec);

// A reason the spec cannot be served, in the words of a Ready=False condition.
struct Problem {
  std::string reason;   // CamelCase: "InvalidScale"
  std::string message;  // what is wrong and how to fix it
  std::string String() const { return reason + ": " + message; }
};

struct ValidationOptions {
  // The cluster is kfaas-local, whose node runs spec.command as a process: it is required.
  bool require_command = false;
  // The domain of generated hosts (<name>.<namespace>.<domain>), for host conflicts.
  std::string domain = "kfaas.local";
};

// Another Function's claim on hosts, for conflict checks.
struct HostClaim {
  std::string ns, name, uid;
  std::string creation_timestamp;
  std::vector<std::string> hosts;  // spec.hosts
};
HostClaim ClaimOf(const Function& fn);

// The Host a function is reached by without spec.hosts: "<name>.<namespace>.<domain>".
std::string DefaultHost(const std::string& name, const std::string& ns, const std::string& domain);
// "http://<DefaultHost>".
std::string FunctionUrl(const std::string& name, const std::string& ns, const std::string& domain);

// True when `a` claimed its hosts before `b`: older creationTimestamp, then namespace/name.
bool ClaimedBefore(const HostClaim& a, const HostClaim& b);

// The checks the CRD schema cannot express. `others` are the other Functions that may claim
// one of `fn`'s hosts (it may include fn itself, which is skipped by uid or namespace/name).
// Returns no problems when the spec can be served.
std::vector<Problem> Validate(const Function& fn, const ValidationOptions& opts,
                              const std::vector<HostClaim>& others = {});

// Kubernetes name checks (apimachinery validation).
bool IsDns1035Label(const std::string& s);      // Service names: [a-z]([-a-z0-9]*[a-z0-9])?, <= 63
bool IsDns1123Subdomain(const std::string& s);  // hosts: labels joined by '.', <= 253
bool IsEnvVarName(const std::string& s);        // [-._a-zA-Z][-._a-zA-Z0-9]*

}  // namespace kfaas::op

// The Function's status as the operator writes it: conditions and the fields it owns.
//
// Status fields and who writes them (other components rely on this):
//   observedGeneration  operator: metadata.generation of the spec last reconciled
//   conditions          operator: Ready, SpecValid, DeploymentReady, ServiceReady
//   replicas            operator: the Deployment's status.replicas
//   readyReplicas       operator: the Deployment's status.readyReplicas
//   url                 operator: http://<name>.<namespace>.<domain>
//   lastColdStart       activator (merge patch to /status); the operator never touches it
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base/clock.h"

namespace kfaas::op {

using Json = nlohmann::json;

inline constexpr char kConditionReady[] = "Ready";
inline constexpr char kConditionSpecValid[] = "SpecValid";
inline constexpr char kConditionDeploymentReady[] = "DeploymentReady";
inline constexpr char kConditionServiceReady[] = "ServiceReady";

inline constexpr char kTrue[] = "True";
inline constexpr char kFalse[] = "False";
inline constexpr char kUnknown[] = "Unknown";

struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;  // CamelCase
  std::string message;
  // A user-fixable problem: becoming False with this reason records a Warning Event.
  bool warn = false;
};

// Ready summarises the others: the first False one (in order) makes it False with that
// reason and message; else the first Unknown makes it Unknown; else True with the reason and
// message of `summary_from` (the DeploymentReady condition, e.g. "ScaledToZero").
Condition SummarizeReady(const std::vector<Condition>& parts, const Condition& summary_from);

// Builds the conditions array: each of `conds` as {type, status, reason, message,
// lastTransitionTime, observedGeneration}, keeping the existing lastTransitionTime when the
// type's status did not change (metav1 SetStatusCondition semantics). Conditions of other
// types already in `existing` (written by someone else) are kept after ours.
Json MergeConditions(const Json& existing, const std::vector<Condition>& conds, int64_t generation,
                     WallTime now);

// The condition of `type` in a conditions array, or null.
const Json* FindCondition(const Json& conditions, const std::string& type);

// The status fields the operator owns (see above); `lastColdStart` is never among them.
inline const char* const kOwnedStatusFields[] = {"observedGeneration", "conditions", "replicas",
                                                 "readyReplicas", "url"};

// True when `status` already has `owned`'s values for every owned field.
bool OwnedStatusEqual(const Json& status, const Json& owned);

// True when `status` and `owned` differ at most in what a Deployment's scaling drives:
// replicas, readyReplicas and the DeploymentReady and Ready conditions (observedGeneration, url,
// SpecValid and ServiceReady equal, conditions compared by status, reason and message).
bool OnlyScalingDiffers(const Json& status, const Json& owned);

}  // namespace kfaas::op

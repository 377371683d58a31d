// The Deployment controller's decisions, as pure functions (no I/O, time passed in).
//
// kfaas-local manages a Deployment's pods directly, without ReplicaSets: each pod carries the
// label pod-template-hash (a hash of spec.template, as on a cluster) and an ownerReference to
// the Deployment. Pods of the current template are "new", the others "old".
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base/clock.h"

namespace kfaas::node {

using Json = nlohmann::json;

inline constexpr char kPodTemplateHashLabel[] = "pod-template-hash";

// FNV-1a over the template's canonical JSON, encoded like Kubernetes' rand.SafeEncodeString
// (consonants and digits only, so it never spells a word).
std::string PodTemplateHash(const Json& pod_template);

// "<deployment>-<hash>-<suffix>", the prefix truncated to 58 characters as the API server does
// for generateName. `suffix` is 5 characters of the same alphabet (RandomSuffix()).
std::string PodName(const std::string& deployment, const std::string& hash,
                    const std::string& suffix);
std::string RandomSuffix();

// The pod for one replica: the template's metadata (labels + pod-template-hash, annotations)
// and spec, namespace, a controller ownerReference to the Deployment, spec.nodeName.
Json MakePod(const Json& deployment, const std::string& hash, const std::string& name,
             const std::string& node_name);

// What the controller needs to know about one of its pods.
struct PodSummary {
  std::string name;
  std::string uid;
  std::string hash;
  bool terminating = false;  // deletionTimestamp set
  bool finished = false;     // phase Succeeded or Failed
  bool running = false;      // phase Running
  bool ready = false;        // Ready condition True
  WallTime ready_since{};    // the Ready condition's lastTransitionTime
  WallTime created{};
  int restarts = 0;
};
PodSummary SummarizePod(const Json& pod);

struct DeploymentPlan {
  int create = 0;                      // new-template pods to create
  std::vector<std::string> deletions;  // pod names, in order
  Duration requeue_after{0};           // > 0: look again (a pod becomes available then)
};

// One reconcile step: scale (not-ready pods go first, then the newest) and rolling update
// (maxSurge/maxUnavailable, default 25%/25%; a new pod must be available before an old one is
// removed beyond maxUnavailable) or Recreate. Finished pods (Succeeded/Failed) are deleted.
DeploymentPlan PlanDeployment(const Json& deployment, const std::vector<PodSummary>& pods,
                              const std::string& hash, WallTime now);

// The complete Deployment status: replicas, updatedReplicas, readyReplicas, availableReplicas,
// unavailableReplicas, observedGeneration and the Available and Progressing conditions.
// `old_status` supplies condition transition times that do not change.
Json DeploymentStatus(const Json& deployment, const std::vector<PodSummary>& pods,
                      const std::string& hash, const Json& old_status, WallTime now);

// Equal but for condition timestamps: no need to write.
bool SameDeploymentStatus(const Json& a, const Json& b);

// Resolves an IntOrString ("25%" or 2) against `total`, rounding up or down.
int ScaledValue(const Json& value, int total, bool round_up, int default_percent);

}  // namespace kfaas::node

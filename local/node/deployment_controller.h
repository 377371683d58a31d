// DeploymentController: kube-controller-manager's Deployment controller for kfaas-local.
//
// Keeps spec.replicas pods of the Deployment's template (deployment_logic.h decides; no
// ReplicaSets: pods are owned by the Deployment directly and carry pod-template-hash), and
// writes the Deployment's status on every change. Reads are direct API calls (consistent with
// its own writes, so no "expectations" are needed); watch events only say which Deployment to
// look at (except the event of its own status write: OwnWrites). Reacts to spec.replicas changes
// (e.g. a /scale write) at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/kube/client.h"
#include "common/kube/workqueue.h"
#include "local/node/controller_loop.h"

namespace kfaas::node {

struct DeploymentControllerOptions {
  std::string node_name = "kfaas-local";  // set as the pods' spec.nodeName
  int workers = 2;
  Clock* clock = nullptr;  // nullptr: RealClock
  // When set, each new pod gets a port reserved on the node as its `local.kfaas.dev/port`
  // annotation at creation (so its endpoint can be published while its process starts);
  // release_port returns the port of a pod that could not be created.
  std::function<absl::StatusOr<uint16_t>()> reserve_port;
  std::function<void(uint16_t)> release_port;
  // After creating pods, the Deployment's status is written this much later (the reconciles in
  // between requeue for then), so that a scale-up's status write does not take a CPU from the
  // pods' start on its critical path, and the writes for created, Running and ready pods
  // coalesce into one. Zero: at once.
  Duration status_delay_after_create = std::chrono::milliseconds(25);
  // When set, a reconcile reads the Deployment here (an informer's cache: shared, no copy; null
  // when it is gone) instead of with a GET through the client.
  std::function<std::shared_ptr<const nlohmann::json>(const std::string& ns,
                                                      const std::string& name)>
      cached_deployment;
};

class DeploymentController {
 public:
  DeploymentController(std::shared_ptr<kube::Client> client, DeploymentControllerOptions opts);
  ~DeploymentController();

  void Start();
  void Stop();

  // Event feed (any thread): a Deployment added, updated or deleted; a pod changed (its
  // controlling Deployment is looked at).
  void OnDeployment(const nlohmann::json& deployment);
  void OnPod(const nlohmann::json& pod);

  // One reconcile of "namespace/name" (public for tests). Returns the requeue delay.
  absl::StatusOr<Duration> Reconcile(const std::string& key);

 private:
  std::shared_ptr<kube::Client> client_;
  DeploymentControllerOptions opts_;
  Clock& clock_;
  OwnWrites own_status_;         // our status patches: their events are skipped
  kube::WriteHold status_hold_;  // status writes waiting (status_delay_after_create)
  ControllerLoop loop_;
};

}  // namespace kfaas::node

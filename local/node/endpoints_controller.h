// EndpointsController: the Endpoints and EndpointSlice controllers of kube-controller-manager,
// for kfaas-local's per-pod ports (endpoints_logic.h describes what is published).
//
// Reconcile(service) reads the Service, its pods and its slices directly from the API (so it is
// consistent with its own writes) and creates, updates or deletes EndpointSlices (one per pod)
// and the Endpoints object. Events only say which Service to look at: a pod change is mapped to
// the Services whose selectors match the pod's labels (old or new), and only when something
// that matters changed (port, phase, readiness, termination, labels); the event of its own
// Endpoints write is skipped (OwnWrites).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/kube/client.h"
#include "common/kube/selector.h"
#include "local/node/controller_loop.h"
#include "local/node/endpoints_logic.h"

namespace kfaas::node {

struct EndpointsControllerOptions {
  int workers = 2;
  Clock* clock = nullptr;  // nullptr: RealClock
};

class EndpointsController {
 public:
  EndpointsController(std::shared_ptr<kube::Client> client, EndpointsControllerOptions opts);
  ~EndpointsController();

  void Start();
  void Stop();

  // Event feed (any thread).
  void OnService(const nlohmann::json& service);
  void OnServiceDeleted(const nlohmann::json& service);
  void OnPod(const nlohmann::json& pod);
  void OnPodDeleted(const nlohmann::json& pod);
  // A slice or Endpoints object changed (e.g. deleted by hand): its Service is looked at.
  void OnEndpointSlice(const nlohmann::json& slice);
  void OnEndpoints(const nlohmann::json& endpoints);

  // One reconcile of the Service "namespace/name" (public for tests).
  absl::StatusOr<Duration> Reconcile(const std::string& key);

 private:
  struct PodState {
    nlohmann::json labels;
    std::optional<PodEndpoint> endpoint;
  };
  // Services whose selector matches `labels` in `ns`. REQUIRES mu_.
  void EnqueueMatching(const std::string& ns, const nlohmann::json& labels);
  absl::Status Cleanup(const std::string& ns, const std::string& name);

  std::shared_ptr<kube::Client> client_;
  EndpointsControllerOptions opts_;
  Clock& clock_;
  OwnWrites own_endpoints_;  // our Endpoints writes: their events are skipped
  std::mutex mu_;
  std::map<std::string, std::map<std::string, kube::LabelSelector>> selectors_;  // ns -> svc
  std::map<std::string, PodState> pods_;                                         // by "ns/name"
  ControllerLoop loop_;
};

}  // namespace kfaas::node

// The kfaas-operator process, minus flag parsing: the Kubernetes client, the admin server
// (/healthz, /readyz, /metrics), the controller and leader election, wired together.
//
// Lifecycle: Start() connects and starts the informers (a standby keeps a warm cache); the
// workers start when this replica wins the Lease (at once without leader election). Stop()
// finishes the reconciles in progress, releases the Lease and stops everything. When a leader
// loses its Lease without being asked to stop, `on_fatal` is called: the process must exit
// (another replica is reconciling now), as controller-runtime does.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "common/base/clock.h"

namespace kfaas::op {

struct OperatorConfig {
  // Where the API server is: --kubeconfig / --context, else $KUBECONFIG, in-cluster, ~/.kube.
  std::string kubeconfig;
  std::string context;
  double qps = 50;
  int burst = 100;
  // The Kubernetes client's HTTP transport: "beast" (synchronous on each worker's thread,
  // pooled keep-alive connections) or "cpprest" (cpprestsdk's I/O pool).
  std::string kube_transport = "beast";

  std::string watch_namespace;  // "" = all
  std::string domain = "kfaas.local";
  int workers = 4;
  bool require_command = false;  // --local: the cluster is kfaas-local
  // Status changes driven only by a Deployment's scaling are written this long after they were
  // first seen (one write per scale-up, after its cold start; ReconcilerOptions).
  Duration scaling_status_delay = std::chrono::milliseconds(100);

  bool leader_elect = true;
  std::string lease_namespace;  // "": $POD_NAMESPACE, else the kubeconfig's namespace
  std::string lease_name = "kfaas-operator";
  std::string identity;  // "": $POD_NAME or hostname, plus a random suffix
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);

  std::string admin_address = "0.0.0.0";
  int admin_port = 9091;  // 0 picks a free port

  // The autoscaler loop (leader only) reads the activators' stats streams from these:
  // host:port,... (a name resolving to several addresses expands to one per activator) and/or
  // the EndpointSlices of the activators' Service "namespace/name" (its port named "grpc").
  // Neither set: no loop (replicas then move only 0 <-> 1, by the activator).
  std::string activator_stats_address;
  std::string activator_service;
  // Functions with spec.scale.autoscaler: keda get a ScaledObject pointing KEDA here
  // ("": the first --activator-stats-address). Only when the keda.sh CRD is installed.
  std::string keda_scaler_address;
  // The loop's averaging window and how long a lower load must hold before scaling down.
  Duration autoscaler_stable_window = std::chrono::seconds(60);
  Duration autoscaler_scale_down_delay = std::chrono::seconds(30);
};

class Operator {
 public:
  explicit Operator(OperatorConfig config, std::function<void(const std::string&)> on_fatal = {});
  ~Operator();  // Stop()
  Operator(const Operator&) = delete;
  Operator& operator=(const Operator&) = delete;

  absl::Status Start();
  void Stop();

  uint16_t admin_port() const;
  bool IsLeader() const;
  const std::string& identity() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kfaas::op

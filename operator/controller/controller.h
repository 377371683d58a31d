// Controller: the machinery around the Reconciler — informers on Functions, Deployments and
// Services, a rate-limited work queue, N workers, and the operator's metrics.
//
// Informers start at once (a standby replica keeps a warm cache, so a takeover is quick);
// workers start only when StartWorkers() is called (on winning leader election). Children are
// watched with the label selector kfaas.dev/function and map back to their Function through
// their controller ownerReference. A change to a Function also enqueues the Functions that
// share one of its hosts (old or new), so a host freed by one goes to the next claimant.
//
// Metrics (registered in the given registry):
//   kfaas_operator_reconcile_total{result}       success | error | requeue
//   kfaas_operator_reconcile_skipped_total       of the successes: keys whose Function and
//                                                children were unchanged since their last
//                                                converged reconcile (nothing recomputed)
//   kfaas_operator_reconcile_duration_seconds    histogram
//   kfaas_operator_workqueue_depth               keys waiting
//   kfaas_operator_functions                     Functions in the cache
//   kfaas_operator_api_requests_total{verb,resource}  API requests (get, list, watch, create,
//                                                 update, patch, delete; resource[/subresource])
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/base/clock.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"
#include "common/kube/workqueue.h"
#include "common/metrics/metrics.h"
#include "operator/controller/reconciler.h"

namespace kfaas::op {

struct ControllerOptions {
  std::string watch_namespace;  // "" = all namespaces
  int workers = 4;
  ReconcilerOptions reconciler;
  // > 0: every period each Function is enqueued again (a safety net; the loop is
  // level-triggered and event-driven without it). A Function whose objects in the caches are
  // unchanged since its last converged reconcile is skipped (see Result::converged).
  Duration resync_period{0};
};

class Controller {
 public:
  Controller(std::shared_ptr<kube::Client> client, EventSink& events, metrics::Registry& registry,
             Clock& clock, ControllerOptions opts);
  ~Controller();  // Stop()
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the informers (list + watch). Call once.
  void StartInformers();
  bool HasSynced() const;
  bool WaitForSync(Duration timeout) const;
  // Starts the workers, after enqueueing every cached Function. Call once, after sync.
  void StartWorkers();
  // Stops handing out keys, waits for the reconciles in progress to finish, joins the workers
  // and stops the informers. Idempotent.
  void Stop();

  int QueueDepth() const;
  const Reconciler& reconciler() const { return *reconciler_; }

 private:
  class InformerCache;
  void Enqueue(const std::string& key);
  void EnqueueFunction(const kube::ObjectPtr& obj);
  void EnqueueHostSharers(const kube::ObjectPtr& obj);
  void EnqueueOwner(const kube::ObjectPtr& obj);
  void Worker();
  // The key's Function and children are at the versions its last reconcile left them
  // (Result::converged): reconciling again would do nothing.
  bool Unchanged(const std::string& key);

  std::shared_ptr<kube::Client> client_;
  Clock& clock_;
  ControllerOptions opts_;
  std::unique_ptr<kube::Informer> functions_;
  std::unique_ptr<kube::Informer> deployments_;
  std::unique_ptr<kube::Informer> services_;
  std::unique_ptr<InformerCache> cache_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<kube::WorkQueue> queue_;

  metrics::Family<metrics::Counter>* reconcile_total_;
  metrics::Histogram* reconcile_duration_;
  metrics::Counter* reconcile_skipped_;

  std::mutex converged_mu_;
  std::unordered_map<std::string, Result::Versions> converged_;

  std::mutex mu_;
  std::vector<std::thread> workers_;
  bool started_informers_ = false;
  bool stopped_ = false;
};

// The index on Functions' spec.hosts (one entry per listed host).
inline constexpr char kIndexHosts[] = "hosts";
std::vector<std::string> HostsIndex(const Json& fn);

}  // namespace kfaas::op

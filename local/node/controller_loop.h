// ControllerLoop: the worker side of a controller — a rate-limited WorkQueue of keys and worker
// threads calling an idempotent, level-triggered Reconcile(key).
//
// Reconcile returns OK (done: the key's back-off is forgotten), OK with a requeue delay (look
// again later, e.g. for minReadySeconds), or an error (retried with the queue's per-key
// exponential back-off up to kMaxBackoff, logged). A key is never reconciled by two workers at
// once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/kube/workqueue.h"

namespace kfaas::node {

class ControllerLoop {
 public:
  // Returns the requeue delay (zero: none).
  using ReconcileFunc = std::function<absl::StatusOr<Duration>(const std::string& key)>;
  // The longest per-key retry delay after repeated errors.
  static constexpr Duration kMaxBackoff = std::chrono::seconds(1);

  ControllerLoop(std::string name, int workers, ReconcileFunc reconcile, Clock& clock);
  ~ControllerLoop();  // Stop()

  void Start();
  void Stop();  // shuts the queue down and joins the workers (a running Reconcile finishes)
  void Enqueue(const std::string& key);
  void EnqueueAfter(const std::string& key, Duration delay);

 private:
  void Work();

  std::string name_;
  int workers_;
  ReconcileFunc reconcile_;
  std::unique_ptr<kube::WorkQueue> queue_;
  std::vector<std::thread> threads_;
};

// "namespace/name" and back.
std::string NamespacedKey(const std::string& ns, const std::string& name);
void SplitKey(const std::string& key, std::string* ns, std::string* name);

}  // namespace kfaas::node

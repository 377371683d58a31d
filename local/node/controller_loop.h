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
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/base/json_fields.h"
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

// The resourceVersion of a controller's latest write of each key's object. The watch event of an
// object at a version the controller wrote itself needs no reconcile (the write came from one,
// with everything else it reads triggering its own events): skipping it saves the reads of a
// reconcile per write. Any event for the key forgets the entry, so a version is matched once.
class OwnWrites {
 public:
  // After a successful write: `written` is the object the API server returned.
  void Wrote(const std::string& key, const nlohmann::json& written) {
    std::string rv = ResourceVersion(written);
    if (rv.empty()) return;
    std::lock_guard<std::mutex> l(mu_);
    rv_[key] = std::move(rv);
  }
  // Whether `obj` (from a watch event for `key`) is at the version last written.
  bool IsOwn(const std::string& key, const nlohmann::json& obj) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = rv_.find(key);
    if (it == rv_.end()) return false;
    bool own = it->second == ResourceVersion(obj);
    rv_.erase(it);
    return own;
  }

 private:
  static std::string ResourceVersion(const nlohmann::json& obj) {
    return json::Str(json::Field(obj, "metadata"), "resourceVersion");
  }
  std::mutex mu_;
  std::unordered_map<std::string, std::string> rv_;
};

// "namespace/name" and back.
std::string NamespacedKey(const std::string& ns, const std::string& name);
void SplitKey(const std::string& key, std::string* ns, std::string* name);

}  // namespace kfaas::node

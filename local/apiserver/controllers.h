// The control loops a real cluster runs in kube-controller-manager and kube-apiserver that the
// local API server simulates in-process: the garbage collector (ownerReferences with
// Background, Foreground and Orphan propagation, dangling owners), namespace finalization,
// CRD instance cleanup, and periodic watch bookmarks.
//
// One worker thread fed by the store's event hook; all writes go through Api (so they produce
// ordinary watch events) as an internal caller that injected faults never hit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "local/apiserver/api.h"

namespace kfaas::local {

class Controllers {
 public:
  Controllers(Api& api, std::chrono::milliseconds bookmark_interval);
  ~Controllers();  // Stop()

  void Start();
  void Stop();
  // The store's event hook (runs under the store lock: enqueues only).
  void OnEvent(const EventPtr& e);
  // Blocks until the work queue is empty and no item is in progress (tests).
  void WaitIdle();

 private:
  enum class Kind { kDependent, kOwner, kOwnerGone, kNamespace, kCrd };
  struct Work {
    Kind kind;
    ObjectKey key;    // object key (kDependent, kOwner, kNamespace, kCrd)
    std::string uid;  // kOwnerGone
    bool operator<(const Work& o) const {
      return std::tie(kind, key, uid) < std::tie(o.kind, o.key, o.uid);
    }
  };
  void EnqueueLocked(Work w);
  void Run();
  void Process(const Work& w);
  void ProcessDependent(const ObjectKey& key);
  void ProcessOwner(const ObjectKey& key);
  void ProcessNamespace(const std::string& name);
  void ProcessCrd(const ObjectKey& key);

  Api& api_;
  const std::chrono::milliseconds bookmark_interval_;
  Caller caller_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Work> queue_;
  std::set<Work> pending_;
  bool busy_ = false;
  bool stop_ = false;
  std::set<std::string> terminating_namespaces_;
  std::set<std::string> deleting_crd_keys_;  // storage keys of CRDs being deleted
  std::thread thread_;
};

}  // namespace kfaas::local

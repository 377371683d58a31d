// PodWriter: the node agent's writes to the API, off its event loop, on one thread.
//
// Writes are coalesced per pod (by uid): a newer status replaces one not yet written, so a slow
// API server never queues stale statuses. Every write is a JSON patch that first tests
// metadata.uid, so a write can never land on a new pod that reuses a deleted pod's name.
// Failed writes are retried with backoff unless the pod is gone.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/base/clock.h"
#include "common/kube/client.h"

namespace kfaas::node {

using Json = nlohmann::json;

class PodWriter {
 public:
  explicit PodWriter(std::shared_ptr<kube::Client> client);
  ~PodWriter();  // Stop()

  void Start();
  // Stops after the writes already queued (waiting at most `drain`).
  void Stop(Duration drain = std::chrono::milliseconds(500));

  // Sets annotations (merged into metadata.annotations; `had_annotations` says whether the object
  // has an annotations map already) and/or replaces the status. Either may be null.
  void Write(const std::string& uid, const std::string& ns, const std::string& name,
             const Json& annotations, bool had_annotations, const Json& status);
  // Removes the pod object (delete with gracePeriodSeconds 0, preconditioned on the uid): the
  // kubelet's last step after the pod's processes are gone.
  void Finalize(const std::string& uid, const std::string& ns, const std::string& name);

  // Writes done and failed so far (for tests and metrics).
  int64_t writes() const;
  int64_t failures() const;

 private:
  struct Task {
    std::string ns, name;
    Json annotations;  // object or null
    bool had_annotations = false;
    Json status;  // object or null
    bool finalize = false;
    int attempts = 0;
    SteadyTime not_before{};
  };
  void Loop();
  // Returns false to retry later.
  bool Execute(const std::string& uid, Task& task);
  bool PodGone(const std::string& uid, const Task& task);

  std::shared_ptr<kube::Client> client_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Task> pending_;  // by uid
  std::deque<std::string> order_;
  bool stopping_ = false;
  SteadyTime drain_deadline_{};
  int64_t writes_ = 0, failures_ = 0;
  std::thread thread_;
};

}  // namespace kfaas::node

// Registry: every function's runtime state and the routing table built from them.
//
// It is the UpdateSink the control plane feeds (Functions, EndpointSlices, Pods). On every Function
// change it builds a new immutable RouteTable and swaps it in; data-path threads read it with
// no lock through a per-thread cached copy that is refreshed when the version changes.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "activator/core/function_state.h"
#include "activator/core/routing.h"
#include "activator/core/seams.h"

namespace kfaas::activator {

class Registry : public UpdateSink {
 public:
  using Table = RouteTable<FunctionState>;

  explicit Registry(CoreDeps deps);
  ~Registry() override;

  void OnFunction(const nlohmann::json& function) override;
  void OnFunctionDeleted(const std::string& ns, const std::string& name) override;
  void OnEndpointSlice(const nlohmann::json& slice) override;
  void OnEndpointSliceDeleted(const nlohmann::json& slice) override;
  void OnPod(const nlohmann::json& pod) override;
  void OnPodDeleted(const nlohmann::json& pod) override;

  // The current routing table. Snapshot() is an atomic load; Current() returns the calling
  // thread's cached copy (valid until that thread's next call).
  std::shared_ptr<const Table> Snapshot() const;
  const Table& Current();

  std::shared_ptr<FunctionState> Find(const std::string& ns, const std::string& name) const;
  // Scale-to-zero decisions and activation retries for every function, at clock->Now().
  void Tick();
  // Shutdown: wakes every request waiting in any function (see
  // FunctionState::CancelWaitersForShutdown). Returns how many there were.
  size_t CancelWaitersForShutdown();
  // Totals per function (sorted by namespace/name).
  std::vector<FunctionStats> Stats() const;
  const CoreDeps& deps() const { return deps_; }

 private:
  std::shared_ptr<FunctionState> GetOrCreateLocked(const std::string& ns, const std::string& name);
  void RebuildLocked();

  CoreDeps deps_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FunctionState>> functions_;  // "ns/name"
  std::map<std::string, std::string> slice_owner_;                   // "ns/slice" -> "ns/name"
  std::map<std::string, std::string> pod_owner_;                     // "ns/pod" -> "ns/name"
  std::atomic<std::shared_ptr<const Table>> table_;
  std::atomic<uint64_t> version_{1};
};

// Turns the registry's running totals into "since the last read" figures for one consumer
// (e.g. the autoscaler or a KEDA GetMetrics poll): each reader keeps its own baseline.
class StatsReader {
 public:
  explicit StatsReader(const Registry* registry) : registry_(registry) {}
  struct Delta {
    std::string ns, name;
    int64_t in_flight = 0, queued = 0, arrivals = 0, completions = 0;
    int ready_instances = 0;
  };
  std::vector<Delta> Read();

 private:
  const Registry* registry_;
  std::mutex mu_;
  std::map<std::string, std::pair<int64_t, int64_t>> last_;  // arrivals, completions
};

}  // namespace kfaas::activator

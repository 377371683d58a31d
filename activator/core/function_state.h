// FunctionState: the runtime state of one function — its instances, its queue of waiting
// requests, its counters, its activation (scale from zero) and cold-start measurement.
//
// It outlives routing-table swaps: the registry keeps one per function and every table built
// points at the same object. Thread-safe. The data path takes the mutex once to admit a
// request and not at all to release one unless requests are waiting.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "activator/core/activator_metrics.h"
#include "activator/core/endpoints.h"
#include "activator/core/function_spec.h"
#include "activator/core/seams.h"
#include "common/base/clock.h"

namespace kfaas::activator {

// Limits and timeouts shared by all functions (immutable after start).
struct CoreOptions {
  int64_t max_concurrency = 1000;             // cluster-wide in flight; 429 above
  int64_t max_buffered_per_function = 10000;  // waiting requests per function; 503 above
  int64_t max_buffered_total = 50000;         // waiting requests overall; 503 above
  Duration cold_start_timeout = std::chrono::seconds(60);
  std::string domain = "kfaas.local";
};

// Activator-wide counters.
class GlobalCounters {
 public:
  // Takes one of `max` in-flight slots; false when all are taken.
  bool TryAcquire(int64_t max) {
    int64_t cur = in_flight.load(std::memory_order_relaxed);
    while (cur < max) {
      if (in_flight.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  void Release() { in_flight.fetch_sub(1, std::memory_order_relaxed); }
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> buffered{0};
};

// What every FunctionState needs; owned by the registry's creator, outlives all states.
struct CoreDeps {
  Clock* clock = nullptr;
  Scaler* scaler = nullptr;
  ColdStartReporter* reporter = nullptr;  // optional
  Prober* prober = nullptr;               // optional: without it, only slices say ready
  ActivatorMetrics* metrics = nullptr;
  GlobalCounters* global = nullptr;
  CoreOptions options;
};

class Instance {
 public:
  Instance(uint64_t id, EndpointInfo info);
  const uint64_t id;
  const EndpointInfo info;
  const std::string key;                          // "address:port"
  const boost::asio::ip::tcp::endpoint endpoint;  // unspecified when the address is not an IP
  std::atomic<int> in_flight{0};
  std::atomic<bool> removed{false};

  // Guarded by the owning FunctionState's mutex.
  bool slice_ready = false;
  bool probed_ready = false;  // a direct probe answered since it was last not ready
  bool failed = false;        // a connection was refused: unusable until a probe succeeds
  bool terminating = false;
  bool probing = false;
  bool Usable() const {
    return !removed.load(std::memory_order_relaxed) && !terminating && !failed &&
           (slice_ready || probed_ready);
  }
};

// A request waiting for an instance slot (queued behind full instances or a cold start).
struct Waiter {
  enum class State { kWaiting, kGranted, kThrottled, kGone, kCancelled, kShuttingDown };
  SteadyTime arrival;
  bool cold = false;           // queued while the function had no ready instance
  std::function<void()> wake;  // called once when resolved; any thread, no lock held
  // Guarded by the FunctionState mutex.
  State state = State::kWaiting;
  std::shared_ptr<Instance> instance;
  std::list<std::shared_ptr<Waiter>>::iterator pos;
};

// A slot on an instance, held while a request is forwarded. Release it with Release().
struct Lease {
  std::shared_ptr<Instance> instance;
  bool cold = false;  // the request waited for a cold start
  Duration waited{};  // how long it waited for the slot
};

enum class AdmitResult { kGranted, kMustWait, kQueued, kThrottled, kBufferFull };
enum class WaitResult { kGranted, kThrottled, kTimedOut, kGone, kShuttingDown };

struct FunctionStats {
  std::string ns, name;
  int64_t in_flight = 0;
  int64_t queued = 0;
  int64_t arrivals = 0;     // total since start
  int64_t completions = 0;  // total since start
  int ready_instances = 0;
  int instances = 0;
  bool activating = false;
};

class FunctionState : public std::enable_shared_from_this<FunctionState> {
 public:
  FunctionState(std::string ns, std::string name, const CoreDeps* deps);
  ~FunctionState();

  const std::string& ns() const { return ns_; }
  const std::string& name() const { return name_; }

  // --- control plane ---
  void SetSpec(const FunctionSpec& spec);
  void ClearSpec();  // the Function was deleted: waiting requests are cancelled
  // The activator is stopping: every waiting request is woken with kShuttingDown so that it
  // is answered (503) instead of dropped. Returns how many were waiting.
  size_t CancelWaitersForShutdown();
  bool HasSpec() const;
  FunctionSpec spec() const;
  // The endpoints one slice publishes for this function (replaces that slice's previous set).
  void SetSliceEndpoints(const std::string& slice, const std::vector<EndpointInfo>& endpoints);
  void RemoveSlice(const std::string& slice);
  // Where a pod of this function listens (PodInfo::endpoint), or nullopt to forget it. A pod
  // only adds an instance to probe while no slice lists that address yet; slices decide
  // readiness and removal once they do.
  void SetPodEndpoint(const std::string& pod, const std::optional<EndpointInfo>& endpoint);
  // Slices or pods still list endpoints of this function.
  bool HasEndpointSources() const;
  // Prober callbacks.
  // True while the instance should still be probed; false ends the prober's loop.
  bool ContinueProbing(Instance& instance);
  void OnProbeResult(const std::shared_ptr<Instance>& instance, bool ok);
  // A connection to the instance was refused or reset before anything was sent.
  void OnForwardFailed(const std::shared_ptr<Instance>& instance);

  // --- data path ---
  // Admits a request arriving at `arrival` when a slot is free and nobody waits: kGranted
  // fills `lease`. kMustWait: create a Waiter and Enqueue() it. `count_arrival` is false for a
  // retry of an already counted request.
  AdmitResult TryAdmit(SteadyTime arrival, Lease* lease, bool count_arrival = true);
  // Queues `waiter` (arrival and wake set). kQueued: its wake is called once it is resolved
  // (possibly before Enqueue returns); then, or at the caller's deadline, call FinishWait.
  // kBufferFull: the per-function or overall buffer is full.
  AdmitResult Enqueue(const std::shared_ptr<Waiter>& waiter);
  // Ends a wait: kGranted fills `lease`; otherwise the waiter is removed from the queue.
  WaitResult FinishWait(const std::shared_ptr<Waiter>& waiter, SteadyTime now, Lease* lease);
  // Gives the slot back. `completed` is false for a request that will be retried.
  void Release(const Lease& lease, bool completed);
  // The first byte of a request that waited for a cold start went to an instance at `now`
  // (reported once its answer is relayed; one from before the current cold start is ignored).
  void OnFirstByteForwarded(SteadyTime now);
  int64_t timeout_ms() const { return timeout_ms_.load(std::memory_order_relaxed); }
  FunctionMetrics& metrics() { return metrics_; }

  // --- periodic: scale to zero after the idle window, activation retries and timeouts ---
  void Tick(SteadyTime now);

  FunctionStats Stats() const;

 private:
  // Work decided under the mutex and done after releasing it (callbacks may re-enter).
  struct Actions {
    std::vector<std::function<void()>> wakes;
    std::optional<int> write;
    std::vector<std::shared_ptr<Instance>> probes;
    std::optional<ColdStartRecord> report;
    // INFO lines logged last: on the cold-start path, after the scale write, the wakes and the
    // probes are under way (a log line wakes whatever reads our stderr).
    std::vector<std::string> logs;
  };
  void Run(Actions& a);
  void RebuildUsableLocked(Actions& a);
  int PickLocked();
  void DispatchLocked(Actions& a);
  void MaybeActivateLocked(SteadyTime arrival, Actions& a);
  void RequestScaleLocked(int replicas, Actions& a);
  void OnScaleDone(int replicas, absl::Status status);
  void ApplyEndpointsLocked(Actions& a);
  void FinishColdStartLocked(SteadyTime now, Actions& a);
  void MarkProbeLocked(const std::shared_ptr<Instance>& inst, Actions& a);

  const std::string ns_, name_;
  const CoreDeps* deps_;
  FunctionMetrics metrics_;

  // Hot, lock-free.
  std::atomic<int64_t> timeout_ms_{300000};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> queued_{0};
  std::atomic<int64_t> arrivals_{0};
  std::atomic<int64_t> completions_{0};
  std::atomic<int64_t> last_activity_{0};  // steady ticks
  std::atomic<bool> at_zero_{false};  // the activator scaled it to zero; next arrival scales up

  mutable std::mutex mu_;
  bool has_spec_ = false;
  FunctionSpec spec_;
  std::map<std::string, std::vector<EndpointInfo>> slices_;
  std::map<std::string, EndpointInfo> pods_;  // pod name -> where it listens
  std::unordered_map<std::string, std::shared_ptr<Instance>> instances_;
  std::vector<std::shared_ptr<Instance>> usable_;
  std::list<std::shared_ptr<Waiter>> waiters_;

  // Activation and scale writes (serialized: one write in flight, the latest wish pending).
  bool activating_ = false;
  SteadyTime activation_started_{};
  bool write_in_flight_ = false;
  std::optional<int> pending_write_;
  std::optional<int> last_written_;
  bool last_write_failed_ = false;

  struct ColdStart {
    SteadyTime start;
    WallTime wall_start;
    std::optional<SteadyTime> scale_ack, appeared, ready;
    // The "activated" log line, written with the cold start's own (after the first byte).
    std::string activated_log;
  };
  // Ends the cold start's record without a first byte (its pending log line is still written).
  void DropColdStartLocked(Actions& a);
  std::optional<ColdStart> cold_;
};

}  // namespace kfaas::activator

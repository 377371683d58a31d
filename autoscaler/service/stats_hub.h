// StatsHub: the activator-side view of per-function activity that the gRPC services read.
//
// It polls a StatsSource (every poll_interval, default 50 ms, and at once on Notify()), keeps
// the latest snapshot, derives from the running totals when each function last saw an arrival
// (to poll resolution), and wakes waiters when a function's activity changes: it goes from idle
// to busy (something in flight or queued, or a new arrival) or from busy to idle. Streams
// (StreamIsActive, WatchStats) block in WaitForChange and push at once.
//
// Thread-safe. Poll() is public so tests can drive it with a FakeClock instead of Start().
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "autoscaler/service/interfaces.h"
#include "common/base/clock.h"

namespace kfaas::autoscaler {

struct FunctionActivity {
  FunctionCounters counters;
  std::optional<SteadyTime> last_arrival;  // when an arrival was last observed, if ever
  bool busy = false;                       // in_flight + queued > 0
  int64_t Concurrency() const { return counters.in_flight + counters.queued; }
};

struct HubSnapshot {
  SteadyTime time{};
  uint64_t version = 0;                               // increases on every activity change
  std::map<std::string, FunctionActivity> functions;  // by "namespace/name"
  const FunctionActivity* Find(const std::string& ns, const std::string& name) const;
};

struct StatsHubOptions {
  Duration poll_interval = std::chrono::milliseconds(50);
};

class StatsHub {
 public:
  StatsHub(StatsSource& source, Clock& clock, StatsHubOptions opts = {});
  ~StatsHub();  // Stop()

  void Start();  // polls on its own thread
  void Stop();
  // Polls once now (tests; the thread calls it every poll_interval).
  void Poll();
  // Asks for a poll now (e.g. the data path saw a function's first request). Never blocks.
  void Notify();

  std::shared_ptr<const HubSnapshot> Latest() const;
  // Blocks until the version differs from `seen`, `deadline` passes or Shutdown(); returns the
  // latest snapshot either way.
  std::shared_ptr<const HubSnapshot> WaitForChange(uint64_t seen, SteadyTime deadline);
  // Wakes every waiter for good (server shutdown).
  void Shutdown();
  bool shut_down() const;
  Clock& clock() const { return clock_; }

 private:
  void Run();

  StatsSource& source_;
  Clock& clock_;
  const StatsHubOptions opts_;
  std::mutex poll_mu_;  // serializes Poll()
  mutable std::mutex mu_;
  std::condition_variable changed_;  // version_ moved or shutdown
  std::condition_variable poll_cv_;  // the poller's wake-up
  std::shared_ptr<const HubSnapshot> latest_;
  bool poll_requested_ = false;
  bool stop_ = false;
  bool shutdown_ = false;
  std::thread thread_;
};

}  // namespace kfaas::autoscaler

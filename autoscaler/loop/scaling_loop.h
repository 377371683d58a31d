// ScalingLoop: kfaas' autoscaler for 1 <-> N. It sums the activators' reported concurrency per
// function, feeds one Decider per function, and writes a Deployment's /scale when the decision
// differs from its replicas - every `tick` (default 1 s) and at once when a report shows a
// burst. It never writes 0 and never writes a Deployment at 0 (the activator's), and leaves
// alone Functions with spec.scale.autoscaler: keda.
//
// Each write is explained by an Event on the Function (ScaledUp / ScaledDown / ScaleFailed).
// Metrics (on the registry given): kfaas_autoscaler_desired_replicas, _panic_mode,
// _observed_concurrency, _stable_concurrency, _panic_concurrency {namespace,function};
// kfaas_autoscaler_scale_writes_total{result}, kfaas_autoscaler_stats_reports_total,
// kfaas_autoscaler_decisions_total{trigger}. The last decisions are kept as a trace (time,
// concurrency, desired, replicas, ready) for hack/autoscaler-trace.sh.
//
// Thread-safe. RunOnce() is public so tests can drive decisions with a FakeClock.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "autoscaler/core/decider.h"
#include "autoscaler/loop/interfaces.h"
#include "common/base/clock.h"

namespace kfaas::metrics {
class Registry;
class Gauge;
class Counter;
template <typename T>
class Family;
}  // namespace kfaas::metrics

namespace kfaas::autoscaler {

struct LoopOptions {
  DeciderOptions decider;
  Duration tick = std::chrono::seconds(1);
  // Bursts decide at once, but no more often than this.
  Duration min_burst_interval = std::chrono::milliseconds(50);
  // An activator that has not reported for this long no longer counts.
  Duration stale_after = std::chrono::seconds(3);
  // The same write is not repeated while the Deployment (as cached) has not caught up, unless
  // this long passed.
  Duration rewrite_after = std::chrono::seconds(5);
  size_t trace_capacity = 20000;  // rows kept in memory
};

struct TraceRow {
  WallTime time;
  std::string ns, name;
  double concurrency = 0;  // observed now (in flight + queued over all activators)
  double stable = 0;
  double panic_average = 0;
  int desired = 0;
  int replicas = 0;
  int ready = 0;
  bool panic = false;
  int wrote = -1;  // the replicas written by this decision, -1 for none
};

class ScalingLoop : public StatsSink {
 public:
  ScalingLoop(TargetLister& targets, ScaleWriter& writer, EventSink* events, Clock& clock,
              metrics::Registry& registry, LoopOptions opts = {});
  ~ScalingLoop() override;  // Stop()

  // StatsSink.
  void OnReport(const std::string& address, const kfaas::v1::StatsReport& report) override;
  void OnDisconnected(const std::string& address) override;

  // One decision round over every Function now.
  void RunOnce();
  // Decides on its own thread until Stop(). Restartable; Start() forgets earlier stats.
  void Start();
  void Stop();
  // Ask for a decision round now (e.g. a Deployment changed).
  void Poke();

  // The trace, oldest first; `key` "namespace/name" filters ("" = all).
  std::vector<TraceRow> Trace(const std::string& key = "") const;
  // The same as an aligned text table (what /debug/autoscaler/trace serves).
  static std::string FormatTrace(const std::vector<TraceRow>& rows);
  // The figure the loop sums for a function now (tests, debugging).
  double Concurrency(const std::string& ns, const std::string& name) const;

 private:
  struct Source {
    SteadyTime last_report{};
    std::string via;                       // the stream address that last fed it
    std::map<std::string, double> levels;  // "ns/name" -> in flight + queued
  };
  struct Fn {
    explicit Fn(const DeciderOptions& o) : decider(o) {}
    Decider decider;
    double level = 0;
    std::optional<ScaleBounds> bounds;
    int replicas = 0;
    int ready = 0;
    std::optional<int> last_written;
    SteadyTime last_write_time{};
    bool gauges = false;  // metric children exist
    TraceRow last_row;
    bool has_row = false;
  };
  struct Write {
    Target target;
    int from = 0;
    int to = 0;
    std::string reason;
  };

  void Run();
  Fn& FnLocked(const std::string& key);
  void RecomputeLocked(const std::string& key, SteadyTime now, bool* burst);
  void DropSourceLocked(const std::string& id, SteadyTime now);
  void TraceLocked(Fn& fn, const Target& t, const Decision& d, int wrote);
  void RemoveGaugesLocked(const std::string& ns, const std::string& name, Fn& fn);
  void Execute(const Write& w);

  TargetLister& targets_;
  ScaleWriter& writer_;
  EventSink* events_;
  Clock& clock_;
  const LoopOptions opts_;

  metrics::Family<metrics::Gauge>* desired_;
  metrics::Family<metrics::Gauge>* panic_;
  metrics::Family<metrics::Gauge>* observed_;
  metrics::Family<metrics::Gauge>* stable_;
  metrics::Family<metrics::Gauge>* panic_avg_;
  metrics::Family<metrics::Counter>* writes_;
  metrics::Family<metrics::Counter>* decisions_;
  metrics::Counter* reports_;

  std::mutex run_mu_;  // one RunOnce at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Source> sources_;  // by activator id
  std::map<std::string, Fn> fns_;          // by "ns/name"
  std::deque<TraceRow> trace_;
  bool burst_ = false;
  bool poke_ = false;
  bool stop_ = true;
  std::thread thread_;
};

}  // namespace kfaas::autoscaler

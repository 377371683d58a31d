// Decider: the autoscaling decision for one function, a pure function of the observed
// concurrency over time and the Deployment's state. No I/O, no threads; time comes in with
// each call (the loop reads it from an injected Clock).
//
// Inputs: Observe(now, c) with the function's concurrency (requests in flight + queued, summed
// over every activator) whenever it changes; Decide() once per decision tick and at once on a
// burst. The algorithm (Knative's KPA, made faster on bursts and calmer on noise):
//
//   stable  = time-weighted average of concurrency over the stable window (default 60 s)
//   panic   = the same over the panic window (default 6 s)
//   burst   = ceil(max(panic, current) / target)   (current: the level observed last)
//   Panic mode starts when burst >= panic_threshold (2) x ready capacity (ready replicas, at
//   least 1), and ends one stable window after that last held. In panic the decider scales up
//   to `burst` at once and never scales down.
//   Otherwise it scales up to ceil(max(stable, panic) / target) when that load exceeds the
//   current replicas' capacity by more than `up_tolerance` (5 %), and scales down towards
//   ceil(max(stable, panic) / target) when that load is more than `down_tolerance` (10 %)
//   below it and has been for scale_down_delay (the highest load within the delay counts), by
//   at most max_scale_down_rate (x2) per decision. The tolerance band keeps a steady, noisy
//   load from moving replicas back and forth; counting the panic window in the scale-down
//   keeps a rising load's scale-up from being undone by the lagging stable window.
//   The result lies in [max(1, scale.min), scale.max]. The decider never proposes 0 and
//   proposes nothing while the Deployment is at 0: 0 <-> 1 belongs to the activator.
//
// Not thread-safe: the loop serializes calls per function.
#pragma once

#include <deque>
#include <optional>
#include <string>

#include "autoscaler/core/window.h"
#include "common/base/clock.h"

namespace kfaas::autoscaler {

struct DeciderOptions {
  Duration stable_window = std::chrono::seconds(60);
  Duration panic_window = std::chrono::seconds(6);
  // Panic when the burst recommendation is at least this many times the ready capacity.
  double panic_threshold = 2.0;
  // Outside panic, scale up only when load / target exceeds replicas x (1 + up_tolerance), and
  // down only when it is below replicas x (1 - down_tolerance).
  double up_tolerance = 0.05;
  double down_tolerance = 0.1;
  // A lower recommendation must have held this long before the decider scales down.
  Duration scale_down_delay = std::chrono::seconds(30);
  // Per decision: never below ceil(replicas / max_scale_down_rate), never above
  // ceil(max(ready, 1) x max_scale_up_rate).
  double max_scale_down_rate = 2.0;
  double max_scale_up_rate = 1000.0;
  // Width of the averaging buckets.
  Duration bucket = std::chrono::milliseconds(100);
};

// A function's spec.scale, as the decider needs it.
struct ScaleBounds {
  int min = 0;
  int max = 100;
  int target = 10;
  bool operator==(const ScaleBounds&) const = default;
};

struct DecisionInput {
  SteadyTime now;
  int replicas = 0;        // the Deployment's spec.replicas
  int ready_replicas = 0;  // its status.readyReplicas
  ScaleBounds bounds;
};

struct Decision {
  // The replica count to write, or nullopt to leave the Deployment alone (already right, or
  // at 0: the activator's).
  std::optional<int> write;
  int desired = 0;  // what the decider wants now (== replicas when write is nullopt)
  bool panic = false;
  bool panic_started = false;  // this decision entered panic mode
  bool panic_ended = false;    // this decision left it
  double current = 0;          // last observed concurrency
  double stable = 0;           // stable-window average
  double panic_average = 0;    // panic-window average
  // Why, for events and logs: "panic: concurrency 200 (6s avg 33.3) needs 20 at target 10".
  std::string reason;
};

class Decider {
 public:
  explicit Decider(DeciderOptions opts = {});

  // The function's concurrency is `concurrency` from `now` on.
  void Observe(SteadyTime now, double concurrency);
  // True when `concurrency` observed now would put the function in panic with `ready` ready
  // replicas at `target` (the loop then decides at once instead of at the next tick).
  bool IsBurst(double concurrency, int replicas, int ready, int target) const;
  Decision Decide(const DecisionInput& in);

  bool panic() const { return panic_; }
  double current() const { return window_.Current(); }
  const DeciderOptions& options() const { return opts_; }

 private:
  DeciderOptions opts_;
  TimeWeightedWindow window_;
  bool panic_ = false;
  SteadyTime panic_last_trigger_{};
  // The first decision since the decider started (or the function came back from zero): no
  // scale-down before scale_down_delay has passed, so a loop that just started (a new leader,
  // streams still connecting) never scales down on an empty history.
  std::optional<SteadyTime> first_decision_;
  struct StableLoad {
    SteadyTime time;
    double load;
  };
  std::deque<StableLoad> recent_;  // max(stable, panic) averages within scale_down_delay
};

// ceil(load / target), at least 0; target <= 0 counts as 1.
int ReplicasFor(double load, int target);

}  // namespace kfaas::autoscaler

#include "autoscaler/core/decider.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kfaas::autoscaler {
namespace {

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string WindowName(Duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string Plural(int n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

int ReplicasFor(double load, int target) {
  if (!(load > 0)) return 0;
  const double t = target > 0 ? target : 1;
  // A tiny epsilon so 200 / 10 is 20, not 21 after floating-point noise.
  const double r = std::ceil(load / t - 1e-9);
  return r > 1e9 ? 1000000000 : static_cast<int>(r);
}

Decider::Decider(DeciderOptions opts)
    : opts_(opts), window_(opts.bucket, std::max(opts.stable_window, opts.panic_window)) {}

void Decider::Observe(SteadyTime now, double concurrency) {
  window_.Set(now, std::max(0.0, concurrency));
}

bool Decider::IsBurst(double concurrency, int replicas, int ready, int target) const {
  if (replicas <= 0) return false;
  const int burst = ReplicasFor(concurrency, target);
  return burst > replicas && burst >= opts_.panic_threshold * std::max(ready, 1);
}

Decision Decider::Decide(const DecisionInput& in) {
  Decision d;
  d.current = window_.Current();
  d.stable = window_.Average(in.now, opts_.stable_window);
  d.panic_average = window_.Average(in.now, opts_.panic_window);

  if (in.replicas <= 0) {
    // Scaled to zero: the activator scales it from zero on the next request. Forget the
    // panic state and recommendations, which describe a function that no longer runs.
    panic_ = false;
    recent_.clear();
    first_decision_.reset();
    d.desired = 0;
    d.reason = "at zero replicas: scaling from zero is the activator's";
    return d;
  }

  if (!first_decision_) first_decision_ = in.now;
  const bool may_scale_down = in.now - *first_decision_ >= opts_.scale_down_delay;
  const int target = std::max(1, in.bounds.target);
  const int floor = std::max(1, in.bounds.min);
  const int cap = std::max(in.bounds.max, floor);
  const int capacity = std::max(in.ready_replicas, 1);
  const int burst = ReplicasFor(std::max(d.panic_average, d.current), target);

  // The load within the scale-down delay: the highest decides a scale-down. It counts the panic
  // window too, so a scale-down never undoes what a rising load just needed.
  recent_.push_back({in.now, std::max(d.stable, d.panic_average)});
  while (!recent_.empty() && in.now - recent_.front().time > opts_.scale_down_delay) {
    recent_.pop_front();
  }
  double down_load = 0;
  for (const auto& r : recent_) down_load = std::max(down_load, r.load);
  const int down_rec = ReplicasFor(down_load, target);

  const bool trigger = burst >= opts_.panic_threshold * capacity;
  if (trigger) {
    if (!panic_) d.panic_started = true;
    panic_ = true;
    panic_last_trigger_ = in.now;
  } else if (panic_ && in.now - panic_last_trigger_ >= opts_.stable_window) {
    panic_ = false;
    d.panic_ended = true;
  }
  d.panic = panic_;

  const std::string at_target = " at target " + std::to_string(target);
  int desired = in.replicas;
  if (panic_) {
    desired = std::max(in.replicas, burst);
    d.reason = "panic: concurrency " + Fixed(d.current) + " (" + WindowName(opts_.panic_window) +
               " average " + Fixed(d.panic_average) + ") needs " + Plural(burst, "replica") +
               at_target + ", " + std::to_string(in.ready_replicas) + " ready" +
               (burst < in.replicas ? "; not scaling down in panic" : "");
  } else {
    const double load_up = std::max(d.stable, d.panic_average);
    if (load_up / target > in.replicas * (1 + opts_.up_tolerance)) {
      desired = ReplicasFor(load_up, target);
      d.reason = "concurrency averages " + Fixed(d.panic_average) + " over " +
                 WindowName(opts_.panic_window) + " (" + Fixed(d.stable) + " over " +
                 WindowName(opts_.stable_window) + "): " + Plural(desired, "replica") + at_target;
    } else if (may_scale_down && down_rec < in.replicas &&
               down_load / target < in.replicas * (1 - opts_.down_tolerance)) {
      const int slowest = static_cast<int>(
          std::ceil(in.replicas / std::max(1.0, opts_.max_scale_down_rate) - 1e-9));
      desired = std::max(down_rec, slowest);
      d.reason = "concurrency averages " + Fixed(d.stable) + " over " +
                 WindowName(opts_.stable_window) + ": " + Plural(down_rec, "replica") + at_target;
      if (desired > down_rec) d.reason += ", scaling down gradually";
    } else {
      d.reason = "concurrency averages " + Fixed(d.stable) + " over " +
                 WindowName(opts_.stable_window) + ": " + Plural(in.replicas, "replica") +
                 " are enough" + at_target;
    }
  }
  if (desired > in.replicas) {
    const double up_cap = std::ceil(capacity * opts_.max_scale_up_rate);
    if (desired > up_cap) desired = std::max(in.replicas, static_cast<int>(up_cap));
  }
  if (desired < floor || desired > cap) {
    const int bounded = std::clamp(desired, floor, cap);
    d.reason += "; held within [" + std::to_string(floor) + ", " + std::to_string(cap) + "]";
    desired = bounded;
  }
  d.desired = desired;
  if (desired != in.replicas) d.write = desired;
  return d;
}

}  // namespace kfaas::autoscaler

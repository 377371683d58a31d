// TimeWeightedWindow: the time-weighted average of a level signal (e.g. concurrency: requests
// in flight + queued) over a trailing window.
//
// The signal is a step function: Set(t, v) says "the level is v from t on". Time is cut into
// buckets of a fixed width, each holding the integral of the level over its span, so memory is
// bounded by (longest window / bucket width) whatever the sample rate. The average over a
// window W at `now` is the integral over [now - W, now] divided by the length covered; when the
// signal is younger than W, it is the average since the first Set (as Knative does). A bucket
// only partly inside the window counts in proportion to the overlap.
//
// Not thread-safe: the owner serializes access.
#pragma once

#include <cstdint>
#include <deque>

#include "common/base/clock.h"

namespace kfaas::autoscaler {

class TimeWeightedWindow {
 public:
  // `max_window`: the longest window Average() will be asked for (older data is dropped).
  TimeWeightedWindow(Duration bucket, Duration max_window);

  // The level is `value` from `now` on. `now` never goes backwards (an earlier time is treated
  // as the last one seen).
  void Set(SteadyTime now, double value);
  // The time-weighted average over [now - window, now]; the current level when no time has
  // passed since the first Set, 0 before any Set.
  double Average(SteadyTime now, Duration window);
  // The level last Set (0 before any).
  double Current() const { return level_; }
  bool Empty() const { return !started_; }
  // Forgets everything (e.g. when the function went to zero).
  void Reset();

 private:
  void Advance(SteadyTime now);  // integrates the current level up to now
  int64_t BucketOf(SteadyTime t) const;

  const Duration bucket_;
  const Duration max_window_;
  bool started_ = false;
  SteadyTime origin_{};  // bucket k covers [origin_ + k*bucket_, origin_ + (k+1)*bucket_)
  SteadyTime first_{};   // first Set
  SteadyTime last_{};    // integrated up to here
  double level_ = 0;
  struct Bucket {
    int64_t index;
    double integral;  // level x seconds
  };
  std::deque<Bucket> buckets_;  // increasing index, no gaps
};

}  // namespace kfaas::autoscaler

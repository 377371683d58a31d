#include "autoscaler/core/window.h"

#include <algorithm>

namespace kfaas::autoscaler {
namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

TimeWeightedWindow::TimeWeightedWindow(Duration bucket, Duration max_window)
    : bucket_(bucket > Duration::zero() ? bucket : std::chrono::milliseconds(100)),
      max_window_(std::max(max_window, bucket_)) {}

void TimeWeightedWindow::Reset() {
  started_ = false;
  level_ = 0;
  buckets_.clear();
}

int64_t TimeWeightedWindow::BucketOf(SteadyTime t) const { return (t - origin_) / bucket_; }

void TimeWeightedWindow::Set(SteadyTime now, double value) {
  if (!started_) {
    started_ = true;
    origin_ = now;
    first_ = now;
    last_ = now;
    level_ = value;
    return;
  }
  Advance(now);
  level_ = value;
}

void TimeWeightedWindow::Advance(SteadyTime now) {
  if (!started_ || now <= last_) return;
  // After a gap longer than the window only its last max_window_ matters: skip ahead instead of
  // filling buckets nobody will read.
  const Duration keep = max_window_ + 2 * bucket_;
  if (now - last_ > keep) {
    buckets_.clear();
    last_ = now - keep;
    first_ = std::max(first_, last_);
  }
  SteadyTime t = last_;
  while (t < now) {
    const int64_t k = BucketOf(t);
    const SteadyTime end = std::min(now, origin_ + (k + 1) * bucket_);
    if (buckets_.empty() || buckets_.back().index != k) buckets_.push_back({k, 0});
    buckets_.back().integral += level_ * Seconds(end - t);
    t = end;
  }
  last_ = now;
  const int64_t oldest = BucketOf(now - keep);
  while (!buckets_.empty() && buckets_.front().index < oldest) buckets_.pop_front();
}

double TimeWeightedWindow::Average(SteadyTime now, Duration window) {
  if (!started_) return 0;
  Advance(now);
  const SteadyTime start = std::max(now - window, first_);
  if (now <= start) return level_;
  double sum = 0;
  for (const Bucket& b : buckets_) {
    // The part of the bucket the integral covers, and its overlap with [start, now].
    const SteadyTime cs = std::max(origin_ + b.index * bucket_, first_);
    const SteadyTime ce = std::min(origin_ + (b.index + 1) * bucket_, now);
    if (ce <= start || ce <= cs) continue;
    if (cs >= start) {
      sum += b.integral;
    } else {
      sum += b.integral * Seconds(ce - start) / Seconds(ce - cs);
    }
  }
  return sum / Seconds(now - start);
}

}  // namespace kfaas::autoscaler

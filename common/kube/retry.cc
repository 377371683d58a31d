#include "common/kube/retry.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>

#include "common/kube/errors.h"

namespace kfaas::kube {

void SleepFor(Clock& clock, Duration d) {
  if (d <= Duration::zero()) return;
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  SteadyTime deadline = clock.Now() + d;
  while (clock.Now() < deadline) clock.WaitUntil(cv, lock, deadline);
}

Duration Jittered(Duration d, double jitter) {
  if (jitter <= 0 || d <= Duration::zero()) return d;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double f = std::uniform_real_distribution<double>(0.0, jitter)(rng);
  return d + std::chrono::duration_cast<Duration>(d * f);
}

absl::Status RetryOnError(const Backoff& backoff,
                          const std::function<bool(const absl::Status&)>& retriable,
                          const std::function<absl::Status()>& fn, Clock& clock) {
  Duration wait = backoff.duration;
  absl::Status s;
  for (int attempt = 0; attempt < std::max(1, backoff.steps); ++attempt) {
    if (attempt > 0) {
      SleepFor(clock, Jittered(wait, backoff.jitter));
      wait = std::chrono::duration_cast<Duration>(wait * backoff.factor);
      if (backoff.cap > Duration::zero()) wait = std::min(wait, backoff.cap);
    }
    s = fn();
    if (s.ok() || !retriable(s)) return s;
  }
  return s;
}

absl::Status RetryOnConflict(const Backoff& backoff, const std::function<absl::Status()>& fn,
                             Clock& clock) {
  return RetryOnError(
      backoff, [](const absl::Status& s) { return IsConflict(s); }, fn, clock);
}

}  // namespace kfaas::kube

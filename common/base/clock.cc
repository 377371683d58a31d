#include "common/base/clock.h"

namespace kfaas {

RealClock& RealClock::Get() {
  static RealClock* clock = new RealClock();
  return *clock;
}

FakeClock::FakeClock()
    : now_(SteadyTime{} + std::chrono::hours(1000)),
      wall_(WallTime{} + std::chrono::seconds(1767225600)) {}  // 2026-01-01T00:00:00Z

SteadyTime FakeClock::Now() const {
  std::lock_guard<std::mutex> l(mu_);
  return now_;
}

WallTime FakeClock::WallNow() const {
  std::lock_guard<std::mutex> l(mu_);
  return wall_;
}

void FakeClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          SteadyTime deadline) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (now_ >= deadline) return;
    waiting_.insert(&cv);
  }
  // A real, short wait bounds the cost of a missed notification; logic never depends on it.
  cv.wait_for(lock, std::chrono::milliseconds(50));
  std::lock_guard<std::mutex> l(mu_);
  waiting_.erase(waiting_.find(&cv));
}

void FakeClock::Advance(Duration d) {
  std::lock_guard<std::mutex> l(mu_);
  now_ += d;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  for (auto* cv : waiting_) cv->notify_all();
}

int FakeClock::Waiters() const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<int>(waiting_.size());
}

}  // namespace kfaas

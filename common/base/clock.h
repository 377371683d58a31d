// Clock: the one source of time for logic that waits, expires or measures.
//
// Code that decides on time (idle windows, backoff, lease renewal, requeue delays) takes a
// Clock& instead of calling std::chrono::*::now(), so tests can drive it with FakeClock and
// never sleep. Data-path latency measurement may read steady_clock directly.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>

namespace kfaas {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for intervals and deadlines.
  virtual SteadyTime Now() const = 0;
  // Wall-clock time, for timestamps written to objects (creationTimestamp, lease renewTime).
  virtual WallTime WallNow() const = 0;
  // Waits on `cv` (with `lock` held, as std::condition_variable::wait_until) until notified or
  // until Now() >= deadline. Spurious wake-ups are allowed: callers loop on their predicate.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         SteadyTime deadline) = 0;
};

// The process-wide real clock.
class RealClock final : public Clock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 SteadyTime deadline) override {
    cv.wait_until(lock, deadline);
  }
  static RealClock& Get();
};

// A manually advanced clock for tests. Thread-safe. Advance() wakes every thread blocked in
// WaitUntil so it can re-check its deadline against the new time.
class FakeClock final : public Clock {
 public:
  FakeClock();
  SteadyTime Now() const override;
  WallTime WallNow() const override;
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 SteadyTime deadline) override;
  void Advance(Duration d);
  // Number of threads currently blocked in WaitUntil (lets a test wait until a worker parks).
  int Waiters() const;

 private:
  mutable std::mutex mu_;
  SteadyTime now_;
  WallTime wall_;
  std::multiset<std::condition_variable*> waiting_;
};

}  // namespace kfaas

// WorkQueue: client-go's rate-limited work queue, keyed by string.
//
// Semantics (as client-go's workqueue.Type):
//   - An item is in at most one of: queued, processing. Adding an item that is queued is a no-op;
//     adding one that is being processed marks it dirty, and Done() re-queues it once.
//   - Get() blocks until an item is ready or the queue shuts down.
//   - AddAfter() queues after a delay (measured on the injected Clock); AddRateLimited() uses
//     the rate limiter: max(per-item exponential 5 ms * 2^n capped at 1000 s, overall token
//     bucket 10 qps / burst 100). Forget() resets an item's backoff.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/base/clock.h"

namespace kfaas::kube {

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  virtual Duration When(const std::string& item) = 0;
  virtual void Forget(const std::string& item) = 0;
  virtual int NumRequeues(const std::string& item) = 0;
};

// client-go's DefaultControllerRateLimiter.
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(Clock& clock);
std::unique_ptr<RateLimiter> ExponentialRateLimiter(Duration base, Duration max);
std::unique_ptr<RateLimiter> TokenBucketRateLimiter(Clock& clock, double qps, int burst);
std::unique_ptr<RateLimiter> MaxOfRateLimiter(std::unique_ptr<RateLimiter> a,
                                              std::unique_ptr<RateLimiter> b);

class WorkQueue {
 public:
  WorkQueue(Clock& clock, std::unique_ptr<RateLimiter> limiter);
  ~WorkQueue();  // Shuts down and joins the delay thread.
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& item);
  void AddAfter(const std::string& item, Duration delay);
  void AddRateLimited(const std::string& item);
  void Forget(const std::string& item);
  int NumRequeues(const std::string& item);

  // Blocks; returns false once shut down (after which no items are handed out).
  bool Get(std::string* item);
  void Done(const std::string& item);

  void ShutDown();
  bool ShuttingDown() const;
  int Len() const;  // queued, not counting processing or delayed

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// WriteHold: per key, a deadline before which a controller holds back a write (e.g. a status
// write coalesced with the ones expected soon). The reconciles in between requeue for the time
// left (Remaining) instead of writing. Thread-safe.
class WriteHold {
 public:
  // Holds `key` until `until`, unless it is already held (the earlier hold stands).
  void Arm(const std::string& key, SteadyTime until) {
    std::lock_guard<std::mutex> l(mu_);
    until_.try_emplace(key, until);
  }
  // The time left before `key` may be written at `now`: zero (and the hold is gone) when it is
  // not held or its time has come.
  Duration Remaining(const std::string& key, SteadyTime now) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = until_.find(key);
    if (it == until_.end()) return Duration::zero();
    if (it->second > now) return it->second - now;
    until_.erase(it);
    return Duration::zero();
  }
  void Clear(const std::string& key) {
    std::lock_guard<std::mutex> l(mu_);
    until_.erase(key);
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, SteadyTime> until_;
};

}  // namespace kfaas::kube

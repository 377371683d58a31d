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
#include <string>

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

}  // namespace kfaas::kube

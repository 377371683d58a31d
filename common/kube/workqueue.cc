#include "common/kube/workqueue.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kfaas::kube {
namespace {

class ItemExponentialRateLimiter final : public RateLimiter {
 public:
  ItemExponentialRateLimiter(Duration base, Duration max) : base_(base), max_(max) {}

  Duration When(const std::string& item) override {
    std::lock_guard<std::mutex> l(mu_);
    int exp = failures_[item]++;
    // base * 2^exp, computed in floating point so large exponents saturate instead of overflowing.
    double d = static_cast<double>(base_.count()) * std::pow(2.0, exp);
    if (d >= static_cast<double>(max_.count())) return max_;
    return Duration(static_cast<Duration::rep>(d));
  }
  void Forget(const std::string& item) override {
    std::lock_guard<std::mutex> l(mu_);
    failures_.erase(item);
  }
  int NumRequeues(const std::string& item) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = failures_.find(item);
    return it == failures_.end() ? 0 : it->second;
  }

 private:
  const Duration base_;
  const Duration max_;
  std::mutex mu_;
  std::unordered_map<std::string, int> failures_;
};

// golang.org/x/time/rate's Reserve() semantics: tokens may go negative; the delay is the time
// until the reserved token has been refilled.
class TokenBucket final : public RateLimiter {
 public:
  TokenBucket(Clock& clock, double qps, int burst)
      : clock_(clock), qps_(qps), burst_(burst), tokens_(burst), last_(clock.Now()) {}

  Duration When(const std::string&) override {
    std::lock_guard<std::mutex> l(mu_);
    if (qps_ <= 0) return Duration::zero();
    SteadyTime now = clock_.Now();
    double elapsed = std::chrono::duration<double>(now - last_).count();
    if (elapsed > 0) {
      tokens_ = std::min<double>(burst_, tokens_ + elapsed * qps_);
      last_ = now;
    }
    tokens_ -= 1;
    if (tokens_ >= 0) return Duration::zero();
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / qps_));
  }
  void Forget(const std::string&) override {}
  int NumRequeues(const std::string&) override { return 0; }

 private:
  Clock& clock_;
  const double qps_;
  const int burst_;
  std::mutex mu_;
  double tokens_;
  SteadyTime last_;
};

class MaxOf final : public RateLimiter {
 public:
  MaxOf(std::unique_ptr<RateLimiter> a, std::unique_ptr<RateLimiter> b)
      : a_(std::move(a)), b_(std::move(b)) {}
  Duration When(const std::string& item) override {
    return std::max(a_->When(item), b_->When(item));
  }
  void Forget(const std::string& item) override {
    a_->Forget(item);
    b_->Forget(item);
  }
  int NumRequeues(const std::string& item) override {
    return std::max(a_->NumRequeues(item), b_->NumRequeues(item));
  }

 private:
  std::unique_ptr<RateLimiter> a_, b_;
};

}  // namespace

std::unique_ptr<RateLimiter> ExponentialRateLimiter(Duration base, Duration max) {
  return std::make_unique<ItemExponentialRateLimiter>(base, max);
}

std::unique_ptr<RateLimiter> TokenBucketRateLimiter(Clock& clock, double qps, int burst) {
  return std::make_unique<TokenBucket>(clock, qps, burst);
}

std::unique_ptr<RateLimiter> MaxOfRateLimiter(std::unique_ptr<RateLimiter> a,
                                              std::unique_ptr<RateLimiter> b) {
  return std::make_unique<MaxOf>(std::move(a), std::move(b));
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(Clock& clock) {
  return MaxOfRateLimiter(
      ExponentialRateLimiter(std::chrono::milliseconds(5), std::chrono::seconds(1000)),
      TokenBucketRateLimiter(clock, 10, 100));
}

class WorkQueue::Impl {
 public:
  Impl(Clock& clock, std::unique_ptr<RateLimiter> limiter)
      : clock_(clock), limiter_(std::move(limiter)) {
    delay_thread_ = std::thread([this] { DelayLoop(); });
  }

  ~Impl() {
    ShutDown();
    delay_thread_.join();
  }

  void Add(const std::string& item) {
    std::lock_guard<std::mutex> l(mu_);
    AddLocked(item);
  }

  void AddAfter(const std::string& item, Duration delay) {
    if (delay <= Duration::zero()) {
      Add(item);
      return;
    }
    std::lock_guard<std::mutex> l(mu_);
    if (shutting_down_) return;
    SteadyTime ready = clock_.Now() + delay;
    auto it = waiting_.find(item);
    if (it != waiting_.end()) {
      // Already waiting: keep the earlier time (client-go's waitingForQueue does the same).
      if (it->second <= ready) return;
      it->second = ready;
    } else {
      waiting_.emplace(item, ready);
    }
    heap_.push(Entry{ready, seq_++, item});
    delay_cv_.notify_all();
  }

  void AddRateLimited(const std::string& item) { AddAfter(item, limiter_->When(item)); }
  void Forget(const std::string& item) { limiter_->Forget(item); }
  int NumRequeues(const std::string& item) { return limiter_->NumRequeues(item); }

  bool Get(std::string* item) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return !queue_.empty() || shutting_down_; });
    if (shutting_down_) return false;
    *item = std::move(queue_.front());
    queue_.pop_front();
    processing_.insert(*item);
    dirty_.erase(*item);
    return true;
  }

  void Done(const std::string& item) {
    std::lock_guard<std::mutex> l(mu_);
    processing_.erase(item);
    if (dirty_.count(item) && !shutting_down_) {
      queue_.push_back(item);
      cv_.notify_one();
    }
  }

  void ShutDown() {
    std::lock_guard<std::mutex> l(mu_);
    shutting_down_ = true;
    cv_.notify_all();
    delay_cv_.notify_all();
  }

  bool ShuttingDown() const {
    std::lock_guard<std::mutex> l(mu_);
    return shutting_down_;
  }

  int Len() const {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<int>(queue_.size());
  }

 private:
  struct Entry {
    SteadyTime ready;
    uint64_t seq;
    std::string item;
    bool operator>(const Entry& o) const {
      return ready != o.ready ? ready > o.ready : seq > o.seq;
    }
  };

  void AddLocked(const std::string& item) {
    if (shutting_down_) return;
    if (!dirty_.insert(item).second) return;  // already queued (or dirty while processing)
    if (processing_.count(item)) return;      // re-queued by Done()
    queue_.push_back(item);
    cv_.notify_one();
  }

  void DelayLoop() {
    std::unique_lock<std::mutex> l(mu_);
    while (!shutting_down_) {
      SteadyTime now = clock_.Now();
      while (!heap_.empty() && heap_.top().ready <= now) {
        Entry e = heap_.top();
        heap_.pop();
        auto it = waiting_.find(e.item);
        // A stale entry: the item was re-scheduled earlier, or has already been added.
        if (it == waiting_.end() || it->second != e.ready) continue;
        waiting_.erase(it);
        AddLocked(e.item);
      }
      SteadyTime next = heap_.empty() ? now + std::chrono::seconds(10) : heap_.top().ready;
      clock_.WaitUntil(delay_cv_, l, next);
    }
  }

  Clock& clock_;
  std::unique_ptr<RateLimiter> limiter_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable delay_cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;
  std::unordered_set<std::string> processing_;
  bool shutting_down_ = false;

  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  std::unordered_map<std::string, SteadyTime> waiting_;
  uint64_t seq_ = 0;

  std::thread delay_thread_;
};

WorkQueue::WorkQueue(Clock& clock, std::unique_ptr<RateLimiter> limiter)
    : impl_(std::make_unique<Impl>(clock, std::move(limiter))) {}
WorkQueue::~WorkQueue() = default;
void WorkQueue::Add(const std::string& item) { impl_->Add(item); }
void WorkQueue::AddAfter(const std::string& item, Duration delay) { impl_->AddAfter(item, delay); }
void WorkQueue::AddRateLimited(const std::string& item) { impl_->AddRateLimited(item); }
void WorkQueue::Forget(const std::string& item) { impl_->Forget(item); }
int WorkQueue::NumRequeues(const std::string& item) { return impl_->NumRequeues(item); }
bool WorkQueue::Get(std::string* item) { return impl_->Get(item); }
void WorkQueue::Done(const std::string& item) { impl_->Done(item); }
void WorkQueue::ShutDown() { impl_->ShutDown(); }
bool WorkQueue::ShuttingDown() const { return impl_->ShuttingDown(); }
int WorkQueue::Len() const { return impl_->Len(); }

}  // namespace kfaas::kube

#include "common/kube/event_recorder.h"

#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/base/json_fields.h"
#include "common/base/log.h"
#include "common/base/time_format.h"

namespace kfaas::kube {
namespace {

constexpr size_t kQueueSize = 1000;  // client-go's maxQueuedEvents
constexpr Duration kAggregateWindow = std::chrono::minutes(10);
constexpr size_t kCacheSize = 4096;  // client-go's maxLruCacheEntries
constexpr int kMaxTries = 12;        // client-go's maxTriesPerEvent
constexpr Duration kRetryInterval = std::chrono::seconds(10);
constexpr double kSpamBurst = 25;  // per object: 25 events, then 1 per 5 minutes
constexpr double kSpamQps = 1.0 / 300;

using json::Str;

std::string Meta(const Json& obj, const char* key) {
  auto m = obj.find("metadata");
  return m != obj.end() && m->is_object() ? Str(*m, key) : std::string();
}

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string Hex(int64_t ns) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(ns));
  return buf;
}

}  // namespace

class EventRecorder::Impl {
 public:
  Impl(std::shared_ptr<Client> client, std::string component, Clock& clock)
      : client_(std::move(client)),
        component_(std::move(component)),
        host_(Hostname()),
        clock_(clock) {
    thread_ = std::thread([this] { Loop(); });
  }

  ~Impl() {
    // Bounded flush, then stop: events are best effort.
    {
      std::unique_lock<std::mutex> l(mu_);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      idle_cv_.wait_until(l, deadline, [this] { return queue_.empty() && !busy_; });
      stopping_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }

  void Record(const Json& object, std::string_view type, std::string_view reason,
              std::string_view message) {
    Pending p;
    p.involved = {{"kind", Str(object, "kind")},
                  {"apiVersion", Str(object, "apiVersion")},
                  {"name", Meta(object, "name")}};
    if (std::string ns = Meta(object, "namespace"); !ns.empty()) p.involved["namespace"] = ns;
    if (std::string uid = Meta(object, "uid"); !uid.empty()) p.involved["uid"] = uid;
    if (std::string rv = Meta(object, "resourceVersion"); !rv.empty()) {
      p.involved["resourceVersion"] = rv;
    }
    p.type = std::string(type);
    p.reason = std::string(reason);
    p.message = std::string(message);
    p.time = clock_.WallNow();
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    if (queue_.size() >= kQueueSize) {
      KFAAS_LOG(WARNING) << "event recorder: queue full, dropping event " << p.reason << " for "
                         << p.involved.dump();
      return;
    }
    queue_.push_back(std::move(p));
    cv_.notify_one();
  }

  void Flush() {
    std::unique_lock<std::mutex> l(mu_);
    idle_cv_.wait(l, [this] { return (queue_.empty() && !busy_) || stopping_; });
  }

 private:
  struct Pending {
    Json involved;
    std::string type, reason, message;
    WallTime time;
  };

  // What we last wrote for an (object, type, reason, message).
  struct Written {
    std::string ns;
    std::string name;
    int64_t count = 0;
    std::string first_timestamp;
    SteadyTime last{};
    std::list<std::string>::iterator lru;
  };

  struct Bucket {
    double tokens = kSpamBurst;
    SteadyTime last{};
  };

  static std::string ObjectKeyOf(const Json& involved) {
    return involved.value("apiVersion", "") + "/" + involved.value("kind", "") + "/" +
           involved.value("namespace", "") + "/" + involved.value("name", "") + "/" +
           involved.value("uid", "");
  }

  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [this] { return !queue_.empty() || stopping_; });
      if (stopping_) break;
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      l.unlock();
      Write(p);
      l.lock();
      busy_ = false;
      if (queue_.empty()) idle_cv_.notify_all();
    }
    idle_cv_.notify_all();
  }

  bool Stopping() {
    std::lock_guard<std::mutex> l(mu_);
    return stopping_;
  }

  // client-go's EventSourceObjectSpamFilter: a token bucket per involved object.
  bool Allow(const std::string& object_key) {
    SteadyTime now = clock_.Now();
    if (buckets_.size() > 4 * kCacheSize) {
      // Bound memory: objects whose bucket has refilled carry no state worth keeping.
      for (auto it = buckets_.begin(); it != buckets_.end();) {
        double elapsed = std::chrono::duration<double>(now - it->second.last).count();
        it = it->second.tokens + elapsed * kSpamQps >= kSpamBurst ? buckets_.erase(it) : ++it;
      }
    }
    Bucket& b = buckets_[object_key];
    if (b.last != SteadyTime{}) {
      double elapsed = std::chrono::duration<double>(now - b.last).count();
      b.tokens = std::min(kSpamBurst, b.tokens + elapsed * kSpamQps);
    }
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  void Write(const Pending& p) {
    const std::string object_key = ObjectKeyOf(p.involved);
    if (!Allow(object_key)) {
      KFAAS_VLOG(1) << "event recorder: rate limited " << p.reason << " for " << object_key;
      return;
    }
    const std::string key = object_key + "|" + p.type + "|" + p.reason + "|" + p.message;
    const std::string now = FormatRfc3339(p.time);
    std::string ns = p.involved.value("namespace", "");
    if (ns.empty()) ns = "default";

    auto it = written_.find(key);
    if (it != written_.end() && clock_.Now() - it->second.last < kAggregateWindow) {
      Written& w = it->second;
      Json patch = {{"count", w.count + 1}, {"lastTimestamp", now}};
      absl::Status s = Try([&] {
        return client_->Patch(resources::kEvents, w.ns, w.name, PatchType::kMerge, patch).status();
      });
      if (s.ok()) {
        ++w.count;
        w.last = clock_.Now();
        Touch(w);
        return;
      }
      if (!absl::IsNotFound(s)) {
        KFAAS_LOG(WARNING) << "event recorder: updating event " << w.ns << "/" << w.name << ": "
                           << s.message();
        return;
      }
      Forget(it);  // the Event expired on the server: write a new one
    } else if (it != written_.end()) {
      Forget(it);
    }

    std::string obj_name = p.involved.value("name", "");
    Json event = {
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", {{"name", obj_name + "." + Hex(UniqueNanos(p.time))}, {"namespace", ns}}},
        {"involvedObject", p.involved},
        {"reason", p.reason},
        {"message", p.message},
        {"type", p.type},
        {"count", 1},
        {"firstTimestamp", now},
        {"lastTimestamp", now},
        {"source", {{"component", component_}, {"host", host_}}},
        {"reportingComponent", component_},
        {"reportingInstance", host_}};
    absl::Status s = Try([&] {
      absl::Status st = client_->Create(resources::kEvents, ns, event).status();
      return absl::IsAlreadyExists(st) ? absl::OkStatus() : st;
    });
    if (!s.ok()) {
      KFAAS_LOG(WARNING) << "event recorder: creating event " << p.reason << " for " << obj_name
                         << ": " << s.message();
      return;
    }
    Written w;
    w.ns = ns;
    w.name = event["metadata"]["name"];
    w.count = 1;
    w.first_timestamp = now;
    w.last = clock_.Now();
    lru_.push_front(key);
    w.lru = lru_.begin();
    written_[key] = std::move(w);
    while (written_.size() > kCacheSize) {
      written_.erase(lru_.back());
      lru_.pop_back();
    }
  }

  // client-go names events "<object>.<hex unix nanos>"; strictly increasing here so two events
  // recorded within one clock tick do not collide.
  int64_t UniqueNanos(WallTime t) {
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    last_nanos_ = std::max(ns, last_nanos_ + 1);
    return last_nanos_;
  }

  void Touch(Written& w) {
    lru_.splice(lru_.begin(), lru_, w.lru);
    w.lru = lru_.begin();
  }

  void Forget(std::unordered_map<std::string, Written>::iterator it) {
    lru_.erase(it->second.lru);
    written_.erase(it);
  }

  // Up to kMaxTries attempts, kRetryInterval apart, for retryable errors.
  template <class F>
  absl::Status Try(F f) {
    absl::Status s;
    for (int attempt = 0; attempt < kMaxTries; ++attempt) {
      if (attempt > 0) {
        std::unique_lock<std::mutex> l(mu_);
        SteadyTime deadline = clock_.Now() + kRetryInterval;
        while (!stopping_ && clock_.Now() < deadline) clock_.WaitUntil(cv_, l, deadline);
        if (stopping_) return s;
      }
      s = f();
      if (s.ok() || !IsRetryable(s)) return s;
    }
    return s;
  }

  std::shared_ptr<Client> client_;
  const std::string component_;
  const std::string host_;
  Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stopping_ = false;

  // Worker thread only.
  std::unordered_map<std::string, Written> written_;
  std::list<std::string> lru_;
  std::unordered_map<std::string, Bucket> buckets_;
  int64_t last_nanos_ = 0;

  std::thread thread_;
};

EventRecorder::EventRecorder(std::shared_ptr<Client> client, std::string component, Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(client), std::move(component), clock)) {}
EventRecorder::~EventRecorder() = default;
void EventRecorder::Record(const Json& object, std::string_view type, std::string_view reason,
                           std::string_view message) {
  impl_->Record(object, type, reason, message);
}
void EventRecorder::Flush() { impl_->Flush(); }

}  // namespace kfaas::kube

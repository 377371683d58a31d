#include "local/node/controller_loop.h"

#include "common/base/log.h"

namespace kfaas::node {

ControllerLoop::ControllerLoop(std::string name, int workers, ReconcileFunc reconcile, Clock& clock)
    : name_(std::move(name)),
      workers_(workers < 1 ? 1 : workers),
      reconcile_(std::move(reconcile)),
      // client-go's limiter, with the per-key back-off capped at 1 s instead of 1000 s: after
      // the API server recovers from a fault, the local cluster converges within a second
      // rather than after the back-off of its longest failure run.
      queue_(std::make_unique<kube::WorkQueue>(
          clock, kube::MaxOfRateLimiter(
                     kube::ExponentialRateLimiter(std::chrono::milliseconds(5), kMaxBackoff),
                     kube::TokenBucketRateLimiter(clock, 10, 100)))) {}

ControllerLoop::~ControllerLoop() { Stop(); }

void ControllerLoop::Start() {
  if (!threads_.empty()) return;
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { Work(); });
}

void ControllerLoop::Stop() {
  queue_->ShutDown();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void ControllerLoop::Enqueue(const std::string& key) { queue_->Add(key); }

void ControllerLoop::EnqueueAfter(const std::string& key, Duration delay) {
  queue_->AddAfter(key, delay);
}

void ControllerLoop::Work() {
  std::string key;
  while (queue_->Get(&key)) {
    absl::StatusOr<Duration> r = reconcile_(key);
    if (r.ok()) {
      queue_->Forget(key);
      if (r->count() > 0) queue_->AddAfter(key, *r);
    } else {
      int n = queue_->NumRequeues(key);
      // Conflicts are routine (a newer version exists): retry quietly.
      if (n < 3 && !absl::IsAborted(r.status())) {
        KFAAS_VLOG(1) << name_ << ": " << key << ": " << r.status().message() << " (retrying)";
      } else if (n >= 3) {
        KFAAS_LOG(WARNING) << name_ << ": " << key << ": " << r.status().message() << " (retry "
                           << n << ")";
      }
      queue_->AddRateLimited(key);
    }
    queue_->Done(key);
  }
}

std::string NamespacedKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

void SplitKey(const std::string& key, std::string* ns, std::string* name) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) {
    ns->clear();
    *name = key;
  } else {
    *ns = key.substr(0, slash);
    *name = key.substr(slash + 1);
  }
}

}  // namespace kfaas::node

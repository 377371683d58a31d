#include "operator/controller/controller.h"

#include <set>

#include "common/base/log.h"
#include "operator/controller/slim.h"

namespace kfaas::op {

using kube::resources::kDeployments;
using kube::resources::kFunctions;
using kube::resources::kServices;

std::vector<std::string> HostsIndex(const Json& fn) {
  std::vector<std::string> out;
  auto spec = fn.find("spec");
  if (spec == fn.end() || !spec->is_object()) return out;
  auto hosts = spec->find("hosts");
  if (hosts == spec->end() || !hosts->is_array()) return out;
  std::set<std::string> seen;
  for (const auto& h : *hosts) {
    if (h.is_string() && seen.insert(h.get<std::string>()).second) out.push_back(h);
  }
  return out;
}

namespace {

// Counts the operator's API requests by verb and resource
// (kfaas_operator_api_requests_total), so the requests per Function are visible.
class CountingClient : public kube::Client {
 public:
  CountingClient(std::shared_ptr<kube::Client> inner, metrics::Family<metrics::Counter>& family)
      : inner_(std::move(inner)), family_(family) {}

  absl::StatusOr<Json> Get(const kube::Resource& r, std::string_view ns, std::string_view name,
                           std::string_view sub) override {
    Count("get", r, sub);
    return inner_->Get(r, ns, name, sub);
  }
  absl::StatusOr<Json> List(const kube::Resource& r, std::string_view ns,
                            const kube::ListOptions& opts) override {
    Count("list", r, "");
    return inner_->List(r, ns, opts);
  }
  absl::StatusOr<Json> Create(const kube::Resource& r, std::string_view ns, const Json& obj,
                              const kube::WriteOptions& opts) override {
    Count("create", r, "");
    return inner_->Create(r, ns, obj, opts);
  }
  absl::StatusOr<Json> Update(const kube::Resource& r, std::string_view ns, const Json& obj,
                              std::string_view sub, const kube::WriteOptions& opts) override {
    Count("update", r, sub);
    return inner_->Update(r, ns, obj, sub, opts);
  }
  absl::StatusOr<Json> Patch(const kube::Resource& r, std::string_view ns, std::string_view name,
                             kube::PatchType type, const Json& patch, std::string_view sub,
                             const kube::PatchOptions& opts) override {
    Count("patch", r, sub);
    return inner_->Patch(r, ns, name, type, patch, sub, opts);
  }
  absl::StatusOr<Json> Delete(const kube::Resource& r, std::string_view ns, std::string_view name,
                              const kube::DeleteOptions& opts) override {
    Count("delete", r, "");
    return inner_->Delete(r, ns, name, opts);
  }
  absl::StatusOr<std::unique_ptr<kube::WatchStream>> Watch(
      const kube::Resource& r, std::string_view ns, const kube::WatchOptions& opts) override {
    Count("watch", r, "");
    return inner_->Watch(r, ns, opts);
  }

 private:
  void Count(const char* verb, const kube::Resource& r, std::string_view sub) {
    std::string resource = r.resource;
    if (!sub.empty()) resource += "/" + std::string(sub);
    family_.WithLabels({verb, resource}).Inc();
  }

  std::shared_ptr<kube::Client> inner_;
  metrics::Family<metrics::Counter>& family_;
};

ObjectPtr Expand(ObjectPtr obj) {
  if (!obj || !IsPacked(*obj)) return obj;
  return std::make_shared<const Json>(Unpack(*obj));
}

}  // namespace

class Controller::InformerCache : public Cache {
 public:
  InformerCache(kube::Informer& fns, kube::Informer& deps, kube::Informer& svcs)
      : fns_(fns), deps_(deps), svcs_(svcs) {}
  // The informers hold packed objects (slim.h); the reconciler reads them unpacked.
  ObjectPtr GetFunction(const std::string& ns, const std::string& name) override {
    return Expand(fns_.Get(ns, name));
  }
  ObjectPtr GetDeployment(const std::string& ns, const std::string& name) override {
    return Expand(deps_.Get(ns, name));
  }
  ObjectPtr GetService(const std::string& ns, const std::string& name) override {
    return Expand(svcs_.Get(ns, name));
  }
  std::vector<ObjectPtr> FunctionsListingHost(const std::string& host) override {
    std::vector<ObjectPtr> out = fns_.ByIndex(kIndexHosts, host);
    for (auto& o : out) o = Expand(std::move(o));
    return out;
  }

 private:
  kube::Informer& fns_;
  kube::Informer& deps_;
  kube::Informer& svcs_;
};

Controller::Controller(std::shared_ptr<kube::Client> client, EventSink& events,
                       metrics::Registry& registry, Clock& clock, ControllerOptions opts)
    : clock_(clock), opts_(std::move(opts)) {
  client_ = std::make_shared<CountingClient>(
      std::move(client),
      registry.AddCounter("kfaas_operator_api_requests_total",
                          "API requests by the operator's controller, by verb and resource.",
                          {"verb", "resource"}));
  kube::InformerOptions fopts{
      .ns = opts_.watch_namespace, .resync_period = opts_.resync_period, .clock = &clock_};
  kube::InformerOptions copts{
      .ns = opts_.watch_namespace, .label_selector = kLabelFunction, .clock = &clock_};
  // The caches hold slim objects, packed (operator/controller/slim.h).
  functions_ =
      std::make_unique<kube::Informer>(SlimmingClient(client_, CacheFunction), kFunctions, fopts);
  deployments_ = std::make_unique<kube::Informer>(SlimmingClient(client_, CacheDeployment),
                                                  kDeployments, copts);
  services_ =
      std::make_unique<kube::Informer>(SlimmingClient(client_, CacheService), kServices, copts);
  cache_ = std::make_unique<InformerCache>(*functions_, *deployments_, *services_);
  reconciler_ = std::make_unique<Reconciler>(*client_, *cache_, events, clock_, opts_.reconciler);
  queue_ = std::make_unique<kube::WorkQueue>(clock_, kube::DefaultControllerRateLimiter(clock_));

  functions_->AddIndex(kIndexHosts, HostsIndex);
  functions_->AddEventHandlers({
      .on_add =
          [this](const kube::ObjectPtr& o) {
            EnqueueFunction(o);
            EnqueueHostSharers(o);
          },
      .on_update =
          [this](const kube::ObjectPtr& old_obj, const kube::ObjectPtr& new_obj) {
            EnqueueFunction(new_obj);
            if (HostsIndex(*old_obj) != HostsIndex(*new_obj)) {
              EnqueueHostSharers(old_obj);
              EnqueueHostSharers(new_obj);
            }
          },
      .on_delete =
          [this](const kube::ObjectPtr& o) {
            {
              std::lock_guard<std::mutex> l(converged_mu_);
              converged_.erase(kube::ObjectKey(*o));
            }
            EnqueueHostSharers(o);
          },
  });
  kube::EventHandlers owned{
      .on_add = [this](const kube::ObjectPtr& o) { EnqueueOwner(o); },
      .on_update =
          [this](const kube::ObjectPtr& old_obj, const kube::ObjectPtr& new_obj) {
            std::string old_key = PackedControllerKey(*old_obj);
            std::string new_key = PackedControllerKey(*new_obj);
            if (!new_key.empty()) Enqueue(new_key);
            if (!old_key.empty() && old_key != new_key) Enqueue(old_key);
          },
      // A child deleted by hand is recreated.
      .on_delete = [this](const kube::ObjectPtr& o) { EnqueueOwner(o); },
  };
  deployments_->AddEventHandlers(owned);
  services_->AddEventHandlers(owned);

  reconcile_total_ = &registry.AddCounter("kfaas_operator_reconcile_total",
                                          "Reconciles of Functions, by result.", {"result"});
  for (const char* r : {"success", "error", "requeue"}) reconcile_total_->WithLabels({r});
  reconcile_duration_ =
      &registry
           .AddHistogram("kfaas_operator_reconcile_duration_seconds",
                         "Time to reconcile one Function (reads from the cache, API writes).", {},
                         metrics::ExponentialBuckets(0.0005, 2, 16))
           .WithLabels({});
  reconcile_skipped_ =
      &registry
           .AddCounter("kfaas_operator_reconcile_skipped_total",
                       "Reconciles (counted as success) skipped because the Function and its "
                       "children were at the resourceVersions their last converged reconcile "
                       "left.")
           .WithLabels({});
  registry.AddCallback("kfaas_operator_workqueue_depth", "Function keys waiting to be reconciled.",
                       metrics::Type::kGauge, {}, [this] {
                         return std::vector<metrics::Sample>{{{}, double(QueueDepth())}};
                       });
  auto informer_stat = [this](int64_t kube::Informer::Stats::*field) {
    return [this, field] {
      std::vector<metrics::Sample> out;
      for (kube::Informer* inf : {functions_.get(), deployments_.get(), services_.get()}) {
        out.push_back({{inf->resource().resource}, double(inf->stats().*field)});
      }
      return out;
    };
  };
  registry.AddCallback("kfaas_operator_informer_lists_total",
                       "Full lists by the operator's informers (1 + relists).",
                       metrics::Type::kCounter, {"resource"},
                       informer_stat(&kube::Informer::Stats::lists));
  registry.AddCallback("kfaas_operator_informer_watches_total",
                       "Watch connections opened by the operator's informers.",
                       metrics::Type::kCounter, {"resource"},
                       informer_stat(&kube::Informer::Stats::watches));
  registry.AddCallback(
      "kfaas_operator_informer_expired_total",
      "410 Expired answers seen by the operator's informers (each means a relist).",
      metrics::Type::kCounter, {"resource"}, informer_stat(&kube::Informer::Stats::expired));
  registry.AddCallback(
      "kfaas_operator_functions", "Functions in the operator's cache.", metrics::Type::kGauge, {},
      [this] {
        return std::vector<metrics::Sample>{{{}, double(functions_->List().size())}};
      });
}

Controller::~Controller() { Stop(); }

void Controller::StartInformers() {
  std::lock_guard<std::mutex> l(mu_);
  if (started_informers_ || stopped_) return;
  started_informers_ = true;
  functions_->Start();
  deployments_->Start();
  services_->Start();
}

bool Controller::HasSynced() const {
  return functions_->HasSynced() && deployments_->HasSynced() && services_->HasSynced();
}

bool Controller::WaitForSync(Duration timeout) const {
  auto deadline = clock_.Now() + timeout;
  for (kube::Informer* inf : {functions_.get(), deployments_.get(), services_.get()}) {
    Duration left = deadline - clock_.Now();
    if (left < Duration::zero() || !inf->WaitForSync(left)) return false;
  }
  return true;
}

void Controller::StartWorkers() {
  std::lock_guard<std::mutex> l(mu_);
  if (stopped_ || !workers_.empty()) return;
  // Informer handlers enqueued everything they saw; add the cache once more in case events
  // arrived before (they are deduplicated).
  for (const auto& fn : functions_->List()) EnqueueFunction(fn);
  int n = std::max(1, opts_.workers);
  KFAAS_LOG(INFO) << "starting " << n << " workers; " << QueueDepth() << " Functions queued";
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { Worker(); });
}

void Controller::Stop() {
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    stopped_ = true;
    workers.swap(workers_);
  }
  queue_->ShutDown();
  for (auto& t : workers) t.join();
  functions_->Stop();
  deployments_->Stop();
  services_->Stop();
}

int Controller::QueueDepth() const { return queue_->Len(); }

void Controller::Enqueue(const std::string& key) { queue_->Add(key); }

void Controller::EnqueueFunction(const kube::ObjectPtr& obj) {
  std::string key = kube::ObjectKey(*obj);
  if (!key.empty()) Enqueue(key);
}

void Controller::EnqueueHostSharers(const kube::ObjectPtr& obj) {
  std::string self = kube::ObjectKey(*obj);
  auto enqueue_all = [&](const std::string& host) {
    for (const auto& other : functions_->ByIndex(kIndexHosts, host)) {
      std::string key = kube::ObjectKey(*other);
      if (key != self) Enqueue(key);
    }
  };
  for (const auto& h : HostsIndex(*obj)) enqueue_all(h);
  // Functions listing this one's generated host.
  const Json& md = (*obj)["metadata"];
  enqueue_all(
      DefaultHost(md.value("name", ""), md.value("namespace", ""), opts_.reconciler.domain));
}

void Controller::EnqueueOwner(const kube::ObjectPtr& obj) {
  std::string key = PackedControllerKey(*obj);
  if (!key.empty()) Enqueue(key);
}

void Controller::Worker() {
  std::string key;
  while (queue_->Get(&key)) {
    if (Unchanged(key)) {
      reconcile_skipped_->Inc();
      reconcile_total_->WithLabels({"success"}).Inc();
      queue_->Forget(key);
      queue_->Done(key);
      continue;
    }
    SteadyTime start = clock_.Now();
    Result r = reconciler_->Reconcile(key);
    {
      std::lock_guard<std::mutex> l(converged_mu_);
      if (r.converged) {
        converged_[key] = std::move(*r.converged);
      } else {
        converged_.erase(key);
      }
    }
    reconcile_duration_->Observe(std::chrono::duration<double>(clock_.Now() - start).count());
    reconcile_total_->WithLabels({std::string(ResultName(r.kind))}).Inc();
    switch (r.kind) {
      case Result::Kind::kSuccess:
        queue_->Forget(key);
        if (r.requeue_after > Duration::zero()) queue_->AddAfter(key, r.requeue_after);
        break;
      case Result::Kind::kRequeue:
        queue_->AddRateLimited(key);
        break;
      case Result::Kind::kError:
        KFAAS_LOG(WARNING) << key << ": reconcile failed (retry " << queue_->NumRequeues(key) + 1
                           << "): " << std::string(r.error.message());
        queue_->AddRateLimited(key);
        break;
    }
    queue_->Done(key);
  }
}

bool Controller::Unchanged(const std::string& key) {
  Result::Versions want;
  {
    std::lock_guard<std::mutex> l(converged_mu_);
    auto it = converged_.find(key);
    if (it == converged_.end()) return false;
    want = it->second;
  }
  std::string ns, name;
  if (!SplitKey(key, &ns, &name)) return false;
  // Packed cache objects keep metadata.resourceVersion in the clear (slim.h).
  auto rv = [](const kube::ObjectPtr& o) -> std::string {
    if (!o) return "";
    auto md = o->find("metadata");
    if (md == o->end() || !md->is_object()) return "";
    return md->value("resourceVersion", "");
  };
  std::string fn_rv = rv(functions_->Get(ns, name));
  return !fn_rv.empty() && fn_rv == want.function &&
         rv(deployments_->Get(ns, name)) == want.deployment &&
         rv(services_->Get(ns, name)) == want.service;
}

}  // namespace kfaas::op

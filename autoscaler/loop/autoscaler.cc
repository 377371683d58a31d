#include "autoscaler/loop/autoscaler.h"

#include "common/base/log.h"
#include "common/metrics/metrics.h"

namespace kfaas::autoscaler {

class Autoscaler::Events : public EventSink {
 public:
  explicit Events(const AutoscalerOptions& opts) : opts_(opts) {}
  void Event(const Target& target, std::string_view type, std::string_view reason,
             std::string_view message) override {
    if (opts_.record_event && target.function) {
      opts_.record_event(*target.function, type, reason, message);
    }
  }

 private:
  const AutoscalerOptions& opts_;
};

// The loop keeps one TargetLister; each leadership term has its own informers behind it.
class Autoscaler::Targets : public TargetLister {
 public:
  explicit Targets(Autoscaler* owner) : owner_(owner) {}
  std::vector<Target> List() override {
    std::lock_guard<std::mutex> l(owner_->mu_);
    return owner_->kube_targets_ ? owner_->kube_targets_->List() : std::vector<Target>{};
  }
  bool HasSynced() override {
    std::lock_guard<std::mutex> l(owner_->mu_);
    return owner_->kube_targets_ && owner_->kube_targets_->HasSynced();
  }

 private:
  Autoscaler* owner_;
};

Autoscaler::Autoscaler(std::shared_ptr<kube::Client> client, AutoscalerOptions opts,
                       metrics::Registry& registry, Clock& clock)
    : client_(client),
      opts_(std::move(opts)),
      registry_(registry),
      clock_(clock),
      events_(std::make_unique<Events>(opts_)),
      targets_(std::make_unique<Targets>(this)),
      writer_(client),
      static_discovery_(opts_.activator_addresses) {
  loop_ = std::make_unique<ScalingLoop>(*targets_, writer_, events_.get(), clock_, registry_,
                                        opts_.loop);
  collector_ = std::make_unique<StatsCollector>(*loop_, opts_.collector, &registry_);
  KedaSyncOptions keda;
  keda.scaled_object.scaler_address = opts_.keda_scaler_address;
  if (keda.scaled_object.scaler_address.empty() && !opts_.activator_addresses.empty()) {
    keda.scaled_object.scaler_address = opts_.activator_addresses.front();
  }
  keda_ = std::make_unique<KedaSync>(
      *client_,
      [events = events_.get()](const Target& t, std::string_view type, std::string_view reason,
                               std::string_view message) {
        events->Event(t, type, reason, message);
      },
      clock_, keda);
  if (opts_.activator_addresses.empty() && opts_.activator_service.empty()) {
    KFAAS_LOG(WARNING) << "autoscaler: no activators to read (set --activator-stats-address "
                          "host:port,... or the activators' Service): replicas will not follow "
                          "load";
  }
}

Autoscaler::~Autoscaler() { Stop(); }

bool Autoscaler::running() const {
  std::lock_guard<std::mutex> l(mu_);
  return running_;
}

void Autoscaler::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (running_) return;
  running_ = true;
  kube_targets_ = std::make_unique<KubeTargets>(client_, opts_.ns, clock_,
                                                [loop = loop_.get()] { loop->Poke(); });
  kube_targets_->Start();
  if (!opts_.activator_service.empty()) {
    const size_t slash = opts_.activator_service.find('/');
    std::string ns =
        slash == std::string::npos ? "default" : opts_.activator_service.substr(0, slash);
    std::string name = slash == std::string::npos ? opts_.activator_service
                                                  : opts_.activator_service.substr(slash + 1);
    slices_ = std::make_unique<EndpointSliceDiscovery>(client_, ns, name, opts_.activator_port_name,
                                                       clock_);
    slices_->Start();
  }
  loop_->Start();
  discovery_ = std::thread([this] { Discover(); });
  KFAAS_LOG(INFO) << "autoscaler started";
}

void Autoscaler::Stop() {
  std::unique_ptr<KubeTargets> targets;
  std::unique_ptr<EndpointSliceDiscovery> slices;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!running_) return;
    running_ = false;
  }
  cv_.notify_all();
  if (discovery_.joinable()) discovery_.join();
  collector_->Stop();
  loop_->Stop();
  {
    std::lock_guard<std::mutex> l(mu_);
    targets = std::move(kube_targets_);
    slices = std::move(slices_);
  }
  targets.reset();  // stops the informers outside the lock
  slices.reset();
  KFAAS_LOG(INFO) << "autoscaler stopped";
}

void Autoscaler::Discover() {
  std::unique_lock<std::mutex> lock(mu_);
  while (running_) {
    EndpointSliceDiscovery* slices = slices_.get();
    lock.unlock();
    std::vector<ActivatorDiscovery*> sources = {&static_discovery_};
    if (slices) sources.push_back(slices);
    collector_->SetAddresses(CombinedDiscovery(sources).Addresses());
    if (targets_->HasSynced()) keda_->Sync(targets_->List());
    lock.lock();
    cv_.wait_for(lock, opts_.discovery_refresh, [this] { return !running_; });
  }
}

http::AdminServer::Handler Autoscaler::TraceHandler() {
  return [this](const http::AdminRequest& req) {
    auto query = http::ParseQuery(req.query);
    std::string key = query.count("function") ? query["function"] : "";
    http::AdminResponse resp;
    resp.body = ScalingLoop::FormatTrace(loop_->Trace(key));
    return resp;
  };
}

}  // namespace kfaas::autoscaler

#include "operator/app.h"

#include <unistd.h>

#include <random>

#include "autoscaler/loop/autoscaler.h"
#include "common/base/log.h"
#include "common/http/admin_server.h"
#include "common/kube/event_recorder.h"
#include "common/kube/leader_election.h"
#include "common/kube/rest_client.h"
#include "common/metrics/metrics.h"
#include "operator/controller/controller.h"

namespace kfaas::op {
namespace {

std::string RandomSuffix() {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 8; ++i) s += kHex[rd() % 16];
  return s;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class RecorderSink : public EventSink {
 public:
  explicit RecorderSink(kube::EventRecorder& r) : r_(r) {}
  void Record(const Json& obj, std::string_view type, std::string_view reason,
              std::string_view message) override {
    r_.Record(obj, type, reason, message);
  }

 private:
  kube::EventRecorder& r_;
};

}  // namespace

class Operator::Impl {
 public:
  Impl(OperatorConfig c, std::function<void(const std::string&)> on_fatal)
      : config_(std::move(c)), on_fatal_(std::move(on_fatal)) {}

  ~Impl() { Stop(); }

  absl::Status Start() {
    auto client = kube::RestClient::FromOptions(
        {.kubeconfig = config_.kubeconfig, .context = config_.context}, [&](kube::RestConfig& rc) {
          rc.qps = config_.qps;
          rc.burst = config_.burst;
          rc.user_agent = "kfaas-operator";
          rc.transport = config_.kube_transport;
        });
    if (!client.ok()) return client.status();
    client_ = *client;
    KFAAS_LOG(INFO) << "API server " << client_->config().host << " (" << client_->config().source
                    << "), " << config_.kube_transport << " transport";

    if (config_.identity.empty()) {
      std::string base = Env("POD_NAME");
      if (base.empty()) {
        char host[256] = {};
        gethostname(host, sizeof(host) - 1);
        base = host;
      }
      config_.identity = base + "_" + RandomSuffix();
    }
    if (config_.lease_namespace.empty()) config_.lease_namespace = Env("POD_NAMESPACE");
    if (config_.lease_namespace.empty()) {
      config_.lease_namespace = client_->default_namespace();
    }

    leader_gauge_ =
        &registry_
             .AddGauge("kfaas_operator_leader", "1 while this replica holds the operator's Lease.")
             .WithLabels({});
    recorder_ = std::make_unique<kube::EventRecorder>(client_, "kfaas-operator");
    events_ = std::make_unique<RecorderSink>(*recorder_);
    ControllerOptions copts{.watch_namespace = config_.watch_namespace,
                            .workers = config_.workers,
                            .reconciler = {.domain = config_.domain,
                                           .require_command = config_.require_command,
                                           .scaling_status_delay = config_.scaling_status_delay}};
    controller_ =
        std::make_unique<Controller>(client_, *events_, registry_, RealClock::Get(), copts);

    admin_ = std::make_unique<http::AdminServer>(config_.admin_address, config_.admin_port);
    admin_->HandleStandard(registry_, [this] { return controller_->HasSynced(); });
    StartAutoscalerWiring();
    if (auto s = admin_->Start(); !s.ok()) {
      return absl::UnavailableError("admin server on " + config_.admin_address + ":" +
                                    std::to_string(config_.admin_port) + ": " +
                                    std::string(s.message()) + " (choose another --admin-port)");
    }

    KFAAS_LOG(INFO) << "kfaas-operator " << config_.identity << ": watching "
                    << (config_.watch_namespace.empty() ? "all namespaces"
                                                        : "namespace " + config_.watch_namespace)
                    << ", domain " << config_.domain << ", " << config_.workers << " workers"
                    << (config_.require_command ? ", kfaas-local (spec.command required)" : "")
                    << ", admin on :" << admin_->port();
    controller_->StartInformers();

    // Leadership changes are acted on by this thread, never on the elector's (which must keep
    // renewing).
    lifecycle_ = std::thread([this] { Lifecycle(); });
    if (config_.leader_elect) {
      KFAAS_LOG(INFO) << "leader election on Lease " << config_.lease_namespace << "/"
                      << config_.lease_name;
      kube::LeaderElectionConfig lc{
          .lease_namespace = config_.lease_namespace,
          .lease_name = config_.lease_name,
          .identity = config_.identity,
          .lease_duration = config_.lease_duration,
          .renew_deadline = config_.renew_deadline,
          .retry_period = config_.retry_period,
          .release_on_stop = true,
          .on_started_leading = [this] { Signal(&leading_); },
          .on_stopped_leading = [this] { Signal(&lost_); },
          .on_new_leader =
              [this](const std::string& id) {
                if (id != config_.identity) {
                  KFAAS_LOG(INFO) << "the leader is " << id;
                }
              },
      };
      elector_ = std::make_unique<kube::LeaderElector>(client_, lc);
      elector_->Start();
    } else {
      Signal(&leading_);
    }
    return absl::OkStatus();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.notify_all();
    }
    if (lifecycle_.joinable()) lifecycle_.join();
    if (autoscaler_) autoscaler_->Stop();
    // Finish the reconciles in progress before giving the Lease away.
    if (controller_) controller_->Stop();
    if (elector_) elector_->Stop();
    if (leader_gauge_) leader_gauge_->Set(0);
    if (recorder_) recorder_->Flush();
    if (admin_) admin_->Stop();
    KFAAS_LOG(INFO) << "kfaas-operator stopped";
  }

  uint16_t admin_port() const { return admin_ ? admin_->port() : 0; }
  bool IsLeader() const { return leader_.load(); }
  const std::string& identity() const { return config_.identity; }

 private:
  void Signal(bool* flag) {
    std::lock_guard<std::mutex> l(mu_);
    *flag = true;
    cv_.notify_all();
  }

  // The autoscaler loop (started on winning the Lease) and its trace page.
  void StartAutoscalerWiring() {
    autoscaler::AutoscalerOptions o;
    o.ns = config_.watch_namespace;
    o.activator_addresses = autoscaler::SplitAddresses(config_.activator_stats_address);
    o.activator_service = config_.activator_service;
    o.keda_scaler_address = config_.keda_scaler_address;
    o.loop.decider.stable_window = config_.autoscaler_stable_window;
    o.loop.decider.scale_down_delay = config_.autoscaler_scale_down_delay;
    if (o.activator_addresses.empty() && o.activator_service.empty()) {
      KFAAS_LOG(WARNING) << "no autoscaler: neither --activator-stats-address nor "
                            "--activator-service is set, so replicas only move 0 <-> 1 (by the "
                            "activator)";
      return;
    }
    o.record_event = [this](const Json& obj, std::string_view type, std::string_view reason,
                            std::string_view message) {
      recorder_->Record(obj, type, reason, message);
    };
    autoscaler_ = std::make_unique<autoscaler::Autoscaler>(client_, o, registry_);
    admin_->Handle("/debug/autoscaler/trace", autoscaler_->TraceHandler());
  }

  void Lifecycle() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return stopping_ || leading_; });
    if (stopping_) return;
    l.unlock();
    KFAAS_LOG(INFO) << "became the leader; waiting for the caches to sync";
    leader_ = true;
    leader_gauge_->Set(1);
    while (!controller_->WaitForSync(std::chrono::seconds(1))) {
      std::lock_guard<std::mutex> g(mu_);
      if (stopping_ || lost_) break;
    }
    l.lock();
    if (!stopping_ && !lost_) {
      l.unlock();
      controller_->StartWorkers();
      if (autoscaler_) autoscaler_->Start();
      l.lock();
    }
    cv_.wait(l, [&] { return stopping_ || lost_; });
    if (stopping_) return;
    l.unlock();
    if (autoscaler_) autoscaler_->Stop();
    leader_ = false;
    leader_gauge_->Set(0);
    KFAAS_LOG(ERROR) << "lost the Lease " << config_.lease_namespace << "/" << config_.lease_name
                     << " without being asked to stop; exiting so the new leader reconciles "
                        "alone";
    if (on_fatal_) on_fatal_("leader election lost");
  }

  OperatorConfig config_;
  std::function<void(const std::string&)> on_fatal_;
  std::shared_ptr<kube::RestClient> client_;
  metrics::Registry registry_;
  metrics::Gauge* leader_gauge_ = nullptr;
  std::unique_ptr<kube::EventRecorder> recorder_;
  std::unique_ptr<RecorderSink> events_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<http::AdminServer> admin_;
  std::unique_ptr<autoscaler::Autoscaler> autoscaler_;
  std::unique_ptr<kube::LeaderElector> elector_;
  std::thread lifecycle_;
  std::atomic<bool> leader_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool leading_ = false;
  bool lost_ = false;
};

Operator::Operator(OperatorConfig config, std::function<void(const std::string&)> on_fatal)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(on_fatal))) {}
Operator::~Operator() = default;
absl::Status Operator::Start() { return impl_->Start(); }
void Operator::Stop() { impl_->Stop(); }
uint16_t Operator::admin_port() const { return impl_->admin_port(); }
bool Operator::IsLeader() const { return impl_->IsLeader(); }
const std::string& Operator::identity() const { return impl_->identity(); }

}  // namespace kfaas::op

#include "autoscaler/loop/stats_collector.h"

#include <atomic>
#include <set>

#include <grpcpp/grpcpp.h>

#include "common/base/log.h"
#include "common/metrics/metrics.h"
#include "kfaas/v1/stats.grpc.pb.h"

namespace kfaas::autoscaler {

// One address's stream and its thread.
class StatsCollector::Stream {
 public:
  Stream(StatsCollector* owner, std::string address) : owner_(owner), address_(address) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
    thread_ = std::thread([this] { Run(); });
  }
  ~Stream() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      if (ctx_) ctx_->TryCancel();
    }
    cv_.notify_all();
    thread_.join();
  }
  bool connected() const { return connected_.load(); }
  // Cancels the current call when it has been silent for `timeout` (the thread reconnects).
  void CheckSilence(Duration timeout) {
    std::lock_guard<std::mutex> l(mu_);
    if (ctx_ && std::chrono::steady_clock::now() - last_activity_ > timeout) {
      KFAAS_LOG(WARNING) << "activator " << address_ << " sent no stats for "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()
                         << " ms: reconnecting";
      ctx_->TryCancel();
      last_activity_ = std::chrono::steady_clock::now();
    }
  }

 private:
  void Run() {
    auto stub = kfaas::v1::Stats::NewStub(channel_);
    Duration backoff = owner_->opts_.initial_backoff;
    std::chrono::steady_clock::time_point last_logged{};
    while (true) {
      grpc::ClientContext ctx;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stop_) return;
        ctx_ = &ctx;
        last_activity_ = std::chrono::steady_clock::now();
      }
      kfaas::v1::WatchStatsRequest req;
      req.set_subscriber(owner_->opts_.subscriber);
      req.set_interval_milliseconds(static_cast<int32_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(owner_->opts_.interval).count()));
      auto reader = stub->WatchStats(&ctx, req);
      kfaas::v1::StatsReport report;
      bool delivered = false;
      while (reader->Read(&report)) {
        {
          std::lock_guard<std::mutex> l(mu_);
          last_activity_ = std::chrono::steady_clock::now();
        }
        if (!delivered) {
          delivered = true;
          connected_ = true;
          if (owner_->connected_gauge_) owner_->connected_gauge_->Inc();
          KFAAS_LOG(INFO) << "stats stream from activator " << address_ << " ("
                          << report.activator_id() << ") connected";
        }
        owner_->sink_.OnReport(address_, report);
      }
      grpc::Status status = reader->Finish();
      {
        std::lock_guard<std::mutex> l(mu_);
        ctx_ = nullptr;
      }
      if (delivered) {
        connected_ = false;
        if (owner_->connected_gauge_) owner_->connected_gauge_->Dec();
        owner_->sink_.OnDisconnected(address_);
        backoff = owner_->opts_.initial_backoff;
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_) return;
      if (owner_->failures_) owner_->failures_->WithLabels({address_}).Inc();
      const auto now = std::chrono::steady_clock::now();
      if (delivered || now - last_logged > std::chrono::seconds(30)) {
        KFAAS_LOG(WARNING) << "stats stream from activator " << address_
                           << " ended: " << static_cast<int>(status.error_code()) << " "
                           << status.error_message() << "; retrying in "
                           << std::chrono::duration_cast<std::chrono::milliseconds>(backoff).count()
                           << " ms";
        last_logged = now;
      }
      cv_.wait_for(lock, backoff, [this] { return stop_; });
      if (stop_) return;
      if (!delivered) backoff = std::min(backoff * 2, owner_->opts_.max_backoff);
    }
  }

  StatsCollector* owner_;
  const std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext* ctx_ = nullptr;  // the call in progress
  std::chrono::steady_clock::time_point last_activity_{};
  bool stop_ = false;
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

StatsCollector::StatsCollector(StatsSink& sink, CollectorOptions opts, metrics::Registry* registry)
    : sink_(sink), opts_(opts) {
  if (registry) {
    connected_gauge_ = &registry
                            ->AddGauge("kfaas_autoscaler_activators_connected",
                                       "Activators whose stats stream is delivering reports.")
                            .WithLabels({});
    failures_ = &registry->AddCounter("kfaas_autoscaler_stats_stream_failures_total",
                                      "Stats streams from an activator that ended or failed.",
                                      {"activator"});
  }
  watchdog_ = std::thread([this] { Watchdog(); });
}

StatsCollector::~StatsCollector() {
  Stop();
  {
    std::lock_guard<std::mutex> l(mu_);
    watchdog_stop_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
}

void StatsCollector::Watchdog() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!watchdog_stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500));
    for (auto& [address, stream] : streams_) stream->CheckSilence(opts_.silence_timeout);
  }
}

void StatsCollector::SetAddresses(const std::vector<std::string>& addresses) {
  std::set<std::string> want(addresses.begin(), addresses.end());
  want.erase("");
  std::vector<std::unique_ptr<Stream>> gone;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = streams_.begin(); it != streams_.end();) {
      if (!want.count(it->first)) {
        gone.push_back(std::move(it->second));
        it = streams_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& a : want) {
      if (!streams_.count(a)) streams_.emplace(a, std::make_unique<Stream>(this, a));
    }
  }
  gone.clear();  // joins outside the lock
}

void StatsCollector::Stop() { SetAddresses({}); }

std::vector<std::string> StatsCollector::Connected() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [address, stream] : streams_) {
    if (stream->connected()) out.push_back(address);
  }
  return out;
}

}  // namespace kfaas::autoscaler

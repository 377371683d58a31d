// StatsService: kfaas.v1.Stats (proto/kfaas/v1/stats.proto), served by every activator.
//   WatchStats   a report every interval (default 200 ms) and one at once when a function's
//                activity changes (idle -> busy sets `burst`). Each report lists the functions
//                busy now or with arrivals/completions in its interval; the rest are idle.
//   GetSnapshot  this activator's own figures (never its peers'), for peers answering KEDA:
//                every known function (or those asked for), arrivals/completions as totals
//                since the activator started (interval_micros = 0).
#pragma once

#include <string>

#include "autoscaler/service/stats_hub.h"
#include "kfaas/v1/stats.grpc.pb.h"

namespace kfaas::metrics {
class Registry;
class Gauge;
}  // namespace kfaas::metrics

namespace kfaas::autoscaler {

struct StatsServiceOptions {
  std::string activator_id;  // e.g. the pod name; "" = "activator"
  Duration default_interval = std::chrono::milliseconds(200);
  Duration min_interval = std::chrono::milliseconds(50);
  Duration max_interval = std::chrono::seconds(5);
};

class StatsService final : public kfaas::v1::Stats::Service {
 public:
  // `registry` (optional) gets kfaas_activator_stats_streams.
  StatsService(StatsHub& hub, StatsServiceOptions opts, metrics::Registry* registry = nullptr);

  grpc::Status WatchStats(grpc::ServerContext* ctx, const kfaas::v1::WatchStatsRequest* req,
                          grpc::ServerWriter<kfaas::v1::StatsReport>* out) override;
  grpc::Status GetSnapshot(grpc::ServerContext* ctx, const kfaas::v1::GetSnapshotRequest* req,
                           kfaas::v1::StatsReport* out) override;

 private:
  StatsHub& hub_;
  const StatsServiceOptions opts_;
  metrics::Gauge* streams_ = nullptr;
};

}  // namespace kfaas::autoscaler

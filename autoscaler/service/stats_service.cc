#include "autoscaler/service/stats_service.h"

#include <algorithm>
#include <set>

#include "common/base/log.h"
#include "common/metrics/metrics.h"

namespace kfaas::autoscaler {
namespace {

constexpr auto kCancelCheck = std::chrono::milliseconds(200);

int64_t Micros(Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

int64_t IdleMillis(const FunctionActivity& a, SteadyTime now) {
  if (!a.last_arrival) return -1;
  return std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(now - *a.last_arrival).count());
}

void Fill(kfaas::v1::FunctionStats* f, const FunctionActivity& a, SteadyTime now) {
  f->set_namespace_(a.counters.ns);
  f->set_name(a.counters.name);
  f->set_in_flight(a.counters.in_flight);
  f->set_queued(a.counters.queued);
  f->set_idle_milliseconds(IdleMillis(a, now));
  f->set_ready_instances(a.counters.ready_instances);
}

}  // namespace

StatsService::StatsService(StatsHub& hub, StatsServiceOptions opts, metrics::Registry* registry)
    : hub_(hub), opts_(std::move(opts)) {
  if (registry) {
    streams_ = &registry
                    ->AddGauge("kfaas_activator_stats_streams",
                               "Open kfaas.v1.Stats/WatchStats streams (autoscaler loops).")
                    .WithLabels({});
  }
}

grpc::Status StatsService::WatchStats(grpc::ServerContext* ctx,
                                      const kfaas::v1::WatchStatsRequest* req,
                                      grpc::ServerWriter<kfaas::v1::StatsReport>* out) {
  Duration interval = opts_.default_interval;
  if (req->interval_milliseconds() > 0) {
    interval = std::clamp<Duration>(std::chrono::milliseconds(req->interval_milliseconds()),
                                    opts_.min_interval, opts_.max_interval);
  }
  const std::string id = opts_.activator_id.empty() ? "activator" : opts_.activator_id;
  KFAAS_VLOG(1) << "stats stream opened by "
                << (req->subscriber().empty() ? "?" : req->subscriber()) << " (" << ctx->peer()
                << ")";
  if (streams_) streams_->Inc();
  Clock& clock = hub_.clock();
  // Per stream: running totals at the last report, and which functions were busy in it.
  std::map<std::string, std::pair<int64_t, int64_t>> baseline;
  std::set<std::string> busy_sent;
  std::shared_ptr<const HubSnapshot> snap = hub_.Latest();
  for (const auto& [key, a] : snap->functions) {
    baseline[key] = {a.counters.arrivals_total, a.counters.completions_total};
  }
  uint64_t sequence = 0;
  SteadyTime last_sent = clock.Now();
  bool burst = false;
  while (!ctx->IsCancelled() && !hub_.shut_down()) {
    const SteadyTime now = clock.Now();
    kfaas::v1::StatsReport report;
    report.set_activator_id(id);
    report.set_timestamp_unix_micros(
        std::chrono::duration_cast<std::chrono::microseconds>(clock.WallNow().time_since_epoch())
            .count());
    report.set_interval_micros(Micros(now - last_sent));
    report.set_sequence(++sequence);
    report.set_burst(burst);
    std::set<std::string> busy_now;
    for (const auto& [key, a] : snap->functions) {
      auto [arrivals0, completions0] =
          baseline.count(key) ? baseline[key] : std::pair<int64_t, int64_t>{0, 0};
      const int64_t arrivals = std::max<int64_t>(0, a.counters.arrivals_total - arrivals0);
      const int64_t completions = std::max<int64_t>(0, a.counters.completions_total - completions0);
      baseline[key] = {a.counters.arrivals_total, a.counters.completions_total};
      if (!a.busy && arrivals == 0 && completions == 0) continue;
      auto* f = report.add_functions();
      Fill(f, a, now);
      f->set_arrivals(arrivals);
      f->set_completions(completions);
      if (a.busy) busy_now.insert(key);
    }
    if (!out->Write(report)) break;
    busy_sent = std::move(busy_now);
    last_sent = now;
    // Wait for the interval; report early when a function goes from idle to busy.
    const SteadyTime next = now + interval;
    burst = false;
    while (!ctx->IsCancelled() && !hub_.shut_down()) {
      const SteadyTime t = clock.Now();
      if (t >= next) break;
      snap = hub_.WaitForChange(snap->version, std::min(next, t + kCancelCheck));
      for (const auto& [key, a] : snap->functions) {
        if (a.busy && !busy_sent.count(key)) burst = true;
      }
      if (burst) break;
    }
    snap = hub_.Latest();
  }
  if (streams_) streams_->Dec();
  return grpc::Status::OK;
}

grpc::Status StatsService::GetSnapshot(grpc::ServerContext*,
                                       const kfaas::v1::GetSnapshotRequest* req,
                                       kfaas::v1::StatsReport* out) {
  std::shared_ptr<const HubSnapshot> snap = hub_.Latest();
  const SteadyTime now = hub_.clock().Now();
  out->set_activator_id(opts_.activator_id.empty() ? "activator" : opts_.activator_id);
  out->set_timestamp_unix_micros(std::chrono::duration_cast<std::chrono::microseconds>(
                                     hub_.clock().WallNow().time_since_epoch())
                                     .count());
  out->set_interval_micros(0);
  out->set_sequence(snap->version);
  auto add = [&](const FunctionActivity& a) {
    auto* f = out->add_functions();
    Fill(f, a, now);
    f->set_arrivals(a.counters.arrivals_total);
    f->set_completions(a.counters.completions_total);
  };
  if (req->functions().empty()) {
    for (const auto& [key, a] : snap->functions) add(a);
  } else {
    for (const auto& key : req->functions()) {
      auto it = snap->functions.find(key);
      if (it != snap->functions.end()) add(it->second);
    }
  }
  return grpc::Status::OK;
}

}  // namespace kfaas::autoscaler

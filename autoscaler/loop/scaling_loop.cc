#include "autoscaler/loop/scaling_loop.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "common/base/log.h"
#include "common/base/time_format.h"
#include "common/metrics/metrics.h"
#include "kfaas/v1/stats.pb.h"

namespace kfaas::autoscaler {

std::vector<std::string> SplitAddresses(std::string_view list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

namespace {

std::pair<std::string, std::string> SplitKey(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace

ScalingLoop::ScalingLoop(TargetLister& targets, ScaleWriter& writer, EventSink* events,
                         Clock& clock, metrics::Registry& registry, LoopOptions opts)
    : targets_(targets), writer_(writer), events_(events), clock_(clock), opts_(opts) {
  const std::vector<std::string> fn_labels = {"namespace", "function"};
  desired_ = &registry.AddGauge("kfaas_autoscaler_desired_replicas",
                                "Replicas the autoscaler wants for the function.", fn_labels);
  panic_ = &registry.AddGauge("kfaas_autoscaler_panic_mode",
                              "1 while the function's autoscaler is in panic mode (a burst).",
                              fn_labels);
  observed_ = &registry.AddGauge(
      "kfaas_autoscaler_observed_concurrency",
      "Requests in flight + queued for the function, summed over the activators.", fn_labels);
  stable_ = &registry.AddGauge("kfaas_autoscaler_stable_concurrency",
                               "Observed concurrency averaged over the stable window.", fn_labels);
  panic_avg_ =
      &registry.AddGauge("kfaas_autoscaler_panic_concurrency",
                         "Observed concurrency averaged over the panic window.", fn_labels);
  writes_ = &registry.AddCounter("kfaas_autoscaler_scale_writes_total",
                                 "Writes of a Deployment's /scale by the autoscaler, by result.",
                                 {"result"});
  decisions_ =
      &registry.AddCounter("kfaas_autoscaler_decisions_total",
                           "Decision rounds, by what started them (tick or burst).", {"trigger"});
  reports_ = &registry
                  .AddCounter("kfaas_autoscaler_stats_reports_total",
                              "Stats reports received from activators.")
                  .WithLabels({});
}

ScalingLoop::~ScalingLoop() { Stop(); }

ScalingLoop::Fn& ScalingLoop::FnLocked(const std::string& key) {
  auto it = fns_.find(key);
  if (it == fns_.end()) it = fns_.emplace(key, Fn(opts_.decider)).first;
  return it->second;
}

void ScalingLoop::RecomputeLocked(const std::string& key, SteadyTime now, bool* burst) {
  double sum = 0;
  for (const auto& [id, src] : sources_) {
    auto it = src.levels.find(key);
    if (it != src.levels.end()) sum += it->second;
  }
  Fn& fn = FnLocked(key);
  fn.level = sum;
  fn.decider.Observe(now, sum);
  if (burst && fn.bounds && fn.decider.IsBurst(sum, fn.replicas, fn.ready, fn.bounds->target)) {
    *burst = true;
  }
}

void ScalingLoop::OnReport(const std::string& address, const kfaas::v1::StatsReport& report) {
  const SteadyTime now = clock_.Now();
  const std::string id = report.activator_id().empty() ? address : report.activator_id();
  std::map<std::string, double> levels;
  for (const auto& f : report.functions()) {
    const double c =
        static_cast<double>(std::max<int64_t>(0, f.in_flight()) + std::max<int64_t>(0, f.queued()));
    if (c > 0) levels[f.namespace_() + "/" + f.name()] += c;
  }
  reports_->Inc();
  bool burst = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    Source& src = sources_[id];
    std::set<std::string> keys;
    for (const auto& [k, v] : src.levels) keys.insert(k);
    for (const auto& [k, v] : levels) keys.insert(k);
    src.levels = std::move(levels);
    src.last_report = now;
    src.via = address;
    for (const auto& k : keys) RecomputeLocked(k, now, &burst);
    if (burst) burst_ = true;
  }
  if (burst) cv_.notify_all();
}

void ScalingLoop::DropSourceLocked(const std::string& id, SteadyTime now) {
  auto it = sources_.find(id);
  if (it == sources_.end()) return;
  std::vector<std::string> keys;
  for (const auto& [k, v] : it->second.levels) keys.push_back(k);
  sources_.erase(it);
  for (const auto& k : keys) RecomputeLocked(k, now, nullptr);
}

void ScalingLoop::OnDisconnected(const std::string& address) {
  const SteadyTime now = clock_.Now();
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, src] : sources_) {
    if (src.via == address) ids.push_back(id);
  }
  for (const auto& id : ids) DropSourceLocked(id, now);
}

double ScalingLoop::Concurrency(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = fns_.find(ns + "/" + name);
  return it == fns_.end() ? 0 : it->second.level;
}

void ScalingLoop::RemoveGaugesLocked(const std::string& ns, const std::string& name, Fn& fn) {
  if (!fn.gauges) return;
  for (auto* g : {desired_, panic_, observed_, stable_, panic_avg_}) g->Remove({ns, name});
  fn.gauges = false;
}

void ScalingLoop::TraceLocked(Fn& fn, const Target& t, const Decision& d, int wrote) {
  TraceRow row;
  row.time = clock_.WallNow();
  row.ns = t.scale.ns;
  row.name = t.scale.name;
  row.concurrency = d.current;
  row.stable = d.stable;
  row.panic_average = d.panic_average;
  row.desired = d.desired;
  row.replicas = t.replicas;
  row.ready = t.ready_replicas;
  row.panic = d.panic;
  row.wrote = wrote;
  // Idle, unchanged functions add nothing to the trace.
  const bool quiet = d.current == 0 && d.stable < 0.005 && wrote < 0 && fn.has_row &&
                     fn.last_row.replicas == row.replicas && fn.last_row.ready == row.ready &&
                     fn.last_row.desired == row.desired;
  fn.last_row = row;
  fn.has_row = true;
  if (quiet) return;
  trace_.push_back(std::move(row));
  while (trace_.size() > opts_.trace_capacity) trace_.pop_front();
}

void ScalingLoop::RunOnce() {
  std::lock_guard<std::mutex> run_lock(run_mu_);
  if (!targets_.HasSynced()) return;  // never decide on a partial view of the cluster
  std::vector<Target> targets = targets_.List();
  const SteadyTime now = clock_.Now();
  std::vector<Write> writes;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> stale;
    for (const auto& [id, src] : sources_) {
      if (now - src.last_report > opts_.stale_after) stale.push_back(id);
    }
    for (const auto& id : stale) {
      KFAAS_LOG(WARNING)
          << "activator " << id << " has not reported for "
          << std::chrono::duration_cast<std::chrono::milliseconds>(opts_.stale_after).count()
          << " ms: its figures no longer count";
      DropSourceLocked(id, now);
    }

    std::set<std::string> seen;
    for (const Target& t : targets) {
      const std::string key = t.scale.Key();
      seen.insert(key);
      Fn& fn = FnLocked(key);
      fn.bounds = t.scale.bounds;
      fn.replicas = t.has_deployment ? t.replicas : 0;
      fn.ready = t.has_deployment ? t.ready_replicas : 0;
      const std::vector<std::string> labels = {t.scale.ns, t.scale.name};
      if (t.scale.UsesKeda() || !t.has_deployment) {
        // KEDA scales it (or there is nothing to scale yet): only report what is observed.
        RemoveGaugesLocked(t.scale.ns, t.scale.name, fn);
        observed_->WithLabels(labels).Set(fn.level);
        fn.gauges = true;
        continue;
      }
      Decision d = fn.decider.Decide({now, t.replicas, t.ready_replicas, t.scale.bounds});
      desired_->WithLabels(labels).Set(d.desired);
      panic_->WithLabels(labels).Set(d.panic ? 1 : 0);
      observed_->WithLabels(labels).Set(d.current);
      stable_->WithLabels(labels).Set(d.stable);
      panic_avg_->WithLabels(labels).Set(d.panic_average);
      fn.gauges = true;
      if (d.panic_started) {
        KFAAS_LOG(INFO) << key << ": panic mode: " << d.reason;
      } else if (d.panic_ended) {
        KFAAS_LOG(INFO) << key << ": panic mode ended";
      }
      int wrote = -1;
      if (d.write) {
        const bool awaiting =
            fn.last_written == *d.write && now - fn.last_write_time < opts_.rewrite_after;
        if (!awaiting) {
          writes.push_back({t, t.replicas, *d.write, d.reason});
          fn.last_written = *d.write;
          fn.last_write_time = now;
          wrote = *d.write;
        }
      } else if (fn.last_written && *fn.last_written == t.replicas) {
        fn.last_written.reset();  // the Deployment caught up
      }
      TraceLocked(fn, t, d, wrote);
    }
    // Forget functions that are gone and idle.
    for (auto it = fns_.begin(); it != fns_.end();) {
      if (!seen.count(it->first) && it->second.level == 0) {
        auto [ns, name] = SplitKey(it->first);
        RemoveGaugesLocked(ns, name, it->second);
        it = fns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const Write& w : writes) Execute(w);
}

void ScalingLoop::Execute(const Write& w) {
  const std::string& ns = w.target.scale.ns;
  const std::string& name = w.target.scale.name;
  absl::Status s = writer_.Scale(ns, name, w.to, w.target.resource_version);
  if (s.ok()) {
    writes_->WithLabels({"ok"}).Inc();
    KFAAS_LOG(INFO) << "scaled " << ns << "/" << name << " from " << w.from << " to " << w.to
                    << ": " << w.reason;
    if (events_) {
      events_->Event(w.target, "Normal", w.to > w.from ? "ScaledUp" : "ScaledDown",
                     "Scaled deployment " + name + " from " + std::to_string(w.from) + " to " +
                         std::to_string(w.to) + " replicas: " + w.reason);
    }
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = fns_.find(ns + "/" + name);
    if (it != fns_.end()) it->second.last_written.reset();  // try again next round
  }
  if (absl::IsFailedPrecondition(s)) {
    // Scaled to zero meanwhile: the activator's call; nothing to explain.
    writes_->WithLabels({"skipped"}).Inc();
    KFAAS_VLOG(1) << "not scaling " << ns << "/" << name << ": " << s.message();
    return;
  }
  writes_->WithLabels({"error"}).Inc();
  KFAAS_LOG(WARNING) << "scaling " << ns << "/" << name << " to " << w.to
                     << " failed: " << s.message();
  if (events_) {
    events_->Event(w.target, "Warning", "ScaleFailed",
                   "Could not scale deployment " + name + " to " + std::to_string(w.to) +
                       " replicas: " + std::string(s.message()));
  }
}

void ScalingLoop::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  // A new term (e.g. this operator became leader again): earlier figures are stale.
  sources_.clear();
  for (auto& [key, fn] : fns_) {
    auto [ns, name] = SplitKey(key);
    RemoveGaugesLocked(ns, name, fn);
  }
  fns_.clear();
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void ScalingLoop::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ScalingLoop::Poke() {
  {
    std::lock_guard<std::mutex> l(mu_);
    poke_ = true;
  }
  cv_.notify_all();
}

void ScalingLoop::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  const char* trigger = "tick";
  while (!stop_) {
    lock.unlock();
    decisions_->WithLabels({trigger}).Inc();
    RunOnce();
    const SteadyTime ran = clock_.Now();
    lock.lock();
    const SteadyTime next = ran + opts_.tick;
    trigger = "tick";
    while (!stop_) {
      const SteadyTime now = clock_.Now();
      if (now >= next) break;
      if ((burst_ || poke_) && now >= ran + opts_.min_burst_interval) {
        trigger = burst_ ? "burst" : "poke";
        break;
      }
      clock_.WaitUntil(cv_, lock,
                       (burst_ || poke_) ? std::min(next, ran + opts_.min_burst_interval) : next);
    }
    burst_ = false;
    poke_ = false;
  }
}

std::vector<TraceRow> ScalingLoop::Trace(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<TraceRow> out;
  for (const auto& row : trace_) {
    if (key.empty() || row.ns + "/" + row.name == key) out.push_back(row);
  }
  return out;
}

std::string ScalingLoop::FormatTrace(const std::vector<TraceRow>& rows) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof(line), "%-27s %-32s %10s %10s %10s %8s %8s %6s %6s %6s\n", "TIME",
                "FUNCTION", "IN-FLIGHT", "STABLE", "PANIC-AVG", "DESIRED", "REPLICAS", "READY",
                "PANIC", "WROTE");
  out += line;
  for (const auto& r : rows) {
    const std::string fn = r.ns + "/" + r.name;
    std::snprintf(line, sizeof(line), "%-27s %-32s %10.1f %10.1f %10.1f %8d %8d %6d %6s %6s\n",
                  FormatRfc3339Micro(r.time).c_str(), fn.c_str(), r.concurrency, r.stable,
                  r.panic_average, r.desired, r.replicas, r.ready, r.panic ? "yes" : "-",
                  r.wrote >= 0 ? std::to_string(r.wrote).c_str() : "-");
    out += line;
  }
  return out;
}

}  // namespace kfaas::autoscaler

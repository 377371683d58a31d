#include "autoscaler/service/stats_hub.h"

namespace kfaas::autoscaler {

const FunctionActivity* HubSnapshot::Find(const std::string& ns, const std::string& name) const {
  auto it = functions.find(ns + "/" + name);
  return it == functions.end() ? nullptr : &it->second;
}

StatsHub::StatsHub(StatsSource& source, Clock& clock, StatsHubOptions opts)
    : source_(source),
      clock_(clock),
      opts_(opts),
      latest_(std::make_shared<HubSnapshot>(HubSnapshot{clock.Now(), 0, {}})) {}

StatsHub::~StatsHub() {
  Stop();
  Shutdown();
}

void StatsHub::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void StatsHub::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  poll_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatsHub::Notify() {
  {
    std::lock_guard<std::mutex> l(mu_);
    poll_requested_ = true;
  }
  poll_cv_.notify_all();
}

void StatsHub::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    poll_requested_ = false;
    lock.unlock();
    Poll();
    lock.lock();
    const SteadyTime next = clock_.Now() + opts_.poll_interval;
    while (!stop_ && !poll_requested_ && clock_.Now() < next) {
      clock_.WaitUntil(poll_cv_, lock, next);
    }
  }
}

void StatsHub::Poll() {
  std::lock_guard<std::mutex> poll_lock(poll_mu_);  // one Poll at a time
  std::vector<FunctionCounters> counters = source_.Snapshot();
  const SteadyTime now = clock_.Now();

  std::shared_ptr<const HubSnapshot> prev = Latest();
  const bool first_poll = prev->version == 0 && prev->functions.empty();
  auto next = std::make_shared<HubSnapshot>();
  next->time = now;
  bool changed = false;
  for (FunctionCounters& c : counters) {
    std::string key = c.ns + "/" + c.name;
    FunctionActivity a;
    a.busy = c.in_flight + c.queued > 0;
    auto it = prev->functions.find(key);
    if (it != prev->functions.end()) {
      a.last_arrival = it->second.last_arrival;
      if (c.arrivals_total > it->second.counters.arrivals_total) {
        a.last_arrival = now;
        if (!it->second.busy) changed = true;  // a new arrival after idleness (maybe done already)
      }
      if (a.busy != it->second.busy) changed = true;
    } else if (!first_poll && (c.arrivals_total > 0 || a.busy)) {
      // A function that appeared since the last poll with traffic already.
      a.last_arrival = now;
      changed = true;
    } else if (a.busy) {
      changed = true;
    }
    a.counters = std::move(c);
    next->functions.emplace(std::move(key), std::move(a));
  }
  for (const auto& [key, a] : prev->functions) {
    if (a.busy && !next->functions.count(key)) changed = true;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    next->version = latest_->version + (changed ? 1 : 0);
    latest_ = std::move(next);
  }
  if (changed) changed_.notify_all();
}

std::shared_ptr<const HubSnapshot> StatsHub::Latest() const {
  std::lock_guard<std::mutex> l(mu_);
  return latest_;
}

std::shared_ptr<const HubSnapshot> StatsHub::WaitForChange(uint64_t seen, SteadyTime deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutdown_ && latest_->version == seen && clock_.Now() < deadline) {
    clock_.WaitUntil(changed_, lock, deadline);
  }
  return latest_;
}

void StatsHub::Shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
  }
  changed_.notify_all();
}

bool StatsHub::shut_down() const {
  std::lock_guard<std::mutex> l(mu_);
  return shutdown_;
}

}  // namespace kfaas::autoscaler

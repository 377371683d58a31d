#include "activator/core/function_state.h"

#include <algorithm>
#include <atomic>

#include "activator/core/idle.h"
#include "activator/core/lb.h"
#include "common/base/log.h"

namespace kfaas::activator {

namespace {

// Instance ids are unique in the process, not per function: the per-thread UpstreamPool keys
// its idle connections by id across all functions.
std::atomic<uint64_t> g_next_instance_id{1};

boost::asio::ip::tcp::endpoint ParseEndpoint(const EndpointInfo& info) {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(info.address, ec);
  if (ec) return {};
  return {addr, info.port};
}

int64_t Ticks(SteadyTime t) { return t.time_since_epoch().count(); }

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

int64_t Millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
}  // namespace

Instance::Instance(uint64_t id, EndpointInfo i)
    : id(id), info(std::move(i)), key(info.Key()), endpoint(ParseEndpoint(info)) {}

FunctionState::FunctionState(std::string ns, std::string name, const CoreDeps* deps)
    : ns_(std::move(ns)), name_(std::move(name)), deps_(deps), metrics_(deps->metrics, ns_, name_) {
  last_activity_.store(Ticks(deps_->clock->Now()));
}

FunctionState::~FunctionState() {
  for (auto& [k, inst] : instances_) inst->removed.store(true);
}

void FunctionState::Run(Actions& a) {
  for (auto& w : a.wakes) w();
  if (a.write) {
    int n = *a.write;
    std::weak_ptr<FunctionState> weak = weak_from_this();
    deps_->scaler->ScaleTo(ns_, name_, n, [weak, n](absl::Status st) {
      if (auto self = weak.lock()) self->OnScaleDone(n, std::move(st));
    });
  }
  if (deps_->prober) {
    for (auto& inst : a.probes) deps_->prober->Probe(shared_from_this(), inst);
  }
  if (a.report && deps_->reporter) deps_->reporter->Report(*a.report);
  for (const auto& line : a.logs) KFAAS_LOG(INFO) << line;
}

void FunctionState::SetSpec(const FunctionSpec& spec) {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    has_spec_ = true;
    spec_ = spec;
    timeout_ms_.store(int64_t{spec.timeout_seconds} * 1000, std::memory_order_relaxed);
    DispatchLocked(a);  // a higher concurrency may free slots
  }
  Run(a);
}

void FunctionState::ClearSpec() {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    has_spec_ = false;
    for (auto& w : waiters_) {
      w->state = Waiter::State::kGone;
      a.wakes.push_back(w->wake);
    }
    deps_->global->buffered.fetch_sub(static_cast<int64_t>(waiters_.size()));
    queued_.store(0);
    waiters_.clear();
    activating_ = false;
    DropColdStartLocked(a);
  }
  Run(a);
}

size_t FunctionState::CancelWaitersForShutdown() {
  Actions a;
  size_t n = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    n = waiters_.size();
    for (auto& w : waiters_) {
      w->state = Waiter::State::kShuttingDown;
      a.wakes.push_back(w->wake);
    }
    deps_->global->buffered.fetch_sub(static_cast<int64_t>(n));
    queued_.store(0);
    waiters_.clear();
  }
  Run(a);
  return n;
}

bool FunctionState::HasSpec() const {
  std::lock_guard<std::mutex> l(mu_);
  return has_spec_;
}

FunctionSpec FunctionState::spec() const {
  std::lock_guard<std::mutex> l(mu_);
  return spec_;
}

bool FunctionState::HasEndpointSources() const {
  std::lock_guard<std::mutex> l(mu_);
  return !slices_.empty() || !pods_.empty();
}

void FunctionState::SetPodEndpoint(const std::string& pod,
                                   const std::optional<EndpointInfo>& endpoint) {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = pods_.find(pod);
    if (!endpoint) {
      if (it == pods_.end()) return;
      pods_.erase(it);
    } else {
      if (it != pods_.end() && it->second == *endpoint) return;
      pods_[pod] = *endpoint;
    }
    ApplyEndpointsLocked(a);
  }
  Run(a);
}

void FunctionState::SetSliceEndpoints(const std::string& slice,
                                      const std::vector<EndpointInfo>& endpoints) {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    slices_[slice] = endpoints;
    ApplyEndpointsLocked(a);
  }
  Run(a);
}

void FunctionState::RemoveSlice(const std::string& slice) {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (slices_.erase(slice) == 0) return;
    ApplyEndpointsLocked(a);
  }
  Run(a);
}

void FunctionState::ApplyEndpointsLocked(Actions& a) {
  // The union over slices; an address listed twice is ready if any listing says so.
  std::unordered_map<std::string, EndpointInfo> merged;
  for (const auto& [name, eps] : slices_) {
    for (const auto& ep : eps) {
      auto [it, inserted] = merged.emplace(ep.Key(), ep);
      if (!inserted) {
        it->second.ready = it->second.ready || ep.ready;
        it->second.terminating = it->second.terminating && ep.terminating;
      }
    }
  }
  // A pod's address not listed by any slice yet: an instance to probe (never slice-ready).
  for (const auto& [pod, ep] : pods_) {
    EndpointInfo hint = ep;
    hint.ready = false;
    hint.terminating = false;
    merged.emplace(hint.Key(), hint);
  }
  SteadyTime now = deps_->clock->Now();
  for (auto it = instances_.begin(); it != instances_.end();) {
    if (!merged.count(it->first)) {
      it->second->removed.store(true);
      KFAAS_VLOG(1) << "function " << ns_ << "/" << name_ << ": instance " << it->first
                    << " removed";
      it = instances_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [key, ep] : merged) {
    auto it = instances_.find(key);
    if (it == instances_.end()) {
      auto inst = std::make_shared<Instance>(
          g_next_instance_id.fetch_add(1, std::memory_order_relaxed), ep);
      inst->slice_ready = ep.ready;
      inst->terminating = ep.terminating;
      instances_.emplace(key, inst);
      if (cold_ && !cold_->appeared) cold_->appeared = now;
      KFAAS_VLOG(1) << "function " << ns_ << "/" << name_ << ": instance " << key
                    << " appeared (ready=" << ep.ready << ")";
    } else {
      Instance& inst = *it->second;
      if (inst.slice_ready && !ep.ready) inst.probed_ready = false;  // it went not ready
      if (!inst.slice_ready && ep.ready) inst.failed = false;        // it came back
      inst.slice_ready = ep.ready;
      inst.terminating = ep.terminating;
    }
  }
  RebuildUsableLocked(a);
  for (auto& [key, inst] : instances_) MarkProbeLocked(inst, a);
}

void FunctionState::MarkProbeLocked(const std::shared_ptr<Instance>& inst, Actions& a) {
  if (!deps_->prober || inst->probing || inst->terminating || inst->Usable()) return;
  inst->probing = true;
  a.probes.push_back(inst);
}

bool FunctionState::ContinueProbing(Instance& inst) {
  std::lock_guard<std::mutex> l(mu_);
  bool go = has_spec_ && !inst.removed.load() && !inst.terminating && !inst.Usable();
  if (!go) inst.probing = false;
  return go;
}

void FunctionState::OnProbeResult(const std::shared_ptr<Instance>& inst, bool ok) {
  if (!ok) return;
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (inst->removed.load() || inst->terminating || inst->Usable()) return;
    inst->probed_ready = true;
    inst->failed = false;
    KFAAS_VLOG(1) << "function " << ns_ << "/" << name_ << ": instance " << inst->key
                  << " answered its probe";
    RebuildUsableLocked(a);
  }
  Run(a);
}

void FunctionState::OnForwardFailed(const std::shared_ptr<Instance>& inst) {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (inst->removed.load() || inst->failed) return;
    inst->failed = true;
    inst->probed_ready = false;
    KFAAS_LOG(WARNING) << "function " << ns_ << "/" << name_ << ": instance " << inst->key
                       << " refused a connection; not used until it answers a probe";
    RebuildUsableLocked(a);
    MarkProbeLocked(inst, a);
  }
  Run(a);
}

void FunctionState::RebuildUsableLocked(Actions& a) {
  bool was_empty = usable_.empty();
  usable_.clear();
  for (auto& [key, inst] : instances_) {
    if (inst->Usable()) usable_.push_back(inst);
  }
  std::sort(usable_.begin(), usable_.end(),
            [](const auto& x, const auto& y) { return x->id < y->id; });
  if (was_empty && !usable_.empty()) {
    SteadyTime now = deps_->clock->Now();
    if (cold_ && !cold_->ready) {
      cold_->ready = now;
      if (!cold_->appeared) cold_->appeared = now;
    }
    if (activating_) {
      activating_ = false;
      std::string line =
          "function " + ns_ + "/" + name_ + " activated: " + std::to_string(usable_.size()) +
          " instance(s) ready after " + std::to_string(Millis(now - activation_started_)) + " ms";
      // During a cold start, the line waits for its first byte, as the cold start's own does:
      // a write to the log pipe (and whoever reads it) would compete with forwarding it.
      if (cold_) {
        cold_->activated_log = std::move(line);
      } else {
        a.logs.push_back(std::move(line));
      }
    }
  }
  DispatchLocked(a);
}

int FunctionState::PickLocked() {
  int limit = spec_.concurrency;
  return PickInstance(
      usable_.size(), limit,
      [this](size_t i) { return usable_[i]->in_flight.load(std::memory_order_relaxed); },
      FastRandom());
}

void FunctionState::DispatchLocked(Actions& a) {
  while (!waiters_.empty()) {
    int idx = PickLocked();
    if (idx < 0) break;
    // Over the cluster-wide limit, queued requests stay queued (until their deadline) rather
    // than being refused: a slot freed here or the next Tick dispatches them.
    if (!deps_->global->TryAcquire(deps_->options.max_concurrency)) break;
    std::shared_ptr<Waiter> w = std::move(waiters_.front());
    waiters_.pop_front();
    queued_.fetch_sub(1);
    deps_->global->buffered.fetch_sub(1);
    auto& inst = usable_[static_cast<size_t>(idx)];
    inst->in_flight.fetch_add(1);
    in_flight_.fetch_add(1);
    w->state = Waiter::State::kGranted;
    w->instance = inst;
    if (w->wake) a.wakes.push_back(std::move(w->wake));
  }
}

AdmitResult FunctionState::TryAdmit(SteadyTime arrival, Lease* lease, bool count_arrival) {
  if (count_arrival) {
    arrivals_.fetch_add(1, std::memory_order_relaxed);
    last_activity_.store(Ticks(arrival), std::memory_order_relaxed);
  }
  const int64_t max = deps_->options.max_concurrency;
  if (deps_->global->in_flight.load(std::memory_order_relaxed) >= max) {
    metrics_.throttled.Inc();
    return AdmitResult::kThrottled;
  }
  Actions a;
  AdmitResult result = AdmitResult::kMustWait;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (at_zero_.load(std::memory_order_relaxed)) {
      at_zero_.store(false);
      if (!usable_.empty()) {
        KFAAS_LOG(INFO) << "function " << ns_ << "/" << name_
                        << ": request after scale to zero; scaling back up";
        RequestScaleLocked(std::max(1, spec_.scale_min), a);
      }
    }
    int idx = waiters_.empty() ? PickLocked() : -1;
    if (idx >= 0) {
      if (!deps_->global->TryAcquire(max)) {
        metrics_.throttled.Inc();
        result = AdmitResult::kThrottled;
      } else {
        auto& inst = usable_[static_cast<size_t>(idx)];
        inst->in_flight.fetch_add(1, std::memory_order_relaxed);
        in_flight_.fetch_add(1, std::memory_order_relaxed);
        lease->instance = inst;
        lease->cold = false;
        lease->waited = {};
        result = AdmitResult::kGranted;
      }
    }
  }
  if (a.write) Run(a);
  return result;
}

AdmitResult FunctionState::Enqueue(const std::shared_ptr<Waiter>& w) {
  Actions a;
  AdmitResult result = AdmitResult::kQueued;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queued_.load() >= deps_->options.max_buffered_per_function ||
        deps_->global->buffered.load() >= deps_->options.max_buffered_total) {
      metrics_.buffer_rejected.Inc();
      return AdmitResult::kBufferFull;
    }
    w->cold = usable_.empty();
    w->state = Waiter::State::kWaiting;
    waiters_.push_back(w);
    w->pos = std::prev(waiters_.end());
    queued_.fetch_add(1);  // before re-checking for slots: pairs with Release's check
    deps_->global->buffered.fetch_add(1);
    if (usable_.empty()) MaybeActivateLocked(w->arrival, a);
    DispatchLocked(a);  // may grant `w` at once: its wake is then in `a`
  }
  Run(a);
  return result;
}

WaitResult FunctionState::FinishWait(const std::shared_ptr<Waiter>& w, SteadyTime now,
                                     Lease* lease) {
  std::lock_guard<std::mutex> l(mu_);
  if (w->state != Waiter::State::kGranted) {
    last_activity_.store(Ticks(now), std::memory_order_relaxed);  // an answer is activity too
  }
  switch (w->state) {
    case Waiter::State::kGranted:
      lease->instance = std::move(w->instance);
      lease->cold = w->cold;
      lease->waited = now - w->arrival;
      return WaitResult::kGranted;
    case Waiter::State::kThrottled:
      metrics_.throttled.Inc();
      return WaitResult::kThrottled;
    case Waiter::State::kGone:
    case Waiter::State::kCancelled:
      return WaitResult::kGone;
    case Waiter::State::kShuttingDown:
      return WaitResult::kShuttingDown;
    case Waiter::State::kWaiting:
      waiters_.erase(w->pos);
      queued_.fetch_sub(1);
      deps_->global->buffered.fetch_sub(1);
      w->state = Waiter::State::kCancelled;
      metrics_.timeouts.Inc();
      return WaitResult::kTimedOut;
  }
  return WaitResult::kGone;
}

void FunctionState::Release(const Lease& lease, bool completed) {
  lease.instance->in_flight.fetch_sub(1);
  in_flight_.fetch_sub(1);
  deps_->global->Release();
  if (completed) {
    completions_.fetch_add(1, std::memory_order_relaxed);
    last_activity_.store(Ticks(deps_->clock->Now()), std::memory_order_relaxed);
  }
  if (queued_.load() > 0) {
    Actions a;
    {
      std::lock_guard<std::mutex> l(mu_);
      DispatchLocked(a);
    }
    Run(a);
  }
}

void FunctionState::MaybeActivateLocked(SteadyTime arrival, Actions& a) {
  if (activating_ || !has_spec_) return;
  activating_ = true;
  SteadyTime now = deps_->clock->Now();
  activation_started_ = now;
  cold_.emplace();
  cold_->start = arrival;
  cold_->wall_start =
      deps_->clock->WallNow() - std::chrono::duration_cast<WallTime::duration>(now - arrival);
  int target = std::max(1, spec_.scale_min);
  std::optional<int> observed = deps_->scaler->CurrentReplicas(ns_, name_);
  bool wrote_zero = last_written_ && *last_written_ == 0;
  if (observed && *observed >= 1 && !wrote_zero) {
    KFAAS_LOG(INFO) << "function " << ns_ << "/" << name_
                    << " has no ready instance; waiting for its " << *observed
                    << " replica(s) to become ready";
    return;
  }
  // At debug level only: at info level the cold start's one line is written once its answer
  // went out (FinishColdStartLocked), or a warning when it timed out (Tick); a write to the log
  // here would compete for the CPU with the scale write it starts.
  KFAAS_VLOG(1) << "function " << ns_ << "/" << name_ << " is at zero: scaling to " << target;
  RequestScaleLocked(target, a);
}

void FunctionState::RequestScaleLocked(int replicas, Actions& a) {
  if (write_in_flight_) {
    pending_write_ = replicas;
    return;
  }
  write_in_flight_ = true;
  last_written_ = replicas;
  a.write = replicas;
}

void FunctionState::OnScaleDone(int replicas, absl::Status status) {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    write_in_flight_ = false;
    deps_->metrics->scale_writes.WithLabels({ns_, name_, status.ok() ? "success" : "error"}).Inc();
    if (status.ok()) {
      last_write_failed_ = false;
      if (cold_ && !cold_->scale_ack && replicas > 0) cold_->scale_ack = deps_->clock->Now();
    } else {
      last_write_failed_ = true;
      KFAAS_LOG(ERROR) << "function " << ns_ << "/" << name_ << ": scaling to " << replicas
                       << " failed: " << status.message() << " (retried while requests wait)";
    }
    if (pending_write_) {
      int next = *pending_write_;
      pending_write_.reset();
      if (next != replicas || !status.ok()) RequestScaleLocked(next, a);
    }
  }
  Run(a);
}

void FunctionState::OnFirstByteForwarded(SteadyTime now) {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    // The session reports once the answer is relayed: a report older than the current cold
    // start belongs to an earlier one (whose record was dropped), not to this one.
    if (!cold_ || now < cold_->start) return;
    FinishColdStartLocked(now, a);
  }
  Run(a);
}

void FunctionState::FinishColdStartLocked(SteadyTime now, Actions& a) {
  const ColdStart& c = *cold_;
  ColdStartRecord r;
  r.ns = ns_;
  r.name = name_;
  r.time = c.wall_start;
  r.total = now - c.start;
  if (c.scale_ack) r.scale_acknowledged = *c.scale_ack - c.start;
  if (c.appeared) r.instance_appeared = *c.appeared - c.start;
  if (c.ready) r.instance_ready = *c.ready - c.start;
  r.first_byte_forwarded = r.total;
  metrics_.cold_starts.Inc();
  metrics_.cold_start_duration.Observe(Seconds(r.total));
  if (r.scale_acknowledged) metrics_.phase_scale_ack.Observe(Seconds(*r.scale_acknowledged));
  if (r.instance_appeared) metrics_.phase_appeared.Observe(Seconds(*r.instance_appeared));
  if (r.instance_ready) metrics_.phase_ready.Observe(Seconds(*r.instance_ready));
  metrics_.phase_first_byte.Observe(Seconds(r.total));
  auto ms = [](const std::optional<Duration>& d) {
    return d ? std::to_string(Millis(*d)) + " ms" : std::string("-");
  };
  if (!c.activated_log.empty()) a.logs.push_back(c.activated_log);
  a.logs.push_back("cold start of " + ns_ + "/" + name_ + ": " + std::to_string(Millis(r.total)) +
                   " ms (scale acknowledged " + ms(r.scale_acknowledged) + ", instance appeared " +
                   ms(r.instance_appeared) + ", ready " + ms(r.instance_ready) +
                   ", first byte forwarded " + std::to_string(Millis(r.total)) + " ms)");
  a.report = std::move(r);
  cold_.reset();
}

void FunctionState::DropColdStartLocked(Actions& a) {
  if (cold_ && !cold_->activated_log.empty()) a.logs.push_back(std::move(cold_->activated_log));
  cold_.reset();
}

void FunctionState::Tick(SteadyTime now) {
  Actions a;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!has_spec_) return;
    const int up = std::max(1, spec_.scale_min);
    if (activating_ && now - activation_started_ > deps_->options.cold_start_timeout) {
      KFAAS_LOG(WARNING) << "function " << ns_ << "/" << name_ << ": no instance ready "
                         << Millis(now - activation_started_) << " ms after scaling up ("
                         << instances_.size() << " instance(s) known, none ready)";
      activating_ = false;
      DropColdStartLocked(a);
    }
    if (activating_ && last_write_failed_ && !write_in_flight_) {
      last_write_failed_ = false;
      RequestScaleLocked(up, a);
    }
    if (!activating_ && usable_.empty() && !waiters_.empty()) {
      MaybeActivateLocked(waiters_.front()->arrival, a);
    }
    if (cold_ && !activating_ && waiters_.empty() && cold_->ready &&
        now - *cold_->ready > deps_->options.cold_start_timeout) {
      DropColdStartLocked(a);  // nobody was left to forward
    }
    DispatchLocked(a);  // slots freed by other functions under the cluster-wide limit
    IdleInput in;
    in.now = now;
    in.last_activity = SteadyTime(Duration(last_activity_.load()));
    in.in_flight = in_flight_.load();
    in.queued = queued_.load();
    in.activating = activating_ || write_in_flight_;
    in.idle_window = std::chrono::seconds(spec_.idle_window_seconds);
    in.scale_min = spec_.scale_min;
    in.observed_replicas = deps_->scaler->CurrentReplicas(ns_, name_);
    in.last_written = last_written_;
    in.ready_instances = static_cast<int>(usable_.size());
    if (last_written_ && *last_written_ <= spec_.scale_min && !in.observed_replicas) {
      in.observed_replicas = last_written_;
    }
    if (std::optional<int> target = DecideIdleScale(in)) {
      if (*target == 0) at_zero_.store(true);
      // Re-check after publishing at_zero_: an arrival racing with us either is seen here or
      // sees at_zero_ and scales back up.
      if (in_flight_.load() == 0 && queued_.load() == 0) {
        KFAAS_LOG(INFO) << "function " << ns_ << "/" << name_ << " idle for "
                        << Millis(now - in.last_activity) << " ms: scaling to " << *target;
        RequestScaleLocked(*target, a);
      } else {
        at_zero_.store(false);
      }
    }
  }
  Run(a);
}

FunctionStats FunctionState::Stats() const {
  FunctionStats s;
  s.ns = ns_;
  s.name = name_;
  s.in_flight = in_flight_.load();
  s.queued = queued_.load();
  s.arrivals = arrivals_.load();
  s.completions = completions_.load();
  std::lock_guard<std::mutex> l(mu_);
  s.ready_instances = static_cast<int>(usable_.size());
  s.instances = static_cast<int>(instances_.size());
  s.activating = activating_;
  return s;
}

}  // namespace kfaas::activator

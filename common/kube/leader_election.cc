#include "common/kube/leader_election.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "common/base/json_fields.h"
#include "common/base/log.h"
#include "common/base/time_format.h"

namespace kfaas::kube {
namespace {

constexpr double kJitterFactor = 1.2;  // client-go's JitterFactor for the acquire loop

int64_t Seconds(Duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }

using json::Str;

// The part of a Lease spec that leader election reads and writes.
struct Record {
  std::string holder;
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int64_t transitions = 0;

  static Record FromLease(const Json& lease) {
    Record r;
    auto spec = lease.find("spec");
    if (spec == lease.end() || !spec->is_object()) return r;
    r.holder = Str(*spec, "holderIdentity");
    if (auto d = spec->find("leaseDurationSeconds"); d != spec->end() && d->is_number_integer()) {
      r.lease_duration_seconds = d->get<int64_t>();
    }
    r.acquire_time = Str(*spec, "acquireTime");
    r.renew_time = Str(*spec, "renewTime");
    if (auto t = spec->find("leaseTransitions"); t != spec->end() && t->is_number_integer()) {
      r.transitions = t->get<int64_t>();
    }
    return r;
  }

  Json ToSpec() const {
    Json spec = {{"leaseDurationSeconds", lease_duration_seconds},
                 {"acquireTime", acquire_time},
                 {"renewTime", renew_time},
                 {"leaseTransitions", transitions}};
    spec["holderIdentity"] = holder.empty() ? Json(nullptr) : Json(holder);
    return spec;
  }

  bool operator==(const Record& o) const {
    return holder == o.holder && lease_duration_seconds == o.lease_duration_seconds &&
           acquire_time == o.acquire_time && renew_time == o.renew_time &&
           transitions == o.transitions;
  }
};

}  // namespace

class LeaderElector::Impl {
 public:
  Impl(std::shared_ptr<Client> client, LeaderElectionConfig config, Clock& clock)
      : client_(std::move(client)), config_(std::move(config)), clock_(clock) {
    absl::Status s = ValidateLeaderElectionConfig(config_);
    KFAAS_CHECK(s.ok()) << s.message();
  }

  ~Impl() { Stop(); }

  void Start() {
    std::lock_guard<std::mutex> l(mu_);
    if (started_ || stopping_) return;
    started_ = true;
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

  bool IsLeader() const {
    std::lock_guard<std::mutex> l(mu_);
    // Past the renew deadline without a renewal we no longer claim leadership, even if a hung
    // request has not returned yet.
    return leading_ && clock_.Now() - last_renew_ < config_.renew_deadline;
  }

  std::string CurrentLeader() const {
    std::lock_guard<std::mutex> l(mu_);
    return observed_.holder;
  }

 private:
  bool Stopping() {
    std::lock_guard<std::mutex> l(mu_);
    return stopping_;
  }

  // Waits `d` on the clock; false if stopped meanwhile.
  bool Sleep(Duration d) {
    std::unique_lock<std::mutex> l(mu_);
    SteadyTime deadline = clock_.Now() + d;
    while (!stopping_ && clock_.Now() < deadline) clock_.WaitUntil(cv_, l, deadline);
    return !stopping_;
  }

  Duration Jitter(Duration d) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    double f = std::uniform_real_distribution<double>(0.0, kJitterFactor)(rng);
    return d + std::chrono::duration_cast<Duration>(d * f);
  }

  void Run() {
    while (!Stopping()) {
      // Candidate: try every retry_period (jittered) until we hold the lease.
      if (!TryAcquireOrRenew()) {
        if (!Sleep(Jitter(config_.retry_period))) break;
        continue;
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        leading_ = true;
        last_renew_ = clock_.Now();
      }
      KFAAS_LOG(INFO) << "leader election: " << config_.identity << " acquired lease "
                      << config_.lease_namespace << "/" << config_.lease_name;
      if (config_.on_started_leading) config_.on_started_leading();
      // Leader: renew every retry_period; give up after renew_deadline without success.
      bool lost = false;
      while (Sleep(config_.retry_period)) {
        if (TryAcquireOrRenew()) {
          std::lock_guard<std::mutex> l(mu_);
          last_renew_ = clock_.Now();
          continue;
        }
        SteadyTime last;
        {
          std::lock_guard<std::mutex> l(mu_);
          last = last_renew_;
        }
        if (clock_.Now() - last >= config_.renew_deadline) {
          lost = true;
          break;
        }
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        leading_ = false;
      }
      if (!lost) {
        if (config_.release_on_stop) Release();
        if (config_.on_stopped_leading) config_.on_stopped_leading();
        break;
      }
      KFAAS_LOG(WARNING) << "leader election: " << config_.identity << " lost lease "
                         << config_.lease_namespace << "/" << config_.lease_name
                         << " (no renewal within " << Seconds(config_.renew_deadline) << "s)";
      if (config_.on_stopped_leading) config_.on_stopped_leading();
    }
  }

  // Updates observed_ (and the time we saw it change) from a lease read from the server.
  void Observe(const Json& lease) {
    Record r = Record::FromLease(lease);
    std::string new_leader;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!have_observed_ || !(r == observed_)) {
        observed_ = r;
        observed_time_ = clock_.Now();
        have_observed_ = true;
      }
      lease_ = lease;
      if (r.holder != reported_leader_) {
        reported_leader_ = r.holder;
        new_leader = r.holder;
      }
    }
    if (!new_leader.empty() && config_.on_new_leader) config_.on_new_leader(new_leader);
  }

  bool TryAcquireOrRenew() {
    const Resource& res = resources::kLeases;
    std::string now = FormatRfc3339Micro(clock_.WallNow());
    Record desired;
    desired.holder = config_.identity;
    desired.lease_duration_seconds = Seconds(config_.lease_duration);
    desired.acquire_time = now;
    desired.renew_time = now;

    auto got = client_->Get(res, config_.lease_namespace, config_.lease_name);
    if (!got.ok()) {
      if (!absl::IsNotFound(got.status())) {
        KFAAS_LOG(WARNING) << "leader election: reading lease " << config_.lease_namespace << "/"
                           << config_.lease_name << ": " << got.status().message();
        return false;
      }
      Json lease = {
          {"apiVersion", res.ApiVersion()},
          {"kind", res.kind},
          {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
          {"spec", desired.ToSpec()}};
      auto created = client_->Create(res, config_.lease_namespace, lease);
      if (!created.ok()) {
        KFAAS_VLOG(1) << "leader election: creating lease: " << created.status().message();
        return false;
      }
      Observe(*created);
      return true;
    }

    Observe(*got);
    Record old;
    SteadyTime observed_time;
    bool leading;
    {
      std::lock_guard<std::mutex> l(mu_);
      old = observed_;
      observed_time = observed_time_;
      leading = leading_;
    }
    if (!old.holder.empty() && old.holder != config_.identity &&
        observed_time + config_.lease_duration > clock_.Now()) {
      return false;  // held by another candidate and not expired
    }
    if (old.holder == config_.identity && leading) {
      desired.acquire_time = old.acquire_time;
      desired.transitions = old.transitions;
    } else {
      desired.transitions = old.transitions + 1;
    }
    Json lease = *got;
    lease["spec"] = desired.ToSpec();  // keeps metadata.resourceVersion: a conditional update
    auto updated = client_->Update(res, config_.lease_namespace, lease);
    if (!updated.ok()) {
      KFAAS_VLOG(1) << "leader election: updating lease: " << updated.status().message();
      return false;
    }
    Observe(*updated);
    return true;
  }

  void Release() {
    Json lease;
    Record old;
    {
      std::lock_guard<std::mutex> l(mu_);
      lease = lease_;
      old = observed_;
    }
    if (lease.is_null() || old.holder != config_.identity) return;
    std::string now = FormatRfc3339Micro(clock_.WallNow());
    Record released;
    released.lease_duration_seconds = 1;
    released.acquire_time = now;
    released.renew_time = now;
    released.transitions = old.transitions;
    lease["spec"] = released.ToSpec();
    auto updated = client_->Update(resources::kLeases, config_.lease_namespace, lease);
    if (!updated.ok()) {
      KFAAS_LOG(WARNING) << "leader election: releasing lease: " << updated.status().message();
      return;
    }
    Observe(*updated);
    KFAAS_LOG(INFO) << "leader election: " << config_.identity << " released lease "
                    << config_.lease_namespace << "/" << config_.lease_name;
  }

  std::shared_ptr<Client> client_;
  const LeaderElectionConfig config_;
  Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool leading_ = false;
  SteadyTime last_renew_{};
  bool have_observed_ = false;
  Record observed_;
  SteadyTime observed_time_{};
  Json lease_;
  std::string reported_leader_;
  std::thread thread_;
};

absl::Status ValidateLeaderElectionConfig(const LeaderElectionConfig& c) {
  if (c.lease_name.empty())
    return absl::InvalidArgumentError("leader election: lease_name is empty");
  if (c.identity.empty()) return absl::InvalidArgumentError("leader election: identity is empty");
  if (c.lease_duration <= c.renew_deadline) {
    return absl::InvalidArgumentError(
        "leader election: lease_duration must be greater than renew_deadline");
  }
  if (c.renew_deadline <= std::chrono::duration_cast<Duration>(c.retry_period * kJitterFactor)) {
    return absl::InvalidArgumentError(
        "leader election: renew_deadline must be greater than 1.2 * retry_period");
  }
  if (c.lease_duration < std::chrono::seconds(1)) {
    return absl::InvalidArgumentError("leader election: lease_duration must be at least 1s");
  }
  return absl::OkStatus();
}

LeaderElector::LeaderElector(std::shared_ptr<Client> client, LeaderElectionConfig config,
                             Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(client), std::move(config), clock)) {}
LeaderElector::~LeaderElector() = default;
void LeaderElector::Start() { impl_->Start(); }
void LeaderElector::Stop() { impl_->Stop(); }
bool LeaderElector::IsLeader() const { return impl_->IsLeader(); }
std::string LeaderElector::CurrentLeader() const { return impl_->CurrentLeader(); }

}  // namespace kfaas::kube

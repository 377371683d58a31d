// Fakes of the loop's cluster-facing interfaces.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "autoscaler/loop/interfaces.h"
#include "kfaas/v1/stats.pb.h"

namespace kfaas::autoscaler::testing {

// Functions and Deployments; writes through FakeWriter land here at once.
class FakeTargets : public TargetLister {
 public:
  void Set(const std::string& ns, const std::string& name, int replicas, int ready,
           ScaleBounds bounds = {}, std::string autoscaler = kAutoscalerKfaas) {
    std::lock_guard<std::mutex> l(mu_);
    Target& t = targets_[ns + "/" + name];
    t.scale.ns = ns;
    t.scale.name = name;
    t.scale.bounds = bounds;
    t.scale.autoscaler = autoscaler;
    t.has_deployment = true;
    t.replicas = replicas;
    t.ready_replicas = ready;
    t.resource_version = std::to_string(++rv_);
  }
  void SetReplicas(const std::string& ns, const std::string& name, int replicas, int ready) {
    std::lock_guard<std::mutex> l(mu_);
    Target& t = targets_.at(ns + "/" + name);
    t.replicas = replicas;
    t.ready_replicas = ready;
    t.resource_version = std::to_string(++rv_);
  }
  Target Get(const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    return targets_.at(ns + "/" + name);
  }
  std::vector<Target> List() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Target> out;
    for (const auto& [k, t] : targets_) out.push_back(t);
    return out;
  }
  bool HasSynced() override { return true; }

 private:
  std::mutex mu_;
  std::map<std::string, Target> targets_;
  int rv_ = 0;
};

class FakeWriter : public ScaleWriter {
 public:
  explicit FakeWriter(FakeTargets* targets, bool ready_at_once = true)
      : targets_(targets), ready_at_once_(ready_at_once) {}
  struct Write {
    std::string ns, name;
    int replicas;
    std::string resource_version;
  };
  absl::Status Scale(const std::string& ns, const std::string& name, int replicas,
                     const std::string& resource_version) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      writes_.push_back({ns, name, replicas, resource_version});
      if (!fail_.ok()) return fail_;
    }
    Target t = targets_->Get(ns, name);
    targets_->SetReplicas(ns, name, replicas,
                          ready_at_once_ ? replicas : std::min(t.ready_replicas, replicas));
    return absl::OkStatus();
  }
  std::vector<Write> writes() {
    std::lock_guard<std::mutex> l(mu_);
    return writes_;
  }
  void Fail(absl::Status s) {
    std::lock_guard<std::mutex> l(mu_);
    fail_ = std::move(s);
  }

 private:
  FakeTargets* targets_;
  bool ready_at_once_;
  std::mutex mu_;
  std::vector<Write> writes_;
  absl::Status fail_;
};

class FakeEvents : public EventSink {
 public:
  struct Ev {
    std::string key, type, reason, message;
  };
  void Event(const Target& t, std::string_view type, std::string_view reason,
             std::string_view message) override {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(
        {t.scale.Key(), std::string(type), std::string(reason), std::string(message)});
  }
  std::vector<Ev> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<Ev> events_;
};

// A report from one activator: {"ns/name", in_flight, queued} per function.
struct Level {
  std::string key;
  int64_t in_flight;
  int64_t queued = 0;
};
inline kfaas::v1::StatsReport Report(const std::string& activator, std::vector<Level> levels) {
  kfaas::v1::StatsReport r;
  r.set_activator_id(activator);
  for (const auto& l : levels) {
    auto* f = r.add_functions();
    const size_t slash = l.key.find('/');
    f->set_namespace_(l.key.substr(0, slash));
    f->set_name(l.key.substr(slash + 1));
    f->set_in_flight(l.in_flight);
    f->set_queued(l.queued);
  }
  return r;
}

}  // namespace kfaas::autoscaler::testing

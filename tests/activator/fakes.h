// Fakes for the activator core's seams (unit tests only).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "activator/core/function_state.h"
#include "activator/core/seams.h"

namespace kfaas::activator::testing {

// Records writes; acknowledges them at once unless `manual_ack` (then call Ack()).
class FakeScaler : public Scaler {
 public:
  struct Write {
    std::string ns, name;
    int replicas;
  };
  void ScaleTo(const std::string& ns, const std::string& name, int replicas,
               std::function<void(absl::Status)> done) override {
    std::function<void(absl::Status)> d;
    {
      std::lock_guard<std::mutex> l(mu);
      writes.push_back({ns, name, replicas});
      replicas_[ns + "/" + name] = replicas;
      if (manual_ack) {
        pending.push_back(std::move(done));
        return;
      }
    }
    if (on_write) on_write(ns, name, replicas);
    done(next_status);
  }
  std::optional<int> CurrentReplicas(const std::string& ns, const std::string& name) override {
    std::lock_guard<std::mutex> l(mu);
    if (!report_replicas) return std::nullopt;
    auto it = replicas_.find(ns + "/" + name);
    if (it == replicas_.end()) return std::nullopt;
    return it->second;
  }
  void Ack(absl::Status st = absl::OkStatus()) {
    std::function<void(absl::Status)> d;
    {
      std::lock_guard<std::mutex> l(mu);
      d = std::move(pending.front());
      pending.erase(pending.begin());
    }
    d(st);
  }
  void SetReplicas(const std::string& key, int n) {
    std::lock_guard<std::mutex> l(mu);
    replicas_[key] = n;
  }
  std::vector<Write> Writes() {
    std::lock_guard<std::mutex> l(mu);
    return writes;
  }

  std::mutex mu;
  std::vector<Write> writes;
  std::vector<std::function<void(absl::Status)>> pending;
  bool manual_ack = false;
  bool report_replicas = true;
  absl::Status next_status;
  std::function<void(const std::string&, const std::string&, int)> on_write;

 private:
  std::map<std::string, int> replicas_;
};

class FakeReporter : public ColdStartReporter {
 public:
  void Report(const ColdStartRecord& r) override {
    std::lock_guard<std::mutex> l(mu);
    records.push_back(r);
  }
  std::vector<ColdStartRecord> Records() {
    std::lock_guard<std::mutex> l(mu);
    return records;
  }
  std::mutex mu;
  std::vector<ColdStartRecord> records;
};

class FakeProber : public Prober {
 public:
  void Probe(std::shared_ptr<FunctionState> fn, std::shared_ptr<Instance> inst) override {
    std::lock_guard<std::mutex> l(mu);
    probes.push_back({std::move(fn), std::move(inst)});
  }
  std::mutex mu;
  std::vector<std::pair<std::shared_ptr<FunctionState>, std::shared_ptr<Instance>>> probes;
};

}  // namespace kfaas::activator::testing

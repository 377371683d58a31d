// Running without a cluster (benchmarks, demos): Functions and EndpointSlices from a file, and a
// Scaler that only logs. The file is YAML or JSON: documents that are objects of kind Function
// or EndpointSlice, or a List of them.
#pragma once

#include <string>
#include <vector>

#include "activator/core/seams.h"

namespace kfaas::activator {

class FileUpdateSource : public UpdateSource {
 public:
  explicit FileUpdateSource(std::string path) : path_(std::move(path)) {}
  // Reads and checks the file (call before Start to fail early with a clear message).
  absl::Status Load();
  void Start(UpdateSink* sink) override;
  void Stop() override {}
  bool HasSynced() const override { return started_; }

 private:
  std::string path_;
  std::vector<nlohmann::json> objects_;
  bool started_ = false;
};

class LogScaler : public Scaler {
 public:
  void ScaleTo(const std::string& ns, const std::string& name, int replicas,
               std::function<void(absl::Status)> done) override;
  std::optional<int> CurrentReplicas(const std::string&, const std::string&) override {
    return std::nullopt;
  }
};

}  // namespace kfaas::activator

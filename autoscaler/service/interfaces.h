// The narrow interfaces the activator-side gRPC services need from the activator. The
// activator's main implements them over its core (activator::Registry) and wires them into
// ActivatorScalerServer (autoscaler/service/activator_scaler_server.h). Tests use fakes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "autoscaler/core/function_scale.h"

namespace kfaas::autoscaler {

// One function's counters in one activator.
struct FunctionCounters {
  std::string ns;
  std::string name;
  int64_t in_flight = 0;  // being served by an instance now
  int64_t queued = 0;     // waiting in the activator for an instance now
  // Running totals since the activator started (never decrease); the services turn them into
  // per-interval figures and into "time of the last arrival".
  int64_t arrivals_total = 0;
  int64_t completions_total = 0;
  int ready_instances = 0;  // informational
};

// The activator's per-function counters. Thread-safe.
class StatsSource {
 public:
  virtual ~StatsSource() = default;
  // Every function the activator knows, now. Called every ~50 ms by StatsHub, and must be
  // cheap (no I/O; a lock per function at most).
  virtual std::vector<FunctionCounters> Snapshot() = 0;
};

// The Functions' scale settings (spec.scale). Thread-safe.
class FunctionInfo {
 public:
  virtual ~FunctionInfo() = default;
  // nullopt when the activator does not know the function.
  virtual std::optional<FunctionScale> Lookup(const std::string& ns, const std::string& name) = 0;
};

// The other activators (not this one), for KEDA answers that cover every replica.
class PeerSource {
 public:
  virtual ~PeerSource() = default;
  // "host:port" of each peer's gRPC port (the one serving kfaas.v1.Stats). Thread-safe.
  virtual std::vector<std::string> Peers() = 0;
};

// A PeerSource over a fixed list (e.g. a flag).
class StaticPeers : public PeerSource {
 public:
  explicit StaticPeers(std::vector<std::string> peers) : peers_(std::move(peers)) {}
  std::vector<std::string> Peers() override { return peers_; }

 private:
  std::vector<std::string> peers_;
};

}  // namespace kfaas::autoscaler

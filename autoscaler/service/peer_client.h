// PeerClient: asks other activators for their own figures (kfaas.v1.Stats/GetSnapshot), all in
// parallel and within a short deadline, so an answer to KEDA covers every activator replica.
// A peer that does not answer in time (down, partitioned, restarting) is left out of the answer
// and logged (at most once per peer per 30 s) - it never fails or stalls the answer (the KEDA
// HTTP add-on's #1667).
//
// Thread-safe. Channels are created once per address and reused.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "common/base/clock.h"
#include "kfaas/v1/stats.pb.h"

namespace kfaas::metrics {
class Registry;
template <typename T>
class Family;
class Counter;
}  // namespace kfaas::metrics

namespace kfaas::autoscaler {

struct PeerAnswers {
  std::vector<kfaas::v1::StatsReport> reports;  // one per peer that answered
  std::vector<std::string> failed;              // peers left out
};

class PeerClient {
 public:
  // `deadline`: how long a query waits for the slowest peer. `registry` (optional) gets
  // kfaas_activator_peer_query_failures_total{peer}.
  explicit PeerClient(Duration deadline = std::chrono::milliseconds(300),
                      metrics::Registry* registry = nullptr);
  ~PeerClient();

  // GetSnapshot on every address for `functions` ("namespace/name"; empty = all).
  PeerAnswers Query(const std::vector<std::string>& addresses,
                    const std::vector<std::string>& functions);

 private:
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& address);
  void LogFailure(const std::string& address, const std::string& error);

  const Duration deadline_;
  metrics::Family<metrics::Counter>* failures_ = nullptr;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_logged_;
};

}  // namespace kfaas::autoscaler

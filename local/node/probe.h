// Readiness probes of local pods: an HTTP GET (readinessProbe.httpGet) or a TCP connect (any
// other probe, or none) to the pod's port on 127.0.0.1, run asynchronously on an io_context.
//
// ProbeSchedule decides when the next probe runs. During start-up (until the first success)
// probes run every `fast_interval` for `fast_window`, then the interval doubles up to the probe's
// periodSeconds: a process that starts in a millisecond is seen ready within about one more.
// After the first success probes run every periodSeconds; failureThreshold consecutive failures
// make the pod not ready, successThreshold successes ready again.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/base/clock.h"

namespace kfaas::node {

using Json = nlohmann::json;

struct ProbeSpec {
  enum class Kind { kTcp, kHttp };
  Kind kind = Kind::kTcp;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  Duration timeout = std::chrono::seconds(1);
  Duration initial_delay{0};
  Duration period = std::chrono::seconds(10);
  int success_threshold = 1;
  int failure_threshold = 3;
};

// From a container's readinessProbe (defaults as the kubelet's: timeoutSeconds 1, periodSeconds
// 10, successThreshold 1, failureThreshold 3). httpGet -> HTTP on the pod's port (its port and
// host fields are ignored: a local pod has one port, on 127.0.0.1); anything else, or no probe,
// -> TCP connect.
ProbeSpec ProbeSpecFromContainer(const Json& container);

// Runs one probe; `done(success, detail)` is called exactly once on the io_context's thread.
// `detail` says why a probe failed ("connection refused", "HTTP 503", "timeout after 1s").
void RunProbe(boost::asio::io_context& io, uint16_t port, const ProbeSpec& spec,
              std::function<void(bool success, std::string detail)> done);

struct ProbeTuning {
  Duration fast_interval = std::chrono::milliseconds(1);
  Duration fast_window = std::chrono::milliseconds(500);
};

// Pure scheduling and threshold logic (no I/O), so it can be tested with a fake clock.
class ProbeSchedule {
 public:
  ProbeSchedule(const ProbeSpec& spec, const ProbeTuning& tuning, SteadyTime started);
  // When the next probe should start, given that the previous one finished at `now`.
  SteadyTime Next(SteadyTime now);
  // Records a result; returns true when the readiness changed (see ready()).
  bool Record(bool success);
  bool ready() const { return ready_; }
  bool ever_ready() const { return ever_ready_; }

 private:
  ProbeSpec spec_;
  ProbeTuning tuning_;
  SteadyTime started_;
  Duration backoff_{0};
  bool ready_ = false;
  bool ever_ready_ = false;
  int successes_ = 0;
  int failures_ = 0;
};

}  // namespace kfaas::node

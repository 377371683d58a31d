// AsioProber: probes instances that are not (yet) ready, directly, on its own thread.
//
// A probe is a TCP connect, or an HTTP GET of the function's readinessPath (2xx/3xx = ready).
// Probes start every `initial` (0.5 ms) and back off by `factor`, at most `fast_interval` (1 ms)
// apart during the first `fast_period` (100 ms: a refused connect on loopback costs
// microseconds, and most instances listen within it), then up to `max_interval`; so a fresh
// instance is used within a millisecond of listening instead of after endpoint propagation.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "activator/core/function_state.h"
#include "activator/core/seams.h"

namespace kfaas::activator::net {

class AsioProber : public Prober {
 public:
  struct Options {
    Duration initial = std::chrono::microseconds(500);
    double factor = 1.3;
    Duration fast_interval = std::chrono::milliseconds(1);
    Duration fast_period = std::chrono::milliseconds(100);
    Duration max_interval = std::chrono::seconds(1);
    Duration timeout = std::chrono::milliseconds(300);
  };
  AsioProber() : AsioProber(Options{}) {}
  explicit AsioProber(Options opts);
  ~AsioProber() override;  // stops and joins

  void Probe(std::shared_ptr<FunctionState> fn, std::shared_ptr<Instance> instance) override;
  int64_t probes_sent() const { return probes_.load(); }

 private:
  Options opts_;
  boost::asio::io_context ioc_{1};
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<int64_t> probes_{0};
  friend struct ProberAccess;
};

}  // namespace kfaas::activator::net

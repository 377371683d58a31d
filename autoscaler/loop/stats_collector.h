// StatsCollector: keeps one kfaas.v1.Stats/WatchStats stream open to every activator and hands
// each report to a StatsSink (the ScalingLoop).
//
// Each stream runs on its own thread, so an unreachable or hung activator never stalls the
// others. A stream that fails reconnects with exponential backoff (100 ms doubling to 5 s,
// reset once a stream delivered reports); a stream silent for `silence_timeout` is cancelled
// and reconnected (a hung peer). SetAddresses() adds and removes streams as activators come
// and go (flag list and/or EndpointSlices).
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "autoscaler/loop/interfaces.h"
#include "common/base/clock.h"

namespace kfaas::metrics {
class Registry;
class Gauge;
class Counter;
template <typename T>
class Family;
}  // namespace kfaas::metrics

namespace kfaas::autoscaler {

struct CollectorOptions {
  std::string subscriber = "kfaas-autoscaler";         // sent to the activators, for their logs
  Duration interval = std::chrono::milliseconds(200);  // report interval asked for
  Duration initial_backoff = std::chrono::milliseconds(100);
  Duration max_backoff = std::chrono::seconds(5);
  Duration silence_timeout = std::chrono::seconds(3);
};

class StatsCollector {
 public:
  // `registry` (optional) gets kfaas_autoscaler_activators_connected and
  // kfaas_autoscaler_stats_stream_failures_total.
  StatsCollector(StatsSink& sink, CollectorOptions opts = {},
                 metrics::Registry* registry = nullptr);
  ~StatsCollector();  // Stop()

  // Streams to exactly these addresses from now on (duplicates ignored).
  void SetAddresses(const std::vector<std::string>& addresses);
  // Ends every stream (joins their threads).
  void Stop();
  // Addresses whose stream is delivering reports now.
  std::vector<std::string> Connected() const;

 private:
  class Stream;
  void Watchdog();

  StatsSink& sink_;
  const CollectorOptions opts_;
  metrics::Gauge* connected_gauge_ = nullptr;
  metrics::Family<metrics::Counter>* failures_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::unique_ptr<Stream>> streams_;
  bool watchdog_stop_ = false;
  std::thread watchdog_;
};

}  // namespace kfaas::autoscaler

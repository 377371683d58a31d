// The activator's Prometheus metrics. Per-function children are created once per function
// (FunctionMetrics) and kept, so the data path never looks a label set up.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "common/metrics/metrics.h"

namespace kfaas::activator {

class ActivatorMetrics;

class FunctionMetrics {
 public:
  FunctionMetrics(ActivatorMetrics* m, std::string ns, std::string name);
  // requests_total{code}: O(1) after the first use of a code.
  metrics::Counter& Requests(int code);
  metrics::Histogram& duration;  // kfaas_function_duration_seconds
  metrics::Counter& cold_starts;
  metrics::Histogram& cold_start_duration;
  metrics::Histogram& phase_scale_ack;
  metrics::Histogram& phase_appeared;
  metrics::Histogram& phase_ready;
  metrics::Histogram& phase_first_byte;
  metrics::Counter& throttled;
  metrics::Counter& buffer_rejected;
  metrics::Counter& timeouts;

 private:
  ActivatorMetrics* m_;
  std::string ns_, name_;
  std::array<std::atomic<metrics::Counter*>, 600> codes_{};
};

class ActivatorMetrics {
 public:
  explicit ActivatorMetrics(metrics::Registry& registry);
  metrics::Registry& registry;
  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Histogram>& duration;
  metrics::Family<metrics::Counter>& cold_starts;
  metrics::Family<metrics::Histogram>& cold_start_duration;
  metrics::Family<metrics::Histogram>& cold_start_phase;
  metrics::Family<metrics::Counter>& throttled;
  metrics::Family<metrics::Counter>& buffer_rejected;
  metrics::Family<metrics::Counter>& timeouts;
  metrics::Family<metrics::Counter>& scale_writes;
  // Requests the activator answered itself before a function was known (404, 400...).
  metrics::Counter& Unrouted(int code);

 private:
  std::array<std::atomic<metrics::Counter*>, 600> unrouted_{};
};

}  // namespace kfaas::activator

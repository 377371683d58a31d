#include "activator/core/activator_metrics.h"

namespace kfaas::activator {

namespace {
const std::vector<std::string> kFn = {"namespace", "function"};

metrics::Counter& CachedCode(std::array<std::atomic<metrics::Counter*>, 600>& cache,
                             metrics::Family<metrics::Counter>& family,
                             const std::vector<std::string>& prefix, int code) {
  if (code < 100 || code >= 600) code = 599;
  metrics::Counter* c = cache[code].load(std::memory_order_acquire);
  if (c) return *c;
  std::vector<std::string> labels = prefix;
  labels.push_back(std::to_string(code));
  c = &family.WithLabels(labels);
  cache[code].store(c, std::memory_order_release);
  return *c;
}
}  // namespace

ActivatorMetrics::ActivatorMetrics(metrics::Registry& r)
    : registry(r),
      requests(r.AddCounter("kfaas_activator_requests_total",
                            "Requests handled by the activator, by function and response code.",
                            {"namespace", "function", "code"})),
      duration(r.AddHistogram("kfaas_function_duration_seconds",
                              "Invocation duration as forwarded to an instance (count: "
                              "invocations, sum: billable compute seconds).",
                              kFn)),
      cold_starts(r.AddCounter("kfaas_cold_starts_total", "Cold starts (scale from zero).", kFn)),
      cold_start_duration(r.AddHistogram(
          "kfaas_cold_start_duration_seconds",
          "Cold start duration, from the first request's arrival to its first byte forwarded.",
          kFn)),
      cold_start_phase(r.AddHistogram(
          "kfaas_cold_start_phase_seconds",
          "Time from a cold start's first request to each phase (scale_acknowledged, "
          "instance_appeared, instance_ready, first_byte_forwarded).",
          {"namespace", "function", "phase"})),
      throttled(r.AddCounter("kfaas_activator_throttled_requests_total",
                             "Requests refused with 429 over the cluster-wide concurrency limit.",
                             kFn)),
      buffer_rejected(r.AddCounter("kfaas_activator_buffer_rejected_requests_total",
                                   "Requests refused with 503 because the buffer was full.", kFn)),
      timeouts(r.AddCounter("kfaas_activator_timeouts_total",
                            "Requests answered 504 (invocation or cold-start timeout).", kFn)),
      scale_writes(r.AddCounter("kfaas_activator_scale_writes_total",
                                "Writes of a Deployment's /scale by the activator.",
                                {"namespace", "function", "result"})) {}

metrics::Counter& ActivatorMetrics::Unrouted(int code) {
  static const std::vector<std::string> kEmpty = {"", ""};
  return CachedCode(unrouted_, requests, kEmpty, code);
}

FunctionMetrics::FunctionMetrics(ActivatorMetrics* m, std::string ns, std::string name)
    : duration(m->duration.WithLabels({ns, name})),
      cold_starts(m->cold_starts.WithLabels({ns, name})),
      cold_start_duration(m->cold_start_duration.WithLabels({ns, name})),
      phase_scale_ack(m->cold_start_phase.WithLabels({ns, name, "scale_acknowledged"})),
      phase_appeared(m->cold_start_phase.WithLabels({ns, name, "instance_appeared"})),
      phase_ready(m->cold_start_phase.WithLabels({ns, name, "instance_ready"})),
      phase_first_byte(m->cold_start_phase.WithLabels({ns, name, "first_byte_forwarded"})),
      throttled(m->throttled.WithLabels({ns, name})),
      buffer_rejected(m->buffer_rejected.WithLabels({ns, name})),
      timeouts(m->timeouts.WithLabels({ns, name})),
      m_(m),
      ns_(std::move(ns)),
      name_(std::move(name)) {}

metrics::Counter& FunctionMetrics::Requests(int code) {
  if (code >= 100 && code < 600) {
    if (metrics::Counter* c = codes_[code].load(std::memory_order_acquire)) return *c;
  }
  return CachedCode(codes_, m_->requests, {ns_, name_}, code);
}

}  // namespace kfaas::activator

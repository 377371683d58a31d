#include "autoscaler/activator/registry_adapter.h"

namespace kfaas::autoscaler {

std::vector<FunctionCounters> RegistryStatsSource::Snapshot() {
  std::vector<FunctionCounters> out;
  for (const activator::FunctionStats& s : registry_.Stats()) {
    out.push_back({.ns = s.ns,
                   .name = s.name,
                   .in_flight = s.in_flight,
                   .queued = s.queued,
                   .arrivals_total = s.arrivals,
                   .completions_total = s.completions,
                   .ready_instances = s.ready_instances});
  }
  return out;
}

std::optional<FunctionScale> RegistryFunctionInfo::Lookup(const std::string& ns,
                                                          const std::string& name) {
  std::shared_ptr<activator::FunctionState> fn = registry_.Find(ns, name);
  if (!fn || !fn->HasSpec()) return std::nullopt;
  const activator::FunctionSpec spec = fn->spec();
  FunctionScale out;
  out.ns = ns;
  out.name = name;
  out.bounds = {.min = spec.scale_min, .max = spec.scale_max, .target = spec.scale_target};
  out.idle_window_seconds = spec.idle_window_seconds;
  return out;
}

}  // namespace kfaas::autoscaler

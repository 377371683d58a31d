#include "activator/core/idle.h"

namespace kfaas::activator {

std::optional<int> DecideIdleScale(const IdleInput& in) {
  if (in.in_flight > 0 || in.queued > 0 || in.activating) return std::nullopt;
  if (in.now - in.last_activity < in.idle_window) return std::nullopt;
  int current = in.observed_replicas  ? *in.observed_replicas
                : in.last_written     ? *in.last_written
                                      : in.ready_instances;
  if (current <= in.scale_min) return std::nullopt;
  return in.scale_min;
}

}  // namespace kfaas::activator

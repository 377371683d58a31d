// The scale-to-zero decision, a pure function of the function's activity and the time.
#pragma once

#include <optional>

#include "common/base/clock.h"

namespace kfaas::activator {

struct IdleInput {
  SteadyTime now;
  SteadyTime last_activity;  // the last arrival or completion
  int64_t in_flight = 0;
  int64_t queued = 0;
  bool activating = false;  // a scale-up is under way
  Duration idle_window;
  int scale_min = 0;
  std::optional<int> observed_replicas;  // the Deployment's spec.replicas, when known
  std::optional<int> last_written;       // the activator's own last write, when any
  int ready_instances = 0;
};

// Returns the replica count to scale to (scale.min), or nullopt to leave it alone. Never
// scales down with anything in flight or queued, while activating, or before the window.
std::optional<int> DecideIdleScale(const IdleInput& in);

}  // namespace kfaas::activator

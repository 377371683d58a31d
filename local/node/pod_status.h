// The status a local pod publishes, built from the node agent's view of it (pure functions).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base/clock.h"

namespace kfaas::node {

using Json = nlohmann::json;

struct TerminatedState {
  int exit_code = 0;
  int signal = 0;
  std::string reason;  // "Completed" (exit 0), "Error", "StartError", "OOMKilled"...
  std::string message;
  WallTime started_at{};
  WallTime finished_at{};
  std::string container_id;
};

struct ContainerView {
  std::string name;
  std::string image;
  enum class State { kWaiting, kRunning, kTerminated };
  State state = State::kWaiting;
  std::string waiting_reason = "ContainerCreating";  // kWaiting
  std::string waiting_message;
  WallTime running_since{};                        // kRunning
  TerminatedState terminated;                      // kTerminated
  std::optional<TerminatedState> last_terminated;  // lastState
  std::string container_id;                        // "process://<pid>" while it runs
  bool ready = false;
  bool started = false;
  int restart_count = 0;
};

struct PodView {
  std::string phase = "Pending";  // Pending, Running, Succeeded, Failed
  std::string reason, message;    // pod-level (e.g. for a pod that cannot run at all)
  std::string host_ip = "127.0.0.1";
  bool has_ip = false;  // podIP is set once a process was started
  WallTime start_time{};
  WallTime scheduled_at{};
  WallTime initialized_at{};
  WallTime ready_changed_at{};
  bool ready = false;
  std::string not_ready_reason = "ContainersNotReady";
  std::string qos_class = "BestEffort";
  std::vector<ContainerView> containers;
};

// The complete pod status object (phase, conditions PodScheduled/Initialized/ContainersReady/
// Ready, hostIP, podIP(s), startTime, qosClass, containerStatuses).
Json MakePodStatus(const PodView& view);

// BestEffort / Burstable / Guaranteed from a pod spec's resources, as the API server computes.
std::string QosClass(const Json& pod_spec);

// "2s" / "1m20s": the kubelet's duration text in back-off messages.
std::string ShortDuration(Duration d);

}  // namespace kfaas::node

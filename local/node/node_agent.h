// NodeAgent: kfaas-local's kubelet. Runs every Pod as a local process and publishes its status.
//
// For each pod it
//   - allocates a port on 127.0.0.1 (PortAllocator), recorded on the pod as the annotation
//     `local.kfaas.dev/port` and passed to the process as $PORT; a pod created by kfaas-local's
//     Deployment controller already carries a port reserved for it (ReservePort), so its
//     endpoint is published (not ready) while its process starts;
//   - runs the first container's command + args (command[0] resolved by ResolveCommand against
//     the node's bin dirs, then PATH) with the container's env, HOSTNAME=<pod> and PORT, its
//     stdout/stderr appended to <logs_dir>/<namespace>_<pod>_<container>.log;
//   - probes readiness (probe.h) every millisecond during start-up, and writes the status
//     (phase, conditions, containerStatuses, podIP 127.0.0.1) as soon as anything changes;
//   - restarts exited processes per restartPolicy with the kubelet's back-off (first restart at
//     once, then `backoff_initial` doubling to `backoff_max`; CrashLoopBackOff meanwhile);
//   - on deletion (deletionTimestamp) marks the pod not ready, sends SIGTERM to the process
//     group, SIGKILL after the grace period, then removes the pod object.
// A pod without a command stays Pending with its container waiting, reason
// CreateContainerConfigError: "no command: kfaas-local runs processes, set spec.command".
//
// Threading: one event-loop thread owns all pod state, spawns every process (so
// PR_SET_PDEATHSIG ties children to it), runs the probes and watches exits through pidfds. API
// writes go through a PodWriter thread. OnPodUpsert/OnPodDelete may be called from any thread
// (usually a pod informer's handlers).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "common/base/clock.h"
#include "common/kube/client.h"
#include "local/node/probe.h"

namespace kfaas::metrics {
class Registry;
}

namespace kfaas::node {

// The pod annotation carrying the local port of the pod's process.
inline constexpr char kPortAnnotation[] = "local.kfaas.dev/port";

// When a pod first became ready, for benchmarks: all on the steady clock.
struct PodTiming {
  std::string ns, name, uid;
  SteadyTime seen;         // the node agent learnt about the pod
  SteadyTime spawn_begin;  // just before the clone
  SteadyTime spawn_end;    // the process runs (exec done)
  SteadyTime ready;        // the first successful readiness probe finished
};

struct NodeAgentOptions {
  std::string node_name = "kfaas-local";
  std::string logs_dir;               // required; created if missing
  std::vector<std::string> bin_dirs;  // where bare command names are looked up first
  std::string work_dir;               // processes' default working directory ("" = ours)
  uint16_t first_port = 20000;        // pod ports, inclusive range (below the ephemeral range)
  uint16_t last_port = 32000;
  Duration backoff_initial = std::chrono::seconds(10);
  Duration backoff_max = std::chrono::minutes(5);
  Duration backoff_reset = std::chrono::minutes(10);  // a run this long resets the back-off
  Duration config_retry = std::chrono::seconds(1);    // retry of a missing ConfigMap/Secret
  ProbeTuning probe;
  // A started process is published (Running, not ready) this long after its exec, unless it is
  // ready sooner (then it is published once, ready: fewer writes while it starts). 0: at once,
  // so its endpoint appears (not ready) right away and the activator can probe it too.
  Duration running_publish_delay{0};
  // The same for a pod whose port is already on the pod object (reserved at its creation by
  // kfaas-local's Deployment controller, or published by an earlier run): its endpoint is known
  // without the Running status (the activator probes it from the pod's annotation), so a process
  // that is ready within this delay is published once, ready, and the API writes and watch
  // events of a "Running, not ready" status do not compete for the CPU with its start-up.
  Duration known_port_publish_delay = std::chrono::milliseconds(25);
  // A pod whose port is known is published ready this long after its first successful probe
  // (0: at once). Whoever waits for it (the activator) probes it directly and sends it its first
  // request at that moment; the status write, its watch events and the EndpointSlice update
  // that a readiness change sets off then follow that request instead of competing with it for
  // the CPU. A kubelet publishes readiness only at its probe period (10 s by default).
  Duration known_port_ready_delay{0};
  bool keep_logs = false;  // keep a pod's log file after the pod is removed
  Duration shutdown_grace = std::chrono::seconds(3);  // Stop(): SIGTERM, then SIGKILL
  // Environment variables inherited from kfaas-local (when set) before the container's env.
  std::vector<std::string> inherit_env = {"PATH",   "HOME", "USER",   "LOGNAME", "LANG",
                                          "LC_ALL", "TZ",   "TMPDIR", "TERM",    "SHELL"};
  std::function<void(const PodTiming&)> on_ready;  // called on the loop thread
  metrics::Registry* metrics = nullptr;
};

class NodeAgent {
 public:
  NodeAgent(std::shared_ptr<kube::Client> client, NodeAgentOptions opts);
  ~NodeAgent();  // Stop()
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  absl::Status Start();
  // Stops every process (SIGTERM, SIGKILL after shutdown_grace) and joins. Pod objects are left
  // as they are. Idempotent.
  void Stop();

  // Feed from a pod watch: the latest state of a pod, or its deletion.
  void OnPodUpsert(std::shared_ptr<const nlohmann::json> pod);
  void OnPodDelete(std::shared_ptr<const nlohmann::json> pod);

  struct PodInfo {
    std::string ns, name, uid;
    uint16_t port = 0;
    pid_t pid = -1;  // -1 when no process runs
    bool ready = false;
    bool terminating = false;
    int restarts = 0;
  };
  // A consistent snapshot from the loop thread (tests, debugging).
  std::vector<PodInfo> Pods() const;
  // A port for a pod about to be created (the Deployment controller sets it as the pod's
  // `local.kfaas.dev/port` annotation at creation, so the pod's endpoint can be published, not
  // ready, while its process starts). The agent adopts a reserved port when it sees the pod;
  // ReleasePort returns one whose pod was never created. Thread-safe.
  absl::StatusOr<uint16_t> ReservePort();
  void ReleasePort(uint16_t port);

  // The log file of a pod's container.
  std::string LogPath(const std::string& ns, const std::string& pod,
                      const std::string& container) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kfaas::node

// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package.
//
// The candidate acquires the Lease when it is free or expired (renewTime + leaseDuration past,
// judged on the local clock from when this candidate last saw the record change, as client-go
// does), renews every retry_period, and gives up leadership when it cannot renew within
// renew_deadline. On Stop() a leader releases the Lease (holderIdentity cleared, leaseDuration
// 1 s) so another candidate takes over at once.
//
// Callbacks run on the elector's thread and must not block (start work on your own threads).
// on_stopped_leading runs when leadership ends, by Stop() or by a failure to renew; after a
// failure the elector becomes a candidate again (a process that must not continue as a
// non-leader should exit from on_stopped_leading, as controller-runtime does).
// IsLeader() turns false as soon as renew_deadline passes without a renewal, even while a
// renewal request is still in flight.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/base/clock.h"
#include "common/kube/client.h"

namespace kfaas::kube {

struct LeaderElectionConfig {
  std::string lease_namespace = "default";
  std::string lease_name;
  std::string identity;  // unique per candidate, e.g. hostname + "_" + random
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  bool release_on_stop = true;
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;  // any observed change
};

// client-go's rules: lease_duration > renew_deadline > 1.2 * retry_period, lease_duration >= 1 s,
// lease_name and identity set. The LeaderElector constructor CHECKs this.
absl::Status ValidateLeaderElectionConfig(const LeaderElectionConfig& config);

class LeaderElector {
 public:
  LeaderElector(std::shared_ptr<Client> client, LeaderElectionConfig config,
                Clock& clock = RealClock::Get());
  ~LeaderElector();  // Stop()
  void Start();      // runs on its own thread
  void Stop();       // releases if leading (when release_on_stop), joins
  bool IsLeader() const;
  std::string CurrentLeader() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kfaas::kube

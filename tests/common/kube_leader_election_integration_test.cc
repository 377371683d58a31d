// Two electors with separate RestClients on one Lease, through real HTTP, on the real clock.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/kube/leader_election.h"
#include "common/kube/rest_client.h"
#include "tests/common/kube_test_server.h"
#include "tests/common/kube_test_util.h"

namespace kfaas::kube {
namespace {

using testing::FakeApiServer;
using testing::WaitFor;
using namespace std::chrono_literals;

std::shared_ptr<RestClient> NewClient(const std::string& url) {
  RestConfig c;
  c.host = url;
  c.timeout = 1s;
  return *RestClient::New(c);
}

LeaderElectionConfig Config(const std::string& id, bool release_on_stop = true) {
  LeaderElectionConfig c;
  c.lease_namespace = "kfaas-system";
  c.lease_name = "it-lease";
  c.identity = id;
  c.lease_duration = 2s;
  c.renew_deadline = 1500ms;
  c.retry_period = 300ms;
  c.release_on_stop = release_on_stop;
  return c;
}

// Samples both electors and records whether they ever both claimed leadership.
class Overlap {
 public:
  Overlap(LeaderElector& a, LeaderElector& b) {
    thread_ = std::thread([this, pa = &a, pb = &b] {
      while (!stop_) {
        if (pa->IsLeader() && pb->IsLeader()) both_ = true;
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  ~Overlap() {
    stop_ = true;
    thread_.join();
  }
  bool both() const { return both_; }

 private:
  std::atomic<bool> stop_{false}, both_{false};
  std::thread thread_;
};

TEST(LeaderElectionIntegration, KilledLeaderIsReplacedWithinTheLeaseDuration) {
  FakeApiServer server;
  auto a = std::make_unique<LeaderElector>(NewClient(server.url()), Config("a", false));
  LeaderElector b(NewClient(server.url()), Config("b"));
  a->Start();
  ASSERT_TRUE(WaitFor([&] { return a->IsLeader(); }));
  b.Start();
  Overlap overlap(*a, b);
  ASSERT_TRUE(WaitFor([&] { return b.CurrentLeader() == "a"; }));
  std::this_thread::sleep_for(3s);  // longer than the lease: a keeps renewing, b keeps waiting
  EXPECT_TRUE(a->IsLeader());
  EXPECT_FALSE(b.IsLeader());

  // "Kill" a: it stops renewing and does not release.
  auto killed = std::chrono::steady_clock::now();
  a->Stop();
  ASSERT_TRUE(WaitFor([&] { return b.IsLeader(); }, 10s));
  auto handover = std::chrono::steady_clock::now() - killed;
  // Within the lease duration (2 s) after a's last renewal, plus b's retry period with jitter.
  EXPECT_LT(handover, 2s + 300ms * 2.2 + 500ms);
  EXPECT_GE(handover, 1s);
  EXPECT_FALSE(overlap.both());
  auto lease = server.Objects("leases");
  ASSERT_EQ(lease.size(), 1u);
  EXPECT_EQ(lease[0]["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease[0]["spec"]["leaseTransitions"], 1);
}

TEST(LeaderElectionIntegration, GracefulStopHandsOverAtOnce) {
  FakeApiServer server;
  LeaderElector a(NewClient(server.url()), Config("a"));
  LeaderElector b(NewClient(server.url()), Config("b"));
  a.Start();
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  b.Start();
  Overlap overlap(a, b);
  ASSERT_TRUE(WaitFor([&] { return b.CurrentLeader() == "a"; }));
  auto stopped = std::chrono::steady_clock::now();
  a.Stop();  // releases
  ASSERT_TRUE(WaitFor([&] { return b.IsLeader(); }, 10s));
  // Within b's retry period (with jitter), not the lease duration.
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 300ms * 2.2 + 400ms);
  EXPECT_FALSE(overlap.both());
}

TEST(LeaderElectionIntegration, ManyCandidatesOneLeader) {
  FakeApiServer server;
  std::vector<std::unique_ptr<LeaderElector>> electors;
  for (int i = 0; i < 4; ++i) {
    electors.push_back(
        std::make_unique<LeaderElector>(NewClient(server.url()), Config("c" + std::to_string(i))));
    electors.back()->Start();
  }
  auto leaders = [&] {
    int n = 0;
    for (auto& e : electors) n += e && e->IsLeader();
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return leaders() == 1; }));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i) {
      ASSERT_LE(leaders(), 1);
      std::this_thread::sleep_for(2ms);
    }
    for (auto& e : electors) {
      if (e && e->IsLeader()) {
        e.reset();  // graceful stop of the current leader
        break;
      }
    }
    ASSERT_TRUE(WaitFor([&] { return leaders() == 1; }, 10s));
  }
}

}  // namespace
}  // namespace kfaas::kube

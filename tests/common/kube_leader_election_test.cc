// Leader election decisions on a FakeClock against the in-memory FakeClient.
#include "common/kube/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <regex>

#include "common/base/time_format.h"
#include "tests/common/kube_test_util.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::kube {
namespace {

using std::chrono::seconds;
using testing::WaitFor;

const Resource& kLease = resources::kLeases;

struct Events {
  std::atomic<int> started{0}, stopped{0};
  std::mutex mu;
  std::vector<std::string> leaders;
  void Wire(LeaderElectionConfig& c) {
    c.on_started_leading = [this] { ++started; };
    c.on_stopped_leading = [this] { ++stopped; };
    c.on_new_leader = [this](const std::string& id) {
      std::lock_guard<std::mutex> l(mu);
      leaders.push_back(id);
    };
  }
};

LeaderElectionConfig Config(const std::string& id) {
  LeaderElectionConfig c;
  c.lease_namespace = "kfaas-system";
  c.lease_name = "kfaas-operator";
  c.identity = id;
  return c;  // 15 s / 10 s / 2 s
}

Json Spec(kfaas::testing::FakeClient& client) {
  auto lease = client.Object(kLease, "kfaas-system", "kfaas-operator");
  return lease ? (*lease)["spec"] : Json();
}

// Advances the clock by `step` until `pred` holds (at most `max_steps` times): robust to the
// elector thread not having parked yet when a step is taken.
bool AdvanceUntil(FakeClock& clock, const std::function<bool()>& pred, Duration step,
                  int max_steps) {
  for (int i = 0; i < max_steps; ++i) {
    if (pred()) return true;
    clock.Advance(step);
    if (WaitFor(pred, std::chrono::milliseconds(200))) return true;
  }
  return pred();
}

bool IsMicroTime(const Json& v) {
  static const std::regex re(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)");
  return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

TEST(LeaderElection, ValidatesConfig) {
  auto c = Config("a");
  EXPECT_TRUE(ValidateLeaderElectionConfig(c).ok());
  c.renew_deadline = seconds(15);
  EXPECT_FALSE(ValidateLeaderElectionConfig(c).ok());
  c = Config("a");
  c.retry_period = seconds(9);
  EXPECT_FALSE(ValidateLeaderElectionConfig(c).ok());
  c = Config("");
  EXPECT_FALSE(ValidateLeaderElectionConfig(c).ok());
}

TEST(LeaderElection, CreatesTheLeaseRenewsAndReleases) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  auto cfg = Config("a");
  Events ev;
  ev.Wire(cfg);
  LeaderElector le(client, cfg, clock);
  le.Start();
  ASSERT_TRUE(WaitFor([&] { return le.IsLeader() && ev.started == 1; }));
  EXPECT_EQ(le.CurrentLeader(), "a");
  Json spec = Spec(*client);
  EXPECT_EQ(spec["holderIdentity"], "a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  EXPECT_TRUE(IsMicroTime(spec["acquireTime"])) << spec;
  EXPECT_EQ(spec["renewTime"], FormatRfc3339Micro(clock.WallNow()));
  std::string acquired = spec["acquireTime"];

  // Renewal every retry period: renewTime moves, acquireTime stays.
  ASSERT_TRUE(AdvanceUntil(
      clock, [&] { return Spec(*client)["renewTime"] != spec["renewTime"]; }, seconds(2), 5));
  EXPECT_EQ(Spec(*client)["acquireTime"], acquired);
  EXPECT_EQ(Spec(*client)["renewTime"], FormatRfc3339Micro(clock.WallNow()));
  EXPECT_TRUE(le.IsLeader());

  le.Stop();
  EXPECT_FALSE(le.IsLeader());
  EXPECT_EQ(ev.stopped, 1);
  spec = Spec(*client);
  EXPECT_TRUE(spec["holderIdentity"].is_null()) << spec;
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);
}

TEST(LeaderElection, WaitsForAnotherHoldersLeaseToExpire) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  std::string t = FormatRfc3339Micro(clock.WallNow());
  client->Seed(kLease, {{"metadata", {{"name", "kfaas-operator"}, {"namespace", "kfaas-system"}}},
                        {"spec",
                         {{"holderIdentity", "other"},
                          {"leaseDurationSeconds", 15},
                          {"acquireTime", t},
                          {"renewTime", t},
                          {"leaseTransitions", 3}}}});
  auto cfg = Config("b");
  Events ev;
  ev.Wire(cfg);
  LeaderElector le(client, cfg, clock);
  le.Start();
  ASSERT_TRUE(WaitFor([&] { return le.CurrentLeader() == "other" && clock.Waiters() >= 1; }));
  EXPECT_FALSE(le.IsLeader());
  {
    std::lock_guard<std::mutex> l(ev.mu);
    EXPECT_EQ(ev.leaders, std::vector<std::string>{"other"});
  }
  // The record does not change; 14 s of retries later it is still "other"'s.
  for (int i = 0; i < 7; ++i) {
    clock.Advance(seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(le.IsLeader());
  EXPECT_EQ(Spec(*client)["holderIdentity"], "other");
  // Past leaseDuration (measured from when we first saw this record): taken over.
  ASSERT_TRUE(AdvanceUntil(
      clock, [&] { return le.IsLeader(); }, seconds(1), 20));
  Json spec = Spec(*client);
  EXPECT_EQ(spec["holderIdentity"], "b");
  EXPECT_EQ(spec["leaseTransitions"], 4);
  // The callbacks run on the elector's thread, possibly just after IsLeader() turned true.
  EXPECT_TRUE(WaitFor([&] { return ev.started.load() == 1; }));
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(ev.mu);
    return ev.leaders == std::vector<std::string>{"other", "b"};
  }));
}

TEST(LeaderElection, AHolderThatKeepsRenewingKeepsTheLease) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  auto seed = [&](const std::string& renew) {
    client->Seed(kLease, {{"metadata", {{"name", "kfaas-operator"}, {"namespace", "kfaas-system"}}},
                          {"spec",
                           {{"holderIdentity", "other"},
                            {"leaseDurationSeconds", 15},
                            {"renewTime", renew},
                            {"leaseTransitions", 0}}}});
  };
  seed(FormatRfc3339Micro(clock.WallNow()));
  LeaderElector le(client, Config("b"), clock);
  le.Start();
  ASSERT_TRUE(WaitFor([&] { return le.CurrentLeader() == "other"; }));
  for (int i = 0; i < 30; ++i) {  // 60 s
    clock.Advance(seconds(2));
    seed(FormatRfc3339Micro(clock.WallNow()));  // "other" renews
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(le.IsLeader());
  EXPECT_EQ(Spec(*client)["holderIdentity"], "other");
}

TEST(LeaderElection, LosesLeadershipWhenRenewalsFailPastTheDeadline) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  auto cfg = Config("a");
  Events ev;
  ev.Wire(cfg);
  LeaderElector le(client, cfg, clock);
  le.Start();
  ASSERT_TRUE(WaitFor([&] { return le.IsLeader() && clock.Waiters() >= 1; }));
  client->FailNext("*", "leases", ServiceUnavailableError("apiserver down"), 1000);
  // 8 s of failed renewals: still within the 10 s deadline.
  for (int i = 0; i < 4; ++i) {
    clock.Advance(seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(ev.stopped, 0);
  EXPECT_TRUE(le.IsLeader());
  clock.Advance(seconds(2));
  EXPECT_FALSE(le.IsLeader());  // the deadline has passed, whatever the elector thread does
  ASSERT_TRUE(AdvanceUntil(
      clock, [&] { return ev.stopped == 1; }, seconds(1), 10));
  le.Stop();
  EXPECT_EQ(ev.stopped, 1);  // not twice
}

TEST(LeaderElection, ConflictingUpdateIsNotLeadership) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  // An expired lease, but the update races with another candidate and gets a 409.
  client->Seed(kLease, {{"metadata", {{"name", "kfaas-operator"}, {"namespace", "kfaas-system"}}},
                        {"spec", {{"holderIdentity", nullptr}, {"leaseDurationSeconds", 1}}}});
  client->FailNext("update", "leases",
                   ConflictError("leases.coordination.k8s.io", "kfaas-operator"), 1);
  LeaderElector le(client, Config("a"), clock);
  le.Start();
  ASSERT_TRUE(WaitFor([&] {
    int updates = 0;
    for (const auto& a : client->Actions()) updates += a.verb == "update";
    return updates == 1 && clock.Waiters() >= 1;
  }));
  EXPECT_FALSE(le.IsLeader());
  ASSERT_TRUE(AdvanceUntil(
      clock, [&] { return le.IsLeader(); }, seconds(1), 10));
  EXPECT_EQ(Spec(*client)["leaseTransitions"], 1);
}

}  // namespace
}  // namespace kfaas::kube

// EventRecorder against the in-memory FakeClient on a FakeClock.
#include "common/kube/event_recorder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "common/base/time_format.h"
#include "tests/common/kube_test_util.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::kube {
namespace {

using ::testing::HasSubstr;
using testing::WaitFor;
using namespace std::chrono_literals;

const Resource& kEv = resources::kEvents;

Json Function(const std::string& name) {
  return {
      {"apiVersion", "kfaas.dev/v1alpha1"},
      {"kind", "Function"},
      {"metadata",
       {{"name", name}, {"namespace", "team"}, {"uid", "uid-" + name}, {"resourceVersion", "7"}}}};
}

TEST(EventRecorder, CreatesAnEventWithTheKubernetesShape) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  EventRecorder rec(client, "kfaas-operator", clock);
  rec.Record(Function("hello"), "Normal", "Reconciled", "created Deployment hello");
  rec.Flush();
  auto events = client->Objects(kEv, "team");
  ASSERT_EQ(events.size(), 1u);
  const Json& e = events[0];
  EXPECT_THAT(e["metadata"]["name"].get<std::string>(), ::testing::StartsWith("hello."));
  EXPECT_EQ(e["involvedObject"]["kind"], "Function");
  EXPECT_EQ(e["involvedObject"]["apiVersion"], "kfaas.dev/v1alpha1");
  EXPECT_EQ(e["involvedObject"]["name"], "hello");
  EXPECT_EQ(e["involvedObject"]["namespace"], "team");
  EXPECT_EQ(e["involvedObject"]["uid"], "uid-hello");
  EXPECT_EQ(e["type"], "Normal");
  EXPECT_EQ(e["reason"], "Reconciled");
  EXPECT_EQ(e["message"], "created Deployment hello");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["firstTimestamp"], FormatRfc3339(clock.WallNow()));
  EXPECT_EQ(e["lastTimestamp"], e["firstTimestamp"]);
  EXPECT_EQ(e["source"]["component"], "kfaas-operator");
}

TEST(EventRecorder, AggregatesRepeatsWithinTenMinutes) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  EventRecorder rec(client, "op", clock);
  rec.Record(Function("f"), "Warning", "Failed", "boom");
  rec.Flush();
  clock.Advance(5min);
  rec.Record(Function("f"), "Warning", "Failed", "boom");
  rec.Record(Function("f"), "Warning", "Failed", "boom");
  rec.Record(Function("f"), "Warning", "Failed", "different");
  rec.Flush();
  auto events = client->Objects(kEv, "team");
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) {
    if (e["message"] == "boom") {
      EXPECT_EQ(e["count"], 3);
      EXPECT_EQ(e["lastTimestamp"], FormatRfc3339(clock.WallNow()));
      EXPECT_NE(e["firstTimestamp"], e["lastTimestamp"]);
    } else {
      EXPECT_EQ(e["count"], 1);
    }
  }
  // More than 10 minutes after the last one: a new Event.
  clock.Advance(11min);
  rec.Record(Function("f"), "Warning", "Failed", "boom");
  rec.Flush();
  EXPECT_EQ(client->Objects(kEv, "team").size(), 3u);
}

TEST(EventRecorder, SpamFilterPerObject) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  EventRecorder rec(client, "op", clock);
  for (int i = 0; i < 30; ++i)
    rec.Record(Function("noisy"), "Normal", "R", "m" + std::to_string(i));
  rec.Record(Function("quiet"), "Normal", "R", "m");
  rec.Flush();
  int noisy = 0;
  for (const auto& e : client->Objects(kEv, "team"))
    noisy += e["involvedObject"]["name"] == "noisy";
  EXPECT_EQ(noisy, 25);
  EXPECT_EQ(client->Objects(kEv, "team").size(), 26u);
  clock.Advance(5min);  // one token back
  rec.Record(Function("noisy"), "Normal", "R", "again");
  rec.Record(Function("noisy"), "Normal", "R", "again2");
  rec.Flush();
  EXPECT_EQ(client->Objects(kEv, "team").size(), 27u);
}

TEST(EventRecorder, RetriesFailedWritesOnTheClock) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  client->FailNext("create", "events", ServiceUnavailableError("down"), 2);
  EventRecorder rec(client, "op", clock);
  rec.Record(Function("f"), "Normal", "R", "m");
  std::atomic<bool> flushed{false};
  std::thread t([&] {
    rec.Flush();
    flushed = true;
  });
  for (int i = 0; i < 100 && !flushed; ++i) {
    WaitFor([&] { return clock.Waiters() >= 1 || flushed; }, 1s);
    clock.Advance(10s);
    std::this_thread::sleep_for(5ms);
  }
  t.join();
  EXPECT_EQ(client->Objects(kEv, "team").size(), 1u);
}

TEST(EventRecorder, RecreatesAnEventThatExpiredOnTheServer) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  EventRecorder rec(client, "op", clock);
  rec.Record(Function("f"), "Normal", "R", "m");
  rec.Flush();
  auto events = client->Objects(kEv, "team");
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(client->Delete(kEv, "team", events[0]["metadata"]["name"].get<std::string>()).ok());
  clock.Advance(1s);
  rec.Record(Function("f"), "Normal", "R", "m");
  rec.Flush();
  events = client->Objects(kEv, "team");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["count"], 1);
}

TEST(EventRecorder, ClusterScopedObjectsGoToDefault) {
  auto client = std::make_shared<kfaas::testing::FakeClient>();
  EventRecorder rec(client, "op");
  rec.Record({{"kind", "Node"}, {"apiVersion", "v1"}, {"metadata", {{"name", "n1"}}}}, "Normal",
             "Ready", "node is ready");
  rec.Flush();
  EXPECT_EQ(client->Objects(kEv, "default").size(), 1u);
}

}  // namespace
}  // namespace kfaas::kube

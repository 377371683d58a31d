// The autoscaler loop with an injected clock and synthetic activator stats.
#include "autoscaler/loop/scaling_loop.h"

#include <random>

#include <gtest/gtest.h>

#include "common/metrics/metrics.h"
#include "tests/autoscaler/loop_fakes.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::autoscaler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeEvents;
using testing::FakeTargets;
using testing::FakeWriter;
using testing::Report;

class AutoscalerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    targets_.Set("default", "hello", 1, 1, {.min = 0, .max = 100, .target = 10});
  }

  // `how_long` of reports every 100 ms from `activators` activators sharing `load(t)`, and a
  // decision round every second.
  void Run(Duration how_long, const std::function<double()>& load, int activators = 1) {
    const SteadyTime end = clock_.Now() + how_long;
    while (clock_.Now() < end) {
      clock_.Advance(milliseconds(100));
      ticks_ += 1;
      const double total = load();
      for (int a = 0; a < activators; ++a) {
        const auto share = static_cast<int64_t>(std::llround(total / activators));
        loop_.OnReport("10.0.0." + std::to_string(a) + ":9095",
                       Report("act-" + std::to_string(a), {{"default/hello", share}}));
      }
      if (ticks_ % 10 == 0) loop_.RunOnce();
    }
  }
  int Replicas() { return targets_.Get("default", "hello").replicas; }

  FakeClock clock_;
  FakeTargets targets_;
  FakeWriter writer_{&targets_};
  FakeEvents events_;
  metrics::Registry registry_;
  ScalingLoop loop_{targets_, writer_, &events_, clock_, registry_};
  int64_t ticks_ = 0;
};

TEST_F(AutoscalerLoopTest, StepFrom1To200ReachesTwentyWithinOneDecision) {
  Run(seconds(120), [] { return 1.0; });
  EXPECT_TRUE(writer_.writes().empty());
  // The step arrives in one report; the very next decision writes 20.
  clock_.Advance(milliseconds(100));
  loop_.OnReport("10.0.0.0:9095", Report("act-0", {{"default/hello", 180, 20}}));
  loop_.RunOnce();
  ASSERT_EQ(writer_.writes().size(), 1u);
  EXPECT_EQ(writer_.writes()[0].replicas, 20);
  EXPECT_EQ(writer_.writes()[0].ns, "default");
  EXPECT_EQ(writer_.writes()[0].name, "hello");
  EXPECT_EQ(Replicas(), 20);
  // Explained by an event, and visible in the metrics.
  auto events = events_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "ScaledUp");
  EXPECT_EQ(events[0].type, "Normal");
  EXPECT_NE(events[0].message.find("from 1 to 20"), std::string::npos) << events[0].message;
  EXPECT_NE(events[0].message.find("panic"), std::string::npos) << events[0].message;
  const std::string text = registry_.Serialize();
  EXPECT_NE(
      text.find("kfaas_autoscaler_desired_replicas{namespace=\"default\",function=\"hello\"} 20"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("kfaas_autoscaler_panic_mode{namespace=\"default\",function=\"hello\"} 1"),
            std::string::npos);
  EXPECT_NE(
      text.find(
          "kfaas_autoscaler_observed_concurrency{namespace=\"default\",function=\"hello\"} 200"),
      std::string::npos);
}

TEST_F(AutoscalerLoopTest, BurstDecidesWithoutWaitingForTheTick) {
  loop_.Start();
  // The loop decides once at start, then waits for its 1 s tick (the fake clock stands still).
  ASSERT_TRUE(kfaas::testing::WaitFor([&] { return clock_.Waiters() > 0; }));
  loop_.OnReport("10.0.0.0:9095", Report("act-0", {{"default/hello", 200}}));
  clock_.Advance(milliseconds(60));  // past the minimum spacing between burst decisions
  ASSERT_TRUE(kfaas::testing::WaitFor([&] { return Replicas() == 20; }));
  loop_.Stop();
  const std::string text = registry_.Serialize();
  EXPECT_NE(text.find("kfaas_autoscaler_decisions_total{trigger=\"burst\"} 1"), std::string::npos)
      << text;
}

TEST_F(AutoscalerLoopTest, SteadyNoisyLoadHoldsSteadyAcrossActivators) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> noise(-0.1, 0.1);
  auto load = [&] { return 200 * (1 + noise(rng)); };
  Run(seconds(300), load, /*activators=*/3);
  const int settled = Replicas();
  EXPECT_GE(settled, 20);
  EXPECT_LE(settled, 24);
  const size_t writes = writer_.writes().size();
  Run(seconds(600), load, 3);
  EXPECT_EQ(writer_.writes().size(), writes) << "replicas moved under +-10% noise";
}

TEST_F(AutoscalerLoopTest, AfterTheLoadStopsFallsGraduallyToMinNeverZero) {
  for (int min : {0, 3}) {
    targets_.Set("default", "hello", std::max(1, min), std::max(1, min),
                 {.min = min, .max = 100, .target = 10});
    Run(seconds(120), [] { return 200.0; });
    ASSERT_EQ(Replicas(), 20);
    const size_t before = writer_.writes().size();
    Run(seconds(300), [] { return 0.0; });
    EXPECT_EQ(Replicas(), std::max(1, min));
    auto writes = writer_.writes();
    ASSERT_GE(writes.size() - before, 3u) << "gradually, in several steps";
    int prev = 20;
    for (size_t i = before; i < writes.size(); ++i) {
      EXPECT_GE(writes[i].replicas, std::max(1, min));
      EXPECT_LT(writes[i].replicas, prev);
      EXPECT_GE(writes[i].replicas * 2, prev);
      prev = writes[i].replicas;
    }
    EXPECT_EQ(events_.events().back().reason, "ScaledDown");
  }
}

TEST_F(AutoscalerLoopTest, NeverWritesAtZeroNorForKeda) {
  targets_.Set("default", "hello", 0, 0);
  targets_.Set("default", "kedafn", 1, 1, {}, kAutoscalerKeda);
  for (int i = 0; i < 30; ++i) {
    clock_.Advance(milliseconds(500));
    loop_.OnReport("a:1", Report("a", {{"default/hello", 500}, {"default/kedafn", 500}}));
    loop_.RunOnce();
  }
  EXPECT_TRUE(writer_.writes().empty());
  // KEDA's functions still report what is observed.
  EXPECT_NE(
      registry_.Serialize().find(
          "kfaas_autoscaler_observed_concurrency{namespace=\"default\",function=\"kedafn\"} 500"),
      std::string::npos);
}

TEST_F(AutoscalerLoopTest, SumsActivatorsAndDropsSilentOnes) {
  loop_.OnReport("10.0.0.1:9095", Report("a", {{"default/hello", 60}}));
  loop_.OnReport("10.0.0.2:9095", Report("b", {{"default/hello", 40}}));
  EXPECT_EQ(loop_.Concurrency("default", "hello"), 100);
  // The same activator reached through a second address (e.g. its Service) counts once.
  loop_.OnReport("kfaas-activator:9095", Report("a", {{"default/hello", 60}}));
  EXPECT_EQ(loop_.Concurrency("default", "hello"), 100);
  // A report replaces the activator's previous one: functions left out are idle there.
  loop_.OnReport("10.0.0.2:9095", Report("b", {}));
  EXPECT_EQ(loop_.Concurrency("default", "hello"), 60);
  loop_.OnReport("10.0.0.2:9095", Report("b", {{"default/hello", 40}}));
  // "a" goes silent: after stale_after (3 s) it no longer counts.
  clock_.Advance(seconds(2));
  loop_.OnReport("10.0.0.2:9095", Report("b", {{"default/hello", 40}}));
  loop_.RunOnce();
  EXPECT_EQ(loop_.Concurrency("default", "hello"), 100);
  clock_.Advance(seconds(2));
  loop_.OnReport("10.0.0.2:9095", Report("b", {{"default/hello", 40}}));
  loop_.RunOnce();
  EXPECT_EQ(loop_.Concurrency("default", "hello"), 40);
  // A stream that ends drops its activator at once.
  loop_.OnDisconnected("10.0.0.2:9095");
  EXPECT_EQ(loop_.Concurrency("default", "hello"), 0);
}

TEST_F(AutoscalerLoopTest, FailedWriteIsExplainedAndRetried) {
  writer_.Fail(absl::UnavailableError("connection refused"));
  loop_.OnReport("a:1", Report("a", {{"default/hello", 200}}));
  loop_.RunOnce();
  ASSERT_EQ(events_.events().size(), 1u);
  EXPECT_EQ(events_.events()[0].reason, "ScaleFailed");
  EXPECT_EQ(events_.events()[0].type, "Warning");
  EXPECT_NE(events_.events()[0].message.find("connection refused"), std::string::npos);
  writer_.Fail(absl::OkStatus());
  clock_.Advance(seconds(1));
  loop_.OnReport("a:1", Report("a", {{"default/hello", 200}}));
  loop_.RunOnce();
  EXPECT_EQ(Replicas(), 20);
  EXPECT_NE(registry_.Serialize().find("kfaas_autoscaler_scale_writes_total{result=\"error\"} 1"),
            std::string::npos);
}

TEST_F(AutoscalerLoopTest, DoesNotRepeatAWriteTheCacheHasNotSeenYet) {
  FakeTargets stale;  // the writer updates another store: the lister never catches up
  stale.Set("default", "hello", 1, 1);
  FakeWriter writer(&stale);
  ScalingLoop loop(targets_, writer, nullptr, clock_, registry_);
  loop.OnReport("a:1", Report("a", {{"default/hello", 200}}));
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(seconds(1));
    loop.OnReport("a:1", Report("a", {{"default/hello", 200}}));
    loop.RunOnce();
  }
  EXPECT_EQ(writer.writes().size(), 1u);
  clock_.Advance(seconds(5));
  loop.RunOnce();
  EXPECT_EQ(writer.writes().size(), 2u) << "repeated after rewrite_after";
  EXPECT_EQ(writer.writes()[0].resource_version, targets_.Get("default", "hello").resource_version);
}

TEST_F(AutoscalerLoopTest, RestartDoesNotScaleDownOnAnEmptyHistory) {
  targets_.Set("default", "hello", 20, 20);
  loop_.Start();
  loop_.Stop();
  // A new leader with no stats yet: no scale-down during the scale-down delay.
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(seconds(1));
    loop_.RunOnce();
  }
  EXPECT_EQ(Replicas(), 20);
}

TEST_F(AutoscalerLoopTest, TraceRecordsDecisions) {
  Run(seconds(3), [] { return 1.0; });
  clock_.Advance(milliseconds(100));
  loop_.OnReport("a:1", Report("act-0", {{"default/hello", 200}}));
  loop_.RunOnce();
  auto rows = loop_.Trace("default/hello");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().wrote, 20);
  EXPECT_EQ(rows.back().concurrency, 200);
  EXPECT_EQ(rows.back().replicas, 1);
  EXPECT_TRUE(rows.back().panic);
  const std::string table = ScalingLoop::FormatTrace(rows);
  EXPECT_EQ(table.rfind("TIME", 0), 0u) << table;
  EXPECT_NE(table.find("default/hello"), std::string::npos);
  EXPECT_TRUE(loop_.Trace("other/fn").empty());
}

TEST(AutoscalerSplitAddressesTest, Splits) {
  EXPECT_EQ(SplitAddresses("a:1, b:2,,c:3 "), (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  EXPECT_TRUE(SplitAddresses("").empty());
}

}  // namespace
}  // namespace kfaas::autoscaler

#include "autoscaler/service/stats_hub.h"

#include <gtest/gtest.h>

#include "tests/autoscaler/fakes.h"

namespace kfaas::autoscaler {
namespace {

using std::chrono::milliseconds;
using testing::FakeStatsSource;

TEST(AutoscalerStatsHubTest, IdleToBusyAndBackBumpsVersion) {
  FakeClock clock;
  FakeStatsSource source;
  source.Set("default", "hello", 0);
  StatsHub hub(source, clock);
  hub.Poll();
  const uint64_t v0 = hub.Latest()->version;
  // Nothing changed: same version.
  clock.Advance(milliseconds(50));
  hub.Poll();
  EXPECT_EQ(hub.Latest()->version, v0);

  source.Set("default", "hello", 3, 1, 4);
  clock.Advance(milliseconds(50));
  hub.Poll();
  auto snap = hub.Latest();
  EXPECT_GT(snap->version, v0);
  const FunctionActivity* a = snap->Find("default", "hello");
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->busy);
  EXPECT_EQ(a->Concurrency(), 4);
  ASSERT_TRUE(a->last_arrival.has_value());
  EXPECT_EQ(*a->last_arrival, clock.Now());

  const uint64_t v1 = snap->version;
  source.Set("default", "hello", 0);
  clock.Advance(milliseconds(50));
  hub.Poll();
  EXPECT_GT(hub.Latest()->version, v1);
  EXPECT_FALSE(hub.Latest()->Find("default", "hello")->busy);
}

TEST(AutoscalerStatsHubTest, ShortRequestBetweenPollsCountsAsArrival) {
  FakeClock clock;
  FakeStatsSource source;
  source.Set("default", "hello", 0);
  StatsHub hub(source, clock);
  hub.Poll();
  const uint64_t v0 = hub.Latest()->version;
  EXPECT_FALSE(hub.Latest()->Find("default", "hello")->last_arrival.has_value());
  // A request came and went between two polls: in flight is 0 again, but it arrived.
  source.Set("default", "hello", 0, 0, 1);
  clock.Advance(milliseconds(50));
  hub.Poll();
  EXPECT_GT(hub.Latest()->version, v0);
  EXPECT_EQ(hub.Latest()->Find("default", "hello")->last_arrival, clock.Now());
}

TEST(AutoscalerStatsHubTest, FirstPollIsABaseline) {
  FakeClock clock;
  FakeStatsSource source;
  source.Set("default", "old", 0, 0, 100);  // arrivals before the hub started
  StatsHub hub(source, clock);
  hub.Poll();
  EXPECT_FALSE(hub.Latest()->Find("default", "old")->last_arrival.has_value());
  // A function that shows up later with traffic did see an arrival.
  source.Set("default", "new", 0, 0, 1);
  clock.Advance(milliseconds(50));
  hub.Poll();
  EXPECT_TRUE(hub.Latest()->Find("default", "new")->last_arrival.has_value());
}

TEST(AutoscalerStatsHubTest, WaitForChangeWakesOnPollAndOnShutdown) {
  FakeStatsSource source;
  StatsHub hub(source, RealClock::Get(), {.poll_interval = milliseconds(10)});
  hub.Start();
  auto snap = hub.Latest();
  std::thread t([&] { source.Set("default", "hello", 1, 0, 1); });
  auto next = hub.WaitForChange(snap->version, RealClock::Get().Now() + std::chrono::seconds(10));
  EXPECT_GT(next->version, snap->version);
  t.join();
  std::thread s([&] { hub.Shutdown(); });
  const auto start = std::chrono::steady_clock::now();
  hub.WaitForChange(next->version, RealClock::Get().Now() + std::chrono::seconds(10));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  s.join();
  hub.Stop();
}

}  // namespace
}  // namespace kfaas::autoscaler

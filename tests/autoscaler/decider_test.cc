#include "autoscaler/core/decider.h"

#include <cmath>
#include <functional>
#include <random>

#include <gtest/gtest.h>

namespace kfaas::autoscaler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Drives a Decider like the loop does: concurrency sampled every 100 ms, a decision every
// second, writes applied to the Deployment at once and instances ready `startup` later.
class Sim {
 public:
  explicit Sim(DeciderOptions opts = {}, ScaleBounds bounds = {}) : d_(opts), bounds_(bounds) {}

  void Run(Duration how_long, const std::function<double(Duration)>& load) {
    const SteadyTime end = now_ + how_long;
    while (now_ < end) {
      now_ += milliseconds(100);
      elapsed_ += milliseconds(100);
      d_.Observe(now_, load(elapsed_));
      if (elapsed_ % seconds(1) == Duration::zero()) DecideOnce();
    }
  }
  Decision DecideOnce() {
    Decision dec = d_.Decide({now_, replicas_, Ready(), bounds_});
    last_ = dec;
    if (dec.write) {
      EXPECT_GT(*dec.write, 0) << "the decider must never write 0";
      EXPECT_GT(replicas_, 0) << "the decider must never write while at 0";
      writes_.push_back({elapsed_, *dec.write});
      if (*dec.write > replicas_) pending_.push_back({now_ + startup_, *dec.write});
      replicas_ = *dec.write;
    }
    return dec;
  }
  int Ready() {
    while (!pending_.empty() && pending_.front().first <= now_) {
      ready_ = pending_.front().second;
      pending_.erase(pending_.begin());
    }
    ready_ = std::min(ready_, replicas_);
    return ready_;
  }

  Decider d_;
  ScaleBounds bounds_;
  SteadyTime now_ = SteadyTime{} + std::chrono::hours(1);
  Duration elapsed_{0};
  Duration startup_{0};
  int replicas_ = 1;
  int ready_ = 1;
  std::vector<std::pair<SteadyTime, int>> pending_;
  std::vector<std::pair<Duration, int>> writes_;
  Decision last_;
};

TEST(AutoscalerReplicasForTest, Ceil) {
  EXPECT_EQ(ReplicasFor(0, 10), 0);
  EXPECT_EQ(ReplicasFor(1, 10), 1);
  EXPECT_EQ(ReplicasFor(200, 10), 20);
  EXPECT_EQ(ReplicasFor(200.0000000001, 10), 20);
  EXPECT_EQ(ReplicasFor(201, 10), 21);
  EXPECT_EQ(ReplicasFor(5, 0), 5);
}

TEST(AutoscalerDeciderTest, StepTo200ReachesTwentyInOneDecision) {
  Sim sim;
  sim.Run(seconds(120), [](Duration) { return 1.0; });
  EXPECT_EQ(sim.replicas_, 1);
  EXPECT_TRUE(sim.writes_.empty());
  // The step: the next observation is 200 in flight; the loop decides at once on a burst.
  sim.now_ += milliseconds(100);
  sim.d_.Observe(sim.now_, 200);
  EXPECT_TRUE(sim.d_.IsBurst(200, 1, 1, 10));
  Decision d = sim.DecideOnce();
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(*d.write, 20);
  EXPECT_TRUE(d.panic);
  EXPECT_TRUE(d.panic_started);
  EXPECT_NE(d.reason.find("panic"), std::string::npos) << d.reason;
}

TEST(AutoscalerDeciderTest, StepReachedByTheNextTickWithoutBurstSignal) {
  Sim sim;
  sim.Run(seconds(120), [](Duration) { return 1.0; });
  sim.Run(seconds(1), [](Duration) { return 200.0; });
  EXPECT_EQ(sim.replicas_, 20);
}

TEST(AutoscalerDeciderTest, SteadyNoisyLoadHoldsSteady) {
  for (int base : {50, 200, 1000}) {
    Sim sim;
    sim.startup_ = seconds(2);
    std::mt19937 rng(42 + base);
    std::uniform_real_distribution<double> noise(-0.1, 0.1);
    sim.Run(seconds(300), [&](Duration) { return base * (1 + noise(rng)); });
    const int settled = sim.replicas_;
    EXPECT_GE(settled, base / 10);
    EXPECT_LE(settled, base / 10 + base / 50 + 1);
    const size_t writes = sim.writes_.size();
    sim.Run(seconds(600), [&](Duration) { return base * (1 + noise(rng)); });
    EXPECT_EQ(sim.writes_.size(), writes)
        << "flapping at " << base << ": last " << sim.last_.reason;
    EXPECT_EQ(sim.replicas_, settled);
  }
}

TEST(AutoscalerDeciderTest, AfterLoadStopsFallsGraduallyToOneNeverZero) {
  Sim sim;
  sim.Run(seconds(120), [](Duration) { return 200.0; });
  ASSERT_EQ(sim.replicas_, 20);
  sim.writes_.clear();
  sim.Run(seconds(10), [](Duration) { return 0.0; });
  EXPECT_EQ(sim.replicas_, 20) << "scale-down waits for the delay";
  sim.Run(seconds(290), [](Duration) { return 0.0; });
  EXPECT_EQ(sim.replicas_, 1);
  ASSERT_GE(sim.writes_.size(), 3u) << "gradually, in several steps";
  int prev = 20;
  for (auto [t, r] : sim.writes_) {
    EXPECT_LT(r, prev);
    EXPECT_GE(r * 2, prev) << "at most halving per decision";
    EXPECT_GE(r, 1);
    prev = r;
  }
}

TEST(AutoscalerDeciderTest, FallsToMinNotBelow) {
  Sim sim({}, {.min = 3, .max = 100, .target = 10});
  sim.replicas_ = sim.ready_ = 3;
  sim.Run(seconds(60), [](Duration) { return 100.0; });
  EXPECT_EQ(sim.replicas_, 10);
  sim.Run(seconds(300), [](Duration) { return 0.0; });
  EXPECT_EQ(sim.replicas_, 3);
}

TEST(AutoscalerDeciderTest, NeverWritesWhileAtZero) {
  Decider d;
  SteadyTime now = SteadyTime{} + std::chrono::hours(1);
  d.Observe(now, 500);
  Decision dec = d.Decide({now + seconds(1), 0, 0, {}});
  EXPECT_FALSE(dec.write.has_value());
  EXPECT_EQ(dec.desired, 0);
  EXPECT_FALSE(d.IsBurst(500, 0, 0, 10));
}

TEST(AutoscalerDeciderTest, HeldWithinMax) {
  Sim sim({}, {.min = 0, .max = 7, .target = 10});
  sim.Run(seconds(5), [](Duration) { return 1000.0; });
  EXPECT_EQ(sim.replicas_, 7);
  EXPECT_NE(sim.last_.reason.find("held within [1, 7]"), std::string::npos) << sim.last_.reason;
}

TEST(AutoscalerDeciderTest, RaisesToMinAtOnce) {
  Sim sim({}, {.min = 4, .max = 10, .target = 10});
  Decision d = sim.DecideOnce();
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(*d.write, 4);
}

TEST(AutoscalerDeciderTest, NoScaleDownInPanic) {
  Sim sim;
  sim.startup_ = seconds(3);
  sim.Run(seconds(30), [](Duration) { return 1.0; });
  sim.Run(seconds(2), [](Duration) { return 300.0; });
  EXPECT_EQ(sim.replicas_, 30);
  EXPECT_TRUE(sim.d_.panic());
  // Load drops: still in panic (the trigger held while instances started), no scale-down.
  sim.Run(seconds(20), [](Duration) { return 10.0; });
  EXPECT_TRUE(sim.d_.panic());
  EXPECT_EQ(sim.replicas_, 30);
  // A stable window after the trigger last held, panic ends and the scale-down begins.
  sim.Run(seconds(120), [](Duration) { return 10.0; });
  EXPECT_FALSE(sim.d_.panic());
  EXPECT_LT(sim.replicas_, 30);
}

TEST(AutoscalerDeciderTest, ModerateRampFollowsThePanicWindow) {
  // 1.5x over a few seconds is no panic, but the scale-up follows the 6 s average, not 60 s.
  Sim sim;
  sim.Run(seconds(120), [](Duration) { return 100.0; });
  ASSERT_EQ(sim.replicas_, 10);
  sim.Run(seconds(12), [](Duration) { return 150.0; });
  EXPECT_FALSE(sim.d_.panic());
  EXPECT_EQ(sim.replicas_, 15);
}

TEST(AutoscalerDeciderTest, RisingLoadNeverScalesDown) {
  // An exponential ramp (x2 every 20 s) with noise: the 60 s average lags far behind the 6 s
  // one; replicas must only go up while the load rises.
  Sim sim({}, {.min = 0, .max = 1000, .target = 10});
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> noise(-0.1, 0.1);
  sim.Run(seconds(200), [&](Duration t) {
    return 2 * std::pow(2.0, std::chrono::duration<double>(t).count() / 20) * (1 + noise(rng));
  });
  ASSERT_GE(sim.writes_.size(), 5u);
  for (size_t i = 1; i < sim.writes_.size(); ++i) {
    EXPECT_GT(sim.writes_[i].second, sim.writes_[i - 1].second)
        << "scaled down at " << std::chrono::duration<double>(sim.writes_[i].first).count() << " s";
  }
  EXPECT_GE(sim.replicas_, 180) << sim.last_.reason;  // ~2048 at the end, target 10
}

TEST(AutoscalerDeciderTest, MaxScaleUpRateRelativeToReady) {
  DeciderOptions opts;
  opts.max_scale_up_rate = 4;
  Sim sim(opts, {.min = 0, .max = 1000, .target = 1});
  sim.startup_ = seconds(100);  // nothing becomes ready
  sim.Run(seconds(3), [](Duration) { return 100.0; });
  EXPECT_EQ(sim.replicas_, 4);
}

}  // namespace
}  // namespace kfaas::autoscaler

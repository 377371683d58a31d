#include "autoscaler/core/window.h"

#include <gtest/gtest.h>

namespace kfaas::autoscaler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class AutoscalerWindowTest : public ::testing::Test {
 protected:
  SteadyTime t0_ = SteadyTime{} + std::chrono::hours(1);
  SteadyTime At(Duration d) const { return t0_ + d; }
};

TEST_F(AutoscalerWindowTest, EmptyIsZero) {
  TimeWeightedWindow w(milliseconds(100), seconds(60));
  EXPECT_TRUE(w.Empty());
  EXPECT_EQ(w.Average(t0_, seconds(6)), 0);
}

TEST_F(AutoscalerWindowTest, NoTimePassedGivesCurrentLevel) {
  TimeWeightedWindow w(milliseconds(100), seconds(60));
  w.Set(t0_, 7);
  EXPECT_DOUBLE_EQ(w.Average(t0_, seconds(6)), 7);
}

TEST_F(AutoscalerWindowTest, ConstantLevelAveragesToItself) {
  TimeWeightedWindow w(milliseconds(100), seconds(60));
  w.Set(t0_, 5);
  EXPECT_NEAR(w.Average(At(seconds(90)), seconds(60)), 5, 1e-9);
  EXPECT_NEAR(w.Average(At(seconds(90)), seconds(6)), 5, 1e-9);
}

TEST_F(AutoscalerWindowTest, YoungSignalAveragesSinceFirstSet) {
  TimeWeightedWindow w(milliseconds(100), seconds(60));
  w.Set(t0_, 10);
  w.Set(At(seconds(1)), 20);
  // 1 s at 10 and 1 s at 20 over 2 s covered (not over the 60 s window).
  EXPECT_NEAR(w.Average(At(seconds(2)), seconds(60)), 15, 1e-9);
}

TEST_F(AutoscalerWindowTest, StepIsTimeWeighted) {
  TimeWeightedWindow w(milliseconds(100), seconds(60));
  w.Set(t0_, 0);
  w.Set(At(seconds(60)), 100);
  // 3 s of 100 in a 6 s window: 50; in a 60 s window: 5.
  EXPECT_NEAR(w.Average(At(seconds(63)), seconds(6)), 50, 1e-9);
  EXPECT_NEAR(w.Average(At(seconds(63)), seconds(60)), 5, 1e-9);
}

TEST_F(AutoscalerWindowTest, PartialBucketsCountInProportion) {
  TimeWeightedWindow w(seconds(1), seconds(10));
  w.Set(t0_, 0);
  w.Set(At(milliseconds(10500)), 10);
  // The window [11.25, 13.25]: all at 10.
  EXPECT_NEAR(w.Average(At(milliseconds(13250)), seconds(2)), 10, 0.01);
  // The window [9.5, 11.5]: 1 s at 0, 1 s at 10 -> 5, within a bucket's proportional error.
  TimeWeightedWindow v(seconds(1), seconds(10));
  v.Set(t0_, 0);
  v.Set(At(milliseconds(10500)), 10);
  EXPECT_NEAR(v.Average(At(milliseconds(11500)), seconds(2)), 5, 0.5);
}

TEST_F(AutoscalerWindowTest, ManySamplesBetweenBuckets) {
  TimeWeightedWindow w(milliseconds(100), seconds(60));
  // Alternating 0 / 10 every 10 ms averages 5.
  for (int i = 0; i < 6000; ++i) w.Set(At(milliseconds(10 * i)), i % 2 ? 10 : 0);
  EXPECT_NEAR(w.Average(At(seconds(60)), seconds(6)), 5, 0.01);
}

TEST_F(AutoscalerWindowTest, LongGapKeepsLevelAndBoundedMemory) {
  TimeWeightedWindow w(milliseconds(100), seconds(60));
  w.Set(t0_, 3);
  // Hours later the level is still 3 (it was never changed).
  EXPECT_NEAR(w.Average(At(std::chrono::hours(5)), seconds(60)), 3, 1e-9);
  w.Set(At(std::chrono::hours(5)), 0);
  EXPECT_NEAR(w.Average(At(std::chrono::hours(5) + seconds(30)), seconds(60)), 1.5, 1e-6);
}

TEST_F(AutoscalerWindowTest, ResetForgets) {
  TimeWeightedWindow w(milliseconds(100), seconds(60));
  w.Set(t0_, 100);
  w.Reset();
  EXPECT_TRUE(w.Empty());
  w.Set(At(seconds(10)), 1);
  EXPECT_NEAR(w.Average(At(seconds(20)), seconds(60)), 1, 1e-9);
}

}  // namespace
}  // namespace kfaas::autoscaler

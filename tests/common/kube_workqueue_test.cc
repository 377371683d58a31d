#include "common/kube/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/common/kube_test_util.h"

namespace kfaas::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::WaitFor;

std::unique_ptr<RateLimiter> NoLimit() {
  return ExponentialRateLimiter(Duration::zero(), Duration::zero());
}

TEST(WorkQueue, AddGetDoneAndDedup) {
  FakeClock clock;
  WorkQueue q(clock, NoLimit());
  q.Add("a");
  q.Add("b");
  q.Add("a");  // already queued: no-op
  EXPECT_EQ(q.Len(), 2);
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "a");
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "b");
  EXPECT_EQ(q.Len(), 0);
  q.Done("a");
  q.Done("b");
  EXPECT_EQ(q.Len(), 0);
}

TEST(WorkQueue, AddWhileProcessingRequeuesOnceOnDone) {
  FakeClock clock;
  WorkQueue q(clock, NoLimit());
  q.Add("a");
  std::string item;
  ASSERT_TRUE(q.Get(&item));
  q.Add("a");  // dirty while processing: not handed to another worker
  q.Add("a");
  EXPECT_EQ(q.Len(), 0);
  q.Done("a");
  EXPECT_EQ(q.Len(), 1);  // exactly once
  ASSERT_TRUE(q.Get(&item));
  EXPECT_EQ(item, "a");
  q.Done("a");
  EXPECT_EQ(q.Len(), 0);
}

TEST(WorkQueue, NoTwoWorkersProcessTheSameItem) {
  FakeClock clock;
  WorkQueue q(clock, NoLimit());
  std::atomic<int> in_flight{0}, max_in_flight{0}, processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      std::string item;
      while (q.Get(&item)) {
        int now = ++in_flight;
        int prev = max_in_flight.load();
        while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        --in_flight;
        ++processed;
        q.Done(item);
      }
    });
  }
  for (int i = 0; i < 300; ++i) q.Add("same");
  ASSERT_TRUE(WaitFor([&] { return q.Len() == 0 && in_flight == 0 && processed > 0; }));
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(max_in_flight.load(), 1);
}

TEST(WorkQueue, GetBlocksUntilAddAndShutDownUnblocks) {
  FakeClock clock;
  WorkQueue q(clock, NoLimit());
  std::atomic<bool> got{false};
  std::thread t([&] {
    std::string item;
    if (q.Get(&item)) got = true;
  });
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(got);
  q.Add("x");
  t.join();
  EXPECT_TRUE(got);

  std::atomic<int> result{-1};
  std::thread t2([&] {
    std::string item;
    result = q.Get(&item) ? 1 : 0;
  });
  std::this_thread::sleep_for(milliseconds(20));
  q.ShutDown();
  t2.join();
  EXPECT_EQ(result, 0);
  EXPECT_TRUE(q.ShuttingDown());
  q.Add("y");  // ignored
  EXPECT_EQ(q.Len(), 0);
  std::string item;
  EXPECT_FALSE(q.Get(&item));
}

TEST(WorkQueue, AddAfterWaitsOnTheClock) {
  FakeClock clock;
  WorkQueue q(clock, NoLimit());
  q.AddAfter("late", seconds(10));
  q.AddAfter("soon", seconds(2));
  q.AddAfter("now", Duration::zero());
  EXPECT_EQ(q.Len(), 1);
  clock.Advance(seconds(1));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(q.Len(), 1);
  clock.Advance(seconds(1));
  ASSERT_TRUE(WaitFor([&] { return q.Len() == 2; }));
  clock.Advance(seconds(8));
  ASSERT_TRUE(WaitFor([&] { return q.Len() == 3; }));
  std::string a, b, c;
  q.Get(&a);
  q.Get(&b);
  q.Get(&c);
  EXPECT_EQ(a, "now");
  EXPECT_EQ(b, "soon");
  EXPECT_EQ(c, "late");
}

TEST(WorkQueue, AddAfterKeepsTheEarliestTime) {
  FakeClock clock;
  WorkQueue q(clock, NoLimit());
  q.AddAfter("x", seconds(10));
  q.AddAfter("x", seconds(3));   // earlier: wins
  q.AddAfter("x", seconds(20));  // later: ignored
  clock.Advance(seconds(3));
  ASSERT_TRUE(WaitFor([&] { return q.Len() == 1; }));
  std::string item;
  q.Get(&item);
  q.Done(item);
  clock.Advance(seconds(30));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(q.Len(), 0);  // the stale 10 s and 20 s schedules did not fire again
}

TEST(WorkQueue, AddRateLimitedBacksOffPerItemAndForgetResets) {
  FakeClock clock;
  WorkQueue q(clock, ExponentialRateLimiter(milliseconds(5), seconds(1000)));
  q.AddRateLimited("x");  // 5 ms
  EXPECT_EQ(q.NumRequeues("x"), 1);
  clock.Advance(milliseconds(4));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(q.Len(), 0);
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(WaitFor([&] { return q.Len() == 1; }));
  std::string item;
  q.Get(&item);
  q.Done(item);
  q.AddRateLimited("x");  // 10 ms
  clock.Advance(milliseconds(9));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(q.Len(), 0);
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(WaitFor([&] { return q.Len() == 1; }));
  q.Forget("x");
  EXPECT_EQ(q.NumRequeues("x"), 0);
}

TEST(RateLimiters, ExponentialDoublesAndCaps) {
  auto rl = ExponentialRateLimiter(milliseconds(5), seconds(1000));
  EXPECT_EQ(rl->When("a"), milliseconds(5));
  EXPECT_EQ(rl->When("a"), milliseconds(10));
  EXPECT_EQ(rl->When("a"), milliseconds(20));
  EXPECT_EQ(rl->When("b"), milliseconds(5));  // per item
  for (int i = 0; i < 100; ++i) rl->When("a");
  EXPECT_EQ(rl->When("a"), seconds(1000));
  EXPECT_EQ(rl->NumRequeues("a"), 104);
  rl->Forget("a");
  EXPECT_EQ(rl->When("a"), milliseconds(5));
}

TEST(RateLimiters, TokenBucketAllowsBurstThenPaces) {
  FakeClock clock;
  auto rl = TokenBucketRateLimiter(clock, 10, 100);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(rl->When("i" + std::to_string(i)), Duration::zero());
  EXPECT_EQ(rl->When("x"), milliseconds(100));
  EXPECT_EQ(rl->When("y"), milliseconds(200));
  clock.Advance(seconds(1));  // 10 tokens back: pays the 2 owed, 8 left... minus nothing
  EXPECT_EQ(rl->When("z"), Duration::zero());
  EXPECT_EQ(rl->NumRequeues("z"), 0);
}

TEST(RateLimiters, DefaultControllerIsMaxOfBoth) {
  FakeClock clock;
  auto rl = DefaultControllerRateLimiter(clock);
  EXPECT_EQ(rl->When("a"), milliseconds(5));  // bucket has burst: per-item wins
  EXPECT_EQ(rl->When("a"), milliseconds(10));
  EXPECT_EQ(rl->NumRequeues("a"), 2);
  for (int i = 0; i < 98; ++i) rl->When("other" + std::to_string(i));
  // The bucket is now empty: 100 ms for the next token beats 5 ms.
  EXPECT_EQ(rl->When("fresh"), milliseconds(100));
  rl->Forget("a");
  EXPECT_EQ(rl->NumRequeues("a"), 0);
}

TEST(WriteHold, TheFirstArmStandsUntilItsTimeThenItIsGone) {
  FakeClock clock;
  WriteHold hold;
  SteadyTime t0 = clock.Now();
  EXPECT_EQ(hold.Remaining("a", t0), Duration::zero()) << "not held";
  hold.Arm("a", t0 + milliseconds(100));
  hold.Arm("a", t0 + milliseconds(500));  // already held: the earlier hold stands
  hold.Arm("b", t0 + milliseconds(50));
  EXPECT_EQ(hold.Remaining("a", t0 + milliseconds(30)), milliseconds(70));
  EXPECT_EQ(hold.Remaining("b", t0 + milliseconds(30)), milliseconds(20));
  EXPECT_EQ(hold.Remaining("a", t0 + milliseconds(100)), Duration::zero()) << "its time came";
  // Gone once its time came: a new Arm starts a new hold.
  hold.Arm("a", t0 + milliseconds(300));
  EXPECT_EQ(hold.Remaining("a", t0 + milliseconds(200)), milliseconds(100));
  hold.Clear("a");
  EXPECT_EQ(hold.Remaining("a", t0 + milliseconds(200)), Duration::zero());
  EXPECT_EQ(hold.Remaining("b", t0 + milliseconds(40)), milliseconds(10)) << "keys are apart";
}

}  // namespace
}  // namespace kfaas::kube

// Activator gRPC port -> StatsCollector -> ScalingLoop, over real loopback gRPC and real time.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "autoscaler/loop/scaling_loop.h"
#include "autoscaler/loop/stats_collector.h"
#include "autoscaler/service/activator_scaler_server.h"
#include "common/metrics/metrics.h"
#include "kfaas/v1/stats.pb.h"
#include "tests/autoscaler/fakes.h"
#include "tests/autoscaler/loop_fakes.h"
#include "tests/testutil/fake_client.h"
#include "tests/testutil/time_scale.h"

namespace kfaas::autoscaler {
namespace {

using kfaas::testing::Scaled;
using kfaas::testing::WaitFor;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BlackHole;

class FakeActivator {
 public:
  explicit FakeActivator(std::string id, std::string address = "127.0.0.1:0") {
    functions.Add("default", "hello", 10);
    server_ = std::make_unique<ActivatorScalerServer>(
        ActivatorScalerDeps{.stats = &stats, .functions = &functions},
        ActivatorScalerOptions{
            .address = address, .activator_id = id, .hub = {.poll_interval = milliseconds(20)}});
    EXPECT_TRUE(server_->Start().ok());
  }
  std::string Address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  void Stop() { server_->Stop(); }
  void Notify() { server_->Notify(); }

  testing::FakeStatsSource stats;
  testing::FakeFunctionInfo functions;

 private:
  std::unique_ptr<ActivatorScalerServer> server_;
};

class RecordingSink : public StatsSink {
 public:
  void OnReport(const std::string& address, const kfaas::v1::StatsReport& r) override {
    std::lock_guard<std::mutex> l(mu_);
    int64_t c = 0;
    for (const auto& f : r.functions()) c += f.in_flight() + f.queued();
    last_[address] = c;
    ++reports_[address];
  }
  void OnDisconnected(const std::string& address) override {
    std::lock_guard<std::mutex> l(mu_);
    ++disconnects_[address];
  }
  int64_t Last(const std::string& a) {
    std::lock_guard<std::mutex> l(mu_);
    return last_.count(a) ? last_[a] : -1;
  }
  int Reports(const std::string& a) {
    std::lock_guard<std::mutex> l(mu_);
    return reports_[a];
  }
  int Disconnects(const std::string& a) {
    std::lock_guard<std::mutex> l(mu_);
    return disconnects_[a];
  }

 private:
  std::mutex mu_;
  std::map<std::string, int64_t> last_;
  std::map<std::string, int> reports_, disconnects_;
};

TEST(AutoscalerPipelineTest, CollectorStreamsAndReconnects) {
  auto act = std::make_unique<FakeActivator>("a");
  act->stats.Set("default", "hello", 5, 0, 5);
  const std::string address = act->Address();
  BlackHole hung;
  RecordingSink sink;
  metrics::Registry registry;
  StatsCollector collector(
      sink, {.interval = milliseconds(100), .silence_timeout = Scaled(seconds(3))}, &registry);
  collector.SetAddresses({hung.address(), address, "127.0.0.1:1"});
  // The hung and refused activators do not hold up the live one.
  ASSERT_TRUE(WaitFor([&] { return sink.Last(address) == 5; }, Scaled(seconds(5))));
  EXPECT_EQ(collector.Connected(), std::vector<std::string>{address});

  act->Stop();
  act.reset();
  ASSERT_TRUE(WaitFor([&] { return sink.Disconnects(address) == 1; }, Scaled(seconds(5))));
  // The activator comes back on the same port: the stream resumes.
  act = std::make_unique<FakeActivator>("a", address);
  act->stats.Set("default", "hello", 9, 0, 9);
  ASSERT_TRUE(WaitFor([&] { return sink.Last(address) == 9; }, Scaled(seconds(10))));
  EXPECT_NE(registry.Serialize().find("kfaas_autoscaler_activators_connected 1"),
            std::string::npos);

  // Removing an address ends its stream (SetAddresses joins it: nothing arrives afterwards).
  collector.SetAddresses({});
  EXPECT_TRUE(collector.Connected().empty());
  EXPECT_NE(registry.Serialize().find("kfaas_autoscaler_activators_connected 0"),
            std::string::npos);
}

TEST(AutoscalerPipelineTest, StepReachesTheRightReplicasWithinASecond) {
  FakeActivator a("a"), b("b");
  a.stats.Set("default", "hello", 1, 0, 1);
  b.stats.Set("default", "hello", 0);
  testing::FakeTargets targets;
  targets.Set("default", "hello", 1, 1, {.min = 0, .max = 100, .target = 10});
  testing::FakeWriter writer(&targets);
  metrics::Registry registry;
  ScalingLoop loop(targets, writer, nullptr, RealClock::Get(), registry);
  StatsCollector collector(loop, {.interval = milliseconds(200)}, &registry);
  collector.SetAddresses({a.Address(), b.Address()});
  loop.Start();
  ASSERT_TRUE(WaitFor([&] { return collector.Connected().size() == 2; }, Scaled(seconds(5))));
  ASSERT_TRUE(
      WaitFor([&] { return loop.Concurrency("default", "hello") == 1; }, Scaled(seconds(5))));

  // 200 in flight, split over both activators.
  const auto start = std::chrono::steady_clock::now();
  a.stats.Set("default", "hello", 120, 0, 119);
  b.stats.Set("default", "hello", 60, 20, 80);
  a.Notify();
  b.Notify();
  ASSERT_TRUE(
      WaitFor([&] { return targets.Get("default", "hello").replicas == 20; }, Scaled(seconds(5))));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, Scaled(seconds(1)))
      << std::chrono::duration_cast<milliseconds>(took).count() << " ms";
  loop.Stop();
  collector.Stop();
}

}  // namespace
}  // namespace kfaas::autoscaler

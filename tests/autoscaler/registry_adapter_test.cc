// KEDA's ExternalScaler and kfaas.v1.Stats served over the real activator core (Registry).
#include "autoscaler/activator/registry_adapter.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "autoscaler/activator/peers.h"
#include "autoscaler/service/activator_scaler_server.h"
#include "common/metrics/metrics.h"
#include "externalscaler.grpc.pb.h"
#include "tests/activator/fakes.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::autoscaler {
namespace {

using nlohmann::json;

class AutoscalerRegistryAdapterTest : public ::testing::Test {
 protected:
  AutoscalerRegistryAdapterTest() : am_(metrics_) {
    activator::CoreDeps d;
    d.clock = &clock_;
    d.scaler = &scaler_;
    d.metrics = &am_;
    d.global = &global_;
    registry_ = std::make_unique<activator::Registry>(d);
    registry_->OnFunction(
        {{"metadata", {{"name", "hello"}, {"namespace", "default"}}},
         {"spec", {{"scale", {{"target", 5}, {"max", 30}, {"idleWindowSeconds", 120}}}}}});
    registry_->OnEndpointSlice(
        {{"metadata",
          {{"name", "hello-1"},
           {"namespace", "default"},
           {"labels", {{"kubernetes.io/service-name", "hello"}}}}},
         {"ports", {{{"name", "http"}, {"port", 8080}}}},
         {"endpoints", {{{"addresses", {"10.0.0.1"}}, {"conditions", {{"ready", true}}}}}}});
  }

  RealClock& clock_ = RealClock::Get();
  activator::testing::FakeScaler scaler_;
  metrics::Registry metrics_;
  activator::ActivatorMetrics am_;
  activator::GlobalCounters global_;
  std::unique_ptr<activator::Registry> registry_;
};

TEST_F(AutoscalerRegistryAdapterTest, LookupAndSnapshot) {
  RegistryFunctionInfo info(*registry_);
  auto scale = info.Lookup("default", "hello");
  ASSERT_TRUE(scale.has_value());
  EXPECT_EQ(scale->bounds, (ScaleBounds{.min = 0, .max = 30, .target = 5}));
  EXPECT_EQ(scale->idle_window_seconds, 120);
  EXPECT_FALSE(info.Lookup("default", "nope").has_value());

  auto fn = registry_->Find("default", "hello");
  activator::Lease lease;
  ASSERT_EQ(fn->TryAdmit(clock_.Now(), &lease), activator::AdmitResult::kGranted);
  RegistryStatsSource stats(*registry_);
  auto snap = stats.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].ns, "default");
  EXPECT_EQ(snap[0].name, "hello");
  EXPECT_EQ(snap[0].in_flight, 1);
  EXPECT_EQ(snap[0].arrivals_total, 1);
  EXPECT_EQ(snap[0].ready_instances, 1);
  fn->Release(lease, true);
}

TEST_F(AutoscalerRegistryAdapterTest, ExternalScalerOverTheActivatorCore) {
  RegistryStatsSource stats(*registry_);
  RegistryFunctionInfo info(*registry_);
  ActivatorScalerServer server({.stats = &stats, .functions = &info},
                               {.address = "127.0.0.1:0", .activator_id = "act"});
  ASSERT_TRUE(server.Start().ok());
  auto stub = externalscaler::ExternalScaler::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server.port()), grpc::InsecureChannelCredentials()));
  externalscaler::ScaledObjectRef ref;
  ref.set_name("hello");
  ref.set_namespace_("default");
  auto metric = [&] {
    grpc::ClientContext ctx;
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = ref;
    externalscaler::GetMetricsResponse resp;
    EXPECT_TRUE(stub->GetMetrics(&ctx, req, &resp).ok());
    return resp.metricvalues(0).metricvalue();
  };
  auto active = [&] {
    grpc::ClientContext ctx;
    externalscaler::IsActiveResponse resp;
    EXPECT_TRUE(stub->IsActive(&ctx, ref, &resp).ok());
    return resp.result();
  };
  EXPECT_FALSE(active());
  {
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse resp;
    ASSERT_TRUE(stub->GetMetricSpec(&ctx, ref, &resp).ok());
    EXPECT_EQ(resp.metricspecs(0).metricname(), "kfaas-default-hello-concurrency");
    EXPECT_EQ(resp.metricspecs(0).targetsize(), 5);
  }
  // Three requests in flight through the activator's own admission.
  auto fn = registry_->Find("default", "hello");
  std::vector<activator::Lease> leases(3);
  for (auto& l : leases) {
    ASSERT_EQ(fn->TryAdmit(clock_.Now(), &l), activator::AdmitResult::kGranted);
  }
  server.Notify();
  ASSERT_TRUE(kfaas::testing::WaitFor([&] { return metric() == 3; }));
  EXPECT_TRUE(active());
  for (auto& l : leases) fn->Release(l, true);
  ASSERT_TRUE(kfaas::testing::WaitFor([&] { return metric() == 0; }));
  EXPECT_TRUE(active()) << "an arrival within the idle window keeps it active";
  server.Stop();
}

// --peers: every listed activator but this one (any local address with its own gRPC port).
TEST(AutoscalerResolvingPeersTest, LeavesItselfOut) {
  ResolvingPeers peers({"127.0.0.1:5000", "127.0.0.1:5001", "localhost:5000", "192.0.2.7:5000"},
                       5000);
  EXPECT_EQ(peers.Peers(), (std::vector<std::string>{"127.0.0.1:5001", "192.0.2.7:5000"}));
  // It asked for a free port and got 5001.
  ResolvingPeers late({"127.0.0.1:5000", "127.0.0.1:5001", "192.0.2.7:5000"}, 0);
  late.SetOwnPort(5001);
  EXPECT_EQ(late.Peers(), (std::vector<std::string>{"127.0.0.1:5000", "192.0.2.7:5000"}));
  EXPECT_TRUE(LocalAddresses().count("127.0.0.1"));
}

}  // namespace
}  // namespace kfaas::autoscaler

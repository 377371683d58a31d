// The kube adapters against the in-memory FakeClient (and the real Informer).
#include "activator/kube/kube_adapters.h"

#include <gtest/gtest.h>

#include <future>

#include "activator/core/registry.h"
#include "tests/activator/harness.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::activator {
namespace {

using Json = nlohmann::json;
using kfaas::testing::FakeClient;

Json Deployment(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"replicas", replicas}}}};
}

TEST(KubeScaler, PatchesScaleSubresourceAndReadsReplicas) {
  auto client = std::make_shared<FakeClient>();
  client->Seed(kube::resources::kDeployments, Deployment("hello", 0));
  kube::Informer deployments(client, kube::resources::kDeployments);
  deployments.Start();
  ASSERT_TRUE(deployments.WaitForSync(std::chrono::seconds(5)));
  AsyncWorker worker;
  KubeScaler scaler(client, &deployments, &worker);
  EXPECT_EQ(scaler.CurrentReplicas("default", "hello"), 0);
  EXPECT_EQ(scaler.CurrentReplicas("default", "nope"), std::nullopt);
  std::promise<absl::Status> done;
  scaler.ScaleTo("default", "hello", 1, [&](absl::Status s) { done.set_value(s); });
  ASSERT_TRUE(done.get_future().get().ok());
  auto writes = client->Writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "patch");
  EXPECT_EQ(writes[0].resource, "deployments");
  EXPECT_EQ(writes[0].subresource, "scale");
  EXPECT_EQ(writes[0].object, Json::parse(R"({"spec":{"replicas":1}})"));
  EXPECT_TRUE(
      activator::testing::WaitFor([&] { return scaler.CurrentReplicas("default", "hello") == 1; }));
  std::promise<absl::Status> failed;
  scaler.ScaleTo("default", "missing", 1, [&](absl::Status s) { failed.set_value(s); });
  auto st = failed.get_future().get();
  EXPECT_TRUE(absl::IsNotFound(st));
  EXPECT_NE(std::string(st.message()).find("deployments/missing/scale"), std::string::npos);
  deployments.Stop();
}

TEST(KubeColdStartReporter, PatchesFunctionStatus) {
  ColdStartRecord r;
  r.ns = "default";
  r.name = "hello";
  r.time = WallTime{} + std::chrono::seconds(1767225600);
  r.total = std::chrono::milliseconds(123);
  EXPECT_EQ(KubeColdStartReporter::StatusPatch(r),
            Json::parse(R"({"status":{"lastColdStart":{"time":"2026-01-01T00:00:00Z",
                           "durationMilliseconds":123}}})"));
  auto client = std::make_shared<FakeClient>();
  client->Seed(kube::resources::kFunctions, activator::testing::FunctionJson("default", "hello"));
  {
    AsyncWorker worker;
    KubeColdStartReporter rep(client, &worker, std::chrono::milliseconds(300));
    auto reported = std::chrono::steady_clock::now();
    rep.Report(r);
    // Written after its delay (not while the cold start's first answer is relayed); the
    // worker's shutdown waits for it and still writes it.
    worker.Shutdown();
    EXPECT_GE(std::chrono::steady_clock::now() - reported, std::chrono::milliseconds(300));
  }
  auto writes = client->Writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].resource, "functions");
  EXPECT_EQ(writes[0].subresource, "status");
}

TEST(KubeUpdateSource, FeedsTheRegistry) {
  auto client = std::make_shared<FakeClient>();
  client->Seed(kube::resources::kFunctions, activator::testing::FunctionJson("default", "hello"));
  client->Seed(kube::resources::kEndpointSlices,
               activator::testing::SliceJson("default", "hello-1", "hello", 8080, true));
  metrics::Registry mr;
  ActivatorMetrics am(mr);
  GlobalCounters global;
  activator::testing::FakeScaler scaler;
  CoreDeps d;
  d.clock = &RealClock::Get();
  d.scaler = &scaler;
  d.metrics = &am;
  d.global = &global;
  Registry reg(d);
  KubeUpdateSource source(client, "");
  source.Start(&reg);
  ASSERT_TRUE(activator::testing::WaitFor([&] { return source.HasSynced(); }));
  ASSERT_TRUE(activator::testing::WaitFor([&] {
    auto fs = reg.Snapshot()->ByName("default", "hello");
    return fs && fs->Stats().ready_instances == 1;
  }));
  client->Seed(kube::resources::kEndpointSlices,
               activator::testing::SliceJson("default", "hello-1", "hello", 8080, false));
  ASSERT_TRUE(activator::testing::WaitFor(
      [&] { return reg.Find("default", "hello")->Stats().ready_instances == 0; }));
  ASSERT_TRUE(client->Delete(kube::resources::kFunctions, "default", "hello").ok());
  ASSERT_TRUE(activator::testing::WaitFor(
      [&] { return reg.Snapshot()->ByName("default", "hello") == nullptr; }));
  source.Stop();
}

}  // namespace
}  // namespace kfaas::activator

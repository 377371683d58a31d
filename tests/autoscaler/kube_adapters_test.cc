// The loop over Kubernetes: adapters against FakeClient, and the whole Autoscaler fed by a real
// activator gRPC port.
#include "autoscaler/loop/kube_adapters.h"

#include <gtest/gtest.h>

#include "autoscaler/loop/autoscaler.h"
#include "autoscaler/loop/discovery.h"
#include "autoscaler/service/activator_scaler_server.h"
#include "common/metrics/metrics.h"
#include "tests/autoscaler/fakes.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::autoscaler {
namespace {

using kfaas::testing::FakeClient;
using kfaas::testing::WaitFor;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

json Function(const std::string& name, json scale = json::object()) {
  return {{"apiVersion", "kfaas.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"image", "x"}, {"scale", scale}}}};
}

json Deployment(const std::string& name, int replicas, int ready) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"labels", {{"app.kubernetes.io/managed-by", "kfaas"}, {"kfaas.dev/function", name}}}}},
          {"spec", {{"replicas", replicas}}},
          {"status", {{"replicas", replicas}, {"readyReplicas", ready}}}};
}

TEST(AutoscalerKubeTest, MakeTargetReadsFunctionAndDeployment) {
  auto fn =
      std::make_shared<const json>(Function("hello", {{"min", 2}, {"max", 9}, {"target", 4}}));
  auto dep = std::make_shared<const json>(
      json::parse(R"({"metadata":{"name":"hello","resourceVersion":"42"},
                      "spec":{"replicas":3},"status":{"readyReplicas":2}})"));
  auto t = MakeTarget(fn, dep);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->scale.bounds, (ScaleBounds{.min = 2, .max = 9, .target = 4}));
  EXPECT_TRUE(t->has_deployment);
  EXPECT_EQ(t->replicas, 3);
  EXPECT_EQ(t->ready_replicas, 2);
  EXPECT_EQ(t->resource_version, "42");
  auto none = MakeTarget(fn, nullptr);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_deployment);
  // A Deployment without spec.replicas has 1.
  auto implicit = MakeTarget(fn, std::make_shared<const json>(json::parse(R"({"metadata":{}})")));
  EXPECT_EQ(implicit->replicas, 1);
}

TEST(AutoscalerKubeTest, SliceAddresses) {
  auto slice = json::parse(R"({
    "ports": [{"name": "metrics", "port": 9090}, {"name": "grpc", "port": 9095}],
    "endpoints": [
      {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
      {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
      {"addresses": ["10.0.0.3"], "conditions": {"ready": false, "terminating": true}},
      {"addresses": ["fd00::4"]}
    ]})");
  EXPECT_EQ(SliceAddresses(slice, "grpc"),
            (std::vector<std::string>{"10.0.0.1:9095", "10.0.0.2:9095", "[fd00::4]:9095"}));
  EXPECT_EQ(SliceAddresses(slice, "9090").size(), 3u);
  EXPECT_TRUE(SliceAddresses(slice, "http").empty());
}

TEST(AutoscalerKubeTest, DiscoveryResolvesNamesAndKeepsLiterals) {
  std::string host, port;
  ASSERT_TRUE(SplitHostPort("[::1]:9095", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(SplitHostPort("no-port", &host, &port));
  ResolvingDiscovery d({"127.0.0.1:9095", "localhost:9096", "[::1]:9097", "bad"});
  auto got = d.Addresses();
  EXPECT_NE(std::find(got.begin(), got.end(), "127.0.0.1:9095"), got.end());
  EXPECT_NE(std::find(got.begin(), got.end(), "127.0.0.1:9096"), got.end());
  EXPECT_NE(std::find(got.begin(), got.end(), "[::1]:9097"), got.end());
  EXPECT_EQ(std::find(got.begin(), got.end(), "bad"), got.end());
}

TEST(AutoscalerKubeTest, ScaleWriterPatchesScaleWithAPrecondition) {
  FakeClock clock;
  auto client = std::make_shared<FakeClient>(clock);
  json dep = client->Seed(kube::resources::kDeployments, Deployment("hello", 1, 1));
  const std::string rv = dep["metadata"]["resourceVersion"];
  KubeScaleWriter writer(client);
  ASSERT_TRUE(writer.Scale("default", "hello", 20, rv).ok());
  auto writes = client->Writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "patch");
  EXPECT_EQ(writes[0].subresource, "scale");
  EXPECT_EQ(writes[0].object, json::parse(R"({"metadata":{"resourceVersion":")" + rv +
                                          R"("},"spec":{"replicas":20}})"));
  EXPECT_EQ(
      (*client->Object(kube::resources::kDeployments, "default", "hello"))["spec"]["replicas"], 20);

  // Stale version, Deployment still up: re-read and write again.
  ASSERT_TRUE(writer.Scale("default", "hello", 30, rv).ok());
  EXPECT_EQ(
      (*client->Object(kube::resources::kDeployments, "default", "hello"))["spec"]["replicas"], 30);

  // Stale version, and the activator scaled it to zero meanwhile: leave it.
  client->Seed(kube::resources::kDeployments, Deployment("hello", 0, 0));
  absl::Status s = writer.Scale("default", "hello", 5, rv);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_EQ(
      (*client->Object(kube::resources::kDeployments, "default", "hello"))["spec"]["replicas"], 0);
}

TEST(AutoscalerKubeTest, AutoscalerScalesADeploymentFromActivatorStats) {
  // An activator's gRPC port with 200 requests in flight for default/hello.
  testing::FakeStatsSource stats;
  testing::FakeFunctionInfo functions;
  functions.Add("default", "hello", 10);
  stats.Set("default", "hello", 1, 0, 1);
  ActivatorScalerServer activator({.stats = &stats, .functions = &functions},
                                  {.address = "127.0.0.1:0", .activator_id = "act-1"});
  ASSERT_TRUE(activator.Start().ok());

  auto client = std::make_shared<FakeClient>();
  client->Seed(kube::resources::kFunctions, Function("hello", {{"target", 10}, {"max", 50}}));
  client->Seed(kube::resources::kFunctions,
               Function("viakeda", {{"target", 10}, {"autoscaler", "keda"}}));
  client->Seed(kube::resources::kDeployments, Deployment("hello", 1, 1));
  client->Seed(kube::resources::kDeployments, Deployment("viakeda", 1, 1));

  std::mutex mu;
  std::vector<std::string> events;
  AutoscalerOptions opts;
  opts.activator_addresses = {"127.0.0.1:" + std::to_string(activator.port())};
  opts.record_event = [&](const json& obj, std::string_view type, std::string_view reason,
                          std::string_view msg) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(obj["metadata"]["name"].get<std::string>() + " " + std::string(type) + " " +
                     std::string(reason) + " " + std::string(msg));
  };
  metrics::Registry registry;
  Autoscaler autoscaler(client, opts, registry);
  autoscaler.Start();
  ASSERT_TRUE(WaitFor([&] { return autoscaler.collector().Connected().size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return autoscaler.loop().Concurrency("default", "hello") == 1; }));

  stats.Set("default", "hello", 150, 50, 199);
  stats.Set("default", "viakeda", 500, 0, 500);
  activator.Notify();
  auto replicas = [&](const std::string& name) {
    return (*client->Object(kube::resources::kDeployments, "default", name))["spec"]["replicas"]
        .get<int>();
  };
  ASSERT_TRUE(WaitFor([&] { return replicas("hello") == 20; }, seconds(5)));
  EXPECT_EQ(replicas("viakeda"), 1) << "KEDA's functions are left alone";
  auto has_event = [&](const std::string& prefix) {
    std::lock_guard<std::mutex> l(mu);
    for (const auto& e : events) {
      if (e.rfind(prefix, 0) == 0) return true;
    }
    return false;
  };
  EXPECT_TRUE(WaitFor(
      [&] { return has_event("hello Normal ScaledUp Scaled deployment hello from 1 to 20"); }));
  // KEDA's function gets a ScaledObject pointing at the activator instead.
  EXPECT_TRUE(WaitFor([&] { return has_event("viakeda Normal ScaledObjectCreated"); }));
  auto so = client->Object(kScaledObjects, "default", "viakeda");
  ASSERT_TRUE(so.has_value());
  EXPECT_EQ((*so)["spec"]["triggers"][0]["metadata"]["scalerAddress"], opts.activator_addresses[0]);
  auto trace = autoscaler.TraceHandler()(
      {.method = "GET", .path = "/debug/autoscaler/trace", .query = "function=default%2Fhello"});
  EXPECT_NE(trace.body.find("default/hello"), std::string::npos) << trace.body;
  EXPECT_EQ(trace.body.find("viakeda"), std::string::npos);

  // Stop (lost leadership) and start again (leader again): it resumes.
  autoscaler.Stop();
  stats.Set("default", "hello", 400, 0, 400);
  autoscaler.Start();
  activator.Notify();
  EXPECT_TRUE(WaitFor([&] { return replicas("hello") == 40; }, seconds(5)));
  autoscaler.Stop();
  activator.Stop();
}

}  // namespace
}  // namespace kfaas::autoscaler

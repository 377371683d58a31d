#include "activator/core/registry.h"

#include <gtest/gtest.h>

#include "tests/activator/fakes.h"

namespace kfaas::activator {
namespace {

using Json = nlohmann::json;

Json Fn(const std::string& ns, const std::string& name, Json spec = Json::object()) {
  return {{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", spec}};
}

Json SliceJson(const std::string& ns, const std::string& name, const std::string& fn,
               std::vector<std::pair<std::string, bool>> eps, int port = 8080) {
  Json s = {{"metadata",
             {{"name", name}, {"namespace", ns}, {"labels", {{"kubernetes.io/service-name", fn}}}}},
            {"ports", {{{"name", "http"}, {"port", port}}}},
            {"endpoints", Json::array()}};
  for (auto& [addr, ready] : eps) {
    s["endpoints"].push_back({{"addresses", {addr}}, {"conditions", {{"ready", ready}}}});
  }
  return s;
}

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() : am_(metrics_) {
    CoreDeps d;
    d.clock = &clock_;
    d.scaler = &scaler_;
    d.metrics = &am_;
    d.global = &global_;
    registry_ = std::make_unique<Registry>(d);
  }
  FakeClock clock_;
  testing::FakeScaler scaler_;
  metrics::Registry metrics_;
  ActivatorMetrics am_;
  GlobalCounters global_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, SharedHostGoesToTheOldestClaimNotTheFirstName) {
  // "zeta" was created first; "alpha" sorts first by name but claims the host later.
  Json zeta = Fn("default", "zeta", {{"hosts", {"shared.example.com"}}});
  zeta["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z";
  Json alpha =
      Fn("default", "alpha", {{"hosts", {"shared.example.com", "zeta.default.kfaas.local"}}});
  alpha["metadata"]["creationTimestamp"] = "2026-01-02T00:00:00Z";
  registry_->OnFunction(alpha);
  registry_->OnFunction(zeta);
  const auto& t = registry_->Current();
  EXPECT_EQ(t.ByHost("shared.example.com"), t.ByName("default", "zeta"));
  // And no claim takes another function's generated host.
  EXPECT_EQ(t.ByHost("zeta.default.kfaas.local"), t.ByName("default", "zeta"));
  EXPECT_EQ(t.ByHost("alpha.default.kfaas.local"), t.ByName("default", "alpha"));
}

TEST_F(RegistryTest, RoutesByHostAndName) {
  registry_->OnFunction(Fn("default", "hello", {{"hosts", {"Hello.Example.com"}}}));
  const auto& t = registry_->Current();
  auto fs = t.ByHost("hello.default.kfaas.local");
  ASSERT_NE(fs, nullptr);
  EXPECT_EQ(t.ByHost("hello.example.com"), fs);
  EXPECT_EQ(t.ByName("default", "hello"), fs);
  // The state survives table swaps.
  registry_->OnFunction(Fn("default", "other"));
  EXPECT_EQ(registry_->Current().ByName("default", "hello"), fs);
  registry_->OnFunctionDeleted("default", "hello");
  EXPECT_EQ(registry_->Current().ByName("default", "hello"), nullptr);
  EXPECT_NE(registry_->Current().ByName("default", "other"), nullptr);
}

TEST_F(RegistryTest, SlicesBeforeFunctionAndLabelChanges) {
  registry_->OnEndpointSlice(SliceJson("default", "hello-1", "hello", {{"10.0.0.1", true}}));
  EXPECT_EQ(registry_->Current().ByName("default", "hello"), nullptr) << "no Function yet";
  registry_->OnFunction(Fn("default", "hello"));
  auto fs = registry_->Current().ByName("default", "hello");
  ASSERT_NE(fs, nullptr);
  EXPECT_EQ(fs->Stats().ready_instances, 1);
  registry_->OnEndpointSlice(SliceJson("default", "hello-1", "other", {{"10.0.0.1", true}}));
  EXPECT_EQ(fs->Stats().instances, 0);
  registry_->OnEndpointSlice(SliceJson("default", "hello-2", "hello", {{"10.0.0.2", true}}));
  EXPECT_EQ(fs->Stats().instances, 1);
  registry_->OnEndpointSliceDeleted(SliceJson("default", "hello-2", "hello", {}));
  EXPECT_EQ(fs->Stats().instances, 0);
}

Json PodJson(const std::string& ns, const std::string& name, const std::string& fn, Json status,
             Json annotations = Json::object(), Json ports = Json::array()) {
  Json labels = Json::object();
  if (!fn.empty()) labels["kfaas.dev/function"] = fn;
  return {{"metadata",
           {{"name", name}, {"namespace", ns}, {"labels", labels}, {"annotations", annotations}}},
          {"spec", {{"containers", {{{"name", "function"}, {"ports", ports}}}}}},
          {"status", status}};
}

TEST(ParsePodTest, LocalAnnotationClusterPodIpAndFinishedPods) {
  // kfaas-local: the port is reserved at creation; loopback until a podIP is written.
  PodInfo p = ParsePod(PodJson("default", "hello-abc", "hello", Json::object(),
                               {{"local.kfaas.dev/port", "20007"}}));
  EXPECT_EQ(p.ns, "default");
  EXPECT_EQ(p.name, "hello-abc");
  EXPECT_EQ(p.function, "hello");
  ASSERT_TRUE(p.endpoint);
  EXPECT_EQ(p.endpoint->Key(), "127.0.0.1:20007");
  EXPECT_FALSE(p.endpoint->ready);
  // A cluster: nothing before the podIP; then podIP + the container port named http.
  Json ports = {{{"name", "metrics"}, {"containerPort", 9000}},
                {{"name", "http"}, {"containerPort", 8080}}};
  EXPECT_FALSE(
      ParsePod(PodJson("ns", "p", "f", {{"phase", "Pending"}}, Json::object(), ports)).endpoint);
  p = ParsePod(PodJson("ns", "p", "f", {{"phase", "Running"}, {"podIP", "10.1.2.3"}},
                       Json::object(), ports));
  ASSERT_TRUE(p.endpoint);
  EXPECT_EQ(p.endpoint->Key(), "10.1.2.3:8080");
  // No port at all: the function's spec.port when given.
  EXPECT_FALSE(ParsePod(PodJson("ns", "p", "f", {{"podIP", "10.1.2.3"}})).endpoint);
  p = ParsePod(PodJson("ns", "p", "f", {{"podIP", "10.1.2.3"}}), 8081);
  ASSERT_TRUE(p.endpoint);
  EXPECT_EQ(p.endpoint->port, 8081);
  // Finished or terminating pods never listen again.
  EXPECT_FALSE(ParsePod(PodJson("ns", "p", "f", {{"phase", "Failed"}, {"podIP", "10.1.2.3"}},
                                Json::object(), ports))
                   .endpoint);
  Json terminating = PodJson("ns", "p", "f", {{"podIP", "10.1.2.3"}}, Json::object(), ports);
  terminating["metadata"]["deletionTimestamp"] = "2026-11-29T00:00:00Z";
  EXPECT_FALSE(ParsePod(terminating).endpoint);
  // Malformed: no crash, no endpoint.
  EXPECT_FALSE(ParsePod(Json::array()).endpoint);
  EXPECT_FALSE(
      ParsePod(PodJson("ns", "p", "f", Json::object(), {{"local.kfaas.dev/port", "x"}})).endpoint);
  EXPECT_FALSE(
      ParsePod(PodJson("ns", "p", "f", {{"podIP", 7}}, {{"local.kfaas.dev/port", 7}})).endpoint);
}

TEST_F(RegistryTest, PodsAddInstancesUntilTheyGo) {
  registry_->OnFunction(Fn("default", "hello", {{"port", 8080}}));
  auto fs = registry_->Find("default", "hello");
  ASSERT_NE(fs, nullptr);
  Json pod =
      PodJson("default", "hello-1", "hello", Json::object(), {{"local.kfaas.dev/port", "20001"}});
  registry_->OnPod(pod);
  EXPECT_EQ(fs->Stats().instances, 1);
  EXPECT_EQ(fs->Stats().ready_instances, 0);
  // A pod of another function, or without the label, adds nothing here.
  registry_->OnPod(
      PodJson("default", "x-1", "", Json::object(), {{"local.kfaas.dev/port", "20002"}}));
  EXPECT_EQ(fs->Stats().instances, 1);
  // Relabelled away, then back; then terminating; then deleted.
  registry_->OnPod(
      PodJson("default", "hello-1", "other", Json::object(), {{"local.kfaas.dev/port", "20001"}}));
  EXPECT_EQ(fs->Stats().instances, 0);
  EXPECT_NE(registry_->Find("default", "other"), nullptr);
  registry_->OnPod(pod);
  EXPECT_EQ(fs->Stats().instances, 1);
  Json terminating = pod;
  terminating["metadata"]["deletionTimestamp"] = "2026-11-29T00:00:00Z";
  registry_->OnPod(terminating);
  EXPECT_EQ(fs->Stats().instances, 0);
  registry_->OnPod(pod);
  registry_->OnPodDeleted(pod);
  EXPECT_EQ(fs->Stats().instances, 0);
  // A cluster pod without a port of its own: the function's spec.port.
  registry_->OnPod(PodJson("default", "hello-2", "hello", {{"podIP", "10.0.0.5"}}));
  auto d = registry_->Find("default", "hello")->Stats();
  EXPECT_EQ(d.instances, 1);
  // A deleted Function's state goes with its last pod.
  registry_->OnFunctionDeleted("default", "hello");
  EXPECT_NE(registry_->Find("default", "hello"), nullptr);
  registry_->OnPodDeleted(PodJson("default", "hello-2", "hello", {{"podIP", "10.0.0.5"}}));
  EXPECT_EQ(registry_->Find("default", "hello"), nullptr);
}

TEST_F(RegistryTest, StatsReaderGivesDeltas) {
  registry_->OnFunction(Fn("default", "hello"));
  registry_->OnEndpointSlice(SliceJson("default", "h", "hello", {{"10.0.0.1", true}}));
  auto fs = registry_->Find("default", "hello");
  StatsReader reader(registry_.get());
  Lease l;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(fs->TryAdmit(clock_.Now(), &l), AdmitResult::kGranted);
    fs->Release(l, true);
  }
  ASSERT_EQ(fs->TryAdmit(clock_.Now(), &l), AdmitResult::kGranted);
  auto d = reader.Read();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].arrivals, 4);
  EXPECT_EQ(d[0].completions, 3);
  EXPECT_EQ(d[0].in_flight, 1);
  EXPECT_EQ(d[0].ready_instances, 1);
  fs->Release(l, true);
  d = reader.Read();
  EXPECT_EQ(d[0].arrivals, 0);
  EXPECT_EQ(d[0].completions, 1);
}

}  // namespace
}  // namespace kfaas::activator

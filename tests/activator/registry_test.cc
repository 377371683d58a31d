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
             {{"name", name},
              {"namespace", ns},
              {"labels", {{"kubernetes.io/service-name", fn}}}}},
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

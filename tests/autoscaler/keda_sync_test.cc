// KedaSync against FakeClient: ScaledObjects for Functions with spec.scale.autoscaler: keda,
// only when KEDA's CRD is there, updated when the Function changes, deleted on a switch back.
#include "autoscaler/keda/keda_sync.h"

#include <gtest/gtest.h>

#include "tests/testutil/fake_client.h"

namespace kfaas::autoscaler {
namespace {

using kfaas::testing::FakeClient;
using nlohmann::json;

struct Event {
  std::string type, reason, message;
};

json Function(const std::string& name, const std::string& autoscaler, int max = 10) {
  return {{"apiVersion", "kfaas.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}}},
          {"spec",
           {{"image", "x"},
            {"scale", {{"min", 0}, {"max", max}, {"target", 5}, {"autoscaler", autoscaler}}}}}};
}

Target TargetOf(const json& fn) {
  Target t;
  t.scale = *ParseFunctionScale(fn);
  t.function = std::make_shared<const json>(fn);
  t.has_deployment = true;
  return t;
}

class KedaSyncTest : public ::testing::Test {
 protected:
  KedaSyncTest()
      : client_(clock_),
        sync_(client_,
              [this](const Target&, std::string_view type, std::string_view reason,
                     std::string_view message) {
                events_.push_back({std::string(type), std::string(reason), std::string(message)});
              },
              clock_, {.scaled_object = {.scaler_address = "act.kfaas-system.svc:9095"}}) {}

  std::vector<std::string> Verbs() {
    std::vector<std::string> out;
    for (const auto& a : client_.Actions()) out.push_back(a.verb + " " + a.resource);
    return out;
  }

  FakeClock clock_;
  FakeClient client_;
  std::vector<Event> events_;
  KedaSync sync_;
};

TEST_F(KedaSyncTest, NoKedaFunctionMakesNoCall) {
  sync_.Sync({TargetOf(Function("a", "kfaas")), TargetOf(Function("b", "kfaas"))});
  EXPECT_TRUE(client_.Actions().empty());
  EXPECT_TRUE(events_.empty());
}

TEST_F(KedaSyncTest, WithoutTheCrdWarnsOnceAndLooksAgainLater) {
  client_.FailNext("list", "scaledobjects", kube::NotFoundError("scaledobjects.keda.sh", ""), 2);
  const std::vector<Target> targets = {TargetOf(Function("a", "keda"))};
  sync_.Sync(targets);
  sync_.Sync(targets);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].type, "Warning");
  EXPECT_EQ(events_[0].reason, "KedaNotInstalled");
  EXPECT_NE(events_[0].message.find("install KEDA"), std::string::npos);
  EXPECT_EQ(Verbs(), std::vector<std::string>{"list scaledobjects"});  // not again at once
  EXPECT_FALSE(sync_.crd_installed());

  clock_.Advance(std::chrono::seconds(31));
  sync_.Sync(targets);  // still absent
  EXPECT_EQ(events_.size(), 1u);
  clock_.Advance(std::chrono::seconds(31));
  sync_.Sync(targets);  // installed now
  EXPECT_TRUE(sync_.crd_installed());
  EXPECT_TRUE(client_.Object(kScaledObjects, "default", "a").has_value());
}

TEST_F(KedaSyncTest, ForbiddenListIsRememberedAndReportedAsRbac) {
  client_.FailNext("list", "scaledobjects",
                   kube::ForbiddenError("scaledobjects.keda.sh is forbidden"), 2);
  const std::vector<Target> targets = {TargetOf(Function("a", "keda"))};
  sync_.Sync(targets);
  sync_.Sync(targets);
  EXPECT_EQ(Verbs(), std::vector<std::string>{"list scaledobjects"});  // remembered, not retried
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, "KedaNotPermitted");
  EXPECT_NE(events_[0].message.find("keda.enabled=true"), std::string::npos);
  EXPECT_FALSE(sync_.crd_installed());
}

TEST_F(KedaSyncTest, CreatesThenUpdatesOnlyWhenTheFunctionChanges) {
  sync_.Sync({TargetOf(Function("a", "keda")), TargetOf(Function("b", "kfaas"))});
  auto so = client_.Object(kScaledObjects, "default", "a");
  ASSERT_TRUE(so.has_value());
  EXPECT_EQ((*so)["spec"],
            (*MakeScaledObject(Function("a", "keda"),
                               {.scaler_address = "act.kfaas-system.svc:9095"}))["spec"]);
  EXPECT_EQ((*so)["metadata"]["ownerReferences"][0]["uid"], "uid-a");
  EXPECT_FALSE(client_.Object(kScaledObjects, "default", "b").has_value());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, "ScaledObjectCreated");

  client_.ClearActions();
  sync_.Sync({TargetOf(Function("a", "keda"))});
  EXPECT_TRUE(client_.Actions().empty());  // unchanged: not looked at again

  sync_.Sync({TargetOf(Function("a", "keda", 20))});
  EXPECT_EQ(client_.Object(kScaledObjects, "default", "a")->at("spec").at("maxReplicaCount"), 20);
  EXPECT_EQ(events_.back().reason, "ScaledObjectUpdated");
}

TEST_F(KedaSyncTest, LeavesSomeoneElsesScaledObjectAlone) {
  client_.Seed(kScaledObjects, {{"apiVersion", "keda.sh/v1alpha1"},
                                {"kind", "ScaledObject"},
                                {"metadata", {{"name", "a"}, {"namespace", "default"}}},
                                {"spec", {{"maxReplicaCount", 3}}}});
  sync_.Sync({TargetOf(Function("a", "keda"))});
  sync_.Sync({TargetOf(Function("a", "keda"))});
  EXPECT_EQ(client_.Object(kScaledObjects, "default", "a")->at("spec").at("maxReplicaCount"), 3);
  EXPECT_TRUE(client_.Writes().empty());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, "ScaledObjectConflict");
}

TEST_F(KedaSyncTest, SwitchingBackToKfaasDeletesItsScaledObject) {
  sync_.Sync({TargetOf(Function("a", "keda"))});
  ASSERT_TRUE(client_.Object(kScaledObjects, "default", "a").has_value());
  sync_.Sync({TargetOf(Function("a", "kfaas"))});
  EXPECT_FALSE(client_.Object(kScaledObjects, "default", "a").has_value());
  EXPECT_EQ(events_.back().reason, "ScaledObjectDeleted");
  client_.ClearActions();
  sync_.Sync({TargetOf(Function("a", "kfaas"))});
  EXPECT_TRUE(client_.Actions().empty());
}

}  // namespace
}  // namespace kfaas::autoscaler

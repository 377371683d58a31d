#include "operator/resources/resources.h"

#include <fstream>

#include <gtest/gtest.h>

#include "tests/operator/test_files.h"

namespace kfaas::op {
namespace {

using testing::LoadYaml;
using testing::ReadSourceFile;
using testing::SourceDir;

Function Load(const std::string& rel) {
  auto fn = ParseFunction(LoadYaml(rel));
  EXPECT_TRUE(fn.ok()) << fn.status();
  return fn.ok() ? *fn : Function{};
}

// Compares `got` with the golden file; KFAAS_UPDATE_GOLDEN=1 rewrites it instead.
void ExpectGolden(const Json& got, const std::string& rel) {
  std::string text = got.dump(2) + "\n";
  if (std::getenv("KFAAS_UPDATE_GOLDEN")) {
    std::ofstream(SourceDir() + "/" + rel) << text;
    return;
  }
  Json want = Json::parse(ReadSourceFile(rel), nullptr, false);
  ASSERT_FALSE(want.is_discarded()) << rel << " is not JSON";
  EXPECT_EQ(got, want) << rel << " differs; diff (want -> got): " << Json::diff(want, got).dump(1)
                       << "\nRun with KFAAS_UPDATE_GOLDEN=1 to accept the new output.";
}

constexpr char kDir[] = "tests/operator/testdata/golden/";

TEST(Golden, MinimalDeployment) {
  ExpectGolden(MakeDeployment(Load(std::string(kDir) + "minimal-function.yaml"), {}),
               std::string(kDir) + "minimal-deployment.json");
}

TEST(Golden, MinimalService) {
  ExpectGolden(MakeService(Load(std::string(kDir) + "minimal-function.yaml"), {}),
               std::string(kDir) + "minimal-service.json");
}

TEST(Golden, FullDeployment) {
  ExpectGolden(MakeDeployment(Load(std::string(kDir) + "full-function.yaml"), {}),
               std::string(kDir) + "full-deployment.json");
}

TEST(Golden, FullService) {
  ExpectGolden(MakeService(Load(std::string(kDir) + "full-function.yaml"), {}),
               std::string(kDir) + "full-service.json");
}

TEST(Resources, Conventions) {
  Function fn = Load(std::string(kDir) + "full-function.yaml");
  Json d = MakeDeployment(fn, {});
  Json s = MakeService(fn, {});
  for (const Json* obj : {&d, &s}) {
    EXPECT_EQ((*obj)["metadata"]["name"], "resize");
    EXPECT_EQ((*obj)["metadata"]["namespace"], "media");
    EXPECT_EQ((*obj)["metadata"]["labels"]["kfaas.dev/function"], "resize");
    EXPECT_EQ((*obj)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kfaas");
    const Json& ref = (*obj)["metadata"]["ownerReferences"][0];
    EXPECT_EQ(ref["uid"], fn.uid);
    EXPECT_EQ(ref["controller"], true);
    EXPECT_EQ(ref["blockOwnerDeletion"], true);
    EXPECT_EQ(ControllerFunctionUid(*obj), fn.uid);
    EXPECT_EQ(ControllerFunctionKey(*obj), "media/resize");
  }
  EXPECT_EQ(d["spec"]["selector"]["matchLabels"], s["spec"]["selector"]);
  const Json& c = d["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["name"], "function");
  EXPECT_EQ(c["ports"][0]["containerPort"], 9000);
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(c["readinessProbe"]["initialDelaySeconds"], 0);
  EXPECT_GE(d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].get<int>(), 30);
  EXPECT_EQ(s["spec"]["ports"][0]["port"], 80);
  EXPECT_EQ(s["spec"]["ports"][0]["targetPort"], "http");
  // An integer quantity becomes the string the API would echo.
  EXPECT_EQ(c["resources"]["limits"]["cpu"], "1");
}

TEST(Resources, NoReadinessPathProbesTcp) {
  Function fn = Load(std::string(kDir) + "minimal-function.yaml");
  Json d = MakeDeployment(fn, {});
  const Json& probe = d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
  EXPECT_FALSE(probe.contains("httpGet"));
  EXPECT_EQ(probe["tcpSocket"]["port"], "http");
}

TEST(DesiredReplicas, MinOnCreateThenLiveClamped) {
  ScaleSpec s{.min = 2, .max = 5};
  EXPECT_EQ(DesiredReplicas(s, std::nullopt), 2);
  EXPECT_EQ(DesiredReplicas(s, 3), 3);  // the activator's / autoscaler's value stays
  EXPECT_EQ(DesiredReplicas(s, 0), 2);  // raised to min
  EXPECT_EQ(DesiredReplicas(s, 9), 5);  // lowered to max
  ScaleSpec zero{.min = 0, .max = 100};
  EXPECT_EQ(DesiredReplicas(zero, std::nullopt), 0);
  EXPECT_EQ(DesiredReplicas(zero, 0), 0);
  ScaleSpec inverted{.min = 5, .max = 2};  // invalid; never below min
  EXPECT_EQ(DesiredReplicas(inverted, 1), 5);
}

TEST(ControllerFunction, IgnoresOtherOwners) {
  Json obj = {{"metadata",
               {{"namespace", "ns"},
                {"ownerReferences",
                 {{{"apiVersion", "apps/v1"},
                   {"kind", "ReplicaSet"},
                   {"name", "x"},
                   {"uid", "u1"},
                   {"controller", true}}}}}}};
  EXPECT_EQ(ControllerFunctionKey(obj), "");
  obj["metadata"]["ownerReferences"] = {{{"apiVersion", "kfaas.dev/v1alpha1"},
                                         {"kind", "Function"},
                                         {"name", "f"},
                                         {"uid", "u2"}}};  // not the controller
  EXPECT_EQ(ControllerFunctionKey(obj), "");
  obj["metadata"]["ownerReferences"][0]["controller"] = true;
  EXPECT_EQ(ControllerFunctionKey(obj), "ns/f");
  EXPECT_EQ(ControllerFunctionKey(Json::object()), "");
}

}  // namespace
}  // namespace kfaas::op

// Golden tests of the KEDA ScaledObject builder. KFAAS_UPDATE_GOLDEN=1 rewrites the goldens.
#include "autoscaler/keda/scaled_object.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/base/yaml_json.h"

namespace kfaas::autoscaler {
namespace {

std::string TestData(const std::string& file) {
  const char* src = std::getenv("KFAAS_SOURCE_DIR");
  return std::string(src ? src : ".") + "/tests/autoscaler/testdata/" + file;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json Function(const std::string& file) {
  auto fn = YamlToJson(Read(TestData(file)));
  EXPECT_TRUE(fn.ok()) << fn.status();
  return *fn;
}

void ExpectGolden(const nlohmann::json& got, const std::string& golden) {
  const std::string path = TestData(golden);
  if (std::getenv("KFAAS_UPDATE_GOLDEN")) {
    std::ofstream(path) << got.dump(2) << "\n";
  }
  const std::string want = Read(path);
  ASSERT_FALSE(want.empty()) << "missing golden " << path << " (KFAAS_UPDATE_GOLDEN=1 writes it)";
  EXPECT_EQ(got, nlohmann::json::parse(want)) << "got:\n" << got.dump(2);
}

TEST(AutoscalerScaledObjectTest, KedaFunction) {
  auto so = MakeScaledObject(Function("keda-function.yaml"),
                             {.scaler_address = "kfaas-activator.kfaas-system:9095"});
  ASSERT_TRUE(so.ok()) << so.status();
  ExpectGolden(*so, "keda-function.scaledobject.json");
}

TEST(AutoscalerScaledObjectTest, MinimalFunctionTakesTheDefaults) {
  auto so = MakeScaledObject(Function("minimal-function.yaml"), {.trigger_type = "external"});
  ASSERT_TRUE(so.ok()) << so.status();
  ExpectGolden(*so, "minimal-function.scaledobject.json");
}

TEST(AutoscalerScaledObjectTest, RefusesWhatKedaWouldRefuse) {
  auto fn = Function("keda-function.yaml");
  auto bad_trigger = MakeScaledObject(fn, {.trigger_type = "prometheus"});
  EXPECT_TRUE(absl::IsInvalidArgument(bad_trigger.status()));
  EXPECT_NE(std::string(bad_trigger.status().message()).find("prometheus"), std::string::npos);
  fn["spec"]["scale"]["min"] = 50;
  auto bad_bounds = MakeScaledObject(fn);
  EXPECT_TRUE(absl::IsInvalidArgument(bad_bounds.status()));
  EXPECT_NE(std::string(bad_bounds.status().message()).find("spec.scale.min"), std::string::npos);
  EXPECT_FALSE(MakeScaledObject(nlohmann::json{{"spec", nlohmann::json::object()}}).ok());
}

}  // namespace
}  // namespace kfaas::autoscaler

// Function specs with numbers at and past the int64 boundary (found by fuzz_function_spec: a
// float out of int64 range was cast with undefined behaviour). Each is refused with an error
// naming the field, or parsed exactly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "operator/api/function.h"

namespace kfaas::op {
namespace {

using ::testing::HasSubstr;

Json Fn(const std::string& spec_json, const std::string& generation = "1") {
  return Json::parse(R"({"apiVersion":"kfaas.dev/v1alpha1","kind":"Function",)"
                     R"("metadata":{"name":"f","namespace":"default","generation":)" +
                     generation + R"(},"spec":)" + spec_json + "}");
}

TEST(FunctionSpecBoundaries, NumbersPastInt64AreRefusedWithTheField) {
  struct Case {
    std::string spec, generation, want;
  };
  const Case cases[] = {
      {"{}", "3111111111111111111111111111111", "metadata.generation: must be an integer"},
      {R"({"port":1e30})", "1", "spec.port: must be an integer"},
      {R"({"port":-1e300})", "1", "spec.port: must be an integer"},
      {R"({"port":18446744073709551615})", "1", "spec.port: must be an integer"},
      {R"({"timeoutSeconds":9223372036854775808})", "1", "spec.timeoutSeconds: must be"},
      {R"({"scale":{"max":9.3e18}})", "1", "spec.scale.max: must be an integer"},
  };
  for (const auto& c : cases) {
    auto fn = ParseFunction(Fn(c.spec, c.generation));
    ASSERT_FALSE(fn.ok()) << c.spec << " " << c.generation;
    EXPECT_THAT(std::string(fn.status().message()), HasSubstr(c.want)) << c.spec;
  }
}

TEST(FunctionSpecBoundaries, IntegralValuesAtTheEdgesParse) {
  auto fn = ParseFunction(Fn(R"({"port":8080.0,"scale":{"max":9223372036854775807}})"));
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(fn->spec.port, 8080);
  EXPECT_EQ(fn->spec.scale.max, INT64_MAX);
  // Parsed, but not servable: Validate says why.
  auto problems = Validate(*fn, {});
  EXPECT_FALSE(problems.empty());
}

}  // namespace
}  // namespace kfaas::op

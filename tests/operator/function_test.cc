#include "operator/api/function.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/operator/test_files.h"

namespace kfaas::op {
namespace {

using testing::CrdSchema;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::LoadCrd;

Function Fn(const std::string& name, Json spec = Json::object()) {
  Json obj = {{"apiVersion", kApiVersion},
              {"kind", kKind},
              {"metadata",
               {{"name", name},
                {"namespace", "default"},
                {"uid", "uid-" + name},
                {"generation", 1},
                {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
              {"spec", spec}};
  if (!obj["spec"].contains("image")) obj["spec"]["image"] = "img";
  auto fn = ParseFunction(obj);
  EXPECT_TRUE(fn.ok()) << fn.status();
  return *fn;
}

std::vector<std::string> Reasons(const std::vector<Problem>& ps) {
  std::vector<std::string> r;
  for (const auto& p : ps) r.push_back(p.reason);
  return r;
}

TEST(ParseFunction, MissingFieldsTakeDefaults) {
  auto fn = ParseFunction(
      {{"metadata", {{"name", "a"}, {"namespace", "ns"}}}, {"spec", {{"image", "img"}}}});
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(fn->name, "a");
  EXPECT_EQ(fn->ns, "ns");
  EXPECT_EQ(fn->spec.port, 8080);
  EXPECT_EQ(fn->spec.timeout_seconds, 300);
  EXPECT_EQ(fn->spec.concurrency, 0);
  EXPECT_EQ(fn->spec.scale.min, 0);
  EXPECT_EQ(fn->spec.scale.max, 100);
  EXPECT_EQ(fn->spec.scale.target, 10);
  EXPECT_EQ(fn->spec.scale.idle_window_seconds, 60);
  EXPECT_EQ(fn->spec.scale.autoscaler, "kfaas");
  EXPECT_TRUE(fn->spec.resources.empty());
  // No spec at all, and null members, also parse.
  EXPECT_TRUE(ParseFunction({{"metadata", {{"name", "a"}}}}).ok());
  EXPECT_TRUE(ParseFunction(
                  {{"metadata", {{"name", "a"}}}, {"spec", {{"scale", nullptr}, {"env", nullptr}}}})
                  .ok());
}

TEST(ParseFunction, FullSpec) {
  auto fn = ParseFunction(
      {{"metadata", {{"name", "a"}, {"namespace", "ns"}, {"generation", 3}, {"uid", "u"}}},
       {"spec",
        {{"image", "img:1"},
         {"command", {"/bin/fn"}},
         {"args", {"-v"}},
         {"env", {{{"name", "A"}, {"value", "1"}}, {{"name", "B"}}}},
         {"port", 9000},
         {"resources", {{"requests", {{"cpu", "100m"}, {"memory", 64}}}}},
         {"readinessPath", "/healthz"},
         {"timeoutSeconds", 30},
         {"concurrency", 4},
         {"scale",
          {{"min", 1},
           {"max", 5},
           {"target", 2},
           {"idleWindowSeconds", 10},
           {"autoscaler", "keda"}}},
         {"hosts", {"a.example.com"}}}},
       {"status", {{"url", "http://x"}}}});
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(fn->generation, 3);
  EXPECT_EQ(fn->spec.command, std::vector<std::string>{"/bin/fn"});
  ASSERT_EQ(fn->spec.env.size(), 2u);
  EXPECT_EQ(fn->spec.env[1], (EnvVar{"B", ""}));
  EXPECT_EQ(fn->spec.port, 9000);
  EXPECT_EQ(fn->spec.resources["requests"]["memory"], 64);
  EXPECT_EQ(fn->spec.scale, (ScaleSpec{1, 5, 2, 10, "keda"}));
  EXPECT_EQ(fn->spec.hosts, std::vector<std::string>{"a.example.com"});
  EXPECT_EQ(fn->status["url"], "http://x");
  // Round trip through JSON.
  auto again = ParseFunctionSpec(SpecToJson(fn->spec));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, fn->spec);
}

TEST(ParseFunction, WrongTypesNameTheField) {
  struct Row {
    Json spec;
    std::string want;
  } rows[] = {
      {{{"port", "http"}}, "spec.port: must be an integer, not \"http\""},
      {{{"timeoutSeconds", 1.5}}, "spec.timeoutSeconds: must be an integer"},
      {{{"command", "/bin/fn"}}, "spec.command: must be a list of strings"},
      {{{"args", {1}}}, "spec.args[0]: must be a string"},
      {{{"env", {{{"name", 3}}}}}, "spec.env[0].name: must be a string"},
      {{{"scale", {{"max", "many"}}}}, "spec.scale.max: must be an integer"},
      {{{"scale", 3}}, "spec.scale: must be an object"},
      {{{"resources", {{"limits", {{"cpu", true}}}}}},
       "spec.resources.limits.cpu: must be a quantity"},
  };
  for (const auto& row : rows) {
    auto fn = ParseFunction({{"metadata", {{"name", "a"}}}, {"spec", row.spec}});
    ASSERT_FALSE(fn.ok()) << row.spec;
    EXPECT_THAT(std::string(fn.status().message()), HasSubstr(row.want));
  }
}

TEST(Validate, ValidSpecHasNoProblems) {
  EXPECT_THAT(Validate(Fn("hello"), {}), IsEmpty());
  EXPECT_THAT(Validate(Fn("hello", {{"command", {"/bin/fn"}}}), {.require_command = true}),
              IsEmpty());
}

TEST(Validate, ScaleMinAboveMax) {
  auto ps = Validate(Fn("a", {{"scale", {{"min", 5}, {"max", 2}}}}), {});
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].reason, "InvalidScale");
  EXPECT_THAT(ps[0].String(), HasSubstr("InvalidScale: scale.min (5) must be <= scale.max (2)"));
}

TEST(Validate, Table) {
  struct Row {
    std::string name;
    Json spec;
    ValidationOptions opts;
    std::vector<std::string> want;
  } rows[] = {
      {"bad-env-name", {{"env", {{{"name", "1ABC"}}}}}, {}, {"InvalidEnv"}},
      {"reserved-env", {{"env", {{{"name", "PORT"}, {"value", "1"}}}}}, {}, {"InvalidEnv"}},
      {"dup-env", {{"env", {{{"name", "A"}}, {{"name", "A"}}}}}, {}, {"InvalidEnv"}},
      {"ok-env", {{"env", {{{"name", "my.var-1_X"}}}}}, {}, {}},
      {"no-command-local", Json::object(), {.require_command = true}, {"MissingCommand"}},
      {"no-command-cluster", Json::object(), {}, {}},
      {"no-image", {{"image", ""}}, {}, {"MissingImage"}},
      {"port", {{"port", 0}}, {}, {"InvalidPort"}},
      {"timeout", {{"timeoutSeconds", 2000}}, {}, {"InvalidTimeout"}},
      {"autoscaler", {{"scale", {{"autoscaler", "hpa"}}}}, {}, {"InvalidScale"}},
      {"bad-host", {{"hosts", {"Not_A_Host"}}}, {}, {"InvalidHost"}},
      {"readiness", {{"readinessPath", "healthz"}}, {}, {"InvalidReadinessPath"}},
      {"9lives", Json::object(), {}, {"InvalidName"}},
      {"several",
       {{"scale", {{"min", 3}, {"max", 1}}}, {"env", {{{"name", "PORT"}}}}},
       {},
       {"InvalidScale", "InvalidEnv"}},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(Reasons(Validate(Fn(row.name, row.spec), row.opts)), row.want) << row.name;
  }
}

TEST(Validate, HostConflictOlderKeepsIt) {
  Function older = Fn("older", {{"hosts", {"shop.example.com"}}});
  older.creation_timestamp = "2026-01-01T00:00:00Z";
  Function newer = Fn("newer", {{"hosts", {"shop.example.com"}}});
  newer.creation_timestamp = "2026-01-02T00:00:00Z";
  std::vector<HostClaim> all = {ClaimOf(older), ClaimOf(newer)};
  EXPECT_THAT(Validate(older, {}, all), IsEmpty());
  auto ps = Validate(newer, {}, all);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].reason, "HostConflict");
  EXPECT_THAT(ps[0].message, HasSubstr("default/older"));
  // Same timestamp: namespace/name breaks the tie, so exactly one wins.
  newer.creation_timestamp = older.creation_timestamp;
  all = {ClaimOf(older), ClaimOf(newer)};
  EXPECT_EQ(Validate(older, {}, all).empty() + Validate(newer, {}, all).empty(), 1);
}

TEST(Validate, HostConflictWithGeneratedHost) {
  Function a = Fn("a");
  Function b = Fn("b", {{"hosts", {"a.default.kfaas.local", "b.default.kfaas.local"}}});
  auto ps = Validate(b, {}, {ClaimOf(a), ClaimOf(b)});
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].reason, "HostConflict");
  EXPECT_THAT(ps[0].message, HasSubstr("generated host"));
}

TEST(Names, Checks) {
  EXPECT_TRUE(IsDns1035Label("hello-1"));
  EXPECT_FALSE(IsDns1035Label("1hello"));
  EXPECT_FALSE(IsDns1035Label("hello-"));
  EXPECT_FALSE(IsDns1035Label(std::string(64, 'a')));
  EXPECT_TRUE(IsDns1123Subdomain("a.b-c.example.com"));
  EXPECT_FALSE(IsDns1123Subdomain("a..b"));
  EXPECT_FALSE(IsDns1123Subdomain("A.b"));
  EXPECT_TRUE(IsEnvVarName("_X.y-1"));
  EXPECT_FALSE(IsEnvVarName("1X"));
  EXPECT_FALSE(IsEnvVarName("A B"));
  EXPECT_EQ(FunctionUrl("hello", "default", "kfaas.local"), "http://hello.default.kfaas.local");
}

// The CRD file is the single source of truth; the C++ defaults must agree with it.
TEST(Crd, NamesAndDefaultsMatchTheCode) {
  Json crd = LoadCrd();
  EXPECT_EQ(crd["metadata"]["name"], "functions.kfaas.dev");
  EXPECT_EQ(crd["spec"]["group"], kGroup);
  EXPECT_EQ(crd["spec"]["scope"], "Namespaced");
  EXPECT_EQ(crd["spec"]["names"]["kind"], kKind);
  EXPECT_EQ(crd["spec"]["names"]["plural"], "functions");
  EXPECT_EQ(crd["spec"]["names"]["singular"], "function");
  EXPECT_EQ(crd["spec"]["names"]["shortNames"], Json({"fn"}));
  const Json& v = crd["spec"]["versions"][0];
  EXPECT_EQ(v["name"], kVersion);
  EXPECT_EQ(v["subresources"], Json({{"status", Json::object()}}));
  Json spec = CrdSchema()["properties"]["spec"];
  EXPECT_EQ(spec["required"], Json({"image"}));
  const Json& p = spec["properties"];
  EXPECT_EQ(p["port"]["default"], kDefaultPort);
  EXPECT_EQ(p["timeoutSeconds"]["default"], kDefaultTimeoutSeconds);
  EXPECT_EQ(p["timeoutSeconds"]["maximum"], kMaxTimeoutSeconds);
  EXPECT_EQ(p["concurrency"]["default"], kDefaultConcurrency);
  const Json& s = p["scale"];
  EXPECT_EQ(s["default"], Json::object());
  EXPECT_EQ(s["properties"]["min"]["default"], kDefaultScaleMin);
  EXPECT_EQ(s["properties"]["max"]["default"], kDefaultScaleMax);
  EXPECT_EQ(s["properties"]["target"]["default"], kDefaultScaleTarget);
  EXPECT_EQ(s["properties"]["idleWindowSeconds"]["default"], kDefaultIdleWindowSeconds);
  EXPECT_EQ(s["properties"]["autoscaler"]["default"], kDefaultAutoscaler);
  // Every field the C++ type knows is in the schema, and vice versa.
  Json all = SpecToJson(FunctionSpec{.image = "x",
                                     .command = {"c"},
                                     .args = {"a"},
                                     .env = {{"N", "v"}},
                                     .resources = {{"requests", {{"cpu", "1"}}}},
                                     .readiness_path = "/",
                                     .hosts = {"h"}});
  std::vector<std::string> code_fields, schema_fields;
  for (const auto& [k, _] : all.items()) code_fields.push_back(k);
  for (const auto& [k, _] : p.items()) schema_fields.push_back(k);
  EXPECT_EQ(code_fields, schema_fields);
  std::vector<std::string> status_fields;
  Json status_props = CrdSchema()["properties"]["status"]["properties"];
  for (const auto& [k, _] : status_props.items()) {
    status_fields.push_back(k);
  }
  EXPECT_EQ(status_fields,
            (std::vector<std::string>{"conditions", "lastColdStart", "observedGeneration",
                                      "readyReplicas", "replicas", "url"}));
}

TEST(Crd, PrinterColumns) {
  Json cols = LoadCrd()["spec"]["versions"][0]["additionalPrinterColumns"];
  std::vector<std::string> names;
  for (const auto& c : cols) {
    if (c.value("priority", 0) == 0) names.push_back(c["name"]);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"Ready", "Replicas", "URL", "Last Cold Start (ms)", "Age"}));
  EXPECT_EQ(cols[0]["jsonPath"], ".status.conditions[?(@.type==\"Ready\")].status");
}

}  // namespace
}  // namespace kfaas::op

// Deterministic random inputs through every API-server algorithm: none may crash, hang or
// throw (a cheap stand-in until the libFuzzer targets exist).
#include <random>

#include <gtest/gtest.h>

#include "common/kube/selector.h"
#include "local/apiserver/patch.h"
#include "local/apiserver/schema.h"
#include "local/apiserver/table.h"

namespace kfaas::local {
namespace {

class Gen {
 public:
  explicit Gen(unsigned seed) : rng_(seed) {}

  int Int(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::string Str() {
    static const char* kWords[] = {"name",
                                   "spec",
                                   "containers",
                                   "ports",
                                   "env",
                                   "$patch",
                                   "delete",
                                   "replace",
                                   "merge",
                                   "type",
                                   "items",
                                   "properties",
                                   "a",
                                   "",
                                   "k:{\"name\":\"a\"}",
                                   "f:spec",
                                   ".",
                                   "metadata",
                                   "labels",
                                   "finalizers",
                                   "x-kubernetes-list-type",
                                   "map",
                                   "set",
                                   "$setElementOrder/containers",
                                   "$deleteFromPrimitiveList/finalizers",
                                   "$retainKeys",
                                   "managedFields",
                                   "fieldsV1",
                                   "manager",
                                   "operation",
                                   "Apply",
                                   "Update",
                                   "object",
                                   "array",
                                   "string",
                                   "integer",
                                   "x-kubernetes-list-map-keys",
                                   "default",
                                   "required",
                                   "additionalProperties",
                                   "anyOf",
                                   "enum",
                                   "pattern",
                                   "(["};
    return kWords[Int(sizeof(kWords) / sizeof(kWords[0]))];
  }

  Json Value(int depth) {
    int k = Int(depth <= 0 ? 6 : 9);
    switch (k) {
      case 0:
        return nullptr;
      case 1:
        return Int(2) == 0;
      case 2:
        return Int(1000) - 500;
      case 3:
        return Int(1000) / 7.0;
      case 4:
      case 5:
        return Str();
      case 6:
      case 7: {
        Json o = Json::object();
        int n = Int(5);
        for (int i = 0; i < n; ++i) o[Str()] = Value(depth - 1);
        return o;
      }
      default: {
        Json a = Json::array();
        int n = Int(4);
        for (int i = 0; i < n; ++i) a.push_back(Value(depth - 1));
        return a;
      }
    }
  }

  std::string Text() {
    static const char* kPieces[] = {
        "a",     "=",  "!=", "==", ",", "(", ")", " in ",        " notin ", "!",      "b",
        "x.y/z", "{",  "}",  ".",  "[", "]", "*", "?(@.a=='b')", "..",      "range ", "end",
        "'",     "\"", ":",  "-1", "0", ">", "<", "\\",          "$",       "@"};
    std::string s;
    int n = Int(12);
    for (int i = 0; i < n; ++i) s += kPieces[Int(sizeof(kPieces) / sizeof(kPieces[0]))];
    return s;
  }

 private:
  std::mt19937 rng_;
};

TEST(RandomInputs, NothingCrashesOrThrows) {
  Gen g(20260110);
  const WallTime now{};
  const char* kinds[] = {"Deployment", "Pod", "Service", "ConfigMap", "Function"};
  for (int i = 0; i < 3000; ++i) {
    Json a = g.Value(5), b = g.Value(5), schema = g.Value(5);
    std::string kind = kinds[g.Int(5)];
    EXPECT_NO_THROW({
      (void)kube::LabelSelector::Parse(g.Text());
      (void)kube::FieldSelector::Parse(g.Text());
      (void)kube::LabelSelector::FromJson(a);
      Json obj = a;
      (void)ProcessObject(schema, obj);
      (void)CheckStructural(schema, "x");
      (void)StrategicMergePatch(a, b, kind);
      (void)ServerSideApply(a, b, g.Str(), g.Int(2) == 0, kind, now, g.Int(2) ? schema : Json());
      Json after = b;
      RecordUpdateManager(a, after, g.Str(), "v1", now, g.Int(2) ? "" : "status");
      (void)EvaluateJsonPath(a, g.Text());
      (void)BuildTable("pods", BuiltinColumns("pods"), {a, b}, now, IncludeObject::kMetadata, true);
      (void)BuildTable("functions", CustomResourceColumns(schema), {a}, now, IncludeObject::kObject,
                       false, b);
    }) << "iteration "
       << i;
  }
}

}  // namespace
}  // namespace kfaas::local

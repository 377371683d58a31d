// fieldsets::Compare skips the members two documents share; it must report exactly what full
// walks of both documents report (CompareFullWalk), for any pair of documents.
#include <random>

#include <gtest/gtest.h>

#include "common/base/time_format.h"
#include "common/base/yaml_json.h"
#include "local/apiserver/field_sets.h"
#include "local/apiserver/patch.h"

namespace kfaas::local::fieldsets {
namespace {

Json Deployment() {
  auto j = YamlToJson(R"(
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web, tier: front}
  annotations: {a: "1"}
  managedFields:
  - {manager: kubectl, operation: Apply, apiVersion: apps/v1, fieldsType: FieldsV1,
     fieldsV1: {"f:spec": {"f:replicas": {}}}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: img:1
        ports: [{containerPort: 8080, protocol: TCP}]
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        args: [serve, --port, "8080"]
        securityContext: {runAsNonRoot: true, capabilities: {drop: [ALL]}}
      - name: side
        image: side:1
status:
  replicas: 2
  readyReplicas: 1
  conditions: [{type: Available, status: "True"}]
)");
  EXPECT_TRUE(j.ok()) << j.status();
  return *j;
}

// One random edit somewhere in `doc`: change, remove or add a member, or edit a list item.
void Mutate(Json& doc, std::mt19937& rng) {
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  Json* cur = &doc;
  for (int depth = 0; depth < 8; ++depth) {
    if (cur->is_object() && !cur->empty() && pick(3) != 0) {
      auto it = cur->begin();
      std::advance(it, pick(static_cast<int>(cur->size())));
      if (!it->is_object() && !it->is_array()) break;
      cur = &*it;
    } else if (cur->is_array() && !cur->empty() && pick(3) != 0) {
      cur = &(*cur)[static_cast<size_t>(pick(static_cast<int>(cur->size())))];
    } else {
      break;
    }
  }
  static const Json kValues[] = {1,
                                 2.0,
                                 "x",
                                 "img:2",
                                 true,
                                 nullptr,
                                 Json::object(),
                                 Json::array(),
                                 Json{{"name", "C"}, {"value", "3"}}};
  Json v = kValues[pick(std::size(kValues))];
  if (cur->is_object()) {
    static const char* kKeys[] = {"replicas", "image", "name", "labels", "tier", "value", "new"};
    std::string k = cur->empty() || pick(2) ? kKeys[pick(std::size(kKeys))]
                                            : std::next(cur->begin(), pick(cur->size())).key();
    if (pick(4) == 0) {
      cur->erase(k);
    } else {
      (*cur)[k] = v;
    }
  } else if (cur->is_array()) {
    if (!cur->empty() && pick(2) == 0) {
      cur->erase(cur->begin() + pick(static_cast<int>(cur->size())));
    } else {
      cur->push_back(v);
    }
  } else {
    *cur = v;
  }
}

void ExpectSame(const Comparison& got, const Comparison& want, const Json& b, const Json& a) {
  EXPECT_EQ(got.added, want.added) << "before " << b.dump() << "\nafter " << a.dump();
  EXPECT_EQ(got.removed, want.removed) << "before " << b.dump() << "\nafter " << a.dump();
  EXPECT_EQ(got.modified, want.modified) << "before " << b.dump() << "\nafter " << a.dump();
}

TEST(FieldSetsCompare, SkippingSharedMembersChangesNothing) {
  TypeHolder th = ResolveType("Deployment", Json());
  std::mt19937 rng(20261129);
  for (int i = 0; i < 3000; ++i) {
    Json before = Deployment(), after = Deployment();
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) Mutate(rng() % 2 ? after : before, rng);
    ExpectSame(Compare(before, after, th.root), CompareFullWalk(before, after, th.root), before,
               after);
    // Against an empty document (a create).
    ExpectSame(Compare(Json::object(), after, th.root),
               CompareFullWalk(Json::object(), after, th.root), Json::object(), after);

    // ignore_managed_fields is a comparison of the documents without metadata.managedFields.
    Json sb = before, sa = after;
    StripManagedFields(sb);
    StripManagedFields(sa);
    ExpectSame(Compare(before, after, th.root, true), CompareFullWalk(sb, sa, th.root), before,
               after);
    if (HasFailure()) break;
  }
}

TEST(FieldSetsCompare, AStatusChangeReportsOnlyTheStatus) {
  TypeHolder th = ResolveType("Deployment", Json());
  Json before = Deployment(), after = Deployment();
  after["status"]["readyReplicas"] = 2;
  after["status"]["conditions"][0]["status"] = "False";
  Comparison c = Compare(before, after, th.root);
  EXPECT_TRUE(c.added.empty());
  EXPECT_TRUE(c.removed.empty());
  PathSet want = {{"f:status", "f:readyReplicas"},
                  {"f:status", "f:conditions", "k:{\"type\":\"Available\"}", "f:status"}};
  EXPECT_EQ(c.modified, want);
  EXPECT_TRUE(Compare(before, before, th.root).modified.empty());
}

TEST(FieldSetsEncode, RoundTripsAnySet) {
  std::mt19937 rng(11);
  const char* kElems[] = {"f:a", "f:b", "k:{\"name\":\"x\"}", "v:1", "i:0"};
  for (int i = 0; i < 2000; ++i) {
    PathSet set;
    int n = static_cast<int>(rng() % 12);
    for (int j = 0; j < n; ++j) {
      Path p;
      int len = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < len; ++k) p.push_back(kElems[rng() % std::size(kElems)]);
      set.insert(p);
    }
    Json encoded = EncodeFields(set);
    PathSet decoded;
    Path p;
    DecodeFields(encoded, p, decoded, 0);
    ASSERT_EQ(decoded, set) << encoded.dump();
  }
  PathSet s = {{"f:a"}, {"f:a", "f:b"}, {"f:c"}};
  EXPECT_EQ(EncodeFields(s), Json::parse(R"({"f:a":{".":{},"f:b":{}},"f:c":{}})"));
}

// RecordUpdateManager keeps the entries a write does not touch as stored; it must write exactly
// what decoding and re-encoding every entry writes, through a history of writes by several
// managers, with and without a subresource, with managedFields sent along, left out or
// rewritten, and with stored entries that are not in canonical form.
TEST(RecordUpdateManager, AgreesWithTheFullDecodeThroughRandomHistories) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const char* kManagers[] = {"kubectl", "kfaas-operator", "kfaas-local/deployment-controller"};
  const char* kSubresources[] = {"", "", "status", "scale"};
  WallTime t = *ParseRfc3339("2026-11-29T00:00:00Z");
  int writes_that_changed_entries = 0;
  for (int history = 0; history < 150; ++history) {
    Json stored = Deployment();
    stored["metadata"].erase("managedFields");
    local::RecordUpdateManagerReference(Json(), stored, "kubectl", "apps/v1", t);
    for (int step = 0; step < 20; ++step) {
      t += std::chrono::seconds(pick(3));  // ties in time too
      if (pick(15) == 0) {
        // A stored entry the server would not write itself: the general path must take over.
        Json odd = {{"manager", "x"},
                    {"operation", "Update"},
                    {"apiVersion", "v1"},
                    {"fieldsType", "FieldsV1"},
                    {"fieldsV1", {{"f:spec", {{"f:x", 1}}}}}};
        stored["metadata"]["managedFields"].push_back(odd);
      }
      Json after = stored;
      int edits = pick(3);
      for (int e = 0; e < edits; ++e) Mutate(after, rng);
      if (!after.is_object()) after = stored;
      if (!after.contains("metadata") || !after["metadata"].is_object()) {
        after["metadata"] = stored["metadata"];
      }
      int mf = pick(6);
      if (mf == 0) {
        after["metadata"].erase("managedFields");
      } else if (mf == 1 && after["metadata"].contains("managedFields") &&
                 after["metadata"]["managedFields"].is_array() &&
                 !after["metadata"]["managedFields"].empty()) {
        after["metadata"]["managedFields"].erase(0);  // a client rewrites them
      } else {
        after["metadata"]["managedFields"] = stored["metadata"]["managedFields"];
      }
      const char* manager = kManagers[pick(3)];
      const char* sub = kSubresources[pick(4)];
      Json fast = after, reference = after;
      local::RecordUpdateManager(stored, fast, manager, "apps/v1", t, sub);
      local::RecordUpdateManagerReference(stored, reference, manager, "apps/v1", t, sub);
      ASSERT_EQ(fast, reference) << "before " << stored.dump() << "\nafter " << after.dump()
                                 << "\nmanager " << manager << " subresource " << sub;
      if (fast["metadata"].value("managedFields", Json()) !=
          after["metadata"].value("managedFields", Json())) {
        ++writes_that_changed_entries;
      }
      stored = std::move(reference);
    }
  }
  EXPECT_GT(writes_that_changed_entries, 100);
}

}  // namespace
}  // namespace kfaas::local::fieldsets

// The local API server's semantics through the in-process LocalClient (no ports).
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "common/kube/errors.h"
#include "local/apiserver/objects.h"
#include "local/apiserver/schema.h"
#include "tests/local/apiserver_testutil.h"

namespace kfaas {
namespace {

using kube::Json;
using testing::TempDir;
using testing::TestServer;
using testing::WaitFor;
namespace res = kube::resources;

Json ConfigMap(const std::string& name, Json data = {{"k", "v"}}) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"data", data}};
}

const kube::Resource kWidgets{"example.com", "v1", "widgets", "Widget", true};

Json WidgetCrd() {
  return Json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
      "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
      "versions": [{"name": "v1", "served": true, "storage": true,
        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                 "statusReplicasPath": ".status.replicas"}},
        "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
          "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer"},
            "colour": {"type": "string", "default": "blue"}}},
          "status": {"type": "object", "properties": {
            "replicas": {"type": "integer"}, "phase": {"type": "string"}}}}}}}]}})");
}

Json Widget(const std::string& name, int size) {
  return {{"apiVersion", "example.com/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"size", size}, {"replicas", 1}}}};
}

bool SchemaImplemented() {
  Json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}};
  Json obj = {{"a", "x"}};
  return !local::ProcessObject(schema, obj).errors.empty();
}

class CoreTest : public ::testing::Test {
 protected:
  CoreTest() : ts(false, false) {}
  void SetUp() override {
    ASSERT_TRUE(ts.status.ok()) << ts.status;
    c = ts.server->LocalClient("core-test/v1");
  }
  TestServer ts;
  std::shared_ptr<kube::Client> c;
};

TEST_F(CoreTest, CreateSetsMetadataAndVersionsIncrease) {
  auto a = c->Create(res::kConfigMaps, "default", ConfigMap("a"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)["metadata"]["generation"], 1);
  EXPECT_EQ((*a)["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_TRUE((*a)["metadata"].contains("creationTimestamp"));
  auto b = c->Create(res::kConfigMaps, "default", ConfigMap("b"));
  ASSERT_TRUE(b.ok());
  EXPECT_LT(std::stoull((*a)["metadata"]["resourceVersion"].get<std::string>()),
            std::stoull((*b)["metadata"]["resourceVersion"].get<std::string>()));
  auto dup = c->Create(res::kConfigMaps, "default", ConfigMap("a"));
  EXPECT_TRUE(absl::IsAlreadyExists(dup.status()));
  EXPECT_EQ(std::string(dup.status().message()), "configmaps \"a\" already exists");
}

TEST_F(CoreTest, UpdateBumpsGenerationOnlyOnSpecChangesAndNoopKeepsVersion) {
  auto a = c->Create(res::kConfigMaps, "default", ConfigMap("a"));
  ASSERT_TRUE(a.ok());
  Json u = *a;
  u["data"]["k"] = "v2";
  auto b = c->Update(res::kConfigMaps, "default", u);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)["metadata"]["generation"], 2);
  Json l = *b;
  l["metadata"]["labels"] = {{"x", "y"}};
  auto d = c->Update(res::kConfigMaps, "default", l);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["metadata"]["generation"], 2);
  auto e = c->Update(res::kConfigMaps, "default", *d);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)["metadata"]["resourceVersion"], (*d)["metadata"]["resourceVersion"]);
  // Stale version: 409 Conflict with the real message.
  auto stale = c->Update(res::kConfigMaps, "default", u);
  ASSERT_TRUE(kube::IsConflict(stale.status())) << stale.status();
  EXPECT_EQ(std::string(stale.status().message()),
            "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; "
            "please apply your changes to the latest version and try again");
}

TEST_F(CoreTest, NamespaceRulesAndNameValidation) {
  Json in_nope = ConfigMap("a");
  in_nope["metadata"]["namespace"] = "nope";
  auto r = c->Create(res::kConfigMaps, "nope", in_nope);
  EXPECT_TRUE(absl::IsNotFound(r.status()));
  EXPECT_EQ(std::string(r.status().message()), "namespaces \"nope\" not found");
  auto bad = c->Create(res::kConfigMaps, "default", ConfigMap("Bad_Name"));
  ASSERT_EQ(kube::HttpCode(bad.status()), 422) << bad.status();
  EXPECT_EQ(kube::Causes(bad.status()).at(0).field, "metadata.name");
  // Terminating namespace refuses creates with 403.
  ASSERT_TRUE(
      c->Create(res::kNamespaces, "",
                {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "t"}}}})
          .ok());
  Json cm = ConfigMap("x");
  cm["metadata"]["namespace"] = "t";
  cm["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(c->Create(res::kConfigMaps, "t", cm).ok());
  ASSERT_TRUE(c->Delete(res::kNamespaces, "", "t").ok());
  cm["metadata"]["name"] = "y";
  cm["metadata"].erase("finalizers");
  auto f = c->Create(res::kConfigMaps, "t", cm);
  EXPECT_EQ(kube::HttpCode(f.status()), 403) << f.status();
  EXPECT_NE(std::string(f.status().message()).find("because it is being terminated"),
            std::string::npos);
  // Releasing the finalizer lets the namespace go.
  ASSERT_TRUE(c->Patch(res::kConfigMaps, "t", "x", kube::PatchType::kMerge,
                       {{"metadata", {{"finalizers", nullptr}}}})
                  .ok());
  EXPECT_TRUE(
      WaitFor([&] { return absl::IsNotFound(c->Get(res::kNamespaces, "", "t").status()); }));
}

TEST_F(CoreTest, FinalizersHoldDeletion) {
  Json cm = ConfigMap("f");
  cm["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", cm).ok());
  auto d = c->Delete(res::kConfigMaps, "default", "f");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE((*d)["metadata"].contains("deletionTimestamp"));
  auto g = c->Get(res::kConfigMaps, "default", "f");
  ASSERT_TRUE(g.ok());
  // No new finalizers on a deleting object.
  Json add = *g;
  add["metadata"]["finalizers"].push_back("example.com/more");
  EXPECT_EQ(kube::HttpCode(c->Update(res::kConfigMaps, "default", add).status()), 422);
  Json rm = *g;
  rm["metadata"]["finalizers"] = Json::array();
  ASSERT_TRUE(c->Update(res::kConfigMaps, "default", rm).ok());
  EXPECT_TRUE(absl::IsNotFound(c->Get(res::kConfigMaps, "default", "f").status()));
}

TEST_F(CoreTest, PatchTypesAndPreconditions) {
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", ConfigMap("p")).ok());
  auto m = c->Patch(res::kConfigMaps, "default", "p", kube::PatchType::kMerge,
                    {{"data", {{"k2", "v2"}}}});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)["data"]["k2"], "v2");
  auto j = c->Patch(res::kConfigMaps, "default", "p", kube::PatchType::kJson,
                    Json::parse(R"([{"op":"replace","path":"/data/k","value":"z"}])"));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["data"]["k"], "z");
  auto t = c->Patch(res::kConfigMaps, "default", "p", kube::PatchType::kJson,
                    Json::parse(R"([{"op":"test","path":"/data/k","value":"nope"}])"));
  EXPECT_EQ(kube::HttpCode(t.status()), 422) << t.status();
  auto stale = c->Patch(res::kConfigMaps, "default", "p", kube::PatchType::kMerge,
                        {{"metadata", {{"resourceVersion", "1"}}}});
  EXPECT_TRUE(kube::IsConflict(stale.status())) << stale.status();
  auto missing = c->Patch(res::kConfigMaps, "default", "nope", kube::PatchType::kMerge,
                          {{"data", {{"a", "b"}}}});
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
}

TEST_F(CoreTest, DeploymentScaleAndStatusSubresources) {
  Json d = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","namespace":"default"},
    "spec":{"selector":{"matchLabels":{"app":"web"}},
      "template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"c","image":"nginx:1"}]}}}})");
  auto created = c->Create(res::kDeployments, "default", d);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["spec"]["replicas"], 1);  // defaulted
  auto s = c->Patch(res::kDeployments, "default", "web", kube::PatchType::kMerge,
                    {{"spec", {{"replicas", 3}}}}, "scale");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)["kind"], "Scale");
  EXPECT_EQ((*s)["spec"]["replicas"], 3);
  EXPECT_EQ((*s)["status"]["selector"], "app=web");
  auto got = c->Get(res::kDeployments, "default", "web");
  EXPECT_EQ((*got)["spec"]["replicas"], 3);
  EXPECT_EQ((*got)["metadata"]["generation"], 2);
  // The main resource ignores status; /status ignores everything else.
  Json u = *got;
  u["status"] = {{"replicas", 7}};
  auto u2 = c->Update(res::kDeployments, "default", u);
  ASSERT_TRUE(u2.ok());
  EXPECT_FALSE((*u2)["status"].contains("replicas"));
  Json st = *u2;
  st["status"] = {{"replicas", 3}, {"readyReplicas", 3}};
  st["spec"]["replicas"] = 9;
  auto u3 = c->Update(res::kDeployments, "default", st, "status");
  ASSERT_TRUE(u3.ok()) << u3.status();
  EXPECT_EQ((*u3)["status"]["readyReplicas"], 3);
  EXPECT_EQ((*u3)["spec"]["replicas"], 3);
  EXPECT_EQ((*u3)["metadata"]["generation"], 2);
  // Missing selector: 422 naming the field.
  Json bad = d;
  bad["metadata"]["name"] = "bad";
  bad["spec"].erase("selector");
  auto b = c->Create(res::kDeployments, "default", bad);
  ASSERT_EQ(kube::HttpCode(b.status()), 422);
  EXPECT_EQ(kube::Causes(b.status()).at(0).field, "spec.selector");
}

TEST_F(CoreTest, CrdServesResourceWithSchemaAndCleansUpOnDelete) {
  ASSERT_TRUE(c->Create(res::kCustomResourceDefinitions, "", WidgetCrd()).ok());
  auto w = c->Create(kWidgets, "default", Widget("w1", 3));
  ASSERT_TRUE(w.ok()) << w.status();
  if (SchemaImplemented()) {
    EXPECT_EQ((*w)["spec"]["colour"], "blue");  // defaulted
    auto bad = c->Create(kWidgets, "default", Widget("w2", 0));
    ASSERT_EQ(kube::HttpCode(bad.status()), 422) << bad.status();
    EXPECT_EQ(kube::Causes(bad.status()).at(0).field, "spec.size");
  }
  // CRs need a resourceVersion on update.
  Json u = *w;
  u["metadata"].erase("resourceVersion");
  EXPECT_EQ(kube::HttpCode(c->Update(kWidgets, "default", u).status()), 422);
  // status subresource: create dropped status; /status writes it.
  Json st = *w;
  st["status"] = {{"replicas", 1}, {"phase", "Ready"}};
  auto s = c->Update(kWidgets, "default", st, "status");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)["status"]["phase"], "Ready");
  EXPECT_EQ((*s)["metadata"]["generation"], 1);
  auto scale = c->Get(kWidgets, "default", "w1", "scale");
  ASSERT_TRUE(scale.ok()) << scale.status();
  EXPECT_EQ((*scale)["spec"]["replicas"], 1);
  EXPECT_EQ((*scale)["status"]["replicas"], 1);
  // Strategic merge patch is not supported on custom resources.
  EXPECT_EQ(kube::HttpCode(c->Patch(kWidgets, "default", "w1", kube::PatchType::kStrategicMerge,
                                    {{"spec", {{"size", 2}}}})
                               .status()),
            415);
  // Deleting the CRD deletes its objects and unserves the resource.
  ASSERT_TRUE(c->Delete(res::kCustomResourceDefinitions, "", "widgets.example.com").ok());
  EXPECT_TRUE(WaitFor([&] {
    return absl::IsNotFound(
        c->Get(res::kCustomResourceDefinitions, "", "widgets.example.com").status());
  }));
  EXPECT_TRUE(WaitFor([&] { return absl::IsNotFound(c->List(kWidgets, "default").status()); }));
}

TEST_F(CoreTest, PagingIsASnapshot) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c->Create(res::kConfigMaps, "default", ConfigMap("cm" + std::to_string(i))).ok());
  }
  kube::ListOptions lo;
  lo.limit = 4;
  auto p1 = c->List(res::kConfigMaps, "default", lo);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ((*p1)["items"].size(), 4u);
  EXPECT_EQ((*p1)["metadata"]["remainingItemCount"], 6);
  // Changes after the first page are invisible to the rest of the list.
  ASSERT_TRUE(c->Delete(res::kConfigMaps, "default", "cm9").ok());
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", ConfigMap("cm99")).ok());
  std::vector<std::string> names;
  for (auto& i : (*p1)["items"]) names.push_back(i["metadata"]["name"]);
  lo.continue_token = (*p1)["metadata"]["continue"];
  while (!lo.continue_token.empty()) {
    auto p = c->List(res::kConfigMaps, "default", lo);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ((*p)["metadata"]["resourceVersion"], (*p1)["metadata"]["resourceVersion"]);
    for (auto& i : (*p)["items"]) names.push_back(i["metadata"]["name"]);
    lo.continue_token = (*p)["metadata"].value("continue", "");
  }
  std::vector<std::string> want;
  for (int i = 0; i < 10; ++i) want.push_back("cm" + std::to_string(i));
  EXPECT_EQ(names, want);
  // Selectors.
  kube::ListOptions fs;
  fs.field_selector = "metadata.name=cm3";
  auto one = c->List(res::kConfigMaps, "default", fs);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)["items"].size(), 1u);
  fs.field_selector = "data.k=v";
  EXPECT_EQ(kube::HttpCode(c->List(res::kConfigMaps, "default", fs).status()), 400);
}

TEST_F(CoreTest, WatchResumeBookmarksAndExpiry) {
  auto a = c->Create(res::kConfigMaps, "default", ConfigMap("a"));
  ASSERT_TRUE(a.ok());
  std::string rv = (*a)["metadata"]["resourceVersion"];
  ASSERT_TRUE(
      c->Patch(res::kConfigMaps, "default", "a", kube::PatchType::kMerge, {{"data", {{"k", "2"}}}})
          .ok());
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", ConfigMap("b")).ok());
  kube::WatchOptions wo;
  wo.resource_version = rv;
  wo.allow_bookmarks = true;
  auto w = c->Watch(res::kConfigMaps, "default", wo);
  ASSERT_TRUE(w.ok());
  kube::WatchEvent ev;
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kModified);
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kAdded);
  EXPECT_EQ(ev.object["metadata"]["name"], "b");
  ASSERT_TRUE((*w)->Next(&ev));  // periodic bookmark (200ms in tests)
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kBookmark);
  // A synthetic ADDED for every object with "" / "0".
  kube::WatchOptions all;
  all.resource_version = "0";
  auto w0 = c->Watch(res::kConfigMaps, "default", all);
  ASSERT_TRUE((*w0)->Next(&ev));
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kAdded);
  (*w0)->Stop();
  // After compaction, watching from the old version gets one ERROR 410.
  ts.server->CompactHistory();
  auto old = c->Watch(res::kConfigMaps, "default", wo);
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE((*old)->Next(&ev));
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kError);
  EXPECT_EQ(ev.object["code"], 410);
  EXPECT_EQ(ev.object["reason"], "Expired");
  EXPECT_NE(ev.object["message"].get<std::string>().find("too old resource version: " + rv),
            std::string::npos);
  EXPECT_FALSE((*old)->Next(&ev));
  // Dropping watches ends the stream cleanly.
  ts.server->DropWatches();
  while ((*w)->Next(&ev)) {
  }
  EXPECT_TRUE((*w)->status().ok());
}

TEST_F(CoreTest, WatchSelectorTransitionsAndSlowWatcher) {
  kube::WatchOptions wo;
  wo.label_selector = "app=x";
  auto w = c->Watch(res::kConfigMaps, "default", wo);
  ASSERT_TRUE(w.ok());
  Json cm = ConfigMap("s");
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", cm).ok());
  ASSERT_TRUE(c->Patch(res::kConfigMaps, "default", "s", kube::PatchType::kMerge,
                       {{"metadata", {{"labels", {{"app", "x"}}}}}})
                  .ok());
  ASSERT_TRUE(c->Patch(res::kConfigMaps, "default", "s", kube::PatchType::kMerge,
                       {{"metadata", {{"labels", {{"app", "y"}}}}}})
                  .ok());
  // The client asks for bookmarks (the default); one may come between the events when the
  // machine is slow.
  auto next = [&](kube::WatchEvent* ev) {
    while ((*w)->Next(ev)) {
      if (ev->type != kube::WatchEvent::Type::kBookmark) return true;
    }
    return false;
  };
  kube::WatchEvent ev;
  ASSERT_TRUE(next(&ev));
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kAdded);  // started matching
  ASSERT_TRUE(next(&ev));
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kDeleted);  // stopped matching
}

TEST(CoreSlowWatcher, FallingBehindClosesTheWatch) {
  TestServer ts(false, false, [](local::ApiServer::Options& o) { o.watch_queue_limit = 5; });
  ASSERT_TRUE(ts.status.ok());
  auto c = ts.server->LocalClient("t");
  auto w = c->Watch(res::kConfigMaps, "default", {});
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c->Create(res::kConfigMaps, "default", ConfigMap("c" + std::to_string(i))).ok());
  }
  kube::WatchEvent ev;
  int n = 0;
  while ((*w)->Next(&ev)) ++n;
  EXPECT_LT(n, 20);
  EXPECT_FALSE((*w)->status().ok());
  // Writers were never blocked.
  EXPECT_TRUE(c->Get(res::kConfigMaps, "default", "c19").ok());
}

Json Owned(const std::string& name, const Json& owner, bool block) {
  Json cm = ConfigMap(name);
  cm["metadata"]["ownerReferences"] = {{{"apiVersion", "v1"},
                                        {"kind", "ConfigMap"},
                                        {"name", owner["metadata"]["name"]},
                                        {"uid", owner["metadata"]["uid"]},
                                        {"blockOwnerDeletion", block}}};
  return cm;
}

TEST_F(CoreTest, GarbageCollectionPolicies) {
  auto bg = c->Create(res::kConfigMaps, "default", ConfigMap("owner-bg"));
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", Owned("dep-bg", *bg, false)).ok());
  ASSERT_TRUE(c->Delete(res::kConfigMaps, "default", "owner-bg").ok());
  EXPECT_TRUE(WaitFor(
      [&] { return absl::IsNotFound(c->Get(res::kConfigMaps, "default", "dep-bg").status()); }));

  auto fg = c->Create(res::kConfigMaps, "default", ConfigMap("owner-fg"));
  Json dep = Owned("dep-fg", *fg, true);
  dep["metadata"]["finalizers"] = {"example.com/slow"};
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", dep).ok());
  kube::DeleteOptions fo;
  fo.propagation_policy = "Foreground";
  auto d = c->Delete(res::kConfigMaps, "default", "owner-fg", fo);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["metadata"]["finalizers"][0], "foregroundDeletion");
  ts.server->WaitForControllersIdle();
  // The owner waits for its blocking dependent (itself held by a finalizer).
  EXPECT_TRUE(c->Get(res::kConfigMaps, "default", "owner-fg").ok());
  auto dd = c->Get(res::kConfigMaps, "default", "dep-fg");
  ASSERT_TRUE(dd.ok());
  EXPECT_TRUE((*dd)["metadata"].contains("deletionTimestamp"));
  ASSERT_TRUE(c->Patch(res::kConfigMaps, "default", "dep-fg", kube::PatchType::kMerge,
                       {{"metadata", {{"finalizers", nullptr}}}})
                  .ok());
  EXPECT_TRUE(WaitFor(
      [&] { return absl::IsNotFound(c->Get(res::kConfigMaps, "default", "owner-fg").status()); }));

  auto orph = c->Create(res::kConfigMaps, "default", ConfigMap("owner-or"));
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", Owned("dep-or", *orph, true)).ok());
  kube::DeleteOptions oo;
  oo.propagation_policy = "Orphan";
  ASSERT_TRUE(c->Delete(res::kConfigMaps, "default", "owner-or", oo).ok());
  EXPECT_TRUE(WaitFor(
      [&] { return absl::IsNotFound(c->Get(res::kConfigMaps, "default", "owner-or").status()); }));
  auto kept = c->Get(res::kConfigMaps, "default", "dep-or");
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE((*kept)["metadata"].contains("ownerReferences"));

  // A dependent whose owner never existed is collected.
  Json ghost = ConfigMap("owner-ghost");
  ghost["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000";
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", Owned("dep-ghost", ghost, false)).ok());
  EXPECT_TRUE(WaitFor(
      [&] { return absl::IsNotFound(c->Get(res::kConfigMaps, "default", "dep-ghost").status()); }));
}

TEST_F(CoreTest, FaultHooks) {
  local::WriteFault f;
  f.count = 2;
  f.code = 409;
  f.resource = "configmaps";
  f.verb = "create";
  ts.server->faults().FailWrites(f);
  EXPECT_TRUE(kube::IsConflict(c->Create(res::kConfigMaps, "default", ConfigMap("a")).status()));
  EXPECT_TRUE(kube::IsConflict(c->Create(res::kConfigMaps, "default", ConfigMap("a")).status()));
  EXPECT_TRUE(c->Create(res::kConfigMaps, "default", ConfigMap("a")).ok());
  f.count = 1;
  f.code = 500;
  f.verb = "";
  ts.server->faults().FailWrites(f);
  auto e = c->Delete(res::kConfigMaps, "default", "a");
  EXPECT_EQ(kube::HttpCode(e.status()), 500);
  EXPECT_EQ(ts.server->faults().injected_failures.load(), 3u);
}

// SameObjectExcept against what it replaced: erasing the skipped members from copies of both
// objects and comparing the copies, over random pairs that share most of their members.
TEST(SameObjectExcept, AgreesWithComparingErasedCopies) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> keys = {"metadata", "spec", "status", "data", "kind", "x"};
  const std::vector<std::string> meta_keys = {"name", "resourceVersion", "managedFields", "labels",
                                              "generation"};
  std::function<Json(int)> value = [&](int depth) -> Json {
    switch (depth > 2 ? pick(4) : pick(7)) {
      case 0:
        return pick(3);
      case 1:
        return pick(2) == 0 ? Json(1.0) : Json("s" + std::to_string(pick(3)));
      case 2:
        return nullptr;
      case 3:
        return pick(2) == 0;
      case 4: {
        Json a = Json::array();
        for (int i = pick(3); i > 0; --i) a.push_back(value(depth + 1));
        return a;
      }
      default: {
        Json o = Json::object();
        for (int i = pick(4); i > 0; --i) o[keys[pick(keys.size())]] = value(depth + 1);
        return o;
      }
    }
  };
  auto object = [&]() {
    Json o = Json::object();
    for (const auto& k : keys) {
      if (pick(3) == 0) continue;
      if (k == "metadata" && pick(5) != 0) {
        Json m = Json::object();
        for (const auto& mk : meta_keys) {
          if (pick(2) == 0) m[mk] = value(1);
        }
        o[k] = m;
      } else {
        o[k] = value(1);
      }
    }
    return o;
  };
  auto mutate = [&](Json o) {
    if (!o.is_object()) return pick(2) == 0 ? o : value(0);
    for (int i = pick(3); i > 0; --i) {
      const std::string& k = keys[pick(keys.size())];
      if (k == "metadata" && o.contains(k) && o[k].is_object() && pick(2) == 0) {
        const std::string& mk = meta_keys[pick(meta_keys.size())];
        if (pick(3) == 0) {
          o[k].erase(mk);
        } else {
          o[k][mk] = value(1);
        }
      } else if (pick(3) == 0) {
        o.erase(k);
      } else {
        o[k] = value(1);
      }
    }
    return o;
  };
  auto erased = [](Json o, std::initializer_list<std::string_view> skip,
                   std::initializer_list<std::string_view> meta_skip) {
    if (!o.is_object()) return o;
    for (auto k : skip) o.erase(std::string(k));
    if (o.contains("metadata") && o["metadata"].is_object()) {
      for (auto k : meta_skip) o["metadata"].erase(std::string(k));
    }
    return o;
  };
  int same = 0, differ = 0;
  for (int i = 0; i < 20000; ++i) {
    Json a = pick(50) == 0 ? value(0) : object();
    Json b = pick(4) == 0 ? a : mutate(a);
    EXPECT_EQ(local::SameObjectExcept(a, b, {}, {"resourceVersion", "managedFields"}),
              erased(a, {}, {"resourceVersion", "managedFields"}) ==
                  erased(b, {}, {"resourceVersion", "managedFields"}))
        << a.dump() << " vs " << b.dump();
    bool gen = local::SameObjectExcept(a, b, {"metadata", "status"});
    EXPECT_EQ(gen, erased(a, {"metadata", "status"}, {}) == erased(b, {"metadata", "status"}, {}))
        << a.dump() << " vs " << b.dump();
    EXPECT_EQ(local::SameObjectExcept(a, b, {"metadata"}),
              erased(a, {"metadata"}, {}) == erased(b, {"metadata"}, {}))
        << a.dump() << " vs " << b.dump();
    (gen ? same : differ)++;
    if (HasFailure()) break;
  }
  // Both outcomes are exercised.
  EXPECT_GT(same, 2000);
  EXPECT_GT(differ, 2000);
}

}  // namespace
}  // namespace kfaas

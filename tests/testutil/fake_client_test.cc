#include "tests/testutil/fake_client.h"

#include <gtest/gtest.h>

namespace kfaas::testing {
namespace {

using kube::resources::kDeployments;

Json Deployment(const std::string& name, int replicas) {
  return {{"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"replicas", replicas}}}};
}

TEST(FakeClient, CreateGetUpdateConflict) {
  FakeClient c;
  auto created = c.Create(kDeployments, "default", Deployment("a", 1));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["generation"], 1);
  EXPECT_TRUE(
      absl::IsAlreadyExists(c.Create(kDeployments, "default", Deployment("a", 1)).status()));
  Json stale = *created;
  Json next = *created;
  next["spec"]["replicas"] = 3;
  auto updated = c.Update(kDeployments, "default", next);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ((*updated)["metadata"]["generation"], 2);
  stale["spec"]["replicas"] = 5;
  EXPECT_TRUE(kube::IsConflict(c.Update(kDeployments, "default", stale).status()));
  EXPECT_TRUE(absl::IsNotFound(c.Get(kDeployments, "default", "zz").status()));
}

TEST(FakeClient, ScaleSubresourceAndActions) {
  FakeClient c;
  ASSERT_TRUE(c.Create(kDeployments, "default", Deployment("a", 0)).ok());
  c.ClearActions();
  auto scale = c.Patch(kDeployments, "default", "a", kube::PatchType::kMerge,
                       {{"spec", {{"replicas", 2}}}}, "scale");
  ASSERT_TRUE(scale.ok()) << scale.status();
  EXPECT_EQ((*scale)["kind"], "Scale");
  EXPECT_EQ((*scale)["spec"]["replicas"], 2);
  EXPECT_EQ((*c.Object(kDeployments, "default", "a"))["spec"]["replicas"], 2);
  auto writes = c.Writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "patch");
  EXPECT_EQ(writes[0].subresource, "scale");
}

TEST(FakeClient, WatchResumesAndExpires) {
  FakeClient c;
  auto a = c.Create(kDeployments, "default", Deployment("a", 1));
  std::string rv = (*a)["metadata"]["resourceVersion"];
  ASSERT_TRUE(c.Create(kDeployments, "default", Deployment("b", 1)).ok());
  auto w = c.Watch(kDeployments, "", {.resource_version = rv});
  ASSERT_TRUE(w.ok());
  kube::WatchEvent ev;
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kAdded);
  EXPECT_EQ(ev.object["metadata"]["name"], "b");
  c.Compact();
  auto w2 = c.Watch(kDeployments, "", {.resource_version = rv});
  ASSERT_TRUE((*w2)->Next(&ev));
  EXPECT_EQ(ev.type, kube::WatchEvent::Type::kError);
  EXPECT_EQ(ev.object["code"], 410);
  EXPECT_FALSE((*w2)->Next(&ev));
}

TEST(FakeClient, FailNextAndGarbageCollection) {
  FakeClient c;
  c.FailNext("create", "deployments", kube::InternalApiError("boom"));
  EXPECT_EQ(kube::HttpCode(c.Create(kDeployments, "default", Deployment("a", 1)).status()), 500);
  auto owner = c.Create(kDeployments, "default", Deployment("a", 1));
  ASSERT_TRUE(owner.ok());
  Json svc = {{"metadata",
               {{"name", "a"},
                {"ownerReferences", {{{"uid", (*owner)["metadata"]["uid"]}, {"name", "a"}}}}}}};
  ASSERT_TRUE(c.Create(kube::resources::kServices, "default", svc).ok());
  ASSERT_TRUE(c.Delete(kDeployments, "default", "a").ok());
  EXPECT_FALSE(c.Object(kube::resources::kServices, "default", "a").has_value());
}

}  // namespace
}  // namespace kfaas::testing

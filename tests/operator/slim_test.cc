#include "operator/controller/slim.h"

#include <gtest/gtest.h>

#include "operator/controller/compare.h"
#include "operator/resources/resources.h"
#include "tests/operator/test_files.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::op {
namespace {

using kube::resources::kDeployments;

Function Fn() {
  auto fn = ParseFunction(testing::LoadYaml("tests/operator/testdata/golden/full-function.yaml"));
  EXPECT_TRUE(fn.ok());
  return *fn;
}

// What a real API server returns for the Deployment kfaas wrote.
Json Served(Json d) {
  d["metadata"]["managedFields"] = {
      {{"manager", "kfaas-operator"}, {"fieldsV1", {{"f:spec", {}}}}}};
  d["metadata"]["annotations"] = {{"deployment.kubernetes.io/revision", "3"}};
  d["metadata"]["resourceVersion"] = "42";
  d["spec"]["revisionHistoryLimit"] = 10;
  Json& pod = d["spec"]["template"]["spec"];
  pod["dnsPolicy"] = "ClusterFirst";
  pod["schedulerName"] = "default-scheduler";
  pod["containers"][0]["imagePullPolicy"] = "IfNotPresent";
  pod["containers"][0]["terminationMessagePath"] = "/dev/termination-log";
  d["status"] = {{"replicas", 2},
                 {"readyReplicas", 1},
                 {"updatedReplicas", 2},
                 {"observedGeneration", 4},
                 {"conditions",
                  {{{"type", "Available"}, {"status", "True"}},
                   {{"type", "Progressing"},
                    {"status", "True"},
                    {"reason", "NewReplicaSetAvailable"},
                    {"lastUpdateTime", "x"}}}}};
  return d;
}

TEST(Slim, DeploymentKeepsWhatTheReconcilerCompares) {
  Json desired = MakeDeployment(Fn(), {});
  Json slim = SlimDeployment(Served(desired));
  std::string diff;
  EXPECT_TRUE(IsDerivative(desired["spec"], slim["spec"], &diff)) << diff;
  EXPECT_TRUE(IsDerivative(desired["metadata"]["labels"], slim["metadata"]["labels"]));
  EXPECT_EQ(slim["metadata"]["ownerReferences"], desired["metadata"]["ownerReferences"]);
  EXPECT_EQ(slim["metadata"]["resourceVersion"], "42");
  EXPECT_FALSE(slim["metadata"].contains("managedFields"));
  EXPECT_FALSE(slim["metadata"].contains("annotations"));
  EXPECT_FALSE(slim["spec"].contains("revisionHistoryLimit"));
  EXPECT_FALSE(slim["spec"]["template"]["spec"]["containers"][0].contains("imagePullPolicy"));
  EXPECT_EQ(slim["status"]["replicas"], 2);
  EXPECT_EQ(slim["status"]["readyReplicas"], 1);
  ASSERT_EQ(slim["status"]["conditions"].size(), 1u);
  EXPECT_EQ(slim["status"]["conditions"][0]["reason"], "NewReplicaSetAvailable");
  EXPECT_LT(slim.dump().size(), Served(desired).dump().size());
}

TEST(Slim, ServiceAndFunction) {
  Json svc = MakeService(Fn(), {});
  svc["spec"]["clusterIP"] = "10.0.0.1";
  svc["metadata"]["managedFields"] = Json::array({Json::object()});
  Json slim = SlimService(svc);
  EXPECT_TRUE(IsDerivative(MakeService(Fn(), {})["spec"], slim["spec"]));
  EXPECT_FALSE(slim["spec"].contains("clusterIP"));
  EXPECT_FALSE(slim["metadata"].contains("managedFields"));

  Json fn = testing::LoadYaml("tests/operator/testdata/golden/full-function.yaml");
  fn["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{...}"},
                                   {"team", "media"}};
  fn["metadata"]["managedFields"] = Json::array({Json::object()});
  Json sf = SlimFunction(fn);
  EXPECT_EQ(sf["spec"], fn["spec"]);
  EXPECT_EQ(sf["metadata"]["annotations"], Json({{"team", "media"}}));
  EXPECT_FALSE(sf["metadata"].contains("managedFields"));
}

TEST(Slim, ClientSlimsListsAndWatchesOnly) {
  kfaas::testing::FakeClient fake;
  auto full = fake.Seed(kDeployments, Served(MakeDeployment(Fn(), {})));
  auto slim =
      SlimmingClient(std::shared_ptr<kube::Client>(&fake, [](kube::Client*) {}), SlimDeployment);
  auto list = slim->List(kDeployments, "media");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ((*list)["items"].size(), 1u);
  EXPECT_FALSE((*list)["items"][0]["metadata"].contains("managedFields"));
  auto got = slim->Get(kDeployments, "media", "resize");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE((*got)["metadata"].contains("managedFields")) << "Get is not slimmed";
  auto w = slim->Watch(kDeployments, "media", {});
  ASSERT_TRUE(w.ok());
  kube::WatchEvent ev;
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_FALSE(ev.object["metadata"].contains("managedFields"));
  EXPECT_FALSE(ev.object["spec"].contains("revisionHistoryLimit"));
}

TEST(Slim, PackKeepsWhatTheInformersReadAndUnpacksToTheSameObject) {
  Json slim = SlimDeployment(Served(MakeDeployment(Fn(), {})));
  Json packed = Pack(slim);
  EXPECT_TRUE(IsPacked(packed));
  EXPECT_FALSE(IsPacked(slim));
  EXPECT_EQ(packed["kind"], "Deployment");
  EXPECT_EQ(packed["metadata"]["name"], slim["metadata"]["name"]);
  EXPECT_EQ(packed["metadata"]["namespace"], "media");
  EXPECT_EQ(packed["metadata"]["resourceVersion"], "42");
  EXPECT_FALSE(packed.contains("spec")) << "no spec.hosts to keep";
  EXPECT_FALSE(packed.contains("status"));
  EXPECT_EQ(Unpack(packed), slim);
  EXPECT_EQ(Unpack(slim), slim) << "an unpacked object is returned as it is";
  Json cached = CacheDeployment(Served(MakeDeployment(Fn(), {})));
  EXPECT_EQ(ControllerFunctionKey(Unpack(cached)), "media/" + Fn().name);
  EXPECT_EQ(PackedControllerKey(cached), "media/" + Fn().name);
  EXPECT_EQ(PackedControllerKey(slim), "media/" + Fn().name);
  Json orphan = slim;
  orphan["metadata"].erase("ownerReferences");
  EXPECT_EQ(PackedControllerKey(CacheService(orphan)), "");

  // Functions keep spec.hosts (the hosts index reads it) beside the packed object.
  Json fn = testing::LoadYaml("tests/operator/testdata/golden/full-function.yaml");
  fn["metadata"]["managedFields"] = Json::array({Json::object()});
  Json pf = CacheFunction(fn);
  ASSERT_TRUE(fn["spec"].contains("hosts"));
  EXPECT_EQ(pf["spec"], Json({{"hosts", fn["spec"]["hosts"]}}));
  EXPECT_EQ(Unpack(pf), SlimFunction(fn));
}

}  // namespace
}  // namespace kfaas::op

// Deployment controller: pure planning/status logic (tables) and Reconcile against FakeClient.
#include <gtest/gtest.h>

#include "common/base/time_format.h"
#include "local/node/deployment_controller.h"
#include "local/node/deployment_logic.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::node {
namespace {

using kfaas::testing::FakeClient;
using kube::resources::kDeployments;
using kube::resources::kPods;
using namespace std::chrono_literals;

Json Deployment(int replicas, Json strategy = nullptr, std::string image = "img:1") {
  Json container = {{"name", "c"}, {"image", image}};
  Json tmpl = {{"metadata", {{"labels", {{"app", "web"}}}}},
               {"spec", {{"containers", Json::array({container})}}}};
  Json d;
  d["metadata"] = {
      {"name", "web"}, {"namespace", "default"}, {"uid", "dep-uid"}, {"generation", 3}};
  d["spec"] = {{"replicas", replicas},
               {"selector", {{"matchLabels", {{"app", "web"}}}}},
               {"template", tmpl}};
  if (!strategy.is_null()) d["spec"]["strategy"] = strategy;
  return d;
}

const WallTime kNow = WallTime(std::chrono::hours(24 * 365 * 50));

PodSummary P(std::string name, std::string hash, bool ready, int age_s = 100) {
  PodSummary p;
  p.name = std::move(name);
  p.uid = p.name + "-uid";
  p.hash = std::move(hash);
  p.running = true;
  p.ready = ready;
  p.created = kNow - std::chrono::seconds(age_s);
  p.ready_since = p.created + 1s;
  return p;
}

// The hash is FNV-1a of the template's compact dump() (pods' names and pod-template-hash labels
// depend on it: it must not change between versions).
TEST(PodTemplateHash, IsFnv1aOfTheCompactDump) {
  auto reference = [](const Json& t) {
    uint32_t h = 2166136261u;
    for (unsigned char c : t.dump()) {
      h ^= c;
      h *= 16777619u;
    }
    std::string out;
    for (unsigned char c : std::to_string(h)) {
      out.push_back("bcdfghjklmnpqrstvwxz2456789"[c % 27]);
    }
    return out;
  };
  Json t = {{"metadata", {{"labels", {{"app", "hello"}, {"kfaas.dev/function", "hello"}}}}},
            {"spec",
             {{"containers",
               {{{"name", "fn"},
                 {"image", "registry.example.com/hello:0.1"},
                 {"command", {"hello-function"}},
                 {"env", {{{"name", "GREETING"}, {"value", "Hello \"kfaas\" \u00e9\n"}}}},
                 {"ports", {{{"containerPort", 8080}}}},
                 {"resources", {{"limits", {{"cpu", 0.5}, {"memory", "128Mi"}}}}},
                 {"readinessProbe", {{"httpGet", {{"path", "/healthz"}, {"port", 8080}}}}}}}},
              {"terminationGracePeriodSeconds", 30},
              {"enableServiceLinks", false},
              {"nodeSelector", nullptr}}}};
  EXPECT_EQ(PodTemplateHash(t), reference(t));
  EXPECT_EQ(PodTemplateHash(Json::object()), reference(Json::object()));
  EXPECT_EQ(PodTemplateHash(Json::array({1, -2.5, "x", true})),
            reference(Json::array({1, -2.5, "x", true})));
}

TEST(PodTemplateHash, StableAndSensitive) {
  Json t1 = Deployment(1)["spec"]["template"];
  Json t2 = Deployment(1, nullptr, "img:2")["spec"]["template"];
  EXPECT_EQ(PodTemplateHash(t1), PodTemplateHash(Json::parse(t1.dump())));
  EXPECT_NE(PodTemplateHash(t1), PodTemplateHash(t2));
  for (char c : PodTemplateHash(t1))
    EXPECT_EQ(std::string("aeiou013").find(c), std::string::npos) << c;
  EXPECT_EQ(PodName("web", "abc", "xyz12"), "web-abc-xyz12");
  EXPECT_EQ(PodName(std::string(80, 'd'), "h", "sfx12").size(), 63u);
}

TEST(MakePod, LabelsOwnerAndSpec) {
  Json pod = MakePod(Deployment(1), "h1", "web-h1-abcde", "kfaas-local");
  EXPECT_EQ(pod["metadata"]["name"], "web-h1-abcde");
  EXPECT_EQ(pod["metadata"]["namespace"], "default");
  EXPECT_EQ(pod["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(pod["metadata"]["labels"]["pod-template-hash"], "h1");
  const Json& ref = pod["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["kind"], "Deployment");
  EXPECT_EQ(ref["uid"], "dep-uid");
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(pod["spec"]["containers"][0]["image"], "img:1");
  EXPECT_EQ(pod["spec"]["nodeName"], "kfaas-local");
}

TEST(PlanDeployment, ScalesUpAndDownNotReadyThenNewestFirst) {
  auto plan = PlanDeployment(Deployment(3), {P("a", "h", true)}, "h", kNow);
  EXPECT_EQ(plan.create, 2);
  EXPECT_TRUE(plan.deletions.empty());

  std::vector<PodSummary> pods = {P("old-ready", "h", true, 300), P("new-ready", "h", true, 10),
                                  P("not-ready", "h", false, 500), P("mid", "h", true, 100)};
  plan = PlanDeployment(Deployment(1), pods, "h", kNow);
  EXPECT_EQ(plan.create, 0);
  EXPECT_EQ(plan.deletions, (std::vector<std::string>{"not-ready", "new-ready", "mid"}));

  plan = PlanDeployment(Deployment(0), pods, "h", kNow);
  EXPECT_EQ(plan.deletions.size(), 4u);
}

TEST(PlanDeployment, TerminatingPodsDoNotCountAndFinishedAreReplaced) {
  PodSummary gone = P("gone", "h", true);
  gone.terminating = true;
  PodSummary done = P("done", "h", false);
  done.finished = true;
  auto plan = PlanDeployment(Deployment(1), {gone, done}, "h", kNow);
  EXPECT_EQ(plan.create, 1);
  EXPECT_EQ(plan.deletions, std::vector<std::string>{"done"});
}

// One replica, maxSurge 1, maxUnavailable 0 (what the operator writes): the new pod must be
// ready before the old one goes.
TEST(PlanDeployment, RollingUpdateSurgesThenRemovesOldWhenNewIsReady) {
  Json strategy = {{"type", "RollingUpdate"},
                   {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}};
  Json d = Deployment(1, strategy);
  auto plan = PlanDeployment(d, {P("old", "h1", true)}, "h2", kNow);
  EXPECT_EQ(plan.create, 1);
  EXPECT_TRUE(plan.deletions.empty());

  plan = PlanDeployment(d, {P("old", "h1", true), P("new", "h2", false)}, "h2", kNow);
  EXPECT_EQ(plan.create, 0);
  EXPECT_TRUE(plan.deletions.empty()) << "old pod removed before the new one is ready";

  plan = PlanDeployment(d, {P("old", "h1", true), P("new", "h2", true)}, "h2", kNow);
  EXPECT_EQ(plan.create, 0);
  EXPECT_EQ(plan.deletions, std::vector<std::string>{"old"});
}

TEST(PlanDeployment, RollingUpdateDefaultsAndUnhealthyOldPodsGoFirst) {
  // 4 replicas, defaults 25%/25%: surge 1, unavailable 1.
  Json d = Deployment(4);
  std::vector<PodSummary> pods = {P("o1", "h1", true), P("o2", "h1", true), P("o3", "h1", true),
                                  P("o4", "h1", false)};
  auto plan = PlanDeployment(d, pods, "h2", kNow);
  EXPECT_EQ(plan.create, 1);
  // total 4, min available 3, new unavailable 0 -> may remove 1: the unhealthy one.
  EXPECT_EQ(plan.deletions, std::vector<std::string>{"o4"});
}

TEST(PlanDeployment, RecreateDeletesOldFirstThenCreates) {
  Json d = Deployment(2, {{"type", "Recreate"}});
  auto plan = PlanDeployment(d, {P("o1", "h1", true), P("o2", "h1", true)}, "h2", kNow);
  EXPECT_EQ(plan.create, 0);
  EXPECT_EQ(plan.deletions.size(), 2u);
  PodSummary t = P("o1", "h1", true);
  t.terminating = true;
  plan = PlanDeployment(d, {t}, "h2", kNow);
  EXPECT_EQ(plan.create, 0) << "waits for old pods to terminate";
  plan = PlanDeployment(d, {}, "h2", kNow);
  EXPECT_EQ(plan.create, 2);
}

TEST(PlanDeployment, MinReadySecondsDelaysAvailability) {
  Json d = Deployment(
      1, {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}});
  d["spec"]["minReadySeconds"] = 10;
  PodSummary fresh = P("new", "h2", true);
  fresh.ready_since = kNow - 4s;
  auto plan = PlanDeployment(d, {P("old", "h1", true), fresh}, "h2", kNow);
  EXPECT_TRUE(plan.deletions.empty());
  EXPECT_EQ(plan.requeue_after, Duration(6s));
}

TEST(DeploymentStatus, CountsAndConditions) {
  Json d = Deployment(3);
  std::vector<PodSummary> pods = {P("a", "h", true), P("b", "h", false), P("c", "old", true)};
  Json st = DeploymentStatus(d, pods, "h", Json::object(), kNow);
  EXPECT_EQ(st["replicas"], 3);
  EXPECT_EQ(st["updatedReplicas"], 2);
  EXPECT_EQ(st["readyReplicas"], 2);
  EXPECT_EQ(st["availableReplicas"], 2);
  EXPECT_EQ(st["unavailableReplicas"], 1);
  EXPECT_EQ(st["observedGeneration"], 3);
  // 3 replicas, maxUnavailable floor(0.75) = 0: 2 available is below the minimum.
  EXPECT_EQ(st["conditions"][0]["type"], "Available");
  EXPECT_EQ(st["conditions"][0]["status"], "False");
  EXPECT_EQ(st["conditions"][1]["type"], "Progressing");
  EXPECT_EQ(st["conditions"][1]["reason"], "ReplicaSetUpdated");

  std::vector<PodSummary> done = {P("a", "h", true), P("b", "h", true), P("d", "h", true)};
  Json st2 = DeploymentStatus(d, done, "h", st, kNow + 5s);
  EXPECT_EQ(st2["conditions"][0]["status"], "True");
  EXPECT_EQ(st2["conditions"][0]["reason"], "MinimumReplicasAvailable");
  EXPECT_NE(st2["conditions"][0]["lastTransitionTime"], st["conditions"][0]["lastTransitionTime"]);
  EXPECT_EQ(st2["conditions"][1]["reason"], "NewReplicaSetAvailable");
  // Progressing stayed True: its transition time is kept.
  EXPECT_EQ(st2["conditions"][1]["lastTransitionTime"], st["conditions"][1]["lastTransitionTime"]);
  EXPECT_TRUE(SameDeploymentStatus(st2, DeploymentStatus(d, done, "h", st2, kNow + 10s)));
}

TEST(ScaledValue, PercentAndIntegers) {
  EXPECT_EQ(ScaledValue(Json(), 4, true, 25), 1);
  EXPECT_EQ(ScaledValue(Json(), 1, true, 25), 1);
  EXPECT_EQ(ScaledValue(Json(), 1, false, 25), 0);
  EXPECT_EQ(ScaledValue("50%", 3, true, 25), 2);
  EXPECT_EQ(ScaledValue(2, 10, true, 25), 2);
}

class DeploymentControllerTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeClient> client_ = std::make_shared<FakeClient>();
  // Status written at once after creating pods (the delay has its own test).
  DeploymentController controller_{client_, {.status_delay_after_create = Duration(0)}};

  std::vector<Json> Pods() { return client_->Objects(kPods, "default"); }
  void SetReady(const std::string& name) {
    Json p = *client_->Object(kPods, "default", name);
    p["status"] = {{"phase", "Running"},
                   {"conditions",
                    {{{"type", "Ready"},
                      {"status", "True"},
                      {"lastTransitionTime", "2020-01-01T00:00:00Z"}}}}};
    client_->Seed(kPods, p);
  }
};

// After creating pods the status write waits status_delay_after_create (reconciles meanwhile
// requeue for then), and the status of created, Running and ready pods is written once.
TEST_F(DeploymentControllerTest, StatusAfterAScaleUpIsWrittenOnceAfterTheDelay) {
  FakeClock clock;
  DeploymentController delayed(
      client_, {.clock = &clock, .status_delay_after_create = std::chrono::milliseconds(25)});
  client_->Seed(kDeployments, Deployment(1));
  auto requeue = delayed.Reconcile("default/web");
  ASSERT_TRUE(requeue.ok()) << requeue.status();
  EXPECT_EQ(*requeue, std::chrono::milliseconds(25));
  auto pods = Pods();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_FALSE((*client_->Object(kDeployments, "default", "web")).contains("status"));

  // The pod became ready meanwhile: its event's reconcile still waits.
  SetReady(pods[0]["metadata"]["name"]);
  clock.Advance(std::chrono::milliseconds(10));
  requeue = delayed.Reconcile("default/web");
  ASSERT_TRUE(requeue.ok());
  EXPECT_EQ(*requeue, std::chrono::milliseconds(15));
  EXPECT_FALSE((*client_->Object(kDeployments, "default", "web")).contains("status"));

  clock.Advance(std::chrono::milliseconds(15));
  client_->ClearActions();
  requeue = delayed.Reconcile("default/web");
  ASSERT_TRUE(requeue.ok());
  EXPECT_EQ(client_->Writes().size(), 1u);  // the one status write
  Json st = (*client_->Object(kDeployments, "default", "web"))["status"];
  EXPECT_EQ(st["replicas"], 1);
  EXPECT_EQ(st["readyReplicas"], 1);
}

TEST_F(DeploymentControllerTest, CreatesPodsScalesDownAndWritesStatus) {
  Json d = Deployment(3);
  d["metadata"].erase("uid");
  d = client_->Seed(kDeployments, d);
  ASSERT_TRUE(controller_.Reconcile("default/web").ok());
  auto pods = Pods();
  ASSERT_EQ(pods.size(), 3u);
  std::string hash = PodTemplateHash(d["spec"]["template"]);
  for (const auto& p : pods) {
    EXPECT_EQ(p["metadata"]["labels"]["pod-template-hash"], hash);
    EXPECT_EQ(p["metadata"]["name"].get<std::string>().rfind("web-" + hash + "-", 0), 0u);
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["uid"], d["metadata"]["uid"]);
  }
  Json st = (*client_->Object(kDeployments, "default", "web"))["status"];
  EXPECT_EQ(st["replicas"], 3);
  EXPECT_EQ(st["readyReplicas"], 0);

  std::string ready_pod = pods[1]["metadata"]["name"];
  SetReady(ready_pod);
  ASSERT_TRUE(controller_.Reconcile("default/web").ok());
  st = (*client_->Object(kDeployments, "default", "web"))["status"];
  EXPECT_EQ(st["readyReplicas"], 1);
  EXPECT_EQ(st["availableReplicas"], 1);

  // Scale to 1 (what a /scale write does): the two not-ready pods go.
  auto scaled = client_->Patch(kDeployments, "default", "web", kube::PatchType::kMerge,
                               {{"spec", {{"replicas", 1}}}}, "scale");
  ASSERT_TRUE(scaled.ok());
  ASSERT_TRUE(controller_.Reconcile("default/web").ok());
  pods = Pods();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0]["metadata"]["name"], ready_pod);
  st = (*client_->Object(kDeployments, "default", "web"))["status"];
  EXPECT_EQ(st["replicas"], 1);
  EXPECT_EQ(st["conditions"][1]["reason"], "NewReplicaSetAvailable");

  // A reconcile with nothing to do writes nothing.
  client_->ClearActions();
  ASSERT_TRUE(controller_.Reconcile("default/web").ok());
  EXPECT_TRUE(client_->Writes().empty());
}

TEST_F(DeploymentControllerTest, IgnoresPodsItDoesNotControl) {
  client_->Seed(kDeployments, Deployment(1));
  client_->Seed(
      kPods,
      {{"metadata", {{"name", "stray"}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}}});
  ASSERT_TRUE(controller_.Reconcile("default/web").ok());
  EXPECT_EQ(Pods().size(), 2u);
  EXPECT_TRUE(controller_.Reconcile("default/missing").ok());
}

TEST_F(DeploymentControllerTest, CreateFailureIsRetried) {
  client_->Seed(kDeployments, Deployment(1));
  client_->FailNext("create", "pods", absl::UnavailableError("etcd is down"));
  EXPECT_FALSE(controller_.Reconcile("default/web").ok());
  EXPECT_TRUE(controller_.Reconcile("default/web").ok());
  EXPECT_EQ(Pods().size(), 1u);
}

}  // namespace
}  // namespace kfaas::node

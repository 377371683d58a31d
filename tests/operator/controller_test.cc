// The controller (informers, work queue, workers, Reconciler) against the real local API
// server in process: CRD schema defaults, status subresource, garbage collection and watches
// are the server's, not a fake's.
#include "operator/controller/controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <algorithm>

#include <mutex>

#include "common/base/yaml_json.h"
#include "local/apiserver/api_server.h"
#include "operator/controller/status.h"
#include "tests/operator/subprocess.h"
#include "tests/operator/test_files.h"

namespace kfaas::op {
namespace {

using kube::resources::kDeployments;
using kube::resources::kFunctions;
using kube::resources::kServices;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::ReadSourceFile;
using testing::TempDir;

class SinkForTest : public EventSink {
 public:
  void Record(const Json& obj, std::string_view type, std::string_view reason,
              std::string_view) override {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(obj["metadata"].value("name", "") + " " + std::string(type) + " " +
                      std::string(reason));
  }
  std::vector<std::string> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> events_;
};

Json Manifest(const std::string& yaml) {
  auto j = YamlToJson(yaml);
  EXPECT_TRUE(j.ok()) << j.status();
  return *j;
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    local::ApiServer::Options o;
    o.home = dir_.path() + "/home";
    o.secure_port = -1;
    o.insecure_port = -1;
    o.write_kubeconfig = false;
    server_ = std::make_unique<local::ApiServer>(o);
    ASSERT_TRUE(server_->Start().ok());
    client_ = server_->LocalClient("controller-test");
    ASSERT_TRUE(server_->Apply(ReadSourceFile("crds/functions.kfaas.dev.yaml"), "crd").ok());
    ASSERT_TRUE(Eventually([&] { return client_->List(kFunctions, "default").ok(); }));
  }
  void TearDown() override {
    if (controller_) controller_->Stop();
    controller_.reset();
    server_->Stop();
  }

  void StartController(ControllerOptions opts = {.workers = 2}) {
    registry_ = std::make_unique<metrics::Registry>();
    controller_ = std::make_unique<Controller>(client_, sink_, *registry_, RealClock::Get(), opts);
    controller_->StartInformers();
    ASSERT_TRUE(controller_->WaitForSync(std::chrono::seconds(10)));
    controller_->StartWorkers();
  }

  Json Create(const std::string& yaml) {
    auto r = client_->Create(kFunctions, "default", Manifest(yaml));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Json();
  }
  std::optional<Json> Get(const kube::Resource& r, const std::string& name) {
    auto o = client_->Get(r, "default", name);
    if (!o.ok()) return std::nullopt;
    return *o;
  }
  // The Ready condition's "status/reason", or "".
  std::string Ready(const std::string& name) {
    auto fn = Get(kFunctions, name);
    if (!fn || !fn->contains("status")) return "";
    Json conds = (*fn)["status"].value("conditions", Json::array());
    const Json* c = FindCondition(conds, "Ready");
    return c ? (*c)["status"].get<std::string>() + "/" + (*c)["reason"].get<std::string>() : "";
  }
  double Reconciles(const std::string& result) {
    return Metric("kfaas_operator_reconcile_total{result=\"" + result + "\"}");
  }
  double Metric(const std::string& series) {
    std::string text = "\n" + registry_->Serialize();
    std::string key = "\n" + series + " ";
    size_t p = text.find(key);
    return p == std::string::npos ? -1 : std::stod(text.substr(p + key.size()));
  }
  // Waits until the queue is empty and no reconcile ran for a while.
  void WaitIdle() {
    double last = -1;
    auto stable_since = std::chrono::steady_clock::now();
    Eventually([&] {
      double now = Reconciles("success") + Reconciles("error") + Reconciles("requeue");
      if (now != last || controller_->QueueDepth() > 0) {
        last = now;
        stable_since = std::chrono::steady_clock::now();
        return false;
      }
      return std::chrono::steady_clock::now() - stable_since > std::chrono::milliseconds(300);
    });
  }

  TempDir dir_;
  std::unique_ptr<local::ApiServer> server_;
  std::shared_ptr<kube::Client> client_;
  SinkForTest sink_;
  std::unique_ptr<metrics::Registry> registry_;
  std::unique_ptr<Controller> controller_;
};

constexpr char kHello[] = R"(
apiVersion: kfaas.dev/v1alpha1
kind: Function
metadata: {name: hello, namespace: default}
spec:
  image: registry.example.com/hello:1
  command: [/bin/hello]
)";

TEST_F(ControllerTest, CreatesChildrenAndStatusThenFollowsEdits) {
  StartController();
  Create(kHello);
  ASSERT_TRUE(Eventually([&] { return Ready("hello") == "True/ScaledToZero"; })) << Ready("hello");
  auto d = Get(kDeployments, "hello");
  auto s = Get(kServices, "hello");
  ASSERT_TRUE(d && s);
  EXPECT_EQ((*d)["spec"]["replicas"], 0);
  EXPECT_EQ((*d)["metadata"]["ownerReferences"][0]["kind"], "Function");
  EXPECT_EQ((*s)["spec"]["ports"][0]["port"], 80);
  auto fn = Get(kFunctions, "hello");
  EXPECT_EQ((*fn)["status"]["url"], "http://hello.default.kfaas.local");
  EXPECT_EQ((*fn)["status"]["observedGeneration"], 1);
  // The CRD's defaults reached the Deployment (scale.min 0, timeout 300 -> grace 305).
  EXPECT_EQ((*d)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 305);

  // Edit the spec: the Deployment follows and observedGeneration catches up.
  auto patched = client_->Patch(kFunctions, "default", "hello", kube::PatchType::kMerge,
                                {{"spec", {{"image", "registry.example.com/hello:2"}}}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  ASSERT_TRUE(Eventually([&] {
    auto fn = Get(kFunctions, "hello");
    return fn && (*fn)["status"].value("observedGeneration", 0) == 2;
  }));
  d = Get(kDeployments, "hello");
  EXPECT_EQ((*d)["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example.com/hello:2");

  // A child deleted by hand comes back.
  ASSERT_TRUE(client_->Delete(kServices, "default", "hello").ok());
  ASSERT_TRUE(Eventually([&] { return Get(kServices, "hello").has_value(); }));

  // The activator's lastColdStart survives the operator's status writes.
  ASSERT_TRUE(client_
                  ->Patch(kFunctions, "default", "hello", kube::PatchType::kMerge,
                          {{"status",
                            {{"lastColdStart",
                              {{"time", "2026-01-01T00:00:00Z"}, {"durationMilliseconds", 321}}}}}},
                          "status")
                  .ok());
  ASSERT_TRUE(client_
                  ->Patch(kFunctions, "default", "hello", kube::PatchType::kMerge,
                          {{"spec", {{"timeoutSeconds", 30}}}})
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    auto fn = Get(kFunctions, "hello");
    return fn && (*fn)["status"].value("observedGeneration", 0) == 3;
  }));
  fn = Get(kFunctions, "hello");
  EXPECT_EQ((*fn)["status"]["lastColdStart"]["durationMilliseconds"], 321);
  EXPECT_EQ(
      (*Get(kDeployments, "hello"))["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
      35);

  // Deleting the Function deletes its children (the server's garbage collector).
  ASSERT_TRUE(client_->Delete(kFunctions, "default", "hello").ok());
  ASSERT_TRUE(Eventually([&] {
    return !Get(kDeployments, "hello").has_value() && !Get(kServices, "hello").has_value();
  }));
  EXPECT_GE(Reconciles("success"), 1);
}

TEST_F(ControllerTest, InvalidScaleIsReportedWithAWarning) {
  StartController();
  Create(R"(
apiVersion: kfaas.dev/v1alpha1
kind: Function
metadata: {name: bad, namespace: default}
spec: {image: x, scale: {min: 5, max: 2}}
)");
  ASSERT_TRUE(Eventually([&] { return Ready("bad") == "False/InvalidScale"; })) << Ready("bad");
  auto fn = Get(kFunctions, "bad");
  Json conds = (*fn)["status"]["conditions"];
  EXPECT_THAT((*FindCondition(conds, "Ready"))["message"].get<std::string>(),
              HasSubstr("scale.min (5) must be <= scale.max (2)"));
  EXPECT_FALSE(Get(kDeployments, "bad").has_value());
  // The Warning is recorded right after the status write the wait above saw.
  EXPECT_TRUE(Eventually([&] {
    auto events = sink_.events();
    return std::find(events.begin(), events.end(), "bad Warning InvalidScale") != events.end();
  })) << ::testing::PrintToString(sink_.events());
  // Fixing it makes the function ready.
  ASSERT_TRUE(client_
                  ->Patch(kFunctions, "default", "bad", kube::PatchType::kMerge,
                          {{"spec", {{"scale", {{"min", 0}}}}}})
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Ready("bad") == "True/ScaledToZero"; })) << Ready("bad");
}

TEST_F(ControllerTest, FreedHostGoesToTheNextClaimant) {
  StartController();
  Create(R"(
apiVersion: kfaas.dev/v1alpha1
kind: Function
metadata: {name: first, namespace: default}
spec: {image: x, hosts: [shop.example.com]}
)");
  ASSERT_TRUE(Eventually([&] { return Ready("first") == "True/ScaledToZero"; }));
  Create(R"(
apiVersion: kfaas.dev/v1alpha1
kind: Function
metadata: {name: second, namespace: default}
spec: {image: x, hosts: [shop.example.com]}
)");
  ASSERT_TRUE(Eventually([&] { return Ready("second") == "False/HostConflict"; }))
      << Ready("second");
  ASSERT_TRUE(client_->Delete(kFunctions, "default", "first").ok());
  ASSERT_TRUE(Eventually([&] { return Ready("second") == "True/ScaledToZero"; }))
      << Ready("second");
}

TEST_F(ControllerTest, UnchangedFunctionsAreSkippedChangedChildrenAreNot) {
  // Resyncs enqueue the converged Function again and again: each is skipped, and nothing is
  // written.
  StartController({.workers = 2, .resync_period = std::chrono::milliseconds(100)});
  Create(kHello);
  ASSERT_TRUE(Eventually([&] { return Ready("hello") == "True/ScaledToZero"; })) << Ready("hello");
  ASSERT_TRUE(Eventually([&] { return Metric("kfaas_operator_reconcile_skipped_total") >= 3; }));
  std::string fn_rv = (*Get(kFunctions, "hello"))["metadata"]["resourceVersion"];
  std::string dep_rv = (*Get(kDeployments, "hello"))["metadata"]["resourceVersion"];
  double skipped = Metric("kfaas_operator_reconcile_skipped_total");
  ASSERT_TRUE(
      Eventually([&] { return Metric("kfaas_operator_reconcile_skipped_total") >= skipped + 3; }));
  EXPECT_EQ((*Get(kFunctions, "hello"))["metadata"]["resourceVersion"], fn_rv);
  EXPECT_EQ((*Get(kDeployments, "hello"))["metadata"]["resourceVersion"], dep_rv);

  // A changed child is reconciled (its resourceVersion moved): the image is put back.
  ASSERT_TRUE(client_
                  ->Patch(kDeployments, "default", "hello", kube::PatchType::kJson,
                          Json::array({{{"op", "replace"},
                                        {"path", "/spec/template/spec/containers/0/image"},
                                        {"value", "registry.example.com/evil:1"}}}))
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    auto d = Get(kDeployments, "hello");
    return d && (*d)["spec"]["template"]["spec"]["containers"][0]["image"] ==
                    "registry.example.com/hello:1";
  }));
  // So is a changed Function.
  ASSERT_TRUE(client_
                  ->Patch(kFunctions, "default", "hello", kube::PatchType::kMerge,
                          {{"spec", {{"image", "registry.example.com/hello:2"}}}})
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    auto d = Get(kDeployments, "hello");
    return d && (*d)["spec"]["template"]["spec"]["containers"][0]["image"] ==
                    "registry.example.com/hello:2";
  }));
}

TEST_F(ControllerTest, RestartWritesNothing) {
  StartController();
  for (const char* name : {"a", "b", "c"}) {
    Create(std::string("{apiVersion: kfaas.dev/v1alpha1, kind: Function, metadata: {name: ") +
           name + ", namespace: default}, spec: {image: x, scale: {min: 1}}}");
  }
  ASSERT_TRUE(Eventually(
      [&] { return !Ready("a").empty() && !Ready("b").empty() && !Ready("c").empty(); }));
  WaitIdle();
  controller_->Stop();
  auto versions = [&] {
    std::map<std::string, std::string> rv;
    for (const auto* r : {&kFunctions, &kDeployments, &kServices}) {
      auto list = client_->List(*r, "default");
      for (const auto& item : (*list)["items"]) {
        rv[r->resource + "/" + item["metadata"]["name"].get<std::string>()] =
            item["metadata"]["resourceVersion"];
      }
    }
    return rv;
  };
  auto before = versions();
  EXPECT_EQ(before.size(), 9u);
  StartController();
  ASSERT_TRUE(Eventually([&] { return Reconciles("success") >= 3; }));
  WaitIdle();
  EXPECT_EQ(versions(), before);
}

}  // namespace
}  // namespace kfaas::op

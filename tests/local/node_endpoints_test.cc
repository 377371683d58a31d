// Endpoints controller: slice/Endpoints builders and Reconcile against FakeClient.
#include <gtest/gtest.h>

#include "local/node/endpoints_controller.h"
#include "local/node/endpoints_logic.h"
#include "local/node/node_agent.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::node {
namespace {

using kfaas::testing::FakeClient;
using kube::resources::kEndpoints;
using kube::resources::kEndpointSlices;
using kube::resources::kPods;
using kube::resources::kServices;

Json Service() {
  return {{"metadata",
           {{"name", "hello"},
            {"namespace", "default"},
            {"uid", "svc-uid"},
            {"labels", {{"kfaas.dev/function", "hello"}}}}},
          {"spec",
           {{"selector", {{"kfaas.dev/function", "hello"}}},
            {"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", "http"}}}}}}};
}

Json Pod(const std::string& name, int port, bool ready, bool terminating = false,
         std::string phase = "Running") {
  Json container = {{"name", "function"},
                    {"ports", Json::array({{{"name", "http"}, {"containerPort", 8080}}})}};
  Json p;
  p["metadata"] = {{"name", name},
                   {"namespace", "default"},
                   {"uid", name + "-uid"},
                   {"labels", {{"kfaas.dev/function", "hello"}}}};
  p["spec"] = {{"nodeName", "kfaas-local"}, {"containers", Json::array({container})}};
  Json ready_c = {{"type", "Ready"}, {"status", ready ? "True" : "False"}};
  p["status"] = {{"phase", phase}, {"conditions", Json::array({ready_c})}};
  if (port) p["metadata"]["annotations"] = {{kPortAnnotation, std::to_string(port)}};
  if (terminating) p["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z";
  return p;
}

TEST(PodEndpointFor, PublishedOnlyWithPortOnTheNode) {
  EXPECT_FALSE(PodEndpointFor(Pod("a", 0, false)));
  EXPECT_FALSE(PodEndpointFor(Pod("a", 0, false, false, "Pending")));
  // Created with its port: published, not ready, while its process starts.
  auto pending = PodEndpointFor(Pod("a", 20001, false, false, "Pending"));
  ASSERT_TRUE(pending);
  EXPECT_FALSE(pending->ready);
  EXPECT_FALSE(pending->serving);
  Json unscheduled = Pod("a", 20001, false, false, "Pending");
  unscheduled["spec"].erase("nodeName");
  EXPECT_FALSE(PodEndpointFor(unscheduled));
  EXPECT_FALSE(PodEndpointFor(Pod("a", 20001, false, false, "Succeeded")));
  auto ep = PodEndpointFor(Pod("a", 20001, true));
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->port, 20001);
  EXPECT_TRUE(ep->ready);
  EXPECT_TRUE(ep->serving);
  EXPECT_FALSE(ep->terminating);
  auto t = PodEndpointFor(Pod("a", 20001, true, true));
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->ready);
  EXPECT_TRUE(t->serving);
  EXPECT_TRUE(t->terminating);
}

TEST(MakeEndpointSlice, OnePodOnePort) {
  auto ep = PodEndpointFor(Pod("hello-abc-12345", 20001, false));
  Json s = MakeEndpointSlice(Service(), *ep);
  EXPECT_EQ(s["apiVersion"], "discovery.k8s.io/v1");
  EXPECT_EQ(s["kind"], "EndpointSlice");
  EXPECT_EQ(s["metadata"]["name"], "hello-hello-abc-12345");
  EXPECT_EQ(s["metadata"]["labels"]["kubernetes.io/service-name"], "hello");
  EXPECT_EQ(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io");
  EXPECT_EQ(s["metadata"]["labels"]["kfaas.dev/function"], "hello");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["uid"], "svc-uid");
  EXPECT_EQ(s["addressType"], "IPv4");
  ASSERT_EQ(s["endpoints"].size(), 1u);
  EXPECT_EQ(s["endpoints"][0]["addresses"], Json::array({"127.0.0.1"}));
  EXPECT_EQ(s["endpoints"][0]["conditions"],
            Json({{"ready", false}, {"serving", false}, {"terminating", false}}));
  EXPECT_EQ(s["endpoints"][0]["targetRef"]["kind"], "Pod");
  EXPECT_EQ(s["endpoints"][0]["targetRef"]["name"], "hello-abc-12345");
  EXPECT_EQ(s["endpoints"][0]["nodeName"], "kfaas-local");
  EXPECT_EQ(s["ports"], Json::parse(R"([{"name":"http","port":20001,"protocol":"TCP"}])"));
  EXPECT_TRUE(SliceUpToDate(s, s));
  Json defaulted = s;
  defaulted["endpoints"][0]["zone"] = "local";  // a field the server might add
  EXPECT_TRUE(SliceUpToDate(defaulted, s));
  Json changed = s;
  changed["endpoints"][0]["conditions"]["ready"] = true;
  EXPECT_FALSE(SliceUpToDate(changed, s));
}

TEST(MakeEndpointSlice, UnnamedServicePortTakesTheContainerPortName) {
  Json svc = Service();
  svc["spec"]["ports"] = {{{"port", 80}, {"targetPort", 8080}}};
  Json s = MakeEndpointSlice(svc, *PodEndpointFor(Pod("p", 20002, true)));
  EXPECT_EQ(s["ports"][0]["name"], "http");
  EXPECT_EQ(s["ports"][0]["port"], 20002);
}

TEST(MakeEndpoints, OneSubsetPerPodTerminatingLeftOut) {
  std::vector<PodEndpoint> eps = {*PodEndpointFor(Pod("b", 20002, false)),
                                  *PodEndpointFor(Pod("a", 20001, true)),
                                  *PodEndpointFor(Pod("c", 20003, true, true))};
  Json e = MakeEndpoints(Service(), eps);
  EXPECT_EQ(e["metadata"]["name"], "hello");
  ASSERT_EQ(e["subsets"].size(), 2u);
  EXPECT_EQ(e["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
  EXPECT_EQ(e["subsets"][0]["addresses"][0]["targetRef"]["name"], "a");
  EXPECT_EQ(e["subsets"][0]["ports"][0]["port"], 20001);
  EXPECT_EQ(e["subsets"][1]["notReadyAddresses"][0]["targetRef"]["name"], "b");
  EXPECT_FALSE(e["subsets"][1].contains("addresses"));
}

class EndpointsControllerTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeClient> client_ = std::make_shared<FakeClient>();
  EndpointsController controller_{client_, {}};
  std::vector<Json> Slices() { return client_->Objects(kEndpointSlices, "default"); }
};

TEST_F(EndpointsControllerTest, FollowsPods) {
  client_->Seed(kServices, Service());
  client_->Seed(kPods, Pod("p1", 20001, false));
  client_->Seed(kPods, Pod("p2", 0, false, false, "Pending"));  // no process yet
  ASSERT_TRUE(controller_.Reconcile("default/hello").ok());
  auto slices = Slices();
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0]["endpoints"][0]["conditions"]["ready"], false);
  auto ep = client_->Object(kEndpoints, "default", "hello");
  ASSERT_TRUE(ep);
  EXPECT_EQ((*ep)["subsets"][0]["notReadyAddresses"][0]["targetRef"]["name"], "p1");

  client_->Seed(kPods, Pod("p1", 20001, true));
  client_->Seed(kPods, Pod("p2", 20002, false));
  ASSERT_TRUE(controller_.Reconcile("default/hello").ok());
  slices = Slices();
  ASSERT_EQ(slices.size(), 2u);
  EXPECT_EQ((*client_->Object(kEndpointSlices, "default",
                              "hello-p1"))["endpoints"][0]["conditions"]["ready"],
            true);

  // No change: no writes.
  client_->ClearActions();
  ASSERT_TRUE(controller_.Reconcile("default/hello").ok());
  EXPECT_TRUE(client_->Writes().empty());

  // Terminating, then gone.
  client_->Seed(kPods, Pod("p1", 20001, false, true));
  ASSERT_TRUE(controller_.Reconcile("default/hello").ok());
  Json s1 = *client_->Object(kEndpointSlices, "default", "hello-p1");
  EXPECT_EQ(s1["endpoints"][0]["conditions"]["terminating"], true);
  EXPECT_EQ((*client_->Object(kEndpoints, "default", "hello"))["subsets"].size(), 1u);
  ASSERT_TRUE(client_->Delete(kPods, "default", "p1").ok());
  ASSERT_TRUE(controller_.Reconcile("default/hello").ok());
  EXPECT_EQ(Slices().size(), 1u);
  EXPECT_FALSE(client_->Object(kEndpointSlices, "default", "hello-p1"));

  // Service deleted: everything goes.
  ASSERT_TRUE(client_->Delete(kServices, "default", "hello").ok());
  ASSERT_TRUE(controller_.Reconcile("default/hello").ok());
  EXPECT_TRUE(Slices().empty());
  EXPECT_FALSE(client_->Object(kEndpoints, "default", "hello"));
}

TEST_F(EndpointsControllerTest, ServiceWithoutSelectorIsLeftAlone) {
  Json svc = Service();
  svc["spec"].erase("selector");
  client_->Seed(kServices, svc);
  client_->Seed(kEndpoints, {{"metadata", {{"name", "hello"}, {"namespace", "default"}}},
                             {"subsets", {{{"addresses", {{{"ip", "10.0.0.1"}}}}}}}});
  ASSERT_TRUE(controller_.Reconcile("default/hello").ok());
  EXPECT_TRUE(client_->Object(kEndpoints, "default", "hello"));
}

TEST_F(EndpointsControllerTest, EventsReachTheServiceWorkQueue) {
  controller_.Start();
  client_->Seed(kServices, Service());
  controller_.OnService(Service());
  Json pod = client_->Seed(kPods, Pod("p1", 20001, true));
  controller_.OnPod(pod);
  EXPECT_TRUE(kfaas::testing::WaitFor([&] { return Slices().size() == 1; }));
  controller_.Stop();
}

}  // namespace
}  // namespace kfaas::node

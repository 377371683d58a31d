// The local API server over real HTTP(S) on loopback.
#include <gtest/gtest.h>

#include <atomic>

#include "tests/local/apiserver_testutil.h"

namespace kfaas {
namespace {

using testing::Json;
using testing::Request;
using testing::TestServer;
using testing::WaitFor;

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ts.status.ok()) << ts.status; }
  uint16_t plain() { return ts.server->insecure_port(); }
  uint16_t secure() { return ts.server->secure_port(); }
  std::map<std::string, std::string> Auth() {
    return {{"Authorization", "Bearer " + ts.server->admin_token()}};
  }
  TestServer ts;
};

TEST_F(HttpTest, TlsAuthentication) {
  const std::string& ca = ts.server->ca_cert_pem();
  auto v = Request(secure(), "GET", "/version?timeout=5s", "", {}, ca);
  ASSERT_EQ(v.code, 200) << v.error;
  EXPECT_EQ(v.json()["minor"], "32");
  auto anon = Request(secure(), "GET", "/api/v1/namespaces", "", {}, ca);
  EXPECT_EQ(anon.code, 401);
  EXPECT_EQ(anon.json()["reason"], "Unauthorized");
  auto bad =
      Request(secure(), "GET", "/api/v1/namespaces", "", {{"Authorization", "Bearer x"}}, ca);
  EXPECT_EQ(bad.code, 401);
  auto ok = Request(secure(), "GET", "/api/v1/namespaces", "", Auth(), ca);
  ASSERT_EQ(ok.code, 200);
  EXPECT_EQ(ok.json()["items"].size(), 4u);
  auto cert = ts.server->IssueClientCertificate("alice", {"devs"});
  ASSERT_TRUE(cert.ok());
  auto mtls = Request(secure(), "GET", "/api/v1/namespaces/default", "", {}, ca, cert->cert_pem,
                      cert->key_pem);
  EXPECT_EQ(mtls.code, 200) << mtls.body;
  // The fault endpoint needs the admin token over TLS.
  auto certf = Request(secure(), "GET", "/kfaas/faults", "", {}, ca, cert->cert_pem, cert->key_pem);
  EXPECT_EQ(certf.code, 403);
  EXPECT_EQ(Request(secure(), "GET", "/kfaas/faults", "", Auth(), ca).code, 200);
  // Files and kubeconfig.
  std::string kc = testing::ReadText(ts.server->kubeconfig_path());
  EXPECT_NE(kc.find("current-context: kfaas-local"), std::string::npos);
  EXPECT_NE(kc.find("token: " + ts.server->admin_token()), std::string::npos);
  Json state = Json::parse(testing::ReadText(ts.server->home() + "/apiserver.json"));
  EXPECT_EQ(state["securePort"], secure());
  EXPECT_EQ(state["insecurePort"], plain());
}

TEST_F(HttpTest, DiscoveryAndOpenApi) {
  auto agg = Request(plain(), "GET", "/apis", "",
                     {{"Accept",
                       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                       "application/json"}});
  ASSERT_EQ(agg.code, 200);
  EXPECT_EQ(agg.headers["content-type"],
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(agg.json()["kind"], "APIGroupDiscoveryList");
  auto legacy = Request(plain(), "GET", "/apis");
  EXPECT_EQ(legacy.json()["kind"], "APIGroupList");
  auto apps = Request(plain(), "GET", "/apis/apps/v1");
  ASSERT_EQ(apps.code, 200);
  bool has_scale = false;
  Json apps_list = apps.json();
  for (auto& r : apps_list["resources"]) has_scale |= r["name"] == "deployments/scale";
  EXPECT_TRUE(has_scale);
  auto root = Request(plain(), "GET", "/openapi/v3");
  ASSERT_EQ(root.code, 200);
  std::string url = root.json()["paths"]["apis/apps/v1"]["serverRelativeURL"];
  auto doc = Request(plain(), "GET", url);
  ASSERT_EQ(doc.code, 200);
  Json patch =
      doc.json()["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
  EXPECT_FALSE(patch["requestBody"]["content"].contains("application/strategic-merge-patch+json"));
  EXPECT_EQ(Request(plain(), "GET", "/openapi/v2").code, 404);
  EXPECT_EQ(Request(plain(), "GET", "/apis/nope.example.com/v1").code, 404);
}

TEST_F(HttpTest, MalformedInputGetsAClearStatus) {
  auto r = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps", "{not json");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.json()["kind"], "Status");
  r = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
              R"({"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"a"}})");
  EXPECT_EQ(r.code, 400);
  EXPECT_NE(r.json()["message"].get<std::string>().find("does not match the expected API version"),
            std::string::npos);
  r = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
              R"({"kind":"Secret","metadata":{"name":"a"}})");
  EXPECT_EQ(r.code, 400);
  r = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
              R"({"metadata":{"name":"a"},"data":{"k":1}})");
  EXPECT_EQ(r.code, 400);
  r = Request(plain(), "GET", "/api/v1/namespaces/default/widgets");
  EXPECT_EQ(r.code, 404);
  r = Request(plain(), "GET", "/api/v1/namespaces/default/configmaps?limit=abc");
  EXPECT_EQ(r.code, 400);
  r = Request(plain(), "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(");
  EXPECT_EQ(r.code, 400);
  r = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
              std::string(4 * 1024 * 1024, ' '));
  EXPECT_EQ(r.code, 413);
  r = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps", "x",
              {{"Content-Type", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(r.code, 415);
  r = Request(plain(), "POST", "/api/v1/namespaces/nope/configmaps",
              R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(r.json()["message"], "namespaces \"nope\" not found");
  // YAML bodies work.
  r = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  a: b\n",
              {{"Content-Type", "application/yaml"}});
  EXPECT_EQ(r.code, 201) << r.body;
  // Still serving.
  EXPECT_EQ(Request(plain(), "GET", "/healthz").code, 200);
}

TEST_F(HttpTest, TablesAndWatchStream) {
  ASSERT_EQ(Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
                    R"({"metadata":{"name":"a"}})")
                .code,
            201);
  auto t = Request(plain(), "GET", "/api/v1/namespaces/default/configmaps?limit=500", "",
                   {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}});
  ASSERT_EQ(t.code, 200);
  EXPECT_EQ(t.json()["kind"], "Table");
  EXPECT_EQ(t.json()["rows"].size(), 1u);
  std::string rv = Request(plain(), "GET", "/api/v1/namespaces/default/configmaps")
                       .json()["metadata"]["resourceVersion"];
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
            R"({"metadata":{"name":"b"}})");
  });
  std::vector<Json> events;
  int code = testing::StreamLines(
      plain(), "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv,
      [&](const std::string& line) {
        events.push_back(Json::parse(line));
        return false;
      });
  writer.join();
  EXPECT_EQ(code, 200);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "b");
  // A compacted version: HTTP 200, then one ERROR event with 410.
  ts.server->CompactHistory();
  events.clear();
  code = testing::StreamLines(
      plain(), "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv,
      [&](const std::string& line) {
        events.push_back(Json::parse(line));
        return true;
      });
  EXPECT_EQ(code, 200);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ERROR");
  EXPECT_EQ(events[0]["object"]["code"], 410);
}

TEST_F(HttpTest, FaultEndpoint) {
  auto r = Request(plain(), "POST", "/kfaas/faults",
                   R"({"failWrites":{"count":1,"code":500,"resource":"configmaps"}})");
  ASSERT_EQ(r.code, 200) << r.body;
  auto f = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
                   R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(f.code, 500);
  EXPECT_EQ(Request(plain(), "POST", "/api/v1/namespaces/default/configmaps",
                    R"({"metadata":{"name":"a"}})")
                .code,
            201);
  // dropWatches ends an open watch.
  std::atomic<bool> ended{false};
  std::thread watcher([&] {
    testing::StreamLines(plain(),
                         "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0",
                         [](const std::string&) { return true; });
    ended = true;
  });
  ASSERT_TRUE(WaitFor([&] { return ts.server->open_watches() == 1; }));
  EXPECT_EQ(Request(plain(), "POST", "/kfaas/faults", R"({"dropWatches":true})").code, 200);
  EXPECT_TRUE(WaitFor([&] { return ended.load(); }));
  watcher.join();
  auto state = Request(plain(), "GET", "/kfaas/faults").json();
  EXPECT_GE(state["counters"]["requests"].get<int>(), 3);
  EXPECT_EQ(Request(plain(), "POST", "/kfaas/faults", "[1]").code, 400);
}

TEST_F(HttpTest, PodLogs) {
  Json pod = Json::parse(R"({"metadata":{"name":"p"},"spec":{"containers":[
      {"name":"a","image":"x"},{"name":"b","image":"y"}]}})");
  ASSERT_EQ(Request(plain(), "POST", "/api/v1/namespaces/default/pods", pod.dump()).code, 201);
  testing::WriteText(ts.server->log_dir() + "/default_p_a.log", "one\ntwo\nthree\n");
  auto r = Request(plain(), "GET", "/api/v1/namespaces/default/pods/p/log?container=a");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "one\ntwo\nthree\n");
  r = Request(plain(), "GET", "/api/v1/namespaces/default/pods/p/log?container=a&tailLines=1");
  EXPECT_EQ(r.body, "three\n");
  r = Request(plain(), "GET", "/api/v1/namespaces/default/pods/p/log");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.json()["message"],
            "a container name must be specified for pod p, choose one of: [a b]");
  // follow streams appended output until the pod is deleted.
  std::string got;
  std::thread appender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::ofstream f(ts.server->log_dir() + "/default_p_a.log", std::ios::app);
    f << "four\n";
  });
  testing::StreamLines(plain(), "/api/v1/namespaces/default/pods/p/log?container=a&follow=true",
                       [&](const std::string& line) {
                         got += line + "\n";
                         return line != "four";
                       });
  appender.join();
  EXPECT_EQ(got, "one\ntwo\nthree\nfour\n");
}

}  // namespace
}  // namespace kfaas

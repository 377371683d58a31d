// The local API server over real HTTP(S) on loopback.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

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
  EXPECT_EQ(r.code, 400);
  r = Request(plain(), "POST", "/api/v1/namespaces/default/configmaps", "{}",
              {{"Content-Type", "text/plain"}});
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

// Events written in a burst reach every watcher exactly once and in order, however the server
// coalesces them into writes (a watch that wrote less than watch_batch_interval ago waits for
// the shared flush tick), in JSON and in Table form; a lone event after the burst still comes.
TEST(HttpWatchBurst, EveryWatcherGetsEveryEventInOrder) {
  for (int batch_ms : {0, 5, 50}) {
    SCOPED_TRACE("watch_batch_interval " + std::to_string(batch_ms) + " ms");
    TestServer ts(false, true, [&](local::ApiServer::Options& o) {
      o.watch_batch_interval = std::chrono::milliseconds(batch_ms);
    });
    ASSERT_TRUE(ts.status.ok()) << ts.status;
    uint16_t port = ts.server->insecure_port();
    std::string rv = Request(port, "GET", "/api/v1/namespaces/default/configmaps")
                         .json()["metadata"]["resourceVersion"];
    constexpr int kObjects = 300;
    constexpr int kWatchers = 6;
    struct Seen {
      std::vector<std::string> names;
      std::vector<uint64_t> rvs;
      int code = 0;
    };
    std::vector<Seen> seen(kWatchers);
    std::vector<std::thread> watchers;
    for (int w = 0; w < kWatchers; ++w) {
      watchers.emplace_back([&, w] {
        bool table = w % 2 == 1;
        std::string target =
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv +
            "&allowWatchBookmarks=true";
        auto on_line = [&, w, table](const std::string& line) {
          Json ev = Json::parse(line);
          if (ev["type"] == "BOOKMARK") return true;
          std::string name = table ? ev["object"]["rows"][0]["cells"][0].get<std::string>()
                                   : ev["object"]["metadata"]["name"].get<std::string>();
          std::string v = table ? ev["object"]["rows"][0]["object"]["metadata"]["resourceVersion"]
                                : ev["object"]["metadata"]["resourceVersion"];
          seen[w].names.push_back(name);
          seen[w].rvs.push_back(std::stoull(v));
          return seen[w].names.size() < kObjects + 1;
        };
        // Odd watchers ask for Table output through the same stream reader.
        seen[w].code =
            testing::StreamLines(port, target, on_line, std::chrono::seconds(60),
                                 table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "");
      });
    }
    ASSERT_TRUE(
        WaitFor([&] { return ts.server->open_watches() >= kWatchers; }, std::chrono::seconds(10)));
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t) {
      writers.emplace_back([&, t] {
        for (int i = t; i < kObjects; i += 3) {
          Request(port, "POST", "/api/v1/namespaces/default/configmaps",
                  R"({"metadata":{"name":"cm-)" + std::to_string(i) + R"("}})");
        }
      });
    }
    for (auto& t : writers) t.join();
    // A lone write after the burst is delivered too (it may wait for at most one tick).
    ASSERT_EQ(Request(port, "POST", "/api/v1/namespaces/default/configmaps",
                      R"({"metadata":{"name":"last"}})")
                  .code,
              201);
    for (auto& t : watchers) t.join();
    for (int w = 0; w < kWatchers; ++w) {
      SCOPED_TRACE("watcher " + std::to_string(w));
      EXPECT_EQ(seen[w].code, 200);
      ASSERT_EQ(seen[w].names.size(), static_cast<size_t>(kObjects + 1));
      EXPECT_EQ(seen[w].names.back(), "last");
      EXPECT_TRUE(std::is_sorted(seen[w].rvs.begin(), seen[w].rvs.end()));
      EXPECT_EQ(std::adjacent_find(seen[w].rvs.begin(), seen[w].rvs.end()), seen[w].rvs.end());
      std::set<std::string> unique(seen[w].names.begin(), seen[w].names.end());
      EXPECT_EQ(unique.size(), static_cast<size_t>(kObjects + 1));
      EXPECT_EQ(seen[w].rvs, seen[0].rvs);  // the same events, in the same order
    }
  }
}

// --max-header-bytes (ApiServer::Options::max_header_bytes): a request whose line + headers
// exceed it gets 431 RequestHeaderFieldsTooLarge naming the limit; the server keeps serving.
TEST(HttpHeaderLimit, ConfigurableLimitAnswers431) {
  TestServer ts(false, true, [](local::ApiServer::Options& o) { o.max_header_bytes = 4096; });
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  uint16_t port = ts.server->insecure_port();
  auto ok = Request(port, "GET", "/version", "", {{"X-Pad", std::string(2500, 'a')}});
  EXPECT_EQ(ok.code, 200) << ok.error;
  auto big = Request(port, "GET", "/version", "", {{"X-Pad", std::string(6000, 'a')}});
  EXPECT_EQ(big.code, 431) << big.error << big.body;
  EXPECT_EQ(big.json()["reason"], "RequestHeaderFieldsTooLarge") << big.body;
  EXPECT_NE(big.json()["message"].get<std::string>().find("4096"), std::string::npos) << big.body;
  EXPECT_EQ(Request(port, "GET", "/version").code, 200);
  // The default (64 KiB) takes the 6000-byte header.
  TestServer def(false, true);
  ASSERT_TRUE(def.status.ok()) << def.status;
  EXPECT_EQ(Request(def.server->insecure_port(), "GET", "/version", "",
                    {{"X-Pad", std::string(6000, 'a')}})
                .code,
            200);
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

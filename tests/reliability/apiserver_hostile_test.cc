// Hostile HTTP against the local API server's HTTP front end (local/apiserver/http_server.cc)
// on its plain loopback port: every case gets a clear 4xx (a Status object) or a closed
// connection, and a normal request succeeds right after it.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/local/apiserver_testutil.h"
#include "tests/reliability/raw_http.h"

namespace kfaas::reliability {
namespace {

using kfaas::testing::Request;
using kfaas::testing::TestServer;
using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kCMs[] = "/api/v1/namespaces/default/configmaps";

class ApiServerHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(false, true, [](local::ApiServer::Options& o) {
      o.max_body_bytes = 256 * 1024;
      o.header_timeout = 500ms;
    });
    ASSERT_TRUE(server_->status.ok()) << server_->status;
    port_ = server_->server->insecure_port();
  }
  void ExpectServing(const std::string& after) {
    auto r = Request(port_, "GET", kCMs);
    EXPECT_EQ(r.code, 200) << "after " << after << ": " << r.error << r.body;
  }
  // A raw exchange answered with `code` and a Status body; then the server still serves.
  void ExpectStatus(const std::string& name, const std::vector<std::string>& pieces, int code,
                    RawOptions opts = {}) {
    Exchange ex = RawHttp(port_, pieces, opts);
    EXPECT_EQ(ex.Status(), code) << name << ": " << ex.response.substr(0, 400);
    EXPECT_NE(ex.response.find("\"kind\":\"Status\""), std::string::npos) << name;
    ExpectServing(name);
  }
  // A request through the normal client that must get `code` with a Status naming `want`.
  void ExpectBody(const std::string& name, const std::string& method, const std::string& target,
                  const std::string& body, const std::string& content_type, int code,
                  const std::string& want = "") {
    auto r = Request(port_, method, target, body, {{"Content-Type", content_type}});
    EXPECT_EQ(r.code, code) << name << ": " << r.error << r.body.substr(0, 400);
    Json j = r.json();
    EXPECT_EQ(j.value("kind", ""), "Status") << name << ": " << r.body.substr(0, 400);
    if (!want.empty()) {
      EXPECT_NE(j.value("message", "").find(want), std::string::npos)
          << name << ": " << j.value("message", "");
    }
    ExpectServing(name);
  }
  std::unique_ptr<TestServer> server_;
  uint16_t port_ = 0;
};

TEST_F(ApiServerHostile, BadRequestLines) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage", "GARBAGE\r\n\r\n"},
      {"no target", "GET\r\n\r\n"},
      {"bad version", "GET /version HTTP/9.9\r\nHost: x\r\n\r\n"},
      {"method with @", "G@T /version HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"space in target", "GET /api/v1/namespaces/a b HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"NUL in request line", std::string("GET /") + '\0' + " HTTP/1.1\r\nHost: x\r\n\r\n"},
  };
  for (const auto& [name, bytes] : cases) ExpectStatus(name, {bytes}, 400);
}

TEST_F(ApiServerHostile, OversizedHeaders) {
  ExpectStatus(
      "one 70 KiB header",
      {"GET /version HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n"},
      431);
  std::string many = "GET /version HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i) {
    many += "X-H" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  }
  ExpectStatus("2000 headers", {many + "\r\n"}, 431);
  ExpectStatus("70 KiB target",
               {"GET /api/v1/" + std::string(70 * 1024, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n"},
               431);
}

TEST_F(ApiServerHostile, HeaderInjection) {
  const std::string post = std::string("POST ") + kCMs + " HTTP/1.1\r\nHost: x\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bare CR in value", "GET /version HTTP/1.1\r\nHost: x\r\nX-A: a\rInjected: b\r\n\r\n"},
      {"bare LF in value", "GET /version HTTP/1.1\r\nHost: x\r\nX-A: a\nInjected: b\r\n\r\n"},
      {"NUL in value",
       std::string("GET /version HTTP/1.1\r\nHost: x\r\nX-A: a") + '\0' + "\r\n\r\n"},
      {"no colon", "GET /version HTTP/1.1\r\nHost: x\r\nInjected\r\n\r\n"},
      {"CL and TE (smuggling)",
       post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"two different CLs", post + "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"},
      {"bad CL", post + "Content-Length: 1x\r\n\r\n"},
      {"bad chunk size", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
  };
  for (const auto& [name, bytes] : cases) {
    Exchange ex = RawHttp(port_, {bytes});
    EXPECT_TRUE(ex.Status() == 400 || (ex.Status() == 0 && ex.closed_by_peer))
        << name << ": " << ex.response.substr(0, 300);
    EXPECT_EQ(ex.response.find("Injected"), std::string::npos) << name;
    ExpectServing(name);
  }
}

TEST_F(ApiServerHostile, HugeAndTruncatedBodies) {
  ExpectStatus("announced 10 GiB",
               {std::string("POST ") + kCMs +
                " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 10737418240\r\n\r\n"},
               413);
  // A real body over the limit (256 KiB), sent while the server refuses it.
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "big"}}},
             {"data", {{"x", std::string(1 << 20, 'x')}}}};
  auto r = Request(port_, "POST", kCMs, cm.dump());
  EXPECT_EQ(r.code, 413) << r.error << r.body.substr(0, 300);
  EXPECT_NE(r.body.find("limit is 262144"), std::string::npos) << r.body.substr(0, 300);
  ExpectServing("1 MiB body");
  // Chunked over the limit.
  std::vector<std::string> pieces = {std::string("POST ") + kCMs +
                                     " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"};
  for (int i = 0; i < 8; ++i) pieces.push_back("10000\r\n" + std::string(0x10000, 'c') + "\r\n");
  pieces.push_back("0\r\n\r\n");
  Exchange ex = RawHttp(port_, pieces, {.timeout = 10000ms});
  EXPECT_EQ(ex.Status(), 413) << ex.response.substr(0, 300);
  ExpectServing("chunked 512 KiB");
  // Truncated bodies: the connection ends, nothing is created.
  ex = RawHttp(port_,
               {std::string("POST ") + kCMs +
                    " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Length: 1000\r\n\r\n",
                R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"trunc"}})"},
               {.timeout = 5000ms, .half_close = true});
  EXPECT_TRUE(ex.closed_by_peer) << ex.response;
  EXPECT_NE(ex.Status(), 201);
  EXPECT_EQ(Request(port_, "GET", std::string(kCMs) + "/trunc").code, 404);
  ExpectServing("truncated body");
}

TEST_F(ApiServerHostile, SlowlorisClosedByHeaderTimeout) {
  std::string req =
      "GET /version HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(60, 's') + "\r\n\r\n";
  std::vector<std::thread> clients;
  std::vector<Exchange> results(8);
  for (size_t i = 0; i < results.size(); ++i) {
    clients.emplace_back(
        [&, i] { results[i] = RawHttp(port_, Bytewise(req), {.gap = 50ms, .timeout = 10000ms}); });
  }
  for (int i = 0; i < 5; ++i) ExpectServing("slowloris in progress");
  for (auto& t : clients) t.join();
  for (const auto& ex : results) {
    EXPECT_TRUE(ex.closed_by_peer);
    EXPECT_LT(ex.elapsed, 3000ms) << "the header timeout did not cut the slow client";
    EXPECT_EQ(ex.Status(), 0) << ex.response;
  }
  // An idle keep-alive connection is not a slow header: a second request after a pause longer
  // than the header timeout is still served on the same connection.
  std::string get = "GET /version HTTP/1.1\r\nHost: x\r\n\r\n";
  Exchange ka = RawHttp(port_, {get, get}, {.gap = 1000ms, .timeout = 3000ms});
  size_t first = ka.response.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << ka.response;
  EXPECT_NE(ka.response.find("HTTP/1.1 200", first + 1), std::string::npos) << ka.response;
  ExpectServing("slowloris");
}

TEST_F(ApiServerHostile, PathTraversal) {
  const std::vector<std::string> targets = {
      "/api/v1/namespaces/../secrets",
      "/api/v1/namespaces/default/configmaps/..",
      "/api/v1/namespaces/default/configmaps/%2e%2e",
      "/api/v1/namespaces/default/configmaps/..%2f..%2fsecrets",
      "/api/v1/namespaces/%2e%2e/configmaps",
      "/api/v1/namespaces/default/configmaps/a%00b",
      "/api/v1/namespaces/default/configmaps/%zz",
      "/apis/../api/v1/secrets",
      "//api//v1//namespaces",
      "/api/v1/namespaces/default/pods/x/log?container=../../etc/passwd",
  };
  auto created = Request(port_, "POST", "/api/v1/namespaces/default/secrets",
                         R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}})");
  ASSERT_EQ(created.code, 201) << created.body;
  for (const auto& t : targets) {
    auto r = Request(port_, "GET", t);
    EXPECT_EQ(r.body.find("\"name\":\"s\""), std::string::npos) << t;
    EXPECT_GE(r.code, 400) << t << ": " << r.body.substr(0, 300);
    EXPECT_LT(r.code, 500) << t << ": " << r.body.substr(0, 300);
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << t;
    ExpectServing(t);
  }
}

TEST_F(ApiServerHostile, InvalidJsonAndYamlBodies) {
  const std::string json = "application/json", yaml = "application/yaml";
  ExpectBody("truncated JSON", "POST", kCMs, R"({"apiVersion":"v1","kind":"ConfigM)", json, 400);
  ExpectBody("not JSON", "POST", kCMs, "hello", json, 400);
  ExpectBody("JSON array", "POST", kCMs, "[1,2]", json, 400);
  ExpectBody("JSON string", "POST", kCMs, "\"x\"", json, 400);
  ExpectBody("invalid UTF-8", "POST", kCMs,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"\xff\xfe\"}}",
             json, 400);
  ExpectBody("kind mismatch", "POST", kCMs,
             R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}})", json, 400);
  ExpectBody("no name", "POST", kCMs, R"({"apiVersion":"v1","kind":"ConfigMap"})", json, 422);
  ExpectBody("bad name", "POST", kCMs,
             R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"../x"}})", json, 422);
  ExpectBody("data of the wrong type", "POST", kCMs,
             R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":[1]})", json,
             400);
  ExpectBody("bad YAML", "POST", kCMs, "apiVersion: v1\nkind: [ConfigMap\n", yaml, 400, "YAML");
  ExpectBody("YAML tabs", "POST", kCMs, "apiVersion: v1\n\tkind: ConfigMap\n", yaml, 400);
  ExpectBody("YAML list", "POST", kCMs, "- a\n- b\n", yaml, 400);
  ExpectBody("invalid UTF-8 in YAML", "POST", kCMs,
             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: utf}\ndata: {a: \"\xff\xfe\"}\n",
             yaml, 400, "UTF-8");
  ExpectBody("invalid UTF-8 in a YAML key", "POST", kCMs,
             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: utf}\ndata: {\xc0\xaf: a}\n", yaml,
             400, "UTF-8");
  ExpectBody("YAML non-scalar key", "POST", kCMs, "? [a]\n: b\n", yaml, 400);
  // "Billion laughs": aliases that would expand to 9^9 strings.
  std::string bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\nx0: &a0 [l]\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 9; ++j) bomb += std::string(j ? "," : "") + "*a" + std::to_string(i - 1);
    bomb += "]\n";
  }
  ExpectBody("YAML alias bomb", "POST", kCMs, bomb, yaml, 400, "aliasing");
  // Deep nesting: refused with 400, no stack overflow.
  ExpectBody("JSON nested 100000 deep", "POST", kCMs,
             R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"x":)" +
                 std::string(100000, '[') + std::string(100000, ']') + "}",
             json, 400);
  // Just under the limit: processed (accepted or refused) without harm.
  for (const std::string& type : {json, std::string("application/merge-patch+json")}) {
    std::string deep =
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep500"},"x":)" +
        std::string(500, '[') + std::string(500, ']') + "}";
    auto r = type == json ? Request(port_, "POST", kCMs, deep, {{"Content-Type", type}})
                          : Request(port_, "PATCH", std::string(kCMs) + "/deep500", deep,
                                    {{"Content-Type", type}});
    EXPECT_GT(r.code, 0) << r.error;
    EXPECT_LT(r.code, 500) << r.body.substr(0, 300);
    ExpectServing("500 deep");
  }
  ExpectBody("YAML nested 100000 deep", "POST", kCMs,
             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\nx: " +
                 std::string(100000, '[') + std::string(100000, ']') + "\n",
             yaml, 400);
  ExpectBody("garbage protobuf", "POST", kCMs, "k8s\0\x0a\xff\xff\xff\xff\x0f garbage",
             "application/vnd.kubernetes.protobuf", 400);
  ExpectBody("unknown media type", "POST", kCMs, "x", "text/plain", 415);

  // Patches: invalid bodies and directives.
  auto r =
      Request(port_, "POST", kCMs,
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p"},"data":{"a":"1"}})");
  ASSERT_EQ(r.code, 201) << r.body;
  std::string p = std::string(kCMs) + "/p";
  ExpectBody("merge patch not JSON", "PATCH", p, "{", "application/merge-patch+json", 400);
  ExpectBody("json patch not a list", "PATCH", p, R"({"op":"add"})", "application/json-patch+json",
             400);
  ExpectBody("json patch bad op", "PATCH", p, R"([{"op":"explode","path":"/data/a"}])",
             "application/json-patch+json", 400);
  ExpectBody("json patch bad path", "PATCH", p, R"([{"op":"remove","path":"/data/zz/zz"}])",
             "application/json-patch+json", 422);
  ExpectBody("json patch test fails", "PATCH", p, R"([{"op":"test","path":"/data/a","value":"2"}])",
             "application/json-patch+json", 422);
  ExpectBody("strategic patch bad directive", "PATCH", p, R"({"$patch":"explode"})",
             "application/strategic-merge-patch+json", 400);
  ExpectBody("strategic patch not an object", "PATCH", p, "[1]",
             "application/strategic-merge-patch+json", 400);
  ExpectBody("apply patch bad YAML", "PATCH", p + "?fieldManager=t", "a: [",
             "application/apply-patch+yaml", 400);
  ExpectBody("patch with an unknown type", "PATCH", p, "{}", "application/json", 415);
  // The object is unchanged.
  r = Request(port_, "GET", p);
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.json()["data"], Json({{"a", "1"}})) << r.body;
}

}  // namespace
}  // namespace kfaas::reliability

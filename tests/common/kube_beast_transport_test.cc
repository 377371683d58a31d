// BeastTransport against a real HTTP(S) server on loopback: TLS verification and client
// certificates, one connection reused, a connection the server dropped replaced without failing
// the request, concurrent requests on pooled connections, streams, timeouts, and RestClient on
// top of it. (RestClient's own suite also runs through it: Beast.RestClient* tests.)
#include "common/kube/beast_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/kube/rest_client.h"
#include "tests/common/kube_test_server.h"

namespace kfaas::kube {
namespace {

using ::testing::HasSubstr;
using testing::TestRequest;
using testing::TestResponse;
using testing::TestServer;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

class BeastTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new testing::Pki(testing::MakePki({"kfaas.local"}));
    other_ = new testing::Pki(testing::MakePki());
  }
  static testing::Pki* pki_;
  static testing::Pki* other_;

  TestServer::Handler Recorder() {
    return [this](const TestRequest& req) {
      std::lock_guard<std::mutex> l(mu_);
      last_ = req;
      TestResponse r;
      r.body = R"({"kind":"Scale","spec":{"replicas":1}})";
      return r;
    };
  }
  TransportConfig Tls(const std::string& url) {
    TransportConfig tc;
    tc.base_url = url;
    tc.ca_pem = pki_->ca_cert;
    tc.tls_server_name = "kfaas.local";
    tc.client_cert_pem = pki_->client_cert;
    tc.client_key_pem = pki_->client_key;
    tc.timeout = std::chrono::seconds(10);
    return tc;
  }
  HttpRequest Patch() {
    HttpRequest req;
    req.method = "PATCH";
    req.target = "/apis/apps/v1/namespaces/default/deployments/hello/scale";
    req.headers = {{"Content-Type", "application/merge-patch+json"}};
    req.body = R"({"spec":{"replicas":1}})";
    return req;
  }

  std::mutex mu_;
  TestRequest last_;
};
testing::Pki* BeastTransportTest::pki_ = nullptr;
testing::Pki* BeastTransportTest::other_ = nullptr;

TEST_F(BeastTransportTest, TlsWithClientCertificateOnOneReusedConnection) {
  TestServer::Options opts;
  opts.tls = true;
  opts.pki = pki_;
  opts.require_client_cert = true;
  TestServer server(Recorder(), opts);
  auto t = BeastTransport::New(Tls(server.url()));
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->Warm().ok());
  EXPECT_EQ((*t)->connections_opened(), 1);
  for (int i = 0; i < 3; ++i) {
    auto r = (*t)->RoundTrip(Patch());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr("Scale"));
    EXPECT_EQ(r->Header("content-type"), "application/json");
  }
  EXPECT_EQ((*t)->connections_opened(), 1) << "one connection, opened in advance";
  {
    std::lock_guard<std::mutex> l(mu_);
    EXPECT_EQ(last_.method, "PATCH");
    EXPECT_EQ(last_.path, "/apis/apps/v1/namespaces/default/deployments/hello/scale");
    EXPECT_EQ(last_.body, R"({"spec":{"replicas":1}})");
    EXPECT_EQ(last_.Header("content-type"), "application/merge-patch+json");
    EXPECT_EQ(last_.client_cn, "alice");
  }
  // The server dropped the connection while idle: the next request still succeeds, on a new one.
  server.DropConnections();
  auto r = (*t)->RoundTrip(Patch());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*t)->connections_opened(), 2);
}

TEST_F(BeastTransportTest, RefusesServersItCannotVerify) {
  TestServer::Options opts;
  opts.tls = true;
  opts.pki = pki_;
  TestServer server(Recorder(), opts);
  // The certificate names kfaas.local, not 127.0.0.1.
  auto tc = Tls(server.url());
  tc.tls_server_name.clear();
  auto wrong_name = BeastTransport::New(tc);
  ASSERT_TRUE(wrong_name.ok());
  auto r = (*wrong_name)->RoundTrip(Patch());
  ASSERT_FALSE(r.ok());
  // A certificate that does not verify is a configuration error (not retried), named as such.
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_THAT(Msg(r.status()), HasSubstr("TLS handshake failed"));
  EXPECT_THAT(Msg(r.status()), HasSubstr("tls-server-name"));
  // Another CA.
  tc = Tls(server.url());
  tc.ca_pem = other_->ca_cert;
  auto wrong_ca = BeastTransport::New(tc);
  ASSERT_TRUE(wrong_ca.ok());
  r = (*wrong_ca)->RoundTrip(Patch());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  // insecure-skip-tls-verify accepts it.
  tc.insecure_skip_tls_verify = true;
  auto insecure = BeastTransport::New(tc);
  ASSERT_TRUE(insecure.ok());
  EXPECT_TRUE((*insecure)->RoundTrip(Patch()).ok());
  // Bad material and URLs are refused at construction.
  tc = Tls(server.url());
  tc.client_cert_pem = "garbage";
  auto bad = BeastTransport::New(tc);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Msg(bad.status()), HasSubstr("TLS configuration"));
  tc = Tls(server.url());
  tc.ca_pem = "no certificate here";
  bad = BeastTransport::New(tc);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Msg(bad.status()), HasSubstr("no PEM certificate"));
  tc = Tls("ftp://127.0.0.1:1");
  EXPECT_FALSE(BeastTransport::New(tc).ok());
}

TEST_F(BeastTransportTest, StreamsChunksOnTheirOwnConnectionAndCancel) {
  std::atomic<bool> release{false};
  TestServer::Options opts;
  opts.tls = true;
  opts.pki = pki_;
  TestServer server(
      [&](const TestRequest& req) {
        TestResponse r;
        if (req.path == "/watch") {
          r.stream = [&](testing::ChunkWriter& w) {
            w.Write("{\"type\":\"ADDED\"}\n");
            w.Write("{\"type\":\"MODIFIED\"}\n");
            if (req.query.count("end")) return;
            while (!release.load() && !w.Closed()) {
              std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
          };
        } else {
          r.body = "{}";
        }
        return r;
      },
      opts);
  auto t = BeastTransport::New(Tls(server.url()));
  ASSERT_TRUE(t.ok());
  HttpRequest req;
  req.method = "GET";
  req.target = "/watch?end=1";
  auto s = (*t)->Stream(req);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->status(), 200);
  std::string all, chunk;
  while ((*s)->Read(&chunk)) all += chunk;
  EXPECT_TRUE((*s)->error().ok()) << (*s)->error();
  EXPECT_EQ(all, "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n");
  // A stream that stays open: Cancel() from another thread ends a blocked Read() promptly.
  req.target = "/watch";
  s = (*t)->Stream(req);
  ASSERT_TRUE(s.ok()) << s.status();
  all.clear();
  while (all.find("MODIFIED") == std::string::npos && (*s)->Read(&chunk)) all += chunk;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (*s)->Cancel();
  });
  EXPECT_FALSE((*s)->Read(&chunk));
  canceller.join();
  release.store(true);
  // Single requests still go on the persistent connection, in parallel with streams.
  req.target = "/version";
  EXPECT_TRUE((*t)->RoundTrip(req).ok());
}

TEST_F(BeastTransportTest, RestClientScalePatchOverPlainHttp) {
  TestServer server(Recorder());
  auto t = BeastTransport::New(TransportConfig{.base_url = server.url()});
  ASSERT_TRUE(t.ok());
  RestConfig rc;
  rc.host = server.url();
  rc.bearer_token = "sekret";
  auto client = RestClient::New(rc, *t);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Patch(resources::kDeployments, "default", "hello", PatchType::kMerge,
                            {{"spec", {{"replicas", 1}}}}, "scale");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["kind"], "Scale");
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(last_.path, "/apis/apps/v1/namespaces/default/deployments/hello/scale");
  EXPECT_EQ(last_.Header("authorization"), "Bearer sekret");
  // Nothing listens any more: a clear, retryable "not sent" error.
  server.Stop();
  HttpRequest req = Patch();
  auto gone = (*t)->RoundTrip(req);
  ASSERT_FALSE(gone.ok());
  EXPECT_THAT(Msg(gone.status()), HasSubstr(server.url()));
}

// Threads issuing requests at once each get a connection of their own from the pool; the pool
// keeps them for reuse, so a steady load opens no new ones.
TEST_F(BeastTransportTest, ConcurrentRequestsUsePooledConnections) {
  TestServer::Options opts;
  opts.tls = true;
  opts.pki = pki_;
  std::mutex mu;
  std::set<std::string> bodies;
  TestServer server(
      [&](const TestRequest& req) {
        std::lock_guard<std::mutex> l(mu);
        bodies.insert(req.body);
        TestResponse r;
        r.body = req.body;  // echo: each caller must get its own answer
        return r;
      },
      opts);
  auto t = BeastTransport::New(Tls(server.url()));
  ASSERT_TRUE(t.ok());
  constexpr int kThreads = 8, kEach = 50;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kEach; ++j) {
        HttpRequest req = Patch();
        req.body = std::to_string(i) + "-" + std::to_string(j);
        auto r = (*t)->RoundTrip(req);
        if (r.ok() && r->status == 200 && r->body == req.body) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), kThreads * kEach);
  EXPECT_EQ(bodies.size(), size_t{kThreads * kEach});
  EXPECT_LE((*t)->connections_opened(), kThreads);
  EXPECT_EQ((*t)->idle_connections(), static_cast<size_t>((*t)->connections_opened()));
  int64_t opened = (*t)->connections_opened();
  for (int j = 0; j < 20; ++j) ASSERT_TRUE((*t)->RoundTrip(Patch()).ok());
  EXPECT_EQ((*t)->connections_opened(), opened);
}

// No answer within the request's timeout: DeadlineExceeded naming the request; the connection
// is not reused (its late answer must not be taken for the next request's).
TEST_F(BeastTransportTest, TimeoutsAndErrorBodies) {
  std::atomic<bool> slow{true};
  TestServer server([&](const TestRequest& req) {
    TestResponse r;
    if (req.path == "/slow") {
      for (int i = 0; i < 1000 && slow.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      r.body = "late";
    } else if (req.path == "/conflict") {
      r.status = 409;
      r.body = R"({"kind":"Status","code":409,"reason":"AlreadyExists"})";
    } else if (req.path == "/gone") {
      r.status = 410;
      r.body = R"({"kind":"Status","code":410,"reason":"Expired"})";
    } else if (req.path == "/boom") {
      r.status = 500;
      r.content_type = "text/plain";
      r.body = "internal error";
    } else {
      r.body = "fast";
    }
    return r;
  });
  auto t = BeastTransport::New(TransportConfig{.base_url = server.url()});
  ASSERT_TRUE(t.ok());
  HttpRequest req;
  req.method = "GET";
  req.target = "/slow?x=1";
  req.timeout = std::chrono::milliseconds(200);
  auto r = (*t)->RoundTrip(req);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_THAT(Msg(r.status()), HasSubstr("GET " + server.url() + "/slow: no response within 200"));
  slow.store(false);
  req.target = "/fast";
  r = (*t)->RoundTrip(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "fast");
  // Error statuses are responses, bodies intact, and the connection stays usable.
  for (auto [path, code] :
       {std::pair<std::string, int>{"/conflict", 409}, {"/gone", 410}, {"/boom", 500}}) {
    req.target = path;
    r = (*t)->RoundTrip(req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, code);
    EXPECT_FALSE(r->body.empty());
  }
  EXPECT_EQ((*t)->connections_opened(), 2);
}

// Nothing listening: NotSent (safe to retry whatever the verb), naming the URL. A server that
// drops the connection mid-request: Unavailable, and a POST is not sent twice.
TEST_F(BeastTransportTest, RefusedAndResetConnections) {
  int port;
  {
    TestServer closed([](const TestRequest&) { return TestResponse(); });
    port = closed.port();
  }
  auto t =
      BeastTransport::New(TransportConfig{.base_url = "http://127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(t.ok());
  auto r = (*t)->RoundTrip(Patch());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsNotSent(r.status())) << r.status();
  EXPECT_THAT(Msg(r.status()), HasSubstr("cannot connect"));
  auto s = (*t)->Stream(Patch());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsNotSent(s.status())) << s.status();

  std::atomic<int> posts{0};
  TestServer server([&](const TestRequest& req) {
    TestResponse r;
    if (req.method == "POST") {
      ++posts;
      r.close_connection = true;
    } else {
      r.body = "{}";
    }
    return r;
  });
  auto u = BeastTransport::New(TransportConfig{.base_url = server.url()});
  ASSERT_TRUE(u.ok());
  HttpRequest get;
  get.method = "GET";
  get.target = "/x";
  ASSERT_TRUE((*u)->RoundTrip(get).ok());  // leaves a pooled connection
  HttpRequest post = get;
  post.method = "POST";
  post.body = "{}";
  r = (*u)->RoundTrip(post);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_FALSE(IsNotSent(r.status()));
  EXPECT_EQ(posts.load(), 1) << "a POST that reached the server is not resent";
  EXPECT_TRUE((*u)->RoundTrip(get).ok());
}

}  // namespace
}  // namespace kfaas::kube

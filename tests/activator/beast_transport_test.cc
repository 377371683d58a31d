// BeastTransport (the scale writer's persistent connection) against a real HTTP(S) server on
// loopback: TLS verification and client certificates, one connection reused, a connection the
// server dropped replaced without failing the request, and RestClient on top of it.
#include "activator/kube/beast_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "common/kube/rest_client.h"
#include "tests/common/kube_test_server.h"

namespace kfaas::activator {
namespace {

using kube::testing::TestRequest;
using kube::testing::TestResponse;
using kube::testing::TestServer;
using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

class BeastTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new kube::testing::Pki(kube::testing::MakePki({"kfaas.local"}));
    other_ = new kube::testing::Pki(kube::testing::MakePki());
  }
  static kube::testing::Pki* pki_;
  static kube::testing::Pki* other_;

  TestServer::Handler Recorder() {
    return [this](const TestRequest& req) {
      std::lock_guard<std::mutex> l(mu_);
      last_ = req;
      TestResponse r;
      r.body = R"({"kind":"Scale","spec":{"replicas":1}})";
      return r;
    };
  }
  kube::TransportConfig Tls(const std::string& url) {
    kube::TransportConfig tc;
    tc.base_url = url;
    tc.ca_pem = pki_->ca_cert;
    tc.tls_server_name = "kfaas.local";
    tc.client_cert_pem = pki_->client_cert;
    tc.client_key_pem = pki_->client_key;
    tc.timeout = std::chrono::seconds(10);
    return tc;
  }
  kube::HttpRequest Patch() {
    kube::HttpRequest req;
    req.method = "PATCH";
    req.target = "/apis/apps/v1/namespaces/default/deployments/hello/scale";
    req.headers = {{"Content-Type", "application/merge-patch+json"}};
    req.body = R"({"spec":{"replicas":1}})";
    return req;
  }

  std::mutex mu_;
  TestRequest last_;
};
kube::testing::Pki* BeastTransportTest::pki_ = nullptr;
kube::testing::Pki* BeastTransportTest::other_ = nullptr;

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
  EXPECT_THAT(Msg(r.status()), HasSubstr("TLS handshake"));
  EXPECT_TRUE(kube::IsNotSent(r.status()));
  // Another CA.
  tc = Tls(server.url());
  tc.ca_pem = other_->ca_cert;
  auto wrong_ca = BeastTransport::New(tc);
  ASSERT_TRUE(wrong_ca.ok());
  EXPECT_FALSE((*wrong_ca)->RoundTrip(Patch()).ok());
  // insecure-skip-tls-verify accepts it.
  tc.insecure_skip_tls_verify = true;
  auto insecure = BeastTransport::New(tc);
  ASSERT_TRUE(insecure.ok());
  EXPECT_TRUE((*insecure)->RoundTrip(Patch()).ok());
  // Bad material and URLs are refused at construction.
  tc = Tls(server.url());
  tc.client_cert_pem = "garbage";
  EXPECT_FALSE(BeastTransport::New(tc).ok());
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
          r.stream = [&](kube::testing::ChunkWriter& w) {
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
  kube::HttpRequest req;
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
  auto t = BeastTransport::New(kube::TransportConfig{.base_url = server.url()});
  ASSERT_TRUE(t.ok());
  kube::RestConfig rc;
  rc.host = server.url();
  rc.bearer_token = "sekret";
  auto client = kube::RestClient::New(rc, *t);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Patch(kube::resources::kDeployments, "default", "hello",
                            kube::PatchType::kMerge, {{"spec", {{"replicas", 1}}}}, "scale");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["kind"], "Scale");
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(last_.path, "/apis/apps/v1/namespaces/default/deployments/hello/scale");
  EXPECT_EQ(last_.Header("authorization"), "Bearer sekret");
  // Nothing listens any more: a clear, retryable "not sent" error.
  server.Stop();
  kube::HttpRequest req = Patch();
  auto gone = (*t)->RoundTrip(req);
  ASSERT_FALSE(gone.ok());
  EXPECT_THAT(Msg(gone.status()), HasSubstr(server.url()));
}

}  // namespace
}  // namespace kfaas::activator
